//! Segments (客群): the segmented default in `examples/policies`
//! (`farmer-credit-default-2026.7-segmented.json`) scores thin files with
//! `farmer-thin-file-scorecard` and its own grade table, every other
//! household with the farmer scorecard and the ruleset's table. Outcomes
//! worked out by hand; the segment and why are in the trace, the
//! explanation and the record, which renders back identically.

use decision_core::compile::Document;
use decision_core::decision::Outcome;
use decision_core::evaluate::{Options, evaluate, evaluate_recorded, render};
use decision_core::policy_set::{PolicySet, SHIPPED};
use decision_core::request::Request;
use decision_core::{Lang, explain};
use serde_json::{Value, json};

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The shipped documents with the default replaced by the segmented one
/// (edited by `edit`) and the thin-file card beside.
fn segmented(edit: impl FnOnce(&mut Value)) -> Result<PolicySet, decision_core::PolicyError> {
    let mut ruleset: Value = serde_json::from_str(
        &std::fs::read_to_string(repo(
            "examples/policies/farmer-credit-default-2026.7-segmented.json",
        ))
        .unwrap(),
    )
    .unwrap();
    edit(&mut ruleset);
    let mut docs: Vec<Document> = SHIPPED
        .iter()
        .filter(|(name, _)| !name.ends_with("farmer-credit-default.json"))
        .map(|(name, text)| Document::parse(name, text).unwrap())
        .collect();
    docs.push(Document::parse("segmented.json", &ruleset.to_string())?);
    docs.push(Document::parse(
        "thin-card.json",
        &std::fs::read_to_string(repo("examples/policies/farmer-thin-file-scorecard.json"))
            .unwrap(),
    )?);
    PolicySet::from_documents(docs)
}

fn example(file: &str) -> Request {
    Request::from_json(
        &std::fs::read_to_string(repo(&format!("examples/requests/{file}"))).unwrap(),
    )
    .unwrap()
}

#[test]
fn thin_files_are_scored_by_the_thin_file_card_and_others_by_the_bureau_card() {
    let set = segmented(|_| {}).unwrap();
    let policy = set.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let cards: Vec<String> = policy
        .versions
        .iter()
        .filter(|v| v.kind == "scorecard")
        .map(|v| format!("{}@{}", v.id, v.version))
        .collect();
    assert_eq!(
        cards,
        [
            "farmer-scorecard@2026.1",
            "farmer-thin-file-scorecard@2026.1"
        ]
    );
    // (file, segment, card, outcome, score, grade, limit, rate, reasons)
    let expected = [
        // 06 under the thin-file card: 605 less the three bureau bins'
        // 30 (10 each), plus 30 in the base (450), review A 55 not 40:
        // 620 A. Thin-file table, A: 40000 x 1.5 = 60000, cap 60000,
        // + 4000 subsidy uplift, review cap 60000, thin-file cap 50000.
        // Rate: 0.0300 + 0.0180 - 0.0010 (5y subsidy) + 0.0050 = 0.0520.
        // Reasons: income 25 below, then 20s new to bank, then land 15.
        (
            "06-thin-file-strong-review.json",
            "thin_file",
            "farmer-thin-file-scorecard",
            Outcome::Approve,
            "620",
            "A",
            "50000",
            Some("0.0520"),
            vec!["SC02", "SC08", "SC09", "SC03"],
        ),
        // 07: 590 - 30 + 30 - 20 (B) + 25 (B) = 595 B. Thin-file B:
        // 50000 x 1.0 = 50000, cap 40000, + 6000 uplift = 46000.
        // Rate: 0.0300 + 0.0260 + 0.0050 = 0.0610. Refer F302 (review B);
        // reasons: review 30 below (25 of 55), then the 20s.
        (
            "07-thin-file-weak-review.json",
            "thin_file",
            "farmer-thin-file-scorecard",
            Outcome::Refer,
            "595",
            "B",
            "46000",
            Some("0.0610"),
            vec!["F302", "SC10", "SC08", "SC09", "SC02"],
        ),
        // Households with a bureau record decide as under the shipped
        // default (see examples.rs).
        (
            "01-clean-approve.json",
            "bureau",
            "farmer-scorecard",
            Outcome::Approve,
            "690",
            "AAA",
            "150000",
            Some("0.0340"),
            vec!["SC03", "SC02", "SC04", "SC09"],
        ),
        (
            "03-grade-a-new-to-bank.json",
            "bureau",
            "farmer-scorecard",
            Outcome::Approve,
            "600",
            "A",
            "60000",
            Some("0.0460"),
            vec!["SC02", "SC05", "SC08", "SC09"],
        ),
    ];
    for (file, segment, card, outcome, score, grade, limit, rate, reasons) in expected {
        let request = example(file);
        let (d, record) = evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
        assert_eq!(d.decision, outcome, "{file}");
        assert_eq!(d.score.to_string(), score, "{file}");
        assert_eq!(d.grade, grade, "{file}");
        assert_eq!(d.limit.to_string(), limit, "{file}");
        assert_eq!(
            d.annual_rate.map(|r| r.to_string()).as_deref(),
            rate,
            "{file}"
        );
        let codes: Vec<&str> = d.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, reasons, "{file}");
        let trace = d.trace.as_ref().unwrap();
        let seg = trace.segment.as_ref().unwrap();
        assert_eq!(&*seg.id, segment, "{file}");
        assert_eq!(trace.scorecard.id, card, "{file}");
        // Why: thin_file's condition with the value it read, then (for a
        // bureau household) the catch-all.
        assert_eq!(
            seg.checked[0].condition.as_deref(),
            Some("!bureau_has_record")
        );
        assert_eq!(
            serde_json::to_value(&seg.checked[0].inputs).unwrap(),
            json!({"bureau_has_record": segment == "bureau"})
        );
        assert_eq!(seg.checked.len(), if segment == "bureau" { 2 } else { 1 });
        // The record names the segment and renders back byte for byte.
        assert_eq!(record.segment, u32::from(segment == "bureau"), "{file}");
        let back = render(policy, &request, &record, Options { trace: true }).unwrap();
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&d).unwrap(),
            "{file}"
        );
    }
    let d = evaluate(
        policy,
        &example("07-thin-file-weak-review.json"),
        Options::default(),
    )
    .unwrap();
    let en = explain(&d, Lang::En);
    assert!(
        en.contains("Segment thin_file (Households without a credit-bureau record (信用白户)): scored by farmer-thin-file-scorecard@2026.1\n  - segment thin_file: `!bureau_has_record` holds (bureau_has_record=false)"),
        "{en}"
    );
    let zh = explain(&d, Lang::Zh);
    assert!(zh.contains("客群 thin_file"), "{zh}");
    // A record of one segment cannot be rendered as the other's.
    let request = example("01-clean-approve.json");
    let (_, mut record) = evaluate_recorded(policy, &request, Options::default()).unwrap();
    record.segment = 0;
    assert!(render(policy, &request, &record, Options::default()).is_err());
}

#[test]
fn a_badly_segmented_ruleset_is_refused_with_every_problem() {
    let e = segmented(|r| {
        let segs = r["segments"].as_array_mut().unwrap();
        segs[0]["scorecard_version"] = json!("2026.9");
        segs[0]["grades"]["columns"] = json!(["income_multiple", "grade_cap"]);
        segs[1]["when"] = json!("score > 600");
        segs.push(json!({"id": "thin_file", "when": "age > 30",
                         "scorecard": "farmer-scorecard", "scorecard_version": "2026.1"}));
    })
    .unwrap_err();
    let got: Vec<String> = e
        .issues
        .iter()
        .map(|i| format!("{}: {}", i.place, i.message))
        .collect();
    assert_eq!(
        got,
        [
            "segments[1] bureau.when: `score` is not known yet here: it is computed by the scorecard and grade",
            "segments[2] thin_file.when: the last segment takes every household left: omit `when`",
            "segments[0] thin_file.scorecard: scorecard farmer-thin-file-scorecard@2026.9 is not in the policy set: publish it (a segment names the exact version it scores with)",
            "segments[2] thin_file: a second segment with this id",
        ],
        "{got:#?}"
    );
}
