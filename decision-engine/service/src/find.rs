//! Finding a stored decision, online or batch, in one place: an online
//! decision is a row of the store; a batch decision's id names its batch
//! and row (`dec_<batch>_<row>`), and the batch record names the trace file
//! and its frame index. GetDecision, Replay and `decision-engine explain`
//! all come here.

use std::path::PathBuf;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use decision_core::{Decision, Options, Policy, Request, VersionRef, render};
use decision_store::traces::{CompactRow, JSON_LINES_FORMAT, TraceEntry, TraceLine, read_row};
use decision_store::{BatchRecord, BatchStatus, DECISION_FORMAT, DecisionRecord, Store};

use crate::ServiceError;
use crate::policy::{Policies, compile_stored};

/// The decision id of row `row` of batch `bat_<batch_hex>`.
pub fn batch_decision_id(batch_hex: &str, row: u64) -> String {
    format!("dec_{batch_hex}_{row}")
}

/// The stored decision `decision_id`, online or batch. A failure to read
/// the store is unavailable, with `consequence` (what the caller may do)
/// after the store's own message when it is not empty.
pub async fn find_decision<S: Store>(
    store: &S,
    decision_id: &str,
    consequence: &str,
) -> Result<DecisionRecord, ServiceError> {
    if decision_id.trim().is_empty() {
        return Err(ServiceError::field("decision_id", "must not be empty"));
    }
    let online = store.get(decision_id).await.map_err(|e| {
        ServiceError::Unavailable(if consequence.is_empty() {
            e.to_string()
        } else {
            format!("{e}; {consequence}")
        })
    })?;
    let found = match online {
        // A challenger's shadow decision is never shown as a decision:
        // `challenger report` reads it beside the champion's.
        Some(r) if r.stage.as_deref() == Some(decision_store::SHADOW_STAGE) => None,
        Some(r) => Some(r),
        None => find_batch_decision(store, decision_id).await?,
    };
    found.ok_or_else(|| ServiceError::NotFound(format!("no decision with id `{decision_id}`")))
}

/// Where the policy a stored record names is compiled: a server's
/// [`Policies`] (its cache), or [`StoredPolicies`] (the store's documents,
/// for a command without a server).
pub trait PolicySource: Sync {
    /// The policy of exactly `versions`.
    fn policy(
        &self,
        versions: &[VersionRef],
    ) -> impl Future<Output = Result<Arc<Policy>, ServiceError>> + Send;
}

impl<S: Store> PolicySource for Policies<S> {
    fn policy(
        &self,
        versions: &[VersionRef],
    ) -> impl Future<Output = Result<Arc<Policy>, ServiceError>> + Send {
        self.compile_versions(versions)
    }
}

/// Policies compiled from a store's documents, each once for as long as
/// this lives (one command, one report).
pub struct StoredPolicies<'a, S> {
    store: &'a S,
    compiled: std::sync::Mutex<HashMap<Vec<String>, Arc<Policy>>>,
}

impl<'a, S: Store> StoredPolicies<'a, S> {
    pub fn new(store: &'a S) -> Self {
        StoredPolicies {
            store,
            compiled: Default::default(),
        }
    }
}

impl<S: Store> PolicySource for StoredPolicies<'_, S> {
    async fn policy(&self, versions: &[VersionRef]) -> Result<Arc<Policy>, ServiceError> {
        let key: Vec<String> = versions.iter().map(|v| v.hash.clone()).collect();
        let known = self.compiled.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some(policy) = known {
            return Ok(policy);
        }
        let policy = Arc::new(compile_stored(self.store, versions).await?);
        if let Ok(mut c) = self.compiled.lock() {
            c.insert(key, policy.clone());
        }
        Ok(policy)
    }
}

/// The engine's decision a record holds, with its trace: format 1 is its
/// JSON; format 2 is rendered from the compact record, the stored request
/// and the policy the record names, every recorded fact checked against
/// the others.
pub async fn parse_decision(
    r: &DecisionRecord,
    policies: &impl PolicySource,
) -> Result<Decision, ServiceError> {
    match r.format {
        1 => serde_json::from_str(&r.decision_json).map_err(|e| {
            ServiceError::Corrupt(format!(
                "stored decision {} does not parse: {e}",
                r.decision_id
            ))
        }),
        2 => {
            let policy = policies.policy(&r.versions).await?;
            let request: Request = serde_json::from_str(&r.request_json).map_err(|e| {
                ServiceError::Corrupt(format!(
                    "stored request of {} does not parse: {e}",
                    r.decision_id
                ))
            })?;
            let corrupt = |e: String| {
                ServiceError::Corrupt(format!("stored decision {}: {e}", r.decision_id))
            };
            let record = decision_store::compact::decode(&r.record, policy.rules.len())
                .map_err(|e| corrupt(e.to_string()))?;
            let mut decision = render(&policy, &request, &record, Options { trace: true })
                .map_err(|e| corrupt(e.to_string()))?;
            // The id names the record (a batch decision's is
            // `dec_<batch>_<row>`).
            decision.decision_id.clone_from(&r.decision_id);
            Ok(decision)
        }
        other => Err(ServiceError::Precondition(format!(
            "decision {} has record format {other}; this release reads formats 1 and {DECISION_FORMAT}: upgrade it",
            r.decision_id
        ))),
    }
}

/// A batch decision by its id, from its run's trace file.
async fn find_batch_decision<S: Store>(
    store: &S,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, ServiceError> {
    let Some((batch_hex, row)) = decision_id
        .strip_prefix("dec_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(b, r)| Some((b, r.parse::<u64>().ok()?)))
        // Only the id this engine writes (no `007`, no `+7`).
        .filter(|&(b, r)| batch_decision_id(b, r) == decision_id)
    else {
        return Ok(None);
    };
    let batch_id = format!("bat_{batch_hex}");
    let Some(batch) = store
        .get_batch(&batch_id)
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?
    else {
        return Ok(None);
    };
    if batch.status != BatchStatus::Finished {
        return Err(ServiceError::Precondition(format!(
            "batch {batch_id} did not finish ({}{}); its traces are incomplete",
            batch.status,
            if batch.failure.is_empty() {
                String::new()
            } else {
                format!(": {}", batch.failure)
            }
        )));
    }
    if row == 0 || row > batch.rows {
        return Ok(None);
    }
    let (path, first_rows, offsets) = (
        PathBuf::from(&batch.trace_file),
        batch.frame_first_rows.clone(),
        batch.frame_offsets.clone(),
    );
    // File reading and decompression off the async runtime.
    let entry = tokio::task::spawn_blocking(move || read_row(&path, &first_rows, &offsets, row))
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?
        .map_err(ServiceError::Corrupt)?;
    let record = match entry {
        TraceEntry::Json(line) => json_line_record(&batch, *line, decision_id)?,
        TraceEntry::Compact(row) => compact_row_record(&batch, row, decision_id)?,
    };
    Ok(record.map(|mut r| {
        r.batch_id = Some(batch_id);
        r.recorded_at.clone_from(&batch.finished_at);
        r
    }))
}

/// A batch decision of trace format 2: the compact record, rendered under
/// the batch's versions like an online one.
fn compact_row_record(
    batch: &BatchRecord,
    row: CompactRow,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, ServiceError> {
    let request = row.request(&batch.institution, &batch.product);
    let (Some(record), Some(request)) = (row.record, request) else {
        // A refused row has no decision.
        return Ok(None);
    };
    let outcome = decision_store::compact::outcome(&record).map_err(|e| {
        ServiceError::Corrupt(format!("row {} of {}: {e}", row.row, batch.trace_file))
    })?;
    Ok(Some(DecisionRecord {
        decision_id: decision_id.to_string(),
        institution: request.institution.clone(),
        product: request.product.clone(),
        request_id: request.request_id.clone(),
        request_hash: String::new(),
        request_json: to_json(&request)?,
        outcome: outcome.as_str().to_string(),
        decision_json: String::new(),
        batch_id: None,
        recorded_at: String::new(),
        evaluation_micros: 0,
        format: DECISION_FORMAT,
        record,
        versions: batch.versions.clone(),
        precredit: None,
        application_id: None,
        stage: None,
        routed_level: None,
    }))
}

/// A batch decision of trace format 1: the decision JSON of its line.
fn json_line_record(
    batch: &BatchRecord,
    line: TraceLine,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, ServiceError> {
    let row = line.row;
    if line.format > JSON_LINES_FORMAT {
        return Err(ServiceError::Precondition(format!(
            "row {row} of {} has trace format {} in a JSON line; this release reads JSON lines of format {JSON_LINES_FORMAT}: upgrade it",
            batch.trace_file, line.format
        )));
    }
    let Some(decision) = line.decision else {
        return Ok(None);
    };
    if decision.decision_id != decision_id {
        return Err(ServiceError::Corrupt(format!(
            "the trace file {} holds {} at row {row}, not {decision_id}",
            batch.trace_file, decision.decision_id
        )));
    }
    let request = line.request.ok_or_else(|| {
        ServiceError::Corrupt(format!("row {row} of {} has no request", batch.trace_file))
    })?;
    Ok(Some(DecisionRecord {
        decision_id: decision.decision_id.clone(),
        institution: decision.institution.clone(),
        product: decision.product.clone(),
        request_id: request.request_id.clone(),
        request_hash: String::new(),
        request_json: to_json(&request)?,
        outcome: decision.decision.as_str().to_string(),
        decision_json: to_json(&decision)?,
        batch_id: None,
        recorded_at: String::new(),
        evaluation_micros: 0,
        // A format-1 trace line holds the decision JSON (record format 1).
        format: 1,
        record: Vec::new(),
        versions: Vec::new(),
        precredit: None,
        application_id: None,
        stage: None,
        routed_level: None,
    }))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(|e| ServiceError::Corrupt(e.to_string()))
}
