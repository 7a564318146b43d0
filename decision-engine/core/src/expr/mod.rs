//! Policy expressions: parsed by `evalexpr` once when a document is loaded,
//! checked against the names the policy declares, and evaluated per request
//! over a fixed slot layout with exact decimals.
//!
//! Three things make evalexpr safe for credit rules here:
//! - numbers are exact decimals ([`exact::Num`]), never `f64`;
//! - identifiers are resolved when the document is loaded and rewritten to
//!   slot numbers, so a request binds values by index (no per-request map);
//! - missing values never reach evalexpr (its `&&` does not short-circuit, so
//!   `bureau_has_record && bureau_max_dpd_24m > 30` would fail on a thin
//!   file): every caller checks [`Expr::missing`] first and applies the
//!   document's declared `when_missing` treatment.

pub mod exact;
mod pmml;
mod typed;

use std::collections::HashMap;
use std::sync::Arc;

use evalexpr::{Context, EvalexprError, Node, Operator, build_operator_tree};
use rust_decimal::Decimal;

pub use exact::{ExactNumbers, Num};

/// A value inside an expression.
pub type EValue = evalexpr::Value<ExactNumbers>;

/// The type of a named value, as expressions see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarType {
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Int,
    /// An exact decimal: yuan, ratios, rates.
    Decimal,
    /// A string: enum values, codes, grades.
    Text,
}

impl VarType {
    /// The type's name, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            VarType::Bool => "boolean",
            VarType::Int => "integer",
            VarType::Decimal => "decimal",
            VarType::Text => "string",
        }
    }
}

/// What a name stands for, for error messages and the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarKind {
    /// A feature of the schema, from the request.
    Feature,
    /// A derived feature, computed from others.
    Derived,
    /// A ruleset parameter, e.g. `max_age`.
    Parameter,
    /// A market parameter, e.g. `lpr_1y`.
    Market,
    /// An attribute of the product, e.g. `product_max_amount`.
    Product,
    /// A grade table column, e.g. `income_multiple`.
    GradeColumn,
    /// A value the pipeline computes: `score`, `grade`, `limit` or
    /// `annual_rate`.
    Computed,
}

impl VarKind {
    /// What the name stands for, in words, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            VarKind::Feature => "feature",
            VarKind::Derived => "derived feature",
            VarKind::Parameter => "parameter",
            VarKind::Market => "market parameter",
            VarKind::Product => "product attribute",
            VarKind::GradeColumn => "grade table column",
            VarKind::Computed => "computed value",
        }
    }
}

/// One named slot of the layout.
#[derive(Clone, Debug)]
pub struct Var {
    /// The name expressions use.
    pub name: Arc<str>,
    /// Its type, for load-time checks.
    pub ty: VarType,
    /// What the name stands for.
    pub kind: VarKind,
    /// Whether a request may leave this value absent.
    pub optional: bool,
    /// A value used when checking expressions at load time.
    pub sample: EValue,
    /// The pipeline phase from which the value is known (see
    /// [`crate::compile::Phase`]).
    pub phase: u8,
}

/// The fixed slot layout of one compiled policy: every name an expression
/// may read, with its type.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    vars: Vec<Var>,
    index: HashMap<String, usize>,
}

impl Layout {
    /// Adds a name; refuses a name that is already taken.
    pub fn add(&mut self, var: Var) -> Result<usize, String> {
        if let Some(&slot) = self.index.get(&*var.name) {
            let existing = &self.vars[slot];
            return Err(format!(
                "name `{}` is already declared as a {}",
                var.name,
                existing.kind.name()
            ));
        }
        let slot = self.vars.len();
        self.index.insert(var.name.to_string(), slot);
        self.vars.push(var);
        Ok(slot)
    }

    /// The slot of `name`, if it is declared.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The name in `slot`.
    pub fn var(&self, slot: usize) -> &Var {
        &self.vars[slot]
    }

    /// Every name, in slot order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// How many names are declared.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether no name is declared.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Marks a slot as possibly missing (derived features inherit it).
    pub fn set_optional(&mut self, slot: usize, optional: bool) {
        self.vars[slot].optional = optional;
    }

    /// Slots holding every sample value, for load-time checks.
    fn sample_slots(&self) -> Slots {
        Slots {
            values: self.vars.iter().map(|v| v.sample.clone()).collect(),
        }
    }
}

/// The values of one evaluation, indexed by slot. `Empty` means absent.
#[derive(Clone, Debug)]
pub struct Slots {
    values: Vec<EValue>,
}

impl Slots {
    /// `len` slots, every value absent.
    pub fn new(len: usize) -> Self {
        Slots {
            values: vec![EValue::Empty; len],
        }
    }

    /// Binds `value` to `slot`.
    pub fn set(&mut self, slot: usize, value: EValue) {
        self.values[slot] = value;
    }

    /// The value in `slot` (`Empty` when absent).
    pub fn get(&self, slot: usize) -> &EValue {
        &self.values[slot]
    }

    /// Whether the value in `slot` is absent.
    pub fn is_missing(&self, slot: usize) -> bool {
        matches!(self.values[slot], EValue::Empty)
    }
}

impl Context for Slots {
    type NumericTypes = ExactNumbers;

    fn get_value(&self, identifier: &str) -> Option<&EValue> {
        // Identifiers were rewritten to slot numbers at load time.
        // An absent value reads as `()`: only `is_missing`/`is_present`
        // and `==`/`!=` accept it, and load-time checks ensure that is all
        // an expression does with a value it tests for presence.
        let slot: usize = identifier.parse().ok()?;
        self.values.get(slot)
    }

    fn call_function(
        &self,
        identifier: &str,
        argument: &EValue,
    ) -> Result<EValue, EvalexprError<ExactNumbers>> {
        match identifier {
            "is_missing" => Ok(EValue::Boolean(argument.is_empty())),
            "is_present" => Ok(EValue::Boolean(!argument.is_empty())),
            // evalexpr's own `math::abs` of the smallest integer overflows
            // (a panic in a debug build, a wrong sign in release): checked
            // here, and an error like any other overflow.
            "math::abs" => match argument {
                EValue::Int(i) => i.checked_abs().map(EValue::Int).ok_or_else(|| {
                    EvalexprError::CustomMessage(format!("integer overflow in math::abs({i})"))
                }),
                EValue::Float(n) => Ok(EValue::Float(Num(n.0.abs()))),
                other => Err(EvalexprError::expected_number(other.clone())),
            },
            "ln" | "log10" | "exp" | "sqrt" => {
                use rust_decimal::MathematicalOps;
                let x = number(argument)?;
                let y = match identifier {
                    "ln" => x.checked_ln(),
                    "log10" => x.checked_log10(),
                    "exp" => x.checked_exp(),
                    _ => x.sqrt(),
                };
                y.map(|y| EValue::Float(Num(y))).ok_or_else(|| {
                    EvalexprError::CustomMessage(format!(
                        "{identifier}({x}) has no value: expected {}",
                        match identifier {
                            "exp" => "an exponent small enough for an exact decimal",
                            "sqrt" => "a number at least 0",
                            _ => "a number above 0",
                        }
                    ))
                })
            }
            "sum" | "avg" => {
                let items = match argument {
                    EValue::Tuple(items) => items.as_slice(),
                    one => std::slice::from_ref(one),
                };
                let mut total = Decimal::ZERO;
                for item in items {
                    total = total.checked_add(number(item)?).ok_or_else(|| {
                        EvalexprError::CustomMessage(format!("decimal overflow in {identifier}"))
                    })?;
                }
                if identifier == "avg" {
                    total /= Decimal::from(items.len().max(1));
                }
                Ok(EValue::Float(Num(total)))
            }
            "trunc" => Ok(EValue::Float(Num(number(argument)?.trunc()))),
            "threshold" => match argument {
                EValue::Tuple(items) if items.len() == 2 => {
                    let above = number(&items[0])? > number(&items[1])?;
                    Ok(EValue::Float(Num(if above {
                        Decimal::ONE
                    } else {
                        Decimal::ZERO
                    })))
                }
                other => Err(EvalexprError::CustomMessage(format!(
                    "threshold takes two numbers (value, threshold), found {}",
                    describe(other)
                ))),
            },
            "pow" => match argument {
                EValue::Tuple(items) if items.len() == 2 => {
                    use rust_decimal::MathematicalOps;
                    let (base, exponent) = (number(&items[0])?, number(&items[1])?);
                    base.checked_powd(exponent)
                        .map(|y| EValue::Float(Num(y)))
                        .ok_or_else(|| {
                            EvalexprError::CustomMessage(format!(
                                "pow({base}, {exponent}) has no value as an exact decimal"
                            ))
                        })
                }
                other => Err(EvalexprError::CustomMessage(format!(
                    "pow takes two numbers (base, exponent), found {}",
                    describe(other)
                ))),
            },
            _ => Err(EvalexprError::FunctionIdentifierNotFound(
                identifier.to_string(),
            )),
        }
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        false
    }

    fn set_builtin_functions_disabled(
        &mut self,
        _disabled: bool,
    ) -> Result<(), EvalexprError<ExactNumbers>> {
        Err(EvalexprError::CustomMessage(
            "built-in functions cannot be disabled".into(),
        ))
    }
}

/// What an expression must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A condition: `true` or `false`.
    Bool,
    /// An amount: an integer or a decimal.
    Number,
    /// A value of the given type (derived features).
    Type(VarType),
}

/// The built-in functions a policy expression may call. Everything else
/// (trigonometry, regular expressions, random numbers) is refused at load.
const ALLOWED_FUNCTIONS: &[&str] = &[
    "ln",
    "log10",
    "exp",
    "sqrt",
    "pow",
    "sum",
    "avg",
    "trunc",
    "threshold",
    "is_missing",
    "is_present",
    "min",
    "max",
    "if",
    "floor",
    "round",
    "ceil",
    "math::abs",
    "contains",
    "contains_any",
    "len",
];

/// A compiled expression.
#[derive(Clone, Debug)]
pub struct Expr {
    source: Arc<str>,
    node: Node<ExactNumbers>,
    /// The same expression compiled to typed operations ([`typed`]), when
    /// every part of it has a typed form; evaluated instead of `node`.
    typed: Option<typed::Typed>,
    reads: Vec<usize>,
    /// Slots the expression tests with `is_missing`/`is_present`: it handles
    /// their absence itself, so they do not trigger `when_missing`.
    presence_checked: Vec<usize>,
}

/// An evaluation that could not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalFailure(pub String);

impl Expr {
    /// Parses and checks `source` against `layout`. The error is one line
    /// saying what is wrong and what was expected.
    pub fn compile(source: &str, layout: &Layout, expect: Expect) -> Result<Expr, String> {
        Expr::compile_with(source, layout, expect, false)
    }

    /// [`Expr::compile`] for an expression evaluated with PMML's
    /// missing-value rules ([`Expr::eval_pmml`]): an absent value may reach
    /// any operation, which then follows those rules.
    pub fn compile_pmml(source: &str, layout: &Layout, expect: Expect) -> Result<Expr, String> {
        Expr::compile_with(source, layout, expect, true)
    }

    fn compile_with(
        source: &str,
        layout: &Layout,
        expect: Expect,
        pmml: bool,
    ) -> Result<Expr, String> {
        if source.trim().is_empty() {
            return Err("expression is empty".to_string());
        }
        let mut node = build_operator_tree::<ExactNumbers>(source)
            .map_err(|e| format!("syntax error in `{source}`: {e}"))?;
        check_node(&node, layout)?;

        let mut reads = Vec::new();
        for identifier in node.iter_read_variable_identifiers_mut() {
            let slot = layout.slot(identifier).ok_or_else(|| {
                format!(
                    "unknown identifier `{identifier}` in `{source}`: expected a feature of the schema, a derived feature, a parameter or a computed value"
                )
            })?;
            if !reads.contains(&slot) {
                reads.push(slot);
            }
            *identifier = slot.to_string();
        }

        let mut presence_checked = Vec::new();
        collect_presence_checks(&node, false, &mut presence_checked);
        let typed = typed::compile(&node);
        let expr = Expr {
            source: source.into(),
            node,
            typed,
            reads,
            presence_checked,
        };
        expr.check_on_samples(layout, expect, &[])?;
        if pmml {
            // The PMML evaluation knows fewer operators than evalexpr.
            let slots = layout.sample_slots();
            expr.eval_pmml(&slots).map_err(|f| {
                format!("{}; a PMML expression may use + - * / min max sum avg abs ln log10 exp sqrt pow threshold trunc floor ceil round if is_missing is_present, comparisons, && || !", f.0)
            })?;
        }
        if !pmml && !expr.presence_checked.is_empty() {
            let absent = expr.presence_checked.clone();
            expr.check_on_samples(layout, expect, &absent).map_err(|e| {
                let names: Vec<_> = absent.iter().map(|&s| format!("`{}`", layout.var(s).name)).collect();
                format!(
                    "when {} {} absent: {e}; an expression that tests a value with is_missing/is_present may only compare it with == or !=",
                    names.join(", "),
                    if names.len() == 1 { "is" } else { "are" }
                )
            })?;
        }
        Ok(expr)
    }

    /// Evaluates once with typed sample values: evalexpr accepts some
    /// ill-typed expressions (`age > > 65`, `age > "x"`) at parse time and
    /// only fails when they run.
    fn check_on_samples(
        &self,
        layout: &Layout,
        expect: Expect,
        absent: &[usize],
    ) -> Result<(), String> {
        let mut slots = layout.sample_slots();
        for &slot in absent {
            slots.set(slot, EValue::Empty);
        }
        exact::clear_fault();
        let value = self
            .node
            .eval_with_context(&slots)
            .map_err(|e| format!("`{}` cannot be evaluated: {e}", self.source))?;
        if exact::take_fault() == Some(exact::ArithmeticFault::Unsupported) {
            return Err(format!("`{}` uses an unsupported function", self.source));
        }
        let ok = matches!(
            (expect, &value),
            (
                Expect::Bool | Expect::Type(VarType::Bool),
                EValue::Boolean(_)
            ) | (
                Expect::Number | Expect::Type(VarType::Decimal),
                EValue::Int(_) | EValue::Float(_)
            ) | (Expect::Type(VarType::Int), EValue::Int(_))
                | (Expect::Type(VarType::Text), EValue::String(_))
        );
        if ok {
            Ok(())
        } else {
            let wanted = match expect {
                Expect::Bool => "a boolean (true/false)",
                Expect::Number => "a number",
                Expect::Type(t) => t.name(),
            };
            Err(format!(
                "`{}` must produce {wanted} but produces {}",
                self.source,
                describe(&value)
            ))
        }
    }

    /// The expression as written in the document.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// The slots this expression reads, in order of first appearance.
    pub fn reads(&self) -> &[usize] {
        &self.reads
    }

    /// The slots this expression reads that are absent in `slots`.
    /// Slots tested with `is_missing`/`is_present` are not counted.
    pub fn missing(&self, slots: &Slots) -> Vec<usize> {
        self.reads
            .iter()
            .copied()
            .filter(|&s| slots.is_missing(s) && !self.presence_checked.contains(&s))
            .collect()
    }

    /// The slots this expression reads that may be absent and that it does
    /// not test for presence itself.
    pub fn optional_reads(&self, layout: &Layout) -> Vec<usize> {
        self.reads
            .iter()
            .copied()
            .filter(|&s| layout.var(s).optional && !self.presence_checked.contains(&s))
            .collect()
    }

    /// Whether any slot this expression reads may be absent (and is not
    /// tested for presence by the expression itself).
    pub fn may_read_missing(&self, layout: &Layout) -> bool {
        !self.optional_reads(layout).is_empty()
    }

    /// Whether the expression has a typed form (else evalexpr evaluates it).
    pub fn is_typed(&self) -> bool {
        self.typed.is_some()
    }

    /// Evaluates with every read slot present (callers check [`Self::missing`]).
    pub fn eval(&self, slots: &Slots) -> Result<EValue, EvalFailure> {
        if let Some(typed) = &self.typed
            && let Ok(value) = typed.eval(slots)
        {
            return Ok(value.to_evalue());
        }
        self.eval_reference(slots)
    }

    /// The typed form's own result, without falling back: `None` when the
    /// expression has no typed form, `Some(None)` when the evaluation bails
    /// (evalexpr would then decide). For the differential test against
    /// [`Self::eval_reference`].
    pub fn eval_typed(&self, slots: &Slots) -> Option<Option<EValue>> {
        let typed = self.typed.as_ref()?;
        Some(typed.eval(slots).ok().map(typed::Val::to_evalue))
    }

    /// Evaluates with evalexpr, the reference semantics, whether or not the
    /// expression has a typed form.
    pub fn eval_reference(&self, slots: &Slots) -> Result<EValue, EvalFailure> {
        exact::clear_fault();
        let result = self.node.eval_with_context(slots);
        if let Some(fault) = exact::take_fault() {
            return Err(EvalFailure(format!("{fault} in `{}`", self.source)));
        }
        result.map_err(|e| EvalFailure(format!("`{}` failed: {e}", self.source)))
    }

    /// Evaluates a condition (callers check [`Self::missing`] first).
    pub fn eval_bool(&self, slots: &Slots) -> Result<bool, EvalFailure> {
        if let Some(typed) = &self.typed
            && let Ok(typed::Val::Bool(b)) = typed.eval(slots)
        {
            return Ok(b);
        }
        match self.eval_reference(slots)? {
            EValue::Boolean(b) => Ok(b),
            other => Err(EvalFailure(format!(
                "`{}` produced {} where a boolean was expected",
                self.source,
                describe(&other)
            ))),
        }
    }

    /// Evaluates an amount exactly (callers check [`Self::missing`] first).
    pub fn eval_decimal(&self, slots: &Slots) -> Result<Decimal, EvalFailure> {
        match self.typed.as_ref().map(|t| t.eval(slots)) {
            Some(Ok(typed::Val::Dec(d))) => return Ok(d),
            Some(Ok(typed::Val::Int(i))) => return Ok(Decimal::from(i)),
            _ => {}
        }
        let value = self.eval_reference(slots)?;
        as_decimal(&value).ok_or_else(|| {
            EvalFailure(format!(
                "`{}` produced {} where a number was expected",
                self.source,
                describe(&value)
            ))
        })
    }
}

/// Collects the (already rewritten) slots read inside `is_missing(...)` or
/// `is_present(...)`.
fn collect_presence_checks(node: &Node<ExactNumbers>, inside: bool, out: &mut Vec<usize>) {
    let inside = inside
        || matches!(node.operator(), Operator::FunctionIdentifier { identifier } if identifier == "is_missing" || identifier == "is_present");
    if inside
        && let Operator::VariableIdentifierRead { identifier } = node.operator()
        && let Ok(slot) = identifier.parse::<usize>()
        && !out.contains(&slot)
    {
        out.push(slot);
    }
    for child in node.children() {
        collect_presence_checks(child, inside, out);
    }
}

/// The exact decimal of a numeric value.
pub fn as_decimal(value: &EValue) -> Option<Decimal> {
    match value {
        EValue::Int(i) => Some(Decimal::from(*i)),
        EValue::Float(n) => Some(n.0),
        _ => None,
    }
}

fn describe(value: &EValue) -> String {
    match value {
        EValue::Boolean(b) => format!("a boolean ({b})"),
        EValue::Int(i) => format!("an integer ({i})"),
        EValue::Float(n) => format!("a decimal ({n})"),
        EValue::String(s) => format!("a string ({s:?})"),
        EValue::Tuple(_) => "a tuple".to_string(),
        EValue::Empty => "nothing".to_string(),
    }
}

/// Refuses operators and functions that have no place in a credit rule, and
/// the two evalexpr comparisons that silently surprise analysts.
fn check_node(node: &Node<ExactNumbers>, layout: &Layout) -> Result<(), String> {
    match node.operator() {
        Operator::Assign
        | Operator::AddAssign
        | Operator::SubAssign
        | Operator::MulAssign
        | Operator::DivAssign
        | Operator::ModAssign
        | Operator::ExpAssign
        | Operator::AndAssign
        | Operator::OrAssign
        | Operator::VariableIdentifierWrite { .. } => {
            return Err("assignment is not allowed in policy expressions".to_string());
        }
        Operator::Chain => {
            return Err("`;` chains are not allowed: write one expression".to_string());
        }
        Operator::Exp => {
            return Err("`^` is not allowed: write the multiplication out".to_string());
        }
        Operator::FunctionIdentifier { identifier }
            if !ALLOWED_FUNCTIONS.contains(&identifier.as_str()) =>
        {
            return Err(format!(
                "function `{identifier}` is not allowed; expected one of {}",
                ALLOWED_FUNCTIONS.join(", ")
            ));
        }
        Operator::Eq | Operator::Neq => {
            if let [a, b] = node.children() {
                let (ta, tb) = (static_type(a, layout), static_type(b, layout));
                if matches!(
                    (ta, tb),
                    (Some(VarType::Int), Some(VarType::Decimal))
                        | (Some(VarType::Decimal), Some(VarType::Int))
                ) {
                    return Err(
                        "`==`/`!=` between an integer and a decimal is never true in evalexpr; write the literal to match (e.g. `1.0` for a decimal) or use `>=` and `<=`"
                            .to_string(),
                    );
                }
            }
        }
        Operator::Div => {
            if let [a, b] = node.children()
                && static_type(a, layout) == Some(VarType::Int)
                && static_type(b, layout) == Some(VarType::Int)
            {
                return Err(
                    "dividing two integers truncates (7 / 2 is 3); multiply one side by 1.0 to divide exactly"
                        .to_string(),
                );
            }
        }
        _ => {}
    }
    node.children()
        .iter()
        .try_for_each(|c| check_node(c, layout))
}

/// The type of a subexpression when it is known before evaluation.
fn static_type(node: &Node<ExactNumbers>, layout: &Layout) -> Option<VarType> {
    let numeric = |node: &Node<ExactNumbers>| {
        let types: Vec<_> = node
            .children()
            .iter()
            .map(|c| static_type(c, layout))
            .collect();
        if types.iter().all(|t| *t == Some(VarType::Int)) {
            Some(VarType::Int)
        } else if types
            .iter()
            .all(|t| matches!(t, Some(VarType::Int | VarType::Decimal)))
        {
            Some(VarType::Decimal)
        } else {
            None
        }
    };
    match node.operator() {
        Operator::Const { value } => match value {
            EValue::Boolean(_) => Some(VarType::Bool),
            EValue::Int(_) => Some(VarType::Int),
            EValue::Float(_) => Some(VarType::Decimal),
            EValue::String(_) => Some(VarType::Text),
            _ => None,
        },
        Operator::VariableIdentifierRead { identifier } => {
            layout.slot(identifier).map(|s| layout.var(s).ty)
        }
        Operator::RootNode if node.children().len() == 1 => {
            static_type(&node.children()[0], layout)
        }
        Operator::Add
        | Operator::Sub
        | Operator::Mul
        | Operator::Div
        | Operator::Mod
        | Operator::Neg => numeric(node),
        Operator::Eq
        | Operator::Neq
        | Operator::Gt
        | Operator::Lt
        | Operator::Geq
        | Operator::Leq
        | Operator::And
        | Operator::Or
        | Operator::Not => Some(VarType::Bool),
        _ => None,
    }
}

/// A function's numeric argument as an exact decimal.
fn number(value: &EValue) -> Result<Decimal, EvalexprError<ExactNumbers>> {
    match value {
        EValue::Int(i) => Ok(Decimal::from(*i)),
        EValue::Float(n) => Ok(n.0),
        other => Err(EvalexprError::expected_number(other.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let mut l = Layout::default();
        for (name, ty, sample) in [
            ("age", VarType::Int, EValue::Int(1)),
            ("income", VarType::Decimal, EValue::Float(Num(Decimal::ONE))),
            ("ratio", VarType::Decimal, EValue::Float(Num(Decimal::ONE))),
            ("has_record", VarType::Bool, EValue::Boolean(true)),
        ] {
            l.add(Var {
                name: name.into(),
                ty,
                kind: VarKind::Feature,
                optional: false,
                sample,
                phase: 0,
            })
            .unwrap();
        }
        l
    }

    fn dec(s: &str) -> EValue {
        EValue::Float(s.parse().unwrap())
    }

    #[test]
    fn decimal_comparisons_are_exact() {
        let l = layout();
        let e = Expr::compile("ratio >= 0.3 && income * 3 == 0.3", &l, Expect::Bool).unwrap();
        let mut s = Slots::new(l.len());
        s.set(0, EValue::Int(40));
        s.set(1, dec("0.1"));
        s.set(2, dec("0.30"));
        s.set(3, EValue::Boolean(true));
        assert!(e.eval_bool(&s).unwrap());
        let amount = Expr::compile("income * 3 - 0.3", &l, Expect::Number).unwrap();
        assert_eq!(amount.eval_decimal(&s).unwrap(), Decimal::ZERO);
    }

    #[test]
    fn load_time_checks_name_the_problem() {
        let l = layout();
        let err = |src: &str, expect| Expr::compile(src, &l, expect).unwrap_err();
        assert!(err("age > > 65", Expect::Bool).contains("age > > 65"));
        assert!(err("agee > 65", Expect::Bool).contains("unknown identifier `agee`"));
        assert!(err("age + 1", Expect::Bool).contains("must produce a boolean"));
        assert!(err("age == 1.0", Expect::Bool).contains("never true"));
        assert!(err("age / 2 > 1", Expect::Bool).contains("truncates"));
        assert!(err("math::sin(income) > 0", Expect::Bool).contains("math::sin"));
        assert!(err("age = 3", Expect::Bool).contains("assignment"));
        assert!(err("age > \"x\"", Expect::Bool).contains("cannot be evaluated"));
    }

    #[test]
    fn division_by_zero_is_an_error_naming_the_expression() {
        let l = layout();
        let e = Expr::compile("income / ratio", &l, Expect::Number).unwrap();
        let mut s = Slots::new(l.len());
        s.set(1, dec("5"));
        s.set(2, dec("0"));
        let failure = e.eval_decimal(&s).unwrap_err();
        assert_eq!(failure.0, "division by zero in `income / ratio`");
    }

    #[test]
    fn presence_checks_handle_absent_values_in_the_expression() {
        let mut l = layout();
        l.add(Var {
            name: "rating".into(),
            ty: VarType::Text,
            kind: VarKind::Feature,
            optional: true,
            sample: EValue::String("A".into()),
            phase: 0,
        })
        .unwrap();
        let e = Expr::compile(
            "!has_record && (is_missing(rating) || rating != \"A\")",
            &l,
            Expect::Bool,
        )
        .unwrap();
        assert!(!e.may_read_missing(&l));
        let mut s = Slots::new(l.len());
        s.set(3, EValue::Boolean(false));
        assert!(e.missing(&s).is_empty());
        assert!(e.eval_bool(&s).unwrap());
        s.set(4, EValue::String("A".into()));
        assert!(!e.eval_bool(&s).unwrap());
        let err =
            Expr::compile("is_missing(rating) || rating > \"B\"", &l, Expect::Bool).unwrap_err();
        assert!(err.starts_with("when `rating` is absent"), "{err}");
    }

    #[test]
    fn missing_reads_are_reported_before_evaluation() {
        let l = layout();
        let e = Expr::compile("has_record && ratio > 0.5", &l, Expect::Bool).unwrap();
        let mut s = Slots::new(l.len());
        s.set(3, EValue::Boolean(false));
        assert_eq!(e.missing(&s), vec![2]);
    }
}
