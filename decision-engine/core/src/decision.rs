//! The decision a policy run returns, and its trace: every rule with the
//! values it read, every characteristic with its bin and points, every step
//! of the limit and the price. The trace holds no timings, so replaying a
//! stored decision reproduces it byte for byte.

use std::borrow::Cow;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compile::VersionRef;
use crate::expr::EValue;
use crate::model::ruleset::{Layer, StepOp};

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

/// A value as the trace holds it. Decimals stay decimals until the trace is
/// written (then they are strings, like every decimal on the wire); names
/// and texts are shared with the compiled policy, so building a trace copies
/// no strings.
#[derive(Clone, Debug)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(Arc<str>),
}

impl Scalar {
    /// The JSON form: decimals as strings, absent as `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Null => serde_json::Value::Null,
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
            Scalar::Int(i) => serde_json::Value::from(*i),
            Scalar::Dec(d) => serde_json::Value::String(d.to_string()),
            Scalar::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Scalar::Null)
    }
}

/// Two scalars are equal when they are written the same way (a decimal read
/// back from a stored trace is a string).
impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Dec(d) => write!(f, "{d}"),
            Scalar::Str(s) => f.write_str(s),
        }
    }
}

impl Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Null => s.serialize_none(),
            Scalar::Bool(b) => s.serialize_bool(*b),
            Scalar::Int(i) => s.serialize_i64(*i),
            Scalar::Dec(d) => s.collect_str(d),
            Scalar::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Scalar::Null,
            serde_json::Value::Bool(b) => Scalar::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Str(n.to_string().into()),
            },
            serde_json::Value::String(s) => Scalar::Str(s.into()),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a scalar, found {other}"
                )));
            }
        })
    }
}

/// The trace form of an expression value.
pub fn trace_value(value: &EValue) -> Scalar {
    match value {
        EValue::Boolean(b) => Scalar::Bool(*b),
        EValue::Int(i) => Scalar::Int(*i),
        EValue::Float(n) => Scalar::Dec(n.0),
        EValue::String(s) => Scalar::Str(s.as_str().into()),
        EValue::Empty | EValue::Tuple(_) => Scalar::Null,
    }
}

/// Named values in order, written as a JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values(pub Vec<(Arc<str>, Scalar)>);

impl Values {
    pub fn get(&self, name: &str) -> Option<&Scalar> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Scalar)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Values) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(Arc<str>, Scalar)> for Values {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, Scalar)>>(iter: I) -> Self {
        Values(iter.into_iter().collect())
    }
}

impl Serialize for Values {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        map.into_iter()
            .map(|(k, v)| {
                Ok((
                    Arc::from(k),
                    Scalar::deserialize(v).map_err(serde::de::Error::custom)?,
                ))
            })
            .collect::<Result<Vec<_>, D::Error>>()
            .map(Values)
    }
}

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
    pub name: Arc<str>,
    pub expression: Arc<str>,
    pub inputs: Values,
    pub value: Scalar,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    pub id: Arc<str>,
    pub layer: Layer,
    pub expression: Arc<str>,
    /// The values the rule read.
    pub inputs: Values,
    /// Names that were absent; then `hit` is the rule's `when_missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Arc<str>>,
    pub hit: bool,
    pub reason_code: Arc<str>,
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
    pub name: Arc<str>,
    pub feature: Arc<str>,
    pub value: Scalar,
    pub bin: Arc<str>,
    pub points: Decimal,
    pub baseline: Decimal,
    pub reason_code: Arc<str>,
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
    pub id: Arc<str>,
    pub op: StepOp,
    pub expression: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Arc<str>>,
    pub inputs: Values,
    /// The step's value, when it was computed.
    pub value: Option<Decimal>,
    pub applied: bool,
    pub before: Decimal,
    pub after: Decimal,
    /// Why a step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Cow<'static, str>>,
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
