//! Scores the scorecard: one bin per characteristic, points added to the
//! base points, and PMML reason codes (differences from each
//! characteristic's baseline summed per code, ranked descending, ties in
//! document order).

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::compile::Scorecard;
use crate::decision::{CharacteristicTrace, DerivedTrace, Reason, Values, trace_value};
use crate::error::EvaluateError;
use crate::evaluate::{ReasonRef, Source};
use crate::expr::{EValue, Slots, as_decimal};
use crate::model::scorecard::ReasonCodeAlgorithm;

/// A scorecard's result for one set of values.
pub struct Scored {
    /// Points: the base points plus each characteristic's bin points.
    pub score: Decimal,
    /// Each characteristic's points, in order.
    pub points: Vec<Decimal>,
    /// Ranked scorecard reasons, at most `max_reason_codes`.
    pub reasons: Vec<Reason>,
}

/// Scores `card` over `slots` (a policy's slots, or a lone scorecard's).
pub fn score_card(
    card: &Scorecard,
    slots: &Slots,
    trace: Option<&mut Vec<CharacteristicTrace>>,
) -> Result<Scored, EvaluateError> {
    let (binned, score) = bins(card, slots)?;
    let points: Vec<Decimal> = binned.iter().map(|(_, p)| *p).collect();
    let reasons = reasons(card, &binned);
    if let Some(t) = trace {
        *t = characteristics(card, slots, &binned)?.1;
    }
    Ok(Scored {
        score,
        points,
        reasons,
    })
}

/// `slots` with the card's missing-value replacements applied and its
/// derived values computed.
pub(super) fn prepared<'s>(
    card: &Scorecard,
    slots: &'s Slots,
) -> Result<Cow<'s, Slots>, EvaluateError> {
    if card.replacements.is_empty() && card.derived.is_empty() {
        return Ok(Cow::Borrowed(slots));
    }
    let mut with = slots.clone();
    for (slot, value) in &card.replacements {
        if with.is_missing(*slot) {
            with.set(*slot, value.clone());
        }
    }
    for d in &card.derived {
        let value = d.eval(&with).map_err(|f| EvaluateError::Policy {
            place: format!("scorecard {} derived {}", card.id, d.name),
            message: f.0,
        })?;
        with.set(d.slot, value);
    }
    Ok(Cow::Owned(with))
}

/// Each characteristic's bin and points, in card order, and the score.
pub(super) fn bins(
    card: &Scorecard,
    slots: &Slots,
) -> Result<(Vec<(u32, Decimal)>, Decimal), EvaluateError> {
    let slots = prepared(card, slots)?;
    let slots = &*slots;
    let mut out = Vec::with_capacity(card.characteristics.len());
    let mut score = card.base_points;
    for c in &card.characteristics {
        let place = || format!("scorecard {} characteristic {}", card.id, c.name);
        let Some(bi) = c.bin_in(slots) else {
            let message = if c.first_match {
                "no attribute matches".to_string()
            } else {
                format!(
                    "value {} of `{}` falls in no bin",
                    trace_value(slots.get(c.slot)),
                    c.feature
                )
            };
            return Err(EvaluateError::Policy {
                place: place(),
                message,
            });
        };
        let bin = &c.bins[bi];
        let points = match &bin.points_expr {
            None => bin.points,
            Some(e) if card.pmml => match e.eval_pmml(slots) {
                Ok(EValue::Empty) => {
                    return Err(EvaluateError::Policy {
                        place: place(),
                        message: format!(
                            "the points `{}` of bin `{}` are missing",
                            e.source(),
                            bin.label
                        ),
                    });
                }
                Ok(v) => as_decimal(&v).ok_or_else(|| EvaluateError::Policy {
                    place: place(),
                    message: format!(
                        "the points `{}` of bin `{}` are not a number",
                        e.source(),
                        bin.label
                    ),
                })?,
                Err(f) => {
                    return Err(EvaluateError::Policy {
                        place: place(),
                        message: f.0,
                    });
                }
            },
            Some(e) => {
                if !e.missing(slots).is_empty() {
                    return Err(EvaluateError::Policy {
                        place: place(),
                        message: format!(
                            "the points `{}` of bin `{}` read a missing input",
                            e.source(),
                            bin.label
                        ),
                    });
                }
                e.eval_decimal(slots).map_err(|f| EvaluateError::Policy {
                    place: place(),
                    message: f.0,
                })?
            }
        };
        score = score
            .checked_add(points)
            .ok_or_else(|| EvaluateError::Policy {
                place: place(),
                message: "the score overflows".to_string(),
            })?;
        out.push((bi as u32, points));
    }
    Ok((out, score))
}

/// The base points plus every characteristic's points.
pub(super) fn sum(card: &Scorecard, points: &[Decimal]) -> Result<Decimal, EvaluateError> {
    let mut score = card.base_points;
    for (c, p) in card.characteristics.iter().zip(points) {
        score = score.checked_add(*p).ok_or_else(|| EvaluateError::Policy {
            place: format!("scorecard {} characteristic {}", card.id, c.name),
            message: "the score overflows".to_string(),
        })?;
    }
    Ok(score)
}

/// What characteristic `c` in bin `bin` reports: its bin's own code, or its
/// own.
fn code(c: &crate::compile::Characteristic, bin: u32) -> &std::sync::Arc<str> {
    c.bins[bin as usize]
        .reason_code
        .as_ref()
        .unwrap_or(&c.reason_code)
}

fn difference(card: &Scorecard, baseline: Decimal, points: Decimal) -> Decimal {
    match card.algorithm {
        ReasonCodeAlgorithm::PointsBelow => baseline - points,
        ReasonCodeAlgorithm::PointsAbove => points - baseline,
    }
}

/// The ranked scorecard reasons of these bins and points, borrowed from
/// the card.
pub(super) fn ranked<'c>(card: &'c Scorecard, binned: &[(u32, Decimal)]) -> Vec<ReasonRef<'c>> {
    // (code, summed difference, index of the first characteristic with it)
    let mut by_code: Vec<(&str, Decimal, usize)> = Vec::new();
    for (ci, (c, &(bin, points))) in card.characteristics.iter().zip(binned).enumerate() {
        let code: &str = code(c, bin);
        if !code.is_empty() {
            let difference = difference(card, c.baseline, points);
            match by_code.iter_mut().find(|(known, _, _)| *known == code) {
                Some(entry) => entry.1 += difference,
                None => by_code.push((code, difference, ci)),
            }
        }
    }
    by_code.retain(|(_, d, _)| *d > Decimal::ZERO || (card.count_zero_differences && d.is_zero()));
    // A stable sort keeps document order among equal differences.
    by_code.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    by_code
        .into_iter()
        .take(card.max_reason_codes)
        .map(|(code, _, ci)| {
            let c = &card.characteristics[ci];
            ReasonRef {
                code,
                message_zh: &c.message_zh,
                message_en: &c.message_en,
                source: Source::Characteristic(&c.name),
            }
        })
        .collect()
}

/// The ranked scorecard reasons of these bins and points.
pub(super) fn reasons(card: &Scorecard, binned: &[(u32, Decimal)]) -> Vec<Reason> {
    ranked(card, binned)
        .iter()
        .map(ReasonRef::to_owned)
        .collect()
}

/// Each derived value of the card with its inputs, and each
/// characteristic's value (after replacements), bin and points.
pub(super) fn characteristics(
    card: &Scorecard,
    slots: &Slots,
    binned: &[(u32, Decimal)],
) -> Result<(Vec<DerivedTrace>, Vec<CharacteristicTrace>), EvaluateError> {
    let slots = prepared(card, slots)?;
    let derived = card
        .derived
        .iter()
        .map(|d| DerivedTrace {
            name: d.name.clone(),
            expression: d.source.clone(),
            inputs: Values(
                d.inputs
                    .iter()
                    .map(|(n, s)| (n.clone(), trace_value(slots.get(*s))))
                    .collect(),
            ),
            value: trace_value(slots.get(d.slot)),
            note: d.input_missing(&slots).unwrap_or(false).then(|| {
                let absent: Vec<&str> = d
                    .inputs
                    .iter()
                    .filter(|(_, s)| slots.is_missing(*s))
                    .map(|(n, _)| &**n)
                    .collect();
                format!("an input is absent: {}", absent.join(", "))
            }),
        })
        .collect();
    let characteristics = card
        .characteristics
        .iter()
        .zip(binned)
        .map(|(c, &(bin, points))| CharacteristicTrace {
            name: c.name.clone(),
            feature: c.feature.clone(),
            value: trace_value(slots.get(c.slot)),
            bin: c.bins[bin as usize].label.clone(),
            points,
            baseline: c.baseline,
            reason_code: code(c, bin).clone(),
            difference: difference(card, c.baseline, points),
        })
        .collect();
    Ok((derived, characteristics))
}
