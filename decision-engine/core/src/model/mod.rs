//! Policy documents as analysts write them: the feature schema, rulesets and
//! scorecards, in JSON. These types only describe the documents; turning them
//! into something that runs is [`crate::compile`]'s job.

pub mod authority;
pub mod cases;
pub mod market;
pub mod monitoring;
pub mod overlay;
pub mod product;
pub mod ruleset;
pub mod schema;
pub mod scorecard;

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

pub use authority::AuthorityDoc;
pub use cases::{Expectation, TestCase};
pub use market::MarketDoc;
pub use monitoring::{LoanSchemaDoc, MonitoringDoc};
pub use overlay::OverlayDoc;
pub use product::ProductDoc;
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
/// `arbitrary_precision` feature), never through `f64`. A number with more
/// significant digits than a decimal holds (28) is refused, never rounded.
pub fn decimal_from_json(value: &serde_json::Value) -> Result<Decimal, DecimalError> {
    let text = match value {
        serde_json::Value::String(s) => s.trim(),
        serde_json::Value::Number(n) => n.as_str(),
        other => {
            return Err(DecimalError::NotANumber(format!(
                "expected a decimal number or decimal string, found {}",
                json_kind(other)
            )));
        }
    };
    decimal_from_text(text)
}

/// Why a value is not an exact decimal.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not a decimal at all.
    #[error("{0}")]
    NotANumber(String),
    /// A decimal, but with more digits than an exact decimal holds: it would
    /// be rounded, so it is refused.
    #[error("{significant} significant digits; an exact decimal holds at most {MAX_DIGITS}")]
    TooManyDigits {
        /// The digits written, leading zeros aside.
        significant: usize,
    },
}

impl From<DecimalError> for String {
    fn from(e: DecimalError) -> String {
        e.to_string()
    }
}

/// Parses decimal text exactly (`12500.00`, `-0.5`, `1.2e3`); refuses text
/// a decimal cannot hold without rounding.
pub fn decimal_from_text(text: &str) -> Result<Decimal, DecimalError> {
    if let Ok(d) = Decimal::from_str_exact(text) {
        return Ok(d);
    }
    // `1.2e3`: the mantissa must itself be exact (`from_scientific` would
    // round it).
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let exact_mantissa = Decimal::from_str_exact(mantissa).is_ok();
    if exact_mantissa
        && mantissa.len() < text.len()
        && let Ok(d) = Decimal::from_scientific(text)
    {
        return Ok(d);
    }
    let rounds = if mantissa.len() < text.len() {
        Decimal::from_scientific_lossy(text).is_ok()
    } else {
        Decimal::from_str(text).is_ok()
    };
    if rounds {
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0').len();
        return Err(DecimalError::TooManyDigits { significant });
    }
    Err(DecimalError::NotANumber(format!(
        "expected a decimal number, found {text:?}"
    )))
}

/// The most significant digits an exact decimal holds.
pub const MAX_DIGITS: u32 = 28;

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
