//! `decision-engine challenger report`: the shadow decisions a challenger
//! recorded beside the champion's, compared as the impact analysis compares
//! a candidate with its baseline ([`crate::simulate::Impact`]): the
//! champion is the baseline, the challenger the candidate, each household
//! one online request.

use std::path::PathBuf;
use std::sync::Arc;

use decision_core::{Decision, Policy};
use decision_service::find::{PolicySource, StoredPolicies, parse_decision};
use decision_store::{AnyStore, DecisionQuery, DecisionRecord, Location, Store};

use crate::row::Decided;
use crate::simulate::{Impact, SIDE_COLUMNS, Side, side_cells};
use crate::{BatchError, failed};

/// Which shadow decisions to compare, and where the results go.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    pub institution: String,
    pub product: String,
    /// Recorded from this date or RFC 3339 time.
    pub since: String,
    pub until: Option<String>,
    pub output: PathBuf,
    pub households: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub store: Option<String>,
}

fn decided(d: &Decision) -> Decided {
    Decided {
        decision_id: d.decision_id.clone(),
        outcome: d.decision,
        score: d.score,
        grade: d.grade.clone(),
        limit: d.limit,
        annual_rate: d.annual_rate,
        reason_codes: d
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        primary_reason: d
            .reasons
            .first()
            .map(|r| (r.code.clone(), r.message_en.clone())),
    }
}

/// A stored decision as one side of the comparison, with its policy.
async fn side(
    r: &DecisionRecord,
    policies: &StoredPolicies<'_, AnyStore>,
) -> Result<(Side, Arc<Policy>), BatchError> {
    let policy = policies
        .policy(&r.versions)
        .await
        .map_err(|e| BatchError::Failed(e.to_string()))?;
    let decision = parse_decision(r, policies)
        .await
        .map_err(|e| BatchError::Failed(e.to_string()))?;
    let record = decision_store::compact::decode(&r.record, policy.rules.len())
        .map_err(|e| BatchError::Failed(format!("decision {}: {e}", r.decision_id)))?;
    Ok((
        Side {
            decided: Ok(decided(&decision)),
            rule_hits: record.rule_hits,
            bins: record.bins,
        },
        policy,
    ))
}

/// What the report compared.
pub struct Compared {
    /// The comparison; `None` when the period holds no shadow decision.
    pub impact: Option<Impact>,
    /// Shadow decisions left out: made under other champion or challenger
    /// versions than the period's first (an activation changed during the
    /// period; report each stretch with --since and --until).
    pub other_versions: u64,
    /// Shadow decisions left out because their input was pruned.
    pub pruned: u64,
}

/// Compares every shadow decision of the period with its champion's. The
/// swap-set file is written even when there is none (its header).
pub fn report(config: &ReportConfig) -> Result<Compared, BatchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed("cannot start"))?;
    let location = Location::parse(config.store.as_deref(), &config.data_dir)
        .map_err(failed("decision store"))?;
    let store = runtime
        .block_on(AnyStore::open(&location, 2))
        .map_err(failed("decision store"))?;
    let result = runtime.block_on(compare(&store, config));
    store.close();
    let compared = result?;
    match &compared.impact {
        Some(impact) => impact.write(
            &config.output,
            config.summary.as_deref(),
            config.report.as_deref(),
        )?,
        None => crate::simulate::write_empty_swap_set(&config.output)
            .map_err(failed("cannot write the swap-set"))?,
    }
    Ok(compared)
}

async fn compare(store: &AnyStore, config: &ReportConfig) -> Result<Compared, BatchError> {
    let policies = StoredPolicies::new(store);
    let mut query = DecisionQuery {
        institution: Some(config.institution.clone()),
        product: Some(config.product.clone()),
        since: crate::simulate::time_bound("--since", &config.since)?,
        until: config
            .until
            .as_deref()
            .map(|u| crate::simulate::time_bound("--until", u))
            .transpose()?,
        after: None,
        limit: 1000,
        shadows: true,
    };
    let mut households = match &config.households {
        Some(path) => {
            let mut w =
                csv::Writer::from_path(path).map_err(failed("cannot write the households file"))?;
            let mut header = vec!["row", "household_id", "village_code"]
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>();
            for who in ["champion", "challenger"] {
                header.extend(SIDE_COLUMNS.iter().map(|c| format!("{who}_{c}")));
            }
            w.write_record(&header)
                .map_err(failed("cannot write the households file"))?;
            Some(w)
        }
        None => None,
    };
    let mut impact: Option<Impact> = None;
    let mut row = 0u64;
    let (mut other_versions, mut pruned) = (0u64, 0u64);
    // The champion's and the challenger's versions of the first pair.
    let mut first: Option<(Vec<String>, Vec<String>)> = None;
    let hashes = |r: &DecisionRecord| {
        r.versions
            .iter()
            .map(|v| v.hash.clone())
            .collect::<Vec<_>>()
    };
    loop {
        let page = store
            .list_decisions(query.clone())
            .await
            .map_err(failed("decision store"))?;
        let Some(last) = page.last() else { break };
        query.after = Some((last.recorded_at.clone(), last.decision_id.clone()));
        for shadow in &page {
            let champion_id = format!(
                "dec_{}",
                shadow
                    .decision_id
                    .strip_prefix("shd_")
                    .unwrap_or(&shadow.decision_id)
            );
            let Some(champion) = store
                .get(&champion_id)
                .await
                .map_err(failed("decision store"))?
            else {
                continue;
            };
            if champion.request_json.is_empty() || shadow.request_json.is_empty() {
                // Pruned under the retention period: nothing to compare.
                pruned += 1;
                continue;
            }
            let pair = (hashes(&champion), hashes(shadow));
            match &first {
                None => first = Some(pair),
                Some(f) if *f != pair => {
                    other_versions += 1;
                    continue;
                }
                Some(_) => {}
            }
            let (b, baseline) = side(&champion, &policies).await?;
            let (c, candidate) = side(shadow, &policies).await?;
            let village = serde_json::from_str::<decision_core::Request>(&champion.request_json)
                .ok()
                .and_then(|r| {
                    r.features
                        .get("village_code")
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let impact = impact.get_or_insert_with(|| {
                Impact::between(
                    (
                        &config.institution,
                        &config.product,
                        &format!(
                            "shadow decisions recorded from {} to {}",
                            config.since,
                            config.until.as_deref().unwrap_or("now")
                        ),
                    ),
                    &baseline,
                    &candidate,
                )
            });
            impact.add((&baseline, &candidate), &village, &b, &c);
            row += 1;
            if let Some(w) = households.as_mut() {
                let mut record = vec![row.to_string(), champion.request_id.clone(), village];
                record.extend(side_cells(&b));
                record.extend(side_cells(&c));
                w.write_record(&record)
                    .map_err(failed("cannot write the households file"))?;
            }
        }
    }
    if let Some(mut w) = households {
        w.flush()
            .map_err(failed("cannot write the households file"))?;
    }
    Ok(Compared {
        impact,
        other_versions,
        pruned,
    })
}
