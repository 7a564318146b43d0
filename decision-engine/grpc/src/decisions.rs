//! `decision.v1.DecisionService`: messages in, a use case of
//! `decision_service::Decisions`, messages out.

use std::sync::Arc;
use std::time::Instant;

use decision_core::Request as EngineRequest;
use decision_service::{Decisions, Found, Pin, PreReview, Role};
use decision_store::Store;
use tonic::{Request, Response, Status};

use crate::convert::{decision_to_proto, features_and_errors_from_proto};
use crate::metadata::{bearer, deadline};
use crate::pb;
use crate::precredit::link_to_proto;
use crate::reviews::{case_to_proto, chain_to_proto, step_to_proto};
use crate::status::to_status;

/// The decision service's handlers over a store `S`.
pub struct DecisionHandlers<S> {
    decisions: Arc<Decisions<S>>,
}

impl<S: Store> DecisionHandlers<S> {
    pub fn new(decisions: Arc<Decisions<S>>) -> Self {
        DecisionHandlers { decisions }
    }

    fn authorize<T>(&self, request: &Request<T>, roles: &[Role]) -> Result<(), Status> {
        self.decisions
            .authorize(&bearer(request.metadata()), roles)
            .map_err(to_status)
    }
}

fn pre_review_of(req: pb::PreReviewRequest) -> PreReview {
    let (features, input_errors) = features_and_errors_from_proto(req.features.as_ref());
    PreReview {
        request: EngineRequest {
            request_id: req.request_id,
            institution: req.institution,
            product: req.product,
            features,
        },
        pins: req
            .pins
            .into_iter()
            .map(|p| Pin {
                kind: p.kind,
                id: p.id,
                version: p.version,
            })
            .collect(),
        as_of: req.as_of,
        input_errors,
        household_id: (!req.household_id.trim().is_empty()).then_some(req.household_id),
        application_id: (!req.application_id.trim().is_empty()).then_some(req.application_id),
        stage: (!req.stage.trim().is_empty()).then_some(req.stage),
    }
}

#[tonic::async_trait]
impl<S: Store> pb::decision_service_server::DecisionService for DecisionHandlers<S> {
    async fn pre_review(
        &self,
        request: Request<pb::PreReviewRequest>,
    ) -> Result<Response<pb::PreReviewResponse>, Status> {
        self.decisions
            .authorize_for(
                &bearer(request.metadata()),
                &[Role::Client],
                &request.get_ref().institution,
            )
            .map_err(to_status)?;
        let started = Instant::now();
        let deadline = deadline(request.metadata(), started);
        let req = request.into_inner();
        let include_trace = req.include_trace;
        let result = self
            .decisions
            .pre_review(pre_review_of(req), include_trace, deadline)
            .await
            .map(|recorded| {
                let mut reply = decision_to_proto(&recorded.decision, include_trace);
                reply.recorded_at = recorded.recorded_at;
                reply.idempotent_replay = recorded.idempotent_replay;
                reply.precredit = recorded.precredit.as_ref().map(link_to_proto);
                reply
            })
            .map_err(to_status);
        let code = match &result {
            Ok(_) => "OK".to_string(),
            Err(s) => format!("{:?}", s.code()),
        };
        metrics::histogram!("pre_review_seconds", "code" => code)
            .record(started.elapsed().as_secs_f64());
        result.map(Response::new)
    }

    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        self.authorize(&request, &[Role::Client, Role::Auditor])?;
        let found = self
            .decisions
            .find(&request.get_ref().decision_id)
            .await
            .map_err(to_status)?;
        let institution = match &found {
            Found::Whole(s) => &s.record.institution,
            Found::Pruned(p) => &p.record.institution,
        };
        // A token acting for some institutions reads only their decisions.
        self.decisions
            .authorize_for(
                &bearer(request.metadata()),
                &[Role::Client, Role::Auditor],
                institution,
            )
            .map_err(to_status)?;
        let stored = match found {
            Found::Whole(s) => *s,
            Found::Pruned(p) => return Ok(Response::new(crate::convert::pruned_to_proto(&p))),
        };
        let retention = self
            .decisions
            .retention(&stored.record)
            .await
            .map_err(to_status)?;
        let mut decision = decision_to_proto(&stored.decision, true);
        decision.recorded_at = stored.record.recorded_at.clone();
        decision.precredit = stored.precredit.as_ref().map(link_to_proto);
        let (explanation_en, explanation_zh, reviews) = self
            .decisions
            .explanations(&stored)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::GetDecisionResponse {
            decision: Some(decision),
            request_json: stored.record.request_json,
            explanation_en,
            explanation_zh,
            review_case: reviews.case.map(case_to_proto),
            reviews: reviews.steps.into_iter().map(step_to_proto).collect(),
            application_chain: reviews.chain.into_iter().map(chain_to_proto).collect(),
            retention: retention.map(|r| pb::Retention {
                legal_hold: r.legal_hold,
                pruned: r.pruned_at.is_some(),
                pruned_at: r.pruned_at.unwrap_or_default(),
                request_digest: stored.record.request_hash.clone(),
            }),
        }))
    }

    async fn replay(
        &self,
        request: Request<pb::ReplayRequest>,
    ) -> Result<Response<pb::ReplayResponse>, Status> {
        self.authorize(&request, &[Role::Client, Role::Auditor])?;
        let replayed = self
            .decisions
            .replay(&request.get_ref().decision_id)
            .await
            .map_err(to_status)?;
        self.decisions
            .authorize_for(
                &bearer(request.metadata()),
                &[Role::Client, Role::Auditor],
                &replayed.replayed.institution,
            )
            .map_err(to_status)?;
        Ok(Response::new(pb::ReplayResponse {
            identical: replayed.differences.is_empty(),
            differences: replayed.differences,
            replayed: Some(decision_to_proto(&replayed.replayed, true)),
        }))
    }
}
