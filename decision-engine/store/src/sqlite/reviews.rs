//! Review cases and steps in SQLite: rows to records and back, and the
//! statements the store's review methods run.

use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;

use crate::{
    AuditEntry, CaseStatus, DecisionRecord, ReviewCase, ReviewStep, ReviewWritten, StoreError,
};

const CASE_COLUMNS: &str = "decision_id, institution, product, application_id, system_outcome, routed_level,
     waiting_level, status, final_outcome, final_limit, final_rate, steps, revision, created_at, updated_at,
     superseded_by";

fn bad(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

fn opt_decimal(row: &rusqlite::Row, column: usize) -> rusqlite::Result<Option<Decimal>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| {
        Decimal::from_str(&t).map_err(|e| bad(column, format!("`{t}` is no decimal: {e}")))
    })
    .transpose()
}

fn case_row(row: &rusqlite::Row) -> rusqlite::Result<ReviewCase> {
    let status: String = row.get(7)?;
    Ok(ReviewCase {
        decision_id: row.get(0)?,
        institution: row.get(1)?,
        product: row.get(2)?,
        application_id: row.get(3)?,
        system_outcome: row.get(4)?,
        routed_level: row.get(5)?,
        waiting_level: row.get(6)?,
        status: CaseStatus::parse(&status)
            .ok_or_else(|| bad(7, format!("unknown review case status `{status}`")))?,
        final_outcome: row.get(8)?,
        final_limit: opt_decimal(row, 9)?,
        final_rate: opt_decimal(row, 10)?,
        steps: row.get(11)?,
        revision: row.get::<_, i64>(12)? as u64,
        created_at: row.get(13)?,
        updated_at: row.get(14)?,
        superseded_by: row.get(15)?,
    })
}

fn step_row(row: &rusqlite::Row) -> rusqlite::Result<ReviewStep> {
    let json: String = row.get(0)?;
    serde_json::from_str(&json)
        .map_err(|e| bad(0, format!("a stored review step does not read: {e}")))
}

/// After a new decision is inserted: its case when it was routed, and the
/// open cases of earlier decisions of its application superseded.
pub(super) fn on_new_decision(tx: &Transaction, r: &DecisionRecord) -> Result<(), StoreError> {
    if let Some(level) = &r.routed_level {
        tx.prepare_cached(&format!(
            "INSERT INTO review_cases ({CASE_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'pending', NULL, NULL, NULL, 0, 0, ?7, ?7, NULL)
             ON CONFLICT (decision_id) DO NOTHING"
        ))?
        .execute(params![
            r.decision_id,
            r.institution,
            r.product,
            r.application_id,
            r.outcome,
            level,
            r.recorded_at,
        ])?;
    }
    if let Some(app) = &r.application_id {
        tx.prepare_cached(
            "UPDATE review_cases SET status = 'superseded', waiting_level = NULL, superseded_by = ?3,
                 revision = revision + 1, updated_at = ?4
             WHERE institution = ?1 AND application_id = ?2 AND decision_id != ?3
               AND status IN ('pending', 'awaiting_confirmation')",
        )?
        .execute(params![r.institution, app, r.decision_id, r.recorded_at])?;
    }
    Ok(())
}

pub(super) fn case(c: &Connection, decision_id: &str) -> Result<Option<ReviewCase>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {CASE_COLUMNS} FROM review_cases WHERE decision_id = ?1"
    ))?
    .query_row([decision_id], case_row)
    .optional()?)
}

pub(super) fn steps(c: &Connection, decision_id: &str) -> Result<Vec<ReviewStep>, StoreError> {
    let mut stmt =
        c.prepare_cached("SELECT review_json FROM reviews WHERE decision_id = ?1 ORDER BY step")?;
    let rows = stmt.query_map([decision_id], step_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn step(
    c: &Connection,
    institution: &str,
    review_id: &str,
) -> Result<Option<ReviewStep>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT review_json FROM reviews WHERE institution = ?1 AND review_id = ?2",
    )?
    .query_row([institution, review_id], step_row)
    .optional()?)
}

/// Open cases of `institutions` (all when empty) waiting for `level` (any
/// when `None`), oldest first.
pub(super) fn pending(
    c: &Connection,
    institutions: &[String],
    level: Option<&str>,
    limit: usize,
) -> Result<Vec<ReviewCase>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CASE_COLUMNS} FROM review_cases
         WHERE status IN ('pending', 'awaiting_confirmation') AND (?1 IS NULL OR waiting_level = ?1)
         ORDER BY created_at, decision_id"
    ))?;
    let rows = stmt.query_map(params![level], case_row)?;
    let mut out = Vec::new();
    for r in rows {
        let r = r?;
        if institutions.is_empty() || institutions.contains(&r.institution) {
            out.push(r);
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Every case and every step of `institutions` (all when empty).
pub(super) fn all(
    c: &Connection,
    institutions: &[String],
) -> Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError> {
    let mine = |i: &str| institutions.is_empty() || institutions.iter().any(|x| x == i);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {CASE_COLUMNS} FROM review_cases ORDER BY created_at, decision_id"
    ))?;
    let cases = stmt
        .query_map([], case_row)?
        .filter(|r| r.as_ref().map_or(true, |c| mine(&c.institution)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut stmt = c.prepare_cached("SELECT review_json FROM reviews ORDER BY seq")?;
    let steps = stmt
        .query_map([], step_row)?
        .filter(|r| r.as_ref().map_or(true, |s| mine(&s.institution)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cases, steps))
}

/// The decisions of an application, oldest first (ids only).
pub(super) fn application(
    c: &Connection,
    institution: &str,
    application_id: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT decision_id FROM decisions WHERE institution = ?1 AND application_id = ?2
         ORDER BY recorded_at, rowid",
    )?;
    let rows = stmt.query_map([institution, application_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The step, its case as it leaves it and the audit entry, in one
/// transaction, only over `expected_revision` (`None`: the case must not
/// exist yet) and only for a new review id.
pub(super) fn write(
    tx: &Transaction,
    step: &ReviewStep,
    case: &ReviewCase,
    expected_revision: Option<u64>,
    audit: &AuditEntry,
) -> Result<ReviewWritten, StoreError> {
    if let Some(existing) = self::step(tx, &step.institution, &step.review_id)? {
        return Ok(ReviewWritten::Existing(Box::new(existing)));
    }
    let changed = match expected_revision {
        None => tx
            .prepare_cached(&format!(
                "INSERT INTO review_cases ({CASE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (decision_id) DO NOTHING"
            ))?
            .execute(params![
                case.decision_id,
                case.institution,
                case.product,
                case.application_id,
                case.system_outcome,
                case.routed_level,
                case.waiting_level,
                case.status.as_str(),
                case.final_outcome,
                case.final_limit.map(|d| d.to_string()),
                case.final_rate.map(|d| d.to_string()),
                case.steps,
                case.revision as i64,
                case.created_at,
                case.updated_at,
                case.superseded_by,
            ])?,
        Some(revision) => {
            let mut stmt = tx.prepare_cached(
                "UPDATE review_cases SET waiting_level = ?7, status = ?8, final_outcome = ?9,
                     final_limit = ?10, final_rate = ?11, steps = ?12, revision = ?13, updated_at = ?15
                 WHERE decision_id = ?1 AND revision = ?17",
            )?;
            // Bound by number: the unused ones (the case's fixed columns)
            // are ignored.
            stmt.execute(params![
                case.decision_id,
                case.institution,
                case.product,
                case.application_id,
                case.system_outcome,
                case.routed_level,
                case.waiting_level,
                case.status.as_str(),
                case.final_outcome,
                case.final_limit.map(|d| d.to_string()),
                case.final_rate.map(|d| d.to_string()),
                case.steps,
                case.revision as i64,
                case.created_at,
                case.updated_at,
                case.superseded_by,
                revision as i64,
            ])?
        }
    };
    if changed == 0 {
        return Ok(ReviewWritten::Stale);
    }
    let json = serde_json::to_string(step)
        .map_err(|e| StoreError::Database(format!("cannot encode a review step: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO reviews (review_id, institution, decision_id, step, at, review_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        step.review_id,
        step.institution,
        step.decision_id,
        step.step,
        step.at,
        json
    ])?;
    super::insert_audit(tx, audit)?;
    Ok(ReviewWritten::Written)
}
