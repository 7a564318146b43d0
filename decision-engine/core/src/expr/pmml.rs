//! PMML 4.4's missing-value rules for an expression, as JPMML-Evaluator
//! applies them, for scorecards imported from PMML
//! ([`crate::model::scorecard::ExpressionSemantics::Pmml`]):
//!
//! - arithmetic (`+ - * /`, negation, `trunc`) with a missing operand is
//!   missing;
//! - `min`, `max`, `sum` and `avg` leave missing arguments out, and are
//!   missing when every argument is;
//! - `if` evaluates only the branch its condition takes (no else branch:
//!   missing);
//! - `is_missing` and `is_present` test their argument;
//! - `round` rounds a half up, as Java's `Math.round` (-2.5 to -2);
//! - any other operator or function given a missing value is an error.
//!
//! The values are the same exact decimals as the engine's own evaluation.

use evalexpr::{Context, Node, Operator};
use rust_decimal::Decimal;

use super::exact::{ExactNumbers, Num};
use super::{EValue, EvalFailure, Expr, Slots, as_decimal, describe};

type N = Node<ExactNumbers>;

impl Expr {
    /// Evaluates with PMML's missing-value rules: `Empty` is a missing
    /// result.
    pub fn eval_pmml(&self, slots: &Slots) -> Result<EValue, EvalFailure> {
        Walk {
            slots,
            source: &self.source,
        }
        .eval(&self.node)
    }

    /// Whether an input of the outermost operation is missing (PMML's
    /// condition for an Apply's `mapMissingTo`): its arguments, or the
    /// value itself when the expression is one field.
    pub fn pmml_input_missing(&self, slots: &Slots) -> Result<bool, EvalFailure> {
        let walk = Walk {
            slots,
            source: &self.source,
        };
        let top = unwrap(&self.node);
        let inputs: Vec<&N> = match top.operator() {
            Operator::FunctionIdentifier { identifier } if identifier == "if" => {
                // The condition, then only the branch it takes.
                let args = arguments(top);
                let Some(condition) = args.first() else {
                    return Ok(false);
                };
                let c = walk.eval(condition)?;
                if c.is_empty() {
                    return Ok(true);
                }
                let taken = if walk.boolean(&c)? { 1 } else { 2 };
                args.get(taken).copied().into_iter().collect()
            }
            Operator::FunctionIdentifier { .. } => arguments(top),
            Operator::VariableIdentifierRead { .. } | Operator::Const { .. } => vec![top],
            op @ (Operator::And | Operator::Or) => {
                // `a && b && c` is one PMML `and` of three arguments.
                let mut operands = Vec::new();
                flatten(top, op, &mut operands);
                operands
            }
            _ => top.children().iter().collect(),
        };
        for input in inputs {
            if walk.eval(input)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The operands of a chain of the same boolean operator.
fn flatten<'n>(node: &'n N, op: &Operator<ExactNumbers>, out: &mut Vec<&'n N>) {
    for child in node.children() {
        let child = unwrap(child);
        if child.operator() == op {
            flatten(child, op, out);
        } else {
            out.push(child);
        }
    }
}

/// The node inside any parentheses.
fn unwrap(mut node: &N) -> &N {
    while let (Operator::RootNode, [only]) = (node.operator(), node.children()) {
        node = only;
    }
    node
}

/// A function's arguments: the items of its parenthesised tuple, or the one
/// argument.
fn arguments(node: &N) -> Vec<&N> {
    let Some(argument) = node.children().first() else {
        return Vec::new();
    };
    let argument = unwrap(argument);
    match argument.operator() {
        Operator::Tuple => argument.children().iter().collect(),
        _ => vec![argument],
    }
}

struct Walk<'a> {
    slots: &'a Slots,
    source: &'a str,
}

impl Walk<'_> {
    fn fail(&self, message: impl std::fmt::Display) -> EvalFailure {
        EvalFailure(format!("{message} in `{}`", self.source))
    }

    fn number(&self, v: &EValue) -> Result<Decimal, EvalFailure> {
        as_decimal(v).ok_or_else(|| self.fail(format!("expected a number, found {}", describe(v))))
    }

    fn boolean(&self, v: &EValue) -> Result<bool, EvalFailure> {
        match v {
            EValue::Boolean(b) => Ok(*b),
            other => Err(self.fail(format!("expected a boolean, found {}", describe(other)))),
        }
    }

    /// Every value of `nodes`, refusing a missing one (`what` names the
    /// operation).
    fn present(&self, nodes: &[&N], what: &str) -> Result<Vec<EValue>, EvalFailure> {
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let v = self.eval(n)?;
                if v.is_empty() {
                    Err(self.fail(format!(
                        "`{what}` cannot take a missing value (argument {})",
                        i + 1
                    )))
                } else {
                    Ok(v)
                }
            })
            .collect()
    }

    fn eval(&self, node: &N) -> Result<EValue, EvalFailure> {
        let kids: Vec<&N> = node.children().iter().collect();
        let dec = |d: Option<Decimal>, fault: &str| {
            d.map(|d| EValue::Float(Num(d)))
                .ok_or_else(|| self.fail(fault))
        };
        match node.operator() {
            Operator::RootNode => match kids.as_slice() {
                [only] => self.eval(only),
                [] => Ok(EValue::Empty),
                _ => Err(self.fail("more than one expression")),
            },
            Operator::Const { value } => Ok(value.clone()),
            Operator::VariableIdentifierRead { identifier } => Ok(identifier
                .parse::<usize>()
                .ok()
                .map_or(EValue::Empty, |s| self.slots.get(s).clone())),
            op @ (Operator::Add | Operator::Sub | Operator::Mul | Operator::Div) => {
                let (Some(a), Some(b)) = (kids.first(), kids.get(1)) else {
                    return Err(self.fail("an operator lacks an operand"));
                };
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                if a.is_empty() || b.is_empty() {
                    return Ok(EValue::Empty);
                }
                let (x, y) = (self.number(&a)?, self.number(&b)?);
                match op {
                    Operator::Add => dec(x.checked_add(y), "decimal overflow"),
                    Operator::Sub => dec(x.checked_sub(y), "decimal overflow"),
                    Operator::Mul => dec(x.checked_mul(y), "decimal overflow"),
                    _ if y.is_zero() => Err(self.fail("division by zero")),
                    _ => dec(x.checked_div(y), "decimal overflow"),
                }
            }
            Operator::Neg => {
                let a = self.eval(kids.first().ok_or_else(|| self.fail("no operand"))?)?;
                if a.is_empty() {
                    return Ok(EValue::Empty);
                }
                Ok(EValue::Float(Num(-self.number(&a)?)))
            }
            op @ (Operator::Eq
            | Operator::Neq
            | Operator::Gt
            | Operator::Lt
            | Operator::Geq
            | Operator::Leq) => {
                let v = self.present(&kids, &op.to_string())?;
                let [a, b] = v.as_slice() else {
                    return Err(self.fail("a comparison needs two operands"));
                };
                let ordering = match (as_decimal(a), as_decimal(b)) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    _ => match (a, b) {
                        (EValue::String(x), EValue::String(y)) => x.cmp(y),
                        (EValue::Boolean(x), EValue::Boolean(y)) => x.cmp(y),
                        _ => {
                            return Err(self.fail(format!(
                                "cannot compare {} with {}",
                                describe(a),
                                describe(b)
                            )));
                        }
                    },
                };
                Ok(EValue::Boolean(match op {
                    Operator::Eq => ordering.is_eq(),
                    Operator::Neq => !ordering.is_eq(),
                    Operator::Gt => ordering.is_gt(),
                    Operator::Lt => ordering.is_lt(),
                    Operator::Geq => ordering.is_ge(),
                    _ => ordering.is_le(),
                }))
            }
            op @ (Operator::And | Operator::Or) => {
                let v = self.present(&kids, &op.to_string())?;
                let mut all = v.iter().map(|x| self.boolean(x));
                Ok(EValue::Boolean(if matches!(op, Operator::And) {
                    all.try_fold(true, |acc, b| b.map(|b| acc && b))?
                } else {
                    all.try_fold(false, |acc, b| b.map(|b| acc || b))?
                }))
            }
            Operator::Not => {
                let v = self.present(&kids, "!")?;
                let [a] = v.as_slice() else {
                    return Err(self.fail("`!` needs one operand"));
                };
                Ok(EValue::Boolean(!self.boolean(a)?))
            }
            Operator::FunctionIdentifier { identifier } => self.function(identifier, node),
            other => Err(self.fail(format!("`{other}` is not supported here"))),
        }
    }

    fn function(&self, name: &str, node: &N) -> Result<EValue, EvalFailure> {
        let args = arguments(node);
        match name {
            "if" => {
                let (Some(c), Some(then)) = (args.first(), args.get(1)) else {
                    return Err(self.fail("`if` needs a condition and a value"));
                };
                let c = self.eval(c)?;
                if c.is_empty() {
                    return Err(self.fail("the condition of `if` is missing"));
                }
                if self.boolean(&c)? {
                    self.eval(then)
                } else {
                    args.get(2).map_or(Ok(EValue::Empty), |e| self.eval(e))
                }
            }
            "is_missing" | "is_present" => {
                let [a] = args.as_slice() else {
                    return Err(self.fail(format!("`{name}` takes one argument")));
                };
                let missing = self.eval(a)?.is_empty();
                Ok(EValue::Boolean(missing == (name == "is_missing")))
            }
            "min" | "max" | "sum" | "avg" => {
                let mut values = Vec::new();
                for a in &args {
                    let v = self.eval(a)?;
                    if !v.is_empty() {
                        values.push(self.number(&v)?);
                    }
                }
                if values.is_empty() {
                    return Ok(EValue::Empty);
                }
                let total = || {
                    values
                        .iter()
                        .try_fold(Decimal::ZERO, |acc, v| acc.checked_add(*v))
                };
                let value = match name {
                    "min" => values.iter().copied().min(),
                    "max" => values.iter().copied().max(),
                    "sum" => total(),
                    _ => total().and_then(|t| t.checked_div(Decimal::from(values.len()))),
                };
                value
                    .map(|d| EValue::Float(Num(d)))
                    .ok_or_else(|| self.fail("decimal overflow"))
            }
            "trunc" => {
                // An integer division's truncation: missing like `/`.
                let [a] = args.as_slice() else {
                    return Err(self.fail("`trunc` takes one argument"));
                };
                let v = self.eval(a)?;
                if v.is_empty() {
                    return Ok(EValue::Empty);
                }
                Ok(EValue::Float(Num(self.number(&v)?.trunc())))
            }
            "floor" | "ceil" | "round" => {
                let v = self.present(&args, name)?;
                let [a] = v.as_slice() else {
                    return Err(self.fail(format!("`{name}` takes one argument")));
                };
                let x = self.number(a)?;
                Ok(EValue::Float(Num(match name {
                    "floor" => x.floor(),
                    "ceil" => x.ceil(),
                    // Java's Math.round, as JPMML: a half rounds up (-2.5 to -2).
                    _ => (x + Decimal::new(5, 1)).floor(),
                })))
            }
            _ => {
                // The engine's own functions (math::abs, ln, log10, exp,
                // sqrt, pow), over present values.
                let mut v = self.present(&args, name)?;
                let argument = if v.len() == 1 {
                    v.remove(0)
                } else {
                    EValue::Tuple(v)
                };
                self.slots
                    .call_function(name, &argument)
                    .map_err(|e| self.fail(e))
            }
        }
    }
}
