//! The product catalogue and the second shipped product, 农户保证贷款
//! (GUARANTEED_FARMER_CREDIT): five households worked out by hand from
//! `rulesets/guaranteed-farmer-default.json`, the product's attributes in
//! `rulesets/product-guaranteed-farmer-credit.json` (500,000 yuan, 60
//! months) and the market's one-year LPR (3.00%). The scorecard is
//! FARMER_CREDIT's, so each household's score and scorecard reasons are
//! those of the example it is taken from (see `examples.rs`).

use decision_core::decision::Outcome;
use decision_core::evaluate::{Options, evaluate};
use decision_core::policy_set::PolicySet;
use decision_core::request::Request;

use crate::examples::{Expected, assert_decides};

const EXPECTED: &[Expected] = &[
    // 01's household (690 AAA) with a natural-person guarantor and the
    // review's indicative limit raised to 300000.
    // Limit: 68000 x 4.0 = 272000; grade cap 500000; review cap 300000;
    // 5 x 68000 - 20000 = 320000; product cap 500000 -> 272000.
    // Rate: 0.0300 + 0.0040 (AAA) - 0.0020 (clean history) = 0.0320.
    Expected {
        file: "g1-natural-person-approve.json",
        decision: Outcome::Approve,
        score: "690",
        grade: "AAA",
        limit: "272000",
        rate: Some("0.0320"),
        reasons: &["SC03", "SC02", "SC04", "SC09"],
    },
    // 16's household (700 AAA) guaranteed by a guarantee company, asking
    // 450000 over 60 months. Limit: 120000 x 4.0 = 480000; grade cap
    // 500000; no review limit; 5 x 120000 - 20000 = 580000; product cap
    // 500000; requested 450000 -> 450000 > 300000: refer F311.
    // Rate: 0.0300 + 0.0040 - 0.0020 - 0.0030 = 0.0290, floored at the LPR:
    // 0.0300.
    Expected {
        file: "g2-guarantee-company-large-refer.json",
        decision: Outcome::Refer,
        score: "700",
        grade: "AAA",
        limit: "450000",
        rate: Some("0.0300"),
        reasons: &["F311", "SC03", "SC04", "SC09", "SC12"],
    },
    // 06's thin file (605 A, review A) with a natural-person guarantor.
    // Limit: 40000 x 3.0 = 120000; grade cap 200000; review cap 60000; no
    // bureau debt: indebtedness cap skipped; thin-file cap 100000 -> 60000.
    // Rate: 0.0300 + 0.0130 (A) + 0.0050 (thin file) = 0.0480 (no
    // repayment history: no discount).
    Expected {
        file: "g3-thin-file-natural-person.json",
        decision: Outcome::Approve,
        score: "605",
        grade: "A",
        limit: "60000",
        rate: Some("0.0480"),
        reasons: &["SC05", "SC02", "SC07", "SC08"],
    },
    // 01's household applying without a guarantee (credit): knocked out by
    // K301 before anything else; still scored 690 AAA.
    Expected {
        file: "g4-no-guarantee-decline.json",
        decision: Outcome::Decline,
        score: "690",
        grade: "AAA",
        limit: "0",
        rate: None,
        reasons: &["K301", "SC03", "SC02", "SC04", "SC09"],
    },
    // g1 asking for 72 months, longer than the product's 60: refer F312.
    Expected {
        file: "g5-term-too-long-refer.json",
        decision: Outcome::Refer,
        score: "690",
        grade: "AAA",
        limit: "272000",
        rate: Some("0.0320"),
        reasons: &["F312", "SC03", "SC02", "SC04", "SC09"],
    },
];

fn household(file: &str) -> Request {
    let path = format!(
        "{}/../../examples/guaranteed/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    Request::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_guaranteed_farmer_loan_decides_its_hand_worked_households_exactly() {
    let dir = format!("{}/../../examples/guaranteed", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        EXPECTED.len(),
        "every household has its expected outcome"
    );
    let set = PolicySet::shipped().unwrap();
    for e in EXPECTED {
        let request = household(e.file);
        assert_eq!(request.product, "GUARANTEED_FARMER_CREDIT");
        let policy = set.select(&request.institution, &request.product).unwrap();
        let d = evaluate(policy, &request, Options { trace: true }).unwrap();
        assert_decides(&d, e);
    }
}

#[test]
fn limit_and_price_read_the_product_catalogue_and_decisions_record_it() {
    let set = PolicySet::shipped().unwrap();
    let request = household("g2-guarantee-company-large-refer.json");
    let policy = set
        .select("HB-JINGSHAN", "GUARANTEED_FARMER_CREDIT")
        .unwrap();
    let d = evaluate(policy, &request, Options { trace: true }).unwrap();
    let product = d.versions.iter().find(|v| v.kind == "product").unwrap();
    assert_eq!(
        (product.id.as_str(), product.version.as_str()),
        ("GUARANTEED_FARMER_CREDIT", "2026.1")
    );
    let trace = d.trace.unwrap();
    let cap = trace
        .limit
        .steps
        .iter()
        .find(|s| &*s.id == "product_cap")
        .unwrap();
    assert_eq!(
        serde_json::to_value(cap.inputs.get("product_max_amount").unwrap()).unwrap(),
        "500000"
    );
    assert_eq!(cap.after, "480000".parse().unwrap());
    // FARMER_CREDIT records its own catalogue entry.
    let farmer = set.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let v = farmer.product_version().unwrap();
    assert_eq!(
        (v.id.as_str(), v.version.as_str()),
        ("FARMER_CREDIT", "2026.1")
    );
    // A product the catalogue does not hold is refused naming the field and
    // the products there are.
    let mut other = household("g1-natural-person-approve.json");
    other.product = "CAR_LOAN".into();
    let e = set.select(&other.institution, &other.product).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid request (1 problem):\n  product: no policy for product `CAR_LOAN`; expected one of FARMER_CREDIT, GUARANTEED_FARMER_CREDIT"
    );
}

#[test]
fn a_product_entry_of_another_product_or_with_no_amount_is_refused() {
    let mut docs = Vec::new();
    for (name, text) in decision_core::policy_set::SHIPPED {
        if name.ends_with("product-guaranteed-farmer-credit.json") {
            let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
            v["max_amount"] = "0".into();
            v["max_term_months"] = 0.into();
            docs.push(decision_core::compile::Document::parse(name, &v.to_string()).unwrap());
        } else {
            docs.push(decision_core::compile::Document::parse(name, text).unwrap());
        }
    }
    let e = PolicySet::from_documents(docs).unwrap_err();
    let got: Vec<String> = e
        .issues
        .iter()
        .map(|i| format!("{}: {}", i.place, i.message))
        .collect();
    assert_eq!(
        got,
        [
            "max_amount: must be more than 0 yuan",
            "max_term_months: must be at least 1 month"
        ]
    );
}
