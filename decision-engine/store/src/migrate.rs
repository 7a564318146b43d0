//! The SQLite file's schema, as an ordered list of migrations. A store's
//! `PRAGMA user_version` says how many have been applied; opening a store
//! applies the missing ones in ONE transaction, so an upgrade that fails or
//! is interrupted (a crash, kill -9, a full disk) leaves the store exactly as
//! it was. A store whose version is newer than this release knows is
//! refused: opening it could lose what the newer release wrote.
//!
//! Releases before schema version 4 did not refuse a newer store: each wrote
//! its own version (1, 2 or 3) back into any store it opened. So a store's
//! version may be lower than what it holds, and every step tolerates finding
//! its tables, columns and indexes already there. The first release's
//! `decision_json` records are converted whenever they are found, whatever
//! version the store says.
//!
//! | version | release that wrote it | what it holds |
//! |---|---|---|
//! | 1 | gRPC service (first), then zstd records | decisions (`decision_json` text, later `decision_zstd`: both were version 1), policy documents |
//! | 2 | policy registry | + uploader of documents, activations, audit log |
//! | 3 | whole-village batch | + batch runs |
//! | 4 | workspace split | + `decisions.format`, the record format ([`crate::DECISION_FORMAT`]) |
//! | 5 | pre-credit register | + publications, entries, the operation ledger, `decisions.precredit_json` |
//! | 6 | reviews | + `decisions.application_id`, `stage`, `routed_level`; review cases and steps |
//! | 7 | compact decision record | + `policy_sets` (the versions a record names, by their hash); `decisions.record`, `request_zstd`, `policy_set` (record format 2) |
//! | 8 | retention | + `decisions.legal_hold`, `pruned_at` |
//! | 9 | champion/challenger | + `activations.challenger_json` |
//! | 10 | post-loan monitoring | + `monitor_signals`, `monitor_tasks` |
//! | 11 | institution-scoped access | + `audit_log.institution` (activations' entries filled from their subject) |

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::StoreError;

/// One step of the schema.
struct Migration {
    /// The version the store has after it.
    to: i64,
    apply: fn(&Transaction) -> rusqlite::Result<()>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        to: 1,
        apply: |tx| {
            tx.execute_batch(V1_DECISIONS)?;
            tx.execute_batch(V1_DOCUMENTS)
        },
    },
    Migration {
        to: 2,
        apply: to_v2,
    },
    Migration {
        to: 3,
        apply: |tx| tx.execute_batch(V3),
    },
    Migration {
        to: 4,
        apply: to_v4,
    },
    Migration {
        to: 5,
        apply: to_v5,
    },
    Migration {
        to: 6,
        apply: to_v6,
    },
    Migration {
        to: 7,
        apply: to_v7,
    },
    Migration {
        to: 8,
        apply: to_v8,
    },
    Migration {
        to: 9,
        apply: to_v9,
    },
    Migration {
        to: 10,
        apply: |tx| tx.execute_batch(V10),
    },
    Migration {
        to: 11,
        apply: to_v11,
    },
];

/// The schema version this release writes.
pub const LATEST: i64 = 11;

const V1_DECISIONS: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    decision_id       TEXT PRIMARY KEY,
    institution       TEXT NOT NULL,
    product           TEXT NOT NULL,
    request_id        TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    request_json      TEXT NOT NULL,
    outcome           TEXT NOT NULL,
    -- the decision with its trace: JSON, zstd-compressed (~10 KB -> ~1.5 KB)
    decision_zstd     BLOB NOT NULL,
    batch_id          TEXT,
    recorded_at       TEXT NOT NULL,
    evaluation_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_batch ON decisions (batch_id) WHERE batch_id IS NOT NULL;
";

const V1_DOCUMENTS: &str = "
CREATE TABLE IF NOT EXISTS policy_documents (
    hash    TEXT PRIMARY KEY,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version TEXT NOT NULL,
    json    TEXT NOT NULL
);
";

const V2: &str = "
CREATE TABLE IF NOT EXISTS activations (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    activation_id     TEXT NOT NULL UNIQUE,
    institution       TEXT NOT NULL,
    product           TEXT NOT NULL,
    ruleset_id        TEXT NOT NULL,
    ruleset_version   TEXT NOT NULL,
    scorecard_id      TEXT NOT NULL,
    scorecard_version TEXT NOT NULL,
    effective_at      TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    requested_at      TEXT NOT NULL,
    status            TEXT NOT NULL,
    approved_by       TEXT NOT NULL,
    approved_at       TEXT NOT NULL,
    rollback          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    person   TEXT NOT NULL,
    role     TEXT NOT NULL,
    action   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    version  TEXT NOT NULL,
    hash     TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    detail   TEXT NOT NULL
);
-- A version names one content: a changed document needs a new version.
CREATE UNIQUE INDEX IF NOT EXISTS policy_documents_kind_id_version ON policy_documents (kind, id, version);
-- The version 1 releases' plain index on the same columns.
DROP INDEX IF EXISTS policy_documents_version;
";

const V3: &str = "
-- Batch runs: the record as JSON (versions, trace file and its frame index).
CREATE TABLE IF NOT EXISTS batches (
    batch_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    record_json TEXT NOT NULL
);
";

/// Version 2: who uploaded each document, activations, the audit log.
fn to_v2(tx: &Transaction) -> rusqlite::Result<()> {
    for column in ["uploaded_by", "uploaded_at"] {
        if !has_column(tx, "policy_documents", column)? {
            tx.execute_batch(&format!(
                "ALTER TABLE policy_documents ADD COLUMN {column} TEXT NOT NULL DEFAULT '';"
            ))?;
        }
    }
    tx.execute_batch(V2)
}

/// The first release stored `decision_json` as text under the same version
/// 1 as the zstd release after it, and 9cb7809 stamped such a store version
/// 3 without converting it: wherever the column is found, its records are
/// compressed into `decision_zstd`.
fn convert_json_records(tx: &Transaction) -> rusqlite::Result<()> {
    if !has_column(tx, "decisions", "decision_json")? {
        return Ok(());
    }
    tx.execute_batch(
        "ALTER TABLE decisions RENAME TO decisions_v1_json;
         DROP INDEX IF EXISTS decisions_batch;",
    )?;
    tx.execute_batch(V1_DECISIONS)?;
    let mut read = tx.prepare(
        "SELECT decision_id, institution, product, request_id, request_hash, request_json, outcome,
                decision_json, batch_id, recorded_at, evaluation_micros
         FROM decisions_v1_json",
    )?;
    let mut write = tx.prepare(
        "INSERT INTO decisions (decision_id, institution, product, request_id, request_hash, request_json,
             outcome, decision_zstd, batch_id, recorded_at, evaluation_micros)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut rows = read.query([])?;
    while let Some(r) = rows.next()? {
        let json: String = r.get(7)?;
        let compressed = zstd::bulk::compress(json.as_bytes(), 1)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        write.execute(params![
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            compressed,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, String>(9)?,
            r.get::<_, i64>(10)?,
        ])?;
    }
    drop(rows);
    tx.execute_batch("DROP TABLE decisions_v1_json;")
}

/// Version 4: the record format of each decision. Also drops the version 1
/// releases' plain document index wherever it survived (a first-release
/// store that 9cb7809 stamped version 3 never ran version 2's step).
fn to_v4(tx: &Transaction) -> rusqlite::Result<()> {
    if !has_column(tx, "decisions", "format")? {
        tx.execute_batch("ALTER TABLE decisions ADD COLUMN format INTEGER NOT NULL DEFAULT 1;")?;
    }
    tx.execute_batch("DROP INDEX IF EXISTS policy_documents_version;")
}

const V5: &str = "
-- The pre-credit register: publications of batch runs (the record as JSON),
-- one row per household of each, and the ledger of operations on them.
CREATE TABLE IF NOT EXISTS precredit_publications (
    publication_id TEXT PRIMARY KEY,
    status         TEXT NOT NULL,
    requested_at   TEXT NOT NULL,
    record_json    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS precredits (
    entry_id       TEXT PRIMARY KEY,
    format         INTEGER NOT NULL,
    publication_id TEXT NOT NULL,
    institution    TEXT NOT NULL,
    product        TEXT NOT NULL,
    household_id   TEXT NOT NULL,
    -- HMAC-SHA256 of the head's national ID number; never the number
    id_hash        TEXT,
    village        TEXT NOT NULL,
    branch         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    grade          TEXT NOT NULL,
    score          TEXT NOT NULL,
    limit_amount   TEXT NOT NULL,
    annual_rate    TEXT,
    valid_until    TEXT NOT NULL,
    decision_id    TEXT NOT NULL,
    status         TEXT NOT NULL,
    signed_limit   TEXT,
    contract_id    TEXT NOT NULL,
    signed_at      TEXT NOT NULL,
    drawn_total    TEXT NOT NULL,
    repaid_total   TEXT NOT NULL,
    outstanding    TEXT NOT NULL,
    revoked_reason TEXT NOT NULL,
    review_flag    TEXT NOT NULL,
    superseded_by  TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    published_at   TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
-- A household appears once in a publication.
CREATE UNIQUE INDEX IF NOT EXISTS precredits_publication_household ON precredits (publication_id, household_id);
CREATE INDEX IF NOT EXISTS precredits_household ON precredits (institution, product, household_id);
-- Paging an institution's entries in id order (lists, the funnel) without
-- sorting them all for every page.
CREATE INDEX IF NOT EXISTS precredits_institution_entry ON precredits (institution, entry_id);
-- Not a partial index: with one, SQLite re-prepares every statement on the
-- table whenever a bound value changes (measured: a third of a look-up).
CREATE INDEX IF NOT EXISTS precredits_id_hash ON precredits (id_hash);
CREATE TABLE IF NOT EXISTS precredit_ops (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    institution TEXT NOT NULL,
    op_id       TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    op_json     TEXT NOT NULL,
    UNIQUE (institution, op_id)
);
CREATE INDEX IF NOT EXISTS precredit_ops_entry ON precredit_ops (entry_id);
";

/// Version 5: the pre-credit register, and the pre-credit an online
/// decision met.
fn to_v5(tx: &Transaction) -> rusqlite::Result<()> {
    if !has_column(tx, "decisions", "precredit_json")? {
        tx.execute_batch("ALTER TABLE decisions ADD COLUMN precredit_json TEXT;")?;
    }
    tx.execute_batch(V5)
}

const V6: &str = "
-- Reviews: one case per decision a person must decide (its queue), and
-- every review step on it (the body as JSON, with its format).
CREATE TABLE IF NOT EXISTS review_cases (
    decision_id    TEXT PRIMARY KEY,
    institution    TEXT NOT NULL,
    product        TEXT NOT NULL,
    application_id TEXT,
    system_outcome TEXT NOT NULL,
    routed_level   TEXT,
    waiting_level  TEXT,
    status         TEXT NOT NULL,
    final_outcome  TEXT,
    final_limit    TEXT,
    final_rate     TEXT,
    steps          INTEGER NOT NULL,
    revision       INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    superseded_by  TEXT
);
-- A level's queue, oldest first.
CREATE INDEX IF NOT EXISTS review_cases_queue ON review_cases (status, waiting_level, created_at);
CREATE INDEX IF NOT EXISTS review_cases_application ON review_cases (institution, application_id);
CREATE TABLE IF NOT EXISTS reviews (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    review_id   TEXT NOT NULL,
    institution TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    step        INTEGER NOT NULL,
    at          TEXT NOT NULL,
    review_json TEXT NOT NULL,
    UNIQUE (institution, review_id),
    UNIQUE (decision_id, step)
);
CREATE INDEX IF NOT EXISTS decisions_application ON decisions (institution, application_id);
";

/// Version 6: application ids and stages of decisions, the level a
/// decision was routed to, review cases and review steps.
fn to_v6(tx: &Transaction) -> rusqlite::Result<()> {
    for column in ["application_id", "stage", "routed_level"] {
        if !has_column(tx, "decisions", column)? {
            tx.execute_batch(&format!("ALTER TABLE decisions ADD COLUMN {column} TEXT;"))?;
        }
    }
    tx.execute_batch(V6)
}

/// Version 7: compact decision records (record format 2). A format-2
/// decision keeps its record in `record`, its request zstd-compressed with
/// the request dictionary in `request_zstd` (`request_json` and
/// `decision_zstd` are then empty), and names its policy's versions by
/// `policy_set`. Format-1 rows are read as they are.
fn to_v7(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS policy_sets (
            id            INTEGER PRIMARY KEY,
            -- sha256 of the versions (decision_core::record::policy_hash)
            hash          BLOB NOT NULL UNIQUE,
            versions_json TEXT NOT NULL
        );",
    )?;
    for (column, ty) in [
        ("policy_set", "INTEGER"),
        ("record", "BLOB"),
        ("request_zstd", "BLOB"),
    ] {
        if !has_column(tx, "decisions", column)? {
            tx.execute_batch(&format!("ALTER TABLE decisions ADD COLUMN {column} {ty};"))?;
        }
    }
    Ok(())
}

/// Version 8: retention. `legal_hold` (set by an auditor) keeps a
/// decision's input past the retention period; `pruned_at` says when its
/// input was removed (the outcome, versions and request digest stay).
fn to_v8(tx: &Transaction) -> rusqlite::Result<()> {
    for (column, ty) in [
        ("legal_hold", "INTEGER NOT NULL DEFAULT 0"),
        ("pruned_at", "TEXT"),
    ] {
        if !has_column(tx, "decisions", column)? {
            tx.execute_batch(&format!("ALTER TABLE decisions ADD COLUMN {column} {ty};"))?;
        }
    }
    tx.execute_batch("CREATE INDEX IF NOT EXISTS decisions_recorded ON decisions (recorded_at);")
}

/// Version 9: an activation may name a challenger (champion/challenger),
/// kept as JSON; activations written before have none.
fn to_v9(tx: &Transaction) -> rusqlite::Result<()> {
    if !has_column(tx, "activations", "challenger_json")? {
        tx.execute_batch("ALTER TABLE activations ADD COLUMN challenger_json TEXT;")?;
    }
    Ok(())
}

/// Version 10: post-loan monitoring. Signals with the loan's evaluation,
/// and follow-up tasks; at most one open task per institution, loan and
/// rule (a partial unique index), so a next cycle cannot duplicate one.
const V10: &str = "
CREATE TABLE IF NOT EXISTS monitor_signals (
    signal_id   TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    loan_id     TEXT NOT NULL,
    as_of       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_signals_loan ON monitor_signals (institution, loan_id);
CREATE TABLE IF NOT EXISTS monitor_tasks (
    task_id     TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    branch      TEXT NOT NULL,
    loan_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    record_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS monitor_tasks_open ON monitor_tasks (institution, loan_id, rule_id)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS monitor_tasks_due ON monitor_tasks (status, due_on);
";

/// Version 11: institution-scoped access. Each audit entry names the
/// institution its action was for, so an auditor scoped to institutions
/// reads only theirs. Earlier activation entries name it in their subject
/// (`INSTITUTION/PRODUCT`), decision entries (legal holds, reviews) their
/// decision, and are filled from them (a prune of every institution's
/// decisions is `*`); other earlier entries stay empty (seen by province
/// auditors only).
fn to_v11(tx: &Transaction) -> rusqlite::Result<()> {
    if !has_column(tx, "audit_log", "institution")? {
        tx.execute_batch(
            "ALTER TABLE audit_log ADD COLUMN institution TEXT NOT NULL DEFAULT '';
             UPDATE audit_log SET institution = substr(id, 1, instr(id, '/') - 1)
                 WHERE kind = 'activation' AND instr(id, '/') > 1;
             UPDATE audit_log SET institution = COALESCE(
                     (SELECT d.institution FROM decisions d WHERE d.decision_id = audit_log.id), '')
                 WHERE kind = 'decision';
             UPDATE audit_log SET institution = '*' WHERE kind = 'decision' AND id = '*';",
        )?;
    }
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS audit_log_institution ON audit_log (institution, seq);",
    )
}

fn has_column(tx: &Transaction, table: &str, column: &str) -> rusqlite::Result<bool> {
    // `table` is one of ours, never user input.
    let stmt = tx.prepare(&format!("SELECT * FROM {table} LIMIT 0"))?;
    let found = stmt.column_names().any(|c| c == column);
    Ok(found)
}

/// Brings the store to [`LATEST`], or leaves it as it was.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    migrate_failing_at(conn, path, None)
}

/// [`migrate`], failing on purpose after the migration to `fail_at` (to
/// test that a failed upgrade changes nothing).
pub(crate) fn migrate_failing_at(
    conn: &mut Connection,
    path: &Path,
    fail_at: Option<i64>,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > LATEST {
        return Err(StoreError::TooNew {
            path: path.display().to_string(),
            message: format!(
                "its schema version is {version}, and this release knows versions up to {LATEST}; \
                 it was written by a newer release of decision-engine: run that release (or newer)"
            ),
        });
    }
    if version == LATEST {
        return Ok(());
    }
    if version >= 1 {
        convert_json_records(&tx).map_err(|e| {
            StoreError::Database(format!(
                "{}: converting the first release's decision_json records: {e}; the store was left as it was",
                path.display()
            ))
        })?;
    }
    for m in MIGRATIONS.iter().filter(|m| m.to > version) {
        (m.apply)(&tx).map_err(|e| {
            StoreError::Database(format!(
                "{}: upgrading the schema from version {} to {}: {e}; the store was left as it was",
                path.display(),
                m.to - 1,
                m.to
            ))
        })?;
        if fail_at == Some(m.to) {
            return Err(StoreError::Database(format!(
                "upgrade stopped after version {} (test)",
                m.to
            )));
        }
    }
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    if version > 0 {
        tracing::info!(
            from = version,
            to = LATEST,
            "upgraded the store schema of {}",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store as an earlier release left it: migrations up to `version`.
    fn store_at(version: i64) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("decisions.sqlite")).unwrap();
        let tx = conn.transaction().unwrap();
        for m in MIGRATIONS.iter().filter(|m| m.to <= version) {
            (m.apply)(&tx).unwrap();
        }
        tx.pragma_update(None, "user_version", version).unwrap();
        tx.commit().unwrap();
        (dir, conn)
    }

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT coalesce(sql, name) FROM sqlite_master ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_upgrade_that_fails_half_way_leaves_the_store_as_it_was() {
        let (dir, mut conn) = store_at(2);
        conn.execute(
            "INSERT INTO policy_documents (hash, kind, id, version, json, uploaded_by, uploaded_at)
             VALUES ('sha256:x', 'ruleset', 'r', '1', '{}', 'analyst.wang', '2026-11-01T00:00:00Z')",
            [],
        )
        .unwrap();
        let before = schema(&conn);
        let path = dir.path().join("decisions.sqlite");
        // Fails after the batches table (3) and the format column (4) were
        // made, inside the upgrade's transaction.
        let e = migrate_failing_at(&mut conn, &path, Some(4)).unwrap_err();
        assert!(e.to_string().contains("upgrade stopped"), "{e}");
        assert_eq!(version(&conn), 2);
        assert_eq!(schema(&conn), before, "no table or column was added");
        // The next open upgrades it whole, keeping what it held.
        migrate(&mut conn, &path).unwrap();
        assert_eq!(version(&conn), LATEST);
        let by: String = conn
            .query_row("SELECT uploaded_by FROM policy_documents", [], |r| r.get(0))
            .unwrap();
        assert_eq!(by, "analyst.wang");
    }

    #[test]
    fn a_store_newer_than_this_release_is_refused_untouched() {
        let (dir, mut conn) = store_at(LATEST);
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let before = schema(&conn);
        let path = dir.path().join("decisions.sqlite");
        let e = migrate(&mut conn, &path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "decision store {}: its schema version is {}, and this release knows versions up to {LATEST}; \
                 it was written by a newer release of decision-engine: run that release (or newer)",
                path.display(),
                LATEST + 1
            )
        );
        assert_eq!(schema(&conn), before);
        drop(conn);
        // The same through the store's own open.
        let e = crate::SqliteStore::open(dir.path()).err().unwrap();
        assert!(matches!(e, StoreError::TooNew { .. }), "{e}");
    }

    #[test]
    fn a_step_that_fails_in_sql_leaves_the_store_as_it_was() {
        // A version 1 store could hold one document version under two
        // contents (that release kept documents by hash alone); the unique
        // index of version 2 then cannot be made.
        let (dir, mut conn) = store_at(1);
        for hash in ["sha256:a", "sha256:b"] {
            conn.execute(
                "INSERT INTO policy_documents (hash, kind, id, version, json)
                 VALUES (?1, 'ruleset', 'province-red-lines', '2026.1', '{}')",
                [hash],
            )
            .unwrap();
        }
        let before = schema(&conn);
        let e = migrate(&mut conn, &dir.path().join("decisions.sqlite")).unwrap_err();
        assert!(
            e.to_string()
                .contains("upgrading the schema from version 1 to 2: UNIQUE constraint failed"),
            "{e}"
        );
        assert!(
            e.to_string().ends_with("the store was left as it was"),
            "{e}"
        );
        assert_eq!(version(&conn), 1);
        assert_eq!(schema(&conn), before);
        let documents: i64 = conn
            .query_row("SELECT count(*) FROM policy_documents", [], |r| r.get(0))
            .unwrap();
        assert_eq!(documents, 2);
    }
}
