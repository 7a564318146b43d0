//! The override report (人工调整报告): of the review cases decided, how
//! many were approved and how many overrode the system, by override reason
//! code, by the rule that referred, by reviewer and by branch; with the
//! cases still open and those superseded undecided.
//!
//! What counts, so that anyone can recount it from the stored reviews:
//! - a case counts once it is **decided**; its final terms are the case's;
//! - it **overrides** the system when the people's final terms differ from
//!   the system's: a system APPROVE declined, or approved at another limit
//!   or rate; a system DECLINE approved; a system REFER approved at another
//!   limit or rate than the system proposed (deciding a referral either way
//!   at the proposed terms is what a referral asks for, not an override);
//! - **by reason code**: under every override reason any step of the case
//!   gave; **by referring rule**: under every reason of a system REFER
//!   but the scorecard's characteristics (they explain the score), each
//!   code once;
//!   **by reviewer** and **by branch**: under the person who proposed the
//!   final terms (the last step that is not a confirmation) and their
//!   branch (as `institution branch`);
//! - rates are rounded half away from zero to 4 decimal places.

use std::collections::{BTreeMap, HashMap};

use decision_core::Outcome;
use decision_core::model::authority::AuthorityDoc;
use decision_store::{CaseStatus, ReviewStep, StepEffect, Store};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::account::{deciding_reasons, matrix_of};
use crate::ServiceError;
use crate::prereview::shown_decision;

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    /// all, institution, system_outcome, reason_code, referring_rule,
    /// reviewer or branch
    pub dimension: &'static str,
    /// The code, person or branch (`decided` on the `all` line).
    pub key: String,
    /// What the key means (reason text, level, rule), in English.
    pub label: String,
    /// Decided cases.
    pub cases: u64,
    pub approved: u64,
    /// approved / cases, 4 decimal places.
    pub approval_rate: Decimal,
    pub overridden: u64,
    /// overridden / cases, 4 decimal places.
    pub override_rate: Decimal,
}

/// The report: its lines and the cases not (yet) decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewReport {
    pub rows: Vec<ReportRow>,
    /// Waiting for a first reviewer.
    pub pending: u64,
    /// Waiting for a second reviewer's confirmation.
    pub awaiting_confirmation: u64,
    /// Replaced, undecided, by a later decision of the same application.
    pub superseded: u64,
}

/// The dimensions, in the report's order.
pub const DIMENSIONS: [&str; 7] = [
    "all",
    "institution",
    "system_outcome",
    "reason_code",
    "referring_rule",
    "reviewer",
    "branch",
];

#[derive(Default)]
struct Tally {
    label: String,
    cases: u64,
    approved: u64,
    overridden: u64,
}

/// A share rounded half away from zero to 4 decimal places, written with
/// all 4 (`0.6000`; 0 of 0 is `0.0000`).
pub fn rate(part: u64, whole: u64) -> Decimal {
    if whole == 0 {
        return Decimal::new(0, 4);
    }
    let mut share = (Decimal::from(part) / Decimal::from(whole))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    share.rescale(4);
    share
}

/// Whether people's final terms override the system's (see the module).
pub fn overrides(
    system: Outcome,
    system_limit: Decimal,
    system_rate: Option<Decimal>,
    outcome: &str,
    limit: Decimal,
    rate: Option<Decimal>,
) -> bool {
    let approved = outcome == "APPROVE";
    let other_terms = limit != system_limit || rate != system_rate;
    match system {
        Outcome::Approve => !approved || other_terms,
        Outcome::Decline => approved,
        Outcome::Refer => approved && other_terms,
    }
}

/// Counts the report over the cases of `institutions` (every one when
/// empty) and, when given, of `product`.
pub async fn report<S: Store>(
    store: &S,
    institutions: &[String],
    product: Option<&str>,
) -> Result<ReviewReport, ServiceError> {
    let read = |e| ServiceError::store(e, "nothing was read");
    let policies = crate::find::StoredPolicies::new(store);
    let (cases, steps) = store
        .all_reviews(institutions.to_vec())
        .await
        .map_err(read)?;
    let mut by_decision: HashMap<String, Vec<ReviewStep>> = HashMap::new();
    for s in steps {
        by_decision
            .entry(s.decision_id.clone())
            .or_default()
            .push(s);
    }
    let mut report = ReviewReport::default();
    let mut tallies: BTreeMap<(usize, String), Tally> = BTreeMap::new();
    let mut matrices: HashMap<String, Option<AuthorityDoc>> = HashMap::new();
    for case in cases
        .iter()
        .filter(|c| product.is_none_or(|p| c.product == p))
    {
        match case.status {
            CaseStatus::Pending => report.pending += 1,
            CaseStatus::AwaitingConfirmation => report.awaiting_confirmation += 1,
            CaseStatus::Superseded => report.superseded += 1,
            CaseStatus::Decided => {}
        }
        if case.status != CaseStatus::Decided {
            continue;
        }
        let record = store
            .get(&case.decision_id)
            .await
            .map_err(read)?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!(
                    "review case of decision {} has no decision",
                    case.decision_id
                ))
            })?;
        let (system, _) = shown_decision(&record, &policies).await?;
        let matrix_key = system
            .versions
            .iter()
            .find(|v| v.kind == "authority_matrix")
            .map(|v| v.hash.clone())
            .unwrap_or_default();
        if !matrices.contains_key(&matrix_key) {
            matrices.insert(matrix_key.clone(), matrix_of(store, &system).await?);
        }
        let matrix = matrices.get(&matrix_key).and_then(Option::as_ref);
        let mut steps = by_decision.remove(&case.decision_id).unwrap_or_default();
        steps.sort_by_key(|s| s.step);
        let outcome = case.final_outcome.as_deref().unwrap_or_default();
        let approved = outcome == "APPROVE";
        let overridden = overrides(
            system.decision,
            system.limit,
            system.annual_rate,
            outcome,
            case.final_limit.unwrap_or_default(),
            case.final_rate,
        );
        let mut count = |dimension: &'static str, key: &str, label: String| {
            let index = DIMENSIONS.iter().position(|d| *d == dimension).unwrap_or(0);
            let t = tallies.entry((index, key.to_string())).or_default();
            if t.label.is_empty() {
                t.label = label;
            }
            t.cases += 1;
            t.approved += u64::from(approved);
            t.overridden += u64::from(overridden);
        };
        count("all", "decided", "every decided case".into());
        count("institution", &case.institution, String::new());
        count(
            "system_outcome",
            system.decision.as_str(),
            format!("the system's {}", system.decision.as_str()),
        );
        let mut codes: Vec<&str> = steps
            .iter()
            .flat_map(|s| s.reason_codes.iter().map(String::as_str))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            let label = matrix
                .and_then(|m| m.override_reasons.iter().find(|r| r.code == code))
                .map(|r| r.message_en.clone())
                .unwrap_or_default();
            count("reason_code", code, label);
        }
        if system.decision == Outcome::Refer {
            let mut referring: Vec<&decision_core::Reason> = deciding_reasons(&system).collect();
            referring.sort_by(|a, b| a.code.cmp(&b.code));
            referring.dedup_by(|a, b| a.code == b.code);
            for r in referring {
                // A pre-credit reason's text names one household's amounts.
                let label = if r.source.starts_with("precredit:") {
                    "the online limit is above the household's pre-credit".to_string()
                } else {
                    format!("{} ({})", r.message_en, r.source)
                };
                count("referring_rule", &r.code, label);
            }
        }
        if let Some(proposer) = steps
            .iter()
            .rev()
            .find(|s| s.effect != StepEffect::Confirmed)
        {
            let level = matrix
                .and_then(|m| m.levels.iter().find(|l| l.level == proposer.level))
                .map_or_else(|| proposer.level.clone(), |l| l.name_en.clone());
            count("reviewer", &proposer.reviewer, level);
            // Branch codes are the institution's own.
            count(
                "branch",
                &format!("{} {}", case.institution, proposer.branch),
                String::new(),
            );
        }
    }
    report.rows = tallies
        .into_iter()
        .map(|((index, key), t)| ReportRow {
            dimension: DIMENSIONS[index],
            key,
            label: t.label,
            cases: t.cases,
            approved: t.approved,
            approval_rate: rate(t.approved, t.cases),
            overridden: t.overridden,
            override_rate: rate(t.overridden, t.cases),
        })
        .collect();
    Ok(report)
}
