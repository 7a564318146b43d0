//! The limit and price calculations: a running amount changed step by step
//! (set, add, cap, floor), in exact decimals, each step traced with the
//! values it read.

use std::borrow::Cow;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compile::{Policy, Step};
use crate::decision::{LimitTrace, PriceTrace, StepTrace};
use crate::error::EvaluateError;
use crate::expr::{EvalFailure, Slots};
use crate::model::ruleset::StepOp;

use super::rules::{inputs, join, names};

fn policy_error(what: &str, step: &Step, f: EvalFailure) -> EvaluateError {
    EvaluateError::Policy {
        place: format!("{what} step {}", step.id),
        message: f.0,
    }
}

fn overflow(what: &str, step: &Step) -> EvaluateError {
    EvaluateError::Policy {
        place: format!("{what} step {}", step.id),
        message: "decimal overflow".to_string(),
    }
}

/// Runs `steps` from zero; returns the final amount.
fn run(
    what: &str,
    steps: &[Step],
    policy: &Policy,
    slots: &Slots,
    mut trace: Option<&mut Vec<StepTrace>>,
) -> Result<Decimal, EvaluateError> {
    let mut amount = Decimal::ZERO;
    for step in steps {
        let before = amount;
        let mut missing = step
            .when
            .as_ref()
            .map(|w| w.missing(slots))
            .unwrap_or_default();
        for slot in step.value.missing(slots) {
            if !missing.contains(&slot) {
                missing.push(slot);
            }
        }
        let mut value = None;
        let note = if !missing.is_empty() {
            Some(Cow::Owned(format!(
                "skipped: {} absent",
                join(&names(&missing, policy))
            )))
        } else if let Some(when) = &step.when
            && !when
                .eval_bool(slots)
                .map_err(|f| policy_error(what, step, f))?
        {
            Some(Cow::Borrowed("skipped: condition is false"))
        } else {
            let v = step
                .value
                .eval_decimal(slots)
                .map_err(|f| policy_error(what, step, f))?;
            value = Some(v);
            amount = match step.op {
                StepOp::Set => v,
                StepOp::Add => amount.checked_add(v).ok_or_else(|| overflow(what, step))?,
                StepOp::Cap => amount.min(v),
                StepOp::Floor => amount.max(v),
            };
            None
        };
        if let Some(t) = trace.as_deref_mut() {
            let mut read = inputs(&step.value, policy, slots);
            if let Some(when) = &step.when {
                read.extend(inputs(when, policy, slots));
            }
            t.push(StepTrace {
                id: step.id.clone(),
                op: step.op,
                expression: step.value.source().clone(),
                when: step.when.as_ref().map(|w| w.source().clone()),
                inputs: read,
                value: value.map(|v| v.normalize()),
                applied: note.is_none(),
                before: before.normalize(),
                after: amount.normalize(),
                note,
            });
        }
    }
    Ok(amount)
}

/// `amount` rounded by `round` to a multiple of `step`, without panicking on
/// overflow.
fn round_to_multiple(
    amount: Decimal,
    step: Decimal,
    round: impl Fn(Decimal) -> Decimal,
    place: &str,
) -> Result<Decimal, EvaluateError> {
    amount
        .checked_div(step)
        .map(round)
        .and_then(|q| q.checked_mul(step))
        .ok_or_else(|| EvaluateError::Policy {
            place: place.to_string(),
            message: format!(
                "{amount} cannot be rounded to a multiple of {step}: decimal overflow"
            ),
        })
}

pub(super) struct Limit {
    pub limit: Decimal,
    pub offered: bool,
}

/// The credit limit: steps, never below zero, rounded down, and no offer
/// below the minimum.
pub(super) fn limit(
    policy: &Policy,
    slots: &Slots,
    trace: Option<&mut LimitTrace>,
) -> Result<Limit, EvaluateError> {
    let lp = &policy.limit;
    let mut step_trace = trace.as_ref().map(|_| Vec::new());
    let computed = run("limit", &lp.steps, policy, slots, step_trace.as_mut())?
        .max(Decimal::ZERO)
        .normalize();
    let rounded = round_to_multiple(computed, lp.round_down_to, |q| q.floor(), "limit rounding")?;
    let offered = rounded >= lp.minimum_offer && rounded > Decimal::ZERO;
    let limit = if offered { rounded } else { Decimal::ZERO };
    if let Some(t) = trace {
        *t = LimitTrace {
            steps: step_trace.unwrap_or_default(),
            computed,
            round_down_to: lp.round_down_to,
            rounded,
            minimum_offer: lp.minimum_offer,
            offered,
            limit,
        };
    }
    Ok(Limit { limit, offered })
}

/// The annual rate: steps, rounded half away from zero to `round_to`, then
/// held within the floor and the cap.
pub(super) fn price(
    policy: &Policy,
    slots: &Slots,
    trace: Option<&mut PriceTrace>,
) -> Result<Decimal, EvaluateError> {
    let pp = &policy.price;
    let mut step_trace = trace.as_ref().map(|_| Vec::new());
    let computed = run("price", &pp.steps, policy, slots, step_trace.as_mut())?;
    let bound = |e: &crate::expr::Expr, name: &str| {
        e.eval_decimal(slots).map_err(|f| EvaluateError::Policy {
            place: format!("price {name}"),
            message: f.0,
        })
    };
    let floor = bound(&pp.floor, "floor")?;
    let cap = bound(&pp.cap, "cap")?;
    let rounded = round_to_multiple(
        computed,
        pp.round_to,
        |q| q.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
        "price rounding",
    )?;
    let mut rate = rounded.max(floor).min(cap);
    rate.rescale(pp.round_to.normalize().scale());
    if let Some(t) = trace {
        *t = PriceTrace {
            steps: step_trace.unwrap_or_default(),
            computed,
            round_to: pp.round_to,
            rounded,
            floor,
            cap,
            annual_rate: rate,
        };
    }
    Ok(rate)
}
