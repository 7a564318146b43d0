//! The pre-credit register's store methods, the same checks on every
//! backend (SQLite on disk, and in memory): approval makes entries live by
//! their outcome and supersedes older offers but not contracts, look-ups by
//! household and ID hash return the newest first, an operation is written
//! only over the revision it was computed from and once per op id, and a
//! household appears once per publication.

use decision_store::{
    AuditEntry, HouseholdIdentity, MemoryStore, OpWritten, PreCreditEntry, PreCreditOp,
    PreCreditQuery, PreCreditStatus, PublicationRecord, PublicationStatus, SqliteStore, Store,
};
use rust_decimal::Decimal;

fn publication(id: &str) -> PublicationRecord {
    PublicationRecord {
        publication_id: id.into(),
        batch_id: format!("bat_{id}"),
        institution: "I".into(),
        product: "P".into(),
        valid_until: "2027-06-30".into(),
        status: PublicationStatus::Pending,
        requested_by: "a".into(),
        requested_at: "2026-11-23T00:00:00Z".into(),
        approved_by: String::new(),
        approved_at: String::new(),
        versions: Vec::new(),
        offered: 0,
        referred: 0,
        declined: 0,
        errors: 0,
        identified: 0,
        offered_amount: Decimal::ZERO,
        superseded: 0,
        failure: String::new(),
        id_key: String::new(),
    }
}

fn entry(publication: &str, household: &str, outcome: &str) -> PreCreditEntry {
    // Publications are a second apart.
    let published_at = format!("2026-11-23T00:00:0{}.000000Z", &publication[1..]);
    PreCreditEntry {
        format: 1,
        entry_id: format!("{publication}_{household}"),
        publication_id: publication.into(),
        institution: "I".into(),
        product: "P".into(),
        household_id: household.into(),
        id_hash: None,
        village: "V1".into(),
        branch: String::new(),
        outcome: outcome.into(),
        grade: "A".into(),
        score: "612.5".parse().unwrap(),
        limit: if outcome == "APPROVE" {
            "30000.00".parse().unwrap()
        } else {
            Decimal::ZERO
        },
        annual_rate: Some("0.0435".parse().unwrap()),
        valid_until: "2027-06-30".into(),
        decision_id: format!("dec_{household}"),
        status: PreCreditStatus::Pending,
        signed_limit: None,
        contract_id: String::new(),
        signed_at: String::new(),
        drawn_total: Decimal::ZERO,
        repaid_total: Decimal::ZERO,
        outstanding: Decimal::ZERO,
        revoked_reason: String::new(),
        review_flag: String::new(),
        superseded_by: String::new(),
        revision: 0,
        published_at,
        updated_at: "2026-11-23T00:00:00Z".into(),
    }
}

fn audit() -> AuditEntry {
    AuditEntry {
        at: "2026-11-23T00:00:01Z".into(),
        person: "p".into(),
        role: "officer".into(),
        action: "sign".into(),
        kind: "precredit".into(),
        id: String::new(),
        version: String::new(),
        hash: String::new(),
        accepted: true,
        detail: String::new(),
        institution: "3201".into(),
    }
}

async fn the_register_rules_hold<S: Store>(store: S) {
    store.put_publication(publication("p1")).await.unwrap();
    store
        .insert_precredits(vec![
            entry("p1", "H1", "APPROVE"),
            entry("p1", "H2", "APPROVE"),
            entry("p1", "H3", "REFER"),
        ])
        .await
        .unwrap();
    // A household once per publication.
    let e = store
        .insert_precredits(vec![entry("p1", "H1", "APPROVE")])
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("household H1 appears more than once in publication p1"),
        "{e}"
    );
    let matched = store
        .identify_precredits(
            "p1",
            vec![
                HouseholdIdentity {
                    household_id: "H1".into(),
                    id_hash: Some("abc".into()),
                    branch: "B1".into(),
                },
                HouseholdIdentity {
                    household_id: "H2".into(),
                    id_hash: None,
                    branch: "B2".into(),
                },
                HouseholdIdentity {
                    household_id: "H9".into(),
                    id_hash: Some("zzz".into()),
                    branch: "B1".into(),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(matched, 1);
    // Pending entries are not live.
    assert!(
        store
            .household_precredits("I", "P", "H1")
            .await
            .unwrap()
            .is_empty()
    );
    let approved = store
        .approve_publication("p1", "b", "2026-11-23T00:00:02Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (approved.status, approved.superseded),
        (PublicationStatus::Approved, 0)
    );
    assert!(
        store
            .approve_publication("p1", "b", "x")
            .await
            .unwrap()
            .is_none()
    );
    let h1 = store
        .household_precredits("I", "P", "H1")
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (h1.status, h1.revision, h1.branch.as_str()),
        (PreCreditStatus::Offered, 1, "B1")
    );
    assert_eq!(
        store.identified_precredits("I", "P", "abc").await.unwrap(),
        vec![h1.clone()]
    );
    let h3 = store.get_precredit("p1_H3").await.unwrap().unwrap();
    assert_eq!(h3.status, PreCreditStatus::Referred);

    // An operation over the revision it read; a stale one is not written.
    let mut signed = h1.clone();
    signed.status = PreCreditStatus::Signed;
    signed.signed_limit = Some("20000".parse().unwrap());
    signed.revision = 2;
    let op = PreCreditOp {
        format: 1,
        op_id: "op-1".into(),
        institution: "I".into(),
        entry_id: h1.entry_id.clone(),
        kind: "sign".into(),
        amount: signed.signed_limit,
        detail: String::new(),
        request_hash: "h".into(),
        person: "p".into(),
        at: "2026-11-23T00:00:03Z".into(),
        entry_after: signed.clone(),
    };
    let mut stale = op.clone();
    stale.op_id = "op-0".into();
    assert_eq!(
        store.write_precredit_op(stale, 0, audit()).await.unwrap(),
        OpWritten::Stale
    );
    assert_eq!(
        store
            .write_precredit_op(op.clone(), 1, audit())
            .await
            .unwrap(),
        OpWritten::Done
    );
    assert_eq!(
        store
            .write_precredit_op(op.clone(), 2, audit())
            .await
            .unwrap(),
        OpWritten::Existing(Box::new(op.clone()))
    );
    assert_eq!(store.get_precredit_op("I", "op-1").await.unwrap(), Some(op));
    assert_eq!(store.get_precredit_op("J", "op-1").await.unwrap(), None);
    assert!(store.get_precredit_op("I", "op-0").await.unwrap().is_none());
    assert_eq!(
        store.get_precredit(&h1.entry_id).await.unwrap(),
        Some(signed.clone())
    );
    assert_eq!(store.list_audit(10, None).await.unwrap().len(), 1);

    // A newer publication supersedes H2's offer and H3's referral, not
    // H1's contract.
    store.put_publication(publication("p2")).await.unwrap();
    store
        .insert_precredits(vec![
            entry("p2", "H1", "APPROVE"),
            entry("p2", "H2", "DECLINE"),
            entry("p2", "H3", "APPROVE"),
        ])
        .await
        .unwrap();
    let approved = store
        .approve_publication("p2", "b", "2026-11-23T00:00:04Z")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.superseded, 2);
    let h1s = store.household_precredits("I", "P", "H1").await.unwrap();
    assert_eq!(
        h1s.iter()
            .map(|e| (e.entry_id.as_str(), e.status))
            .collect::<Vec<_>>(),
        [
            ("p2_H1", PreCreditStatus::Offered),
            ("p1_H1", PreCreditStatus::Signed)
        ]
    );
    let h2 = store.get_precredit("p1_H2").await.unwrap().unwrap();
    assert_eq!(
        (h2.status, h2.superseded_by.as_str(), h2.revision),
        (PreCreditStatus::Superseded, "p2_H2", 2)
    );
    // Listing: by status, by page.
    let query = |status: Option<PreCreditStatus>, after: Option<&str>, limit| PreCreditQuery {
        institution: "I".into(),
        product: None,
        status,
        village: None,
        after: after.map(str::to_string),
        limit,
    };
    let superseded = store
        .list_precredits(query(Some(PreCreditStatus::Superseded), None, 10))
        .await
        .unwrap();
    assert_eq!(
        superseded
            .iter()
            .map(|e| e.entry_id.as_str())
            .collect::<Vec<_>>(),
        ["p1_H2", "p1_H3"]
    );
    let page = store
        .list_precredits(query(None, Some("p1_H3"), 2))
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.entry_id.as_str()).collect::<Vec<_>>(),
        ["p2_H1", "p2_H2"]
    );
    assert_eq!(store.list_publications().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    the_register_rules_hold(store).await;
    // And they are still there after a restart.
    let store = SqliteStore::open(dir.path()).unwrap();
    let h1 = store.household_precredits("I", "P", "H1").await.unwrap();
    assert_eq!(h1.len(), 2);
    assert_eq!(h1[1].signed_limit, Some("20000".parse().unwrap()));
}

#[tokio::test]
async fn memory() {
    the_register_rules_hold(MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let url = decision_pgtest::Cluster::shared().fresh_database();
    the_register_rules_hold(decision_store::PgStore::connect(&url, 4).await.unwrap()).await;
    // And they are still there for another server on the same database.
    let store = decision_store::PgStore::connect(&url, 4).await.unwrap();
    let h1 = store.household_precredits("I", "P", "H1").await.unwrap();
    assert_eq!(h1.len(), 2);
    assert_eq!(h1[1].signed_limit, Some("20000".parse().unwrap()));
}
