//! Reviews against a real server process: the queue, refusals, four-eyes,
//! the system decision beside its reviews in GetDecision, `explain` and
//! `review show`, the override report from the command line, and no
//! acknowledged review lost to kill -9.
//!
//! The household is example 01 of institution 3201 applying for 40,000
//! over 12 months with a natural-person guarantee and no guarantor's
//! details: REFER F306 at 40,000 and 0.0340, routed to a branch officer.

use crate::common::Server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use decision_grpc::convert::features_to_proto;
use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use decision_grpc::pb::review_service_client::ReviewServiceClient;
use tonic::{Code, Request};
use tonic_types::StatusExt;

const ZHOU: &str = "dev-reviewer-token-3201-officer";
const MA: &str = "dev-reviewer-token-3201-county";
const XU: &str = "dev-reviewer-token-3202-county";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn start(data: &Path) -> Server {
    let tokens = repo("config/tokens.dev.toml");
    Server::start(data, &["--tokens-file", tokens.to_str().unwrap()])
}

fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// Household 01 of 3201 asking for 40,000 with a guarantor not described.
fn referred(request_id: &str, application_id: &str) -> pb::PreReviewRequest {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
    )
    .unwrap();
    let mut features = v["features"].as_object().unwrap().clone();
    for (k, v) in serde_json::json!({
        "requested_amount": "40000",
        "requested_term_months": 12,
        "loan_purpose": "livestock",
        "guarantee_type": "natural_person"
    })
    .as_object()
    .unwrap()
    {
        features.insert(k.clone(), v.clone());
    }
    pb::PreReviewRequest {
        request_id: request_id.into(),
        institution: "3201".into(),
        product: "FARMER_CREDIT".into(),
        features: Some(features_to_proto(&features).unwrap()),
        application_id: application_id.into(),
        stage: "pre_review".into(),
        ..Default::default()
    }
}

fn review(
    token: &str,
    review_id: &str,
    decision_id: &str,
    limit: &str,
    reasons: &[&str],
) -> Request<pb::RecordReviewRequest> {
    as_user(
        token,
        pb::RecordReviewRequest {
            review_id: review_id.into(),
            decision_id: decision_id.into(),
            outcome: "APPROVE".into(),
            limit: limit.into(),
            annual_rate: "0.0340".into(),
            reason_codes: reasons.iter().map(|r| r.to_string()).collect(),
            note: "field visit: 40 pigs as declared".into(),
        },
    )
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(args)
        .env_remove("DECISION_ENGINE_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_referred_case_is_queued_refused_raised_confirmed_and_told_beside_the_system_decision() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let url = format!("http://{}", server.addr);
    let channel = server.channel().await;
    let mut decisions = DecisionServiceClient::new(channel.clone());
    let mut reviews = ReviewServiceClient::new(channel);
    let d = decisions
        .pre_review(referred("E2E-R-1", "APP-E2E-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.decision, "REFER");
    assert_eq!(
        (d.limit.as_str(), d.annual_rate.as_deref()),
        ("40000", Some("0.0340"))
    );
    let routing = d.routing.as_ref().unwrap();
    assert_eq!(routing.level.as_deref(), Some("branch_officer"));

    // The branch officer's queue, from the command line.
    let (code, out, err) = cli(&["review", "pending", "--server", &url, "--token", ZHOU]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "{} 3201 pending system REFER waiting for branch_officer application APP-E2E-1",
            d.decision_id
        )),
        "{out}"
    );

    // Another institution's reviewer: PERMISSION_DENIED, exit 1.
    let (code, out, err) = cli(&[
        "review",
        "record",
        &d.decision_id,
        "--server",
        &url,
        "--token",
        XU,
        "--review-id",
        "X-1",
        "--outcome",
        "APPROVE",
        "--limit",
        "40000",
        "--rate",
        "0.0340",
        "--reason",
        "O301",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("PermissionDenied"), "{err}");

    // A raised limit without a reason: INVALID_ARGUMENT naming the field.
    let refused = reviews
        .record_review(review(ZHOU, "RV-E2E-0", &d.decision_id, "45000", &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> = refused
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["reason_codes"]);
    let nothing = reviews
        .get_reviews(as_user(
            ZHOU,
            pb::GetReviewsRequest {
                decision_id: d.decision_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(nothing.steps.is_empty());
    assert_eq!(nothing.case.unwrap().status, "pending");

    // Raised to 45,000 by the officer (from the command line): it waits
    // for a county approver; the county approver confirms over gRPC.
    let (code, out, err) = cli(&[
        "review",
        "record",
        &d.decision_id,
        "--server",
        &url,
        "--token",
        ZHOU,
        "--review-id",
        "RV-E2E-1",
        "--outcome",
        "APPROVE",
        "--limit",
        "45000",
        "--rate",
        "0.0340",
        "--reason",
        "O101",
        "--note",
        "field visit: 40 pigs as declared",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("awaiting_confirmation"), "{out}");
    let confirmed = reviews
        .record_review(review(MA, "RV-E2E-2", &d.decision_id, "45000", &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.step.as_ref().unwrap().effect, "confirmed");
    let case = confirmed.case.unwrap();
    assert_eq!(case.status, "decided");
    assert_eq!(
        (case.final_limit.as_deref(), case.final_rate.as_deref()),
        (Some("45000"), Some("0.034"))
    );

    // GetDecision: the system decision as it was, its reviews and the chain.
    let got = decisions
        .get_decision(pb::GetDecisionRequest {
            decision_id: d.decision_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let system = got.decision.unwrap();
    assert_eq!(
        (system.decision.as_str(), system.limit.as_str()),
        ("REFER", "40000")
    );
    assert_eq!(got.review_case.unwrap().status, "decided");
    assert_eq!(
        got.reviews
            .iter()
            .map(|s| (s.reviewer.as_str(), s.effect.as_str()))
            .collect::<Vec<_>>(),
        [
            ("officer.zhou", "awaiting_confirmation"),
            ("approver.ma", "confirmed")
        ]
    );
    assert_eq!(got.application_chain.len(), 1);
    assert_eq!(got.application_chain[0].stage, "pre_review");
    let officer_en = "Step 1: officer.zhou (branch officer, branch 3201-01) approved 45000 yuan at 3.40% because [O101] The field investigation verified a higher income than declared";
    let officer_zh = "第1步：officer.zhou（支行客户经理，所属机构 3201-01）批准 45000 元，年利率 3.40%，理由：[O101] 实地调查核实收入高于申报";
    assert!(got.explanation_en.contains(
        "The system referred the household, proposing 40000 yuan at 3.40%, because [F306]"
    ));
    assert!(
        got.explanation_en.contains(officer_en),
        "{}",
        got.explanation_en
    );
    assert!(got.explanation_en.contains("Decided by review: approved 45000 yuan at 3.40%; the system decision is kept unchanged (REFER proposing 40000 yuan at 3.40%)"));
    assert!(
        got.explanation_zh
            .contains("系统决策：转人工审批（建议额度 40000 元，年利率 3.40%），原因：[F306]")
    );
    assert!(
        got.explanation_zh.contains(officer_zh),
        "{}",
        got.explanation_zh
    );

    // `review show` and `explain` tell the same.
    let (code, out, err) = cli(&[
        "review",
        "show",
        &d.decision_id,
        "--server",
        &url,
        "--token",
        MA,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(officer_en) && out.contains(officer_zh),
        "{out}"
    );
    let (code, out, err) = cli(&[
        "explain",
        &d.decision_id,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(officer_en) && out.contains(officer_zh),
        "{out}"
    );
    assert!(out.contains("Routed to branch officer"), "{out}");

    // The report, while the server runs.
    let csv = dir.path().join("reviews.csv");
    let html = dir.path().join("reviews.html");
    let (code, out, err) = cli(&[
        "review",
        "report",
        "--data-dir",
        data.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "dimension,key,label,cases,approved,approval_rate,overridden,override_rate"
    );
    assert_eq!(
        lines[1],
        "all,decided,every decided case,1,1,1.0000,1,1.0000"
    );
    assert!(
        lines.contains(&"reviewer,officer.zhou,branch officer,1,1,1.0000,1,1.0000"),
        "{text}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("officer.zhou"));
    // Self-contained: nothing fetched when it is opened.
    assert!(
        !page.contains("<script") && !page.contains("<link") && !page.contains("src="),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_under_review_load_every_acknowledged_review_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data);
    let channel = server.channel().await;
    let mut decisions = DecisionServiceClient::new(channel.clone());
    let mut ids = Vec::new();
    for i in 0..600 {
        let d = decisions
            .pre_review(referred(&format!("K-R-{i}"), &format!("APP-K-{i}")))
            .await
            .unwrap()
            .into_inner();
        ids.push(d.decision_id);
    }
    let ids = Arc::new(ids);
    // (review id, decision id, the step as acknowledged)
    let acked: Arc<Mutex<Vec<(String, String, pb::ReviewStep)>>> = Arc::default();
    let workers = 8;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let mut client = ReviewServiceClient::new(channel.clone());
        let (ids, acked) = (ids.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for id in ids.iter().skip(worker).step_by(workers) {
                let review_id = format!("K-{id}");
                match client
                    .record_review(review(ZHOU, &review_id, id, "40000", &["O301"]))
                    .await
                {
                    Ok(r) => acked.lock().unwrap().push((
                        review_id,
                        id.clone(),
                        r.into_inner().step.unwrap(),
                    )),
                    Err(_) => break,
                }
            }
        }));
    }
    let mut server = server;
    server
        .kill_9_under_load(|| acked.lock().unwrap().len(), 200, tasks)
        .await;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 200, "{}", acked.len());

    let restarted = start(&data);
    let mut client = ReviewServiceClient::new(restarted.channel().await);
    for (review_id, decision_id, step) in &acked {
        let got = client
            .get_reviews(as_user(
                ZHOU,
                pb::GetReviewsRequest {
                    decision_id: decision_id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            got.steps.as_slice(),
            std::slice::from_ref(step),
            "{review_id} lost"
        );
        assert_eq!(got.case.unwrap().status, "decided");
        // A retry is answered from the store.
        let again = client
            .record_review(review(ZHOU, review_id, decision_id, "40000", &["O301"]))
            .await
            .unwrap()
            .into_inner();
        assert!(again.idempotent_replay);
    }
}
