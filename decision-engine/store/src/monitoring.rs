//! The records of post-loan monitoring (贷后管理): the signals a run raised
//! (each with the loan's whole evaluation, for `explain`) and the follow-up
//! tasks with their state. Dates are `YYYY-MM-DD`, times RFC 3339 in UTC.
//!
//! A task is created only when no task of the same institution, loan and
//! rule is open and its id (institution, loan, rule, period) is new: the
//! next cycle does not duplicate an open task, and a second run of the same
//! period asks for nothing new.

use serde::{Deserialize, Serialize};

/// The format of the signal and task bodies this release writes.
pub const MONITOR_FORMAT: u32 = 1;

fn first_format() -> u32 {
    1
}

/// A warning signal (预警信号) raised on a loan on a monitoring date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalRecord {
    #[serde(default = "first_format")]
    pub format: u32,
    /// A content id: institution, loan, date and code.
    pub signal_id: String,
    pub institution: String,
    pub branch: String,
    pub product: String,
    pub loan_id: String,
    pub household_id: String,
    /// The monitoring date.
    pub as_of: String,
    pub code: String,
    /// `red`, `orange` or `yellow`.
    pub severity: String,
    /// The loan's post-loan level on that date.
    pub level: String,
    /// The book run that raised it, or `online`.
    pub run_id: String,
    pub recorded_at: String,
    /// The loan's whole evaluation (`decision_core::monitor::Evaluation`,
    /// JSON, with its own format): every rule with the values it read.
    pub evaluation: String,
}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not done yet (overdue once its due date has passed).
    Open,
    /// Done, with who, when, how and what was found.
    Completed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Completed => "completed",
        }
    }
}

/// How a task was completed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCompletion {
    pub completed_by: String,
    pub completed_at: String,
    /// How the loan officer followed up: `field_visit`, `phone_visit`, ...
    pub visit_type: String,
    /// What was found or done, e.g. `normal`, `risk_confirmed`.
    pub result: String,
    #[serde(default)]
    pub note: String,
}

/// A follow-up task (待办).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    #[serde(default = "first_format")]
    pub format: u32,
    /// A content id: institution, loan, rule and period.
    pub task_id: String,
    pub institution: String,
    pub branch: String,
    pub product: String,
    pub loan_id: String,
    pub household_id: String,
    /// The task rule that asked for it.
    pub rule_id: String,
    /// `first_visit`, `field_visit`, `phone_visit`, `limit_freeze` or
    /// `recall_review`.
    pub task: String,
    pub level: String,
    /// `once`, `2026-11`, `2026-Q4` or a date.
    pub period: String,
    /// The monitoring date that asked for it.
    pub created_on: String,
    pub due_on: String,
    /// The signals of the loan on that date, `;`-joined.
    pub signals: String,
    pub message_zh: String,
    pub message_en: String,
    pub run_id: String,
    pub created_at: String,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<TaskCompletion>,
}

impl TaskRecord {
    /// Open and due before `today` (`YYYY-MM-DD`).
    pub fn overdue_on(&self, today: &str) -> bool {
        self.status == TaskStatus::Open && self.due_on.as_str() < today
    }
}

/// Which tasks [`crate::Store::list_tasks`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only these institutions' (every one when empty).
    pub institutions: Vec<String>,
    pub branch: Option<String>,
    pub status: Option<TaskStatus>,
    pub loan_id: Option<String>,
    /// Only tasks due before this date (`YYYY-MM-DD`).
    pub due_before: Option<String>,
    /// Only tasks after this (due date, task id) in the listing's order:
    /// the next page after the last task of the previous one.
    pub after: Option<(String, String)>,
    /// At most this many (0: all).
    pub limit: usize,
}

impl TaskQuery {
    /// Whether `t` is one the query asks for (limit aside).
    pub fn matches(&self, t: &TaskRecord) -> bool {
        (self.institutions.is_empty() || self.institutions.contains(&t.institution))
            && self.branch.as_deref().is_none_or(|b| t.branch == b)
            && self.status.is_none_or(|s| t.status == s)
            && self.loan_id.as_deref().is_none_or(|l| t.loan_id == l)
            && self
                .due_before
                .as_deref()
                .is_none_or(|d| t.due_on.as_str() < d)
            && self.after.as_ref().is_none_or(|(d, i)| {
                (t.due_on.as_str(), t.task_id.as_str()) > (d.as_str(), i.as_str())
            })
    }
}

/// What completing a task found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCompleted {
    /// Completed now (the audit entry written with it).
    Done(Box<TaskRecord>),
    /// It was already completed: unchanged.
    AlreadyCompleted(Box<TaskRecord>),
    /// No such task.
    NotFound,
}

pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<String, crate::StoreError> {
    serde_json::to_string(value)
        .map_err(|e| crate::StoreError::Database(format!("cannot encode a {what}: {e}")))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    id: &str,
    json: &str,
) -> Result<T, crate::StoreError> {
    serde_json::from_str(json)
        .map_err(|e| crate::StoreError::Database(format!("{what} {id} does not parse: {e}")))
}
