//! The policy registry against the real server: versions are published only
//! after full validation, are immutable, need the right role, and every call
//! lands in the audit log.

use std::path::PathBuf;
use std::process::Command;

use crate::common::Server;
use decision_grpc::pb;
use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

fn start(dir: &std::path::Path) -> Server {
    start_with(dir, &[])
}

/// A server with the development tokens (config/tokens.dev.toml).
pub(crate) fn start_with(dir: &std::path::Path, extra: &[&str]) -> Server {
    let tokens = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/tokens.dev.toml");
    let tokens = tokens.to_str().unwrap().to_string();
    let mut args = vec!["--tokens-file", tokens.as_str()];
    args.extend_from_slice(extra);
    Server::start(dir, &args)
}

pub(crate) fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

pub(crate) const ANALYST: &str = "dev-analyst-token-0001";
pub(crate) const APPROVER: &str = "dev-approver-token-0001";
pub(crate) const AUDITOR: &str = "dev-auditor-token-00001";

pub(crate) fn scorecard(version: &str, base: i64) -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scorecards/farmer-scorecard.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["version"] = serde_json::json!(version);
    v["base_points"] = serde_json::json!(base);
    v.to_string()
}

pub(crate) async fn upload(
    client: &mut PolicyRegistryClient<Channel>,
    token: &str,
    json: String,
) -> Result<pb::UploadResponse, tonic::Status> {
    client
        .upload_scorecard(as_user(
            token,
            pb::UploadRequest {
                document_json: json,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn publishing_is_validated_immutable_role_checked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();

    // Access control comes first.
    let e = upload(&mut client, "", scorecard("2026.2", 430))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unauthenticated,
            "missing `authorization: Bearer TOKEN` metadata"
        )
    );
    let e = upload(
        &mut client,
        "not-a-real-token-at-all",
        scorecard("2026.2", 430),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::Unauthenticated, "unknown token")
    );
    let e = upload(&mut client, APPROVER, scorecard("2026.2", 430))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "approver.li holds approver but this call needs analyst"
        )
    );

    // A new version is published; the same content again is the same version.
    let first = upload(&mut client, ANALYST, scorecard("2026.2", 430))
        .await
        .unwrap();
    assert!(first.created);
    let v = first.version.unwrap();
    assert_eq!(
        (
            v.kind.as_str(),
            v.id.as_str(),
            v.version.as_str(),
            v.uploaded_by.as_str()
        ),
        ("scorecard", "farmer-scorecard", "2026.2", "analyst.wang")
    );
    let again = upload(&mut client, ANALYST, scorecard("2026.2", 430))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.version.unwrap().hash, v.hash);
    // Other content under the same version is refused.
    let e = upload(&mut client, ANALYST, scorecard("2026.2", 431))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert!(
        e.message().starts_with(
            "scorecard farmer-scorecard version 2026.2 is already published with other content"
        ),
        "{}",
        e.message()
    );

    // An invalid document is refused with every problem and nothing is published.
    let mut bad: serde_json::Value = serde_json::from_str(&scorecard("2026.3", 430)).unwrap();
    bad["characteristics"][0]["bins"][1]["interval"] = serde_json::json!("[20, 35)");
    bad["characteristics"][9]["bins"][1]["categories"] = serde_json::json!(["E"]);
    let e = upload(&mut client, ANALYST, bad.to_string())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let violations: Vec<String> = e
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(
        violations,
        vec![
            "characteristics[0] age",
            "characteristics[9] review_rating.bins[1]",
            "characteristics[9] review_rating"
        ]
    );
    // A ruleset is not a scorecard.
    let ruleset = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/province-red-lines.json"),
    )
    .unwrap();
    let e = upload(&mut client, ANALYST, ruleset).await.unwrap_err();
    assert_eq!(
        e.message(),
        "invalid document, nothing published: kind: expected a scorecard document, found ruleset"
    );

    let list = client
        .list_versions(as_user(
            AUDITOR,
            pb::ListVersionsRequest {
                kind: "scorecard".into(),
                id: "farmer-scorecard".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let versions: Vec<(String, String)> = list
        .versions
        .into_iter()
        .map(|v| (v.version, v.uploaded_by))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("2026.1".to_string(), "(loaded at start)".to_string()),
            ("2026.2".to_string(), "analyst.wang".to_string())
        ]
    );
    let got = client
        .get_version(as_user(
            APPROVER,
            pb::GetVersionRequest {
                kind: "scorecard".into(),
                id: "farmer-scorecard".into(),
                version: "2026.2".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.document_json, scorecard("2026.2", 430));

    // Validation without publishing.
    let checked = client
        .validate_document(as_user(
            ANALYST,
            pb::UploadRequest {
                document_json: bad.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!checked.valid);
    assert_eq!(checked.problems.len(), 3);
    assert!(
        checked.problems[0].starts_with(
            "characteristics[0] age: upload: bins[0] (-inf, 25) and bins[1] [20, 35) overlap"
        ),
        "{:?}",
        checked.problems
    );

    // Every action, accepted or refused, is in the audit log, newest first.
    let e = client
        .list_audit_log(as_user(ANALYST, pb::ListAuditLogRequest { limit: 0 }))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let log = client
        .list_audit_log(as_user(AUDITOR, pb::ListAuditLogRequest { limit: 0 }))
        .await
        .unwrap()
        .into_inner();
    let lines: Vec<String> = log
        .entries
        .iter()
        .rev()
        .map(|e| {
            format!(
                "{} {} {} {} {}",
                e.person,
                e.action,
                e.version,
                e.accepted,
                e.detail.split(':').next().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "(unknown) UploadScorecard  false Unauthenticated",
            "(unknown) UploadScorecard  false Unauthenticated",
            "approver.li UploadScorecard  false PermissionDenied",
            "analyst.wang UploadScorecard 2026.2 true published",
            "analyst.wang UploadScorecard 2026.2 true identical version already published",
            "analyst.wang UploadScorecard 2026.2 false AlreadyExists",
            "analyst.wang UploadScorecard 2026.3 false InvalidArgument",
            "analyst.wang UploadScorecard 2026.1 false InvalidArgument",
            "analyst.wang ValidateDocument  true invalid",
            "analyst.wang ListAuditLog  false PermissionDenied",
        ]
    );
}

pub(crate) const APPROVER_2: &str = "dev-approver-token-0002";
const LEAD: &str = "dev-lead-token-00000001";

fn activation(
    institution: &str,
    scorecard_version: &str,
    effective_at: &str,
) -> pb::RequestActivationRequest {
    pb::RequestActivationRequest {
        institution: institution.into(),
        product: "FARMER_CREDIT".into(),
        ruleset_id: "farmer-credit-default".into(),
        ruleset_version: "2026.4".into(),
        scorecard_id: "farmer-scorecard".into(),
        scorecard_version: scorecard_version.into(),
        effective_at: effective_at.into(),
        challenger: None,
    }
}

pub(crate) async fn activate(
    client: &mut PolicyRegistryClient<Channel>,
    institution: &str,
    version: &str,
    effective_at: &str,
) -> pb::Activation {
    let requested = client
        .request_activation(as_user(
            APPROVER,
            activation(institution, version, effective_at),
        ))
        .await
        .unwrap()
        .into_inner();
    client
        .approve_activation(as_user(
            APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: requested.activation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// (score, scorecard version) of example 01 for `institution`, optionally as of a time.
pub(crate) async fn decide(
    server: &Server,
    institution: &str,
    request_id: &str,
    as_of: &str,
) -> (String, String) {
    use decision_grpc::convert::features_to_proto;
    use decision_grpc::pb::decision_service_client::DecisionServiceClient;
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/requests/01-clean-approve.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut client = DecisionServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let reply = client
        .pre_review(pb::PreReviewRequest {
            request_id: request_id.into(),
            institution: institution.into(),
            product: "FARMER_CREDIT".into(),
            features: Some(features_to_proto(v["features"].as_object().unwrap()).unwrap()),
            as_of: as_of.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let card = reply
        .versions
        .iter()
        .find(|v| v.kind == "scorecard")
        .unwrap();
    (reply.score, card.version.clone())
}

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_per_institution_with_four_eyes_future_times_as_of_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    assert!(
        upload(&mut client, ANALYST, scorecard("2026.2", 430))
            .await
            .unwrap()
            .created
    );
    assert!(
        upload(&mut client, ANALYST, scorecard("2026.3", 440))
            .await
            .unwrap()
            .created
    );

    // Four-eyes: the requester cannot approve.
    let requested = client
        .request_activation(as_user(APPROVER, activation("HB-A", "2026.2", "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(requested.status, "pending");
    let e = client
        .approve_activation(as_user(
            APPROVER,
            pb::ApproveActivationRequest {
                activation_id: requested.activation_id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        format!(
            "four-eyes: approver.li requested activation {} and cannot also approve it",
            requested.activation_id
        )
    );
    let approved = client
        .approve_activation(as_user(
            APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: requested.activation_id,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (approved.status.as_str(), approved.approved_by.as_str()),
        ("approved", "approver.zhao")
    );
    let activated_at = std::time::SystemTime::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // A uses the new scorecard (base 430: +10 points); B keeps the old one.
    assert_eq!(
        decide(&server, "HB-A", "A-1", "").await,
        ("700".into(), "2026.2".into())
    );
    assert_eq!(
        decide(&server, "HB-B", "B-1", "").await,
        ("690".into(), "2026.1".into())
    );

    // A future effective time takes effect only when reached.
    let effective = std::time::SystemTime::now() + std::time::Duration::from_secs(3);
    let future = activate(&mut client, "HB-A", "2026.3", &rfc3339(effective)).await;
    assert_eq!(future.effective_at, rfc3339(effective));
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        decide(&server, "HB-A", "A-2", "").await,
        ("700".into(), "2026.2".into())
    );
    tokio::time::sleep(
        effective
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            + std::time::Duration::from_millis(700),
    )
    .await;
    assert_eq!(
        decide(&server, "HB-A", "A-3", "").await,
        ("710".into(), "2026.3".into())
    );

    // as_of: the policy in force then.
    let then = rfc3339(activated_at + std::time::Duration::from_secs(1));
    assert_eq!(
        decide(&server, "HB-A", "A-4", &then).await,
        ("700".into(), "2026.2".into())
    );

    // Rollback is an activation of versions that ran before, approved by another.
    let back = client
        .rollback(as_user(APPROVER, activation("HB-A", "2026.2", "")))
        .await
        .unwrap()
        .into_inner();
    assert!(back.rollback);
    client
        .approve_activation(as_user(
            APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: back.activation_id,
            },
        ))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        decide(&server, "HB-A", "A-5", "").await,
        ("700".into(), "2026.2".into())
    );
    let e = client
        .rollback(as_user(APPROVER, activation("HB-B", "2026.3", "")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(
        e.message(),
        "HB-B FARMER_CREDIT never ran ruleset farmer-credit-default@2026.4 with scorecard farmer-scorecard@2026.3: a rollback returns to versions that were active"
    );

    // What is approved now replaces anything scheduled later (here: a
    // rollback cancels a version scheduled for tomorrow).
    let tomorrow = rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(86_400));
    let scheduled = activate(&mut client, "HB-A", "2026.3", &tomorrow).await;
    let back = client
        .rollback(as_user(APPROVER, activation("HB-A", "2026.2", "")))
        .await
        .unwrap()
        .into_inner();
    client
        .approve_activation(as_user(
            APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: back.activation_id,
            },
        ))
        .await
        .unwrap();
    let all = client
        .list_activations(as_user(
            AUDITOR,
            pb::ListActivationsRequest {
                institution: "HB-A".into(),
                product: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activations;
    assert_eq!(
        all.iter()
            .find(|a| a.activation_id == scheduled.activation_id)
            .unwrap()
            .status,
        "superseded"
    );

    // Times in the past, and rulesets for another institution, are refused.
    let e = client
        .request_activation(as_user(
            APPROVER,
            activation("HB-A", "2026.2", "2020-01-01T00:00:00+08:00"),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .contains("effective_at: must not be in the past"),
        "{}",
        e.message()
    );
    let e = client
        .request_activation(as_user(
            APPROVER,
            activation("HB-A", "2026.2", "2026-12-01T00:00:00"),
        ))
        .await
        .unwrap_err();
    assert!(
        e.message()
            .contains("expected an RFC 3339 time with its zone"),
        "{}",
        e.message()
    );

    // The uploader of a version cannot approve its activation.
    assert!(
        upload(&mut client, LEAD, scorecard("2026.4", 450))
            .await
            .unwrap()
            .created
    );
    let requested = client
        .request_activation(as_user(APPROVER, activation("HB-C", "2026.4", "")))
        .await
        .unwrap()
        .into_inner();
    let e = client
        .approve_activation(as_user(
            LEAD,
            pb::ApproveActivationRequest {
                activation_id: requested.activation_id,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        "four-eyes: lead.sun uploaded scorecard farmer-scorecard@2026.4 and cannot approve its activation"
    );

    // An institution ruleset that loosens a red line is refused, nothing published.
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/farmer-credit-default.json");
    let mut loose: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    loose["id"] = serde_json::json!("hb-loose");
    loose["institution"] = serde_json::json!("HB-LOOSE");
    loose["parameters"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "max_age", "type": "integer", "value": 70}));
    let e = client
        .upload_ruleset(as_user(
            ANALYST,
            pb::UploadRequest {
                document_json: loose.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "invalid document, nothing published: parameters[17] max_age: upload: 70 would loosen the province red line `max_age` = 65 (a lower value is stricter); an institution may only tighten it"
    );

    // Activation actions, accepted and refused, are in the audit log.
    let log = client
        .list_audit_log(as_user(AUDITOR, pb::ListAuditLogRequest { limit: 0 }))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<(String, String, bool)> = log
        .entries
        .iter()
        .rev()
        .map(|e| (e.person.clone(), e.action.clone(), e.accepted))
        .collect();
    for expected in [
        (
            "approver.li".to_string(),
            "RequestActivation".to_string(),
            true,
        ),
        (
            "approver.li".to_string(),
            "ApproveActivation".to_string(),
            false,
        ),
        (
            "approver.zhao".to_string(),
            "ApproveActivation".to_string(),
            true,
        ),
        ("approver.li".to_string(), "Rollback".to_string(), true),
        ("approver.li".to_string(), "Rollback".to_string(), false),
        (
            "lead.sun".to_string(),
            "ApproveActivation".to_string(),
            false,
        ),
        (
            "analyst.wang".to_string(),
            "UploadRuleset".to_string(),
            false,
        ),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} not in {actions:?}"
        );
    }

    let history = client
        .list_activations(as_user(
            AUDITOR,
            pb::ListActivationsRequest {
                institution: "HB-A".into(),
                product: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .activations;
    assert_eq!(history.len(), 5, "the whole history is kept");
    assert!(
        history
            .iter()
            .all(|a| a.status == "approved" || a.status == "superseded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_versions_under_load_fails_no_call_and_keeps_version_pairs_consistent() {
    use decision_grpc::convert::features_to_proto;
    use decision_grpc::pb::decision_service_client::DecisionServiceClient;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    upload(&mut client, ANALYST, scorecard("2026.2", 430))
        .await
        .unwrap();
    upload(&mut client, ANALYST, scorecard("2026.3", 440))
        .await
        .unwrap();
    activate(&mut client, "HB-A", "2026.2", "").await;

    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/requests/01-clean-approve.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let features = features_to_proto(v["features"].as_object().unwrap()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..8 {
        let mut decisions = DecisionServiceClient::connect(format!("http://{}", server.addr))
            .await
            .unwrap();
        let features = features.clone();
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0..400 {
                if i > 20 && stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let reply = decisions
                    .pre_review(pb::PreReviewRequest {
                        request_id: format!("SW-{worker}-{i}"),
                        institution: "HB-A".into(),
                        product: "FARMER_CREDIT".into(),
                        features: Some(features.clone()),
                        ..Default::default()
                    })
                    .await
                    .expect("no call fails during a switch")
                    .into_inner();
                let version = |kind: &str| {
                    reply
                        .versions
                        .iter()
                        // The product ruleset comes after the red lines.
                        .rfind(|v| v.kind == kind)
                        .unwrap()
                        .version
                        .clone()
                };
                seen.push((reply.score, version("ruleset"), version("scorecard")));
            }
            seen
        }));
    }
    for round in 0..6 {
        let version = if round % 2 == 0 { "2026.3" } else { "2026.2" };
        activate(&mut client, "HB-A", version, "").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut by_version = std::collections::BTreeMap::new();
    for task in load {
        for (score, ruleset, card) in task.await.unwrap() {
            assert_eq!(ruleset, "2026.4");
            let expected = match card.as_str() {
                "2026.2" => "700",
                "2026.3" => "710",
                other => panic!("unexpected scorecard version {other}"),
            };
            assert_eq!(
                score, expected,
                "the score matches the scorecard version the decision records"
            );
            *by_version.entry(card).or_insert(0) += 1;
        }
    }
    assert_eq!(
        by_version.len(),
        2,
        "both versions served during the switches: {by_version:?}"
    );
}

pub(crate) fn policy_cli(addr: &str, token: &str, args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args([
            "policy",
            "--server",
            &format!("http://{addr}"),
            "--token",
            token,
        ])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_command_line_talks_to_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let file = dir.path().join("card.json");
    std::fs::write(&file, scorecard("2026.2", 430)).unwrap();
    let file = file.to_str().unwrap().to_string();
    let run = |token: &'static str, args: Vec<String>| {
        let addr = server.addr.clone();
        tokio::task::spawn_blocking(move || policy_cli(&addr, token, &args))
    };
    let (code, out, err) = run(ANALYST, vec!["validate".into(), file.clone()])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("valid scorecard farmer-scorecard@2026.2 sha256:"),
        "{out}"
    );
    let (code, out, _) = run(ANALYST, vec!["upload".into(), file.clone()])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(
        out.starts_with("published scorecard farmer-scorecard@2026.2 sha256:"),
        "{out}"
    );
    let (_, out, _) = run(
        AUDITOR,
        vec!["list".into(), "--kind".into(), "scorecard".into()],
    )
    .await
    .unwrap();
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = run(
        AUDITOR,
        vec![
            "diff".into(),
            "scorecard".into(),
            "farmer-scorecard".into(),
            "2026.1".into(),
            "2026.2".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["version: `2026.1` -> `2026.2`", "base_points: 420 -> 430"]
    );
    let (code, out, _) = run(
        APPROVER,
        [
            "activate",
            "--institution",
            "HB-A",
            "--ruleset",
            "farmer-credit-default@2026.4",
            "--scorecard",
            "farmer-scorecard@2026.2",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(code, 0);
    let id = out.split_whitespace().next().unwrap().to_string();
    assert!(out.contains(" pending HB-A FARMER_CREDIT ruleset farmer-credit-default@2026.4 scorecard farmer-scorecard@2026.2"), "{out}");
    let (code, _, err) = run(APPROVER, vec!["approve".into(), id.clone()])
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(
        err.starts_with("PermissionDenied: four-eyes: approver.li requested"),
        "{err}"
    );
    let (code, out, _) = run(APPROVER_2, vec!["approve".into(), id]).await.unwrap();
    assert_eq!(code, 0);
    assert!(out.contains(" approved HB-A "), "{out}");
    let (code, _, err) = run(ANALYST, vec!["audit".into()]).await.unwrap();
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "PermissionDenied: analyst.wang holds analyst but this call needs auditor"
    );
    let (code, out, _) = run(AUDITOR, vec!["audit".into(), "--limit".into(), "3".into()])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3);
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains(" analyst.wang - ListAuditLog - - - refused PermissionDenied"),
        "{out}"
    );
}

#[tokio::test]
async fn decision_calls_can_require_a_client_token() {
    use decision_grpc::pb::decision_service_client::DecisionServiceClient;
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &["--require-client-token", "true"]);
    let mut client = DecisionServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let request = || pb::PreReviewRequest {
        request_id: "T-1".into(),
        institution: "HB-A".into(),
        product: "FARMER_CREDIT".into(),
        features: Some(pb::Features {
            household: Some(pb::Household {
                age: Some(40),
                annual_net_income: Some("50000".into()),
                ..Default::default()
            }),
            bureau: Some(pb::Bureau {
                bureau_has_record: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = client.pre_review(request()).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::Unauthenticated,
            "missing `authorization: Bearer TOKEN` metadata"
        )
    );
    let e = client
        .pre_review(as_user(ANALYST, request()))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "analyst.wang holds analyst but this call needs client"
        )
    );
    let reply = client
        .pre_review(as_user("dev-client-token-000001", request()))
        .await
        .unwrap()
        .into_inner();
    let got = client
        .get_decision(as_user(
            AUDITOR,
            pb::GetDecisionRequest {
                decision_id: reply.decision_id,
            },
        ))
        .await
        .unwrap();
    assert!(got.into_inner().decision.is_some());
}

#[tokio::test]
async fn pins_and_as_of_cannot_choose_what_was_never_approved() {
    use decision_grpc::pb::decision_service_client::DecisionServiceClient;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut registry = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    upload(&mut registry, ANALYST, scorecard("2026.9", 500))
        .await
        .unwrap();
    let mut client = DecisionServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let request = |pins: Vec<pb::VersionPin>, as_of: &str| pb::PreReviewRequest {
        request_id: format!("PIN-{}", pins.len()),
        institution: "HB-A".into(),
        product: "FARMER_CREDIT".into(),
        features: Some(pb::Features {
            household: Some(pb::Household {
                age: Some(40),
                annual_net_income: Some("50000".into()),
                ..Default::default()
            }),
            bureau: Some(pb::Bureau {
                bureau_has_record: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }),
        pins,
        as_of: as_of.into(),
        ..Default::default()
    };
    let pin = |kind: &str, id: &str, version: &str| pb::VersionPin {
        kind: kind.into(),
        id: id.into(),
        version: version.into(),
    };
    let e = client
        .pre_review(request(
            vec![pin("scorecard", "farmer-scorecard", "2026.9")],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].description,
        "scorecard farmer-scorecard version 2026.9 has not been approved for HB-A FARMER_CREDIT; a pin may choose only a ruleset or scorecard version that was activated for it"
    );
    let e = client
        .pre_review(request(
            vec![pin("ruleset", "province-red-lines", "2026.1")],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::InvalidArgument,
        "red lines cannot be pinned"
    );
    // The loaded versions may be pinned.
    assert!(
        client
            .pre_review(request(
                vec![pin("scorecard", "farmer-scorecard", "2026.1")],
                ""
            ))
            .await
            .is_ok()
    );
    let e = client
        .pre_review(request(vec![], "2099-01-01T00:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].description,
        "must not be in the future: a scheduled activation takes effect only when its time comes"
    );
}

#[test]
fn the_policy_command_line_exits_3_when_the_server_is_unreachable() {
    let (code, _, err) = policy_cli("127.0.0.1:1", ANALYST, &["list".to_string()]);
    assert_eq!(code, 3);
    assert!(
        err.starts_with("cannot connect to http://127.0.0.1:1"),
        "{err}"
    );
}

#[test]
fn the_policy_command_line_speaks_tls() {
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let server = start_with(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args([
            "policy",
            "--server",
            &format!("https://localhost:{port}"),
            "--token",
            AUDITOR,
            "--ca-cert",
        ])
        .arg(&cert)
        .args(["list", "--kind", "scorecard"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("scorecard farmer-scorecard@2026.1 sha256:")
    );
}

#[tokio::test]
async fn county_tokens_are_scoped_to_their_institution_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    const JS_ANALYST: &str = "dev-analyst-token-jingshan";
    const JS_APPROVER: &str = "dev-approver-token-jingshan-1";
    // Held in the tokens file as its SHA-256 only.
    const JS_APPROVER_2: &str = "dev-approver-token-jingshan-2";
    const JS_AUDITOR: &str = "dev-auditor-token-jingshan";

    // The province's card (no institution) is the province's to publish.
    let e = upload(&mut client, JS_ANALYST, scorecard("2026.2", 430))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::PermissionDenied,
            "analyst.gao acts for HB-JINGSHAN and not for the province: the province's scorecard farmer-scorecard (written for every institution) is governed by province roles"
        )
    );
    // HB-JINGSHAN's own card is theirs.
    let mut own: serde_json::Value = serde_json::from_str(&scorecard("2026.2-js", 430)).unwrap();
    own["institution"] = "HB-JINGSHAN".into();
    assert!(
        upload(&mut client, JS_ANALYST, own.to_string())
            .await
            .unwrap()
            .created
    );
    // The default `*` is the province's to activate; HB-JINGSHAN is theirs,
    // approved by the approver whose token the file holds as a digest.
    let e = client
        .request_activation(as_user(JS_APPROVER, activation("*", "2026.2-js", "")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message()
            .ends_with("the province default `*` is governed by province roles"),
        "{}",
        e.message()
    );
    let a = client
        .request_activation(as_user(
            JS_APPROVER,
            activation("HB-JINGSHAN", "2026.2-js", ""),
        ))
        .await
        .unwrap()
        .into_inner();
    let approved = client
        .approve_activation(as_user(
            JS_APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: a.activation_id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.approved_by, "approver.feng");

    // The county auditor reads HB-JINGSHAN's entries only, each naming it.
    let log = client
        .list_audit_log(as_user(JS_AUDITOR, pb::ListAuditLogRequest { limit: 0 }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let seen: Vec<(&str, &str, bool)> = log
        .iter()
        .rev()
        .map(|e| (e.institution.as_str(), e.action.as_str(), e.accepted))
        .collect();
    assert_eq!(
        seen,
        [
            ("HB-JINGSHAN", "UploadScorecard", true),
            ("HB-JINGSHAN", "RequestActivation", true),
            ("HB-JINGSHAN", "ApproveActivation", true),
        ]
    );
    // The province's auditor also sees the two refusals, under `*`.
    let all = client
        .list_audit_log(as_user(AUDITOR, pb::ListAuditLogRequest { limit: 0 }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let refused: Vec<&str> = all
        .iter()
        .filter(|e| !e.accepted)
        .map(|e| e.institution.as_str())
        .collect();
    assert_eq!(refused, ["*", "*"]);
}
