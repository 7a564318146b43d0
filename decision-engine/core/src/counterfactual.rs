//! Counterfactuals: for a household declined or referred, the smallest
//! change to one actionable feature that would have it approved, each told
//! in English and Chinese ("with annual net income of at least 42,000 the
//! household would be approved at 30,000").
//!
//! Only features a household can act on are changed ([`LEVERS`]: income,
//! debt, overdue counts, inquiries, subsidy, the village review's rating);
//! never age or any other fact it cannot change. Candidate values come from
//! the compiled policy: the scorecard's bin edges on the feature and the
//! policy's numeric parameters (the rule thresholds), then a widening grid.
//! Between the last value that does not approve and the first that does,
//! the smallest approving value is found by bisection to the feature's
//! unit (1 yuan, 1 count, 0.01). Every suggestion is the decision of the
//! changed request by the same [`evaluate()`] the engine uses: it is
//! verified, not inferred.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::compile::{BinTest, Policy};
use crate::decision::{Decision, Outcome};
use crate::evaluate::{Options, evaluate};
use crate::expr::EValue;
use crate::model::schema::FeatureType;
use crate::request::Request;

/// Which way a feature improves the household's case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More is better (income, subsidy).
    Increase,
    /// Less is better (debt, overdue counts, inquiries).
    Decrease,
    /// Toward the first of the enum's values (a review rating of A).
    Better,
}

/// A feature a household can act on: (feature, direction, English name,
/// Chinese name).
pub type Lever = (&'static str, Direction, &'static str, &'static str);

/// The actionable features, in the order suggestions are tried. Age, land,
/// household size and every history field (worst class, dpd over 24
/// months, court records) are facts, not levers.
pub const LEVERS: &[Lever] = &[
    (
        "annual_net_income",
        Direction::Increase,
        "annual net income",
        "家庭年净收入",
    ),
    (
        "non_agri_income",
        Direction::Increase,
        "non-farm income",
        "非农收入",
    ),
    (
        "subsidy_annual_amount",
        Direction::Increase,
        "annual farm subsidy",
        "年度农业补贴",
    ),
    (
        "bureau_total_debt",
        Direction::Decrease,
        "total bureau debt",
        "征信负债总额",
    ),
    (
        "bureau_guarantee_debt",
        Direction::Decrease,
        "guarantee debt",
        "对外担保负债",
    ),
    (
        "bureau_current_overdue_count",
        Direction::Decrease,
        "accounts overdue now",
        "当前逾期账户数",
    ),
    (
        "bureau_inquiries_3m",
        Direction::Decrease,
        "loan inquiries in 3 months",
        "近3个月贷款查询次数",
    ),
    (
        "bureau_inquiries_6m",
        Direction::Decrease,
        "loan inquiries in 6 months",
        "近6个月贷款查询次数",
    ),
    (
        "review_rating",
        Direction::Better,
        "village review rating",
        "村组评议等级",
    ),
];

/// One suggestion: a feature's value that would have the household
/// approved, and the decision it gives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Counterfactual {
    /// The feature changed, e.g. `annual_net_income`.
    pub feature: String,
    /// Which way it was changed.
    pub direction: Direction,
    /// The request's value.
    pub from: serde_json::Value,
    /// The value that approves.
    pub to: serde_json::Value,
    /// The decision of the changed request (always APPROVE).
    pub outcome: Outcome,
    /// The limit the changed request is given.
    pub limit: Decimal,
    /// The rate the changed request is given.
    pub annual_rate: Option<Decimal>,
    /// The suggestion in English.
    pub message_en: String,
    /// The suggestion in Chinese.
    pub message_zh: String,
}

/// Evaluations a search may make per feature, at most.
const BUDGET: usize = 160;
/// Evaluations all the searches for one household may make, at most.
const TOTAL_BUDGET: usize = 800;

/// The suggestions for `request` under `policy`, the smallest relative
/// change first; none when it is approved already (or nothing it can act
/// on would approve it).
pub fn counterfactuals(policy: &Policy, request: &Request) -> Vec<Counterfactual> {
    let decide = |r: &Request| evaluate(policy, r, Options { trace: false }).ok();
    match decide(request) {
        Some(d) if d.decision != Outcome::Approve => {}
        _ => return Vec::new(),
    }
    let mut found: Vec<(Decimal, Counterfactual)> = Vec::new();
    let mut budget = TOTAL_BUDGET;
    for &(name, direction, name_en, name_zh) in LEVERS {
        let Some(feature) = policy.schema.features.iter().find(|f| f.name == name) else {
            continue;
        };
        let Some(current) = request.features.get(name).filter(|v| !v.is_null()) else {
            // Absent (a thin file): nothing to change from.
            continue;
        };
        let with = |value: serde_json::Value| {
            let mut r = request.clone();
            r.features.insert(name.to_string(), value);
            r
        };
        let approves = |value: &serde_json::Value| {
            decide(&with(value.clone())).filter(|d| d.decision == Outcome::Approve)
        };
        let hit = match feature.ty {
            FeatureType::Enum => {
                let Some(now) = current.as_str() else {
                    continue;
                };
                let Some(at) = feature.values.iter().position(|v| v == now) else {
                    continue;
                };
                feature.values[..at].iter().rev().find_map(|better| {
                    let value = serde_json::Value::String(better.clone());
                    approves(&value).map(|d| (Decimal::from(at), value, d))
                })
            }
            FeatureType::Integer | FeatureType::Money | FeatureType::Decimal => {
                let Some(now) = number(current) else { continue };
                let unit = match feature.ty {
                    FeatureType::Decimal => Decimal::new(1, 2),
                    _ => Decimal::ONE,
                };
                let json = |v: Decimal| match feature.ty {
                    FeatureType::Integer => {
                        serde_json::Value::from(v.trunc().to_i64().unwrap_or(0))
                    }
                    _ => serde_json::Value::String(v.normalize().to_string()),
                };
                let up = direction == Direction::Increase;
                let bound = if up {
                    feature.max.or_else(|| {
                        now.max(Decimal::ZERO)
                            .checked_mul(Decimal::from(20))
                            .and_then(|b| b.checked_add(Decimal::from(200_000)))
                    })
                } else {
                    Some(feature.min.unwrap_or(Decimal::ZERO))
                };
                // Only toward the better side of the value, never past it.
                let Some(bound) = bound.filter(|&b| if up { b > now } else { b < now }) else {
                    continue;
                };
                search(policy, name, now, bound, unit, &mut budget, &mut |v| {
                    approves(&json(v)).map(|d| (v, d))
                })
                .map(|(v, d)| {
                    let change = if now.is_zero() {
                        (v - now).abs()
                    } else {
                        ((v - now) / now).abs()
                    };
                    (change, json(v), d)
                })
            }
            FeatureType::Bool | FeatureType::String => None,
        };
        if let Some((change, to, d)) = hit {
            found.push((
                change,
                told(name, direction, (name_en, name_zh), current, &to, &d),
            ));
        }
    }
    found.sort_by_key(|f| f.0);
    found.into_iter().map(|(_, c)| c).collect()
}

fn number(v: &serde_json::Value) -> Option<Decimal> {
    crate::model::decimal_from_json(v).ok()
}

/// The value nearest to `now`, toward `bound`, at which `approves` holds:
/// candidates from the policy (bin edges on the feature, numeric
/// parameters) and a widening grid, tried nearest first; then bisection to
/// `unit` between the last that failed and the first that held.
fn search(
    policy: &Policy,
    feature: &str,
    now: Decimal,
    bound: Decimal,
    unit: Decimal,
    total: &mut usize,
    approves: &mut dyn FnMut(Decimal) -> Option<(Decimal, Decision)>,
) -> Option<(Decimal, Decision)> {
    let up = bound > now;
    let toward = |v: Decimal| {
        if up {
            v > now && v <= bound
        } else {
            v < now && v >= bound
        }
    };
    let mut candidates: Vec<Decimal> = Vec::new();
    for c in &policy.scorecard.characteristics {
        if &*c.feature != feature {
            continue;
        }
        for b in &c.bins {
            if let BinTest::Interval(i) = &b.test {
                for edge in [i.lo, i.hi].into_iter().flatten() {
                    // Both sides of an edge: `[x` holds x, `x)` needs below.
                    candidates.extend([edge, edge - unit, edge + unit]);
                }
            }
        }
    }
    for (_, value) in &policy.parameters {
        if let EValue::Float(n) = value {
            candidates.extend([n.0, n.0 - unit, n.0 + unit]);
        } else if let EValue::Int(i) = value {
            candidates.extend([
                Decimal::from(*i),
                Decimal::from(*i - 1),
                Decimal::from(*i + 1),
            ]);
        }
    }
    let span = (bound - now).abs();
    for k in 1..=24u32 {
        // 1/64 of the span doubling up to the whole span, and the unit
        // steps near the value.
        let step = (span * Decimal::from(2u64.pow(k.min(7) - 1)) / Decimal::from(64)).round_dp(2);
        let step = if k > 7 {
            unit * Decimal::from(k - 7)
        } else {
            step
        };
        candidates.push(if up { now + step } else { now - step });
    }
    candidates.push(bound);
    let mut candidates: Vec<Decimal> = candidates
        .into_iter()
        .map(|v| (v / unit).round() * unit)
        .filter(|&v| toward(v))
        .collect();
    candidates.sort_by_key(|&v| (v - now).abs());
    candidates.dedup();
    let mut failed = now;
    let mut budget = BUDGET.min(*total);
    let mut held = None;
    for v in candidates {
        if budget == 0 {
            break;
        }
        budget -= 1;
        match approves(v) {
            Some(hit) => {
                held = Some(hit);
                break;
            }
            None => failed = v,
        }
    }
    let Some((mut good, mut decision)) = held else {
        *total -= BUDGET.min(*total) - budget;
        return None;
    };
    // Bisection between the last failure and the first success.
    while (good - failed).abs() > unit && budget > 0 {
        budget -= 1;
        let mid = (((good + failed) / Decimal::TWO) / unit).round() * unit;
        if mid == good || mid == failed {
            break;
        }
        match approves(mid) {
            Some((v, d)) => {
                good = v;
                decision = d;
            }
            None => failed = mid,
        }
    }
    *total -= BUDGET.min(*total) - budget;
    Some((good, decision))
}

/// Thousands separators for a plain decimal (`42000` -> `42,000`).
fn grouped(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => {
            if s.parse::<Decimal>().is_ok() {
                grouped(s)
            } else {
                s.clone()
            }
        }
        other => grouped(&other.to_string()),
    }
}

fn told(
    feature: &str,
    direction: Direction,
    (name_en, name_zh): (&str, &str),
    from: &serde_json::Value,
    to: &serde_json::Value,
    d: &Decision,
) -> Counterfactual {
    let (to_text, limit) = (shown(to), grouped(&d.limit.to_string()));
    let rate = d
        .annual_rate
        .map(|r| (r * Decimal::from(100)).round_dp(2).to_string());
    let rate_en = rate
        .as_ref()
        .map(|r| format!(" at {r}% a year"))
        .unwrap_or_default();
    let rate_zh = rate
        .as_ref()
        .map(|r| format!("，年利率{r}%"))
        .unwrap_or_default();
    let (message_en, message_zh) = match direction {
        Direction::Increase => (
            format!(
                "with {name_en} of at least {to_text} (now {}) the household would be approved at {limit}{rate_en}",
                shown(from)
            ),
            format!(
                "若{name_zh}不低于{to_text}（现为{}），该农户可获批准，额度{limit}元{rate_zh}",
                shown(from)
            ),
        ),
        Direction::Decrease => (
            format!(
                "with {name_en} of at most {to_text} (now {}) the household would be approved at {limit}{rate_en}",
                shown(from)
            ),
            format!(
                "若{name_zh}不高于{to_text}（现为{}），该农户可获批准，额度{limit}元{rate_zh}",
                shown(from)
            ),
        ),
        Direction::Better => (
            format!(
                "with a {name_en} of {to_text} (now {}) the household would be approved at {limit}{rate_en}",
                shown(from)
            ),
            format!(
                "若{name_zh}为{to_text}（现为{}），该农户可获批准，额度{limit}元{rate_zh}",
                shown(from)
            ),
        ),
    };
    Counterfactual {
        feature: feature.to_string(),
        direction,
        from: from.clone(),
        to: to.clone(),
        outcome: d.decision,
        limit: d.limit,
        annual_rate: d.annual_rate,
        message_en,
        message_zh,
    }
}

/// The suggestions as a section of an explanation, in one language.
pub fn describe(found: &[Counterfactual], lang: crate::Lang) -> String {
    let mut out = String::new();
    if found.is_empty() {
        return out;
    }
    match lang {
        crate::Lang::Zh => out.push_str("\n如何可获批准（每次只改变一项可改变的信息，已按同一政策重新评估验证）：\n"),
        _ => out.push_str(
            "\nWhat would have it approved (one actionable feature changed at a time, each checked by deciding the changed request under the same policy):\n",
        ),
    }
    for c in found {
        let line = match lang {
            crate::Lang::Zh => &c.message_zh,
            _ => &c.message_en,
        };
        out.push_str("  - ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
