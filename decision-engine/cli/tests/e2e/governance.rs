//! Province governance against a running server: the red lines changed
//! through the registry from the command line, in force at their effective
//! time on the running server with no restart, and refused when they would
//! break an institution's stricter parameter.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::common::Server;
use crate::registry::{ANALYST, APPROVER, APPROVER_2, as_user, policy_cli, start_with};
use decision_grpc::pb;
use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;

fn shipped(path: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn red_lines(version: &str, max_age: i64) -> String {
    let mut r = shipped("rulesets/province-red-lines.json");
    r["version"] = version.into();
    assert_eq!(r["parameters"][1]["name"], "max_age");
    r["parameters"][1]["value"] = max_age.into();
    r.to_string()
}

/// The clean household (01-clean-approve) of `age` pre-reviewed on the
/// running server for `institution`.
async fn pre_review(
    server: &Server,
    institution: &str,
    request_id: &str,
    age: i64,
) -> pb::PreReviewResponse {
    use decision_grpc::convert::features_to_proto;
    use decision_grpc::pb::decision_service_client::DecisionServiceClient;
    let mut v = shipped("examples/requests/01-clean-approve.json");
    v["features"]["age"] = age.into();
    let mut client = DecisionServiceClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    client
        .pre_review(pb::PreReviewRequest {
            request_id: request_id.into(),
            institution: institution.into(),
            product: "FARMER_CREDIT".into(),
            features: Some(features_to_proto(v["features"].as_object().unwrap()).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// A clean household of `age` decided for `institution`: the outcome, the
/// first reason code and the red lines' version.
async fn decide(server: &Server, institution: &str, request_id: &str, age: i64) -> [String; 3] {
    let reply = pre_review(server, institution, request_id, age).await;
    let red = reply
        .versions
        .iter()
        .find(|v| v.id == "province-red-lines")
        .unwrap();
    [
        reply.decision,
        reply
            .reasons
            .first()
            .map(|r| r.code.clone())
            .unwrap_or_default(),
        red.version.clone(),
    ]
}

fn cli(server: &Server, token: &'static str, args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    policy_cli(&server.addr, token, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_line_change_takes_effect_at_its_time_on_a_running_server_and_a_breaking_one_is_refused()
 {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &[]);
    let file = dir.path().join("red-lines.json");
    std::fs::write(&file, red_lines("2026.2", 63)).unwrap();
    let file = file.to_str().unwrap().to_string();

    // Published and activated from the command line, a few seconds ahead,
    // by two province approvers.
    let (code, out, err) = cli(&server, ANALYST, &["upload", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("published ruleset province-red-lines@2026.2 sha256:"),
        "{out}"
    );
    let effective = SystemTime::now() + Duration::from_secs(3);
    let at = humantime::format_rfc3339_seconds(effective).to_string();
    let (code, out, err) = cli(
        &server,
        APPROVER,
        &[
            "activate",
            "--red-lines",
            "province-red-lines@2026.2",
            "--effective-at",
            &at,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "pending * RED_LINES red lines province-red-lines@2026.2 effective {at}"
        )),
        "{out}"
    );
    let id = out.split_whitespace().next().unwrap().to_string();
    let (code, out, err) = cli(&server, APPROVER_2, &["approve", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("approved * RED_LINES"), "{out}");

    // Before its time the old red lines run; a head of household of 64 is
    // approved.
    let before = decide(&server, "HB-A", "A-1", 64).await;
    assert_eq!(
        (before[0].as_str(), before[2].as_str()),
        ("APPROVE", "2026.1")
    );
    tokio::time::sleep(
        effective
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            + Duration::from_millis(700),
    )
    .await;
    // From it, on the same server, for every institution: declined by RL_AGE.
    for (institution, id) in [("HB-A", "A-2"), ("HB-B", "B-1")] {
        assert_eq!(
            decide(&server, institution, id, 64).await,
            ["DECLINE", "R101", "2026.2"].map(String::from),
            "{institution}"
        );
    }
    assert_eq!(decide(&server, "HB-A", "A-3", 63).await[0], "APPROVE");

    // HB-C is stricter than the province (max_age 60); red lines of 59
    // would make its 60 the looser: refused, naming HB-C, nothing pending.
    let mut client = PolicyRegistryClient::connect(format!("http://{}", server.addr))
        .await
        .unwrap();
    let mut hbc = shipped("rulesets/farmer-credit-default.json");
    hbc["id"] = "hbc-credit".into();
    hbc["version"] = "2026.1".into();
    hbc["institution"] = "HB-C".into();
    hbc["parameters"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "max_age", "type": "integer", "value": 60}));
    client
        .upload_ruleset(as_user(
            ANALYST,
            pb::UploadRequest {
                document_json: hbc.to_string(),
            },
        ))
        .await
        .unwrap();
    let (code, out, err) = cli(
        &server,
        APPROVER,
        &[
            "activate",
            "--institution",
            "HB-C",
            "--ruleset",
            "hbc-credit@2026.1",
            "--scorecard",
            "farmer-scorecard@2026.1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let id = out.split_whitespace().next().unwrap().to_string();
    assert_eq!(cli(&server, APPROVER_2, &["approve", &id]).0, 0);
    std::fs::write(&file, red_lines("2026.3", 59)).unwrap();
    assert_eq!(cli(&server, ANALYST, &["upload", &file]).0, 0);
    let (code, _, err) = cli(
        &server,
        APPROVER,
        &["activate", "--red-lines", "province-red-lines@2026.3"],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("ruleset province-red-lines@2026.3 would break 1 institution policy"),
        "{err}"
    );
    assert!(
        err.contains(
            "HB-C FARMER_CREDIT (ruleset hbc-credit@2026.1, scorecard farmer-scorecard@2026.1)"
        ),
        "{err}"
    );
    assert!(
        err.contains("60 would loosen the province red line `max_age` = 59"),
        "{err}"
    );
    let (_, out, _) = cli(
        &server,
        APPROVER,
        &["activations", "--product", "RED_LINES"],
    );
    assert_eq!(out.lines().count(), 1, "only the approved change: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_lpr_change_from_the_command_line_moves_the_rate_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), &[]);
    let mut market = shipped("rulesets/market-parameters.json");
    market["version"] = "2026.12".into();
    market["parameters"][0]["value"] = "0.0310".into();
    market["parameters"][0]["set_on"] = "2026-12-20".into();
    let file = dir.path().join("market.json");
    std::fs::write(&file, market.to_string()).unwrap();
    let file = file.to_str().unwrap().to_string();

    let rate = |id: &'static str| {
        let server = &server;
        async move {
            let reply = pre_review(server, "HB-A", id, 42).await;
            let market = reply
                .versions
                .iter()
                .find(|v| v.kind == "market_parameters")
                .unwrap();
            (reply.annual_rate, market.version.clone())
        }
    };
    assert_eq!(rate("M-1").await, (Some("0.0340".into()), "2026.11".into()));
    let (code, out, err) = cli(&server, ANALYST, &["upload", &file]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("published market_parameters market-parameters@2026.12 sha256:"),
        "{out}"
    );
    let (code, out, err) = cli(
        &server,
        APPROVER,
        &[
            "activate",
            "--market-parameters",
            "market-parameters@2026.12",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("pending * MARKET_PARAMETERS market parameters market-parameters@2026.12"),
        "{out}"
    );
    let id = out.split_whitespace().next().unwrap().to_string();
    assert_eq!(cli(&server, APPROVER_2, &["approve", &id]).0, 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    // AAA: LPR 3.10% + 0.60% - 0.20% clean history.
    assert_eq!(rate("M-2").await, (Some("0.0350".into()), "2026.12".into()));
}
