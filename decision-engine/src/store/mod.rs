//! Decision records and policy documents, durably stored.
//!
//! [`Store`] is the small interface the service needs; [`sqlite`] is the
//! embedded backend (one file on local disk, no server to install). A
//! PostgreSQL backend for many replicas implements the same trait, so
//! nothing here assumes one process owns the data: uniqueness of a decision
//! is enforced by the database, not by memory.

pub mod sqlite;

use std::future::Future;

use serde::{Deserialize, Serialize};

/// One recorded decision: the request as received, the decision with its
/// trace, and when it was made. Timestamps are kept apart from the decision,
/// so the decision itself replays byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub decision_id: String,
    pub institution: String,
    pub product: String,
    pub request_id: String,
    /// sha256 of the canonical request (features, pins): two requests with
    /// the same id are the same request only if this matches.
    pub request_hash: String,
    /// The request as received, as JSON.
    pub request_json: String,
    /// APPROVE, REFER or DECLINE.
    pub outcome: String,
    /// The decision with its trace, as JSON.
    pub decision_json: String,
    /// Ties the decisions of one batch run together.
    pub batch_id: Option<String>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub evaluation_micros: u64,
}

/// A policy document as loaded, kept by content hash so every recorded
/// version can be compiled again to replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDocument {
    pub hash: String,
    pub kind: String,
    pub id: String,
    pub version: String,
    pub json: String,
    /// Who published it (`(shipped)` / `(policy dir)` for documents a
    /// server loaded at start).
    pub uploaded_by: String,
    /// RFC 3339.
    pub uploaded_at: String,
}

/// An activation: (institution, product) runs a ruleset and a scorecard
/// version from `effective_at`, once approved by a second person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRecord {
    pub activation_id: String,
    pub institution: String,
    pub product: String,
    pub ruleset_id: String,
    pub ruleset_version: String,
    pub scorecard_id: String,
    pub scorecard_version: String,
    /// RFC 3339; empty until approved when asked for "as soon as approved".
    pub effective_at: String,
    pub requested_by: String,
    pub requested_at: String,
    /// `pending` or `approved`.
    pub status: String,
    pub approved_by: String,
    pub approved_at: String,
    pub rollback: bool,
}

/// One admin action, accepted or refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub person: String,
    pub role: String,
    pub action: String,
    pub kind: String,
    pub id: String,
    pub version: String,
    pub hash: String,
    pub accepted: bool,
    pub detail: String,
}

/// A batch run: what it read and wrote, which versions ran, where its
/// decisions' traces are, and how it ended. Written when the run starts
/// (`running`) and again when it ends (`finished` or `failed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub batch_id: String,
    /// `running`, `finished` or `failed`.
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub institution: String,
    pub product: String,
    pub as_of: String,
    pub versions: Vec<crate::compile::VersionRef>,
    pub input: String,
    pub output: String,
    pub errors_file: String,
    /// The decisions with their traces: JSON lines, one a row, in zstd
    /// frames (see `batch::traces`).
    pub trace_file: String,
    /// sha256 of the whole trace file (`sha256:<hex>`), to check it later.
    #[serde(default)]
    pub trace_sha256: String,
    /// The first row of every frame.
    pub frame_first_rows: Vec<u64>,
    /// Byte offset of every frame in the trace file, then the file's length.
    pub frame_offsets: Vec<u64>,
    pub rows: u64,
    pub approved: u64,
    pub referred: u64,
    pub declined: u64,
    pub errors: u64,
    /// Why a failed run stopped.
    pub failure: String,
}

/// What an insert found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Written and durable.
    New,
    /// A record with this decision id was already stored (by this or another
    /// process); it is returned unchanged.
    Existing(Box<DecisionRecord>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("decision store: {0}")]
    Database(String),
    #[error("decision store is closed")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Where decisions and policy documents live.
pub trait Store: Send + Sync + 'static {
    /// Stores `record` unless its decision id exists; resolves only once the
    /// write is durable.
    fn insert(
        &self,
        record: DecisionRecord,
    ) -> impl Future<Output = Result<Inserted, StoreError>> + Send;

    /// Stores many records in one durable write (batch runs).
    fn insert_many(
        &self,
        records: Vec<DecisionRecord>,
    ) -> impl Future<Output = Result<Vec<Inserted>, StoreError>> + Send;

    fn get(
        &self,
        decision_id: &str,
    ) -> impl Future<Output = Result<Option<DecisionRecord>, StoreError>> + Send;

    /// Keeps documents by hash (an existing hash is left as it is).
    fn put_documents(
        &self,
        documents: Vec<StoredDocument>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_document(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<StoredDocument>, StoreError>> + Send;

    /// Published documents, optionally of one kind and id, oldest first.
    fn list_documents(
        &self,
        kind: Option<String>,
        id: Option<String>,
    ) -> impl Future<Output = Result<Vec<StoredDocument>, StoreError>> + Send;

    /// Records an admin action durably.
    fn append_audit(
        &self,
        entry: AuditEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The newest `limit` audit entries, newest first.
    fn list_audit(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    fn insert_activation(
        &self,
        activation: ActivationRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Approves a pending activation; `effective_at` fills an empty one.
    /// Returns the record, or `None` when no such pending activation exists.
    fn approve_activation(
        &self,
        activation_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> impl Future<Output = Result<Option<ActivationRecord>, StoreError>> + Send;

    /// Every activation, oldest first.
    fn list_activations(
        &self,
    ) -> impl Future<Output = Result<Vec<ActivationRecord>, StoreError>> + Send;

    /// Stores a batch run's record, replacing the one with its id.
    fn put_batch(&self, batch: BatchRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_batch(
        &self,
        batch_id: &str,
    ) -> impl Future<Output = Result<Option<BatchRecord>, StoreError>> + Send;

    /// The document of `kind`, `id` and `version`, if stored.
    fn find_document(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> impl Future<Output = Result<Option<StoredDocument>, StoreError>> + Send;
}
