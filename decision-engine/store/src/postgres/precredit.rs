//! The pre-credit register's tables in PostgreSQL: rows to records and
//! back, and the statements the store's methods run. Amounts are `numeric`,
//! bound and read as their exact text.

use std::collections::HashSet;
use std::sync::LazyLock;

use deadpool_postgres::{Client, GenericClient};

use super::{CHUNK, decimal, insert_audit, is_unique_violation, opt_decimal, pg, to_i32, to_i64};
use crate::{
    AuditEntry, HouseholdIdentity, OpWritten, PreCreditEntry, PreCreditOp, PreCreditQuery,
    PreCreditStatus, PublicationRecord, PublicationStatus, StoreError,
};

/// Every column, in the order of [`PreCreditEntry`]'s reading, with its
/// type (`numeric` columns travel as text).
const COLUMNS: [(&str, &str); 29] = [
    ("entry_id", "text"),
    ("format", "int4"),
    ("publication_id", "text"),
    ("institution", "text"),
    ("product", "text"),
    ("household_id", "text"),
    ("id_hash", "text"),
    ("village", "text"),
    ("branch", "text"),
    ("outcome", "text"),
    ("grade", "text"),
    ("score", "numeric"),
    ("limit_amount", "numeric"),
    ("annual_rate", "numeric"),
    ("valid_until", "text"),
    ("decision_id", "text"),
    ("status", "text"),
    ("signed_limit", "numeric"),
    ("contract_id", "text"),
    ("signed_at", "text"),
    ("drawn_total", "numeric"),
    ("repaid_total", "numeric"),
    ("outstanding", "numeric"),
    ("revoked_reason", "text"),
    ("review_flag", "text"),
    ("superseded_by", "text"),
    ("revision", "int8"),
    ("published_at", "text"),
    ("updated_at", "text"),
];

/// The select list: numeric columns as their exact text.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    COLUMNS
        .iter()
        .map(|(c, t)| {
            if *t == "numeric" {
                format!("{c}::text")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
});

/// Many entries in one statement: each column as an array, unnested.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = COLUMNS.iter().map(|(c, _)| *c).collect();
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, t))| {
            let t = if *t == "numeric" { "text" } else { t };
            format!("${}::{t}[]", i + 1)
        })
        .collect();
    let values: Vec<String> = COLUMNS
        .iter()
        .map(|(c, t)| {
            if *t == "numeric" {
                format!("{c}::numeric")
            } else {
                c.to_string()
            }
        })
        .collect();
    format!(
        "INSERT INTO precredits ({}) SELECT {} FROM UNNEST({}) AS u({})",
        names.join(", "),
        values.join(", "),
        arrays.join(", "),
        names.join(", ")
    )
});

fn entry_row(row: &tokio_postgres::Row) -> Result<PreCreditEntry, StoreError> {
    let status: String = row.get(16);
    Ok(PreCreditEntry {
        entry_id: row.get(0),
        format: super::to_u32(row.get(1), "pre-credit entry format")?,
        publication_id: row.get(2),
        institution: row.get(3),
        product: row.get(4),
        household_id: row.get(5),
        id_hash: row.get(6),
        village: row.get(7),
        branch: row.get(8),
        outcome: row.get(9),
        grade: row.get(10),
        score: decimal(row.get(11))?,
        limit: decimal(row.get(12))?,
        annual_rate: opt_decimal(row.get(13))?,
        valid_until: row.get(14),
        decision_id: row.get(15),
        status: PreCreditStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown pre-credit status `{status}`")))?,
        signed_limit: opt_decimal(row.get(17))?,
        contract_id: row.get(18),
        signed_at: row.get(19),
        drawn_total: decimal(row.get(20))?,
        repaid_total: decimal(row.get(21))?,
        outstanding: decimal(row.get(22))?,
        revoked_reason: row.get(23),
        review_flag: row.get(24),
        superseded_by: row.get(25),
        revision: super::to_u64(row.get(26), "pre-credit revision")?,
        published_at: row.get(27),
        updated_at: row.get(28),
    })
}

fn duplicate(e: &PreCreditEntry) -> StoreError {
    StoreError::Duplicate(format!(
        "household {} appears more than once in publication {} (or entry {} exists)",
        e.household_id, e.publication_id, e.entry_id
    ))
}

/// The columns of many entries, as arrays.
#[derive(Default)]
struct Arrays {
    text: [Vec<String>; 19],
    opt: [Vec<Option<String>>; 3],
    format: Vec<i32>,
    revision: Vec<i64>,
}

impl Arrays {
    fn of(entries: &[PreCreditEntry]) -> Result<Arrays, StoreError> {
        let mut a = Arrays::default();
        for e in entries {
            let text = [
                e.entry_id.clone(),
                e.publication_id.clone(),
                e.institution.clone(),
                e.product.clone(),
                e.household_id.clone(),
                e.village.clone(),
                e.branch.clone(),
                e.outcome.clone(),
                e.grade.clone(),
                e.score.to_string(),
                e.limit.to_string(),
                e.valid_until.clone(),
                e.decision_id.clone(),
                e.status.as_str().to_string(),
                e.contract_id.clone(),
                e.signed_at.clone(),
                e.drawn_total.to_string(),
                e.repaid_total.to_string(),
                e.outstanding.to_string(),
            ];
            for (column, value) in a.text.iter_mut().zip(text) {
                column.push(value);
            }
            // The columns that may be NULL.
            let opt = [
                e.id_hash.clone(),
                e.annual_rate.map(|r| r.to_string()),
                e.signed_limit.map(|l| l.to_string()),
            ];
            for (column, value) in a.opt.iter_mut().zip(opt) {
                column.push(value);
            }
            a.format.push(to_i32(e.format, "pre-credit entry format")?);
            a.revision.push(to_i64(e.revision, "pre-credit revision")?);
        }
        Ok(a)
    }
}

pub(super) async fn insert_entries(
    client: &mut Client,
    entries: &[PreCreditEntry],
) -> Result<(), StoreError> {
    // A household twice in what is written: named before anything is.
    let mut seen = HashSet::new();
    let mut ids = HashSet::new();
    for e in entries {
        if !seen.insert((&e.publication_id, &e.household_id)) || !ids.insert(&e.entry_id) {
            return Err(duplicate(e));
        }
    }
    let tx = client.transaction().await.map_err(pg)?;
    let insert = tx.prepare_cached(&INSERT).await.map_err(pg)?;
    for chunk in entries.chunks(CHUNK) {
        let a = Arrays::of(chunk)?;
        let [
            entry_id,
            publication_id,
            institution,
            product,
            household_id,
            village,
            branch,
            outcome,
            grade,
            score,
            limit,
            valid_until,
            decision_id,
            status,
            contract_id,
            signed_at,
            drawn_total,
            repaid_total,
            outstanding,
        ] = &a.text;
        let [id_hash, annual_rate, signed_limit] = &a.opt;
        // Empty for every new entry: no revocation, flag or successor yet.
        let revoked_reason: Vec<&str> = chunk.iter().map(|e| e.revoked_reason.as_str()).collect();
        let review_flag: Vec<&str> = chunk.iter().map(|e| e.review_flag.as_str()).collect();
        let superseded_by: Vec<&str> = chunk.iter().map(|e| e.superseded_by.as_str()).collect();
        let published_at: Vec<&str> = chunk.iter().map(|e| e.published_at.as_str()).collect();
        let updated_at: Vec<&str> = chunk.iter().map(|e| e.updated_at.as_str()).collect();
        let written = tx
            .execute(
                &insert,
                &[
                    entry_id,
                    &a.format,
                    publication_id,
                    institution,
                    product,
                    household_id,
                    id_hash,
                    village,
                    branch,
                    outcome,
                    grade,
                    score,
                    limit,
                    annual_rate,
                    valid_until,
                    decision_id,
                    status,
                    signed_limit,
                    contract_id,
                    signed_at,
                    drawn_total,
                    repaid_total,
                    outstanding,
                    &revoked_reason,
                    &review_flag,
                    &superseded_by,
                    &a.revision,
                    &published_at,
                    &updated_at,
                ],
            )
            .await;
        if let Err(err) = written {
            if !is_unique_violation(&err) {
                return Err(pg(err));
            }
            drop(tx);
            // An entry or household stored before: find which, to name it.
            let client: &Client = client;
            for e in entries {
                let found = client
                    .query_opt(
                        "SELECT 1 FROM precredits
                         WHERE entry_id = $1 OR (publication_id = $2 AND household_id = $3)",
                        &[&e.entry_id, &e.publication_id, &e.household_id],
                    )
                    .await
                    .map_err(pg)?;
                if found.is_some() {
                    return Err(duplicate(e));
                }
            }
            return Err(pg(err));
        }
    }
    tx.commit().await.map_err(pg)
}

pub(super) async fn put_publication(
    client: &impl GenericClient,
    p: &PublicationRecord,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(p)
        .map_err(|e| StoreError::Database(format!("cannot encode a publication: {e}")))?;
    let stmt = client
        .prepare_cached(
            "INSERT INTO precredit_publications (publication_id, status, requested_at, record_json)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (publication_id) DO UPDATE SET status = excluded.status,
                 record_json = excluded.record_json",
        )
        .await
        .map_err(pg)?;
    client
        .execute(
            &stmt,
            &[
                &p.publication_id,
                &p.status.as_str(),
                &p.requested_at,
                &json,
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

fn parse_publication(id: &str, json: &str) -> Result<PublicationRecord, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Database(format!("publication {id} does not parse: {e}")))
}

pub(super) async fn publication(
    client: &impl GenericClient,
    publication_id: &str,
) -> Result<Option<PublicationRecord>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT record_json FROM precredit_publications WHERE publication_id = $1")
        .await
        .map_err(pg)?;
    client
        .query_opt(&stmt, &[&publication_id])
        .await
        .map_err(pg)?
        .map(|row| parse_publication(publication_id, row.get(0)))
        .transpose()
}

pub(super) async fn publications(
    client: &impl GenericClient,
) -> Result<Vec<PublicationRecord>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT publication_id, record_json FROM precredit_publications
             ORDER BY requested_at, publication_id",
        )
        .await
        .map_err(pg)?;
    client
        .query(&stmt, &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|row| parse_publication(row.get(0), row.get(1)))
        .collect()
}

pub(super) async fn approve(
    client: &mut Client,
    publication_id: &str,
    approved_by: &str,
    approved_at: &str,
) -> Result<Option<PublicationRecord>, StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    let Some(mut p) = publication(&tx, publication_id).await? else {
        return Ok(None);
    };
    // One approval at a time per institution and product, whichever
    // replica runs it: the checks below read what the last one wrote.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 0))",
        &[&p.institution, &p.product],
    )
    .await
    .map_err(pg)?;
    let Some(fresh) = publication(&tx, publication_id).await? else {
        return Ok(None);
    };
    p = fresh;
    if p.status != PublicationStatus::Pending {
        return Ok(None);
    }
    // A later publication approved in the meantime must not see its
    // offers superseded by this older one.
    if publications(&tx).await?.iter().any(|o| {
        o.status == PublicationStatus::Approved
            && o.institution == p.institution
            && o.product == p.product
            && o.requested_at > p.requested_at
    }) {
        return Ok(None);
    }
    let superseded = tx
        .execute(
            "UPDATE precredits SET status = 'superseded',
                 superseded_by = (SELECT n.entry_id FROM precredits n
                                  WHERE n.publication_id = $1 AND n.household_id = precredits.household_id),
                 revision = revision + 1, updated_at = $2
             WHERE institution = $3 AND product = $4 AND publication_id != $1
               AND status IN ('offered', 'referred', 'declined')
               AND household_id IN (SELECT household_id FROM precredits WHERE publication_id = $1)",
            &[&publication_id, &approved_at, &p.institution, &p.product],
        )
        .await
        .map_err(pg)?;
    tx.execute(
        "UPDATE precredits SET
             status = CASE outcome WHEN 'APPROVE' THEN 'offered' WHEN 'REFER' THEN 'referred'
                                   ELSE 'declined' END,
             revision = revision + 1, updated_at = $2
         WHERE publication_id = $1 AND status = 'pending'",
        &[&publication_id, &approved_at],
    )
    .await
    .map_err(pg)?;
    p.status = PublicationStatus::Approved;
    p.approved_by = approved_by.to_string();
    p.approved_at = approved_at.to_string();
    p.superseded = superseded;
    put_publication(&tx, &p).await?;
    tx.commit().await.map_err(pg)?;
    Ok(Some(p))
}

pub(super) async fn entry(
    client: &impl GenericClient,
    entry_id: &str,
) -> Result<Option<PreCreditEntry>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM precredits WHERE entry_id = $1",
            *SELECT
        ))
        .await
        .map_err(pg)?;
    client
        .query_opt(&stmt, &[&entry_id])
        .await
        .map_err(pg)?
        .map(|row| entry_row(&row))
        .transpose()
}

/// Live entries where `column` (a column of ours, never input) is `value`.
pub(super) async fn entries_by(
    client: &impl GenericClient,
    institution: &str,
    product: &str,
    column: &str,
    value: &str,
) -> Result<Vec<PreCreditEntry>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {} FROM precredits
             WHERE institution = $1 AND product = $2 AND {column} = $3 AND status != 'pending'
             ORDER BY published_at DESC, entry_id DESC",
            *SELECT
        ))
        .await
        .map_err(pg)?;
    client
        .query(&stmt, &[&institution, &product, &value])
        .await
        .map_err(pg)?
        .iter()
        .map(entry_row)
        .collect()
}

pub(super) async fn list(
    client: &impl GenericClient,
    q: &PreCreditQuery,
) -> Result<Vec<PreCreditEntry>, StoreError> {
    // Only the conditions asked for, so the page starts with a seek in
    // (institution, entry_id). The text is made of our column names only;
    // every value is bound.
    let mut sql = format!(
        "SELECT {} FROM precredits WHERE institution = $1 AND status != 'pending'",
        *SELECT
    );
    let status = q.status.map(|s| s.as_str());
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&q.institution];
    for (column, op, value) in [
        (
            "product",
            "=",
            q.product
                .as_ref()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
        ),
        (
            "status",
            "=",
            status
                .as_ref()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
        ),
        (
            "village",
            "=",
            q.village
                .as_ref()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
        ),
        (
            "entry_id",
            ">",
            q.after
                .as_ref()
                .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)),
        ),
    ] {
        if let Some(v) = value {
            values.push(v);
            sql.push_str(&format!(" AND {column} {op} ${}", values.len()));
        }
    }
    values.push(&limit);
    sql.push_str(&format!(" ORDER BY entry_id LIMIT ${}", values.len()));
    let stmt = client.prepare_cached(&sql).await.map_err(pg)?;
    client
        .query(&stmt, &values)
        .await
        .map_err(pg)?
        .iter()
        .map(entry_row)
        .collect()
}

pub(super) async fn op(
    client: &impl GenericClient,
    institution: &str,
    op_id: &str,
) -> Result<Option<PreCreditOp>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT op_json FROM precredit_ops WHERE institution = $1 AND op_id = $2")
        .await
        .map_err(pg)?;
    client
        .query_opt(&stmt, &[&institution, &op_id])
        .await
        .map_err(pg)?
        .map(|row| {
            serde_json::from_str(row.get(0))
                .map_err(|e| StoreError::Database(format!("operation {op_id} does not parse: {e}")))
        })
        .transpose()
}

pub(super) async fn write_op(
    client: &mut Client,
    op: &PreCreditOp,
    expected_revision: u64,
    audit: &AuditEntry,
) -> Result<OpWritten, StoreError> {
    if let Some(existing) = self::op(&*client, &op.institution, &op.op_id).await? {
        return Ok(OpWritten::Existing(Box::new(existing)));
    }
    let json = serde_json::to_string(op)
        .map_err(|err| StoreError::Database(format!("cannot encode an operation: {err}")))?;
    let e = &op.entry_after;
    let tx = client.transaction().await.map_err(pg)?;
    let update = tx
        .prepare_cached(
            "UPDATE precredits SET status = $2, signed_limit = $3::text::numeric, contract_id = $4,
                 signed_at = $5, drawn_total = $6::text::numeric, repaid_total = $7::text::numeric,
                 outstanding = $8::text::numeric, revoked_reason = $9, review_flag = $10,
                 revision = $11, updated_at = $12
             WHERE entry_id = $1 AND revision = $13",
        )
        .await
        .map_err(pg)?;
    let changed = tx
        .execute(
            &update,
            &[
                &e.entry_id,
                &e.status.as_str(),
                &e.signed_limit.map(|l| l.to_string()),
                &e.contract_id,
                &e.signed_at,
                &e.drawn_total.to_string(),
                &e.repaid_total.to_string(),
                &e.outstanding.to_string(),
                &e.revoked_reason,
                &e.review_flag,
                &to_i64(e.revision, "pre-credit revision")?,
                &e.updated_at,
                &to_i64(expected_revision, "pre-credit revision")?,
            ],
        )
        .await
        .map_err(pg)?;
    if changed == 0 {
        return Ok(OpWritten::Stale);
    }
    let written = tx
        .execute(
            "INSERT INTO precredit_ops (institution, op_id, entry_id, at, op_json)
             VALUES ($1, $2, $3, $4, $5)",
            &[&op.institution, &op.op_id, &op.entry_id, &op.at, &json],
        )
        .await;
    match written {
        Ok(_) => {}
        // The same operation id, written through another replica since the
        // check above: this write is dropped and theirs returned.
        Err(err) if is_unique_violation(&err) => {
            drop(tx);
            return match self::op(&*client, &op.institution, &op.op_id).await? {
                Some(existing) => Ok(OpWritten::Existing(Box::new(existing))),
                None => Err(pg(err)),
            };
        }
        Err(err) => return Err(pg(err)),
    }
    insert_audit(&tx, audit).await?;
    tx.commit().await.map_err(pg)?;
    Ok(OpWritten::Done)
}

pub(super) async fn identify(
    client: &mut Client,
    publication_id: &str,
    households: &[HouseholdIdentity],
) -> Result<u64, StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    let update = tx
        .prepare_cached(
            "UPDATE precredits p SET id_hash = u.id_hash, branch = u.branch
             FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(household_id, id_hash, branch)
             WHERE p.publication_id = $1 AND p.household_id = u.household_id AND p.status = 'pending'
             RETURNING u.id_hash IS NOT NULL",
        )
        .await
        .map_err(pg)?;
    let mut identified = 0;
    for chunk in households.chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|h| h.household_id.as_str()).collect();
        let hashes: Vec<Option<&str>> = chunk.iter().map(|h| h.id_hash.as_deref()).collect();
        let branches: Vec<&str> = chunk.iter().map(|h| h.branch.as_str()).collect();
        let rows = tx
            .query(&update, &[&publication_id, &ids, &hashes, &branches])
            .await
            .map_err(pg)?;
        identified += rows.iter().filter(|r| r.get::<_, bool>(0)).count() as u64;
    }
    tx.commit().await.map_err(pg)?;
    Ok(identified)
}
