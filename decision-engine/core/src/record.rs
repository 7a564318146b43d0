//! The compact decision record: what happened in one policy run (rule hits,
//! bins, derived and step values, the grade band, score, limit, rate and
//! outcome, the exact policy by hash), and nothing the policy itself says.
//! The decision and its trace are rendered from it, the request and the
//! policy ([`crate::evaluate::render`]); the engine renders its own
//! decisions the same way, so a stored decision shows byte for byte what the
//! engine returned.
//!
//! [`Record`] is its typed form in memory, with exact decimals. This crate
//! knows no encoding: the store keeps it as the protocol-buffers message
//! `decision.record.v1.DecisionRecord` (`proto/decision/record/v1/record.proto`,
//! which documents every field; `decision_store::compact` reads and writes
//! it).

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::compile::VersionRef;
use crate::decision::Outcome;
use crate::expr::{EValue, Num};

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
    /// The index of the grade band the score fell in (in the segment's
    /// grade table).
    pub grade_band: u32,
    /// The index of the segment the household fell in (0 when the policy
    /// has no segments).
    pub segment: u32,
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
