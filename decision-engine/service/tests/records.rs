//! Stored decisions in the compact record format (format 2), on the real
//! SQLite store: what GetDecision and replay read back is byte for byte
//! what the pre-review returned, also on a server that never saw the
//! decision (it compiles the policy from the stored documents); a record
//! of format 1 in the same store still reads; and the bytes on disk per
//! decision, against format 1 written in the same run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use decision_core::{Decision, PolicySet, Request};
use decision_service::{Decisions, Limits, Policies, PreReview};
use decision_store::{DecisionRecord, Inserted, SqliteStore, Store};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn examples() -> Vec<Request> {
    let mut files: Vec<_> = std::fs::read_dir(repo("examples/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| Request::from_json(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

fn input(mut request: Request, request_id: String) -> PreReview {
    request.request_id = request_id;
    PreReview {
        request,
        pins: Vec::new(),
        as_of: String::new(),
        input_errors: Vec::new(),
        household_id: None,
        application_id: None,
        stage: None,
    }
}

async fn decisions(dir: &Path) -> (Arc<SqliteStore>, Decisions<SqliteStore>) {
    let store = Arc::new(SqliteStore::open(dir).unwrap());
    let shipped = Arc::new(PolicySet::shipped().unwrap());
    let policies = Policies::new(shipped, store.clone()).await.unwrap();
    (
        store.clone(),
        Decisions::new(Arc::new(policies), Limits::default()),
    )
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_decision_reads_back_byte_for_byte_on_a_server_that_never_saw_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut returned = Vec::new();
    {
        let (store, d) = decisions(dir.path()).await;
        for (i, request) in examples().into_iter().enumerate() {
            let r = d
                .pre_review(input(request, format!("REC-{i}")), true, None)
                .await
                .unwrap();
            let record = store.get(&r.decision.decision_id).await.unwrap().unwrap();
            assert_eq!(record.format, decision_store::DECISION_FORMAT);
            assert!(record.decision_json.is_empty() && !record.record.is_empty());
            assert_eq!(record.versions, r.decision.versions);
            returned.push(json(&*r.decision));
        }
        store.close();
    }
    // A server started afresh: nothing cached, every policy compiled from
    // the store's documents.
    let (_store, d) = decisions(dir.path()).await;
    for (i, before) in returned.iter().enumerate() {
        let id: serde_json::Value = serde_json::from_str(before).unwrap();
        let id = id["decision_id"].as_str().unwrap();
        let stored = d.get(id).await.unwrap();
        assert_eq!(&json(&stored.decision), before, "example {i}: GetDecision");
        assert!(stored.decision.trace.is_some());
        let replayed = d.replay(id).await.unwrap();
        assert_eq!(replayed.differences, Vec::<String>::new(), "example {i}");
        // A retry with the trace is answered from the record.
        let again = d
            .pre_review(input(examples().remove(i), format!("REC-{i}")), true, None)
            .await
            .unwrap();
        assert!(again.idempotent_replay);
        assert_eq!(&json(&*again.decision), before, "example {i}: retry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_1_record_in_an_upgraded_store_still_reads_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (store, d) = decisions(dir.path()).await;
    let request = examples().remove(0);
    let made = d
        .pre_review(input(request.clone(), "NEW-1".into()), true, None)
        .await
        .unwrap();
    // The same decision as an earlier release stored it: its JSON, trace
    // and all.
    let mut old = made.decision.as_ref().clone();
    let mut request = request;
    request.request_id = "OLD-1".into();
    old.request_id = "OLD-1".into();
    old.decision_id = decision_core::decision_id(&request.institution, &request.product, "OLD-1");
    let record = as_format_1(&old, &request, "2026-11-01T00:00:00.000000Z");
    assert_eq!(store.insert(record).await.unwrap(), Inserted::New);
    let stored = d.get(&old.decision_id).await.unwrap();
    assert_eq!(stored.record.format, 1);
    assert_eq!(json(&stored.decision), json(&old));
    assert_eq!(
        d.replay(&old.decision_id).await.unwrap().differences,
        Vec::<String>::new()
    );
}

/// `decision` as the releases before the compact record stored it: its
/// JSON, trace and all (format 1).
fn as_format_1(decision: &Decision, request: &Request, recorded_at: &str) -> DecisionRecord {
    DecisionRecord {
        decision_id: decision.decision_id.clone(),
        institution: request.institution.clone(),
        product: request.product.clone(),
        request_id: request.request_id.clone(),
        request_hash: format!("sha256:{}", "0".repeat(64)),
        request_json: json(request),
        outcome: decision.decision.as_str().into(),
        decision_json: json(decision),
        record: Vec::new(),
        versions: Vec::new(),
        batch_id: None,
        recorded_at: recorded_at.into(),
        evaluation_micros: 20,
        format: 1,
        precredit: None,
        application_id: None,
        stage: None,
        routed_level: None,
    }
}

/// The size of a store's files (the database and its write-ahead log).
fn on_disk(dir: &Path) -> u64 {
    ["decisions.sqlite", "decisions.sqlite-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Records `rounds` x 17 example households, in format 2 (the service) or
/// as format 1 (the same decisions' JSON with the trace, written as the
/// release before did).
async fn record(dir: &Path, rounds: usize, from: usize, format_1: bool) {
    let (store, d) = decisions(dir).await;
    let examples = examples();
    for round in from..from + rounds {
        for (i, request) in examples.iter().enumerate() {
            let id = format!("SIZE-{round}-{i}");
            if format_1 {
                let mut request = request.clone();
                request.request_id = id.clone();
                let mut p = input(request.clone(), id.clone());
                p.request.request_id = format!("{id}-probe");
                let made = d.pre_review(p, true, None).await.unwrap();
                let mut decision = made.decision.as_ref().clone();
                decision.request_id = id.clone();
                decision.decision_id =
                    decision_core::decision_id(&request.institution, &request.product, &id);
                store
                    .insert(as_format_1(&decision, &request, &made.recorded_at))
                    .await
                    .unwrap();
            } else {
                d.pre_review(input(request.clone(), id), false, None)
                    .await
                    .unwrap();
            }
        }
    }
    store.close();
}

/// Bytes on disk per decision: the growth of the store from 20 to 40
/// rounds of the 17 example households, so the documents and the tables'
/// fixed pages are not counted.
async fn bytes_per_decision(format_1: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let rounds = 20;
    record(dir.path(), rounds, 0, format_1).await;
    let before = on_disk(dir.path());
    record(dir.path(), rounds, rounds, format_1).await;
    let after = on_disk(dir.path());
    (after - before) / (rounds as u64 * 17)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compact_record_with_its_request_takes_a_fraction_of_the_trace_json_on_disk() {
    let compact = bytes_per_decision(false).await;
    let json = bytes_per_decision(true).await;
    eprintln!(
        "bytes on disk per decision: format 2 {compact}, format 1 {json} ({:.1}x smaller)",
        json as f64 / compact as f64
    );
    assert!(
        compact * 4 < json,
        "format 2 takes {compact} bytes a decision, format 1 {json}"
    );
}
