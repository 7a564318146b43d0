//! The feature schema document: every feature a request may carry, with its
//! type, unit, allowed range and what happens when it is absent. Analysts add
//! features by adding entries here, without a new server build.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"kind": "feature_schema", "id": ..., "version": ..., "features": [...]}`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaDoc {
    /// Always `"feature_schema"`.
    pub kind: String,
    /// The schema's id, e.g. `farmer-features`.
    pub id: String,
    /// The version label, e.g. `2026.1`; a published version never changes.
    pub version: String,
    /// What the schema covers, for people.
    #[serde(default)]
    pub description: String,
    /// Marks an example calibrated on no real data, such as the shipped schema.
    #[serde(default)]
    pub illustrative: bool,
    /// Every feature a request may carry; the trace lists them in this order.
    pub features: Vec<FeatureDef>,
}

/// The type of a feature and its JSON / CSV encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureType {
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Integer,
    /// Yuan, exact, at most `scale` (default 2) decimal places.
    Money,
    /// An exact decimal (areas, ratios).
    Decimal,
    /// One of `values`.
    Enum,
    /// Free text (codes, names).
    String,
}

impl FeatureType {
    /// The type as documents write it (`bool`, `money`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FeatureType::Bool => "bool",
            FeatureType::Integer => "integer",
            FeatureType::Money => "money",
            FeatureType::Decimal => "decimal",
            FeatureType::Enum => "enum",
            FeatureType::String => "string",
        }
    }
}

/// One feature.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    /// The canonical name, e.g. `annual_net_income`: the JSON key in a request's
    /// `features`, the batch-file column and the name expressions read.
    pub name: String,
    /// The value type (JSON key `type`): `bool`, `integer`, `money`, `decimal`,
    /// `enum` or `string`.
    #[serde(rename = "type")]
    pub ty: FeatureType,
    /// bureau, subsidy, repayment, household, review, or an analyst's own.
    #[serde(default)]
    pub group: Option<String>,
    /// The unit, for people: `yuan`, `mu`, `days`, `years`...
    #[serde(default)]
    pub unit: Option<String>,
    /// What the feature means, in English.
    #[serde(default)]
    pub description_en: Option<String>,
    /// What the feature means, in Chinese.
    #[serde(default)]
    pub description_zh: Option<String>,
    /// Inclusive lower bound for numeric features.
    #[serde(default, deserialize_with = "super::exact_opt")]
    pub min: Option<Decimal>,
    /// Inclusive upper bound for numeric features.
    #[serde(default, deserialize_with = "super::exact_opt")]
    pub max: Option<Decimal>,
    /// Most decimal places accepted (money defaults to 2).
    #[serde(default)]
    pub scale: Option<u32>,
    /// The allowed values of an enum feature.
    #[serde(default)]
    pub values: Option<Vec<String>>,
    /// Longest accepted string, in characters.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// A request without this feature is refused.
    #[serde(default)]
    pub required: bool,
    /// The value used when the feature is absent (instead of "missing").
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// The name of a boolean feature that must be `true` for this one to be
    /// present (a thin file, `bureau_has_record: false`, carries no other
    /// `bureau_*` feature).
    #[serde(default)]
    pub only_if: Option<String>,
}
