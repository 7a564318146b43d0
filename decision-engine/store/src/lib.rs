//! Durable records of the decision engine: decisions with their traces,
//! policy documents, activations, the audit log, batch runs and the
//! pre-credit register.
//!
//! [`Store`] is the interface every use case needs; each backend is a
//! module of its own: [`sqlite`] (the embedded default: one file on local
//! disk, no server to install), [`postgres`] (one database shared by
//! several servers) and [`memory`] (for tests of the business rules without
//! a disk or a server). [`AnyStore`] is whichever of the first two a server
//! was told to use. Nothing here assumes one process owns
//! the data: uniqueness of a decision is enforced by the backend, not by a
//! cache. [`traces`] is the batch trace file, the other durable format.
//!
//! Every stored format carries a version: a decision record its
//! [`DecisionRecord::format`], a batch trace line its `format`, the SQLite
//! file its schema version (see [`sqlite`]'s migrations).

#![forbid(unsafe_code)]

mod any;
mod codec;
pub mod compact;
pub mod memory;
mod migrate;
pub mod monitoring;
pub mod postgres;
mod precredit;
mod records;
mod reviews;
pub mod sqlite;
pub mod traces;

use std::future::Future;

pub use any::{AnyStore, Location};
pub use memory::MemoryStore;
pub use monitoring::{
    MONITOR_FORMAT, SignalRecord, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord, TaskStatus,
};
pub use postgres::PgStore;
pub use precredit::{
    HouseholdIdentity, OpWritten, PRECREDIT_FORMAT, PreCreditEntry, PreCreditOp, PreCreditQuery,
    PreCreditStatus, PublicationRecord, PublicationStatus,
};
pub use records::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, BatchStatus, Challenger,
    DECISION_FORMAT, DecisionRecord, SHADOW_STAGE, StoredDocument, shadow_id,
};
pub use reviews::{CaseStatus, REVIEW_FORMAT, ReviewCase, ReviewStep, ReviewWritten, StepEffect};
pub use sqlite::SqliteStore;

/// Which online decisions [`Store::list_decisions`] returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionQuery {
    /// Only this institution's, when given.
    pub institution: Option<String>,
    /// Only this product's, when given.
    pub product: Option<String>,
    /// Recorded at or after this RFC 3339 time (or date: `2026-11-01`).
    pub since: String,
    /// Recorded before this RFC 3339 time, when given.
    pub until: Option<String>,
    /// The page after this decision: its (`recorded_at`, decision id).
    pub after: Option<(String, String)>,
    /// At most this many.
    pub limit: usize,
    /// The challengers' shadow decisions instead of the decisions answered.
    pub shadows: bool,
}

impl DecisionQuery {
    /// Whether `d` is one the query asks for (page aside).
    pub fn matches(&self, d: &DecisionRecord) -> bool {
        d.batch_id.is_none()
            && (d.stage.as_deref() == Some(SHADOW_STAGE)) == self.shadows
            && d.recorded_at.as_str() >= self.since.as_str()
            && self
                .until
                .as_deref()
                .is_none_or(|u| d.recorded_at.as_str() < u)
            && self
                .institution
                .as_deref()
                .is_none_or(|i| d.institution == i)
            && self.product.as_deref().is_none_or(|p| d.product == p)
            && self.after.as_ref().is_none_or(|(at, id)| {
                (d.recorded_at.as_str(), d.decision_id.as_str()) > (at.as_str(), id.as_str())
            })
    }
}

/// The schema version of the SQLite store this release writes.
pub const SCHEMA_VERSION: i64 = migrate::LATEST;

/// A decision's retention state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Set by an auditor: the input is kept past the retention period.
    pub legal_hold: bool,
    /// When the input was removed (RFC 3339); `None`: it is all there.
    pub pruned_at: Option<String>,
}

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Decisions whose input was removed now.
    pub pruned: u64,
    /// Decisions old enough but under legal hold, kept whole.
    pub held: u64,
}

/// The audit detail of a prune.
pub(crate) fn pruned_detail(p: &Pruned, before: &str) -> String {
    format!(
        "removed the input of {} decisions recorded before {before}; {} under legal hold kept whole",
        p.pruned, p.held
    )
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

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed (a constraint, a full disk, a
    /// damaged file).
    #[error("decision store: {0}")]
    Database(String),
    /// The store is shutting down.
    #[error("decision store is closed")]
    Closed,
    /// What was written names a record that exists (a household twice in
    /// one publication).
    #[error("{0}")]
    Duplicate(String),
    /// The store was written by a newer release; opening it could lose
    /// what that release wrote.
    #[error("decision store {path}: {message}")]
    TooNew { path: String, message: String },
}

/// Where decisions, policy documents, activations, the audit log and batch
/// runs live. Every write resolves only once it is durable.
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

    /// The newest `limit` audit entries, newest first; with
    /// `institutions`, only the entries for one of them.
    fn list_audit(
        &self,
        limit: usize,
        institutions: Option<Vec<String>>,
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

    /// Stores a publication, replacing the one with its id.
    fn put_publication(
        &self,
        publication: PublicationRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn get_publication(
        &self,
        publication_id: &str,
    ) -> impl Future<Output = Result<Option<PublicationRecord>, StoreError>> + Send;

    /// Publications, oldest first.
    fn list_publications(
        &self,
    ) -> impl Future<Output = Result<Vec<PublicationRecord>, StoreError>> + Send;

    /// Writes new entries (of a loading publication) durably; an entry id
    /// that exists is an error.
    fn insert_precredits(
        &self,
        entries: Vec<PreCreditEntry>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sets the national ID hash and branch of a loading publication's
    /// entries, by household id; returns how many entries got an ID hash.
    fn identify_precredits(
        &self,
        publication_id: &str,
        households: Vec<HouseholdIdentity>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// In one durable step: a pending publication becomes approved, its
    /// entries live (offered, referred or declined by their outcome), and
    /// the older entries of the same households, institution and product
    /// that are not under contract superseded. Returns the publication
    /// (with `superseded` counted), or `None` when it is not pending.
    fn approve_publication(
        &self,
        publication_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> impl Future<Output = Result<Option<PublicationRecord>, StoreError>> + Send;

    fn get_precredit(
        &self,
        entry_id: &str,
    ) -> impl Future<Output = Result<Option<PreCreditEntry>, StoreError>> + Send;

    /// A household's live (not pending) entries, newest publication first
    /// (by `published_at`, then entry id).
    fn household_precredits(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
    ) -> impl Future<Output = Result<Vec<PreCreditEntry>, StoreError>> + Send;

    /// The live entries whose national ID hash is `id_hash`, newest first.
    fn identified_precredits(
        &self,
        institution: &str,
        product: &str,
        id_hash: &str,
    ) -> impl Future<Output = Result<Vec<PreCreditEntry>, StoreError>> + Send;

    /// Live entries by `query`, in entry id order.
    fn list_precredits(
        &self,
        query: PreCreditQuery,
    ) -> impl Future<Output = Result<Vec<PreCreditEntry>, StoreError>> + Send;

    fn get_precredit_op(
        &self,
        institution: &str,
        op_id: &str,
    ) -> impl Future<Output = Result<Option<PreCreditOp>, StoreError>> + Send;

    /// In one durable step: the operation, its audit entry and the entry
    /// as it left it, if the stored entry is still at `expected_revision`
    /// and the operation id is new.
    fn write_precredit_op(
        &self,
        op: PreCreditOp,
        expected_revision: u64,
        audit: AuditEntry,
    ) -> impl Future<Output = Result<OpWritten, StoreError>> + Send;

    /// The review case of a decision, if it has one.
    fn get_review_case(
        &self,
        decision_id: &str,
    ) -> impl Future<Output = Result<Option<ReviewCase>, StoreError>> + Send;

    /// A decision's review steps, in order.
    fn list_reviews(
        &self,
        decision_id: &str,
    ) -> impl Future<Output = Result<Vec<ReviewStep>, StoreError>> + Send;

    /// The step an institution's review id names, if any.
    fn get_review(
        &self,
        institution: &str,
        review_id: &str,
    ) -> impl Future<Output = Result<Option<ReviewStep>, StoreError>> + Send;

    /// In one durable step: the review step, its case as the step leaves
    /// it and the audit entry, if the stored case is still at
    /// `expected_revision` (`None`: the case must not exist yet) and the
    /// review id is new.
    fn write_review(
        &self,
        step: ReviewStep,
        case: ReviewCase,
        expected_revision: Option<u64>,
        audit: AuditEntry,
    ) -> impl Future<Output = Result<ReviewWritten, StoreError>> + Send;

    /// Open cases of `institutions` (every one when empty) waiting for
    /// `level` (any when `None`), oldest first, at most `limit`.
    fn pending_reviews(
        &self,
        institutions: Vec<String>,
        level: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReviewCase>, StoreError>> + Send;

    /// Every case and every step of `institutions` (every one when empty),
    /// for the override report.
    fn all_reviews(
        &self,
        institutions: Vec<String>,
    ) -> impl Future<Output = Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError>> + Send;

    /// Sets or clears the legal hold of an online decision, with its audit
    /// entry, in one durable step; `false` when no such decision is stored.
    fn set_legal_hold(
        &self,
        decision_id: &str,
        hold: bool,
        audit: AuditEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// In one durable step with its audit entry: removes the input (the
    /// request, and the decision JSON or compact record derived from it)
    /// of every online decision recorded before `before` (RFC 3339) that
    /// is not under legal hold and not pruned yet, keeping its outcome,
    /// versions and request digest, and marks it pruned at `at`.
    fn prune(
        &self,
        before: &str,
        at: &str,
        audit: AuditEntry,
    ) -> impl Future<Output = Result<Pruned, StoreError>> + Send;

    /// Online decisions (batch rows aside) by `query`, oldest first (by
    /// `recorded_at`, then decision id): a page of at most `query.limit`
    /// after `query.after`. For analyses over what was decided: impact
    /// replays, score monitoring.
    fn list_decisions(
        &self,
        query: DecisionQuery,
    ) -> impl Future<Output = Result<Vec<DecisionRecord>, StoreError>> + Send;

    /// A decision's retention state; `None` when no such online decision.
    fn retention(
        &self,
        decision_id: &str,
    ) -> impl Future<Output = Result<Option<Retention>, StoreError>> + Send;

    /// A signal each time an activation is approved, by this server or any
    /// other sharing the store, for caches of what is in force to drop
    /// what they hold; `None` when the store cannot tell (they re-read on
    /// their own schedule).
    fn policy_changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        None
    }

    /// The ids of an application's decisions, oldest first.
    fn application_decisions(
        &self,
        institution: &str,
        application_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// In one durable step: the signals of a monitoring run (an id that
    /// exists is kept as it is) and its tasks, each created only when its
    /// id is new and no task of the same institution, loan and rule is
    /// open. Returns the ids of the tasks created.
    fn record_monitoring(
        &self,
        signals: Vec<SignalRecord>,
        tasks: Vec<TaskRecord>,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// A signal by its id.
    fn get_signal(
        &self,
        signal_id: &str,
    ) -> impl Future<Output = Result<Option<SignalRecord>, StoreError>> + Send;

    /// A task by its id.
    fn get_task(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Option<TaskRecord>, StoreError>> + Send;

    /// Tasks by `query`, by due date then id.
    fn list_tasks(
        &self,
        query: TaskQuery,
    ) -> impl Future<Output = Result<Vec<TaskRecord>, StoreError>> + Send;

    /// Completes an open task with its audit entry, in one durable step.
    fn complete_task(
        &self,
        task_id: &str,
        completion: TaskCompletion,
        audit: AuditEntry,
    ) -> impl Future<Output = Result<TaskCompleted, StoreError>> + Send;
}
