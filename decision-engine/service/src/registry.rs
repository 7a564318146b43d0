//! The policy registry's rules. Analysts publish versioned policy
//! documents, validated in full against the policy set in force first;
//! versions are immutable (a version names one content hash). Approvers ask
//! for an activation of a ruleset and scorecard version for an institution
//! and product from a time, and a second approver (four-eyes: neither the
//! requester nor an uploader of the versions) approves it; a rollback is an
//! activation of versions that ran before. A monitoring policy is
//! activated the same way for the reserved product
//! [`MONITORING_PRODUCT`], alone (no scorecard). Every call, accepted or
//! refused, goes to the audit log.
//!
//! Every call is scoped ([`Scope`]): a token of some institutions publishes,
//! activates, approves and rolls back only their documents and activations;
//! the province's (the feature schema, the red lines, the default `*`, a
//! document without an institution) are governed by province tokens. A
//! county token reads the province's documents and activations (they bind
//! it) and its own institutions', never another's; its auditors read the
//! audit entries of their institutions only. A refusal is
//! [`ServiceError::Forbidden`] naming the scope, and is audited.

use std::sync::Arc;
use std::time::SystemTime;

use decision_core::model::ruleset::Layer;
use decision_core::{Document, PolicySet, Slot, VersionRef, compile_exact};
use decision_store::{ActivationRecord, ActivationStatus, AuditEntry, Store, StoredDocument};

use crate::auth::{Bearer, Principal, Role, Scope, Tokens};
use crate::monitoring::MONITORING_PRODUCT;
use crate::policy::{
    CATALOGUE_PREFIX, MARKET_PRODUCT, ProvinceDoc, RED_LINES_PRODUCT, SCHEMA_PRODUCT, in_force,
    province_in_force,
};
use crate::{ServiceError, clock};

/// The kinds of the documents an activation of `product` names, in the
/// order of its (ruleset, scorecard) columns; a monitoring policy's has
/// one.
fn activated_kinds(product: &str) -> &'static [&'static str] {
    match product {
        MONITORING_PRODUCT => &["monitoring_policy"],
        RED_LINES_PRODUCT => &["ruleset"],
        SCHEMA_PRODUCT => &["feature_schema"],
        MARKET_PRODUCT => &["market_parameters"],
        p if p.starts_with(CATALOGUE_PREFIX) => &["product"],
        _ => &["ruleset", "scorecard"],
    }
}

/// Whom an activation is for: the province for its own documents and the
/// default `*`, else the institution.
fn activation_scope(institution: &str, product: &str) -> Scope {
    match ProvinceDoc::of_product(product) {
        Some(d) => Scope::Province(d.describe().into()),
        None => Scope::of_institution(institution),
    }
}

/// An activation's effective time as a time: empty is now.
fn effective_time(effective_at: &str) -> SystemTime {
    clock::parse(effective_at).unwrap_or_else(|_| SystemTime::now())
}

/// The kinds of document the registry publishes.
pub const PUBLISHED_KINDS: &[&str] = &[
    "feature_schema",
    "ruleset",
    "scorecard",
    "monitoring_policy",
    "market_parameters",
    "ruleset_overlay",
    "product",
];

/// A document's `kind`, read from its JSON (empty when there is none).
pub fn kind_of(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// What a store failure means to a registry caller.
const UNCHANGED: &str = "nothing was changed";

fn unavailable(e: decision_store::StoreError) -> ServiceError {
    ServiceError::store(e, UNCHANGED)
}

/// A publish: the version as stored, and whether this call created it.
#[derive(Clone, Debug)]
pub struct Published {
    pub version: StoredDocument,
    pub created: bool,
}

/// A document checked without publishing it.
#[derive(Clone, Debug)]
pub struct Validation {
    /// Every problem, `place: message`; empty when valid.
    pub problems: Vec<String>,
    /// The version it would publish, when valid.
    pub version: Option<VersionRef>,
}

/// An activation or rollback asked for.
#[derive(Clone, Debug, Default)]
pub struct ActivationRequest {
    pub institution: String,
    pub product: String,
    pub ruleset_id: String,
    pub ruleset_version: String,
    pub scorecard_id: String,
    pub scorecard_version: String,
    /// RFC 3339; empty: as soon as approved.
    pub effective_at: String,
    /// Other versions decided beside these (champion/challenger).
    pub challenger: Option<decision_store::Challenger>,
}

/// What an action touched, for the audit log.
#[derive(Default)]
struct Subject {
    kind: String,
    id: String,
    version: String,
    hash: String,
    /// The institution it is for (`*`: the province), when known.
    institution: String,
}

impl Subject {
    fn of(v: &VersionRef) -> Subject {
        Subject {
            kind: v.kind.clone(),
            id: v.id.clone(),
            version: v.version.clone(),
            hash: v.hash.clone(),
            institution: String::new(),
        }
    }

    fn within(mut self, scope: &Scope) -> Subject {
        self.institution = scope.audit_name().to_string();
        self
    }
}

/// Whom a document is for, from its JSON: the province for the feature
/// schema, the red lines, and any document without an institution or with
/// `*`; else the institution it names.
pub fn document_scope(json: &serde_json::Value) -> Scope {
    let text = |key: &str| json.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    let (kind, id) = (text("kind"), text("id"));
    if kind == "feature_schema" {
        return Scope::Province(format!("the feature schema {id}"));
    }
    if kind == "market_parameters" {
        return Scope::Province(format!("the market parameters {id}"));
    }
    if kind == "product" {
        return Scope::Province(format!("the product catalogue entry {id}"));
    }
    if kind == "ruleset" && text("layer") == "province" {
        return Scope::Province(format!("the province red lines {id}"));
    }
    match text("institution").trim() {
        "" | "*" => Scope::Province(format!(
            "the province's {} {id} (written for every institution)",
            kind.replace('_', " ")
        )),
        i => Scope::Institution(i.to_string()),
    }
}

/// [`document_scope`] of a document's text; `None` when it is no JSON
/// object (validation says why).
fn scope_of_text(json: &str) -> Option<Scope> {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .filter(serde_json::Value::is_object)
        .map(|v| document_scope(&v))
}

/// Any role may read.
const ANY_ROLE: &[Role] = &[Role::Analyst, Role::Approver, Role::Auditor];

/// The registry over a store `S`.
pub struct Registry<S> {
    policies: Arc<PolicySet>,
    store: Arc<S>,
    tokens: Arc<Tokens>,
}

/// A refused document: every problem as a field, in one error.
fn invalid(problems: Vec<(String, String)>) -> ServiceError {
    let summary = problems
        .iter()
        .map(|(p, m)| {
            if p.is_empty() {
                m.clone()
            } else {
                format!("{p}: {m}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    ServiceError::Invalid {
        summary: format!("invalid document, nothing published: {summary}"),
        fields: problems
            .into_iter()
            .map(|(field, message)| decision_core::FieldError { field, message })
            .collect(),
    }
}

impl<S: Store> Registry<S> {
    pub fn new(policies: Arc<PolicySet>, store: Arc<S>, tokens: Arc<Tokens>) -> Self {
        Registry {
            policies,
            store,
            tokens,
        }
    }

    async fn audit(
        &self,
        person: &str,
        role: &str,
        action: &str,
        subject: &Subject,
        result: Result<String, &ServiceError>,
    ) {
        let entry = AuditEntry {
            at: clock::now_seconds(),
            person: person.to_string(),
            role: role.to_string(),
            action: action.to_string(),
            kind: subject.kind.clone(),
            id: subject.id.clone(),
            version: subject.version.clone(),
            hash: subject.hash.clone(),
            accepted: result.is_ok(),
            detail: match result {
                Ok(d) => d,
                Err(e) => format!("{}: {e}", e.code_name()),
            },
            institution: subject.institution.clone(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!("cannot write the audit log: {e}");
        }
    }

    /// Audits a refusal and returns it.
    async fn refuse(
        &self,
        who: &Principal,
        role: Role,
        action: &str,
        subject: &Subject,
        e: ServiceError,
    ) -> ServiceError {
        self.audit(&who.person, role.name(), action, subject, Err(&e))
            .await;
        e
    }

    /// Refuses (and audits) unless `who` governs `scope`.
    async fn require_governs(
        &self,
        who: &Principal,
        role: Role,
        action: &str,
        subject: &Subject,
        scope: &Scope,
    ) -> Result<(), ServiceError> {
        match who.require_governs(scope) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.refuse(who, role, action, subject, e).await),
        }
    }

    /// Checks the caller's role, auditing a refusal.
    async fn authorize(
        &self,
        caller: &Bearer<'_>,
        action: &str,
        roles: &[Role],
    ) -> Result<(Principal, Role), ServiceError> {
        match self.tokens.authorize(caller, roles) {
            Ok((p, role)) => Ok((p, role)),
            Err(e) => {
                let person = self
                    .tokens
                    .identify(caller)
                    .map_or("(unknown)".to_string(), |p| p.person.clone());
                self.audit(&person, "", action, &Subject::default(), Err(&e))
                    .await;
                Err(e)
            }
        }
    }

    /// Parses and validates `json` against the policy set in force (it
    /// replaces the document of the same kind and id).
    fn check(
        &self,
        json: &str,
        expected_kind: Option<&str>,
        extra: Vec<Document>,
    ) -> Result<Document, ServiceError> {
        let doc = Document::parse("upload", json).map_err(|e| {
            invalid(
                e.issues
                    .iter()
                    .map(|i| (i.place.clone(), i.message.clone()))
                    .collect(),
            )
        })?;
        let v = doc.version_ref();
        if let Some(kind) = expected_kind
            && v.kind != kind
        {
            return Err(invalid(vec![(
                "kind".into(),
                format!("expected a {kind} document, found {}", v.kind),
            )]));
        }
        // An overlay runs on the base it names, which may be a version not
        // loaded here: checked on its own now, then merged and compiled
        // with that base ([`Registry::overlay_runs`]).
        if let Document::Overlay(o) = &doc {
            decision_core::compile::overlay::check(o).map_err(|e| {
                invalid(
                    e.issues
                        .iter()
                        .map(|i| (i.place.clone(), i.message.clone()))
                        .collect(),
                )
            })?;
            return Ok(doc);
        }
        let mut docs: Vec<Document> = self
            .policies
            .documents()
            .iter()
            .filter(|d| {
                let o = d.version_ref();
                !(o.kind == v.kind && o.id == v.id)
            })
            .cloned()
            .collect();
        docs.push(doc.clone());
        docs.extend(extra);
        PolicySet::from_documents(docs).map_err(|e| {
            invalid(
                e.issues
                    .iter()
                    .map(|i| (i.place.clone(), format!("{}: {}", i.document, i.message)))
                    .collect(),
            )
        })?;
        Ok(doc)
    }

    /// Publishes a `kind` document (`ruleset`, `scorecard` or
    /// `monitoring_policy`); publishing the identical version again changes
    /// nothing.
    pub async fn upload(
        &self,
        caller: &Bearer<'_>,
        json: &str,
        kind: &str,
    ) -> Result<Published, ServiceError> {
        let action = match kind {
            "ruleset" => "UploadRuleset",
            "scorecard" => "UploadScorecard",
            "monitoring_policy" => "UploadMonitoringPolicy",
            "feature_schema" => "UploadFeatureSchema",
            "market_parameters" => "UploadMarketParameters",
            "ruleset_overlay" => "UploadRulesetOverlay",
            "product" => "UploadProduct",
            other => {
                return Err(invalid(vec![(
                    "kind".into(),
                    format!(
                        "the registry publishes {}; found `{other}`",
                        PUBLISHED_KINDS.join(", ")
                    ),
                )]));
            }
        };
        let (who, role) = self.authorize(caller, action, &[Role::Analyst]).await?;
        let person = who.person.clone();
        if let Some(scope) = scope_of_text(json) {
            let subject = Document::parse("upload", json)
                .map(|d| Subject::of(&d.version_ref()))
                .unwrap_or_default()
                .within(&scope);
            self.require_governs(&who, role, action, &subject, &scope)
                .await?;
        }
        let mut subject = Subject::default();
        let result = self.publish(json, kind, &person, &mut subject).await;
        if let Some(scope) = scope_of_text(json) {
            subject = subject.within(&scope);
        }
        let audit = match &result {
            Ok(r) if r.created => Ok("published".to_string()),
            Ok(_) => Ok("identical version already published".to_string()),
            Err(e) => Err(e),
        };
        self.audit(&person, role.name(), action, &subject, audit)
            .await;
        result
    }

    async fn publish(
        &self,
        json: &str,
        kind: &str,
        person: &str,
        subject: &mut Subject,
    ) -> Result<Published, ServiceError> {
        if let Ok(parsed) = Document::parse("upload", json) {
            *subject = Subject::of(&parsed.version_ref());
        }
        let extra = self.published_segment_cards(json).await?;
        let doc = self.check(json, Some(kind), extra)?;
        if let Document::Overlay(o) = &doc {
            self.overlay_runs(o).await?;
        }
        let v = doc.version_ref();
        *subject = Subject::of(&v);
        if let Some(existing) = self
            .store
            .find_document(&v.kind, &v.id, &v.version)
            .await
            .map_err(unavailable)?
        {
            if existing.hash == v.hash {
                return Ok(Published {
                    version: existing,
                    created: false,
                });
            }
            return Err(ServiceError::Conflict(format!(
                "{} {} version {} is already published with other content ({}); publish the change as a new version",
                v.kind, v.id, v.version, existing.hash
            )));
        }
        // A ruleset and an overlay share one name space: an activation
        // names either by id and version alone.
        let twin = match v.kind.as_str() {
            "ruleset" => Some("ruleset_overlay"),
            "ruleset_overlay" => Some("ruleset"),
            _ => None,
        };
        if let Some(twin) = twin {
            if v.version.contains('+') {
                return Err(invalid(vec![(
                    "version".into(),
                    "`+` is reserved for the version label of an overlay's effective ruleset (`2026.1+base@2026.4`): choose a version without it".into(),
                )]));
            }
            if let Some(other) = self
                .store
                .find_document(twin, &v.id, &v.version)
                .await
                .map_err(unavailable)?
            {
                return Err(ServiceError::Conflict(format!(
                    "{twin} {} version {} is already published ({}): a ruleset and an overlay cannot share an id and version",
                    v.id, v.version, other.hash
                )));
            }
        }
        let stored = StoredDocument {
            hash: v.hash,
            kind: v.kind,
            id: v.id,
            version: v.version,
            json: doc.text().to_string(),
            uploaded_by: person.to_string(),
            uploaded_at: clock::now_seconds(),
        };
        self.store
            .put_documents(vec![stored.clone()])
            .await
            .map_err(unavailable)?;
        Ok(Published {
            version: stored,
            created: true,
        })
    }

    /// Checks a document of any kind without publishing it.
    pub async fn validate(
        &self,
        caller: &Bearer<'_>,
        json: &str,
    ) -> Result<Validation, ServiceError> {
        let (who, role) = self
            .authorize(caller, "ValidateDocument", &[Role::Analyst])
            .await?;
        let person = who.person.clone();
        if let Some(scope) = scope_of_text(json) {
            let subject = Subject::default().within(&scope);
            self.require_governs(&who, role, "ValidateDocument", &subject, &scope)
                .await?;
        }
        let extra = self.published_segment_cards(json).await?;
        let checked = match self.check(json, None, extra) {
            Ok(Document::Overlay(o)) => self.overlay_runs(&o).await.map(|()| Document::Overlay(o)),
            other => other,
        };
        let scope = scope_of_text(json);
        let within = |subject: Subject| match &scope {
            Some(scope) => subject.within(scope),
            None => subject,
        };
        let (validation, subject) = match checked {
            Ok(doc) => {
                let v = doc.version_ref();
                (
                    Validation {
                        problems: Vec::new(),
                        version: Some(v.clone()),
                    },
                    within(Subject::of(&v)),
                )
            }
            Err(e) => {
                let problems = match &e {
                    ServiceError::Invalid { fields, .. } if !fields.is_empty() => fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect(),
                    other => vec![other.to_string()],
                };
                (
                    Validation {
                        problems,
                        version: None,
                    },
                    within(Subject::default()),
                )
            }
        };
        let detail = if validation.problems.is_empty() {
            "valid".to_string()
        } else {
            format!("invalid: {}", validation.problems.join("; "))
        };
        self.audit(
            &person,
            role.name(),
            "ValidateDocument",
            &subject,
            Ok(detail),
        )
        .await;
        Ok(validation)
    }

    /// Published versions, optionally of one kind and id, oldest first.
    pub async fn list_versions(
        &self,
        caller: &Bearer<'_>,
        kind: Option<String>,
        id: Option<String>,
    ) -> Result<Vec<StoredDocument>, ServiceError> {
        let (who, _) = self.authorize(caller, "ListVersions", ANY_ROLE).await?;
        let all = self
            .store
            .list_documents(kind, id)
            .await
            .map_err(unavailable)?;
        if who.is_province() {
            return Ok(all);
        }
        Ok(all
            .into_iter()
            .filter(|d| {
                scope_of_text(&d.json).is_some_and(|scope| who.require_reads(&scope).is_ok())
            })
            .collect())
    }

    /// One published version with its document.
    pub async fn get_version(
        &self,
        caller: &Bearer<'_>,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<StoredDocument, ServiceError> {
        let (who, role) = self.authorize(caller, "GetVersion", ANY_ROLE).await?;
        let doc = self.published(kind, id, version).await?;
        self.require_reads(&who, role, "GetVersion", &doc).await?;
        Ok(doc)
    }

    /// Refuses (and audits) unless `who` may read the stored `doc`.
    async fn require_reads(
        &self,
        who: &Principal,
        role: Role,
        action: &str,
        doc: &StoredDocument,
    ) -> Result<(), ServiceError> {
        let scope = scope_of_text(&doc.json).ok_or_else(|| {
            ServiceError::Corrupt(format!("{} {} is no JSON object", doc.kind, doc.id))
        })?;
        if let Err(e) = who.require_reads(&scope) {
            let subject = Subject {
                kind: doc.kind.clone(),
                id: doc.id.clone(),
                version: doc.version.clone(),
                hash: doc.hash.clone(),
                institution: String::new(),
            }
            .within(&scope);
            return Err(self.refuse(who, role, action, &subject, e).await);
        }
        Ok(())
    }

    async fn published(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<StoredDocument, ServiceError> {
        self.store
            .find_document(kind, id, version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no {kind} `{id}` version `{version}` is published"))
            })
    }

    /// What changed from one version of a document to another.
    pub async fn diff(
        &self,
        caller: &Bearer<'_>,
        kind: &str,
        id: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let (who, role) = self.authorize(caller, "DiffVersions", ANY_ROLE).await?;
        let mut docs = Vec::new();
        for version in [from, to] {
            let doc = self.published(kind, id, version).await?;
            self.require_reads(&who, role, "DiffVersions", &doc).await?;
            docs.push(
                serde_json::from_str::<serde_json::Value>(&doc.json)
                    .map_err(|e| ServiceError::Corrupt(e.to_string()))?,
            );
        }
        let [from_doc, to_doc] = &docs[..] else {
            return Err(ServiceError::Internal("two versions were read".into()));
        };
        Ok(decision_core::diff::diff(from_doc, to_doc))
    }

    /// Sets (or releases) the legal hold of an online decision: an auditor
    /// of its institution keeps its input past the retention period
    /// (`decision-engine store prune`). The reason is required and goes
    /// into the audit log with the call.
    pub async fn set_legal_hold(
        &self,
        caller: &Bearer<'_>,
        decision_id: &str,
        hold: bool,
        reason: &str,
    ) -> Result<decision_store::Retention, ServiceError> {
        let action = if hold {
            "SetLegalHold"
        } else {
            "ReleaseLegalHold"
        };
        let subject = Subject {
            kind: "decision".into(),
            id: decision_id.to_string(),
            ..Subject::default()
        };
        let (who, role) = self.authorize(caller, action, &[Role::Auditor]).await?;
        let person = who.person.clone();
        let refuse = |e: ServiceError| async {
            self.audit(&person, role.name(), action, &subject, Err(&e))
                .await;
            Err(e)
        };
        if reason.trim().is_empty() {
            return refuse(ServiceError::field(
                "reason",
                "must not be empty: say why the decision is held (a case, a complaint, an order)",
            ))
            .await;
        }
        let Some(record) = self.store.get(decision_id).await.map_err(unavailable)? else {
            return refuse(ServiceError::NotFound(format!(
                "no online decision with id `{decision_id}` (batch decisions live in their trace files)"
            )))
            .await;
        };
        if let Err(e) = who.require_scope(&record.institution) {
            let subject = Subject {
                institution: record.institution.clone(),
                ..Subject {
                    kind: subject.kind.clone(),
                    id: subject.id.clone(),
                    ..Subject::default()
                }
            };
            return Err(self.refuse(&who, role, action, &subject, e).await);
        }
        let entry = AuditEntry {
            at: clock::now_seconds(),
            person: person.clone(),
            role: role.name().to_string(),
            action: action.to_string(),
            kind: subject.kind.clone(),
            id: subject.id.clone(),
            version: String::new(),
            hash: record.request_hash.clone(),
            accepted: true,
            detail: reason.trim().to_string(),
            institution: record.institution.clone(),
        };
        if !self
            .store
            .set_legal_hold(decision_id, hold, entry)
            .await
            .map_err(unavailable)?
        {
            return refuse(ServiceError::NotFound(format!(
                "no online decision with id `{decision_id}`"
            )))
            .await;
        }
        self.store
            .retention(decision_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no online decision with id `{decision_id}`"))
            })
    }

    /// The audit log, newest first: `limit` entries (0: 100, at most 10,000).
    pub async fn audit_log(
        &self,
        caller: &Bearer<'_>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        let (who, _) = self
            .authorize(caller, "ListAuditLog", &[Role::Auditor])
            .await?;
        let limit = match limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        self.store
            .list_audit(limit, who.scope().map(<[String]>::to_vec))
            .await
            .map_err(unavailable)
    }

    /// The activation history, newest first, optionally of one institution
    /// and product.
    pub async fn list_activations(
        &self,
        caller: &Bearer<'_>,
        institution: &str,
        product: &str,
    ) -> Result<Vec<ActivationRecord>, ServiceError> {
        let (who, role) = self.authorize(caller, "ListActivations", ANY_ROLE).await?;
        if !institution.is_empty() {
            let scope = Scope::of_institution(institution);
            if let Err(e) = who.require_reads(&scope) {
                let subject = Subject {
                    kind: "activation".into(),
                    id: format!("{institution}/{product}"),
                    ..Subject::default()
                }
                .within(&scope);
                return Err(self
                    .refuse(&who, role, "ListActivations", &subject, e)
                    .await);
            }
        }
        let all = self.store.list_activations().await.map_err(unavailable)?;
        Ok(all
            .into_iter()
            .rev()
            .filter(|a| {
                (institution.is_empty() || a.institution == institution)
                    && (product.is_empty() || a.product == product)
                    && who
                        .require_reads(&Scope::of_institution(&a.institution))
                        .is_ok()
            })
            .collect())
    }
}

impl<S: Store> Registry<S> {
    /// Asks for an activation (`rollback`: of versions that ran before),
    /// pending a second approver.
    pub async fn request_activation(
        &self,
        caller: &Bearer<'_>,
        r: &ActivationRequest,
        rollback: bool,
    ) -> Result<ActivationRecord, ServiceError> {
        let action = if rollback {
            "Rollback"
        } else {
            "RequestActivation"
        };
        let (who, role) = self.authorize(caller, action, &[Role::Approver]).await?;
        let person = who.person.clone();
        let subject = self
            .activation_subject(
                &r.institution,
                &r.product,
                (&r.ruleset_id, &r.ruleset_version),
                (&r.scorecard_id, &r.scorecard_version),
            )
            .await;
        self.require_governs(
            &who,
            role,
            action,
            &subject,
            &activation_scope(&r.institution, &r.product),
        )
        .await?;
        let result = self.request(r, &person, rollback).await;
        let audit = match &result {
            Ok(a) => Ok(match &a.challenger {
                Some(c) => format!(
                    "requested {} with challenger {}",
                    a.activation_id,
                    c.describe()
                ),
                None => format!("requested {}", a.activation_id),
            }),
            Err(e) => Err(e),
        };
        self.audit(&person, role.name(), action, &subject, audit)
            .await;
        result
    }

    /// Checks and records an activation request.
    async fn request(
        &self,
        r: &ActivationRequest,
        person: &str,
        rollback: bool,
    ) -> Result<ActivationRecord, ServiceError> {
        if r.product.trim() == MONITORING_PRODUCT {
            return self.request_monitoring(r, person, rollback).await;
        }
        if let Some(which) = ProvinceDoc::of_product(&r.product) {
            return self.request_province(r, which, person, rollback).await;
        }
        for (field, value) in [
            ("institution", &r.institution),
            ("product", &r.product),
            ("ruleset_id", &r.ruleset_id),
            ("ruleset_version", &r.ruleset_version),
            ("scorecard_id", &r.scorecard_id),
            ("scorecard_version", &r.scorecard_version),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(vec![(
                    field.to_string(),
                    "must not be empty".to_string(),
                )]));
            }
        }
        let effective_at = effective_at(r)?;
        let published = |kind: &'static str, id: String, version: String| async move {
            self.store
                .find_document(kind, &id, &version)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    ServiceError::Precondition(format!(
                        "no {kind} `{id}` version `{version}` is published"
                    ))
                })
        };
        let history = self.store.list_activations().await.map_err(unavailable)?;
        let at = effective_time(&effective_at).max(SystemTime::now());
        let ruleset_doc = self
            .runnable_ruleset(&history, &r.ruleset_id, &r.ruleset_version, &r.product, at)
            .await?;
        let scorecard = published(
            "scorecard",
            r.scorecard_id.clone(),
            r.scorecard_version.clone(),
        )
        .await?;
        let parse = |stored: &StoredDocument| {
            Document::parse(&format!("{}@{}", stored.id, stored.version), &stored.json)
                .map_err(|e| ServiceError::Corrupt(e.to_string()))
        };
        let scorecard_doc = parse(&scorecard)?;
        if let Document::Scorecard(card) = &scorecard_doc {
            card_written_for(card, &r.institution, "scorecard")?;
        }
        // The pair must compile with the province red lines and the schema
        // in force at its effective time.
        let mut docs = self
            .province_documents(&history, &r.product, effective_time(&effective_at))
            .await?;
        let province_len = docs.len();
        let segment_cards = self.segment_cards(&ruleset_doc, &scorecard_doc).await?;
        for card in &segment_cards {
            if let Document::Scorecard(card) = card {
                card_written_for(card, &r.institution, "segment scorecard")?;
            }
        }
        docs.extend([ruleset_doc.clone(), scorecard_doc]);
        docs.extend(segment_cards);
        let policy = compile_exact(&docs)
            .and_then(|p| decision_core::cases::failures(&p.tests).map(|()| p))
            .map_err(|e| {
                ServiceError::Precondition(format!("these versions cannot run together: {e}"))
            })?;
        let for_institution = match &ruleset_doc {
            Document::Ruleset(x) if x.doc.layer == Layer::Province => {
                return Err(ServiceError::Precondition(format!(
                    "ruleset {}@{} holds province red lines; activate an institution (product) ruleset",
                    r.ruleset_id, r.ruleset_version
                )));
            }
            Document::Ruleset(x) => x.doc.institution.clone().unwrap_or_else(|| "*".to_string()),
            _ => "*".to_string(),
        };
        if for_institution != "*" && for_institution != r.institution {
            return Err(ServiceError::Precondition(format!(
                "ruleset {}@{} is written for institution {for_institution}, not {}",
                r.ruleset_id, r.ruleset_version, r.institution
            )));
        }
        if policy.product != r.product {
            return Err(ServiceError::Precondition(format!(
                "ruleset {}@{} is for product {}, not {}",
                r.ruleset_id, r.ruleset_version, policy.product, r.product
            )));
        }
        if let Some(c) = &r.challenger {
            self.check_challenger(r, c, &docs[..province_len]).await?;
        }
        // A new default reaches every overlay that follows it: each must
        // still merge and run on it.
        if r.institution.trim() == "*" {
            self.followers_run(&history, at, &ruleset_doc, &docs[..province_len])
                .await?;
        }
        if rollback && !ran_before(&history, r) {
            return Err(ServiceError::Precondition(format!(
                "{} {} never ran ruleset {}@{} with scorecard {}@{}: a rollback returns to versions that were active",
                r.institution,
                r.product,
                r.ruleset_id,
                r.ruleset_version,
                r.scorecard_id,
                r.scorecard_version
            )));
        }
        self.insert_request(r, person, rollback, effective_at).await
    }

    /// Checks and records the activation of a monitoring policy: alone,
    /// published, compiling with the shipped loan schema and the feature
    /// schema in force, written for the institution (or `*`).
    async fn request_monitoring(
        &self,
        r: &ActivationRequest,
        person: &str,
        rollback: bool,
    ) -> Result<ActivationRecord, ServiceError> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("institution", &r.institution),
            ("ruleset_id", &r.ruleset_id),
            ("ruleset_version", &r.ruleset_version),
        ] {
            if value.trim().is_empty() {
                problems.push((
                    field.to_string(),
                    "must not be empty: name the monitoring policy in the ruleset fields".into(),
                ));
            }
        }
        for (field, value) in [
            ("scorecard_id", &r.scorecard_id),
            ("scorecard_version", &r.scorecard_version),
        ] {
            if !value.trim().is_empty() {
                problems.push((
                    field.to_string(),
                    format!(
                        "a monitoring policy ({MONITORING_PRODUCT}) is activated alone: expected empty"
                    ),
                ));
            }
        }
        if r.challenger.is_some() {
            problems.push((
                "challenger".into(),
                format!(
                    "a monitoring policy ({MONITORING_PRODUCT}) has no challenger: expected none"
                ),
            ));
        }
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let effective_at = effective_at(r)?;
        let (id, version) = (&r.ruleset_id, &r.ruleset_version);
        let stored = self
            .store
            .find_document("monitoring_policy", id, version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "no monitoring_policy `{id}` version `{version}` is published"
                ))
            })?;
        let doc = match Document::parse(&format!("{id}@{version}"), &stored.json) {
            Ok(Document::Monitoring(m)) => m,
            Ok(_) => {
                return Err(ServiceError::Corrupt(format!(
                    "{id}@{version} is stored as a monitoring policy but is not one"
                )));
            }
            Err(e) => return Err(ServiceError::Corrupt(e.to_string())),
        };
        let product = self.policies.policies().next().ok_or_else(|| {
            ServiceError::Internal("no product policy is loaded to compile against".into())
        })?;
        let schema = decision_core::monitor::LoanSchema::shipped()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        decision_core::monitor::MonitoringPolicy::compile(&doc, &schema, product).map_err(|e| {
            ServiceError::Precondition(format!("monitoring policy {id}@{version} cannot run: {e}"))
        })?;
        if doc.doc.institution != "*" && doc.doc.institution != r.institution {
            return Err(ServiceError::Precondition(format!(
                "monitoring policy {id}@{version} is written for institution {}, not {}",
                doc.doc.institution, r.institution
            )));
        }
        let history = self.store.list_activations().await.map_err(unavailable)?;
        if rollback && !ran_before(&history, r) {
            return Err(ServiceError::Precondition(format!(
                "{} never ran monitoring policy {id}@{version}: a rollback returns to a version that was active",
                r.institution
            )));
        }
        self.insert_request(r, person, rollback, effective_at).await
    }

    /// The province documents in force at `at` for a policy of `product`
    /// (feature schema, red lines, market parameters, the product's
    /// catalogue entry): the activated ones, else those loaded at start.
    async fn province_documents(
        &self,
        history: &[ActivationRecord],
        product: &str,
        at: SystemTime,
    ) -> Result<Vec<Document>, ServiceError> {
        let mut docs: Vec<Document> = Vec::new();
        let activated = province_in_force(history, product, at);
        let kinds = ProvinceDoc::ALL.into_iter().chain([ProvinceDoc::Product]);
        for which in kinds {
            match activated.iter().find(|(d, _)| *d == which) {
                Some((_, a)) => docs.push(
                    self.stored_document(which.kind(), &a.ruleset_id, &a.ruleset_version)
                        .await?,
                ),
                None => docs.extend(
                    self.policies
                        .documents()
                        .iter()
                        .find(|d| {
                            which.holds(d)
                                && !matches!(d, Document::Product(p) if p.doc.id != product)
                        })
                        .cloned(),
                ),
            }
        }
        Ok(docs)
    }

    /// The ruleset an activation's ruleset columns name, ready to run for
    /// `product` at `at`: the published ruleset, or an overlay merged with
    /// its base (pinned, or the default in force at `at`).
    async fn runnable_ruleset(
        &self,
        history: &[ActivationRecord],
        id: &str,
        version: &str,
        product: &str,
        at: SystemTime,
    ) -> Result<Document, ServiceError> {
        let parse = |stored: &StoredDocument| {
            Document::parse(&format!("{}@{}", stored.id, stored.version), &stored.json)
                .map_err(|e| ServiceError::Corrupt(e.to_string()))
        };
        if let Some(doc) = self
            .store
            .find_document("ruleset", id, version)
            .await
            .map_err(unavailable)?
        {
            return parse(&doc);
        }
        let Some(overlay) = self
            .store
            .find_document("ruleset_overlay", id, version)
            .await
            .map_err(unavailable)?
        else {
            return Err(ServiceError::Precondition(format!(
                "no ruleset (or ruleset_overlay) `{id}` version `{version}` is published"
            )));
        };
        let (base_id, base_version) =
            crate::policy::base_of(&overlay, &self.policies, history, product, at)?;
        let base = self
            .store
            .find_document("ruleset", &base_id, &base_version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "overlay {id}@{version}: its base ruleset {base_id}@{base_version} is not published"
                ))
            })?;
        parse(&crate::policy::merged_document(&overlay, &base)?)
    }

    /// An overlay about to be published must run: merged with its base
    /// (the pinned version, or the default in force now) and compiled with
    /// the province documents and the default's scorecard and authority
    /// matrix in force, its test cases passing. Every problem is listed.
    async fn overlay_runs(
        &self,
        o: &decision_core::compile::Loaded<decision_core::model::OverlayDoc>,
    ) -> Result<(), ServiceError> {
        let history = self.store.list_activations().await.map_err(unavailable)?;
        let now = SystemTime::now();
        let product = &o.doc.product;
        let stored = StoredDocument {
            hash: o.hash.clone(),
            kind: "ruleset_overlay".into(),
            id: o.doc.id.clone(),
            version: o.doc.version.clone(),
            json: o.text.to_string(),
            uploaded_by: String::new(),
            uploaded_at: String::new(),
        };
        let (base_id, base_version) =
            crate::policy::base_of(&stored, &self.policies, &history, product, now)
                .map_err(|e| invalid(vec![("base".into(), e.to_string())]))?;
        let base = self
            .store
            .find_document("ruleset", &base_id, &base_version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                invalid(vec![(
                    "base".into(),
                    format!("no ruleset `{base_id}` version `{base_version}` is published"),
                )])
            })?;
        let base = match Document::parse(&format!("{base_id}@{base_version}"), &base.json) {
            Ok(Document::Ruleset(b)) => b,
            _ => {
                return Err(ServiceError::Corrupt(format!(
                    "{base_id}@{base_version} is stored as a ruleset but is not one"
                )));
            }
        };
        let merged = decision_core::compile::overlay::merge(o, &base).map_err(|e| {
            invalid(
                e.issues
                    .iter()
                    .map(|i| (i.place.clone(), i.message.clone()))
                    .collect(),
            )
        })?;
        let mut docs = self.province_documents(&history, product, now).await?;
        let merged = Document::Ruleset(Box::new(merged));
        let companions = self.default_companions(&history, product, now).await?;
        let segment_cards = match companions.first() {
            Some(card) => self.segment_cards(&merged, card).await?,
            None => Vec::new(),
        };
        docs.push(merged);
        docs.extend(companions);
        docs.extend(segment_cards);
        compile_exact(&docs)
            .and_then(|p| decision_core::cases::failures(&p.tests).map(|()| p))
            .map_err(|e| {
                invalid(
                    e.issues
                        .iter()
                        .map(|i| (i.place.clone(), format!("{}: {}", i.document, i.message)))
                        .collect(),
                )
            })?;
        Ok(())
    }

    /// The scorecard (and authority matrix, if any) the default `*` runs
    /// for `product` at `at`: the activated card, else the loaded one.
    async fn default_companions(
        &self,
        history: &[ActivationRecord],
        product: &str,
        at: SystemTime,
    ) -> Result<Vec<Document>, ServiceError> {
        let loaded = self
            .policies
            .select("*", product)
            .map_err(|e| invalid(vec![("product".into(), e.to_string())]))?;
        let card = in_force(history, "*", product, at).map_or_else(
            || {
                let v = loaded.version(Slot::Scorecard);
                (v.id.clone(), v.version.clone())
            },
            |a| (a.scorecard_id.clone(), a.scorecard_version.clone()),
        );
        let mut docs = vec![self.stored_document("scorecard", &card.0, &card.1).await?];
        if let Some(a) = loaded.authority_version() {
            docs.push(
                self.stored_document("authority_matrix", &a.id, &a.version)
                    .await?,
            );
        }
        Ok(docs)
    }

    /// A new default `base` (activated for `*` from `at`) must run for
    /// every overlay that follows it: each approved activation in force
    /// then or scheduled later whose ruleset is an overlay following the
    /// base's id, merged with `base` and compiled with its scorecard and
    /// `province`. Every one that would not is listed.
    async fn followers_run(
        &self,
        history: &[ActivationRecord],
        at: SystemTime,
        base: &Document,
        province: &[Document],
    ) -> Result<(), ServiceError> {
        let Document::Ruleset(b) = base else {
            return Ok(());
        };
        let base_stored = StoredDocument {
            hash: b.hash.clone(),
            kind: "ruleset".into(),
            id: b.doc.id.clone(),
            version: b.doc.version.clone(),
            json: b.text.to_string(),
            uploaded_by: String::new(),
            uploaded_at: String::new(),
        };
        let product = b.doc.product.clone().unwrap_or_default();
        let mut broken = Vec::new();
        let mut seen = Vec::new();
        for a in history.iter().filter(|a| {
            a.status == ActivationStatus::Approved && a.institution != "*" && a.product == product
        }) {
            let runs_then = in_force(history, &a.institution, &a.product, at)
                .is_some_and(|f| f.activation_id == a.activation_id);
            if !(runs_then || effective_time(&a.effective_at) > at) {
                continue;
            }
            let Some(overlay) = self
                .store
                .find_document("ruleset_overlay", &a.ruleset_id, &a.ruleset_version)
                .await
                .map_err(unavailable)?
            else {
                continue;
            };
            let base_id = match Document::parse(&overlay.id, &overlay.json) {
                Ok(Document::Overlay(o)) if o.doc.base.follow.is_some() => o.doc.base.id.clone(),
                _ => continue,
            };
            let key = (
                a.institution.clone(),
                overlay.hash.clone(),
                a.scorecard_version.clone(),
            );
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if base_id != b.doc.id {
                broken.push(format!(
                    "{} {} (overlay {}@{}): it follows the active version of `{base_id}`, which this activation replaces with `{}`",
                    a.institution, a.product, a.ruleset_id, a.ruleset_version, b.doc.id
                ));
                continue;
            }
            let result = async {
                let merged = crate::policy::merged_document(&overlay, &base_stored)?;
                let mut docs = province.to_vec();
                let merged = Document::parse(&merged.id, &merged.json)
                    .map_err(|e| ServiceError::Corrupt(e.to_string()))?;
                let card = self
                    .stored_document("scorecard", &a.scorecard_id, &a.scorecard_version)
                    .await?;
                let segment_cards = self.segment_cards(&merged, &card).await?;
                docs.extend([merged, card]);
                docs.extend(segment_cards);
                compile_exact(&docs)
                    .and_then(|p| decision_core::cases::failures(&p.tests).map(|()| p))
                    .map_err(|e| ServiceError::Precondition(e.to_string()))?;
                Ok::<(), ServiceError>(())
            }
            .await;
            if let Err(e) = result {
                broken.push(format!(
                    "{} {} (overlay {}@{}, scorecard {}@{}): {e}",
                    a.institution,
                    a.product,
                    a.ruleset_id,
                    a.ruleset_version,
                    a.scorecard_id,
                    a.scorecard_version
                ));
            }
        }
        if broken.is_empty() {
            return Ok(());
        }
        Err(ServiceError::Precondition(format!(
            "ruleset {}@{} would break {} institution {} that {} it from {}; update {} first: {}",
            b.doc.id,
            b.doc.version,
            broken.len(),
            if broken.len() == 1 {
                "overlay"
            } else {
                "overlays"
            },
            if broken.len() == 1 {
                "follows"
            } else {
                "follow"
            },
            clock::format(at),
            if broken.len() == 1 { "it" } else { "them" },
            broken.join("; ")
        )))
    }

    /// The published scorecards the segments of the ruleset in `json` name
    /// that the loaded set lacks (to validate it with them); none for
    /// other documents.
    async fn published_segment_cards(&self, json: &str) -> Result<Vec<Document>, ServiceError> {
        let Ok(Document::Ruleset(r)) = Document::parse("upload", json) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Document> = Vec::new();
        for (id, version) in r.doc.segment_cards(("", "")) {
            let loaded = self.policies.documents().iter().any(|d| {
                let v = d.version_ref();
                v.kind == "scorecard" && v.id == id && v.version == version
            });
            if loaded {
                continue;
            }
            if let Some(stored) = self
                .store
                .find_document("scorecard", id, version)
                .await
                .map_err(unavailable)?
            {
                out.push(
                    Document::parse(&format!("{}@{}", stored.id, stored.version), &stored.json)
                        .map_err(|e| ServiceError::Corrupt(e.to_string()))?,
                );
            }
        }
        Ok(out)
    }

    /// The scorecards a ruleset's segments name, other than `card` (the
    /// activation's), each once: published versions, parsed.
    async fn segment_cards(
        &self,
        ruleset: &Document,
        card: &Document,
    ) -> Result<Vec<Document>, ServiceError> {
        let Document::Ruleset(r) = ruleset else {
            return Ok(Vec::new());
        };
        let main = card.version_ref();
        let mut out: Vec<Document> = Vec::new();
        for (id, version) in r.doc.segment_cards((&main.id, &main.version)) {
            let card = self
                .stored_document("scorecard", id, version)
                .await
                .map_err(|e| match e {
                    ServiceError::Precondition(m) => ServiceError::Precondition(format!(
                        "ruleset {}@{}: a segment's scorecard: {m}",
                        r.doc.id, r.doc.version
                    )),
                    other => other,
                })?;
            out.push(card);
        }
        Ok(out)
    }

    /// A published document, parsed; a missing one is a precondition.
    async fn stored_document(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<Document, ServiceError> {
        let stored = self
            .store
            .find_document(kind, id, version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "no {kind} `{id}` version `{version}` is published"
                ))
            })?;
        Document::parse(&format!("{id}@{version}"), &stored.json)
            .map_err(|e| ServiceError::Corrupt(e.to_string()))
    }

    /// Checks and records the activation of a province document (the red
    /// lines or the feature schema) for `*`: alone, published, of the
    /// slot's kind, and binding every institution policy that runs from its
    /// effective time without breaking one (each that would break is
    /// listed, with why).
    async fn request_province(
        &self,
        r: &ActivationRequest,
        which: ProvinceDoc,
        person: &str,
        rollback: bool,
    ) -> Result<ActivationRecord, ServiceError> {
        let mut problems = Vec::new();
        if r.institution.trim() != "*" {
            problems.push((
                "institution".to_string(),
                format!(
                    "{} is the province's, activated for every institution: expected `*`",
                    r.product
                ),
            ));
        }
        for (field, value) in [
            ("ruleset_id", &r.ruleset_id),
            ("ruleset_version", &r.ruleset_version),
        ] {
            if value.trim().is_empty() {
                problems.push((
                    field.to_string(),
                    format!(
                        "must not be empty: name the {} in the ruleset fields",
                        which.kind()
                    ),
                ));
            }
        }
        for (field, value) in [
            ("scorecard_id", &r.scorecard_id),
            ("scorecard_version", &r.scorecard_version),
        ] {
            if !value.trim().is_empty() {
                problems.push((
                    field.to_string(),
                    format!("{} is activated alone: expected empty", r.product),
                ));
            }
        }
        if r.challenger.is_some() {
            problems.push((
                "challenger".into(),
                format!("{} has no challenger: expected none", r.product),
            ));
        }
        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        let effective_at = effective_at(r)?;
        let doc = self
            .stored_document(which.kind(), &r.ruleset_id, &r.ruleset_version)
            .await?;
        if !which.holds(&doc) {
            return Err(ServiceError::Precondition(format!(
                "{} {}@{} is not {}",
                which.kind(),
                r.ruleset_id,
                r.ruleset_version,
                match which {
                    ProvinceDoc::RedLines => "a province ruleset (layer \"province\")",
                    ProvinceDoc::Schema => "a feature schema",
                    ProvinceDoc::Market => "market parameters",
                    ProvinceDoc::Product => "a product catalogue entry",
                }
            )));
        }
        // A catalogue entry is activated under its own product's key.
        if let Document::Product(p) = &doc {
            let code = r.product.trim().trim_start_matches(CATALOGUE_PREFIX);
            if p.doc.id != code {
                return Err(invalid(vec![(
                    "product".into(),
                    format!(
                        "product {}@{} is the catalogue entry of {}: expected product {CATALOGUE_PREFIX}{}",
                        p.doc.id, p.doc.version, p.doc.id, p.doc.id
                    ),
                )]));
            }
        }
        let history = self.store.list_activations().await.map_err(unavailable)?;
        if rollback && !ran_before(&history, r) {
            return Err(ServiceError::Precondition(format!(
                "the province never ran {} {}@{}: a rollback returns to a version that was active",
                which.kind(),
                r.ruleset_id,
                r.ruleset_version
            )));
        }
        self.binds_every_institution(&history, &effective_at, &doc)
            .await?;
        self.insert_request(r, person, rollback, effective_at).await
    }

    /// Refuses a province document that would break an institution policy
    /// running from `effective_at` (empty: now), listing each.
    async fn binds_every_institution(
        &self,
        history: &[ActivationRecord],
        effective_at: &str,
        doc: &Document,
    ) -> Result<(), ServiceError> {
        let at = effective_time(effective_at).max(SystemTime::now());
        let broken = self.would_break(history, at, doc).await?;
        if broken.is_empty() {
            return Ok(());
        }
        let v = doc.version_ref();
        Err(ServiceError::Precondition(format!(
            "{} {}@{} would break {} institution {} from {}; update {} first: {}",
            v.kind,
            v.id,
            v.version,
            broken.len(),
            if broken.len() == 1 {
                "policy"
            } else {
                "policies"
            },
            clock::format(at),
            if broken.len() == 1 { "it" } else { "them" },
            broken.join("; ")
        )))
    }

    /// Every institution policy that runs from `at` on (the loaded ones
    /// and every approved activation in force then or scheduled later),
    /// compiled with `doc` in place of its province document: each that
    /// does not compile or whose test cases fail, as `institution product
    /// (versions): why`.
    async fn would_break(
        &self,
        history: &[ActivationRecord],
        at: SystemTime,
        doc: &Document,
    ) -> Result<Vec<String>, ServiceError> {
        let mut runs: Vec<Run> = Vec::new();
        let mut push = |run: Run| {
            if !runs.contains(&run) {
                runs.push(run);
            }
        };
        let loaded: Vec<_> = self.policies.policies().collect();
        for policy in &loaded {
            let (rs, card) = (
                policy.version(Slot::Ruleset),
                policy.version(Slot::Scorecard),
            );
            let institution = self
                .policies
                .documents()
                .iter()
                .chain(self.policies.merged_documents())
                .find_map(|d| match d {
                    Document::Ruleset(x) if x.hash == rs.hash => x.doc.institution.clone(),
                    _ => None,
                })
                .unwrap_or_else(|| "*".into());
            push(Run {
                institution,
                product: policy.product.clone(),
                ruleset: (rs.id.clone(), rs.version.clone()),
                scorecard: (card.id.clone(), card.version.clone()),
            });
        }
        for a in history.iter().filter(|a| {
            a.status == ActivationStatus::Approved
                && activated_kinds(&a.product) == ["ruleset", "scorecard"]
        }) {
            let runs_then = in_force(history, &a.institution, &a.product, at)
                .is_some_and(|f| f.activation_id == a.activation_id);
            if runs_then || effective_time(&a.effective_at) > at {
                push(Run {
                    institution: a.institution.clone(),
                    product: a.product.clone(),
                    ruleset: (a.ruleset_id.clone(), a.ruleset_version.clone()),
                    scorecard: (a.scorecard_id.clone(), a.scorecard_version.clone()),
                });
            }
        }
        let mut broken = Vec::new();
        for Run {
            institution,
            product,
            ruleset: rs,
            scorecard: card,
        } in runs
        {
            // A catalogue entry binds its own product's policies only.
            if let Document::Product(p) = doc
                && p.doc.id != product
            {
                continue;
            }
            let result = async {
                let province = self.province_documents(history, &product, at).await?;
                let mut docs: Vec<Document> = province
                    .iter()
                    .filter(|p| std::mem::discriminant(*p) != std::mem::discriminant(doc))
                    .cloned()
                    .collect();
                docs.push(doc.clone());
                let ruleset = self
                    .runnable_ruleset(history, &rs.0, &rs.1, &product, at)
                    .await?;
                let card_doc = self.stored_document("scorecard", &card.0, &card.1).await?;
                let segment_cards = self.segment_cards(&ruleset, &card_doc).await?;
                docs.extend([ruleset, card_doc]);
                docs.extend(segment_cards);
                if let Ok(base) = self.policies.select(&institution, &product)
                    && let Some(authority) = base.authority_version()
                {
                    docs.push(
                        self.stored_document("authority_matrix", &authority.id, &authority.version)
                            .await?,
                    );
                }
                compile_exact(&docs)
                    .and_then(|p| decision_core::cases::failures(&p.tests).map(|()| p))
                    .map_err(|e| ServiceError::Precondition(e.to_string()))?;
                Ok::<(), ServiceError>(())
            }
            .await;
            // A store that does not answer is no verdict on the policy.
            if let Err(ServiceError::Unavailable(m)) = result {
                return Err(ServiceError::Unavailable(m));
            }
            if let Err(e) = result {
                broken.push(format!(
                    "{institution} {product} (ruleset {}@{}, scorecard {}@{}): {e}",
                    rs.0, rs.1, card.0, card.1
                ));
            }
        }
        Ok(broken)
    }

    /// Records a checked activation request, pending.
    async fn insert_request(
        &self,
        r: &ActivationRequest,
        person: &str,
        rollback: bool,
        effective_at: String,
    ) -> Result<ActivationRecord, ServiceError> {
        let activation = ActivationRecord {
            activation_id: clock::new_id("act", 16, &[&r.institution, &r.product, person]),
            institution: r.institution.trim().to_string(),
            product: r.product.trim().to_string(),
            ruleset_id: r.ruleset_id.clone(),
            ruleset_version: r.ruleset_version.clone(),
            scorecard_id: r.scorecard_id.clone(),
            scorecard_version: r.scorecard_version.clone(),
            effective_at,
            requested_by: person.to_string(),
            requested_at: clock::now_seconds(),
            status: ActivationStatus::Pending,
            approved_by: String::new(),
            approved_at: String::new(),
            rollback,
            challenger: r.challenger.clone(),
        };
        self.store
            .insert_activation(activation.clone())
            .await
            .map_err(unavailable)?;
        Ok(activation)
    }

    /// Approves another approver's pending activation.
    pub async fn approve(
        &self,
        caller: &Bearer<'_>,
        activation_id: &str,
    ) -> Result<ActivationRecord, ServiceError> {
        let (who, role) = self
            .authorize(caller, "ApproveActivation", &[Role::Approver])
            .await?;
        let person = who.person.clone();
        // Scope first: an approver of one institution learns nothing more
        // of another's activation than that it is not theirs.
        let target = self
            .store
            .list_activations()
            .await
            .map_err(unavailable)?
            .into_iter()
            .find(|a| a.activation_id == activation_id);
        let result = match target
            .as_ref()
            .map(|a| who.require_governs(&activation_scope(&a.institution, &a.product)))
        {
            Some(Err(e)) => Err(e),
            _ => self.approve_as(activation_id, &person).await,
        };
        // The activation as it stands, approved or not, for the audit log.
        let record = match &result {
            Ok(a) => Some(a.clone()),
            Err(_) => self
                .store
                .list_activations()
                .await
                .ok()
                .and_then(|all| all.into_iter().find(|a| a.activation_id == activation_id)),
        };
        let subject = match &record {
            Some(a) => {
                self.activation_subject(
                    &a.institution,
                    &a.product,
                    (&a.ruleset_id, &a.ruleset_version),
                    (&a.scorecard_id, &a.scorecard_version),
                )
                .await
            }
            None => Subject {
                kind: "activation".into(),
                id: activation_id.to_string(),
                ..Subject::default()
            },
        };
        let audit = match &result {
            Ok(a) => Ok(format!(
                "approved {} effective {}",
                a.activation_id, a.effective_at
            )),
            Err(e) => Err(e),
        };
        self.audit(&person, role.name(), "ApproveActivation", &subject, audit)
            .await;
        result
    }

    async fn approve_as(&self, id: &str, person: &str) -> Result<ActivationRecord, ServiceError> {
        let history = self.store.list_activations().await.map_err(unavailable)?;
        let a = history
            .iter()
            .find(|a| a.activation_id == id)
            .ok_or_else(|| ServiceError::NotFound(format!("no activation `{id}`")))?;
        if a.status != ActivationStatus::Pending {
            return Err(ServiceError::Precondition(format!(
                "activation {id} is already {}",
                a.status
            )));
        }
        if a.requested_by == person {
            return Err(ServiceError::Forbidden(format!(
                "four-eyes: {person} requested activation {id} and cannot also approve it"
            )));
        }
        let columns = [
            (&a.ruleset_id, &a.ruleset_version),
            (&a.scorecard_id, &a.scorecard_version),
        ];
        let mut versions: Vec<(&str, &String, &String)> = activated_kinds(&a.product)
            .iter()
            .zip(columns)
            .map(|(kind, (id, version))| (*kind, id, version))
            .collect();
        if let Some(c) = &a.challenger {
            versions.push(("ruleset", &c.ruleset_id, &c.ruleset_version));
            versions.push(("scorecard", &c.scorecard_id, &c.scorecard_version));
        }
        for (kind, doc_id, version) in versions {
            let mut found = self
                .store
                .find_document(kind, doc_id, version)
                .await
                .map_err(unavailable)?;
            if found.is_none() && kind == "ruleset" {
                found = self
                    .store
                    .find_document("ruleset_overlay", doc_id, version)
                    .await
                    .map_err(unavailable)?;
            }
            if let Some(d) = found
                && d.uploaded_by == person
            {
                return Err(ServiceError::Forbidden(format!(
                    "four-eyes: {person} uploaded {kind} {doc_id}@{version} and cannot approve its activation"
                )));
            }
        }
        // A province document is checked again against the institution
        // policies as they are now: they may have changed since the request.
        if let Some(which) = ProvinceDoc::of_product(&a.product) {
            let doc = self
                .stored_document(which.kind(), &a.ruleset_id, &a.ruleset_version)
                .await?;
            self.binds_every_institution(&history, &a.effective_at, &doc)
                .await?;
        }
        self.store
            .approve_activation(id, person, &clock::now_seconds())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Changed(format!(
                    "activation {id} changed while approving it; list it and retry"
                ))
            })
    }

    /// A challenger must name published versions that run together with
    /// the province documents in force (test cases and all), for the same
    /// institution and product, with a share of 0 (shadow) to 100.
    async fn check_challenger(
        &self,
        r: &ActivationRequest,
        c: &decision_store::Challenger,
        province: &[Document],
    ) -> Result<(), ServiceError> {
        for (field, value) in [
            ("challenger.ruleset_id", &c.ruleset_id),
            ("challenger.ruleset_version", &c.ruleset_version),
            ("challenger.scorecard_id", &c.scorecard_id),
            ("challenger.scorecard_version", &c.scorecard_version),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(vec![(
                    field.to_string(),
                    "must not be empty when a challenger is named".to_string(),
                )]));
            }
        }
        if c.share_percent > 100 {
            return Err(invalid(vec![(
                "challenger.share_percent".into(),
                format!(
                    "{} is not a share: expected 0 (shadow only) to 100",
                    c.share_percent
                ),
            )]));
        }
        let mut docs = province.to_vec();
        for (kind, id, version) in [
            ("ruleset", &c.ruleset_id, &c.ruleset_version),
            ("scorecard", &c.scorecard_id, &c.scorecard_version),
        ] {
            let stored = self
                .store
                .find_document(kind, id, version)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    ServiceError::Precondition(format!(
                        "challenger: no {kind} `{id}` version `{version}` is published"
                    ))
                })?;
            let doc = Document::parse(&format!("{id}@{version}"), &stored.json)
                .map_err(|e| ServiceError::Corrupt(e.to_string()))?;
            if let Document::Scorecard(card) = &doc {
                card_written_for(card, &r.institution, "challenger scorecard")?;
            }
            docs.push(doc);
        }
        let policy = compile_exact(&docs)
            .and_then(|p| decision_core::cases::failures(&p.tests).map(|()| p))
            .map_err(|e| {
                ServiceError::Precondition(format!(
                    "the challenger's versions cannot run together: {e}"
                ))
            })?;
        if policy.product != r.product {
            return Err(ServiceError::Precondition(format!(
                "challenger ruleset {}@{} is for product {}, not {}",
                c.ruleset_id, c.ruleset_version, policy.product, r.product
            )));
        }
        if let Some(Document::Ruleset(x)) = docs.iter().rev().nth(1)
            && let Some(i) = &x.doc.institution
            && i != "*"
            && *i != r.institution
        {
            return Err(ServiceError::Precondition(format!(
                "challenger ruleset {}@{} is written for institution {i}, not {}",
                c.ruleset_id, c.ruleset_version, r.institution
            )));
        }
        Ok(())
    }

    /// What an activation touches: (institution, product), the two versions
    /// and their content hashes.
    async fn activation_subject(
        &self,
        institution: &str,
        product: &str,
        ruleset: (&str, &str),
        scorecard: (&str, &str),
    ) -> Subject {
        let mut hashes = Vec::new();
        let mut versions = Vec::new();
        for (kind, (id, version)) in activated_kinds(product).iter().zip([ruleset, scorecard]) {
            let mut found = self.store.find_document(kind, id, version).await;
            if matches!(found, Ok(None)) && *kind == "ruleset" {
                found = self
                    .store
                    .find_document("ruleset_overlay", id, version)
                    .await;
            }
            let hash = match found {
                Ok(Some(d)) => d.hash,
                _ => "(not published)".to_string(),
            };
            hashes.push(hash);
            versions.push(format!("{id}@{version}"));
        }
        Subject {
            kind: "activation".into(),
            id: format!("{institution}/{product}"),
            version: versions.join(" + "),
            hash: hashes.join(" + "),
            institution: String::new(),
        }
        .within(&Scope::of_institution(institution))
    }
}

/// An institution policy that runs: (institution, product) with its
/// ruleset and scorecard (id, version).
#[derive(PartialEq, Eq)]
struct Run {
    institution: String,
    product: String,
    ruleset: (String, String),
    scorecard: (String, String),
}

/// A scorecard written for an institution runs only for it.
fn card_written_for(
    card: &decision_core::compile::Loaded<decision_core::model::ScorecardDoc>,
    institution: &str,
    what: &str,
) -> Result<(), ServiceError> {
    match card.doc.institution.as_deref().map(str::trim) {
        None | Some("*") => Ok(()),
        Some(i) if i == institution.trim() => Ok(()),
        Some(i) => Err(ServiceError::Precondition(format!(
            "{what} {}@{} is written for institution {i}, not {institution}",
            card.doc.id, card.doc.version
        ))),
    }
}

/// When an activation request takes effect: empty (on approval) or an
/// RFC 3339 time not in the past.
fn effective_at(r: &ActivationRequest) -> Result<String, ServiceError> {
    if r.effective_at.is_empty() {
        return Ok(String::new());
    }
    let t = clock::parse(&r.effective_at).map_err(|e| invalid(vec![("effective_at".into(), e)]))?;
    if t < SystemTime::now() {
        return Err(invalid(vec![(
            "effective_at".into(),
            "must not be in the past: an activation cannot rewrite what already ran; leave it empty for \"as soon as approved\"".into(),
        )]));
    }
    Ok(clock::format(t))
}

/// Whether (institution, product) ever ran this ruleset with this scorecard
/// (an approved activation, in force or replaced since).
pub fn ran_before(history: &[ActivationRecord], r: &ActivationRequest) -> bool {
    history.iter().any(|a| {
        a.status == ActivationStatus::Approved
            && a.institution == r.institution
            && a.product == r.product
            && a.ruleset_id == r.ruleset_id
            && a.ruleset_version == r.ruleset_version
            && a.scorecard_id == r.scorecard_id
            && a.scorecard_version == r.scorecard_version
    })
}
