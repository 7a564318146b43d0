//! Counterfactuals on the example households: every suggestion, applied
//! and decided again, approves at the limit and rate it states; one unit
//! less does not (it is the smallest); no suggestion touches a feature the
//! household cannot act on.

use decision_core::counterfactual::{Counterfactual, Direction, LEVERS, counterfactuals};
use decision_core::{Lang, Options, Outcome, PolicySet, Request, evaluate};
use rust_decimal::Decimal;

fn request(file: &str) -> Request {
    Request::from_json(
        &std::fs::read_to_string(format!(
            "{}/../../examples/requests/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap()
}

fn with(r: &Request, feature: &str, value: serde_json::Value) -> Request {
    let mut r = r.clone();
    r.features.insert(feature.to_string(), value);
    r
}

/// One unit less favourable than the suggestion.
fn one_unit_short(c: &Counterfactual) -> Option<serde_json::Value> {
    match (&c.to, c.direction) {
        (serde_json::Value::Number(n), Direction::Increase) => Some((n.as_i64()? - 1).into()),
        (serde_json::Value::Number(n), Direction::Decrease) => Some((n.as_i64()? + 1).into()),
        (serde_json::Value::String(s), d) => {
            let v: Decimal = s.parse().ok()?;
            let unit = if s.contains('.') {
                Decimal::new(1, 2)
            } else {
                Decimal::ONE
            };
            Some(
                match d {
                    Direction::Increase => v - unit,
                    Direction::Decrease => v + unit,
                    Direction::Better => return None,
                }
                .to_string()
                .into(),
            )
        }
        _ => None,
    }
}

#[test]
fn every_suggestion_for_a_declined_or_referred_household_approves_when_applied_and_is_the_smallest()
{
    let policies = PolicySet::shipped().unwrap();
    let mut suggested = 0;
    let mut households_with = Vec::new();
    for entry in std::fs::read_dir(format!(
        "{}/../../examples/requests",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    {
        let file = entry.unwrap().file_name().to_string_lossy().to_string();
        let r = request(&file);
        let policy = policies.select(&r.institution, &r.product).unwrap();
        let before = evaluate(policy, &r, Options { trace: false }).unwrap();
        let found = counterfactuals(policy, &r);
        if before.decision == Outcome::Approve {
            assert!(found.is_empty(), "{file}: approved, yet {found:?}");
            continue;
        }
        if !found.is_empty() {
            households_with.push(file.clone());
        }
        for c in &found {
            assert!(
                LEVERS.iter().any(|l| l.0 == c.feature),
                "{file}: {} is not actionable",
                c.feature
            );
            let after = evaluate(
                policy,
                &with(&r, &c.feature, c.to.clone()),
                Options { trace: false },
            )
            .unwrap();
            assert_eq!(after.decision, Outcome::Approve, "{file}: {}", c.message_en);
            assert_eq!(after.limit, c.limit, "{file}: {}", c.message_en);
            assert_eq!(after.annual_rate, c.annual_rate, "{file}: {}", c.message_en);
            if let Some(short) = one_unit_short(c) {
                let d = evaluate(
                    policy,
                    &with(&r, &c.feature, short.clone()),
                    Options { trace: false },
                )
                .unwrap();
                assert_ne!(
                    d.decision,
                    Outcome::Approve,
                    "{file}: {} = {short} approves too: {} is not the smallest",
                    c.feature,
                    c.message_en
                );
            }
            suggested += 1;
        }
    }
    households_with.sort();
    // The others are declined by facts no household can change (age, a
    // court record, the worst class, a veto) or need more than one change
    // (grade C, 460 points: 140 short).
    assert_eq!(
        households_with,
        [
            "07-thin-file-weak-review.json",
            "09-red-line-bureau-overdue.json",
            "13-red-line-inquiries.json",
            "17-near-cutoff-refer.json"
        ]
    );
    assert_eq!(suggested, 5);
}

#[test]
fn an_immutable_red_line_has_no_suggestion_and_the_account_tells_them_in_both_languages() {
    let policies = PolicySet::shipped().unwrap();
    // Aged 67: the age red line declines, and age is never changed.
    let r = request("08-red-line-age.json");
    let policy = policies.select(&r.institution, &r.product).unwrap();
    assert!(counterfactuals(policy, &r).is_empty());
    // Referred near the cut-off: income 30,000 -> 50,000 enters the next
    // income bin, and a review rating of B instead of C; either approves.
    let r = request("17-near-cutoff-refer.json");
    let found = counterfactuals(policy, &r);
    assert_eq!(
        found
            .iter()
            .map(|c| c.message_en.as_str())
            .collect::<Vec<_>>(),
        [
            "with annual net income of at least 50,000 (now 30,000) the household would be approved at 30,000 at 5.40% a year",
            "with a village review rating of B (now C) the household would be approved at 30,000 at 5.40% a year",
        ]
    );
    assert_eq!(
        found[0].message_zh,
        "若家庭年净收入不低于50,000（现为30,000），该农户可获批准，额度30,000元，年利率5.40%"
    );
    let text_en = decision_core::counterfactual::describe(&found, Lang::En);
    let text_zh = decision_core::counterfactual::describe(&found, Lang::Zh);
    assert!(text_en.contains("would be approved at"), "{text_en}");
    assert!(text_zh.contains("该农户可获批准"), "{text_zh}");
    assert!(found.iter().all(|c| c.feature != "age"));
}
