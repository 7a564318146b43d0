//! The REST/JSON front door: the decision API and the policy registry's
//! main calls over HTTP/JSON, for loan systems that do not speak gRPC.
//!
//! The same use cases as the gRPC door (`decision-service`), the same
//! bearer tokens, the same server-wide call budget (shared with gRPC) and
//! per-call timeout, and metrics of its own. A refusal is an
//! `application/problem+json` body (RFC 9457) naming every field problem.
//! `POST /v1/pre-review` takes exactly the request JSON `decision-engine
//! evaluate` reads and answers exactly the decision JSON it prints. The
//! routes are [`ROUTES`]; the OpenAPI document describing them is
//! `proto/decision/v1/openapi.json`, served at `/v1/openapi.json`.

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use decision_core::{FieldError, Request};
use decision_service::registry::ActivationRequest;
use decision_service::{
    Bearer, Decisions, PreCredits, PreReview, Registry, ReviewInput, Reviews, Role, ServiceError,
};
use decision_store::Store;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

mod problem;

pub use problem::{FieldProblem, Problem, problem, problem_of};

/// The OpenAPI document of this door, as served.
pub const OPENAPI: &str = include_str!("../../../proto/decision/v1/openapi.json");

/// Every route: (method, path as OpenAPI writes it).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/pre-review"),
    ("GET", "/v1/decisions/{decision_id}"),
    ("GET", "/v1/decisions/{decision_id}/explain"),
    ("POST", "/v1/decisions/{decision_id}/replay"),
    ("PUT", "/v1/decisions/{decision_id}/legal-hold"),
    ("GET", "/v1/policy/versions"),
    ("POST", "/v1/policy/rulesets"),
    ("POST", "/v1/policy/scorecards"),
    ("POST", "/v1/policy/monitoring-policies"),
    ("POST", "/v1/policy/documents"),
    ("GET", "/v1/policy/activations"),
    ("POST", "/v1/policy/activations"),
    ("POST", "/v1/policy/activations/{activation_id}/approve"),
    ("GET", "/v1/audit-log"),
    (
        "GET",
        "/v1/precredits/{institution}/households/{household_id}",
    ),
    ("GET", "/v1/reviews/pending"),
    ("POST", "/v1/reviews"),
    ("GET", "/v1/health"),
    ("GET", "/v1/openapi.json"),
];

/// Routes outside the server-wide budget: pre-reviews have their own
/// in-flight limit, and health must answer however busy the server is.
fn exempt(method: &Method, route: &str) -> bool {
    (method == Method::POST && route == "/v1/pre-review") || route == "/v1/health"
}

/// What the handlers share.
pub struct Rest<S> {
    pub decisions: Arc<Decisions<S>>,
    pub registry: Arc<Registry<S>>,
    pub precredits: Arc<PreCredits<S>>,
    pub reviews: Arc<Reviews<S>>,
    /// The server-wide budget of calls (shared with the gRPC door).
    pub permits: Arc<Semaphore>,
    pub max_concurrent_calls: usize,
    pub call_timeout: Duration,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

/// The router of every route in [`ROUTES`].
pub fn router<S: Store>(rest: Arc<Rest<S>>) -> Router {
    let max_body = rest.max_body_bytes;
    Router::new()
        .route("/v1/pre-review", post(pre_review::<S>))
        .route("/v1/decisions/{decision_id}", get(get_decision::<S>))
        .route("/v1/decisions/{decision_id}/explain", get(explain::<S>))
        .route("/v1/decisions/{decision_id}/replay", post(replay::<S>))
        .route(
            "/v1/decisions/{decision_id}/legal-hold",
            axum::routing::put(legal_hold::<S>),
        )
        .route("/v1/policy/versions", get(list_versions::<S>))
        .route("/v1/policy/rulesets", post(upload_ruleset::<S>))
        .route("/v1/policy/scorecards", post(upload_scorecard::<S>))
        .route("/v1/policy/documents", post(upload_document::<S>))
        .route(
            "/v1/policy/monitoring-policies",
            post(upload_monitoring_policy::<S>),
        )
        .route(
            "/v1/policy/activations",
            get(list_activations::<S>).post(request_activation::<S>),
        )
        .route(
            "/v1/policy/activations/{activation_id}/approve",
            post(approve_activation::<S>),
        )
        .route("/v1/audit-log", get(audit_log::<S>))
        .route(
            "/v1/precredits/{institution}/households/{household_id}",
            get(household_precredits::<S>),
        )
        .route("/v1/reviews/pending", get(pending_reviews::<S>))
        .route("/v1/reviews", post(record_review::<S>))
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            rest.clone(),
            limits::<S>,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(rest)
}

/// The budget, the timeout and the metrics of every call.
async fn limits<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let permit = if exempt(&method, &route) {
        None
    } else {
        match rest.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                metrics::counter!("calls_shed_total", "path" => route.clone()).increment(1);
                let mut shed = problem(&ServiceError::Overloaded(format!(
                    "the server is running its limit of {} calls at once (max_concurrent_calls); \
                     {method} {route} was not started: retry with backoff",
                    rest.max_concurrent_calls
                )));
                shed.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return shed;
            }
        }
    };
    let response = match tokio::time::timeout(rest.call_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => problem(&ServiceError::DeadlineExceeded(format!(
            "{method} {route} ran longer than the server's call_timeout of {:?} and was cancelled",
            rest.call_timeout
        ))),
    };
    drop(permit);
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The caller's `Authorization` header, as the service judges it.
fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    match headers.get(header::AUTHORIZATION) {
        None => Bearer::Missing,
        Some(v) => match v.to_str() {
            Ok(text) => Bearer::parse(Some(text)),
            Err(_) => Bearer::Malformed,
        },
    }
}

/// A JSON body (pretty, as the command line prints it).
fn json_body(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string_pretty(value) {
        Ok(text) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            text + "\n",
        )
            .into_response(),
        Err(e) => problem(&ServiceError::Internal(format!(
            "cannot write the reply: {e}"
        ))),
    }
}

fn text_body(text: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// A body that is not UTF-8 JSON, named as a field problem.
fn utf8<'b>(body: &'b Bytes, field: &str) -> Result<&'b str, ServiceError> {
    std::str::from_utf8(body)
        .map_err(|_| ServiceError::field(field, "is not UTF-8 text: expected a JSON document"))
}

/// A JSON body of type `T`, or a field problem naming `field` and saying
/// what was expected.
fn json_of<T: serde::de::DeserializeOwned>(
    body: &Bytes,
    field: &str,
    expected: &str,
) -> Result<T, ServiceError> {
    serde_json::from_str(utf8(body, field)?)
        .map_err(|e| ServiceError::field(field, format!("{e}: expected {expected}")))
}

/// Query parameters of type `T`; parameters that do not read are refused
/// as a field problem naming `query`.
struct Params<T>(T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(t)| Params(t))
            .map_err(|e| {
                problem(&ServiceError::field(
                    "query",
                    format!(
                        "{}: expected the parameters this route documents",
                        e.body_text()
                    ),
                ))
            })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PreReviewQuery {
    /// Leave the trace out of the reply (default: with it, as `evaluate`).
    trace: Option<bool>,
    as_of: Option<String>,
    household_id: Option<String>,
    application_id: Option<String>,
    stage: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

async fn pre_review<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Params(q): Params<PreReviewQuery>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let text = utf8(&body, "request")?;
        let request = Request::from_json(text)?;
        rest.decisions
            .authorize_for(&bearer(&headers), &[Role::Client], &request.institution)?;
        let trace = q.trace.unwrap_or(true);
        let recorded = rest
            .decisions
            .pre_review(
                PreReview {
                    request,
                    pins: Vec::new(),
                    as_of: q.as_of.unwrap_or_default(),
                    input_errors: Vec::<FieldError>::new(),
                    household_id: non_empty(q.household_id),
                    application_id: non_empty(q.application_id),
                    stage: non_empty(q.stage),
                },
                trace,
                None,
            )
            .await?;
        let mut decision = (*recorded.decision).clone();
        if !trace {
            decision.trace = None;
        }
        let mut response = json_body(StatusCode::OK, &decision);
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&recorded.recorded_at) {
            h.insert("recorded-at", v);
        }
        h.insert(
            "idempotent-replay",
            HeaderValue::from_static(if recorded.idempotent_replay {
                "true"
            } else {
                "false"
            }),
        );
        if let Some(link) = &recorded.precredit
            && let Ok(v) = HeaderValue::from_str(&link.entry_id)
        {
            h.insert("precredit-entry", v);
        }
        Ok::<_, ServiceError>(response)
    }
    .await;
    let code = match &result {
        Ok(_) => "OK",
        Err(e) => e.code_name(),
    };
    metrics::histogram!("pre_review_seconds", "code" => code, "door" => "rest")
        .record(started.elapsed().as_secs_f64());
    result.unwrap_or_else(|e| problem(&e))
}

/// A stored decision the caller may read: authorized for its institution.
async fn readable<S: Store>(
    rest: &Rest<S>,
    headers: &HeaderMap,
    decision_id: &str,
) -> Result<decision_service::replay::Stored, ServiceError> {
    let caller = bearer(headers);
    rest.decisions
        .authorize(&caller, &[Role::Client, Role::Auditor])?;
    let stored = rest.decisions.get(decision_id).await?;
    rest.decisions.authorize_for(
        &caller,
        &[Role::Client, Role::Auditor],
        &stored.record.institution,
    )?;
    Ok(stored)
}

async fn get_decision<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path(decision_id): Path<String>,
) -> Response {
    let result = async {
        let caller = bearer(&headers);
        rest.decisions
            .authorize(&caller, &[Role::Client, Role::Auditor])?;
        if let decision_service::Found::Pruned(p) = rest.decisions.find(&decision_id).await? {
            rest.decisions.authorize_for(
                &caller,
                &[Role::Client, Role::Auditor],
                &p.record.institution,
            )?;
            let r = &p.record;
            return Ok(json_body(
                StatusCode::OK,
                &json!({
                    "recorded_at": r.recorded_at,
                    "pruned": {
                        "decision_id": r.decision_id,
                        "request_id": r.request_id,
                        "institution": r.institution,
                        "product": r.product,
                        "decision": r.outcome,
                        "versions": r.versions,
                        "pruned_at": p.pruned_at,
                        "request_digest": r.request_hash,
                    },
                    "explanation_en": p.describe(decision_core::Lang::En),
                    "explanation_zh": p.describe(decision_core::Lang::Zh),
                }),
            ));
        }
        let stored = readable(&rest, &headers, &decision_id).await?;
        let (en, zh, reviews) = rest.decisions.explanations(&stored).await?;
        let retention = rest.decisions.retention(&stored.record).await?;
        let request: serde_json::Value = serde_json::from_str(&stored.record.request_json)
            .map_err(|e| {
                ServiceError::Corrupt(format!(
                    "the stored request of {decision_id} does not parse: {e}"
                ))
            })?;
        Ok::<_, ServiceError>(json_body(
            StatusCode::OK,
            &json!({
                "decision": stored.decision,
                "recorded_at": stored.record.recorded_at,
                "request": request,
                "precredit": stored.precredit,
                "review_case": reviews.case.map(|c| json!({
                    "status": c.status.as_str(),
                    "routed_level": c.routed_level,
                    "waiting_level": c.waiting_level,
                    "final_outcome": c.final_outcome,
                })),
                "legal_hold": retention.is_some_and(|r| r.legal_hold),
                "explanation_en": en,
                "explanation_zh": zh,
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| problem(&e))
}

/// The body of `PUT /v1/decisions/{id}/legal-hold`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegalHoldBody {
    hold: bool,
    reason: String,
}

async fn legal_hold<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path(decision_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let b: LegalHoldBody = json_of(
            &body,
            "legal_hold",
            r#"{"hold": true|false, "reason": "..."}"#,
        )?;
        rest.registry
            .set_legal_hold(&bearer(&headers), &decision_id, b.hold, &b.reason)
            .await
    }
    .await;
    match result {
        Ok(r) => json_body(
            StatusCode::OK,
            &json!({
                "decision_id": decision_id,
                "legal_hold": r.legal_hold,
                "pruned_at": r.pruned_at,
            }),
        ),
        Err(e) => problem(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    lang: Option<String>,
}

async fn explain<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path(decision_id): Path<String>,
    Params(q): Params<ExplainQuery>,
) -> Response {
    let result = async {
        let lang = q.lang.unwrap_or_else(|| "both".into());
        if !["en", "zh", "both"].contains(&lang.as_str()) {
            return Err(ServiceError::field(
                "lang",
                format!("is `{lang}`: expected en, zh or both"),
            ));
        }
        let stored = readable(&rest, &headers, &decision_id).await?;
        let (en, zh, _) = rest.decisions.explanations(&stored).await?;
        Ok(text_body(match lang.as_str() {
            "en" => en,
            "zh" => zh,
            _ => format!("{en}\n{zh}"),
        }))
    }
    .await;
    result.unwrap_or_else(|e| problem(&e))
}

async fn replay<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path(decision_id): Path<String>,
) -> Response {
    let result = async {
        readable(&rest, &headers, &decision_id).await?;
        let replayed = rest.decisions.replay(&decision_id).await?;
        Ok::<_, ServiceError>(json_body(
            StatusCode::OK,
            &json!({
                "identical": replayed.differences.is_empty(),
                "differences": replayed.differences,
                "replayed": replayed.replayed,
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| problem(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionsQuery {
    kind: Option<String>,
    id: Option<String>,
}

async fn list_versions<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Params(q): Params<VersionsQuery>,
) -> Response {
    match rest
        .registry
        .list_versions(&bearer(&headers), non_empty(q.kind), non_empty(q.id))
        .await
    {
        Ok(versions) => json_body(
            StatusCode::OK,
            &json!({
                "versions": versions.iter().map(|d| json!({
                    "kind": d.kind,
                    "id": d.id,
                    "version": d.version,
                    "hash": d.hash,
                    "uploaded_by": d.uploaded_by,
                    "uploaded_at": d.uploaded_at,
                })).collect::<Vec<_>>()
            }),
        ),
        Err(e) => problem(&e),
    }
}

async fn upload<S: Store>(
    rest: &Rest<S>,
    headers: &HeaderMap,
    body: &Bytes,
    kind: &str,
) -> Response {
    let result = async {
        let text = utf8(body, "document")?;
        rest.registry.upload(&bearer(headers), text, kind).await
    }
    .await;
    match result {
        Ok(published) => json_body(
            if published.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &json!({
                "created": published.created,
                "kind": published.version.kind,
                "id": published.version.id,
                "version": published.version.version,
                "hash": published.version.hash,
            }),
        ),
        Err(e) => problem(&e),
    }
}

async fn upload_ruleset<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    upload(&rest, &headers, &body, "ruleset").await
}

async fn upload_scorecard<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    upload(&rest, &headers, &body, "scorecard").await
}

/// A document of any kind the registry publishes, by its `kind`.
async fn upload_document<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = decision_service::registry::kind_of(&String::from_utf8_lossy(&body));
    upload(&rest, &headers, &body, &kind).await
}

async fn upload_monitoring_policy<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    upload(&rest, &headers, &body, "monitoring_policy").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationsQuery {
    institution: Option<String>,
    product: Option<String>,
}

async fn list_activations<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Params(q): Params<ActivationsQuery>,
) -> Response {
    match rest
        .registry
        .list_activations(
            &bearer(&headers),
            q.institution.as_deref().unwrap_or(""),
            q.product.as_deref().unwrap_or(""),
        )
        .await
    {
        Ok(list) => json_body(StatusCode::OK, &json!({ "activations": list })),
        Err(e) => problem(&e),
    }
}

/// The body of `POST /v1/policy/activations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationBody {
    institution: String,
    #[serde(default = "farmer_credit")]
    product: String,
    ruleset_id: String,
    ruleset_version: String,
    scorecard_id: String,
    scorecard_version: String,
    #[serde(default)]
    effective_at: String,
    /// Champion/challenger: other versions decided beside these.
    #[serde(default)]
    challenger: Option<decision_store::Challenger>,
}

fn farmer_credit() -> String {
    "FARMER_CREDIT".into()
}

async fn request_activation<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let b: ActivationBody = json_of(
            &body,
            "activation",
            r#"{"institution", "product", "ruleset_id", "ruleset_version", "scorecard_id", "scorecard_version", "effective_at", "challenger": {"ruleset_id", "ruleset_version", "scorecard_id", "scorecard_version", "share_percent"}}"#,
        )?;
        rest.registry
            .request_activation(
                &bearer(&headers),
                &ActivationRequest {
                    institution: b.institution,
                    product: b.product,
                    ruleset_id: b.ruleset_id,
                    ruleset_version: b.ruleset_version,
                    scorecard_id: b.scorecard_id,
                    scorecard_version: b.scorecard_version,
                    effective_at: b.effective_at,
                    challenger: b.challenger,
                },
                false,
            )
            .await
    }
    .await;
    match result {
        Ok(a) => json_body(StatusCode::CREATED, &a),
        Err(e) => problem(&e),
    }
}

async fn approve_activation<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path(activation_id): Path<String>,
) -> Response {
    match rest
        .registry
        .approve(&bearer(&headers), &activation_id)
        .await
    {
        Ok(a) => json_body(StatusCode::OK, &a),
        Err(e) => problem(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<u32>,
}

async fn audit_log<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Params(q): Params<AuditQuery>,
) -> Response {
    match rest
        .registry
        .audit_log(&bearer(&headers), q.limit.unwrap_or(0))
        .await
    {
        Ok(entries) => json_body(StatusCode::OK, &json!({ "entries": entries })),
        Err(e) => problem(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductQuery {
    product: Option<String>,
}

/// A household's pre-credit entries (授信名单), newest first.
async fn household_precredits<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Path((institution, household_id)): Path<(String, String)>,
    Params(q): Params<ProductQuery>,
) -> Response {
    let product = q.product.unwrap_or_else(farmer_credit);
    match rest
        .precredits
        .get(
            &bearer(&headers),
            &institution,
            &product,
            &household_id,
            "",
            std::time::SystemTime::now(),
        )
        .await
    {
        Ok(entries) => json_body(
            StatusCode::OK,
            &json!({
                "entries": entries.iter().map(|v| json!({
                    "entry": v.entry,
                    "available": v.available,
                    "expired": v.expired,
                })).collect::<Vec<_>>()
            }),
        ),
        Err(e) => problem(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingQuery {
    institution: Option<String>,
    level: Option<String>,
    limit: Option<usize>,
}

/// A level's queue of open review cases, oldest first.
async fn pending_reviews<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    Params(q): Params<PendingQuery>,
) -> Response {
    match rest
        .reviews
        .pending(
            &bearer(&headers),
            non_empty(q.institution).as_deref(),
            non_empty(q.level).as_deref(),
            q.limit.unwrap_or(100),
        )
        .await
    {
        Ok(cases) => json_body(
            StatusCode::OK,
            &json!({
                "cases": cases.iter().map(|p| json!({
                    "case": p.case,
                    "age_seconds": p.age_seconds,
                })).collect::<Vec<_>>()
            }),
        ),
        Err(e) => problem(&e),
    }
}

/// The body of `POST /v1/reviews`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    review_id: String,
    decision_id: String,
    outcome: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    annual_rate: String,
    #[serde(default)]
    reason_codes: Vec<String>,
    #[serde(default)]
    note: String,
}

/// A reviewer's step on a decision (人工审批): approve or decline, within
/// authority; the system decision is never changed.
async fn record_review<S: Store>(
    State(rest): State<Arc<Rest<S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let b: ReviewBody = json_of(
            &body,
            "review",
            r#"{"review_id", "decision_id", "outcome", "limit", "annual_rate", "reason_codes", "note"}"#,
        )?;
        rest.reviews
            .record(
                &bearer(&headers),
                ReviewInput {
                    review_id: b.review_id,
                    decision_id: b.decision_id,
                    outcome: b.outcome,
                    limit: b.limit,
                    annual_rate: b.annual_rate,
                    reason_codes: b.reason_codes,
                    note: b.note,
                },
            )
            .await
    }
    .await;
    match result {
        Ok(r) => json_body(
            StatusCode::OK,
            &json!({
                "step": r.step,
                "case": r.case,
                "idempotent_replay": r.idempotent_replay,
            }),
        ),
        Err(e) => problem(&e),
    }
}

async fn health() -> Response {
    json_body(StatusCode::OK, &json!({ "status": "SERVING" }))
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    problem(&ServiceError::NotFound(format!(
        "no route {method} {}: the routes are listed in /v1/openapi.json",
        uri.path()
    )))
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes
/// the calls in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
