//! Finding a batch decision again: its id names the batch and the row; the
//! batch record names the trace file and its frame index.

use std::path::PathBuf;

use crate::store::{DecisionRecord, Store};

use super::{row, traces};

/// Finds a batch decision by its id (`dec_<batch>_<row>`): the batch record
/// names the trace file and its frame index.
pub async fn find_decision<S: Store>(
    store: &S,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, LookupError> {
    let Some((batch_hex, row)) = decision_id
        .strip_prefix("dec_")
        .and_then(|rest| rest.split_once('_'))
        .and_then(|(b, r)| Some((b, r.parse::<u64>().ok()?)))
        // Only the id this engine writes (no `007`, no `+7`).
        .filter(|&(b, r)| row::batch_decision_id(b, r) == decision_id)
    else {
        return Ok(None);
    };
    let batch_id = format!("bat_{batch_hex}");
    let Some(batch) = store
        .get_batch(&batch_id)
        .await
        .map_err(|e| LookupError::Unavailable(e.to_string()))?
    else {
        return Ok(None);
    };
    if batch.status != "finished" {
        return Err(LookupError::NotFinished(format!(
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
    let line =
        tokio::task::spawn_blocking(move || traces::read_line(&path, &first_rows, &offsets, row))
            .await
            .map_err(|e| LookupError::Unavailable(e.to_string()))?
            .map_err(LookupError::Damaged)?;
    let Some(decision) = line.decision else {
        return Ok(None);
    };
    if decision.decision_id != decision_id {
        return Err(LookupError::Damaged(format!(
            "the trace file {} holds {} at row {row}, not {decision_id}",
            batch.trace_file, decision.decision_id
        )));
    }
    let request = line.request.ok_or_else(|| {
        LookupError::Damaged(format!("row {row} of {} has no request", batch.trace_file))
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
        batch_id: Some(batch_id),
        recorded_at: batch.finished_at,
        evaluation_micros: 0,
    }))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, LookupError> {
    serde_json::to_string(value).map_err(|e| LookupError::Damaged(e.to_string()))
}

/// Why a batch decision could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The batch has not finished (or failed): its traces are incomplete.
    #[error("{0}")]
    NotFinished(String),
    /// The trace file is missing, unreadable or does not hold the decision.
    #[error("{0}")]
    Damaged(String),
    /// The store could not be read.
    #[error("{0}")]
    Unavailable(String),
}
