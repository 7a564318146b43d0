//! The registry's and the pre-review's rules, on the in-memory store: no
//! server, no port, no disk. Four-eyes approval, rollback only to versions
//! that ran, the activation in force at a time, pins limited to approved
//! versions, idempotent retries. The outcomes are the shipped policy's; the
//! end-to-end tests of the binary check the same rules over gRPC.

use std::path::PathBuf;
use std::sync::Arc;

use decision_core::{Outcome, PolicySet, Request, Slot};
use decision_service::{
    ActivationRequest, Bearer, Decisions, Limits, Pin, Policies, PreReview, Registry, ServiceError,
    Tokens,
};
use decision_store::{ActivationStatus, MemoryStore, Store};

const ANALYST: &str = "dev-analyst-token-0001";
const LI: &str = "dev-approver-token-0001";
const ZHAO: &str = "dev-approver-token-0002";
const LEAD: &str = "dev-lead-token-00000001";
const AUDITOR: &str = "dev-auditor-token-00001";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// The shipped scorecard as `version` (same bins, new hash).
fn shipped_card(version: &str) -> serde_json::Value {
    let mut card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("scorecards/farmer-scorecard.json")).unwrap(),
    )
    .unwrap();
    card["version"] = version.into();
    card
}

fn who(token: &str) -> Bearer<'_> {
    Bearer::Token(token)
}

struct World {
    store: Arc<MemoryStore>,
    shipped: Arc<PolicySet>,
    registry: Registry<MemoryStore>,
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let shipped = Arc::new(PolicySet::shipped().unwrap());
    // Stores the shipped documents, as a server does at start.
    Policies::new(shipped.clone(), store.clone()).await.unwrap();
    let tokens = Arc::new(Tokens::load(&repo("config/tokens.dev.toml")).unwrap());
    let registry = Registry::new(shipped.clone(), store.clone(), tokens);
    World {
        store,
        shipped,
        registry,
    }
}

impl World {
    /// A fresh decision service: it reads the activation history anew.
    async fn decisions(&self) -> Decisions<MemoryStore> {
        let policies = Policies::new(self.shipped.clone(), self.store.clone())
            .await
            .unwrap();
        Decisions::new(Arc::new(policies), Limits::default())
    }

    /// Publishes the shipped scorecard as `version` (same bins, new hash).
    async fn publish_scorecard(&self, token: &str, version: &str) {
        let card = shipped_card(version);
        let published = self
            .registry
            .upload(&who(token), &card.to_string(), "scorecard")
            .await
            .unwrap();
        assert!(published.created);
    }

    async fn activate(
        &self,
        token: &str,
        scorecard_version: &str,
        rollback: bool,
    ) -> Result<String, ServiceError> {
        self.registry
            .request_activation(&who(token), &target(scorecard_version), rollback)
            .await
            .map(|a| a.activation_id)
    }
}

fn target(scorecard_version: &str) -> ActivationRequest {
    ActivationRequest {
        institution: "HB-JINGSHAN".into(),
        product: "FARMER_CREDIT".into(),
        ruleset_id: "farmer-credit-default".into(),
        ruleset_version: "2026.4".into(),
        scorecard_id: "farmer-scorecard".into(),
        scorecard_version: scorecard_version.into(),
        effective_at: String::new(),
        challenger: None,
    }
}

fn request(file: &str, request_id: &str) -> PreReview {
    let mut request = Request::from_json(
        &std::fs::read_to_string(repo(&format!("examples/requests/{file}"))).unwrap(),
    )
    .unwrap();
    request.request_id = request_id.into();
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

fn scorecard_version(d: &decision_core::Decision) -> &str {
    &d.versions[Slot::Scorecard.index()].version
}

#[tokio::test]
async fn four_eyes_neither_the_requester_nor_an_uploader_may_approve() {
    let w = world().await;
    w.publish_scorecard(ANALYST, "2026.2").await;
    let id = w.activate(LI, "2026.2", false).await.unwrap();

    let e = w.registry.approve(&who(LI), &id).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Forbidden(format!(
            "four-eyes: approver.li requested activation {id} and cannot also approve it"
        ))
    );
    // The lead uploads a version; approving its activation is refused too.
    w.publish_scorecard(LEAD, "2026.3").await;
    let lead_id = w.activate(LI, "2026.3", false).await.unwrap();
    let e = w.registry.approve(&who(LEAD), &lead_id).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Forbidden(
            "four-eyes: lead.sun uploaded scorecard farmer-scorecard@2026.3 and cannot approve its activation".into()
        )
    );
    // An analyst is no approver at all.
    let e = w.registry.approve(&who(ANALYST), &id).await.unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");

    let approved = w.registry.approve(&who(ZHAO), &id).await.unwrap();
    assert_eq!(approved.status, ActivationStatus::Approved);
    assert_eq!(approved.approved_by, "approver.zhao");
    // Approving twice is refused: it is no longer pending.
    let e = w.registry.approve(&who(ZHAO), &id).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!("activation {id} is already approved"))
    );

    // Every approval, refused or not, is in the audit log with its code
    // and message (a stored format: `Code: message`).
    let log = w.registry.audit_log(&who(AUDITOR), 0).await.unwrap();
    let approvals: Vec<String> = log
        .iter()
        .rev()
        .filter(|e| e.action == "ApproveActivation")
        .map(|e| format!("{} {} {} {}", e.person, e.role, e.accepted, e.detail))
        .collect();
    assert_eq!(
        approvals,
        vec![
            format!(
                "approver.li approver false PermissionDenied: four-eyes: approver.li requested activation {id} and cannot also approve it"
            ),
            format!(
                "lead.sun approver false PermissionDenied: four-eyes: lead.sun uploaded scorecard farmer-scorecard@2026.3 and cannot approve its activation"
            ),
            "analyst.wang  false PermissionDenied: analyst.wang holds analyst but this call needs approver"
                .to_string(),
            format!(
                "approver.zhao approver true approved {id} effective {}",
                approved.effective_at
            ),
            format!(
                "approver.zhao approver false FailedPrecondition: activation {id} is already approved"
            ),
        ]
    );
    let subject = log
        .iter()
        .find(|e| e.action == "ApproveActivation" && e.accepted)
        .unwrap();
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.id.as_str(),
            subject.version.as_str()
        ),
        (
            "activation",
            "HB-JINGSHAN/FARMER_CREDIT",
            "farmer-credit-default@2026.4 + farmer-scorecard@2026.2"
        )
    );
}

#[tokio::test]
async fn an_approved_activation_is_in_force_from_its_time_and_not_before() {
    let w = world().await;
    w.publish_scorecard(ANALYST, "2026.2").await;
    let id = w.activate(LI, "2026.2", false).await.unwrap();

    // Pending: the shipped version still runs.
    let d = w.decisions().await;
    let now = d
        .pre_review(request("01-clean-approve.json", "P-1"), true, None)
        .await
        .unwrap();
    assert_eq!(scorecard_version(&now.decision), "2026.1");

    w.registry.approve(&who(ZHAO), &id).await.unwrap();
    let d = w.decisions().await;
    let now = d
        .pre_review(request("01-clean-approve.json", "P-2"), true, None)
        .await
        .unwrap();
    assert_eq!(scorecard_version(&now.decision), "2026.2");
    assert_eq!(now.decision.decision, Outcome::Approve);
    // Another institution runs the default.
    let mut other = request("01-clean-approve.json", "P-3");
    other.request.institution = "HB-ZHONGXIANG".into();
    let there = d.pre_review(other, true, None).await.unwrap();
    assert_eq!(scorecard_version(&there.decision), "2026.1");
    // As of a time before the approval, the version then in force runs.
    let mut before = request("01-clean-approve.json", "P-4");
    before.as_of = "2026-01-01T00:00:00+08:00".into();
    let then = d.pre_review(before, true, None).await.unwrap();
    assert_eq!(scorecard_version(&then.decision), "2026.1");
    // A time in the future is refused, naming the field.
    let mut future = request("01-clean-approve.json", "P-5");
    future.as_of = "2999-01-01T00:00:00Z".into();
    match d.pre_review(future, true, None).await.unwrap_err() {
        ServiceError::Invalid { fields, .. } => assert_eq!(fields[0].field, "as_of"),
        e => panic!("expected the as_of field refused, got {e:?}"),
    }
}

#[test]
fn in_force_prefers_the_institution_then_the_latest_effective_time() {
    use decision_service::policy::in_force;
    use decision_store::ActivationRecord;
    let at = |s: &str| decision_service::clock::parse(s).unwrap();
    let record = |id: &str, institution: &str, effective: &str, status| ActivationRecord {
        activation_id: id.into(),
        institution: institution.into(),
        product: "FARMER_CREDIT".into(),
        ruleset_id: "r".into(),
        ruleset_version: "1".into(),
        scorecard_id: "c".into(),
        scorecard_version: "1".into(),
        effective_at: effective.into(),
        requested_by: "a".into(),
        requested_at: "2026-01-01T00:00:00Z".into(),
        status,
        approved_by: "b".into(),
        approved_at: "2026-01-01T00:00:00Z".into(),
        rollback: false,
        challenger: None,
    };
    use ActivationStatus::*;
    let history = vec![
        record("default", "*", "2026-01-01T00:00:00Z", Approved),
        record("own-march", "HB-JINGSHAN", "2026-03-01T00:00:00Z", Approved),
        record("own-june", "HB-JINGSHAN", "2026-06-01T00:00:00Z", Approved),
        record(
            "own-may-pending",
            "HB-JINGSHAN",
            "2026-05-01T00:00:00Z",
            Pending,
        ),
        record(
            "own-july-superseded",
            "HB-JINGSHAN",
            "2026-07-01T00:00:00Z",
            Superseded,
        ),
    ];
    let id = |inst: &str, t: &str| {
        in_force(&history, inst, "FARMER_CREDIT", at(t)).map(|a| a.activation_id.as_str())
    };
    assert_eq!(id("HB-JINGSHAN", "2025-12-31T23:59:59Z"), None);
    assert_eq!(id("HB-JINGSHAN", "2026-02-01T00:00:00Z"), Some("default"));
    assert_eq!(id("HB-JINGSHAN", "2026-03-01T00:00:00Z"), Some("own-march"));
    assert_eq!(id("HB-JINGSHAN", "2026-05-15T00:00:00Z"), Some("own-march"));
    assert_eq!(id("HB-JINGSHAN", "2026-08-01T00:00:00Z"), Some("own-june"));
    assert_eq!(id("HB-ZHONGXIANG", "2026-08-01T00:00:00Z"), Some("default"));
    assert_eq!(
        in_force(&history, "HB-JINGSHAN", "OTHER", at("2026-08-01T00:00:00Z")),
        None
    );
}

#[tokio::test]
async fn a_rollback_returns_only_to_versions_that_ran() {
    let w = world().await;
    w.publish_scorecard(ANALYST, "2026.2").await;
    w.publish_scorecard(ANALYST, "2026.3").await;
    // 2026.3 never ran here: no rollback to it.
    let e = w.activate(LI, "2026.3", true).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(
            "HB-JINGSHAN FARMER_CREDIT never ran ruleset farmer-credit-default@2026.4 with scorecard farmer-scorecard@2026.3: a rollback returns to versions that were active".into()
        )
    );
    for version in ["2026.2", "2026.3"] {
        let id = w.activate(LI, version, false).await.unwrap();
        w.registry.approve(&who(ZHAO), &id).await.unwrap();
    }
    assert_eq!(
        scorecard_version(
            &w.decisions()
                .await
                .pre_review(request("02-grade-aa.json", "R-1"), true, None)
                .await
                .unwrap()
                .decision
        ),
        "2026.3"
    );
    // Back to 2026.2, which ran: asked by one approver, approved by another.
    let back = w
        .registry
        .request_activation(&who(ZHAO), &target("2026.2"), true)
        .await
        .unwrap();
    assert!(back.rollback);
    assert_eq!(back.status, ActivationStatus::Pending);
    let e = w
        .registry
        .approve(&who(ZHAO), &back.activation_id)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
    w.registry
        .approve(&who(LI), &back.activation_id)
        .await
        .unwrap();
    // Approved after 2026.3, its effective time is the same or later; in a
    // tie (within one second) the later request wins. Either way 2026.2 runs.
    let d = w
        .decisions()
        .await
        .pre_review(request("02-grade-aa.json", "R-2"), true, None)
        .await
        .unwrap();
    assert_eq!(scorecard_version(&d.decision), "2026.2");
    // A version that is not published cannot even be asked for.
    let e = w.activate(LI, "2099.1", false).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(
            "no scorecard `farmer-scorecard` version `2099.1` is published".into()
        )
    );
}

#[tokio::test]
async fn a_pin_may_choose_only_a_version_approved_for_the_institution() {
    let w = world().await;
    w.publish_scorecard(ANALYST, "2026.2").await;
    w.publish_scorecard(ANALYST, "2026.3").await;
    let id = w.activate(LI, "2026.2", false).await.unwrap();
    w.registry.approve(&who(ZHAO), &id).await.unwrap();
    let d = w.decisions().await;
    let pinned = |version: &str, kind: &str, id: &str, request_id: &str| {
        let mut r = request("01-clean-approve.json", request_id);
        r.pins = vec![Pin {
            kind: kind.into(),
            id: id.into(),
            version: version.into(),
        }];
        r
    };
    // The version loaded at start, and an approved one, may be pinned.
    let old = d
        .pre_review(
            pinned("2026.1", "scorecard", "farmer-scorecard", "PIN-1"),
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!(scorecard_version(&old.decision), "2026.1");
    let new = d
        .pre_review(
            pinned("2026.2", "scorecard", "farmer-scorecard", "PIN-2"),
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!(scorecard_version(&new.decision), "2026.2");
    // Published but never approved: refused, naming the pin.
    let refused = |e: ServiceError| match e {
        ServiceError::Invalid { fields, .. } => {
            (fields[0].field.clone(), fields[0].message.clone())
        }
        other => panic!("expected a refused pin, got {other:?}"),
    };
    let (field, message) = refused(
        d.pre_review(
            pinned("2026.3", "scorecard", "farmer-scorecard", "PIN-3"),
            true,
            None,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "pins[0]");
    assert_eq!(
        message,
        "scorecard farmer-scorecard version 2026.3 has not been approved for HB-JINGSHAN FARMER_CREDIT; a pin may choose only a ruleset or scorecard version that was activated for it"
    );
    // Red lines are the province's: never pinned.
    let (field, message) = refused(
        d.pre_review(
            pinned("2026.1", "ruleset", "province-red-lines", "PIN-4"),
            true,
            None,
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "pins[0]");
    assert_eq!(
        message,
        "ruleset province-red-lines version 2026.1 has not been approved for HB-JINGSHAN FARMER_CREDIT; a pin may choose only a ruleset or scorecard version that was activated for it"
    );
    // Nothing refused was recorded.
    for id in ["PIN-3", "PIN-4"] {
        let decision_id = decision_core::decision_id("HB-JINGSHAN", "FARMER_CREDIT", id);
        assert_eq!(w.store.get(&decision_id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_retry_returns_the_recorded_decision_and_other_content_is_a_conflict() {
    let w = world().await;
    let d = w.decisions().await;
    let first = d
        .pre_review(request("04-grade-b.json", "IDEM-1"), false, None)
        .await
        .unwrap();
    assert!(!first.idempotent_replay);
    let again = d
        .pre_review(request("04-grade-b.json", "IDEM-1"), false, None)
        .await
        .unwrap();
    assert!(again.idempotent_replay);
    assert_eq!(again.decision.decision_id, first.decision.decision_id);
    assert_eq!(again.recorded_at, first.recorded_at);
    assert_eq!(again.decision.limit, first.decision.limit);
    // From memory, without its trace; asked with the trace, from the store.
    assert!(again.decision.trace.is_none());
    let traced = d
        .pre_review(request("04-grade-b.json", "IDEM-1"), true, None)
        .await
        .unwrap();
    assert!(traced.idempotent_replay && traced.decision.trace.is_some());
    // A new service (another replica) answers from the store alone.
    let replica = w.decisions().await;
    let there = replica
        .pre_review(request("04-grade-b.json", "IDEM-1"), false, None)
        .await
        .unwrap();
    assert!(there.idempotent_replay);
    assert_eq!(there.decision.decision_id, first.decision.decision_id);
    // It reads nothing before deciding: the insert meets the record, so
    // other content is a conflict there too, and nothing is overwritten.
    let other = w.decisions().await;
    let mut changed = request("04-grade-b.json", "IDEM-1");
    changed.request.features.insert("age".into(), 51.into());
    assert!(matches!(
        other.pre_review(changed, false, None).await.unwrap_err(),
        ServiceError::Conflict(_)
    ));
    let stored = w
        .store
        .get(&first.decision.decision_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.recorded_at, first.recorded_at);

    // The same id with other content.
    let mut changed = request("04-grade-b.json", "IDEM-1");
    changed.request.features.insert("age".into(), 50.into());
    let e = d.pre_review(changed, false, None).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Conflict(format!(
            "request_id `IDEM-1` was already used for institution HB-JINGSHAN and product FARMER_CREDIT with different content (decision {}); use a new request_id",
            first.decision.decision_id
        ))
    );
    // Bad input is refused with the field named, and nothing is recorded.
    let mut bad = request("04-grade-b.json", "IDEM-2");
    bad.request.features.insert("age".into(), "forty".into());
    match d.pre_review(bad, false, None).await.unwrap_err() {
        ServiceError::Invalid { fields, .. } => assert_eq!(fields[0].field, "features.age"),
        e => panic!("expected features.age refused, got {e:?}"),
    }
    let id2 = decision_core::decision_id("HB-JINGSHAN", "FARMER_CREDIT", "IDEM-2");
    assert_eq!(w.store.get(&id2).await.unwrap(), None);
    // The stored decision replays to the identical result.
    let replayed = d.replay(&first.decision.decision_id).await.unwrap();
    assert_eq!(replayed.differences, Vec::<String>::new());
}

#[tokio::test]
async fn decisions_recorded_by_earlier_releases_are_served_and_replay_identically() {
    // Stores written by the registry and batch releases (see
    // decision-store's fixtures); their documents are the shipped ones.
    for name in ["v2", "v3"] {
        let fixtures = repo("decision-engine/store/tests/fixtures").join(name);
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixtures.join("decisions.sqlite"),
            dir.path().join("decisions.sqlite"),
        )
        .unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap())
                .unwrap();
        let store = Arc::new(decision_store::SqliteStore::open(dir.path()).unwrap());
        let shipped = Arc::new(PolicySet::shipped().unwrap());
        let policies = Policies::new(shipped, store.clone()).await.unwrap();
        let d = Decisions::new(Arc::new(policies), Limits::default());
        for want in expected["decisions"].as_array().unwrap() {
            let id = want["decision_id"].as_str().unwrap();
            let stored = d.get(id).await.unwrap();
            assert_eq!(
                stored.decision.decision.as_str(),
                want["outcome"],
                "{name} {id}"
            );
            let replayed = d.replay(id).await.unwrap();
            assert_eq!(replayed.differences, Vec::<String>::new(), "{name} {id}");
        }
        // A retry of a request recorded by the earlier release is answered
        // from its record.
        let first = &expected["decisions"][0];
        let retry = request(
            "01-clean-approve.json",
            first["request_id"].as_str().unwrap(),
        );
        let r = d.pre_review(retry, false, None).await.unwrap();
        assert!(r.idempotent_replay, "{name}");
        assert_eq!(
            r.decision.decision_id,
            first["decision_id"].as_str().unwrap()
        );
        assert_eq!(
            r.recorded_at,
            store
                .get(&r.decision.decision_id)
                .await
                .unwrap()
                .unwrap()
                .recorded_at
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_for_a_version_compile_it_once() {
    let store = Arc::new(MemoryStore::new());
    let shipped = Arc::new(PolicySet::shipped().unwrap());
    let policies = Arc::new(Policies::new(shipped.clone(), store).await.unwrap());
    let versions = shipped
        .select("HB-JINGSHAN", "FARMER_CREDIT")
        .unwrap()
        .versions
        .clone();
    assert_eq!(policies.compilations(), 0);
    // Sixteen callers ask for the same versions at once, as replays or
    // activations of a new version do on a busy server.
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (policies, versions) = (policies.clone(), versions.clone());
            tokio::spawn(async move { policies.compile_versions(&versions).await })
        })
        .collect();
    let mut compiled = Vec::new();
    for call in calls {
        compiled.push(call.await.unwrap().unwrap());
    }
    assert_eq!(policies.compilations(), 1, "one compilation for 16 callers");
    assert!(compiled.iter().all(|p| Arc::ptr_eq(p, &compiled[0])));
    assert_eq!(compiled[0].versions, versions);
    policies.compile_versions(&versions).await.unwrap();
    assert_eq!(
        policies.compilations(),
        1,
        "the next call is served compiled"
    );

    // A version that is not stored fails every caller, and is not cached:
    // each later call tries again.
    let mut missing = versions.clone();
    missing[1].hash = format!("sha256:{}", "0".repeat(64));
    for expected in [2, 3] {
        let err = policies.compile_versions(&missing).await.unwrap_err();
        assert!(
            matches!(&err, ServiceError::Precondition(m) if m.contains("is not stored")),
            "{err:?}"
        );
        assert_eq!(policies.compilations(), expected);
    }
}

/// The default ruleset with the 17 hand-worked households as test cases
/// (`examples/policies/`), as an analyst uploads it.
fn ruleset_with_cases() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo("examples/policies/farmer-credit-default-2026.3.json"))
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_version_whose_test_cases_fail_is_refused_with_each_difference_and_a_passing_one_publishes()
 {
    let w = world().await;
    let mut bad = ruleset_with_cases();
    bad["version"] = "2026.3-wrong".into();
    bad["test_cases"][0]["expect"]["limit"] = "160000".into();
    bad["test_cases"][3]["expect"]["decision"] = "REFER".into();
    let under =
        "(under ruleset farmer-credit-default@2026.3-wrong, scorecard farmer-scorecard@2026.1)";
    let expected = vec![
        format!(
            "test_cases[0] 01-clean-approve: upload: `limit`: expected 160000, got 150000 {under}"
        ),
        format!(
            "test_cases[3] 04-grade-b: upload: `decision`: expected REFER, got APPROVE {under}"
        ),
    ];

    // Validation lists each difference and publishes nothing.
    let v = w
        .registry
        .validate(&who(ANALYST), &bad.to_string())
        .await
        .unwrap();
    assert_eq!(v.problems, expected);
    assert!(v.version.is_none());

    // Upload is refused with the same differences, one field each.
    let e = w
        .registry
        .upload(&who(ANALYST), &bad.to_string(), "ruleset")
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, summary } = &e else {
        panic!("expected Invalid, got {e:?}");
    };
    let listed: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    assert_eq!(listed, expected);
    assert!(
        summary.starts_with("invalid document, nothing published:"),
        "{summary}"
    );
    let versions = w
        .registry
        .list_versions(
            &who(ANALYST),
            Some("ruleset".into()),
            Some("farmer-credit-default".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        ["2026.4"],
        "nothing was published"
    );
    let log = w.registry.audit_log(&who(AUDITOR), 0).await.unwrap();
    let refused = log.iter().find(|e| e.action == "UploadRuleset").unwrap();
    assert!(!refused.accepted);
    assert!(
        refused
            .detail
            .contains("`limit`: expected 160000, got 150000"),
        "{}",
        refused.detail
    );

    // The version whose 17 cases pass publishes.
    let good = ruleset_with_cases();
    let published = w
        .registry
        .upload(&who(ANALYST), &good.to_string(), "ruleset")
        .await
        .unwrap();
    assert!(published.created);
    assert_eq!(published.version.version, "2026.3");
}

/// The cases bind the pair an activation runs: a scorecard that scores
/// every household 20 points higher publishes (the ruleset in force has no
/// cases), but activating it with the ruleset whose cases expect the old
/// scores is refused with those differences.
#[tokio::test]
async fn an_activation_is_refused_when_the_rulesets_cases_fail_with_its_scorecard() {
    let w = world().await;
    w.registry
        .upload(&who(ANALYST), &ruleset_with_cases().to_string(), "ruleset")
        .await
        .unwrap();
    let mut card = shipped_card("2026.2-plus20");
    card["base_points"] = "440".into();
    w.registry
        .upload(&who(ANALYST), &card.to_string(), "scorecard")
        .await
        .unwrap();
    let mut target = target("2026.2-plus20");
    target.ruleset_version = "2026.3".into();
    let e = w
        .registry
        .request_activation(&who(LI), &target, false)
        .await
        .unwrap_err();
    let ServiceError::Precondition(message) = &e else {
        panic!("expected a failed precondition, got {e:?}");
    };
    assert!(
        message.starts_with("these versions cannot run together"),
        "{message}"
    );
    assert!(
        message.contains("test_cases[0] 01-clean-approve: `score`: expected 690, got 710"),
        "{message}"
    );
    // With the card the cases were worked out on, the activation is asked for.
    target.scorecard_version = "2026.1".into();
    w.registry
        .request_activation(&who(LI), &target, false)
        .await
        .unwrap();
}

/// A stored REFER tells what would have approved it, in both languages, as
/// GetDecision, REST and `explain` show it; an approval tells nothing.
#[tokio::test]
async fn a_stored_refer_is_explained_with_what_would_have_approved_it() {
    let w = world().await;
    let d = w.decisions().await;
    let referred = d
        .pre_review(request("17-near-cutoff-refer.json", "CF-1"), true, None)
        .await
        .unwrap();
    assert_eq!(referred.decision.decision, Outcome::Refer);
    let decision_service::replay::Found::Whole(stored) =
        d.find(&referred.decision.decision_id).await.unwrap()
    else {
        panic!("stored whole");
    };
    let (en, zh, _) = d.explanations(&stored).await.unwrap();
    assert!(
        en.contains("  - with annual net income of at least 50,000 (now 30,000) the household would be approved at 30,000 at 5.40% a year\n"),
        "{en}"
    );
    assert!(
        zh.contains("  - 若村组评议等级为B（现为C），该农户可获批准，额度30,000元，年利率5.40%\n"),
        "{zh}"
    );
    let approved = d
        .pre_review(request("01-clean-approve.json", "CF-2"), true, None)
        .await
        .unwrap();
    let decision_service::replay::Found::Whole(stored) =
        d.find(&approved.decision.decision_id).await.unwrap()
    else {
        panic!("stored whole");
    };
    assert!(d.counterfactuals(&stored).await.unwrap().is_empty());
    let (en, _, _) = d.explanations(&stored).await.unwrap();
    assert!(!en.contains("What would have it approved"), "{en}");
}

/// The activation in force names a shadow challenger: every household is
/// also decided by the challenger's versions and recorded beside the
/// champion's decision (`shd_…`), never answered; a share instead answers
/// that share of households with the challenger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_challenger_decides_every_household_beside_the_champion_and_is_never_answered() {
    let w = world().await;
    // A card 20 points more generous, uploaded by the lead: four-eyes then
    // keeps the lead from approving an activation naming it.
    let mut card = shipped_card("2026.1-plus20");
    card["base_points"] = "440".into();
    w.registry
        .upload(&who(LEAD), &card.to_string(), "scorecard")
        .await
        .unwrap();
    let challenger = |share_percent| decision_store::Challenger {
        ruleset_id: "farmer-credit-default".into(),
        ruleset_version: "2026.4".into(),
        scorecard_id: "farmer-scorecard".into(),
        scorecard_version: "2026.1-plus20".into(),
        share_percent,
    };
    let mut asked = target("2026.1");
    asked.challenger = Some(challenger(101));
    let e = w
        .registry
        .request_activation(&who(LI), &asked, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Invalid { fields, .. } if fields[0].field == "challenger.share_percent"),
        "{e:?}"
    );
    let mut unpublished = challenger(0);
    unpublished.scorecard_version = "9.9".into();
    asked.challenger = Some(unpublished);
    let e = w
        .registry
        .request_activation(&who(LI), &asked, false)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(
            "challenger: no scorecard `farmer-scorecard` version `9.9` is published".into()
        )
    );
    asked.challenger = Some(challenger(0));
    let id = w
        .registry
        .request_activation(&who(LI), &asked, false)
        .await
        .unwrap()
        .activation_id;
    let e = w.registry.approve(&who(LEAD), &id).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Forbidden(
            "four-eyes: lead.sun uploaded scorecard farmer-scorecard@2026.1-plus20 and cannot approve its activation".into()
        )
    );
    w.registry.approve(&who(ZHAO), &id).await.unwrap();

    let d = w.decisions().await;
    let files = [
        "01-clean-approve.json",
        "04-grade-b.json",
        "05-grade-c-decline.json",
        "17-near-cutoff-refer.json",
    ];
    let mut answered = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let r = d
            .pre_review(request(file, &format!("S-{n}")), true, None)
            .await
            .unwrap();
        // The reply is the champion's.
        assert_eq!(scorecard_version(&r.decision), "2026.1", "{file}");
        answered.push(r.decision.clone());
    }
    // The shadows are written in the background: wait for them.
    let query = decision_store::DecisionQuery {
        shadows: true,
        limit: 100,
        ..Default::default()
    };
    let mut shadows = Vec::new();
    for _ in 0..100 {
        shadows = w.store.list_decisions(query.clone()).await.unwrap();
        if shadows.len() == files.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(shadows.len(), files.len());
    for champion in &answered {
        let id = decision_store::shadow_id(&champion.decision_id);
        let shadow = shadows.iter().find(|s| s.decision_id == id).unwrap();
        assert_eq!(shadow.stage.as_deref(), Some("challenger"));
        assert_eq!(
            shadow.versions[Slot::Scorecard.index()].version,
            "2026.1-plus20"
        );
        // Rendered, the shadow is the challenger's decision: 20 points up.
        let policies = decision_service::find::StoredPolicies::new(&*w.store);
        let rendered = decision_service::find::parse_decision(shadow, &policies)
            .await
            .unwrap();
        assert_eq!(
            rendered.score,
            champion.score + rust_decimal::Decimal::from(20)
        );
        // It is never shown as a decision by id (GetDecision, REST, explain).
        assert!(matches!(d.find(&id).await, Err(ServiceError::NotFound(_))));
    }
    // The answered decisions are listed apart from the shadows.
    let listed = w
        .store
        .list_decisions(decision_store::DecisionQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), files.len());

    // A share of 100: every household answered by the challenger, no shadow.
    asked.challenger = Some(challenger(100));
    let id = w
        .registry
        .request_activation(&who(LI), &asked, false)
        .await
        .unwrap()
        .activation_id;
    w.registry.approve(&who(ZHAO), &id).await.unwrap();
    let d = w.decisions().await;
    let r = d
        .pre_review(request("01-clean-approve.json", "S-share"), true, None)
        .await
        .unwrap();
    assert_eq!(scorecard_version(&r.decision), "2026.1-plus20");
    assert_eq!(
        r.decision.score,
        answered[0].score + rust_decimal::Decimal::from(20)
    );
    assert!(decision_service::prereview::in_challenger_share(
        &r.decision.decision_id,
        100
    ));
    assert!(!decision_service::prereview::in_challenger_share(
        &r.decision.decision_id,
        0
    ));
}
