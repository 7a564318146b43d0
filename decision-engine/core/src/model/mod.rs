//! Policy documents as analysts write them: the feature schema, rulesets and
//! scorecards, in JSON. These types only describe the documents; turning them
//! into something that runs is [`crate::compile`]'s job.

pub mod authority;
pub mod ruleset;
pub mod schema;
pub mod scorecard;

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

pub use authority::AuthorityDoc;
pub use ruleset::RulesetDoc;
pub use schema::SchemaDoc;
pub use scorecard::ScorecardDoc;

/// A decision reason as documents declare it: a machine code and its text in
/// Chinese and English.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonDef {
    /// The machine code, e.g. `G401`.
    pub code: String,
    /// The reason in Chinese, e.g. `综合评分低于准入线`.
    pub message_zh: String,
    /// The reason in English, e.g. `Score below the approval cut-off`.
    pub message_en: String,
}

/// Parses a JSON decimal exactly: a string such as `"12500.00"` or a number
/// such as `12500.5`, read from its text (serde_json keeps the text with its
/// `arbitrary_precision` feature), never through `f64`.
pub fn decimal_from_json(value: &serde_json::Value) -> Result<Decimal, String> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => {
            return Err(format!(
                "expected a decimal number or decimal string, found {}",
                json_kind(other)
            ));
        }
    };
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .or_else(|_| Decimal::from_str(&text))
        .map_err(|_| format!("expected a decimal number, found {text:?}"))
}

/// The JSON kind of a value, for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Serde adapter: an exact decimal from a JSON string or number.
pub fn exact<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    decimal_from_json(&value).map_err(serde::de::Error::custom)
}

/// Serde adapter: an optional exact decimal.
pub fn exact_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    if value.is_null() {
        return Ok(None);
    }
    decimal_from_json(&value)
        .map(Some)
        .map_err(serde::de::Error::custom)
}
