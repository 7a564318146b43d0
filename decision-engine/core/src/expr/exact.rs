//! Exact decimal numbers for `evalexpr`.
//!
//! evalexpr 13 is generic over its number types. We plug in [`Num`], a
//! `rust_decimal::Decimal`, as its "float" type, so every literal such as
//! `0.95` and every feature such as `annual_net_income` is an exact decimal
//! inside expressions: comparisons are exact and amounts (limits, prices,
//! derived ratios) never pass through binary floating point.
//!
//! evalexpr's arithmetic traits cannot return errors, so a division by zero
//! or an overflow records an [`ArithmeticFault`] in a thread-local cell and
//! yields zero; [`crate::expr::Expr::eval`] clears the cell before and reads it
//! after every evaluation and turns a fault into an error naming the rule.
//! Transcendental functions (`math::sin` and friends) are refused when a
//! document is loaded, so their implementations here only record a fault.

use std::cell::Cell;
use std::fmt;
use std::ops::{Add, Div, Mul, Neg, Rem, Sub};
use std::str::FromStr;

use evalexpr::{EvalexprError, EvalexprFloat, EvalexprNumericTypes, EvalexprResult};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// What went wrong inside decimal arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithmeticFault {
    /// A division by zero, e.g. a ratio over a zero income.
    DivisionByZero,
    /// A result beyond the range of a decimal.
    Overflow,
    /// A mathematical function policies may not use, e.g. `math::sin`.
    Unsupported,
}

impl fmt::Display for ArithmeticFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArithmeticFault::DivisionByZero => "division by zero",
            ArithmeticFault::Overflow => "decimal overflow",
            ArithmeticFault::Unsupported => "unsupported mathematical function",
        })
    }
}

thread_local! {
    static FAULT: Cell<Option<ArithmeticFault>> = const { Cell::new(None) };
}

fn fault(kind: ArithmeticFault) -> Num {
    FAULT.with(|f| {
        if f.get().is_none() {
            f.set(Some(kind));
        }
    });
    Num(Decimal::ZERO)
}

/// Clears the fault cell before an evaluation.
pub(crate) fn clear_fault() {
    FAULT.with(|f| f.set(None));
}

/// Takes the first fault recorded since [`clear_fault`].
pub(crate) fn take_fault() -> Option<ArithmeticFault> {
    FAULT.with(|f| f.take())
}

/// An exact decimal, evalexpr's "float" type in this engine.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Num(pub Decimal);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Num {
    type Err = rust_decimal::Error;

    /// Parses a numeric literal. Only text that starts like a number is
    /// accepted, so identifiers never parse as numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let starts_numeric = s.starts_with(|c: char| c.is_ascii_digit() || c == '.');
        if !starts_numeric || s.contains('_') {
            return Err(rust_decimal::Error::ConversionTo(s.to_string()));
        }
        Decimal::from_str_exact(s)
            .or_else(|_| Decimal::from_scientific(s))
            .map(Num)
    }
}

macro_rules! checked_op {
    ($trait:ident, $method:ident, $checked:ident, $fault:expr) => {
        impl $trait for Num {
            type Output = Num;
            fn $method(self, rhs: Num) -> Num {
                match self.0.$checked(rhs.0) {
                    Some(value) => Num(value),
                    None if rhs.0.is_zero() && $fault == ArithmeticFault::DivisionByZero => {
                        fault(ArithmeticFault::DivisionByZero)
                    }
                    None => fault(ArithmeticFault::Overflow),
                }
            }
        }
    };
}

checked_op!(Add, add, checked_add, ArithmeticFault::Overflow);
checked_op!(Sub, sub, checked_sub, ArithmeticFault::Overflow);
checked_op!(Mul, mul, checked_mul, ArithmeticFault::Overflow);
checked_op!(Div, div, checked_div, ArithmeticFault::DivisionByZero);
checked_op!(Rem, rem, checked_rem, ArithmeticFault::DivisionByZero);

impl Neg for Num {
    type Output = Num;
    fn neg(self) -> Num {
        Num(-self.0)
    }
}

/// The number types of every expression in this engine: `i64` integers and
/// exact [`Num`] decimals.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactNumbers;

impl EvalexprNumericTypes for ExactNumbers {
    type Int = i64;
    type Float = Num;

    fn int_as_float(int: &i64) -> Num {
        Num(Decimal::from(*int))
    }

    fn float_as_int(float: &Num) -> i64 {
        match float.0.trunc().to_i64() {
            Some(int) => int,
            None => {
                fault(ArithmeticFault::Overflow);
                0
            }
        }
    }
}

fn unsupported() -> Num {
    fault(ArithmeticFault::Unsupported)
}

impl EvalexprFloat<ExactNumbers> for Num {
    const MIN: Self = Num(Decimal::MIN);
    const MAX: Self = Num(Decimal::MAX);

    fn pow(&self, _exponent: &Self) -> Self {
        unsupported()
    }
    fn ln(&self) -> Self {
        unsupported()
    }
    fn log(&self, _base: &Self) -> Self {
        unsupported()
    }
    fn log2(&self) -> Self {
        unsupported()
    }
    fn log10(&self) -> Self {
        unsupported()
    }
    fn exp(&self) -> Self {
        unsupported()
    }
    fn exp2(&self) -> Self {
        unsupported()
    }
    fn cos(&self) -> Self {
        unsupported()
    }
    fn cosh(&self) -> Self {
        unsupported()
    }
    fn acos(&self) -> Self {
        unsupported()
    }
    fn acosh(&self) -> Self {
        unsupported()
    }
    fn sin(&self) -> Self {
        unsupported()
    }
    fn sinh(&self) -> Self {
        unsupported()
    }
    fn asin(&self) -> Self {
        unsupported()
    }
    fn asinh(&self) -> Self {
        unsupported()
    }
    fn tan(&self) -> Self {
        unsupported()
    }
    fn tanh(&self) -> Self {
        unsupported()
    }
    fn atan(&self) -> Self {
        unsupported()
    }
    fn atanh(&self) -> Self {
        unsupported()
    }
    fn atan2(&self, _x: &Self) -> Self {
        unsupported()
    }
    fn sqrt(&self) -> Self {
        unsupported()
    }
    fn cbrt(&self) -> Self {
        unsupported()
    }
    fn hypot(&self, _other: &Self) -> Self {
        unsupported()
    }
    fn floor(&self) -> Self {
        Num(self.0.floor())
    }
    fn round(&self) -> Self {
        Num(self
            .0
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero))
    }
    fn ceil(&self) -> Self {
        Num(self.0.ceil())
    }
    fn is_nan(&self) -> bool {
        false
    }
    /// `Num::MIN` and `Num::MAX` stand for the infinities evalexpr's `min`
    /// and `max` start from.
    fn is_finite(&self) -> bool {
        !self.is_infinite()
    }
    fn is_infinite(&self) -> bool {
        self.0 == Decimal::MAX || self.0 == Decimal::MIN
    }
    fn is_normal(&self) -> bool {
        !self.0.is_zero()
    }
    fn abs(&self) -> Self {
        Num(self.0.abs())
    }
    fn min(&self, other: &Self) -> Self {
        Num(self.0.min(other.0))
    }
    fn max(&self, other: &Self) -> Self {
        Num(self.0.max(other.0))
    }
    fn random() -> EvalexprResult<Self, ExactNumbers> {
        Err(EvalexprError::CustomMessage(
            "random numbers are not available in policy expressions".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_parse_exactly_and_identifiers_do_not() {
        assert_eq!("0.95".parse::<Num>().unwrap().0, Decimal::new(95, 2));
        assert_eq!("1e3".parse::<Num>().unwrap().0, Decimal::from(1000));
        assert!("min_age".parse::<Num>().is_err());
        assert!("_1".parse::<Num>().is_err());
    }

    #[test]
    fn division_by_zero_records_a_fault() {
        clear_fault();
        let zero = Num(Decimal::ZERO) / Num(Decimal::ZERO);
        assert_eq!(zero.0, Decimal::ZERO);
        assert_eq!(take_fault(), Some(ArithmeticFault::DivisionByZero));
        assert_eq!(take_fault(), None);
    }
}
