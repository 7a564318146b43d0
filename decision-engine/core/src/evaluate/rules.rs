//! Runs the rules of one stage; every rule is evaluated and traced, not only
//! up to the first hit.

use std::sync::Arc;

use crate::compile::{Policy, Rule};
use crate::decision::{RuleTrace, Values, trace_value};
use crate::error::EvaluateError;
use crate::evaluate::RenderError;
use crate::expr::{Expr, Slots};
use crate::model::ruleset::Stage;

/// The values an expression read, by name, for the trace.
pub(super) fn inputs(expr: &Expr, policy: &Policy, slots: &Slots) -> Values {
    expr.reads()
        .iter()
        .map(|&s| (policy.layout.var(s).name.clone(), trace_value(slots.get(s))))
        .collect()
}

/// Names of the absent slots, for the trace.
pub(super) fn names(slots_missing: &[usize], policy: &Policy) -> Vec<Arc<str>> {
    slots_missing
        .iter()
        .map(|&s| policy.layout.var(s).name.clone())
        .collect()
}

/// Whether `rule` hits, applying its `when_missing` to absent inputs.
fn hits(
    rule: &Rule,
    policy: &Policy,
    slots: &Slots,
    missing: &[usize],
) -> Result<bool, EvaluateError> {
    if missing.is_empty() {
        return rule
            .expr
            .eval_bool(slots)
            .map_err(|f| EvaluateError::Policy {
                place: format!("rule {}", rule.id),
                message: format!(
                    "{} (inputs: {})",
                    f.0,
                    serde_json::to_string(&inputs(&rule.expr, policy, slots)).unwrap_or_default()
                ),
            });
    }
    rule.when_missing.ok_or_else(|| EvaluateError::Policy {
        place: format!("rule {}", rule.id),
        message: format!(
            "reads absent {} and declares no when_missing",
            join(&names(missing, policy))
        ),
    })
}

/// Runs every rule of `stage`, setting each one's entry of `hits` (indexed
/// like `policy.rules`).
pub(super) fn run(
    policy: &Policy,
    stage: Stage,
    slots: &Slots,
    hits: &mut [bool],
) -> Result<(), EvaluateError> {
    for (i, rule) in policy.rules.iter().enumerate() {
        if rule.stage == stage {
            hits[i] = self::hits(rule, policy, slots, &rule.expr.missing(slots))?;
        }
    }
    Ok(())
}

/// The trace of every rule of `stage`, from the hits recorded.
pub(super) fn traces(
    policy: &Policy,
    stage: Stage,
    slots: &Slots,
    hits: &[bool],
) -> Result<Vec<RuleTrace>, RenderError> {
    let mut out = Vec::new();
    for (rule, &hit) in policy.rules.iter().zip(hits) {
        if rule.stage != stage {
            continue;
        }
        let missing = rule.expr.missing(slots);
        if !missing.is_empty() && rule.when_missing != Some(hit) {
            return Err(RenderError::inconsistent(format!(
                "rule {} read absent {} and is recorded as {}, not its when_missing",
                rule.id,
                join(&names(&missing, policy)),
                if hit { "hit" } else { "not hit" }
            )));
        }
        out.push(RuleTrace {
            id: rule.id.clone(),
            layer: rule.layer,
            expression: rule.expr.source().clone(),
            inputs: inputs(&rule.expr, policy, slots),
            missing: names(&missing, policy),
            hit,
            reason_code: rule.code.clone(),
        });
    }
    Ok(out)
}

/// `a, b, c`.
pub(super) fn join(names: &[Arc<str>]) -> String {
    names.iter().map(|n| &**n).collect::<Vec<_>>().join(", ")
}
