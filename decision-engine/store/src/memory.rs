//! A store in memory, with the same rules as the durable backends (a
//! decision id is written once, a document version names one content, an
//! approval re-dates a late activation and supersedes later ones). It lets
//! the business rules (four-eyes, rollback, activation in force,
//! idempotency) be tested without a disk, a server or a port. Nothing
//! survives the process: never a production backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, DecisionRecord, HouseholdIdentity,
    Inserted, OpWritten, PreCreditEntry, PreCreditOp, PreCreditQuery, PreCreditStatus,
    PublicationRecord, PublicationStatus, ReviewCase, ReviewStep, ReviewWritten, SignalRecord,
    Store, StoreError, StoredDocument, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord,
    TaskStatus,
};

#[derive(Default)]
struct State {
    decisions: HashMap<String, DecisionRecord>,
    /// In upload order.
    documents: Vec<StoredDocument>,
    /// In request order.
    activations: Vec<ActivationRecord>,
    audit: Vec<AuditEntry>,
    batches: HashMap<String, BatchRecord>,
    /// In request order.
    publications: Vec<PublicationRecord>,
    /// By entry id (the SQLite store's order).
    precredits: BTreeMap<String, PreCreditEntry>,
    /// By (institution, op id).
    precredit_ops: HashMap<(String, String), PreCreditOp>,
    /// Review cases by decision id.
    review_cases: HashMap<String, ReviewCase>,
    /// Review steps in the order written.
    reviews: Vec<ReviewStep>,
    /// Decision ids in the order inserted (an application's chain).
    decision_order: Vec<String>,
    /// Retention state by decision id (absent: no hold, not pruned).
    retention: HashMap<String, crate::Retention>,
    /// Monitoring signals by id.
    signals: HashMap<String, SignalRecord>,
    /// Monitoring tasks in the order created.
    tasks: Vec<TaskRecord>,
}

impl State {
    /// Live entries matching `keep`, newest publication first.
    fn live_entries(&self, keep: impl Fn(&PreCreditEntry) -> bool) -> Vec<PreCreditEntry> {
        let mut found: Vec<PreCreditEntry> = self
            .precredits
            .values()
            .filter(|e| e.status != PreCreditStatus::Pending && keep(e))
            .cloned()
            .collect();
        found.sort_by(|a, b| (&b.published_at, &b.entry_id).cmp(&(&a.published_at, &a.entry_id)));
        found
    }
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::Closed)?;
        f(&mut state)
    }
}

impl Store for MemoryStore {
    async fn insert(&self, record: DecisionRecord) -> Result<Inserted, StoreError> {
        let mut results = self.insert_many(vec![record]).await?;
        results.pop().ok_or(StoreError::Closed)
    }

    async fn insert_many(&self, records: Vec<DecisionRecord>) -> Result<Vec<Inserted>, StoreError> {
        self.with(|s| {
            Ok(records
                .into_iter()
                .map(|r| match s.decisions.get(&r.decision_id) {
                    Some(existing) => Inserted::Existing(Box::new(existing.clone())),
                    None => {
                        if let Some(level) = &r.routed_level {
                            s.review_cases
                                .entry(r.decision_id.clone())
                                .or_insert_with(|| ReviewCase {
                                    decision_id: r.decision_id.clone(),
                                    institution: r.institution.clone(),
                                    product: r.product.clone(),
                                    application_id: r.application_id.clone(),
                                    system_outcome: r.outcome.clone(),
                                    routed_level: Some(level.clone()),
                                    waiting_level: Some(level.clone()),
                                    status: crate::CaseStatus::Pending,
                                    final_outcome: None,
                                    final_limit: None,
                                    final_rate: None,
                                    steps: 0,
                                    revision: 0,
                                    created_at: r.recorded_at.clone(),
                                    updated_at: r.recorded_at.clone(),
                                    superseded_by: None,
                                });
                        }
                        if let Some(app) = &r.application_id {
                            for c in s.review_cases.values_mut() {
                                if c.institution == r.institution
                                    && c.application_id.as_ref() == Some(app)
                                    && c.decision_id != r.decision_id
                                    && c.status.is_open()
                                {
                                    c.status = crate::CaseStatus::Superseded;
                                    c.waiting_level = None;
                                    c.superseded_by = Some(r.decision_id.clone());
                                    c.revision += 1;
                                    c.updated_at = r.recorded_at.clone();
                                }
                            }
                        }
                        s.decision_order.push(r.decision_id.clone());
                        s.decisions.insert(r.decision_id.clone(), r);
                        Inserted::New
                    }
                })
                .collect())
        })
    }

    async fn get(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        self.with(|s| Ok(s.decisions.get(decision_id).cloned()))
    }

    async fn list_decisions(
        &self,
        query: crate::DecisionQuery,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        self.with(|s| {
            let mut found: Vec<DecisionRecord> = s
                .decisions
                .values()
                .filter(|d| query.matches(d))
                .cloned()
                .collect();
            found.sort_by(|a, b| {
                (&a.recorded_at, &a.decision_id).cmp(&(&b.recorded_at, &b.decision_id))
            });
            found.truncate(query.limit);
            Ok(found)
        })
    }

    async fn put_documents(&self, documents: Vec<StoredDocument>) -> Result<(), StoreError> {
        self.with(|s| {
            // All or nothing, as one savepoint of the SQLite store.
            for (i, d) in documents.iter().enumerate() {
                if let Some(other) = s.documents.iter().chain(&documents[..i]).find(|o| {
                    o.kind == d.kind && o.id == d.id && o.version == d.version && o.hash != d.hash
                }) {
                    return Err(StoreError::Database(format!(
                        "{} {} version {} is already stored with other content ({}, now {}); give the changed document a new version",
                        d.kind, d.id, d.version, other.hash, d.hash
                    )));
                }
            }
            for d in documents {
                if !s.documents.iter().any(|o| o.hash == d.hash) {
                    s.documents.push(d);
                }
            }
            Ok(())
        })
    }

    async fn get_document(&self, hash: &str) -> Result<Option<StoredDocument>, StoreError> {
        self.with(|s| Ok(s.documents.iter().find(|d| d.hash == hash).cloned()))
    }

    async fn list_documents(
        &self,
        kind: Option<String>,
        id: Option<String>,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        self.with(|s| {
            Ok(s.documents
                .iter()
                .filter(|d| kind.as_ref().is_none_or(|k| &d.kind == k))
                .filter(|d| id.as_ref().is_none_or(|i| &d.id == i))
                .cloned()
                .collect())
        })
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        self.with(|s| {
            s.audit.push(entry);
            Ok(())
        })
    }

    async fn list_audit(
        &self,
        limit: usize,
        institutions: Option<Vec<String>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|s| {
            Ok(s.audit
                .iter()
                .rev()
                .filter(|e| {
                    institutions
                        .as_ref()
                        .is_none_or(|list| list.contains(&e.institution))
                })
                .take(limit)
                .cloned()
                .collect())
        })
    }

    async fn insert_activation(&self, activation: ActivationRecord) -> Result<(), StoreError> {
        self.with(|s| {
            if s.activations
                .iter()
                .any(|a| a.activation_id == activation.activation_id)
            {
                return Err(StoreError::Database(
                    "UNIQUE constraint failed: activations.activation_id".into(),
                ));
            }
            s.activations.push(activation);
            Ok(())
        })
    }

    async fn approve_activation(
        &self,
        activation_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<ActivationRecord>, StoreError> {
        self.with(|s| {
            let Some(i) = s.activations.iter().position(|a| {
                a.activation_id == activation_id && a.status == ActivationStatus::Pending
            }) else {
                return Ok(None);
            };
            let a = &mut s.activations[i];
            a.status = ActivationStatus::Approved;
            a.approved_by = approved_by.to_string();
            a.approved_at = approved_at.to_string();
            // Approved late, a scheduled time that has passed becomes the
            // approval time (RFC 3339 UTC strings sort in time order).
            if a.effective_at.is_empty() || a.effective_at.as_str() < approved_at {
                a.effective_at = approved_at.to_string();
            }
            let approved = a.clone();
            for other in s.activations.iter_mut() {
                if other.status == ActivationStatus::Approved
                    && other.activation_id != approved.activation_id
                    && other.institution == approved.institution
                    && other.product == approved.product
                    && other.effective_at > approved.effective_at
                {
                    other.status = ActivationStatus::Superseded;
                }
            }
            Ok(Some(approved))
        })
    }

    async fn list_activations(&self) -> Result<Vec<ActivationRecord>, StoreError> {
        self.with(|s| Ok(s.activations.clone()))
    }

    async fn put_batch(&self, batch: BatchRecord) -> Result<(), StoreError> {
        self.with(|s| {
            s.batches.insert(batch.batch_id.clone(), batch);
            Ok(())
        })
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        self.with(|s| Ok(s.batches.get(batch_id).cloned()))
    }

    async fn find_document(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        self.with(|s| {
            Ok(s.documents
                .iter()
                .find(|d| d.kind == kind && d.id == id && d.version == version)
                .cloned())
        })
    }

    async fn put_publication(&self, publication: PublicationRecord) -> Result<(), StoreError> {
        self.with(|s| {
            match s
                .publications
                .iter_mut()
                .find(|p| p.publication_id == publication.publication_id)
            {
                Some(p) => *p = publication,
                None => s.publications.push(publication),
            }
            Ok(())
        })
    }

    async fn get_publication(
        &self,
        publication_id: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        self.with(|s| {
            Ok(s.publications
                .iter()
                .find(|p| p.publication_id == publication_id)
                .cloned())
        })
    }

    async fn list_publications(&self) -> Result<Vec<PublicationRecord>, StoreError> {
        self.with(|s| Ok(s.publications.clone()))
    }

    async fn insert_precredits(&self, entries: Vec<PreCreditEntry>) -> Result<(), StoreError> {
        self.with(|s| {
            // All or nothing, as one write of the SQLite store.
            for (i, e) in entries.iter().enumerate() {
                let twice = s.precredits.contains_key(&e.entry_id)
                    || s.precredits.values().chain(&entries[..i]).any(|o| {
                        o.publication_id == e.publication_id && o.household_id == e.household_id
                    });
                if twice {
                    return Err(StoreError::Duplicate(format!(
                        "household {} appears more than once in publication {} (or entry {} exists)",
                        e.household_id, e.publication_id, e.entry_id
                    )));
                }
            }
            for e in entries {
                s.precredits.insert(e.entry_id.clone(), e);
            }
            Ok(())
        })
    }

    async fn identify_precredits(
        &self,
        publication_id: &str,
        households: Vec<HouseholdIdentity>,
    ) -> Result<u64, StoreError> {
        self.with(|s| {
            let mut matched = 0;
            for h in households {
                if let Some(e) = s.precredits.values_mut().find(|e| {
                    e.publication_id == publication_id
                        && e.household_id == h.household_id
                        && e.status == PreCreditStatus::Pending
                }) {
                    if h.id_hash.is_some() {
                        matched += 1;
                    }
                    e.id_hash = h.id_hash;
                    e.branch = h.branch;
                }
            }
            Ok(matched)
        })
    }

    async fn approve_publication(
        &self,
        publication_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        self.with(|s| {
            let Some(p) = s
                .publications
                .iter()
                .find(|p| {
                    p.publication_id == publication_id && p.status == PublicationStatus::Pending
                })
                .cloned()
            else {
                return Ok(None);
            };
            if s.publications.iter().any(|o| {
                o.status == PublicationStatus::Approved
                    && o.institution == p.institution
                    && o.product == p.product
                    && o.requested_at > p.requested_at
            }) {
                return Ok(None);
            }
            let newer: HashMap<String, String> = s
                .precredits
                .values()
                .filter(|e| e.publication_id == publication_id)
                .map(|e| (e.household_id.clone(), e.entry_id.clone()))
                .collect();
            let mut superseded = 0;
            for e in s.precredits.values_mut() {
                if e.publication_id == publication_id {
                    if e.status == PreCreditStatus::Pending {
                        e.status = PreCreditStatus::published(&e.outcome);
                        e.revision += 1;
                        e.updated_at = approved_at.to_string();
                    }
                } else if e.institution == p.institution
                    && e.product == p.product
                    && e.status.supersedable()
                    && let Some(by) = newer.get(&e.household_id)
                {
                    e.status = PreCreditStatus::Superseded;
                    e.superseded_by = by.clone();
                    e.revision += 1;
                    e.updated_at = approved_at.to_string();
                    superseded += 1;
                }
            }
            let stored = s
                .publications
                .iter_mut()
                .find(|p| p.publication_id == publication_id)
                .ok_or(StoreError::Closed)?;
            stored.status = PublicationStatus::Approved;
            stored.approved_by = approved_by.to_string();
            stored.approved_at = approved_at.to_string();
            stored.superseded = superseded;
            Ok(Some(stored.clone()))
        })
    }

    async fn get_precredit(&self, entry_id: &str) -> Result<Option<PreCreditEntry>, StoreError> {
        self.with(|s| Ok(s.precredits.get(entry_id).cloned()))
    }

    async fn household_precredits(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        self.with(|s| {
            Ok(s.live_entries(|e| {
                e.institution == institution
                    && e.product == product
                    && e.household_id == household_id
            }))
        })
    }

    async fn identified_precredits(
        &self,
        institution: &str,
        product: &str,
        id_hash: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        self.with(|s| {
            Ok(s.live_entries(|e| {
                e.institution == institution
                    && e.product == product
                    && e.id_hash.as_deref() == Some(id_hash)
            }))
        })
    }

    async fn list_precredits(&self, q: PreCreditQuery) -> Result<Vec<PreCreditEntry>, StoreError> {
        self.with(|s| {
            Ok(s.precredits
                .values()
                .filter(|e| {
                    e.status != PreCreditStatus::Pending
                        && e.institution == q.institution
                        && q.product.as_ref().is_none_or(|p| &e.product == p)
                        && q.status.is_none_or(|st| e.status == st)
                        && q.village.as_ref().is_none_or(|v| &e.village == v)
                        && q.after.as_ref().is_none_or(|a| &e.entry_id > a)
                })
                .take(q.limit)
                .cloned()
                .collect())
        })
    }

    async fn get_precredit_op(
        &self,
        institution: &str,
        op_id: &str,
    ) -> Result<Option<PreCreditOp>, StoreError> {
        self.with(|s| {
            Ok(s.precredit_ops
                .get(&(institution.to_string(), op_id.to_string()))
                .cloned())
        })
    }

    async fn write_precredit_op(
        &self,
        op: PreCreditOp,
        expected_revision: u64,
        audit: AuditEntry,
    ) -> Result<OpWritten, StoreError> {
        self.with(|s| {
            let key = (op.institution.clone(), op.op_id.clone());
            if let Some(existing) = s.precredit_ops.get(&key) {
                return Ok(OpWritten::Existing(Box::new(existing.clone())));
            }
            match s.precredits.get_mut(&op.entry_id) {
                Some(e) if e.revision == expected_revision => *e = op.entry_after.clone(),
                _ => return Ok(OpWritten::Stale),
            }
            s.precredit_ops.insert(key, op);
            s.audit.push(audit);
            Ok(OpWritten::Done)
        })
    }

    async fn get_review_case(&self, decision_id: &str) -> Result<Option<ReviewCase>, StoreError> {
        self.with(|s| Ok(s.review_cases.get(decision_id).cloned()))
    }

    async fn list_reviews(&self, decision_id: &str) -> Result<Vec<ReviewStep>, StoreError> {
        self.with(|s| {
            let mut steps: Vec<ReviewStep> = s
                .reviews
                .iter()
                .filter(|r| r.decision_id == decision_id)
                .cloned()
                .collect();
            steps.sort_by_key(|r| r.step);
            Ok(steps)
        })
    }

    async fn get_review(
        &self,
        institution: &str,
        review_id: &str,
    ) -> Result<Option<ReviewStep>, StoreError> {
        self.with(|s| {
            Ok(s.reviews
                .iter()
                .find(|r| r.institution == institution && r.review_id == review_id)
                .cloned())
        })
    }

    async fn write_review(
        &self,
        step: ReviewStep,
        case: ReviewCase,
        expected_revision: Option<u64>,
        audit: AuditEntry,
    ) -> Result<ReviewWritten, StoreError> {
        self.with(|s| {
            if let Some(existing) = s
                .reviews
                .iter()
                .find(|r| r.institution == step.institution && r.review_id == step.review_id)
            {
                return Ok(ReviewWritten::Existing(Box::new(existing.clone())));
            }
            match (s.review_cases.get_mut(&case.decision_id), expected_revision) {
                (None, None) => {
                    s.review_cases.insert(case.decision_id.clone(), case);
                }
                (Some(c), Some(revision)) if c.revision == revision => *c = case,
                _ => return Ok(ReviewWritten::Stale),
            }
            s.reviews.push(step);
            s.audit.push(audit);
            Ok(ReviewWritten::Written)
        })
    }

    async fn pending_reviews(
        &self,
        institutions: Vec<String>,
        level: Option<String>,
        limit: usize,
    ) -> Result<Vec<ReviewCase>, StoreError> {
        self.with(|s| {
            let mut open: Vec<ReviewCase> = s
                .review_cases
                .values()
                .filter(|c| {
                    c.status.is_open()
                        && (institutions.is_empty() || institutions.contains(&c.institution))
                        && (level.is_none() || c.waiting_level == level)
                })
                .cloned()
                .collect();
            open.sort_by(|a, b| {
                (&a.created_at, &a.decision_id).cmp(&(&b.created_at, &b.decision_id))
            });
            open.truncate(limit);
            Ok(open)
        })
    }

    async fn all_reviews(
        &self,
        institutions: Vec<String>,
    ) -> Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError> {
        self.with(|s| {
            let mine = |i: &String| institutions.is_empty() || institutions.contains(i);
            let mut cases: Vec<ReviewCase> = s
                .review_cases
                .values()
                .filter(|c| mine(&c.institution))
                .cloned()
                .collect();
            cases.sort_by(|a, b| {
                (&a.created_at, &a.decision_id).cmp(&(&b.created_at, &b.decision_id))
            });
            let steps = s
                .reviews
                .iter()
                .filter(|r| mine(&r.institution))
                .cloned()
                .collect();
            Ok((cases, steps))
        })
    }

    async fn set_legal_hold(
        &self,
        decision_id: &str,
        hold: bool,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            if !s.decisions.contains_key(decision_id) {
                return Ok(false);
            }
            s.retention
                .entry(decision_id.to_string())
                .or_default()
                .legal_hold = hold;
            s.audit.push(audit);
            Ok(true)
        })
    }

    async fn prune(
        &self,
        before: &str,
        at: &str,
        mut audit: AuditEntry,
    ) -> Result<crate::Pruned, StoreError> {
        self.with(|s| {
            let mut done = crate::Pruned::default();
            for (id, d) in s.decisions.iter_mut() {
                let r = s.retention.entry(id.clone()).or_default();
                if d.batch_id.is_some() || d.recorded_at.as_str() >= before || r.pruned_at.is_some()
                {
                    continue;
                }
                if r.legal_hold {
                    done.held += 1;
                    continue;
                }
                d.request_json.clear();
                d.decision_json.clear();
                d.record.clear();
                r.pruned_at = Some(at.to_string());
                done.pruned += 1;
            }
            audit.detail = crate::pruned_detail(&done, before);
            s.audit.push(audit);
            Ok(done)
        })
    }

    async fn retention(&self, decision_id: &str) -> Result<Option<crate::Retention>, StoreError> {
        self.with(|s| {
            Ok(s.decisions
                .contains_key(decision_id)
                .then(|| s.retention.get(decision_id).cloned().unwrap_or_default()))
        })
    }

    async fn application_decisions(
        &self,
        institution: &str,
        application_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        self.with(|s| {
            Ok(s.decision_order
                .iter()
                .filter(|id| {
                    s.decisions.get(*id).is_some_and(|d| {
                        d.institution == institution
                            && d.application_id.as_deref() == Some(application_id)
                    })
                })
                .cloned()
                .collect())
        })
    }

    async fn record_monitoring(
        &self,
        signals: Vec<SignalRecord>,
        tasks: Vec<TaskRecord>,
    ) -> Result<Vec<String>, StoreError> {
        self.with(|s| {
            for signal in signals {
                s.signals.entry(signal.signal_id.clone()).or_insert(signal);
            }
            let mut created = Vec::new();
            for task in tasks {
                let taken = s.tasks.iter().any(|t| {
                    t.task_id == task.task_id
                        || (t.status == TaskStatus::Open
                            && t.institution == task.institution
                            && t.loan_id == task.loan_id
                            && t.rule_id == task.rule_id)
                });
                if !taken {
                    created.push(task.task_id.clone());
                    s.tasks.push(task);
                }
            }
            Ok(created)
        })
    }

    async fn get_signal(&self, signal_id: &str) -> Result<Option<SignalRecord>, StoreError> {
        self.with(|s| Ok(s.signals.get(signal_id).cloned()))
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<TaskRecord>, StoreError> {
        self.with(|s| Ok(s.tasks.iter().find(|t| t.task_id == task_id).cloned()))
    }

    async fn list_tasks(&self, query: TaskQuery) -> Result<Vec<TaskRecord>, StoreError> {
        self.with(|s| {
            let mut found: Vec<TaskRecord> = s
                .tasks
                .iter()
                .filter(|t| query.matches(t))
                .cloned()
                .collect();
            found.sort_by(|a, b| (&a.due_on, &a.task_id).cmp(&(&b.due_on, &b.task_id)));
            if query.limit > 0 {
                found.truncate(query.limit);
            }
            Ok(found)
        })
    }

    async fn complete_task(
        &self,
        task_id: &str,
        completion: TaskCompletion,
        audit: AuditEntry,
    ) -> Result<TaskCompleted, StoreError> {
        self.with(|s| {
            let Some(task) = s.tasks.iter_mut().find(|t| t.task_id == task_id) else {
                return Ok(TaskCompleted::NotFound);
            };
            if task.status == TaskStatus::Completed {
                return Ok(TaskCompleted::AlreadyCompleted(Box::new(task.clone())));
            }
            task.status = TaskStatus::Completed;
            task.completion = Some(completion);
            let done = task.clone();
            s.audit.push(audit);
            Ok(TaskCompleted::Done(Box::new(done)))
        })
    }
}
