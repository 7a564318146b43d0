//! A store in memory, with the same rules as the durable backends (a
//! decision id is written once, a document version names one content, an
//! approval re-dates a late activation and supersedes later ones). It lets
//! the business rules (four-eyes, rollback, activation in force,
//! idempotency) be tested without a disk, a server or a port. Nothing
//! survives the process: never a production backend.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, DecisionRecord, Inserted, Store,
    StoreError, StoredDocument,
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

    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|s| Ok(s.audit.iter().rev().take(limit).cloned().collect()))
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
}
