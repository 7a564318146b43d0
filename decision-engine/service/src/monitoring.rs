//! Post-loan monitoring (贷后管理), shared by the book run (`decision-engine
//! monitor`) and the online door: which monitoring policy and which product
//! policy are in force for a loan, its evaluation by the one engine path,
//! the durable record of its signals and tasks (a task only when none is
//! open for the same loan and rule), the hand-off of a red signal to the
//! household's live pre-credits, and the follow-up tasks' queue and
//! completion.
//!
//! A monitoring policy is activated per institution like a ruleset (four
//! eyes, an effective time): its activation is the institution's activation
//! of the reserved product [`MONITORING_PRODUCT`], naming the policy in its
//! ruleset columns and no scorecard. Without one, the policy loaded at
//! start for the institution (else the default `*`) is in force.

use std::sync::Arc;
use std::time::SystemTime;

use chrono::NaiveDate;
use decision_core::model::monitoring::Severity;
use decision_core::monitor::{Evaluation, LoanInput, LoanSchema, MonitoringPolicy};
use decision_core::{Document, FieldError, Policy};
use decision_store::{
    AuditEntry, SignalRecord, Store, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord,
    TaskStatus,
};

use crate::auth::{Bearer, Role, Tokens};
use crate::policy::{Policies, in_force};
use crate::precredit::PreCredits;
use crate::{ServiceError, clock};

/// The product code under which a monitoring policy is activated.
pub const MONITORING_PRODUCT: &str = "POST_LOAN";

/// The run id of signals and tasks recorded by an online evaluation.
pub const ONLINE_RUN: &str = "online";

const UNCHANGED: &str = "nothing was recorded";

fn unavailable(e: decision_store::StoreError) -> ServiceError {
    ServiceError::store(e, UNCHANGED)
}

/// The policies a loan runs: the monitoring policy of its institution and
/// the product policy that re-scores it.
#[derive(Clone)]
pub struct LoanPolicies {
    pub monitoring: Arc<MonitoringPolicy>,
    pub product: Arc<Policy>,
}

/// Post-loan monitoring over a store `S`.
pub struct Monitor<S> {
    policies: Arc<Policies<S>>,
    precredits: Arc<PreCredits<S>>,
    tokens: Arc<Tokens>,
    loan_schema: LoanSchema,
    /// Monitoring policies compiled from stored documents, by hash.
    compiled: moka::future::Cache<String, Arc<MonitoringPolicy>>,
}

impl<S: Store> Monitor<S> {
    pub fn new(
        policies: Arc<Policies<S>>,
        precredits: Arc<PreCredits<S>>,
        tokens: Arc<Tokens>,
    ) -> Result<Self, ServiceError> {
        let loan_schema =
            LoanSchema::shipped().map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Monitor {
            policies,
            precredits,
            tokens,
            loan_schema,
            compiled: moka::future::Cache::new(64),
        })
    }

    /// The monitoring policy in force for `institution` at `at`.
    pub async fn monitoring_policy(
        &self,
        institution: &str,
        at: SystemTime,
    ) -> Result<Arc<MonitoringPolicy>, ServiceError> {
        // The activation history as the product policies see it (re-read
        // at most twice a second), not a store read per loan.
        let history = self.policies.history().await?;
        let Some(a) = in_force(&history, institution, MONITORING_PRODUCT, at) else {
            return self
                .policies
                .loaded()
                .monitoring(institution)
                .cloned()
                .ok_or_else(|| {
                    ServiceError::Precondition(format!(
                        "no monitoring policy is in force for institution {institution}: activate one (product {MONITORING_PRODUCT})"
                    ))
                });
        };
        let stored = self
            .policies
            .store()
            .find_document("monitoring_policy", &a.ruleset_id, &a.ruleset_version)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!(
                    "activation {} names monitoring policy {}@{}, which is not stored",
                    a.activation_id, a.ruleset_id, a.ruleset_version
                ))
            })?;
        let schema = self.loan_schema.clone();
        self.compiled
            .try_get_with(stored.hash.clone(), async move {
                let product = self.any_product()?;
                let source = format!("{}@{}", stored.id, stored.version);
                match Document::parse(&source, &stored.json) {
                    Ok(Document::Monitoring(m)) => MonitoringPolicy::compile(&m, &schema, &product)
                        .map(Arc::new)
                        .map_err(|e| ServiceError::Precondition(e.to_string())),
                    Ok(_) => Err(ServiceError::Corrupt(format!(
                        "{source} is not a monitoring policy"
                    ))),
                    Err(e) => Err(ServiceError::Corrupt(e.to_string())),
                }
            })
            .await
            .map_err(|e| (*e).clone())
    }

    fn any_product(&self) -> Result<Arc<Policy>, ServiceError> {
        self.policies
            .loaded()
            .policies()
            .next()
            .map(|p| Arc::new(p.clone()))
            .ok_or_else(|| ServiceError::Internal("no product policy is loaded".into()))
    }

    /// The policies a loan of `institution` and `product` runs at `at`.
    pub async fn loan_policies(
        &self,
        institution: &str,
        product: &str,
        at: SystemTime,
    ) -> Result<LoanPolicies, ServiceError> {
        Ok(LoanPolicies {
            monitoring: self.monitoring_policy(institution, at).await?,
            product: self.policies.resolve(institution, product, at, &[]).await?,
        })
    }

    /// One loan evaluated as of `as_of` with the policies in force now:
    /// the engine path book runs and the online door share.
    pub async fn evaluate(
        &self,
        loan: &LoanInput<'_>,
        as_of: NaiveDate,
    ) -> Result<Evaluation, ServiceError> {
        let key = |name: &str| match loan.get(name) {
            Some(decision_core::Input::Text(s)) => s.trim().to_string(),
            _ => String::new(),
        };
        let (institution, product) = (key("institution"), key("product"));
        let mut missing = Vec::new();
        for (field, value) in [("institution", &institution), ("product", &product)] {
            if value.is_empty() {
                missing.push(FieldError {
                    field: field.into(),
                    message: "required loan column is missing: expected text".into(),
                });
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::from_fields(missing));
        }
        let p = self
            .loan_policies(&institution, &product, SystemTime::now())
            .await
            .map_err(|e| match e {
                ServiceError::Invalid { summary, fields } => ServiceError::Invalid {
                    summary,
                    fields: fields
                        .into_iter()
                        .map(|mut f| {
                            f.field = f.field.trim_start_matches("features.").to_string();
                            f
                        })
                        .collect(),
                },
                other => other,
            })?;
        p.monitoring
            .evaluate(&p.product, loan, as_of)
            .map_err(ServiceError::from_fields)
    }

    /// Records evaluations durably: every signal with its evaluation, and
    /// the tasks asked for (created only when none is open for the same
    /// loan and rule). A red signal flags the household's live pre-credits
    /// for revocation review. Returns the ids of the tasks created.
    pub async fn record(
        &self,
        evaluations: &[Evaluation],
        run_id: &str,
    ) -> Result<Vec<String>, ServiceError> {
        let now = clock::now_seconds();
        let mut signals = Vec::new();
        let mut tasks = Vec::new();
        for e in evaluations {
            let evaluation = if e.signals.is_empty() {
                String::new()
            } else {
                serde_json::to_string(e).map_err(|x| ServiceError::Internal(x.to_string()))?
            };
            let codes = e
                .signals
                .iter()
                .map(|s| s.code.as_str())
                .collect::<Vec<_>>()
                .join(";");
            for s in &e.signals {
                signals.push(SignalRecord {
                    format: decision_store::MONITOR_FORMAT,
                    signal_id: s.signal_id.clone(),
                    institution: e.institution.clone(),
                    branch: e.branch.clone(),
                    product: e.product.clone(),
                    loan_id: e.loan_id.clone(),
                    household_id: e.household_id.clone(),
                    as_of: e.as_of.clone(),
                    code: s.code.clone(),
                    severity: s.severity.name().to_string(),
                    level: e.level.code.clone(),
                    run_id: run_id.to_string(),
                    recorded_at: now.clone(),
                    evaluation: evaluation.clone(),
                });
            }
            for t in &e.tasks {
                tasks.push(task_record(e, t, &codes, run_id, &now));
            }
        }
        let created = self
            .policies
            .store()
            .record_monitoring(signals, tasks)
            .await
            .map_err(unavailable)?;
        for e in evaluations {
            for s in e.signals.iter().filter(|s| s.severity == Severity::Red) {
                let why = format!(
                    "post-loan signal {} ({}) on loan {} as of {}",
                    s.code, s.signal_id, e.loan_id, e.as_of
                );
                self.precredits
                    .flag_for_signal(
                        &e.institution,
                        &e.product,
                        &e.household_id,
                        &s.signal_id,
                        &why,
                        SystemTime::now(),
                    )
                    .await?;
            }
        }
        Ok(created)
    }

    /// `EvaluateLoan`: one loan, evaluated and recorded (a loan system or
    /// a loan officer of its institution).
    pub async fn evaluate_loan(
        &self,
        caller: &Bearer<'_>,
        loan: &serde_json::Map<String, serde_json::Value>,
        as_of: &str,
    ) -> Result<(Evaluation, Vec<String>), ServiceError> {
        let (principal, _) = self
            .tokens
            .authorize(caller, &[Role::Client, Role::Officer])?;
        let as_of = decision_core::monitor::parse_date(as_of)
            .map_err(|e| ServiceError::field("as_of", e))?;
        let input = LoanInput::of_json(loan);
        if let Some(decision_core::Input::Text(i)) = input.get("institution") {
            principal.require_scope(i.trim())?;
        }
        let evaluation = self.evaluate(&input, as_of).await?;
        let created = self
            .record(std::slice::from_ref(&evaluation), ONLINE_RUN)
            .await?;
        Ok((evaluation, created))
    }

    /// Every stored task of `institutions` (all when empty), by due date:
    /// for the command line, which holds the store itself.
    pub async fn stored_tasks(
        &self,
        institutions: Vec<String>,
    ) -> Result<Vec<TaskRecord>, ServiceError> {
        self.policies
            .store()
            .list_tasks(TaskQuery {
                institutions,
                ..TaskQuery::default()
            })
            .await
            .map_err(unavailable)
    }

    /// `ListTasks`: a page of the tasks of the caller's institutions, by
    /// due date.
    pub async fn list_tasks(
        &self,
        caller: &Bearer<'_>,
        list: &TaskList,
    ) -> Result<TaskPage, ServiceError> {
        let (principal, _) = self
            .tokens
            .authorize(caller, &[Role::Officer, Role::Auditor, Role::Approver])?;
        let today = today();
        let mut problems = Vec::new();
        let mut status = match list.status.trim() {
            "" => None,
            "open" => Some(TaskStatus::Open),
            "completed" => Some(TaskStatus::Completed),
            other => {
                problems.push(FieldError {
                    field: "status".into(),
                    message: format!("{other:?} is not a task status: expected open or completed"),
                });
                None
            }
        };
        let limit = match list.limit {
            0 => DEFAULT_TASKS,
            n if n as usize > MAX_TASKS => {
                problems.push(FieldError {
                    field: "limit".into(),
                    message: format!(
                        "{n} is too many: expected at most {MAX_TASKS} a page (page on with page_token)"
                    ),
                });
                0
            }
            n => n as usize,
        };
        let after = match list.page_token.trim() {
            "" => None,
            token => match token.split_once('|') {
                Some((due, id)) if !due.is_empty() && !id.is_empty() => {
                    Some((due.to_string(), id.to_string()))
                }
                _ => {
                    problems.push(FieldError {
                        field: "page_token".into(),
                        message: format!(
                            "{token:?} is not a page token: expected the next_page_token of the previous page"
                        ),
                    });
                    None
                }
            },
        };
        let mut due_before = None;
        if list.overdue {
            if status == Some(TaskStatus::Completed) {
                problems.push(FieldError {
                    field: "overdue".into(),
                    message: "only an open task is overdue: expected status open or empty".into(),
                });
            }
            status = Some(TaskStatus::Open);
            due_before = Some(today.clone());
        }
        if !problems.is_empty() {
            return Err(ServiceError::from_fields(problems));
        }
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let mut query = TaskQuery {
            institutions: text(&list.institution).into_iter().collect(),
            branch: text(&list.branch),
            status,
            loan_id: text(&list.loan_id),
            due_before,
            after,
            limit,
        };
        if let Some(scope) = &principal.institutions {
            if query.institutions.is_empty() {
                query.institutions = scope.clone();
            }
            for i in &query.institutions {
                principal.require_scope(i)?;
            }
        }
        let tasks = self
            .policies
            .store()
            .list_tasks(query)
            .await
            .map_err(unavailable)?;
        let next_page_token = match tasks.last() {
            Some(t) if tasks.len() == limit => format!("{}|{}", t.due_on, t.task_id),
            _ => String::new(),
        };
        Ok(TaskPage {
            tasks,
            today,
            next_page_token,
        })
    }

    /// `CompleteTask`: a loan officer of the task's institution records
    /// the follow-up, durably and audited.
    pub async fn complete_task(
        &self,
        caller: &Bearer<'_>,
        task_id: &str,
        visit_type: &str,
        result: &str,
        note: &str,
    ) -> Result<TaskRecord, ServiceError> {
        let (principal, role) = self.tokens.authorize(caller, &[Role::Officer])?;
        let mut problems = Vec::new();
        if decision_core::monitor::task_kind(visit_type.trim()).is_none() {
            problems.push(FieldError {
                field: "visit_type".into(),
                message: format!(
                    "{visit_type:?} is not a follow-up: expected first_visit, field_visit, phone_visit, limit_freeze or recall_review"
                ),
            });
        }
        if result.trim().is_empty() {
            problems.push(FieldError {
                field: "result".into(),
                message: "must not be empty: say what the follow-up found or did".into(),
            });
        }
        if !problems.is_empty() {
            return Err(ServiceError::from_fields(problems));
        }
        let store = self.policies.store();
        let task = store
            .get_task(task_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ServiceError::NotFound(format!("no task `{task_id}`")))?;
        principal.require_scope(&task.institution)?;
        let at = clock::now_seconds();
        let completion = TaskCompletion {
            completed_by: principal.person.clone(),
            completed_at: at.clone(),
            visit_type: visit_type.trim().to_string(),
            result: result.trim().to_string(),
            note: note.trim().to_string(),
        };
        let audit = AuditEntry {
            at,
            person: principal.person.clone(),
            role: role.name().to_string(),
            action: "CompleteTask".into(),
            kind: "task".into(),
            id: task_id.to_string(),
            version: task.rule_id.clone(),
            hash: task.loan_id.clone(),
            accepted: true,
            detail: format!("{}: {}", completion.visit_type, completion.result),
            institution: task.institution.clone(),
        };
        match store
            .complete_task(task_id, completion, audit)
            .await
            .map_err(unavailable)?
        {
            TaskCompleted::Done(t) => Ok(*t),
            TaskCompleted::AlreadyCompleted(t) => Err(ServiceError::Precondition(format!(
                "task {task_id} was already completed by {} at {}",
                t.completion
                    .as_ref()
                    .map_or("", |c| c.completed_by.as_str()),
                t.completion
                    .as_ref()
                    .map_or("", |c| c.completed_at.as_str())
            ))),
            TaskCompleted::NotFound => Err(ServiceError::NotFound(format!("no task `{task_id}`"))),
        }
    }
}

/// What `ListTasks` asks for; empty texts ask for any.
#[derive(Clone, Debug, Default)]
pub struct TaskList {
    /// Empty: every institution the caller acts for.
    pub institution: String,
    pub branch: String,
    /// `open`, `completed` or empty.
    pub status: String,
    pub loan_id: String,
    /// Only open tasks due before today.
    pub overdue: bool,
    /// 0: [`DEFAULT_TASKS`]; at most [`MAX_TASKS`].
    pub limit: u32,
    /// Empty: the first page; else the previous page's `next_page_token`.
    pub page_token: String,
}

/// A page of tasks.
#[derive(Clone, Debug)]
pub struct TaskPage {
    /// By due date, then task id.
    pub tasks: Vec<TaskRecord>,
    /// The date they were listed on (China Standard Time): an open task
    /// due before it is overdue.
    pub today: String,
    /// Empty on the last page; else what asks for the next.
    pub next_page_token: String,
}

/// Tasks listed a page when the caller gives no limit.
pub const DEFAULT_TASKS: usize = 100;
/// Tasks listed a page at most (a page of 1,000 is about 300 KB).
pub const MAX_TASKS: usize = 1000;

/// Today in China Standard Time, `YYYY-MM-DD`: a task still open and due
/// before it is overdue.
pub fn today() -> String {
    crate::precredit::date_at(SystemTime::now())
        .format("%Y-%m-%d")
        .to_string()
}

/// The stored task of `t`, asked for by evaluation `e`.
pub fn task_record(
    e: &Evaluation,
    t: &decision_core::monitor::TaskDue,
    signals: &str,
    run_id: &str,
    now: &str,
) -> TaskRecord {
    TaskRecord {
        format: decision_store::MONITOR_FORMAT,
        task_id: t.task_id.clone(),
        institution: e.institution.clone(),
        branch: e.branch.clone(),
        product: e.product.clone(),
        loan_id: e.loan_id.clone(),
        household_id: e.household_id.clone(),
        rule_id: t.rule_id.clone(),
        task: t.task.name().to_string(),
        level: e.level.code.clone(),
        period: t.period.clone(),
        created_on: e.as_of.clone(),
        due_on: t.due_on.clone(),
        signals: signals.to_string(),
        message_zh: t.message_zh.clone(),
        message_en: t.message_en.clone(),
        run_id: run_id.to_string(),
        created_at: now.to_string(),
        status: TaskStatus::Open,
        completion: None,
    }
}
