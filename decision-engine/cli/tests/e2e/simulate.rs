//! `decision-engine simulate` as an analyst runs it: a generated village
//! decided under the policy in force and under a candidate scorecard with
//! 20 more base points; the swap-set recomputed from the per-household
//! file, which agrees with a batch run row for row.
#![cfg(feature = "batch")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use crate::common::{cli, read_csv};

const HOUSEHOLDS: u64 = 2000;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn dec(s: &str) -> Decimal {
    if s.is_empty() {
        Decimal::ZERO
    } else {
        s.parse().unwrap()
    }
}

struct Village {
    dir: tempfile::TempDir,
    input: PathBuf,
    card: PathBuf,
}

/// A generated village and the shipped scorecard with base points + 20.
fn village() -> Village {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("village.csv");
    let mut w = csv::Writer::from_path(&input).unwrap();
    w.write_record(village_gen::COLUMNS).unwrap();
    for row in village_gen::Village::new(village_gen::Config {
        households: HOUSEHOLDS,
        villages: 6,
        seed: 77,
    }) {
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    let mut card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    let base = dec(card["base_points"].to_string().trim_matches('"'));
    card["version"] = "2026.1-plus20".into();
    card["base_points"] = (base + Decimal::from(20)).to_string().into();
    let card_path = dir.path().join("card-plus20.json");
    std::fs::write(&card_path, card.to_string()).unwrap();
    Village {
        dir,
        input,
        card: card_path,
    }
}

impl Village {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn simulate(&self, extra: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "simulate".to_string(),
            "--input".into(),
            self.input.display().to_string(),
            "--institution".into(),
            "HB-JINGSHAN".into(),
            "--data-dir".into(),
            self.path("data"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args)
    }
}

#[test]
fn a_candidate_with_20_more_base_points_moves_nobody_from_approve_to_decline_and_its_swap_set_adds_up()
 {
    let v = village();
    let (swap, households, summary, report) = (
        v.path("swap.csv"),
        v.path("households.csv"),
        v.path("impact.json"),
        v.path("impact.html"),
    );
    let (code, out, err) = v.simulate(&[
        "--candidate",
        v.card.to_str().unwrap(),
        "--output",
        &swap,
        "--households",
        &households,
        "--summary",
        &summary,
        "--report",
        &report,
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "{HOUSEHOLDS} households: baseline farmer-credit-default@2026.4 + farmer-scorecard@2026.1 -> candidate farmer-credit-default@2026.4 + farmer-scorecard@2026.1-plus20"
        )),
        "{out}"
    );

    let swap = read_csv(Path::new(&swap));
    let rows = read_csv(Path::new(&households));
    assert_eq!(rows.len() as u64, HOUSEHOLDS);

    // The swap-set's counts add up to the village, and none approved by
    // the baseline is declined by the candidate.
    let total: u64 = swap
        .iter()
        .map(|r| r["households"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, HOUSEHOLDS);
    let cell = |b: &str, c: &str| {
        swap.iter()
            .find(|r| r["baseline_decision"] == b && r["candidate_decision"] == c)
            .unwrap_or_else(|| panic!("no {b} -> {c} row"))
    };
    assert_eq!(cell("APPROVE", "DECLINE")["households"], "0");
    assert_eq!(swap.len(), 9, "the 3 x 3 pairs, no ERROR");
    // More points: some declines and refers move up.
    assert!(
        cell("DECLINE", "APPROVE")["households"]
            .parse::<u64>()
            .unwrap()
            > 0
    );

    // Every figure recomputed from the per-household outputs.
    let mut recomputed: BTreeMap<(String, String), (u64, Decimal, Decimal)> = BTreeMap::new();
    for r in &rows {
        let e = recomputed
            .entry((
                r["baseline_decision"].clone(),
                r["candidate_decision"].clone(),
            ))
            .or_default();
        e.0 += 1;
        e.1 += dec(&r["baseline_limit"]);
        e.2 += dec(&r["candidate_limit"]);
        // The card adds 20 points to every household, nothing else.
        assert_eq!(
            dec(&r["candidate_score"]) - dec(&r["baseline_score"]),
            Decimal::from(20),
            "{}",
            r["household_id"]
        );
    }
    for s in &swap {
        let key = (
            s["baseline_decision"].clone(),
            s["candidate_decision"].clone(),
        );
        let (n, b, c) = recomputed.get(&key).cloned().unwrap_or_default();
        assert_eq!(s["households"], n.to_string(), "{key:?}");
        assert_eq!(dec(&s["baseline_limit_total"]), b, "{key:?}");
        assert_eq!(dec(&s["candidate_limit_total"]), c, "{key:?}");
        assert_eq!(dec(&s["limit_change"]), c - b, "{key:?}");
    }

    // The baseline side is what a batch run decides, row by row.
    let decisions = v.path("decisions.csv");
    let (code, _, err) = cli(&[
        "batch",
        "--input",
        v.input.to_str().unwrap(),
        "--output",
        &decisions,
        "--institution",
        "HB-JINGSHAN",
        "--data-dir",
        &v.path("data"),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let batch = read_csv(Path::new(&decisions));
    assert_eq!(batch.len(), rows.len());
    for (b, r) in batch.iter().zip(&rows) {
        assert_eq!(b["household_id"], r["household_id"]);
        for column in [
            "decision",
            "score",
            "grade",
            "limit",
            "annual_rate",
            "reason_codes",
        ] {
            assert_eq!(
                b[column],
                r[&format!("baseline_{column}")],
                "{column} of {}",
                b["household_id"]
            );
        }
    }

    // The summary's tables agree with the rows: by village and by grade,
    // and the grade migration counts the households decided both ways.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(json["households"], HOUSEHOLDS);
    let mut villages: BTreeMap<String, (u64, Decimal, Decimal, u64)> = BTreeMap::new();
    for r in &rows {
        let e = villages.entry(r["village_code"].clone()).or_default();
        e.0 += 1;
        e.1 += dec(&r["baseline_limit"]);
        e.2 += dec(&r["candidate_limit"]);
        e.3 += u64::from(r["candidate_decision"] == "APPROVE");
    }
    assert_eq!(
        json["by_village"].as_object().unwrap().len(),
        villages.len()
    );
    for (village, (n, b, c, approved)) in &villages {
        let g = &json["by_village"][village];
        assert_eq!(g["households"], *n, "{village}");
        assert_eq!(dec(g["baseline_limit_total"].as_str().unwrap()), *b);
        assert_eq!(dec(g["candidate_limit_total"].as_str().unwrap()), *c);
        assert_eq!(g["candidate_approved"], *approved);
    }
    let migrated: u64 = json["grade_migration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[2].as_u64().unwrap())
        .sum();
    assert_eq!(migrated, HOUSEHOLDS);
    assert_eq!(json["score_shift"]["20"], HOUSEHOLDS);

    // The report stands alone: nothing fetched when it is opened.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Swap-set") && html.contains("<svg"));
    assert!(!html.contains("src=\"http"), "nothing fetched");
}

#[test]
fn a_candidate_that_is_not_a_file_nor_published_is_refused_naming_the_flag() {
    let v = village();
    let swap = v.path("swap.csv");
    let (code, _, err) = v.simulate(&["--candidate", "farmer-scorecard@9.9", "--output", &swap]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "--candidate: no ruleset or scorecard `farmer-scorecard` version `9.9` is published"
        ),
        "{err}"
    );
    let (code, _, err) = v.simulate(&["--candidate", "no-such-thing", "--output", &swap]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--candidate: `no-such-thing` is no file, directory or ID@VERSION"),
        "{err}"
    );
    // A candidate that cannot run with the rest of the policy.
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&v.card).unwrap()).unwrap();
    card["characteristics"][0]["feature"] = "agee".into();
    let broken = v.path("broken.json");
    std::fs::write(&broken, card.to_string()).unwrap();
    let (code, _, err) = v.simulate(&["--candidate", &broken, "--output", &swap]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--candidate: the changed policy cannot run"),
        "{err}"
    );
    assert!(err.contains("unknown feature `agee`"), "{err}");
    assert!(!Path::new(&swap).exists(), "nothing written");
}

/// A version an analyst published through the registry is simulated by
/// its ID@VERSION, with the same result as the document file.
#[tokio::test]
async fn a_published_version_is_simulated_by_its_id_and_version() {
    let v = village();
    let mut server = crate::registry::start_with(Path::new(&v.path("data")), &[]);
    let mut client = decision_grpc::pb::policy_registry_client::PolicyRegistryClient::new(
        server.channel().await,
    );
    crate::registry::upload(
        &mut client,
        crate::registry::ANALYST,
        std::fs::read_to_string(&v.card).unwrap(),
    )
    .await
    .unwrap();
    server.terminate();

    let (by_file, by_version) = (v.path("by-file.csv"), v.path("by-version.csv"));
    let (code, _, err) = v.simulate(&[
        "--candidate",
        v.card.to_str().unwrap(),
        "--output",
        &by_file,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = v.simulate(&[
        "--candidate",
        "farmer-scorecard@2026.1-plus20",
        "--output",
        &by_version,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("-> candidate farmer-credit-default@2026.4 + farmer-scorecard@2026.1-plus20"),
        "{out}"
    );
    assert_eq!(
        read_csv(Path::new(&by_file)),
        read_csv(Path::new(&by_version))
    );
    // The candidate as a baseline change: nothing moves.
    let (code, _, err) = v.simulate(&[
        "--baseline",
        "farmer-scorecard@2026.1-plus20",
        "--candidate",
        v.card.to_str().unwrap(),
        "--output",
        &by_version,
    ]);
    assert_eq!(code, 0, "{err}");
    for row in read_csv(Path::new(&by_version)) {
        if row["baseline_decision"] != row["candidate_decision"] {
            assert_eq!(row["households"], "0", "{row:?}");
        }
    }
}
