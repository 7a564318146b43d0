//! Stores written by every earlier release open with today's code, are
//! upgraded in place, and serve every decision, document and activation they
//! hold; new decisions can then be recorded in them. The fixtures were
//! written by the release binaries themselves (see `fixtures/README.md`),
//! including the first release's `decision_json` store, which shares schema
//! version 1 with the zstd release after it.

use std::path::{Path, PathBuf};

use decision_core::Decision;
use decision_store::{
    ActivationStatus, DECISION_FORMAT, DecisionRecord, Inserted, SqliteStore, Store,
};
use serde_json::Value;

const FORMATS: [&str; 4] = ["v1-json", "v1-zstd", "v2", "v3"];

/// What release 9cb7809 (schema version 3) ran on every store it opened,
/// after adding the uploader columns to a version 1 store: it stamped even a
/// first-release store version 3 without converting its records.
const RELEASE_9CB7809_SCHEMA: &str = "
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
CREATE TABLE IF NOT EXISTS policy_documents (
    hash        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    version     TEXT NOT NULL,
    json        TEXT NOT NULL,
    uploaded_by TEXT NOT NULL DEFAULT '',
    uploaded_at TEXT NOT NULL DEFAULT ''
);
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
-- Batch runs: the record as JSON (versions, trace file and its frame index).
CREATE TABLE IF NOT EXISTS batches (
    batch_id    TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    record_json TEXT NOT NULL
);
PRAGMA user_version = 3;
";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A copy of fixture `name`'s store (opening upgrades it in place).
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture(name).join("decisions.sqlite"),
        dir.path().join("decisions.sqlite"),
    )
    .unwrap();
    dir
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name).join("expected.json")).unwrap())
        .unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

fn schema_version(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("decisions.sqlite")).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_store_of_every_earlier_format_opens_and_serves_its_decisions() {
    for name in FORMATS {
        let want = expected(name);
        let dir = copy_of(name);
        let originals = original_records(&dir.path().join("decisions.sqlite"));
        let store = SqliteStore::open(dir.path())
            .unwrap_or_else(|e| panic!("{name}: the store does not open: {e}"));
        let decisions = want["decisions"].as_array().unwrap();
        assert!(decisions.len() >= 3, "{name}");
        for d in decisions {
            let id = d["decision_id"].as_str().unwrap();
            let record = store
                .get(id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: {id} is not served"));
            assert_eq!(
                record.format, 1,
                "{name}: records before formats are format 1"
            );
            assert_eq!(
                &record,
                originals.iter().find(|o| o.decision_id == id).unwrap(),
                "{name}: every field as the earlier release stored it"
            );
            assert_eq!(record.outcome, text(&d["outcome"]), "{name} {id}");
            assert_eq!(record.request_id, text(&d["request_id"]), "{name} {id}");
            let decision: Decision = serde_json::from_str(&record.decision_json)
                .unwrap_or_else(|e| panic!("{name}: {id} does not parse as a decision: {e}"));
            let got = [
                decision.decision.as_str().to_string(),
                decision.score.to_string(),
                decision.grade.clone(),
                decision.limit.to_string(),
                decision
                    .annual_rate
                    .map_or("null".to_string(), |r| r.to_string()),
            ];
            let wanted = ["outcome", "score", "grade", "limit", "annual_rate"].map(|k| text(&d[k]));
            assert_eq!(got, wanted, "{name} {id}");
            assert!(decision.trace.is_some(), "{name} {id}: the trace was kept");
        }
        for doc in want["documents"].as_array().unwrap() {
            let found = store
                .find_document(
                    doc["kind"].as_str().unwrap(),
                    doc["id"].as_str().unwrap(),
                    doc["version"].as_str().unwrap(),
                )
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{name}: {doc} is not served"));
            assert_eq!(found.hash, text(&doc["hash"]), "{name}");
        }
        let activations = store.list_activations().await.unwrap();
        let wanted = want["activations"].as_array().cloned().unwrap_or_default();
        assert_eq!(activations.len(), wanted.len(), "{name}");
        for (a, w) in activations.iter().zip(&wanted) {
            assert_eq!(a.activation_id, text(&w["activation_id"]), "{name}");
            assert_eq!(a.status, ActivationStatus::Approved, "{name}");
        }

        // Schema 11: earlier activation entries of the audit log name
        // their institution (from their subject); the others stay empty,
        // seen by province auditors only.
        let log = store.list_audit(100, None).await.unwrap();
        for e in &log {
            let want = if e.kind == "activation" {
                e.id.split('/').next().unwrap()
            } else {
                ""
            };
            assert_eq!(e.institution, want, "{name}: {e:?}");
        }
        if name == "v2" || name == "v3" {
            let scoped = store
                .list_audit(100, Some(vec!["HB-JINGSHAN".into()]))
                .await
                .unwrap();
            assert_eq!(scoped.len(), 2, "{name}: request and approval");
        }

        // A new decision is recorded in the upgraded store and read back
        // (the first release's store failed on its first insert).
        let mut new = store
            .get(decisions[0]["decision_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        new.decision_id = format!("dec_new_in_{name}");
        // In this release's format: the compact record (opaque to the
        // store) and the policy's versions, kept once per policy.
        let old: Decision = serde_json::from_str(&new.decision_json).unwrap();
        new.format = DECISION_FORMAT;
        new.decision_json = String::new();
        new.record = b"\x08\x02 compact record bytes".to_vec();
        new.versions = old.versions;
        assert_eq!(store.insert(new.clone()).await.unwrap(), Inserted::New);
        let back: DecisionRecord = store.get(&new.decision_id).await.unwrap().unwrap();
        assert_eq!(back, new, "{name}");
        store.close();
        drop(store);
        assert_eq!(
            schema_version(dir.path()),
            decision_store::SCHEMA_VERSION,
            "{name}: upgraded to this release's schema"
        );
        // Opening it again changes nothing.
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(again.get(&new.decision_id).await.unwrap(), Some(new));
    }
}

#[test]
fn the_fixtures_are_the_formats_they_claim() {
    for name in FORMATS {
        let dir = copy_of(name);
        let conn = rusqlite::Connection::open(dir.path().join("decisions.sqlite")).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(
            version,
            expected(name)["user_version"].as_i64().unwrap(),
            "{name}"
        );
        let payload: String = conn
            .query_row(
                "SELECT name FROM pragma_table_info('decisions') WHERE name LIKE 'decision\\_%' ESCAPE '\\' AND name != 'decision_id'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let want = if name == "v1-json" {
            "decision_json"
        } else {
            "decision_zstd"
        };
        assert_eq!(payload, want, "{name}");
    }
}

/// The decisions of a store as the release that wrote it stored them.
fn original_records(path: &Path) -> Vec<DecisionRecord> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let json = conn
        .prepare("SELECT * FROM decisions LIMIT 0")
        .unwrap()
        .column_names()
        .any(|c| c == "decision_json");
    let payload = if json {
        "decision_json"
    } else {
        "decision_zstd"
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT decision_id, institution, product, request_id, request_hash, request_json, outcome,
                    {payload}, batch_id, recorded_at, evaluation_micros FROM decisions"
        ))
        .unwrap();
    stmt.query_map([], |r| {
        let decision_json = if json {
            r.get::<_, String>(7)?
        } else {
            let blob: Vec<u8> = r.get(7)?;
            String::from_utf8(zstd::stream::decode_all(&blob[..]).unwrap()).unwrap()
        };
        Ok(DecisionRecord {
            decision_id: r.get(0)?,
            institution: r.get(1)?,
            product: r.get(2)?,
            request_id: r.get(3)?,
            request_hash: r.get(4)?,
            request_json: r.get(5)?,
            outcome: r.get(6)?,
            decision_json,
            record: Vec::new(),
            versions: Vec::new(),
            batch_id: r.get(8)?,
            recorded_at: r.get(9)?,
            evaluation_micros: r.get::<_, i64>(10)? as u64,
            format: 1,
            precredit: None,
            application_id: None,
            stage: None,
            routed_level: None,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Every table's columns (name, type, not null, default, key) and every
/// index (name, unique, columns), sorted: what a store's shape is.
fn schema(dir: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("decisions.sqlite")).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut shape = Vec::new();
    for t in tables {
        let mut columns = conn.prepare(&format!("PRAGMA table_info({t})")).unwrap();
        let rows = columns
            .query_map([], |r| {
                Ok(format!(
                    "{t}.{} {} notnull={} default={:?} pk={}",
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?
                ))
            })
            .unwrap();
        shape.extend(rows.map(Result::unwrap));
        let mut indexes = conn.prepare(&format!("PRAGMA index_list({t})")).unwrap();
        let list: Vec<(String, i64)> = indexes
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (index, unique) in list {
            let mut info = conn
                .prepare(&format!("PRAGMA index_info({index})"))
                .unwrap();
            let cols: Vec<String> = info
                .query_map([], |r| r.get(2))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            // Automatic indexes are named by position; name them by what
            // they index.
            let label = if index.starts_with("sqlite_autoindex_") {
                "(auto)"
            } else {
                &index
            };
            shape.push(format!(
                "{t} index {label} unique={unique} ({})",
                cols.join(", ")
            ));
        }
    }
    shape.sort();
    shape
}

/// The shape of a store this release makes new.
fn fresh_schema() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    SqliteStore::open(dir.path()).unwrap().close();
    schema(dir.path())
}

/// Sets a store's schema version, as an older release did on opening it.
fn set_version(dir: &Path, version: i64) {
    let conn = rusqlite::Connection::open(dir.join("decisions.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
}

#[tokio::test]
async fn a_store_an_older_release_set_back_opens_and_keeps_its_decisions() {
    // The v2 release wrote version 2 into a v3 store it opened; the v1
    // releases wrote 1 into later stores.
    for (name, back_to) in [("v3", 2), ("v3", 1), ("v2", 1)] {
        let dir = copy_of(name);
        let originals = original_records(&dir.path().join("decisions.sqlite"));
        set_version(dir.path(), back_to);
        let store = SqliteStore::open(dir.path())
            .unwrap_or_else(|e| panic!("{name} set back to {back_to}: {e}"));
        for o in &originals {
            assert_eq!(store.get(&o.decision_id).await.unwrap().as_ref(), Some(o));
        }
        assert_eq!(store.list_activations().await.unwrap().len(), 1);
        store.close();
        drop(store);
        assert_eq!(
            schema(dir.path()),
            fresh_schema(),
            "{name} set back to {back_to}"
        );
    }
}

#[tokio::test]
async fn a_first_release_store_that_release_9cb7809_stamped_version_3_is_converted() {
    let dir = copy_of("v1-json");
    let originals = original_records(&dir.path().join("decisions.sqlite"));
    {
        let conn = rusqlite::Connection::open(dir.path().join("decisions.sqlite")).unwrap();
        conn.execute_batch(
            "ALTER TABLE policy_documents ADD COLUMN uploaded_by TEXT NOT NULL DEFAULT '';
             ALTER TABLE policy_documents ADD COLUMN uploaded_at TEXT NOT NULL DEFAULT '';",
        )
        .unwrap();
        conn.execute_batch(RELEASE_9CB7809_SCHEMA).unwrap();
    }
    assert_eq!(schema_version(dir.path()), 3);
    let store = SqliteStore::open(dir.path()).unwrap();
    for o in &originals {
        assert_eq!(store.get(&o.decision_id).await.unwrap().as_ref(), Some(o));
    }
    store.close();
    drop(store);
    assert_eq!(schema(dir.path()), fresh_schema());
}
