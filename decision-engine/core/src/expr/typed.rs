//! The typed evaluator: each policy expression, once parsed and checked by
//! evalexpr, is compiled into a tree of typed operations over slots that
//! evaluates without touching the heap.
//!
//! evalexpr stays the parser and the reference semantics. Its interpreter
//! clones every operand into a fresh `Vec<Value>` per operator; here an
//! operand is a [`Val`], a `Copy` scalar that borrows text from the slots or
//! from the compiled expression, and each operator reads its one, two or
//! three operands directly. The rules mirror evalexpr 13 operator by
//! operator, with this engine's exact decimals ([`super::exact`]):
//!
//! - every operand is evaluated, in order, before its operator (evalexpr does
//!   not short-circuit `&&`, `||` or `if`, so an error in a branch not taken
//!   is still an error);
//! - two integers give an integer (checked: overflow and division by zero
//!   are errors); an integer with a decimal gives a decimal; comparisons of
//!   two strings compare text, of two integers compare integers, otherwise
//!   compare as decimals; `==` is true only between values of the same kind;
//! - `min`/`max` fold integers and decimals apart and choose as evalexpr
//!   does; `floor`/`round`/`ceil` always give a decimal; `round` is half away
//!   from zero.
//!
//! Anything the typed form does not cover (a function such as `contains` or
//! `len`, string concatenation) is left to evalexpr: [`compile`] returns
//! `None` for such an expression, and an evaluation that meets something
//! unexpected at run time ([`Bail`]) is run again by evalexpr, which also
//! gives every error its exact reference message. So the typed form can only
//! ever change speed, never a result; the differential test
//! (`tests/engine/typed.rs`) checks that on every shipped expression and on
//! generated ones.

use std::cmp::Ordering;

use evalexpr::{Node, Operator};
use rust_decimal::{Decimal, RoundingStrategy};

use super::{EValue, ExactNumbers, Slots};

/// One operand: a scalar that borrows its text.
#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    /// An absent value (evalexpr's `()`).
    Empty,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// An exact decimal.
    Dec(Decimal),
    /// Text.
    Str(&'a str),
}

impl Val<'_> {
    /// The value as evalexpr holds it.
    pub fn to_evalue(self) -> EValue {
        match self {
            Val::Empty => EValue::Empty,
            Val::Bool(b) => EValue::Boolean(b),
            Val::Int(i) => EValue::Int(i),
            Val::Dec(d) => EValue::Float(super::Num(d)),
            Val::Str(s) => EValue::String(s.to_string()),
        }
    }

    /// evalexpr's `as_number`: an integer widens to a decimal.
    fn number(self) -> Result<Decimal, Bail> {
        match self {
            Val::Int(i) => Ok(Decimal::from(i)),
            Val::Dec(d) => Ok(d),
            _ => Err(Bail),
        }
    }

    fn boolean(self) -> Result<bool, Bail> {
        match self {
            Val::Bool(b) => Ok(b),
            _ => Err(Bail),
        }
    }

    /// evalexpr's `==` (derived `PartialEq` of its `Value`).
    fn same(self, other: Val<'_>) -> bool {
        match (self, other) {
            (Val::Empty, Val::Empty) => true,
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Dec(a), Val::Dec(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            _ => false,
        }
    }
}

/// The typed evaluation met something only evalexpr handles, or an error:
/// the caller runs the reference, which gives the result or the exact error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bail;

/// An arithmetic operator.
#[derive(Clone, Copy, Debug)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// An ordering comparison.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Gt,
    Lt,
    Geq,
    Leq,
}

/// A rounding function (`round` is half away from zero).
#[derive(Clone, Copy, Debug)]
pub enum Rounding {
    Floor,
    Round,
    Ceil,
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Typed {
    /// A literal.
    Const(Lit),
    /// The value in a slot.
    Slot(usize),
    /// `a + b`, `a - b`, `a * b`, `a / b`, `a % b`.
    Arith(Box<(Typed, Typed)>, Arith),
    /// `-a`.
    Neg(Box<Typed>),
    /// `!a`.
    Not(Box<Typed>),
    /// `a && b` (both evaluated).
    And(Box<(Typed, Typed)>),
    /// `a || b` (both evaluated).
    Or(Box<(Typed, Typed)>),
    /// `a == b` (`negate`: `!=`).
    Eq(Box<(Typed, Typed)>, bool),
    /// `>`, `<`, `>=`, `<=`.
    Cmp(Box<(Typed, Typed)>, Cmp),
    /// `is_missing(a)` (`present`: `is_present(a)`).
    Missing(Box<Typed>, bool),
    /// `min(..)` / `max(..)` (`max`: true).
    MinMax(Vec<Typed>, bool),
    /// `if(c, a, b)` (all three evaluated).
    If(Box<(Typed, Typed, Typed)>),
    /// `floor`, `round`, `ceil`.
    Round(Box<Typed>, Rounding),
    /// `math::abs`.
    Abs(Box<Typed>),
}

/// A literal of the expression.
#[derive(Clone, Debug)]
pub enum Lit {
    /// `()`.
    Empty,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// An exact decimal.
    Dec(Decimal),
    /// Text.
    Str(Box<str>),
}

/// Compiles a parsed expression whose identifiers were rewritten to slot
/// numbers; `None` when some part of it is left to evalexpr.
pub fn compile(node: &Node<ExactNumbers>) -> Option<Typed> {
    let children = node.children();
    let one = |i: usize| compile(&children[i]);
    let two = || -> Option<Box<(Typed, Typed)>> {
        match children {
            [a, b] => Some(Box::new((compile(a)?, compile(b)?))),
            _ => None,
        }
    };
    Some(match node.operator() {
        Operator::RootNode => match children {
            [only] => compile(only)?,
            _ => return None,
        },
        Operator::Const { value } => Typed::Const(match value {
            EValue::Empty => Lit::Empty,
            EValue::Boolean(b) => Lit::Bool(*b),
            EValue::Int(i) => Lit::Int(*i),
            EValue::Float(n) => Lit::Dec(n.0),
            EValue::String(s) => Lit::Str(s.as_str().into()),
            EValue::Tuple(_) => return None,
        }),
        Operator::VariableIdentifierRead { identifier } => Typed::Slot(identifier.parse().ok()?),
        Operator::Add => Typed::Arith(two()?, Arith::Add),
        Operator::Sub => Typed::Arith(two()?, Arith::Sub),
        Operator::Mul => Typed::Arith(two()?, Arith::Mul),
        Operator::Div => Typed::Arith(two()?, Arith::Div),
        Operator::Mod => Typed::Arith(two()?, Arith::Mod),
        Operator::Neg if children.len() == 1 => Typed::Neg(Box::new(one(0)?)),
        Operator::Not if children.len() == 1 => Typed::Not(Box::new(one(0)?)),
        Operator::And => Typed::And(two()?),
        Operator::Or => Typed::Or(two()?),
        Operator::Eq => Typed::Eq(two()?, false),
        Operator::Neq => Typed::Eq(two()?, true),
        Operator::Gt => Typed::Cmp(two()?, Cmp::Gt),
        Operator::Lt => Typed::Cmp(two()?, Cmp::Lt),
        Operator::Geq => Typed::Cmp(two()?, Cmp::Geq),
        Operator::Leq => Typed::Cmp(two()?, Cmp::Leq),
        Operator::FunctionIdentifier { identifier } => {
            let [argument] = children else { return None };
            let mut argument = argument;
            // The argument is parenthesised (a root node); a tuple inside is
            // the function's argument list.
            while let (Operator::RootNode, [only]) = (argument.operator(), argument.children()) {
                argument = only;
            }
            let tuple = match argument.operator() {
                Operator::Tuple => Some(argument.children()),
                _ => None,
            };
            match (identifier.as_str(), tuple) {
                ("is_missing", None) => Typed::Missing(Box::new(compile(argument)?), false),
                ("is_present", None) => Typed::Missing(Box::new(compile(argument)?), true),
                ("min" | "max", Some(items)) => Typed::MinMax(
                    items.iter().map(compile).collect::<Option<Vec<_>>>()?,
                    identifier == "max",
                ),
                ("if", Some([c, a, b])) => {
                    Typed::If(Box::new((compile(c)?, compile(a)?, compile(b)?)))
                }
                ("floor", None) => Typed::Round(Box::new(compile(argument)?), Rounding::Floor),
                ("round", None) => Typed::Round(Box::new(compile(argument)?), Rounding::Round),
                ("ceil", None) => Typed::Round(Box::new(compile(argument)?), Rounding::Ceil),
                ("math::abs", None) => Typed::Abs(Box::new(compile(argument)?)),
                _ => return None,
            }
        }
        _ => return None,
    })
}

impl Typed {
    /// Evaluates over `slots`. `Err(Bail)`: run the reference instead.
    pub fn eval<'a>(&'a self, slots: &'a Slots) -> Result<Val<'a>, Bail> {
        Ok(match self {
            Typed::Const(lit) => match lit {
                Lit::Empty => Val::Empty,
                Lit::Bool(b) => Val::Bool(*b),
                Lit::Int(i) => Val::Int(*i),
                Lit::Dec(d) => Val::Dec(*d),
                Lit::Str(s) => Val::Str(s),
            },
            Typed::Slot(slot) => match slots.get(*slot) {
                EValue::Empty => Val::Empty,
                EValue::Boolean(b) => Val::Bool(*b),
                EValue::Int(i) => Val::Int(*i),
                EValue::Float(n) => Val::Dec(n.0),
                EValue::String(s) => Val::Str(s),
                EValue::Tuple(_) => return Err(Bail),
            },
            Typed::Arith(operands, op) => {
                let (a, b) = (operands.0.eval(slots)?, operands.1.eval(slots)?);
                arith(*op, a, b)?
            }
            Typed::Neg(a) => match a.eval(slots)? {
                Val::Int(i) => Val::Int(i.checked_neg().ok_or(Bail)?),
                Val::Dec(d) => Val::Dec(-d),
                _ => return Err(Bail),
            },
            Typed::Not(a) => Val::Bool(!a.eval(slots)?.boolean()?),
            Typed::And(operands) => {
                let a = operands.0.eval(slots)?.boolean()?;
                let b = operands.1.eval(slots)?.boolean()?;
                Val::Bool(a && b)
            }
            Typed::Or(operands) => {
                let a = operands.0.eval(slots)?.boolean()?;
                let b = operands.1.eval(slots)?.boolean()?;
                Val::Bool(a || b)
            }
            Typed::Eq(operands, negate) => {
                let (a, b) = (operands.0.eval(slots)?, operands.1.eval(slots)?);
                Val::Bool(a.same(b) != *negate)
            }
            Typed::Cmp(operands, op) => {
                let (a, b) = (operands.0.eval(slots)?, operands.1.eval(slots)?);
                let order = match (a, b) {
                    (Val::Str(a), Val::Str(b)) => a.cmp(b),
                    (Val::Int(a), Val::Int(b)) => a.cmp(&b),
                    (Val::Int(_) | Val::Dec(_), Val::Int(_) | Val::Dec(_)) => {
                        a.number()?.cmp(&b.number()?)
                    }
                    _ => return Err(Bail),
                };
                Val::Bool(match op {
                    Cmp::Gt => order == Ordering::Greater,
                    Cmp::Lt => order == Ordering::Less,
                    Cmp::Geq => order != Ordering::Less,
                    Cmp::Leq => order != Ordering::Greater,
                })
            }
            Typed::Missing(a, present) => {
                let empty = matches!(a.eval(slots)?, Val::Empty);
                Val::Bool(empty != *present)
            }
            Typed::MinMax(items, max) => {
                // As evalexpr: integers and decimals folded apart from the
                // extremes, then the integer wins only when strictly beyond.
                let (mut int, mut dec) = if *max {
                    (i64::MIN, Decimal::MIN)
                } else {
                    (i64::MAX, Decimal::MAX)
                };
                for item in items {
                    match item.eval(slots)? {
                        Val::Int(i) => int = if *max { int.max(i) } else { int.min(i) },
                        Val::Dec(d) => dec = if *max { dec.max(d) } else { dec.min(d) },
                        _ => return Err(Bail),
                    }
                }
                let wide = Decimal::from(int);
                if (*max && wide > dec) || (!*max && wide < dec) {
                    Val::Int(int)
                } else {
                    Val::Dec(dec)
                }
            }
            Typed::If(parts) => {
                let c = parts.0.eval(slots)?;
                let a = parts.1.eval(slots)?;
                let b = parts.2.eval(slots)?;
                if c.boolean()? { a } else { b }
            }
            Typed::Round(a, how) => {
                let x = a.eval(slots)?.number()?;
                Val::Dec(match how {
                    Rounding::Floor => x.floor(),
                    Rounding::Round => {
                        x.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    }
                    Rounding::Ceil => x.ceil(),
                })
            }
            Typed::Abs(a) => match a.eval(slots)? {
                Val::Int(i) => Val::Int(i.checked_abs().ok_or(Bail)?),
                Val::Dec(d) => Val::Dec(d.abs()),
                _ => return Err(Bail),
            },
        })
    }
}

/// evalexpr's arithmetic with this engine's checked decimals: any overflow
/// or division by zero bails (the reference then reports it).
fn arith<'a>(op: Arith, a: Val<'a>, b: Val<'a>) -> Result<Val<'a>, Bail> {
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        return match op {
            Arith::Add => x.checked_add(y),
            Arith::Sub => x.checked_sub(y),
            Arith::Mul => x.checked_mul(y),
            Arith::Div => x.checked_div(y),
            Arith::Mod => x.checked_rem(y),
        }
        .map(Val::Int)
        .ok_or(Bail);
    }
    // `+` of two strings concatenates in evalexpr: left to the reference,
    // as is any operand that is not a number.
    let (x, y) = (a.number()?, b.number()?);
    match op {
        Arith::Add => x.checked_add(y),
        Arith::Sub => x.checked_sub(y),
        Arith::Mul => x.checked_mul(y),
        Arith::Div => x.checked_div(y),
        Arith::Mod => x.checked_rem(y),
    }
    .map(Val::Dec)
    .ok_or(Bail)
}
