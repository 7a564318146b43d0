//! The decision a policy run returns, and its trace: every rule with the
//! values it read, every characteristic with its bin and points, every step
//! of the limit and the price. The trace holds no timings, so replaying a
//! stored decision reproduces it byte for byte.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compile::VersionRef;
use crate::expr::EValue;

/// APPROVE / REFER / DECLINE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Approve,
    Refer,
    Decline,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approve => "APPROVE",
            Outcome::Refer => "REFER",
            Outcome::Decline => "DECLINE",
        }
    }
}

/// One reason: machine code, Chinese and English text, and where it came
/// from (`rule:<id>`, `characteristic:<name>`, `grade:<grade>`, `limit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
    pub source: String,
}

/// The result of one policy run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub request_id: String,
    pub institution: String,
    pub product: String,
    pub decision: Outcome,
    pub score: Decimal,
    pub grade: String,
    /// Yuan; `0` when declined.
    pub limit: Decimal,
    /// A yearly rate as a fraction (`0.0345` is 3.45%); absent when declined.
    pub annual_rate: Option<Decimal>,
    /// Ranked: what decided the outcome first, then the scorecard's reasons.
    pub reasons: Vec<Reason>,
    /// Flag rules that hit (informational).
    pub flags: Vec<Reason>,
    /// Feature schema, province ruleset, institution ruleset, scorecard.
    pub versions: Vec<VersionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// A stable id for the decision on one request: the same institution,
/// product and request id always name the same decision.
pub fn decision_id(institution: &str, product: &str, request_id: &str) -> String {
    let mut h = Sha256::new();
    for part in [institution, product, request_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("dec_{}", &hex::encode(h.finalize())[..32])
}

/// A value as the trace shows it: decimals as strings, absent as `null`.
pub fn trace_value(value: &EValue) -> serde_json::Value {
    match value {
        EValue::Boolean(b) => serde_json::Value::Bool(*b),
        EValue::Int(i) => serde_json::Value::from(*i),
        EValue::Float(n) => serde_json::Value::String(n.0.to_string()),
        EValue::String(s) => serde_json::Value::String(s.clone()),
        EValue::Empty | EValue::Tuple(_) => serde_json::Value::Null,
    }
}

pub type Values = serde_json::Map<String, serde_json::Value>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every schema feature as evaluated (defaults applied, `null` absent).
    pub features: Values,
    pub derived: Vec<DerivedTrace>,
    pub knockout: Vec<RuleTrace>,
    pub scorecard: ScorecardTrace,
    pub grade: GradeTrace,
    pub limit: LimitTrace,
    pub price: PriceTrace,
    pub refer: Vec<RuleTrace>,
    pub flags: Vec<RuleTrace>,
    pub outcome: OutcomeTrace,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedTrace {
    pub name: String,
    pub expression: String,
    pub inputs: Values,
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    pub id: String,
    pub layer: String,
    pub expression: String,
    /// The values the rule read.
    pub inputs: Values,
    /// Names that were absent; then `hit` is the rule's `when_missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    pub hit: bool,
    pub reason_code: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorecardTrace {
    pub id: String,
    pub version: String,
    pub base_points: Decimal,
    pub characteristics: Vec<CharacteristicTrace>,
    pub score: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharacteristicTrace {
    pub name: String,
    pub feature: String,
    pub value: serde_json::Value,
    pub bin: String,
    pub points: Decimal,
    pub baseline: Decimal,
    pub reason_code: String,
    /// baseline - points (points below) or points - baseline (points above).
    pub difference: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradeTrace {
    pub score: Decimal,
    pub grade: String,
    pub min_score: Option<Decimal>,
    pub decline: bool,
    /// The grade table's columns for this grade.
    pub columns: Values,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    pub id: String,
    pub op: String,
    pub expression: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub inputs: Values,
    /// The step's value, when it was computed.
    pub value: Option<Decimal>,
    pub applied: bool,
    pub before: Decimal,
    pub after: Decimal,
    /// Why a step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitTrace {
    pub steps: Vec<StepTrace>,
    /// After the steps, never below zero.
    pub computed: Decimal,
    pub round_down_to: Decimal,
    pub rounded: Decimal,
    pub minimum_offer: Decimal,
    /// Whether the rounded limit reaches the minimum offer.
    pub offered: bool,
    pub limit: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTrace {
    pub steps: Vec<StepTrace>,
    pub computed: Decimal,
    pub round_to: Decimal,
    pub rounded: Decimal,
    pub floor: Decimal,
    pub cap: Decimal,
    pub annual_rate: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeTrace {
    pub decision: Outcome,
    /// Each fact that decided the outcome, in order.
    pub because: Vec<String>,
}
