//! Champion/challenger against the real server, as approvers and analysts
//! run it: an activation naming a shadow challenger (through the command
//! line, four-eyes), a load of concurrent pre-reviews, every call's shadow
//! decision recorded beside the champion's and none of them answered, and
//! `challenger report` comparing the two.
#![cfg(feature = "batch")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use rust_decimal::Decimal;

use crate::common::{cli_with, read_csv};

use crate::grpc::proto_request;
use crate::registry::{ANALYST, APPROVER, APPROVER_2};

/// The command line as `token`, against `server`.
fn cli3(args: &[&str], token: &str, server: &str) -> (i32, String, String) {
    cli_with(
        args,
        &[
            ("DECISION_ENGINE_TOKEN", token),
            ("DECISION_ENGINE_SERVER", server),
        ],
    )
}

const WORKERS: usize = 8;
const CALLS_EACH: usize = 50;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_under_load_has_its_shadow_decision_recorded_and_no_reply_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = crate::registry::start_with(&data, &[]);
    let url = format!("http://{}", server.addr);
    let since = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();

    // The analyst publishes a card 20 points more generous; an approver
    // names it as a shadow challenger; a second approver approves.
    let mut card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    card["version"] = "2026.1-plus20".into();
    card["base_points"] = "440".into();
    let card_file = dir.path().join("card.json");
    std::fs::write(&card_file, card.to_string()).unwrap();
    let (code, _, err) = cli3(
        &["policy", "upload", card_file.to_str().unwrap()],
        ANALYST,
        &url,
    );
    assert_eq!(code, 0, "{err}");
    // `policy activate` of the shipped pair with the challenger card.
    let activate = |extra: &[&str]| {
        let mut args = vec![
            "policy",
            "activate",
            "--institution",
            "HB-JINGSHAN",
            "--ruleset",
            "farmer-credit-default@2026.4",
            "--scorecard",
            "farmer-scorecard@2026.1",
            "--challenger-scorecard",
            "farmer-scorecard@2026.1-plus20",
        ];
        args.extend_from_slice(extra);
        cli3(&args, APPROVER, &url)
    };
    let (code, _, err) = activate(&["--challenger-share", "101"]);
    assert_eq!(
        code, 2,
        "a share above 100 is refused before the call: {err}"
    );
    assert!(
        err.contains("--challenger-share 101: expected `shadow` or a percentage from 1 to 100"),
        "{err}"
    );
    let (code, out, err) = activate(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("challenger ruleset farmer-credit-default@2026.4 scorecard farmer-scorecard@2026.1-plus20 shadow"),
        "{out}"
    );
    let activation_id = out.split_whitespace().next().unwrap().to_string();
    let (code, _, err) = cli3(&["policy", "approve", &activation_id], APPROVER_2, &url);
    assert_eq!(code, 0, "{err}");
    // The approval takes effect when the server next reads the activation
    // history (within half a second, longer on a loaded machine): probe
    // until a household has its shadow, then start the load.
    let mut client = DecisionServiceClient::connect(url.clone()).await.unwrap();
    let probe = dir.path().join("probe.csv");
    let mut in_force = false;
    for n in 0..100 {
        let mut request = proto_request(
            &repo("examples/requests/01-clean-approve.json"),
            Some(&format!("CC-probe-{n}")),
        );
        request.institution = "HB-JINGSHAN".into();
        client.pre_review(request).await.unwrap();
        let (code, _, err) = cli3(
            &[
                "challenger",
                "report",
                "--since",
                &since,
                "--institution",
                "HB-JINGSHAN",
                "--output",
                dir.path().join("probe-swap.csv").to_str().unwrap(),
                "--households",
                probe.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            "",
            &url,
        );
        assert_eq!(code, 0, "{err}");
        if probe.exists()
            && read_csv(&probe)
                .iter()
                .any(|r| r["household_id"] == format!("CC-probe-{n}"))
        {
            in_force = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(in_force, "the challenger never took effect");
    let since = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();

    // The load: workers in parallel, each household a new request id.
    let files: Vec<PathBuf> = std::fs::read_dir(repo("examples/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut load = Vec::new();
    for worker in 0..WORKERS {
        let mut client = DecisionServiceClient::connect(url.clone()).await.unwrap();
        let files = files.clone();
        load.push(tokio::spawn(async move {
            let mut replies = Vec::new();
            for i in 0..CALLS_EACH {
                let file = &files[(worker + i) % files.len()];
                let mut request = proto_request(file, Some(&format!("CC-{worker}-{i}")));
                request.institution = "HB-JINGSHAN".into();
                let reply = client.pre_review(request).await.unwrap().into_inner();
                replies.push(reply);
            }
            replies
        }));
    }
    let mut replies: Vec<pb::PreReviewResponse> = Vec::new();
    for l in load {
        replies.extend(l.await.unwrap());
    }
    let calls = WORKERS * CALLS_EACH;
    assert_eq!(replies.len(), calls);
    // No reply is the challenger's, or carries it.
    for r in &replies {
        let card = r.versions.iter().rfind(|v| v.kind == "scorecard").unwrap();
        assert_eq!(card.version, "2026.1", "{}", r.decision_id);
        assert!(r.decision_id.starts_with("dec_"));
        let text = format!("{r:?}");
        assert!(!text.contains("plus20") && !text.contains("shd_"), "{text}");
    }
    server.terminate();

    // Every call's shadow, compared with its champion.
    let (swap, both) = (dir.path().join("swap.csv"), dir.path().join("both.csv"));
    let (code, out, err) = cli3(
        &[
            "challenger",
            "report",
            "--since",
            &since,
            "--institution",
            "HB-JINGSHAN",
            "--output",
            swap.to_str().unwrap(),
            "--households",
            both.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        "",
        &url,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "{calls} households: champion farmer-credit-default@2026.4 + farmer-scorecard@2026.1 -> challenger farmer-credit-default@2026.4 + farmer-scorecard@2026.1-plus20"
        )),
        "{out}"
    );
    let rows = read_csv(&both);
    assert_eq!(rows.len(), calls, "a shadow decision for every call");
    let answered: BTreeMap<String, &pb::PreReviewResponse> =
        replies.iter().map(|r| (r.request_id.clone(), r)).collect();
    for row in &rows {
        let reply = answered[&row["household_id"]];
        assert_eq!(row["champion_decision"], reply.decision);
        assert_eq!(row["champion_score"], reply.score);
        let champion: Decimal = row["champion_score"].parse().unwrap();
        let challenger: Decimal = row["challenger_score"].parse().unwrap();
        assert_eq!(challenger - champion, Decimal::from(20), "{row:?}");
    }
    let total: u64 = read_csv(&swap)
        .iter()
        .map(|r| r["households"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total as usize, calls);
}
