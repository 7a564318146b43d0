//! The compact decision record, what a store keeps of a decision: rendered
//! again under the policy it names, it gives the decision and the trace the
//! engine returned, byte for byte; a record that does not add up, or that
//! another policy made, is refused with what is wrong. (Its bytes on disk
//! are the store's: `decision-engine/store/tests/compact.rs`.)

use decision_core::evaluate::{Options, evaluate_recorded, render};
use decision_core::policy_set::PolicySet;
use decision_core::record::{Record, Value};
use decision_core::request::Request;
use decision_core::{Outcome, Policy, RenderError};
use rust_decimal::Decimal;

/// Every example household, by file name, in file order.
pub(crate) fn requests() -> Vec<(String, Request)> {
    let dir = format!("{}/../../examples/requests", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                Request::from_json(&text).unwrap(),
            )
        })
        .collect()
}

fn shipped() -> PolicySet {
    PolicySet::shipped().unwrap()
}

fn golden() -> PolicySet {
    PolicySet::load_dir(std::path::Path::new(&format!(
        "{}/../testdata/golden/policy",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn every_example_household_renders_from_its_record_byte_for_byte() {
    let mut rendered = 0;
    for set in [shipped(), golden()] {
        for (file, request) in requests() {
            let policy = set.select(&request.institution, &request.product).unwrap();
            let (decision, record) =
                evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
            let read = record;
            let again = render(policy, &request, &read, Options { trace: true }).unwrap();
            assert_eq!(json(&again), json(&decision), "{file}: rendered differs");
            let mut without = decision.clone();
            without.trace = None;
            let again = render(policy, &request, &read, Options { trace: false }).unwrap();
            assert_eq!(json(&again), json(&without), "{file}: without trace");
            rendered += 1;
        }
    }
    assert_eq!(rendered, 34);
}

/// The shipped policy, example 16 (a REFER with an authority matrix
/// route), its request and record.
fn refer_case() -> (PolicySet, Request, Record) {
    let set = shipped();
    let (_, request) = requests()
        .into_iter()
        .find(|(f, _)| f.starts_with("16-"))
        .unwrap();
    let policy = set.select(&request.institution, &request.product).unwrap();
    let (decision, record) = evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
    assert_eq!(decision.decision, Outcome::Refer);
    (set, request, record)
}

fn refused(policy: &Policy, request: &Request, record: &Record) -> String {
    render(policy, request, record, Options { trace: false })
        .expect_err("a record that does not add up is refused")
        .to_string()
}

#[test]
fn a_record_that_does_not_add_up_is_refused_naming_what() {
    let (set, request, record) = refer_case();
    let policy = set.select(&request.institution, &request.product).unwrap();
    let knockout = policy
        .rules
        .iter()
        .position(|r| r.stage == decision_core::model::ruleset::Stage::Knockout)
        .unwrap();

    let mut r = record.clone();
    r.rule_hits[knockout] = true;
    assert!(
        refused(policy, &request, &r)
            .contains("the recorded outcome is REFER, the recorded facts give DECLINE"),
        "{}",
        refused(policy, &request, &r)
    );

    let mut r = record.clone();
    r.score += Decimal::ONE;
    let e = refused(policy, &request, &r);
    assert!(e.contains("the recorded score is"), "{e}");

    let mut r = record.clone();
    r.limit -= Decimal::from(1000);
    let e = refused(policy, &request, &r);
    assert!(
        e.contains("the recorded limit is 299000, the recorded limit steps give 300000"),
        "{e}"
    );

    let mut r = record.clone();
    let first = r.limit_steps.iter().position(Option::is_some).unwrap();
    r.limit_steps[first] = None;
    let e = refused(policy, &request, &r);
    assert!(e.contains("is recorded skipped without a condition"), "{e}");

    let mut r = record.clone();
    r.bins[0] = 99;
    let e = refused(policy, &request, &r);
    assert!(e.contains("bin 99 of characteristic"), "{e}");

    let mut r = record.clone();
    r.grade_band = 99;
    let e = refused(policy, &request, &r);
    assert!(e.contains("grade band 99"), "{e}");

    let mut r = record.clone();
    let present = r.derived.iter().position(|v| *v != Value::Absent).unwrap();
    r.derived[present] = Value::Absent;
    let e = refused(policy, &request, &r);
    assert!(e.contains("absent though its inputs are present"), "{e}");

    let mut r = record.clone();
    r.derived.pop();
    let e = refused(policy, &request, &r);
    assert!(e.contains("derived values recorded for"), "{e}");
}

#[test]
fn a_record_another_policy_made_is_refused() {
    let (_set, request, record) = refer_case();
    let other = golden();
    let policy = other
        .select(&request.institution, &request.product)
        .unwrap();
    assert!(matches!(
        render(policy, &request, &record, Options { trace: true }),
        Err(RenderError::OtherPolicy { .. })
    ));
}
