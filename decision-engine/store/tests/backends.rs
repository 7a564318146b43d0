//! The store's contract, on every backend: the same calls give the same
//! answers in memory, in SQLite and in PostgreSQL (a throw-away cluster the
//! test starts itself). Decisions in both record formats, idempotent
//! inserts, one content per document version, the audit log, activations
//! and their approval, batch records, and concurrency: many writers at once
//! lose nothing and a decision id names one record.

use std::sync::Arc;

use decision_core::VersionRef;
use decision_store::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, BatchStatus, DecisionRecord,
    Inserted, MemoryStore, PgStore, Pruned, Retention, SignalRecord, SqliteStore, Store,
    StoredDocument, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord, TaskStatus,
};

fn versions() -> Vec<VersionRef> {
    ["feature_schema", "ruleset", "scorecard"]
        .iter()
        .map(|kind| VersionRef {
            kind: kind.to_string(),
            id: format!("{kind}-default"),
            version: "2026.1".into(),
            hash: format!("sha256:{}", "ab".repeat(32)),
        })
        .collect()
}

/// A format-2 record (the compact record's bytes are the store's to keep,
/// not to read) or a format-1 one (the decision JSON).
fn record(id: &str, format: u32) -> DecisionRecord {
    DecisionRecord {
        decision_id: id.into(),
        institution: "RCC-GUIZHOU-001".into(),
        product: "FARMER_CREDIT".into(),
        request_id: id.into(),
        request_hash: format!("sha256:{}", "cd".repeat(32)),
        request_json: format!(r#"{{"request_id":"{id}","features":{{"land_mu":"12.5"}}}}"#),
        outcome: "APPROVE".into(),
        decision_json: if format == 1 {
            format!(r#"{{"decision_id":"{id}","trace":[]}}"#)
        } else {
            String::new()
        },
        record: if format == 1 {
            Vec::new()
        } else {
            vec![8, 2, 18, 3, b'a', b'b', b'c', 0, 255]
        },
        versions: if format == 1 { Vec::new() } else { versions() },
        batch_id: None,
        recorded_at: "2026-11-24T08:00:00Z".into(),
        evaluation_micros: 42,
        format,
        precredit: (format == 2).then(|| r#"{"entry_id":"p1_H1"}"#.to_string()),
        application_id: None,
        stage: Some("pre_review".into()),
        routed_level: None,
    }
}

fn document(version: &str, hash: &str) -> StoredDocument {
    StoredDocument {
        hash: hash.into(),
        kind: "ruleset".into(),
        id: "farmer-credit-default".into(),
        version: version.into(),
        json: format!(r#"{{"version":"{version}"}}"#),
        uploaded_by: "analyst-li".into(),
        uploaded_at: "2026-11-24T08:00:00Z".into(),
    }
}

fn activation(id: &str, version: &str, effective_at: &str) -> ActivationRecord {
    ActivationRecord {
        activation_id: id.into(),
        institution: "RCC-GUIZHOU-001".into(),
        product: "FARMER_CREDIT".into(),
        ruleset_id: "farmer-credit-default".into(),
        ruleset_version: version.into(),
        scorecard_id: "farmer-scorecard".into(),
        scorecard_version: "2026.1".into(),
        effective_at: effective_at.into(),
        requested_by: "analyst-li".into(),
        requested_at: "2026-11-24T08:00:00Z".into(),
        status: ActivationStatus::Pending,
        approved_by: String::new(),
        approved_at: String::new(),
        rollback: false,
        challenger: None,
    }
}

fn audit(action: &str, n: usize) -> AuditEntry {
    AuditEntry {
        at: format!("2026-11-24T08:00:{n:02}Z"),
        person: "approver-wang".into(),
        role: "approver".into(),
        action: action.into(),
        kind: "ruleset".into(),
        id: "farmer-credit-default".into(),
        version: "2026.2".into(),
        hash: "sha256:ef".into(),
        accepted: n.is_multiple_of(2),
        detail: format!("step {n}"),
        institution: if n.is_multiple_of(3) { "HB-A" } else { "*" }.into(),
    }
}

fn task(id: &str, loan: &str, rule: &str, due_on: &str, branch: &str) -> TaskRecord {
    TaskRecord {
        format: 1,
        task_id: id.into(),
        institution: "HB-JINGSHAN".into(),
        branch: branch.into(),
        product: "FARMER_CREDIT".into(),
        loan_id: loan.into(),
        household_id: format!("H-{loan}"),
        rule_id: rule.into(),
        task: "phone_visit".into(),
        level: "L2_ATTENTION".into(),
        period: "2026-11".into(),
        created_on: "2026-11-30".into(),
        due_on: due_on.into(),
        signals: "W_DPD".into(),
        message_zh: "10天内电话回访".into(),
        message_en: "Phone visit within 10 days".into(),
        run_id: "mon-1".into(),
        created_at: "2026-11-30T08:00:00Z".into(),
        status: TaskStatus::Open,
        completion: None,
    }
}

fn signal(id: &str, loan: &str) -> SignalRecord {
    SignalRecord {
        format: 1,
        signal_id: id.into(),
        institution: "HB-JINGSHAN".into(),
        branch: "JS-01".into(),
        product: "FARMER_CREDIT".into(),
        loan_id: loan.into(),
        household_id: format!("H-{loan}"),
        as_of: "2026-11-30".into(),
        code: "W_DPD".into(),
        severity: "orange".into(),
        level: "L2_ATTENTION".into(),
        run_id: "mon-1".into(),
        recorded_at: "2026-11-30T08:00:00Z".into(),
        evaluation: "{\"format\":1}".into(),
    }
}

/// Monitoring: signals once per id; at most one open task per loan and
/// rule; tasks listed by due date; completing one is durable, audited and
/// happens once.
async fn monitoring_holds<S: Store>(store: &S) {
    let created = store
        .record_monitoring(
            vec![signal("sig-1", "LN-1"), signal("sig-2", "LN-2")],
            vec![
                task("task-1", "LN-1", "T_PHONE", "2026-12-10", "JS-01"),
                task("task-2", "LN-2", "T_PHONE", "2026-12-05", "JS-02"),
                task("task-3", "LN-1", "T_FIELD", "2026-12-07", "JS-01"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created, ["task-1", "task-2", "task-3"]);
    // The next cycle: a new id for an open (loan, rule) is not created, an
    // id that exists is not either; a new loan's is.
    let mut changed = signal("sig-1", "LN-1");
    changed.level = "L1_INTENSIVE".into();
    let created = store
        .record_monitoring(
            vec![changed],
            vec![
                task("task-1b", "LN-1", "T_PHONE", "2027-01-10", "JS-01"),
                task("task-2", "LN-2", "T_PHONE", "2026-12-05", "JS-02"),
                task("task-4", "LN-3", "T_PHONE", "2026-12-20", "JS-01"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created, ["task-4"]);
    assert_eq!(
        store.get_signal("sig-1").await.unwrap(),
        Some(signal("sig-1", "LN-1")),
        "a signal id that exists is kept as it is"
    );
    assert_eq!(store.get_signal("sig-9").await.unwrap(), None);
    let ids = |tasks: Vec<TaskRecord>| tasks.into_iter().map(|t| t.task_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_tasks(TaskQuery::default()).await.unwrap()),
        ["task-2", "task-3", "task-1", "task-4"]
    );
    let query = TaskQuery {
        branch: Some("JS-01".into()),
        limit: 2,
        ..TaskQuery::default()
    };
    assert_eq!(
        ids(store.list_tasks(query).await.unwrap()),
        ["task-3", "task-1"]
    );
    // Overdue on 2026-12-08: due before it.
    let due = TaskQuery {
        due_before: Some("2026-12-08".into()),
        ..TaskQuery::default()
    };
    assert_eq!(
        ids(store.list_tasks(due).await.unwrap()),
        ["task-2", "task-3"]
    );
    // Pages: after task-3 (due 2026-12-07).
    let next = TaskQuery {
        after: Some(("2026-12-07".into(), "task-3".into())),
        ..TaskQuery::default()
    };
    assert_eq!(
        ids(store.list_tasks(next).await.unwrap()),
        ["task-1", "task-4"]
    );
    let completion = TaskCompletion {
        completed_by: "officer-li".into(),
        completed_at: "2026-12-02T09:30:00Z".into(),
        visit_type: "phone_visit".into(),
        result: "normal".into(),
        note: "说明已还款".into(),
    };
    let done = store
        .complete_task("task-1", completion.clone(), audit("CompleteTask", 8))
        .await
        .unwrap();
    let TaskCompleted::Done(t) = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        (t.status, t.completion.as_ref()),
        (TaskStatus::Completed, Some(&completion))
    );
    assert_eq!(store.get_task("task-1").await.unwrap().as_ref(), Some(&*t));
    assert!(matches!(
        store
            .complete_task("task-1", completion.clone(), audit("CompleteTask", 9))
            .await
            .unwrap(),
        TaskCompleted::AlreadyCompleted(_)
    ));
    assert_eq!(
        store
            .complete_task("task-x", completion, audit("CompleteTask", 9))
            .await
            .unwrap(),
        TaskCompleted::NotFound
    );
    let log = store.list_audit(100, None).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "CompleteTask").count(), 1);
    let open = TaskQuery {
        status: Some(TaskStatus::Open),
        ..TaskQuery::default()
    };
    assert_eq!(
        ids(store.list_tasks(open).await.unwrap()),
        ["task-2", "task-3", "task-4"]
    );
    // Completed, the rule may ask again for the loan.
    let created = store
        .record_monitoring(
            vec![],
            vec![task("task-1c", "LN-1", "T_PHONE", "2027-01-10", "JS-01")],
        )
        .await
        .unwrap();
    assert_eq!(created, ["task-1c"]);
}

async fn the_contract_holds<S: Store>(store: Arc<S>) {
    monitoring_holds(store.as_ref()).await;
    // Decisions, both formats: read back exactly as written.
    for (id, format) in [("d-f1", 1), ("d-f2", 2)] {
        assert_eq!(
            store.insert(record(id, format)).await.unwrap(),
            Inserted::New
        );
        assert_eq!(
            store.get(id).await.unwrap().unwrap(),
            record(id, format),
            "{id}"
        );
    }
    assert_eq!(store.get("no-such-decision").await.unwrap(), None);
    // A decision id names one record: a second insert returns the first.
    let mut again = record("d-f2", 2);
    again.request_hash = "sha256:other".into();
    again.outcome = "DECLINE".into();
    match store.insert(again).await.unwrap() {
        Inserted::Existing(first) => assert_eq!(*first, record("d-f2", 2)),
        Inserted::New => panic!("a decision id was written twice"),
    }
    // Many at once, some of them repeated.
    let many: Vec<_> = (0..50)
        .map(|i| record(&format!("m{i}"), 2))
        .chain([record("m7", 2)])
        .collect();
    let inserted = store.insert_many(many).await.unwrap();
    assert_eq!(inserted.len(), 51);
    assert!(inserted[..50].iter().all(|i| *i == Inserted::New));
    assert!(matches!(&inserted[50], Inserted::Existing(r) if r.decision_id == "m7"));

    // Concurrent writers lose nothing and never write an id twice, also
    // when they are the first decisions of a policy (its set of versions is
    // new: each writer may be the one to store it).
    let fresh_policy = || {
        let mut v = versions();
        v[1].version = "2026.9".into();
        v
    };
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = store.clone();
        let mut r = record(&format!("c{}", i % 32), 2);
        r.versions = fresh_policy();
        tasks.push(tokio::spawn(async move { s.insert(r).await.unwrap() }));
    }
    let mut new = 0;
    for t in tasks {
        if t.await.unwrap() == Inserted::New {
            new += 1;
        }
    }
    assert_eq!(new, 32);
    for i in 0..32 {
        assert!(store.get(&format!("c{i}")).await.unwrap().is_some());
    }

    // A document version names one content.
    store
        .put_documents(vec![document("2026.1", "sha256:a1")])
        .await
        .unwrap();
    store
        .put_documents(vec![
            document("2026.1", "sha256:a1"),
            document("2026.2", "sha256:a2"),
        ])
        .await
        .unwrap();
    let e = store
        .put_documents(vec![
            document("2026.3", "sha256:a3"),
            document("2026.1", "sha256:b1"),
        ])
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "decision store: ruleset farmer-credit-default version 2026.1 is already stored with other content (sha256:a1, now sha256:b1); give the changed document a new version"
    );
    // Refused as a whole: 2026.3 was not kept either.
    let listed = store
        .list_documents(Some("ruleset".into()), None)
        .await
        .unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|d| d.version.as_str())
            .collect::<Vec<_>>(),
        ["2026.1", "2026.2"]
    );
    assert_eq!(
        store.get_document("sha256:a2").await.unwrap(),
        Some(document("2026.2", "sha256:a2"))
    );
    assert_eq!(
        store
            .find_document("ruleset", "farmer-credit-default", "2026.1")
            .await
            .unwrap(),
        Some(document("2026.1", "sha256:a1"))
    );
    assert_eq!(
        store.find_document("ruleset", "x", "2026.1").await.unwrap(),
        None
    );
    assert!(
        store
            .list_documents(Some("scorecard".into()), None)
            .await
            .unwrap()
            .is_empty()
    );

    // The audit log, newest first.
    for n in 0..5 {
        store.append_audit(audit("activate", n)).await.unwrap();
    }
    let log = store.list_audit(3, None).await.unwrap();
    assert_eq!(
        log,
        vec![
            audit("activate", 4),
            audit("activate", 3),
            audit("activate", 2)
        ]
    );
    // Scoped to institutions: only their entries, still newest first and
    // limited after the filter.
    let scoped = store
        .list_audit(3, Some(vec!["HB-A".into(), "HB-B".into()]))
        .await
        .unwrap();
    assert_eq!(scoped, vec![audit("activate", 3), audit("activate", 0)]);
    let none = store
        .list_audit(3, Some(vec!["HB-C".into()]))
        .await
        .unwrap();
    assert!(none.is_empty());

    // Activations: approval fills a past effective time with its own, and
    // replaces what was scheduled later for the same institution and
    // product.
    store
        .insert_activation(activation("a-later", "2026.3", "2026-12-01T00:00:00Z"))
        .await
        .unwrap();
    let approved = store
        .approve_activation("a-later", "approver-wang", "2026-11-24T09:00:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.status, ActivationStatus::Approved);
    assert_eq!(approved.effective_at, "2026-12-01T00:00:00Z");
    store
        .insert_activation(activation("a-now", "2026.2", "2026-11-01T00:00:00Z"))
        .await
        .unwrap();
    let now = store
        .approve_activation("a-now", "approver-zhao", "2026-11-24T10:00:00Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.effective_at, "2026-11-24T10:00:00Z");
    assert_eq!(now.approved_by, "approver-zhao");
    // Approved once only.
    assert_eq!(
        store
            .approve_activation("a-now", "approver-zhao", "2026-11-24T10:00:01Z")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .approve_activation("no-such", "approver-zhao", "2026-11-24T10:00:01Z")
            .await
            .unwrap(),
        None
    );
    let all = store.list_activations().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|a| (a.activation_id.as_str(), a.status))
            .collect::<Vec<_>>(),
        [
            ("a-later", ActivationStatus::Superseded),
            ("a-now", ActivationStatus::Approved)
        ]
    );

    // Batch records are replaced by id.
    let mut batch = BatchRecord {
        batch_id: "b1".into(),
        status: BatchStatus::Running,
        started_at: "2026-11-24T08:00:00Z".into(),
        finished_at: String::new(),
        institution: "RCC-GUIZHOU-001".into(),
        product: "FARMER_CREDIT".into(),
        as_of: "2026-11-24".into(),
        versions: versions(),
        input: "village.parquet".into(),
        output: "out.parquet".into(),
        errors_file: String::new(),
        trace_file: "b1.traces".into(),
        trace_sha256: String::new(),
        frame_first_rows: vec![0, 4096],
        frame_offsets: vec![0, 1000, 2000],
        rows: 0,
        approved: 0,
        referred: 0,
        declined: 0,
        errors: 0,
        failure: String::new(),
        shard: "2/4".into(),
    };
    store.put_batch(batch.clone()).await.unwrap();
    batch.status = BatchStatus::Finished;
    batch.rows = 1_310_000;
    store.put_batch(batch.clone()).await.unwrap();
    assert_eq!(store.get_batch("b1").await.unwrap(), Some(batch));
    assert_eq!(store.get_batch("b2").await.unwrap(), None);

    // Retention: inputs older than the cut are removed, except under legal
    // hold; the outcome, versions and the request's digest stay.
    let aged = |id: &str, format: u32, day: u32| {
        let mut r = record(id, format);
        r.recorded_at = format!("2025-01-{day:02}T00:00:00Z");
        r
    };
    for r in [
        aged("r-old", 2, 1),
        aged("r-held", 1, 2),
        aged("r-old1", 1, 3),
    ] {
        assert_eq!(store.insert(r).await.unwrap(), Inserted::New);
    }
    assert!(
        store
            .set_legal_hold("r-held", true, audit("hold", 10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_legal_hold("no-such", true, audit("hold", 11))
            .await
            .unwrap()
    );
    let cut = "2025-06-01T00:00:00Z";
    let at = "2026-11-24T09:00:00Z";
    assert_eq!(
        store.prune(cut, at, audit("prune", 12)).await.unwrap(),
        Pruned { pruned: 2, held: 1 }
    );
    for (id, format, day) in [("r-old", 2, 1), ("r-old1", 1, 3)] {
        let pruned = store.get(id).await.unwrap().unwrap();
        let whole = aged(id, format, day);
        assert_eq!(pruned.request_json, "");
        assert_eq!(pruned.decision_json, "");
        assert!(pruned.record.is_empty());
        assert_eq!(
            (
                pruned.outcome.as_str(),
                &pruned.versions,
                &pruned.request_hash
            ),
            (whole.outcome.as_str(), &whole.versions, &whole.request_hash),
            "{id}"
        );
        assert_eq!(
            store.retention(id).await.unwrap(),
            Some(Retention {
                legal_hold: false,
                pruned_at: Some(at.into())
            })
        );
    }
    assert_eq!(
        store.get("r-held").await.unwrap().unwrap(),
        aged("r-held", 1, 2)
    );
    assert_eq!(
        store.retention("r-held").await.unwrap(),
        Some(Retention {
            legal_hold: true,
            pruned_at: None
        })
    );
    assert_eq!(store.retention("no-such").await.unwrap(), None);
    // Recent decisions are untouched; a second prune finds nothing new.
    assert_eq!(store.get("d-f2").await.unwrap().unwrap(), record("d-f2", 2));
    assert_eq!(
        store.prune(cut, at, audit("prune", 13)).await.unwrap(),
        Pruned { pruned: 0, held: 1 }
    );
    let log = store.list_audit(2, None).await.unwrap();
    assert_eq!(
        log[1].detail,
        "removed the input of 2 decisions recorded before 2025-06-01T00:00:00Z; 1 under legal hold kept whole"
    );
    assert_eq!(log[1].action, "prune");

    // Listing online decisions for analyses: by time, institution and
    // product, batch rows aside, oldest first, in pages.
    let listed = |id: &str, at: &str, product: &str, batch: Option<&str>| {
        let mut r = record(id, 2);
        r.institution = "HB-LIST".into();
        r.product = product.into();
        r.recorded_at = at.into();
        r.batch_id = batch.map(str::to_string);
        r
    };
    store
        .insert_many(vec![
            listed("l-3", "2026-10-03T09:00:00Z", "FARMER_CREDIT", None),
            listed("l-1", "2026-10-01T09:00:00Z", "FARMER_CREDIT", None),
            listed("l-2b", "2026-10-02T09:00:00Z", "FARMER_CREDIT", None),
            listed("l-2a", "2026-10-02T09:00:00Z", "FARMER_CREDIT", None),
            listed("l-old", "2026-09-30T23:59:59Z", "FARMER_CREDIT", None),
            listed(
                "l-batch",
                "2026-10-02T10:00:00Z",
                "FARMER_CREDIT",
                Some("bat_1"),
            ),
            listed("l-other", "2026-10-02T11:00:00Z", "GUARANTEED", None),
            listed("l-late", "2026-11-01T00:00:00Z", "FARMER_CREDIT", None),
        ])
        .await
        .unwrap();
    let query = decision_store::DecisionQuery {
        institution: Some("HB-LIST".into()),
        product: Some("FARMER_CREDIT".into()),
        since: "2026-10-01".into(),
        until: Some("2026-11-01".into()),
        after: None,
        limit: 3,
        shadows: false,
    };
    let ids = |page: &[DecisionRecord]| {
        page.iter()
            .map(|d| d.decision_id.clone())
            .collect::<Vec<_>>()
    };
    let first = store.list_decisions(query.clone()).await.unwrap();
    assert_eq!(ids(&first), ["l-1", "l-2a", "l-2b"]);
    assert_eq!(
        first[0],
        listed("l-1", "2026-10-01T09:00:00Z", "FARMER_CREDIT", None)
    );
    let last = &first[2];
    let second = store
        .list_decisions(decision_store::DecisionQuery {
            after: Some((last.recorded_at.clone(), last.decision_id.clone())),
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(ids(&second), ["l-3"]);
    // A challenger's shadow decision is listed only when shadows are asked for.
    let mut shadow = listed(
        &decision_store::shadow_id("dec_l1"),
        "2026-10-01T09:00:00Z",
        "FARMER_CREDIT",
        None,
    );
    shadow.stage = Some(decision_store::SHADOW_STAGE.to_string());
    store.insert(shadow.clone()).await.unwrap();
    let every_product = store
        .list_decisions(decision_store::DecisionQuery {
            product: None,
            until: None,
            limit: 100,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&every_product),
        ["l-1", "l-2a", "l-2b", "l-other", "l-3", "l-late"]
    );
    let shadows = store
        .list_decisions(decision_store::DecisionQuery {
            shadows: true,
            limit: 100,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(shadows, [shadow]);

    // An activation naming a challenger reads back with it.
    let mut champion = activation("a-challenged", "2026.2", "2027-01-01T00:00:00Z");
    champion.institution = "HB-CC".into();
    champion.challenger = Some(decision_store::Challenger {
        ruleset_id: "ruleset-default".into(),
        ruleset_version: "2026.3".into(),
        scorecard_id: "scorecard-default".into(),
        scorecard_version: "2026.4".into(),
        share_percent: 0,
    });
    store.insert_activation(champion.clone()).await.unwrap();
    let read = store.list_activations().await.unwrap();
    assert_eq!(
        read.iter().find(|a| a.activation_id == "a-challenged"),
        Some(&champion)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory() {
    the_contract_holds(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    the_contract_holds(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let url = decision_pgtest::Cluster::shared().fresh_database();
    let store = Arc::new(PgStore::connect(&url, 8).await.unwrap());
    the_contract_holds(store.clone()).await;
    // A second server on the same database sees everything, and its
    // inserts of the same ids return the first server's records.
    let other = PgStore::connect(&url, 4).await.unwrap();
    assert_eq!(other.get("d-f1").await.unwrap().unwrap(), record("d-f1", 1));
    assert!(matches!(
        other.insert(record("c3", 2)).await.unwrap(),
        Inserted::Existing(r) if r.versions[1].version == "2026.9"
    ));

    // An approval through one server is heard by the other (LISTEN/NOTIFY).
    for _ in 0..300 {
        if other.is_listening() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(other.is_listening(), "the listener never subscribed");
    let mut heard = other.policy_changes().unwrap();
    assert!(heard.try_recv().is_err(), "nothing was approved yet");
    store
        .insert_activation(activation("a-notify", "2026.2", ""))
        .await
        .unwrap();
    store
        .approve_activation("a-notify", "approver-wang", "2026-11-24T11:00:00Z")
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), heard.recv())
        .await
        .expect("the approval was not heard by the other server")
        .unwrap();
    // SQLite and memory cannot tell: their readers re-read on their own.
    assert!(MemoryStore::new().policy_changes().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_migrated_by_a_newer_release_is_refused_untouched() {
    let url = decision_pgtest::Cluster::shared().fresh_database();
    let store = PgStore::connect(&url, 2).await.unwrap();
    store.insert(record("kept", 2)).await.unwrap();
    store.close();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "INSERT INTO schema_migrations (version, description) VALUES (99, 'from the future')",
            &[],
        )
        .await
        .unwrap();
    let e = PgStore::connect(&url, 2).await.err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "decision store {url}: the database schema is version 99, newer than this release's {}; run the release that migrated it",
            decision_store::postgres::schema::LATEST
        )
    );
    // Nothing was changed: the decision is there for the newer release.
    let n: i64 = client
        .query_one("SELECT count(*) FROM decisions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_that_cannot_be_reached_is_refused_naming_it_without_its_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://engine:secret@127.0.0.1:{port}/decisions");
    let e = PgStore::connect(&url, 2).await.err().unwrap().to_string();
    assert!(
        e.starts_with(&format!(
            "decision store: postgres://engine@127.0.0.1:{port}/decisions: PostgreSQL"
        )),
        "{e}"
    );
    assert!(!e.contains("secret"), "{e}");
}
