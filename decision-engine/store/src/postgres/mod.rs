//! The PostgreSQL store: several servers (replicas) share one database.
//!
//! A bounded pool of connections (deadpool) with prepared statements
//! cached per connection; every write is one transaction that commits
//! before the call returns, so an acknowledged decision is in PostgreSQL.
//! Uniqueness (a decision id, a document version, an operation or review
//! id) is enforced by the database's constraints, so it holds across
//! replicas. While the database cannot be reached, calls fail within the
//! pool's timeouts (connect, wait, recycle) instead of hanging, and the
//! pool reconnects by itself when it returns.
//!
//! The schema and its migrations are in [`schema`]; what a record keeps is
//! the same as in SQLite (record format 2: the compact record, the request
//! compressed with the request dictionary, the policy set by id).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Timeouts,
};
use rust_decimal::Decimal;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

mod precredit;
mod reviews;
pub mod schema;

use crate::codec::{self, Prepared, prepare};
use crate::{
    ActivationRecord, ActivationStatus, AuditEntry, BatchRecord, DecisionRecord, HouseholdIdentity,
    Inserted, OpWritten, PreCreditEntry, PreCreditOp, PreCreditQuery, PublicationRecord,
    ReviewCase, ReviewStep, ReviewWritten, Store, StoreError, StoredDocument,
};

/// Connections a store keeps at most, unless the URL's settings say.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// How long a call waits for a connection, or for a new one to be made,
/// before it fails (UNAVAILABLE at the front doors).
const WAIT: Duration = Duration::from_secs(2);
/// Rows per statement of a bulk write.
const CHUNK: usize = 5000;

/// A PostgreSQL failure as a store error: the server's own message, code
/// and detail, which `tokio_postgres::Error`'s display leaves out.
pub(crate) fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!(
            "PostgreSQL {} {}: {}{}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        None => StoreError::Database(format!(
            "PostgreSQL: {e}{}",
            std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        )),
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => pg(e),
        PoolError::Timeout(kind) => StoreError::Database(format!(
            "PostgreSQL unavailable: no connection within {} ({kind:?} timed out)",
            humanize(WAIT)
        )),
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Database(format!("PostgreSQL unavailable: {other}")),
    }
}

fn humanize(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

fn bad(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{what} does not read: {e}"))
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text).map_err(|e| bad(&format!("`{text}` as a decimal"), e))
}

fn opt_decimal(text: Option<String>) -> Result<Option<Decimal>, StoreError> {
    text.as_deref().map(decimal).transpose()
}

fn to_u32(value: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|e| bad(what, e))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| bad(what, e))
}

fn to_i32(value: u32, what: &str) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::Database(format!("{what} {value} is too large")))
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Database(format!("{what} {value} is too large")))
}

/// The channel an approval notifies (LISTEN/NOTIFY).
const POLICY_CHANNEL: &str = "decision_engine_policy";

/// The PostgreSQL decision store.
pub struct PgStore {
    pool: Pool,
    /// Approvals seen on [`POLICY_CHANNEL`], from any server.
    changes: tokio::sync::broadcast::Sender<()>,
    /// The listener stops once the store is gone.
    _alive: std::sync::Arc<()>,
    /// Whether the listener is subscribed now.
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Policy set ids by hash, as stored (a set never changes once stored).
    policy_sets: Mutex<HashMap<[u8; 32], i64>>,
    url: String,
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:pass@host:port/db`,
    /// or libpq's `key=value` form), with at most `max_connections`,
    /// and brings its schema up to date.
    pub async fn connect(url: &str, max_connections: usize) -> Result<PgStore, StoreError> {
        let shown = schema::redact(url);
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Database(format!("store URL {shown} does not read: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(WAIT);
        }
        // A connection whose packets go unacknowledged this long (a
        // database host gone from the network) is dropped by the kernel,
        // so a call on it fails instead of waiting for TCP's minutes.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("decision-engine");
        }
        let listen_config = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection the server dropped is found out by the
                // failed call, and the next one gets a fresh connection.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(WAIT),
                create: Some(WAIT),
                recycle: Some(WAIT),
            })
            .build()
            .map_err(|e| StoreError::Database(format!("cannot make a pool for {shown}: {e}")))?;
        let mut client = pool.get().await.map_err(|e| match pool_error(e) {
            StoreError::Database(m) => StoreError::Database(format!("{shown}: {m}")),
            other => other,
        })?;
        schema::migrate(&mut client, url).await?;
        drop(client);
        let (changes, _) = tokio::sync::broadcast::channel(16);
        let alive = std::sync::Arc::new(());
        let listening = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(listen(
            listen_config,
            changes.clone(),
            std::sync::Arc::downgrade(&alive),
            listening.clone(),
        ));
        Ok(PgStore {
            pool,
            changes,
            _alive: alive,
            listening,
            policy_sets: Mutex::new(HashMap::new()),
            url: shown,
        })
    }

    /// Whether this store hears approvals now (its listener is subscribed;
    /// without it, activations are re-read twice a second).
    pub fn is_listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The database's URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pool: calls after this fail with [`StoreError::Closed`].
    pub fn close(&self) {
        self.pool.close();
    }

    /// One round trip: does the database answer?
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(pg)?;
        Ok(())
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// One statement's rows, prepared once per connection.
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(sql).await.map_err(pg)?;
        client.query(&stmt, params).await.map_err(pg)
    }

    /// The policy set of `versions` (hash `hash`), added when new, and
    /// whether the cache lacked it. Its id goes into the cache only once
    /// `tx` has committed (see [`PgStore::insert_prepared`]): another
    /// connection must not name a set it cannot see yet.
    async fn policy_set(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        hash: &[u8; 32],
        versions: &[decision_core::VersionRef],
    ) -> Result<(i64, bool), StoreError> {
        if let Some(id) = self.cached_set(hash) {
            return Ok((id, false));
        }
        let json = serde_json::to_string(versions)
            .map_err(|e| StoreError::Database(format!("cannot write a policy set: {e}")))?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO policy_sets (hash, versions_json) VALUES ($1, $2)
                 ON CONFLICT (hash) DO NOTHING",
            )
            .await
            .map_err(pg)?;
        tx.execute(&insert, &[&&hash[..], &json])
            .await
            .map_err(pg)?;
        let select = tx
            .prepare_cached("SELECT id FROM policy_sets WHERE hash = $1")
            .await
            .map_err(pg)?;
        let id: i64 = tx
            .query_one(&select, &[&&hash[..]])
            .await
            .map_err(pg)?
            .get(0);
        Ok((id, true))
    }

    async fn insert_prepared(&self, prepared: Vec<Prepared>) -> Result<Vec<Inserted>, StoreError> {
        // One online decision of a known policy with nothing else to write
        // (no review case): one statement, committed on its own, one round
        // trip instead of three.
        if let [p] = prepared.as_slice()
            && p.record.routed_level.is_none()
            && p.record.application_id.is_none()
            && let Some(policy_set) = match &p.policy {
                None => Some(None),
                Some(hash) => self.cached_set(hash).map(Some),
            }
        {
            let client = self.client().await?;
            let insert = client.prepare_cached(INSERT_DECISION).await.map_err(pg)?;
            let row = DecisionRow::of(p, policy_set)?;
            let changed = client.execute(&insert, &row.params()).await.map_err(pg)?;
            return Ok(vec![inserted(&client, changed, &p.record).await?]);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let insert = tx.prepare_cached(INSERT_DECISION).await.map_err(pg)?;
        let mut out = Vec::with_capacity(prepared.len());
        let mut found = Vec::new();
        for p in &prepared {
            let r = &p.record;
            let policy_set = match &p.policy {
                Some(hash) => {
                    let (id, fresh) = self.policy_set(&tx, hash, &r.versions).await?;
                    if fresh {
                        found.push((*hash, id));
                    }
                    Some(id)
                }
                None => None,
            };
            let row = DecisionRow::of(p, policy_set)?;
            let changed = tx.execute(&insert, &row.params()).await.map_err(pg)?;
            if changed == 1 && (r.routed_level.is_some() || r.application_id.is_some()) {
                reviews::on_new_decision(&tx, r).await?;
            }
            out.push(inserted(&tx, changed, r).await?);
        }
        tx.commit().await.map_err(pg)?;
        if let Ok(mut cache) = self.policy_sets.lock() {
            cache.extend(found);
        }
        Ok(out)
    }

    /// A policy set's id, if this store has seen it committed.
    fn cached_set(&self, hash: &[u8; 32]) -> Option<i64> {
        self.policy_sets
            .lock()
            .ok()
            .and_then(|m| m.get(hash).copied())
    }
}

const INSERT_DECISION: &str =
    "INSERT INTO decisions (decision_id, institution, product, request_id,
     request_hash, request_json, outcome, decision_zstd, batch_id, recorded_at, evaluation_micros,
     format, precredit_json, application_id, stage, routed_level, policy_set, record, request_zstd)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
 ON CONFLICT (decision_id) DO NOTHING";

/// What an insert found: `changed` rows were written, or the stored record
/// with the decision id is returned.
async fn inserted(
    client: &impl GenericClient,
    changed: u64,
    r: &DecisionRecord,
) -> Result<Inserted, StoreError> {
    if changed == 1 {
        return Ok(Inserted::New);
    }
    let existing = select_decision(client, &r.decision_id)
        .await?
        .ok_or_else(|| StoreError::Database("conflicting row vanished".into()))?;
    Ok(Inserted::Existing(Box::new(existing)))
}

/// The values of [`INSERT_DECISION`] that are not the record's own fields.
struct DecisionRow<'a> {
    p: &'a Prepared,
    request_json: &'a str,
    decision_zstd: Option<&'a [u8]>,
    record: Option<&'a [u8]>,
    micros: i64,
    format: i32,
    policy_set: Option<i64>,
}

impl<'a> DecisionRow<'a> {
    fn of(p: &'a Prepared, policy_set: Option<i64>) -> Result<DecisionRow<'a>, StoreError> {
        let r = &p.record;
        let compact = r.format >= 2;
        Ok(DecisionRow {
            p,
            request_json: if compact { "" } else { r.request_json.as_str() },
            decision_zstd: (!compact).then_some(p.decision_zstd.as_slice()),
            record: compact.then_some(r.record.as_slice()),
            micros: to_i64(r.evaluation_micros, "evaluation_micros")?,
            format: to_i32(r.format, "record format")?,
            policy_set,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 19] {
        let r = &self.p.record;
        [
            &r.decision_id,
            &r.institution,
            &r.product,
            &r.request_id,
            &r.request_hash,
            &self.request_json,
            &r.outcome,
            &self.decision_zstd,
            &r.batch_id,
            &r.recorded_at,
            &self.micros,
            &self.format,
            &r.precredit,
            &r.application_id,
            &r.stage,
            &r.routed_level,
            &self.policy_set,
            &self.record,
            &self.p.request_zstd,
        ]
    }
}

/// Listens on [`POLICY_CHANNEL`] over a connection of its own, outside
/// the pool, and signals `changes` for every notification; reconnects a
/// second after losing the database, and signals once more when it is back
/// (what was approved meanwhile is re-read). Ends when the store is gone.
async fn listen(
    config: tokio_postgres::Config,
    changes: tokio::sync::broadcast::Sender<()>,
    alive: std::sync::Weak<()>,
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    while alive.upgrade().is_some() {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (heard, mut hear) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                                let _ = heard.send(());
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => return,
                        }
                    }
                });
                if client
                    .batch_execute(&format!("LISTEN {POLICY_CHANNEL}"))
                    .await
                    .is_ok()
                {
                    listening.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = changes.send(());
                    loop {
                        tokio::select! {
                            heard = hear.recv() => match heard {
                                Some(()) => {
                                    let _ = changes.send(());
                                }
                                None => break,
                            },
                            // Now and then: is anyone still listening?
                            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                        }
                        if alive.upgrade().is_none() {
                            driver.abort();
                            return;
                        }
                    }
                }
                listening.store(false, std::sync::atomic::Ordering::SeqCst);
                driver.abort();
            }
            Err(e) => tracing::debug!("cannot listen for approvals: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

const DECISION_COLUMNS: &str =
    "decision_id, institution, product, request_id, request_hash, request_json,
     outcome, decision_zstd, batch_id, recorded_at, evaluation_micros, format, precredit_json,
     application_id, stage, routed_level, record, request_zstd, versions_json, pruned_at";

async fn select_decision(
    client: &impl GenericClient,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {DECISION_COLUMNS}
             FROM decisions LEFT JOIN policy_sets ON policy_sets.id = decisions.policy_set
             WHERE decision_id = $1"
        ))
        .await
        .map_err(pg)?;
    client
        .query_opt(&stmt, &[&decision_id])
        .await
        .map_err(pg)?
        .map(|row| decision_row(&row))
        .transpose()
}

fn decision_row(row: &tokio_postgres::Row) -> Result<DecisionRecord, StoreError> {
    let decision_id: String = row.get(0);
    let format = to_u32(row.get(11), "record format")?;
    let what = |part: &str| format!("decision {decision_id}'s {part}");
    let compact = format >= 2;
    // Pruned: the input is gone; what stays is read as it is.
    let pruned = row.get::<_, Option<String>>(19).is_some();
    let (request_json, decision_json, record, versions) = if pruned {
        let versions: Option<String> = row.get(18);
        (
            String::new(),
            String::new(),
            Vec::new(),
            serde_json::from_str(versions.as_deref().unwrap_or("[]"))
                .map_err(|e| bad(&what("policy set"), e))?,
        )
    } else if compact {
        let request: Option<Vec<u8>> = row.get(17);
        let versions: Option<String> = row.get(18);
        (
            codec::decompress_request(&request.unwrap_or_default())
                .map_err(|e| bad(&what("request"), e))?,
            String::new(),
            row.get::<_, Option<Vec<u8>>>(16).unwrap_or_default(),
            serde_json::from_str(versions.as_deref().unwrap_or("[]"))
                .map_err(|e| bad(&what("policy set"), e))?,
        )
    } else {
        let decision: Option<Vec<u8>> = row.get(7);
        (
            row.get(5),
            codec::decompress(&decision.unwrap_or_default())
                .map_err(|e| bad(&what("decision"), e))?,
            Vec::new(),
            Vec::new(),
        )
    };
    Ok(DecisionRecord {
        institution: row.get(1),
        product: row.get(2),
        request_id: row.get(3),
        request_hash: row.get(4),
        request_json,
        outcome: row.get(6),
        decision_json,
        record,
        versions,
        batch_id: row.get(8),
        recorded_at: row.get(9),
        evaluation_micros: to_u64(row.get(10), "evaluation_micros")?,
        format,
        precredit: row.get(12),
        application_id: row.get(13),
        stage: row.get(14),
        routed_level: row.get(15),
        decision_id,
    })
}

const DOCUMENT_COLUMNS: &str = "hash, kind, id, version, json, uploaded_by, uploaded_at";

fn document_row(row: &tokio_postgres::Row) -> StoredDocument {
    StoredDocument {
        hash: row.get(0),
        kind: row.get(1),
        id: row.get(2),
        version: row.get(3),
        json: row.get(4),
        uploaded_by: row.get(5),
        uploaded_at: row.get(6),
    }
}

const ACTIVATION_COLUMNS: &str = "activation_id, institution, product, ruleset_id, ruleset_version,
     scorecard_id, scorecard_version, effective_at, requested_by, requested_at, status, approved_by,
     approved_at, rollback, challenger_json";

fn activation_row(r: &tokio_postgres::Row) -> Result<ActivationRecord, StoreError> {
    let status: String = r.get(10);
    Ok(ActivationRecord {
        activation_id: r.get(0),
        institution: r.get(1),
        product: r.get(2),
        ruleset_id: r.get(3),
        ruleset_version: r.get(4),
        scorecard_id: r.get(5),
        scorecard_version: r.get(6),
        effective_at: r.get(7),
        requested_by: r.get(8),
        requested_at: r.get(9),
        status: ActivationStatus::parse(&status)
            .ok_or_else(|| StoreError::Database(format!("unknown activation status `{status}`")))?,
        approved_by: r.get(11),
        approved_at: r.get(12),
        rollback: r.get(13),
        challenger: r
            .get::<_, Option<String>>(14)
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|e| bad("an activation's challenger", e))?,
    })
}

pub(crate) async fn insert_audit(
    client: &impl GenericClient,
    e: &AuditEntry,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO audit_log (at, person, role, action, kind, id, version, hash, accepted, detail, institution)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await
        .map_err(pg)?;
    client
        .execute(
            &stmt,
            &[
                &e.at,
                &e.person,
                &e.role,
                &e.action,
                &e.kind,
                &e.id,
                &e.version,
                &e.hash,
                &e.accepted,
                &e.detail,
                &e.institution,
            ],
        )
        .await
        .map_err(pg)?;
    Ok(())
}

impl Store for PgStore {
    async fn insert(&self, record: DecisionRecord) -> Result<Inserted, StoreError> {
        let mut results = self.insert_many(vec![record]).await?;
        results.pop().ok_or(StoreError::Closed)
    }

    async fn insert_many(&self, records: Vec<DecisionRecord>) -> Result<Vec<Inserted>, StoreError> {
        let prepared = prepare(records)?;
        self.insert_prepared(prepared).await
    }

    async fn get(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let client = self.client().await?;
        select_decision(&client, decision_id).await
    }

    async fn list_decisions(
        &self,
        q: crate::DecisionQuery,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {DECISION_COLUMNS}
                 FROM decisions LEFT JOIN policy_sets ON policy_sets.id = decisions.policy_set
                 WHERE batch_id IS NULL AND recorded_at >= $1
                   AND (stage IS NOT DISTINCT FROM 'challenger') = $8
                   AND ($2::TEXT IS NULL OR recorded_at < $2)
                   AND ($3::TEXT IS NULL OR institution = $3)
                   AND ($4::TEXT IS NULL OR product = $4)
                   AND ($5::TEXT IS NULL OR (recorded_at, decision_id) > ($5, $6::TEXT))
                 ORDER BY recorded_at, decision_id
                 LIMIT $7"
            ))
            .await
            .map_err(pg)?;
        let (after_at, after_id) = match &q.after {
            Some((at, id)) => (Some(at.as_str()), Some(id.as_str())),
            None => (None, None),
        };
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        client
            .query(
                &stmt,
                &[
                    &q.since,
                    &q.until,
                    &q.institution,
                    &q.product,
                    &after_at,
                    &after_id,
                    &limit,
                    &q.shadows,
                ],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(decision_row)
            .collect()
    }

    async fn put_documents(&self, documents: Vec<StoredDocument>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let find = tx
            .prepare_cached(
                "SELECT hash FROM policy_documents WHERE kind = $1 AND id = $2 AND version = $3",
            )
            .await
            .map_err(pg)?;
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO policy_documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (hash) DO NOTHING"
            ))
            .await
            .map_err(pg)?;
        let other_content = |d: &StoredDocument, hash: &str| {
            StoreError::Database(format!(
                "{} {} version {} is already stored with other content ({hash}, now {}); give the changed document a new version",
                d.kind, d.id, d.version, d.hash
            ))
        };
        for d in &documents {
            if let Some(row) = tx
                .query_opt(&find, &[&d.kind, &d.id, &d.version])
                .await
                .map_err(pg)?
            {
                let hash: String = row.get(0);
                if hash != d.hash {
                    return Err(other_content(d, &hash));
                }
            }
            let written = tx
                .execute(
                    &insert,
                    &[
                        &d.hash,
                        &d.kind,
                        &d.id,
                        &d.version,
                        &d.json,
                        &d.uploaded_by,
                        &d.uploaded_at,
                    ],
                )
                .await;
            match written {
                Ok(_) => {}
                // Another replica stored this version with other content
                // since the check above.
                Err(e) if is_unique_violation(&e) => {
                    return Err(other_content(d, "stored by another server just now"));
                }
                Err(e) => return Err(pg(e)),
            }
        }
        tx.commit().await.map_err(pg)
    }

    async fn get_document(&self, hash: &str) -> Result<Option<StoredDocument>, StoreError> {
        let rows = self
            .rows(
                &format!("SELECT {DOCUMENT_COLUMNS} FROM policy_documents WHERE hash = $1"),
                &[&hash],
            )
            .await?;
        Ok(rows.first().map(document_row))
    }

    async fn list_documents(
        &self,
        kind: Option<String>,
        id: Option<String>,
    ) -> Result<Vec<StoredDocument>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM policy_documents
                     WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR id = $2)
                     ORDER BY seq"
                ),
                &[&kind, &id],
            )
            .await?;
        Ok(rows.iter().map(document_row).collect())
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let client = self.client().await?;
        insert_audit(&client, &entry).await
    }

    async fn list_audit(
        &self,
        limit: usize,
        institutions: Option<Vec<String>>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .rows(
                "SELECT at, person, role, action, kind, id, version, hash, accepted, detail, institution
                 FROM audit_log WHERE $2::text[] IS NULL OR institution = ANY($2)
                 ORDER BY seq DESC LIMIT $1",
                &[&limit, &institutions],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                at: row.get(0),
                person: row.get(1),
                role: row.get(2),
                action: row.get(3),
                kind: row.get(4),
                id: row.get(5),
                version: row.get(6),
                hash: row.get(7),
                accepted: row.get(8),
                detail: row.get(9),
                institution: row.get(10),
            })
            .collect())
    }

    async fn insert_activation(&self, a: ActivationRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "INSERT INTO activations ({ACTIVATION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .await
            .map_err(pg)?;
        client
            .execute(
                &stmt,
                &[
                    &a.activation_id,
                    &a.institution,
                    &a.product,
                    &a.ruleset_id,
                    &a.ruleset_version,
                    &a.scorecard_id,
                    &a.scorecard_version,
                    &a.effective_at,
                    &a.requested_by,
                    &a.requested_at,
                    &a.status.as_str(),
                    &a.approved_by,
                    &a.approved_at,
                    &a.rollback,
                    &a.challenger
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|e| StoreError::Database(e.to_string()))?,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn approve_activation(
        &self,
        activation_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<ActivationRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        // Approved late, a scheduled time that has passed becomes the
        // approval time: nothing is in force before it was approved.
        let approved = tx
            .query_opt(
                &format!(
                    "UPDATE activations SET status = 'approved', approved_by = $2, approved_at = $3,
                         effective_at = CASE WHEN effective_at = '' OR effective_at < $3 THEN $3
                                             ELSE effective_at END
                     WHERE activation_id = $1 AND status = 'pending'
                     RETURNING {ACTIVATION_COLUMNS}"
                ),
                &[&activation_id, &approved_by, &approved_at],
            )
            .await
            .map_err(pg)?;
        let Some(row) = approved else {
            return Ok(None);
        };
        let record = activation_row(&row)?;
        // What is approved now replaces anything scheduled later for the
        // same institution and product (e.g. a rollback).
        tx.execute(
            "UPDATE activations SET status = 'superseded'
             WHERE status = 'approved' AND activation_id != $1
               AND institution = $2 AND product = $3 AND effective_at > $4",
            &[
                &activation_id,
                &record.institution,
                &record.product,
                &record.effective_at,
            ],
        )
        .await
        .map_err(pg)?;
        // Every server listening drops its cached activations at once
        // (delivered when this commits).
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&POLICY_CHANNEL, &activation_id],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(Some(record))
    }

    fn policy_changes(&self) -> Option<tokio::sync::broadcast::Receiver<()>> {
        Some(self.changes.subscribe())
    }

    async fn list_activations(&self) -> Result<Vec<ActivationRecord>, StoreError> {
        let rows = self
            .rows(
                &format!("SELECT {ACTIVATION_COLUMNS} FROM activations ORDER BY seq"),
                &[],
            )
            .await?;
        rows.iter().map(activation_row).collect()
    }

    async fn put_batch(&self, batch: BatchRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(&batch)
            .map_err(|e| StoreError::Database(format!("cannot encode a batch record: {e}")))?;
        self.rows(
            "INSERT INTO batches (batch_id, status, started_at, record_json) VALUES ($1, $2, $3, $4)
             ON CONFLICT (batch_id) DO UPDATE SET status = excluded.status, record_json = excluded.record_json",
            &[&batch.batch_id, &batch.status.as_str(), &batch.started_at, &json],
        )
        .await?;
        Ok(())
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT record_json FROM batches WHERE batch_id = $1",
                &[&batch_id],
            )
            .await?;
        rows.first()
            .map(|row| {
                serde_json::from_str(row.get(0)).map_err(|e| {
                    StoreError::Database(format!("batch record {batch_id} does not parse: {e}"))
                })
            })
            .transpose()
    }

    async fn find_document(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<StoredDocument>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM policy_documents
                     WHERE kind = $1 AND id = $2 AND version = $3"
                ),
                &[&kind, &id, &version],
            )
            .await?;
        Ok(rows.first().map(document_row))
    }

    async fn put_publication(&self, publication: PublicationRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        precredit::put_publication(&client, &publication).await
    }

    async fn get_publication(
        &self,
        publication_id: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        let client = self.client().await?;
        precredit::publication(&client, publication_id).await
    }

    async fn list_publications(&self) -> Result<Vec<PublicationRecord>, StoreError> {
        let client = self.client().await?;
        precredit::publications(&client).await
    }

    async fn insert_precredits(&self, entries: Vec<PreCreditEntry>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        precredit::insert_entries(&mut client, &entries).await
    }

    async fn identify_precredits(
        &self,
        publication_id: &str,
        households: Vec<HouseholdIdentity>,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        precredit::identify(&mut client, publication_id, &households).await
    }

    async fn approve_publication(
        &self,
        publication_id: &str,
        approved_by: &str,
        approved_at: &str,
    ) -> Result<Option<PublicationRecord>, StoreError> {
        let mut client = self.client().await?;
        precredit::approve(&mut client, publication_id, approved_by, approved_at).await
    }

    async fn get_precredit(&self, entry_id: &str) -> Result<Option<PreCreditEntry>, StoreError> {
        let client = self.client().await?;
        precredit::entry(&client, entry_id).await
    }

    async fn household_precredits(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        let client = self.client().await?;
        precredit::entries_by(&client, institution, product, "household_id", household_id).await
    }

    async fn identified_precredits(
        &self,
        institution: &str,
        product: &str,
        id_hash: &str,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        let client = self.client().await?;
        precredit::entries_by(&client, institution, product, "id_hash", id_hash).await
    }

    async fn list_precredits(
        &self,
        query: PreCreditQuery,
    ) -> Result<Vec<PreCreditEntry>, StoreError> {
        let client = self.client().await?;
        precredit::list(&client, &query).await
    }

    async fn get_precredit_op(
        &self,
        institution: &str,
        op_id: &str,
    ) -> Result<Option<PreCreditOp>, StoreError> {
        let client = self.client().await?;
        precredit::op(&client, institution, op_id).await
    }

    async fn write_precredit_op(
        &self,
        op: PreCreditOp,
        expected_revision: u64,
        audit: AuditEntry,
    ) -> Result<OpWritten, StoreError> {
        let mut client = self.client().await?;
        precredit::write_op(&mut client, &op, expected_revision, &audit).await
    }

    async fn get_review_case(&self, decision_id: &str) -> Result<Option<ReviewCase>, StoreError> {
        let client = self.client().await?;
        reviews::case(&client, decision_id).await
    }

    async fn list_reviews(&self, decision_id: &str) -> Result<Vec<ReviewStep>, StoreError> {
        let client = self.client().await?;
        reviews::steps(&client, decision_id).await
    }

    async fn get_review(
        &self,
        institution: &str,
        review_id: &str,
    ) -> Result<Option<ReviewStep>, StoreError> {
        let client = self.client().await?;
        reviews::step(&client, institution, review_id).await
    }

    async fn write_review(
        &self,
        step: ReviewStep,
        case: ReviewCase,
        expected_revision: Option<u64>,
        audit: AuditEntry,
    ) -> Result<ReviewWritten, StoreError> {
        let mut client = self.client().await?;
        reviews::write(&mut client, &step, &case, expected_revision, &audit).await
    }

    async fn pending_reviews(
        &self,
        institutions: Vec<String>,
        level: Option<String>,
        limit: usize,
    ) -> Result<Vec<ReviewCase>, StoreError> {
        let client = self.client().await?;
        reviews::pending(&client, &institutions, level.as_deref(), limit).await
    }

    async fn all_reviews(
        &self,
        institutions: Vec<String>,
    ) -> Result<(Vec<ReviewCase>, Vec<ReviewStep>), StoreError> {
        let client = self.client().await?;
        reviews::all(&client, &institutions).await
    }

    async fn set_legal_hold(
        &self,
        decision_id: &str,
        hold: bool,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let n = tx
            .execute(
                "UPDATE decisions SET legal_hold = $2 WHERE decision_id = $1 AND batch_id IS NULL",
                &[&decision_id, &hold],
            )
            .await
            .map_err(pg)?;
        if n == 1 {
            insert_audit(&tx, &audit).await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(n == 1)
    }

    async fn prune(
        &self,
        before: &str,
        at: &str,
        mut audit: AuditEntry,
    ) -> Result<crate::Pruned, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let held: i64 = tx
            .query_one(
                "SELECT count(*) FROM decisions
                 WHERE recorded_at < $1 AND legal_hold AND pruned_at IS NULL AND batch_id IS NULL",
                &[&before],
            )
            .await
            .map_err(pg)?
            .get(0);
        let pruned = tx
            .execute(
                "UPDATE decisions SET request_json = '', request_zstd = NULL, decision_zstd = NULL,
                     record = NULL, pruned_at = $2
                 WHERE recorded_at < $1 AND NOT legal_hold AND pruned_at IS NULL AND batch_id IS NULL",
                &[&before, &at],
            )
            .await
            .map_err(pg)?;
        let done = crate::Pruned {
            pruned,
            held: to_u64(held, "held decisions")?,
        };
        audit.detail = crate::pruned_detail(&done, before);
        insert_audit(&tx, &audit).await?;
        tx.commit().await.map_err(pg)?;
        Ok(done)
    }

    async fn retention(&self, decision_id: &str) -> Result<Option<crate::Retention>, StoreError> {
        let rows = self
            .rows(
                "SELECT legal_hold, pruned_at FROM decisions WHERE decision_id = $1 AND batch_id IS NULL",
                &[&decision_id],
            )
            .await?;
        Ok(rows.first().map(|r| crate::Retention {
            legal_hold: r.get(0),
            pruned_at: r.get(1),
        }))
    }

    async fn application_decisions(
        &self,
        institution: &str,
        application_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .rows(
                "SELECT decision_id FROM decisions WHERE institution = $1 AND application_id = $2
                 ORDER BY recorded_at, seq",
                &[&institution, &application_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn record_monitoring(
        &self,
        signals: Vec<crate::SignalRecord>,
        tasks: Vec<crate::TaskRecord>,
    ) -> Result<Vec<String>, StoreError> {
        use crate::monitoring::encode;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let insert_signal = tx
            .prepare_cached(
                "INSERT INTO monitor_signals (signal_id, institution, loan_id, as_of, severity, record_json)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg)?;
        for s in &signals {
            let json = encode("signal", s)?;
            tx.execute(
                &insert_signal,
                &[
                    &s.signal_id,
                    &s.institution,
                    &s.loan_id,
                    &s.as_of,
                    &s.severity,
                    &json,
                ],
            )
            .await
            .map_err(pg)?;
        }
        let insert_task = tx
            .prepare_cached(
                "INSERT INTO monitor_tasks (task_id, institution, branch, loan_id, rule_id, status, due_on, record_json)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg)?;
        let mut created = Vec::new();
        for t in &tasks {
            let json = encode("task", t)?;
            let n = tx
                .execute(
                    &insert_task,
                    &[
                        &t.task_id,
                        &t.institution,
                        &t.branch,
                        &t.loan_id,
                        &t.rule_id,
                        &t.status.as_str(),
                        &t.due_on,
                        &json,
                    ],
                )
                .await
                .map_err(pg)?;
            if n == 1 {
                created.push(t.task_id.clone());
            }
        }
        tx.commit().await.map_err(pg)?;
        Ok(created)
    }

    async fn get_signal(&self, signal_id: &str) -> Result<Option<crate::SignalRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT record_json FROM monitor_signals WHERE signal_id = $1",
                &[&signal_id],
            )
            .await?;
        rows.first()
            .map(|r| crate::monitoring::decode("signal", signal_id, r.get(0)))
            .transpose()
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<crate::TaskRecord>, StoreError> {
        let rows = self
            .rows(
                "SELECT record_json FROM monitor_tasks WHERE task_id = $1",
                &[&task_id],
            )
            .await?;
        rows.first()
            .map(|r| crate::monitoring::decode("task", task_id, r.get(0)))
            .transpose()
    }

    async fn list_tasks(
        &self,
        query: crate::TaskQuery,
    ) -> Result<Vec<crate::TaskRecord>, StoreError> {
        let status = query.status.map(crate::TaskStatus::as_str);
        let rows = self
            .rows(
                "SELECT task_id, record_json FROM monitor_tasks
                 WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR branch = $2)
                   AND ($3::text IS NULL OR loan_id = $3) AND ($4::text IS NULL OR due_on < $4)
                   AND ($5::text IS NULL OR (due_on, task_id) > ($5, $6))
                 ORDER BY due_on, task_id",
                &[
                    &status,
                    &query.branch,
                    &query.loan_id,
                    &query.due_before,
                    &query.after.as_ref().map(|a| a.0.as_str()),
                    &query.after.as_ref().map(|a| a.1.as_str()),
                ],
            )
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let t: crate::TaskRecord = crate::monitoring::decode("task", r.get(0), r.get(1))?;
            if query.matches(&t) {
                out.push(t);
                if query.limit > 0 && out.len() == query.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    async fn complete_task(
        &self,
        task_id: &str,
        completion: crate::TaskCompletion,
        audit: AuditEntry,
    ) -> Result<crate::TaskCompleted, StoreError> {
        use crate::{TaskCompleted, TaskRecord, TaskStatus};
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg)?;
        let rows = tx
            .query(
                "SELECT record_json FROM monitor_tasks WHERE task_id = $1 FOR UPDATE",
                &[&task_id],
            )
            .await
            .map_err(pg)?;
        let Some(row) = rows.first() else {
            return Ok(TaskCompleted::NotFound);
        };
        let mut t: TaskRecord = crate::monitoring::decode("task", task_id, row.get(0))?;
        if t.status == TaskStatus::Completed {
            return Ok(TaskCompleted::AlreadyCompleted(Box::new(t)));
        }
        t.status = TaskStatus::Completed;
        t.completion = Some(completion);
        let json = crate::monitoring::encode("task", &t)?;
        tx.execute(
            "UPDATE monitor_tasks SET status = 'completed', record_json = $2 WHERE task_id = $1",
            &[&task_id, &json],
        )
        .await
        .map_err(pg)?;
        insert_audit(&tx, &audit).await?;
        tx.commit().await.map_err(pg)?;
        Ok(TaskCompleted::Done(Box::new(t)))
    }
}
