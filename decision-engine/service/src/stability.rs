//! Score monitoring: is today's population still the one the scorecard was
//! built on? The population stability index (PSI) of the score and the
//! characteristic stability index (CSI) of each characteristic, between a
//! baseline population and a current one:
//!
//! `index = Σ (current share − baseline share) × ln(current share / baseline share)`
//!
//! over the score bands (the baseline's deciles) or the characteristic's
//! bins. A share of zero is taken as 0.0001, as is usual, so an empty bin
//! counts without dividing by zero. Below 0.1 the population is stable,
//! from 0.1 to 0.25 it has moved and is worth watching, from 0.25 it has
//! shifted: the card should be reviewed. The index is a statistic, computed
//! in floating point; no limit or price is touched.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use decision_core::Decision;
use decision_store::{DecisionQuery, Store};

use crate::ServiceError;
use crate::find::{StoredPolicies, parse_decision};

/// The share an empty bin is taken to have.
pub const EMPTY_SHARE: f64 = 0.0001;
/// From here the population has moved (watch).
pub const WATCH: f64 = 0.1;
/// From here the population has shifted (review the card).
pub const SHIFT: f64 = 0.25;

/// One scored household: its score and each characteristic's bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub score: Decimal,
    /// (characteristic, bin label), in card order.
    pub bins: Vec<(Arc<str>, Arc<str>)>,
}

impl Observation {
    /// What a decision's trace says of its scorecard.
    pub fn of(d: &Decision) -> Option<Observation> {
        let card = &d.trace.as_ref()?.scorecard;
        Some(Observation {
            score: d.score,
            bins: card
                .characteristics
                .iter()
                .map(|c| (c.name.clone(), c.bin.clone()))
                .collect(),
        })
    }
}

/// How far a population moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Below 0.1.
    Stable,
    /// 0.1 to 0.25.
    Watch,
    /// 0.25 and above.
    Shift,
}

impl Flag {
    pub fn of(index: f64) -> Flag {
        if index >= SHIFT {
            Flag::Shift
        } else if index >= WATCH {
            Flag::Watch
        } else {
            Flag::Stable
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flag::Stable => "stable",
            Flag::Watch => "watch",
            Flag::Shift => "shift",
        }
    }
}

/// One band or bin: households and shares both ways, and its part of the
/// index.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BinShare {
    pub label: String,
    pub baseline: u64,
    pub current: u64,
    pub baseline_share: f64,
    pub current_share: f64,
    pub contribution: f64,
}

/// The PSI of the score or the CSI of one characteristic.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Index {
    /// `score`, or the characteristic's name.
    pub name: String,
    pub value: f64,
    pub flag: Flag,
    pub bins: Vec<BinShare>,
}

/// The index over `labels`, from counts in the same order.
pub fn index(name: &str, labels: &[String], baseline: &[u64], current: &[u64]) -> Index {
    let (bn, cn) = (
        baseline.iter().sum::<u64>().max(1) as f64,
        current.iter().sum::<u64>().max(1) as f64,
    );
    let bins: Vec<BinShare> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let (b, c) = (baseline[i], current[i]);
            let (bs, cs) = (b as f64 / bn, c as f64 / cn);
            let (e, a) = (bs.max(EMPTY_SHARE), cs.max(EMPTY_SHARE));
            BinShare {
                label: label.clone(),
                baseline: b,
                current: c,
                baseline_share: bs,
                current_share: cs,
                contribution: (a - e) * (a / e).ln(),
            }
        })
        .collect();
    let value = bins.iter().map(|b| b.contribution).sum();
    Index {
        name: name.to_string(),
        value,
        flag: Flag::of(value),
        bins,
    }
}

/// Score bands from the baseline's deciles: the lower edges of bands 2 to
/// 10 (distinct scores only, so a lumpy score has fewer bands).
pub fn deciles(scores: &[Decimal]) -> Vec<Decimal> {
    let mut sorted = scores.to_vec();
    sorted.sort();
    let mut edges: Vec<Decimal> = Vec::new();
    if sorted.is_empty() {
        return edges;
    }
    for k in 1..10 {
        let edge = sorted[(sorted.len() * k / 10).min(sorted.len() - 1)];
        if edge > sorted[0] && edges.last() != Some(&edge) {
            edges.push(edge);
        }
    }
    edges
}

fn band_labels(edges: &[Decimal]) -> Vec<String> {
    let mut labels = Vec::with_capacity(edges.len() + 1);
    let mut lower: Option<Decimal> = None;
    for &e in edges {
        labels.push(match lower {
            None => format!("(-inf, {e})"),
            Some(l) => format!("[{l}, {e})"),
        });
        lower = Some(e);
    }
    labels.push(match lower {
        None => "(-inf, inf)".to_string(),
        Some(l) => format!("[{l}, inf)"),
    });
    labels
}

fn band_of(edges: &[Decimal], score: Decimal) -> usize {
    edges.iter().take_while(|&&e| score >= e).count()
}

/// The stability of one scorecard's population.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stability {
    pub institution: String,
    pub product: String,
    /// `id@version` of the scorecard(s) the current population was scored with.
    pub scorecard: String,
    pub baseline_households: u64,
    pub current_households: u64,
    /// The PSI of the score.
    pub score: Index,
    /// The CSI of each characteristic, in card order.
    pub characteristics: Vec<Index>,
}

/// Compares the current population with the baseline.
pub fn stability(
    (institution, product, scorecard): (&str, &str, &str),
    baseline: &[Observation],
    current: &[Observation],
) -> Stability {
    let edges = deciles(&baseline.iter().map(|o| o.score).collect::<Vec<_>>());
    let labels = band_labels(&edges);
    let count = |pop: &[Observation]| {
        let mut n = vec![0u64; labels.len()];
        for o in pop {
            n[band_of(&edges, o.score)] += 1;
        }
        n
    };
    let score = index("score", &labels, &count(baseline), &count(current));
    // Characteristics in the order the cards list them; bins in the order
    // first seen (baseline first), so the tables read like the card.
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut bins: BTreeMap<Arc<str>, Vec<Arc<str>>> = BTreeMap::new();
    for o in baseline.iter().chain(current) {
        for (c, b) in &o.bins {
            if !names.contains(c) {
                names.push(c.clone());
            }
            let seen = bins.entry(c.clone()).or_default();
            if !seen.contains(b) {
                seen.push(b.clone());
            }
        }
    }
    let characteristics = names
        .iter()
        .map(|name| {
            let labels = &bins[name];
            let count = |pop: &[Observation]| {
                let mut n = vec![0u64; labels.len()];
                for o in pop {
                    if let Some((_, b)) = o.bins.iter().find(|(c, _)| c == name)
                        && let Some(i) = labels.iter().position(|l| l == b)
                    {
                        n[i] += 1;
                    }
                }
                n
            };
            let shown: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
            index(name, &shown, &count(baseline), &count(current))
        })
        .collect();
    Stability {
        institution: institution.to_string(),
        product: product.to_string(),
        scorecard: scorecard.to_string(),
        baseline_households: baseline.len() as u64,
        current_households: current.len() as u64,
        score,
        characteristics,
    }
}

/// Stored online decisions' observations by (institution, product),
/// with the scorecard versions seen; decisions whose input was pruned
/// cannot be rendered and are counted apart.
#[derive(Clone, Debug, Default)]
pub struct Population {
    pub groups: BTreeMap<(String, String), (Vec<Observation>, Vec<String>)>,
    pub pruned: u64,
    /// Decisions stored without a trace (some of the first release's), so
    /// without their bins: left out and counted.
    pub untraced: u64,
}

/// Reads the stored online decisions `query` names (every page), renders
/// each from its record, and keeps its score and bins.
pub async fn stored_population<S: Store>(
    store: &S,
    mut query: DecisionQuery,
) -> Result<Population, ServiceError> {
    let policies = StoredPolicies::new(store);
    let mut population = Population::default();
    query.limit = 1000;
    loop {
        let page = store
            .list_decisions(query.clone())
            .await
            .map_err(|e| ServiceError::store(e, "nothing was read"))?;
        let Some(last) = page.last() else { break };
        query.after = Some((last.recorded_at.clone(), last.decision_id.clone()));
        for r in &page {
            if r.request_json.is_empty() && r.decision_json.is_empty() {
                population.pruned += 1;
                continue;
            }
            let decision = parse_decision(r, &policies).await?;
            let Some(o) = Observation::of(&decision) else {
                population.untraced += 1;
                continue;
            };
            let card = decision
                .versions
                .iter()
                .find(|v| v.kind == "scorecard")
                .map(|v| v.label())
                .unwrap_or_default();
            let group = population
                .groups
                .entry((r.institution.clone(), r.product.clone()))
                .or_default();
            group.0.push(o);
            if !group.1.contains(&card) {
                group.1.push(card);
            }
        }
    }
    Ok(population)
}

/// An index rounded for a table (4 places).
pub fn shown(value: f64) -> String {
    Decimal::from_f64_retain(value)
        .map(|d| d.round_dp(4).to_string())
        .unwrap_or_else(|| format!("{value:.4}"))
}

/// A share as a percentage for a table (2 places).
pub fn percent(share: f64) -> String {
    Decimal::from_f64_retain(share * 100.0)
        .and_then(|d| d.round_dp(2).to_f64())
        .map_or_else(|| format!("{:.2}", share * 100.0), |p| format!("{p:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("b{i}")).collect()
    }

    #[test]
    fn the_index_is_the_sum_of_each_bins_share_change_times_its_log_ratio() {
        // (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
        // = 0.25 x 0.693147 + 0.25 x 0.405465 = 0.274653
        let i = index("x", &labels(2), &[50, 50], &[25, 75]);
        assert!((i.value - 0.274653).abs() < 1e-6, "{}", i.value);
        assert_eq!(i.flag, Flag::Shift);
        assert_eq!(index("x", &labels(2), &[50, 50], &[100, 100]).value, 0.0);
        // An empty bin counts as 0.0001, not as a division by zero:
        // (0.0001 - 0.5) ln(0.0002) + (1 - 0.5) ln(2) = 4.2586 + 0.3466
        let i = index("x", &labels(2), &[10, 10], &[0, 30]);
        assert!((i.value - 4.605_170).abs() < 1e-3, "{}", i.value);
        assert_eq!(Flag::of(0.0999), Flag::Stable);
        assert_eq!(Flag::of(0.1), Flag::Watch);
        assert_eq!(Flag::of(0.25), Flag::Shift);
    }

    #[test]
    fn score_bands_are_the_baselines_deciles() {
        let scores: Vec<Decimal> = (0..100).map(Decimal::from).collect();
        assert_eq!(
            deciles(&scores),
            (1..10).map(|k| Decimal::from(k * 10)).collect::<Vec<_>>()
        );
        // A lumpy score: fewer bands, never an empty edge twice.
        let lumpy: Vec<Decimal> = [500, 500, 500, 500, 500, 600, 600, 600, 700, 700]
            .into_iter()
            .map(Decimal::from)
            .collect();
        assert_eq!(deciles(&lumpy), [Decimal::from(600), Decimal::from(700)]);
        let obs = |score: i64| Observation {
            score: Decimal::from(score),
            bins: vec![(Arc::from("age"), Arc::from("[35, 50)"))],
        };
        let same: Vec<_> = (0..100).map(obs).collect();
        let s = stability(("I", "P", "card@1"), &same, &same);
        assert_eq!(s.score.value, 0.0);
        assert_eq!(s.score.bins.len(), 10);
        assert_eq!(s.score.bins[0].label, "(-inf, 10)");
        assert_eq!(s.score.bins[9].label, "[90, inf)");
        assert_eq!(s.characteristics[0].name, "age");
        // Everyone 50 points up: the bottom bands empty, the top one full.
        let up: Vec<_> = (50..150).map(obs).collect();
        let s = stability(("I", "P", "card@1"), &same, &up);
        assert_eq!(s.score.flag, Flag::Shift);
        assert_eq!(s.score.bins[9].current, 60);
    }
}
