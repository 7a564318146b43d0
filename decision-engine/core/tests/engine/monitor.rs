//! Post-loan monitoring of hand-worked loans under the shipped monitoring
//! policy (`rulesets/farmer-post-loan.json`), as of 2026-11-30: each
//! warning rule firing and not, a grade migration, each task rule, a loan
//! with no signal; the exact signals, levels, tasks and due dates.
//!
//! Re-scoring uses the shipped product policy; the households are the
//! example households, whose scores `examples.rs` works out by hand
//! (01: 690 AAA, 02: 650 AA, 04: 595 B, 05: 460 C, 13: 670 AA).

use decision_core::model::monitoring::{MonitoringDoc, Severity, TaskKind};
use decision_core::monitor::{Evaluation, LoanInput, LoanSchema, MonitoringPolicy, parse_date};
use decision_core::{Document, Lang, PolicySet};

use super::examples::example;

const AS_OF: &str = "2026-11-30";

/// A loan of FARMER_CREDIT at HB-JINGSHAN branch JS-01, its refreshed
/// features those of example household `file` with `changes`.
fn loan(
    file: &str,
    columns: &[(&str, serde_json::Value)],
    changes: &[(&str, serde_json::Value)],
) -> serde_json::Map<String, serde_json::Value> {
    let request = example(file);
    let mut row = serde_json::Map::new();
    for (k, v) in [
        ("institution", "HB-JINGSHAN"),
        ("branch", "JS-01"),
        ("product", "FARMER_CREDIT"),
        ("household_id", request.request_id.as_str()),
    ] {
        row.insert(k.into(), v.into());
    }
    for (k, v) in columns {
        row.insert((*k).into(), v.clone());
    }
    for (k, v) in &request.features {
        row.insert(k.clone(), v.clone());
    }
    for (k, v) in changes {
        row.insert((*k).into(), v.clone());
    }
    row
}

fn run_with(policies: &PolicySet, row: &serde_json::Map<String, serde_json::Value>) -> Evaluation {
    let monitoring = policies
        .monitoring("HB-JINGSHAN")
        .expect("a monitoring policy");
    let product = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    monitoring
        .evaluate(
            product,
            &LoanInput::of_json(row),
            parse_date(AS_OF).unwrap(),
        )
        .unwrap_or_else(|e| panic!("the loan evaluates: {e:?}"))
}

fn run(row: &serde_json::Map<String, serde_json::Value>) -> Evaluation {
    run_with(&PolicySet::shipped().unwrap(), row)
}

fn signals(e: &Evaluation) -> Vec<(&str, Severity)> {
    e.signals
        .iter()
        .map(|s| (s.code.as_str(), s.severity))
        .collect()
}

fn tasks(e: &Evaluation) -> Vec<(&str, TaskKind, &str, &str)> {
    e.tasks
        .iter()
        .map(|t| {
            (
                t.rule_id.as_str(),
                t.task,
                t.due_on.as_str(),
                t.period.as_str(),
            )
        })
        .collect()
}

fn fired(e: &Evaluation, code: &str) -> bool {
    e.warnings
        .iter()
        .find(|w| w.code == code)
        .expect(code)
        .fired
}

fn cols(
    id: &str,
    disbursed: &str,
    maturity: &str,
    balance: &str,
    dpd: i64,
    origination: Option<(&str, &str)>,
) -> Vec<(&'static str, serde_json::Value)> {
    let mut c: Vec<(&'static str, serde_json::Value)> = vec![
        ("loan_id", id.into()),
        ("amount", "150000".into()),
        ("balance", balance.into()),
        ("disbursed_on", disbursed.into()),
        ("maturity_on", maturity.into()),
        ("days_past_due", dpd.into()),
    ];
    if let Some((score, grade)) = origination {
        c.push(("origination_score", score.into()));
        c.push(("origination_grade", grade.into()));
    }
    c
}

#[test]
fn a_sound_loan_raises_no_signal_and_no_task() {
    // 01 today 690 AAA as at origination; 260 days since disbursement,
    // 105 to maturity; current; 1 inquiry; no court, no bureau overdue.
    let e = run(&loan(
        "01-clean-approve.json",
        &cols(
            "LN-01",
            "2026-03-15",
            "2027-03-15",
            "100000",
            0,
            Some(("690", "AAA")),
        ),
        &[],
    ));
    assert_eq!(
        (e.score.to_string().as_str(), e.grade.as_str()),
        ("690", "AAA")
    );
    assert_eq!(e.outcome_now, "APPROVE");
    assert_eq!(e.grade_notches_down, Some(0));
    assert!(e.signals.is_empty(), "{:?}", e.signals);
    assert!(e.warnings.iter().all(|w| !w.fired));
    assert_eq!(e.warnings.len(), 8, "every warning rule is traced");
    assert_eq!(e.level.code, "L4_NORMAL");
    assert!(e.tasks.is_empty(), "{:?}", e.tasks);
    let first = e
        .task_rules
        .iter()
        .find(|t| t.rule_id == "T_FIRST_VISIT")
        .unwrap();
    assert!(!first.due);
    assert_eq!(
        first.why,
        ["days_since_disbursement <= first_visit_days is false"]
    );
    assert_eq!(
        first
            .inputs
            .get("days_since_disbursement")
            .unwrap()
            .to_json(),
        260
    );
}

#[test]
fn a_new_loan_gets_its_first_visit_within_thirty_days_of_disbursement() {
    let e = run(&loan(
        "02-grade-aa.json",
        &cols(
            "LN-02",
            "2026-11-20",
            "2027-11-20",
            "142000",
            0,
            Some(("650", "AA")),
        ),
        &[],
    ));
    assert!(e.signals.is_empty());
    assert_eq!(e.level.code, "L4_NORMAL");
    // Due 30 days after the disbursement, not after the run.
    assert_eq!(
        tasks(&e),
        [("T_FIRST_VISIT", TaskKind::FirstVisit, "2026-12-20", "once")]
    );
}

#[test]
fn severe_overdue_and_court_enforcement_are_red_and_ask_for_a_visit_a_freeze_and_a_recall_review() {
    // 45 days past due, on the court's list: both red; 45 > 30 is not the
    // orange overdue. The court flag declines today, the score stays 690.
    let e = run(&loan(
        "01-clean-approve.json",
        &cols(
            "LN-03",
            "2026-05-01",
            "2027-05-01",
            "120000",
            45,
            Some(("690", "AAA")),
        ),
        &[("court_enforcement_flag", true.into())],
    ));
    assert_eq!(e.outcome_now, "DECLINE");
    assert_eq!(e.score.to_string(), "690");
    assert_eq!(
        signals(&e),
        [("W_DPD_SEVERE", Severity::Red), ("W_COURT", Severity::Red)]
    );
    assert!(!fired(&e, "W_DPD"));
    assert_eq!(e.level.code, "L1_INTENSIVE");
    assert_eq!(
        tasks(&e),
        [
            (
                "T_INTENSIVE_FIELD",
                TaskKind::FieldVisit,
                "2026-12-07",
                "2026-11"
            ),
            (
                "T_FREEZE",
                TaskKind::LimitFreeze,
                "2026-12-01",
                "2026-11-30"
            ),
            ("T_RECALL", TaskKind::RecallReview, "2026-12-15", "2026-Q4"),
        ]
    );
    let freeze = e
        .task_rules
        .iter()
        .find(|t| t.rule_id == "T_FREEZE")
        .unwrap();
    assert_eq!(freeze.why, ["W_DPD_SEVERE, W_COURT fired"]);
}

#[test]
fn a_red_loan_below_the_recall_balance_is_visited_and_frozen_but_not_reviewed_for_recall() {
    let e = run(&loan(
        "02-grade-aa.json",
        &cols(
            "LN-07",
            "2026-05-01",
            "2027-05-01",
            "30000",
            40,
            Some(("650", "AA")),
        ),
        &[],
    ));
    assert_eq!(signals(&e), [("W_DPD_SEVERE", Severity::Red)]);
    assert_eq!(e.level.code, "L1_INTENSIVE");
    assert_eq!(
        tasks(&e).iter().map(|t| t.0).collect::<Vec<_>>(),
        ["T_INTENSIVE_FIELD", "T_FREEZE"]
    );
    let recall = e
        .task_rules
        .iter()
        .find(|t| t.rule_id == "T_RECALL")
        .unwrap();
    assert!(!recall.due);
    assert_eq!(recall.why, ["balance >= recall_min_balance is false"]);
}

#[test]
fn a_grade_migration_from_a_to_c_is_orange_and_asks_for_a_phone_visit() {
    // 05 today: 460, grade C (4th band), declined; at origination 600, A
    // (2nd band): 2 notches down (orange), 140 points lost (yellow); 10
    // days past due (orange, not red).
    let e = run(&loan(
        "05-grade-c-decline.json",
        &cols(
            "LN-04",
            "2026-02-01",
            "2027-02-01",
            "40000",
            10,
            Some(("600", "A")),
        ),
        &[],
    ));
    assert_eq!(
        (e.score.to_string().as_str(), e.grade.as_str()),
        ("460", "C")
    );
    assert_eq!(e.outcome_now, "DECLINE");
    assert_eq!(e.grade_notches_down, Some(2));
    assert_eq!(
        signals(&e),
        [
            ("W_DPD", Severity::Orange),
            ("W_GRADE_DOWN", Severity::Orange),
            ("W_SCORE_DROP", Severity::Yellow),
        ]
    );
    let drop = e
        .warnings
        .iter()
        .find(|w| w.code == "W_SCORE_DROP")
        .unwrap();
    assert_eq!(drop.inputs.get("score_change").unwrap().to_json(), "-140");
    assert_eq!(e.level.code, "L2_ATTENTION");
    assert_eq!(
        tasks(&e),
        [(
            "T_ATTENTION_PHONE",
            TaskKind::PhoneVisit,
            "2026-12-10",
            "2026-11"
        )]
    );
}

#[test]
fn a_one_notch_fall_near_maturity_is_yellow_and_asks_for_a_quarterly_phone_visit() {
    // 04 today: 595 B; at origination 630 A: 1 notch (not orange), 35
    // points (yellow); matures in 20 days with 5000 outstanding (yellow).
    let e = run(&loan(
        "04-grade-b.json",
        &cols(
            "LN-05",
            "2025-12-20",
            "2026-12-20",
            "5000",
            0,
            Some(("630", "A")),
        ),
        &[],
    ));
    assert_eq!(e.grade_notches_down, Some(1));
    assert!(!fired(&e, "W_GRADE_DOWN"));
    assert_eq!(
        signals(&e),
        [
            ("W_SCORE_DROP", Severity::Yellow),
            ("W_MATURITY", Severity::Yellow)
        ]
    );
    assert_eq!(e.level.code, "L3_WATCH");
    assert_eq!(
        tasks(&e),
        [(
            "T_WATCH_PHONE",
            TaskKind::PhoneVisit,
            "2026-12-30",
            "2026-Q4"
        )]
    );
}

#[test]
fn a_bureau_overdue_and_frequent_inquiries_without_an_origination_record() {
    // 13: 7 inquiries in 3 months (yellow), and a current overdue elsewhere
    // (orange). No origination score or grade: the migration rules read
    // absent values and their when_missing (false) applies.
    let e = run(&loan(
        "13-red-line-inquiries.json",
        &cols("LN-06", "2026-04-10", "2027-04-10", "60000", 0, None),
        &[("bureau_current_overdue_count", 1.into())],
    ));
    assert_eq!(
        (e.score.to_string().as_str(), e.grade.as_str()),
        ("670", "AA")
    );
    assert_eq!(e.grade_notches_down, None);
    assert_eq!(
        signals(&e),
        [
            ("W_BUREAU_OVERDUE", Severity::Orange),
            ("W_INQUIRIES", Severity::Yellow),
        ]
    );
    let grade = e
        .warnings
        .iter()
        .find(|w| w.code == "W_GRADE_DOWN")
        .unwrap();
    assert_eq!(grade.missing, ["grade_notches_down"]);
    assert!(!grade.fired);
    assert_eq!(e.level.code, "L2_ATTENTION");
    assert_eq!(
        tasks(&e).iter().map(|t| t.0).collect::<Vec<_>>(),
        ["T_ATTENTION_PHONE"]
    );
}

#[test]
fn a_task_rule_for_another_product_is_not_due_and_says_why() {
    let shipped = PolicySet::shipped().unwrap();
    let mut docs = shipped.documents().to_vec();
    let text = decision_core::SHIPPED
        .iter()
        .find(|(n, _)| n.ends_with("farmer-post-loan.json"))
        .unwrap()
        .1
        .replace(
            "\"products\": [\"FARMER_CREDIT\"]",
            "\"products\": [\"GUARANTEED_FARMER\"]",
        );
    docs.retain(|d| !matches!(d, Document::Monitoring(_)));
    docs.push(Document::parse("recall-other-product", &text).unwrap());
    let policies = PolicySet::from_documents(docs).unwrap();
    let e = run_with(
        &policies,
        &loan(
            "01-clean-approve.json",
            &cols("LN-08", "2026-05-01", "2027-05-01", "120000", 45, None),
            &[],
        ),
    );
    assert_eq!(e.level.code, "L1_INTENSIVE");
    let recall = e
        .task_rules
        .iter()
        .find(|t| t.rule_id == "T_RECALL")
        .unwrap();
    assert!(!recall.due);
    assert_eq!(
        recall.why[0],
        "product FARMER_CREDIT is not one of GUARANTEED_FARMER"
    );
}

#[test]
fn ids_are_content_ids_and_a_task_keeps_its_id_within_its_period() {
    let row = loan(
        "01-clean-approve.json",
        &cols("LN-03", "2026-05-01", "2027-05-01", "120000", 45, None),
        &[],
    );
    let policies = PolicySet::shipped().unwrap();
    let m = policies.monitoring("HB-JINGSHAN").unwrap();
    let p = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let on = |d: &str| {
        m.evaluate(p, &LoanInput::of_json(&row), parse_date(d).unwrap())
            .unwrap()
    };
    let (a, b, c) = (on("2026-11-30"), on("2026-11-29"), on("2026-12-01"));
    let id = |e: &Evaluation, rule: &str| {
        e.tasks
            .iter()
            .find(|t| t.rule_id == rule)
            .unwrap()
            .task_id
            .clone()
    };
    // Monthly: the same task on two days of November, a new one in December.
    assert_eq!(id(&a, "T_INTENSIVE_FIELD"), id(&b, "T_INTENSIVE_FIELD"));
    assert_ne!(id(&a, "T_INTENSIVE_FIELD"), id(&c, "T_INTENSIVE_FIELD"));
    // Quarterly: the same in November and December.
    assert_eq!(id(&a, "T_RECALL"), id(&c, "T_RECALL"));
    // Every run: a new one each day. Signals are per day.
    assert_ne!(id(&a, "T_FREEZE"), id(&b, "T_FREEZE"));
    assert_ne!(a.signals[0].signal_id, b.signals[0].signal_id);
    assert!(a.tasks[0].task_id.starts_with("task-") && a.signals[0].signal_id.starts_with("sig-"));
}

#[test]
fn a_signal_explains_which_rule_fired_on_which_values_in_both_languages() {
    let e = run(&loan(
        "05-grade-c-decline.json",
        &cols(
            "LN-04",
            "2026-02-01",
            "2027-02-01",
            "40000",
            10,
            Some(("600", "A")),
        ),
        &[],
    ));
    let en = e.explain(Some("W_GRADE_DOWN"), Lang::En);
    assert!(
        en.contains("Warning rule W_GRADE_DOWN (orange) fired: grade_notches_down >= grade_drop_orange with grade_notches_down = 2, grade_drop_orange = 2. The grade fell two or more notches since origination"),
        "{en}"
    );
    assert!(
        en.contains(
            "Re-scored: 460 points, grade C (at origination A), would decide DECLINE today"
        ),
        "{en}"
    );
    let zh = e.explain(Some("W_GRADE_DOWN"), Lang::Zh);
    assert!(zh.contains("预警规则 W_GRADE_DOWN（橙色）触发"), "{zh}");
    assert!(zh.contains("评级较放款时下降两级及以上"), "{zh}");
    assert!(zh.contains("贷后分层：L2_ATTENTION 关注"), "{zh}");
    // The stored evaluation reads back identically.
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(serde_json::from_str::<Evaluation>(&json).unwrap(), e);
}

#[test]
fn a_bad_loan_row_is_refused_with_every_column_named() {
    let policies = PolicySet::shipped().unwrap();
    let m = policies.monitoring("HB-JINGSHAN").unwrap();
    let p = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let mut row = loan(
        "01-clean-approve.json",
        &cols("LN-09", "2026-12-05", "2026-01-01", "-5", 0, None),
        &[
            ("age", "old".into()),
            ("days_past_due", "3.5".into()),
            ("colour", "red".into()),
        ],
    );
    row.remove("branch");
    let errors = m
        .evaluate(p, &LoanInput::of_json(&row), parse_date(AS_OF).unwrap())
        .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "branch",
            "balance",
            "days_past_due",
            "colour",
            "disbursed_on",
            "maturity_on",
            "age"
        ],
        "{errors:?}"
    );
    assert_eq!(
        errors[0].message,
        "required loan column is missing: expected text"
    );
    assert_eq!(
        errors[1].message,
        "-5 is below the minimum: expected a decimal of at least 0"
    );
    assert_eq!(
        errors[2].message,
        "\"3.5\" is not valid: expected a whole number of at least 0"
    );
    assert!(
        errors[4]
            .message
            .contains("2026-12-05 is after the monitoring date 2026-11-30")
    );
}

#[test]
fn a_bad_monitoring_policy_is_refused_with_every_problem_and_its_place() {
    let shipped = PolicySet::shipped().unwrap();
    let product = shipped.select("*", "FARMER_CREDIT").unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(
        decision_core::SHIPPED
            .iter()
            .find(|(n, _)| n.ends_with("farmer-post-loan.json"))
            .unwrap()
            .1,
    )
    .unwrap();
    doc["warnings"][0]["expression"] = "days_past_due > > 3".into();
    doc["warnings"][1]["expression"] = "tractor_count > 2".into();
    doc["warnings"][2]["expression"] = "red_signals > 0".into();
    doc["warnings"][3]["when_missing"] = serde_json::Value::Null;
    doc["levels"][3]["expression"] = "yellow_signals == 0".into();
    doc["tasks"][1]["levels"] = serde_json::json!(["L9_UNKNOWN"]);
    doc["tasks"][2]["signals"] = serde_json::json!(["W_NOPE"]);
    let text = doc.to_string();
    let loaded = match Document::parse("bad-monitor", &text).unwrap() {
        Document::Monitoring(m) => m,
        _ => unreachable!(),
    };
    let err =
        MonitoringPolicy::compile(&loaded, &LoanSchema::shipped().unwrap(), product).unwrap_err();
    let places: Vec<String> = err.issues.iter().map(|i| i.place.clone()).collect();
    assert_eq!(
        places,
        [
            "warnings[0] W_DPD_SEVERE.expression",
            "warnings[1] W_COURT.expression",
            "warnings[2] W_DPD.expression",
            "warnings[3] W_BUREAU_OVERDUE",
            "levels[3] L4_NORMAL.expression",
            "tasks[1] T_INTENSIVE_FIELD.levels[0]",
            "tasks[2] T_FREEZE.signals[0]",
        ],
        "{err}"
    );
    let messages: Vec<&str> = err.issues.iter().map(|i| i.message.as_str()).collect();
    assert!(messages[1].contains("tractor_count"), "{}", messages[1]);
    assert!(
        messages[2].contains("`red_signals` is not known yet here"),
        "{}",
        messages[2]
    );
    assert!(messages[3].contains("when_missing"), "{}", messages[3]);
    assert!(
        messages[4].contains("the last level must be `true`"),
        "{}",
        messages[4]
    );
    let _: MonitoringDoc = serde_json::from_str(&text).unwrap();
}
