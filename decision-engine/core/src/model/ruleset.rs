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

/// `{"kind": "ruleset", "id": ..., "version": ..., "layer": ..., ...}`: either
/// the province red lines or one institution's policy for one product.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetDoc {
    /// Always `"ruleset"`.
    pub kind: String,
    /// The ruleset's id, e.g. `farmer-credit-default`.
    pub id: String,
    /// The version label, e.g. `2026.1`; a published version never changes.
    pub version: String,
    /// What the ruleset is for and how it was calibrated, for people.
    #[serde(default)]
    pub description: String,
    /// Marks an example calibrated on no real data, such as the shipped default.
    #[serde(default)]
    pub illustrative: bool,
    /// `province` for the red lines, `institution` for a product policy.
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
    /// Segments (客群): which scorecard (and grade table) scores a
    /// household, the first whose condition holds; the last has none and
    /// takes everyone else. Without segments, `scorecard` scores everyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentDef>,
    /// Named constants the expressions read: the LPR, caps, cut-offs.
    #[serde(default)]
    pub parameters: Vec<ParameterDef>,
    /// Features computed from the request before any rule runs.
    #[serde(default)]
    pub derived: Vec<DerivedDef>,
    /// Knock-out, refer and flag rules; each stage runs them in document order.
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// Score bands to grades (institution layer only).
    #[serde(default)]
    pub grades: Option<GradeTable>,
    /// How the credit limit is computed (institution layer only).
    #[serde(default)]
    pub limit: Option<LimitPolicy>,
    /// How the annual rate is computed (institution layer only).
    #[serde(default)]
    pub price: Option<PricePolicy>,
    /// Households and the decisions expected for them, run whenever the
    /// version is compiled into a policy: a failing case refuses the version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<super::TestCase>,
    /// Set only on an effective ruleset merged from an overlay and its base
    /// (see [`super::overlay`]): both versions and what the overlay changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<super::overlay::Layers>,
}

impl RulesetDoc {
    /// The (id, version) of each scorecard the segments name, once each, in
    /// segment order, leaving out `main` (the ruleset's own card, which the
    /// policy has anyway).
    pub fn segment_cards(&self, main: (&str, &str)) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for s in &self.segments {
            let card = (s.scorecard.as_str(), s.scorecard_version.as_str());
            if card != main && !out.contains(&card) {
                out.push(card);
            }
        }
        out
    }
}

/// One segment of a product's households, e.g. thin files, scored by its
/// own scorecard version and, where needed, its own grade bands and limit
/// columns.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    /// The segment's id, e.g. `thin_file`; decisions record it.
    pub id: String,
    /// Who the segment is, for people.
    #[serde(default)]
    pub description: String,
    /// The condition over features and derived features that puts a
    /// household in this segment; absent on the last segment only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The condition's result when a value it reads is absent (default
    /// false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_missing: Option<bool>,
    /// The scorecard's id.
    pub scorecard: String,
    /// The scorecard's exact version (a segment names the version it was
    /// calibrated with).
    pub scorecard_version: String,
    /// The segment's own grade table, with the ruleset's columns; absent:
    /// the ruleset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grades: Option<GradeTable>,
}

/// Whose ruleset it is: the province union's or one institution's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Province red lines (省联社红线): parameters and knock-out rules that bind
    /// every institution and run first.
    Province,
    /// One institution's policy for one product (`institution: "*"` is the
    /// province default).
    Institution,
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Layer {
    /// The layer as documents and traces write it.
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
    /// The name expressions use, e.g. `max_age`.
    pub name: String,
    /// The value's type (JSON key `type`).
    #[serde(rename = "type")]
    pub ty: ParameterType,
    /// The value in the JSON form of its type; a decimal may be a string, e.g.
    /// `"0.0300"` for an LPR of 3.00%.
    pub value: serde_json::Value,
    /// What the parameter means and its unit, for people.
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

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterType {
    /// `true` / `false`.
    Bool,
    /// A whole number, e.g. an age or a count of inquiries.
    Integer,
    /// An exact decimal: yuan, a yearly rate, a multiple.
    Decimal,
    /// Text, e.g. a code.
    String,
}

/// A feature computed from others before any rule runs, e.g.
/// `debt_to_income = bureau_total_debt / annual_net_income`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedDef {
    /// The name rules, steps and characteristics read, e.g. `debt_to_income`.
    pub name: String,
    /// The result's type (JSON key `type`).
    #[serde(rename = "type")]
    pub ty: DerivedType,
    /// The formula over features, parameters and earlier derived features, in
    /// exact decimals.
    pub expression: String,
    /// Decimal places kept (half away from zero) for decimal results.
    #[serde(default)]
    pub scale: Option<u32>,
    /// What the value is when the expression cannot be computed (an input
    /// is missing or a division by zero): only `"missing"` is supported, and
    /// it must be stated when the expression reads an optional input.
    #[serde(default)]
    pub when_missing: Option<WhenMissingValue>,
    /// What the value means, for people.
    #[serde(default)]
    pub description: String,
}

/// The type of a derived feature's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedType {
    /// A yes/no fact.
    Bool,
    /// A whole number.
    Integer,
    /// An exact decimal, e.g. a ratio.
    Decimal,
}

/// What a derived feature is when it cannot be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenMissingValue {
    /// Absent, like a feature the request does not carry: rules, steps and bins
    /// then apply their own missing treatment.
    Missing,
}

/// When a rule runs and what a hit does.
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
    /// The stage as documents and traces write it.
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
    /// The rule's id, e.g. `RL_AGE`; an institution cannot reuse a red line's id.
    pub id: String,
    /// When the rule runs; a province ruleset holds knock-outs only.
    pub stage: Stage,
    /// The condition that is a hit when true, e.g.
    /// `age < min_age || age > max_age`.
    pub expression: String,
    /// The rule's result when a value it reads is absent. Required when the
    /// expression reads an optional feature.
    #[serde(default)]
    pub when_missing: Option<bool>,
    /// The machine code a hit reports, e.g. `R101`.
    pub reason_code: String,
    /// The reason in Chinese, shown when the rule hits.
    pub message_zh: String,
    /// The reason in English, shown when the rule hits.
    pub message_en: String,
}

/// Score bands to grades, with the per-grade columns the limit and price
/// policies read (e.g. `income_multiple`, `grade_cap`, `grade_spread`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeTable {
    /// The per-grade values' names, e.g. `income_multiple`; limit and price
    /// expressions read them by these names.
    pub columns: Vec<String>,
    /// Highest band first; the last row has no `min_score`.
    pub rows: Vec<GradeRow>,
}

/// One grade: its score band, whether it declines, and its column values.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeRow {
    /// The grade, e.g. `AAA` or `C`.
    pub grade: String,
    /// Lowest score (inclusive) of this band; absent on the last row.
    #[serde(default, deserialize_with = "super::exact_opt")]
    pub min_score: Option<Decimal>,
    /// Households in this grade are declined with `reason`.
    #[serde(default)]
    pub decline: bool,
    /// Why a declining grade declines, e.g. a score below the cut-off.
    #[serde(default)]
    pub reason: Option<ReasonDef>,
    /// This grade's value of every column as an exact decimal, e.g.
    /// `"income_multiple": "3.0"`.
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
    /// The operation as documents and traces write it.
    pub fn name(self) -> &'static str {
        match self {
            StepOp::Set => "set",
            StepOp::Add => "add",
            StepOp::Cap => "cap",
            StepOp::Floor => "floor",
        }
    }
}

/// What a limit or price step does when a value it reads is absent.
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
    /// The step's id, e.g. `grade_cap`, unique in its calculation.
    pub id: String,
    /// How the step changes the running amount.
    pub op: StepOp,
    /// The value, an expression computed in exact decimals.
    pub value: String,
    /// The step applies only when this condition holds.
    #[serde(default)]
    pub when: Option<String>,
    /// Required when `value` or `when` reads an optional feature.
    #[serde(default)]
    pub when_missing: Option<WhenMissingStep>,
    /// What the step means, for people, e.g. "Cap of the grade".
    #[serde(default)]
    pub description: String,
}

/// The credit limit in yuan: steps from zero, rounded down, and no offer
/// below a minimum.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitPolicy {
    /// The steps in order; the first must be `set` and always apply.
    pub steps: Vec<StepDef>,
    /// The limit is rounded down to a multiple of this (yuan).
    #[serde(deserialize_with = "super::exact")]
    pub round_down_to: Decimal,
    /// A rounded limit below this is no offer (declined with `below_minimum`).
    #[serde(deserialize_with = "super::exact")]
    pub minimum_offer: Decimal,
    /// The reason a household is declined when its limit is below
    /// `minimum_offer`.
    pub below_minimum: ReasonDef,
}

/// The annual rate, a yearly fraction (0.0345 = 3.45%): steps, rounded, then
/// held within the floor and the cap.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricePolicy {
    /// The steps in order (e.g. LPR, plus the grade spread, minus discounts);
    /// the first must be `set` and always apply.
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
