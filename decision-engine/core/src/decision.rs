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
    /// Pre-approved with a limit and a rate (预审通过).
    Approve,
    /// Sent to a person to decide (转人工审批).
    Refer,
    /// Declined: no limit and no rate.
    Decline,
}

impl Outcome {
    /// `APPROVE`, `REFER` or `DECLINE`, as on the wire.
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
    /// The machine code, e.g. `R101`.
    pub code: String,
    /// The reason in Chinese.
    pub message_zh: String,
    /// The reason in English.
    pub message_en: String,
    /// What produced it: `rule:<id>`, `characteristic:<name>`, `grade:<grade>`
    /// or `limit`.
    pub source: String,
}

/// The result of one policy run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Stable for a request: the same institution, product and request id
    /// always give the same id.
    pub decision_id: String,
    /// The caller's idempotency key.
    pub request_id: String,
    /// The institution (法人机构) code.
    pub institution: String,
    /// The product code, e.g. `FARMER_CREDIT`.
    pub product: String,
    /// APPROVE, REFER or DECLINE.
    pub decision: Outcome,
    /// Points: the base points plus each characteristic's bin points.
    pub score: Decimal,
    /// The grade of the score's band, e.g. `AA`; given even when declined.
    pub grade: String,
    /// Yuan; `0` when declined.
    pub limit: Decimal,
    /// A yearly rate as a fraction (`0.0345` is 3.45%); absent when declined.
    pub annual_rate: Option<Decimal>,
    /// Ranked: what decided the outcome first, then the scorecard's reasons.
    pub reasons: Vec<Reason>,
    /// Flag rules that hit (informational).
    pub flags: Vec<Reason>,
    /// Feature schema, province ruleset, institution ruleset, scorecard,
    /// and the authority matrix when the policy has one.
    pub versions: Vec<VersionRef>,
    /// When the ruleset is an institution's overlay on the province
    /// default: the base and overlay versions merged and what the overlay
    /// changed (each other parameter and rule is the base's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<std::sync::Arc<crate::model::overlay::Layers>>,
    /// Where the decision goes for a person to decide, by the authority
    /// matrix; absent when the policy has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// Every stage with the values it read; absent when not asked for.
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
    /// Absent.
    Null,
    /// A yes/no value.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// An exact decimal, written as a string.
    Dec(Decimal),
    /// Text, or a decimal read back from a stored trace.
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

    /// Whether the value is absent.
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
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&Scalar> {
        self.0.iter().find(|(n, _)| &**n == name).map(|(_, v)| v)
    }

    /// Names and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Scalar)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Appends `other`'s values, each name once (a step whose value and
    /// condition read the same name lists it once, as its JSON object
    /// does).
    pub fn extend(&mut self, other: Values) {
        for (name, value) in other.0 {
            if self.get(&name).is_none() {
                self.0.push((name, value));
            }
        }
    }

    /// Whether there are no values.
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

/// Every stage of one run in pipeline order: each rule, characteristic and
/// step with the values it read and what it decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every schema feature as evaluated (defaults applied, `null` absent).
    pub features: Values,
    /// Each derived feature with its inputs and value.
    pub derived: Vec<DerivedTrace>,
    /// Every knock-out rule, red lines first, hit or not.
    pub knockout: Vec<RuleTrace>,
    /// The segment that chose the scorecard, and why; absent when the
    /// policy has no segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentTrace>,
    /// Each characteristic's value, bin and points, and the score.
    pub scorecard: ScorecardTrace,
    /// The band the score fell in.
    pub grade: GradeTrace,
    /// Each limit step, the rounding and the minimum offer.
    pub limit: LimitTrace,
    /// Each price step, the rounding, the floor and the cap.
    pub price: PriceTrace,
    /// Every refer rule, hit or not.
    pub refer: Vec<RuleTrace>,
    /// Every flag rule, hit or not.
    pub flags: Vec<RuleTrace>,
    /// The outcome and the facts that decided it.
    pub outcome: OutcomeTrace,
    /// The review level the authority matrix routes the decision to, and
    /// why; absent when the policy has no matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
}

/// Where the authority matrix sends a decision: the level that must
/// decide it (none for a decline or an approval within the auto-approval
/// bounds) and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// The matrix, `id@version`.
    pub matrix: String,
    /// The limit at stake (yuan).
    pub amount: Decimal,
    /// The requested term in months, when given.
    pub term_months: Option<i64>,
    /// The guarantee type, when given.
    pub guarantee_type: Option<String>,
    /// The level that must decide, e.g. `county_approver`; `null` when no
    /// review is required.
    pub level: Option<String>,
    /// The level's name in Chinese.
    pub level_name_zh: Option<String>,
    /// The level's name in English.
    pub level_name_en: Option<String>,
    /// Why, in English, in order.
    pub because: Vec<String>,
    /// Why, in Chinese, in order.
    pub because_zh: Vec<String>,
}

/// One derived feature as computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedTrace {
    /// The derived feature, e.g. `debt_to_income`.
    pub name: Arc<str>,
    /// The formula as written in the ruleset.
    pub expression: Arc<str>,
    /// The values the formula read.
    pub inputs: Values,
    /// The result; `null` when an input was absent.
    pub value: Scalar,
    /// Why the value is absent, e.g. `absent: bureau_total_debt absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One rule as evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// The rule's id, e.g. `RL_AGE`.
    pub id: Arc<str>,
    /// Province red line or institution rule.
    pub layer: Layer,
    /// The condition as written in the ruleset.
    pub expression: Arc<str>,
    /// The values the rule read.
    pub inputs: Values,
    /// Names that were absent; then `hit` is the rule's `when_missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Arc<str>>,
    /// Whether the rule hit.
    pub hit: bool,
    /// The code the rule reports when it hits.
    pub reason_code: Arc<str>,
}

/// The segment a household fell in: each segment checked in order, up to
/// the one whose condition held (the last has none and takes everyone
/// left), and the card that scored it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentTrace {
    /// The segment's id, e.g. `thin_file`.
    pub id: Arc<str>,
    /// Who the segment is.
    pub description: String,
    /// The scorecard that scored it, `id@version`.
    pub scorecard: String,
    /// Every segment checked, in order, the chosen one last.
    pub checked: Vec<SegmentCheck>,
}

/// One segment's condition as checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentCheck {
    /// The segment.
    pub id: Arc<str>,
    /// Its condition; absent on the last segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Arc<str>>,
    /// The values the condition read.
    pub inputs: Values,
    /// Absent values it read (its `when_missing` then decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Arc<str>>,
    /// Whether it held.
    pub held: bool,
}

/// The scorecard as scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScorecardTrace {
    /// The scorecard's id.
    pub id: String,
    /// The scorecard's version.
    pub version: String,
    /// Points every household starts with.
    pub base_points: Decimal,
    /// The card's own derived values with their inputs, computed before
    /// its bins (absent when the card has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedTrace>,
    /// Each characteristic, in card order.
    pub characteristics: Vec<CharacteristicTrace>,
    /// Points: the base points plus each characteristic's bin points.
    pub score: Decimal,
}

/// One characteristic as scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharacteristicTrace {
    /// The characteristic, e.g. `age`.
    pub name: Arc<str>,
    /// The feature it read.
    pub feature: Arc<str>,
    /// The feature's value after any missing-value replacement; `null` when
    /// absent.
    pub value: Scalar,
    /// The label of the bin the value fell in, e.g. `[35, 50)` or `missing`.
    pub bin: Arc<str>,
    /// The bin's points.
    pub points: Decimal,
    /// The points reason codes are measured from.
    pub baseline: Decimal,
    /// The code this characteristic reports (its bin's own, if it has one).
    pub reason_code: Arc<str>,
    /// baseline - points (points below) or points - baseline (points above).
    pub difference: Decimal,
}

/// The band the score fell in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradeTrace {
    /// The score graded.
    pub score: Decimal,
    /// The grade, e.g. `AA`.
    pub grade: String,
    /// The band's lowest score (inclusive); `null` on the lowest band.
    pub min_score: Option<Decimal>,
    /// Whether this grade declines.
    pub decline: bool,
    /// The grade table's columns for this grade.
    pub columns: Values,
}

/// One limit or price step as run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    /// The step's id, e.g. `grade_cap`.
    pub id: Arc<str>,
    /// Set, add, cap or floor.
    pub op: StepOp,
    /// The value expression as written in the ruleset.
    pub expression: Arc<str>,
    /// The step's condition as written, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Arc<str>>,
    /// The values the expression and the condition read.
    pub inputs: Values,
    /// The step's value, when it was computed.
    pub value: Option<Decimal>,
    /// Whether the step ran; false when skipped (see `note`).
    pub applied: bool,
    /// The running amount before the step: yuan for the limit, a yearly
    /// fraction for the price.
    pub before: Decimal,
    /// The running amount after the step.
    pub after: Decimal,
    /// Why a step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Cow<'static, str>>,
}

/// How the credit limit was reached, in yuan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitTrace {
    /// Every limit step, applied or skipped.
    pub steps: Vec<StepTrace>,
    /// After the steps, never below zero.
    pub computed: Decimal,
    /// The rounding unit, e.g. 1000.
    pub round_down_to: Decimal,
    /// `computed` rounded down to a multiple of `round_down_to`.
    pub rounded: Decimal,
    /// The smallest limit offered.
    pub minimum_offer: Decimal,
    /// Whether the rounded limit reaches the minimum offer.
    pub offered: bool,
    /// The limit offered; 0 when below the minimum offer.
    pub limit: Decimal,
}

/// How the annual rate was reached, as yearly fractions (0.0345 = 3.45%).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTrace {
    /// Every price step, applied or skipped.
    pub steps: Vec<StepTrace>,
    /// The rate after the steps.
    pub computed: Decimal,
    /// The rounding unit; 0.0001 is a basis point.
    pub round_to: Decimal,
    /// `computed` rounded half away from zero to a multiple of `round_to`.
    pub rounded: Decimal,
    /// The lowest rate allowed, e.g. the LPR.
    pub floor: Decimal,
    /// The highest rate allowed, e.g. four times the LPR.
    pub cap: Decimal,
    /// The rate: `rounded` held within the floor and the cap.
    pub annual_rate: Decimal,
}

/// The outcome and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeTrace {
    /// APPROVE, REFER or DECLINE.
    pub decision: Outcome,
    /// Each fact that decided the outcome, in order.
    pub because: Vec<String>,
}
