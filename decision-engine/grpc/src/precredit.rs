//! `decision.v1.PreCreditService`: messages in, a use case of
//! `decision_service::PreCredits`, messages out.

use std::sync::Arc;
use std::time::SystemTime;

use decision_service::precredit::EntryView;
use decision_service::{Operation, PreCreditLink, PreCredits, Publish};
use decision_store::{PreCreditQuery, PreCreditStatus, PublicationRecord, Store};
use tonic::{Request, Response, Status};

use crate::metadata::bearer;
use crate::pb;
use crate::status::to_status;

/// The register's handlers over a store `S`.
pub struct PreCreditHandlers<S> {
    precredits: Arc<PreCredits<S>>,
}

impl<S: Store> PreCreditHandlers<S> {
    pub fn new(precredits: Arc<PreCredits<S>>) -> Self {
        PreCreditHandlers { precredits }
    }

    async fn operate(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        institution: &str,
        entry_id: &str,
        op_id: &str,
        operation: Operation,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let done = self
            .precredits
            .operate(
                &bearer(metadata),
                institution,
                entry_id,
                op_id,
                operation,
                SystemTime::now(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::PreCreditReply {
            entry: Some(entry_to_proto(done.entry)),
            idempotent_replay: done.idempotent_replay,
        }))
    }
}

/// The proto form of an entry.
pub fn entry_to_proto(view: EntryView) -> pb::PreCredit {
    let e = view.entry;
    pb::PreCredit {
        entry_id: e.entry_id,
        publication_id: e.publication_id,
        institution: e.institution,
        product: e.product,
        household_id: e.household_id,
        village: e.village,
        branch: e.branch,
        outcome: e.outcome,
        grade: e.grade,
        score: e.score.to_string(),
        limit: e.limit.to_string(),
        annual_rate: e.annual_rate.map(|r| r.to_string()),
        valid_until: e.valid_until,
        status: e.status.to_string(),
        expired: view.expired,
        signed_limit: e.signed_limit.map(|l| l.to_string()),
        contract_id: e.contract_id,
        drawn_total: e.drawn_total.to_string(),
        repaid_total: e.repaid_total.to_string(),
        outstanding: e.outstanding.to_string(),
        available: view.available.to_string(),
        revoked_reason: e.revoked_reason,
        review_flag: e.review_flag,
        superseded_by: e.superseded_by,
        decision_id: e.decision_id,
        revision: e.revision,
        updated_at: e.updated_at,
    }
}

/// The proto form of a publication.
pub fn publication_to_proto(p: PublicationRecord) -> pb::Publication {
    pb::Publication {
        publication_id: p.publication_id,
        batch_id: p.batch_id,
        institution: p.institution,
        product: p.product,
        valid_until: p.valid_until,
        status: p.status.to_string(),
        requested_by: p.requested_by,
        requested_at: p.requested_at,
        approved_by: p.approved_by,
        approved_at: p.approved_at,
        offered: p.offered,
        referred: p.referred,
        declined: p.declined,
        errors: p.errors,
        identified: p.identified,
        offered_amount: p.offered_amount.to_string(),
        superseded: p.superseded,
        failure: p.failure,
    }
}

/// The proto form of the pre-credit an online decision met.
pub fn link_to_proto(link: &PreCreditLink) -> pb::PreCreditLink {
    pb::PreCreditLink {
        entry_id: link.entry_id.clone(),
        status: link.status.to_string(),
        limit: link.limit.to_string(),
        valid_until: link.valid_until.clone(),
        expired: link.expired,
        flagged_for_review: link.flagged_for_review,
        referred_above_precredit: link.referred_above_precredit,
    }
}

#[tonic::async_trait]
impl<S: Store> pb::pre_credit_service_server::PreCreditService for PreCreditHandlers<S> {
    async fn publish_pre_credits(
        &self,
        request: Request<pb::PublishPreCreditsRequest>,
    ) -> Result<Response<pb::Publication>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let publish = Publish {
            batch_id: r.batch_id.clone(),
            valid_until: r.valid_until.clone(),
            households: (!r.households_file.trim().is_empty())
                .then(|| r.households_file.trim().into()),
        };
        let p = self
            .precredits
            .publish(&caller, publish, SystemTime::now())
            .await
            .map_err(to_status)?;
        Ok(Response::new(publication_to_proto(p)))
    }

    async fn approve_pre_credits(
        &self,
        request: Request<pb::ApprovePreCreditsRequest>,
    ) -> Result<Response<pb::Publication>, Status> {
        let p = self
            .precredits
            .approve(
                &bearer(request.metadata()),
                &request.get_ref().publication_id,
                SystemTime::now(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(publication_to_proto(p)))
    }

    async fn list_publications(
        &self,
        request: Request<pb::ListPublicationsRequest>,
    ) -> Result<Response<pb::ListPublicationsResponse>, Status> {
        let all = self
            .precredits
            .publications(&bearer(request.metadata()))
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPublicationsResponse {
            publications: all.into_iter().map(publication_to_proto).collect(),
        }))
    }

    async fn get_pre_credit(
        &self,
        request: Request<pb::GetPreCreditRequest>,
    ) -> Result<Response<pb::GetPreCreditResponse>, Status> {
        let r = request.get_ref();
        let entries = self
            .precredits
            .get(
                &bearer(request.metadata()),
                &r.institution,
                &r.product,
                &r.household_id,
                &r.national_id,
                SystemTime::now(),
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetPreCreditResponse {
            entries: entries.into_iter().map(entry_to_proto).collect(),
        }))
    }

    async fn sign_pre_credit(
        &self,
        request: Request<pb::SignPreCreditRequest>,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let r = request.get_ref();
        let operation = Operation::Sign {
            signed_limit: r.signed_limit.clone(),
            contract_id: r.contract_id.clone(),
        };
        self.operate(
            request.metadata(),
            &r.institution,
            &r.entry_id,
            &r.op_id,
            operation,
        )
        .await
    }

    async fn record_drawdown(
        &self,
        request: Request<pb::AmountRequest>,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let r = request.get_ref();
        let operation = Operation::Drawdown {
            amount: r.amount.clone(),
        };
        self.operate(
            request.metadata(),
            &r.institution,
            &r.entry_id,
            &r.op_id,
            operation,
        )
        .await
    }

    async fn record_repayment(
        &self,
        request: Request<pb::AmountRequest>,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let r = request.get_ref();
        let operation = Operation::Repayment {
            amount: r.amount.clone(),
        };
        self.operate(
            request.metadata(),
            &r.institution,
            &r.entry_id,
            &r.op_id,
            operation,
        )
        .await
    }

    async fn revoke_pre_credit(
        &self,
        request: Request<pb::RevokePreCreditRequest>,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let r = request.get_ref();
        let operation = Operation::Revoke {
            reason: r.reason.clone(),
        };
        self.operate(
            request.metadata(),
            &r.institution,
            &r.entry_id,
            &r.op_id,
            operation,
        )
        .await
    }

    async fn clear_review_flag(
        &self,
        request: Request<pb::ClearReviewFlagRequest>,
    ) -> Result<Response<pb::PreCreditReply>, Status> {
        let r = request.get_ref();
        let operation = Operation::ClearFlag {
            note: r.note.clone(),
        };
        self.operate(
            request.metadata(),
            &r.institution,
            &r.entry_id,
            &r.op_id,
            operation,
        )
        .await
    }

    async fn list_pre_credits(
        &self,
        request: Request<pb::ListPreCreditsRequest>,
    ) -> Result<Response<pb::ListPreCreditsResponse>, Status> {
        let r = request.get_ref();
        let status = match r.status.trim() {
            "" => None,
            s => Some(PreCreditStatus::parse(s).ok_or_else(|| {
                to_status(decision_service::ServiceError::field(
                    "status",
                    format!(
                        "expected one of {}, found `{s}`",
                        PreCreditStatus::ALL.map(|s| s.as_str()).join(", ")
                    ),
                ))
            })?),
        };
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let query = PreCreditQuery {
            institution: r.institution.clone(),
            product: non_empty(&r.product),
            status,
            village: non_empty(&r.village),
            after: non_empty(&r.after),
            limit: r.limit as usize,
        };
        let entries = self
            .precredits
            .list(&bearer(request.metadata()), query, SystemTime::now())
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPreCreditsResponse {
            entries: entries.into_iter().map(entry_to_proto).collect(),
        }))
    }
}
