//! Pre-review (预审), the online decision: validate, evaluate, record
//! durably, reply. A retry with the same request id returns the recorded
//! decision unevaluated (idempotency); the same id with other content is a
//! conflict. Also reads stored decisions back and replays them. The
//! decision itself comes out of the same `decision_core::evaluate` as on the
//! command line and in batch runs.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use decision_core::{
    Decision, FieldError, InputError, Options, Outcome, Request, evaluate_recorded, validate,
};
use decision_core::{EvaluateError, Part, decision_id, object_hash};
use decision_store::{DECISION_FORMAT, DecisionRecord, Inserted, Store};
use moka::future::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Bearer, Role, Tokens};
use crate::find::{PolicySource, find_decision, parse_decision};
use crate::policy::{Pin, Policies, as_of_time};
use crate::precredit::{PreCreditLink, PreCredits};
use crate::{ServiceError, clock};

/// Limits of the service.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Requests evaluated at once; more are refused as overloaded.
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

/// A pre-review as a front door received it.
#[derive(Clone, Debug)]
pub struct PreReview {
    pub request: Request,
    pub pins: Vec<Pin>,
    /// Decide under the policy in force at this RFC 3339 time; empty: now.
    pub as_of: String,
    /// Problems the front door found while reading the request (such as a
    /// bad extra feature); reported with everything the schema finds.
    pub input_errors: Vec<FieldError>,
    /// The household, when the caller names it: its live pre-credit is
    /// linked (see [`crate::precredit`]).
    pub household_id: Option<String>,
    /// The application the decision belongs to: a pre-review and the
    /// decision after the field investigation share it.
    pub application_id: Option<String>,
    /// `pre_review` or `investigation` (empty: `pre_review` when an
    /// application is named).
    pub stage: Option<String>,
}

/// The stages of an application's decisions.
pub const STAGES: [&str; 2] = ["pre_review", "investigation"];

/// The application id and stage of `input`, checked.
fn application_of(input: &PreReview) -> Result<Option<(String, String)>, ServiceError> {
    let id = input
        .application_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let stage = input
        .stage
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (id, stage) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ServiceError::field(
            "stage",
            "a stage belongs to an application: give application_id too",
        )),
        (Some(id), stage) => {
            if id.chars().count() > validate::MAX_KEY_LENGTH || id.chars().any(char::is_control) {
                return Err(ServiceError::field(
                    "application_id",
                    format!(
                        "expected at most {} printable characters",
                        validate::MAX_KEY_LENGTH
                    ),
                ));
            }
            let stage = stage.unwrap_or("pre_review");
            if !STAGES.contains(&stage) {
                return Err(ServiceError::field(
                    "stage",
                    format!("expected one of {}, found `{stage}`", STAGES.join(", ")),
                ));
            }
            Ok(Some((id.to_string(), stage.to_string())))
        }
    }
}

/// A decision as recorded.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// With its trace, unless it came from the retry cache (see
    /// [`Decisions::pre_review`]).
    pub decision: Arc<Decision>,
    pub recorded_at: String,
    /// A retry answered with the stored decision.
    pub idempotent_replay: bool,
    /// The household's live pre-credit, when it had one.
    pub precredit: Option<PreCreditLink>,
}

/// A decision recently made or read, for idempotent retries: without its
/// trace (a retry that asks for the trace reads the store), so the cache
/// stays small.
struct Recent {
    request_hash: String,
    decision: Arc<Decision>,
    recorded_at: String,
    precredit: Option<PreCreditLink>,
}

impl Recent {
    /// Keeps `decision` without its trace (taken out and put back, so the
    /// trace is never copied).
    fn new(
        request_hash: String,
        decision: &mut Decision,
        recorded_at: String,
        precredit: Option<PreCreditLink>,
    ) -> Recent {
        let trace = decision.trace.take();
        let traceless = Arc::new(decision.clone());
        decision.trace = trace;
        Recent {
            request_hash,
            decision: traceless,
            recorded_at,
            precredit,
        }
    }

    async fn from_record(
        r: &DecisionRecord,
        policies: &impl PolicySource,
    ) -> Result<Recent, ServiceError> {
        let (mut decision, precredit) = shown_decision(r, policies).await?;
        decision.trace = None;
        Ok(Recent {
            request_hash: r.request_hash.clone(),
            decision: Arc::new(decision),
            recorded_at: r.recorded_at.clone(),
            precredit,
        })
    }
}

/// What a store failure during a pre-review means to the caller.
pub(crate) const RETRY: &str = "nothing was recorded, retry with the same request_id";

/// The decision use cases over a store `S`.
pub struct Decisions<S> {
    policies: Arc<Policies<S>>,
    recent: Cache<String, Arc<Recent>>,
    in_flight: Arc<Semaphore>,
    limits: Limits,
    /// When set, every call needs a token of a client (or auditor) role.
    client_tokens: Option<Arc<Tokens>>,
    /// What an online decision meets in the pre-credit register.
    precredits: PreCredits<S>,
    /// Shadow decisions on their way to the store, written in batches by
    /// one background task (a bound: beyond it a shadow is dropped and
    /// counted, never the champion's reply delayed).
    shadow_writes: std::sync::OnceLock<tokio::sync::mpsc::Sender<DecisionRecord>>,
    /// Shadow decisions handed over and not yet written.
    shadow_pending: Arc<std::sync::atomic::AtomicUsize>,
}

/// Shadow decisions written at once, at most.
pub const SHADOW_WRITES: usize = 4096;

/// Whether a household falls in a challenger's share: the first 32 bits of
/// its decision id (a sha256 of institution, product and request id) mod
/// 100, below the share.
pub fn in_challenger_share(decision_id: &str, share_percent: u32) -> bool {
    let hex = decision_id.strip_prefix("dec_").unwrap_or(decision_id);
    let bucket = hex
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0)
        % 100;
    bucket < share_percent
}

/// A stored decision as callers see it: the engine's decision with the
/// pre-credit it met applied (an online limit above the pre-credit is
/// referred), and that pre-credit.
pub async fn shown_decision(
    r: &DecisionRecord,
    policies: &impl PolicySource,
) -> Result<(Decision, Option<PreCreditLink>), ServiceError> {
    let mut decision = parse_decision(r, policies).await?;
    let link = r
        .precredit
        .as_deref()
        .map(|json| {
            serde_json::from_str::<PreCreditLink>(json).map_err(|e| {
                ServiceError::Corrupt(format!(
                    "the pre-credit link of {} does not parse: {e}",
                    r.decision_id
                ))
            })
        })
        .transpose()?;
    if let Some(link) = &link {
        link.apply(&mut decision);
    }
    Ok((decision, link))
}

/// The idempotency key of a request: its content, its pins and its time.
/// (The JSON shape is what stores already hold: keep it.)
/// A named household is part of the content (absent, the hash is the one
/// stores have always held).
fn request_hash(
    request: &Request,
    pins: &[Pin],
    as_of: &str,
    household_id: Option<&str>,
    application: Option<&(String, String)>,
) -> String {
    // The content hash of {"request", "pins", "as_of"[, "household_id"]
    // [, "application_id", "stage"]}, the request borrowed, not copied.
    let pins = serde_json::Value::from(
        pins.iter()
            .map(|p| serde_json::json!([&p.kind, &p.id, &p.version]))
            .collect::<Vec<_>>(),
    );
    let mut entries = vec![
        ("request", Part::Request(request)),
        ("pins", Part::Json(&pins)),
        ("as_of", Part::Text(as_of)),
    ];
    if let Some(h) = household_id {
        entries.push(("household_id", Part::Text(h)));
    }
    if let Some((id, stage)) = application {
        entries.push(("application_id", Part::Text(id)));
        entries.push(("stage", Part::Text(stage)));
    }
    object_hash(&mut entries)
}

impl<S: Store> Decisions<S> {
    pub fn new(policies: Arc<Policies<S>>, limits: Limits) -> Self {
        let precredits =
            PreCredits::new(policies.store().clone(), Arc::new(Tokens::default()), None);
        Decisions {
            precredits,
            policies,
            recent: Cache::builder()
                .max_capacity(limits.recent_decisions)
                .build(),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            limits,
            client_tokens: None,
            shadow_writes: std::sync::OnceLock::new(),
            shadow_pending: Default::default(),
        }
    }

    /// Requires a bearer token of role client (or auditor, to read) on
    /// every call.
    pub fn require_client_tokens(mut self, tokens: Arc<Tokens>) -> Self {
        self.client_tokens = Some(tokens);
        self
    }

    pub fn policies(&self) -> &Arc<Policies<S>> {
        &self.policies
    }

    /// Checks the caller when client tokens are required.
    pub fn authorize(&self, caller: &Bearer<'_>, roles: &[Role]) -> Result<(), ServiceError> {
        match &self.client_tokens {
            Some(tokens) => tokens.authorize(caller, roles).map(|_| ()),
            None => Ok(()),
        }
    }

    /// [`Decisions::authorize`], and the caller must act for
    /// `institution` (a pre-review may flag its pre-credits).
    pub fn authorize_for(
        &self,
        caller: &Bearer<'_>,
        roles: &[Role],
        institution: &str,
    ) -> Result<(), ServiceError> {
        match &self.client_tokens {
            Some(tokens) => tokens
                .authorize(caller, roles)
                .and_then(|(p, _)| p.require_scope(institution)),
            None => Ok(()),
        }
    }

    /// A place among the requests evaluated at once, or overloaded.
    fn admit(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("pre_review_rejected_total", "reason" => "overload").increment(1);
            return Err(ServiceError::Overloaded(format!(
                "the server is evaluating its limit of {} requests; retry with backoff",
                self.limits.max_in_flight
            )));
        };
        metrics::gauge!("pre_review_in_flight").set(self.in_flight_now() as f64);
        Ok(permit)
    }

    fn in_flight_now(&self) -> usize {
        self.limits.max_in_flight - self.in_flight.available_permits()
    }

    /// Decides `input` and records the decision before returning it; a
    /// retry of a recorded request returns the record. With a `deadline`,
    /// a decision not recorded by then is abandoned (nothing recorded) or,
    /// if it was recorded, returned to the retry.
    ///
    /// The returned decision carries its trace, except on a retry answered
    /// from memory when `with_trace` is false.
    pub async fn pre_review(
        &self,
        input: PreReview,
        with_trace: bool,
        deadline: Option<Instant>,
    ) -> Result<Recorded, ServiceError> {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(ServiceError::DeadlineExceeded(
                "the deadline expired before evaluation; nothing was recorded".into(),
            ));
        }
        let _permit = self.admit()?;
        let work = self.decide(input, with_trace, deadline);
        let result = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), work).await.unwrap_or_else(|_| {
                Err(ServiceError::DeadlineExceeded(
                    "the deadline expired while recording; if the decision was recorded a retry with the same request_id returns it".into(),
                ))
            }),
            None => work.await,
        };
        metrics::gauge!("pre_review_in_flight").set(self.in_flight_now().saturating_sub(1) as f64);
        result
    }

    async fn decide(
        &self,
        input: PreReview,
        with_trace: bool,
        deadline: Option<Instant>,
    ) -> Result<Recorded, ServiceError> {
        let at = as_of_time(&input.as_of)?;
        let application = application_of(&input)?;
        let request = input.request;
        if !input.input_errors.is_empty() {
            // Report the front door's problems together with everything
            // the schema finds in the rest.
            let mut errors = input.input_errors;
            if let Ok(policy) = self
                .policies
                .loaded()
                .select(&request.institution, &request.product)
                && let Err(e) = validate::bind(policy, &request)
            {
                errors.extend(e.errors);
            }
            return Err(InputError { errors }.into());
        }
        // The stored request: its JSON text, written once.
        let request_json =
            serde_json::to_string(&request).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let household_id = input
            .household_id
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty());
        let request_hash = request_hash(
            &request,
            &input.pins,
            &input.as_of,
            household_id,
            application.as_ref(),
        );
        let decision_id = decision_id(&request.institution, &request.product, &request.request_id);

        // Idempotency: a retry this server has seen returns the stored
        // decision, unevaluated. A new request_id reads nothing: the insert
        // below finds a record another replica (or this one before a
        // restart) wrote, and the retry is answered from it.
        if let Some(recent) = self.recent.get(&decision_id).await {
            return self
                .retry_of(&recent, &request, &request_hash, with_trace)
                .await;
        }

        // A challenger named by the activation in force: it answers its
        // share of households, or (share 0) decides every one in the shadow.
        // Pinned requests name their versions: no challenger.
        let challenger = if input.pins.is_empty() {
            self.policies
                .challenger(&request.institution, &request.product, at)
                .await
                .unwrap_or_else(|e| {
                    // Reported once per activation (then skipped for a
                    // while); a store that does not answer fails the
                    // champion's call too, and says so there.
                    match e {
                        ServiceError::Unavailable(_) => tracing::debug!("no challenger: {e}"),
                        _ => tracing::warn!("the challenger cannot run: {e}"),
                    }
                    None
                })
        } else {
            None
        };
        let (shadow, answering) = match challenger {
            Some((policy, c)) if c.share_percent == 0 => (Some(policy), None),
            Some((policy, c)) if in_challenger_share(&decision_id, c.share_percent) => {
                (None, Some(policy))
            }
            _ => (None, None),
        };
        let evaluated = async {
            let policy = match answering {
                Some(policy) => policy,
                None => {
                    self.policies
                        .resolve(&request.institution, &request.product, at, &input.pins)
                        .await?
                }
            };
            let started = Instant::now();
            let evaluated = evaluate_recorded(&policy, &request, Options { trace: with_trace }).map_err(|e| match e {
                EvaluateError::Input(e) => ServiceError::from(e),
                EvaluateError::Policy { place, message } => ServiceError::Precondition(format!(
                    "the policy cannot be applied to this household: {place}: {message}; nothing was recorded"
                )),
            })?;
            Ok::<_, ServiceError>((policy, evaluated, started.elapsed().as_micros() as u64))
        }
        .await;
        let (policy, (mut decision, compact), evaluation_micros) = match evaluated {
            Ok(done) => done,
            // A retry of a recorded request is answered from its record even
            // when the policy in force now cannot decide it again.
            Err(e) => {
                return match self.find_recent(&decision_id).await? {
                    Some(recent) => {
                        self.retry_of(&recent, &request, &request_hash, with_trace)
                            .await
                    }
                    None => Err(e),
                };
            }
        };
        let link = match household_id {
            Some(h) => {
                self.precredits
                    .meet(
                        &request.institution,
                        &request.product,
                        h,
                        &decision,
                        SystemTime::now(),
                    )
                    .await?
            }
            None => None,
        };
        // The record keeps what the engine decided (its compact record,
        // from which the decision and trace render byte for byte) and the
        // link; callers see the link applied.
        if let Some(link) = &link {
            link.apply(&mut decision);
        }
        // The level a person must decide at: the engine's routing, or, when
        // the pre-credit turned an approval into a referral, the matrix's
        // route for that referral.
        let routed_level = match (&policy.authority, &decision.routing) {
            (Some(authority), Some(routing))
                if routing.level.is_none() && decision.decision == Outcome::Refer =>
            {
                let case = decision_core::compile::authority::Case {
                    amount: routing.amount,
                    term_months: routing.term_months,
                    guarantee_type: routing.guarantee_type.clone(),
                };
                let codes: Vec<&str> = decision
                    .reasons
                    .iter()
                    .filter(|r| r.source.starts_with("rule:") || r.source.starts_with("precredit:"))
                    .map(|r| r.code.as_str())
                    .collect();
                authority.route(Outcome::Refer, &case, &codes).level
            }
            (_, Some(routing)) => routing.level.clone(),
            _ => None,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(ServiceError::DeadlineExceeded(
                "deadline expired before the decision was recorded; nothing was recorded".into(),
            ));
        }
        let recorded_at = clock::now_micros();
        let record = DecisionRecord {
            decision_id: decision.decision_id.clone(),
            institution: request.institution.clone(),
            product: request.product.clone(),
            request_id: request.request_id.clone(),
            request_hash: request_hash.clone(),
            request_json,
            outcome: decision.decision.as_str().to_string(),
            decision_json: String::new(),
            record: decision_store::compact::encode(&compact),
            versions: policy.versions.clone(),
            batch_id: None,
            recorded_at: recorded_at.clone(),
            evaluation_micros,
            format: DECISION_FORMAT,
            precredit: link
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            application_id: application.as_ref().map(|(id, _)| id.clone()),
            stage: application.map(|(_, stage)| stage),
            routed_level,
        };
        let shadow_record = shadow.map(|policy| (policy, record.clone()));
        let store = self.policies.store();
        match store
            .insert(record)
            .await
            .map_err(|e| ServiceError::store(e, RETRY))?
        {
            Inserted::New => {
                if let Some((policy, champion)) = shadow_record {
                    self.shadow(&policy, &request, champion);
                }
                metrics::counter!("decisions_total", "outcome" => decision.decision.as_str())
                    .increment(1);
                let recent = Arc::new(Recent::new(
                    request_hash,
                    &mut decision,
                    recorded_at.clone(),
                    link.clone(),
                ));
                self.recent.insert(decision_id, recent).await;
                Ok(Recorded {
                    decision: Arc::new(decision),
                    recorded_at,
                    idempotent_replay: false,
                    precredit: link,
                })
            }
            // Another replica or a concurrent retry recorded it first.
            Inserted::Existing(existing) => {
                // A retry after the retention period removed the input:
                // the stored decision can no longer be shown whole.
                if let Some(at) = self.pruned_at(&existing).await? {
                    return Err(if existing.request_hash == request_hash {
                        crate::replay::pruned(&existing.decision_id, &at)
                    } else {
                        ServiceError::Conflict(format!(
                            "request_id `{}` was already used for institution {} and product {} with different content (decision {}); use a new request_id",
                            request.request_id,
                            request.institution,
                            request.product,
                            existing.decision_id
                        ))
                    });
                }
                let recent = Arc::new(Recent::from_record(&existing, &*self.policies).await?);
                self.recent.insert(decision_id, recent.clone()).await;
                self.retry_of(&recent, &request, &request_hash, with_trace)
                    .await
            }
        }
    }

    /// Waits, at most `within`, until every shadow decision handed over is
    /// written (at shutdown, before the store closes); false if some were
    /// still pending.
    pub async fn drain_shadows(&self, within: std::time::Duration) -> bool {
        let deadline = Instant::now() + within;
        while self
            .shadow_pending
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// Decides `request` under the challenger `policy` (here, a bounded
    /// cost: one evaluation into the compact record, no decision or trace
    /// built) and hands it to the background writer, stored beside the
    /// champion's record under [`decision_store::shadow_id`] with stage
    /// `challenger`. Never returned; beyond [`SHADOW_WRITES`] pending a
    /// shadow is dropped and counted, as is a failure.
    fn shadow(&self, policy: &decision_core::Policy, request: &Request, champion: DecisionRecord) {
        use std::sync::atomic::Ordering;
        let started = Instant::now();
        let Ok(compact) = validate::bind(policy, request)
            .map_err(EvaluateError::Input)
            .and_then(|slots| decision_core::decide_bound(policy, slots))
        else {
            metrics::counter!("shadow_decisions_failed_total").increment(1);
            return;
        };
        let record = DecisionRecord {
            decision_id: decision_store::shadow_id(&champion.decision_id),
            outcome: compact.outcome.as_str().to_string(),
            record: decision_store::compact::encode(&compact),
            versions: policy.versions.clone(),
            evaluation_micros: started.elapsed().as_micros() as u64,
            precredit: None,
            application_id: None,
            stage: Some(decision_store::SHADOW_STAGE.to_string()),
            routed_level: None,
            ..champion
        };
        let writes = self.shadow_writes.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(SHADOW_WRITES);
            tokio::spawn(write_shadows(
                self.policies.store().clone(),
                rx,
                self.shadow_pending.clone(),
            ));
            tx
        });
        self.shadow_pending.fetch_add(1, Ordering::SeqCst);
        if writes.try_send(record).is_err() {
            self.shadow_pending.fetch_sub(1, Ordering::SeqCst);
            metrics::counter!("shadow_decisions_dropped_total").increment(1);
        }
    }

    /// The stored decision for a retry, or a conflict when the content
    /// differs.
    async fn retry_of(
        &self,
        recent: &Recent,
        request: &Request,
        request_hash: &str,
        with_trace: bool,
    ) -> Result<Recorded, ServiceError> {
        if recent.request_hash != request_hash {
            return Err(ServiceError::Conflict(format!(
                "request_id `{}` was already used for institution {} and product {} with different content (decision {}); use a new request_id",
                request.request_id,
                request.institution,
                request.product,
                recent.decision.decision_id
            )));
        }
        if with_trace {
            let record = find_decision(
                &**self.policies.store(),
                &recent.decision.decision_id,
                RETRY,
            )
            .await?;
            if let Some(at) = self.pruned_at(&record).await? {
                return Err(crate::replay::pruned(&record.decision_id, &at));
            }
            let (decision, precredit) = shown_decision(&record, &*self.policies).await?;
            return Ok(Recorded {
                decision: Arc::new(decision),
                recorded_at: record.recorded_at,
                idempotent_replay: true,
                precredit,
            });
        }
        Ok(Recorded {
            decision: recent.decision.clone(),
            recorded_at: recent.recorded_at.clone(),
            idempotent_replay: true,
            precredit: recent.precredit.clone(),
        })
    }

    async fn find_recent(&self, decision_id: &str) -> Result<Option<Arc<Recent>>, ServiceError> {
        if let Some(r) = self.recent.get(decision_id).await {
            return Ok(Some(r));
        }
        match self
            .policies
            .store()
            .get(decision_id)
            .await
            .map_err(|e| ServiceError::store(e, RETRY))?
        {
            Some(record) => {
                let recent = Arc::new(Recent::from_record(&record, &*self.policies).await?);
                self.recent
                    .insert(decision_id.to_string(), recent.clone())
                    .await;
                Ok(Some(recent))
            }
            None => Ok(None),
        }
    }
}

/// Writes the shadow decisions handed over, up to 256 in one durable write.
async fn write_shadows<S: Store>(
    store: Arc<S>,
    mut shadows: tokio::sync::mpsc::Receiver<DecisionRecord>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(256);
    while let Some(first) = shadows.recv().await {
        batch.push(first);
        while batch.len() < 256 {
            match shadows.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let n = batch.len();
        match store.insert_many(std::mem::take(&mut batch)).await {
            Ok(_) => metrics::counter!("shadow_decisions_total").increment(n as u64),
            Err(e) => {
                tracing::warn!("{n} shadow decisions were not recorded: {e}");
                metrics::counter!("shadow_decisions_failed_total").increment(n as u64);
            }
        }
        pending.fetch_sub(n, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Retries of requests recorded by earlier releases must hash as they
    /// did: the hash of the object those releases built and hashed whole.
    #[test]
    fn a_request_hashes_as_the_object_earlier_releases_hashed() {
        let request: Request = serde_json::from_str(
            r#"{"request_id": "R-1", "institution": "3201", "product": "FARMER_CREDIT",
                "features": {"age": 42, "annual_net_income": "68000.00", "main_crop": "水稻"}}"#,
        )
        .unwrap();
        let pins = [Pin {
            kind: "ruleset".into(),
            id: "farmer-credit-default".into(),
            version: "2026.1".into(),
        }];
        let application = ("APP-9".to_string(), "investigation".to_string());
        for (pins, household, application) in [
            (&[][..], None, None),
            (&pins[..], Some("H-1"), Some(&application)),
        ] {
            let mut whole = serde_json::json!({
                "request": request,
                "pins": pins.iter().map(|p| [&p.kind, &p.id, &p.version]).collect::<Vec<_>>(),
                "as_of": "2026-11-01T00:00:00Z",
            });
            let map = whole.as_object_mut().unwrap();
            if let Some(h) = household {
                map.insert("household_id".into(), h.into());
            }
            if let Some((id, stage)) = application {
                map.insert("application_id".into(), id.as_str().into());
                map.insert("stage".into(), stage.as_str().into());
            }
            assert_eq!(
                request_hash(
                    &request,
                    pins,
                    "2026-11-01T00:00:00Z",
                    household,
                    application
                ),
                decision_core::content_hash(&whole)
            );
        }
    }
}
