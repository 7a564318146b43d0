//! Scores the scorecard: one bin per characteristic, points added to the
//! base points, and PMML reason codes (differences from each
//! characteristic's baseline summed per code, ranked descending, ties in
//! document order).

use rust_decimal::Decimal;

use crate::compile::Scorecard;
use crate::decision::{CharacteristicTrace, Reason, trace_value};
use crate::error::EvaluateError;
use crate::expr::Slots;
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
    mut trace: Option<&mut Vec<CharacteristicTrace>>,
) -> Result<Scored, EvaluateError> {
    let replaced;
    let slots = if card.replacements.is_empty() {
        slots
    } else {
        let mut with = slots.clone();
        for (slot, value) in &card.replacements {
            if with.is_missing(*slot) {
                with.set(*slot, value.clone());
            }
        }
        replaced = with;
        &replaced
    };
    let mut score = card.base_points;
    let mut all_points = Vec::with_capacity(card.characteristics.len());
    // (code, summed difference, index of the first characteristic with it)
    let mut by_code: Vec<(&str, Decimal, usize)> = Vec::new();
    for (ci, c) in card.characteristics.iter().enumerate() {
        let value = slots.get(c.slot);
        let place = || format!("scorecard {} characteristic {}", card.id, c.name);
        let Some(bi) = c.bin_in(slots) else {
            let message = if c.first_match {
                "no attribute matches".to_string()
            } else {
                format!(
                    "value {} of `{}` falls in no bin",
                    trace_value(value),
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
        all_points.push(points);
        let difference = match card.algorithm {
            ReasonCodeAlgorithm::PointsBelow => c.baseline - points,
            ReasonCodeAlgorithm::PointsAbove => points - c.baseline,
        };
        let code: &str = bin.reason_code.as_deref().unwrap_or(&c.reason_code);
        if !code.is_empty() {
            match by_code.iter_mut().find(|(known, _, _)| *known == code) {
                Some(entry) => entry.1 += difference,
                None => by_code.push((code, difference, ci)),
            }
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(CharacteristicTrace {
                name: c.name.clone(),
                feature: c.feature.clone(),
                value: trace_value(value),
                bin: bin.label.clone(),
                points,
                baseline: c.baseline,
                reason_code: bin
                    .reason_code
                    .clone()
                    .unwrap_or_else(|| c.reason_code.clone()),
                difference,
            });
        }
    }
    by_code.retain(|(_, d, _)| *d > Decimal::ZERO || (card.count_zero_differences && d.is_zero()));
    // A stable sort keeps document order among equal differences.
    by_code.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    let reasons = by_code
        .into_iter()
        .take(card.max_reason_codes)
        .map(|(code, _, ci)| {
            let c = &card.characteristics[ci];
            Reason {
                code: code.to_string(),
                message_zh: c.message_zh.clone(),
                message_en: c.message_en.clone(),
                source: format!("characteristic:{}", c.name),
            }
        })
        .collect();
    Ok(Scored {
        score,
        points: all_points,
        reasons,
    })
}
