//! `decision-engine batch` as a user runs it: a generated village
//! (decision-engine/testdata/batch/village.csv, made by `village-gen --households 600
//! --villages 3 --seed 11`) decided row by row exactly as online, bad rows
//! and bad files refused with the exit status and errors file saying why,
//! and the summary's figures recomputed from the output rows.
#![cfg(feature = "batch")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use decision_core::PolicySet;
use decision_core::Request;
use decision_core::{Options, evaluate, render};
use decision_grpc::pb;
use polars::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::common::read_csv;

const INSTITUTION: &str = "3201";
const PRODUCT: &str = "FARMER_CREDIT";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn village() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/batch/village.csv")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn batch(dir: &Path, input: &Path, output: &str, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .arg("batch")
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(dir.join(output))
        .args(["--institution", INSTITUTION, "--data-dir"])
        .arg(dir.join("data"))
        .args(extra)
        .output()
        .expect("decision-engine runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every column of a decisions file, as text (null: empty).
fn read_output(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = path.to_str().unwrap();
    let df = if text.ends_with(".parquet") {
        LazyFrame::scan_parquet(PlRefPath::new(text), ScanArgsParquet::default())
            .unwrap()
            .collect()
            .unwrap()
    } else {
        LazyCsvReader::new(PlRefPath::new(text))
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .finish()
            .unwrap()
            .collect()
            .unwrap()
    };
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, decision_batch::output::COLUMNS);
    (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| {
                    let v = c.str().unwrap().get(i).unwrap_or("").to_string();
                    (c.name().to_string(), v)
                })
                .collect()
        })
        .collect()
}

/// Feature name -> type, from the feature schema document.
pub(crate) fn feature_types() -> BTreeMap<String, String> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("rulesets/feature-schema.json")).unwrap(),
    )
    .unwrap();
    schema["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The online request for a household row, built from the feature schema
/// document as an API client would (not with the batch's cell parser).
fn online_request(row: &BTreeMap<String, String>) -> Request {
    let types = feature_types();
    let mut features = serde_json::Map::new();
    for (name, cell) in row {
        if name == "household_id" || cell.is_empty() {
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
    Request {
        request_id: row["household_id"].clone(),
        institution: INSTITUTION.into(),
        product: PRODUCT.into(),
        features,
    }
}

/// Two decisions files of the 600-household village decide alike, row by
/// row (their batch ids differ).
fn assert_same_decisions(a: &Path, b: &Path) {
    let (a, b) = (read_output(a), read_output(b));
    assert_eq!(a.len(), 600);
    assert_eq!(b.len(), 600);
    for (x, y) in a.iter().zip(&b) {
        for column in [
            "row",
            "household_id",
            "village_code",
            "decision",
            "score",
            "grade",
            "limit",
            "annual_rate",
            "reason_codes",
            "error",
        ] {
            assert_eq!(x[column], y[column], "{column} of {}", x["household_id"]);
        }
    }
}

/// `decision-engine explain ID` in English, which must succeed.
fn explain(dir: &Path, decision_id: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["explain", decision_id, "--lang", "en", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn batch_id(run: &Run) -> String {
    let id = run.stdout.trim().to_string();
    assert!(id.starts_with("bat_"), "{}{}", run.stdout, run.stderr);
    id
}

#[test]
fn every_row_equals_the_online_decision_of_the_same_household() {
    let dir = tempfile::tempdir().unwrap();
    // 300-row chunks: frames of 256 rows straddle chunks.
    let run = batch(
        dir.path(),
        &village(),
        "decisions.parquet",
        &["--chunk-rows", "300", "--quiet"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = batch_id(&run);
    let hex = id.strip_prefix("bat_").unwrap();

    let input = read_csv(&village());
    let output = read_output(&dir.path().join("decisions.parquet"));
    assert_eq!(output.len(), 600);
    assert_eq!(input.len(), output.len());

    let policies = PolicySet::shipped().unwrap();
    let policy = policies.select(INSTITUTION, PRODUCT).unwrap();
    // The trace file is named for the batch: a later run never replaces it.
    let trace_file = dir
        .path()
        .join(format!("decisions.parquet.{id}.traces.zst"));
    let mut reader = decision_store::traces::TraceReader::open(&trace_file).unwrap();
    let mut rows = Vec::new();
    while let Some(frame) = reader.next_frame().unwrap() {
        match frame {
            decision_store::traces::Frame::Rows(r) => rows.extend(r),
            decision_store::traces::Frame::Lines(_) => panic!("a frame of JSON lines (format 1)"),
        }
    }
    assert_eq!(rows.len(), 600, "one trace row per row");

    let mut outcomes = BTreeMap::<String, usize>::new();
    for (i, (household, out)) in input.iter().zip(&output).enumerate() {
        let row = i as u64 + 1;
        let mut online = evaluate(policy, &online_request(household), Options::default()).unwrap();
        online.decision_id = format!("dec_{hex}_{row}");
        let at = format!("row {row} ({})", household["household_id"]);
        assert_eq!(out["row"], row.to_string(), "{at}");
        assert_eq!(out["household_id"], household["household_id"], "{at}");
        assert_eq!(out["village_code"], household["village_code"], "{at}");
        assert_eq!(out["decision"], online.decision.as_str(), "{at}");
        assert_eq!(out["score"], online.score.to_string(), "{at}");
        assert_eq!(out["grade"], online.grade, "{at}");
        assert_eq!(out["limit"], online.limit.to_string(), "{at}");
        assert_eq!(
            out["annual_rate"],
            online
                .annual_rate
                .map(|r| r.to_string())
                .unwrap_or_default(),
            "{at}"
        );
        let codes: Vec<&str> = online.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(out["reason_codes"], codes.join(";"), "{at}");
        assert_eq!(out["ruleset_version"], "farmer-credit-default@2026.4");
        assert_eq!(out["scorecard_version"], "farmer-scorecard@2026.1");
        assert_eq!(out["decision_id"], online.decision_id, "{at}");
        assert_eq!(out["error"], "", "{at}");
        *outcomes.entry(out["decision"].clone()).or_default() += 1;

        // The stored row renders the online decision, trace and all.
        let stored = &rows[i];
        assert_eq!(stored.row, row, "{at}");
        let request = stored.request(INSTITUTION, PRODUCT).unwrap();
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            serde_json::to_value(online_request(household)).unwrap(),
            "{at}"
        );
        let record =
            decision_store::compact::decode(stored.record.as_ref().unwrap(), policy.rules.len())
                .unwrap();
        let mut rendered = render(policy, &request, &record, Options { trace: true }).unwrap();
        rendered.decision_id.clone_from(&online.decision_id);
        let mut traced =
            evaluate(policy, &online_request(household), Options { trace: true }).unwrap();
        traced.decision_id.clone_from(&online.decision_id);
        assert_eq!(
            serde_json::to_string(&rendered).unwrap(),
            serde_json::to_string(&traced).unwrap(),
            "{at}: stored decision and trace differ from online"
        );
    }
    // The village exercises every outcome.
    assert_eq!(
        outcomes.keys().collect::<Vec<_>>(),
        ["APPROVE", "DECLINE", "REFER"]
    );

    // The command line's online evaluate agrees too, for a few households.
    for i in [0usize, 299, 300, 599] {
        let request = dir.path().join(format!("request-{i}.json"));
        std::fs::write(
            &request,
            serde_json::to_string(&online_request(&input[i])).unwrap(),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
            .args(["evaluate", "--no-trace", "--request"])
            .arg(&request)
            .output()
            .unwrap();
        let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(cli["decision"], output[i]["decision"].as_str());
        assert_eq!(cli["limit"], output[i]["limit"].as_str());
        assert_eq!(cli["score"], output[i]["score"].as_str());
    }

    // explain finds a batch decision through the store, like an online one.
    let decision_id = &output[450]["decision_id"];
    let text = explain(dir.path(), decision_id);
    assert!(text.contains(&format!("Decision {decision_id}")), "{text}");
    assert!(
        text.contains(&format!("request {}", input[450]["household_id"])),
        "{text}"
    );
    for rule in ["RL_AGE", "RL_BANK_OVERDUE", "KO_DEBT_TO_INCOME"] {
        assert!(text.contains(rule), "every rule is in the trace: {rule}");
    }
}

#[test]
fn parquet_input_and_csv_output_give_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    // The village as Parquet as a register would store it: integers as
    // integers, booleans as booleans, money and decimals as exact text.
    let types = feature_types();
    let header = std::fs::read_to_string(village()).unwrap();
    let columns: Vec<&str> = header.lines().next().unwrap().split(',').collect();
    let mut typed = Vec::new();
    // The village file has no application columns: only its own are typed.
    for (name, ty) in types.iter().filter(|(n, _)| columns.contains(&n.as_str())) {
        match ty.as_str() {
            "integer" => typed.push(col(name.as_str()).cast(DataType::Int64)),
            "bool" => typed.push(col(name.as_str()).eq(lit("true")).alias(name.as_str())),
            _ => {}
        }
    }
    let read = || {
        LazyCsvReader::new(PlRefPath::new(village().to_str().unwrap()))
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .finish()
            .unwrap()
    };
    let mut df = read().with_columns(typed).collect().unwrap();
    assert_eq!(df.column("age").unwrap().dtype(), &DataType::Int64);
    assert_eq!(
        df.column("coop_member").unwrap().dtype(),
        &DataType::Boolean
    );
    let parquet = dir.path().join("village.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut df)
        .unwrap();
    let csv_run = batch(dir.path(), &village(), "from-csv.csv", &["--quiet"]);
    let parquet_run = batch(dir.path(), &parquet, "from-parquet.csv", &["--quiet"]);
    assert_eq!(csv_run.code, 0, "{}", csv_run.stderr);
    assert_eq!(parquet_run.code, 0, "{}", parquet_run.stderr);
    assert_same_decisions(
        &dir.path().join("from-csv.csv"),
        &dir.path().join("from-parquet.csv"),
    );

    // Money held as binary floats is refused, naming each column.
    let mut floats = LazyCsvReader::new(PlRefPath::new(village().to_str().unwrap()))
        .with_has_header(true)
        .finish()
        .unwrap()
        .collect()
        .unwrap();
    let float_parquet = dir.path().join("floats.parquet");
    ParquetWriter::new(std::fs::File::create(&float_parquet).unwrap())
        .finish(&mut floats)
        .unwrap();
    let run = batch(dir.path(), &float_parquet, "from-floats.csv", &["--quiet"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let errors = read_csv(&dir.path().join("from-floats.csv.errors.csv"));
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str()).collect();
    assert!(fields.contains(&"annual_net_income"), "{fields:?}");
    assert!(fields.contains(&"land_area_mu"), "{fields:?}");
    for e in &errors {
        let ty = types[&e["field"]].as_str();
        assert!(ty == "money" || ty == "decimal", "{e:?}");
        assert!(
            e["message"].starts_with("is a floating-point column"),
            "{e:?}"
        );
    }
    assert!(!dir.path().join("from-floats.csv").exists());
}

/// A small file with one problem per row (and good rows between).
const BAD_ROWS: &str = "\
household_id,village_code,age,household_size,labor_count,annual_net_income,bureau_has_record,review_rating
H1,V1,42,4,2,68000.00,false,A
H2,V1,forty,4,2,68000.00,false,A
H3,V1,42,4,2,68000.00,maybe,A
H4,V1,42,4,2,\"68,000\",false,A
H5,V1,42,4,2,68000.00,false,E
,V1,42,4,2,68000.00,false,A
H1,V2,42,4,2,68000.00,false,A
H8,,42,4,2,68000.00,false,A
H9,V2,42,4,2,,false,A
H10,V2,50,3,2,50000.00,false,B
";

#[test]
fn bad_rows_become_error_rows_listed_in_the_errors_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, BAD_ROWS).unwrap();
    let run = batch(
        dir.path(),
        &input,
        "out.csv",
        &[
            "--quiet",
            "--summary",
            &dir.path().join("summary.csv").display().to_string(),
        ],
    );
    assert_eq!(run.code, 4, "some rows failed: {}", run.stderr);
    assert!(run.stderr.contains("8 errors"), "{}", run.stderr);

    let out = read_output(&dir.path().join("out.csv"));
    let decisions: Vec<&str> = out.iter().map(|r| r["decision"].as_str()).collect();
    let errors_at: Vec<usize> = (0..decisions.len())
        .filter(|&i| decisions[i] == "ERROR")
        .collect();
    assert_eq!(errors_at, [1, 2, 3, 4, 5, 6, 7, 8], "{decisions:?}");
    assert_eq!(out[1]["decision_id"], "");
    assert_eq!(out[1]["limit"], "");

    let errors = read_csv(&dir.path().join("out.csv.errors.csv"));
    let got: Vec<(String, String, String)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].clone(),
                e["household_id"].clone(),
                e["field"].clone(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("2", "H2", "age"),
        ("3", "H3", "bureau_has_record"),
        ("4", "H4", "annual_net_income"),
        ("5", "H5", "review_rating"),
        ("6", "", "household_id"),
        ("7", "H1", "household_id"),
        ("8", "H8", "village_code"),
        ("9", "H9", "annual_net_income"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want);
    let messages: Vec<&str> = errors.iter().map(|e| e["message"].as_str()).collect();
    assert!(
        messages[0].contains("expected an integer") && messages[0].contains("\"forty\""),
        "{}",
        messages[0]
    );
    assert_eq!(messages[1], "expected true or false, found \"maybe\"");
    assert!(messages[2].contains("68,000"), "{}", messages[2]);
    assert!(
        messages[3].contains("A, B, C") || messages[3].contains("\"A\""),
        "{}",
        messages[3]
    );
    assert_eq!(messages[4], "must not be empty");
    assert_eq!(
        messages[5],
        "household id \"H1\" already appears in row 1; expected each household once"
    );
    assert_eq!(
        messages[6],
        "must not be empty: expected the household's village code"
    );
    assert!(
        messages[7].starts_with("required feature is missing"),
        "{}",
        messages[7]
    );
    // The output row says the same.
    assert!(out[1]["error"].starts_with("age: "), "{}", out[1]["error"]);

    let summary = read_csv(&dir.path().join("summary.csv"));
    let total = summary.last().unwrap();
    assert_eq!(total["village_code"], "(total)");
    assert_eq!(total["households"], "10");
    assert_eq!(total["errors"], "8");
    assert_eq!(total["error_rate"], "0.8");
    assert_eq!(
        ["approved", "referred", "declined"]
            .iter()
            .map(|c| total[*c].parse::<u64>().unwrap())
            .sum::<u64>(),
        2
    );
}

#[test]
fn ragged_and_empty_lines_are_error_rows_in_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ragged.csv");
    // Line by line: header, H1 good, H2 one field too many, two empty lines,
    // H3 cut short, H4 with a quoted line break in its village, an empty
    // line, H5 good and the last line without a line break.
    std::fs::write(
        &input,
        "household_id,village_code,age,annual_net_income,bureau_has_record\n\
         H1,V1,42,68000.00,false\n\
         H2,V1,42,68000.00,false,EXTRA\n\
         \n\
         \n\
         H3,V1,42\n\
         H4,\"V1\nX\",42,68000.00,false\n\
         \n\
         H5,V1,42,68000.00,false",
    )
    .unwrap();
    let run = batch(dir.path(), &input, "out.csv", &["--quiet"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = read_output(&dir.path().join("out.csv"));
    let ids: Vec<(&str, &str)> = out
        .iter()
        .map(|r| (r["household_id"].as_str(), r["decision"].as_str()))
        .collect();
    assert_eq!(ids.len(), 8);
    assert_eq!(ids[1], ("H2", "ERROR"));
    assert_eq!(ids[4], ("H3", "ERROR"));
    assert_eq!(ids[5].0, "H4");
    assert_eq!(ids[7].0, "H5");
    for i in [0, 5, 7] {
        assert_ne!(ids[i].1, "ERROR", "{ids:?}");
    }
    assert_eq!(out[5]["village_code"], "V1\nX");
    let errors = read_csv(&dir.path().join("out.csv.errors.csv"));
    let got: Vec<(&str, &str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_str(),
                e["field"].as_str(),
                e["message"].as_str(),
            )
        })
        .collect();
    let ragged = |n| {
        format!(
            "has {n} fields where the header has 5: expected one value per column (a line cut short, or a comma in an unquoted value?)"
        )
    };
    let empty = "is an empty line: expected 5 values, one per column";
    // The line in the file: H3 (row 5) is on line 6; rows after H4's
    // quoted line break are one line further down.
    let lines: Vec<&str> = errors.iter().map(|e| e["line"].as_str()).collect();
    assert_eq!(lines, ["3", "4", "5", "6", "9"]);
    assert_eq!(
        got,
        [
            ("2", "row", ragged(6).as_str()),
            ("3", "row", empty),
            ("4", "row", empty),
            ("5", "row", ragged(3).as_str()),
            ("7", "row", empty),
        ]
    );
}

fn refused(dir: &Path, input_text: &str, extra: &[&str]) -> (Run, Vec<BTreeMap<String, String>>) {
    let input = dir.join("in.csv");
    std::fs::write(&input, input_text).unwrap();
    let run = batch(dir, &input, "out.parquet", extra);
    let errors = read_csv(&dir.join("out.parquet.errors.csv"));
    (run, errors)
}

#[test]
fn a_missing_required_column_refuses_the_file_and_writes_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (run, errors) = refused(
        dir.path(),
        "household_id,village_code,household_size,labor_count,bureau_has_record\nH1,V1,4,2,false\n",
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["age", "annual_net_income"]);
    assert!(
        errors[0]["message"].starts_with("required feature column is missing: expected an integer"),
        "{}",
        errors[0]["message"]
    );
    assert_eq!(errors[0]["row"], "");
    assert!(
        run.stderr
            .contains("age: required feature column is missing"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("out.parquet").exists());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter()
            .all(|f| f == "in.csv" || f == "out.parquet.errors.csv" || f == "data"),
        "nothing else is written: {left:?}"
    );
}

#[test]
fn an_unknown_column_is_refused_with_a_suggestion_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let text = "household_id,village_code,age,household_size,labor_count,anual_net_income,annual_net_income,bureau_has_record,phone\n\
                H1,V1,42,4,2,1,68000.00,false,555\n";
    let (run, errors) = refused(dir.path(), text, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["anual_net_income", "phone"]);
    assert!(
        errors[0]["message"].contains("did you mean `annual_net_income`?"),
        "{}",
        errors[0]["message"]
    );
    assert!(
        errors[1]["message"].contains("--ignore-column phone"),
        "{}",
        errors[1]["message"]
    );
    assert!(!dir.path().join("out.parquet").exists());

    let (run, errors) = refused(
        dir.path(),
        text,
        &[
            "--ignore-column",
            "phone",
            "--ignore-column",
            "anual_net_income",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(errors.is_empty());
    let out = read_output(&dir.path().join("out.parquet"));
    assert_eq!(out.len(), 1);
    assert_ne!(out[0]["decision"], "ERROR");
    assert_eq!(out[0]["error"], "");
}

#[test]
fn an_empty_file_is_refused_and_a_header_only_file_decides_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (run, errors) = refused(dir.path(), "", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["field"], "input");
    assert!(
        errors[0]["message"].contains("is empty: expected a header row"),
        "{}",
        errors[0]["message"]
    );
    assert!(!dir.path().join("out.parquet").exists());

    let header = std::fs::read_to_string(village()).unwrap();
    let header = header.lines().next().unwrap().to_string() + "\n";
    let summary = dir.path().join("summary.json");
    let (run, errors) = refused(
        dir.path(),
        &header,
        &["--summary", summary.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(errors.is_empty());
    assert!(read_output(&dir.path().join("out.parquet")).is_empty());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert_eq!(summary["total"]["households"], "0");
    assert_eq!(summary["villages"], serde_json::json!([]));
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn the_summary_matches_the_output_rows_and_the_report_stands_alone() {
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.csv");
    let report_path = dir.path().join("report.html");
    let run = batch(
        dir.path(),
        &village(),
        "decisions.parquet",
        &[
            "--quiet",
            "--summary",
            summary_path.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let output = read_output(&dir.path().join("decisions.parquet"));
    let summary = read_csv(&summary_path);
    let grades = ["AAA", "AA", "A", "B", "C"];

    // Recompute every figure from the rows, per village and in total.
    let mut villages: BTreeMap<String, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for r in &output {
        villages
            .entry(r["village_code"].clone())
            .or_default()
            .push(r);
        villages.entry("(total)".into()).or_default().push(r);
    }
    assert_eq!(summary.len(), 4, "3 villages and the total");
    let round =
        |d: Decimal, dp: u32| d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    for s in &summary {
        let rows = &villages[&s["village_code"]];
        let n = Decimal::from(rows.len());
        let count = |what: &str| rows.iter().filter(|r| r["decision"] == what).count();
        assert_eq!(s["households"], rows.len().to_string());
        for (column, share, what) in [
            ("approved", "approve_rate", "APPROVE"),
            ("referred", "refer_rate", "REFER"),
            ("declined", "decline_rate", "DECLINE"),
            ("errors", "error_rate", "ERROR"),
        ] {
            assert_eq!(
                s[column],
                count(what).to_string(),
                "{column} of {}",
                s["village_code"]
            );
            assert_eq!(
                dec(&s[share]),
                round(Decimal::from(count(what)) / n, 4),
                "{share}"
            );
        }
        let offered: Vec<Decimal> = rows
            .iter()
            .map(|r| dec(&r["limit"]))
            .filter(|l| *l > Decimal::ZERO)
            .collect();
        let total: Decimal = offered.iter().sum();
        assert_eq!(s["offered"], offered.len().to_string());
        assert_eq!(dec(&s["total_limit"]), total);
        assert_eq!(
            dec(&s["mean_limit"]),
            round(total / Decimal::from(offered.len()), 2)
        );
        for g in grades {
            let n = rows.iter().filter(|r| r["grade"] == g).count();
            assert_eq!(s[&format!("grade_{g}")], n.to_string(), "grade {g}");
        }
        let rates: Vec<Decimal> = rows
            .iter()
            .filter(|r| !r["annual_rate"].is_empty())
            .map(|r| dec(&r["annual_rate"]))
            .collect();
        assert_eq!(
            dec(&s["mean_annual_rate"]),
            round(
                rates.iter().sum::<Decimal>() / Decimal::from(rates.len()),
                6
            )
        );
    }

    // The report: one file, charts inline, nothing fetched at view time.
    let html = std::fs::read_to_string(report_path).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "score, grades, limits, reasons"
    );
    for village in ["V00001", "V00002", "V00003"] {
        assert!(html.contains(village));
    }
    for fetch in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(
            !html.contains(fetch),
            "the report must not fetch anything: {fetch}"
        );
    }
    let total = &summary[3];
    assert!(html.contains(&format!("<b>{}</b>", total["households"])));
    // Amounts in the report are grouped by thousands for reading.
    let grouped = total["total_limit"]
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(html.contains(&grouped), "{grouped}");
}

// polars' readers need a multi-threaded runtime when called inside one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_serves_and_replays_a_batch_decision() {
    let dir = tempfile::tempdir().unwrap();
    let run = batch(dir.path(), &village(), "decisions.parquet", &["--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let output = read_output(&dir.path().join("decisions.parquet"));
    let row = &output[123];

    let mut server = crate::common::Server::start(&dir.path().join("data"), &[]);
    let mut client = server.client().await;
    let got = client
        .get_decision(pb::GetDecisionRequest {
            decision_id: row["decision_id"].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let decision = got.decision.unwrap();
    assert_eq!(decision.decision_id, row["decision_id"]);
    assert_eq!(decision.request_id, row["household_id"]);
    assert_eq!(decision.limit, row["limit"]);
    assert_eq!(decision.score, row["score"]);
    let request: serde_json::Value = serde_json::from_str(&got.request_json).unwrap();
    assert_eq!(request["request_id"], row["household_id"].as_str());

    let replay = client
        .replay(pb::ReplayRequest {
            decision_id: row["decision_id"].clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical, "{:?}", replay.differences);

    // An id of this batch's shape with no such row, and another batch's.
    let hex = row["decision_id"].split('_').nth(1).unwrap().to_string();
    for missing in [
        format!("dec_{hex}_601"),
        "dec_0000000000000000_1".to_string(),
    ] {
        let status = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: missing.clone(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            tonic::Code::NotFound,
            "{missing}: {status:?}"
        );
    }
    server.terminate();
}

#[test]
fn a_second_run_to_the_same_output_keeps_the_first_runs_traces() {
    use decision_store::Store;
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let first = batch(dir.path(), &village(), "decisions.csv", &["--quiet"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let first_id = batch_id(&first);
    let first_rows = read_output(&dir.path().join("decisions.csv"));
    let second = batch(dir.path(), &village(), "decisions.csv", &["--quiet"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_ne!(batch_id(&second), first_id);

    // The first run's decision is still explained from its own trace file.
    let decision_id = &first_rows[7]["decision_id"];
    let text = explain(dir.path(), decision_id);
    assert!(text.contains(&format!("Decision {decision_id}")), "{text}");

    // The batch record holds the trace file's hash, the versions and the counts.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = decision_store::SqliteStore::open(&dir.path().join("data")).unwrap();
    let record = runtime
        .block_on(store.get_batch(&first_id))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, decision_store::BatchStatus::Finished);
    assert_eq!(record.rows, 600);
    assert_eq!(record.institution, INSTITUTION);
    assert_eq!(record.versions.len(), 7);
    let bytes = std::fs::read(&record.trace_file).unwrap();
    assert_eq!(
        record.trace_sha256,
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    );
    assert_eq!(*record.frame_offsets.last().unwrap(), bytes.len() as u64);
    assert_eq!(record.frame_first_rows[..3], [1, 257, 513]);
}

#[test]
fn a_cell_that_is_not_utf8_is_an_error_row_and_a_lone_carriage_return_is_not_a_line_break() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gbk.csv");
    let mut bytes =
        b"household_id,village_code,age,annual_net_income,bureau_has_record,main_crop\n\
H1,V1,42,68000.00,false,rice\n\
H2,V1\r,42,68000.00,false,rice\n\
H3,V1,42,68000.00,false,"
            .to_vec();
    bytes.extend_from_slice(&[0xcb, 0xae, 0xb5, 0xbe]); // 水稻 in GBK
    bytes.extend_from_slice(b"\nH4,V1,42,68,000.00,false,rice\r\nH5,V1,42,68000.00,false,rice\r\n");
    std::fs::write(&input, bytes).unwrap();
    let run = batch(dir.path(), &input, "out.csv", &["--quiet"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = read_output(&dir.path().join("out.csv"));
    let rows: Vec<(&str, &str)> = out
        .iter()
        .map(|r| (r["household_id"].as_str(), r["decision"].as_str()))
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_ne!(
        rows[1].1, "ERROR",
        "a carriage return inside a cell ends no row"
    );
    assert_eq!(rows[2], ("H3", "ERROR"));
    assert_eq!(rows[3], ("H4", "ERROR"));
    assert_ne!(rows[4].1, "ERROR");
    let errors = read_csv(&dir.path().join("out.csv.errors.csv"));
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["row"].as_str(), errors[0]["field"].as_str()),
        ("3", "main_crop")
    );
    assert!(
        errors[0]["message"].starts_with("is not UTF-8 text: expected the file saved as CSV UTF-8")
    );
    assert_eq!(
        (errors[1]["row"].as_str(), errors[1]["field"].as_str()),
        ("4", "row")
    );
}

#[test]
fn an_interrupted_run_is_recorded_as_failed_and_leaves_no_files() {
    use decision_store::Store;
    let dir = tempfile::tempdir().unwrap();
    // The village forty times over, with ids made unique: long enough to
    // be stopped half way (the signal handlers exist before any file).
    let text = std::fs::read_to_string(village()).unwrap();
    let mut lines = text.lines();
    let mut big = lines.next().unwrap().to_string() + "\n";
    let rows: Vec<&str> = lines.collect();
    for copy in 0..40 {
        for row in &rows {
            big.push_str(&format!("C{copy}{row}\n"));
        }
    }
    let input = dir.path().join("county.csv");
    std::fs::write(&input, big).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .arg("batch")
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(dir.path().join("out.parquet"))
        .args([
            "--institution",
            INSTITUTION,
            "--chunk-rows",
            "256",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it is writing, then stop it.
    let started = std::time::Instant::now();
    while !std::fs::read_dir(dir.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the run never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted after"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|f| f == "county.csv" || f == "data"),
        "no output, errors, trace or partial file is left: {left:?}"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = decision_store::SqliteStore::open(&dir.path().join("data")).unwrap();
    let id = stderr
        .split_whitespace()
        .find(|w| w.starts_with("bat_"))
        .expect("the failure names the batch");
    let record = runtime.block_on(store.get_batch(id)).unwrap().unwrap();
    assert_eq!(record.status, decision_store::BatchStatus::Failed);
    assert!(record.failure.contains("interrupted"), "{}", record.failure);
}

#[test]
fn an_excel_csv_with_a_byte_order_mark_and_crlf_lines_is_read_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("excel.csv");
    // What Excel's "CSV UTF-8" writes: a BOM and CRLF line ends.
    let text = std::fs::read_to_string(village()).unwrap();
    let mut bytes = vec![0xef, 0xbb, 0xbf];
    for line in text.lines() {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    std::fs::write(&input, bytes).unwrap();
    let plain = batch(dir.path(), &village(), "plain.csv", &["--quiet"]);
    let excel = batch(dir.path(), &input, "excel-out.csv", &["--quiet"]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert_eq!(excel.code, 0, "{}", excel.stderr);
    assert_same_decisions(
        &dir.path().join("plain.csv"),
        &dir.path().join("excel-out.csv"),
    );
}

#[test]
fn outputs_that_would_overwrite_the_input_or_each_other_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let input = dir.path().join("in.csv");
    std::fs::copy(village(), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    // The input reached through `sub/..`, and the summary on the report.
    let run = batch(
        dir.path(),
        &input,
        "sub/../in.csv",
        &[
            "--quiet",
            "--summary",
            dir.path().join("same.html").to_str().unwrap(),
            "--report",
            dir.path().join("same.html").to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--output: "), "{}", run.stderr);
    assert!(run.stderr.contains("is the input file"), "{}", run.stderr);
    assert!(run.stderr.contains("--report: "), "{}", run.stderr);
    assert!(run.stderr.contains("is also --summary"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is untouched"
    );
    assert!(!dir.path().join("same.html").exists());
}

#[test]
fn crlf_and_trailing_empty_lines_are_reported_as_empty_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("crlf.csv");
    std::fs::write(
        &input,
        "household_id,village_code,age,annual_net_income,bureau_has_record\r\n\
         H1,V1,42,68000.00,false\r\n\
         \r\n\
         H2,V1,42,68000.00,false\r\n\
         \n\
         \n",
    )
    .unwrap();
    let run = batch(dir.path(), &input, "out.csv", &["--quiet"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    let out = read_output(&dir.path().join("out.csv"));
    let ids: Vec<&str> = out.iter().map(|r| r["household_id"].as_str()).collect();
    assert_eq!(ids[..3], ["H1", "", "H2"]);
    let errors = read_csv(&dir.path().join("out.csv.errors.csv"));
    for e in &errors {
        assert_eq!(e["field"], "row", "{e:?}");
        assert_eq!(
            e["message"],
            "is an empty line: expected 5 values, one per column"
        );
    }
    let rows: Vec<&str> = errors.iter().map(|e| e["row"].as_str()).collect();
    assert_eq!(rows[0], "2");
    assert_eq!(
        rows.len(),
        out.len() - 2,
        "every row but H1 and H2 is an empty line"
    );
}

#[test]
fn four_shards_of_a_village_together_equal_the_unsharded_run_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    // The generated village, with a duplicate household, a row with no
    // household id and a row with a bad value at the end.
    let text = std::fs::read_to_string(village()).unwrap();
    let first = text.lines().nth(1).unwrap();
    let input = dir.path().join("village.csv");
    std::fs::write(
        &input,
        format!(
            "{text}{first}\n{}\n{}\n",
            first.replacen("H00000001", "", 1),
            first.replacen("H00000001,V00001,40,", "H09999999,V00001,forty,", 1)
        ),
    )
    .unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let whole = batch(
        dir.path(),
        &input,
        "whole.csv",
        &["--quiet", "--summary", &path("whole.json")],
    );
    assert_eq!(whole.code, 4, "{}", whole.stderr);
    let mut shard_rows = Vec::new();
    let mut shard_errors = Vec::new();
    let mut batch_ids = Vec::new();
    for i in 0..4 {
        let run = batch(
            dir.path(),
            &input,
            &format!("shard{i}.csv"),
            &[
                "--quiet",
                "--shard",
                &format!("{i}/4"),
                "--summary",
                &path(&format!("shard{i}.json")),
            ],
        );
        assert!(run.code == 0 || run.code == 4, "{}", run.stderr);
        batch_ids.push(batch_id(&run));
        let rows = read_output(&dir.path().join(format!("shard{i}.csv")));
        assert!(rows.len() > 100, "shard {i} has {} rows", rows.len());
        shard_rows.extend(rows);
        shard_errors.extend(read_csv(
            &dir.path().join(format!("shard{i}.csv.errors.csv")),
        ));
    }
    // Row for row, in input order, but for the decision id (which names
    // each run's batch).
    let without_id = |mut rows: Vec<BTreeMap<String, String>>| {
        for r in &mut rows {
            assert!(r.remove("decision_id").is_some());
        }
        rows.sort_by_key(|r| r["row"].parse::<u64>().unwrap());
        rows
    };
    let whole_rows = without_id(read_output(&dir.path().join("whole.csv")));
    assert_eq!(whole_rows.len(), 603);
    assert_eq!(without_id(shard_rows), whole_rows);
    let mut whole_errors = read_csv(&dir.path().join("whole.csv.errors.csv"));
    let key = |r: &BTreeMap<String, String>| {
        (
            r["row"].parse::<u64>().unwrap_or(0),
            r["field"].clone(),
            r["message"].clone(),
        )
    };
    whole_errors.sort_by_key(key);
    shard_errors.sort_by_key(key);
    assert_eq!(shard_errors, whole_errors);
    assert!(whole_errors.len() >= 3, "{whole_errors:?}");

    // The shards' summaries merge into the whole run's.
    let merged = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["summary", "merge", "--output", &path("merged.json")])
        .args((0..4).map(|i| path(&format!("shard{i}.json"))))
        .output()
        .unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let json = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path(name)).unwrap()).unwrap()
    };
    assert_eq!(json("merged.json"), json("whole.json"));
    assert_eq!(json("whole.json")["total"]["households"], "603");

    // Each shard recorded its batch, saying which shard it was.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = decision_store::SqliteStore::open(&dir.path().join("data")).unwrap();
    let mut rows = 0;
    for (i, id) in batch_ids.iter().enumerate() {
        let record = runtime
            .block_on(decision_store::Store::get_batch(&store, id))
            .unwrap()
            .unwrap();
        assert_eq!(record.shard, format!("{i}/4"));
        rows += record.rows;
    }
    assert_eq!(rows, 603);
}
