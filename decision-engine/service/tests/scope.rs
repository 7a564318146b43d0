//! Institution-scoped access to the registry, on the in-memory store with
//! the development tokens: a county token (`institutions = ["HB-JINGSHAN"]`)
//! governs HB-JINGSHAN's documents and activations through every registry
//! call, reads the province's, and is refused everything of another
//! institution and of the province, with PERMISSION_DENIED naming the scope,
//! audited, and nothing changed.

use std::path::PathBuf;
use std::sync::Arc;

use decision_core::{PolicySet, Request, Slot};
use decision_service::{
    ActivationRequest, Bearer, Decisions, Limits, Policies, PreReview, Registry, ServiceError,
    Tokens,
};
use decision_store::{ActivationStatus, MemoryStore, Store};

// Province tokens (no `institutions`).
const ANALYST: &str = "dev-analyst-token-0001";
const LI: &str = "dev-approver-token-0001";
const ZHAO: &str = "dev-approver-token-0002";
const AUDITOR: &str = "dev-auditor-token-00001";
// HB-JINGSHAN's tokens; the second approver is held as a SHA-256 in the file.
const JS_ANALYST: &str = "dev-analyst-token-jingshan";
const JS_TIAN: &str = "dev-approver-token-jingshan-1";
const JS_FENG: &str = "dev-approver-token-jingshan-2";
const JS_AUDITOR: &str = "dev-auditor-token-jingshan";
// HB-ZHONGXIANG's approver.
const ZX_YUAN: &str = "dev-approver-token-zhongxiang";

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn shipped(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(repo(path)).unwrap()).unwrap()
}

fn who(token: &str) -> Bearer<'_> {
    Bearer::Token(token)
}

/// The shipped card as `version`, written for `institution` (None: the
/// province's).
fn card(version: &str, institution: Option<&str>) -> String {
    let mut card = shipped("scorecards/farmer-scorecard.json");
    card["version"] = version.into();
    if let Some(i) = institution {
        card["institution"] = i.into();
    }
    card.to_string()
}

/// The shipped default ruleset as `id@version` for `institution`.
fn ruleset(id: &str, version: &str, institution: &str) -> String {
    let mut r = shipped("rulesets/farmer-credit-default.json");
    r["id"] = id.into();
    r["version"] = version.into();
    r["institution"] = institution.into();
    r.to_string()
}

fn target(institution: &str, ruleset: (&str, &str), card_version: &str) -> ActivationRequest {
    ActivationRequest {
        institution: institution.into(),
        product: "FARMER_CREDIT".into(),
        ruleset_id: ruleset.0.into(),
        ruleset_version: ruleset.1.into(),
        scorecard_id: "farmer-scorecard".into(),
        scorecard_version: card_version.into(),
        effective_at: String::new(),
        challenger: None,
    }
}

const DEFAULT: (&str, &str) = ("farmer-credit-default", "2026.2");

struct World {
    store: Arc<MemoryStore>,
    shipped: Arc<PolicySet>,
    registry: Registry<MemoryStore>,
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let shipped = Arc::new(PolicySet::shipped().unwrap());
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
    async fn decide(&self, institution: &str, request_id: &str) -> Arc<decision_core::Decision> {
        let policies = Policies::new(self.shipped.clone(), self.store.clone())
            .await
            .unwrap();
        let decisions = Decisions::new(Arc::new(policies), Limits::default());
        let mut request = Request::from_json(
            &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
        )
        .unwrap();
        request.request_id = request_id.into();
        request.institution = institution.into();
        let review = PreReview {
            request,
            pins: Vec::new(),
            as_of: String::new(),
            input_errors: Vec::new(),
            household_id: None,
            application_id: None,
            stage: None,
        };
        decisions
            .pre_review(review, true, None)
            .await
            .unwrap()
            .decision
    }
}

fn forbidden(e: ServiceError) -> String {
    match e {
        ServiceError::Forbidden(m) => m,
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
}

#[tokio::test]
async fn a_county_token_governs_its_own_institution_through_the_registry() {
    let w = world().await;
    // HB-JINGSHAN's analyst publishes HB-JINGSHAN's own card.
    let published = w
        .registry
        .upload(
            &who(JS_ANALYST),
            &card("2026.5-js", Some("HB-JINGSHAN")),
            "scorecard",
        )
        .await
        .unwrap();
    assert!(published.created);
    let v = w
        .registry
        .validate(&who(JS_ANALYST), &card("2026.6-js", Some("HB-JINGSHAN")))
        .await
        .unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);

    // Its approvers request and approve (four eyes within the county; the
    // second approver's token is held as its SHA-256).
    let a = w
        .registry
        .request_activation(
            &who(JS_TIAN),
            &target("HB-JINGSHAN", DEFAULT, "2026.5-js"),
            false,
        )
        .await
        .unwrap();
    // Another county's approver cannot approve it; it stays pending.
    let m = forbidden(
        w.registry
            .approve(&who(ZX_YUAN), &a.activation_id)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        m,
        "approver.yuan acts for HB-ZHONGXIANG and not for institution HB-JINGSHAN"
    );
    let approved = w
        .registry
        .approve(&who(JS_FENG), &a.activation_id)
        .await
        .unwrap();
    assert_eq!(approved.status, ActivationStatus::Approved);
    assert_eq!(approved.approved_by, "approver.feng");
    let d = w.decide("HB-JINGSHAN", "S-1").await;
    assert_eq!(d.versions[Slot::Scorecard.index()].version, "2026.5-js");
    // HB-ZHONGXIANG still runs the default.
    let d = w.decide("HB-ZHONGXIANG", "S-2").await;
    assert_eq!(d.versions[Slot::Scorecard.index()].version, "2026.1");

    // A card written for HB-JINGSHAN cannot be activated for another
    // institution, even by the province.
    let e = w
        .registry
        .request_activation(
            &who(LI),
            &target("HB-ZHONGXIANG", DEFAULT, "2026.5-js"),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(
            "scorecard farmer-scorecard@2026.5-js is written for institution HB-JINGSHAN, not HB-ZHONGXIANG".into()
        )
    );

    // Reading: HB-JINGSHAN's and the province's, never another's.
    let js = w
        .registry
        .list_activations(&who(JS_TIAN), "HB-JINGSHAN", "")
        .await
        .unwrap();
    assert_eq!(js.len(), 1);
    let diff = w
        .registry
        .diff(
            &who(JS_AUDITOR),
            "scorecard",
            "farmer-scorecard",
            "2026.1",
            "2026.5-js",
        )
        .await
        .unwrap();
    assert_eq!(
        diff,
        [
            "version: `2026.1` -> `2026.5-js`",
            "institution: added `HB-JINGSHAN`"
        ]
    );
}

#[tokio::test]
async fn every_cross_institution_and_province_action_of_a_county_token_is_refused_audited_and_changes_nothing()
 {
    let w = world().await;
    // The province publishes HB-ZHONGXIANG's ruleset and asks for two
    // activations a county approver of HB-JINGSHAN must not approve.
    w.registry
        .upload(
            &who(ANALYST),
            &ruleset("zhongxiang-credit", "2026.1", "HB-ZHONGXIANG"),
            "ruleset",
        )
        .await
        .unwrap();
    w.registry
        .upload(&who(ANALYST), &card("2026.2", None), "scorecard")
        .await
        .unwrap();
    let for_default = w
        .registry
        .request_activation(&who(LI), &target("*", DEFAULT, "2026.2"), false)
        .await
        .unwrap();
    let for_zx = w
        .registry
        .request_activation(
            &who(LI),
            &target("HB-ZHONGXIANG", ("zhongxiang-credit", "2026.1"), "2026.2"),
            false,
        )
        .await
        .unwrap();
    w.registry
        .approve(&who(ZHAO), &for_zx.activation_id)
        .await
        .unwrap();
    let zx_decision = w.decide("HB-ZHONGXIANG", "S-3").await;
    let documents_before = w.store.list_documents(None, None).await.unwrap().len();
    let audit_before = w.store.list_audit(10_000, None).await.unwrap().len();

    let mut red_lines = shipped("rulesets/province-red-lines.json");
    red_lines["version"] = "2026.2".into();
    red_lines["parameters"][1]["value"] = 63.into();
    let mut schema = shipped("rulesets/feature-schema.json");
    schema["version"] = "2026.9".into();
    let mut monitoring = shipped("rulesets/farmer-post-loan.json");
    monitoring["version"] = "2026.9".into();

    let scope = "acts for HB-JINGSHAN and not for";
    let province = format!("{scope} the province:");
    let mut refused: Vec<(&str, String)> = Vec::new();
    let upload = |json: String, kind: &'static str| {
        let r = &w.registry;
        async move { r.upload(&who(JS_ANALYST), &json, kind).await }
    };
    // Uploads and validation of the province's documents and another
    // institution's.
    for (json, kind, wanted) in [
        (
            red_lines.to_string(),
            "ruleset",
            format!(
                "analyst.gao {province} the province red lines province-red-lines is governed by province roles"
            ),
        ),
        (
            schema.to_string(),
            "ruleset",
            format!(
                "analyst.gao {province} the feature schema farmer-features is governed by province roles"
            ),
        ),
        (
            ruleset("farmer-credit-default", "2026.9", "*"),
            "ruleset",
            format!(
                "analyst.gao {province} the province's ruleset farmer-credit-default (written for every institution) is governed by province roles"
            ),
        ),
        (
            card("2026.9", None),
            "scorecard",
            format!(
                "analyst.gao {province} the province's scorecard farmer-scorecard (written for every institution) is governed by province roles"
            ),
        ),
        (
            card("2026.9", Some("HB-ZHONGXIANG")),
            "scorecard",
            format!("analyst.gao {scope} institution HB-ZHONGXIANG"),
        ),
        (
            ruleset("zhongxiang-credit", "2026.2", "HB-ZHONGXIANG"),
            "ruleset",
            format!("analyst.gao {scope} institution HB-ZHONGXIANG"),
        ),
        (
            monitoring.to_string(),
            "monitoring_policy",
            format!(
                "analyst.gao {province} the province's monitoring policy farmer-post-loan-default (written for every institution) is governed by province roles"
            ),
        ),
    ] {
        assert_eq!(
            forbidden(upload(json.clone(), kind).await.unwrap_err()),
            wanted
        );
        let e = w
            .registry
            .validate(&who(JS_ANALYST), &json)
            .await
            .unwrap_err();
        assert_eq!(forbidden(e), wanted);
        refused.push(("upload", wanted.clone()));
        refused.push(("validate", wanted));
    }

    // Activations and rollbacks for the default, another institution and
    // another institution's monitoring.
    let default_scope =
        format!("approver.tian {province} the province default `*` is governed by province roles");
    let zx_scope = format!("approver.tian {scope} institution HB-ZHONGXIANG");
    let mut monitoring_target = target("HB-ZHONGXIANG", ("farmer-post-loan-default", "2026.1"), "");
    monitoring_target.product = "POST_LOAN".into();
    monitoring_target.scorecard_id = String::new();
    for (r, rollback, wanted) in [
        (target("*", DEFAULT, "2026.2"), false, &default_scope),
        (target("*", DEFAULT, "2026.1"), true, &default_scope),
        (
            target("HB-ZHONGXIANG", ("zhongxiang-credit", "2026.1"), "2026.2"),
            false,
            &zx_scope,
        ),
        (
            target("HB-ZHONGXIANG", ("zhongxiang-credit", "2026.1"), "2026.2"),
            true,
            &zx_scope,
        ),
        (monitoring_target, false, &zx_scope),
    ] {
        let e = w
            .registry
            .request_activation(&who(JS_TIAN), &r, rollback)
            .await
            .unwrap_err();
        assert_eq!(
            &forbidden(e),
            wanted,
            "{} rollback={rollback}",
            r.institution
        );
        refused.push(("activation", wanted.clone()));
    }
    // Approving the province's pending activation of the default.
    let e = w
        .registry
        .approve(&who(JS_TIAN), &for_default.activation_id)
        .await
        .unwrap_err();
    assert_eq!(forbidden(e), default_scope);
    refused.push(("approve", default_scope.clone()));

    // Reading another institution's documents, activations and decisions.
    let reader = format!("auditor.jiang {scope} institution HB-ZHONGXIANG");
    let e = w
        .registry
        .get_version(&who(JS_AUDITOR), "ruleset", "zhongxiang-credit", "2026.1")
        .await
        .unwrap_err();
    assert_eq!(forbidden(e), reader);
    let e = w
        .registry
        .diff(
            &who(JS_AUDITOR),
            "ruleset",
            "zhongxiang-credit",
            "2026.1",
            "2026.1",
        )
        .await
        .unwrap_err();
    assert_eq!(forbidden(e), reader);
    let e = w
        .registry
        .list_activations(&who(JS_AUDITOR), "HB-ZHONGXIANG", "")
        .await
        .unwrap_err();
    assert_eq!(forbidden(e), reader);
    let e = w
        .registry
        .set_legal_hold(
            &who(JS_AUDITOR),
            &zx_decision.decision_id,
            true,
            "complaint",
        )
        .await
        .unwrap_err();
    assert_eq!(forbidden(e), reader);
    refused.extend(std::iter::repeat_n(("read", reader.clone()), 4));
    // Listings leave out what is not theirs and keep the province's.
    let versions = w
        .registry
        .list_versions(&who(JS_AUDITOR), Some("ruleset".into()), None)
        .await
        .unwrap();
    let ids: Vec<&str> = versions.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["province-red-lines", "farmer-credit-default"]);
    let all = w
        .registry
        .list_versions(&who(AUDITOR), Some("ruleset".into()), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "the province reads every ruleset");
    let activations = w
        .registry
        .list_activations(&who(JS_AUDITOR), "", "")
        .await
        .unwrap();
    assert_eq!(
        activations
            .iter()
            .map(|a| a.institution.as_str())
            .collect::<Vec<_>>(),
        ["*"]
    );

    // Nothing changed: no document published, the default's activation
    // still pending.
    assert_eq!(
        w.store.list_documents(None, None).await.unwrap().len(),
        documents_before
    );
    let pending = w.store.list_activations().await.unwrap();
    let default = pending
        .iter()
        .find(|a| a.activation_id == for_default.activation_id)
        .unwrap();
    assert_eq!(default.status, ActivationStatus::Pending);
    assert_eq!(pending.len(), 2);

    // Every refusal is audited, PermissionDenied with the scope, under the
    // institution it was for; the county's auditor sees none of them (they
    // are the province's and HB-ZHONGXIANG's), the province's sees all.
    let log = w.registry.audit_log(&who(AUDITOR), 10_000).await.unwrap();
    let new: Vec<_> = log[..log.len() - audit_before].iter().rev().collect();
    assert_eq!(new.len(), refused.len());
    for (entry, (what, message)) in new.iter().zip(&refused) {
        assert!(!entry.accepted, "{what}: {entry:?}");
        assert_eq!(
            entry.detail,
            format!("PermissionDenied: {message}"),
            "{what}"
        );
        let wanted = if message.contains("HB-ZHONGXIANG") {
            "HB-ZHONGXIANG"
        } else {
            "*"
        };
        assert_eq!(entry.institution, wanted, "{what}: {entry:?}");
    }
    let county = w
        .registry
        .audit_log(&who(JS_AUDITOR), 10_000)
        .await
        .unwrap();
    assert!(county.is_empty(), "{county:?}");
}

#[tokio::test]
async fn a_county_auditor_reads_only_the_audit_entries_of_its_institution() {
    let w = world().await;
    w.registry
        .upload(
            &who(JS_ANALYST),
            &card("2026.5-js", Some("HB-JINGSHAN")),
            "scorecard",
        )
        .await
        .unwrap();
    w.registry
        .upload(&who(ANALYST), &card("2026.2", None), "scorecard")
        .await
        .unwrap();
    let js = w
        .registry
        .request_activation(
            &who(JS_TIAN),
            &target("HB-JINGSHAN", DEFAULT, "2026.5-js"),
            false,
        )
        .await
        .unwrap();
    w.registry
        .request_activation(&who(LI), &target("*", DEFAULT, "2026.2"), false)
        .await
        .unwrap();
    w.registry
        .approve(&who(JS_FENG), &js.activation_id)
        .await
        .unwrap();

    let county: Vec<String> = w
        .registry
        .audit_log(&who(JS_AUDITOR), 0)
        .await
        .unwrap()
        .iter()
        .rev()
        .map(|e| format!("{} {} {} {}", e.institution, e.person, e.action, e.id))
        .collect();
    assert_eq!(
        county,
        [
            "HB-JINGSHAN analyst.gao UploadScorecard farmer-scorecard",
            "HB-JINGSHAN approver.tian RequestActivation HB-JINGSHAN/FARMER_CREDIT",
            "HB-JINGSHAN approver.feng ApproveActivation HB-JINGSHAN/FARMER_CREDIT",
        ]
    );
    let province = w.registry.audit_log(&who(AUDITOR), 0).await.unwrap();
    assert_eq!(province.len(), 5);
    assert!(
        province
            .iter()
            .any(|e| e.institution == "*" && e.action == "RequestActivation")
    );
}
