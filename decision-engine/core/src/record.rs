//! The compact decision record: what happened in one policy run (rule hits,
//! bins, derived and step values, the grade band, score, limit, rate and
//! outcome, the exact policy by hash), and nothing the policy itself says.
//! The decision and its trace are rendered from it, the request and the
//! policy ([`crate::evaluate::render`]); the engine renders its own
//! decisions the same way, so a stored decision shows byte for byte what the
//! engine returned.
//!
//! On disk it is the protocol-buffers message `decision.record.v1.DecisionRecord`
//! (`proto/decision/record/v1/record.proto`, which documents every field);
//! [`Record`] is its typed form in memory, with exact decimals.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::compile::VersionRef;
use crate::decision::Outcome;
use crate::expr::{EValue, Num};

/// The record format [`Record::encode`] writes. Format 1 was the decision
/// with its full trace as JSON (read by the store's callers, never by this
/// module).
pub const RECORD_FORMAT: u32 = 2;

/// The generated protocol-buffers types of `decision.record.v1`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/decision.record.v1.rs"));
}

/// A value an expression produced, as the record keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Absent.
    Absent,
    /// A yes/no value.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// An exact decimal (scale kept).
    Dec(Decimal),
    /// Text.
    Text(String),
}

impl Value {
    /// The record form of a slot's value.
    pub fn of(value: &EValue) -> Value {
        match value {
            EValue::Boolean(b) => Value::Bool(*b),
            EValue::Int(i) => Value::Int(*i),
            EValue::Float(n) => Value::Dec(n.0),
            EValue::String(s) => Value::Text(s.clone()),
            EValue::Empty | EValue::Tuple(_) => Value::Absent,
        }
    }

    /// The slot value it was.
    pub fn to_evalue(&self) -> EValue {
        match self {
            Value::Absent => EValue::Empty,
            Value::Bool(b) => EValue::Boolean(*b),
            Value::Int(i) => EValue::Int(*i),
            Value::Dec(d) => EValue::Float(Num(*d)),
            Value::Text(s) => EValue::String(s.clone()),
        }
    }
}

/// What happened in one policy run. See the module documentation and
/// `record.proto` for what is recorded and what is recomputed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// sha256 of the policy's versions ([`policy_hash`]).
    pub policy: [u8; 32],
    /// APPROVE, REFER or DECLINE.
    pub outcome: Outcome,
    /// The score (normalized).
    pub score: Decimal,
    /// The index of the grade band the score fell in.
    pub grade_band: u32,
    /// The limit the limit policy reached (0 below the minimum offer).
    pub limit: Decimal,
    /// The rate the price policy reached.
    pub annual_rate: Decimal,
    /// Each derived feature's value, in policy order.
    pub derived: Vec<Value>,
    /// Whether each rule of the policy hit, in policy order.
    pub rule_hits: Vec<bool>,
    /// Each characteristic's bin, in card order.
    pub bins: Vec<u32>,
    /// The points of each characteristic whose bin computes them, in card
    /// order.
    pub computed_points: Vec<Decimal>,
    /// Each limit step's value; `None` when skipped.
    pub limit_steps: Vec<Option<Decimal>>,
    /// Each price step's value; `None` when skipped.
    pub price_steps: Vec<Option<Decimal>>,
    /// The price floor as evaluated.
    pub price_floor: Decimal,
    /// The price cap as evaluated.
    pub price_cap: Decimal,
}

/// Why a stored record cannot be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// Not a record of a format this release reads.
    #[error("record format {found}; this release reads format {RECORD_FORMAT}: upgrade it")]
    Format {
        /// The format the record says it is.
        found: u32,
    },
    /// The bytes do not decode, or a field does not hold what it must.
    #[error("damaged decision record: {0}")]
    Damaged(String),
}

/// sha256 of a policy's versions, in order: each version's kind, id,
/// version and content hash, each followed by a zero byte.
pub fn policy_hash(versions: &[VersionRef]) -> [u8; 32] {
    let mut h = Sha256::new();
    for v in versions {
        for part in [&v.kind, &v.id, &v.version, &v.hash] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    h.finalize().into()
}

fn dec_text(d: &Decimal) -> String {
    d.to_string()
}

fn dec_field(field: &str, text: &str) -> Result<Decimal, RecordError> {
    text.parse::<Decimal>().map_err(|e| {
        RecordError::Damaged(format!("{field}: expected a decimal, found {text:?}: {e}"))
    })
}

fn steps_out(steps: &[Option<Decimal>]) -> Vec<String> {
    steps
        .iter()
        .map(|s| s.as_ref().map(dec_text).unwrap_or_default())
        .collect()
}

fn steps_in(field: &str, steps: &[String]) -> Result<Vec<Option<Decimal>>, RecordError> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if s.is_empty() {
                Ok(None)
            } else {
                dec_field(&format!("{field}[{i}]"), s).map(Some)
            }
        })
        .collect()
}

impl Record {
    /// The protocol-buffers message.
    pub fn to_pb(&self) -> pb::DecisionRecord {
        let mut hits = vec![0u8; self.rule_hits.len().div_ceil(8)];
        for (i, hit) in self.rule_hits.iter().enumerate() {
            if *hit {
                hits[i / 8] |= 1 << (i % 8);
            }
        }
        pb::DecisionRecord {
            format: RECORD_FORMAT,
            policy: self.policy.to_vec(),
            outcome: match self.outcome {
                Outcome::Approve => pb::Outcome::Approve,
                Outcome::Refer => pb::Outcome::Refer,
                Outcome::Decline => pb::Outcome::Decline,
            } as i32,
            score: dec_text(&self.score),
            grade_band: self.grade_band,
            limit: dec_text(&self.limit),
            annual_rate: dec_text(&self.annual_rate),
            derived: self
                .derived
                .iter()
                .map(|v| pb::Value {
                    kind: match v {
                        Value::Absent => None,
                        Value::Bool(b) => Some(pb::value::Kind::Bool(*b)),
                        Value::Int(i) => Some(pb::value::Kind::Int(*i)),
                        Value::Dec(d) => Some(pb::value::Kind::Decimal(dec_text(d))),
                        Value::Text(s) => Some(pb::value::Kind::Text(s.clone())),
                    },
                })
                .collect(),
            rule_hits: hits,
            bins: self.bins.clone(),
            computed_points: self.computed_points.iter().map(dec_text).collect(),
            limit_steps: steps_out(&self.limit_steps),
            price_steps: steps_out(&self.price_steps),
            price_floor: dec_text(&self.price_floor),
            price_cap: dec_text(&self.price_cap),
        }
    }

    /// The record's bytes (format [`RECORD_FORMAT`]).
    pub fn encode(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.to_pb())
    }

    /// Reads a record's bytes. The number of rules is how many hit bits
    /// are read; the policy the record names is checked when it is
    /// rendered.
    pub fn decode(bytes: &[u8], rules: usize) -> Result<Record, RecordError> {
        let m: pb::DecisionRecord = prost::Message::decode(bytes)
            .map_err(|e| RecordError::Damaged(format!("does not decode: {e}")))?;
        Record::from_pb(m, rules)
    }

    /// The policy hash a record's bytes name, without reading the rest.
    pub fn policy_of(bytes: &[u8]) -> Result<[u8; 32], RecordError> {
        let m: pb::DecisionRecord = prost::Message::decode(bytes)
            .map_err(|e| RecordError::Damaged(format!("does not decode: {e}")))?;
        if m.format != RECORD_FORMAT {
            return Err(RecordError::Format { found: m.format });
        }
        m.policy.as_slice().try_into().map_err(|_| {
            RecordError::Damaged(format!(
                "policy: expected a 32-byte sha256, found {} bytes",
                m.policy.len()
            ))
        })
    }

    /// The typed record of a decoded message.
    pub fn from_pb(m: pb::DecisionRecord, rules: usize) -> Result<Record, RecordError> {
        if m.format != RECORD_FORMAT {
            return Err(RecordError::Format { found: m.format });
        }
        let policy: [u8; 32] = m.policy.as_slice().try_into().map_err(|_| {
            RecordError::Damaged(format!(
                "policy: expected a 32-byte sha256, found {} bytes",
                m.policy.len()
            ))
        })?;
        let outcome = match pb::Outcome::try_from(m.outcome) {
            Ok(pb::Outcome::Approve) => Outcome::Approve,
            Ok(pb::Outcome::Refer) => Outcome::Refer,
            Ok(pb::Outcome::Decline) => Outcome::Decline,
            _ => {
                return Err(RecordError::Damaged(format!(
                    "outcome: expected APPROVE, REFER or DECLINE, found {}",
                    m.outcome
                )));
            }
        };
        if m.rule_hits.len() != rules.div_ceil(8) {
            return Err(RecordError::Damaged(format!(
                "rule_hits: expected {} bytes for {rules} rules, found {}",
                rules.div_ceil(8),
                m.rule_hits.len()
            )));
        }
        let rule_hits = (0..rules)
            .map(|i| m.rule_hits[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        let derived = m
            .derived
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                Ok(match v.kind {
                    None => Value::Absent,
                    Some(pb::value::Kind::Bool(b)) => Value::Bool(b),
                    Some(pb::value::Kind::Int(n)) => Value::Int(n),
                    Some(pb::value::Kind::Decimal(d)) => {
                        Value::Dec(dec_field(&format!("derived[{i}]"), &d)?)
                    }
                    Some(pb::value::Kind::Text(s)) => Value::Text(s),
                })
            })
            .collect::<Result<Vec<_>, RecordError>>()?;
        Ok(Record {
            policy,
            outcome,
            score: dec_field("score", &m.score)?,
            grade_band: m.grade_band,
            limit: dec_field("limit", &m.limit)?,
            annual_rate: dec_field("annual_rate", &m.annual_rate)?,
            derived,
            rule_hits,
            bins: m.bins,
            computed_points: m
                .computed_points
                .iter()
                .enumerate()
                .map(|(i, p)| dec_field(&format!("computed_points[{i}]"), p))
                .collect::<Result<_, _>>()?,
            limit_steps: steps_in("limit_steps", &m.limit_steps)?,
            price_steps: steps_in("price_steps", &m.price_steps)?,
            price_floor: dec_field("price_floor", &m.price_floor)?,
            price_cap: dec_field("price_cap", &m.price_cap)?,
        })
    }
}
