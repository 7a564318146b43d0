//! The decision pipeline, in one pass: validate and bind, derive, knock-out
//! rules (province red lines first), scorecard, grade, limit, price, refer
//! and flag rules, outcome. Pure: no I/O, no clock, no global state; the same
//! policy and request always give the same decision and trace.

mod rules;
pub mod score;
mod steps;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compile::{Derived, Policy, authority};
use crate::decision::{
    Decision, DerivedTrace, GradeTrace, LimitTrace, OutcomeTrace, PriceTrace, Reason,
    ScorecardTrace, Trace, decision_id, trace_value,
};
use crate::error::EvaluateError;
use crate::expr::{EValue, Num, Slots};
use crate::model::ruleset::{DerivedType, Stage};
use crate::request::Request;
use crate::validate;

/// Whether to build the trace. Without it the decision is the same, only
/// `trace` is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Build the trace: every rule, characteristic and step with the values it
    /// read.
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { trace: true }
    }
}

/// Evaluates one request against one compiled policy.
pub fn evaluate(
    policy: &Policy,
    request: &Request,
    options: Options,
) -> Result<Decision, EvaluateError> {
    let mut slots = validate::bind(policy, request)?;
    let mut trace = options.trace.then(|| empty_trace(policy));

    for d in &policy.derived {
        derive(
            d,
            policy,
            &mut slots,
            trace.as_mut().map(|t| &mut t.derived),
        )?;
    }

    let knockouts = rules::run(
        policy,
        Stage::Knockout,
        &slots,
        trace.as_mut().map(|t| &mut t.knockout),
    )?;

    let scored = score::score_card(
        &policy.scorecard,
        &slots,
        trace.as_mut().map(|t| &mut t.scorecard.characteristics),
    )?;
    let score = scored.score.normalize();
    let band = policy
        .grades
        .bands
        .iter()
        .find(|b| b.min_score.is_none_or(|m| score >= m))
        .ok_or_else(|| EvaluateError::Policy {
            place: "grades".to_string(),
            message: format!("score {score} falls in no grade band"),
        })?;
    slots.set(policy.computed.score, EValue::Float(Num(score)));
    slots.set(policy.computed.grade, EValue::String(band.grade.clone()));
    for ((_, slot), value) in policy.grades.columns.iter().zip(&band.values) {
        slots.set(*slot, EValue::Float(Num(*value)));
    }

    let limit = steps::limit(policy, &slots, trace.as_mut().map(|t| &mut t.limit))?;
    slots.set(policy.computed.limit, EValue::Float(Num(limit.limit)));
    let rate = steps::price(policy, &slots, trace.as_mut().map(|t| &mut t.price))?;
    slots.set(policy.computed.annual_rate, EValue::Float(Num(rate)));

    let refers = rules::run(
        policy,
        Stage::Refer,
        &slots,
        trace.as_mut().map(|t| &mut t.refer),
    )?;
    let flags = rules::run(
        policy,
        Stage::Flag,
        &slots,
        trace.as_mut().map(|t| &mut t.flags),
    )?;

    // Outcome: any decline reason declines; otherwise any refer rule refers.
    let rule_reason = |r: &crate::compile::Rule| Reason {
        code: r.reason.code.clone(),
        message_zh: r.reason.message_zh.clone(),
        message_en: r.reason.message_en.clone(),
        source: format!("rule:{}", r.id),
    };
    let mut reasons: Vec<Reason> = knockouts.iter().map(|r| rule_reason(r)).collect();
    let mut because: Vec<String> = knockouts
        .iter()
        .map(|r| format!("{} rule {} hit", r.layer.name(), r.id))
        .collect();
    if band.decline
        && let Some(reason) = &band.reason
    {
        reasons.push(Reason {
            code: reason.code.clone(),
            message_zh: reason.message_zh.clone(),
            message_en: reason.message_en.clone(),
            source: format!("grade:{}", band.grade),
        });
        because.push(format!("grade {} declines", band.grade));
    }
    if !limit.offered {
        let r = &policy.limit.below_minimum;
        reasons.push(Reason {
            code: r.code.clone(),
            message_zh: r.message_zh.clone(),
            message_en: r.message_en.clone(),
            source: "limit".to_string(),
        });
        because.push(format!(
            "limit below the minimum offer of {}",
            policy.limit.minimum_offer
        ));
    }
    let outcome = if !reasons.is_empty() {
        crate::decision::Outcome::Decline
    } else if !refers.is_empty() {
        reasons.extend(refers.iter().map(|r| rule_reason(r)));
        because.extend(refers.iter().map(|r| format!("refer rule {} hit", r.id)));
        crate::decision::Outcome::Refer
    } else {
        because.push(
            "no knock-out or refer rule hit and the limit reaches the minimum offer".to_string(),
        );
        crate::decision::Outcome::Approve
    };
    reasons.extend(scored.reasons);
    let declined = outcome == crate::decision::Outcome::Decline;
    let routing = policy.authority.as_ref().map(|authority| {
        let case = authority::Case {
            amount: if declined {
                Decimal::ZERO
            } else {
                limit.limit.normalize()
            },
            term_months: feature(policy, &slots, authority::TERM_FEATURE).and_then(|v| match v {
                EValue::Int(i) => Some(*i),
                _ => None,
            }),
            guarantee_type: feature(policy, &slots, authority::GUARANTEE_FEATURE).and_then(|v| {
                match v {
                    EValue::String(s) => Some(s.clone()),
                    _ => None,
                }
            }),
        };
        let codes: Vec<&str> = refers.iter().map(|r| r.reason.code.as_str()).collect();
        authority.route(outcome, &case, &codes)
    });

    if let Some(t) = trace.as_mut() {
        t.features = policy
            .schema
            .features
            .iter()
            .map(|f| {
                (
                    policy.layout.var(f.slot).name.clone(),
                    trace_value(slots.get(f.slot)),
                )
            })
            .collect();
        t.scorecard.score = score;
        t.grade = GradeTrace {
            score,
            grade: band.grade.clone(),
            min_score: band.min_score,
            decline: band.decline,
            columns: policy
                .grades
                .columns
                .iter()
                .zip(&band.values)
                .map(|((_, slot), v)| {
                    (
                        policy.layout.var(*slot).name.clone(),
                        crate::decision::Scalar::Dec(*v),
                    )
                })
                .collect(),
        };
        t.outcome = OutcomeTrace {
            decision: outcome,
            because,
        };
        t.routing = routing.clone();
    }

    Ok(Decision {
        decision_id: decision_id(&request.institution, &request.product, &request.request_id),
        request_id: request.request_id.clone(),
        institution: request.institution.clone(),
        product: request.product.clone(),
        decision: outcome,
        score,
        grade: band.grade.clone(),
        limit: if declined {
            Decimal::ZERO
        } else {
            limit.limit.normalize()
        },
        annual_rate: (!declined).then_some(rate),
        reasons,
        flags: flags.iter().map(|r| rule_reason(r)).collect(),
        versions: policy.versions.clone(),
        routing,
        trace,
    })
}

/// The value of schema feature `name`, when the schema declares it.
fn feature<'s>(policy: &Policy, slots: &'s Slots, name: &str) -> Option<&'s EValue> {
    let index = *policy.schema.by_name.get(name)?;
    Some(slots.get(policy.schema.features[index].slot))
}

/// Computes one derived feature into its slot.
fn derive(
    d: &Derived,
    policy: &Policy,
    slots: &mut Slots,
    trace: Option<&mut Vec<DerivedTrace>>,
) -> Result<(), EvaluateError> {
    let missing = d.expr.missing(slots);
    let (value, note) = if !missing.is_empty() {
        (
            EValue::Empty,
            Some(format!(
                "absent: {} absent",
                rules::join(&rules::names(&missing, policy))
            )),
        )
    } else {
        // An absent input makes the derived feature absent; a failed
        // computation (a division by zero) is a policy error, never quietly
        // absent: guard it in the expression, e.g. `max(income, 1)`.
        match d.expr.eval(slots) {
            Ok(v) => (shape(d, v)?, None),
            Err(f) => {
                return Err(EvaluateError::Policy {
                    place: format!("derived feature {}", d.name),
                    message: f.0,
                });
            }
        }
    };
    if let Some(t) = trace {
        t.push(DerivedTrace {
            name: d.name.clone(),
            expression: d.expr.source().clone(),
            inputs: rules::inputs(&d.expr, policy, slots),
            value: trace_value(&value),
            note,
        });
    }
    slots.set(d.slot, value);
    Ok(())
}

/// Brings a derived value to its declared type and scale.
fn shape(d: &Derived, value: EValue) -> Result<EValue, EvaluateError> {
    let wrong = |v: &EValue| EvaluateError::Policy {
        place: format!("derived feature {}", d.name),
        message: format!(
            "produced {}, expected {}",
            trace_value(v),
            match d.ty {
                DerivedType::Bool => "true or false",
                DerivedType::Integer => "an integer",
                DerivedType::Decimal => "a number",
            }
        ),
    };
    Ok(match (d.ty, value) {
        (DerivedType::Bool, v @ EValue::Boolean(_)) => v,
        (DerivedType::Integer, v @ EValue::Int(_)) => v,
        (DerivedType::Decimal, v) => {
            let Some(mut x) = crate::expr::as_decimal(&v) else {
                return Err(wrong(&v));
            };
            if let Some(scale) = d.scale {
                x = x.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
            }
            EValue::Float(Num(x))
        }
        (_, v) => return Err(wrong(&v)),
    })
}

fn empty_trace(policy: &Policy) -> Trace {
    Trace {
        features: Default::default(),
        derived: Vec::with_capacity(policy.derived.len()),
        knockout: Vec::new(),
        scorecard: ScorecardTrace {
            id: policy.scorecard.id.clone(),
            version: policy.scorecard.version.clone(),
            base_points: policy.scorecard.base_points,
            characteristics: Vec::with_capacity(policy.scorecard.characteristics.len()),
            score: Decimal::ZERO,
        },
        grade: GradeTrace {
            score: Decimal::ZERO,
            grade: String::new(),
            min_score: None,
            decline: false,
            columns: Default::default(),
        },
        limit: LimitTrace {
            steps: Vec::new(),
            computed: Decimal::ZERO,
            round_down_to: Decimal::ZERO,
            rounded: Decimal::ZERO,
            minimum_offer: Decimal::ZERO,
            offered: false,
            limit: Decimal::ZERO,
        },
        price: PriceTrace {
            steps: Vec::new(),
            computed: Decimal::ZERO,
            round_to: Decimal::ZERO,
            rounded: Decimal::ZERO,
            floor: Decimal::ZERO,
            cap: Decimal::ZERO,
            annual_rate: Decimal::ZERO,
        },
        refer: Vec::new(),
        flags: Vec::new(),
        outcome: OutcomeTrace {
            decision: crate::decision::Outcome::Decline,
            because: Vec::new(),
        },
        routing: None,
    }
}
