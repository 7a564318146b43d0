//! Bad requests and bad policy documents are refused with errors that name
//! the field, rule or bin and say what was expected.

use decision_core::compile::Document;
use decision_core::error::{EvaluateError, FieldError, PolicyError};
use decision_core::evaluate::{Options, evaluate};
use decision_core::policy_set::{PolicySet, SHIPPED};
use decision_core::request::Request;
use serde_json::{Value, json};

fn base_request() -> Value {
    json!({
        "request_id": "T-1", "institution": "HB-JINGSHAN", "product": "FARMER_CREDIT",
        "features": {"age": 40, "annual_net_income": "50000", "bureau_has_record": true}
    })
}

fn errors_for(request: Value) -> Vec<FieldError> {
    let policies = PolicySet::shipped().unwrap();
    let request: Request = serde_json::from_value(request).unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    match evaluate(policy, &request, Options::default()) {
        Err(EvaluateError::Input(e)) => e.errors,
        other => panic!("expected an input error, got {other:?}"),
    }
}

fn with_features(changes: Value) -> Value {
    let mut r = base_request();
    for (k, v) in changes.as_object().unwrap() {
        r["features"][k] = v.clone();
    }
    r
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.to_string(),
    }
}

#[test]
fn the_base_request_is_valid() {
    let policies = PolicySet::shipped().unwrap();
    let request: Request = serde_json::from_value(base_request()).unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    assert!(evaluate(policy, &request, Options::default()).is_ok());
}

#[test]
fn wrong_types_name_the_field_and_the_expected_type() {
    let errors = errors_for(with_features(json!({
        "age": "forty", "bureau_has_record": "yes", "annual_net_income": 12.345, "review_rating": "E",
        "labor_count": 2.5
    })));
    assert_eq!(
        errors,
        vec![
            field(
                "features.age",
                "expected an integer between 16 and 100, found \"forty\""
            ),
            field(
                "features.annual_net_income",
                "expected an amount in yuan with at most 2 decimal places, as a decimal string or number between 0 and 100000000, found 12.345"
            ),
            field(
                "features.bureau_has_record",
                "expected true or false, found \"yes\""
            ),
            field(
                "features.review_rating",
                "expected one of A, B, C, D, found \"E\""
            ),
            field(
                "features.labor_count",
                "expected an integer between 0 and 30, found 2.5"
            ),
        ]
    );
}

#[test]
fn out_of_range_values_are_refused() {
    let errors = errors_for(with_features(
        json!({"age": 130, "repay_on_time_ratio": "1.5", "bureau_total_debt": "-1"}),
    ));
    assert_eq!(
        errors,
        vec![
            field(
                "features.age",
                "expected an integer between 16 and 100, found 130"
            ),
            field(
                "features.repay_on_time_ratio",
                "expected a decimal number or decimal string between 0 and 1, found \"1.5\""
            ),
            field(
                "features.bureau_total_debt",
                "expected an amount in yuan with at most 2 decimal places, as a decimal string or number between 0 and 100000000, found \"-1\""
            ),
        ]
    );
}

#[test]
fn unknown_and_missing_required_features_are_named() {
    let mut r = with_features(json!({"favourite_colour": "red"}));
    r["features"].as_object_mut().unwrap().remove("age");
    let errors = errors_for(r);
    assert_eq!(
        errors,
        vec![
            field(
                "features.favourite_colour",
                "unknown feature; the feature schema farmer-features@2026.2 declares no such name"
            ),
            field(
                "features.age",
                "required feature is missing: expected an integer between 16 and 100"
            ),
        ]
    );
}

#[test]
fn a_thin_file_cannot_carry_bureau_features() {
    let errors = errors_for(with_features(
        json!({"bureau_has_record": false, "bureau_max_dpd_24m": 0}),
    ));
    assert_eq!(
        errors,
        vec![field(
            "features.bureau_max_dpd_24m",
            "present, but `bureau_has_record` is not true: a household without a bureau record carries no such feature"
        )]
    );
}

#[test]
fn header_fields_and_products_are_checked() {
    let mut r = base_request();
    r["request_id"] = json!("");
    r["product"] = json!("MORTGAGE");
    let errors = errors_for(r);
    assert_eq!(
        errors,
        vec![
            field("request_id", "must not be empty"),
            field(
                "product",
                "unknown product `MORTGAGE`; expected `FARMER_CREDIT`"
            ),
        ]
    );
    let policies = PolicySet::shipped().unwrap();
    let e = policies.select("HB-JINGSHAN", "MORTGAGE").unwrap_err();
    assert_eq!(
        e.errors,
        vec![field(
            "product",
            "no policy for product `MORTGAGE`; expected one of FARMER_CREDIT, GUARANTEED_FARMER_CREDIT"
        )]
    );
}

#[test]
fn malformed_json_is_refused_with_its_position() {
    let e = Request::from_json("{\"request_id\": \"x\", ").unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert_eq!(e.errors[0].field, "request");
    assert!(
        e.errors[0].message.contains("line 1 column"),
        "{}",
        e.errors[0].message
    );
    let e = Request::from_json(
        r#"{"request_id": "x", "institution": "I", "product": "P", "features": {}, "extra": 1}"#,
    )
    .unwrap_err();
    assert!(
        e.errors[0].message.contains("unknown field `extra`"),
        "{}",
        e.errors[0].message
    );
}

/// The shipped documents with one changed by `edit`, compiled as a set.
fn policy_with(name: &str, edit: impl FnOnce(&mut Value)) -> Result<PolicySet, PolicyError> {
    let mut docs = Vec::new();
    let mut edit = Some(edit);
    for (n, text) in SHIPPED {
        let mut text = text.to_string();
        if n.ends_with(name)
            && let Some(edit) = edit.take()
        {
            let mut v: Value = serde_json::from_str(&text).unwrap();
            edit(&mut v);
            text = serde_json::to_string(&v).unwrap();
        }
        docs.push(Document::parse(n, &text)?);
    }
    PolicySet::from_documents(docs)
}

fn messages(e: PolicyError) -> Vec<String> {
    e.issues
        .iter()
        .map(|i| format!("{}: {}: {}", i.document, i.place, i.message))
        .collect()
}

#[test]
fn a_policy_with_a_syntax_error_and_an_unknown_identifier_lists_both() {
    let e = policy_with("province-red-lines.json", |v| {
        v["rules"][0]["expression"] = json!("age > > max_age");
        v["rules"][1]["expression"] = json!("bureau_overdue_count > 0");
    })
    .unwrap_err();
    let m = messages(e);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(m[0].starts_with("rulesets/province-red-lines.json: rules[0] RL_AGE.expression: `age > > max_age` cannot be evaluated"), "{}", m[0]);
    assert_eq!(
        m[1],
        "rulesets/province-red-lines.json: rules[1] RL_BUREAU_OVERDUE.expression: unknown identifier `bureau_overdue_count` in `bureau_overdue_count > 0`: expected a feature of the schema, a derived feature, a parameter or a computed value"
    );
}

#[test]
fn overlapping_bins_and_gaps_are_refused() {
    let e = policy_with("farmer-scorecard.json", |v| {
        v["characteristics"][0]["bins"][1]["interval"] = json!("[24, 35)");
        v["characteristics"][1]["bins"][3]["interval"] = json!("[100001, inf)");
    })
    .unwrap_err();
    assert_eq!(
        messages(e),
        vec![
            "scorecards/farmer-scorecard.json: characteristics[0] age: bins[0] (-inf, 25) and bins[1] [24, 35) overlap",
            "scorecards/farmer-scorecard.json: characteristics[1] annual_net_income: gap between bins[2] [50000, 100000) and bins[3] [100001, inf): values there fall in no bin",
        ]
    );
}

#[test]
fn missing_handling_must_be_stated() {
    let e = policy_with("province-red-lines.json", |v| {
        v["rules"][1]
            .as_object_mut()
            .unwrap()
            .remove("when_missing");
    })
    .unwrap_err();
    assert_eq!(
        messages(e),
        vec![
            "rulesets/province-red-lines.json: rules[1] RL_BUREAU_OVERDUE: reads optional `bureau_current_overdue_count`; state \"when_missing\": true or false, the rule's result when they are absent"
        ]
    );
    let e = policy_with("farmer-scorecard.json", |v| {
        v["characteristics"][2]["bins"]
            .as_array_mut()
            .unwrap()
            .remove(0);
    })
    .unwrap_err();
    assert_eq!(
        messages(e),
        vec![
            "scorecards/farmer-scorecard.json: characteristics[2] land_area: `land_area_mu` may be absent but no bin has `missing: true`"
        ]
    );
}

#[test]
fn knockout_rules_cannot_read_the_score_and_tables_must_be_complete() {
    let e = policy_with("farmer-credit-default.json", |v| {
        v["rules"][0]["expression"] = json!("score < 500");
        v["grades"]["rows"][1]["values"]
            .as_object_mut()
            .unwrap()
            .remove("grade_cap");
    })
    .unwrap_err();
    assert_eq!(
        messages(e),
        vec![
            "rulesets/farmer-credit-default.json: grades.rows[1] AA.values: missing column `grade_cap`: the table must be complete",
            "rulesets/farmer-credit-default.json: rules[0] KO_DEBT_TO_INCOME.expression: `score` is not known yet here: it is computed by the scorecard and grade",
        ]
    );
}

#[test]
fn a_document_that_is_not_json_or_has_a_typo_is_refused() {
    let e = Document::parse("x.json", "{\"kind\": \"ruleset\",").unwrap_err();
    assert!(messages(e)[0].starts_with("x.json: : not valid JSON"));
    let e = policy_with("province-red-lines.json", |v| {
        v["rules"][0]["expresion"] = v["rules"][0]["expression"].take();
        v["rules"][0].as_object_mut().unwrap().remove("expression");
    })
    .unwrap_err();
    let m = messages(e);
    assert!(m[0].contains("unknown field `expresion`"), "{m:?}");
}

#[test]
fn a_number_a_decimal_cannot_hold_exactly_is_refused_not_rounded() {
    // 29 significant digits: a decimal holds 28, so this would round.
    for (value, shown) in [
        (
            json!("0.12345678901234567890123456789"),
            "\"0.12345678901234567890123456789\"",
        ),
        (
            serde_json::from_str::<Value>("0.12345678901234567890123456789").unwrap(),
            "0.12345678901234567890123456789",
        ),
        (
            json!("1.2345678901234567890123456789e-1"),
            "\"1.2345678901234567890123456789e-1\"",
        ),
    ] {
        let errors = errors_for(with_features(json!({
            "repay_has_history": true, "repay_on_time_ratio": value
        })));
        let digits = errors
            .iter()
            .find(|e| e.field == "features.repay_on_time_ratio")
            .unwrap_or_else(|| panic!("no error for repay_on_time_ratio: {errors:?}"));
        assert_eq!(
            digits.message,
            format!(
                "expected a decimal number or decimal string between 0 and 1, found {shown}: 29 significant digits; an exact decimal holds at most 28"
            )
        );
    }
    // 28 digits are held exactly and accepted.
    let policies = PolicySet::shipped().unwrap();
    let mut request = with_features(json!({"repay_has_history": true}));
    request["features"]["repay_on_time_ratio"] = json!("0.1234567890123456789012345678");
    let request: Request = serde_json::from_value(request).unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    // (Other repayment features may be asked for; this one is accepted.)
    if let Err(EvaluateError::Input(e)) = evaluate(policy, &request, Options::default()) {
        assert!(
            !e.errors
                .iter()
                .any(|e| e.field == "features.repay_on_time_ratio"),
            "{e:?}"
        );
    }
}

/// A table cell is bound straight into the slots, not through a JSON
/// request: the same values decide the same, and the same bad values are
/// refused with the same messages as in a JSON request.
#[test]
fn a_table_cell_binds_and_is_refused_as_the_json_request_is() {
    use decision_core::validate::{Binder, Input, bind, feature_from_cell};
    use decision_core::{Keys, evaluate_bound};
    let policies = PolicySet::shipped().unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    // Each case: the cells as a table holds them, and the JSON request
    // that carries the same values.
    let cases: [(&[(&str, &str)], Value); 3] = [
        (
            &[
                ("age", "40"),
                ("annual_net_income", "50000"),
                ("bureau_has_record", "true"),
                ("labor_count", "2.0"),
                ("main_crop", "rice"),
            ],
            json!({"age": 40, "annual_net_income": "50000", "bureau_has_record": true,
                   "labor_count": 2, "main_crop": "rice"}),
        ),
        (
            &[
                ("age", "forty"),
                ("annual_net_income", "12.345"),
                ("bureau_has_record", "true"),
                ("review_rating", "E"),
            ],
            json!({"age": "forty", "annual_net_income": "12.345", "bureau_has_record": true,
                   "review_rating": "E"}),
        ),
        (
            &[
                ("age", "40"),
                ("annual_net_income", "123456789012345678901234567890"),
                ("bureau_has_record", "false"),
                ("bureau_max_dpd_24m", "30"),
            ],
            json!({"age": 40, "annual_net_income": "123456789012345678901234567890",
                   "bureau_has_record": false, "bureau_max_dpd_24m": 30}),
        ),
    ];
    for (cells, features) in cases {
        let request: Request = serde_json::from_value(json!({
            "request_id": "T-1", "institution": "HB-JINGSHAN", "product": "FARMER_CREDIT",
            "features": features
        }))
        .unwrap();
        let mut binder = Binder::new(policy, "T-1", "HB-JINGSHAN", "FARMER_CREDIT");
        let mut cell_errors = Vec::new();
        for (name, cell) in cells {
            let index = policy.schema.by_name[*name];
            match feature_from_cell(&policy.schema.features[index], cell) {
                Ok(Some(value)) => binder.set_at(index, value),
                Ok(None) => {}
                Err(message) => cell_errors.push((name.to_string(), message)),
            }
        }
        match (binder.finish(), bind(policy, &request)) {
            (Ok(from_cells), Ok(from_json)) => {
                assert!(cell_errors.is_empty());
                let keys = Keys::of(&request);
                let options = Options { trace: true };
                assert_eq!(
                    evaluate_bound(policy, keys, from_cells, options).unwrap(),
                    evaluate_bound(policy, keys, from_json, options).unwrap()
                );
            }
            (Err(from_cells), Err(from_json)) => {
                // A cell that does not parse is reported by its parse error
                // (the same words); the rest by the binder, as for JSON.
                let mut cell_view: Vec<(String, String)> = cell_errors;
                for e in from_cells.errors {
                    let name = e.field.trim_start_matches("features.").to_string();
                    if !cell_view.iter().any(|(n, _)| *n == name) {
                        cell_view.push((name, e.message));
                    }
                }
                let json_view: Vec<(String, String)> = from_json
                    .errors
                    .into_iter()
                    .map(|e| {
                        (
                            e.field.trim_start_matches("features.").to_string(),
                            e.message,
                        )
                    })
                    .collect();
                assert_eq!(cell_view, json_view);
            }
            (cells, json) => panic!("the doors disagree: {cells:?} / {json:?}"),
        }
    }
    // A JSON value no feature takes is named by its kind.
    assert_eq!(Input::of_json(&json!([1])).short(), "an array");
}
