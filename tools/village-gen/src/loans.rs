//! A loan book consistent with a generated village, for post-loan
//! monitoring tests and benchmarks. Each household of the village is
//! decided at origination by the shipped policy; an approved household
//! borrows its limit. On the monitoring date its features are refreshed
//! with documented drift:
//!
//! | share | drift |
//! |---|---|
//! | 6% | deteriorates: 1-120 days past due, a current overdue elsewhere (when it has a bureau record), 3 more inquiries, behind on its repayments here, income down 40% |
//! | 1% | on the court's enforcement list |
//! | 10% | 2 more bureau inquiries |
//! | the rest | unchanged, current |
//!
//! Disbursed 1-400 days before the monitoring date, for 12 (60%) or 24
//! months; the balance is the amount for a month, then 30-100% of it. 70%
//! carry their origination decision (id, score, grade); the others were
//! lent before the engine and carry none. Deterministic for a seed.

use chrono::NaiveDate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use decision_core::validate::feature_from_cell;
use decision_core::{Binder, Outcome, Policy, PolicySet, decide_bound, decision_id};

use crate::{COLUMNS, Config, Village};

/// The loan columns before the household's features.
pub const LOAN_FIELDS: &[&str] = &[
    "loan_id",
    "institution",
    "branch",
    "product",
    "amount",
    "balance",
    "disbursed_on",
    "maturity_on",
    "days_past_due",
    "origination_decision_id",
    "origination_score",
    "origination_grade",
];

/// Every column of the book: the loan's, then the household's
/// ([`COLUMNS`], `household_id` first).
pub fn loan_columns() -> Vec<&'static str> {
    LOAN_FIELDS.iter().chain(COLUMNS.iter()).copied().collect()
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct LoanBookConfig {
    pub village: Config,
    pub as_of: NaiveDate,
    pub institution: String,
}

/// A generator of loan rows in [`loan_columns`] order (an empty string is
/// a missing value).
pub struct LoanBook {
    village: Village,
    policies: PolicySet,
    rng: ChaCha8Rng,
    config: LoanBookConfig,
    next: u64,
}

impl LoanBook {
    pub fn new(config: LoanBookConfig) -> Result<LoanBook, String> {
        Ok(LoanBook {
            village: Village::new(config.village),
            policies: PolicySet::shipped().map_err(|e| e.to_string())?,
            rng: ChaCha8Rng::seed_from_u64(config.village.seed ^ 0x5eed_10a0_u64),
            config,
            next: 0,
        })
    }
}

/// The household decided at origination: (outcome, limit, score, grade).
fn originate(
    policy: &Policy,
    institution: &str,
    row: &[String],
) -> Option<(Outcome, String, String, String)> {
    let mut binder = Binder::new(policy, &row[0], institution, &policy.product);
    for (name, cell) in COLUMNS.iter().zip(row).skip(1) {
        let Some(&index) = policy.schema.by_name.get(*name) else {
            continue;
        };
        if let Ok(Some(value)) = feature_from_cell(&policy.schema.features[index], cell) {
            binder.set_at(index, value);
        }
    }
    let record = decide_bound(policy, binder.finish().ok()?).ok()?;
    let grade = policy
        .grades
        .bands
        .get(record.grade_band as usize)?
        .grade
        .clone();
    Some((
        record.outcome,
        record.limit.to_string(),
        record.score.to_string(),
        grade,
    ))
}

impl Iterator for LoanBook {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        loop {
            let mut household = self.village.next()?;
            let policy = self
                .policies
                .select(&self.config.institution, "FARMER_CREDIT")
                .ok()?;
            let Some((outcome, limit, score, grade)) =
                originate(policy, &self.config.institution, &household)
            else {
                continue;
            };
            if outcome != Outcome::Approve {
                continue;
            }
            self.next += 1;
            let n = self.next;
            let r = &mut self.rng;
            let col = |name: &str| COLUMNS.iter().position(|c| *c == name);
            let set = |h: &mut Vec<String>, name: &str, v: String| {
                if let Some(i) = col(name) {
                    h[i] = v;
                }
            };
            let get =
                |h: &Vec<String>, name: &str| col(name).map(|i| h[i].clone()).unwrap_or_default();
            let has_record = get(&household, "bureau_has_record") == "true";
            let drift: f64 = r.random();
            let mut dpd = 0u32;
            if drift < 0.06 {
                dpd = r.random_range(1..=120);
                if has_record {
                    let overdue: u32 = get(&household, "bureau_current_overdue_count")
                        .parse()
                        .unwrap_or(0);
                    set(
                        &mut household,
                        "bureau_current_overdue_count",
                        (overdue + 1).to_string(),
                    );
                    for c in ["bureau_inquiries_3m", "bureau_inquiries_6m"] {
                        let v: u32 = get(&household, c).parse().unwrap_or(0);
                        set(&mut household, c, (v + 3).to_string());
                    }
                }
                if !get(&household, "repay_loan_count").is_empty() {
                    set(&mut household, "repay_current_overdue", "true".into());
                }
                let income: f64 = get(&household, "annual_net_income").parse().unwrap_or(0.0);
                set(
                    &mut household,
                    "annual_net_income",
                    format!("{:.2}", (income * 0.6 * 100.0).round() / 100.0),
                );
            } else if drift < 0.07 {
                set(&mut household, "court_enforcement_flag", "true".into());
            } else if drift < 0.17 && has_record {
                for c in ["bureau_inquiries_3m", "bureau_inquiries_6m"] {
                    let v: u32 = get(&household, c).parse().unwrap_or(0);
                    set(&mut household, c, (v + 2).to_string());
                }
            }
            let age_days: u64 = r.random_range(1..=400);
            let disbursed = self.config.as_of - chrono::Days::new(age_days);
            let months = if r.random_bool(0.6) { 12 } else { 24 };
            let maturity = disbursed + chrono::Months::new(months);
            let amount: f64 = limit.parse().unwrap_or(0.0);
            let balance = if age_days < 30 {
                amount
            } else {
                (amount * r.random_range(0.3..=1.0)).round()
            };
            let known = r.random_bool(0.7);
            let village: u64 = get(&household, "village_code")
                .trim_start_matches('V')
                .parse()
                .unwrap_or(0);
            let id = format!("L{n:09}");
            let mut row: Vec<String> = vec![
                id.clone(),
                self.config.institution.clone(),
                format!("BR-{:02}", village % 8 + 1),
                "FARMER_CREDIT".into(),
                limit,
                format!("{balance:.2}"),
                disbursed.to_string(),
                maturity.to_string(),
                dpd.to_string(),
            ];
            if known {
                row.push(decision_id(
                    &self.config.institution,
                    "FARMER_CREDIT",
                    &format!("ORIG-{}", household[0]),
                ));
                row.push(score);
                row.push(grade);
            } else {
                row.extend([String::new(), String::new(), String::new()]);
            }
            row.extend(household);
            return Some(row);
        }
    }
}
