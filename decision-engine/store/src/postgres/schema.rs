//! The PostgreSQL schema and its versioned migrations, applied at start.
//!
//! Each step is a version number and its SQL; `schema_migrations` records
//! the steps applied (with when). Opening a database takes an advisory
//! lock for the migration, so replicas starting together apply each step
//! once, and refuses a database a newer release migrated (its steps may
//! have changed what this release reads). A step is never edited once
//! released: a change is a new step.
//!
//! Ordered and compared text (ids paged in order, timestamps) is
//! `COLLATE "C"`: byte order, as the SQLite store compares, whatever the
//! database's default collation.

use deadpool_postgres::Client;

use super::pg;
use crate::StoreError;

/// The schema version this release writes.
pub const LATEST: i32 = 5;

/// Advisory lock key of the migration (any constant of ours).
const MIGRATION_LOCK: i64 = 0x6465_6369_7369_6f6e; // "decision"

const V1: &str = r#"
-- Policy sets: the versions a decision was made with, kept once (record
-- format 2 names its set by id).
CREATE TABLE policy_sets (
    id            BIGSERIAL PRIMARY KEY,
    -- sha256 of the versions (decision_core::record::policy_hash)
    hash          BYTEA NOT NULL UNIQUE,
    versions_json TEXT NOT NULL
);
CREATE TABLE decisions (
    decision_id       TEXT COLLATE "C" PRIMARY KEY,
    -- insertion order, for an application's decisions recorded in the same
    -- second
    seq               BIGSERIAL NOT NULL,
    institution       TEXT COLLATE "C" NOT NULL,
    product           TEXT COLLATE "C" NOT NULL,
    request_id        TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    -- format 1: the request JSON and the decision JSON (zstd)
    request_json      TEXT NOT NULL,
    decision_zstd     BYTEA,
    outcome           TEXT NOT NULL,
    batch_id          TEXT,
    recorded_at       TEXT COLLATE "C" NOT NULL,
    evaluation_micros BIGINT NOT NULL,
    format            INTEGER NOT NULL,
    precredit_json    TEXT,
    application_id    TEXT COLLATE "C",
    stage             TEXT,
    routed_level      TEXT,
    -- format 2: the compact record, the request (zstd with the request
    -- dictionary) and the policy set
    policy_set        BIGINT REFERENCES policy_sets (id),
    record            BYTEA,
    request_zstd      BYTEA
);
CREATE INDEX decisions_batch ON decisions (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX decisions_application ON decisions (institution, application_id)
    WHERE application_id IS NOT NULL;
CREATE INDEX decisions_recorded ON decisions (recorded_at);

CREATE TABLE policy_documents (
    seq         BIGSERIAL NOT NULL,
    hash        TEXT PRIMARY KEY,
    kind        TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    version     TEXT COLLATE "C" NOT NULL,
    json        TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    -- A version names one content: a changed document needs a new version.
    UNIQUE (kind, id, version)
);
CREATE TABLE activations (
    seq               BIGSERIAL PRIMARY KEY,
    activation_id     TEXT NOT NULL UNIQUE,
    institution       TEXT COLLATE "C" NOT NULL,
    product           TEXT COLLATE "C" NOT NULL,
    ruleset_id        TEXT NOT NULL,
    ruleset_version   TEXT NOT NULL,
    scorecard_id      TEXT NOT NULL,
    scorecard_version TEXT NOT NULL,
    effective_at      TEXT COLLATE "C" NOT NULL,
    requested_by      TEXT NOT NULL,
    requested_at      TEXT COLLATE "C" NOT NULL,
    status            TEXT NOT NULL,
    approved_by       TEXT NOT NULL,
    approved_at       TEXT NOT NULL,
    rollback          BOOLEAN NOT NULL
);
CREATE TABLE audit_log (
    seq      BIGSERIAL PRIMARY KEY,
    at       TEXT NOT NULL,
    person   TEXT NOT NULL,
    role     TEXT NOT NULL,
    action   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    version  TEXT NOT NULL,
    hash     TEXT NOT NULL,
    accepted BOOLEAN NOT NULL,
    detail   TEXT NOT NULL
);
-- Batch runs: the record as JSON (versions, trace file and its frame index).
CREATE TABLE batches (
    batch_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    record_json TEXT NOT NULL
);

-- The pre-credit register: publications of batch runs (the record as JSON),
-- one row per household of each, and the ledger of operations on them.
-- Amounts and rates are exact decimals (numeric keeps the scale written).
CREATE TABLE precredit_publications (
    publication_id TEXT COLLATE "C" PRIMARY KEY,
    status         TEXT NOT NULL,
    requested_at   TEXT COLLATE "C" NOT NULL,
    record_json    TEXT NOT NULL
);
CREATE TABLE precredits (
    entry_id       TEXT COLLATE "C" PRIMARY KEY,
    format         INTEGER NOT NULL,
    publication_id TEXT COLLATE "C" NOT NULL,
    institution    TEXT COLLATE "C" NOT NULL,
    product        TEXT COLLATE "C" NOT NULL,
    household_id   TEXT COLLATE "C" NOT NULL,
    -- HMAC-SHA256 of the head's national ID number; never the number
    id_hash        TEXT,
    village        TEXT NOT NULL,
    branch         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    grade          TEXT NOT NULL,
    score          NUMERIC NOT NULL,
    limit_amount   NUMERIC NOT NULL,
    annual_rate    NUMERIC,
    valid_until    TEXT NOT NULL,
    decision_id    TEXT NOT NULL,
    status         TEXT NOT NULL,
    signed_limit   NUMERIC,
    contract_id    TEXT NOT NULL,
    signed_at      TEXT NOT NULL,
    drawn_total    NUMERIC NOT NULL,
    repaid_total   NUMERIC NOT NULL,
    outstanding    NUMERIC NOT NULL,
    revoked_reason TEXT NOT NULL,
    review_flag    TEXT NOT NULL,
    superseded_by  TEXT NOT NULL,
    revision       BIGINT NOT NULL,
    published_at   TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT NOT NULL,
    -- A household appears once in a publication.
    UNIQUE (publication_id, household_id)
);
CREATE INDEX precredits_household ON precredits (institution, product, household_id);
CREATE INDEX precredits_institution_entry ON precredits (institution, entry_id);
CREATE INDEX precredits_id_hash ON precredits (id_hash) WHERE id_hash IS NOT NULL;
CREATE TABLE precredit_ops (
    seq         BIGSERIAL PRIMARY KEY,
    institution TEXT NOT NULL,
    op_id       TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    at          TEXT NOT NULL,
    op_json     TEXT NOT NULL,
    UNIQUE (institution, op_id)
);
CREATE INDEX precredit_ops_entry ON precredit_ops (entry_id);

-- Reviews: one case per decision a person must decide (its queue), and
-- every review step on it (the body as JSON, with its format).
CREATE TABLE review_cases (
    decision_id    TEXT COLLATE "C" PRIMARY KEY,
    institution    TEXT COLLATE "C" NOT NULL,
    product        TEXT NOT NULL,
    application_id TEXT COLLATE "C",
    system_outcome TEXT NOT NULL,
    routed_level   TEXT,
    waiting_level  TEXT,
    status         TEXT NOT NULL,
    final_outcome  TEXT,
    final_limit    NUMERIC,
    final_rate     NUMERIC,
    steps          INTEGER NOT NULL,
    revision       BIGINT NOT NULL,
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT NOT NULL,
    superseded_by  TEXT
);
CREATE INDEX review_cases_queue ON review_cases (status, waiting_level, created_at);
CREATE INDEX review_cases_application ON review_cases (institution, application_id);
CREATE TABLE reviews (
    seq         BIGSERIAL PRIMARY KEY,
    review_id   TEXT NOT NULL,
    institution TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    step        INTEGER NOT NULL,
    at          TEXT NOT NULL,
    review_json TEXT NOT NULL,
    UNIQUE (institution, review_id),
    UNIQUE (decision_id, step)
);
"#;

/// Version 2: retention (see the SQLite store's version 8).
const V2: &str = "
ALTER TABLE decisions ADD COLUMN legal_hold BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE decisions ADD COLUMN pruned_at TEXT;
";

/// Version 3: an activation may name a challenger (see the SQLite store's
/// version 9).
const V3: &str = "
ALTER TABLE activations ADD COLUMN challenger_json TEXT;
";

/// Version 4: post-loan monitoring (see the SQLite store's version 10).
const V4: &str = "
CREATE TABLE monitor_signals (
    signal_id   TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    loan_id     TEXT NOT NULL,
    as_of       TEXT NOT NULL,
    severity    TEXT NOT NULL,
    record_json TEXT NOT NULL
);
CREATE INDEX monitor_signals_loan ON monitor_signals (institution, loan_id);
CREATE TABLE monitor_tasks (
    task_id     TEXT PRIMARY KEY,
    institution TEXT NOT NULL,
    branch      TEXT NOT NULL,
    loan_id     TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    status      TEXT NOT NULL,
    due_on      TEXT COLLATE \"C\" NOT NULL,
    record_json TEXT NOT NULL
);
CREATE UNIQUE INDEX monitor_tasks_open ON monitor_tasks (institution, loan_id, rule_id) WHERE status = 'open';
CREATE INDEX monitor_tasks_due ON monitor_tasks (status, due_on);
";

/// Version 5: institution-scoped access (see the SQLite store's version 11).
const V5: &str = "
ALTER TABLE audit_log ADD COLUMN institution TEXT NOT NULL DEFAULT '';
UPDATE audit_log SET institution = split_part(id, '/', 1)
    WHERE kind = 'activation' AND position('/' in id) > 1;
UPDATE audit_log SET institution = COALESCE(
        (SELECT d.institution FROM decisions d WHERE d.decision_id = audit_log.id), '')
    WHERE kind = 'decision';
UPDATE audit_log SET institution = '*' WHERE kind = 'decision' AND id = '*';
CREATE INDEX audit_log_institution ON audit_log (institution, seq);
";

/// Every step, oldest first: (version, what it does, its SQL).
const STEPS: &[(i32, &str, &str)] = &[
    (
        1,
        "decisions (record formats 1 and 2), policy documents, activations, audit log, batches, \
         pre-credit register, reviews",
        V1,
    ),
    (2, "retention: legal holds and pruned decision inputs", V2),
    (3, "champion/challenger: an activation's challenger", V3),
    (4, "post-loan monitoring: signals and follow-up tasks", V4),
    (
        5,
        "institution-scoped access: the institution of each audit entry",
        V5,
    ),
];

/// Brings the database's schema up to [`LATEST`] in one transaction under
/// an advisory lock; refuses a database migrated by a newer release.
pub(super) async fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg)?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    if current > LATEST {
        return Err(StoreError::TooNew {
            path: redact(url),
            message: format!(
                "the database schema is version {current}, newer than this release's {LATEST}; \
                 run the release that migrated it"
            ),
        });
    }
    for (version, description, sql) in STEPS.iter().filter(|(v, ..)| *v > current) {
        tx.batch_execute(sql).await.map_err(|e| {
            StoreError::Database(format!(
                "schema step {version} ({description}) failed: {}",
                pg(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
            &[version, description],
        )
        .await
        .map_err(pg)?;
        tracing::info!(version, description, "PostgreSQL schema step applied");
    }
    tx.commit().await.map_err(pg)
}

/// A database URL without its password, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            super::redact("postgres://engine:s3cret@db:5432/decisions"),
            "postgres://engine@db:5432/decisions"
        );
        assert_eq!(
            super::redact("postgres://engine@db/decisions"),
            "postgres://engine@db/decisions"
        );
        assert_eq!(super::redact("host=db user=x"), "host=db user=x");
    }
}
