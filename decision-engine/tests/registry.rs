//! The policy registry against the real server: versions are published only
//! after full validation, are immutable, need the right role, and every call
//! lands in the audit log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use decision_engine::grpc::pb;
use decision_engine::grpc::pb::policy_registry_client::PolicyRegistryClient;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let tokens = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/tokens.dev.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "off",
            "--tokens-file",
        ])
        .arg(tokens)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("decision-engine listening on ")
        .to_string();
    Server(child, addr)
}

fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

const ANALYST: &str = "dev-analyst-token-0001";
const APPROVER: &str = "dev-approver-token-0001";
const AUDITOR: &str = "dev-auditor-token-00001";

fn scorecard(version: &str, base: i64) -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scorecards/farmer-scorecard.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["version"] = serde_json::json!(version);
    v["base_points"] = serde_json::json!(base);
    v.to_string()
}

async fn upload(
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
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.1))
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
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rulesets/province-red-lines.json"),
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
            "analyst.wang UploadScorecard  false InvalidArgument",
            "analyst.wang UploadScorecard  false InvalidArgument",
            "analyst.wang ValidateDocument  true invalid",
            "analyst.wang ListAuditLog  false PermissionDenied",
        ]
    );
}
