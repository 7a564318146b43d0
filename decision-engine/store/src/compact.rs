//! The compact decision record on disk: the protocol-buffers message
//! `decision.record.v1.DecisionRecord` (`proto/decision/record/v1/record.proto`,
//! generated at build time with protox and prost-build), read into and
//! written from `decision_core::Record`. The engine knows the record, not
//! its encoding.

use decision_core::Outcome;
use decision_core::record::{Record, Value};
use rust_decimal::Decimal;

/// The record format [`encode`] writes (the store's [`crate::DECISION_FORMAT`]
/// 2). Format 1 was the decision with its full trace as JSON.
pub const RECORD_FORMAT: u32 = 2;

/// The generated protocol-buffers types of `decision.record.v1`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/decision.record.v1.rs"));
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

/// The protocol-buffers message.
pub fn to_pb(record: &Record) -> pb::DecisionRecord {
    let mut hits = vec![0u8; record.rule_hits.len().div_ceil(8)];
    for (i, hit) in record.rule_hits.iter().enumerate() {
        if *hit {
            hits[i / 8] |= 1 << (i % 8);
        }
    }
    pb::DecisionRecord {
        format: RECORD_FORMAT,
        policy: record.policy.to_vec(),
        outcome: match record.outcome {
            Outcome::Approve => pb::Outcome::Approve,
            Outcome::Refer => pb::Outcome::Refer,
            Outcome::Decline => pb::Outcome::Decline,
        } as i32,
        score: dec_text(&record.score),
        grade_band: record.grade_band,
        segment: record.segment,
        limit: dec_text(&record.limit),
        annual_rate: dec_text(&record.annual_rate),
        derived: record
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
        bins: record.bins.clone(),
        computed_points: record.computed_points.iter().map(dec_text).collect(),
        limit_steps: steps_out(&record.limit_steps),
        price_steps: steps_out(&record.price_steps),
        price_floor: dec_text(&record.price_floor),
        price_cap: dec_text(&record.price_cap),
    }
}

/// The record's bytes (format [`RECORD_FORMAT`]).
pub fn encode(record: &Record) -> Vec<u8> {
    prost::Message::encode_to_vec(&to_pb(record))
}

/// Reads a record's bytes. The number of rules is how many hit bits
/// are read; the policy the record names is checked when it is
/// rendered.
pub fn decode(bytes: &[u8], rules: usize) -> Result<Record, RecordError> {
    let m: pb::DecisionRecord = prost::Message::decode(bytes)
        .map_err(|e| RecordError::Damaged(format!("does not decode: {e}")))?;
    from_pb(m, rules)
}

/// The outcome a record's bytes hold, read without the policy.
pub fn outcome(bytes: &[u8]) -> Result<Outcome, RecordError> {
    let m: pb::DecisionRecord = prost::Message::decode(bytes)
        .map_err(|e| RecordError::Damaged(format!("does not decode: {e}")))?;
    if m.format != RECORD_FORMAT {
        return Err(RecordError::Format { found: m.format });
    }
    outcome_of(m.outcome)
}

fn outcome_of(outcome: i32) -> Result<Outcome, RecordError> {
    match pb::Outcome::try_from(outcome) {
        Ok(pb::Outcome::Approve) => Ok(Outcome::Approve),
        Ok(pb::Outcome::Refer) => Ok(Outcome::Refer),
        Ok(pb::Outcome::Decline) => Ok(Outcome::Decline),
        _ => Err(RecordError::Damaged(format!(
            "outcome: expected APPROVE, REFER or DECLINE, found {outcome}"
        ))),
    }
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
    let outcome = outcome_of(m.outcome)?;
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
        segment: m.segment,
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
