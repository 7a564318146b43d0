//! Post-loan monitoring documents (贷后管理): the loan book's columns (the
//! loan schema, data like the feature schema) and the monitoring policy an
//! institution activates: parameters, warning rules with a severity,
//! post-loan levels and the follow-up tasks each level, product and signal
//! asks for.

use serde::{Deserialize, Serialize};

use super::ruleset::ParameterDef;

/// The loan book's columns (`"kind": "loan_schema"`). Beside these a row
/// carries the refreshed features, named as in the feature schema.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanSchemaDoc {
    /// Always `loan_schema`.
    pub kind: String,
    /// e.g. `loan-book`.
    pub id: String,
    /// e.g. `2026.1`.
    pub version: String,
    /// What the book is, for people.
    #[serde(default)]
    pub description: String,
    /// Every column of a loan, in the order the outputs list them.
    pub fields: Vec<LoanFieldDef>,
}

/// One column of the loan book.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanFieldDef {
    /// The column name, e.g. `days_past_due`; a rule reads it by this name
    /// (dates are read through the computed day counts).
    pub name: String,
    /// The value's type.
    #[serde(rename = "type")]
    pub ty: LoanFieldType,
    /// A row without this value is refused.
    #[serde(default)]
    pub required: bool,
    /// Inclusive lower bound of a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// What it is and its unit, for people.
    #[serde(default)]
    pub description: String,
}

/// A loan column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoanFieldType {
    /// Text: ids and codes.
    String,
    /// An exact decimal: yuan.
    Decimal,
    /// A whole number: days.
    Integer,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
}

/// A monitoring policy (`"kind": "monitoring_policy"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringDoc {
    /// Always `monitoring_policy`.
    pub kind: String,
    /// e.g. `farmer-post-loan-default`.
    pub id: String,
    /// e.g. `2026.1`.
    pub version: String,
    /// Marks the shipped example as illustrative, not a real bank's policy.
    #[serde(default)]
    pub illustrative: bool,
    /// The institution it is written for, `*` for the province default.
    #[serde(default = "any_institution")]
    pub institution: String,
    /// What it is for, for people.
    #[serde(default)]
    pub description: String,
    /// Named constants rules read (thresholds, days).
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
    /// The warning rules, each a signal when its condition holds.
    pub warnings: Vec<WarningDef>,
    /// The post-loan levels, most severe first: a loan takes the first whose
    /// condition holds; the last must be `true`.
    pub levels: Vec<LevelDef>,
    /// The follow-up tasks.
    pub tasks: Vec<TaskRuleDef>,
}

fn any_institution() -> String {
    "*".to_string()
}

/// How serious a signal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 红色: act now.
    Red,
    /// 橙色: act soon.
    Orange,
    /// 黄色: watch.
    Yellow,
}

impl Severity {
    /// Every severity, most serious first.
    pub const ALL: [Severity; 3] = [Severity::Red, Severity::Orange, Severity::Yellow];

    /// As documents and outputs write it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Red => "red",
            Severity::Orange => "orange",
            Severity::Yellow => "yellow",
        }
    }

    /// In Chinese.
    pub fn name_zh(self) -> &'static str {
        match self {
            Severity::Red => "红色",
            Severity::Orange => "橙色",
            Severity::Yellow => "黄色",
        }
    }
}

/// One warning rule (预警规则).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningDef {
    /// The signal code it raises, e.g. `W_DPD_30`.
    pub code: String,
    /// How serious the signal is.
    pub severity: Severity,
    /// The condition, e.g. `days_past_due >= dpd_red`.
    pub expression: String,
    /// The result when a value it reads is absent; required when it reads
    /// an optional value.
    #[serde(default)]
    pub when_missing: Option<bool>,
    /// The signal in Chinese.
    pub message_zh: String,
    /// The signal in English.
    pub message_en: String,
}

/// One post-loan level (贷后分层).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDef {
    /// e.g. `L1_ATTENTION`.
    pub code: String,
    /// The level's name in Chinese.
    pub name_zh: String,
    /// The level's name in English.
    pub name_en: String,
    /// The condition over the loan, its features and the signal counts;
    /// `true` for the last level.
    pub expression: String,
}

/// What a follow-up asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// 首次检查: the first visit after disbursement.
    FirstVisit,
    /// 实地走访: a field visit.
    FieldVisit,
    /// 电话回访: a phone visit.
    PhoneVisit,
    /// 冻结额度: freeze the undrawn limit.
    LimitFreeze,
    /// 提前收回审查: review whether to recall the loan.
    RecallReview,
}

impl TaskKind {
    /// As documents and outputs write it.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::FirstVisit => "first_visit",
            TaskKind::FieldVisit => "field_visit",
            TaskKind::PhoneVisit => "phone_visit",
            TaskKind::LimitFreeze => "limit_freeze",
            TaskKind::RecallReview => "recall_review",
        }
    }

    /// In Chinese.
    pub fn name_zh(self) -> &'static str {
        match self {
            TaskKind::FirstVisit => "首次检查",
            TaskKind::FieldVisit => "实地走访",
            TaskKind::PhoneVisit => "电话回访",
            TaskKind::LimitFreeze => "冻结额度",
            TaskKind::RecallReview => "提前收回审查",
        }
    }

    /// Parses the written name.
    pub fn parse(name: &str) -> Option<TaskKind> {
        [
            TaskKind::FirstVisit,
            TaskKind::FieldVisit,
            TaskKind::PhoneVisit,
            TaskKind::LimitFreeze,
            TaskKind::RecallReview,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// How often a task rule may ask again for the same loan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cycle {
    /// Once in the loan's life (a first visit).
    Once,
    /// At most once a calendar month.
    Monthly,
    /// At most once a calendar quarter.
    Quarterly,
    /// On every run (any cycle) where its condition holds.
    EveryRun,
}

impl Cycle {
    /// The name as a policy writes it.
    pub fn name(self) -> &'static str {
        match self {
            Cycle::Once => "once",
            Cycle::Monthly => "monthly",
            Cycle::Quarterly => "quarterly",
            Cycle::EveryRun => "every_run",
        }
    }
}

/// From when a task's due date is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DueFrom {
    /// The monitoring date.
    #[default]
    AsOf,
    /// The loan's disbursement date (a first visit within N days of it).
    Disbursement,
}

/// One task rule (任务规则): which follow-up a loan gets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRuleDef {
    /// e.g. `T_FIRST_VISIT`.
    pub id: String,
    /// The follow-up asked for.
    pub task: TaskKind,
    /// Only loans at one of these levels; empty: any level.
    #[serde(default)]
    pub levels: Vec<String>,
    /// Only loans of one of these products; empty: any product.
    #[serde(default)]
    pub products: Vec<String>,
    /// Only loans where one of these signals fired; empty: whatever fired.
    #[serde(default)]
    pub signals: Vec<String>,
    /// A further condition; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The condition's result when a value it reads is absent.
    #[serde(default)]
    pub when_missing: Option<bool>,
    /// How often it may ask again.
    pub cycle: Cycle,
    /// Due this many days after `due_from`.
    pub due_days: u32,
    /// From the monitoring date (default) or the disbursement.
    #[serde(default)]
    pub due_from: DueFrom,
    /// The task in Chinese.
    pub message_zh: String,
    /// The task in English.
    pub message_en: String,
}
