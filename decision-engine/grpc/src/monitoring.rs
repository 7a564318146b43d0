//! `decision.v1.MonitoringService`: messages in, a use case of
//! `decision_service::monitoring::Monitor`, messages out.

use std::sync::Arc;

use decision_core::Lang;
use decision_core::monitor::Evaluation;
use decision_service::ServiceError;
use decision_service::monitoring::{Monitor, TaskList};
use decision_store::{Store, TaskRecord};
use serde_json::{Map, Value};
use tonic::{Request, Response, Status};

use crate::convert::{
    feature_value_to_json, features_and_errors_from_proto, unset_feature_value, versions_to_proto,
};
use crate::metadata::bearer;
use crate::pb;
use crate::status::to_status;

/// The monitoring handlers over a store `S`.
pub struct MonitoringHandlers<S> {
    monitor: Arc<Monitor<S>>,
}

impl<S: Store> MonitoringHandlers<S> {
    pub fn new(monitor: Arc<Monitor<S>>) -> Self {
        MonitoringHandlers { monitor }
    }
}

/// A loan and its refreshed features as the one JSON object of columns
/// and features a loan book row is; every `extra` value without a kind is
/// a problem naming it.
pub fn loan_from_proto(
    loan: Option<&pb::Loan>,
    features: Option<&pb::Features>,
) -> Result<Map<String, Value>, ServiceError> {
    let (mut map, mut problems) = features_and_errors_from_proto(features);
    if let Some(l) = loan {
        for (name, value) in [
            ("loan_id", &l.loan_id),
            ("household_id", &l.household_id),
            ("institution", &l.institution),
            ("branch", &l.branch),
            ("product", &l.product),
            ("amount", &l.amount),
            ("balance", &l.balance),
            ("disbursed_on", &l.disbursed_on),
            ("maturity_on", &l.maturity_on),
            ("origination_decision_id", &l.origination_decision_id),
        ] {
            if !value.trim().is_empty() {
                map.insert(name.into(), Value::from(value.clone()));
            }
        }
        if let Some(d) = l.days_past_due {
            map.insert("days_past_due".into(), Value::from(d));
        }
        for (name, value) in [
            ("origination_score", &l.origination_score),
            ("origination_grade", &l.origination_grade),
        ] {
            if let Some(v) = value.as_ref().filter(|v| !v.trim().is_empty()) {
                map.insert(name.into(), Value::from(v.clone()));
            }
        }
        let mut extra: Vec<_> = l.extra.iter().collect();
        extra.sort_by(|a, b| a.0.cmp(b.0));
        for (name, value) in extra {
            match feature_value_to_json(value) {
                Some(v) => {
                    map.insert(name.clone(), v);
                }
                None => problems.push(unset_feature_value(format!("loan.extra.{name}"))),
            }
        }
    }
    if problems.is_empty() {
        Ok(map)
    } else {
        Err(ServiceError::from_fields(problems))
    }
}

/// The reply to `EvaluateLoan` of evaluation `e`, whose tasks `created`
/// were created now.
pub fn evaluation_to_proto(
    e: &Evaluation,
    created: &[String],
    include_trace: bool,
) -> Result<pb::EvaluateLoanResponse, ServiceError> {
    let mut versions = vec![e.monitoring.clone(), e.loan_schema.clone()];
    versions.extend(e.scoring.iter().cloned());
    Ok(pb::EvaluateLoanResponse {
        loan_id: e.loan_id.clone(),
        as_of: e.as_of.clone(),
        level: e.level.code.clone(),
        level_name_zh: e.level.name_zh.clone(),
        level_name_en: e.level.name_en.clone(),
        score: e.score.to_string(),
        grade: e.grade.clone(),
        outcome_now: e.outcome_now.clone(),
        origination_grade: e.origination_grade.clone(),
        grade_notches_down: e.grade_notches_down,
        signals: e
            .signals
            .iter()
            .map(|s| pb::Signal {
                signal_id: s.signal_id.clone(),
                code: s.code.clone(),
                severity: s.severity.name().to_string(),
                message_zh: s.message_zh.clone(),
                message_en: s.message_en.clone(),
            })
            .collect(),
        tasks: e
            .tasks
            .iter()
            .map(|t| pb::LoanTask {
                task_id: t.task_id.clone(),
                rule_id: t.rule_id.clone(),
                task: t.task.name().to_string(),
                cycle: t.cycle.name().to_string(),
                period: t.period.clone(),
                due_on: t.due_on.clone(),
                message_zh: t.message_zh.clone(),
                message_en: t.message_en.clone(),
                created: created.contains(&t.task_id),
            })
            .collect(),
        versions: versions_to_proto(&versions),
        explanation_en: e.explain(None, Lang::En),
        explanation_zh: e.explain(None, Lang::Zh),
        trace_json: if include_trace {
            serde_json::to_string(e).map_err(|x| ServiceError::Internal(x.to_string()))?
        } else {
            String::new()
        },
    })
}

/// The proto form of a stored task, overdue as of `today`.
pub fn task_to_proto(t: TaskRecord, today: &str) -> pb::Task {
    pb::Task {
        overdue: t.overdue_on(today),
        task_id: t.task_id,
        institution: t.institution,
        branch: t.branch,
        product: t.product,
        loan_id: t.loan_id,
        household_id: t.household_id,
        rule_id: t.rule_id,
        task: t.task,
        level: t.level,
        period: t.period,
        created_on: t.created_on,
        due_on: t.due_on,
        signals: t.signals,
        message_zh: t.message_zh,
        message_en: t.message_en,
        status: t.status.as_str().to_string(),
        completion: t.completion.map(|c| pb::TaskCompletion {
            completed_by: c.completed_by,
            completed_at: c.completed_at,
            visit_type: c.visit_type,
            result: c.result,
            note: c.note,
        }),
    }
}

#[tonic::async_trait]
impl<S: Store> pb::monitoring_service_server::MonitoringService for MonitoringHandlers<S> {
    async fn evaluate_loan(
        &self,
        request: Request<pb::EvaluateLoanRequest>,
    ) -> Result<Response<pb::EvaluateLoanResponse>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let loan = loan_from_proto(r.loan.as_ref(), r.features.as_ref()).map_err(to_status)?;
        let (evaluation, created) = self
            .monitor
            .evaluate_loan(&caller, &loan, &r.as_of)
            .await
            .map_err(to_status)?;
        evaluation_to_proto(&evaluation, &created, r.include_trace)
            .map(Response::new)
            .map_err(to_status)
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let list = TaskList {
            institution: r.institution.clone(),
            branch: r.branch.clone(),
            status: r.status.clone(),
            loan_id: r.loan_id.clone(),
            overdue: r.overdue,
            limit: r.limit,
            page_token: r.page_token.clone(),
        };
        let page = self
            .monitor
            .list_tasks(&caller, &list)
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::ListTasksResponse {
            tasks: page
                .tasks
                .into_iter()
                .map(|t| task_to_proto(t, &page.today))
                .collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn complete_task(
        &self,
        request: Request<pb::CompleteTaskRequest>,
    ) -> Result<Response<pb::Task>, Status> {
        let caller = bearer(request.metadata());
        let r = request.get_ref();
        let task = self
            .monitor
            .complete_task(&caller, &r.task_id, &r.visit_type, &r.result, &r.note)
            .await
            .map_err(to_status)?;
        Ok(Response::new(task_to_proto(
            task,
            &decision_service::monitoring::today(),
        )))
    }
}
