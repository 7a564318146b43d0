//! The shipped illustrative policy on a generated village: every household
//! is valid input, and the approval rate is the 60-80% the design asks the
//! illustrative numbers to give.

use std::collections::BTreeMap;

use decision_core::Outcome;
use decision_core::PolicySet;
use decision_core::Request;
use decision_core::validate::feature_from_cell;
use decision_core::{Options, evaluate};
use village_gen::{COLUMNS, Config, Village};

#[test]
fn the_default_policy_approves_60_to_80_percent_of_a_synthetic_village() {
    let policies = PolicySet::shipped().unwrap();
    let policy = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let schema = &policy.schema;
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let rows: Vec<_> = Village::new(Config {
        households: 5000,
        villages: 20,
        seed: 2026,
    })
    .collect();
    for row in &rows {
        let mut features = serde_json::Map::new();
        for (col, cell) in COLUMNS.iter().zip(row).skip(1) {
            let feature = &schema.features[schema.by_name[*col]];
            if let Some(v) =
                feature_from_cell(feature, cell).unwrap_or_else(|e| panic!("{col}: {e}"))
            {
                features.insert(col.to_string(), v);
            }
        }
        let request = Request {
            request_id: row[0].clone(),
            institution: "HB-JINGSHAN".into(),
            product: "FARMER_CREDIT".into(),
            features,
        };
        let d = evaluate(policy, &request, Options { trace: false })
            .unwrap_or_else(|e| panic!("household {} is valid input: {e}", row[0]));
        *outcomes.entry(d.decision.as_str()).or_default() += 1;
        if d.decision != Outcome::Approve {
            *reasons.entry(d.reasons[0].code.clone()).or_default() += 1;
        }
    }
    let share = |o: &str| *outcomes.get(o).unwrap_or(&0) as f64 / rows.len() as f64;
    println!("outcomes {outcomes:?}\nfirst reasons of refer/decline {reasons:?}");
    assert!(
        (0.60..=0.80).contains(&share("APPROVE")),
        "approve share {} ({outcomes:?})",
        share("APPROVE")
    );
    assert!(
        share("DECLINE") > 0.05 && share("REFER") > 0.05,
        "{outcomes:?}"
    );
}
