//! `decision-engine monitor-scores` as a risk analyst runs it: households
//! decided online by a real server, their stored decisions compared with a
//! development sample. A population like the sample is stable (PSI near
//! 0); one whose incomes and land fell has shifted (PSI above 0.25); each
//! index recomputed from its bins. The same stored decisions replayed by
//! `simulate --from-store`: the baseline side is what the server answered.
#![cfg(feature = "batch")]

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;

use crate::common::{Server, cli, http, read_csv};

const HOUSEHOLDS: u64 = 1200;

fn rows(seed: u64) -> Vec<BTreeMap<String, String>> {
    village_gen::Village::new(village_gen::Config {
        households: HOUSEHOLDS,
        villages: 4,
        seed,
    })
    .map(|row| {
        village_gen::COLUMNS
            .iter()
            .map(|c| c.to_string())
            .zip(row)
            .collect()
    })
    .collect()
}

fn write_csv(path: &Path, rows: &[BTreeMap<String, String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(village_gen::COLUMNS).unwrap();
    for r in rows {
        w.write_record(village_gen::COLUMNS.iter().map(|c| r[*c].as_str()))
            .unwrap();
    }
    w.flush().unwrap();
}

/// The household as an API client sends it.
fn request(row: &BTreeMap<String, String>, institution: &str) -> String {
    let types = crate::batch::feature_types();
    let mut features = serde_json::Map::new();
    for (name, cell) in row {
        if cell.is_empty() {
            continue;
        }
        let value = match types.get(name).map(String::as_str) {
            Some("bool") => serde_json::Value::Bool(cell == "true"),
            Some("integer") => serde_json::Value::from(cell.parse::<i64>().unwrap()),
            Some(_) => serde_json::Value::String(cell.clone()),
            None => continue,
        };
        features.insert(name.clone(), value);
    }
    serde_json::json!({
        "request_id": row["household_id"],
        "institution": institution,
        "product": "FARMER_CREDIT",
        "features": features,
    })
    .to_string()
}

/// Incomes and land down to a third: a poorer population than the card's.
fn shifted(mut row: BTreeMap<String, String>) -> BTreeMap<String, String> {
    for column in ["annual_net_income", "land_area_mu", "subsidy_land_area_mu"] {
        if let Some(cell) = row.get_mut(column)
            && let Ok(d) = cell.parse::<Decimal>()
        {
            *cell = (d / Decimal::from(3)).round_dp(1).to_string();
        }
    }
    row
}

fn value(rows: &[BTreeMap<String, String>], institution: &str, name: &str) -> (f64, String) {
    let r = rows
        .iter()
        .find(|r| r["institution"] == institution && r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} row for {institution}"));
    (r["value"].parse().unwrap(), r["flag"].clone())
}

#[test]
fn a_like_population_is_stable_and_a_poorer_one_has_shifted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = dir.path().join("development-sample.csv");
    write_csv(&sample, &rows(301));
    let since = {
        let now = std::time::SystemTime::now();
        humantime::format_rfc3339_seconds(now - std::time::Duration::from_secs(5)).to_string()
    };
    let mut server = Server::start(&data, &[]);
    // What the server answered each HB-STEADY household: (decision,
    // score, limit).
    let mut answered: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (institution, population) in [
        ("HB-STEADY", rows(302)),
        ("HB-DRIFT", rows(303).into_iter().map(shifted).collect()),
    ] {
        for row in &population {
            let reply = http(
                &server.http,
                "POST",
                "/v1/pre-review",
                "",
                &request(row, institution),
            );
            assert_eq!(reply.status, 200, "{}", reply.body);
            if institution == "HB-STEADY" {
                let d: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
                let text = |k: &str| {
                    d[k].as_str()
                        .map_or_else(|| d[k].to_string(), str::to_string)
                };
                answered.insert(
                    row["household_id"].clone(),
                    (text("decision"), text("score"), text("limit")),
                );
            }
        }
    }
    server.terminate();

    let (output, bins, report) = (
        dir.path().join("stability.csv"),
        dir.path().join("bins.csv"),
        dir.path().join("stability.html"),
    );
    let (code, out, err) = cli(&[
        "monitor-scores",
        "--since",
        &since,
        "--baseline",
        sample.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--bins",
        bins.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!("{out}");
    let table = read_csv(&output);
    let (steady, flag) = value(&table, "HB-STEADY", "score");
    assert!(
        steady < 0.1 && flag == "stable",
        "PSI {steady} {flag}\n{out}"
    );
    let (drift, flag) = value(&table, "HB-DRIFT", "score");
    assert!(drift > 0.25 && flag == "shift", "PSI {drift} {flag}\n{out}");
    let (income, flag) = value(&table, "HB-DRIFT", "annual_net_income");
    assert!(income > 0.25 && flag == "shift", "CSI {income} {flag}");
    // Characteristics the shift did not touch stay stable.
    let (age, flag) = value(&table, "HB-DRIFT", "age");
    assert!(age < 0.1 && flag == "stable", "CSI {age} {flag}");
    for r in &table {
        assert_eq!(r["baseline_households"], HOUSEHOLDS.to_string());
        assert_eq!(r["current_households"], HOUSEHOLDS.to_string());
        assert_eq!(r["scorecard"], "farmer-scorecard@2026.1");
    }
    assert!(
        out.contains("HB-DRIFT FARMER_CREDIT (farmer-scorecard@2026.1): PSI"),
        "{out}"
    );

    // Each index is the sum over its bins of (a - e) ln(a / e), the shares
    // being the bins' counts over the population (0.0001 for an empty bin).
    let bins = read_csv(&bins);
    for r in &table {
        let mine: Vec<_> = bins
            .iter()
            .filter(|b| b["institution"] == r["institution"] && b["name"] == r["name"])
            .collect();
        let n = |column: &str| {
            mine.iter()
                .map(|b| b[column].parse::<f64>().unwrap())
                .sum::<f64>()
        };
        let (bn, cn) = (n("baseline"), n("current"));
        assert_eq!(bn as u64, HOUSEHOLDS);
        let recomputed: f64 = mine
            .iter()
            .map(|b| {
                let e = (b["baseline"].parse::<f64>().unwrap() / bn).max(0.0001);
                let a = (b["current"].parse::<f64>().unwrap() / cn).max(0.0001);
                (a - e) * (a / e).ln()
            })
            .sum();
        let shown: f64 = r["value"].parse().unwrap();
        assert!(
            (recomputed - shown).abs() < 0.0002,
            "{} {}: {recomputed} vs {shown}",
            r["institution"],
            r["name"]
        );
    }
    // Score bands are the sample's deciles: about a tenth each.
    let bands: Vec<_> = bins
        .iter()
        .filter(|b| b["institution"] == "HB-STEADY" && b["name"] == "score")
        .collect();
    assert!(bands.len() >= 5, "{bands:?}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("HB-DRIFT") && html.contains("<svg") && !html.contains("src=\"http"));

    // The same period as its own baseline: nothing moved, exactly.
    let (code, _, err) = cli(&[
        "monitor-scores",
        "--since",
        &since,
        "--baseline",
        &format!("{since}..9999-12-31"),
        "--output",
        output.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for r in read_csv(&output) {
        assert_eq!(r["value"], "0", "{r:?}");
        assert_eq!(r["flag"], "stable");
    }
    // The impact of a candidate on the stored requests (replayed): the
    // baseline side is exactly what the server answered.
    let mut card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scorecards/farmer-scorecard.json"),
        )
        .unwrap(),
    )
    .unwrap();
    card["version"] = "2026.1-plus20".into();
    card["base_points"] = "440".into();
    let card_path = dir.path().join("card.json");
    std::fs::write(&card_path, card.to_string()).unwrap();
    let (swap, both) = (dir.path().join("swap.csv"), dir.path().join("both.csv"));
    let (code, _, err) = cli(&[
        "simulate",
        "--from-store",
        &since,
        "--institution",
        "HB-STEADY",
        "--candidate",
        card_path.to_str().unwrap(),
        "--output",
        swap.to_str().unwrap(),
        "--households",
        both.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{err}");
    let both = read_csv(&both);
    assert_eq!(both.len() as u64, HOUSEHOLDS);
    for r in &both {
        let (decision, score, limit) = &answered[&r["household_id"]];
        assert_eq!(
            (
                &r["baseline_decision"],
                &r["baseline_score"],
                &r["baseline_limit"]
            ),
            (decision, score, limit),
            "{}",
            r["household_id"]
        );
        assert_eq!(
            r["candidate_score"].parse::<Decimal>().unwrap()
                - r["baseline_score"].parse::<Decimal>().unwrap(),
            Decimal::from(20)
        );
    }
    let total: u64 = read_csv(&swap)
        .iter()
        .map(|r| r["households"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, HOUSEHOLDS);

    // A baseline that is neither a file nor a period is refused, naming it.
    let (code, _, err) = cli(&[
        "monitor-scores",
        "--since",
        &since,
        "--baseline",
        "last-year",
        "--output",
        output.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--baseline last-year: expected a period FROM..TO"),
        "{err}"
    );
}
