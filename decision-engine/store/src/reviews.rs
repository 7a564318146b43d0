//! The human decision beside the system's: a review case per decision that
//! needs a person (the level it waits for, where it stands, the final
//! terms once decided) and every review step on it. A review never changes
//! the stored decision: both are kept, with every step.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The format of [`ReviewStep`] bodies this release writes.
pub const REVIEW_FORMAT: u32 = 1;

fn first_format() -> u32 {
    1
}

/// Where a review case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Waiting for a reviewer of `waiting_level`.
    Pending,
    /// A reviewer decided beyond their authority (or overrode the system):
    /// waiting for a second reviewer of `waiting_level` to confirm.
    AwaitingConfirmation,
    /// Final: `final_*` hold the human decision.
    Decided,
    /// A later decision of the same application (after the field
    /// investigation) replaced this one before it was decided.
    Superseded,
}

impl CaseStatus {
    /// Whether the case is in a queue.
    pub fn is_open(self) -> bool {
        matches!(self, CaseStatus::Pending | CaseStatus::AwaitingConfirmation)
    }
}

crate::records::names!(CaseStatus {
    Pending => "pending",
    AwaitingConfirmation => "awaiting_confirmation",
    Decided => "decided",
    Superseded => "superseded",
});

/// One decision's review case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCase {
    pub decision_id: String,
    pub institution: String,
    pub product: String,
    /// The application the decision belongs to, when the request named one.
    pub application_id: Option<String>,
    /// APPROVE, REFER or DECLINE: the system's decision, never changed.
    pub system_outcome: String,
    /// The level the authority matrix routed the decision to; `None` when
    /// a reviewer opened the case on a decision that needed no review.
    pub routed_level: Option<String>,
    /// The level that must act next; `None` once decided or superseded.
    pub waiting_level: Option<String>,
    pub status: CaseStatus,
    /// APPROVE or DECLINE, once decided.
    pub final_outcome: Option<String>,
    pub final_limit: Option<Decimal>,
    pub final_rate: Option<Decimal>,
    /// How many review steps it has.
    pub steps: u32,
    /// Bumped by every write: a step is written only over the revision it
    /// was computed from.
    pub revision: u64,
    /// When the decision was recorded (the queue's order and its age).
    pub created_at: String,
    pub updated_at: String,
    /// The decision that superseded it.
    pub superseded_by: Option<String>,
}

/// What a review step did to its case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEffect {
    /// Within the reviewer's authority and no override: final.
    Final,
    /// Needs a second reviewer (of `requires_level`) before it is final.
    AwaitingConfirmation,
    /// Confirmed the previous step's terms as a second reviewer: final.
    Confirmed,
}

crate::records::names!(StepEffect {
    Final => "final",
    AwaitingConfirmation => "awaiting_confirmation",
    Confirmed => "confirmed",
});

/// One review step: who decided what, at which level, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewStep {
    #[serde(default = "first_format")]
    pub format: u32,
    /// The caller's idempotency key, unique within the institution.
    pub review_id: String,
    pub decision_id: String,
    pub institution: String,
    /// 1 for the first step on the case.
    pub step: u32,
    /// The reviewer (from the bearer token).
    pub reviewer: String,
    /// The reviewer's level in the authority matrix.
    pub level: String,
    /// The reviewer's branch.
    pub branch: String,
    /// APPROVE or DECLINE.
    pub outcome: String,
    /// Yuan; 0 when declined.
    pub limit: Decimal,
    /// Absent when declined.
    pub annual_rate: Option<Decimal>,
    /// Override reason codes from the authority matrix's list.
    pub reason_codes: Vec<String>,
    pub note: String,
    pub effect: StepEffect,
    /// The level that must confirm (when awaiting confirmation).
    pub requires_level: Option<String>,
    /// Why it needs confirmation, in English (empty when final).
    pub requires_because: Vec<String>,
    /// The authority matrix version the step was checked against.
    pub matrix: String,
    /// sha256 of what the caller asked (outcome, limit, rate, reasons,
    /// note, decision): the same review id with other content is refused.
    pub content_hash: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// What writing a review step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewWritten {
    /// Written with its case and audit entry, durably.
    Written,
    /// The case moved on since it was read: read it again and retry.
    Stale,
    /// A step with this review id exists: it is returned unchanged.
    Existing(Box<ReviewStep>),
}
