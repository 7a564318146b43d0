//! The limit and price calculations: a running amount changed step by step
//! (set, add, cap, floor), in exact decimals, each step traced with the
//! values it read.

use std::borrow::Cow;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compile::{Policy, Step};
use crate::decision::{LimitTrace, PriceTrace, StepTrace};
use crate::error::EvaluateError;
use crate::evaluate::RenderError;
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

/// The absent inputs of a step: its condition's, then its value's.
fn missing(step: &Step, slots: &Slots) -> Vec<usize> {
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
    missing
}

/// The running amount after a step of `op` with value `v`; `None` on
/// overflow.
fn apply(op: StepOp, amount: Decimal, v: Decimal) -> Option<Decimal> {
    Some(match op {
        StepOp::Set => v,
        StepOp::Add => amount.checked_add(v)?,
        StepOp::Cap => amount.min(v),
        StepOp::Floor => amount.max(v),
    })
}

/// Runs `steps` from zero; returns the final amount and each step's value
/// (`None` when skipped).
fn run(
    what: &str,
    steps: &[Step],
    slots: &Slots,
) -> Result<(Decimal, Vec<Option<Decimal>>), EvaluateError> {
    let mut amount = Decimal::ZERO;
    let mut values = Vec::with_capacity(steps.len());
    for step in steps {
        let value = if !missing(step, slots).is_empty() {
            None
        } else if let Some(when) = &step.when
            && !when
                .eval_bool(slots)
                .map_err(|f| policy_error(what, step, f))?
        {
            None
        } else {
            let v = step
                .value
                .eval_decimal(slots)
                .map_err(|f| policy_error(what, step, f))?;
            amount = apply(step.op, amount, v).ok_or_else(|| overflow(what, step))?;
            Some(v)
        };
        values.push(value);
    }
    Ok((amount, values))
}

/// The steps' trace from their recorded values, and the final amount.
fn traces(
    what: &str,
    steps: &[Step],
    values: &[Option<Decimal>],
    policy: &Policy,
    slots: &Slots,
) -> Result<(Decimal, Vec<StepTrace>), RenderError> {
    if values.len() != steps.len() {
        return Err(RenderError::inconsistent(format!(
            "{} {what} step values recorded for {} steps",
            values.len(),
            steps.len()
        )));
    }
    let mut amount = Decimal::ZERO;
    let mut out = Vec::with_capacity(steps.len());
    for (step, value) in steps.iter().zip(values) {
        let before = amount;
        let missing = missing(step, slots);
        let skipped = |why: &str| {
            RenderError::inconsistent(format!("{what} step {} is recorded {why}", step.id))
        };
        let note = match value {
            _ if !missing.is_empty() => {
                if value.is_some() {
                    return Err(skipped("with a value though an input is absent"));
                }
                Some(Cow::Owned(format!(
                    "skipped: {} absent",
                    join(&names(&missing, policy))
                )))
            }
            None if step.when.is_none() => return Err(skipped("skipped without a condition")),
            None => Some(Cow::Borrowed("skipped: condition is false")),
            Some(v) => {
                amount = apply(step.op, amount, *v)
                    .ok_or_else(|| skipped("with a value that overflows"))?;
                None
            }
        };
        let mut read = inputs(&step.value, policy, slots);
        if let Some(when) = &step.when {
            read.extend(inputs(when, policy, slots));
        }
        out.push(StepTrace {
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
    Ok((amount, out))
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

/// The limit a run reached.
pub(super) struct Limit {
    /// Each step's value; `None` when skipped.
    pub steps: Vec<Option<Decimal>>,
    /// After the steps, never below zero, normalized.
    pub computed: Decimal,
    /// Rounded down to the rounding unit.
    pub rounded: Decimal,
    /// Whether the rounded limit reaches the minimum offer.
    pub offered: bool,
    /// The limit offered; 0 below the minimum offer.
    pub limit: Decimal,
}

/// The limit from the steps' final amount: never below zero, rounded down,
/// no offer below the minimum.
fn limit_of(
    policy: &Policy,
    amount: Decimal,
    steps: Vec<Option<Decimal>>,
) -> Result<Limit, EvaluateError> {
    let lp = &policy.limit;
    let computed = amount.max(Decimal::ZERO).normalize();
    let rounded = round_to_multiple(computed, lp.round_down_to, |q| q.floor(), "limit rounding")?;
    let offered = rounded >= lp.minimum_offer && rounded > Decimal::ZERO;
    let limit = if offered { rounded } else { Decimal::ZERO };
    Ok(Limit {
        steps,
        computed,
        rounded,
        offered,
        limit,
    })
}

/// The credit limit: steps, never below zero, rounded down, and no offer
/// below the minimum.
pub(super) fn limit(policy: &Policy, slots: &Slots) -> Result<Limit, EvaluateError> {
    let (amount, steps) = run("limit", &policy.limit.steps, slots)?;
    limit_of(policy, amount, steps)
}

/// The limit trace from the recorded step values, and the limit they give.
pub(super) fn limit_trace(
    policy: &Policy,
    slots: &Slots,
    values: &[Option<Decimal>],
) -> Result<(LimitTrace, Limit), RenderError> {
    let lp = &policy.limit;
    let (amount, steps) = traces("limit", &lp.steps, values, policy, slots)?;
    let limit = limit_of(policy, amount, values.to_vec()).map_err(RenderError::from)?;
    Ok((
        LimitTrace {
            steps,
            computed: limit.computed,
            round_down_to: lp.round_down_to,
            rounded: limit.rounded,
            minimum_offer: lp.minimum_offer,
            offered: limit.offered,
            limit: limit.limit,
        },
        limit,
    ))
}

/// The rate a run reached.
pub(super) struct Price {
    /// Each step's value; `None` when skipped.
    pub steps: Vec<Option<Decimal>>,
    /// Rounded to the rounding unit.
    pub rounded: Decimal,
    /// The floor as evaluated.
    pub floor: Decimal,
    /// The cap as evaluated.
    pub cap: Decimal,
    /// `rounded` held within the floor and the cap.
    pub rate: Decimal,
}

/// The rate from the steps' final amount, the floor and the cap.
fn price_of(
    policy: &Policy,
    computed: Decimal,
    steps: Vec<Option<Decimal>>,
    floor: Decimal,
    cap: Decimal,
) -> Result<Price, EvaluateError> {
    let pp = &policy.price;
    let rounded = round_to_multiple(
        computed,
        pp.round_to,
        |q| q.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero),
        "price rounding",
    )?;
    let mut rate = rounded.max(floor).min(cap);
    rate.rescale(pp.round_to.normalize().scale());
    Ok(Price {
        steps,
        rounded,
        floor,
        cap,
        rate,
    })
}

/// The annual rate: steps, rounded half away from zero to `round_to`, then
/// held within the floor and the cap.
pub(super) fn price(policy: &Policy, slots: &Slots) -> Result<Price, EvaluateError> {
    let pp = &policy.price;
    let (computed, steps) = run("price", &pp.steps, slots)?;
    let bound = |e: &crate::expr::Expr, name: &str| {
        e.eval_decimal(slots).map_err(|f| EvaluateError::Policy {
            place: format!("price {name}"),
            message: f.0,
        })
    };
    let floor = bound(&pp.floor, "floor")?;
    let cap = bound(&pp.cap, "cap")?;
    price_of(policy, computed, steps, floor, cap)
}

/// The price trace from the recorded step values, floor and cap, and the
/// rate they give.
pub(super) fn price_trace(
    policy: &Policy,
    slots: &Slots,
    values: &[Option<Decimal>],
    floor: Decimal,
    cap: Decimal,
) -> Result<(PriceTrace, Price), RenderError> {
    let pp = &policy.price;
    let (computed, steps) = traces("price", &pp.steps, values, policy, slots)?;
    let price = price_of(policy, computed, values.to_vec(), floor, cap)?;
    Ok((
        PriceTrace {
            steps,
            computed,
            round_to: pp.round_to,
            rounded: price.rounded,
            floor,
            cap,
            annual_rate: price.rate,
        },
        price,
    ))
}
