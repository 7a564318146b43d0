//! The human decision beside the system's (人工审批): a reviewer at a level
//! of the authority matrix records a final outcome, limit and rate with
//! override reasons and a note. A step within the reviewer's authority that
//! does not override the system is final; a step beyond it, or one that
//! raises the limit above the system's, lowers the rate below it or
//! approves a system decline, waits for a second reviewer of the required
//! level who confirms the same terms (four-eyes). A review never changes
//! the stored decision: both are kept, with every step, each written with
//! its audit entry in one durable transaction before the reply.

pub mod account;
pub mod report;

use std::str::FromStr;
use std::sync::Arc;

use decision_core::compile::authority::{Authority, Case};
use decision_core::{Decision, InputError, Outcome, validate::MAX_KEY_LENGTH};
use decision_store::{
    AuditEntry, CaseStatus, REVIEW_FORMAT, ReviewCase, ReviewStep, ReviewWritten, StepEffect, Store,
};
use rust_decimal::Decimal;

use crate::auth::{Bearer, Principal, Role, Tokens};
use crate::policy::Policies;
use crate::prereview::shown_decision;
use crate::{ServiceError, clock};
use account::ReviewAccount;

/// The longest note accepted, in characters.
pub const MAX_NOTE: usize = 2000;

/// Most open cases one queue call returns.
pub const MAX_PAGE: usize = 1000;

/// A review as a front door received it.
#[derive(Clone, Debug, Default)]
pub struct ReviewInput {
    /// The caller's idempotency key (unique within the institution).
    pub review_id: String,
    pub decision_id: String,
    /// APPROVE or DECLINE.
    pub outcome: String,
    /// Yuan, exact; `0` (or empty) when declining.
    pub limit: String,
    /// A yearly fraction (`0.0410` is 4.10%); empty when declining.
    pub annual_rate: String,
    /// Override reason codes of the authority matrix.
    pub reason_codes: Vec<String>,
    pub note: String,
}

/// A review step as recorded, with its case after it.
#[derive(Clone, Debug)]
pub struct Reviewed {
    pub step: ReviewStep,
    pub case: ReviewCase,
    /// A retry answered with the stored step.
    pub idempotent_replay: bool,
}

/// An open case in a queue, with its age.
#[derive(Clone, Debug)]
pub struct Pending {
    pub case: ReviewCase,
    /// Seconds since the decision was recorded.
    pub age_seconds: u64,
}

/// The review use cases over a store `S`.
pub struct Reviews<S> {
    policies: Arc<Policies<S>>,
    tokens: Arc<Tokens>,
}

/// The terms a step gives, checked.
struct Terms {
    outcome: Outcome,
    limit: Decimal,
    rate: Option<Decimal>,
}

impl<S: Store> Reviews<S> {
    pub fn new(policies: Arc<Policies<S>>, tokens: Arc<Tokens>) -> Self {
        Reviews { policies, tokens }
    }

    fn store(&self) -> &Arc<S> {
        self.policies.store()
    }

    /// Records one review step (see the module documentation).
    pub async fn record(
        &self,
        caller: &Bearer<'_>,
        input: ReviewInput,
    ) -> Result<Reviewed, ServiceError> {
        let (who, _) = self.tokens.authorize(caller, &[Role::Reviewer])?;
        let result = self.record_as(&who, &input).await;
        if let Err(e) = &result {
            // Refusals are audited too (a store failure is not a refusal).
            if !matches!(e, ServiceError::Unavailable(_)) {
                self.audit_refusal(&who, &input, e).await;
            }
        }
        result
    }

    async fn record_as(
        &self,
        who: &Principal,
        input: &ReviewInput,
    ) -> Result<Reviewed, ServiceError> {
        let terms = check_input(input)?;
        let record = self
            .store()
            .get(input.decision_id.trim())
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?
            .filter(|r| r.batch_id.is_none())
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no online decision {}; reviews are of online decisions (PreReview)",
                    input.decision_id
                ))
            })?;
        who.require_scope(&record.institution)?;
        let hash = content_hash(input);
        if let Some(existing) = self
            .store()
            .get_review(&record.institution, input.review_id.trim())
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?
        {
            return self.replay(existing, &hash).await;
        }
        let (decision, _) = shown_decision(&record, &*self.policies).await?;
        let policy = self.policies.compile_versions(&decision.versions).await?;
        let authority = policy.authority.as_ref().ok_or_else(|| {
            ServiceError::Precondition(format!(
                "decision {} was made under no authority matrix (before reviews existed); it cannot be reviewed here",
                record.decision_id
            ))
        })?;
        for (i, code) in input.reason_codes.iter().enumerate() {
            if !authority.override_reasons.iter().any(|r| &r.code == code) {
                return Err(ServiceError::field(
                    format!("reason_codes[{i}]"),
                    format!(
                        "unknown override reason `{code}`; expected one of {}",
                        authority
                            .override_reasons
                            .iter()
                            .map(|r| r.code.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let level_code = who.review_level.as_deref().unwrap_or_default();
        let level = authority.level_index(level_code).ok_or_else(|| {
            ServiceError::Forbidden(format!(
                "{} reviews at level `{level_code}`, which the authority matrix {}@{} does not know",
                who.person, authority.id, authority.version
            ))
        })?;
        let existing = self
            .store()
            .get_review_case(&record.decision_id)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?;
        let steps = self
            .store()
            .list_reviews(&record.decision_id)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?;
        let now = clock::now_micros();
        let expected_revision = existing.as_ref().map(|c| c.revision);
        let mut case = existing.unwrap_or_else(|| ReviewCase {
            decision_id: record.decision_id.clone(),
            institution: record.institution.clone(),
            product: record.product.clone(),
            application_id: record.application_id.clone(),
            system_outcome: record.outcome.clone(),
            routed_level: None,
            waiting_level: None,
            status: CaseStatus::Pending,
            final_outcome: None,
            final_limit: None,
            final_rate: None,
            steps: 0,
            revision: 0,
            created_at: record.recorded_at.clone(),
            updated_at: record.recorded_at.clone(),
            superseded_by: None,
        });
        match case.status {
            CaseStatus::Decided => {
                return Err(ServiceError::Precondition(format!(
                    "decision {} is already decided by review ({} {}); a decided case is final",
                    case.decision_id,
                    case.final_outcome.as_deref().unwrap_or_default(),
                    case.final_limit.unwrap_or_default()
                )));
            }
            CaseStatus::Superseded => {
                return Err(ServiceError::Precondition(format!(
                    "decision {} was superseded by decision {} of the same application; review that one",
                    case.decision_id,
                    case.superseded_by.as_deref().unwrap_or_default()
                )));
            }
            CaseStatus::Pending | CaseStatus::AwaitingConfirmation => {}
        }
        if let Some(waiting) = case.waiting_level.as_deref()
            && let Some(w) = authority.level_index(waiting)
            && w > level
        {
            return Err(ServiceError::Forbidden(format!(
                "decision {} waits for a {} ({waiting}); {} reviews as a {}",
                case.decision_id,
                authority.levels[w].name_en,
                who.person,
                authority.levels[level].name_en
            )));
        }
        let confirms = case.status == CaseStatus::AwaitingConfirmation
            && steps.last().is_some_and(|last| same_terms(last, &terms));
        let (effect, requires_level, requires_because) = if confirms {
            let last = steps.last().map(|s| s.reviewer.clone()).unwrap_or_default();
            if last == who.person {
                return Err(ServiceError::Forbidden(format!(
                    "four-eyes: {} proposed these terms and cannot confirm them; a second reviewer must",
                    who.person
                )));
            }
            (StepEffect::Confirmed, None, Vec::new())
        } else {
            if input.reason_codes.is_empty() {
                return Err(ServiceError::field(
                    "reason_codes",
                    "give at least one override reason code of the authority matrix: every review decision states why",
                ));
            }
            let case_terms = Case {
                amount: terms.limit,
                term_months: decision.routing.as_ref().and_then(|r| r.term_months),
                guarantee_type: decision
                    .routing
                    .as_ref()
                    .and_then(|r| r.guarantee_type.clone()),
            };
            match needs_confirmation(authority, level, &terms, &case_terms, &decision) {
                None => (StepEffect::Final, None, Vec::new()),
                Some((required, because)) => (
                    StepEffect::AwaitingConfirmation,
                    Some(authority.levels[required].code.clone()),
                    because,
                ),
            }
        };
        let step = ReviewStep {
            format: REVIEW_FORMAT,
            review_id: input.review_id.trim().to_string(),
            decision_id: case.decision_id.clone(),
            institution: case.institution.clone(),
            step: case.steps + 1,
            reviewer: who.person.clone(),
            level: level_code.to_string(),
            branch: who.branch.clone().unwrap_or_default(),
            outcome: terms.outcome.as_str().to_string(),
            limit: terms.limit,
            annual_rate: terms.rate,
            reason_codes: input.reason_codes.clone(),
            note: input.note.trim().to_string(),
            effect,
            requires_level: requires_level.clone(),
            requires_because,
            matrix: format!("{}@{}", authority.id, authority.version),
            content_hash: hash,
            at: now.clone(),
        };
        case.steps += 1;
        case.revision += 1;
        case.updated_at = now;
        if effect == StepEffect::AwaitingConfirmation {
            case.status = CaseStatus::AwaitingConfirmation;
            case.waiting_level = requires_level;
        } else {
            case.status = CaseStatus::Decided;
            case.waiting_level = None;
            case.final_outcome = Some(step.outcome.clone());
            case.final_limit = Some(step.limit);
            case.final_rate = step.annual_rate;
        }
        let audit = AuditEntry {
            at: step.at.clone(),
            person: who.person.clone(),
            role: Role::Reviewer.name().to_string(),
            action: "review".into(),
            kind: "decision".into(),
            id: step.decision_id.clone(),
            version: step.review_id.clone(),
            hash: String::new(),
            accepted: true,
            detail: describe(&step),
            institution: step.institution.clone(),
        };
        match self
            .store()
            .write_review(step.clone(), case.clone(), expected_revision, audit)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?
        {
            ReviewWritten::Written => Ok(Reviewed {
                step,
                case,
                idempotent_replay: false,
            }),
            ReviewWritten::Stale => Err(ServiceError::Changed(format!(
                "decision {} was reviewed by someone else meanwhile; nothing was recorded: read its reviews and decide again",
                case.decision_id
            ))),
            ReviewWritten::Existing(existing) => self.replay(*existing, &step.content_hash).await,
        }
    }

    /// A retry: the stored step when it asked the same, else ALREADY_EXISTS.
    async fn replay(&self, existing: ReviewStep, hash: &str) -> Result<Reviewed, ServiceError> {
        if existing.content_hash != hash {
            return Err(ServiceError::Conflict(format!(
                "review_id {} already recorded another review (of decision {}); use a new review_id",
                existing.review_id, existing.decision_id
            )));
        }
        let case = self
            .store()
            .get_review_case(&existing.decision_id)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!(
                    "review {} has no case for decision {}",
                    existing.review_id, existing.decision_id
                ))
            })?;
        Ok(Reviewed {
            step: existing,
            case,
            idempotent_replay: true,
        })
    }

    async fn audit_refusal(&self, who: &Principal, input: &ReviewInput, e: &ServiceError) {
        let entry = AuditEntry {
            at: clock::now_seconds(),
            person: who.person.clone(),
            role: Role::Reviewer.name().to_string(),
            action: "review".into(),
            kind: "decision".into(),
            id: input.decision_id.clone(),
            version: input.review_id.clone(),
            hash: String::new(),
            accepted: false,
            detail: format!("{}: {e}", e.code_name()),
            // The decision (and its institution) may not exist.
            institution: String::new(),
        };
        if let Err(err) = self.store().append_audit(entry).await {
            tracing::warn!("cannot audit a refused review: {err}");
        }
    }

    /// Open cases oldest first: of `institution` (else every institution
    /// of the caller), waiting for `level` (else the caller's own level;
    /// auditors see every level).
    pub async fn pending(
        &self,
        caller: &Bearer<'_>,
        institution: Option<&str>,
        level: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Pending>, ServiceError> {
        let (who, role) = self
            .tokens
            .authorize(caller, &[Role::Reviewer, Role::Auditor])?;
        let institutions = match institution.map(str::trim).filter(|i| !i.is_empty()) {
            Some(i) => {
                who.require_scope(i)?;
                vec![i.to_string()]
            }
            None => who.institutions.clone().unwrap_or_default(),
        };
        let level = level
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .or_else(|| {
                (role == Role::Reviewer)
                    .then(|| who.review_level.clone())
                    .flatten()
            });
        if limit == 0 || limit > MAX_PAGE {
            return Err(ServiceError::field(
                "limit",
                format!("expected 1 to {MAX_PAGE}"),
            ));
        }
        let cases = self
            .store()
            .pending_reviews(institutions, level, limit)
            .await
            .map_err(|e| ServiceError::store(e, "nothing was read"))?;
        let now = std::time::SystemTime::now();
        Ok(cases
            .into_iter()
            .map(|case| {
                let age_seconds = clock::parse(&case.created_at)
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .map_or(0, |d| d.as_secs());
                Pending { case, age_seconds }
            })
            .collect())
    }

    /// A decision as shown, with its review account (no case and no steps
    /// when nobody needed to or did review it).
    pub async fn get(
        &self,
        caller: &Bearer<'_>,
        decision_id: &str,
    ) -> Result<(Decision, ReviewAccount), ServiceError> {
        let (who, _) = self
            .tokens
            .authorize(caller, &[Role::Reviewer, Role::Auditor, Role::Client])?;
        let record = self
            .store()
            .get(decision_id.trim())
            .await
            .map_err(|e| ServiceError::store(e, "nothing was read"))?
            .ok_or_else(|| ServiceError::NotFound(format!("no decision {decision_id}")))?;
        who.require_scope(&record.institution)?;
        let (decision, _) = shown_decision(&record, &*self.policies).await?;
        let account = account::account(&**self.store(), &record, &decision).await?;
        Ok((decision, account))
    }
}

const NOTHING_RECORDED: &str = "nothing was recorded, retry with the same review_id";

/// Checks the fields of a review; every problem is named.
fn check_input(input: &ReviewInput) -> Result<Terms, ServiceError> {
    let mut errors = InputError { errors: Vec::new() };
    let mut err = |field: &str, message: String| {
        errors.errors.push(decision_core::FieldError {
            field: field.to_string(),
            message,
        })
    };
    for (field, value) in [
        ("review_id", &input.review_id),
        ("decision_id", &input.decision_id),
    ] {
        if value.trim().is_empty() {
            err(field, "must not be empty".into());
        } else if value.chars().count() > MAX_KEY_LENGTH || value.chars().any(char::is_control) {
            err(
                field,
                format!("expected at most {MAX_KEY_LENGTH} printable characters"),
            );
        }
    }
    let outcome = match input.outcome.trim() {
        "APPROVE" => Some(Outcome::Approve),
        "DECLINE" => Some(Outcome::Decline),
        other => {
            err(
                "outcome",
                format!("expected APPROVE or DECLINE, found `{other}`"),
            );
            None
        }
    };
    let decimal = |text: &str| Decimal::from_str(text.trim()).ok();
    let mut limit = Decimal::ZERO;
    let mut rate = None;
    match outcome {
        Some(Outcome::Approve) => {
            match decimal(&input.limit) {
                Some(l) if l > Decimal::ZERO && l.normalize().scale() <= 2 => limit = l.normalize(),
                _ => err(
                    "limit",
                    format!(
                        "expected an amount in yuan above 0 with at most 2 decimal places, found `{}`",
                        input.limit
                    ),
                ),
            }
            match decimal(&input.annual_rate) {
                Some(r) if r > Decimal::ZERO && r < Decimal::ONE && r.normalize().scale() <= 4 => {
                    rate = Some(r.normalize())
                }
                _ => err(
                    "annual_rate",
                    format!(
                        "expected a yearly fraction between 0 and 1 with at most 4 decimal places (0.0410 is 4.10%), found `{}`",
                        input.annual_rate
                    ),
                ),
            }
        }
        Some(_) => {
            if !(input.limit.trim().is_empty() || decimal(&input.limit) == Some(Decimal::ZERO)) {
                err(
                    "limit",
                    format!(
                        "a decline has no limit: expected 0 or empty, found `{}`",
                        input.limit
                    ),
                );
            }
            if !input.annual_rate.trim().is_empty() {
                err(
                    "annual_rate",
                    "a decline has no rate: leave it empty".into(),
                );
            }
        }
        None => {}
    }
    for (i, code) in input.reason_codes.iter().enumerate() {
        if code.trim().is_empty() {
            err(&format!("reason_codes[{i}]"), "must not be empty".into());
        }
    }
    if input.note.chars().count() > MAX_NOTE {
        err(
            "note",
            format!(
                "expected at most {MAX_NOTE} characters, found {}",
                input.note.chars().count()
            ),
        );
    }
    if !errors.errors.is_empty() {
        return Err(errors.into());
    }
    Ok(Terms {
        outcome: outcome.unwrap_or(Outcome::Decline),
        limit,
        rate,
    })
}

fn same_terms(step: &ReviewStep, terms: &Terms) -> bool {
    step.outcome == terms.outcome.as_str()
        && step.limit == terms.limit
        && step.annual_rate == terms.rate
}

/// Whether a step by a reviewer of `level` needs a second reviewer, and of
/// which level, with why; `None` when it is final on its own.
fn needs_confirmation(
    authority: &Authority,
    level: usize,
    terms: &Terms,
    case: &Case,
    system: &Decision,
) -> Option<(usize, Vec<String>)> {
    let mut required = None::<usize>;
    let mut because = Vec::new();
    if !authority.covers(level, terms.outcome, case) {
        let top = authority.levels.len() - 1;
        let r = authority
            .lowest_covering(level + 1, terms.outcome, case)
            .unwrap_or(top);
        because.push(format!(
            "{} {} is beyond a {}'s authority: a {} confirms",
            terms.outcome.as_str(),
            terms.limit,
            authority.levels[level].name_en,
            authority.levels[r].name_en
        ));
        required = Some(r);
    }
    if terms.outcome == Outcome::Approve {
        let mut overrides = Vec::new();
        if system.decision == Outcome::Decline {
            overrides.push("approves a decision the system declined".to_string());
        } else {
            if terms.limit > system.limit {
                overrides.push(format!(
                    "limit {} above the system's {}",
                    terms.limit, system.limit
                ));
            }
            if let (Some(r), Some(s)) = (terms.rate, system.annual_rate)
                && r < s
            {
                overrides.push(format!("rate {r} below the system's {s}"));
            }
        }
        if !overrides.is_empty() {
            let confirm = authority.override_confirmation;
            because.push(format!(
                "{}: a second reviewer, at least a {}, confirms (four-eyes)",
                overrides.join("; "),
                authority.levels[confirm].name_en
            ));
            required = Some(required.map_or(confirm, |r| r.max(confirm)));
        }
    }
    required.map(|r| (r, because))
}

/// What the caller asked, hashed: a retry with the same review id must ask
/// the same.
fn content_hash(input: &ReviewInput) -> String {
    decision_core::content_hash(&serde_json::json!({
        "decision_id": input.decision_id.trim(),
        "outcome": input.outcome.trim(),
        "limit": Decimal::from_str(input.limit.trim()).map(|d| d.normalize().to_string()).unwrap_or_default(),
        "annual_rate": Decimal::from_str(input.annual_rate.trim()).map(|d| d.normalize().to_string()).unwrap_or_default(),
        "reason_codes": input.reason_codes,
        "note": input.note.trim(),
    }))
}

/// One line for the audit log.
fn describe(step: &ReviewStep) -> String {
    format!(
        "step {} at {}: {} {}{} ({}) {}",
        step.step,
        step.level,
        step.outcome,
        step.limit,
        step.annual_rate
            .map(|r| format!(" at {r}"))
            .unwrap_or_default(),
        step.reason_codes.join(","),
        step.effect.as_str()
    )
}
