//! The `decision.v1.DecisionService` gRPC service: validate, evaluate,
//! record durably, reply. An adapter around [`crate::evaluate::evaluate`]
//! and a [`Store`]; the decision itself comes out of the same function as on
//! the command line and in batch runs.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use tokio::sync::Semaphore;
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::compile::{Document, Policy, VersionRef};
use crate::decision::Decision;
use crate::error::{EvaluateError, InputError};
use crate::evaluate::{Options, evaluate};
use crate::explain::{Lang, explain};
use crate::grpc::convert::{decision_to_proto, features_and_errors_from_proto};
use crate::grpc::pb;
use crate::hash::content_hash;
use crate::policy_set::{PolicySet, compile_exact};
use crate::request::Request as EngineRequest;
use crate::store::{ActivationRecord, DecisionRecord, Inserted, Store, StoreError, StoredDocument};

/// Limits of the service.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Requests evaluated at once; more are refused with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    /// Recent decisions kept in memory for idempotent retries.
    pub recent_decisions: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 512,
            recent_decisions: 100_000,
        }
    }
}

/// A decision recently made or read, for idempotent retries: the reply
/// without its trace (a retry that asks for the trace reads the store), so
/// the cache stays small.
struct Recent {
    request_hash: String,
    reply: pb::PreReviewResponse,
}

impl Recent {
    fn new(request_hash: String, decision: &Decision, recorded_at: String) -> Recent {
        let mut reply = decision_to_proto(decision, false);
        reply.recorded_at = recorded_at;
        Recent {
            request_hash,
            reply,
        }
    }
}

/// The decision service over a store `S`.
pub struct DecisionServiceImpl<S> {
    policies: Arc<PolicySet>,
    store: Arc<S>,
    /// Policies compiled from stored documents (pins, replays), by hashes.
    compiled: Cache<String, Arc<Policy>>,
    /// The activation history, re-read at most twice a second so another
    /// replica's approval takes effect here within that time.
    activations: Cache<(), Arc<Vec<ActivationRecord>>>,
    recent: Cache<String, Arc<Recent>>,
    in_flight: Arc<Semaphore>,
    limits: Limits,
    /// When set, every call needs a token of one of these roles.
    client_tokens: Option<Arc<crate::auth::Tokens>>,
}

impl<S: Store> DecisionServiceImpl<S> {
    /// Also stores the policy set's documents, so every version a decision
    /// records can be compiled again to replay it.
    pub async fn new(
        policies: Arc<PolicySet>,
        store: Arc<S>,
        limits: Limits,
    ) -> Result<Self, StoreError> {
        let documents = policies
            .documents()
            .iter()
            .map(|d| {
                let v = d.version_ref();
                StoredDocument {
                    hash: v.hash,
                    kind: v.kind,
                    id: v.id,
                    version: v.version,
                    json: d.text().to_string(),
                    uploaded_by: "(loaded at start)".to_string(),
                    uploaded_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                }
            })
            .collect();
        store.put_documents(documents).await?;
        Ok(DecisionServiceImpl {
            policies,
            store,
            compiled: Cache::new(64),
            activations: Cache::builder()
                .time_to_live(Duration::from_millis(500))
                .build(),
            recent: Cache::builder()
                .max_capacity(limits.recent_decisions)
                .build(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            client_tokens: None,
        })
    }

    /// Requires a bearer token of role client (or auditor, to read) on
    /// every call.
    pub fn require_client_tokens(mut self, tokens: Arc<crate::auth::Tokens>) -> Self {
        self.client_tokens = Some(tokens);
        self
    }

    fn check_client<T>(
        &self,
        request: &Request<T>,
        roles: &[crate::auth::Role],
    ) -> Result<(), Status> {
        match &self.client_tokens {
            Some(tokens) => tokens.authorize(request.metadata(), roles).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The policy for a request: the active one, or with pinned versions
    /// swapped in from the store.
    /// The approved activation in force for (institution, product) at `at`:
    /// the institution's own, else the `*` one.
    async fn activated(
        &self,
        institution: &str,
        product: &str,
        at: SystemTime,
    ) -> Result<Option<ActivationRecord>, Status> {
        let all = match self.activations.get(&()).await {
            Some(a) => a,
            None => {
                let loaded = Arc::new(self.store.list_activations().await.map_err(unavailable)?);
                self.activations.insert((), loaded.clone()).await;
                loaded
            }
        };
        for inst in [institution, "*"] {
            let in_force = all
                .iter()
                .filter(|a| a.status == "approved" && a.institution == inst && a.product == product)
                .filter_map(|a| {
                    crate::timestamp::parse(&a.effective_at)
                        .ok()
                        .map(|t| (t, a))
                })
                .filter(|(t, _)| *t <= at)
                // The latest effective time wins; among equal ones
                // (`max_by_key` keeps the last) the latest requested.
                .max_by_key(|(t, _)| *t);
            if let Some((_, a)) = in_force {
                return Ok(Some(a.clone()));
            }
        }
        Ok(None)
    }

    /// The policy a pre-review of (`institution`, `product`) runs at
    /// `as_of` (RFC 3339; empty: now) with `pins`: the same resolution an
    /// online call gets, for batch runs.
    pub async fn resolve_policy(
        &self,
        institution: &str,
        product: &str,
        as_of: &str,
        pins: Vec<pb::VersionPin>,
    ) -> Result<Arc<Policy>, Status> {
        let at = as_of_time(as_of)?;
        let req = pb::PreReviewRequest {
            institution: institution.to_string(),
            product: product.to_string(),
            pins,
            ..Default::default()
        };
        self.policy_for(&req, at).await
    }

    async fn policy_for(
        &self,
        req: &pb::PreReviewRequest,
        at: SystemTime,
    ) -> Result<Arc<Policy>, Status> {
        let active = self
            .policies
            .select_shared(&req.institution, &req.product)
            .map_err(invalid_argument)?;
        let activation = self.activated(&req.institution, &req.product, at).await?;
        if req.pins.is_empty() && activation.is_none() {
            return Ok(active.clone());
        }
        let mut versions = active.versions.clone();
        if let Some(a) = &activation {
            for (slot, kind, id, version) in [
                (2, "ruleset", &a.ruleset_id, &a.ruleset_version),
                (3, "scorecard", &a.scorecard_id, &a.scorecard_version),
            ] {
                let doc = self
                    .store
                    .find_document(kind, id, version)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        Status::data_loss(format!(
                            "activation {} names {kind} {id}@{version}, which is not stored",
                            a.activation_id
                        ))
                    })?;
                versions[slot] = VersionRef {
                    kind: kind.to_string(),
                    id: doc.id,
                    version: doc.version,
                    hash: doc.hash,
                };
            }
        }
        let approved = if req.pins.is_empty() {
            Vec::new()
        } else {
            self.store.list_activations().await.map_err(unavailable)?
        };
        for (i, pin) in req.pins.iter().enumerate() {
            // A pin may choose only a version this institution (or the
            // default) has run: approved, or loaded at start. Red lines and
            // the schema cannot be pinned.
            let allowed = match pin.kind.as_str() {
                "ruleset" | "scorecard" => {
                    // Slots 2 and 3: the institution ruleset and the scorecard.
                    let loaded = active.versions[2..]
                        .iter()
                        .any(|v| v.kind == pin.kind && v.id == pin.id && v.version == pin.version);
                    loaded
                        || approved.iter().any(|a| {
                            a.status != "pending"
                                && (a.institution == req.institution || a.institution == "*")
                                && a.product == req.product
                                && if pin.kind == "ruleset" {
                                    a.ruleset_id == pin.id && a.ruleset_version == pin.version
                                } else {
                                    a.scorecard_id == pin.id && a.scorecard_version == pin.version
                                }
                        })
                }
                _ => false,
            };
            if !allowed {
                return Err(invalid_argument(InputError::one(
                    format!("pins[{i}]"),
                    format!(
                        "{} {} version {} has not been approved for {} {}; a pin may choose only a ruleset or scorecard version that was activated for it",
                        pin.kind, pin.id, pin.version, req.institution, req.product
                    ),
                )));
            }
            let Some(slot) = versions
                .iter_mut()
                .find(|v| v.kind == pin.kind && v.id == pin.id)
            else {
                return Err(invalid_argument(InputError::one(
                    format!("pins[{i}]"),
                    format!(
                        "the policy for this product has no {} `{}`; expected one of {}",
                        pin.kind,
                        pin.id,
                        active
                            .versions
                            .iter()
                            .map(|v| format!("{} {}", v.kind, v.id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )));
            };
            let doc = self
                .store
                .find_document(&pin.kind, &pin.id, &pin.version)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "pins[{i}]: {} {} version {} is not stored",
                        pin.kind, pin.id, pin.version
                    ))
                })?;
            slot.hash = doc.hash;
            slot.version = doc.version;
        }
        self.compile_versions(&versions).await
    }

    /// Compiles exactly the documents `versions` name, from the store.
    async fn compile_versions(&self, versions: &[VersionRef]) -> Result<Arc<Policy>, Status> {
        let key = versions
            .iter()
            .map(|v| v.hash.as_str())
            .collect::<Vec<_>>()
            .join(",");
        if let Some(p) = self.compiled.get(&key).await {
            return Ok(p);
        }
        let mut docs = Vec::with_capacity(versions.len());
        for v in versions {
            let stored = self
                .store
                .get_document(&v.hash)
                .await
                .map_err(unavailable)?
                .ok_or_else(|| {
                    Status::failed_precondition(format!(
                        "{} {}@{} ({}) is not stored",
                        v.kind, v.id, v.version, v.hash
                    ))
                })?;
            let doc =
                Document::parse(&format!("{}@{}", v.id, v.version), &stored.json).map_err(|e| {
                    Status::data_loss(format!("stored document {} does not parse: {e}", v.hash))
                })?;
            if doc.version_ref().hash != v.hash {
                return Err(Status::data_loss(format!(
                    "stored document {} does not match its hash",
                    v.hash
                )));
            }
            docs.push(doc);
        }
        let policy =
            Arc::new(compile_exact(&docs).map_err(|e| Status::failed_precondition(e.to_string()))?);
        self.compiled.insert(key, policy.clone()).await;
        Ok(policy)
    }

    async fn pre_review_inner(
        &self,
        req: pb::PreReviewRequest,
        deadline: Option<Instant>,
    ) -> Result<pb::PreReviewResponse, Status> {
        let at = as_of_time(&req.as_of)?;
        let (features, extra_errors) = features_and_errors_from_proto(req.features.as_ref());
        let request = EngineRequest {
            request_id: req.request_id.clone(),
            institution: req.institution.clone(),
            product: req.product.clone(),
            features,
        };
        if !extra_errors.is_empty() {
            // Report the bad `extra` entries together with everything the
            // schema finds in the rest.
            let mut errors = extra_errors;
            if let Ok(policy) = self.policies.select(&request.institution, &request.product)
                && let Err(e) = crate::validate::bind(policy, &request)
            {
                errors.extend(e.errors);
            }
            return Err(invalid_argument(InputError { errors }));
        }
        let request_json =
            serde_json::to_value(&request).map_err(|e| Status::internal(e.to_string()))?;
        let request_hash = content_hash(&serde_json::json!({
            "request": request_json,
            "pins": req.pins.iter().map(|p| [&p.kind, &p.id, &p.version]).collect::<Vec<_>>(),
            "as_of": req.as_of,
        }));
        let decision_id = crate::decision::decision_id(
            &request.institution,
            &request.product,
            &request.request_id,
        );

        // Idempotency: a retry returns the stored decision, unevaluated.
        if let Some(recent) = self.find_recent(&decision_id).await? {
            return self
                .replay_of(&recent, &request_hash, req.include_trace)
                .await;
        }

        let policy = self.policy_for(&req, at).await?;
        let started = Instant::now();
        let decision = evaluate(&policy, &request, Options { trace: true }).map_err(|e| match e {
            EvaluateError::Input(e) => invalid_argument(e),
            EvaluateError::Policy { place, message } => Status::failed_precondition(format!(
                "the policy cannot be applied to this household: {place}: {message}; nothing was recorded"
            )),
        })?;
        let evaluation_micros = started.elapsed().as_micros() as u64;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Status::deadline_exceeded(
                "deadline expired before the decision was recorded; nothing was recorded",
            ));
        }
        let recorded_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
        let record = DecisionRecord {
            decision_id: decision.decision_id.clone(),
            institution: request.institution.clone(),
            product: request.product.clone(),
            request_id: request.request_id.clone(),
            request_hash: request_hash.clone(),
            request_json: request_json.to_string(),
            outcome: decision.decision.as_str().to_string(),
            decision_json: serde_json::to_string(&decision)
                .map_err(|e| Status::internal(e.to_string()))?,
            batch_id: None,
            recorded_at: recorded_at.clone(),
            evaluation_micros,
        };
        match self.store.insert(record).await.map_err(unavailable)? {
            Inserted::New => {
                metrics::counter!("decisions_total", "outcome" => decision.decision.as_str())
                    .increment(1);
                let recent = Arc::new(Recent::new(request_hash, &decision, recorded_at.clone()));
                self.recent.insert(decision_id, recent).await;
                let mut reply = decision_to_proto(&decision, req.include_trace);
                reply.recorded_at = recorded_at;
                Ok(reply)
            }
            // Another replica or a concurrent retry recorded it first.
            Inserted::Existing(existing) => {
                let recent = Arc::new(recent_from_record(&existing)?);
                self.recent.insert(decision_id, recent.clone()).await;
                self.replay_of(&recent, &request_hash, req.include_trace)
                    .await
            }
        }
    }

    /// The stored decision for a retry, or ALREADY_EXISTS when the content
    /// differs.
    async fn replay_of(
        &self,
        recent: &Recent,
        request_hash: &str,
        include_trace: bool,
    ) -> Result<pb::PreReviewResponse, Status> {
        let r = &recent.reply;
        if recent.request_hash != request_hash {
            return Err(Status::already_exists(format!(
                "request_id `{}` was already used for institution {} and product {} with different content (decision {}); use a new request_id",
                r.request_id, r.institution, r.product, r.decision_id
            )));
        }
        let mut reply = if include_trace {
            let record = self.stored(&r.decision_id).await?;
            let mut full = decision_to_proto(&parse_decision(&record)?, true);
            full.recorded_at = record.recorded_at;
            full
        } else {
            r.clone()
        };
        reply.idempotent_replay = true;
        Ok(reply)
    }

    async fn find_recent(&self, decision_id: &str) -> Result<Option<Arc<Recent>>, Status> {
        if let Some(r) = self.recent.get(decision_id).await {
            return Ok(Some(r));
        }
        match self.store.get(decision_id).await.map_err(unavailable)? {
            Some(record) => {
                let recent = Arc::new(recent_from_record(&record)?);
                self.recent
                    .insert(decision_id.to_string(), recent.clone())
                    .await;
                Ok(Some(recent))
            }
            None => Ok(None),
        }
    }

    /// A stored decision for GetDecision and Replay, after the client check.
    async fn read_decision<T>(
        &self,
        request: &Request<T>,
        decision_id: &str,
    ) -> Result<(DecisionRecord, Decision), Status> {
        self.check_client(
            request,
            &[crate::auth::Role::Client, crate::auth::Role::Auditor],
        )?;
        let record = self.stored(decision_id).await?;
        let decision = parse_decision(&record)?;
        Ok((record, decision))
    }

    async fn stored(&self, decision_id: &str) -> Result<DecisionRecord, Status> {
        if decision_id.trim().is_empty() {
            return Err(invalid_argument(InputError::one(
                "decision_id",
                "must not be empty",
            )));
        }
        let online = self.store.get(decision_id).await.map_err(unavailable)?;
        // A batch decision lives in its run's trace file.
        #[cfg(feature = "batch")]
        let online = match online {
            Some(r) => Some(r),
            None => crate::batch::find_decision(&*self.store, decision_id)
                .await
                .map_err(|e| match e {
                    crate::batch::LookupError::NotFinished(m) => Status::failed_precondition(m),
                    crate::batch::LookupError::Damaged(m) => Status::data_loss(m),
                    crate::batch::LookupError::Unavailable(m) => Status::unavailable(m),
                })?,
        };
        online.ok_or_else(|| Status::not_found(format!("no decision with id `{decision_id}`")))
    }
}

fn parse_decision(r: &DecisionRecord) -> Result<Decision, Status> {
    serde_json::from_str(&r.decision_json).map_err(|e| {
        Status::data_loss(format!(
            "stored decision {} does not parse: {e}",
            r.decision_id
        ))
    })
}

fn recent_from_record(r: &DecisionRecord) -> Result<Recent, Status> {
    Ok(Recent::new(
        r.request_hash.clone(),
        &parse_decision(r)?,
        r.recorded_at.clone(),
    ))
}

/// INVALID_ARGUMENT with one google.rpc.BadRequest field violation per problem.
/// `as_of` as a time: empty is now; a future time is refused.
fn as_of_time(as_of: &str) -> Result<SystemTime, Status> {
    let now = SystemTime::now();
    if as_of.is_empty() {
        return Ok(now);
    }
    let at = crate::timestamp::parse(as_of)
        .map_err(|e| invalid_argument(InputError::one("as_of", e)))?;
    if at > now {
        return Err(invalid_argument(InputError::one(
            "as_of",
            "must not be in the future: a scheduled activation takes effect only when its time comes",
        )));
    }
    Ok(at)
}

pub fn invalid_argument(e: InputError) -> Status {
    let mut details = ErrorDetails::new();
    for f in &e.errors {
        details.add_bad_request_violation(f.field.clone(), f.message.clone());
    }
    Status::with_error_details(Code::InvalidArgument, e.to_string(), details)
}

fn unavailable(e: StoreError) -> Status {
    Status::unavailable(format!(
        "{e}; nothing was recorded, retry with the same request_id"
    ))
}

/// The deadline a client set with `grpc-timeout` (e.g. `100m`, `5S`).
fn grpc_deadline(metadata: &tonic::metadata::MetadataMap, now: Instant) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    // The gRPC spec allows at most 8 digits; anything else is no deadline.
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let duration = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    // tonic's transport cancels the call (CANCELLED) when this deadline
    // passes; answering a millisecond earlier lets the client see
    // DEADLINE_EXCEEDED, as the gRPC spec asks.
    now.checked_add(duration.saturating_sub(Duration::from_millis(1)))
}

#[tonic::async_trait]
impl<S: Store> pb::decision_service_server::DecisionService for DecisionServiceImpl<S> {
    async fn pre_review(
        &self,
        request: Request<pb::PreReviewRequest>,
    ) -> Result<Response<pb::PreReviewResponse>, Status> {
        self.check_client(&request, &[crate::auth::Role::Client])?;
        let started = Instant::now();
        let deadline = grpc_deadline(request.metadata(), started);
        if deadline.is_some_and(|d| d <= started) {
            return Err(Status::deadline_exceeded(
                "the deadline expired before evaluation; nothing was recorded",
            ));
        }
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("pre_review_rejected_total", "reason" => "overload").increment(1);
            return Err(Status::resource_exhausted(format!(
                "the server is evaluating its limit of {} requests; retry with backoff",
                self.limits.max_in_flight
            )));
        };
        let in_flight = self.limits.max_in_flight - self.in_flight.available_permits();
        metrics::gauge!("pre_review_in_flight").set(in_flight as f64);
        let work = self.pre_review_inner(request.into_inner(), deadline);
        let result = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), work).await.unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(
                    "the deadline expired while recording; if the decision was recorded a retry with the same request_id returns it",
                ))
            }),
            None => work.await,
        };
        let code = match &result {
            Ok(_) => "OK".to_string(),
            Err(s) => format!("{:?}", s.code()),
        };
        metrics::histogram!("pre_review_seconds", "code" => code)
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!("pre_review_in_flight").set(
            (self.limits.max_in_flight - self.in_flight.available_permits()).saturating_sub(1)
                as f64,
        );
        result.map(Response::new)
    }

    async fn get_decision(
        &self,
        request: Request<pb::GetDecisionRequest>,
    ) -> Result<Response<pb::GetDecisionResponse>, Status> {
        let (record, stored) = self
            .read_decision(&request, &request.get_ref().decision_id)
            .await?;
        let mut decision = decision_to_proto(&stored, true);
        decision.recorded_at = record.recorded_at.clone();
        Ok(Response::new(pb::GetDecisionResponse {
            decision: Some(decision),
            request_json: record.request_json,
            explanation_en: explain(&stored, Lang::En),
            explanation_zh: explain(&stored, Lang::Zh),
        }))
    }

    async fn replay(
        &self,
        request: Request<pb::ReplayRequest>,
    ) -> Result<Response<pb::ReplayResponse>, Status> {
        let (record, stored) = self
            .read_decision(&request, &request.get_ref().decision_id)
            .await?;
        let input: EngineRequest = serde_json::from_str(&record.request_json).map_err(|e| {
            Status::data_loss(format!(
                "stored request of {} does not parse: {e}",
                record.decision_id
            ))
        })?;
        let policy = self.compile_versions(&stored.versions).await?;
        let mut replayed = evaluate(&policy, &input, Options { trace: true }).map_err(|e| {
            Status::failed_precondition(format!("the stored request no longer evaluates: {e}"))
        })?;
        // The id names the record (a batch decision's is `dec_<batch>_<row>`),
        // it is not an outcome to compare.
        replayed.decision_id = stored.decision_id.clone();
        let a = serde_json::to_value(&stored).map_err(|e| Status::internal(e.to_string()))?;
        let b = serde_json::to_value(&replayed).map_err(|e| Status::internal(e.to_string()))?;
        let mut differences = Vec::new();
        diff("", &a, &b, &mut differences);
        Ok(Response::new(pb::ReplayResponse {
            identical: differences.is_empty(),
            differences,
            replayed: Some(decision_to_proto(&replayed, true)),
        }))
    }
}

/// Lists where two JSON values differ, as `path: stored X, replayed Y`.
fn diff(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                diff(
                    &format!("{path}.{k}"),
                    va,
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                diff(&format!("{path}.{k}"), &Value::Null, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if a != b => out.push(format!(
            "{}: stored {a}, replayed {b}",
            if path.is_empty() { "." } else { path }
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        let now = Instant::now();
        let mut m = tonic::metadata::MetadataMap::new();
        m.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(
            grpc_deadline(&m, now),
            Some(now + Duration::from_millis(249))
        );
        m.insert("grpc-timeout", "3S".parse().unwrap());
        assert_eq!(
            grpc_deadline(&m, now),
            Some(now + Duration::from_millis(2999))
        );
        m.insert("grpc-timeout", "bogus".parse().unwrap());
        assert_eq!(grpc_deadline(&m, now), None);
        m.insert("grpc-timeout", "18446744073709551615S".parse().unwrap());
        assert_eq!(
            grpc_deadline(&m, now),
            None,
            "more than 8 digits is not a deadline"
        );
        m.insert("grpc-timeout", "99999999H".parse().unwrap());
        assert!(
            grpc_deadline(&m, now).is_some(),
            "the largest legal value does not overflow"
        );
    }

    #[test]
    fn diff_names_the_paths_that_differ() {
        let a = serde_json::json!({"limit": "1000", "reasons": [{"code": "A"}], "x": 1});
        let b = serde_json::json!({"limit": "2000", "reasons": [{"code": "B"}], "x": 1});
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        assert_eq!(
            out,
            vec![
                ".limit: stored \"1000\", replayed \"2000\"",
                ".reasons[0].code: stored \"A\", replayed \"B\""
            ]
        );
    }
}
