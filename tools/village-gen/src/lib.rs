//! Synthetic farmer households, deterministic for a seed, with the
//! correlations a village register shows: income grows with land and labour,
//! subsidies follow contracted land, bureau history and the village review
//! agree more often than not, a quarter of households are thin files,
//! optional data goes missing, and a few households hit red lines.
//!
//! The distributions (all illustrative, calibrated on no real data):
//!
//! | feature | distribution |
//! |---|---|
//! | age | normal(47, 10), 18-78 (about 7% over 65) |
//! | household_size | 1 + Poisson(2.6), at most 10; labor_count: Binomial(size, 0.6) |
//! | land_area_mu | log-normal, median 9 mu, 0.5-300; 3% missing |
//! | annual_net_income | 6,000 + 2,300 x land^0.8 + 9,500 x labour, x log-normal noise (sd 0.35), rounded to 100 |
//! | non_agri_income | 40% of households: log-normal median 15,000 |
//! | subsidy | 85% receive: area = land ± 10%, 95 yuan/mu ± noise, 1-15 consecutive years |
//! | bureau | 25% thin files (no bureau_* field); otherwise worst DPD 0 (80%), 1-29 (12%), 30-89 (5%), 90+ (3%), worst class from the DPD, 2% currently overdue, inquiries Poisson(0.7) in 3 months (1% above 6), debt 0 for 40% else log-normal around 0.6 x income, 8% guarantee others |
//! | court_enforcement_flag | 0.5% true, 10% missing |
//! | repayment at this bank | 55% have history: 1-8 loans, on-time ratio mostly 0.95-1, 1.5% currently overdue |
//! | review | 85% reviewed: A/B/C/D weighted by bureau history (clean: 45/40/12/3), 1.5% vetoed, 60% give an indicative limit (~1.5 x income, rounded to 1,000) |
//! | missing | each other optional feature also blank for 2% of households |

pub mod loans;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution, LogNormal, Normal, Poisson};

/// The columns, in order: `household_id`, then the canonical features.
pub const COLUMNS: &[&str] = &[
    "household_id",
    "village_code",
    "age",
    "household_size",
    "labor_count",
    "land_area_mu",
    "annual_net_income",
    "main_crop",
    "has_livestock",
    "coop_member",
    "non_agri_income",
    "bureau_has_record",
    "bureau_current_overdue_count",
    "bureau_max_dpd_24m",
    "bureau_worst_class",
    "bureau_inquiries_3m",
    "bureau_inquiries_6m",
    "bureau_total_debt",
    "bureau_lender_count",
    "bureau_guarantee_debt",
    "court_enforcement_flag",
    "subsidy_annual_amount",
    "subsidy_years",
    "subsidy_land_area_mu",
    "repay_loan_count",
    "repay_on_time_ratio",
    "repay_max_dpd",
    "repay_current_overdue",
    "repay_years_as_customer",
    "review_rating",
    "review_veto",
    "review_indicative_limit",
];

const CROPS: &[&str] = &[
    "rice",
    "corn",
    "wheat",
    "vegetables",
    "tea",
    "citrus",
    "cotton",
    "rapeseed",
];

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub households: u64,
    pub villages: u64,
    pub seed: u64,
}

/// A generator of household rows, one `Vec<String>` per household in
/// [`COLUMNS`] order (an empty string is a missing value).
pub struct Village {
    config: Config,
    rng: ChaCha8Rng,
    next: u64,
}

impl Village {
    pub fn new(config: Config) -> Village {
        Village {
            config,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            next: 0,
        }
    }
}

fn yuan(x: f64) -> String {
    format!("{:.2}", (x * 100.0).round() / 100.0)
}

fn log_normal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    LogNormal::new(median.ln(), sigma).map_or(median, |d| d.sample(rng))
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    Poisson::new(mean).map_or(0.0, |d: Poisson<f64>| d.sample(rng)) as u64
}

impl Iterator for Village {
    type Item = Vec<String>;

    fn next(&mut self) -> Option<Vec<String>> {
        if self.next >= self.config.households {
            return None;
        }
        let n = self.next;
        self.next += 1;
        let villages = self.config.villages.max(1);
        let r = &mut self.rng;
        let mut row = vec![String::new(); COLUMNS.len()];
        let mut set = |col: &str, v: String| {
            if let Some(i) = COLUMNS.iter().position(|c| *c == col) {
                row[i] = v;
            }
        };
        let village = n * villages / self.config.households.max(1);
        set("household_id", format!("H{:08}", n + 1));
        set("village_code", format!("V{:05}", village + 1));

        let age = Normal::new(47.0_f64, 10.0)
            .map_or(47.0, |d| d.sample(r))
            .round()
            .clamp(18.0, 78.0) as i64;
        let size = (1 + poisson(r, 2.6)).min(10);
        let labor = Binomial::new(size, 0.6).map_or(1, |d| d.sample(r));
        let land = log_normal(r, 9.0, 0.9).clamp(0.5, 300.0);
        let land = (land * 10.0).round() / 10.0;
        let noise = log_normal(r, 1.0, 0.35);
        let income = ((6000.0 + 2300.0 * land.powf(0.8) + 9500.0 * labor as f64) * noise / 100.0)
            .round()
            * 100.0;
        set("age", age.to_string());
        set("household_size", size.to_string());
        set("labor_count", labor.to_string());
        if r.random_bool(0.97) {
            set("land_area_mu", format!("{land:.1}"));
        }
        set("annual_net_income", yuan(income));
        set(
            "main_crop",
            CROPS[r.random_range(0..CROPS.len())].to_string(),
        );
        set("has_livestock", r.random_bool(0.35).to_string());
        set("coop_member", r.random_bool(0.15).to_string());
        if r.random_bool(0.4) {
            set(
                "non_agri_income",
                yuan((log_normal(r, 15000.0, 0.6) / 100.0).round() * 100.0),
            );
        }

        // Credit bureau: a quarter are thin files with no bureau feature.
        let thin = r.random_bool(0.25);
        let mut dpd = 0;
        set("bureau_has_record", (!thin).to_string());
        if !thin {
            let u: f64 = r.random();
            dpd = if u < 0.80 {
                0
            } else if u < 0.92 {
                r.random_range(1..30)
            } else if u < 0.97 {
                r.random_range(30..90)
            } else {
                r.random_range(90..400)
            };
            let class = match dpd {
                0 => "normal",
                1..=89 => "special_mention",
                90..=179 => "substandard",
                180..=359 => "doubtful",
                _ => "loss",
            };
            let overdue = if r.random_bool(0.02) {
                r.random_range(1..3)
            } else {
                0
            };
            let inq3 = if r.random_bool(0.01) {
                r.random_range(7..12)
            } else {
                poisson(r, 0.7)
            };
            let inq6 = inq3 + poisson(r, 0.7);
            let debt = if r.random_bool(0.4) {
                0.0
            } else {
                (income * log_normal(r, 0.6, 0.8) / 100.0).round() * 100.0
            };
            set("bureau_current_overdue_count", overdue.to_string());
            set("bureau_max_dpd_24m", dpd.to_string());
            set("bureau_worst_class", class.to_string());
            set("bureau_inquiries_3m", inq3.to_string());
            set("bureau_inquiries_6m", inq6.to_string());
            set("bureau_total_debt", yuan(debt));
            set(
                "bureau_lender_count",
                (if debt > 0.0 { 1 + poisson(r, 0.6) } else { 0 }).to_string(),
            );
            let guarantee = if r.random_bool(0.08) {
                (log_normal(r, 30000.0, 0.5) / 100.0).round() * 100.0
            } else {
                0.0
            };
            set("bureau_guarantee_debt", yuan(guarantee));
        }
        if r.random_bool(0.9) {
            set("court_enforcement_flag", r.random_bool(0.005).to_string());
        }

        if r.random_bool(0.85) {
            let area = (land * (0.9 + 0.2 * r.random::<f64>()) * 10.0).round() / 10.0;
            set("subsidy_land_area_mu", format!("{area:.1}"));
            set(
                "subsidy_annual_amount",
                yuan(area * (95.0 + 10.0 * r.random::<f64>())),
            );
            set("subsidy_years", r.random_range(1..=15).to_string());
        }

        if r.random_bool(0.55) {
            let loans = r.random_range(1..=8);
            let on_time = if r.random_bool(0.8) {
                0.95 + 0.05 * r.random::<f64>()
            } else {
                0.7 + 0.25 * r.random::<f64>()
            };
            set("repay_loan_count", loans.to_string());
            set("repay_on_time_ratio", format!("{:.2}", on_time.min(1.0)));
            set(
                "repay_max_dpd",
                (if on_time >= 0.95 {
                    0
                } else {
                    r.random_range(1..60)
                })
                .to_string(),
            );
            set("repay_current_overdue", r.random_bool(0.015).to_string());
            set(
                "repay_years_as_customer",
                r.random_range(loans..=loans + 12).to_string(),
            );
        }

        if r.random_bool(0.85) {
            // Villagers know who pays: ratings lean on the repayment record.
            let weights: [f64; 4] = if dpd >= 30 {
                [0.10, 0.30, 0.35, 0.25]
            } else {
                [0.45, 0.40, 0.12, 0.03]
            };
            let u: f64 = r.random();
            let rating = if u < weights[0] {
                "A"
            } else if u < weights[0] + weights[1] {
                "B"
            } else if u < weights[0] + weights[1] + weights[2] {
                "C"
            } else {
                "D"
            };
            set("review_rating", rating.to_string());
            set("review_veto", r.random_bool(0.015).to_string());
            if r.random_bool(0.6) {
                let limit = (income * (1.0 + r.random::<f64>()) / 1000.0).round() * 1000.0;
                set("review_indicative_limit", yuan(limit.min(1_000_000.0)));
            }
        }

        // Registers have gaps: any other optional cell is blank 2% of the time.
        for (i, col) in COLUMNS.iter().enumerate() {
            let required = matches!(
                *col,
                "household_id" | "village_code" | "age" | "annual_net_income" | "bureau_has_record"
            );
            if !required && r.random_bool(0.02) {
                row[i].clear();
            }
        }
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_village() {
        let config = Config {
            households: 50,
            villages: 3,
            seed: 7,
        };
        let a: Vec<_> = Village::new(config).collect();
        let b: Vec<_> = Village::new(config).collect();
        assert_eq!(a, b);
        let c: Vec<_> = Village::new(Config { seed: 8, ..config }).collect();
        assert_ne!(a, c);
        assert_eq!(a.len(), 50);
        assert_eq!(a[0][0], "H00000001");
        assert_eq!(a[49][1], "V00003");
    }

    #[test]
    fn thin_files_carry_no_bureau_features() {
        let bureau: Vec<usize> = COLUMNS
            .iter()
            .enumerate()
            .filter(|(_, c)| c.starts_with("bureau_") && **c != "bureau_has_record")
            .map(|(i, _)| i)
            .collect();
        let has = COLUMNS
            .iter()
            .position(|c| *c == "bureau_has_record")
            .unwrap();
        let rows: Vec<_> = Village::new(Config {
            households: 4000,
            villages: 10,
            seed: 1,
        })
        .collect();
        let thin = rows.iter().filter(|r| r[has] == "false").count() as f64 / rows.len() as f64;
        assert!((0.22..0.28).contains(&thin), "thin-file share {thin}");
        for r in rows.iter().filter(|r| r[has] == "false") {
            assert!(bureau.iter().all(|&i| r[i].is_empty()));
        }
    }
}
