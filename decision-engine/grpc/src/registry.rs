//! `decision.v1.PolicyRegistry`: messages in, a use case of
//! `decision_service::Registry`, messages out.

use std::sync::Arc;

use decision_service::{ActivationRequest, Registry};
use decision_store::{ActivationRecord, AuditEntry, Store, StoredDocument};
use tonic::{Request, Response, Status};

use crate::metadata::bearer;
use crate::pb;
use crate::status::to_status;

/// The registry's handlers over a store `S`.
pub struct RegistryHandlers<S> {
    registry: Arc<Registry<S>>,
}

impl<S: Store> RegistryHandlers<S> {
    pub fn new(registry: Arc<Registry<S>>) -> Self {
        RegistryHandlers { registry }
    }
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
        status: a.status.as_str().to_string(),
        approved_by: a.approved_by.clone(),
        approved_at: a.approved_at.clone(),
        rollback: a.rollback,
        challenger: a.challenger.as_ref().map(|c| pb::Challenger {
            ruleset_id: c.ruleset_id.clone(),
            ruleset_version: c.ruleset_version.clone(),
            scorecard_id: c.scorecard_id.clone(),
            scorecard_version: c.scorecard_version.clone(),
            share_percent: c.share_percent,
        }),
    }
}

fn audit_of(e: AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
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
        institution: e.institution,
    }
}

fn activation_request(r: pb::RequestActivationRequest) -> ActivationRequest {
    ActivationRequest {
        institution: r.institution,
        product: r.product,
        ruleset_id: r.ruleset_id,
        ruleset_version: r.ruleset_version,
        scorecard_id: r.scorecard_id,
        scorecard_version: r.scorecard_version,
        effective_at: r.effective_at,
        challenger: r.challenger.map(|c| decision_store::Challenger {
            ruleset_id: c.ruleset_id,
            ruleset_version: c.ruleset_version,
            scorecard_id: c.scorecard_id,
            scorecard_version: c.scorecard_version,
            share_percent: c.share_percent,
        }),
    }
}

impl<S: Store> RegistryHandlers<S> {
    async fn upload(
        &self,
        request: Request<pb::UploadRequest>,
        kind: &str,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let published = self
            .registry
            .upload(
                &bearer(request.metadata()),
                &request.get_ref().document_json,
                kind,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::UploadResponse {
            version: Some(version_of(&published.version)),
            created: published.created,
        }))
    }

    async fn activate(
        &self,
        request: Request<pb::RequestActivationRequest>,
        rollback: bool,
    ) -> Result<Response<pb::Activation>, Status> {
        let caller = bearer(request.metadata());
        let a = self
            .registry
            .request_activation(
                &caller,
                &activation_request(request.get_ref().clone()),
                rollback,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(activation_of(&a)))
    }
}

#[tonic::async_trait]
impl<S: Store> pb::policy_registry_server::PolicyRegistry for RegistryHandlers<S> {
    async fn upload_ruleset(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        self.upload(request, "ruleset").await
    }

    async fn upload_scorecard(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        self.upload(request, "scorecard").await
    }

    async fn upload_monitoring_policy(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        self.upload(request, "monitoring_policy").await
    }

    async fn upload_document(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let kind = decision_service::registry::kind_of(&request.get_ref().document_json);
        self.upload(request, &kind).await
    }

    async fn validate_document(
        &self,
        request: Request<pb::UploadRequest>,
    ) -> Result<Response<pb::ValidateResponse>, Status> {
        let v = self
            .registry
            .validate(
                &bearer(request.metadata()),
                &request.get_ref().document_json,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ValidateResponse {
            valid: v.problems.is_empty(),
            problems: v.problems,
            version: v.version.map(|v| pb::DocumentVersion {
                kind: v.kind,
                id: v.id,
                version: v.version,
                hash: v.hash,
                ..Default::default()
            }),
        }))
    }

    async fn list_versions(
        &self,
        request: Request<pb::ListVersionsRequest>,
    ) -> Result<Response<pb::ListVersionsResponse>, Status> {
        let r = request.get_ref();
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let docs = self
            .registry
            .list_versions(
                &bearer(request.metadata()),
                non_empty(&r.kind),
                non_empty(&r.id),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListVersionsResponse {
            versions: docs.iter().map(version_of).collect(),
        }))
    }

    async fn get_version(
        &self,
        request: Request<pb::GetVersionRequest>,
    ) -> Result<Response<pb::GetVersionResponse>, Status> {
        let r = request.get_ref();
        let doc = self
            .registry
            .get_version(&bearer(request.metadata()), &r.kind, &r.id, &r.version)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetVersionResponse {
            version: Some(version_of(&doc)),
            document_json: doc.json,
        }))
    }

    async fn request_activation(
        &self,
        request: Request<pb::RequestActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        self.activate(request, false).await
    }

    async fn rollback(
        &self,
        request: Request<pb::RequestActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        self.activate(request, true).await
    }

    async fn approve_activation(
        &self,
        request: Request<pb::ApproveActivationRequest>,
    ) -> Result<Response<pb::Activation>, Status> {
        let a = self
            .registry
            .approve(
                &bearer(request.metadata()),
                &request.get_ref().activation_id,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(activation_of(&a)))
    }

    async fn list_activations(
        &self,
        request: Request<pb::ListActivationsRequest>,
    ) -> Result<Response<pb::ListActivationsResponse>, Status> {
        let r = request.get_ref();
        let all = self
            .registry
            .list_activations(&bearer(request.metadata()), &r.institution, &r.product)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListActivationsResponse {
            activations: all.iter().map(activation_of).collect(),
        }))
    }

    async fn diff_versions(
        &self,
        request: Request<pb::DiffVersionsRequest>,
    ) -> Result<Response<pb::DiffVersionsResponse>, Status> {
        let r = request.get_ref();
        let changes = self
            .registry
            .diff(
                &bearer(request.metadata()),
                &r.kind,
                &r.id,
                &r.from_version,
                &r.to_version,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::DiffVersionsResponse { changes }))
    }

    async fn set_legal_hold(
        &self,
        request: Request<pb::SetLegalHoldRequest>,
    ) -> Result<Response<pb::SetLegalHoldResponse>, Status> {
        let r = request.get_ref();
        let retention = self
            .registry
            .set_legal_hold(
                &bearer(request.metadata()),
                &r.decision_id,
                r.hold,
                &r.reason,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::SetLegalHoldResponse {
            decision_id: r.decision_id.clone(),
            legal_hold: retention.legal_hold,
            pruned_at: retention.pruned_at.unwrap_or_default(),
        }))
    }

    async fn list_audit_log(
        &self,
        request: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        let entries = self
            .registry
            .audit_log(&bearer(request.metadata()), request.get_ref().limit)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListAuditLogResponse {
            entries: entries.into_iter().map(audit_of).collect(),
        }))
    }
}
