//! The village summary: per village and in total, how many households were
//! approved, referred, declined or could not be decided, the pre-credit
//! limits granted, the grades and the mean rate. Tallied as rows are
//! written, in exact decimals; also the histograms the report draws.

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::{Decimal, RoundingStrategy};

use decision_core::Outcome;

use super::row::RowResult;

/// Rates (shares of households) are written with this many decimals.
pub const SHARE_DP: u32 = 4;
/// Mean limits are written in yuan and fen.
pub const MONEY_DP: u32 = 2;
/// Mean annual rates keep this many decimals (a basis point is 4).
pub const RATE_DP: u32 = 6;
/// Width of a score histogram bar, in points.
pub const SCORE_BUCKET: i64 = 20;
/// Width of a limit histogram bar, in yuan.
pub const LIMIT_BUCKET: i64 = 10_000;

/// Counts for one village, or for all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub households: u64,
    pub approved: u64,
    pub referred: u64,
    pub declined: u64,
    pub errors: u64,
    /// Households offered a limit above zero.
    pub offered: u64,
    pub total_limit: Decimal,
    /// Households given a rate, and the rates' sum.
    pub rated: u64,
    pub rate_sum: Decimal,
    pub grades: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, row: &RowResult) {
        self.households += 1;
        let Ok(d) = &row.result else {
            self.errors += 1;
            return;
        };
        match d.outcome {
            Outcome::Approve => self.approved += 1,
            Outcome::Refer => self.referred += 1,
            Outcome::Decline => self.declined += 1,
        }
        if d.limit > Decimal::ZERO {
            self.offered += 1;
            self.total_limit += d.limit;
        }
        if let Some(rate) = d.annual_rate {
            self.rated += 1;
            self.rate_sum += rate;
        }
        *self.grades.entry(d.grade.clone()).or_default() += 1;
    }

    /// `count` as a share of households, rounded half away from zero (every
    /// figure is written without trailing zeros).
    pub fn share(&self, count: u64) -> Decimal {
        ratio(Decimal::from(count), self.households, SHARE_DP)
    }

    /// Mean limit over the households offered one.
    pub fn mean_limit(&self) -> Decimal {
        ratio(self.total_limit, self.offered, MONEY_DP)
    }

    /// Mean annual rate over the households given one.
    pub fn mean_rate(&self) -> Decimal {
        ratio(self.rate_sum, self.rated, RATE_DP)
    }
}

fn ratio(sum: Decimal, count: u64, dp: u32) -> Decimal {
    if count == 0 {
        return Decimal::ZERO;
    }
    (sum / Decimal::from(count))
        .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Everything the summary file and the report show.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// The policy's grades, best first (the summary's grade columns).
    pub grade_order: Vec<String>,
    pub total: Tally,
    pub villages: BTreeMap<String, Tally>,
    /// Decided households by score bucket (`floor(score / SCORE_BUCKET)`).
    pub scores: BTreeMap<i64, u64>,
    /// Offered limits by bucket (`floor(limit / LIMIT_BUCKET)`).
    pub limits: BTreeMap<i64, u64>,
    /// Declines by their first-ranked reason: code -> (count, English text).
    pub decline_reasons: BTreeMap<String, (u64, String)>,
}

impl Summary {
    pub fn new(grade_order: Vec<String>) -> Summary {
        Summary {
            grade_order,
            ..Summary::default()
        }
    }

    pub fn add(&mut self, row: &RowResult) {
        self.total.add(row);
        // An empty village code is an error row; it is tallied under "".
        if let Some(t) = self.villages.get_mut(&row.village_code) {
            t.add(row);
        } else {
            let mut t = Tally::default();
            t.add(row);
            self.villages.insert(row.village_code.clone(), t);
        }
        let Ok(d) = &row.result else { return };
        let bucket = |v: Decimal, width: i64| {
            (v / Decimal::from(width))
                .floor()
                .try_into()
                .unwrap_or(i64::MAX)
        };
        *self
            .scores
            .entry(bucket(d.score, SCORE_BUCKET))
            .or_default() += 1;
        if d.limit > Decimal::ZERO {
            *self
                .limits
                .entry(bucket(d.limit, LIMIT_BUCKET))
                .or_default() += 1;
        }
        if d.outcome == Outcome::Decline
            && let Some((code, text)) = &d.primary_reason
        {
            self.decline_reasons
                .entry(code.clone())
                .or_insert_with(|| (0, text.clone()))
                .0 += 1;
        }
    }

    /// The header of the summary table.
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = [
            "village_code",
            "households",
            "approved",
            "referred",
            "declined",
            "errors",
            "approve_rate",
            "refer_rate",
            "decline_rate",
            "error_rate",
            "offered",
            "total_limit",
            "mean_limit",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        h.extend(self.grade_order.iter().map(|g| format!("grade_{g}")));
        h.push("mean_annual_rate".to_string());
        h
    }

    /// One row of the summary table.
    pub fn row(&self, village: &str, t: &Tally) -> Vec<String> {
        let mut r = vec![
            village.to_string(),
            t.households.to_string(),
            t.approved.to_string(),
            t.referred.to_string(),
            t.declined.to_string(),
            t.errors.to_string(),
            t.share(t.approved).to_string(),
            t.share(t.referred).to_string(),
            t.share(t.declined).to_string(),
            t.share(t.errors).to_string(),
            t.offered.to_string(),
            t.total_limit.to_string(),
            t.mean_limit().to_string(),
        ];
        r.extend(
            self.grade_order
                .iter()
                .map(|g| t.grades.get(g).copied().unwrap_or(0).to_string()),
        );
        r.push(t.mean_rate().to_string());
        r
    }

    /// The village key of the total row.
    pub const TOTAL: &'static str = "(total)";

    /// Writes the summary: CSV, or JSON when the file name ends in `.json`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let header = self.header();
        let rows: Vec<Vec<String>> = self
            .villages
            .iter()
            .map(|(v, t)| self.row(v, t))
            .chain(std::iter::once(self.row(Self::TOTAL, &self.total)))
            .collect();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            // With the exact sums the mean rate is made of, so that
            // summaries of shards can be merged ([`merge`]).
            let tallies = self.villages.values().chain(std::iter::once(&self.total));
            let objects: Vec<serde_json::Map<String, serde_json::Value>> = rows
                .iter()
                .zip(tallies)
                .map(|(r, t)| {
                    let mut object: serde_json::Map<String, serde_json::Value> = header
                        .iter()
                        .zip(r)
                        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                        .collect();
                    object.insert("rated".into(), t.rated.to_string().into());
                    object.insert("rate_sum".into(), t.rate_sum.to_string().into());
                    object
                })
                .collect();
            let (total, villages) = objects.split_last().expect("the total row is always there");
            let json = serde_json::json!({ "villages": villages, "total": total });
            let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
            return std::fs::write(path, text + "\n");
        }
        let mut w = csv::Writer::from_path(path).map_err(std::io::Error::other)?;
        w.write_record(&header).map_err(std::io::Error::other)?;
        for r in &rows {
            w.write_record(r).map_err(std::io::Error::other)?;
        }
        w.flush()
    }
}

/// Merges the JSON summaries of a run's shards (`batch --shard I/N
/// --summary shard-I.json`) into the summary of the whole run: every count
/// and sum added, the rates and means made again from them. The histograms
/// of the report are not in a summary file and are not merged.
pub fn merge(paths: &[std::path::PathBuf]) -> Result<Summary, String> {
    let mut merged: Option<Summary> = None;
    for path in paths {
        let at = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {at}: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            format!("{at}: expected a JSON summary (batch --summary FILE.json): {e}")
        })?;
        let total = json
            .get("total")
            .ok_or_else(|| format!("{at}: expected a JSON summary with `total` and `villages`"))?;
        let grade_order: Vec<String> = total
            .as_object()
            .map(|o| {
                o.keys()
                    .filter_map(|k| k.strip_prefix("grade_").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let summary = merged.get_or_insert_with(|| Summary::new(grade_order.clone()));
        if summary.grade_order != grade_order {
            return Err(format!(
                "{at}: grades {:?} where the first summary has {:?}: expected shards of one run",
                grade_order, summary.grade_order
            ));
        }
        add_tally(&mut summary.total, total, &at.to_string(), "total")?;
        for village in json
            .get("villages")
            .and_then(|v| v.as_array())
            .ok_or_else(|| format!("{at}: expected `villages` as a list"))?
        {
            let code = village
                .get("village_code")
                .and_then(|c| c.as_str())
                .ok_or_else(|| format!("{at}: a village without `village_code`"))?;
            let tally = summary.villages.entry(code.to_string()).or_default();
            add_tally(tally, village, &at.to_string(), code)?;
        }
    }
    merged.ok_or_else(|| "no summaries to merge: expected one JSON summary per shard".to_string())
}

/// Adds one row of a JSON summary to `t`.
fn add_tally(
    t: &mut Tally,
    row: &serde_json::Value,
    at: &str,
    village: &str,
) -> Result<(), String> {
    let field = |name: &str| -> Result<&str, String> {
        row.get(name).and_then(|v| v.as_str()).ok_or_else(|| {
            format!(
                "{at}: village {village} has no `{name}`: expected a summary written by batch --summary FILE.json"
            )
        })
    };
    let count = |name: &str| -> Result<u64, String> {
        let text = field(name)?;
        text.parse()
            .map_err(|_| format!("{at}: village {village}: `{name}` is `{text}`, expected a count"))
    };
    let amount = |name: &str| -> Result<Decimal, String> {
        let text = field(name)?;
        text.parse().map_err(|_| {
            format!("{at}: village {village}: `{name}` is `{text}`, expected a decimal")
        })
    };
    t.households += count("households")?;
    t.approved += count("approved")?;
    t.referred += count("referred")?;
    t.declined += count("declined")?;
    t.errors += count("errors")?;
    t.offered += count("offered")?;
    t.total_limit += amount("total_limit")?;
    t.rated += count("rated")?;
    t.rate_sum += amount("rate_sum")?;
    if let Some(object) = row.as_object() {
        for key in object.keys() {
            if let Some(grade) = key.strip_prefix("grade_") {
                let n = count(key)?;
                if n > 0 {
                    *t.grades.entry(grade.to_string()).or_default() += n;
                }
            }
        }
    }
    Ok(())
}
