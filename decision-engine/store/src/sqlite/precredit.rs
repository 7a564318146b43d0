//! The pre-credit register's tables in SQLite: rows to records and back,
//! and the statements the store's methods run.

use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rust_decimal::Decimal;

use crate::{
    AuditEntry, HouseholdIdentity, OpWritten, PreCreditEntry, PreCreditOp, PreCreditQuery,
    PreCreditStatus, PublicationRecord, PublicationStatus, StoreError,
};

pub(super) const COLUMNS: &str = "entry_id, format, publication_id, institution, product, household_id, id_hash, village, branch,
     outcome, grade, score, limit_amount, annual_rate, valid_until, decision_id, status, signed_limit, contract_id,
     signed_at, drawn_total, repaid_total, outstanding, revoked_reason, review_flag, superseded_by, revision,
     published_at, updated_at";

fn bad(column: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

fn decimal(row: &rusqlite::Row, column: usize) -> rusqlite::Result<Decimal> {
    let text: String = row.get(column)?;
    Decimal::from_str(&text).map_err(|e| bad(column, format!("`{text}` is no decimal: {e}")))
}

fn opt_decimal(row: &rusqlite::Row, column: usize) -> rusqlite::Result<Option<Decimal>> {
    let text: Option<String> = row.get(column)?;
    text.map(|t| {
        Decimal::from_str(&t).map_err(|e| bad(column, format!("`{t}` is no decimal: {e}")))
    })
    .transpose()
}

pub(super) fn entry_row(row: &rusqlite::Row) -> rusqlite::Result<PreCreditEntry> {
    let status: String = row.get(16)?;
    Ok(PreCreditEntry {
        entry_id: row.get(0)?,
        format: row.get(1)?,
        publication_id: row.get(2)?,
        institution: row.get(3)?,
        product: row.get(4)?,
        household_id: row.get(5)?,
        id_hash: row.get(6)?,
        village: row.get(7)?,
        branch: row.get(8)?,
        outcome: row.get(9)?,
        grade: row.get(10)?,
        score: decimal(row, 11)?,
        limit: decimal(row, 12)?,
        annual_rate: opt_decimal(row, 13)?,
        valid_until: row.get(14)?,
        decision_id: row.get(15)?,
        status: PreCreditStatus::parse(&status)
            .ok_or_else(|| bad(16, format!("unknown pre-credit status `{status}`")))?,
        signed_limit: opt_decimal(row, 17)?,
        contract_id: row.get(18)?,
        signed_at: row.get(19)?,
        drawn_total: decimal(row, 20)?,
        repaid_total: decimal(row, 21)?,
        outstanding: decimal(row, 22)?,
        revoked_reason: row.get(23)?,
        review_flag: row.get(24)?,
        superseded_by: row.get(25)?,
        revision: row.get::<_, i64>(26)? as u64,
        published_at: row.get(27)?,
        updated_at: row.get(28)?,
    })
}

pub(super) fn insert_entries(
    tx: &Transaction,
    entries: &[PreCreditEntry],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO precredits ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)"
    ))?;
    for e in entries {
        insert
            .execute(params![
                e.entry_id,
                e.format,
                e.publication_id,
                e.institution,
                e.product,
                e.household_id,
                e.id_hash,
                e.village,
                e.branch,
                e.outcome,
                e.grade,
                e.score.to_string(),
                e.limit.to_string(),
                e.annual_rate.map(|r| r.to_string()),
                e.valid_until,
                e.decision_id,
                e.status.as_str(),
                e.signed_limit.map(|l| l.to_string()),
                e.contract_id,
                e.signed_at,
                e.drawn_total.to_string(),
                e.repaid_total.to_string(),
                e.outstanding.to_string(),
                e.revoked_reason,
                e.review_flag,
                e.superseded_by,
                e.revision as i64,
                e.published_at,
                e.updated_at,
            ])
            .map_err(|err| match err {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Duplicate(format!(
                        "household {} appears more than once in publication {} (or entry {} exists)",
                        e.household_id, e.publication_id, e.entry_id
                    ))
                }
                other => other.into(),
            })?;
    }
    Ok(())
}

pub(super) fn put_publication(tx: &Transaction, p: &PublicationRecord) -> Result<(), StoreError> {
    let json = serde_json::to_string(p)
        .map_err(|e| StoreError::Database(format!("cannot encode a publication: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO precredit_publications (publication_id, status, requested_at, record_json) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (publication_id) DO UPDATE SET status = excluded.status, record_json = excluded.record_json",
    )?
    .execute(params![p.publication_id, p.status.as_str(), p.requested_at, json])?;
    Ok(())
}

pub(super) fn publication(
    conn: &Connection,
    publication_id: &str,
) -> Result<Option<PublicationRecord>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT record_json FROM precredit_publications WHERE publication_id = ?1")?
        .query_row([publication_id], |r| r.get(0))
        .optional()?;
    json.map(|j| parse_publication(publication_id, &j))
        .transpose()
}

fn parse_publication(id: &str, json: &str) -> Result<PublicationRecord, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Database(format!("publication {id} does not parse: {e}")))
}

pub(super) fn publications(conn: &Connection) -> Result<Vec<PublicationRecord>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT publication_id, record_json FROM precredit_publications ORDER BY requested_at, publication_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        out.push(parse_publication(&id, &json)?);
    }
    Ok(out)
}

pub(super) fn approve(
    tx: &Transaction,
    publication_id: &str,
    approved_by: &str,
    approved_at: &str,
) -> Result<Option<PublicationRecord>, StoreError> {
    let Some(mut p) = publication(tx, publication_id)? else {
        return Ok(None);
    };
    if p.status != PublicationStatus::Pending {
        return Ok(None);
    }
    // Checked again inside the write: a later publication approved in the
    // meantime must not see its offers superseded by this older one.
    if publications(tx)?.iter().any(|o| {
        o.status == PublicationStatus::Approved
            && o.institution == p.institution
            && o.product == p.product
            && o.requested_at > p.requested_at
    }) {
        return Ok(None);
    }
    let superseded = tx.execute(
        "UPDATE precredits SET status = 'superseded',
             superseded_by = (SELECT n.entry_id FROM precredits n
                              WHERE n.publication_id = ?1 AND n.household_id = precredits.household_id),
             revision = revision + 1, updated_at = ?2
         WHERE institution = ?3 AND product = ?4 AND publication_id != ?1
           AND status IN ('offered', 'referred', 'declined')
           AND household_id IN (SELECT household_id FROM precredits WHERE publication_id = ?1)",
        params![publication_id, approved_at, p.institution, p.product],
    )?;
    tx.execute(
        "UPDATE precredits SET
             status = CASE outcome WHEN 'APPROVE' THEN 'offered' WHEN 'REFER' THEN 'referred' ELSE 'declined' END,
             revision = revision + 1, updated_at = ?2
         WHERE publication_id = ?1 AND status = 'pending'",
        params![publication_id, approved_at],
    )?;
    p.status = PublicationStatus::Approved;
    p.approved_by = approved_by.to_string();
    p.approved_at = approved_at.to_string();
    p.superseded = superseded as u64;
    put_publication(tx, &p)?;
    Ok(Some(p))
}

pub(super) fn entry(
    conn: &Connection,
    entry_id: &str,
) -> Result<Option<PreCreditEntry>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM precredits WHERE entry_id = ?1"
        ))?
        .query_row([entry_id], entry_row)
        .optional()?)
}

/// Live entries where `column` (a column of ours, never input) is `value`.
pub(super) fn entries_by(
    conn: &Connection,
    institution: &str,
    product: &str,
    column: &str,
    value: &str,
) -> Result<Vec<PreCreditEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM precredits
         WHERE institution = ?1 AND product = ?2 AND {column} = ?3 AND status != 'pending'
         ORDER BY published_at DESC, entry_id DESC"
    ))?;
    let rows = stmt.query_map(params![institution, product, value], entry_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn list(
    conn: &Connection,
    q: &PreCreditQuery,
) -> Result<Vec<PreCreditEntry>, StoreError> {
    // Only the conditions asked for, so the page starts with a seek in
    // (institution, entry_id) rather than a scan from the first entry. The
    // text is made of our column names only; every value is bound.
    let mut sql =
        format!("SELECT {COLUMNS} FROM precredits WHERE institution = ?1 AND status != 'pending'");
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&q.institution];
    let status = q.status.map(|s| s.as_str());
    for (column, op, value) in [
        (
            "product",
            "=",
            q.product.as_ref().map(|v| v as &dyn rusqlite::ToSql),
        ),
        (
            "status",
            "=",
            status.as_ref().map(|v| v as &dyn rusqlite::ToSql),
        ),
        (
            "village",
            "=",
            q.village.as_ref().map(|v| v as &dyn rusqlite::ToSql),
        ),
        (
            "entry_id",
            ">",
            q.after.as_ref().map(|v| v as &dyn rusqlite::ToSql),
        ),
    ] {
        if let Some(v) = value {
            values.push(v);
            sql.push_str(&format!(" AND {column} {op} ?{}", values.len()));
        }
    }
    let limit = q.limit as i64;
    values.push(&limit);
    sql.push_str(&format!(" ORDER BY entry_id LIMIT ?{}", values.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(values.as_slice(), entry_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn op(
    conn: &Connection,
    institution: &str,
    op_id: &str,
) -> Result<Option<PreCreditOp>, StoreError> {
    let json: Option<String> = conn
        .prepare_cached("SELECT op_json FROM precredit_ops WHERE institution = ?1 AND op_id = ?2")?
        .query_row([institution, op_id], |r| r.get(0))
        .optional()?;
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| StoreError::Database(format!("operation {op_id} does not parse: {e}")))
    })
    .transpose()
}

pub(super) fn write_op(
    tx: &Transaction,
    op: &PreCreditOp,
    expected_revision: u64,
    audit: &AuditEntry,
) -> Result<OpWritten, StoreError> {
    if let Some(existing) = self::op(tx, &op.institution, &op.op_id)? {
        return Ok(OpWritten::Existing(Box::new(existing)));
    }
    let e = &op.entry_after;
    let changed = tx
        .prepare_cached(
            "UPDATE precredits SET status = ?2, signed_limit = ?3, contract_id = ?4, signed_at = ?5,
                 drawn_total = ?6, repaid_total = ?7, outstanding = ?8, revoked_reason = ?9,
                 review_flag = ?10, revision = ?11, updated_at = ?12
             WHERE entry_id = ?1 AND revision = ?13",
        )?
        .execute(params![
            e.entry_id,
            e.status.as_str(),
            e.signed_limit.map(|l| l.to_string()),
            e.contract_id,
            e.signed_at,
            e.drawn_total.to_string(),
            e.repaid_total.to_string(),
            e.outstanding.to_string(),
            e.revoked_reason,
            e.review_flag,
            e.revision as i64,
            e.updated_at,
            expected_revision as i64,
        ])?;
    if changed == 0 {
        return Ok(OpWritten::Stale);
    }
    let json = serde_json::to_string(op)
        .map_err(|err| StoreError::Database(format!("cannot encode an operation: {err}")))?;
    tx.prepare_cached(
        "INSERT INTO precredit_ops (institution, op_id, entry_id, at, op_json) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![op.institution, op.op_id, op.entry_id, op.at, json])?;
    super::insert_audit(tx, audit)?;
    Ok(OpWritten::Done)
}

pub(super) fn identify(
    tx: &Transaction,
    publication_id: &str,
    households: &[HouseholdIdentity],
) -> Result<u64, StoreError> {
    let mut update = tx.prepare_cached(
        "UPDATE precredits SET id_hash = ?3, branch = ?4
         WHERE publication_id = ?1 AND household_id = ?2 AND status = 'pending'",
    )?;
    let mut identified = 0;
    for h in households {
        let matched =
            update.execute(params![publication_id, h.household_id, h.id_hash, h.branch])?;
        if matched > 0 && h.id_hash.is_some() {
            identified += 1;
        }
    }
    Ok(identified)
}
