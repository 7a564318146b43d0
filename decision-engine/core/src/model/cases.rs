//! Test cases a ruleset or scorecard carries with its version: a household's
//! features and the decision the analyst expects for it. They are part of
//! the document (and so of its content hash); a version whose cases fail
//! under a policy it is part of does not compile, so it cannot be published,
//! activated or loaded.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::decision::Outcome;

/// `{"name": ..., "features": {...}, "expect": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// Names the case in results and errors; unique in its document.
    pub name: String,
    /// What the case shows, for people (e.g. the hand-worked arithmetic).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The household's features by canonical name, as a request's
    /// `features` carries them.
    pub features: serde_json::Map<String, serde_json::Value>,
    /// What the decision must be; only the fields given are compared.
    pub expect: Expectation,
}

/// The expected decision. Every field given must match exactly; at least
/// one must be given.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `APPROVE`, `REFER` or `DECLINE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Outcome>,
    /// The exact score.
    #[serde(
        default,
        deserialize_with = "super::exact_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub score: Option<Decimal>,
    /// The grade, e.g. `AA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The credit limit in yuan (`0` when declined).
    #[serde(
        default,
        deserialize_with = "super::exact_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<Decimal>,
    /// The annual rate as a fraction; `null` expects no rate (a decline).
    #[serde(
        default,
        deserialize_with = "nullable_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub annual_rate: Option<Option<Decimal>>,
    /// The decision's reason codes, ranked, exactly (flags aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_codes: Option<Vec<String>>,
    /// The flag rules' codes that hit, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_codes: Option<Vec<String>>,
}

impl Expectation {
    /// Whether nothing at all is expected (such a case could not fail).
    pub fn is_empty(&self) -> bool {
        self.decision.is_none()
            && self.score.is_none()
            && self.grade.is_none()
            && self.limit.is_none()
            && self.annual_rate.is_none()
            && self.reason_codes.is_none()
            && self.flag_codes.is_none()
    }
}

/// Absent: not compared; `null`: expected absent; a decimal: expected.
fn nullable_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    if value.is_null() {
        return Ok(Some(None));
    }
    super::decimal_from_json(&value)
        .map(|v| Some(Some(v)))
        .map_err(serde::de::Error::custom)
}
