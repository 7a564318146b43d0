//! Reading a stored decision back, and replaying it: the stored request,
//! evaluated again under exactly the versions it recorded, must give the
//! identical decision.

use decision_core::{Decision, Options, Request, evaluate};
use decision_store::{DecisionRecord, Store};

use crate::ServiceError;
use crate::find::{find_decision, parse_decision};
use crate::precredit::PreCreditLink;
use crate::prereview::{Decisions, RETRY, shown_decision};
use crate::reviews::account::{ReviewAccount, account};

/// A stored decision with the record that holds it.
#[derive(Clone, Debug)]
pub struct Stored {
    pub record: DecisionRecord,
    /// As callers see it: with the pre-credit it met applied.
    pub decision: Decision,
    /// The household's pre-credit the online decision met.
    pub precredit: Option<PreCreditLink>,
}

/// A decision whose input was removed under the retention period: what is
/// kept of it.
#[derive(Clone, Debug)]
pub struct PrunedDecision {
    /// The outcome, the versions and the request digest (`request_hash`);
    /// no request, trace or compact record.
    pub record: DecisionRecord,
    pub pruned_at: String,
}

impl PrunedDecision {
    /// What is left, in words.
    pub fn describe(&self, lang: decision_core::Lang) -> String {
        let r = &self.record;
        match lang {
            decision_core::Lang::Zh => format!(
                "决定 {}（{}）已按保存期限于 {} 删除申请数据；保留结果 {}、所用版本及申请摘要 {}。\n",
                r.decision_id, r.recorded_at, self.pruned_at, r.outcome, r.request_hash
            ),
            _ => format!(
                "Decision {} ({}): its input was removed on {} under the retention period; kept are the outcome {}, the versions it used and the request's digest {}.\n",
                r.decision_id, r.recorded_at, self.pruned_at, r.outcome, r.request_hash
            ),
        }
    }
}

/// A stored decision, whole or pruned.
#[derive(Clone, Debug)]
pub enum Found {
    Whole(Box<Stored>),
    Pruned(Box<PrunedDecision>),
}

/// A replay's verdict.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// Where the stored and the replayed decisions differ, as
    /// `path: stored X, replayed Y`; empty when identical.
    pub differences: Vec<String>,
    pub replayed: Decision,
}

impl<S: Store> Decisions<S> {
    /// The stored decision `decision_id`, online or batch.
    /// The stored decision `decision_id`, whole, or what retention kept.
    pub async fn find(&self, decision_id: &str) -> Result<Found, ServiceError> {
        let record = find_decision(&**self.policies().store(), decision_id, RETRY).await?;
        if let Some(pruned_at) = self.pruned_at(&record).await? {
            return Ok(Found::Pruned(Box::new(PrunedDecision {
                record,
                pruned_at,
            })));
        }
        self.whole(record).await.map(|s| Found::Whole(Box::new(s)))
    }

    /// When the record's input was pruned, if it was.
    pub(crate) async fn pruned_at(
        &self,
        record: &DecisionRecord,
    ) -> Result<Option<String>, ServiceError> {
        // Only an online record without its request can have been pruned.
        if !record.request_json.is_empty() || record.batch_id.is_some() {
            return Ok(None);
        }
        let retention = self
            .policies()
            .store()
            .retention(&record.decision_id)
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        Ok(retention.and_then(|r| r.pruned_at))
    }

    /// The retention state of a whole online decision (a batch decision
    /// has none).
    pub async fn retention(
        &self,
        record: &DecisionRecord,
    ) -> Result<Option<decision_store::Retention>, ServiceError> {
        if record.batch_id.is_some() {
            return Ok(None);
        }
        self.policies()
            .store()
            .retention(&record.decision_id)
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))
    }

    /// The stored decision `decision_id`, whole: a pruned one is refused,
    /// saying so.
    pub async fn get(&self, decision_id: &str) -> Result<Stored, ServiceError> {
        let record = find_decision(&**self.policies().store(), decision_id, RETRY).await?;
        if let Some(at) = self.pruned_at(&record).await? {
            return Err(pruned(decision_id, &at));
        }
        self.whole(record).await
    }

    async fn whole(&self, record: DecisionRecord) -> Result<Stored, ServiceError> {
        let (decision, precredit) = shown_decision(&record, &**self.policies()).await?;
        Ok(Stored {
            record,
            decision,
            precredit,
        })
    }

    /// A stored decision's reviews and its application's chain (read once
    /// the caller may see the decision).
    pub async fn reviews(&self, stored: &Stored) -> Result<ReviewAccount, ServiceError> {
        account(&**self.policies().store(), &stored.record, &stored.decision).await
    }

    /// A stored decision told in English and in Chinese, as every front
    /// door shows it: the decision's account, the pre-credit it met, and
    /// its reviews.
    pub async fn explanations(
        &self,
        stored: &Stored,
    ) -> Result<(String, String, ReviewAccount), ServiceError> {
        let mut en = decision_core::explain(&stored.decision, decision_core::Lang::En);
        let mut zh = decision_core::explain(&stored.decision, decision_core::Lang::Zh);
        let counterfactuals = self.counterfactuals(stored).await?;
        en.push_str(&decision_core::counterfactual::describe(
            &counterfactuals,
            decision_core::Lang::En,
        ));
        zh.push_str(&decision_core::counterfactual::describe(
            &counterfactuals,
            decision_core::Lang::Zh,
        ));
        if let Some(link) = &stored.precredit {
            en.push_str(&format!("\n{}\n", link.describe()));
            zh.push_str(&format!("\n{}\n", link.describe_zh()));
        }
        let reviews = self.reviews(stored).await?;
        en.push_str(&reviews.describe(&stored.decision, decision_core::Lang::En));
        zh.push_str(&reviews.describe(&stored.decision, decision_core::Lang::Zh));
        Ok((en, zh, reviews))
    }

    /// For a stored decision that did not approve: the smallest change to
    /// one actionable feature that would, under the versions it recorded
    /// (see [`decision_core::counterfactual`]); none for an approval or a
    /// request that is no longer stored whole.
    pub async fn counterfactuals(
        &self,
        stored: &Stored,
    ) -> Result<Vec<decision_core::counterfactual::Counterfactual>, ServiceError> {
        if stored.decision.decision == decision_core::Outcome::Approve {
            return Ok(Vec::new());
        }
        let Ok(request) = serde_json::from_str::<Request>(&stored.record.request_json) else {
            return Ok(Vec::new());
        };
        let policy = self
            .policies()
            .compile_versions(&stored.decision.versions)
            .await?;
        // Up to a few thousand evaluations: off the async workers.
        tokio::task::spawn_blocking(move || {
            decision_core::counterfactual::counterfactuals(&policy, &request)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("the counterfactual search failed: {e}")))
    }

    /// Evaluates the stored request of `decision_id` again under the
    /// versions it recorded.
    pub async fn replay(&self, decision_id: &str) -> Result<Replayed, ServiceError> {
        let record = find_decision(&**self.policies().store(), decision_id, RETRY).await?;
        if let Some(at) = self.pruned_at(&record).await? {
            return Err(pruned(decision_id, &at));
        }
        // The engine's decision, as recorded (before any pre-credit link).
        let decision = parse_decision(&record, &**self.policies()).await?;
        let input: Request = serde_json::from_str(&record.request_json).map_err(|e| {
            ServiceError::Corrupt(format!(
                "stored request of {} does not parse: {e}",
                record.decision_id
            ))
        })?;
        let policy = self.policies().compile_versions(&decision.versions).await?;
        let mut replayed = evaluate(&policy, &input, Options { trace: true }).map_err(|e| {
            ServiceError::Precondition(format!("the stored request no longer evaluates: {e}"))
        })?;
        // The id names the record (a batch decision's is `dec_<batch>_<row>`),
        // it is not an outcome to compare.
        replayed.decision_id = decision.decision_id.clone();
        let a =
            serde_json::to_value(&decision).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let b =
            serde_json::to_value(&replayed).map_err(|e| ServiceError::Internal(e.to_string()))?;
        let mut differences = Vec::new();
        diff("", &a, &b, &mut differences);
        Ok(Replayed {
            differences,
            replayed,
        })
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

pub(crate) fn pruned(decision_id: &str, at: &str) -> ServiceError {
    ServiceError::Precondition(format!(
        "decision {decision_id}'s input was removed on {at} under the retention period: \
         its outcome, versions and request digest are kept (GetDecision), it cannot be shown whole or replayed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
