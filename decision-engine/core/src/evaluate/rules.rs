//! Runs the rules of one stage; every rule is evaluated and traced, not only
//! up to the first hit.

use std::sync::Arc;

use crate::compile::{Policy, Rule};
use crate::decision::{RuleTrace, Values, trace_value};
use crate::error::EvaluateError;
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

/// Runs every rule of `stage`; returns the ones that hit, in order.
pub(super) fn run<'p>(
    policy: &'p Policy,
    stage: Stage,
    slots: &Slots,
    mut trace: Option<&mut Vec<RuleTrace>>,
) -> Result<Vec<&'p Rule>, EvaluateError> {
    let mut hit_rules = Vec::new();
    for rule in policy.rules.iter().filter(|r| r.stage == stage) {
        let missing = rule.expr.missing(slots);
        let hit = hits(rule, policy, slots, &missing)?;
        if hit {
            hit_rules.push(rule);
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(RuleTrace {
                id: rule.id.clone(),
                layer: rule.layer,
                expression: rule.expr.source().clone(),
                inputs: inputs(&rule.expr, policy, slots),
                missing: names(&missing, policy),
                hit,
                reason_code: rule.code.clone(),
            });
        }
    }
    Ok(hit_rules)
}

/// `a, b, c`.
pub(super) fn join(names: &[Arc<str>]) -> String {
    names.iter().map(|n| &**n).collect::<Vec<_>>().join(", ")
}
