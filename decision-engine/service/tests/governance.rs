//! Province governance, on the in-memory store with the development tokens.
//!
//! - Institution-scoped access: a county token (`institutions =
//!   ["HB-JINGSHAN"]`) governs HB-JINGSHAN's documents and activations
//!   through every registry call, reads the province's, and is refused
//!   everything of another institution and of the province, with
//!   PERMISSION_DENIED naming the scope, audited, and nothing changed.
//! - The province's documents through the registry: red lines and the
//!   feature schema published, activated for `*` by two province approvers
//!   with an effective time, in force from it for every institution, and
//!   refused when they would break an institution's policy.

use std::path::PathBuf;
use std::sync::Arc;

use decision_core::{Outcome, PolicySet, Request, Slot};
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

const DEFAULT: (&str, &str) = ("farmer-credit-default", "2026.4");

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
        self.decide_aged(institution, request_id, None, "").await
    }

    /// A clean household (01-clean-approve) of `age`, as of `as_of`.
    async fn decide_aged(
        &self,
        institution: &str,
        request_id: &str,
        age: Option<i64>,
        as_of: &str,
    ) -> Arc<decision_core::Decision> {
        let mut json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
        )
        .unwrap();
        if let Some(age) = age {
            json["features"]["age"] = age.into();
        }
        json["institution"] = institution.into();
        self.decide_json(json, request_id, as_of).await
    }

    /// The household of the request file `path` (from the repository root)
    /// decided for `institution` (its own when `None`).
    async fn decide_file(
        &self,
        path: &str,
        institution: Option<&str>,
        request_id: &str,
    ) -> Arc<decision_core::Decision> {
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo(path)).unwrap()).unwrap();
        if let Some(i) = institution {
            json["institution"] = i.into();
        }
        self.decide_json(json, request_id, "").await
    }

    /// Pre-reviews `json` as `request_id` on a fresh decision service (it
    /// reads the activation history anew).
    async fn decide_json(
        &self,
        mut json: serde_json::Value,
        request_id: &str,
        as_of: &str,
    ) -> Arc<decision_core::Decision> {
        json["request_id"] = request_id.into();
        let policies = Policies::new(self.shipped.clone(), self.store.clone())
            .await
            .unwrap();
        let decisions = Decisions::new(Arc::new(policies), Limits::default());
        let review = PreReview {
            request: Request::from_json(&json.to_string()).unwrap(),
            pins: Vec::new(),
            as_of: as_of.into(),
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
    assert_eq!(
        ids,
        [
            "province-red-lines",
            "farmer-credit-default",
            "guaranteed-farmer-default"
        ]
    );
    let all = w
        .registry
        .list_versions(&who(AUDITOR), Some("ruleset".into()), None)
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "the province reads every ruleset");
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

/// The shipped red lines as `version` with `max_age`.
fn red_lines(version: &str, max_age: i64) -> String {
    let mut r = shipped("rulesets/province-red-lines.json");
    r["version"] = version.into();
    assert_eq!(r["parameters"][1]["name"], "max_age");
    r["parameters"][1]["value"] = max_age.into();
    r.to_string()
}

fn province(product: &str, id: &str, version: &str, effective_at: &str) -> ActivationRequest {
    ActivationRequest {
        institution: "*".into(),
        product: product.into(),
        ruleset_id: id.into(),
        ruleset_version: version.into(),
        effective_at: effective_at.into(),
        ..ActivationRequest::default()
    }
}

fn codes(d: &decision_core::Decision) -> Vec<&str> {
    d.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[tokio::test]
async fn a_red_line_change_approved_by_two_province_approvers_binds_every_institution_from_its_time()
 {
    let w = world().await;
    let published = w
        .registry
        .upload(&who(ANALYST), &red_lines("2026.2", 63), "ruleset")
        .await
        .unwrap();
    assert!(published.created);
    let effective = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let effective_at = decision_service::clock::format(effective);
    // A county approver may not; two province approvers do.
    let e = w
        .registry
        .request_activation(
            &who(JS_TIAN),
            &province("RED_LINES", "province-red-lines", "2026.2", &effective_at),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(
        forbidden(e),
        "approver.tian acts for HB-JINGSHAN and not for the province: the province red lines is governed by province roles"
    );
    let a = w
        .registry
        .request_activation(
            &who(LI),
            &province("RED_LINES", "province-red-lines", "2026.2", &effective_at),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        w.registry
            .approve(&who(LI), &a.activation_id)
            .await
            .unwrap_err(),
        ServiceError::Forbidden(format!(
            "four-eyes: approver.li requested activation {} and cannot also approve it",
            a.activation_id
        ))
    );
    w.registry
        .approve(&who(ZHAO), &a.activation_id)
        .await
        .unwrap();

    // Before its time: 2026.1 (max_age 65), a household of 64 is approved.
    let before = w.decide_aged("HB-JINGSHAN", "R-1", Some(64), "").await;
    assert_eq!(before.versions[Slot::RedLines.index()].version, "2026.1");
    assert_eq!(before.decision, Outcome::Approve);
    while std::time::SystemTime::now() <= effective {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // From it, for every institution: 2026.2 (max_age 63) declines them.
    for (institution, id) in [("HB-JINGSHAN", "R-2"), ("HB-ZHONGXIANG", "R-3")] {
        let after = w.decide_aged(institution, id, Some(64), "").await;
        let red = &after.versions[Slot::RedLines.index()];
        assert_eq!(
            (red.id.as_str(), red.version.as_str()),
            ("province-red-lines", "2026.2")
        );
        assert_eq!(red.hash, published.version.hash);
        assert_eq!(after.decision, Outcome::Decline, "{institution}");
        assert_eq!(codes(&after)[0], "R101", "{institution}");
        // 63 is still young enough.
        let young = w
            .decide_aged(institution, &format!("{id}-63"), Some(63), "")
            .await;
        assert_eq!(young.decision, Outcome::Approve);
    }
    // As of a time before it, the old red lines still run (replays).
    let then = w
        .decide_aged(
            "HB-JINGSHAN",
            "R-4",
            Some(64),
            &decision_service::clock::format(effective - std::time::Duration::from_secs(1)),
        )
        .await;
    assert_eq!(then.versions[Slot::RedLines.index()].version, "2026.1");
    assert_eq!(then.decision, Outcome::Approve);
}

#[tokio::test]
async fn a_red_line_change_that_would_loosen_an_institutions_stricter_parameter_is_refused_naming_it()
 {
    let w = world().await;
    // HB-ZHONGXIANG is stricter than the province: max_age 64.
    let mut zx: serde_json::Value =
        serde_json::from_str(&ruleset("zhongxiang-credit", "2026.1", "HB-ZHONGXIANG")).unwrap();
    zx["parameters"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "name": "max_age", "type": "integer", "value": 64,
            "description": "HB-ZHONGXIANG lends to heads of household up to 64"
        }));
    w.registry
        .upload(&who(ANALYST), &zx.to_string(), "ruleset")
        .await
        .unwrap();
    w.activate(target(
        "HB-ZHONGXIANG",
        ("zhongxiang-credit", "2026.1"),
        "2026.1",
    ))
    .await;
    assert_eq!(
        w.decide_aged("HB-ZHONGXIANG", "Z-1", Some(65), "")
            .await
            .decision,
        Outcome::Decline
    );

    // The province lowers max_age to 63: HB-ZHONGXIANG's 64 would then be
    // looser than the red line.
    w.registry
        .upload(&who(ANALYST), &red_lines("2026.2", 63), "ruleset")
        .await
        .unwrap();
    let activations = w.store.list_activations().await.unwrap().len();
    let e = w
        .registry
        .request_activation(
            &who(LI),
            &province("RED_LINES", "province-red-lines", "2026.2", ""),
            false,
        )
        .await
        .unwrap_err();
    let ServiceError::Precondition(m) = e else {
        panic!("expected FAILED_PRECONDITION, got {e:?}");
    };
    assert!(
        m.starts_with("ruleset province-red-lines@2026.2 would break 1 institution policy from "),
        "{m}"
    );
    assert!(
        m.contains(
            "update it first: HB-ZHONGXIANG FARMER_CREDIT (ruleset zhongxiang-credit@2026.1, scorecard farmer-scorecard@2026.1): "
        ),
        "{m}"
    );
    assert!(
        m.contains("64 would loosen the province red line `max_age` = 63"),
        "{m}"
    );
    assert_eq!(w.store.list_activations().await.unwrap().len(), activations);
    // 64 stays fine.
    w.registry
        .upload(&who(ANALYST), &red_lines("2026.3", 64), "ruleset")
        .await
        .unwrap();
    let ok = w
        .registry
        .request_activation(
            &who(LI),
            &province("RED_LINES", "province-red-lines", "2026.3", ""),
            false,
        )
        .await
        .unwrap();
    w.registry
        .approve(&who(ZHAO), &ok.activation_id)
        .await
        .unwrap();
    let d = w.decide_aged("HB-JINGSHAN", "Z-2", Some(65), "").await;
    assert_eq!(d.versions[Slot::RedLines.index()].version, "2026.3");
    assert_eq!(d.decision, Outcome::Decline);

    // Badly aimed province activations are refused, naming the field.
    for (r, field) in [
        (
            ActivationRequest {
                institution: "HB-JINGSHAN".into(),
                ..province("RED_LINES", "province-red-lines", "2026.3", "")
            },
            "institution",
        ),
        (
            ActivationRequest {
                scorecard_id: "farmer-scorecard".into(),
                ..province("RED_LINES", "province-red-lines", "2026.3", "")
            },
            "scorecard_id",
        ),
    ] {
        match w.registry.request_activation(&who(LI), &r, false).await {
            Err(ServiceError::Invalid { fields, .. }) => assert_eq!(fields[0].field, field),
            other => panic!("expected {field} refused, got {other:?}"),
        }
    }
    let e = w
        .registry
        .request_activation(
            &who(LI),
            &province("RED_LINES", "farmer-credit-default", "2026.4", ""),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(
            "ruleset farmer-credit-default@2026.4 is not a province ruleset (layer \"province\")"
                .into()
        )
    );
}

#[tokio::test]
async fn a_feature_schema_version_is_published_and_activated_by_the_province() {
    let w = world().await;
    let mut schema = shipped("rulesets/feature-schema.json");
    schema["version"] = "2026.3".into();
    let published = w
        .registry
        .upload(&who(ANALYST), &schema.to_string(), "feature_schema")
        .await
        .unwrap();
    assert!(published.created);
    let e = w
        .registry
        .request_activation(
            &who(JS_TIAN),
            &province("FEATURE_SCHEMA", "farmer-features", "2026.3", ""),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(
        forbidden(e),
        "approver.tian acts for HB-JINGSHAN and not for the province: the feature schema is governed by province roles"
    );
    w.activate(province("FEATURE_SCHEMA", "farmer-features", "2026.3", ""))
        .await;
    let d = w.decide("HB-JINGSHAN", "F-1").await;
    let v = &d.versions[Slot::Schema.index()];
    assert_eq!(
        (v.version.as_str(), v.hash.as_str()),
        ("2026.3", published.version.hash.as_str())
    );
    assert_eq!(d.decision, Outcome::Approve);
}

/// The shipped market parameters as `version` with `lpr_1y` (and, unless
/// `without_1y`, it).
fn market(version: &str, lpr_1y: &str, without_1y: bool) -> String {
    let mut m = shipped("rulesets/market-parameters.json");
    m["version"] = version.into();
    assert_eq!(m["parameters"][0]["name"], "lpr_1y");
    m["parameters"][0]["value"] = lpr_1y.into();
    m["parameters"][0]["set_on"] = "2026-12-20".into();
    if without_1y {
        m["parameters"].as_array_mut().unwrap().remove(0);
    }
    m.to_string()
}

/// The institution's own base rate, when its price step applied.
fn own_base(d: &decision_core::Decision) -> Option<rust_decimal::Decimal> {
    let step = d
        .trace
        .as_ref()
        .unwrap()
        .price
        .steps
        .iter()
        .find(|s| &*s.id == "own_base_rate")?;
    step.applied.then_some(step.after)
}

/// The price step that sets the base rate, and the LPR value it read.
fn lpr_read(d: &decision_core::Decision) -> (String, String) {
    let step = &d.trace.as_ref().unwrap().price.steps[0];
    let (name, value) = step.inputs.iter().next().unwrap();
    (
        name.to_string(),
        serde_json::to_value(value).unwrap().to_string(),
    )
}

#[tokio::test]
async fn an_lpr_change_approved_once_moves_every_rate_that_follows_the_market_at_its_time_and_not_a_fixed_one()
 {
    let w = world().await;
    // HB-FIXED follows the default through an overlay that fixes its own
    // base rate (3.00%) instead of the LPR.
    let fixed = serde_json::json!({
        "kind": "ruleset_overlay", "id": "hb-fixed-credit", "version": "2026.1",
        "institution": "HB-FIXED", "product": "FARMER_CREDIT",
        "base": {"id": "farmer-credit-default", "follow": "active"},
        "parameters": [{"name": "own_base_rate", "value": "0.0300",
                        "description": "the pricing committee's house rate"}]
    });
    w.registry
        .upload(&who(ANALYST), &fixed.to_string(), "ruleset_overlay")
        .await
        .unwrap();
    w.activate(target("HB-FIXED", ("hb-fixed-credit", "2026.1"), "2026.1"))
        .await;

    // The LPR moves from 3.00% to 3.10%: one document, one activation.
    let published = w
        .registry
        .upload(
            &who(ANALYST),
            &market("2026.12", "0.0310", false),
            "market_parameters",
        )
        .await
        .unwrap();
    let e = w
        .registry
        .upload(
            &who(JS_ANALYST),
            &market("2026.13", "0.0310", false),
            "market_parameters",
        )
        .await
        .unwrap_err();
    assert_eq!(
        forbidden(e),
        "analyst.gao acts for HB-JINGSHAN and not for the province: the market parameters market-parameters is governed by province roles"
    );
    let effective = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let effective_at = decision_service::clock::format(effective);
    let change = province(
        "MARKET_PARAMETERS",
        "market-parameters",
        "2026.12",
        &effective_at,
    );
    let e = w
        .registry
        .request_activation(&who(JS_TIAN), &change, false)
        .await
        .unwrap_err();
    assert_eq!(
        forbidden(e),
        "approver.tian acts for HB-JINGSHAN and not for the province: the market parameters is governed by province roles"
    );
    w.activate(change.clone()).await;

    let market_version = |d: &decision_core::Decision| {
        let v = d
            .versions
            .iter()
            .find(|v| v.kind == "market_parameters")
            .unwrap();
        (v.version.clone(), v.hash.clone())
    };
    // Before its time: 3.00%. The clean household (AAA) pays
    // LPR 3.00% + 0.60% grade spread - 0.20% clean history = 3.40%.
    let mut before = Vec::new();
    for (institution, id) in [
        ("HB-JINGSHAN", "L-1"),
        ("HB-ZHONGXIANG", "L-2"),
        ("HB-FIXED", "L-3"),
    ] {
        let d = w.decide(institution, id).await;
        assert_eq!(
            d.annual_rate,
            Some("0.0340".parse().unwrap()),
            "{institution}"
        );
        assert_eq!(market_version(&d).0, "2026.11", "{institution}");
        before.push(d);
    }
    assert_eq!(lpr_read(&before[0]), ("lpr_1y".into(), "\"0.0300\"".into()));
    assert_eq!(own_base(&before[2]), Some("0.03".parse().unwrap()));
    assert_eq!(own_base(&before[0]), None);
    while std::time::SystemTime::now() <= effective {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // From it: 3.50% for every institution that follows the market, with
    // the version and the value it read recorded; HB-FIXED keeps 3.40%.
    for (institution, id, rate) in [
        ("HB-JINGSHAN", "L-4", "0.0350"),
        ("HB-ZHONGXIANG", "L-5", "0.0350"),
        ("HB-FIXED", "L-6", "0.0340"),
    ] {
        let d = w.decide(institution, id).await;
        assert_eq!(d.annual_rate, Some(rate.parse().unwrap()), "{institution}");
        assert_eq!(
            market_version(&d),
            ("2026.12".to_string(), published.version.hash.clone()),
            "{institution}"
        );
        assert_eq!(lpr_read(&d), ("lpr_1y".into(), "\"0.0310\"".into()));
        if institution == "HB-FIXED" {
            assert_eq!(own_base(&d), Some("0.03".parse().unwrap()));
        }
        assert_eq!(d.limit, before[0].limit, "the LPR moves no limit");
    }

    // Market parameters without `lpr_1y` are refused at upload: both
    // products' defaults read it (every problem listed, nothing published).
    let e = w
        .registry
        .upload(
            &who(ANALYST),
            &market("2026.13", "0.0310", true),
            "market_parameters",
        )
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, .. } = e else {
        panic!("expected INVALID_ARGUMENT, got {e:?}");
    };
    assert_eq!(
        fields
            .iter()
            .map(|f| format!("{} {}", f.message.split(':').next().unwrap(), f.field))
            .collect::<Vec<_>>(),
        [
            "rulesets/farmer-credit-default.json price.steps[0] lpr.value",
            "rulesets/farmer-credit-default.json price.floor",
            "rulesets/farmer-credit-default.json price.cap",
            "rulesets/guaranteed-farmer-default.json price.steps[0] lpr.value",
            "rulesets/guaranteed-farmer-default.json price.floor",
            "rulesets/guaranteed-farmer-default.json price.cap",
        ]
    );
    assert!(fields[0].message.contains("unknown identifier `lpr_1y`"));
    assert!(
        w.store
            .find_document("market_parameters", "market-parameters", "2026.13")
            .await
            .unwrap()
            .is_none()
    );
    // An institution's activated ruleset reading `lpr_5y` (not loaded at
    // start, so the upload passes): an activation of market parameters
    // without it is refused, naming the institution.
    let mut long: serde_json::Value =
        serde_json::from_str(&ruleset("long-term-credit", "2026.1", "HB-LONG")).unwrap();
    long["price"]["cap"] = "2 * lpr_5y".into();
    w.registry
        .upload(&who(ANALYST), &long.to_string(), "ruleset")
        .await
        .unwrap();
    w.activate(target("HB-LONG", ("long-term-credit", "2026.1"), "2026.1"))
        .await;
    let mut no_5y = shipped("rulesets/market-parameters.json");
    no_5y["version"] = "2026.14".into();
    no_5y["parameters"].as_array_mut().unwrap().remove(1);
    w.registry
        .upload(&who(ANALYST), &no_5y.to_string(), "market_parameters")
        .await
        .unwrap();
    let e = w
        .registry
        .request_activation(
            &who(LI),
            &province("MARKET_PARAMETERS", "market-parameters", "2026.14", ""),
            false,
        )
        .await
        .unwrap_err();
    let ServiceError::Precondition(m) = e else {
        panic!("expected FAILED_PRECONDITION, got {e:?}");
    };
    assert!(
        m.starts_with(
            "market_parameters market-parameters@2026.14 would break 1 institution policy from "
        ),
        "{m}"
    );
    assert!(
        m.contains("HB-LONG FARMER_CREDIT (ruleset long-term-credit@2026.1, scorecard farmer-scorecard@2026.1)"),
        "{m}"
    );
    assert!(m.contains("unknown identifier `lpr_5y`"), "{m}");
}

/// HB-A's overlay on the default: two parameter overrides and one added
/// knock-out rule; following the default's active version or pinning
/// `pin`.
fn overlay(id: &str, institution: &str, pin: Option<&str>) -> serde_json::Value {
    let base = match pin {
        Some(v) => serde_json::json!({"id": "farmer-credit-default", "version": v}),
        None => serde_json::json!({"id": "farmer-credit-default", "follow": "active"}),
    };
    serde_json::json!({
        "kind": "ruleset_overlay",
        "id": id,
        "version": "2026.1",
        "institution": institution,
        "product": "FARMER_CREDIT",
        "description": "Smaller limits go to a person; a lower cap for thin files; no credit on less than 4 mu",
        "base": base,
        "parameters": [
            {"name": "large_limit_refer", "value": "150000", "description": "county approver from 150,000"},
            {"name": "thin_file_cap", "value": "40000"}
        ],
        "rules": [{
            "id": "KO_SMALL_LAND", "stage": "knockout",
            "expression": "land_area_mu < 4", "when_missing": false,
            "reason_code": "K250",
            "message_zh": "经营土地面积不足4亩", "message_en": "Less than 4 mu of farmed land"
        }]
    })
}

/// The same policy written as a full copy of the default.
fn full_copy(id: &str, institution: &str) -> serde_json::Value {
    let mut r: serde_json::Value =
        serde_json::from_str(&ruleset(id, "2026.1", institution)).unwrap();
    for p in r["parameters"].as_array_mut().unwrap() {
        match p["name"].as_str().unwrap() {
            "large_limit_refer" => p["value"] = "150000".into(),
            "thin_file_cap" => p["value"] = "40000".into(),
            _ => {}
        }
    }
    r["rules"]
        .as_array_mut()
        .unwrap()
        .push(overlay("x", "x", None)["rules"][0].clone());
    r
}

const EXAMPLES: [&str; 17] = [
    "01-clean-approve.json",
    "02-grade-aa.json",
    "03-grade-a-new-to-bank.json",
    "04-grade-b.json",
    "05-grade-c-decline.json",
    "06-thin-file-strong-review.json",
    "07-thin-file-weak-review.json",
    "08-red-line-age.json",
    "09-red-line-bureau-overdue.json",
    "10-red-line-worst-class.json",
    "11-red-line-court-enforcement.json",
    "12-review-veto.json",
    "13-red-line-inquiries.json",
    "14-red-line-bank-overdue.json",
    "15-missing-optional-data.json",
    "16-large-limit-refer.json",
    "17-near-cutoff-refer.json",
];

impl World {
    /// An example household decided for `institution`.
    async fn example(
        &self,
        file: &str,
        institution: &str,
        id: &str,
    ) -> Arc<decision_core::Decision> {
        self.decide_file(&format!("examples/requests/{file}"), Some(institution), id)
            .await
    }

    async fn activate_pair(&self, institution: &str, ruleset: (&str, &str)) {
        self.activate(target(institution, ruleset, "2026.1")).await;
    }

    /// `r` requested by one province approver and approved by another.
    async fn activate(&self, r: ActivationRequest) {
        let a = self
            .registry
            .request_activation(&who(LI), &r, false)
            .await
            .unwrap();
        self.registry
            .approve(&who(ZHAO), &a.activation_id)
            .await
            .unwrap();
    }
}

/// What a decision decided, without the names of the documents.
fn outcome_of(d: &decision_core::Decision) -> String {
    let trace = d.trace.as_ref().unwrap();
    format!(
        "{:?} {} {} {} {:?} {:?} {:?} {:?}",
        d.decision,
        d.score,
        d.grade,
        d.limit,
        d.annual_rate,
        codes(d),
        d.flags.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(),
        trace
            .knockout
            .iter()
            .map(|k| (k.id.to_string(), k.hit))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn an_overlay_decides_as_its_full_copy_and_a_later_change_of_the_default_reaches_it() {
    let w = world().await;
    for (json, kind) in [
        (overlay("hb-a-credit", "HB-A", None), "ruleset_overlay"),
        (
            overlay("hb-c-credit", "HB-C", Some("2026.4")),
            "ruleset_overlay",
        ),
        (full_copy("hb-b-credit", "HB-B"), "ruleset"),
    ] {
        let p = w
            .registry
            .upload(&who(ANALYST), &json.to_string(), kind)
            .await
            .unwrap();
        assert!(p.created);
    }
    w.activate_pair("HB-A", ("hb-a-credit", "2026.1")).await;
    w.activate_pair("HB-C", ("hb-c-credit", "2026.1")).await;
    w.activate_pair("HB-B", ("hb-b-credit", "2026.1")).await;

    // Every example household: the overlay decides exactly as the full copy.
    let mut differs_from_default = Vec::new();
    for (n, file) in EXAMPLES.iter().enumerate() {
        let a = w.example(file, "HB-A", &format!("A-{n}")).await;
        let b = w.example(file, "HB-B", &format!("B-{n}")).await;
        assert_eq!(outcome_of(&a), outcome_of(&b), "{file}");
        let default = w.example(file, "HB-DEFAULT", &format!("D-{n}")).await;
        let decided = |d: &decision_core::Decision| {
            format!(
                "{:?} {} {:?} {:?}",
                d.decision,
                d.limit,
                d.annual_rate,
                codes(d)
            )
        };
        if decided(&a) != decided(&default) {
            differs_from_default.push(*file);
        }
        // The added knock-out runs after the base's, and is traced.
        let ko = &a.trace.as_ref().unwrap().knockout;
        assert_eq!(&*ko.last().unwrap().id, "KO_SMALL_LAND", "{file}");
    }
    // Where the overlay's changes bite: 05 (3 mu) is knocked out by the
    // added rule before its grade declines it; 06 and 07 are thin files,
    // capped at 40,000 instead of 50,000.
    assert_eq!(
        differs_from_default,
        [
            "05-grade-c-decline.json",
            "06-thin-file-strong-review.json",
            "07-thin-file-weak-review.json"
        ]
    );
    let thin = w
        .example("06-thin-file-strong-review.json", "HB-A", "A-t")
        .await;
    assert_eq!(thin.limit, "40000".parse().unwrap());
    let small = w.example("05-grade-c-decline.json", "HB-A", "A-s").await;
    assert_eq!(codes(&small)[0], "K250");

    // The decision records the effective ruleset (its own hash), naming
    // the overlay and the base, and explains which layer is which.
    let a = w.example("16-large-limit-refer.json", "HB-A", "A-x").await;
    let rs = &a.versions[Slot::Ruleset.index()];
    assert_eq!(
        (rs.id.as_str(), rs.version.as_str()),
        ("hb-a-credit", "2026.1+farmer-credit-default@2026.4")
    );
    let layers = a.layers.as_ref().unwrap();
    assert_eq!(
        (
            layers.base.version.as_str(),
            layers.overlay.version.as_str(),
            layers.follows.as_str()
        ),
        ("2026.4", "2026.1", "active")
    );
    let stored = w.store.get_document(&rs.hash).await.unwrap().unwrap();
    assert_eq!(stored.kind, "ruleset");
    let explained = decision_core::explain(&a, decision_core::Lang::En);
    assert!(
        explained.contains("Layers: overlay hb-a-credit@2026.1 on the province default farmer-credit-default@2026.4 (follows its active version;"),
        "{explained}"
    );
    assert!(
        explained.contains(
            "parameter large_limit_refer = 150000 (from the overlay; the base has 200000)"
        ),
        "{explained}"
    );
    assert!(
        explained.contains("rule KO_SMALL_LAND (added by the overlay)"),
        "{explained}"
    );

    // The province moves the default's cut-off (560 -> 590): one approved
    // change reaches HB-A, which follows it and does not override it; not
    // HB-B (a full copy) nor HB-C (pinned to 2026.4).
    let mut next: serde_json::Value = shipped("rulesets/farmer-credit-default.json");
    next["version"] = "2026.5".into();
    for p in next["parameters"].as_array_mut().unwrap() {
        if p["name"] == "cutoff_score" {
            p["value"] = "590".into();
        }
    }
    w.registry
        .upload(&who(ANALYST), &next.to_string(), "ruleset")
        .await
        .unwrap();
    w.activate_pair("*", ("farmer-credit-default", "2026.5"))
        .await;
    let grade_b = |institution: &'static str, id: &'static str| {
        let w = &w;
        async move { w.example("04-grade-b.json", institution, id).await }
    };
    let a = grade_b("HB-A", "A-b").await;
    assert_eq!(
        (a.decision, codes(&a)[0]),
        (Outcome::Refer, "F303"),
        "score 595 is now within 10 of 590"
    );
    assert_eq!(
        a.versions[Slot::Ruleset.index()].version,
        "2026.1+farmer-credit-default@2026.5"
    );
    assert_eq!(a.layers.as_ref().unwrap().overrides[0].overlay, "150000");
    // `diff` of the two effective rulesets shows what moved and in which
    // layer.
    let diff = w
        .registry
        .diff(
            &who(AUDITOR),
            "ruleset",
            "hb-a-credit",
            "2026.1+farmer-credit-default@2026.4",
            "2026.1+farmer-credit-default@2026.5",
        )
        .await
        .unwrap();
    assert!(
        diff.contains(&"parameters[cutoff_score].value: `560` -> `590`".to_string()),
        "{diff:#?}"
    );
    assert!(
        diff.contains(&"layers.base.version: `2026.4` -> `2026.5`".to_string()),
        "{diff:#?}"
    );
    for institution in ["HB-B", "HB-C"] {
        let d = w.example("04-grade-b.json", institution, "x-b").await;
        assert_eq!(d.decision, Outcome::Approve, "{institution}");
    }

    // A default that would break the overlay following it is refused,
    // naming it: 2026.6 brings its own KO_SMALL_LAND.
    let mut clash = next.clone();
    clash["version"] = "2026.6".into();
    clash["rules"]
        .as_array_mut()
        .unwrap()
        .push(overlay("x", "x", None)["rules"][0].clone());
    w.registry
        .upload(&who(ANALYST), &clash.to_string(), "ruleset")
        .await
        .unwrap();
    let e = w
        .registry
        .request_activation(
            &who(LI),
            &target("*", ("farmer-credit-default", "2026.6"), "2026.1"),
            false,
        )
        .await
        .unwrap_err();
    let ServiceError::Precondition(m) = e else {
        panic!("expected FAILED_PRECONDITION, got {e:?}");
    };
    assert!(
        m.starts_with("ruleset farmer-credit-default@2026.6 would break 1 institution overlay that follows it from "),
        "{m}"
    );
    assert!(
        m.contains(
            "HB-A FARMER_CREDIT (overlay hb-a-credit@2026.1, scorecard farmer-scorecard@2026.1)"
        ),
        "{m}"
    );
    assert!(m.contains("rules[0] KO_SMALL_LAND"), "{m}");

    // Rulesets and overlays share one name space, and `+` is the merged
    // label's: a ruleset under HB-A's overlay id and version is refused.
    let mut squat = full_copy("hb-a-credit", "HB-A");
    squat["version"] = "2026.1".into();
    let e = w
        .registry
        .upload(&who(ANALYST), &squat.to_string(), "ruleset")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Conflict(m) if m.starts_with("ruleset_overlay hb-a-credit version 2026.1 is already published")),
        "{e:?}"
    );
    squat["version"] = "2026.1+farmer-credit-default@2026.9".into();
    match w
        .registry
        .upload(&who(ANALYST), &squat.to_string(), "ruleset")
        .await
    {
        Err(ServiceError::Invalid { fields, .. }) => assert_eq!(fields[0].field, "version"),
        other => panic!("expected the version refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_overlay_is_refused_with_every_problem_and_nothing_is_published() {
    let w = world().await;
    let mut bad = overlay("hb-a-credit", "HB-A", None);
    bad["parameters"] = serde_json::json!([
        {"name": "max_limit_typo", "value": "1"},
        {"name": "large_limit_refer", "value": "lots"}
    ]);
    bad["disabled_rules"] = serde_json::json!(["RL_AGE", "RF_NEAR_CUTOFF"]);
    let mut taken = bad["rules"][0].clone();
    taken["id"] = "RF_LARGE_LIMIT".into();
    bad["rules"].as_array_mut().unwrap().push(taken);
    let e = w
        .registry
        .upload(&who(ANALYST), &bad.to_string(), "ruleset_overlay")
        .await
        .unwrap_err();
    let ServiceError::Invalid { fields, .. } = e else {
        panic!("expected INVALID_ARGUMENT, got {e:?}");
    };
    let got: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(got[0].starts_with("parameters[0] max_limit_typo: farmer-credit-default@2026.4 declares no parameter `max_limit_typo`: an overlay changes the base's parameters, it adds none"), "{got:#?}");
    assert!(
        got[1].starts_with("parameters[1] large_limit_refer.value: "),
        "{got:#?}"
    );
    assert_eq!(
        got[2],
        "disabled_rules[0] RL_AGE: farmer-credit-default@2026.4 has no rule `RL_AGE`: an overlay switches off rules of the base only (province red lines can never be switched off)"
    );
    assert_eq!(
        got[3],
        "rules[1] RF_LARGE_LIMIT: farmer-credit-default@2026.4 (or this overlay) already has a rule `RF_LARGE_LIMIT`: give the added rule an id of its own"
    );
    // What an overlay says on its own: both a follow and a pin, for `*`.
    let mut bad = overlay("hb-a-credit", "*", Some("2026.4"));
    bad["base"]["follow"] = "active".into();
    let e = w
        .registry
        .validate(&who(ANALYST), &bad.to_string())
        .await
        .unwrap();
    assert_eq!(
        e.problems,
        [
            "institution: an overlay is one institution's: name it (the base is the province's `*`)",
            "base: either \"follow\": \"active\" or a pinned \"version\", not both",
        ]
    );
    assert!(
        w.store
            .list_documents(Some("ruleset_overlay".into()), None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_catalogue_entry_change_reaches_its_products_policies_and_no_other() {
    let w = world().await;
    let g2 = |id: &'static str| {
        let w = &w;
        async move {
            w.decide_file(
                "examples/guaranteed/g2-guarantee-company-large-refer.json",
                None,
                id,
            )
            .await
        }
    };
    let product_version = |d: &decision_core::Decision| {
        d.versions
            .iter()
            .find(|v| v.kind == "product")
            .map(|v| format!("{}@{}", v.id, v.version))
            .unwrap()
    };
    // As shipped: 450,000 asked over 60 months, within 500,000 and 60.
    let before = g2("P-1").await;
    assert_eq!(
        (before.decision, before.limit.to_string(), codes(&before)[0]),
        (Outcome::Refer, "450000".to_string(), "F311")
    );
    assert_eq!(product_version(&before), "GUARANTEED_FARMER_CREDIT@2026.1");

    // The province lowers the product's maximum to 400,000 and its term to
    // 48 months: one catalogue entry, one activation.
    let mut entry = shipped("rulesets/product-guaranteed-farmer-credit.json");
    entry["version"] = "2026.2".into();
    entry["max_amount"] = "400000".into();
    entry["max_term_months"] = 48.into();
    let e = w
        .registry
        .upload(&who(JS_ANALYST), &entry.to_string(), "product")
        .await
        .unwrap_err();
    assert_eq!(
        forbidden(e),
        "analyst.gao acts for HB-JINGSHAN and not for the province: the product catalogue entry GUARANTEED_FARMER_CREDIT is governed by province roles"
    );
    w.registry
        .upload(&who(ANALYST), &entry.to_string(), "product")
        .await
        .unwrap();
    // Aimed at another product's key: refused naming the field.
    let mut wrong = province(
        "PRODUCT:FARMER_CREDIT",
        "GUARANTEED_FARMER_CREDIT",
        "2026.2",
        "",
    );
    match w.registry.request_activation(&who(LI), &wrong, false).await {
        Err(ServiceError::Invalid { fields, .. }) => assert_eq!(fields[0].field, "product"),
        other => panic!("expected the product field refused, got {other:?}"),
    }
    wrong.product = "PRODUCT:GUARANTEED_FARMER_CREDIT".into();
    w.activate(wrong.clone()).await;

    // The limit is capped at the new maximum and 60 months now goes to a
    // person; FARMER_CREDIT keeps its own entry.
    let after = g2("P-2").await;
    assert_eq!(product_version(&after), "GUARANTEED_FARMER_CREDIT@2026.2");
    assert_eq!(after.limit.to_string(), "400000");
    assert_eq!(&codes(&after)[..2], ["F311", "F312"]);
    let farmer = w.decide("HB-JINGSHAN", "P-3").await;
    assert_eq!(product_version(&farmer), "FARMER_CREDIT@2026.1");
    assert_eq!(farmer.limit.to_string(), "150000");
}

#[tokio::test]
async fn a_segmented_policy_activated_through_the_registry_records_and_replays_its_segment() {
    let w = world().await;
    for (file, kind) in [
        (
            "examples/policies/farmer-thin-file-scorecard.json",
            "scorecard",
        ),
        (
            "examples/policies/farmer-credit-default-2026.7-segmented.json",
            "ruleset",
        ),
    ] {
        let json = std::fs::read_to_string(repo(file)).unwrap();
        assert!(
            w.registry
                .upload(&who(ANALYST), &json, kind)
                .await
                .unwrap()
                .created
        );
    }
    // The activation names the ruleset and its main (bureau) card; the
    // thin-file card comes with the ruleset's segments.
    w.activate_pair("HB-SEG", ("farmer-credit-default", "2026.7"))
        .await;
    let mut ids = Vec::new();
    for (file, segment, card, score) in [
        (
            "06-thin-file-strong-review.json",
            "thin_file",
            "farmer-thin-file-scorecard",
            "620",
        ),
        ("01-clean-approve.json", "bureau", "farmer-scorecard", "690"),
    ] {
        let d = w
            .decide_file(&format!("examples/requests/{file}"), Some("HB-SEG"), file)
            .await;
        let trace = d.trace.as_ref().unwrap();
        assert_eq!(&*trace.segment.as_ref().unwrap().id, segment, "{file}");
        assert_eq!(trace.scorecard.id, card, "{file}");
        assert_eq!(d.score.to_string(), score, "{file}");
        assert!(
            d.versions
                .iter()
                .any(|v| v.id == "farmer-thin-file-scorecard" && v.version == "2026.1"),
            "{file}: the segment's card is recorded"
        );
        ids.push(d.decision_id.clone());
    }
    // Each stored decision replays to the identical decision.
    let policies = Policies::new(w.shipped.clone(), w.store.clone())
        .await
        .unwrap();
    let decisions = Decisions::new(Arc::new(policies), Limits::default());
    for id in ids {
        let replayed = decisions.replay(&id).await.unwrap();
        assert!(
            replayed.differences.is_empty(),
            "{:?}",
            replayed.differences
        );
        assert!(replayed.replayed.trace.unwrap().segment.is_some());
    }
}
