//! The decision pipeline, in one pass: validate and bind, derive, knock-out
//! rules (province red lines first), scorecard, grade, limit, price, refer
//! and flag rules, outcome. Pure: no I/O, no clock, no global state; the same
//! policy and request always give the same decision and trace.

mod rules;
pub mod score;
mod steps;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::compile::{Derived, GradeBand, Policy, Rule, authority};
use crate::decision::{
    Decision, DerivedTrace, GradeTrace, Outcome, OutcomeTrace, Reason, Scalar, ScorecardTrace,
    Trace, decision_id, trace_value,
};
use crate::error::EvaluateError;
pub use crate::error::RenderError;
use crate::expr::{EValue, Num, Slots};
use crate::model::ruleset::{DerivedType, Stage};
use crate::record::{Record, Value as RecordValue};
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
    evaluate_recorded(policy, request, options).map(|(decision, _)| decision)
}

/// Evaluates one request and returns its decision with the compact record
/// it was rendered from (what a store keeps: [`render`] gives the same
/// decision and trace back from it).
pub fn evaluate_recorded(
    policy: &Policy,
    request: &Request,
    options: Options,
) -> Result<(Decision, Record), EvaluateError> {
    let slots = validate::bind(policy, request)?;
    evaluate_bound(policy, Keys::of(request), slots, options)
}

/// A request's keys: what names its decision.
#[derive(Clone, Copy, Debug)]
pub struct Keys<'a> {
    /// The caller's idempotency key.
    pub request_id: &'a str,
    /// The institution code.
    pub institution: &'a str,
    /// The product code.
    pub product: &'a str,
}

impl<'a> Keys<'a> {
    /// The keys of a JSON request.
    pub fn of(request: &'a Request) -> Keys<'a> {
        Keys {
            request_id: &request.request_id,
            institution: &request.institution,
            product: &request.product,
        }
    }
}

/// [`evaluate_recorded`] of a request a front door bound itself (see
/// [`validate::Binder`]).
pub fn evaluate_bound(
    policy: &Policy,
    keys: Keys<'_>,
    mut slots: Slots,
    options: Options,
) -> Result<(Decision, Record), EvaluateError> {
    let record = run(policy, &mut slots)?;
    let decision =
        shown(policy, keys, &slots, &record, options.trace).map_err(|e| EvaluateError::Policy {
            place: "decision record".to_string(),
            message: e.to_string(),
        })?;
    Ok((decision, record))
}

/// Decides bound slots into the compact record alone: what a batch row
/// keeps, with [`outline`] for its output columns. The decision and its
/// trace render from the record when someone asks ([`render`]).
pub fn decide_bound(policy: &Policy, mut slots: Slots) -> Result<Record, EvaluateError> {
    run(policy, &mut slots)
}

/// What produced a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'p> {
    /// `rule:<id>`
    Rule(&'p str),
    /// `grade:<grade>`
    Grade(&'p str),
    /// `limit`
    Limit,
    /// `characteristic:<name>`
    Characteristic(&'p str),
}

/// A reason, borrowed from the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonRef<'p> {
    /// The machine code, e.g. `R101`.
    pub code: &'p str,
    /// The reason in Chinese.
    pub message_zh: &'p str,
    /// The reason in English.
    pub message_en: &'p str,
    /// What produced it.
    pub source: Source<'p>,
}

impl ReasonRef<'_> {
    /// The reason as a decision carries it.
    pub fn to_owned(&self) -> Reason {
        Reason {
            code: self.code.to_string(),
            message_zh: self.message_zh.to_string(),
            message_en: self.message_en.to_string(),
            source: match self.source {
                Source::Rule(id) => format!("rule:{id}"),
                Source::Grade(grade) => format!("grade:{grade}"),
                Source::Limit => "limit".to_string(),
                Source::Characteristic(name) => format!("characteristic:{name}"),
            },
        }
    }
}

/// A decision's outcome, figures and ranked reasons as its record says
/// them, borrowed from the policy: what a [`Decision`] is made of, and
/// what a batch output row takes as it is.
#[derive(Clone, Debug)]
pub struct Outline<'p> {
    /// Approve, refer or decline.
    pub outcome: Outcome,
    /// The scorecard's points.
    pub score: Decimal,
    /// The grade of the score's band.
    pub grade: &'p str,
    /// Zero when declined.
    pub limit: Decimal,
    /// None when declined.
    pub annual_rate: Option<Decimal>,
    /// Ranked: knock-outs, the grade, the limit, refer rules (when
    /// referred), then the scorecard's.
    pub reasons: Vec<ReasonRef<'p>>,
    band: &'p GradeBand,
    binned: Vec<(u32, Decimal)>,
    offered: bool,
}

/// A rule's reason.
fn rule_reason(r: &Rule) -> ReasonRef<'_> {
    ReasonRef {
        code: &r.reason.code,
        message_zh: &r.reason.message_zh,
        message_en: &r.reason.message_en,
        source: Source::Rule(&r.id),
    }
}

/// The outline of a record under `policy`, checking that its bins, band
/// and outcome fit the policy and one another.
pub fn outline<'p>(policy: &'p Policy, record: &Record) -> Result<Outline<'p>, RenderError> {
    let hits = &record.rule_hits;
    if hits.len() != policy.rules.len() {
        return Err(RenderError::inconsistent(format!(
            "{} rule hits recorded for {} rules",
            hits.len(),
            policy.rules.len()
        )));
    }
    let (card, _) = scoring(policy, record)?;
    if record.bins.len() != card.characteristics.len() {
        return Err(RenderError::inconsistent(format!(
            "{} bins recorded for {} characteristics",
            record.bins.len(),
            card.characteristics.len()
        )));
    }
    let mut computed = record.computed_points.iter();
    let mut binned = Vec::with_capacity(record.bins.len());
    for (c, &bin) in card.characteristics.iter().zip(&record.bins) {
        let b = c.bins.get(bin as usize).ok_or_else(|| {
            RenderError::inconsistent(format!(
                "bin {bin} of characteristic {}, which has {}",
                c.name,
                c.bins.len()
            ))
        })?;
        let points = match &b.points_expr {
            None => b.points,
            Some(_) => *computed.next().ok_or_else(|| {
                RenderError::inconsistent(format!(
                    "no points recorded for bin `{}` of characteristic {}",
                    b.label, c.name
                ))
            })?,
        };
        binned.push((bin, points));
    }
    if computed.next().is_some() {
        return Err(RenderError::inconsistent(
            "more computed points recorded than bins that compute them",
        ));
    }
    let band = recorded_band(policy, record)?;
    let offered = record.limit > Decimal::ZERO;
    let outcome = outcome(policy, hits, band, offered);
    if outcome != record.outcome {
        return Err(RenderError::inconsistent(format!(
            "the recorded outcome is {}, the recorded facts give {}",
            record.outcome.as_str(),
            outcome.as_str()
        )));
    }

    let mut reasons: Vec<ReasonRef<'p>> = hit_rules(policy, hits, Stage::Knockout)
        .map(rule_reason)
        .collect();
    if band.decline
        && let Some(reason) = &band.reason
    {
        reasons.push(ReasonRef {
            code: &reason.code,
            message_zh: &reason.message_zh,
            message_en: &reason.message_en,
            source: Source::Grade(&band.grade),
        });
    }
    if !offered {
        let r = &policy.limit.below_minimum;
        reasons.push(ReasonRef {
            code: &r.code,
            message_zh: &r.message_zh,
            message_en: &r.message_en,
            source: Source::Limit,
        });
    }
    if outcome == Outcome::Refer {
        reasons.extend(hit_rules(policy, hits, Stage::Refer).map(rule_reason));
    }
    reasons.extend(score::ranked(card, &binned));
    let declined = outcome == Outcome::Decline;
    Ok(Outline {
        outcome,
        score: record.score,
        grade: &band.grade,
        limit: if declined {
            Decimal::ZERO
        } else {
            record.limit.normalize()
        },
        annual_rate: (!declined).then_some(record.annual_rate),
        reasons,
        band,
        binned,
        offered,
    })
}

/// The decision and its trace, rendered from a stored record, the request
/// it decided and the policy it names. Every recorded fact is checked
/// against the others under the policy (the score is the sum of the
/// points, the limit and the rate follow from the step values, the outcome
/// from the hits, the band and the limit): a record that does not add up
/// is refused.
pub fn render(
    policy: &Policy,
    request: &Request,
    record: &Record,
    options: Options,
) -> Result<Decision, RenderError> {
    if record.policy != policy.hash {
        return Err(RenderError::OtherPolicy {
            recorded: hex::encode(record.policy),
            given: hex::encode(policy.hash),
        });
    }
    let mut slots = validate::bind(policy, request).map_err(RenderError::Request)?;
    if record.derived.len() != policy.derived.len() {
        return Err(RenderError::inconsistent(format!(
            "{} derived values recorded for {} derived features",
            record.derived.len(),
            policy.derived.len()
        )));
    }
    for (d, v) in policy.derived.iter().zip(&record.derived) {
        slots.set(d.slot, v.to_evalue());
    }
    // The segment follows from the inputs: it must be the recorded one.
    let chosen = segment_of(policy, &slots)?;
    if chosen != record.segment {
        return Err(RenderError::inconsistent(format!(
            "the household is recorded in segment {}, its inputs give segment {chosen}",
            record.segment
        )));
    }
    // The card's own derived values are not recorded but computed again:
    // they must still put the household in the recorded bins.
    let (card, _) = scoring(policy, record)?;
    if !card.derived.is_empty() {
        let (binned, _) = score::bins(card, &slots)?;
        for ((c, (bin, _)), recorded) in card.characteristics.iter().zip(&binned).zip(&record.bins)
        {
            if bin != recorded {
                return Err(RenderError::inconsistent(format!(
                    "characteristic {} is recorded in bin {recorded}, its inputs give bin {bin}",
                    c.name
                )));
            }
        }
    }
    let band = recorded_band(policy, record)?;
    set_scored(policy, record.segment, &mut slots, record.score, band);
    slots.set(policy.computed.limit, EValue::Float(Num(record.limit)));
    slots.set(
        policy.computed.annual_rate,
        EValue::Float(Num(record.annual_rate)),
    );
    // The trace is where every fact is checked; it is dropped when not
    // asked for.
    let mut decision = shown(policy, Keys::of(request), &slots, record, true)?;
    if !options.trace {
        decision.trace = None;
    }
    Ok(decision)
}

/// Runs the policy over bound slots: what happened, as a record. The slots
/// end holding every value the run computed.
fn run(policy: &Policy, slots: &mut Slots) -> Result<Record, EvaluateError> {
    let mut derived = Vec::with_capacity(policy.derived.len());
    for d in &policy.derived {
        let value = derive(d, slots)?;
        derived.push(RecordValue::of(&value));
        slots.set(d.slot, value);
    }

    let mut rule_hits = vec![false; policy.rules.len()];
    rules::run(policy, Stage::Knockout, slots, &mut rule_hits)?;

    let segment = segment_of(policy, slots)?;
    let (card, grades) = policy
        .scoring(segment)
        .ok_or_else(|| EvaluateError::Policy {
            place: "segments".to_string(),
            message: format!("no segment {segment}"),
        })?;
    let (binned, score) = score::bins(card, slots)?;
    let score = score.normalize();
    let grade_band = grades
        .bands
        .iter()
        .position(|b| b.min_score.is_none_or(|m| score >= m))
        .ok_or_else(|| EvaluateError::Policy {
            place: "grades".to_string(),
            message: format!("score {score} falls in no grade band"),
        })?;
    let band = &grades.bands[grade_band];
    set_scored(policy, segment, slots, score, band);

    let limit = steps::limit(policy, slots)?;
    slots.set(policy.computed.limit, EValue::Float(Num(limit.limit)));
    let price = steps::price(policy, slots)?;
    slots.set(policy.computed.annual_rate, EValue::Float(Num(price.rate)));

    rules::run(policy, Stage::Refer, slots, &mut rule_hits)?;
    rules::run(policy, Stage::Flag, slots, &mut rule_hits)?;

    let mut computed_points = Vec::new();
    let mut bins = Vec::with_capacity(binned.len());
    for (c, (bin, points)) in card.characteristics.iter().zip(binned) {
        bins.push(bin);
        if c.bins[bin as usize].points_expr.is_some() {
            computed_points.push(points);
        }
    }
    Ok(Record {
        policy: policy.hash,
        outcome: outcome(policy, &rule_hits, band, limit.offered),
        score,
        grade_band: grade_band as u32,
        segment,
        limit: limit.limit,
        annual_rate: price.rate,
        derived,
        rule_hits,
        bins,
        computed_points,
        limit_steps: limit.steps,
        price_steps: price.steps,
        price_floor: price.floor,
        price_cap: price.cap,
    })
}

/// The segment a household falls in: the first whose condition holds (a
/// condition reading an absent value takes its `when_missing`); 0 when the
/// policy has no segments.
fn segment_of(policy: &Policy, slots: &Slots) -> Result<u32, EvaluateError> {
    for (i, s) in policy.segments.iter().enumerate() {
        let holds = match &s.when {
            None => true,
            Some(e) if !e.missing(slots).is_empty() => s.when_missing,
            Some(e) => e.eval_bool(slots).map_err(|f| EvaluateError::Policy {
                place: format!("segment {}", s.id),
                message: f.0,
            })?,
        };
        if holds {
            return Ok(i as u32);
        }
    }
    Ok(0)
}

/// The scorecard and grade table of the segment a record names.
fn scoring<'p>(
    policy: &'p Policy,
    record: &Record,
) -> Result<(&'p crate::compile::Scorecard, &'p crate::compile::Grades), RenderError> {
    policy.scoring(record.segment).ok_or_else(|| {
        RenderError::inconsistent(format!(
            "segment {} of a policy with {}",
            record.segment,
            policy.segments.len()
        ))
    })
}

/// The grade band a record names.
fn recorded_band<'p>(policy: &'p Policy, record: &Record) -> Result<&'p GradeBand, RenderError> {
    let (_, grades) = scoring(policy, record)?;
    grades.bands.get(record.grade_band as usize).ok_or_else(|| {
        RenderError::inconsistent(format!(
            "grade band {} of a table of {}",
            record.grade_band,
            grades.bands.len()
        ))
    })
}

/// Binds the score, the grade and the grade table's columns (of the
/// segment's table).
fn set_scored(policy: &Policy, segment: u32, slots: &mut Slots, score: Decimal, band: &GradeBand) {
    slots.set(policy.computed.score, EValue::Float(Num(score)));
    slots.set(policy.computed.grade, EValue::String(band.grade.clone()));
    let columns = policy
        .scoring(segment)
        .map_or(&policy.grades.columns, |(_, g)| &g.columns);
    for ((_, slot), value) in columns.iter().zip(&band.values) {
        slots.set(*slot, EValue::Float(Num(*value)));
    }
}

/// The rules of `stage` that hit, in policy order.
fn hit_rules<'p>(
    policy: &'p Policy,
    hits: &[bool],
    stage: Stage,
) -> impl Iterator<Item = &'p Rule> + Clone {
    policy
        .rules
        .iter()
        .zip(hits)
        .filter(move |(r, hit)| **hit && r.stage == stage)
        .map(|(r, _)| r)
}

/// Whether a rule of `stage` hit.
fn any_hit(policy: &Policy, hits: &[bool], stage: Stage) -> bool {
    hit_rules(policy, hits, stage).next().is_some()
}

/// Any decline reason declines; otherwise any refer rule refers.
fn outcome(policy: &Policy, hits: &[bool], band: &GradeBand, offered: bool) -> Outcome {
    if any_hit(policy, hits, Stage::Knockout) || (band.decline && band.reason.is_some()) || !offered
    {
        Outcome::Decline
    } else if any_hit(policy, hits, Stage::Refer) {
        Outcome::Refer
    } else {
        Outcome::Approve
    }
}

/// The decision the record says, with the policy's words: reasons, flags,
/// routing and, when asked for, the trace (which checks every recorded
/// fact against the others).
fn shown(
    policy: &Policy,
    keys: Keys<'_>,
    slots: &Slots,
    record: &Record,
    with_trace: bool,
) -> Result<Decision, RenderError> {
    let hits = &record.rule_hits;
    let Outline {
        outcome,
        score,
        grade,
        limit,
        annual_rate,
        reasons,
        band,
        binned,
        offered,
    } = outline(policy, record)?;
    let hit = |stage: Stage| hit_rules(policy, hits, stage);
    let routing = policy.authority.as_ref().map(|authority| {
        let case = authority::Case {
            amount: limit,
            term_months: feature(policy, slots, authority::TERM_FEATURE).and_then(|v| match v {
                EValue::Int(i) => Some(*i),
                _ => None,
            }),
            guarantee_type: feature(policy, slots, authority::GUARANTEE_FEATURE).and_then(|v| {
                match v {
                    EValue::String(s) => Some(s.clone()),
                    _ => None,
                }
            }),
        };
        let codes: Vec<&str> = hit(Stage::Refer).map(|r| r.reason.code.as_str()).collect();
        authority.route(outcome, &case, &codes)
    });

    let trace = if with_trace {
        Some(trace(
            policy,
            slots,
            record,
            band,
            &binned,
            OutcomeTrace {
                decision: outcome,
                because: because(policy, hits, band, offered, outcome),
            },
            routing.clone(),
        )?)
    } else {
        None
    };

    Ok(Decision {
        decision_id: decision_id(keys.institution, keys.product, keys.request_id),
        request_id: keys.request_id.to_string(),
        institution: keys.institution.to_string(),
        product: keys.product.to_string(),
        decision: outcome,
        score,
        grade: grade.to_string(),
        limit,
        annual_rate,
        reasons: reasons.iter().map(ReasonRef::to_owned).collect(),
        flags: hit(Stage::Flag)
            .map(|r| rule_reason(r).to_owned())
            .collect(),
        versions: policy.versions.clone(),
        layers: policy.layers.clone(),
        routing,
        trace,
    })
}

/// The facts that decided the outcome, in order, for the trace.
fn because(
    policy: &Policy,
    hits: &[bool],
    band: &GradeBand,
    offered: bool,
    outcome: Outcome,
) -> Vec<String> {
    let hit = |stage: Stage| hit_rules(policy, hits, stage);
    let mut because: Vec<String> = hit(Stage::Knockout)
        .map(|r| format!("{} rule {} hit", r.layer.name(), r.id))
        .collect();
    if band.decline && band.reason.is_some() {
        because.push(format!("grade {} declines", band.grade));
    }
    if !offered {
        because.push(format!(
            "limit below the minimum offer of {}",
            policy.limit.minimum_offer
        ));
    }
    match outcome {
        Outcome::Decline => {}
        Outcome::Refer => {
            because.extend(hit(Stage::Refer).map(|r| format!("refer rule {} hit", r.id)))
        }
        Outcome::Approve => because.push(
            "no knock-out or refer rule hit and the limit reaches the minimum offer".to_string(),
        ),
    }
    because
}

/// Every stage with the values it read, from the record, checking that the
/// recorded score, limit and rate follow from the recorded points and step
/// values.
fn trace(
    policy: &Policy,
    slots: &Slots,
    record: &Record,
    band: &GradeBand,
    binned: &[(u32, Decimal)],
    outcome: OutcomeTrace,
    routing: Option<crate::decision::Routing>,
) -> Result<Trace, RenderError> {
    let (card, grades) = scoring(policy, record)?;
    let points: Vec<Decimal> = binned.iter().map(|(_, p)| *p).collect();
    let score = score::sum(card, &points)?.normalize();
    if score != record.score || score.scale() != record.score.scale() {
        return Err(RenderError::inconsistent(format!(
            "the recorded score is {}, the recorded points add up to {score}",
            record.score
        )));
    }
    if band_of(grades, score) != Some(record.grade_band as usize) {
        return Err(RenderError::inconsistent(format!(
            "score {score} does not fall in the recorded grade band {}",
            band.grade
        )));
    }
    let (limit_trace, limit) = steps::limit_trace(policy, slots, &record.limit_steps)?;
    if limit.limit != record.limit || limit.limit.scale() != record.limit.scale() {
        return Err(RenderError::inconsistent(format!(
            "the recorded limit is {}, the recorded limit steps give {}",
            record.limit, limit.limit
        )));
    }
    let (price_trace, price) = steps::price_trace(
        policy,
        slots,
        &record.price_steps,
        record.price_floor,
        record.price_cap,
    )?;
    if price.rate != record.annual_rate || price.rate.scale() != record.annual_rate.scale() {
        return Err(RenderError::inconsistent(format!(
            "the recorded rate is {}, the recorded price steps give {}",
            record.annual_rate, price.rate
        )));
    }
    let derived = policy
        .derived
        .iter()
        .map(|d| {
            let missing = d.expr.missing(slots);
            let value = slots.get(d.slot);
            if missing.is_empty() == value.is_empty() {
                return Err(RenderError::inconsistent(format!(
                    "derived feature {} is recorded {}",
                    d.name,
                    if value.is_empty() {
                        "absent though its inputs are present"
                    } else {
                        "with a value though an input is absent"
                    }
                )));
            }
            Ok(DerivedTrace {
                name: d.name.clone(),
                expression: d.expr.source().clone(),
                inputs: rules::inputs(&d.expr, policy, slots),
                value: trace_value(value),
                note: (!missing.is_empty()).then(|| {
                    format!(
                        "absent: {} absent",
                        rules::join(&rules::names(&missing, policy))
                    )
                }),
            })
        })
        .collect::<Result<Vec<_>, RenderError>>()?;
    let (card_derived, characteristics) = score::characteristics(card, slots, binned)?;
    Ok(Trace {
        features: policy
            .schema
            .features
            .iter()
            .map(|f| {
                (
                    policy.layout.var(f.slot).name.clone(),
                    trace_value(slots.get(f.slot)),
                )
            })
            .collect(),
        derived,
        knockout: rules::traces(policy, Stage::Knockout, slots, &record.rule_hits)?,
        segment: segment_trace(policy, slots, record)?,
        scorecard: ScorecardTrace {
            id: card.id.clone(),
            version: card.version.clone(),
            base_points: card.base_points,
            derived: card_derived,
            characteristics,
            score,
        },
        grade: GradeTrace {
            score,
            grade: band.grade.clone(),
            min_score: band.min_score,
            decline: band.decline,
            columns: grades
                .columns
                .iter()
                .zip(&band.values)
                .map(|((_, slot), v)| (policy.layout.var(*slot).name.clone(), Scalar::Dec(*v)))
                .collect(),
        },
        limit: limit_trace,
        price: price_trace,
        refer: rules::traces(policy, Stage::Refer, slots, &record.rule_hits)?,
        flags: rules::traces(policy, Stage::Flag, slots, &record.rule_hits)?,
        outcome,
        routing,
    })
}

/// Why the household is in its recorded segment: each segment checked up
/// to it.
fn segment_trace(
    policy: &Policy,
    slots: &Slots,
    record: &Record,
) -> Result<Option<crate::decision::SegmentTrace>, RenderError> {
    let chosen = record.segment as usize;
    let Some(segment) = policy.segments.get(chosen) else {
        return if policy.segments.is_empty() {
            Ok(None)
        } else {
            Err(RenderError::inconsistent(format!(
                "segment {chosen} of a policy with {}",
                policy.segments.len()
            )))
        };
    };
    let mut checked = Vec::new();
    for (i, s) in policy.segments.iter().enumerate().take(chosen + 1) {
        let (condition, inputs, missing, held) = match &s.when {
            None => (None, Default::default(), Vec::new(), true),
            Some(e) => {
                let missing = e.missing(slots);
                let held = if missing.is_empty() {
                    e.eval_bool(slots)
                        .map_err(|f| RenderError::inconsistent(f.0))?
                } else {
                    s.when_missing
                };
                (
                    Some(e.source().clone()),
                    rules::inputs(e, policy, slots),
                    rules::names(&missing, policy),
                    held,
                )
            }
        };
        if held != (i == chosen) {
            return Err(RenderError::inconsistent(format!(
                "the household is recorded in segment {}, but segment {} {}",
                segment.id,
                s.id,
                if held { "holds first" } else { "does not hold" }
            )));
        }
        checked.push(crate::decision::SegmentCheck {
            id: s.id.clone(),
            condition,
            inputs,
            missing,
            held,
        });
    }
    Ok(Some(crate::decision::SegmentTrace {
        id: segment.id.clone(),
        description: segment.description.clone(),
        scorecard: format!("{}@{}", segment.scorecard.id, segment.scorecard.version),
        checked,
    }))
}

/// The index of the band `score` falls in.
fn band_of(grades: &crate::compile::Grades, score: Decimal) -> Option<usize> {
    grades
        .bands
        .iter()
        .position(|b| b.min_score.is_none_or(|m| score >= m))
}

/// The value of schema feature `name`, when the schema declares it.
fn feature<'s>(policy: &Policy, slots: &'s Slots, name: &str) -> Option<&'s EValue> {
    let index = *policy.schema.by_name.get(name)?;
    Some(slots.get(policy.schema.features[index].slot))
}

/// Computes one derived feature: absent when an input is absent.
fn derive(d: &Derived, slots: &Slots) -> Result<EValue, EvaluateError> {
    if !d.expr.missing(slots).is_empty() {
        return Ok(EValue::Empty);
    }
    // A failed computation (a division by zero) is a policy error, never
    // quietly absent: guard it in the expression, e.g. `max(income, 1)`.
    match d.expr.eval(slots) {
        Ok(v) => shape(d, v),
        Err(f) => Err(EvaluateError::Policy {
            place: format!("derived feature {}", d.name),
            message: f.0,
        }),
    }
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
