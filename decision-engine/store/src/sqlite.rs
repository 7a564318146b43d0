//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, on
//! local disk. One writer thread does group commit: it takes every write
//! queued while the previous transaction was committing and commits them
//! together, then answers each caller, so a reply is sent only after its
//! record is durable and concurrent requests share one fsync. What a record
//! needs before its insert (compression, the policy's hash) is done by the
//! caller, not the writer; WAL checkpoints run on a thread of their own (a
//! passive checkpoint once the log passes [`CHECKPOINT_PAGES`]), never
//! inside a commit a reply waits for. Opening a store brings its schema up
//! to date in one transaction (see `migrate`).

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

mod monitoring;
mod precredit;
mod reviews;

use crate::codec::{self, Prepared, prepare};
use crate::migrate::migrate;
use crate::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, DecisionRecord, HouseholdIdentity,
    Inserted, OpWritten, PreCreditEntry, PreCreditOp, PreCreditQuery, PublicationRecord,
    ReviewCase, ReviewStep, ReviewWritten, Store, StoreError, StoredDocument,
};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// Most records one transaction takes.
const MAX_BATCH_ROWS: usize = 4096;
/// Read connections kept open.
const READERS: usize = 4;
/// WAL pages after which the checkpointer is woken (SQLite's own
/// auto-checkpoint threshold, which this replaces).
pub const CHECKPOINT_PAGES: i32 = 1000;

type WriteFn = Box<dyn FnOnce(&rusqlite::Transaction) -> Result<(), StoreError> + Send>;

enum Job {
    Insert(
        Vec<Prepared>,
        oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
    ),
    Documents(Vec<StoredDocument>, oneshot::Sender<Result<(), StoreError>>),
    Audit(Box<AuditEntry>, oneshot::Sender<Result<(), StoreError>>),
    /// Any other write, run inside the next transaction.
    Run(Option<WriteFn>, oneshot::Sender<Result<(), StoreError>>),
}

impl Job {
    fn rows(&self) -> usize {
        match self {
            Job::Insert(r, _) => r.len(),
            Job::Documents(d, _) => d.len(),
            Job::Audit(..) | Job::Run(..) => 1,
        }
    }
}

/// The SQLite decision store.
pub struct SqliteStore {
    writer: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Open read connections, and a permit for each: a read waits for a
    /// free connection rather than opening another.
    readers: Mutex<Vec<Connection>>,
    reader_permits: tokio::sync::Semaphore,
    path: std::path::PathBuf,
    /// Checkpoints run since open.
    checkpoints: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The query planner stability guarantee: a statement keeps its plan
    // whatever values are bound. Without it, a statement whose plan could
    // depend on a bound value is marked to re-prepare, and rusqlite's
    // statement cache clears the bindings of every statement it takes
    // back, so each cached statement was parsed and planned again on every
    // use (measured: a register look-up 47 us -> 7 us).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // Room for every statement of the store (the register's list has a
    // text for each combination of filters).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/decisions.sqlite`, upgrading an
    /// older schema; refuses a store written by a newer release.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Database(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("decisions.sqlite");
        let mut conn = open(&path)?;
        migrate(&mut conn, &path)?;
        let readers = (0..READERS)
            .map(|_| open(&path))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoints = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        // The writer's commits wake the checkpointer once the log is long;
        // the hook replaces SQLite's auto-checkpoint, which would run
        // inside the commit. The checkpointer stops when the writer does
        // (its hook, holding the sender, goes with the connection).
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= CHECKPOINT_PAGES {
                // Full: a checkpoint is already due.
                let _ = wake.try_send(());
            }
            Ok(())
        }))?;
        let checkpointer = open(&path)?;
        let counted = checkpoints.clone();
        std::thread::Builder::new()
            .name("decision-store-checkpoint".into())
            .spawn(move || checkpoint(checkpointer, woken, counted))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("decision-store-writer".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(readers),
            reader_permits: tokio::sync::Semaphore::new(READERS),
            path,
            checkpoints,
        })
    }

    /// Checkpoints the checkpoint thread has run since the store was
    /// opened.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits everything queued, stops the writer and waits for it.
    pub fn close(&self) {
        self.writer.lock().map(|mut w| w.take()).ok();
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }

    /// Runs `write` in the next group-committed transaction.
    async fn run(
        &self,
        write: impl FnOnce(&rusqlite::Transaction) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Run(Some(Box::new(write)), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `write` in the next group-committed transaction and returns
    /// what it found once the transaction is durable.
    async fn run_returning<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let slot = std::sync::Arc::new(Mutex::new(None));
        let out = slot.clone();
        self.run(move |tx| {
            let value = write(tx)?;
            if let Ok(mut o) = out.lock() {
                *o = Some(value);
            }
            Ok(())
        })
        .await?;
        let value = slot.lock().map_err(|_| StoreError::Closed)?.take();
        value.ok_or_else(|| StoreError::Database("a committed write left no result".into()))
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.writer.lock().map_err(|_| StoreError::Closed)?;
        guard
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a read connection, off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .reader_permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self.readers.lock().map_err(|_| StoreError::Closed)?.pop();
        let path = self.path.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            // A connection is always free under a permit; reopen only if
            // one was lost to a panicked read.
            let conn = match conn {
                Some(c) => c,
                None => open(&path)?,
            };
            let result = f(&conn);
            Ok::<_, StoreError>((conn, result))
        })
        .await
        .map_err(|e| StoreError::Database(format!("read task failed: {e}")))??;
        if let Ok(mut readers) = self.readers.lock() {
            readers.push(conn);
        }
        result
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// The checkpoint thread: a passive checkpoint (it copies what it can of
/// the log into the database without blocking the writer or readers) each
/// time the writer says the log is long.
fn checkpoint(
    conn: Connection,
    woken: Receiver<()>,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    while woken.recv().is_ok() {
        let started = Instant::now();
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => {
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("decision_store_checkpoints_total").increment(1);
                metrics::histogram!("decision_store_checkpoint_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            // The next long log tries again; the writer is not held up.
            Err(e) => tracing::warn!("WAL checkpoint failed: {e}"),
        }
    }
}

fn writer(mut conn: Connection, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        let mut rows = jobs[0].rows();
        while rows < MAX_BATCH_ROWS {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows();
                    jobs.push(job);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let started = Instant::now();
        let outcome = commit(&mut conn, &mut jobs);
        metrics::histogram!("decision_store_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("decision_store_commit_rows").record(rows as f64);
        match outcome {
            Ok(results) => {
                for (job, result) in jobs.into_iter().zip(results) {
                    match job {
                        Job::Insert(_, reply) => {
                            let _ = reply.send(result);
                        }
                        Job::Documents(_, reply) | Job::Audit(_, reply) | Job::Run(_, reply) => {
                            let _ = reply.send(result.map(|_| ()));
                        }
                    }
                }
            }
            Err(e) => {
                let message = match e {
                    StoreError::Database(m) => m,
                    other => other.to_string(),
                };
                for job in jobs {
                    match job {
                        Job::Insert(_, reply) => {
                            let _ = reply.send(Err(StoreError::Database(message.clone())));
                        }
                        Job::Documents(_, reply) | Job::Audit(_, reply) | Job::Run(_, reply) => {
                            let _ = reply.send(Err(StoreError::Database(message.clone())));
                        }
                    }
                }
            }
        }
    }
}

/// One transaction for all `jobs`, each in a savepoint of its own, so a
/// refused job (a document version that exists with other content, say)
/// fails alone and the others still commit. The result of each job, in order.
fn commit(
    conn: &mut Connection,
    jobs: &mut [Job],
) -> Result<Vec<Result<Vec<Inserted>, StoreError>>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        tx.execute_batch("SAVEPOINT job")?;
        match apply(&tx, job) {
            Ok(out) => {
                tx.execute_batch("RELEASE job")?;
                results.push(Ok(out));
            }
            Err(e) => {
                tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
                results.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

fn apply(tx: &rusqlite::Transaction, job: &mut Job) -> Result<Vec<Inserted>, StoreError> {
    match job {
        Job::Insert(records, _) => {
            let mut insert = tx.prepare_cached(
                "INSERT INTO decisions (decision_id, institution, product, request_id, request_hash, request_json,
                     outcome, decision_zstd, batch_id, recorded_at, evaluation_micros, format, precredit_json,
                     application_id, stage, routed_level, policy_set, record, request_zstd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
                 ON CONFLICT (decision_id) DO NOTHING",
            )?;
            let mut out = Vec::with_capacity(records.len());
            for p in records.iter() {
                // Format 2: the compact record, the request compressed with
                // the request dictionary, the policy's versions once per
                // policy. Format 1 (the decision JSON) as it always was.
                let r = &p.record;
                let compact = r.format >= 2;
                let request_json = if compact { "" } else { r.request_json.as_str() };
                let policy_set = match &p.policy {
                    Some(hash) => Some(policy_set(tx, hash, &r.versions)?),
                    None => None,
                };
                let changed = insert.execute(params![
                    r.decision_id,
                    r.institution,
                    r.product,
                    r.request_id,
                    if compact {
                        hash_bytes(&r.request_hash)
                    } else {
                        rusqlite::types::Value::Text(r.request_hash.clone())
                    },
                    request_json,
                    r.outcome,
                    p.decision_zstd,
                    r.batch_id,
                    r.recorded_at,
                    r.evaluation_micros as i64,
                    r.format,
                    r.precredit,
                    r.application_id,
                    r.stage,
                    r.routed_level,
                    policy_set,
                    compact.then_some(r.record.as_slice()),
                    p.request_zstd,
                ])?;
                if changed == 1 {
                    if r.routed_level.is_some() || r.application_id.is_some() {
                        reviews::on_new_decision(tx, r)?;
                    }
                    out.push(Inserted::New);
                } else {
                    let existing = select_decision(tx, &r.decision_id)?
                        .ok_or_else(|| StoreError::Database("conflicting row vanished".into()))?;
                    out.push(Inserted::Existing(Box::new(existing)));
                }
            }
            Ok(out)
        }
        Job::Documents(documents, _) => {
            for d in documents.iter() {
                let stored: Option<String> = tx
                    .prepare_cached("SELECT hash FROM policy_documents WHERE kind = ?1 AND id = ?2 AND version = ?3")?
                    .query_row(params![d.kind, d.id, d.version], |row| row.get(0))
                    .optional()?;
                if let Some(hash) = stored
                    && hash != d.hash
                {
                    return Err(StoreError::Database(format!(
                        "{} {} version {} is already stored with other content ({hash}, now {}); give the changed document a new version",
                        d.kind, d.id, d.version, d.hash
                    )));
                }
                tx.prepare_cached(
                    "INSERT INTO policy_documents (hash, kind, id, version, json, uploaded_by, uploaded_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (hash) DO NOTHING",
                )?
                .execute(params![d.hash, d.kind, d.id, d.version, d.json, d.uploaded_by, d.uploaded_at])?;
            }
            Ok(Vec::new())
        }
        Job::Run(write, _) => {
            if let Some(write) = write.take() {
                write(tx)?;
            }
            Ok(Vec::new())
        }
        Job::Audit(e, _) => {
            insert_audit(tx, e)?;
            Ok(Vec::new())
        }
    }
}

fn insert_audit(tx: &rusqlite::Transaction, e: &AuditEntry) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO audit_log (at, person, role, action, kind, id, version, hash, accepted, detail, institution)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![e.at, e.person, e.role, e.action, e.kind, e.id, e.version, e.hash, e.accepted, e.detail, e.institution])?;
    Ok(())
}

/// A format-2 request hash: `sha256:<hex>` kept as its 32 bytes (a blob
/// in the same column; anything else is kept as text).
fn hash_bytes(hash: &str) -> rusqlite::types::Value {
    match hash
        .strip_prefix("sha256:")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 32 && hex::encode(b) == hash[7..])
    {
        Some(bytes) => rusqlite::types::Value::Blob(bytes),
        None => rusqlite::types::Value::Text(hash.to_string()),
    }
}

/// A request hash as stored: 32 bytes are `sha256:<hex>`, text is itself.
fn hash_text(stored: rusqlite::types::Value) -> String {
    match stored {
        rusqlite::types::Value::Blob(b) => format!("sha256:{}", hex::encode(b)),
        rusqlite::types::Value::Text(t) => t,
        other => format!("{other:?}"),
    }
}

/// The id of the policy set `versions` (whose hash is `hash`) in
/// `policy_sets`, added when new.
fn policy_set(
    tx: &rusqlite::Transaction,
    hash: &[u8; 32],
    versions: &[decision_core::VersionRef],
) -> Result<i64, StoreError> {
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM policy_sets WHERE hash = ?1")?
        .query_row([&hash[..]], |row| row.get(0))
        .optional()?
    {
        return Ok(id);
    }
    let json = serde_json::to_string(versions)
        .map_err(|e| StoreError::Database(format!("cannot write a policy set: {e}")))?;
    tx.prepare_cached("INSERT INTO policy_sets (hash, versions_json) VALUES (?1, ?2)")?
        .execute(params![&hash[..], json])?;
    Ok(tx.last_insert_rowid())
}

fn bad_column(column: usize, e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Blob,
        e.to_string().into(),
    )
}

fn decompress(blob: &[u8]) -> Result<String, rusqlite::Error> {
    codec::decompress(blob).map_err(|e| bad_column(7, e))
}

/// A format-2 request, compressed with [`REQUEST_DICTIONARY`].
fn decompress_request(blob: &[u8]) -> Result<String, rusqlite::Error> {
    codec::decompress_request(blob).map_err(|e| bad_column(18, e))
}

fn select_decision(
    conn: &Connection,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS}
             FROM decisions LEFT JOIN policy_sets ON policy_sets.id = decisions.policy_set
             WHERE decision_id = ?1"
        ))?
        .query_row([decision_id], decision_row)
        .optional()?)
}

/// The columns [`decision_row`] reads, in its order.
const DECISION_COLUMNS: &str = "decision_id, institution, product, request_id, request_hash, request_json, outcome,
                    decision_zstd, batch_id, recorded_at, evaluation_micros, format, precredit_json,
                    application_id, stage, routed_level, record, request_zstd, versions_json, pruned_at";

fn decision_row(row: &rusqlite::Row) -> rusqlite::Result<DecisionRecord> {
    let format: u32 = row.get(11)?;
    // Pruned: the input is gone; what stays is read as it is.
    let pruned = row.get::<_, Option<String>>(19)?.is_some();
    if format >= 2 {
        let versions: Option<String> = row.get(18)?;
        return Ok(DecisionRecord {
            decision_id: row.get(0)?,
            institution: row.get(1)?,
            product: row.get(2)?,
            request_id: row.get(3)?,
            request_hash: hash_text(row.get(4)?),
            request_json: if pruned {
                String::new()
            } else {
                decompress_request(&row.get::<_, Option<Vec<u8>>>(17)?.unwrap_or_default())?
            },
            outcome: row.get(6)?,
            decision_json: String::new(),
            record: row.get::<_, Option<Vec<u8>>>(16)?.unwrap_or_default(),
            versions: serde_json::from_str(versions.as_deref().unwrap_or("[]"))
                .map_err(|e| bad_column(18, e))?,
            batch_id: row.get(8)?,
            recorded_at: row.get(9)?,
            evaluation_micros: row.get::<_, i64>(10)? as u64,
            format,
            precredit: row.get(12)?,
            application_id: row.get(13)?,
            stage: row.get(14)?,
            routed_level: row.get(15)?,
        });
    }
    Ok(DecisionRecord {
        record: Vec::new(),
        versions: Vec::new(),
        decision_id: row.get(0)?,
        institution: row.get(1)?,
        product: row.get(2)?,
        request_id: row.get(3)?,
        request_hash: row.get(4)?,
        request_json: row.get(5)?,
        outcome: row.get(6)?,
        decision_json: if pruned {
            String::new()
        } else {
            decompress(&row.get::<_, Vec<u8>>(7)?)?
        },
        batch_id: row.get(8)?,
        recorded_at: row.get(9)?,
        evaluation_micros: row.get::<_, i64>(10)? as u64,
        format: row.get(11)?,
        precredit: row.get(12)?,
        application_id: row.get(13)?,
        stage: row.get(14)?,
        routed_level: row.get(15)?,
    })
}

fn list_decisions(
    conn: &Connection,
    q: &crate::DecisionQuery,
) -> Result<Vec<DecisionRecord>, StoreError> {
    let (after_at, after_id) = match &q.after {
        Some((at, id)) => (Some(at.as_str()), Some(id.as_str())),
        None => (None, None),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DECISION_COLUMNS}
         FROM decisions LEFT JOIN policy_sets ON policy_sets.id = decisions.policy_set
         WHERE batch_id IS NULL AND recorded_at >= ?1
           AND (CASE WHEN stage = 'challenger' THEN 1 ELSE 0 END) = ?8
           AND (?2 IS NULL OR recorded_at < ?2)
           AND (?3 IS NULL OR institution = ?3)
           AND (?4 IS NULL OR product = ?4)
           AND (?5 IS NULL OR recorded_at > ?5 OR (recorded_at = ?5 AND decision_id > ?6))
         ORDER BY recorded_at, decision_id
         LIMIT ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            q.since,
            q.until,
            q.institution,
            q.product,
            after_at,
            after_id,
            i64::try_from(q.limit).unwrap_or(i64::MAX),
            i64::from(q.shadows)
        ],
        decision_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn document_row(row: &rusqlite::Row) -> rusqlite::Result<StoredDocument> {
    Ok(StoredDocument {
        hash: row.get(0)?,
        kind: row.get(1)?,
        id: row.get(2)?,
        version: row.get(3)?,
        json: row.get(4)?,
        uploaded_by: row.get(5)?,
        uploaded_at: row.get(6)?,
    })
}

fn select_document(
    conn: &Connection,
    sql: &str,
    args: &[&str],
) -> Result<Option<StoredDocument>, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(rusqlite::params_from_iter(args.iter()), document_row)
        .optional()?)
}

impl Store for SqliteStore {
    async fn insert(&self, record: DecisionRecord) -> Result<Inserted, StoreError> {
        let mut results = self.insert_many(vec![record]).await?;
        results.pop().ok_or(StoreError::Closed)
    }

    async fn insert_many(&self, records: Vec<DecisionRecord>) -> Result<Vec<Inserted>, StoreError> {
        let prepared = prepare(records)?;
        let (tx, rx) = oneshot::channel();
        self.send(Job::Insert(prepared, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn get(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let id = decision_id.to_string();
        self.read(move |c| select_decision(c, &id)).await
    }

    async fn list_decisions(
        &self,
        query: crate::DecisionQuery,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        self.read(move |c| list_decisions(c, &query)).await
    }

    async fn put_documents(&self, documents: Vec<StoredDocument>) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Documents(documents, tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn get_document(&self, hash: &str) -> Result<Option<StoredDocument>, StoreError> {
        let hash = hash.to_string();
        self.read(move |c| {
            select_document(
                c,
                "SELECT hash, kind, id, version, json, uploaded_by, uploaded_at FROM policy_documents WHERE hash = ?1",
                &[&hash],
            )
        })
        .await
    }

    async fn list_documents(
        &self,
        kind: Option<String>,
        id: Option<String>,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash, kind, id, version, json, uploaded_by, uploaded_at FROM policy_documents
                 WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR id = ?2) ORDER BY rowid",
            )?;
            let rows = stmt.query_map(params![kind, id], document_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Audit(Box::new(entry), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn list_audit(
        &self,
        limit: usize,
        institutions: Option<Vec<String>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| {
            // The scope as a JSON array (NULL: every entry), read by json_each.
            let scope = institutions.map(|list| serde_json::Value::from(list).to_string());
            let mut stmt = c.prepare_cached(
                "SELECT at, person, role, action, kind, id, version, hash, accepted, detail, institution
                 FROM audit_log
                 WHERE ?2 IS NULL OR institution IN (SELECT value FROM json_each(?2))
                 ORDER BY seq DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64, scope], |row| {
                Ok(AuditEntry {
                    at: row.get(0)?,
                    person: row.get(1)?,
                    role: row.get(2)?,
                    action: row.get(3)?,
                    kind: row.get(4)?,
                    id: row.get(5)?,
                    version: row.get(6)?,
                    hash: row.get(7)?,
                    accepted: row.get(8)?,
                    detail: row.get(9)?,
                    institution: row.get(10)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn insert_activation(&self, a: ActivationRecord) -> Result<(), StoreError> {
        self.run(move |tx| {
            tx.execute(
                "INSERT INTO activations (activation_id, institution, product, ruleset_id, ruleset_version,
                     scorecard_id, scorecard_version, effective_at, requested_by, requested_at, status,
                     approved_by, approved_at, rollback, challenger_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    a.activation_id, a.institution, a.product, a.ruleset_id, a.ruleset_version, a.scorecard_id,
                    a.scorecard_version, a.effective_at, a.requested_by, a.requested_at, a.status.as_str(), a.approved_by,
                    a.approved_at, a.rollback, challenger_json(&a)?
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn approve_activation(
        &self,
        activation_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<ActivationRecord>, StoreError> {
        let (id, by, at) = (
            activation_id.to_string(),
            approved_by.to_string(),
            approved_at.to_string(),
        );
        let changed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = changed.clone();
        self.run(move |tx| {
            // Approved late, a scheduled time that has passed becomes the
            // approval time: nothing is in force before it was approved.
            let n = tx.execute(
                "UPDATE activations SET status = 'approved', approved_by = ?2, approved_at = ?3,
                     effective_at = CASE WHEN effective_at = '' OR effective_at < ?3 THEN ?3 ELSE effective_at END
                 WHERE activation_id = ?1 AND status = 'pending'",
                params![id, by, at],
            )?;
            if n == 1 {
                // What is approved now replaces anything scheduled later for
                // the same institution and product (e.g. a rollback).
                tx.execute(
                    "UPDATE activations SET status = 'superseded'
                     WHERE status = 'approved' AND activation_id != ?1
                       AND (institution, product) = (SELECT institution, product FROM activations WHERE activation_id = ?1)
                       AND effective_at > (SELECT effective_at FROM activations WHERE activation_id = ?1)",
                    params![id],
                )?;
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            Ok(())
        })
        .await?;
        if !changed.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(self
            .list_activations()
            .await?
            .into_iter()
            .find(|a| a.activation_id == activation_id))
    }

    async fn list_activations(&self) -> Result<Vec<ActivationRecord>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT activation_id, institution, product, ruleset_id, ruleset_version, scorecard_id,
                        scorecard_version, effective_at, requested_by, requested_at, status, approved_by,
                        approved_at, rollback, challenger_json
                 FROM activations ORDER BY seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(ActivationRecord {
                    activation_id: r.get(0)?,
                    institution: r.get(1)?,
                    product: r.get(2)?,
                    ruleset_id: r.get(3)?,
                    ruleset_version: r.get(4)?,
                    scorecard_id: r.get(5)?,
                    scorecard_version: r.get(6)?,
                    effective_at: r.get(7)?,
                    requested_by: r.get(8)?,
                    requested_at: r.get(9)?,
                    status: {
                        let name: String = r.get(10)?;
                        ActivationStatus::parse(&name).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(
                                10,
                                rusqlite::types::Type::Text,
                                format!("unknown activation status `{name}`").into(),
                            )
                        })?
                    },
                    approved_by: r.get(11)?,
                    approved_at: r.get(12)?,
                    rollback: r.get(13)?,
                    challenger: r
                        .get::<_, Option<String>>(14)?
                        .map(|j| serde_json::from_str(&j))
                        .transpose()
                        .map_err(|e| bad_column(14, e))?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn put_batch(&self, batch: BatchRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(&batch)
            .map_err(|e| StoreError::Database(format!("cannot encode a batch record: {e}")))?;
        self.run(move |tx| {
            tx.execute(
                "INSERT INTO batches (batch_id, status, started_at, record_json) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (batch_id) DO UPDATE SET status = excluded.status, record_json = excluded.record_json",
                params![batch.batch_id, batch.status.as_str(), batch.started_at, json],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let batch_id = batch_id.to_string();
        self.read(move |c| {
            let json: Option<String> = c
                .prepare_cached("SELECT record_json FROM batches WHERE batch_id = ?1")?
                .query_row(params![batch_id], |row| row.get(0))
                .optional()?;
            json.map(|j| {
                serde_json::from_str(&j).map_err(|e| {
                    StoreError::Database(format!("batch record {batch_id} does not parse: {e}"))
                })
            })
            .transpose()
        })
        .await
    }

    async fn find_document(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        let (kind, id, version) = (kind.to_string(), id.to_string(), version.to_string());
        self.read(move |c| {
            select_document(
                c,
                "SELECT hash, kind, id, version, json, uploaded_by, uploaded_at FROM policy_documents WHERE kind = ?1 AND id = ?2 AND version = ?3",
                &[&kind, &id, &version],
            )
        })
        .await
    }

    async fn put_publication(&self, publication: PublicationRecord) -> Result<(), StoreError> {
        self.run(move |tx| precredit::put_publication(tx, &publication))
            .await
    }

    async fn get_publication(
        &self,
        publication_id: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        let id = publication_id.to_string();
        self.read(move |c| precredit::publication(c, &id)).await
    }

    async fn list_publications(&self) -> Result<Vec<PublicationRecord>, StoreError> {
        self.read(precredit::publications).await
    }

    async fn insert_precredits(&self, entries: Vec<PreCreditEntry>) -> Result<(), StoreError> {
        self.run(move |tx| precredit::insert_entries(tx, &entries))
            .await
    }

    async fn identify_precredits(
        &self,
        publication_id: &str,
        households: Vec<HouseholdIdentity>,
    ) -> Result<u64, StoreError> {
        let id = publication_id.to_string();
        self.run_returning(move |tx| precredit::identify(tx, &id, &households))
            .await
    }

    async fn approve_publication(
        &self,
        publication_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        let (id, by, at) = (
            publication_id.to_string(),
            approved_by.to_string(),
            approved_at.to_string(),
        );
        self.run_returning(move |tx| precredit::approve(tx, &id, &by, &at))
            .await
    }

    async fn get_precredit(&self, entry_id: &str) -> Result<Option<PreCreditEntry>, StoreError> {
        let id = entry_id.to_string();
        self.read(move |c| precredit::entry(c, &id)).await
    }

    async fn household_precredits(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        let args = [institution, product, household_id].map(str::to_string);
        self.read(move |c| precredit::entries_by(c, &args[0], &args[1], "household_id", &args[2]))
            .await
    }

    async fn identified_precredits(
        &self,
        institution: &str,
        product: &str,
        id_hash: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        let args = [institution, product, id_hash].map(str::to_string);
        self.read(move |c| precredit::entries_by(c, &args[0], &args[1], "id_hash", &args[2]))
            .await
    }

    async fn list_precredits(
        &self,
        query: PreCreditQuery,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        self.read(move |c| precredit::list(c, &query)).await
    }

    async fn get_precredit_op(
        &self,
        institution: &str,
        op_id: &str,
    ) -> Result<Option<PreCreditOp>, StoreError> {
        let (institution, op_id) = (institution.to_string(), op_id.to_string());
        self.read(move |c| precredit::op(c, &institution, &op_id))
            .await
    }

    async fn write_precredit_op(
        &self,
        op: PreCreditOp,
        expected_revision: u64,
        audit: AuditEntry,
    ) -> Result<OpWritten, StoreError> {
        self.run_returning(move |tx| precredit::write_op(tx, &op, expected_revision, &audit))
            .await
    }

    async fn get_review_case(&self, decision_id: &str) -> Result<Option<ReviewCase>, StoreError> {
        let id = decision_id.to_string();
        self.read(move |c| reviews::case(c, &id)).await
    }

    async fn list_reviews(&self, decision_id: &str) -> Result<Vec<ReviewStep>, StoreError> {
        let id = decision_id.to_string();
        self.read(move |c| reviews::steps(c, &id)).await
    }

    async fn get_review(
        &self,
        institution: &str,
        review_id: &str,
    ) -> Result<Option<ReviewStep>, StoreError> {
        let (institution, review_id) = (institution.to_string(), review_id.to_string());
        self.read(move |c| reviews::step(c, &institution, &review_id))
            .await
    }

    async fn write_review(
        &self,
        step: ReviewStep,
        case: ReviewCase,
        expected_revision: Option<u64>,
        audit: AuditEntry,
    ) -> Result<ReviewWritten, StoreError> {
        self.run_returning(move |tx| reviews::write(tx, &step, &case, expected_revision, &audit))
            .await
    }

    async fn pending_reviews(
        &self,
        institutions: Vec<String>,
        level: Option<String>,
        limit: usize,
    ) -> Result<Vec<ReviewCase>, StoreError> {
        self.read(move |c| reviews::pending(c, &institutions, level.as_deref(), limit))
            .await
    }

    async fn all_reviews(
        &self,
        institutions: Vec<String>,
    ) -> Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError> {
        self.read(move |c| reviews::all(c, &institutions)).await
    }

    async fn set_legal_hold(
        &self,
        decision_id: &str,
        hold: bool,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let id = decision_id.to_string();
        self.run_returning(move |tx| {
            let n = tx.execute(
                "UPDATE decisions SET legal_hold = ?2 WHERE decision_id = ?1 AND batch_id IS NULL",
                params![id, hold],
            )?;
            if n == 1 {
                insert_audit(tx, &audit)?;
            }
            Ok(n == 1)
        })
        .await
    }

    async fn prune(
        &self,
        before: &str,
        at: &str,
        mut audit: AuditEntry,
    ) -> Result<crate::Pruned, StoreError> {
        let (before, at) = (before.to_string(), at.to_string());
        self.run_returning(move |tx| {
            let held: i64 = tx.query_row(
                "SELECT count(*) FROM decisions
                 WHERE recorded_at < ?1 AND legal_hold != 0 AND pruned_at IS NULL AND batch_id IS NULL",
                [&before],
                |r| r.get(0),
            )?;
            let pruned = tx.execute(
                "UPDATE decisions SET request_json = '', request_zstd = NULL, decision_zstd = x'',
                     record = NULL, pruned_at = ?2
                 WHERE recorded_at < ?1 AND legal_hold = 0 AND pruned_at IS NULL AND batch_id IS NULL",
                params![before, at],
            )?;
            let done = crate::Pruned {
                pruned: pruned as u64,
                held: held as u64,
            };
            audit.detail = crate::pruned_detail(&done, &before);
            insert_audit(tx, &audit)?;
            Ok(done)
        })
        .await
    }

    async fn retention(&self, decision_id: &str) -> Result<Option<crate::Retention>, StoreError> {
        let id = decision_id.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT legal_hold, pruned_at FROM decisions WHERE decision_id = ?1 AND batch_id IS NULL",
            )?
            .query_row([&id], |r| {
                Ok(crate::Retention {
                    legal_hold: r.get::<_, i64>(0)? != 0,
                    pruned_at: r.get(1)?,
                })
            })
            .optional()?)
        })
        .await
    }

    async fn application_decisions(
        &self,
        institution: &str,
        application_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let (institution, application_id) = (institution.to_string(), application_id.to_string());
        self.read(move |c| reviews::application(c, &institution, &application_id))
            .await
    }

    async fn record_monitoring(
        &self,
        signals: Vec<crate::SignalRecord>,
        tasks: Vec<crate::TaskRecord>,
    ) -> Result<Vec<String>, StoreError> {
        self.run_returning(move |tx| monitoring::record(tx, &signals, &tasks))
            .await
    }

    async fn get_signal(&self, signal_id: &str) -> Result<Option<crate::SignalRecord>, StoreError> {
        let id = signal_id.to_string();
        self.read(move |c| monitoring::signal(c, &id)).await
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<crate::TaskRecord>, StoreError> {
        let id = task_id.to_string();
        self.read(move |c| monitoring::task(c, &id)).await
    }

    async fn list_tasks(
        &self,
        query: crate::TaskQuery,
    ) -> Result<Vec<crate::TaskRecord>, StoreError> {
        self.read(move |c| monitoring::tasks(c, &query)).await
    }

    async fn complete_task(
        &self,
        task_id: &str,
        completion: crate::TaskCompletion,
        audit: AuditEntry,
    ) -> Result<crate::TaskCompleted, StoreError> {
        let id = task_id.to_string();
        self.run_returning(move |tx| monitoring::complete(tx, &id, &completion, &audit))
            .await
    }
}

/// An activation's challenger as stored (JSON), if any.
fn challenger_json(a: &ActivationRecord) -> Result<Option<String>, StoreError> {
    a.challenger
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Database(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::REQUEST_DICTIONARY;

    #[test]
    fn the_request_dictionary_of_format_2_never_changes() {
        use sha2::Digest;
        // Format-2 requests decompress only with this exact dictionary: a
        // change would make every stored request unreadable. A new
        // dictionary is a new record format, beside this one.
        assert_eq!(
            hex::encode(sha2::Sha256::digest(REQUEST_DICTIONARY)),
            "f0de62e6b710f630112264ab17a886cbd21b7aeb610fe9eb34c59b1f99dcf199"
        );
    }

    #[test]
    fn a_request_hash_is_kept_as_its_bytes_and_read_back_as_written() {
        let hash = format!("sha256:{}", "ab".repeat(32));
        assert!(matches!(hash_bytes(&hash), rusqlite::types::Value::Blob(ref b) if b.len() == 32));
        assert_eq!(hash_text(hash_bytes(&hash)), hash);
        for odd in ["h", "sha256:AB", "sha256:zz"] {
            assert_eq!(hash_text(hash_bytes(odd)), odd);
        }
        let upper = format!("sha256:{}", "AB".repeat(32));
        assert_eq!(hash_text(hash_bytes(&upper)), upper);
    }

    fn record(id: &str, hash: &str) -> DecisionRecord {
        DecisionRecord {
            decision_id: id.into(),
            institution: "I".into(),
            product: "P".into(),
            request_id: id.into(),
            request_hash: hash.into(),
            request_json: "{}".into(),
            outcome: "APPROVE".into(),
            decision_json: "{}".into(),
            record: Vec::new(),
            versions: Vec::new(),
            batch_id: None,
            recorded_at: "2026-11-22T00:00:00Z".into(),
            evaluation_micros: 7,
            // The store's mechanics, on the decision JSON of format 1.
            format: 1,
            precredit: None,
            application_id: None,
            stage: None,
            routed_level: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_inserts_commit_together_and_duplicates_return_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.insert(record(&format!("d{i}"), "h")).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), Inserted::New);
        }
        match store.insert(record("d7", "other")).await.unwrap() {
            Inserted::Existing(r) => assert_eq!(r.request_hash, "h"),
            Inserted::New => panic!("a duplicate id must not be written twice"),
        }
        assert_eq!(
            store.get("d199").await.unwrap().unwrap(),
            record("d199", "h")
        );
        assert_eq!(store.get("nope").await.unwrap(), None);
        // A version names one content.
        let doc = |hash: &str| StoredDocument {
            hash: hash.into(),
            kind: "ruleset".into(),
            id: "r".into(),
            version: "1".into(),
            json: "{}".into(),
            uploaded_by: "tester".into(),
            uploaded_at: "2026-11-22T00:00:00Z".into(),
        };
        store.put_documents(vec![doc("sha256:a")]).await.unwrap();
        store.put_documents(vec![doc("sha256:a")]).await.unwrap();
        let e = store
            .put_documents(vec![doc("sha256:b")])
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "decision store: ruleset r version 1 is already stored with other content (sha256:a, now sha256:b); give the changed document a new version"
        );
        store.close();
        // Reopening sees everything.
        let again = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(again.get("d0").await.unwrap().unwrap().evaluation_micros, 7);
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_log_is_checkpointed_by_the_checkpoint_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.checkpoints(), 0);
        // Records that do not compress: ~4 KB each, 1,500 of them, over
        // the log length at which the checkpointer is woken.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut noise = || {
            (0..1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{:08x}", x as u32)
                })
                .collect::<String>()
        };
        for chunk in 0..15 {
            let records = (0..100)
                .map(|i| {
                    let mut r = record(&format!("c{chunk}-{i}"), "h");
                    r.decision_json = format!("{{\"noise\":\"{}\"}}", noise());
                    r
                })
                .collect();
            store.insert_many(records).await.unwrap();
        }
        let waited = std::time::Instant::now();
        while store.checkpoints() == 0 && waited.elapsed() < std::time::Duration::from_secs(30) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(store.checkpoints() >= 1, "no checkpoint ran");
        // The database file itself now holds the checkpointed pages.
        let db = std::fs::metadata(dir.path().join("decisions.sqlite")).unwrap();
        assert!(db.len() > 1 << 20, "{} bytes", db.len());
        assert_eq!(
            store.get("c14-99").await.unwrap().unwrap().request_id,
            "c14-99"
        );
    }
}
