//! Market parameters (市场参数): reference data every product of every
//! institution reads, such as the one- and five-year Loan Prime Rates. The
//! province publishes them as their own versioned document
//! (`"kind": "market_parameters"`) and activates a version from a time; a
//! rate change touches no ruleset. Rulesets read each value by name (e.g.
//! `lpr_1y` in a price step), and a decision records the version it ran and,
//! in its trace, the value each step read.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"kind": "market_parameters", "id": ..., "version": ..., "parameters":
/// [{"name": "lpr_1y", "value": "0.0300", "set_on": "2026-11-20"}]}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketDoc {
    /// Always `"market_parameters"`.
    pub kind: String,
    /// The document's id, e.g. `market-parameters`.
    pub id: String,
    /// The version label, e.g. `2026.11`; a published version never changes.
    pub version: String,
    /// Where the values come from, for people.
    #[serde(default)]
    pub description: String,
    /// Marks example values, such as the shipped ones.
    #[serde(default)]
    pub illustrative: bool,
    /// The values, each an exact decimal.
    pub parameters: Vec<MarketParameterDef>,
}

/// One market value, e.g. the one-year LPR.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketParameterDef {
    /// The name rulesets read, e.g. `lpr_1y`.
    pub name: String,
    /// The value, exact (a rate as a yearly fraction: `0.0300` is 3.00%).
    #[serde(deserialize_with = "super::exact")]
    pub value: Decimal,
    /// The date the market set the value (e.g. the LPR fixing of the 20th),
    /// `YYYY-MM-DD`, for people. When a version is in force is decided by
    /// its activation's effective time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub set_on: String,
    /// What the value is and its unit, for people.
    #[serde(default)]
    pub description: String,
}
