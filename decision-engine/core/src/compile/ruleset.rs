//! Compiles a ruleset's parameters, derived features, rules, grade table and
//! limit and price steps.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::error::Issues;
use crate::expr::{EValue, Expect, Expr, Layout, Num, Var, VarKind, VarType};
use crate::model::ruleset::{
    DerivedType, GradeTable, Layer, LimitPolicy as LimitDoc, ParameterType,
    PricePolicy as PriceDoc, Stage, StepDef, StepOp,
};
use crate::model::{ReasonDef, RulesetDoc, decimal_from_json};

use super::schema::is_identifier;
use super::{Phase, compile_expr};

/// A rule ready to run.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The rule's id, e.g. `RL_AGE`, as the trace and reasons name it.
    pub id: Arc<str>,
    /// The reason code, shared with every trace.
    pub code: Arc<str>,
    /// Province red line or institution rule.
    pub layer: Layer,
    /// Knock-out, refer or flag.
    pub stage: Stage,
    /// The condition; true is a hit.
    pub expr: Expr,
    /// The result when a value the condition reads is absent.
    pub when_missing: Option<bool>,
    /// The code and the Chinese and English text a hit reports.
    pub reason: ReasonDef,
}

/// A derived feature ready to compute.
#[derive(Clone, Debug)]
pub struct Derived {
    /// The name rules, steps and characteristics read, e.g. `debt_to_income`.
    pub name: Arc<str>,
    /// Where its value is bound.
    pub slot: usize,
    /// The declared type the result is brought to.
    pub ty: DerivedType,
    /// The formula.
    pub expr: Expr,
    /// Decimal places kept, rounded half away from zero.
    pub scale: Option<u32>,
}

/// One step of the limit or price calculation.
#[derive(Clone, Debug)]
pub struct Step {
    /// The step's id, e.g. `grade_cap`, as the trace names it.
    pub id: Arc<str>,
    /// How the step changes the running amount.
    pub op: StepOp,
    /// The amount the step applies, in exact decimals.
    pub value: Expr,
    /// The condition for the step to apply; `None` applies always.
    pub when: Option<Expr>,
}

/// One grade band.
#[derive(Clone, Debug)]
pub struct GradeBand {
    /// The grade, e.g. `AA`.
    pub grade: String,
    /// Lowest score (inclusive) of the band; `None` on the last, lowest band.
    pub min_score: Option<Decimal>,
    /// Households in this grade are declined.
    pub decline: bool,
    /// Why a declining grade declines.
    pub reason: Option<ReasonDef>,
    /// In the order of [`Grades::columns`].
    pub values: Vec<Decimal>,
}

/// The grade table: score bands to grades, with the per-grade values that
/// limit and price expressions read.
#[derive(Clone, Debug)]
pub struct Grades {
    /// Column names and their slots.
    pub columns: Vec<(String, usize)>,
    /// Highest band first; a score takes the first band whose `min_score` it
    /// reaches.
    pub bands: Vec<GradeBand>,
}

/// The credit limit calculation, in yuan.
#[derive(Clone, Debug)]
pub struct LimitPolicy {
    /// Applied in order to a running amount that starts at zero.
    pub steps: Vec<Step>,
    /// The limit is rounded down to a multiple of this (yuan), e.g. 1,000.
    pub round_down_to: Decimal,
    /// A rounded limit below this (yuan) is no offer.
    pub minimum_offer: Decimal,
    /// The reason a household is declined when its limit is below the minimum
    /// offer.
    pub below_minimum: ReasonDef,
}

/// The annual rate calculation, a yearly fraction (0.0345 = 3.45%).
#[derive(Clone, Debug)]
pub struct PricePolicy {
    /// Applied in order to a running rate that starts at zero.
    pub steps: Vec<Step>,
    /// The lowest rate, e.g. `lpr`.
    pub floor: Expr,
    /// The highest rate, e.g. `4 * lpr`.
    pub cap: Expr,
    /// The rate is rounded half away from zero to a multiple of this; 0.0001 is
    /// a basis point.
    pub round_to: Decimal,
}

/// Adds the ruleset's parameters to the layout and binds their values. An
/// institution ruleset may redeclare a province parameter only when the
/// province allows it (`tighten`) and only with a value at least as strict:
/// the red line can be tightened, never loosened.
pub(super) fn parameters(
    doc: &RulesetDoc,
    source: &str,
    layout: &mut Layout,
    issues: &mut Issues,
    province: Option<(&RulesetDoc, &[(usize, EValue)])>,
) -> Vec<(usize, EValue)> {
    let mut bound = Vec::new();
    for (i, p) in doc.parameters.iter().enumerate() {
        let place = format!("parameters[{i}] {}", p.name);
        if !is_identifier(&p.name) {
            issues.push(
                source,
                &place,
                "a parameter name must start with a letter and hold only letters, digits and `_`",
            );
            continue;
        }
        let value = parameter_value(p);
        let (ty, value) = match value {
            Ok(v) => v,
            Err(e) => {
                issues.push(source, format!("{place}.value"), e);
                continue;
            }
        };
        if let Some((pdoc, pvalues)) = province
            && let Some(red) = pdoc.parameters.iter().find(|r| r.name == p.name)
        {
            if red.ty != p.ty {
                issues.push(
                    source,
                    &place,
                    format!(
                        "the province declares `{}` as {:?}; a tightened value must keep that type",
                        red.name, red.ty
                    )
                    .to_lowercase(),
                );
                continue;
            }
            match tightened(red, pvalues, layout, &value) {
                Ok(slot) => bound.push((slot, value)),
                Err(e) => issues.push(source, &place, e),
            }
            continue;
        }
        let var = Var {
            name: p.name.as_str().into(),
            ty,
            kind: VarKind::Parameter,
            optional: false,
            sample: value.clone(),
            phase: Phase::Input as u8,
        };
        match layout.add(var) {
            Ok(slot) => bound.push((slot, value)),
            Err(e) => issues.push(source, &place, e),
        }
    }
    bound
}

/// A parameter's declared value as an expression value, or what is wrong.
pub(crate) fn parameter_value(
    p: &crate::model::ruleset::ParameterDef,
) -> Result<(VarType, EValue), String> {
    match (p.ty, &p.value) {
        (ParameterType::Bool, serde_json::Value::Bool(b)) => {
            Ok((VarType::Bool, EValue::Boolean(*b)))
        }
        (ParameterType::Integer, serde_json::Value::Number(n)) => n
            .to_string()
            .parse::<i64>()
            .map(|i| (VarType::Int, EValue::Int(i)))
            .map_err(|_| format!("expected an integer value, found {n}")),
        (ParameterType::Decimal, v) => decimal_from_json(v)
            .map(|d| (VarType::Decimal, EValue::Float(Num(d))))
            .map_err(String::from),
        (ParameterType::String, serde_json::Value::String(s)) => {
            Ok((VarType::Text, EValue::String(s.clone())))
        }
        (ty, v) => Err(format!(
            "expected a {ty:?} value, found {}",
            crate::model::json_kind(v)
        )
        .to_lowercase()),
    }
}

/// The slot of province parameter `red` if `value` is at least as strict.
fn tightened(
    red: &crate::model::ruleset::ParameterDef,
    province_values: &[(usize, EValue)],
    layout: &Layout,
    value: &EValue,
) -> Result<usize, String> {
    use crate::expr::as_decimal;
    use crate::model::ruleset::Tighten;
    let slot = layout
        .slot(&red.name)
        .ok_or_else(|| format!("province parameter `{}` did not compile", red.name))?;
    let current = province_values
        .iter()
        .find(|(s, _)| *s == slot)
        .map(|(_, v)| v)
        .ok_or_else(|| format!("province parameter `{}` has no value", red.name))?;
    let Some(direction) = red.tighten else {
        return Err(format!(
            "`{}` is a province red-line parameter that institutions may not change (it declares no `tighten`)",
            red.name
        ));
    };
    let (Some(new), Some(old)) = (as_decimal(value), as_decimal(current)) else {
        return Err(format!("`{}` must stay a number to be tightened", red.name));
    };
    let stricter = match direction {
        Tighten::Lower => new <= old,
        Tighten::Higher => new >= old,
    };
    if stricter {
        Ok(slot)
    } else {
        Err(format!(
            "{new} would loosen the province red line `{}` = {old} (a {} value is stricter); an institution may only tighten it",
            red.name,
            if direction == Tighten::Lower {
                "lower"
            } else {
                "higher"
            }
        ))
    }
}

/// Compiles derived features in document order; each may read the ones
/// before it.
pub(super) fn derived(
    doc: &RulesetDoc,
    source: &str,
    layout: &mut Layout,
    issues: &mut Issues,
) -> Vec<Derived> {
    let mut out = Vec::new();
    for (i, d) in doc.derived.iter().enumerate() {
        let place = format!("derived[{i}] {}", d.name);
        if !is_identifier(&d.name) {
            issues.push(source, &place, "a derived feature name must start with a letter and hold only letters, digits and `_`");
            continue;
        }
        let ty = match d.ty {
            DerivedType::Bool => VarType::Bool,
            DerivedType::Integer => VarType::Int,
            DerivedType::Decimal => VarType::Decimal,
        };
        if d.scale.is_some() && ty != VarType::Decimal {
            issues.push(
                source,
                &place,
                "`scale` applies to decimal derived features only",
            );
        }
        let expr = match compile_expr(&d.expression, layout, Expect::Type(ty), Phase::Input) {
            Ok(e) => e,
            Err(e) => {
                issues.push(source, format!("{place}.expression"), e);
                continue;
            }
        };
        let optional = expr.may_read_missing(layout);
        if optional && d.when_missing.is_none() {
            issues.push(
                source,
                &place,
                format!(
                    "reads optional {}; state \"when_missing\": \"missing\" so the derived feature is absent when they are",
                    optional_names(&expr, layout)
                ),
            );
        }
        let sample = match ty {
            VarType::Bool => EValue::Boolean(true),
            VarType::Int => EValue::Int(1),
            _ => EValue::Float(Num(Decimal::ONE)),
        };
        // A derived feature whose inputs may be absent, or whose arithmetic
        // may fail, is itself possibly absent.
        let var = Var {
            name: d.name.as_str().into(),
            ty,
            kind: VarKind::Derived,
            optional: optional || d.when_missing.is_some(),
            sample,
            phase: Phase::Input as u8,
        };
        match layout.add(var) {
            Ok(slot) => out.push(Derived {
                name: d.name.as_str().into(),
                slot,
                ty: d.ty,
                expr,
                scale: d.scale,
            }),
            Err(e) => issues.push(source, &place, e),
        }
    }
    out
}

/// `` `a`, `b` `` for the optional names an expression reads.
pub(crate) fn optional_names(expr: &Expr, layout: &Layout) -> String {
    expr.optional_reads(layout)
        .iter()
        .map(|&s| format!("`{}`", layout.var(s).name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compiles the rules (after every name is in the layout).
pub(super) fn rules(
    doc: &RulesetDoc,
    source: &str,
    layout: &Layout,
    issues: &mut Issues,
) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for (i, r) in doc.rules.iter().enumerate() {
        let place = format!("rules[{i}] {}", r.id);
        if r.id.trim().is_empty() {
            issues.push(source, &place, "a rule needs an id");
        }
        if out.iter().any(|o| *o.id == *r.id) {
            issues.push(source, &place, format!("rule id `{}` is used twice", r.id));
        }
        if doc.layer == Layer::Province && r.stage != Stage::Knockout {
            issues.push(
                source,
                &place,
                "a province ruleset holds red lines only: stage must be \"knockout\"",
            );
        }
        let phase = match r.stage {
            Stage::Knockout => Phase::Input,
            Stage::Refer | Stage::Flag => Phase::Priced,
        };
        let expr = match compile_expr(&r.expression, layout, Expect::Bool, phase) {
            Ok(e) => e,
            Err(e) => {
                issues.push(source, format!("{place}.expression"), e);
                continue;
            }
        };
        if r.when_missing.is_none() && expr.may_read_missing(layout) {
            issues.push(
                source,
                &place,
                format!(
                    "reads optional {}; state \"when_missing\": true or false, the rule's result when they are absent",
                    optional_names(&expr, layout)
                ),
            );
        }
        for (field, text) in [
            ("reason_code", &r.reason_code),
            ("message_zh", &r.message_zh),
            ("message_en", &r.message_en),
        ] {
            if text.trim().is_empty() {
                issues.push(source, format!("{place}.{field}"), "must not be empty");
            }
        }
        out.push(Rule {
            id: r.id.as_str().into(),
            code: r.reason_code.as_str().into(),
            layer: doc.layer,
            stage: r.stage,
            expr,
            when_missing: r.when_missing,
            reason: ReasonDef {
                code: r.reason_code.clone(),
                message_zh: r.message_zh.clone(),
                message_en: r.message_en.clone(),
            },
        });
    }
    out
}

/// Adds the grade columns to the layout and checks the table is complete
/// and ordered.
pub(super) fn grades(
    table: &GradeTable,
    source: &str,
    layout: &mut Layout,
    issues: &mut Issues,
) -> Grades {
    let mut columns = Vec::new();
    for c in &table.columns {
        let place = format!("grades.columns {c}");
        if !is_identifier(c) {
            issues.push(
                source,
                &place,
                "a column name must start with a letter and hold only letters, digits and `_`",
            );
            continue;
        }
        let var = Var {
            name: c.as_str().into(),
            ty: VarType::Decimal,
            kind: VarKind::GradeColumn,
            optional: false,
            sample: EValue::Float(Num(Decimal::ONE)),
            phase: Phase::Scored as u8,
        };
        // A segment's own table reuses the ruleset table's column slots.
        if let Some(slot) = layout.slot(c)
            && layout.var(slot).kind == VarKind::GradeColumn
            && !columns.iter().any(|(name, _)| name == c)
        {
            columns.push((c.clone(), slot));
            continue;
        }
        match layout.add(var) {
            Ok(slot) => columns.push((c.clone(), slot)),
            Err(e) => issues.push(source, &place, e),
        }
    }
    if table.rows.is_empty() {
        issues.push(
            source,
            "grades.rows",
            "the grade table needs at least one row",
        );
    }
    let mut bands: Vec<GradeBand> = Vec::new();
    for (i, row) in table.rows.iter().enumerate() {
        let place = format!("grades.rows[{i}] {}", row.grade);
        let last = i + 1 == table.rows.len();
        match (row.min_score, last) {
            (None, false) => issues.push(source, &place, "only the last row may omit min_score"),
            (Some(_), true) => issues.push(
                source,
                &place,
                "the last row must omit min_score so every score falls in a band",
            ),
            _ => {}
        }
        if let (Some(prev), Some(min)) = (bands.last().and_then(|b| b.min_score), row.min_score)
            && min >= prev
        {
            issues.push(
                source,
                &place,
                format!(
                    "min_score {min} must be below the previous row's {prev}: highest band first"
                ),
            );
        }
        if bands.iter().any(|b| b.grade == row.grade) {
            issues.push(
                source,
                &place,
                format!("grade `{}` appears twice", row.grade),
            );
        }
        if row.decline && row.reason.is_none() {
            issues.push(source, &place, "a declining grade needs a `reason`");
        }
        let mut values = Vec::new();
        for (name, _) in &columns {
            match row.values.get(name).map(decimal_from_json) {
                Some(Ok(d)) => values.push(d),
                Some(Err(e)) => {
                    issues.push(source, format!("{place}.values.{name}"), e);
                    values.push(Decimal::ZERO);
                }
                None => {
                    issues.push(
                        source,
                        format!("{place}.values"),
                        format!("missing column `{name}`: the table must be complete"),
                    );
                    values.push(Decimal::ZERO);
                }
            }
        }
        for name in row.values.keys() {
            if !table.columns.contains(name) {
                issues.push(
                    source,
                    format!("{place}.values.{name}"),
                    "not a declared column",
                );
            }
        }
        bands.push(GradeBand {
            grade: row.grade.clone(),
            min_score: row.min_score,
            decline: row.decline,
            reason: row.reason.clone(),
            values,
        });
    }
    Grades { columns, bands }
}

fn steps(
    defs: &[StepDef],
    what: &str,
    phase: Phase,
    source: &str,
    layout: &Layout,
    issues: &mut Issues,
) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for (i, s) in defs.iter().enumerate() {
        let place = format!("{what}.steps[{i}] {}", s.id);
        if out.iter().any(|o| *o.id == *s.id) {
            issues.push(source, &place, format!("step id `{}` is used twice", s.id));
        }
        if i == 0 && s.op != StepOp::Set {
            issues.push(
                source,
                &place,
                "the first step must be \"set\": it starts the amount",
            );
        }
        if i == 0 && s.when.is_some() {
            issues.push(
                source,
                &place,
                "the first step must apply always: remove `when`",
            );
        }
        let value = compile_expr(&s.value, layout, Expect::Number, phase);
        let when = s
            .when
            .as_deref()
            .map(|w| compile_expr(w, layout, Expect::Bool, phase));
        let (value, when) = match (value, when.transpose()) {
            (Ok(v), Ok(w)) => (v, w),
            (v, w) => {
                if let Err(e) = v {
                    issues.push(source, format!("{place}.value"), e);
                }
                if let Err(e) = w {
                    issues.push(source, format!("{place}.when"), e);
                }
                continue;
            }
        };
        let reads_optional = value.may_read_missing(layout)
            || when.as_ref().is_some_and(|w| w.may_read_missing(layout));
        if reads_optional && s.when_missing.is_none() {
            let mut names = optional_names(&value, layout);
            if let Some(w) = &when {
                let more = optional_names(w, layout);
                if !more.is_empty() {
                    if !names.is_empty() {
                        names.push_str(", ");
                    }
                    names.push_str(&more);
                }
            }
            issues.push(
                source,
                &place,
                format!("reads optional {names}; state \"when_missing\": \"skip\" to skip the step when they are absent"),
            );
        }
        if i == 0 && reads_optional {
            issues.push(
                source,
                &place,
                "the first step must not read optional values",
            );
        }
        out.push(Step {
            id: s.id.as_str().into(),
            op: s.op,
            value,
            when,
        });
    }
    out
}

pub(super) fn limit(
    doc: &LimitDoc,
    source: &str,
    layout: &Layout,
    issues: &mut Issues,
) -> LimitPolicy {
    if doc.steps.is_empty() {
        issues.push(
            source,
            "limit.steps",
            "the limit policy needs at least one step",
        );
    }
    if doc.round_down_to <= Decimal::ZERO {
        issues.push(
            source,
            "limit.round_down_to",
            "must be a positive amount such as 1000",
        );
    }
    if doc.minimum_offer < Decimal::ZERO {
        issues.push(source, "limit.minimum_offer", "must not be negative");
    }
    LimitPolicy {
        steps: steps(&doc.steps, "limit", Phase::Scored, source, layout, issues),
        round_down_to: doc.round_down_to,
        minimum_offer: doc.minimum_offer,
        below_minimum: doc.below_minimum.clone(),
    }
}

pub(super) fn price(
    doc: &PriceDoc,
    source: &str,
    layout: &Layout,
    issues: &mut Issues,
) -> Option<PricePolicy> {
    if doc.steps.is_empty() {
        issues.push(
            source,
            "price.steps",
            "the price policy needs at least one step",
        );
    }
    if doc.round_to <= Decimal::ZERO {
        issues.push(
            source,
            "price.round_to",
            "must be a positive step such as 0.0001 (a basis point)",
        );
    }
    let steps = steps(&doc.steps, "price", Phase::Limited, source, layout, issues);
    let bound = |expr: &str, field: &str, issues: &mut Issues| {
        compile_expr(expr, layout, Expect::Number, Phase::Input)
            .and_then(|e| {
                if e.may_read_missing(layout) {
                    Err(format!(
                        "must not read optional values ({})",
                        optional_names(&e, layout)
                    ))
                } else {
                    Ok(e)
                }
            })
            .map_err(|e| issues.push(source, format!("price.{field}"), e))
            .ok()
    };
    let floor = bound(&doc.floor, "floor", issues);
    let cap = bound(&doc.cap, "cap", issues);
    Some(PricePolicy {
        steps,
        floor: floor?,
        cap: cap?,
        round_to: doc.round_to,
    })
}
