//! Application details (requested amount, term, purpose, guarantee type,
//! guarantors) and the authority matrix's routing, worked by hand from the
//! shipped documents (rulesets/farmer-credit-default.json 2026.4 and
//! rulesets/farmer-authority.json 2026.1) on example household 01.
//!
//! Household 01 alone (see examples.rs): APPROVE, score 690, AAA, limit
//! 150,000 (the village review's cap), rate 0.0340.

use decision_core::decision::{Decision, Outcome, Scalar};
use decision_core::evaluate::{Options, evaluate};
use decision_core::policy_set::PolicySet;
use decision_core::{Document, PolicyError};
use rust_decimal::Decimal;
use serde_json::json;

use super::examples::example;

fn household_01_with(application: serde_json::Value) -> Decision {
    let mut request = example("01-clean-approve.json");
    for (k, v) in application.as_object().unwrap() {
        request.features.insert(k.clone(), v.clone());
    }
    let policies = PolicySet::shipped().unwrap();
    let policy = policies
        .select(&request.institution, &request.product)
        .unwrap();
    evaluate(policy, &request, Options { trace: true }).unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn codes(d: &Decision) -> Vec<&str> {
    d.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn a_requested_amount_below_the_system_limit_caps_it_and_stays_within_auto_approval() {
    // 150,000 after the product cap; the requested-amount cap brings it to
    // 30,000 (already a multiple of 1,000). 30,000 <= 100,000, 12 <= 12
    // months, credit: within the auto-approval bounds, nobody reviews it.
    let d = household_01_with(json!({
        "requested_amount": "30000",
        "requested_term_months": 12,
        "loan_purpose": "planting",
        "guarantee_type": "credit"
    }));
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.limit, dec("30000"));
    assert_eq!(d.annual_rate, Some(dec("0.0340")));
    let trace = d.trace.as_ref().unwrap();
    let step = trace
        .limit
        .steps
        .iter()
        .find(|s| &*s.id == "requested_amount_cap")
        .unwrap();
    assert!(step.applied);
    assert_eq!((step.before, step.after), (dec("150000"), dec("30000")));
    let routing = d.routing.as_ref().unwrap();
    assert_eq!(routing.level, None);
    assert_eq!(routing.because, ["within the auto-approval bounds"]);
    assert_eq!(routing.matrix, "farmer-authority@2026.1");
    assert_eq!(trace.routing.as_ref(), Some(routing));
}

#[test]
fn a_requested_amount_above_the_system_limit_changes_nothing() {
    let d = household_01_with(json!({"requested_amount": "250000"}));
    assert_eq!(d.limit, dec("150000"));
    let step = d
        .trace
        .as_ref()
        .unwrap()
        .limit
        .steps
        .iter()
        .find(|s| &*s.id == "requested_amount_cap")
        .cloned()
        .unwrap();
    assert_eq!((step.before, step.after), (dec("150000"), dec("150000")));
}

#[test]
fn without_application_details_the_decision_is_as_before_and_absent_stays_absent() {
    let d = household_01_with(json!({}));
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.limit, dec("150000"));
    assert_eq!(d.annual_rate, Some(dec("0.0340")));
    let trace = d.trace.as_ref().unwrap();
    for name in [
        "requested_amount",
        "requested_term_months",
        "loan_purpose",
        "guarantee_type",
        "guarantor1_bureau_has_record",
    ] {
        assert_eq!(trace.features.get(name), Some(&Scalar::Null), "{name}");
    }
    let step = trace
        .limit
        .steps
        .iter()
        .find(|s| &*s.id == "requested_amount_cap")
        .unwrap();
    assert!(!step.applied);
    // 150,000 > the 100,000 auto-approval ceiling; the branch officer may
    // approve 50,000, the county approver 200,000.
    let routing = d.routing.unwrap();
    assert_eq!(routing.level.as_deref(), Some("county_approver"));
    assert_eq!(
        routing.because,
        [
            "approval beyond the auto-approval bounds: amount 150000 above 100000",
            "county approver is the lowest level that may approve 150000 yuan"
        ]
    );
}

#[test]
fn a_joint_liability_group_loan_goes_to_the_county_approver() {
    // Limit 80,000 (requested). Rate 0.0340 - 0.0010 (联保) = 0.0330.
    // Auto-approval: 80,000 <= 100,000 but 24 months > 12. Branch officer:
    // 80,000 > 50,000. County approver: 80,000 <= 200,000, 24 <= 36,
    // joint_liability_group listed.
    let d = household_01_with(json!({
        "requested_amount": "80000",
        "requested_term_months": 24,
        "guarantee_type": "joint_liability_group"
    }));
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.limit, dec("80000"));
    assert_eq!(d.annual_rate, Some(dec("0.0330")));
    let routing = d.routing.clone().unwrap();
    assert_eq!(routing.level.as_deref(), Some("county_approver"));
    assert_eq!(routing.level_name_zh.as_deref(), Some("县行联社审批人"));
    let en = decision_core::explain(&d, decision_core::Lang::En);
    assert!(
        en.contains("Routed to county approver (farmer-authority@2026.1): approval beyond the auto-approval bounds: term of 24 months above 12; county approver is the lowest level"),
        "{en}"
    );
    let zh = decision_core::explain(&d, decision_core::Lang::Zh);
    assert!(
        zh.contains("审批路由：交 县行联社审批人 (farmer-authority@2026.1): 超出自动审批权限：期限24个月超过12个月；县行联社审批人是可审批80000元、期限24个月、担保方式joint_liability_group的最低层级"),
        "{zh}"
    );
    assert_eq!(
        routing.because,
        [
            "approval beyond the auto-approval bounds: term of 24 months above 12",
            "county approver is the lowest level that may approve 80000 yuan over 24 months with guarantee type joint_liability_group"
        ]
    );
}

#[test]
fn a_guarantee_company_loan_goes_to_the_province() {
    // Limit 120,000; rate 0.0340 - 0.0030 = 0.0310. Neither the branch
    // officer nor the county approver lists guarantee_company: the province
    // credit committee (no bounds) decides.
    let d = household_01_with(json!({
        "requested_amount": "120000",
        "requested_term_months": 12,
        "guarantee_type": "guarantee_company"
    }));
    assert_eq!(d.decision, Outcome::Approve);
    assert_eq!(d.limit, dec("120000"));
    assert_eq!(d.annual_rate, Some(dec("0.0310")));
    let routing = d.routing.unwrap();
    assert_eq!(routing.level.as_deref(), Some("province"));
    assert_eq!(
        routing.because[0],
        "approval beyond the auto-approval bounds: amount 120000 above 100000"
    );
}

#[test]
fn an_adverse_guarantor_refers_to_at_least_the_county_approver() {
    // F305 hits (guarantor 1 has an account overdue now); the matrix sends
    // F305 to the county approver at least, who may approve 40,000.
    let d = household_01_with(json!({
        "requested_amount": "40000",
        "requested_term_months": 12,
        "guarantee_type": "natural_person",
        "guarantor1_bureau_has_record": true,
        "guarantor1_current_overdue_count": 1,
        "guarantor1_max_dpd_24m": 30,
        "guarantor1_court_enforcement_flag": false
    }));
    assert_eq!(d.decision, Outcome::Refer);
    assert_eq!(d.limit, dec("40000"));
    assert_eq!(codes(&d)[0], "F305");
    let routing = d.routing.unwrap();
    assert_eq!(routing.level.as_deref(), Some("county_approver"));
    assert_eq!(
        routing.because,
        [
            "the system referred (F305)",
            "reason F305 goes at least to county approver",
            "county approver is the lowest level that may approve 40000 yuan over 12 months with guarantee type natural_person"
        ]
    );
}

#[test]
fn a_guarantee_without_a_guarantor_refers_to_the_branch_officer() {
    // F306; 40,000 over 12 months with a natural-person guarantee is within
    // the branch officer's authority.
    let d = household_01_with(json!({
        "requested_amount": "40000",
        "requested_term_months": 12,
        "guarantee_type": "natural_person"
    }));
    assert_eq!(d.decision, Outcome::Refer);
    assert_eq!(codes(&d)[0], "F306");
    assert_eq!(d.routing.unwrap().level.as_deref(), Some("branch_officer"));
}

#[test]
fn a_term_beyond_the_product_refers_to_the_province() {
    // F307 (48 > 36 months); no level below the province approves 48 months.
    let d = household_01_with(json!({
        "requested_amount": "40000",
        "requested_term_months": 48,
        "guarantee_type": "credit"
    }));
    assert_eq!(d.decision, Outcome::Refer);
    assert_eq!(codes(&d)[0], "F307");
    assert_eq!(d.routing.unwrap().level.as_deref(), Some("province"));
}

#[test]
fn a_second_guarantors_court_listing_refers() {
    let d = household_01_with(json!({
        "requested_amount": "40000",
        "guarantee_type": "natural_person",
        "guarantor1_bureau_has_record": false,
        "guarantor2_bureau_has_record": false,
        "guarantor2_court_enforcement_flag": true
    }));
    assert_eq!(d.decision, Outcome::Refer);
    assert_eq!(codes(&d)[0], "F305");
}

#[test]
fn bad_application_values_are_named() {
    let mut request = example("01-clean-approve.json");
    request
        .features
        .insert("guarantee_type".into(), json!("family_pledge"));
    request
        .features
        .insert("guarantor1_current_overdue_count".into(), json!(1));
    let policies = PolicySet::shipped().unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let err = evaluate(policy, &request, Options { trace: false }).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("features.guarantee_type")
            && text.contains(
                "one of credit, natural_person, joint_liability_group, guarantee_company"
            ),
        "{text}"
    );
    assert!(
        text.contains("features.guarantor1_current_overdue_count")
            && text.contains("`guarantor1_bureau_has_record` is not true"),
        "{text}"
    );
}

fn matrix_error(edit: impl FnOnce(&mut serde_json::Value)) -> PolicyError {
    let mut docs: Vec<Document> = decision_core::SHIPPED
        .iter()
        .map(|(n, t)| Document::parse(n, t).unwrap())
        .collect();
    let text = decision_core::SHIPPED
        .iter()
        .find(|(n, _)| n.ends_with("farmer-authority.json"))
        .unwrap()
        .1;
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    edit(&mut v);
    docs.retain(|d| !matches!(d, Document::Authority(_)));
    docs.push(Document::parse("bad-authority.json", &v.to_string()).unwrap());
    PolicySet::from_documents(docs).unwrap_err()
}

#[test]
fn a_bad_authority_matrix_is_refused_naming_each_place() {
    let err = matrix_error(|v| {
        v["override_confirmation"] = json!("regional_manager");
        v["levels"][0]["approve"]["guarantee_types"] = json!(["credit", "pledge"]);
        v["refer_routes"][0]["level"] = json!("county");
    });
    let lines: Vec<String> = err
        .issues
        .iter()
        .map(|i| format!("{}: {}: {}", i.document, i.place, i.message))
        .collect();
    assert_eq!(
        lines,
        [
            "bad-authority.json: levels[0].approve.guarantee_types[1]: unknown guarantee type `pledge`; the feature schema's guarantee_type allows credit, natural_person, joint_liability_group, guarantee_company",
            "bad-authority.json: refer_routes[0].level: unknown level `county`; expected one of branch_officer, county_approver, province",
            "bad-authority.json: override_confirmation: unknown level `regional_manager`; expected one of branch_officer, county_approver, province",
        ]
    );
}
