//! `decision.v1.ReviewService`: messages in, a use case of
//! `decision_service::Reviews`, messages out.

use std::sync::Arc;

use decision_core::Lang;
use decision_service::{ChainLink, ReviewInput, Reviews};
use decision_store::{ReviewCase, ReviewStep, Store};
use tonic::{Request, Response, Status};

use crate::metadata::bearer;
use crate::pb;
use crate::status::to_status;

/// The queue's page when the caller gives no limit.
const DEFAULT_PAGE: usize = 100;

/// The review handlers over a store `S`.
pub struct ReviewHandlers<S> {
    reviews: Arc<Reviews<S>>,
}

impl<S: Store> ReviewHandlers<S> {
    pub fn new(reviews: Arc<Reviews<S>>) -> Self {
        ReviewHandlers { reviews }
    }
}

/// The proto form of a review case.
pub fn case_to_proto(c: ReviewCase) -> pb::ReviewCase {
    pb::ReviewCase {
        decision_id: c.decision_id,
        institution: c.institution,
        product: c.product,
        application_id: c.application_id,
        system_outcome: c.system_outcome,
        routed_level: c.routed_level,
        waiting_level: c.waiting_level,
        status: c.status.to_string(),
        final_outcome: c.final_outcome,
        final_limit: c.final_limit.map(|l| l.to_string()),
        final_rate: c.final_rate.map(|r| r.to_string()),
        steps: c.steps,
        revision: c.revision,
        created_at: c.created_at,
        updated_at: c.updated_at,
        superseded_by: c.superseded_by,
    }
}

/// The proto form of a review step.
pub fn step_to_proto(s: ReviewStep) -> pb::ReviewStep {
    pb::ReviewStep {
        review_id: s.review_id,
        decision_id: s.decision_id,
        step: s.step,
        reviewer: s.reviewer,
        level: s.level,
        branch: s.branch,
        outcome: s.outcome,
        limit: s.limit.to_string(),
        annual_rate: s.annual_rate.map(|r| r.to_string()),
        reason_codes: s.reason_codes,
        note: s.note,
        effect: s.effect.to_string(),
        requires_level: s.requires_level,
        requires_because: s.requires_because,
        matrix: s.matrix,
        at: s.at,
    }
}

/// The proto form of a decision of an application.
pub fn chain_to_proto(link: ChainLink) -> pb::ApplicationDecision {
    pb::ApplicationDecision {
        decision_id: link.decision_id,
        stage: link.stage.unwrap_or_default(),
        outcome: link.outcome,
        recorded_at: link.recorded_at,
    }
}

#[tonic::async_trait]
impl<S: Store> pb::review_service_server::ReviewService for ReviewHandlers<S> {
    async fn record_review(
        &self,
        request: Request<pb::RecordReviewRequest>,
    ) -> Result<Response<pb::RecordReviewResponse>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let input = ReviewInput {
            review_id: r.review_id.clone(),
            decision_id: r.decision_id.clone(),
            outcome: r.outcome.clone(),
            limit: r.limit.clone(),
            annual_rate: r.annual_rate.clone(),
            reason_codes: r.reason_codes.clone(),
            note: r.note.clone(),
        };
        let done = self
            .reviews
            .record(&caller, input)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::RecordReviewResponse {
            step: Some(step_to_proto(done.step)),
            case: Some(case_to_proto(done.case)),
            idempotent_replay: done.idempotent_replay,
        }))
    }

    async fn list_pending_reviews(
        &self,
        request: Request<pb::ListPendingReviewsRequest>,
    ) -> Result<Response<pb::ListPendingReviewsResponse>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let limit = match r.limit {
            0 => DEFAULT_PAGE,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let cases = self
            .reviews
            .pending(
                &caller,
                Some(r.institution.as_str()),
                Some(r.level.as_str()),
                limit,
            )
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListPendingReviewsResponse {
            cases: cases
                .into_iter()
                .map(|p| pb::PendingReview {
                    case: Some(case_to_proto(p.case)),
                    age_seconds: p.age_seconds,
                })
                .collect(),
        }))
    }

    async fn get_reviews(
        &self,
        request: Request<pb::GetReviewsRequest>,
    ) -> Result<Response<pb::GetReviewsResponse>, Status> {
        let caller = bearer(request.metadata());
        let (decision, account) = self
            .reviews
            .get(&caller, &request.get_ref().decision_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetReviewsResponse {
            explanation_en: account.describe(&decision, Lang::En),
            explanation_zh: account.describe(&decision, Lang::Zh),
            case: account.case.map(case_to_proto),
            steps: account.steps.into_iter().map(step_to_proto).collect(),
        }))
    }
}
