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
    let (case, steps) = w
        .reviews
        .get(&Bearer::Token(AUDITOR), &d.decision_id)
        .await
        .unwrap();
    assert_eq!(case.unwrap().system_outcome, "REFER");
    assert_eq!(steps.len(), 1);

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
    let audit = w.store.list_audit(100).await.unwrap();
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
    let (_, steps) = w.reviews.of(&d.decision_id).await.unwrap();
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
    assert!(w.reviews.of(&d.decision_id).await.unwrap().1.is_empty());
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
    assert!(w.reviews.of(&d.decision_id).await.unwrap().1.len() == 1);
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

/// Each scenario on both backends: in memory, and SQLite on disk.
macro_rules! on_both_stores {
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
    };
}

on_both_stores!(
    a_referred_household_is_approved_within_authority_and_the_system_decision_stays,
    beyond_authority_waits_for_the_required_level_and_a_raised_limit_for_a_second_person,
    another_institutions_reviewer_is_refused_and_nothing_is_recorded,
    an_override_without_a_reason_and_bad_fields_are_refused_naming_the_field,
    the_decision_after_investigation_supersedes_the_pre_reviews_case,
);
