//! Properties of the shipped default policy over generated households.

use std::sync::OnceLock;

use decision_core::compile::Policy;
use decision_core::decision::{Decision, Outcome};
use decision_core::evaluate::{Options, evaluate};
use decision_core::model::ruleset::Stage;
use decision_core::policy_set::PolicySet;
use decision_core::request::Request;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| PolicySet::shipped().expect("shipped policy compiles"))
}

fn policy() -> &'static Policy {
    policies().select("ANY", "FARMER_CREDIT").unwrap()
}

fn money(yuan: u32, fen: u8) -> Value {
    json!(format!("{yuan}.{:02}", fen % 100))
}

/// A household within the schema's ranges; optional groups present or not.
fn household() -> impl Strategy<Value = Map<String, Value>> {
    let core = (
        16i64..=100,
        0u32..400_000,
        0u8..100,
        1i64..12,
        0i64..8,
        0u32..20_000,
        any::<bool>(),
    );
    let bureau = prop::option::of((
        0i64..3,
        0i64..200,
        prop::sample::select(vec![
            "normal",
            "special_mention",
            "substandard",
            "doubtful",
            "loss",
        ]),
        0i64..10,
        0i64..15,
        0u32..900_000,
        0i64..8,
        0u32..50_000,
    ));
    let subsidy = prop::option::of((0u32..12_000, 0i64..20, 0u32..60));
    let repay = prop::option::of((0i64..12, 0u32..=100, 0i64..120, any::<bool>(), 0i64..30));
    let review = prop::option::of((
        prop::sample::select(vec!["A", "B", "C", "D"]),
        any::<bool>(),
        prop::option::of(0u32..400_000),
    ));
    let flags = (
        prop::option::of(any::<bool>()),
        any::<bool>(),
        any::<bool>(),
    );
    (core, bureau, subsidy, repay, review, flags).prop_map(
        |(core, bureau, subsidy, repay, review, flags)| {
            let (age, income, fen, size, labor, land_tenths, has_bureau_flag) = core;
            let mut f = Map::new();
            f.insert("age".into(), json!(age));
            f.insert("annual_net_income".into(), money(income, fen));
            f.insert("household_size".into(), json!(size));
            f.insert("labor_count".into(), json!(labor.min(size)));
            f.insert(
                "land_area_mu".into(),
                json!(format!("{}.{}", land_tenths / 10, land_tenths % 10)),
            );
            match bureau {
                Some((overdue, dpd, class, inq3, inq6, debt, lenders, guarantee)) => {
                    f.insert("bureau_has_record".into(), json!(true));
                    f.insert("bureau_current_overdue_count".into(), json!(overdue));
                    f.insert("bureau_max_dpd_24m".into(), json!(dpd));
                    f.insert("bureau_worst_class".into(), json!(class));
                    f.insert("bureau_inquiries_3m".into(), json!(inq3));
                    f.insert("bureau_inquiries_6m".into(), json!(inq3 + inq6));
                    f.insert("bureau_total_debt".into(), money(debt, 0));
                    f.insert("bureau_lender_count".into(), json!(lenders));
                    f.insert("bureau_guarantee_debt".into(), money(guarantee, 0));
                }
                None => {
                    f.insert("bureau_has_record".into(), json!(false));
                }
            }
            if let Some((amount, years, area)) = subsidy {
                f.insert("subsidy_annual_amount".into(), money(amount, 0));
                f.insert("subsidy_years".into(), json!(years));
                f.insert("subsidy_land_area_mu".into(), json!(area));
            }
            if let Some((loans, pct, dpd, overdue, years)) = repay {
                f.insert("repay_loan_count".into(), json!(loans));
                f.insert(
                    "repay_on_time_ratio".into(),
                    json!(format!("{}", Decimal::new(pct as i64, 2))),
                );
                f.insert("repay_max_dpd".into(), json!(dpd));
                f.insert("repay_current_overdue".into(), json!(overdue));
                f.insert("repay_years_as_customer".into(), json!(years));
            }
            if let Some((rating, veto, limit)) = review {
                f.insert("review_rating".into(), json!(rating));
                f.insert("review_veto".into(), json!(veto));
                if let Some(l) = limit {
                    f.insert("review_indicative_limit".into(), money(l, 0));
                }
            }
            let (court, coop, livestock) = flags;
            if let Some(c) = court {
                f.insert("court_enforcement_flag".into(), json!(c));
            }
            f.insert("coop_member".into(), json!(coop));
            f.insert("has_livestock".into(), json!(livestock && has_bureau_flag));
            f
        },
    )
}

fn decide(features: &Map<String, Value>) -> Decision {
    let request = Request {
        request_id: "P-1".into(),
        institution: "HB-TEST".into(),
        product: "FARMER_CREDIT".into(),
        features: features.clone(),
    };
    evaluate(policy(), &request, Options { trace: true })
        .expect("a valid household always gets a decision")
}

/// A change to a household that makes exactly one red line hit, with its
/// reason code.
fn red_line() -> impl Strategy<Value = (&'static str, Map<String, Value>)> {
    prop_oneof![
        (prop_oneof![16i64..18, 66i64..=100])
            .prop_map(|age| ("R101", Map::from_iter([("age".to_string(), json!(age))]))),
        (1i64..5).prop_map(|n| (
            "R102",
            Map::from_iter([
                ("bureau_has_record".to_string(), json!(true)),
                ("bureau_current_overdue_count".to_string(), json!(n)),
            ])
        )),
        prop::sample::select(vec!["substandard", "doubtful", "loss"]).prop_map(|c| (
            "R103",
            Map::from_iter([
                ("bureau_has_record".to_string(), json!(true)),
                ("bureau_worst_class".to_string(), json!(c)),
            ])
        )),
        Just((
            "R104",
            Map::from_iter([("court_enforcement_flag".to_string(), json!(true))])
        )),
        Just((
            "R105",
            Map::from_iter([("review_veto".to_string(), json!(true))])
        )),
        (7i64..50).prop_map(|n| (
            "R106",
            Map::from_iter([
                ("bureau_has_record".to_string(), json!(true)),
                ("bureau_inquiries_3m".to_string(), json!(n)),
                ("bureau_inquiries_6m".to_string(), json!(n)),
            ])
        )),
        Just((
            "R107",
            Map::from_iter([("repay_current_overdue".to_string(), json!(true))])
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_red_line_hit_always_declines(mut f in household(), (code, change) in red_line()) {
        f.extend(change);
        let d = decide(&f);
        prop_assert_eq!(d.decision, Outcome::Decline);
        prop_assert!(d.reasons.iter().any(|r| r.code == code), "{} not in {:?}", code, d.reasons);
        prop_assert_eq!(d.limit, Decimal::ZERO);
        prop_assert_eq!(d.annual_rate, None);
    }

    #[test]
    fn more_income_never_lowers_the_limit(f in household(), extra in 1u32..300_000) {
        let lower = decide(&f);
        let mut richer = f.clone();
        let income: Decimal = richer["annual_net_income"].as_str().unwrap().parse().unwrap();
        richer.insert("annual_net_income".into(), json!((income + Decimal::from(extra)).to_string()));
        let higher = decide(&richer);
        prop_assert!(higher.limit >= lower.limit, "{} -> {}: {} -> {}", income, income + Decimal::from(extra), lower.limit, higher.limit);
    }

    #[test]
    fn limits_and_rates_stay_within_the_product(f in household()) {
        let d = decide(&f);
        prop_assert!(d.limit >= Decimal::ZERO && d.limit <= Decimal::from(300_000));
        prop_assert_eq!(d.limit % Decimal::from(1000), Decimal::ZERO);
        let lpr: Decimal = "0.0300".parse().unwrap();
        match d.decision {
            Outcome::Decline => prop_assert_eq!(d.annual_rate, None),
            _ => {
                let rate = d.annual_rate.unwrap();
                prop_assert!(rate >= lpr && rate <= lpr * Decimal::from(4), "rate {}", rate);
                prop_assert!(d.limit >= Decimal::from(5000));
            }
        }
    }

    #[test]
    fn every_rule_characteristic_and_step_appears_in_every_trace(f in household()) {
        let d = decide(&f);
        let t = d.trace.unwrap();
        let p = policy();
        let ids = |stage: Stage| p.rules.iter().filter(|r| r.stage == stage).map(|r| r.id.clone()).collect::<Vec<_>>();
        prop_assert_eq!(t.knockout.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids(Stage::Knockout));
        prop_assert_eq!(t.refer.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids(Stage::Refer));
        prop_assert_eq!(t.flags.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids(Stage::Flag));
        prop_assert_eq!(
            t.scorecard.characteristics.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            p.scorecard.characteristics.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
        );
        prop_assert_eq!(t.derived.len(), p.derived.len());
        prop_assert_eq!(t.limit.steps.len(), p.limit.steps.len());
        prop_assert_eq!(t.price.steps.len(), p.price.steps.len());
        prop_assert_eq!(t.features.len(), p.schema.features.len());
        // The score is the base plus the points shown.
        let points: Decimal = t.scorecard.characteristics.iter().map(|c| c.points).sum();
        prop_assert_eq!(t.scorecard.base_points + points, d.score);
    }

    #[test]
    fn the_trace_does_not_change_the_decision(f in household()) {
        let mut with = decide(&f);
        let request = Request { request_id: "P-1".into(), institution: "HB-TEST".into(), product: "FARMER_CREDIT".into(), features: f };
        let without = evaluate(policy(), &request, Options { trace: false }).unwrap();
        with.trace = None;
        prop_assert_eq!(with, without);
    }

    #[test]
    fn the_record_renders_the_decision_and_trace_byte_for_byte(f in household()) {
        let request = Request { request_id: "P-1".into(), institution: "HB-TEST".into(), product: "FARMER_CREDIT".into(), features: f };
        let (decision, record) =
            decision_core::evaluate_recorded(policy(), &request, Options { trace: true }).unwrap();
        let again = decision_core::render(policy(), &request, &record, Options { trace: true }).unwrap();
        prop_assert_eq!(serde_json::to_string(&again).unwrap(), serde_json::to_string(&decision).unwrap());
    }
}
