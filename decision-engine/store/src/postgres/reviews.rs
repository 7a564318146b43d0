//! Review cases and steps in PostgreSQL: rows to records and back, and the
//! statements the store's review methods run.

use deadpool_postgres::{Client, GenericClient};

use super::{insert_audit, is_unique_violation, opt_decimal, pg, to_i32, to_i64, to_u32, to_u64};
use crate::{
    AuditEntry, CaseStatus, DecisionRecord, ReviewCase, ReviewStep, ReviewWritten, StoreError,
};

const CASE_COLUMNS: &str = "decision_id, institution, product, application_id, system_outcome, routed_level,
     waiting_level, status, final_outcome, final_limit::text, final_rate::text, steps, revision, created_at,
     updated_at, superseded_by";

const CASE_INSERT: &str = "decision_id, institution, product, application_id, system_outcome, routed_level,
     waiting_level, status, final_outcome, final_limit, final_rate, steps, revision, created_at, updated_at,
     superseded_by";

fn case_row(row: &tokio_postgres::Row) -> Result<ReviewCase, StoreError> {
    let status: String = row.get(7);
    Ok(ReviewCase {
        decision_id: row.get(0),
        institution: row.get(1),
        product: row.get(2),
        application_id: row.get(3),
        system_outcome: row.get(4),
        routed_level: row.get(5),
        waiting_level: row.get(6),
        status: CaseStatus::parse(&status).ok_or_else(|| {
            StoreError::Database(format!("unknown review case status `{status}`"))
        })?,
        final_outcome: row.get(8),
        final_limit: opt_decimal(row.get(9))?,
        final_rate: opt_decimal(row.get(10))?,
        steps: to_u32(row.get(11), "review case steps")?,
        revision: to_u64(row.get(12), "review case revision")?,
        created_at: row.get(13),
        updated_at: row.get(14),
        superseded_by: row.get(15),
    })
}

fn step_row(row: &tokio_postgres::Row) -> Result<ReviewStep, StoreError> {
    serde_json::from_str(row.get(0))
        .map_err(|e| StoreError::Database(format!("a stored review step does not read: {e}")))
}

/// After a new decision is inserted: its case when it was routed, and the
/// open cases of earlier decisions of its application superseded.
pub(super) async fn on_new_decision(
    tx: &deadpool_postgres::Transaction<'_>,
    r: &DecisionRecord,
) -> Result<(), StoreError> {
    if let Some(level) = &r.routed_level {
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO review_cases ({CASE_INSERT})
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 'pending', NULL, NULL, NULL, 0, 0, $7, $7, NULL)
                 ON CONFLICT (decision_id) DO NOTHING"
            ))
            .await
            .map_err(pg)?;
        tx.execute(
            &stmt,
            &[
                &r.decision_id,
                &r.institution,
                &r.product,
                &r.application_id,
                &r.outcome,
                level,
                &r.recorded_at,
            ],
        )
        .await
        .map_err(pg)?;
    }
    if let Some(app) = &r.application_id {
        let stmt = tx
            .prepare_cached(
                "UPDATE review_cases SET status = 'superseded', waiting_level = NULL, superseded_by = $3,
                     revision = revision + 1, updated_at = $4
                 WHERE institution = $1 AND application_id = $2 AND decision_id != $3
                   AND status IN ('pending', 'awaiting_confirmation')",
            )
            .await
            .map_err(pg)?;
        tx.execute(
            &stmt,
            &[&r.institution, app, &r.decision_id, &r.recorded_at],
        )
        .await
        .map_err(pg)?;
    }
    Ok(())
}

pub(super) async fn case(
    c: &impl GenericClient,
    decision_id: &str,
) -> Result<Option<ReviewCase>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM review_cases WHERE decision_id = $1"
        ))
        .await
        .map_err(pg)?;
    c.query_opt(&stmt, &[&decision_id])
        .await
        .map_err(pg)?
        .map(|row| case_row(&row))
        .transpose()
}

pub(super) async fn steps(
    c: &impl GenericClient,
    decision_id: &str,
) -> Result<Vec<ReviewStep>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT review_json FROM reviews WHERE decision_id = $1 ORDER BY step")
        .await
        .map_err(pg)?;
    c.query(&stmt, &[&decision_id])
        .await
        .map_err(pg)?
        .iter()
        .map(step_row)
        .collect()
}

pub(super) async fn step(
    c: &impl GenericClient,
    institution: &str,
    review_id: &str,
) -> Result<Option<ReviewStep>, StoreError> {
    let stmt = c
        .prepare_cached("SELECT review_json FROM reviews WHERE institution = $1 AND review_id = $2")
        .await
        .map_err(pg)?;
    c.query_opt(&stmt, &[&institution, &review_id])
        .await
        .map_err(pg)?
        .map(|row| step_row(&row))
        .transpose()
}

/// Open cases of `institutions` (all when empty) waiting for `level` (any
/// when `None`), oldest first.
pub(super) async fn pending(
    c: &impl GenericClient,
    institutions: &[String],
    level: Option<&str>,
    limit: usize,
) -> Result<Vec<ReviewCase>, StoreError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM review_cases
             WHERE status IN ('pending', 'awaiting_confirmation')
               AND ($1::text IS NULL OR waiting_level = $1)
               AND (cardinality($2::text[]) = 0 OR institution = ANY($2))
             ORDER BY created_at, decision_id
             LIMIT $3"
        ))
        .await
        .map_err(pg)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query(&stmt, &[&level, &institutions, &limit])
        .await
        .map_err(pg)?
        .iter()
        .map(case_row)
        .collect()
}

/// Every case and every step of `institutions` (all when empty).
pub(super) async fn all(
    c: &impl GenericClient,
    institutions: &[String],
) -> Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError> {
    let cases = c
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM review_cases
             WHERE cardinality($1::text[]) = 0 OR institution = ANY($1)
             ORDER BY created_at, decision_id"
        ))
        .await
        .map_err(pg)?;
    let cases = c
        .query(&cases, &[&institutions])
        .await
        .map_err(pg)?
        .iter()
        .map(case_row)
        .collect::<Result<Vec<_>, _>>()?;
    let steps = c
        .prepare_cached(
            "SELECT review_json FROM reviews
             WHERE cardinality($1::text[]) = 0 OR institution = ANY($1)
             ORDER BY seq",
        )
        .await
        .map_err(pg)?;
    let steps = c
        .query(&steps, &[&institutions])
        .await
        .map_err(pg)?
        .iter()
        .map(step_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cases, steps))
}

/// The step, its case as it leaves it and the audit entry, in one
/// transaction, only over `expected_revision` (`None`: the case must not
/// exist yet) and only for a new review id.
pub(super) async fn write(
    client: &mut Client,
    step: &ReviewStep,
    case: &ReviewCase,
    expected_revision: Option<u64>,
    audit: &AuditEntry,
) -> Result<ReviewWritten, StoreError> {
    if let Some(existing) = self::step(&*client, &step.institution, &step.review_id).await? {
        return Ok(ReviewWritten::Existing(Box::new(existing)));
    }
    let json = serde_json::to_string(step)
        .map_err(|e| StoreError::Database(format!("cannot encode a review step: {e}")))?;
    let final_limit = case.final_limit.map(|d| d.to_string());
    let final_rate = case.final_rate.map(|d| d.to_string());
    let steps = to_i32(case.steps, "review case steps")?;
    let revision = to_i64(case.revision, "review case revision")?;
    let tx = client.transaction().await.map_err(pg)?;
    let changed = match expected_revision {
        None => {
            let stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO review_cases ({CASE_INSERT})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::numeric,
                             $11::text::numeric, $12, $13, $14, $15, $16)
                     ON CONFLICT (decision_id) DO NOTHING"
                ))
                .await
                .map_err(pg)?;
            tx.execute(
                &stmt,
                &[
                    &case.decision_id,
                    &case.institution,
                    &case.product,
                    &case.application_id,
                    &case.system_outcome,
                    &case.routed_level,
                    &case.waiting_level,
                    &case.status.as_str(),
                    &case.final_outcome,
                    &final_limit,
                    &final_rate,
                    &steps,
                    &revision,
                    &case.created_at,
                    &case.updated_at,
                    &case.superseded_by,
                ],
            )
            .await
            .map_err(pg)?
        }
        Some(expected) => {
            let stmt = tx
                .prepare_cached(
                    "UPDATE review_cases SET waiting_level = $2, status = $3, final_outcome = $4,
                         final_limit = $5::text::numeric, final_rate = $6::text::numeric, steps = $7,
                         revision = $8, updated_at = $9
                     WHERE decision_id = $1 AND revision = $10",
                )
                .await
                .map_err(pg)?;
            tx.execute(
                &stmt,
                &[
                    &case.decision_id,
                    &case.waiting_level,
                    &case.status.as_str(),
                    &case.final_outcome,
                    &final_limit,
                    &final_rate,
                    &steps,
                    &revision,
                    &case.updated_at,
                    &to_i64(expected, "review case revision")?,
                ],
            )
            .await
            .map_err(pg)?
        }
    };
    if changed == 0 {
        return Ok(ReviewWritten::Stale);
    }
    let step_number = to_i32(step.step, "review step")?;
    let written = tx
        .execute(
            "INSERT INTO reviews (review_id, institution, decision_id, step, at, review_json)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &step.review_id,
                &step.institution,
                &step.decision_id,
                &step_number,
                &step.at,
                &json,
            ],
        )
        .await;
    match written {
        Ok(_) => {}
        // The same review id (or step), written through another replica
        // since the check above.
        Err(e) if is_unique_violation(&e) => {
            drop(tx);
            return match self::step(&*client, &step.institution, &step.review_id).await? {
                Some(existing) => Ok(ReviewWritten::Existing(Box::new(existing))),
                None => Ok(ReviewWritten::Stale),
            };
        }
        Err(e) => return Err(pg(e)),
    }
    insert_audit(&tx, audit).await?;
    tx.commit().await.map_err(pg)?;
    Ok(ReviewWritten::Written)
}
