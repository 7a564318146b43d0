//! A scorecard's own derived values (PMML `DerivedField`s): an expression,
//! a discretisation, a value map or a piecewise-linear normalisation,
//! computed in order after the card's missing-value replacements and before
//! any bin is tested. Only the card reads them.

use std::fmt::Write as _;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::error::Issues;
use crate::expr::{EValue, Expect, Expr, Layout, Num, Slots, Var, VarKind, VarType, as_decimal};
use crate::model::scorecard::{CardDerivedDef, CardValueType, Outliers};

use super::scorecard::Interval;
use super::{Phase, compile_card_expr};

/// How a derived value is computed from its inputs.
#[derive(Clone, Debug)]
pub enum Transform {
    /// A formula.
    Expr {
        /// The formula.
        expr: Expr,
        /// Evaluated with PMML's missing-value rules: an input missing
        /// inside may still give a value (`min`, `if`, `is_missing`).
        pmml: bool,
    },
    /// The value of the first interval holding the input.
    Discretize {
        /// The input's slot.
        slot: usize,
        /// The intervals in order, each with its value.
        bins: Vec<(Interval, EValue)>,
    },
    /// The value of the first row whose keys equal the inputs.
    MapValues {
        /// The inputs' slots, in key order.
        slots: Vec<usize>,
        /// The rows: keys typed as the inputs, and the value.
        rows: Vec<(Vec<EValue>, EValue)>,
    },
    /// Straight lines between points of increasing `orig`.
    Norm {
        /// The input's slot.
        slot: usize,
        /// `(orig, norm)` points, `orig` increasing.
        points: Vec<(Decimal, Decimal)>,
        /// What an input outside the points gives.
        outliers: Outliers,
    },
}

/// A compiled [`CardDerivedDef`].
#[derive(Clone, Debug)]
pub struct CardDerived {
    /// The name the card's bins read.
    pub name: Arc<str>,
    /// Where the value is bound.
    pub slot: usize,
    /// The value's type.
    pub ty: VarType,
    /// How it is computed.
    pub transform: Transform,
    /// The value when an input is missing (`Empty` keeps it missing).
    pub map_missing_to: EValue,
    /// The value when the inputs give none (`Empty` keeps it missing).
    pub default_value: EValue,
    /// The inputs' names and slots, for the trace.
    pub inputs: Vec<(Arc<str>, usize)>,
    /// How the trace shows the computation.
    pub source: Arc<str>,
}

/// An evaluation of a derived value that could not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeriveFailure(pub String);

impl CardDerived {
    /// Whether an input the value needs is missing in `slots` (then the
    /// value is `map_missing_to`). Under PMML's rules, an input of the
    /// outermost operation.
    pub fn input_missing(&self, slots: &Slots) -> Result<bool, DeriveFailure> {
        Ok(match &self.transform {
            Transform::Expr { expr, pmml: true } => expr
                .pmml_input_missing(slots)
                .map_err(|f| DeriveFailure(f.0))?,
            Transform::Expr { expr, .. } => !expr.missing(slots).is_empty(),
            Transform::Discretize { slot, .. } | Transform::Norm { slot, .. } => {
                slots.is_missing(*slot)
            }
            Transform::MapValues { slots: keys, .. } => keys.iter().any(|&s| slots.is_missing(s)),
        })
    }

    /// The value over `slots` (`Empty` when missing).
    pub fn eval(&self, slots: &Slots) -> Result<EValue, DeriveFailure> {
        // PMML evaluates an Apply over missing arguments unless it maps
        // them (`min`, `if` and `is_missing` may still give a value).
        let evaluates_missing = matches!(self.transform, Transform::Expr { pmml: true, .. })
            && self.map_missing_to.is_empty();
        if !evaluates_missing && self.input_missing(slots)? {
            return Ok(self.map_missing_to.clone());
        }
        let value = match &self.transform {
            Transform::Expr { expr, pmml: true } => {
                match expr.eval_pmml(slots).map_err(|f| DeriveFailure(f.0))? {
                    EValue::Empty => EValue::Empty,
                    v => self.shape(v)?,
                }
            }
            Transform::Expr { expr, .. } => {
                let v = expr.eval(slots).map_err(|f| DeriveFailure(f.0))?;
                self.shape(v)?
            }
            Transform::Discretize { slot, bins } => {
                let x = self.number(slots, *slot)?;
                bins.iter()
                    .find(|(i, _)| i.contains(x))
                    .map_or(EValue::Empty, |(_, v)| v.clone())
            }
            Transform::MapValues { slots: keys, rows } => rows
                .iter()
                .find(|(row, _)| row.iter().zip(keys).all(|(k, &s)| same(k, slots.get(s))))
                .map_or(EValue::Empty, |(_, v)| v.clone()),
            Transform::Norm {
                slot,
                points,
                outliers,
            } => {
                let x = self.number(slots, *slot)?;
                match normalise(x, points, *outliers) {
                    Some(Ok(y)) => EValue::Float(Num(y)),
                    Some(Err(())) => {
                        return Err(DeriveFailure(format!(
                            "normalising {x} overflows an exact decimal"
                        )));
                    }
                    None => EValue::Empty,
                }
            }
        };
        Ok(if value.is_empty() {
            self.default_value.clone()
        } else {
            value
        })
    }

    fn number(&self, slots: &Slots, slot: usize) -> Result<Decimal, DeriveFailure> {
        let v = slots.get(slot);
        as_decimal(v).ok_or_else(|| {
            DeriveFailure(format!(
                "expected a number, found {}",
                crate::decision::trace_value(v)
            ))
        })
    }

    /// Brings an expression's result to the declared type.
    fn shape(&self, v: EValue) -> Result<EValue, DeriveFailure> {
        let wrong = |v: &EValue| {
            DeriveFailure(format!(
                "produced {}, expected {}",
                crate::decision::trace_value(v),
                match self.ty {
                    VarType::Bool => "true or false",
                    VarType::Int => "a whole number",
                    VarType::Decimal => "a number",
                    VarType::Text => "text",
                }
            ))
        };
        Ok(match (self.ty, v) {
            (VarType::Bool, v @ EValue::Boolean(_)) | (VarType::Text, v @ EValue::String(_)) => v,
            (VarType::Decimal, v) => EValue::Float(Num(as_decimal(&v).ok_or_else(|| wrong(&v))?)),
            (VarType::Int, v) => {
                let whole = as_decimal(&v)
                    .filter(|d| d.fract().is_zero())
                    .and_then(|d| i64::try_from(d).ok());
                EValue::Int(whole.ok_or_else(|| wrong(&v))?)
            }
            (_, v) => return Err(wrong(&v)),
        })
    }
}

/// Equality of a table key and an input: numerically for numbers.
fn same(key: &EValue, value: &EValue) -> bool {
    match (as_decimal(key), as_decimal(value)) {
        (Some(a), Some(b)) => a == b,
        _ => key == value,
    }
}

/// The piecewise-linear value at `x`; `None` for an outlier treated as
/// missing, `Some(Err)` on overflow.
fn normalise(
    x: Decimal,
    points: &[(Decimal, Decimal)],
    outliers: Outliers,
) -> Option<Result<Decimal, ()>> {
    let (Some(&first), Some(&last)) = (points.first(), points.last()) else {
        return None;
    };
    if points.len() < 2 {
        return None;
    }
    let segment = if x < first.0 {
        match outliers {
            Outliers::AsMissingValues => return None,
            Outliers::AsExtremeValues => return Some(Ok(first.1)),
            Outliers::AsIs => (points[0], points[1]),
        }
    } else if x > last.0 {
        match outliers {
            Outliers::AsMissingValues => return None,
            Outliers::AsExtremeValues => return Some(Ok(last.1)),
            Outliers::AsIs => (points[points.len() - 2], last),
        }
    } else {
        let i = points
            .windows(2)
            .position(|w| x <= w[1].0)
            .unwrap_or(points.len() - 2);
        (points[i], points[i + 1])
    };
    let ((o0, n0), (o1, n1)) = segment;
    let y = x
        .checked_sub(o0)
        .zip(n1.checked_sub(n0))
        .and_then(|(dx, dn)| dx.checked_mul(dn))
        .zip(o1.checked_sub(o0))
        .and_then(|(d, span)| d.checked_div(span))
        .and_then(|d| d.checked_add(n0));
    Some(y.ok_or(()))
}

/// A value written as text in the document, typed as `ty`.
fn typed(ty: VarType, text: &str) -> Result<EValue, String> {
    let t = text.trim();
    let number = || Decimal::from_str_exact(t).or_else(|_| Decimal::from_scientific(t));
    match ty {
        VarType::Decimal => number()
            .map(|d| EValue::Float(Num(d)))
            .map_err(|_| format!("`{text}` is not a number")),
        VarType::Int => number()
            .ok()
            .filter(|d| d.fract().is_zero())
            .and_then(|d| i64::try_from(d).ok())
            .map(EValue::Int)
            .ok_or_else(|| format!("`{text}` is not a whole number")),
        VarType::Bool => match t {
            "true" | "1" => Ok(EValue::Boolean(true)),
            "false" | "0" => Ok(EValue::Boolean(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        VarType::Text => Ok(EValue::String(text.to_string())),
    }
}

fn show(v: &EValue) -> String {
    match v {
        EValue::String(s) => format!("\"{s}\""),
        EValue::Empty => "missing".to_string(),
        other => crate::decision::trace_value(other).to_string(),
    }
}

/// Compiles the card's derived values in order, adding each to `layout`
/// (so later ones, bins and points can read it).
pub(super) fn compile(
    defs: &[CardDerivedDef],
    source: &str,
    layout: &mut Layout,
    pmml: bool,
    issues: &mut Issues,
) -> Vec<CardDerived> {
    let mut out = Vec::new();
    for (i, d) in defs.iter().enumerate() {
        let place = format!("derived[{i}] {}", d.name);
        match one(d, layout, pmml) {
            Ok(derived) => out.push(derived),
            Err(problems) => {
                for p in problems {
                    issues.push(source, &place, p);
                }
            }
        }
    }
    out
}

fn one(d: &CardDerivedDef, layout: &mut Layout, pmml: bool) -> Result<CardDerived, Vec<String>> {
    if d.name.trim().is_empty() {
        return Err(vec!["a derived value needs a name".to_string()]);
    }
    let ty = match d.ty {
        CardValueType::Decimal => VarType::Decimal,
        CardValueType::Integer => VarType::Int,
        CardValueType::String => VarType::Text,
        CardValueType::Bool => VarType::Bool,
    };
    let kinds = [
        d.expression.is_some(),
        d.discretize.is_some(),
        d.map_values.is_some(),
        d.norm_continuous.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return Err(vec![
            "a derived value needs exactly one of `expression`, `discretize`, `map_values` or `norm_continuous`".to_string(),
        ]);
    }
    let mut problems = Vec::new();
    let numeric_input = |field: &str, what: &str, problems: &mut Vec<String>| match layout
        .slot(field)
    {
        Some(s) if matches!(layout.var(s).ty, VarType::Int | VarType::Decimal) => Some(s),
        Some(s) => {
            problems.push(format!(
                "{what} reads `{field}`, a {}: expected a number",
                layout.var(s).ty.name()
            ));
            None
        }
        None => {
            problems.push(format!(
                "{what} reads unknown field `{field}`: expected an input or an earlier derived value"
            ));
            None
        }
    };
    let value = |text: &str, what: &str, problems: &mut Vec<String>| {
        typed(ty, text).unwrap_or_else(|e| {
            problems.push(format!("{what}: {e}, expected a {} value", ty.name()));
            EValue::Empty
        })
    };
    let map_missing_to = d
        .map_missing_to
        .as_deref()
        .map_or(EValue::Empty, |t| value(t, "map_missing_to", &mut problems));
    let default_value = d
        .default_value
        .as_deref()
        .map_or(EValue::Empty, |t| value(t, "default_value", &mut problems));

    let mut text = String::new();
    let transform = if let Some(e) = &d.expression {
        let expect = match ty {
            VarType::Int => Expect::Number,
            other => Expect::Type(other),
        };
        text.push_str(e);
        match compile_card_expr(e, layout, expect, pmml) {
            Ok(expr) => Some(Transform::Expr { expr, pmml }),
            Err(e) => {
                problems.push(format!("expression: {e}"));
                None
            }
        }
    } else if let Some(dz) = &d.discretize {
        let slot = numeric_input(&dz.field, "discretize", &mut problems);
        if dz.bins.is_empty() {
            problems.push("discretize needs at least one bin".to_string());
        }
        let _ = write!(text, "discretize({}: ", dz.field);
        let mut bins = Vec::new();
        for (bi, b) in dz.bins.iter().enumerate() {
            let what = format!("discretize.bins[{bi}]");
            let interval = Interval::parse(&b.interval)
                .map_err(|e| problems.push(format!("{what}.interval: {e}")))
                .ok();
            let v = value(&b.value, &format!("{what}.value"), &mut problems);
            if let Some(interval) = interval {
                let _ = write!(
                    text,
                    "{}{interval} -> {}",
                    if bi == 0 { "" } else { ", " },
                    show(&v)
                );
                bins.push((interval, v));
            }
        }
        text.push(')');
        // PMML gives an overlap to the later bin, the engine to the first:
        // refused, so the two never differ.
        let refs: Vec<(usize, &Interval)> = bins.iter().map(|(i, _)| i).enumerate().collect();
        for p in super::scorecard::check_intervals(&refs, false, (None, None), true) {
            problems.push(format!("discretize: {p}"));
        }
        slot.map(|slot| Transform::Discretize { slot, bins })
    } else if let Some(m) = &d.map_values {
        if m.fields.is_empty() {
            problems.push("map_values needs at least one field".to_string());
        }
        let mut slots = Vec::new();
        for f in &m.fields {
            match layout.slot(f) {
                Some(s) => slots.push(s),
                None => problems.push(format!(
                    "map_values reads unknown field `{f}`: expected an input or an earlier derived value"
                )),
            }
        }
        let _ = write!(text, "map_values({}: ", m.fields.join(", "));
        let mut rows = Vec::new();
        for (ri, r) in m.rows.iter().enumerate() {
            let what = format!("map_values.rows[{ri}]");
            if r.keys.len() != m.fields.len() {
                problems.push(format!(
                    "{what}: {} key(s) for {} field(s)",
                    r.keys.len(),
                    m.fields.len()
                ));
                continue;
            }
            if slots.len() != m.fields.len() {
                continue;
            }
            let mut keys = Vec::new();
            for (k, &s) in r.keys.iter().zip(&slots) {
                let var = layout.var(s);
                match typed(var.ty, k) {
                    Ok(v) => keys.push(v),
                    Err(e) => problems.push(format!(
                        "{what}.keys: {e}, expected a {} value of `{}`",
                        var.ty.name(),
                        var.name
                    )),
                }
            }
            let v = value(&r.value, &format!("{what}.value"), &mut problems);
            let _ = write!(
                text,
                "{}{} -> {}",
                if ri == 0 { "" } else { ", " },
                keys.iter().map(show).collect::<Vec<_>>().join(" & "),
                show(&v)
            );
            if let Some(other) = rows.iter().position(|(k, _): &(Vec<EValue>, EValue)| {
                k.iter().zip(&keys).all(|(a, b)| same(a, b))
            }) {
                problems.push(format!(
                    "{what}: the same keys as map_values.rows[{other}] (PMML refuses a value that matches two rows)"
                ));
            }
            rows.push((keys, v));
        }
        text.push(')');
        (slots.len() == m.fields.len()).then_some(Transform::MapValues { slots, rows })
    } else if let Some(n) = &d.norm_continuous {
        let slot = numeric_input(&n.field, "norm_continuous", &mut problems);
        if ty != VarType::Decimal {
            problems.push(format!(
                "norm_continuous gives a decimal, but the type is {}",
                ty.name()
            ));
        }
        let points: Vec<(Decimal, Decimal)> = n.points.iter().map(|p| (p.orig, p.norm)).collect();
        if points.len() < 2 {
            problems.push("norm_continuous needs at least two points".to_string());
        } else if points.windows(2).any(|w| w[0].0 >= w[1].0) {
            problems.push("norm_continuous points must have increasing `orig`".to_string());
        }
        let _ = write!(
            text,
            "norm_continuous({}: {}; outliers {})",
            n.field,
            points
                .iter()
                .map(|(o, v)| format!("{o} -> {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            match n.outliers {
                Outliers::AsIs => "as is",
                Outliers::AsMissingValues => "as missing",
                Outliers::AsExtremeValues => "as extreme values",
            }
        );
        slot.map(|slot| Transform::Norm {
            slot,
            points,
            outliers: n.outliers,
        })
    } else {
        None
    };
    if !map_missing_to.is_empty() {
        let _ = write!(text, "; missing -> {}", show(&map_missing_to));
    }
    if !default_value.is_empty() {
        let _ = write!(text, "; otherwise -> {}", show(&default_value));
    }
    let transform = match transform {
        Some(t) if problems.is_empty() => t,
        _ => return Err(problems),
    };
    let reads: Vec<usize> = match &transform {
        Transform::Expr { expr, .. } => expr.reads().to_vec(),
        Transform::Discretize { slot, .. } | Transform::Norm { slot, .. } => vec![*slot],
        Transform::MapValues { slots, .. } => slots.clone(),
    };
    let input_optional = match &transform {
        Transform::Expr { expr, pmml: false } => expr.may_read_missing(layout),
        _ => reads.iter().any(|&s| layout.var(s).optional),
    };
    let may_give_none = match &transform {
        Transform::Expr { pmml, .. } => *pmml,
        Transform::Norm { outliers, .. } => *outliers == Outliers::AsMissingValues,
        _ => true,
    };
    let optional = (input_optional && map_missing_to.is_empty())
        || (may_give_none && default_value.is_empty());
    let sample = match &transform {
        Transform::Discretize { bins, .. } => bins.first().map(|b| b.1.clone()),
        Transform::MapValues { rows, .. } => rows.first().map(|r| r.1.clone()),
        _ => None,
    }
    .filter(|v| !v.is_empty())
    .unwrap_or(match ty {
        VarType::Bool => EValue::Boolean(true),
        VarType::Int => EValue::Int(1),
        VarType::Decimal => EValue::Float(Num(Decimal::ONE)),
        VarType::Text => EValue::String(String::new()),
    });
    let inputs = reads
        .iter()
        .map(|&s| (layout.var(s).name.clone(), s))
        .collect();
    let slot = layout
        .add(Var {
            name: d.name.as_str().into(),
            ty,
            kind: VarKind::Derived,
            optional,
            sample,
            phase: Phase::Input as u8,
        })
        .map_err(|e| vec![e])?;
    Ok(CardDerived {
        name: d.name.as_str().into(),
        slot,
        ty,
        transform,
        map_missing_to,
        default_value,
        inputs,
        source: text.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: &str) -> Decimal {
        x.parse().unwrap()
    }

    #[test]
    fn normalise_interpolates_and_treats_outliers() {
        let pts = [(d("0"), d("0")), (d("10"), d("0.5")), (d("50"), d("1"))];
        let at = |x: &str, o| normalise(d(x), &pts, o);
        assert_eq!(at("5", Outliers::AsIs), Some(Ok(d("0.25"))));
        assert_eq!(at("10", Outliers::AsIs), Some(Ok(d("0.5"))));
        assert_eq!(at("30", Outliers::AsIs), Some(Ok(d("0.75"))));
        assert_eq!(at("90", Outliers::AsIs), Some(Ok(d("1.5"))));
        assert_eq!(at("-10", Outliers::AsIs), Some(Ok(d("-0.5"))));
        assert_eq!(at("90", Outliers::AsExtremeValues), Some(Ok(d("1"))));
        assert_eq!(at("-1", Outliers::AsExtremeValues), Some(Ok(d("0"))));
        assert_eq!(at("50.1", Outliers::AsMissingValues), None);
        assert_eq!(at("50", Outliers::AsMissingValues), Some(Ok(d("1"))));
    }
}
