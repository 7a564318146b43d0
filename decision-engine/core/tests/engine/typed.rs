//! The typed evaluator against evalexpr, its reference semantics.
//!
//! For every expression of the shipped policy documents (and of the golden
//! policy the release before the split decided with), and for expressions
//! generated over the same names, the typed form's result is compared with
//! evalexpr's on inputs built from each expression: every value absent in
//! turn, the edges of every literal and threshold it compares with (the
//! literal, one unit and one fen either side, the same amount at another
//! scale), the edges of every scorecard bin and schema range, enum values,
//! zero, negatives and amounts large enough to overflow. The property: the
//! typed form gives exactly evalexpr's value (kind and decimal scale
//! included), and bails (handing over to evalexpr) exactly when evalexpr
//! fails.

use std::collections::BTreeSet;
use std::path::Path;

use decision_core::compile::Policy;
use decision_core::compile::scorecard::BinTest;
use decision_core::expr::{EValue, Expect, Expr, Num, Slots, VarType};
use decision_core::policy_set::PolicySet;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rust_decimal::Decimal;

/// Every expression of a compiled policy, with its place.
fn expressions(policy: &Policy) -> Vec<(String, &Expr)> {
    let mut out: Vec<(String, &Expr)> = Vec::new();
    for d in &policy.derived {
        out.push((format!("derived {}", d.name), &d.expr));
    }
    for r in &policy.rules {
        out.push((format!("rule {}", r.id), &r.expr));
    }
    for (what, steps) in [
        ("limit", &policy.limit.steps),
        ("price", &policy.price.steps),
    ] {
        for s in steps {
            out.push((format!("{what} step {} value", s.id), &s.value));
            if let Some(w) = &s.when {
                out.push((format!("{what} step {} when", s.id), w));
            }
        }
    }
    out.push(("price floor".into(), &policy.price.floor));
    out.push(("price cap".into(), &policy.price.cap));
    for c in &policy.scorecard.characteristics {
        for b in &c.bins {
            if let Some(e) = &b.points_expr {
                out.push((format!("characteristic {} bin {}", c.name, b.label), e));
            }
        }
    }
    out
}

/// The numeric literals written in `source`.
fn literals(source: &str) -> Vec<Decimal> {
    let mut out = Vec::new();
    let mut chars = source.char_indices().peekable();
    let mut prev_ident = false;
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_digit() && !prev_ident {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            if let Ok(d) = source[i..end].parse::<Decimal>() {
                out.push(d);
            }
            prev_ident = false;
        } else {
            prev_ident = c.is_alphanumeric() || c == '_';
        }
    }
    out
}

/// The string literals written in `source`.
fn strings(source: &str) -> Vec<String> {
    source
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The values tried for one slot read by an expression.
fn candidates(policy: &Policy, slot: usize, source: &str) -> Vec<EValue> {
    let var = policy.layout.var(slot);
    let mut edges: BTreeSet<Decimal> = literals(source).into_iter().collect();
    let feature = policy
        .schema
        .by_name
        .get(&*var.name)
        .map(|&i| &policy.schema.features[i]);
    if let Some(f) = feature {
        edges.extend(f.min);
        edges.extend(f.max);
    }
    for c in &policy.scorecard.characteristics {
        if c.slot == slot {
            for b in &c.bins {
                if let BinTest::Interval(iv) = &b.test {
                    edges.extend(iv.lo);
                    edges.extend(iv.hi);
                }
            }
        }
    }
    let mut out = vec![EValue::Empty];
    match var.ty {
        VarType::Bool => out.extend([EValue::Boolean(true), EValue::Boolean(false)]),
        VarType::Int => {
            let mut ints: BTreeSet<i64> = [0, 1, -1, 2, i64::MAX, -i64::MAX].into();
            for e in &edges {
                if let Ok(i) = i64::try_from(e.trunc()) {
                    ints.extend([i.saturating_sub(1), i, i.saturating_add(1)]);
                }
            }
            out.extend(ints.into_iter().map(EValue::Int));
        }
        VarType::Decimal => {
            let fen = Decimal::new(1, 2);
            let mut decs = vec![
                Decimal::ZERO,
                Decimal::new(0, 2),
                Decimal::ONE,
                Decimal::NEGATIVE_ONE,
                Decimal::new(1, 28),
                Decimal::MAX / Decimal::TWO,
                Decimal::MIN / Decimal::TWO,
            ];
            for &e in &edges {
                let mut rescaled = e;
                rescaled.rescale(e.scale() + 2);
                decs.extend([
                    e - Decimal::ONE,
                    e - fen,
                    e,
                    rescaled,
                    e + fen,
                    e + Decimal::ONE,
                ]);
            }
            out.extend(decs.into_iter().map(|d| EValue::Float(Num(d))));
        }
        VarType::Text => {
            let mut texts: BTreeSet<String> = strings(source).into_iter().collect();
            if let Some(f) = feature {
                texts.extend(f.values.iter().cloned());
            }
            texts.insert(String::new());
            out.extend(texts.into_iter().map(EValue::String));
        }
    }
    out
}

/// Two values written the same way: the same kind, and decimals with the
/// same digits and scale.
fn identical(a: &EValue, b: &EValue) -> bool {
    match (a, b) {
        (EValue::Float(x), EValue::Float(y)) => x.0.to_string() == y.0.to_string(),
        _ => a == b,
    }
}

/// What the comparison covered.
#[derive(Default, Debug)]
struct Covered {
    expressions: usize,
    inputs: usize,
    typed_values: usize,
    reference_errors: usize,
}

/// Compares the typed form with evalexpr on one set of slots.
fn compare(place: &str, expr: &Expr, slots: &Slots, covered: &mut Covered) {
    let typed = expr
        .eval_typed(slots)
        .unwrap_or_else(|| panic!("{place}: `{}` has no typed form", expr.source()));
    let reference = expr.eval_reference(slots);
    covered.inputs += 1;
    let values: Vec<String> = expr
        .reads()
        .iter()
        .map(|&s| format!("{}", slots.get(s)))
        .collect();
    match (&typed, &reference) {
        (Some(t), Ok(r)) => {
            assert!(
                identical(t, r),
                "{place}: `{}` on {values:?}: typed {t:?}, evalexpr {r:?}",
                expr.source()
            );
            covered.typed_values += 1;
        }
        (None, Err(_)) => covered.reference_errors += 1,
        (Some(t), Err(e)) => panic!(
            "{place}: `{}` on {values:?}: typed gives {t:?} where evalexpr fails: {}",
            expr.source(),
            e.0
        ),
        (None, Ok(r)) => panic!(
            "{place}: `{}` on {values:?}: typed bails where evalexpr gives {r:?}",
            expr.source()
        ),
    }
}

/// A small deterministic generator, so a failure names a reproducible input.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Every value of every read slot in turn over random others, then random
/// combinations.
fn exercise(policy: &Policy, place: &str, expr: &Expr, covered: &mut Covered, seed: u64) {
    let reads = expr.reads();
    let tries: Vec<Vec<EValue>> = reads
        .iter()
        .map(|&s| candidates(policy, s, expr.source()))
        .collect();
    let mut rng = SplitMix(seed);
    let mut slots = Slots::new(policy.layout.len());
    let randomise = |slots: &mut Slots, rng: &mut SplitMix| {
        for (&s, values) in reads.iter().zip(&tries) {
            // Mostly present: an absent value makes most expressions fail.
            let value = if rng.next().is_multiple_of(8) {
                EValue::Empty
            } else {
                rng.pick(&values[1..]).clone()
            };
            slots.set(s, value);
        }
    };
    for (i, &s) in reads.iter().enumerate() {
        for value in &tries[i] {
            randomise(&mut slots, &mut rng);
            slots.set(s, value.clone());
            compare(place, expr, &slots, covered);
        }
    }
    for _ in 0..200 {
        randomise(&mut slots, &mut rng);
        compare(place, expr, &slots, covered);
    }
    covered.expressions += 1;
}

fn shipped_policies() -> Vec<PolicySet> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/golden/policy");
    vec![
        PolicySet::shipped().expect("shipped policy compiles"),
        PolicySet::load_dir(&golden).expect("golden policy compiles"),
    ]
}

#[test]
fn every_shipped_expression_is_typed_and_evaluates_as_evalexpr_does() {
    let mut covered = Covered::default();
    for set in shipped_policies() {
        for policy in set.policies() {
            for (i, (place, expr)) in expressions(policy).into_iter().enumerate() {
                assert!(
                    expr.is_typed(),
                    "{place}: `{}` has no typed form",
                    expr.source()
                );
                exercise(policy, &place, expr, &mut covered, 2026 + i as u64);
            }
        }
    }
    eprintln!("shipped expressions: {covered:?}");
    // The shipped documents have dozens of expressions; each is tried on
    // hundreds of inputs, and both outcomes (a value, a failure) occur.
    assert!(covered.expressions >= 40, "{covered:?}");
    assert!(covered.inputs >= 15_000, "{covered:?}");
    assert!(covered.typed_values > 0 && covered.reference_errors > 0);
}

/// A generated expression over the shipped policy's names: numbers (integer
/// and decimal features, literals, arithmetic, min/max/if/floor/round/ceil/
/// abs) and conditions (comparisons, ==, !=, &&, ||, !, is_missing,
/// is_present, if).
fn number(ints: Vec<String>, decs: Vec<String>, bools: Vec<String>) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        prop::sample::select(ints),
        prop::sample::select(decs),
        (-50i64..200_000).prop_map(|i| i.to_string()),
        (0i64..2_000_000, 0u32..4).prop_map(|(m, s)| Decimal::new(m, s).to_string()),
    ];
    let bools_leaf = prop::sample::select(bools);
    leaf.prop_recursive(4, 24, 3, move |inner| {
        let b = bools_leaf.clone();
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("min({})", v.join(", "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| format!("max({})", v.join(", "))),
            (b, inner.clone(), inner.clone()).prop_map(|(c, x, y)| format!("if({c}, {x}, {y})")),
            (
                prop::sample::select(vec!["floor", "round", "ceil", "math::abs"]),
                inner
            )
                .prop_map(|(f, a)| format!("{f}({a})")),
        ]
    })
    .boxed()
}

fn condition(
    num: BoxedStrategy<String>,
    bools: Vec<String>,
    texts: Vec<(String, Vec<String>)>,
) -> impl Strategy<Value = String> {
    let comparison = (
        num.clone(),
        prop::sample::select(vec![">", "<", ">=", "<="]),
        num,
    )
        .prop_map(|(a, op, b)| format!("{a} {op} {b}"));
    let text = prop::sample::select(texts).prop_flat_map(|(name, values)| {
        (
            Just(name),
            prop::sample::select(vec!["==", "!="]),
            prop::sample::select(values),
        )
            .prop_map(|(n, op, v)| format!("{n} {op} \"{v}\""))
    });
    let names = bools.clone();
    let leaf = prop_oneof![
        3 => comparison,
        1 => text,
        1 => prop::sample::select(bools),
        1 => prop::sample::select(names.clone()).prop_map(|n| format!("is_missing({n})")),
        1 => prop::sample::select(names).prop_map(|n| format!("is_present({n})")),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["&&", "||"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(c, a, b)| format!("if({c}, {a}, {b})")),
        ]
    })
}

fn names_of(policy: &Policy, ty: VarType) -> Vec<String> {
    policy
        .layout
        .vars()
        .iter()
        .filter(|v| v.ty == ty)
        .map(|v| v.name.to_string())
        .collect()
}

fn shipped_policy() -> &'static Policy {
    use std::sync::OnceLock;
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| PolicySet::shipped().expect("shipped policy compiles"))
        .select("ANY", "FARMER_CREDIT")
        .expect("the default policy")
}

fn generated() -> impl Strategy<Value = (String, Expect)> {
    let policy = shipped_policy();
    let (ints, decs, bools) = (
        names_of(policy, VarType::Int),
        names_of(policy, VarType::Decimal),
        names_of(policy, VarType::Bool),
    );
    let texts: Vec<(String, Vec<String>)> = policy
        .schema
        .features
        .iter()
        .filter(|f| !f.values.is_empty())
        .map(|f| (f.name.clone(), f.values.clone()))
        .collect();
    let num = number(ints, decs, bools.clone());
    prop_oneof![
        num.clone().prop_map(|s| (s, Expect::Number)),
        condition(num, bools, texts).prop_map(|s| (s, Expect::Bool)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_expressions_evaluate_as_evalexpr_does((source, expect) in generated(), seed in any::<u64>()) {
        let policy = shipped_policy();
        // Expressions the load-time checks refuse (an integer divided by an
        // integer, `==` between an integer and a decimal, a type error on
        // the sample values) never reach evaluation.
        let Ok(expr) = Expr::compile(&source, &policy.layout, expect) else {
            return Ok(());
        };
        exercise(policy, "generated", &expr, &mut Covered::default(), seed);
    }
}

#[test]
fn generated_expressions_cover_thousands_of_expressions() {
    // A fixed, deterministic sample of the same generator, so the coverage
    // BENCHMARKS.md quotes is checked, not only printed.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let policy = shipped_policy();
    let mut covered = Covered::default();
    let mut refused = 0;
    for i in 0..1500u64 {
        let (source, expect) = generated()
            .new_tree(&mut runner)
            .expect("a generated expression")
            .current();
        match Expr::compile(&source, &policy.layout, expect) {
            Ok(expr) => exercise(policy, "generated", &expr, &mut covered, i),
            Err(_) => refused += 1,
        }
    }
    eprintln!("generated expressions: {covered:?}, refused at load: {refused}");
    assert!(
        covered.expressions >= 1000,
        "{covered:?}, refused {refused}"
    );
    assert!(covered.typed_values > 100_000 && covered.reference_errors > 1000);
}
