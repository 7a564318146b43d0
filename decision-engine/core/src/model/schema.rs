//! The feature schema document: every feature a request may carry, with its
//! type, unit, allowed range and what happens when it is absent. Analysts add
//! features by adding entries here, without a new server build.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"kind": "feature_schema", "id": ..., "version": ..., "features": [...]}`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaDoc {
    pub kind: String,
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub illustrative: bool,
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
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FeatureType,
    /// bureau, subsidy, repayment, household, review, or an analyst's own.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub description_en: Option<String>,
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
