//! The ruleset document: parameters, derived features, knock-out, refer and
//! flag rules, the grade table, and the limit and price policies.
//!
//! A province ruleset (`layer: "province"`) carries the red lines: parameters
//! and knock-out rules that bind every institution. An institution ruleset
//! (`layer: "institution"`, `institution: "*"` for the province default)
//! carries everything else for one product.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ReasonDef;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetDoc {
    pub kind: String,
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub illustrative: bool,
    pub layer: Layer,
    /// The institution code this ruleset is for; `*` is the province default.
    #[serde(default)]
    pub institution: Option<String>,
    /// The product code (institution layer).
    #[serde(default)]
    pub product: Option<String>,
    /// The id of the scorecard this ruleset's grade table is calibrated for.
    #[serde(default)]
    pub scorecard: Option<String>,
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
    #[serde(default)]
    pub derived: Vec<DerivedDef>,
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    #[serde(default)]
    pub grades: Option<GradeTable>,
    #[serde(default)]
    pub limit: Option<LimitPolicy>,
    #[serde(default)]
    pub price: Option<PricePolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Province,
    Institution,
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Province => "province",
            Layer::Institution => "institution",
        }
    }
}

/// A named constant that expressions read, such as `lpr` or `max_age`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParameterType,
    pub value: serde_json::Value,
    #[serde(default)]
    pub description: String,
    /// On a province parameter: which way is stricter, so an institution
    /// ruleset may redeclare it with a value at least as strict. Without it
    /// no institution may change the parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tighten: Option<Tighten>,
}

/// Which direction of a red-line parameter is stricter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tighten {
    /// A lower value is stricter (e.g. `max_age`).
    Lower,
    /// A higher value is stricter (e.g. `min_age`).
    Higher,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterType {
    Bool,
    Integer,
    Decimal,
    String,
}

/// A feature computed from others before any rule runs, e.g.
/// `debt_to_income = bureau_total_debt / annual_net_income`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: DerivedType,
    pub expression: String,
    /// Decimal places kept (half away from zero) for decimal results.
    #[serde(default)]
    pub scale: Option<u32>,
    /// What the value is when the expression cannot be computed (an input
    /// is missing or a division by zero): only `"missing"` is supported, and
    /// it must be stated when the expression reads an optional input.
    #[serde(default)]
    pub when_missing: Option<WhenMissingValue>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedType {
    Bool,
    Integer,
    Decimal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenMissingValue {
    Missing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A hit declines.
    Knockout,
    /// A hit sends the case to a person.
    Refer,
    /// A hit is reported, nothing more.
    Flag,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Knockout => "knockout",
            Stage::Refer => "refer",
            Stage::Flag => "flag",
        }
    }
}

/// One rule: a condition over features, derived features, parameters and,
/// for refer and flag rules, the computed `score`, `grade`, `limit` and
/// `annual_rate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub stage: Stage,
    pub expression: String,
    /// The rule's result when a value it reads is absent. Required when the
    /// expression reads an optional feature.
    #[serde(default)]
    pub when_missing: Option<bool>,
    pub reason_code: String,
    pub message_zh: String,
    pub message_en: String,
}

/// Score bands to grades, with the per-grade columns the limit and price
/// policies read (e.g. `income_multiple`, `grade_cap`, `grade_spread`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeTable {
    pub columns: Vec<String>,
    /// Highest band first; the last row has no `min_score`.
    pub rows: Vec<GradeRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRow {
    pub grade: String,
    /// Lowest score (inclusive) of this band; absent on the last row.
    #[serde(default, deserialize_with = "super::exact_opt")]
    pub min_score: Option<Decimal>,
    /// Households in this grade are declined with `reason`.
    #[serde(default)]
    pub decline: bool,
    #[serde(default)]
    pub reason: Option<ReasonDef>,
    pub values: BTreeMap<String, serde_json::Value>,
}

/// How a step changes the running amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOp {
    /// amount := value
    Set,
    /// amount := amount + value
    Add,
    /// amount := min(amount, value)
    Cap,
    /// amount := max(amount, value)
    Floor,
}

impl std::fmt::Display for StepOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl StepOp {
    pub fn name(self) -> &'static str {
        match self {
            StepOp::Set => "set",
            StepOp::Add => "add",
            StepOp::Cap => "cap",
            StepOp::Floor => "floor",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenMissingStep {
    /// The step is skipped (and the trace says which value was missing).
    Skip,
}

/// One step of the limit or price calculation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub id: String,
    pub op: StepOp,
    /// The value, an expression computed in exact decimals.
    pub value: String,
    /// The step applies only when this condition holds.
    #[serde(default)]
    pub when: Option<String>,
    /// Required when `value` or `when` reads an optional feature.
    #[serde(default)]
    pub when_missing: Option<WhenMissingStep>,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    pub steps: Vec<StepDef>,
    /// The limit is rounded down to a multiple of this (yuan).
    #[serde(deserialize_with = "super::exact")]
    pub round_down_to: Decimal,
    /// A rounded limit below this is no offer (declined with `below_minimum`).
    #[serde(deserialize_with = "super::exact")]
    pub minimum_offer: Decimal,
    pub below_minimum: ReasonDef,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricePolicy {
    pub steps: Vec<StepDef>,
    /// Lowest rate, an expression (e.g. `lpr`).
    pub floor: String,
    /// Highest rate, an expression (e.g. `4 * lpr`).
    pub cap: String,
    /// The rate is rounded half away from zero to a multiple of this
    /// (0.0001 is a basis point).
    #[serde(deserialize_with = "super::exact")]
    pub round_to: Decimal,
}
