//! A scorecard's own derived values (PMML DerivedFields written natively):
//! computed before the bins, shown in the trace with their inputs,
//! rendered again from the record, and refused with their place when
//! wrong.

use decision_core::evaluate::{Options, evaluate_recorded, render};
use decision_core::policy_set::{PolicySet, SHIPPED};
use decision_core::request::Request;
use decision_core::{Document, PolicyError};
use serde_json::{Value, json};

fn shipped_card() -> Value {
    let (_, text) = SHIPPED
        .iter()
        .find(|(name, _)| name.contains("scorecard"))
        .unwrap();
    serde_json::from_str(text).unwrap()
}

/// The shipped card, but income read through a discretisation and the
/// review rating through a value map and a points expression: the same
/// points for every household.
fn card_with_derived() -> Value {
    let mut card = shipped_card();
    card["version"] = json!("2026.1-derived");
    card["derived"] = json!([
        {"name": "income_band", "type": "string",
         "discretize": {"field": "annual_net_income", "bins": [
             {"interval": "(-inf, 20000)", "value": "low"},
             {"interval": "[20000, 50000)", "value": "mid"},
             {"interval": "[50000, 100000)", "value": "upper"},
             {"interval": "[100000, inf)", "value": "high"}]}},
        {"name": "review_points", "type": "decimal",
         "map_values": {"fields": ["review_rating"], "rows": [
             {"keys": ["A"], "value": "40"}, {"keys": ["B"], "value": "20"},
             {"keys": ["C"], "value": "0"}, {"keys": ["D"], "value": "-30"}]},
         "map_missing_to": "0"}
    ]);
    let chars = card["characteristics"].as_array_mut().unwrap();
    let income = chars
        .iter_mut()
        .find(|c| c["feature"] == "annual_net_income")
        .unwrap();
    income["feature"] = json!("income_band");
    income["bins"] = json!([
        {"missing": true, "points": "0"},
        {"categories": ["low"], "points": "0"},
        {"categories": ["mid"], "points": "15"},
        {"categories": ["upper"], "points": "30"},
        {"categories": ["high"], "points": "40"},
        {"else": true, "points": "0"}
    ]);
    let review = chars
        .iter_mut()
        .find(|c| c["feature"] == "review_rating")
        .unwrap();
    review["feature"] = json!("review_points");
    review["bins"] = json!([
        {"predicate": "true", "points": "0", "points_expression": "review_points"}
    ]);
    card
}

fn set_with(card: &Value) -> Result<PolicySet, PolicyError> {
    let given = Document::parse("given-card", &card.to_string())?;
    let mut docs: Vec<Document> = SHIPPED
        .iter()
        .map(|(name, text)| Document::parse(name, text).unwrap())
        .filter(|d| d.version_ref().kind != "scorecard")
        .collect();
    docs.push(given);
    PolicySet::from_documents(docs)
}

#[test]
fn derived_values_score_like_the_features_they_stand_for_and_show_in_the_trace() {
    let shipped = PolicySet::shipped().unwrap();
    let derived = set_with(&card_with_derived()).unwrap();
    let mut traced = 0;
    for (file, request) in crate::record::requests() {
        let a = shipped
            .select(&request.institution, &request.product)
            .unwrap();
        let b = derived
            .select(&request.institution, &request.product)
            .unwrap();
        let (da, _) = evaluate_recorded(a, &request, Options { trace: true }).unwrap();
        let (db, record) = evaluate_recorded(b, &request, Options { trace: true }).unwrap();
        assert_eq!(
            (da.decision, da.score, &da.grade, da.limit, da.annual_rate),
            (db.decision, db.score, &db.grade, db.limit, db.annual_rate),
            "{file}"
        );
        let codes = |d: &decision_core::Decision| {
            d.reasons.iter().map(|r| r.code.clone()).collect::<Vec<_>>()
        };
        assert_eq!(codes(&da), codes(&db), "{file}");
        // Rendered again from the record, byte for byte.
        let again = render(b, &request, &record, Options { trace: true }).unwrap();
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&db).unwrap(),
            "{file}"
        );
        let Some(trace) = &db.trace else { continue };
        let sc = &trace.scorecard;
        assert_eq!(sc.derived.len(), 2, "{file}");
        assert!(da.trace.as_ref().unwrap().scorecard.derived.is_empty());
        if file.starts_with("01-") {
            let band = &sc.derived[0];
            assert_eq!(&*band.name, "income_band");
            assert_eq!(band.value.to_string(), "upper");
            assert_eq!(
                &*band.expression,
                "discretize(annual_net_income: (-inf, 20000) -> \"low\", [20000, 50000) -> \"mid\", [50000, 100000) -> \"upper\", [100000, inf) -> \"high\")"
            );
            assert_eq!(
                band.inputs.get("annual_net_income").unwrap().to_string(),
                "68000"
            );
            assert_eq!(sc.derived[1].value.to_string(), "40");
            let c = sc
                .characteristics
                .iter()
                .find(|c| &*c.feature == "income_band")
                .unwrap();
            assert_eq!((c.value.to_string(), &*c.bin), ("upper".into(), "upper"));
            let text = decision_core::explain::explain(&db, decision_core::explain::Lang::En);
            assert!(
                text.contains("income_band = `discretize(annual_net_income"),
                "{text}"
            );
            traced += 1;
        }
    }
    // No review rating: the map's missing value, with a note.
    let mut first: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../examples/requests/01-clean-approve.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    first["features"]
        .as_object_mut()
        .unwrap()
        .remove("review_rating");
    let request = Request::from_json(&first.to_string()).unwrap();
    let policy = derived
        .select(&request.institution, &request.product)
        .unwrap();
    let (d, _) = evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
    let review = &d.trace.unwrap().scorecard.derived[1];
    assert_eq!(review.value.to_string(), "0");
    assert_eq!(
        review.note.as_deref(),
        Some("an input is absent: review_rating")
    );
    traced += 1;
    assert_eq!(traced, 2);
}

fn problems(card: &Value) -> Vec<String> {
    set_with(card)
        .unwrap_err()
        .issues
        .iter()
        .map(|i| format!("{} | {}", i.place, i.message))
        .collect()
}

#[test]
fn a_wrong_derived_value_is_refused_with_its_place() {
    let mut card = card_with_derived();
    card["derived"] = json!([
        {"name": "a", "type": "decimal", "discretize": {"field": "nope", "bins": []}},
        {"name": "b", "type": "decimal", "expression": "age", "map_values": {"fields": [], "rows": []}},
        {"name": "c", "type": "integer", "norm_continuous": {"field": "age", "points": [{"orig": 1, "norm": 0}]}},
        {"name": "d", "type": "string", "discretize": {"field": "main_crop", "bins": [{"interval": "[0, 1", "value": "x"}]}},
        {"name": "e", "type": "decimal", "map_values": {"fields": ["review_rating"], "rows": [{"keys": ["A", "B"], "value": "x"}]}},
        {"name": "age", "type": "decimal", "expression": "age + 1"},
        {"name": "f", "type": "decimal", "expression": "age + unknown_thing"}
    ]);
    assert_eq!(
        problems(&card),
        [
            "derived[0] a | discretize reads unknown field `nope`: expected an input or an earlier derived value",
            "derived[0] a | discretize needs at least one bin",
            "derived[1] b | a derived value needs exactly one of `expression`, `discretize`, `map_values` or `norm_continuous`",
            "derived[2] c | norm_continuous gives a decimal, but the type is integer",
            "derived[2] c | norm_continuous needs at least two points",
            "derived[3] d | discretize reads `main_crop`, a string: expected a number",
            "derived[3] d | discretize.bins[0].interval: expected an interval such as `[18, 25)` or `(-inf, 0]`, found `[0, 1`",
            "derived[4] e | map_values.rows[0]: 2 key(s) for 1 field(s)",
            "derived[5] age | name `age` is already declared as a feature",
            "derived[6] f | expression: unknown identifier `unknown_thing` in `age + unknown_thing`: expected a feature of the schema, a derived feature, a parameter or a computed value",
            "characteristics[1] annual_net_income.feature | unknown feature `income_band`: expected a feature of the schema or a derived feature",
            "characteristics[9] review_rating.feature | unknown feature `review_points`: expected a feature of the schema or a derived feature",
        ]
    );
    let mut card = card_with_derived();
    card["derived"][0]["discretize"]["bins"][1]["interval"] = json!("[10000, 50000)");
    card["derived"][1]["map_values"]["rows"][1]["keys"] = json!(["A"]);
    assert_eq!(
        problems(&card),
        [
            "derived[0] income_band | discretize: bins[0] (-inf, 20000) and bins[1] [10000, 50000) overlap",
            "derived[1] review_points | map_values.rows[1]: the same keys as map_values.rows[0] (PMML refuses a value that matches two rows)",
            "characteristics[1] annual_net_income.feature | unknown feature `income_band`: expected a feature of the schema or a derived feature",
            "characteristics[9] review_rating.feature | unknown feature `review_points`: expected a feature of the schema or a derived feature",
        ]
    );
    // A rule of the ruleset cannot read the card's derived values.
    let mut card = card_with_derived();
    card["derived"][0]["name"] = json!("debt_to_income");
    assert_eq!(
        problems(&card)[0],
        "derived[0] debt_to_income | name `debt_to_income` is already declared as a derived feature"
    );
}
