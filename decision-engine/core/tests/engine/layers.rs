//! Province red lines bind every institution: an institution's own ruleset
//! may add rules and tighten red-line parameters, never loosen or redefine
//! them, and each institution gets its own ruleset or the province default.

use decision_core::compile::Document;
use decision_core::decision::Outcome;
use decision_core::error::PolicyError;
use decision_core::evaluate::{Options, evaluate};
use decision_core::policy_set::{PolicySet, SHIPPED};
use decision_core::request::Request;
use serde_json::{Value, json};

/// The shipped documents plus a copy of the default product ruleset for
/// institution `HB-TIGHT`, changed by `edit`.
fn with_institution_ruleset(edit: impl FnOnce(&mut Value)) -> Result<PolicySet, PolicyError> {
    let mut docs = Vec::new();
    let mut edit = Some(edit);
    for (name, text) in SHIPPED {
        docs.push(Document::parse(name, text)?);
        if name.ends_with("farmer-credit-default.json")
            && let Some(edit) = edit.take()
        {
            let mut v: Value = serde_json::from_str(text).unwrap();
            v["id"] = json!("hb-tight-farmer-credit");
            v["institution"] = json!("HB-TIGHT");
            edit(&mut v);
            docs.push(Document::parse("hb-tight.json", &v.to_string())?);
        }
    }
    PolicySet::from_documents(docs)
}

fn aged(age: i64) -> Request {
    let path = format!(
        "{}/../../examples/requests/01-clean-approve.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut r = Request::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    r.features.insert("age".into(), json!(age));
    r
}

#[test]
fn an_institution_may_tighten_a_red_line_for_itself_only() {
    let set = with_institution_ruleset(|v| {
        v["parameters"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "max_age", "type": "integer", "value": 60, "tighten": "lower"}));
    })
    .unwrap();
    let tight = set.select("HB-TIGHT", "FARMER_CREDIT").unwrap();
    let default = set.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let d = evaluate(tight, &aged(62), Options::default()).unwrap();
    assert_eq!(d.decision, Outcome::Decline);
    assert_eq!(d.reasons[0].code, "R101");
    let rule = &d.trace.as_ref().unwrap().knockout[0];
    assert_eq!(rule.inputs.get("max_age").unwrap().to_string(), "60");
    assert_eq!(d.versions[2].id, "hb-tight-farmer-credit");
    // Elsewhere the province value, 65, still applies.
    let d = evaluate(default, &aged(62), Options::default()).unwrap();
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.versions[2].id, "farmer-credit-default");
}

fn refusal(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    with_institution_ruleset(edit)
        .unwrap_err()
        .issues
        .into_iter()
        .map(|i| format!("{}: {}: {}", i.document, i.place, i.message))
        .collect()
}

#[test]
fn loosening_or_redefining_a_red_line_is_refused() {
    assert_eq!(
        refusal(|v| {
            v["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "max_age", "type": "integer", "value": 70}));
        }),
        vec![
            "hb-tight.json: parameters[17] max_age: 70 would loosen the province red line `max_age` = 65 (a lower value is stricter); an institution may only tighten it"
        ]
    );
    assert_eq!(
        refusal(|v| {
            v["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "min_age", "type": "integer", "value": 16}));
        }),
        vec![
            "hb-tight.json: parameters[17] min_age: 16 would loosen the province red line `min_age` = 18 (a higher value is stricter); an institution may only tighten it"
        ]
    );
    assert_eq!(
        refusal(|v| {
            v["rules"].as_array_mut().unwrap().push(json!({
                "id": "RL_AGE", "stage": "knockout", "expression": "age > 90",
                "reason_code": "R101", "message_zh": "年龄", "message_en": "Age"
            }));
        }),
        vec![
            "hb-tight.json: rules[9] RL_AGE: a province red line of this id already runs first for every institution; it cannot be redefined, only added to"
        ]
    );
}

#[test]
fn a_tightened_parameter_keeps_the_province_type() {
    assert_eq!(
        refusal(|v| {
            v["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "max_age", "type": "decimal", "value": "60"}));
        }),
        vec![
            "hb-tight.json: parameters[17] max_age: the province declares `max_age` as integer; a tightened value must keep that type"
        ]
    );
}

#[test]
fn a_zero_income_is_a_very_high_debt_ratio_and_an_unguarded_division_is_a_policy_error() {
    let set = PolicySet::shipped().unwrap();
    let policy = set.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let mut r = aged(40);
    r.features.insert("annual_net_income".into(), json!("0"));
    let d = evaluate(policy, &r, Options::default()).unwrap();
    assert_eq!(d.decision, Outcome::Decline);
    assert_eq!(
        d.reasons[0].code, "K201",
        "debt 20000 over an income floored at 1"
    );

    let unguarded = with_institution_ruleset(|v| {
        v["derived"][0]["expression"] = json!("bureau_total_debt / annual_net_income");
    })
    .unwrap();
    let e = evaluate(
        unguarded.select("HB-TIGHT", "FARMER_CREDIT").unwrap(),
        &r,
        Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "derived feature debt_to_income: division by zero in `bureau_total_debt / annual_net_income`"
    );
}

#[test]
fn predicate_bins_on_a_bool_feature_compare_booleans() {
    let mut docs = Vec::new();
    for (name, text) in SHIPPED {
        let mut text = text.to_string();
        if name.ends_with("farmer-scorecard.json") {
            let mut v: Value = serde_json::from_str(&text).unwrap();
            v["characteristics"][11]["bins"] = json!([
                {"predicate": {"compare": {"field": "coop_member", "op": "equal", "value": "true"}}, "points": 10},
                {"predicate": {"is_not_in": {"field": "coop_member", "values": ["true"]}}, "points": 0}
            ]);
            text = v.to_string();
        }
        docs.push(Document::parse(name, &text).unwrap());
    }
    let set = PolicySet::from_documents(docs).unwrap();
    let policy = set.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let mut member = aged(42);
    member.features.insert("coop_member".into(), json!(true));
    assert_eq!(
        evaluate(policy, &member, Options::default())
            .unwrap()
            .score
            .to_string(),
        "700"
    );
    assert_eq!(
        evaluate(policy, &aged(42), Options::default())
            .unwrap()
            .score
            .to_string(),
        "690"
    );
}

/// The shipped documents plus `extra` documents.
fn shipped_with(extra: &[Value]) -> Result<PolicySet, PolicyError> {
    let mut docs = Vec::new();
    for (name, text) in SHIPPED {
        docs.push(Document::parse(name, text)?);
    }
    for (n, v) in extra.iter().enumerate() {
        docs.push(Document::parse(&format!("extra-{n}.json"), &v.to_string())?);
    }
    PolicySet::from_documents(docs)
}

#[test]
fn an_overlay_in_a_policy_directory_runs_as_its_effective_ruleset() {
    let overlay = json!({
        "kind": "ruleset_overlay", "id": "hb-o-credit", "version": "2026.1",
        "institution": "HB-O", "product": "FARMER_CREDIT",
        "base": {"id": "farmer-credit-default", "follow": "active"},
        "parameters": [{"name": "thin_file_cap", "value": "40000"}],
        "disabled_rules": ["RF_THIN_FILE_WEAK_REVIEW"]
    });
    let set = shipped_with(std::slice::from_ref(&overlay)).unwrap();
    let policy = set.select("HB-O", "FARMER_CREDIT").unwrap();
    let v = &policy.versions[2];
    assert_eq!(
        (v.id.as_str(), v.version.as_str()),
        ("hb-o-credit", "2026.1+farmer-credit-default@2026.4")
    );
    assert_eq!(set.merged_documents().len(), 1);
    let path = format!(
        "{}/../../examples/requests/07-thin-file-weak-review.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let thin = Request::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The default refers a thin file with a weak review and caps it at
    // 50,000; the overlay switches that refer off and caps at 40,000.
    let default = evaluate(
        set.select("HB-X", "FARMER_CREDIT").unwrap(),
        &thin,
        Options::default(),
    )
    .unwrap();
    assert_eq!(default.decision, Outcome::Refer);
    let d = evaluate(policy, &thin, Options::default()).unwrap();
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.limit, rust_decimal::Decimal::from(40_000));
    assert!(d.limit < default.limit);
    let layers = d.layers.as_ref().unwrap();
    assert_eq!(layers.disabled_rules, ["RF_THIN_FILE_WEAK_REVIEW"]);

    // Pinned to a version the set does not hold: refused, naming it.
    let mut pinned = overlay.clone();
    pinned["base"] = json!({"id": "farmer-credit-default", "version": "2026.1"});
    let e = shipped_with(&[pinned]).unwrap_err();
    assert_eq!(
        e.issues
            .iter()
            .map(|i| format!("{}: {}: {}", i.document, i.place, i.message))
            .collect::<Vec<_>>(),
        [
            "extra-0.json: base.version: pins farmer-credit-default@2026.1, but farmer-credit-default@2026.4 was given"
        ]
    );
}
