//! Test cases carried by a document's version: run whenever the version is
//! compiled into a policy, each difference listed, a failing version
//! refused.

use decision_core::policy_set::{PolicySet, SHIPPED};
use decision_core::{Document, PolicyError};
use serde_json::{Value, json};

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The shipped default ruleset 2026.2 with the 17 hand-worked example
/// households as its test cases (version 2026.3).
fn with_cases() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo("examples/policies/farmer-credit-default-2026.3.json"))
            .unwrap(),
    )
    .unwrap()
}

/// The shipped set with `replacements` in place of the documents of the
/// same kind and id.
fn set_with(replacements: &[Value], cases_must_pass: bool) -> Result<PolicySet, PolicyError> {
    let given: Vec<Document> = replacements
        .iter()
        .enumerate()
        .map(|(n, v)| Document::parse(&format!("given-{n}"), &v.to_string()).unwrap())
        .collect();
    let key = |d: &Document| {
        let v = d.version_ref();
        (v.kind, v.id)
    };
    let mut docs: Vec<Document> = SHIPPED
        .iter()
        .map(|(name, text)| Document::parse(name, text).unwrap())
        .filter(|d| !given.iter().any(|g| key(g) == key(d)))
        .collect();
    docs.extend(given);
    if cases_must_pass {
        PolicySet::from_documents(docs)
    } else {
        PolicySet::from_documents_with_case_results(docs)
    }
}

fn messages(e: &PolicyError) -> Vec<String> {
    e.issues
        .iter()
        .map(|i| format!("{} | {} | {}", i.document, i.place, i.message))
        .collect()
}

#[test]
fn the_hand_worked_households_pass_as_test_cases_of_the_default_ruleset() {
    let set = set_with(&[with_cases()], true).expect("every case passes");
    let runs: Vec<_> = set.test_cases().collect();
    assert_eq!(runs.len(), 17);
    assert!(runs.iter().all(|r| r.passed()), "{runs:#?}");
    assert_eq!(runs[0].name, "01-clean-approve");
    assert_eq!(runs[0].document.version, "2026.3");
    assert_eq!(
        runs[0].under,
        "ruleset farmer-credit-default@2026.3, scorecard farmer-scorecard@2026.1"
    );
}

#[test]
fn a_failing_case_refuses_the_version_with_each_difference_listed() {
    let mut doc = with_cases();
    doc["test_cases"][0]["expect"]["limit"] = json!("160000");
    doc["test_cases"][0]["expect"]["grade"] = json!("AA");
    doc["test_cases"][1]["expect"]["reason_codes"] = json!(["SC10"]);
    doc["test_cases"][4]["expect"]["annual_rate"] = json!("0.0500");
    doc["test_cases"][5]["features"]["age"] = json!("old");
    let e = set_with(&[doc.clone()], true).unwrap_err();
    let under = "(under ruleset farmer-credit-default@2026.3, scorecard farmer-scorecard@2026.1)";
    assert_eq!(
        messages(&e),
        vec![
            format!(
                "given-0 | test_cases[0] 01-clean-approve | `grade`: expected AA, got AAA {under}"
            ),
            format!(
                "given-0 | test_cases[0] 01-clean-approve | `limit`: expected 160000, got 150000 {under}"
            ),
            format!(
                "given-0 | test_cases[1] 02-grade-aa | `reason_codes`: expected [SC10], got [SC10, SC03, SC07, SC08] {under}"
            ),
            format!(
                "given-0 | test_cases[4] 05-grade-c-decline | `annual_rate`: expected 0.0500, got none {under}"
            ),
            format!(
                "given-0 | test_cases[5] 06-thin-file-strong-review | the household is refused: `features.age`: expected an integer between 16 and 100, found \"old\" {under}"
            ),
        ]
    );
    // Reported, not refused, when asked for the results (`policy test`).
    let set = set_with(&[doc], false).unwrap();
    let failed: Vec<&str> = set
        .test_cases()
        .filter(|r| !r.passed())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "01-clean-approve",
            "02-grade-aa",
            "05-grade-c-decline",
            "06-thin-file-strong-review"
        ]
    );
}

#[test]
fn a_case_that_expects_nothing_or_repeats_a_name_is_refused() {
    let mut doc = with_cases();
    doc["test_cases"][0]["expect"] = json!({});
    doc["test_cases"][2]["name"] = json!("02-grade-aa");
    let e = set_with(&[doc], true).unwrap_err();
    let m = messages(&e).join("\n");
    assert!(
        m.contains("test_cases[0] 01-clean-approve | `expect`: expected at least one of decision, score, grade, limit, annual_rate, reason_codes, flag_codes"),
        "{m}"
    );
    assert!(
        m.contains("test_cases[2] 02-grade-aa | `name`: a second case named `02-grade-aa`"),
        "{m}"
    );
    // Nothing else: the renamed case still expects what its features give.
    assert_eq!(e.issues.len(), 2, "{m}");
}

#[test]
fn an_unknown_expectation_is_refused_when_the_document_is_read() {
    let mut doc = with_cases();
    doc["test_cases"][0]["expect"]["rate"] = json!("0.034");
    let e = Document::parse("given", &doc.to_string()).unwrap_err();
    assert!(
        e.to_string().contains("unknown field `rate`"),
        "{}",
        e.to_string()
    );
}

/// A scorecard's cases run under every policy the card is part of: here a
/// card whose base points moved by +20 carries a case expecting the new
/// score, and the default ruleset's cases (expecting the old scores) fail
/// beside it.
#[test]
fn a_scorecard_carries_cases_and_the_ruleset_cases_bind_the_card_they_run_with() {
    let mut card: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    card["version"] = json!("2026.1-plus20");
    card["base_points"] = json!("440");
    let clean = with_cases()["test_cases"][0].clone();
    let mut case = clean.clone();
    case["name"] = json!("clean household scores 710");
    case["expect"] = json!({"score": "710", "grade": "AAA"});
    card["test_cases"] = json!([case]);

    let alone = set_with(&[card.clone()], true).expect("the card's own case passes");
    // Run under each product policy the card is part of: FARMER_CREDIT and
    // GUARANTEED_FARMER_CREDIT.
    let runs: Vec<_> = alone.test_cases().collect();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.passed()));
    assert!(runs.iter().all(|r| r.document.kind == "scorecard"));

    let e = set_with(&[card, with_cases()], true).unwrap_err();
    let m = messages(&e);
    assert!(
        m.iter().any(|l| l.starts_with(
            "given-1 | test_cases[0] 01-clean-approve | `score`: expected 690, got 710"
        )),
        "{m:#?}"
    );
    assert!(m.iter().all(|l| l.starts_with("given-1 |")), "{m:#?}");
}

/// A recorded or activated version stays readable whatever its cases say
/// under other documents: `compile_exact` (replay, stored policies, the
/// policy in force) reports the failures in `Policy::tests` and compiles.
#[test]
fn compiling_recorded_versions_reports_failing_cases_without_refusing() {
    let mut doc = with_cases();
    doc["test_cases"][0]["expect"]["limit"] = json!("1");
    let given = Document::parse("given", &doc.to_string()).unwrap();
    let docs: Vec<Document> = SHIPPED
        .iter()
        .map(|(name, text)| Document::parse(name, text).unwrap())
        .filter(|d| {
            let v = d.version_ref();
            // One product's policy: FARMER_CREDIT's documents only.
            !(v.kind == "ruleset" && v.id == "farmer-credit-default")
                && v.id != "guaranteed-farmer-default"
                && v.id != "GUARANTEED_FARMER_CREDIT"
        })
        .chain(std::iter::once(given))
        .collect();
    let policy = decision_core::compile_exact(&docs).expect("compiles");
    let failed: Vec<&str> = policy
        .tests
        .iter()
        .filter(|r| !r.passed())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(failed, ["01-clean-approve"]);
    assert!(decision_core::cases::failures(&policy.tests).is_err());
}
