//! Compiles a scorecard: parses bin intervals and checks that every
//! characteristic's bins cover its feature's domain without overlap.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::error::Issues;
use crate::expr::{EValue, Expect, Expr, Layout, Num, Slots, VarType, as_decimal};
use crate::model::ScorecardDoc;
use crate::model::scorecard::{
    BinDef, CompareOp, ExpressionSemantics, Predicate, ReasonCodeAlgorithm,
};

use super::schema::Schema;
use super::{Phase, compile_card_expr};

/// A numeric interval with explicit ends; `None` is infinite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Lower end; `None` is minus infinity.
    pub lo: Option<Decimal>,
    /// The lower end belongs to the interval (`[`).
    pub lo_closed: bool,
    /// Upper end; `None` is infinity.
    pub hi: Option<Decimal>,
    /// The upper end belongs to the interval (`]`).
    pub hi_closed: bool,
}

impl Interval {
    /// Parses `[18, 25)`, `(-inf, 0]`, `[65, inf)`.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let expected =
            || format!("expected an interval such as `[18, 25)` or `(-inf, 0]`, found `{text}`");
        let t = text.trim();
        let lo_closed = match t.chars().next() {
            Some('[') => true,
            Some('(') => false,
            _ => return Err(expected()),
        };
        let hi_closed = match t.chars().last() {
            Some(']') => true,
            Some(')') => false,
            _ => return Err(expected()),
        };
        let inner = &t[1..t.len() - 1];
        let (a, b) = inner.split_once(',').ok_or_else(expected)?;
        let bound = |s: &str, inf: &str| -> Result<Option<Decimal>, String> {
            let s = s.trim();
            if s == inf || (inf == "inf" && s == "+inf") {
                Ok(None)
            } else {
                s.parse::<Decimal>().map(Some).map_err(|_| expected())
            }
        };
        let lo = bound(a, "-inf")?;
        let hi = bound(b, "inf")?;
        if (lo.is_none() && lo_closed) || (hi.is_none() && hi_closed) {
            return Err(format!("an infinite end must be open: `{text}`"));
        }
        if let (Some(l), Some(h)) = (lo, hi)
            && (l > h || (l == h && !(lo_closed && hi_closed)))
        {
            return Err(format!("interval `{text}` is empty"));
        }
        Ok(Interval {
            lo,
            lo_closed,
            hi,
            hi_closed,
        })
    }

    /// Whether `x` lies in the interval.
    pub fn contains(&self, x: Decimal) -> bool {
        let above = match self.lo {
            None => true,
            Some(lo) => x > lo || (self.lo_closed && x == lo),
        };
        let below = match self.hi {
            None => true,
            Some(hi) => x < hi || (self.hi_closed && x == hi),
        };
        above && below
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lo = self.lo.map_or("-inf".to_string(), |d| d.to_string());
        let hi = self.hi.map_or("inf".to_string(), |d| d.to_string());
        write!(
            f,
            "{}{lo}, {hi}{}",
            if self.lo_closed { '[' } else { '(' },
            if self.hi_closed { ']' } else { ')' }
        )
    }
}

/// What a bin holds.
#[derive(Clone, Debug)]
pub enum BinTest {
    /// Numeric values in the interval.
    Interval(Interval),
    /// These enum or string values, or `true` / `false`.
    Categories(Vec<String>),
    /// An absent value.
    Missing,
    /// A present value that no other bin holds.
    Otherwise,
    /// Inputs for which the condition is true; the first such bin wins.
    Predicate(Pred),
}

/// A compiled [`Predicate`]: fields bound to slots, values typed.
#[derive(Clone, Debug)]
pub enum Pred {
    /// Always true or always false.
    Const(bool),
    /// A field compared with a value; unknown when the field is absent.
    Compare {
        /// The field's slot.
        slot: usize,
        /// The comparison.
        op: CompareOp,
        /// The value compared with, typed as the field.
        value: EValue,
    },
    /// Whether a field is absent (present, with `negate`); never unknown.
    Missing {
        /// The field's slot.
        slot: usize,
        /// Tests presence instead.
        negate: bool,
    },
    /// Whether a field's value is among `values` (not among them, with
    /// `negate`); unknown when the field is absent.
    In {
        /// The field's slot.
        slot: usize,
        /// The values, typed as the field.
        values: Vec<EValue>,
        /// Tests that the value is not among `values`.
        negate: bool,
    },
    /// True when every operand is true, false when any is false, else unknown.
    And(Vec<Pred>),
    /// True when any operand is true, false when every one is false, else
    /// unknown.
    Or(Vec<Pred>),
    /// True when an odd number of operands are true; unknown when any is.
    Xor(Vec<Pred>),
    /// The first operand that is not unknown decides.
    Surrogate(Vec<Pred>),
}

impl Pred {
    /// Adds the slots the predicate reads to `out`.
    pub fn slots(&self, out: &mut Vec<usize>) {
        match self {
            Pred::Const(_) => {}
            Pred::Compare { slot, .. } | Pred::Missing { slot, .. } | Pred::In { slot, .. } => {
                out.push(*slot)
            }
            Pred::And(ps) | Pred::Or(ps) | Pred::Xor(ps) | Pred::Surrogate(ps) => {
                for p in ps {
                    p.slots(out);
                }
            }
        }
    }

    /// PMML three-valued logic: `None` is unknown.
    pub fn eval(&self, slots: &Slots) -> Option<bool> {
        let same = |a: &EValue, b: &EValue| match (as_decimal(a), as_decimal(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        };
        match self {
            Pred::Const(b) => Some(*b),
            Pred::Missing { slot, negate } => Some(slots.is_missing(*slot) != *negate),
            Pred::Compare { slot, op, value } => {
                let v = slots.get(*slot);
                if v.is_empty() {
                    return None;
                }
                let ordering = match (as_decimal(v), as_decimal(value)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    _ => match (v, value) {
                        (EValue::String(a), EValue::String(b)) => a.cmp(b),
                        (EValue::Boolean(a), EValue::Boolean(b))
                            if matches!(op, CompareOp::Equal | CompareOp::NotEqual) =>
                        {
                            a.cmp(b)
                        }
                        _ => return None,
                    },
                };
                Some(match op {
                    CompareOp::Equal => ordering.is_eq(),
                    CompareOp::NotEqual => !ordering.is_eq(),
                    CompareOp::LessThan => ordering.is_lt(),
                    CompareOp::LessOrEqual => ordering.is_le(),
                    CompareOp::GreaterThan => ordering.is_gt(),
                    CompareOp::GreaterOrEqual => ordering.is_ge(),
                })
            }
            Pred::In {
                slot,
                values,
                negate,
            } => {
                let v = slots.get(*slot);
                if v.is_empty() {
                    return None;
                }
                Some(values.iter().any(|x| same(v, x)) != *negate)
            }
            Pred::And(ps) => {
                let mut unknown = false;
                for p in ps {
                    match p.eval(slots) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                if unknown { None } else { Some(true) }
            }
            Pred::Or(ps) => {
                let mut unknown = false;
                for p in ps {
                    match p.eval(slots) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                if unknown { None } else { Some(false) }
            }
            Pred::Xor(ps) => {
                let mut acc = false;
                for p in ps {
                    acc ^= p.eval(slots)?;
                }
                Some(acc)
            }
            Pred::Surrogate(ps) => ps.iter().find_map(|p| p.eval(slots)),
        }
    }
}

/// One bin of a characteristic, ready to score.
#[derive(Clone, Debug)]
pub struct Bin {
    /// How the trace names the bin, e.g. `[25, 35)` or `missing`.
    pub label: Arc<str>,
    /// Which values fall in the bin.
    pub test: BinTest,
    /// The points a household in this bin scores.
    pub points: Decimal,
    /// Points computed from inputs (PMML `ComplexPartialScore`).
    pub points_expr: Option<Expr>,
    /// This bin's own reason code.
    pub reason_code: Option<Arc<str>>,
}

/// One characteristic ready to score: a feature and its bins.
#[derive(Clone, Debug)]
pub struct Characteristic {
    /// The characteristic's name, e.g. `age`, as the trace and reasons name it.
    pub name: Arc<str>,
    /// The feature or derived feature it reads.
    pub feature: Arc<str>,
    /// Where that feature's value is bound.
    pub slot: usize,
    /// The code reported when this characteristic costs points.
    pub reason_code: Arc<str>,
    /// The points reason codes are measured from.
    pub baseline: Decimal,
    /// The reason in Chinese.
    pub message_zh: String,
    /// The reason in English.
    pub message_en: String,
    /// The bins, in document order.
    pub bins: Vec<Bin>,
    /// Bins are tried in order and the first that holds the value wins
    /// (when any bin is a predicate); otherwise bins never overlap.
    pub first_match: bool,
}

impl Characteristic {
    /// The index of the bin the inputs fall in.
    pub fn bin_in(&self, slots: &Slots) -> Option<usize> {
        if !self.first_match {
            return self.bin_of(slots.get(self.slot));
        }
        let value = slots.get(self.slot);
        self.bins.iter().position(|b| match &b.test {
            BinTest::Predicate(p) => p.eval(slots) == Some(true),
            BinTest::Missing => value.is_empty(),
            BinTest::Otherwise => !value.is_empty(),
            _ => self
                .bin_of(value)
                .is_some_and(|i| std::ptr::eq(&self.bins[i], b)),
        })
    }

    /// The index of the bin `value` falls in (`Empty` is missing), for a
    /// characteristic of non-overlapping bins over its one feature.
    pub fn bin_of(&self, value: &EValue) -> Option<usize> {
        let is = |pred: &dyn Fn(&BinTest) -> bool| self.bins.iter().position(|b| pred(&b.test));
        if value.is_empty() {
            return is(&|t| matches!(t, BinTest::Missing));
        }
        let found = match value {
            EValue::Boolean(b) => {
                let text = if *b { "true" } else { "false" };
                is(&|t| matches!(t, BinTest::Categories(c) if c.iter().any(|v| v == text)))
            }
            EValue::String(s) => {
                is(&|t| matches!(t, BinTest::Categories(c) if c.iter().any(|v| v == s)))
            }
            other => as_decimal(other)
                .and_then(|x| is(&|t| matches!(t, BinTest::Interval(i) if i.contains(x)))),
        };
        found.or_else(|| is(&|t| matches!(t, BinTest::Otherwise)))
    }
}

/// A compiled scorecard: base points and characteristics, ready to score.
#[derive(Clone, Debug)]
pub struct Scorecard {
    /// Values used in place of missing inputs before any bin is tested.
    pub replacements: Vec<(usize, EValue)>,
    /// The card's own derived values, computed in order after the
    /// replacements and before any bin is tested.
    pub derived: Vec<super::card_derived::CardDerived>,
    /// Its expressions follow PMML's missing-value rules
    /// ([`crate::expr::Expr::eval_pmml`]).
    pub pmml: bool,
    /// The scorecard document's id.
    pub id: String,
    /// The scorecard document's version.
    pub version: String,
    /// Points every household starts with.
    pub base_points: Decimal,
    /// How reason codes are ranked from each characteristic's points and
    /// baseline.
    pub algorithm: ReasonCodeAlgorithm,
    /// A characteristic scoring exactly its baseline still reports its reason
    /// code.
    pub count_zero_differences: bool,
    /// How many scorecard reasons a decision reports.
    pub max_reason_codes: usize,
    /// The characteristics, in document order.
    pub characteristics: Vec<Characteristic>,
}

fn bin_test(bin: &BinDef, layout: &Layout) -> Result<BinTest, String> {
    let kinds = [
        bin.interval.is_some(),
        bin.categories.is_some(),
        bin.missing,
        bin.otherwise,
        bin.predicate.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(
            "a bin needs exactly one of `interval`, `categories`, `missing: true`, `else: true` or `predicate`"
                .to_string(),
        );
    }
    Ok(if let Some(p) = &bin.predicate {
        BinTest::Predicate(compile_predicate(p, layout)?)
    } else if let Some(i) = &bin.interval {
        BinTest::Interval(Interval::parse(i)?)
    } else if let Some(c) = &bin.categories {
        if c.is_empty() {
            return Err("`categories` must list at least one value".to_string());
        }
        BinTest::Categories(c.clone())
    } else if bin.missing {
        BinTest::Missing
    } else {
        BinTest::Otherwise
    })
}

fn compile_predicate(p: &Predicate, layout: &Layout) -> Result<Pred, String> {
    let slot = |field: &str| {
        layout
            .slot(field)
            .ok_or_else(|| format!("predicate on unknown field `{field}`"))
    };
    let typed = |slot: usize, text: &str| -> Result<EValue, String> {
        let var = layout.var(slot);
        match var.ty {
            VarType::Int | VarType::Decimal => Decimal::from_str_exact(text.trim())
                .or_else(|_| Decimal::from_scientific(text.trim()))
                .map(|d| EValue::Float(Num(d)))
                .map_err(|_| {
                    format!(
                        "`{}` is numeric but the predicate compares it with `{text}`",
                        var.name
                    )
                }),
            VarType::Bool => match text.trim() {
                "true" | "1" => Ok(EValue::Boolean(true)),
                "false" | "0" => Ok(EValue::Boolean(false)),
                other => Err(format!(
                    "`{}` is a bool but the predicate compares it with `{other}`",
                    var.name
                )),
            },
            VarType::Text => Ok(EValue::String(text.to_string())),
        }
    };
    let all = |ps: &[Predicate]| {
        ps.iter()
            .map(|p| compile_predicate(p, layout))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match p {
        Predicate::True => Pred::Const(true),
        Predicate::False => Pred::Const(false),
        Predicate::Compare { field, op, value } => {
            let s = slot(field)?;
            Pred::Compare {
                slot: s,
                op: *op,
                value: typed(s, value)?,
            }
        }
        Predicate::IsMissing { field } => Pred::Missing {
            slot: slot(field)?,
            negate: false,
        },
        Predicate::IsNotMissing { field } => Pred::Missing {
            slot: slot(field)?,
            negate: true,
        },
        Predicate::IsIn { field, values } | Predicate::IsNotIn { field, values } => {
            let s = slot(field)?;
            Pred::In {
                slot: s,
                values: values
                    .iter()
                    .map(|v| typed(s, v))
                    .collect::<Result<_, _>>()?,
                negate: matches!(p, Predicate::IsNotIn { .. }),
            }
        }
        Predicate::And(ps) => Pred::And(all(ps)?),
        Predicate::Or(ps) => Pred::Or(all(ps)?),
        Predicate::Xor(ps) => Pred::Xor(all(ps)?),
        Predicate::Surrogate(ps) => Pred::Surrogate(all(ps)?),
    })
}

/// The integers an interval holds, as a closed range (`None` ends are
/// unbounded), or `None` when it holds none.
fn integer_range(i: &Interval) -> Option<(Option<Decimal>, Option<Decimal>)> {
    let lo = i.lo.map(|l| {
        if i.lo_closed {
            l.ceil()
        } else {
            l.floor() + Decimal::ONE
        }
    });
    let hi = i.hi.map(|h| {
        if i.hi_closed {
            h.floor()
        } else {
            h.ceil() - Decimal::ONE
        }
    });
    match (lo, hi) {
        (Some(l), Some(h)) if l > h => None,
        r => Some(r),
    }
}

/// Checks numeric bins for overlaps and, without an `else` bin, for gaps in
/// `[min, max]` (the feature's declared range; unbounded when undeclared).
pub(super) fn check_intervals(
    bins: &[(usize, &Interval)],
    integer: bool,
    domain: (Option<Decimal>, Option<Decimal>),
    has_else: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut sorted: Vec<(usize, &Interval)> = bins.to_vec();
    let lo_key = |i: &Interval| (i.lo.is_some(), i.lo, !i.lo_closed);
    sorted.sort_by_key(|a| lo_key(a.1));
    for pair in sorted.windows(2) {
        let ((ia, a), (ib, b)) = (pair[0], pair[1]);
        let overlap = match (a.hi, b.lo) {
            (None, _) | (_, None) => true,
            (Some(h), Some(l)) => h > l || (h == l && a.hi_closed && b.lo_closed),
        };
        if overlap {
            problems.push(format!("bins[{ia}] {a} and bins[{ib}] {b} overlap"));
            continue;
        }
        if has_else {
            continue;
        }
        let gap = if integer {
            match (integer_range(a), integer_range(b)) {
                (Some((_, Some(h))), Some((Some(l), _))) => l > h + Decimal::ONE,
                _ => false,
            }
        } else {
            a.hi == b.lo && !a.hi_closed && !b.lo_closed || a.hi < b.lo
        };
        if gap {
            problems.push(format!(
                "gap between bins[{ia}] {a} and bins[{ib}] {b}: values there fall in no bin"
            ));
        }
    }
    if has_else {
        return problems;
    }
    let (dmin, dmax) = domain;
    if let Some((i, first)) = sorted.first() {
        let uncovered_low = match (first.lo, dmin) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(l), Some(m)) => l > m || (l == m && !first.lo_closed),
        };
        if uncovered_low {
            let from = dmin.map_or("-inf".to_string(), |d| d.to_string());
            problems.push(format!("values from {from} up to bins[{i}] {first} fall in no bin (add a bin or an else bin)"));
        }
    }
    if let Some((i, last)) = sorted.last() {
        let uncovered_high = match (last.hi, dmax) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(h), Some(m)) => h < m || (h == m && !last.hi_closed),
        };
        if uncovered_high {
            let to = dmax.map_or("inf".to_string(), |d| d.to_string());
            problems.push(format!(
                "values above bins[{i}] {last} up to {to} fall in no bin (add a bin or an else bin)"
            ));
        }
    }
    problems
}

pub(super) fn compile(
    doc: &ScorecardDoc,
    source: &str,
    layout: &mut Layout,
    schema: &Schema,
    issues: &mut Issues,
) -> Scorecard {
    let pmml = doc.expression_semantics == ExpressionSemantics::Pmml;
    let derived = super::card_derived::compile(&doc.derived, source, layout, pmml, issues);
    let layout = &*layout;
    let mut characteristics: Vec<Characteristic> = Vec::new();
    if doc.characteristics.is_empty() {
        issues.push(
            source,
            "characteristics",
            "a scorecard needs at least one characteristic",
        );
    }
    for (ci, c) in doc.characteristics.iter().enumerate() {
        let place = format!("characteristics[{ci}] {}", c.name);
        if characteristics.iter().any(|o| *o.name == *c.name) {
            issues.push(
                source,
                &place,
                format!("characteristic name `{}` is used twice", c.name),
            );
        }
        let Some(slot) = layout.slot(&c.feature) else {
            issues.push(
                source,
                format!("{place}.feature"),
                format!(
                    "unknown feature `{}`: expected a feature of the schema or a derived feature",
                    c.feature
                ),
            );
            continue;
        };
        let var = layout.var(slot);
        if var.phase != Phase::Input as u8 {
            issues.push(
                source,
                format!("{place}.feature"),
                format!("`{}` is not known before scoring", c.feature),
            );
            continue;
        }
        let (domain, enum_values) =
            match schema.by_name.get(&c.feature).map(|&i| &schema.features[i]) {
                Some(f) => ((f.min, f.max), Some(&f.values).filter(|v| !v.is_empty())),
                None => ((None, None), None),
            };
        let first_match = c.bins.iter().any(|b| b.predicate.is_some());
        let mut bins = Vec::new();
        let mut intervals = Vec::new();
        let mut seen_categories: Vec<(String, usize)> = Vec::new();
        let (mut missing_bins, mut else_bins) = (0, 0);
        for (bi, b) in c.bins.iter().enumerate() {
            let bplace = format!("{place}.bins[{bi}]");
            let test = match bin_test(b, layout) {
                Ok(t) => t,
                Err(e) => {
                    issues.push(source, &bplace, e);
                    continue;
                }
            };
            match &test {
                BinTest::Interval(i) => {
                    if !matches!(var.ty, VarType::Int | VarType::Decimal) {
                        issues.push(
                            source,
                            &bplace,
                            format!(
                                "`{}` is a {}: use `categories`, not `interval`",
                                c.feature,
                                var.ty.name()
                            ),
                        );
                    }
                    intervals.push((bi, i.clone()));
                }
                BinTest::Categories(values) => {
                    if !matches!(var.ty, VarType::Text | VarType::Bool) {
                        issues.push(
                            source,
                            &bplace,
                            format!(
                                "`{}` is numeric: use `interval`, not `categories`",
                                c.feature
                            ),
                        );
                    }
                    for v in values {
                        if var.ty == VarType::Bool && v != "true" && v != "false" {
                            issues.push(
                                source,
                                &bplace,
                                format!(
                                    "`{v}` is not a bool value: expected \"true\" or \"false\""
                                ),
                            );
                        }
                        if let Some(allowed) = enum_values
                            && !allowed.contains(v)
                        {
                            issues.push(
                                source,
                                &bplace,
                                format!(
                                    "`{v}` is not a value of `{}` (expected one of {})",
                                    c.feature,
                                    allowed.join(", ")
                                ),
                            );
                        }
                        if let Some((_, other)) = seen_categories.iter().find(|(s, _)| s == v) {
                            issues.push(
                                source,
                                &bplace,
                                format!("category `{v}` is also in bins[{other}]: bins overlap"),
                            );
                        }
                        seen_categories.push((v.clone(), bi));
                    }
                }
                BinTest::Missing => missing_bins += 1,
                BinTest::Otherwise => else_bins += 1,
                BinTest::Predicate(_) => {}
            }
            let label = b.label.clone().unwrap_or_else(|| match &test {
                BinTest::Interval(i) => i.to_string(),
                BinTest::Categories(c) => c.join(","),
                BinTest::Missing => "missing".to_string(),
                BinTest::Otherwise => "else".to_string(),
                BinTest::Predicate(_) => format!("attribute {}", bi + 1),
            });
            let points_expr = match &b.points_expression {
                Some(e) => match compile_card_expr(e, layout, Expect::Number, pmml) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        issues.push(source, format!("{bplace}.points_expression"), e);
                        continue;
                    }
                },
                None => None,
            };
            bins.push(Bin {
                label: label.into(),
                test,
                points: b.points,
                points_expr,
                reason_code: b.reason_code.as_deref().map(Arc::from),
            });
        }
        if missing_bins > 1 || else_bins > 1 {
            issues.push(source, &place, "at most one missing bin and one else bin");
        }
        if first_match {
            // PMML semantics: bins are tried in order; a row that matches
            // none is an error, so there is no coverage to check.
        } else if var.optional && missing_bins == 0 {
            issues.push(
                source,
                &place,
                format!(
                    "`{}` may be absent but no bin has `missing: true`",
                    c.feature
                ),
            );
        }
        let refs: Vec<(usize, &Interval)> = intervals.iter().map(|(i, iv)| (*i, iv)).collect();
        if first_match {
        } else if matches!(var.ty, VarType::Int | VarType::Decimal) {
            if intervals.is_empty() && else_bins == 0 {
                issues.push(
                    source,
                    &place,
                    "a numeric characteristic needs interval bins or an else bin",
                );
            }
            for p in check_intervals(&refs, var.ty == VarType::Int, domain, else_bins > 0) {
                issues.push(source, &place, p);
            }
        } else if else_bins == 0 {
            let all: Vec<String> = match (var.ty, enum_values) {
                (VarType::Bool, _) => vec!["true".into(), "false".into()],
                (_, Some(values)) => values.clone(),
                _ => {
                    issues.push(
                        source,
                        &place,
                        format!("`{}` is free text: add an else bin", c.feature),
                    );
                    Vec::new()
                }
            };
            let uncovered: Vec<&String> = all
                .iter()
                .filter(|v| !seen_categories.iter().any(|(s, _)| s == *v))
                .collect();
            if !uncovered.is_empty() {
                issues.push(
                    source,
                    &place,
                    format!(
                        "values {} fall in no bin (add them to a bin or add an else bin)",
                        uncovered
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        characteristics.push(Characteristic {
            name: c.name.as_str().into(),
            feature: c.feature.as_str().into(),
            slot,
            reason_code: c.reason_code.as_str().into(),
            baseline: c.baseline,
            message_zh: c.message_zh.clone(),
            message_en: c.message_en.clone(),
            bins,
            first_match,
        });
    }
    let mut replacements = Vec::new();
    for (i, f) in doc.fields.iter().enumerate() {
        let Some(text) = &f.missing_value_replacement else {
            continue;
        };
        let place = format!("fields[{i}] {}", f.name);
        match layout.slot(&f.name) {
            Some(slot) => match layout.var(slot).ty {
                VarType::Int | VarType::Decimal => match Decimal::from_str_exact(text) {
                    Ok(d) => replacements.push((slot, EValue::Float(Num(d)))),
                    Err(_) => issues.push(
                        source,
                        &place,
                        format!("replacement `{text}` is not a number"),
                    ),
                },
                VarType::Bool => match text.as_str() {
                    "true" | "1" => replacements.push((slot, EValue::Boolean(true))),
                    "false" | "0" => replacements.push((slot, EValue::Boolean(false))),
                    _ => issues.push(
                        source,
                        &place,
                        format!("replacement `{text}` is not true or false"),
                    ),
                },
                VarType::Text => replacements.push((slot, EValue::String(text.clone()))),
            },
            None => issues.push(source, &place, "not an input of this scorecard"),
        }
    }
    // Only the derived values the card reads (through its bins or other
    // derived values) are computed, as PMML evaluates a DerivedField only
    // when it is referenced: an exporter's unused field cannot fail a row.
    let mut read: Vec<usize> = Vec::new();
    for c in &characteristics {
        read.push(c.slot);
        for b in &c.bins {
            if let BinTest::Predicate(p) = &b.test {
                p.slots(&mut read);
            }
            if let Some(e) = &b.points_expr {
                read.extend_from_slice(e.reads());
            }
        }
    }
    let mut used = vec![false; derived.len()];
    for (i, d) in derived.iter().enumerate().rev() {
        if read.contains(&d.slot) {
            used[i] = true;
            read.extend(d.inputs.iter().map(|(_, s)| *s));
        }
    }
    let mut used = used.into_iter();
    let mut derived = derived;
    derived.retain(|_| used.next().unwrap_or(false));
    Scorecard {
        replacements,
        derived,
        pmml,
        id: doc.id.clone(),
        version: doc.version.clone(),
        base_points: doc.base_points,
        algorithm: doc.reason_code_algorithm,
        count_zero_differences: doc.count_zero_differences,
        max_reason_codes: doc.max_reason_codes,
        characteristics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(s: &str) -> Interval {
        Interval::parse(s).unwrap()
    }

    #[test]
    fn intervals_parse_with_explicit_ends() {
        let i = iv("[18, 25)");
        assert!(i.contains(Decimal::from(18)) && !i.contains(Decimal::from(25)));
        assert!(iv("(-inf, 0]").contains(Decimal::from(-5)));
        assert!(
            Interval::parse("[-inf, 0]")
                .unwrap_err()
                .contains("must be open")
        );
        assert!(
            Interval::parse("18-25")
                .unwrap_err()
                .contains("expected an interval")
        );
        assert!(Interval::parse("[5, 5)").unwrap_err().contains("empty"));
    }

    #[test]
    fn overlaps_and_gaps_are_named() {
        let (a, b, c) = (iv("[18, 30)"), iv("[29, 40)"), iv("[41, 66)"));
        let p = check_intervals(
            &[(0, &a), (1, &b), (2, &c)],
            false,
            (Some(18.into()), Some(65.into())),
            false,
        );
        assert_eq!(
            p,
            vec![
                "bins[0] [18, 30) and bins[1] [29, 40) overlap".to_string(),
                "gap between bins[1] [29, 40) and bins[2] [41, 66): values there fall in no bin"
                    .to_string(),
            ]
        );
        // Integers: [18, 29] and [30, 40] leave no integer out.
        let (d, e) = (iv("[18, 29]"), iv("[30, 65]"));
        assert!(
            check_intervals(
                &[(0, &d), (1, &e)],
                true,
                (Some(18.into()), Some(65.into())),
                false
            )
            .is_empty()
        );
        assert_eq!(
            check_intervals(
                &[(0, &d), (1, &e)],
                false,
                (Some(18.into()), Some(65.into())),
                false
            )
            .len(),
            1
        );
        // Uncovered domain ends.
        let p = check_intervals(&[(0, &e)], true, (Some(18.into()), None), false);
        assert_eq!(p.len(), 2);
    }
}
