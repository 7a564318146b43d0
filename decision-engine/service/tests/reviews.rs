//! Reviews on the in-memory store with the shipped policy and authority
//! matrix (rulesets/farmer-authority.json) and the development tokens
//! (config/tokens.dev.toml): officer.zhou and officer.qian are branch
//! officers of 3201, approver.ma and approver.he county approvers of 3201,
//! approver.xu a county approver of 3202.
//!
//! The household is example 01 (APPROVE, AAA, 150,000 at 0.0340 alone)
//! applying for 40,000 over 12 months with a natural-person guarantee but
//! no guarantor's details: REFER F306, limit 40,000, rate 0.0340, routed
//! to the branch officer (who may approve 50,000 over 12 months).

use std::sync::Arc;

use decision_core::{Outcome, PolicySet, Request};
use decision_service::{
    Bearer, Decisions, Limits, Policies, PreReview, ReviewInput, Reviews, ServiceError, Tokens,
};
use decision_store::{CaseStatus, MemoryStore, SqliteStore, StepEffect, Store};
use rust_decimal::Decimal;

const ZHOU: &str = "dev-reviewer-token-3201-officer";
const QIAN: &str = "dev-reviewer-token-3201-officer2";
const MA: &str = "dev-reviewer-token-3201-county";
const HE: &str = "dev-reviewer-token-3201-county2";
const XU: &str = "dev-reviewer-token-3202-county";
const AUDITOR: &str = "dev-auditor-token-00001";

fn repo(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct World<S> {
    store: Arc<S>,
    decisions: Decisions<S>,
    reviews: Reviews<S>,
}

async fn world<S: Store>(store: S) -> World<S> {
    let store = Arc::new(store);
    let policies = Arc::new(
        Policies::new(Arc::new(PolicySet::shipped().unwrap()), store.clone())
            .await
            .unwrap(),
    );
    let tokens = Arc::new(Tokens::load(&repo("config/tokens.dev.toml")).unwrap());
    World {
        store,
        decisions: Decisions::new(policies.clone(), Limits::default()),
        reviews: Reviews::new(policies, tokens),
    }
}

/// Household 01 of institution 3201 applying with `application` features.
fn request(request_id: &str, application: serde_json::Value) -> Request {
    let mut r = Request::from_json(
        &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
    )
    .unwrap();
    r.request_id = request_id.into();
    r.institution = "3201".into();
    for (k, v) in application.as_object().unwrap() {
        r.features.insert(k.clone(), v.clone());
    }
    r
}

fn guaranteed_40000() -> serde_json::Value {
    serde_json::json!({
        "requested_amount": "40000",
        "requested_term_months": 12,
        "loan_purpose": "livestock",
        "guarantee_type": "natural_person"
    })
}

impl<S: Store> World<S> {
    async fn decide(
        &self,
        request: Request,
        application: Option<(&str, &str)>,
    ) -> Arc<decision_core::Decision> {
        self.decisions
            .pre_review(
                PreReview {
                    request,
                    pins: Vec::new(),
                    as_of: String::new(),
                    input_errors: Vec::new(),
                    household_id: None,
                    application_id: application.map(|a| a.0.to_string()),
                    stage: application.map(|a| a.1.to_string()),
                },
                true,
                None,
            )
            .await
            .unwrap()
            .decision
    }

    // One argument per field of a review, as a reviewer fills them in.
    #[allow(clippy::too_many_arguments)]
    async fn review(
        &self,
        token: &str,
        review_id: &str,
        decision_id: &str,
        outcome: &str,
        limit: &str,
        rate: &str,
        reasons: &[&str],
    ) -> Result<decision_service::Reviewed, ServiceError> {
        self.reviews
            .record(
                &Bearer::Token(token),
                ReviewInput {
                    review_id: review_id.into(),
                    decision_id: decision_id.into(),
                    outcome: outcome.into(),
                    limit: limit.into(),
                    annual_rate: rate.into(),
                    reason_codes: reasons.iter().map(|r| r.to_string()).collect(),
                    note: "实地调查：养殖规模属实 / field visit: the herd is as declared".into(),
                },
            )
            .await
    }
}

async fn a_referred_household_is_approved_within_authority_and_the_system_decision_stays<
    S: Store,
>(
    store: S,
) {
    let w = world(store).await;
    let d = w.decide(request("R-1", guaranteed_40000()), None).await;
    assert_eq!(d.decision, Outcome::Refer);
    assert_eq!(d.reasons[0].code, "F306");
    assert_eq!(
        (d.limit, d.annual_rate),
        (dec("40000"), Some(dec("0.0340")))
    );
    let routing = d.routing.as_ref().unwrap();
    assert_eq!(routing.level.as_deref(), Some("branch_officer"));

    // The branch officers' queue holds it; the county approvers' does not.
    let queue = w
        .reviews
        .pending(&Bearer::Token(ZHOU), None, None, 100)
        .await
        .unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].case.decision_id, d.decision_id);
    assert_eq!(queue[0].case.status, CaseStatus::Pending);
    assert!(queue[0].age_seconds < 60);
    assert!(
        w.reviews
            .pending(&Bearer::Token(MA), None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    let r = w
        .review(
            ZHOU,
            "RV-1",
            &d.decision_id,
            "APPROVE",
            "40000",
            "0.0340",
            &["O105"],
        )
        .await
        .unwrap();
    assert_eq!(r.step.effect, StepEffect::Final);
    assert_eq!(
        (
            r.step.reviewer.as_str(),
            r.step.level.as_str(),
            r.step.branch.as_str()
        ),
        ("officer.zhou", "branch_officer", "3201-01")
    );
    assert_eq!(r.case.status, CaseStatus::Decided);
    assert_eq!(r.case.final_outcome.as_deref(), Some("APPROVE"));
    assert_eq!(r.case.final_limit, Some(dec("40000")));
    assert!(
        w.reviews
            .pending(&Bearer::Token(ZHOU), None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // The system decision is kept as it was.
    let stored = w.store.get(&d.decision_id).await.unwrap().unwrap();
    assert_eq!(stored.outcome, "REFER");
    let (shown, account) = w
        .reviews
        .get(&Bearer::Token(AUDITOR), &d.decision_id)
        .await
        .unwrap();
    assert_eq!(shown.decision, Outcome::Refer);
    assert_eq!(account.case.unwrap().system_outcome, "REFER");
    assert_eq!(account.steps.len(), 1);

    // A retry is answered with the stored step; another review under the
    // same id is refused; a decided case is final.
    let again = w
        .review(
            ZHOU,
            "RV-1",
            &d.decision_id,
            "APPROVE",
            "40000",
            "0.0340",
            &["O105"],
        )
        .await
        .unwrap();
    assert!(again.idempotent_replay);
    assert_eq!(again.step, r.step);
    let e = w
        .review(
            ZHOU,
            "RV-1",
            &d.decision_id,
            "APPROVE",
            "30000",
            "0.0340",
            &["O105"],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    let e = w
        .review(ZHOU, "RV-2", &d.decision_id, "DECLINE", "0", "", &["O201"])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Precondition(m) if m.contains("already decided by review (APPROVE 40000)")),
        "{e:?}"
    );
    let audit = w.store.list_audit(100, None).await.unwrap();
    let accepted: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "review" && a.accepted)
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        accepted[0].detail,
        "step 1 at branch_officer: APPROVE 40000 at 0.034 (O105) final"
    );
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "review" && !a.accepted)
            .count(),
        2
    );
}

async fn beyond_authority_waits_for_the_required_level_and_a_raised_limit_for_a_second_person<
    S: Store,
>(
    store: S,
) {
    let w = world(store).await;
    let d = w.decide(request("R-2", guaranteed_40000()), None).await;

    // 60,000 is above the branch officer's 50,000 and above the system's
    // 40,000: a county approver must confirm.
    let r = w
        .review(
            ZHOU,
            "RV-10",
            &d.decision_id,
            "APPROVE",
            "60000",
            "0.0340",
            &["O101"],
        )
        .await
        .unwrap();
    assert_eq!(r.step.effect, StepEffect::AwaitingConfirmation);
    assert_eq!(r.step.requires_level.as_deref(), Some("county_approver"));
    assert_eq!(
        r.step.requires_because,
        [
            "APPROVE 60000 is beyond a branch officer's authority: a county approver confirms",
            "limit 60000 above the system's 40000: a second reviewer, at least a county approver, confirms (four-eyes)"
        ]
    );
    assert_eq!(r.case.status, CaseStatus::AwaitingConfirmation);
    assert_eq!(r.case.final_limit, None);
    let queue = w
        .reviews
        .pending(&Bearer::Token(MA), None, None, 100)
        .await
        .unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].case.status, CaseStatus::AwaitingConfirmation);

    // Another branch officer cannot confirm it.
    let e = w
        .review(
            QIAN,
            "RV-11",
            &d.decision_id,
            "APPROVE",
            "60000",
            "0.0340",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Forbidden(m) if m.contains("waits for a county approver")),
        "{e:?}"
    );
    // The county approver confirms the same terms: final.
    let c = w
        .review(
            MA,
            "RV-12",
            &d.decision_id,
            "APPROVE",
            "60000",
            "0.0340",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(c.step.effect, StepEffect::Confirmed);
    assert_eq!(c.case.status, CaseStatus::Decided);
    assert_eq!(c.case.final_limit, Some(dec("60000")));

    // A county approver raising the limit (within their 200,000) still
    // needs a second person.
    let d = w.decide(request("R-3", guaranteed_40000()), None).await;
    let r = w
        .review(
            MA,
            "RV-20",
            &d.decision_id,
            "APPROVE",
            "45000",
            "0.0320",
            &["O101", "O103"],
        )
        .await
        .unwrap();
    assert_eq!(r.step.effect, StepEffect::AwaitingConfirmation);
    assert_eq!(
        r.step.requires_because,
        [
            "limit 45000 above the system's 40000; rate 0.032 below the system's 0.0340: a second reviewer, at least a county approver, confirms (four-eyes)"
        ]
    );
    let e = w
        .review(
            MA,
            "RV-21",
            &d.decision_id,
            "APPROVE",
            "45000",
            "0.0320",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Forbidden(m) if m.starts_with("four-eyes: approver.ma proposed")),
        "{e:?}"
    );
    let c = w
        .review(
            HE,
            "RV-22",
            &d.decision_id,
            "APPROVE",
            "45000",
            "0.0320",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(c.step.effect, StepEffect::Confirmed);
    assert_eq!(c.case.final_rate, Some(dec("0.032")));
    let steps = w.store.list_reviews(&d.decision_id).await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.step, s.reviewer.as_str(), s.effect))
            .collect::<Vec<_>>(),
        [
            (1, "approver.ma", StepEffect::AwaitingConfirmation),
            (2, "approver.he", StepEffect::Confirmed)
        ]
    );
}

async fn another_institutions_reviewer_is_refused_and_nothing_is_recorded<S: Store>(store: S) {
    let w = world(store).await;
    let d = w.decide(request("R-4", guaranteed_40000()), None).await;
    let e = w
        .review(
            XU,
            "RV-30",
            &d.decision_id,
            "APPROVE",
            "40000",
            "0.0340",
            &["O105"],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Forbidden(m) if m == "approver.xu acts for 3202 and not for institution 3201"),
        "{e:?}"
    );
    assert!(
        w.store
            .list_reviews(&d.decision_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.store
            .get_review_case(&d.decision_id)
            .await
            .unwrap()
            .unwrap()
            .revision,
        0
    );
}

async fn an_override_without_a_reason_and_bad_fields_are_refused_naming_the_field<S: Store>(
    store: S,
) {
    let w = world(store).await;
    // Household 01 alone is approved with 150,000: declining it needs a reason.
    let d = w.decide(request("R-5", serde_json::json!({})), None).await;
    assert_eq!(d.decision, Outcome::Approve);
    let e = w
        .review(MA, "RV-40", &d.decision_id, "DECLINE", "0", "", &[])
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(fields[0].field, "reason_codes");
    let e = w
        .review(
            MA,
            "RV-41",
            &d.decision_id,
            "MAYBE",
            "12.345",
            "4%",
            &["O999"],
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["outcome"]
    );
    let e = w
        .review(
            MA,
            "RV-42",
            &d.decision_id,
            "APPROVE",
            "12.345",
            "4%",
            &["O101"],
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["limit", "annual_rate"]
    );
    let e = w
        .review(MA, "RV-43", &d.decision_id, "DECLINE", "0", "", &["O999"])
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("unknown override reason `O999`"),
        "{e}"
    );
    // With a reason, a county approver declines it on their own.
    let r = w
        .review(MA, "RV-44", &d.decision_id, "DECLINE", "", "", &["O201"])
        .await
        .unwrap();
    assert_eq!(r.step.effect, StepEffect::Final);
    assert_eq!(r.case.routed_level.as_deref(), Some("county_approver"));
    assert_eq!(w.store.list_reviews(&d.decision_id).await.unwrap().len(), 1);
}

async fn the_decision_after_investigation_supersedes_the_pre_reviews_case<S: Store>(store: S) {
    let w = world(store).await;
    let pre = w
        .decide(
            request("R-6", guaranteed_40000()),
            Some(("APP-1", "pre_review")),
        )
        .await;
    // After the field investigation the guarantor's details are in.
    let mut verified = guaranteed_40000();
    verified["guarantor1_bureau_has_record"] = true.into();
    verified["guarantor1_current_overdue_count"] = 0.into();
    verified["guarantor1_max_dpd_24m"] = 0.into();
    verified["guarantor1_court_enforcement_flag"] = false.into();
    verified["requested_amount"] = "60000".into();
    let after = w
        .decide(request("R-7", verified), Some(("APP-1", "investigation")))
        .await;
    // 60,000 over 12 months with a guarantor: APPROVE within auto-approval.
    assert_eq!(after.decision, Outcome::Approve);
    assert_eq!(after.limit, dec("60000"));
    assert_eq!(after.routing.as_ref().unwrap().level, None);
    let case = w
        .store
        .get_review_case(&pre.decision_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(case.status, CaseStatus::Superseded);
    assert_eq!(
        case.superseded_by.as_deref(),
        Some(after.decision_id.as_str())
    );
    assert!(
        w.reviews
            .pending(&Bearer::Token(ZHOU), None, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let e = w
        .review(
            ZHOU,
            "RV-50",
            &pre.decision_id,
            "APPROVE",
            "40000",
            "0.0340",
            &["O105"],
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("was superseded by decision"), "{e}");
    assert_eq!(
        w.store
            .application_decisions("3201", "APP-1")
            .await
            .unwrap(),
        [pre.decision_id.clone(), after.decision_id.clone()]
    );
}

/// The account beside the system decision, as GetDecision and explain tell
/// it, and the application's chain.
async fn the_reviews_are_told_beside_the_unchanged_system_decision_in_both_languages<S: Store>(
    store: S,
) {
    let w = world(store).await;
    let d = w
        .decide(
            request("R-20", guaranteed_40000()),
            Some(("APP-20", "pre_review")),
        )
        .await;
    assert_eq!(d.reasons[0].code, "F306");
    w.review(
        QIAN,
        "RV-20",
        &d.decision_id,
        "APPROVE",
        "45000",
        "0.0340",
        &["O101"],
    )
    .await
    .unwrap();
    let stored = w.decisions.get(&d.decision_id).await.unwrap();
    let reviews = w.decisions.reviews(&stored).await.unwrap();
    assert_eq!(stored.decision.decision, Outcome::Refer);
    assert_eq!(stored.decision.limit, dec("40000"));
    let en = reviews.describe(&stored.decision, decision_core::Lang::En);
    let lines: Vec<&str> = en.lines().map(str::trim).collect();
    assert_eq!(lines[1], "Human review:");
    // The scorecard's reasons explain the score, not the referral.
    assert_eq!(
        lines[2],
        "The system referred the household, proposing 40000 yuan at 3.40%, because [F306] A guaranteed loan without the guarantor's details."
    );
    assert_eq!(
        lines[3],
        "Step 1: officer.qian (branch officer, branch 3201-02) approved 45000 yuan at 3.40% because [O101] The field investigation verified a higher income than declared; note: 实地调查：养殖规模属实 / field visit: the herd is as declared — needs a county approver to confirm: limit 45000 above the system's 40000: a second reviewer, at least a county approver, confirms (four-eyes)"
    );
    assert!(
        lines[4].starts_with("Waiting for a county approver to confirm since 20"),
        "{en}"
    );
    assert!(lines[4].ends_with(" UTC"), "{en}");

    // The county approver confirms the same terms: final.
    w.review(
        MA,
        "RV-21",
        &d.decision_id,
        "APPROVE",
        "45000",
        "0.0340",
        &[],
    )
    .await
    .unwrap();
    let stored = w.decisions.get(&d.decision_id).await.unwrap();
    let reviews = w.decisions.reviews(&stored).await.unwrap();
    assert_eq!(stored.decision.decision, Outcome::Refer, "never changed");
    let en = reviews.describe(&stored.decision, decision_core::Lang::En);
    let zh = reviews.describe(&stored.decision, decision_core::Lang::Zh);
    let lines: Vec<&str> = en.lines().map(str::trim).collect();
    assert!(
        lines[4].starts_with(
            "Step 2: approver.ma (county approver, branch 3201) confirmed: approved 45000 yuan at 3.40%; note: 实地调查：养殖规模属实 / field visit: the herd is as declared — final (20"
        ),
        "{en}"
    );
    assert_eq!(
        lines[5],
        "Decided by review: approved 45000 yuan at 3.40%; the system decision is kept unchanged (REFER proposing 40000 yuan at 3.40%)"
    );
    let zh_lines: Vec<&str> = zh.lines().map(str::trim).collect();
    assert_eq!(zh_lines[1], "人工审批记录：");
    assert_eq!(
        zh_lines[2],
        format!(
            "系统决策：转人工审批（建议额度 40000 元，年利率 3.40%），原因：[F306] {}。",
            d.reasons[0].message_zh
        )
    );
    assert_eq!(
        zh_lines[3],
        "第1步：officer.qian（支行客户经理，所属机构 3201-02）批准 45000 元，年利率 3.40%，理由：[O101] 实地调查核实收入高于申报；备注：实地调查：养殖规模属实 / field visit: the herd is as declared。需另一名县行联社审批人复核确认（双人复核）：额度 45000 元高于系统建议 40000 元"
    );
    assert!(
        zh_lines[4].starts_with("第2步：approver.ma（县行联社审批人，所属机构 3201）复核确认：批准 45000 元，年利率 3.40%"),
        "{zh}"
    );
    assert!(zh_lines[4].ends_with(" 北京时间）"), "{zh}");
    assert_eq!(
        zh_lines[5],
        "人工审批结论：批准 45000 元，年利率 3.40%；系统决策保持不变（转人工，建议额度 40000 元，年利率 3.40%）"
    );

    // The decision after investigation is told with the chain.
    let mut verified = guaranteed_40000();
    verified["guarantor1_bureau_has_record"] = false.into();
    verified["guarantor1_court_enforcement_flag"] = false.into();
    let after = w
        .decide(request("R-22", verified), Some(("APP-20", "investigation")))
        .await;
    let stored = w.decisions.get(&after.decision_id).await.unwrap();
    let reviews = w.decisions.reviews(&stored).await.unwrap();
    assert_eq!(
        reviews
            .chain
            .iter()
            .map(|c| (c.decision_id.as_str(), c.stage.as_deref()))
            .collect::<Vec<_>>(),
        [
            (d.decision_id.as_str(), Some("pre_review")),
            (after.decision_id.as_str(), Some("investigation"))
        ]
    );
    let en = reviews.describe(&stored.decision, decision_core::Lang::En);
    assert!(en.contains("\nDecisions of application APP-20:\n"), "{en}");
    // Nobody reviews the decision after investigation: no review is told.
    assert_eq!(
        reviews.case.is_none(),
        !en.contains("Human review:"),
        "{en}"
    );
    assert!(
        en.contains(&format!(
            "2. after investigation {} {} ",
            after.decision_id,
            after.decision.as_str()
        )) && en.contains("(this decision)"),
        "{en}"
    );
    let zh = reviews.describe(&stored.decision, decision_core::Lang::Zh);
    assert!(zh.contains("同一申请的决策链 APP-20："), "{zh}");
    assert!(
        zh.contains(&format!("1. 预审 {} 转人工 ", d.decision_id)),
        "{zh}"
    );
}

/// The report's figures, worked by hand from the reviews below and
/// recounted from the stored cases and steps.
async fn the_override_report_counts_what_the_reviews_say<S: Store>(store: S) {
    let w = world(store).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let d = w
            .decide(request(&format!("R-3{i}"), guaranteed_40000()), None)
            .await;
        assert_eq!(d.decision, Outcome::Refer);
        ids.push(d.decision_id.clone());
    }
    // 150,000 on credit over 12 months: APPROVE above auto-approval, to
    // the county approver.
    let g = w
        .decide(
            request(
                "R-39",
                serde_json::json!({
                    "requested_amount": "150000",
                    "requested_term_months": 12,
                    "loan_purpose": "livestock",
                    "guarantee_type": "credit"
                }),
            ),
            None,
        )
        .await;
    assert_eq!(g.decision, Outcome::Approve);
    assert_eq!(
        g.routing.as_ref().unwrap().level.as_deref(),
        Some("county_approver")
    );
    let (a, b, c, dd, f) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[5]);
    // A: approved as proposed. B: declined. C: raised, confirmed.
    // D: rate raised (an override within authority). E (ids[4]): open.
    // F: raised, awaiting confirmation. G: the system's approval declined.
    for (token, rid, id, outcome, limit, rate, reasons) in [
        (ZHOU, "A", a, "APPROVE", "40000", "0.0340", &["O301"][..]),
        (ZHOU, "B", b, "DECLINE", "", "", &["O201"][..]),
        (QIAN, "C1", c, "APPROVE", "45000", "0.0340", &["O101"][..]),
        (MA, "C2", c, "APPROVE", "45000", "0.0340", &[][..]),
        (ZHOU, "D", dd, "APPROVE", "40000", "0.0380", &["O205"][..]),
        (QIAN, "F", f, "APPROVE", "50000", "0.0340", &["O101"][..]),
        (MA, "G", &g.decision_id, "DECLINE", "", "", &["O201"][..]),
    ] {
        w.review(token, rid, id, outcome, limit, rate, reasons)
            .await
            .unwrap();
    }
    let report = decision_service::reviews::report::report(&*w.store, &[], None)
        .await
        .unwrap();
    assert_eq!(
        (
            report.pending,
            report.awaiting_confirmation,
            report.superseded
        ),
        (1, 1, 0)
    );
    let got: Vec<(&str, &str, u64, u64, Decimal, u64, Decimal)> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.dimension,
                r.key.as_str(),
                r.cases,
                r.approved,
                r.approval_rate,
                r.overridden,
                r.override_rate,
            )
        })
        .collect();
    let d4 = dec;
    assert_eq!(
        got,
        [
            ("all", "decided", 5, 3, d4("0.6"), 3, d4("0.6")),
            ("institution", "3201", 5, 3, d4("0.6"), 3, d4("0.6")),
            ("system_outcome", "APPROVE", 1, 0, d4("0"), 1, d4("1")),
            ("system_outcome", "REFER", 4, 3, d4("0.75"), 2, d4("0.5")),
            ("reason_code", "O101", 1, 1, d4("1"), 1, d4("1")),
            ("reason_code", "O201", 2, 0, d4("0"), 1, d4("0.5")),
            ("reason_code", "O205", 1, 1, d4("1"), 1, d4("1")),
            ("reason_code", "O301", 1, 1, d4("1"), 0, d4("0")),
            ("referring_rule", "F306", 4, 3, d4("0.75"), 2, d4("0.5")),
            ("reviewer", "approver.ma", 1, 0, d4("0"), 1, d4("1")),
            ("reviewer", "officer.qian", 1, 1, d4("1"), 1, d4("1")),
            (
                "reviewer",
                "officer.zhou",
                3,
                2,
                d4("0.6667"),
                1,
                d4("0.3333")
            ),
            ("branch", "3201 3201", 1, 0, d4("0"), 1, d4("1")),
            (
                "branch",
                "3201 3201-01",
                3,
                2,
                d4("0.6667"),
                1,
                d4("0.3333")
            ),
            ("branch", "3201 3201-02", 1, 1, d4("1"), 1, d4("1")),
        ]
    );
    let o101 = report.rows.iter().find(|r| r.key == "O101").unwrap();
    assert_eq!(
        o101.label,
        "The field investigation verified a higher income than declared"
    );

    // Recounted from the stored cases and steps alone: decided cases and
    // approvals, and each reviewer's share of the final terms.
    let (cases, steps) = w.store.all_reviews(Vec::new()).await.unwrap();
    let decided: Vec<_> = cases
        .iter()
        .filter(|c| c.status == CaseStatus::Decided)
        .collect();
    let all = &report.rows[0];
    assert_eq!(all.cases, decided.len() as u64);
    assert_eq!(
        all.approved,
        decided
            .iter()
            .filter(|c| c.final_outcome.as_deref() == Some("APPROVE"))
            .count() as u64
    );
    for row in report.rows.iter().filter(|r| r.dimension == "reviewer") {
        let proposed = decided
            .iter()
            .filter(|c| {
                steps
                    .iter()
                    .filter(|s| s.decision_id == c.decision_id && s.effect != StepEffect::Confirmed)
                    .max_by_key(|s| s.step)
                    .is_some_and(|s| s.reviewer == row.key)
            })
            .count() as u64;
        assert_eq!(row.cases, proposed, "{}", row.key);
    }
    // Rates are written with 4 places.
    assert_eq!(report.rows[0].approval_rate.to_string(), "0.6000");
    // None of another institution, and only the product's cases.
    let other = decision_service::reviews::report::report(&*w.store, &["3202".into()], None)
        .await
        .unwrap();
    assert!(other.rows.is_empty());
    let other_product =
        decision_service::reviews::report::report(&*w.store, &[], Some("FARMER_HOUSING"))
            .await
            .unwrap();
    assert_eq!(other_product, Default::default());
    let this_product =
        decision_service::reviews::report::report(&*w.store, &[], Some("FARMER_CREDIT"))
            .await
            .unwrap();
    assert_eq!(this_product, report);
}

/// Each scenario on every backend: in memory, SQLite on disk, and
/// PostgreSQL (a throw-away cluster, a database for each scenario).
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        mod in_memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::MemoryStore::new()).await;
            })+
        }
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::SqliteStore::open(dir.path()).unwrap()).await;
            })+
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                let url = decision_pgtest::Cluster::shared().fresh_database();
                super::$name(decision_store::PgStore::connect(&url, 4).await.unwrap()).await;
            })+
        }
    };
}

on_every_store!(
    a_referred_household_is_approved_within_authority_and_the_system_decision_stays,
    beyond_authority_waits_for_the_required_level_and_a_raised_limit_for_a_second_person,
    another_institutions_reviewer_is_refused_and_nothing_is_recorded,
    an_override_without_a_reason_and_bad_fields_are_refused_naming_the_field,
    the_decision_after_investigation_supersedes_the_pre_reviews_case,
    the_reviews_are_told_beside_the_unchanged_system_decision_in_both_languages,
    the_override_report_counts_what_the_reviews_say,
);
