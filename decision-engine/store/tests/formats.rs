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

        // A new decision is recorded in the upgraded store and read back
        // (the first release's store failed on its first insert).
        let mut new = store
            .get(decisions[0]["decision_id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        new.decision_id = format!("dec_new_in_{name}");
        new.format = DECISION_FORMAT;
        assert_eq!(store.insert(new.clone()).await.unwrap(), Inserted::New);
        let back: DecisionRecord = store.get(&new.decision_id).await.unwrap().unwrap();
        assert_eq!(back, new, "{name}");
        store.close();
        drop(store);
        assert_eq!(
            schema_version(dir.path()),
            4,
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
