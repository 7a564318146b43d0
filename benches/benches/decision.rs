//! One full decision on the shipped default policy, timed two ways in one
//! criterion run: by this engine (`decision_core::evaluate`) and
//! by zen-engine (GoRules) evaluating the same policy written as a JDM
//! decision graph, `zen/farmer-credit.json`, each with and without its trace
//! (group `default_policy_decision`). A second group times a variant of the
//! graph with the scorecard as one expression node instead of twelve tables
//! (`zen/farmer-credit-scorecard-expression.json`), to show what zen's
//! per-node cost weighs.
//!
//! `engine_record` is what a pre-review keeps per decision: the decision
//! and its compact record encoded (the trace's facts, from which the JSON
//! trace is rendered byte for byte when asked); `engine_render_stored` is
//! that rendering (decode a stored record and render the decision with its
//! full trace), the cost of GetDecision and explain.
//!
//! Before anything is timed, every example household under
//! `examples/requests/` is decided by both engines (zen with its trace on and
//! off) and the outcomes must agree: decision, score, grade, limit, annual
//! rate, the rule reason codes and the flags. A disagreement panics and
//! names the household.
//!
//! Run: `cargo bench -p decision-engine-benches --bench decision`.

use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use decision_core::Request;
use decision_core::{Options, evaluate, evaluate_recorded, render};
use decision_core::{PolicySet, SHIPPED};
use futures::executor::block_on;
use rust_decimal::Decimal;
use serde_json::Value;
use zen_engine::model::DecisionContent;
use zen_engine::{Decision, DecisionEngine, EvaluationOptions, Variable};

/// The shipped default policy as a zen-engine decision graph: one decision
/// table per scorecard characteristic.
const ZEN_GRAPH: &str = include_str!("../zen/farmer-credit.json");

/// The same graph with the twelve scorecard tables replaced by one
/// expression node (a sensitivity check: fewer nodes for zen to walk).
const ZEN_GRAPH_SCORECARD_EXPRESSION: &str =
    include_str!("../zen/farmer-credit-scorecard-expression.json");

/// The household every timed evaluation decides.
const TIMED_HOUSEHOLD: &str = "01-clean-approve.json";

/// An example household, as each engine takes it.
struct Household {
    file: String,
    /// Parsed once; our engine validates and binds it on every evaluation.
    request: Request,
    /// The features as a JSON object with money and decimal features as
    /// exact JSON numbers (zen's expressions do not compute on strings).
    zen_input: Value,
}

/// The outcome fields both engines must agree on.
#[derive(Debug, PartialEq)]
struct Outcome {
    decision: String,
    score: Decimal,
    grade: String,
    limit: Decimal,
    annual_rate: Option<Decimal>,
    /// Reason codes from knock-out rules, a declining grade and a limit below
    /// the minimum (declines), or from refer rules (refers); not the ranked
    /// scorecard reason codes, which the zen graph does not compute.
    rule_reasons: Vec<String>,
    flags: Vec<String>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self
            .annual_rate
            .map(|r| r.normalize().to_string())
            .unwrap_or_else(|| "none".to_string());
        write!(
            f,
            "{} score {} grade {} limit {} rate {} reasons {:?} flags {:?}",
            self.decision,
            self.score.normalize(),
            self.grade,
            self.limit.normalize(),
            rate,
            self.rule_reasons,
            self.flags
        )
    }
}

impl Outcome {
    fn of_engine(d: &decision_core::Decision) -> Outcome {
        Outcome {
            decision: d.decision.as_str().to_string(),
            score: d.score,
            grade: d.grade.clone(),
            limit: d.limit,
            annual_rate: d.annual_rate,
            rule_reasons: d
                .reasons
                .iter()
                .filter(|r| !r.source.starts_with("characteristic:"))
                .map(|r| r.code.clone())
                .collect(),
            flags: d.flags.iter().map(|r| r.code.clone()).collect(),
        }
    }

    fn of_zen(result: &Value) -> Result<Outcome, String> {
        let field = |name: &str| {
            result
                .get(name)
                .ok_or_else(|| format!("zen result has no `{name}`: {result}"))
        };
        let string = |name: &str| {
            field(name)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("zen `{name}` is not a string: {result}"))
        };
        // zen leaves a null-valued key out of its result: absent is null.
        let number = |name: &str| -> Result<Option<Decimal>, String> {
            match result.get(name).unwrap_or(&Value::Null) {
                Value::Null => Ok(None),
                Value::Number(n) => {
                    let text = n.to_string();
                    Decimal::from_str_exact(&text)
                        .or_else(|_| Decimal::from_scientific(&text))
                        .map(Some)
                        .map_err(|e| format!("zen `{name}` {text}: {e}"))
                }
                other => Err(format!("zen `{name}` is not a number: {other}")),
            }
        };
        let required = |name: &str| number(name)?.ok_or_else(|| format!("zen `{name}` is null"));
        let codes = |name: &str| -> Result<Vec<String>, String> {
            field(name)?
                .as_array()
                .ok_or_else(|| format!("zen `{name}` is not an array: {result}"))?
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("zen `{name}` holds a non-string: {c}"))
                })
                .collect()
        };
        Ok(Outcome {
            decision: string("decision")?,
            score: required("score")?,
            grade: string("grade")?,
            limit: required("limit")?,
            annual_rate: number("annual_rate")?,
            rule_reasons: codes("reasons")?,
            flags: codes("flags")?,
        })
    }
}

/// The features the schema declares `money` or `decimal`: written as decimal
/// strings in requests, given to zen as JSON numbers.
fn decimal_features() -> Vec<String> {
    let (_, text) = SHIPPED
        .iter()
        .find(|(name, _)| name.ends_with("feature-schema.json"))
        .expect("the shipped policy has a feature schema");
    let schema: Value = serde_json::from_str(text).expect("feature schema is JSON");
    schema["features"]
        .as_array()
        .expect("feature schema lists features")
        .iter()
        .filter(|f| matches!(f["type"].as_str(), Some("money" | "decimal")))
        .map(|f| f["name"].as_str().expect("feature name").to_string())
        .collect()
}

/// The request's features as zen's input: decimal strings become exact JSON
/// numbers (serde_json's `arbitrary_precision` keeps their text).
fn zen_input(request: &Request, decimals: &[String]) -> Value {
    let features = request
        .features
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) if decimals.contains(name) => Value::Number(
                    text.parse()
                        .unwrap_or_else(|e| panic!("feature {name} = {text:?}: {e}")),
                ),
                other => other.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(features)
}

/// Every example household, in file name order.
fn households() -> Vec<Household> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/requests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let decimals = decimal_features();
    files
        .iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let request = Request::from_json(&text)
                .unwrap_or_else(|e| panic!("{file}: invalid request: {e}"));
            let zen_input = zen_input(&request, &decimals);
            Household {
                file,
                request,
                zen_input,
            }
        })
        .collect()
}

/// A zen graph, parsed and compiled once.
fn zen_decision(name: &str, graph: &str) -> Decision {
    let content: DecisionContent =
        serde_json::from_str(graph).unwrap_or_else(|e| panic!("{name} is not a JDM graph: {e}"));
    let mut decision = DecisionEngine::default()
        .create_decision(Arc::new(content))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    decision
        .validate()
        .unwrap_or_else(|e| panic!("{name} is not a valid graph: {e}"));
    decision.compile();
    decision
}

fn zen_options(trace: bool) -> EvaluationOptions {
    EvaluationOptions {
        trace,
        max_depth: 10,
    }
}

/// Evaluates the zen graph on one household; the result as JSON.
fn zen_evaluate(zen: &Decision, household: &Household, trace: bool) -> Value {
    let response =
        block_on(zen.evaluate_with_opts(Variable::from(&household.zen_input), zen_options(trace)))
            .unwrap_or_else(|e| panic!("{}: zen evaluation failed: {e}", household.file));
    if trace && response.trace.is_none() {
        panic!("{}: zen returned no trace", household.file);
    }
    response.result.into()
}

/// Decides every household with both engines and panics, naming the
/// household, where they disagree.
fn check_equivalence(policies: &PolicySet, graph: &str, zen: &Decision, households: &[Household]) {
    assert!(
        households.len() >= 17,
        "expected the 17 example households, found {}",
        households.len()
    );
    for h in households {
        let policy = policies
            .select(&h.request.institution, &h.request.product)
            .unwrap_or_else(|e| panic!("{}: {e}", h.file));
        for trace in [true, false] {
            let ours = evaluate(policy, &h.request, Options { trace })
                .unwrap_or_else(|e| panic!("{}: our engine failed: {e}", h.file));
            let ours = Outcome::of_engine(&ours);
            let result = zen_evaluate(zen, h, trace);
            let theirs = Outcome::of_zen(&result).unwrap_or_else(|e| panic!("{}: {e}", h.file));
            if ours != theirs {
                panic!(
                    "household {} ({graph}, trace {trace}): the engines disagree\n  ours: {ours}\n  zen:  {theirs}",
                    h.file
                );
            }
        }
    }
    eprintln!(
        "equivalence ({graph}): {} households agree on decision, score, grade, limit, \
         annual rate, rule reasons and flags (zen with trace on and off)",
        households.len()
    );
}

fn default_policy_decision(c: &mut Criterion) {
    let policies = PolicySet::shipped().expect("the shipped policy compiles");
    let households = households();
    let zen = zen_decision("zen/farmer-credit.json", ZEN_GRAPH);
    let zen_variant = zen_decision(
        "zen/farmer-credit-scorecard-expression.json",
        ZEN_GRAPH_SCORECARD_EXPRESSION,
    );
    let timed = households
        .iter()
        .find(|h| h.file == TIMED_HOUSEHOLD)
        .expect("the timed household exists");
    let policy = policies
        .select(&timed.request.institution, &timed.request.product)
        .expect("a policy for the timed household");
    check_equivalence(&policies, "zen/farmer-credit.json", &zen, &households);
    check_equivalence(
        &policies,
        "zen/farmer-credit-scorecard-expression.json",
        &zen_variant,
        &households,
    );

    let mut group = c.benchmark_group("default_policy_decision");
    for (name, trace) in [("engine_trace", true), ("engine_no_trace", false)] {
        group.bench_function(name, |b| {
            b.iter(|| evaluate(policy, black_box(&timed.request), Options { trace }).unwrap())
        });
    }
    // What a pre-review stores: the decision and its compact record, the
    // trace's facts in bytes (the JSON trace is rendered only when asked).
    group.bench_function("engine_record", |b| {
        b.iter(|| {
            let (d, record) =
                evaluate_recorded(policy, black_box(&timed.request), Options { trace: false })
                    .unwrap();
            (d, decision_store::compact::encode(&record))
        })
    });
    // GetDecision / explain of a stored decision: the record's bytes read
    // and rendered into the decision with its full trace.
    let (_, stored) = evaluate_recorded(policy, &timed.request, Options { trace: false }).unwrap();
    let stored = decision_store::compact::encode(&stored);
    group.bench_function("engine_render_stored", |b| {
        b.iter(|| {
            let record =
                decision_store::compact::decode(black_box(&stored), policy.rules.len()).unwrap();
            render(policy, &timed.request, &record, Options { trace: true }).unwrap()
        })
    });
    bench_zen(&mut group, &zen, timed);
    group.finish();

    let mut group = c.benchmark_group("zen_scorecard_as_one_expression_node");
    bench_zen(&mut group, &zen_variant, timed);
    group.finish();
}

/// `zen_trace` and `zen_no_trace`: one evaluation of `zen` on `household`,
/// from the already-built JSON input.
fn bench_zen(group: &mut BenchmarkGroup<'_, WallTime>, zen: &Decision, household: &Household) {
    for (name, trace) in [("zen_trace", true), ("zen_no_trace", false)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                block_on(zen.evaluate_with_opts(
                    Variable::from(black_box(&household.zen_input)),
                    zen_options(trace),
                ))
                .unwrap()
            })
        });
    }
}

criterion_group!(benches, default_policy_decision);
criterion_main!(benches);
