//! The `decision.v1.PolicyRegistry` gRPC service: analysts publish versioned
//! policy documents, validated in full against the active policy set first;
//! every call, accepted or refused, goes to the audit log. Versions are
//! immutable: a version names one content hash.
//!
//! Still to come (issue 4): activation per institution with effective times
//! and history, four-eyes approval, rollback, diff, and the CLI wrappers.

use std::sync::Arc;
use std::time::SystemTime;

use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::auth::{Role, Tokens};
use crate::compile::Document;
use crate::grpc::pb;
use crate::policy_set::PolicySet;
use crate::store::{ActivationRecord, AuditEntry, Store, StoreError, StoredDocument};

pub struct RegistryService<S> {
    policies: Arc<PolicySet>,
    store: Arc<S>,
    tokens: Arc<Tokens>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn unavailable(e: StoreError) -> Status {
    Status::unavailable(format!("{e}; nothing was changed"))
}

fn version_of(d: &StoredDocument) -> pb::DocumentVersion {
    pb::DocumentVersion {
        kind: d.kind.clone(),
        id: d.id.clone(),
        version: d.version.clone(),
        hash: d.hash.clone(),
        uploaded_by: d.uploaded_by.clone(),
        uploaded_at: d.uploaded_at.clone(),
    }
}

/// What an action touched, for the audit log.
#[derive(Default)]
struct Subject {
    kind: String,
    id: String,
    version: String,
    hash: String,
}

impl<S: Store> RegistryService<S> {
    pub fn new(policies: Arc<PolicySet>, store: Arc<S>, tokens: Arc<Tokens>) -> Self {
        RegistryService {
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
        result: &Result<String, Status>,
    ) {
        let entry = AuditEntry {
            at: now(),
            person: person.to_string(),
            role: role.to_string(),
            action: action.to_string(),
            kind: subject.kind.clone(),
            id: subject.id.clone(),
            version: subject.version.clone(),
            hash: subject.hash.clone(),
            accepted: result.is_ok(),
            detail: match result {
                Ok(d) => d.clone(),
                Err(s) => format!("{:?}: {}", s.code(), s.message()),
            },
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!("cannot write the audit log: {e}");
        }
    }

    /// Checks the caller's role, auditing a refusal.
    async fn authorize<T>(
        &self,
        request: &Request<T>,
        action: &str,
        roles: &[Role],
    ) -> Result<(String, Role), Status> {
        match self.tokens.authorize(request.metadata(), roles) {
            Ok((p, role)) => Ok((p.person, role)),
            Err(status) => {
                let person = self
                    .tokens
                    .identify(request.metadata())
                    .map_or("(unknown)".to_string(), |p| p.person.clone());
                self.audit(
                    &person,
                    "",
                    action,
                    &Subject::default(),
                    &Err(status.clone()),
                )
                .await;
                Err(status)
            }
        }
    }

    /// Parses and validates `json` against the active policy set (it
    /// replaces the document of the same kind and id).
    fn check(&self, json: &str, expected_kind: Option<&str>) -> Result<Document, Status> {
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

    async fn upload(
        &self,
        request: Request<pb::UploadRequest>,
        kind: &str,
        action: &str,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let (person, role) = self.authorize(&request, action, &[Role::Analyst]).await?;
        let mut subject = Subject::default();
        let result = self
            .publish(
                &request.get_ref().document_json,
                kind,
                &person,
                &mut subject,
            )
            .await;
        let audit = result.as_ref().map(|r| {
            if r.created {
                "published".to_string()
            } else {
                "identical version already published".to_string()
            }
        });
        self.audit(
            &person,
            role.name(),
            action,
            &subject,
            &audit.map_err(|s| s.clone()),
        )
        .await;
        result.map(Response::new)
    }

    async fn publish(
        &self,
        json: &str,
        kind: &str,
        person: &str,
        subject: &mut Subject,
    ) -> Result<pb::UploadResponse, Status> {
        if let Ok(parsed) = Document::parse("upload", json) {
            let v = parsed.version_ref();
            *subject = Subject {
                kind: v.kind,
                id: v.id,
                version: v.version,
                hash: v.hash,
            };
        }
        let doc = self.check(json, Some(kind))?;
        let v = doc.version_ref();
        *subject = Subject {
            kind: v.kind.clone(),
            id: v.id.clone(),
            version: v.version.clone(),
            hash: v.hash.clone(),
        };
        if let Some(existing) = self
            .store
            .find_document(&v.kind, &v.id, &v.version)
            .await
            .map_err(unavailable)?
        {
            if existing.hash == v.hash {
                return Ok(pb::UploadResponse {
                    version: Some(version_of(&existing)),
                    created: false,
                });
            }
            return Err(Status::already_exists(format!(
                "{} {} version {} is already published with other content ({}); publish the change as a new version",
                v.kind, v.id, v.version, existing.hash
            )));
        }
        let stored = StoredDocument {
            hash: v.hash,
            kind: v.kind,
            id: v.id,
            version: v.version,
            json: doc.text().to_string(),
            uploaded_by: person.to_string(),
            uploaded_at: now(),
        };
        self.store
            .put_documents(vec![stored.clone()])
            .await
            .map_err(unavailable)?;
        Ok(pb::UploadResponse {
            version: Some(version_of(&stored)),
            created: true,
        })
    }
}

fn activation_of(a: &ActivationRecord) -> pb::Activation {
    pb::Activation {
        activation_id: a.activation_id.clone(),
        institution: a.institution.clone(),
        product: a.product.clone(),
        ruleset_id: a.ruleset_id.clone(),
        ruleset_version: a.ruleset_version.clone(),
        scorecard_id: a.scorecard_id.clone(),
        scorecard_version: a.scorecard_version.clone(),
        effective_at: a.effective_at.clone(),
        requested_by: a.requested_by.clone(),
        requested_at: a.requested_at.clone(),
        status: a.status.clone(),
        approved_by: a.approved_by.clone(),
        approved_at: a.approved_at.clone(),
        rollback: a.rollback,
    }
}

impl<S: Store> RegistryService<S> {
    /// Checks and records an activation request.
    async fn request(
        &self,
        r: &pb::RequestActivationRequest,
        person: &str,
        rollback: bool,
    ) -> Result<ActivationRecord, Status> {
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
        let effective_at = if r.effective_at.is_empty() {
            String::new()
        } else {
            let t = crate::timestamp::parse(&r.effective_at)
                .map_err(|e| invalid(vec![("effective_at".into(), e)]))?;
            if t < SystemTime::now() {
                return Err(invalid(vec![(
                    "effective_at".into(),
                    "must not be in the past: an activation cannot rewrite what already ran; leave it empty for \"as soon as approved\"".into(),
                )]));
            }
            crate::timestamp::format(t)
        };
        let find = |kind: &'static str, id: String, version: String| async move {
            self.store
                .find_document(kind, &id, &version)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "no {kind} `{id}` version `{version}` is published"
                    ))
                })
        };
        let ruleset = find("ruleset", r.ruleset_id.clone(), r.ruleset_version.clone()).await?;
        let scorecard = find(
            "scorecard",
            r.scorecard_id.clone(),
            r.scorecard_version.clone(),
        )
        .await?;
        // The pair must compile with the province red lines and the schema in force.
        let mut docs: Vec<Document> = self
            .policies
            .documents()
            .iter()
            .filter(|d| matches!(d, Document::Schema(_)) || matches!(d, Document::Ruleset(x) if x.doc.layer == crate::model::ruleset::Layer::Province))
            .cloned()
            .collect();
        for stored in [&ruleset, &scorecard] {
            docs.push(
                Document::parse(&format!("{}@{}", stored.id, stored.version), &stored.json)
                    .map_err(|e| Status::data_loss(e.to_string()))?,
            );
        }
        let policy = crate::policy_set::compile_exact(&docs).map_err(|e| {
            Status::failed_precondition(format!("these versions cannot run together: {e}"))
        })?;
        let for_institution = match &docs[2] {
            Document::Ruleset(x) if x.doc.layer == crate::model::ruleset::Layer::Province => {
                return Err(Status::failed_precondition(format!(
                    "ruleset {}@{} holds province red lines; activate an institution (product) ruleset",
                    r.ruleset_id, r.ruleset_version
                )));
            }
            Document::Ruleset(x) => x.doc.institution.clone().unwrap_or_else(|| "*".to_string()),
            _ => "*".to_string(),
        };
        if for_institution != "*" && for_institution != r.institution {
            return Err(Status::failed_precondition(format!(
                "ruleset {}@{} is written for institution {for_institution}, not {}",
                r.ruleset_id, r.ruleset_version, r.institution
            )));
        }
        if policy.product != r.product {
            return Err(Status::failed_precondition(format!(
                "ruleset {}@{} is for product {}, not {}",
                r.ruleset_id, r.ruleset_version, policy.product, r.product
            )));
        }
        let history = self.store.list_activations().await.map_err(unavailable)?;
        if rollback
            && !history.iter().any(|a| {
                a.status == "approved"
                    && a.institution == r.institution
                    && a.product == r.product
                    && a.ruleset_id == r.ruleset_id
                    && a.ruleset_version == r.ruleset_version
                    && a.scorecard_id == r.scorecard_id
                    && a.scorecard_version == r.scorecard_version
            })
        {
            return Err(Status::failed_precondition(format!(
                "{} {} never ran ruleset {}@{} with scorecard {}@{}: a rollback returns to versions that were active",
                r.institution,
                r.product,
                r.ruleset_id,
                r.ruleset_version,
                r.scorecard_id,
                r.scorecard_version
            )));
        }
        let requested_at = now();
        let activation = ActivationRecord {
            activation_id: {
                use sha2::Digest;
                let seed = format!(
                    "{}|{}|{}|{}|{:?}",
                    r.institution,
                    r.product,
                    person,
                    history.len(),
                    SystemTime::now()
                );
                format!(
                    "act_{}",
                    &hex::encode(sha2::Sha256::digest(seed.as_bytes()))[..16]
                )
            },
            institution: r.institution.clone(),
            product: r.product.clone(),
            ruleset_id: r.ruleset_id.clone(),
            ruleset_version: r.ruleset_version.clone(),
            scorecard_id: r.scorecard_id.clone(),
            scorecard_version: r.scorecard_version.clone(),
            effective_at,
            requested_by: person.to_string(),
            requested_at,
            status: "pending".to_string(),
            approved_by: String::new(),
            approved_at: String::new(),
            rollback,
        };
        self.store
            .insert_activation(activation.clone())
            .await
            .map_err(unavailable)?;
        Ok(activation)
    }

    async fn approve(&self, id: &str, person: &str) -> Result<ActivationRecord, Status> {
        let history = self.store.list_activations().await.map_err(unavailable)?;
        let a = history
            .iter()
            .find(|a| a.activation_id == id)
            .ok_or_else(|| Status::not_found(format!("no activation `{id}`")))?;
        if a.status != "pending" {
            return Err(Status::failed_precondition(format!(
                "activation {id} is already {}",
                a.status
            )));
        }
        if a.requested_by == person {
            return Err(Status::permission_denied(format!(
                "four-eyes: {person} requested activation {id} and cannot also approve it"
            )));
        }
        for (kind, doc_id, version) in [
            ("ruleset", &a.ruleset_id, &a.ruleset_version),
            ("scorecard", &a.scorecard_id, &a.scorecard_version),
        ] {
            if let Some(d) = self
                .store
                .find_document(kind, doc_id, version)
                .await
                .map_err(unavailable)?
                && d.uploaded_by == person
            {
                return Err(Status::permission_denied(format!(
                    "four-eyes: {person} uploaded {kind} {doc_id}@{version} and cannot approve its activation"
                )));
            }
        }
        self.store
            .approve_activation(id, person, &now())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                Status::aborted(format!(
                    "activation {id} changed while approving it; list it and retry"
                ))
            })
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
        for (kind, (id, version)) in [("ruleset", ruleset), ("scorecard", scorecard)] {
            let hash = match self.store.find_document(kind, id, version).await {
                Ok(Some(d)) => d.hash,
                _ => "(not published)".to_string(),
            };
            hashes.push(hash);
        }
        Subject {
            kind: "activation".into(),
            id: format!("{institution}/{product}"),
            version: format!(
                "{}@{} + {}@{}",
                ruleset.0, ruleset.1, scorecard.0, scorecard.1
            ),
            hash: hashes.join(" + "),
        }
    }

    async fn activation_call(
        &self,
        request: Request<pb::RequestActivationRequest>,
        action: &str,
        rollback: bool,
    ) -> Result<Response<pb::Activation>, Status> {
        let (person, role) = self.authorize(&request, action, &[Role::Approver]).await?;
        let r = request.get_ref();
        let subject = self
            .activation_subject(
                &r.institution,
                &r.product,
                (&r.ruleset_id, &r.ruleset_version),
                (&r.scorecard_id, &r.scorecard_version),
            )
            .await;
        let result = self.request(r, &person, rollback).await;
        let audit = result
            .as_ref()
            .map(|a| format!("requested {}", a.activation_id))
            .map_err(|s| s.clone());
        self.audit(&person, role.name(), action, &subject, &audit)
            .await;
        result.map(|a| Response::new(activation_of(&a)))
    }
}

/// INVALID_ARGUMENT listing every problem as a BadRequest field violation.
fn invalid(problems: Vec<(String, String)>) -> Status {
    let mut details = ErrorDetails::new();
    for (place, message) in &problems {
        details.add_bad_request_violation(place.clone(), message.clone());
    }
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
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid document, nothing published: {summary}"),
        details,
    )
}

const ANY_ROLE: &[Role] = &[Role::Analyst, Role::Approver, Role::Auditor];

#[tonic::async_trait]
impl<S: Store> pb::policy_registry_server::PolicyRegistry for RegistryService<S> {
    async fn upload_ruleset(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        self.upload(request, "ruleset", "UploadRuleset").await
    }

    async fn upload_scorecard(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        self.upload(request, "scorecard", "UploadScorecard").await
    }

    async fn validate_document(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::ValidateResponse>, Status> {
        let (person, role) = self
            .authorize(&request, "ValidateDocument", &[Role::Analyst])
            .await?;
        let (response, subject) = match self.check(&request.get_ref().document_json, None) {
            Ok(doc) => {
                let v = doc.version_ref();
                let subject = Subject {
                    kind: v.kind.clone(),
                    id: v.id.clone(),
                    version: v.version.clone(),
                    hash: v.hash.clone(),
                };
                let version = pb::DocumentVersion {
                    kind: v.kind,
                    id: v.id,
                    version: v.version,
                    hash: v.hash,
                    ..Default::default()
                };
                (
                    pb::ValidateResponse {
                        valid: true,
                        problems: Vec::new(),
                        version: Some(version),
                    },
                    subject,
                )
            }
            Err(status) => {
                let problems = status
                    .get_details_bad_request()
                    .map(|b| {
                        b.field_violations
                            .into_iter()
                            .map(|v| format!("{}: {}", v.field, v.description))
                            .collect()
                    })
                    .unwrap_or_else(|| vec![status.message().to_string()]);
                (
                    pb::ValidateResponse {
                        valid: false,
                        problems,
                        version: None,
                    },
                    Subject::default(),
                )
            }
        };
        let detail = if response.valid {
            "valid".to_string()
        } else {
            format!("invalid: {}", response.problems.join("; "))
        };
        self.audit(
            &person,
            role.name(),
            "ValidateDocument",
            &subject,
            &Ok(detail),
        )
        .await;
        Ok(Response::new(response))
    }

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        self.authorize(&request, "ListVersions", ANY_ROLE).await?;
        let r = request.get_ref();
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let docs = self
            .store
            .list_documents(non_empty(&r.kind), non_empty(&r.id))
            .await
            .map_err(unavailable)?;
        Ok(Response::new(pb::ListVersionsResponse {
            versions: docs.iter().map(version_of).collect(),
        }))
    }

    async fn get_version(
        &self,
        request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        self.authorize(&request, "GetVersion", ANY_ROLE).await?;
        let r = request.get_ref();
        let doc = self
            .store
            .find_document(&r.kind, &r.id, &r.version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "no {} `{}` version `{}` is published",
                    r.kind, r.id, r.version
                ))
            })?;
        Ok(Response::new(pb::GetVersionResponse {
            version: Some(version_of(&doc)),
            document_json: doc.json,
        }))
    }

    async fn request_activation(
        &self,
        request: Request<pb::RequestActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        self.activation_call(request, "RequestActivation", false)
            .await
    }

    async fn rollback(
        &self,
        request: Request<pb::RequestActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        self.activation_call(request, "Rollback", true).await
    }

    async fn approve_activation(
        &self,
        request: Request<pb::ApproveActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let (person, role) = self
            .authorize(&request, "ApproveActivation", &[Role::Approver])
            .await?;
        let id = request.get_ref().activation_id.clone();
        let result = self.approve(&id, &person).await;
        // The activation as it stands, approved or not, for the audit log.
        let record = match &result {
            Ok(a) => Some(a.clone()),
            Err(_) => self
                .store
                .list_activations()
                .await
                .ok()
                .and_then(|all| all.into_iter().find(|a| a.activation_id == id)),
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
                id: id.clone(),
                ..Subject::default()
            },
        };
        let audit = result
            .as_ref()
            .map(|a| format!("approved {} effective {}", a.activation_id, a.effective_at))
            .map_err(|s| s.clone());
        self.audit(&person, role.name(), "ApproveActivation", &subject, &audit)
            .await;
        result.map(|a| Response::new(activation_of(&a)))
    }

    async fn list_activations(
        &self,
        request: Request<pb::ListActivationsRequest>,
    ) -> Result<Response<pb::ListActivationsResponse>, Status> {
        self.authorize(&request, "ListActivations", ANY_ROLE)
            .await?;
        let r = request.get_ref();
        let all = self.store.list_activations().await.map_err(unavailable)?;
        Ok(Response::new(pb::ListActivationsResponse {
            activations: all
                .iter()
                .rev()
                .filter(|a| {
                    (r.institution.is_empty() || a.institution == r.institution)
                        && (r.product.is_empty() || a.product == r.product)
                })
                .map(activation_of)
                .collect(),
        }))
    }

    async fn diff_versions(
        &self,
        request: Request<pb::DiffVersionsRequest>,
    ) -> Result<Response<pb::DiffVersionsResponse>, Status> {
        self.authorize(&request, "DiffVersions", ANY_ROLE).await?;
        let r = request.get_ref();
        let mut docs = Vec::new();
        for version in [&r.from_version, &r.to_version] {
            let doc = self
                .store
                .find_document(&r.kind, &r.id, version)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    Status::not_found(format!(
                        "no {} `{}` version `{}` is published",
                        r.kind, r.id, version
                    ))
                })?;
            docs.push(
                serde_json::from_str::<serde_json::Value>(&doc.json)
                    .map_err(|e| Status::data_loss(e.to_string()))?,
            );
        }
        Ok(Response::new(pb::DiffVersionsResponse {
            changes: crate::diff::diff(&docs[0], &docs[1]),
        }))
    }

    async fn list_audit_log(
        &self,
        request: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        self.authorize(&request, "ListAuditLog", &[Role::Auditor])
            .await?;
        let limit = match request.get_ref().limit {
            0 => 100,
            n => n.min(10_000) as usize,
        };
        let entries = self.store.list_audit(limit).await.map_err(unavailable)?;
        Ok(Response::new(pb::ListAuditLogResponse {
            entries: entries
                .into_iter()
                .map(|e| pb::AuditEntry {
                    at: e.at,
                    person: e.person,
                    role: e.role,
                    action: e.action,
                    kind: e.kind,
                    id: e.id,
                    version: e.version,
                    hash: e.hash,
                    accepted: e.accepted,
                    detail: e.detail,
                })
                .collect(),
        }))
    }
}
