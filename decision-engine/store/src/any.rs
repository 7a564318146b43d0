//! The store a server or command was told to use: the embedded SQLite file
//! in its data directory (the default), or a PostgreSQL database shared by
//! several servers (`--store postgres://...`). One type for both, so every
//! use case runs over either without knowing which.

use std::path::{Path, PathBuf};

use crate::{
    ActivationRecord, AuditEntry, BatchRecord, DecisionRecord, HouseholdIdentity, Inserted,
    OpWritten, PgStore, PreCreditEntry, PreCreditOp, PreCreditQuery, Pruned, PublicationRecord,
    Retention, ReviewCase, ReviewStep, ReviewWritten, SignalRecord, SqliteStore, Store, StoreError,
    StoredDocument, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord,
};

/// Where the store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `decisions.sqlite` in this directory.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// `store` when given (a PostgreSQL URL, or `sqlite:DIR` / a directory),
    /// else the SQLite file in `data_dir`.
    pub fn parse(store: Option<&str>, data_dir: &Path) -> Result<Location, StoreError> {
        match store.map(str::trim) {
            None | Some("") => Ok(Location::Sqlite(data_dir.to_path_buf())),
            Some(s) if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                Ok(Location::Postgres(s.to_string()))
            }
            Some(s) if s.starts_with("sqlite:") => Ok(Location::Sqlite(PathBuf::from(
                s.trim_start_matches("sqlite:").trim_start_matches("//"),
            ))),
            Some(other) => Err(StoreError::Database(format!(
                "store `{}`: expected postgres://user@host:port/database or sqlite:DIRECTORY",
                crate::postgres::schema::redact(other)
            ))),
        }
    }

    /// The location for messages and logs (no password).
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(dir) => dir.join("decisions.sqlite").display().to_string(),
            Location::Postgres(url) => crate::postgres::schema::redact(url),
        }
    }
}

/// Either backend.
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens the store at `location` (a PostgreSQL pool holds at most
    /// `max_connections`), bringing its schema up to date.
    pub async fn open(location: &Location, max_connections: usize) -> Result<AnyStore, StoreError> {
        Ok(match location {
            Location::Sqlite(dir) => AnyStore::Sqlite(SqliteStore::open(dir)?),
            Location::Postgres(url) => {
                AnyStore::Postgres(PgStore::connect(url, max_connections).await?)
            }
        })
    }

    /// Commits what is queued and stops (SQLite); closes the pool
    /// (PostgreSQL).
    pub fn close(&self) {
        match self {
            AnyStore::Sqlite(s) => s.close(),
            AnyStore::Postgres(s) => s.close(),
        }
    }

    /// Whether the store answers: always for SQLite (a local file), a
    /// round trip for PostgreSQL.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            AnyStore::Sqlite(_) => Ok(()),
            AnyStore::Postgres(s) => s.ping().await,
        }
    }

    /// Where it is, for messages and logs.
    pub fn shown(&self) -> String {
        match self {
            AnyStore::Sqlite(s) => s.path().display().to_string(),
            AnyStore::Postgres(s) => s.url().to_string(),
        }
    }
}

macro_rules! delegate {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Store for AnyStore {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                    match self {
                        AnyStore::Sqlite(s) => s.$name($($arg),*).await,
                        AnyStore::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*

            fn policy_changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
                match self {
                    AnyStore::Sqlite(s) => s.policy_changes(),
                    AnyStore::Postgres(s) => s.policy_changes(),
                }
            }
        }
    };
}

delegate! {
    fn insert(&self, record: DecisionRecord) -> Inserted;
    fn insert_many(&self, records: Vec<DecisionRecord>) -> Vec<Inserted>;
    fn get(&self, decision_id: &str) -> Option<DecisionRecord>;
    fn list_decisions(&self, query: crate::DecisionQuery) -> Vec<DecisionRecord>;
    fn put_documents(&self, documents: Vec<StoredDocument>) -> ();
    fn get_document(&self, hash: &str) -> Option<StoredDocument>;
    fn list_documents(&self, kind: Option<String>, id: Option<String>) -> Vec<StoredDocument>;
    fn append_audit(&self, entry: AuditEntry) -> ();
    fn list_audit(&self, limit: usize, institutions: Option<Vec<String>>) -> Vec<AuditEntry>;
    fn insert_activation(&self, activation: ActivationRecord) -> ();
    fn approve_activation(&self, activation_id: &str, approved_by: &str, approved_at: &str) -> Option<ActivationRecord>;
    fn list_activations(&self) -> Vec<ActivationRecord>;
    fn put_batch(&self, batch: BatchRecord) -> ();
    fn get_batch(&self, batch_id: &str) -> Option<BatchRecord>;
    fn find_document(&self, kind: &str, id: &str, version: &str) -> Option<StoredDocument>;
    fn put_publication(&self, publication: PublicationRecord) -> ();
    fn get_publication(&self, publication_id: &str) -> Option<PublicationRecord>;
    fn record_monitoring(&self, signals: Vec<SignalRecord>, tasks: Vec<TaskRecord>) -> Vec<String>;
    fn get_signal(&self, signal_id: &str) -> Option<SignalRecord>;
    fn get_task(&self, task_id: &str) -> Option<TaskRecord>;
    fn list_tasks(&self, query: TaskQuery) -> Vec<TaskRecord>;
    fn complete_task(&self, task_id: &str, completion: TaskCompletion, audit: AuditEntry) -> TaskCompleted;
    fn list_publications(&self) -> Vec<PublicationRecord>;
    fn insert_precredits(&self, entries: Vec<PreCreditEntry>) -> ();
    fn identify_precredits(&self, publication_id: &str, households: Vec<HouseholdIdentity>) -> u64;
    fn approve_publication(&self, publication_id: &str, approved_by: &str, approved_at: &str) -> Option<PublicationRecord>;
    fn get_precredit(&self, entry_id: &str) -> Option<PreCreditEntry>;
    fn household_precredits(&self, institution: &str, product: &str, household_id: &str) -> Vec<PreCreditEntry>;
    fn identified_precredits(&self, institution: &str, product: &str, id_hash: &str) -> Vec<PreCreditEntry>;
    fn list_precredits(&self, query: PreCreditQuery) -> Vec<PreCreditEntry>;
    fn get_precredit_op(&self, institution: &str, op_id: &str) -> Option<PreCreditOp>;
    fn write_precredit_op(&self, op: PreCreditOp, expected_revision: u64, audit: AuditEntry) -> OpWritten;
    fn get_review_case(&self, decision_id: &str) -> Option<ReviewCase>;
    fn list_reviews(&self, decision_id: &str) -> Vec<ReviewStep>;
    fn get_review(&self, institution: &str, review_id: &str) -> Option<ReviewStep>;
    fn write_review(&self, step: ReviewStep, case: ReviewCase, expected_revision: Option<u64>, audit: AuditEntry) -> ReviewWritten;
    fn pending_reviews(&self, institutions: Vec<String>, level: Option<String>, limit: usize) -> Vec<ReviewCase>;
    fn all_reviews(&self, institutions: Vec<String>) -> (Vec<ReviewCase>, Vec<ReviewStep>);
    fn application_decisions(&self, institution: &str, application_id: &str) -> Vec<String>;
    fn set_legal_hold(&self, decision_id: &str, hold: bool, audit: AuditEntry) -> bool;
    fn prune(&self, before: &str, at: &str, audit: AuditEntry) -> Pruned;
    fn retention(&self, decision_id: &str) -> Option<Retention>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_is_named_by_a_url_or_is_the_data_directory() {
        let dir = Path::new("data");
        assert_eq!(
            Location::parse(None, dir).unwrap(),
            Location::Sqlite(dir.into())
        );
        assert_eq!(
            Location::parse(Some("postgres://e@db/d"), dir).unwrap(),
            Location::Postgres("postgres://e@db/d".into())
        );
        assert_eq!(
            Location::parse(Some("sqlite:/var/lib/engine"), dir).unwrap(),
            Location::Sqlite("/var/lib/engine".into())
        );
        assert_eq!(
            Location::parse(Some("mysql://u:pw@db/d"), dir)
                .unwrap_err()
                .to_string(),
            "decision store: store `mysql://u@db/d`: expected postgres://user@host:port/database or sqlite:DIRECTORY"
        );
    }
}
