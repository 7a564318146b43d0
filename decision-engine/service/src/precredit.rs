//! The pre-credit register (授信名单): a finished batch run published as
//! the pre-credits of its institution and product, approved by a second
//! person before it is live; then each household's entry is signed, drawn,
//! repaid or revoked, every change an operation with the caller's id
//! (idempotent), durable and audited before the reply.
//!
//! Statuses: `offered` (APPROVE) -> `signed` -> `drawn` (revolving: repaid
//! amounts may be drawn again, never more than the signed limit), and
//! `revoked` (with a reason). `referred` entries wait for a person's review
//! and `declined` ones are never offered; a newer approved publication
//! supersedes the entries of the same households that are not under
//! contract. An entry past its `valid_until` (a date in China Standard
//! Time, inclusive) is expired: it can no longer be signed or drawn, and
//! what is outstanding can still be repaid.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{FixedOffset, NaiveDate};
use decision_core::{Decision, Options, Outcome, Policy, Reason, Request, content_hash, render};
use decision_store::traces::{FRAME_ROWS, Frame, TraceReader};
use decision_store::{
    AuditEntry, BatchRecord, BatchStatus, HouseholdIdentity, OpWritten, PRECREDIT_FORMAT,
    PreCreditEntry, PreCreditOp, PreCreditQuery, PreCreditStatus, PublicationRecord,
    PublicationStatus, Store, StoreError,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::{Bearer, Principal, Role, Tokens};
use crate::find::batch_decision_id;
use crate::identity::IdKey;
use crate::policy::compile_stored;
use crate::{ServiceError, clock};

/// Entries written per durable step while publishing.
const CHUNK: usize = 4096;
/// The longest validity a publication may give (three years).
const MAX_VALID_DAYS: i64 = 3 * 366;
/// The most entries a page of `list` holds (a page stays well under the
/// server's 1 MiB message limit).
pub const MAX_PAGE: usize = 1000;
/// The service's own operation ids (a flag by an online decision) start
/// with this; callers' may not.
const FLAG_PREFIX: &str = "flag:";
/// Tries of an operation whose entry changed under it.
const TRIES: usize = 32;

/// China Standard Time: the zone of `valid_until` dates.
fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The date (China Standard Time) at `at`.
pub fn date_at(at: SystemTime) -> NaiveDate {
    chrono::DateTime::<chrono::Utc>::from(at)
        .with_timezone(&cst())
        .date_naive()
}

fn parse_date(field: &str, text: &str) -> Result<NaiveDate, ServiceError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        ServiceError::field(
            field,
            format!("expected a date as YYYY-MM-DD, such as 2027-06-30, found `{text}` ({e})"),
        )
    })
}

/// An amount of yuan: positive, at most two decimals.
fn parse_amount(field: &str, text: &str) -> Result<Decimal, ServiceError> {
    let amount: Decimal = text.trim().parse().map_err(|_| {
        ServiceError::field(
            field,
            format!("expected an amount of yuan such as 5000.00, found `{text}`"),
        )
    })?;
    if amount <= Decimal::ZERO {
        return Err(ServiceError::field(
            field,
            format!("expected an amount above 0, found {amount}"),
        ));
    }
    if amount.normalize().scale() > 2 {
        return Err(ServiceError::field(
            field,
            format!("expected at most two decimals (fen), found {amount}"),
        ));
    }
    Ok(amount)
}

/// A publication request.
#[derive(Clone, Debug)]
pub struct Publish {
    pub batch_id: String,
    /// `YYYY-MM-DD`, the last day entries can be signed or drawn on.
    pub valid_until: String,
    /// A CSV of the bank's households (`household_id`, and optionally
    /// `national_id` and `branch`), read by the server.
    pub households: Option<PathBuf>,
}

/// An operation on an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// The contract is signed for `signed_limit` (at most the pre-credit).
    Sign {
        signed_limit: String,
        contract_id: String,
    },
    Drawdown {
        amount: String,
    },
    Repayment {
        amount: String,
    },
    Revoke {
        reason: String,
    },
    /// An officer reviewed a flag (an online decline) and keeps the entry.
    ClearFlag {
        note: String,
    },
}

impl Operation {
    fn kind(&self) -> &'static str {
        match self {
            Operation::Sign { .. } => "sign",
            Operation::Drawdown { .. } => "drawdown",
            Operation::Repayment { .. } => "repayment",
            Operation::Revoke { .. } => "revoke",
            Operation::ClearFlag { .. } => "clear_flag",
        }
    }

    fn roles(&self) -> &'static [Role] {
        match self {
            Operation::Revoke { .. } | Operation::ClearFlag { .. } => &[Role::Officer],
            _ => &[Role::Client, Role::Officer],
        }
    }
}

/// An entry as a caller sees it: with what may be drawn and whether it has
/// expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    pub entry: PreCreditEntry,
    pub available: Decimal,
    pub expired: bool,
}

/// Whether `entry` is past its last day (an unreadable date, written by
/// nothing but a damaged store, counts as past).
fn expired(entry: &PreCreditEntry, today: NaiveDate) -> bool {
    NaiveDate::parse_from_str(&entry.valid_until, "%Y-%m-%d").map_or(true, |until| today > until)
}

/// The audit entry of an operation, written in the same transaction.
fn audit_of(op: &PreCreditOp, role: &str) -> AuditEntry {
    AuditEntry {
        at: op.at.clone(),
        person: op.person.clone(),
        role: role.to_string(),
        action: op.kind.clone(),
        kind: "precredit".into(),
        id: op.entry_id.clone(),
        version: op.op_id.clone(),
        hash: String::new(),
        accepted: true,
        detail: op.detail.clone(),
        institution: op.institution.clone(),
    }
}

impl EntryView {
    fn new(entry: PreCreditEntry, today: NaiveDate) -> EntryView {
        let expired = expired(&entry, today);
        let available = if expired || entry.status == PreCreditStatus::Revoked {
            Decimal::ZERO
        } else {
            entry.available()
        };
        EntryView {
            entry,
            available,
            expired,
        }
    }
}

/// What an operation returned.
#[derive(Clone, Debug)]
pub struct Operated {
    pub entry: EntryView,
    /// A retry answered with the first answer.
    pub idempotent_replay: bool,
}

/// The pre-credit an online decision met, kept with the decision record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCreditLink {
    pub entry_id: String,
    pub status: PreCreditStatus,
    pub limit: Decimal,
    pub valid_until: String,
    pub expired: bool,
    /// The online decision declined the household: the entry is flagged for
    /// revocation review.
    pub flagged_for_review: bool,
    /// The online limit was above the pre-credited one: referred.
    pub referred_above_precredit: bool,
}

/// The code of the reason a decision is referred above its pre-credit.
pub const ABOVE_PRECREDIT: &str = "PRECREDIT_LIMIT_EXCEEDED";

impl PreCreditLink {
    /// The decision as the caller sees it: an online limit above the
    /// pre-credited one is never approved without a person (REFER).
    pub fn apply(&self, decision: &mut Decision) {
        if self.referred_above_precredit && decision.decision == Outcome::Approve {
            decision.decision = Outcome::Refer;
            decision.reasons.insert(
                0,
                Reason {
                    code: ABOVE_PRECREDIT.into(),
                    message_zh: format!(
                        "线上额度{}元高于预授信额度{}元(授信名单{}),需人工审查",
                        decision.limit, self.limit, self.entry_id
                    ),
                    message_en: format!(
                        "the online limit {} is above the pre-credited {} (entry {}): a person must review it",
                        decision.limit, self.limit, self.entry_id
                    ),
                    source: format!("precredit:{}", self.entry_id),
                },
            );
        }
    }

    /// The same sentence in Chinese.
    pub fn describe_zh(&self) -> String {
        let mut s = format!(
            "预授信{}(状态{},额度{}元,有效期至{}{})",
            self.entry_id,
            self.status,
            self.limit,
            self.valid_until,
            if self.expired { ",已过期" } else { "" }
        );
        if self.flagged_for_review {
            s.push_str(":线上决策拒绝,已标记待复核是否撤销");
        }
        if self.referred_above_precredit {
            s.push_str(":线上额度高于预授信额度,转人工审查");
        }
        s
    }

    /// One sentence for the reply and `explain`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "pre-credit {} ({}, limit {}, valid until {}{})",
            self.entry_id,
            self.status,
            self.limit,
            self.valid_until,
            if self.expired { ", expired" } else { "" }
        );
        if self.flagged_for_review {
            s.push_str(": flagged for revocation review, the online decision declined");
        }
        if self.referred_above_precredit {
            s.push_str(": referred, the online limit is above the pre-credit");
        }
        s
    }
}

/// The light reading of a trace line that publishing needs.
#[derive(Deserialize)]
struct Row {
    row: u64,
    household_id: String,
    #[serde(default)]
    village_code: String,
    #[serde(default)]
    decision: Option<RowDecision>,
}

#[derive(Deserialize)]
struct RowDecision {
    decision_id: String,
    decision: Outcome,
    score: Decimal,
    grade: String,
    limit: Decimal,
    annual_rate: Option<Decimal>,
}

/// A run's trace rows read as what publishing needs.
struct RunRows {
    /// The run's policy, or why it cannot be compiled.
    policy: Result<Arc<Policy>, String>,
    institution: String,
    product: String,
    batch_hex: String,
}

impl RunRows {
    /// Appends a frame's rows: a format-1 line as written; a format-2 row
    /// rendered from its record and request (every recorded fact checked).
    fn rows(&self, frame: Frame, out: &mut Vec<Row>) -> Result<(), String> {
        match frame {
            Frame::Lines(_) => {
                for line in frame.json_lines::<Row>() {
                    out.push(line?);
                }
            }
            Frame::Rows(rows) => {
                for row in rows {
                    let decision =
                        match (&row.record, row.request(&self.institution, &self.product)) {
                            (Some(bytes), Some(request)) => {
                                Some(self.render(row.row, bytes, &request)?)
                            }
                            _ => None,
                        };
                    out.push(Row {
                        row: row.row,
                        household_id: row.household_id,
                        village_code: row.village_code,
                        decision,
                    });
                }
            }
        }
        Ok(())
    }

    fn render(&self, row: u64, bytes: &[u8], request: &Request) -> Result<RowDecision, String> {
        let policy = self.policy.as_ref().map_err(|e| {
            format!("the run's policy is needed to read its decisions and cannot be compiled: {e}")
        })?;
        let damaged = |e: String| format!("the decision of row {row} cannot be read: {e}");
        let record = decision_store::compact::decode(bytes, policy.rules.len())
            .map_err(|e| damaged(e.to_string()))?;
        let d = render(policy, request, &record, Options { trace: false })
            .map_err(|e| damaged(e.to_string()))?;
        Ok(RowDecision {
            decision_id: batch_decision_id(&self.batch_hex, row),
            decision: d.decision,
            score: d.score,
            grade: d.grade,
            limit: d.limit,
            annual_rate: d.annual_rate,
        })
    }
}

/// The register's use cases over a store `S`.
pub struct PreCredits<S> {
    store: Arc<S>,
    tokens: Arc<Tokens>,
    id_key: Option<Arc<IdKey>>,
    /// The only directory households files are read from.
    import_dir: Option<PathBuf>,
}

fn unavailable(e: StoreError) -> ServiceError {
    ServiceError::store(e, "nothing was changed; retry")
}

impl<S: Store> PreCredits<S> {
    pub fn new(store: Arc<S>, tokens: Arc<Tokens>, id_key: Option<Arc<IdKey>>) -> Self {
        PreCredits {
            store,
            tokens,
            id_key,
            import_dir: None,
        }
    }

    /// Reads households files only from under `dir` (a publish request
    /// names a file there); without it none is read.
    pub fn with_import_dir(mut self, dir: PathBuf) -> Self {
        self.import_dir = Some(dir);
        self
    }

    /// Marks publications left loading by a server that stopped as failed
    /// (their entries never go live); run at start, before serving.
    pub async fn recover(&self) -> Result<usize, ServiceError> {
        let mut failed = 0;
        for mut p in self.store.list_publications().await.map_err(unavailable)? {
            if p.status == PublicationStatus::Loading {
                p.status = PublicationStatus::Failed;
                p.failure = "the server stopped while loading it; publish the run again".into();
                self.store.put_publication(p).await.map_err(unavailable)?;
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// The households file a request names, if it is under the import
    /// directory.
    fn households_file(&self, named: &Path) -> Result<PathBuf, ServiceError> {
        let dir = self.import_dir.as_ref().ok_or_else(|| {
            ServiceError::Precondition(
                "this server reads no households files: start it with --import-dir DIR and put the file there".into(),
            )
        })?;
        let outside = || {
            ServiceError::field(
                "households_file",
                format!(
                    "expected a readable file under the server's import directory {}",
                    dir.display()
                ),
            )
        };
        let dir = dir.canonicalize().map_err(|_| outside())?;
        let path = dir.join(named).canonicalize().map_err(|_| outside())?;
        if !path.starts_with(&dir) || !path.is_file() {
            return Err(outside());
        }
        Ok(path)
    }

    async fn audit(
        &self,
        who: (&str, &str),
        action: &str,
        id: &str,
        result: Result<String, &ServiceError>,
    ) {
        let entry = AuditEntry {
            at: clock::now_seconds(),
            person: who.0.to_string(),
            role: who.1.to_string(),
            action: action.to_string(),
            kind: "precredit".into(),
            id: id.to_string(),
            version: String::new(),
            hash: String::new(),
            accepted: result.is_ok(),
            detail: match result {
                Ok(d) => d,
                Err(e) => format!("{}: {e}", e.code_name()),
            },
            // A publication or a refused call: seen by province auditors.
            institution: String::new(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!("cannot write the audit log: {e}");
        }
    }

    /// The caller, with one of `roles`, acting for `institution`; a
    /// refusal is audited.
    async fn authorize(
        &self,
        caller: &Bearer<'_>,
        action: &str,
        roles: &[Role],
        institution: &str,
        id: &str,
    ) -> Result<(Principal, Role), ServiceError> {
        let checked = self.tokens.authorize(caller, roles).and_then(|(p, r)| {
            if !institution.is_empty() {
                p.require_scope(institution)?;
            }
            Ok((p, r))
        });
        if let Err(e) = &checked {
            let person = self
                .tokens
                .identify(caller)
                .map_or("(unknown)", |p| p.person.as_str())
                .to_string();
            self.audit((&person, ""), action, id, Err(e)).await;
        }
        checked
    }

    fn id_hash(&self, national_id: &str) -> Result<String, ServiceError> {
        let key = self.id_key.as_ref().ok_or_else(|| {
            ServiceError::Precondition(
                "this server has no ID key (serve --id-key-file): national ID numbers cannot be used"
                    .into(),
            )
        })?;
        key.hash("national_id", national_id)
    }

    /// Publishes a finished batch run as a pending register (analyst). The
    /// trace file is read once, in constant memory, and must match the
    /// checksum its run recorded; the households file likewise.
    pub async fn publish(
        &self,
        caller: &Bearer<'_>,
        request: Publish,
        now: SystemTime,
    ) -> Result<PublicationRecord, ServiceError> {
        let (principal, role) = self
            .authorize(
                caller,
                "PublishPreCredits",
                &[Role::Analyst],
                "",
                &request.batch_id,
            )
            .await?;
        let who = (principal.person.as_str(), role.name());
        let result = self.publish_checked(&principal, request.clone(), now).await;
        match &result {
            Ok(p) => {
                self.audit(
                    who,
                    "PublishPreCredits",
                    &p.publication_id,
                    Ok(format!(
                        "batch {}: {} offered ({} yuan), {} referred, {} declined, {} identified, valid until {}",
                        p.batch_id, p.offered, p.offered_amount, p.referred, p.declined, p.identified, p.valid_until
                    )),
                )
                .await
            }
            Err(e) => {
                self.audit(who, "PublishPreCredits", &request.batch_id, Err(e))
                    .await
            }
        }
        result
    }

    async fn publish_checked(
        &self,
        principal: &Principal,
        request: Publish,
        now: SystemTime,
    ) -> Result<PublicationRecord, ServiceError> {
        let valid_until = parse_date("valid_until", &request.valid_until)?;
        let today = date_at(now);
        if valid_until < today {
            return Err(ServiceError::field(
                "valid_until",
                format!("{valid_until} is in the past (today is {today} in China Standard Time)"),
            ));
        }
        if (valid_until - today).num_days() > MAX_VALID_DAYS {
            return Err(ServiceError::field(
                "valid_until",
                format!("{valid_until} is more than three years from today ({today})"),
            ));
        }
        if request.batch_id.trim().is_empty() {
            return Err(ServiceError::field("batch_id", "must not be empty"));
        }
        let households = match &request.households {
            Some(named) => {
                if self.id_key.is_none() {
                    // Refuse before reading anything rather than store no hash.
                    self.id_hash("")?;
                }
                Some(self.households_file(named)?)
            }
            None => None,
        };
        let batch = self
            .store
            .get_batch(&request.batch_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no batch run with id `{}`", request.batch_id))
            })?;
        principal.require_scope(&batch.institution)?;
        if batch.status != BatchStatus::Finished {
            return Err(ServiceError::Precondition(format!(
                "batch {} is {}: only a finished run can be published",
                batch.batch_id, batch.status
            )));
        }
        let published = self.store.list_publications().await.map_err(unavailable)?;
        if let Some(p) = published.iter().find(|p| {
            p.batch_id == batch.batch_id
                && matches!(
                    p.status,
                    PublicationStatus::Pending
                        | PublicationStatus::Approved
                        | PublicationStatus::Loading
                )
        }) {
            return Err(ServiceError::Conflict(format!(
                "batch {} is already published as {} ({})",
                batch.batch_id, p.publication_id, p.status
            )));
        }
        // Micro-seconds: the newest publication's entries come first.
        let at = clock::format_micros(now);
        let mut publication = PublicationRecord {
            publication_id: clock::new_id("pub", 16, &[&batch.batch_id]),
            batch_id: batch.batch_id.clone(),
            institution: batch.institution.clone(),
            product: batch.product.clone(),
            valid_until: valid_until.to_string(),
            status: PublicationStatus::Loading,
            requested_by: principal.person.clone(),
            requested_at: at.clone(),
            approved_by: String::new(),
            approved_at: String::new(),
            versions: batch.versions.clone(),
            offered: 0,
            referred: 0,
            declined: 0,
            errors: 0,
            identified: 0,
            offered_amount: Decimal::ZERO,
            superseded: 0,
            failure: String::new(),
            id_key: match (&households, &self.id_key) {
                (Some(_), Some(key)) => key.fingerprint(),
                _ => String::new(),
            },
        };
        self.store
            .put_publication(publication.clone())
            .await
            .map_err(unavailable)?;
        let loaded = self
            .load(&mut publication, &batch, households.as_deref(), &at)
            .await;
        match loaded {
            Ok(()) => publication.status = PublicationStatus::Pending,
            Err(e) => {
                publication.status = PublicationStatus::Failed;
                publication.failure = e.to_string();
                // Its entries never go live; say so durably if we can.
                let _ = self.store.put_publication(publication).await;
                return Err(e);
            }
        }
        self.store
            .put_publication(publication.clone())
            .await
            .map_err(unavailable)?;
        Ok(publication)
    }

    /// Writes the entries of a loading publication from the trace file,
    /// then the households' identities.
    async fn load(
        &self,
        publication: &mut PublicationRecord,
        batch: &BatchRecord,
        households: Option<&Path>,
        at: &str,
    ) -> Result<(), ServiceError> {
        let trace_file = Path::new(&batch.trace_file);
        let mut reader = TraceReader::open(trace_file).map_err(ServiceError::Corrupt)?;
        // Rows of trace format 2 are rendered under the run's policy; a
        // file of format 1 holds its decisions and does not need it.
        let policy = compile_stored(&*self.store, &batch.versions)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        let run = Arc::new(RunRows {
            policy,
            institution: batch.institution.clone(),
            product: batch.product.clone(),
            batch_hex: batch.batch_id.trim_start_matches("bat_").to_string(),
        });
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut done = false;
        while !done {
            // Reading and rendering is CPU work: some frames at a time off
            // the async runtime.
            let run = run.clone();
            let (r, lines) = tokio::task::spawn_blocking(move || {
                let mut lines = Vec::with_capacity(CHUNK + FRAME_ROWS);
                while lines.len() < CHUNK {
                    match reader.next_frame() {
                        Ok(Some(frame)) => {
                            if let Err(e) = run.rows(frame, &mut lines) {
                                return (reader, Err(e));
                            }
                        }
                        Ok(None) => return (reader, Ok((lines, true))),
                        Err(e) => return (reader, Err(e)),
                    }
                }
                (reader, Ok((lines, false)))
            })
            .await
            .map_err(|e| ServiceError::Internal(format!("reading the trace file: {e}")))?;
            reader = r;
            let (lines, finished) = lines.map_err(ServiceError::Corrupt)?;
            done = finished;
            for line in lines {
                let Some(d) = line.decision else {
                    publication.errors += 1;
                    continue;
                };
                match d.decision {
                    Outcome::Approve => {
                        publication.offered += 1;
                        publication.offered_amount += d.limit;
                    }
                    Outcome::Refer => publication.referred += 1,
                    Outcome::Decline => publication.declined += 1,
                }
                chunk.push(PreCreditEntry {
                    format: PRECREDIT_FORMAT,
                    entry_id: format!("{}_{}", publication.publication_id, line.row),
                    publication_id: publication.publication_id.clone(),
                    institution: publication.institution.clone(),
                    product: publication.product.clone(),
                    household_id: line.household_id,
                    id_hash: None,
                    village: line.village_code,
                    branch: String::new(),
                    outcome: d.decision.as_str().to_string(),
                    grade: d.grade,
                    score: d.score,
                    limit: if d.decision == Outcome::Approve {
                        d.limit
                    } else {
                        Decimal::ZERO
                    },
                    annual_rate: d.annual_rate,
                    valid_until: publication.valid_until.clone(),
                    decision_id: d.decision_id,
                    status: PreCreditStatus::Pending,
                    signed_limit: None,
                    contract_id: String::new(),
                    signed_at: String::new(),
                    drawn_total: Decimal::ZERO,
                    repaid_total: Decimal::ZERO,
                    outstanding: Decimal::ZERO,
                    revoked_reason: String::new(),
                    review_flag: String::new(),
                    superseded_by: String::new(),
                    revision: 0,
                    published_at: at.to_string(),
                    updated_at: at.to_string(),
                });
            }
            if chunk.len() >= CHUNK || (done && !chunk.is_empty()) {
                let entries = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                self.store
                    .insert_precredits(entries)
                    .await
                    .map_err(|e| ServiceError::store(e, "nothing is published"))?;
            }
        }
        let sha = reader.finish();
        let trace_sha256 = &batch.trace_sha256;
        if !trace_sha256.is_empty() && sha != *trace_sha256 {
            return Err(ServiceError::Corrupt(format!(
                "the trace file {} has sha256 {sha}, but its run recorded {trace_sha256}: it was changed; nothing is published",
                trace_file.display()
            )));
        }
        if let Some(path) = households {
            publication.identified = self.identify(&publication.publication_id, path).await?;
        }
        Ok(())
    }

    /// Reads the households file in chunks, hashing each national ID
    /// number; returns how many entries got one.
    async fn identify(&self, publication_id: &str, path: &Path) -> Result<u64, ServiceError> {
        let bad = |line: u64, m: String| {
            ServiceError::field("households", format!("{} line {line}: {m}", path.display()))
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| bad(1, format!("cannot read: {e}")))?;
        let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        // The header is not quoted back: the file may not be what it
        // should (a key, say), and errors reach the audit log.
        let household = column("household_id").ok_or_else(|| {
            bad(
                1,
                format!(
                    "expected a CSV header with a household_id column (and optionally national_id, branch); found {} columns without it",
                    headers.len()
                ),
            )
        })?;
        let (national, branch) = (column("national_id"), column("branch"));
        let mut identified = 0;
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut record = csv::StringRecord::new();
        let mut line = 1;
        loop {
            let more = reader
                .read_record(&mut record)
                .map_err(|e| bad(line + 1, e.to_string()))?;
            if more {
                line += 1;
                let id = record.get(household).unwrap_or_default();
                if id.is_empty() {
                    return Err(bad(line, "household_id is empty".into()));
                }
                let id_hash = match national
                    .and_then(|c| record.get(c))
                    .filter(|n| !n.is_empty())
                {
                    Some(n) => {
                        let key = self.id_key.as_ref().ok_or_else(|| {
                            ServiceError::Internal("no ID key while identifying".into())
                        })?;
                        Some(
                            key.hash_number(n)
                                .map_err(|m| bad(line, format!("national_id: {m}")))?,
                        )
                    }
                    None => None,
                };
                chunk.push(HouseholdIdentity {
                    household_id: id.to_string(),
                    id_hash,
                    branch: branch
                        .and_then(|c| record.get(c))
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            if chunk.len() >= CHUNK || (!more && !chunk.is_empty()) {
                let households = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                identified += self
                    .store
                    .identify_precredits(publication_id, households)
                    .await
                    .map_err(unavailable)?;
            }
            if !more {
                return Ok(identified);
            }
        }
    }

    /// Approves a pending publication (approver, not its publisher): its
    /// entries go live, superseding older offers of the same households.
    pub async fn approve(
        &self,
        caller: &Bearer<'_>,
        publication_id: &str,
        now: SystemTime,
    ) -> Result<PublicationRecord, ServiceError> {
        let (principal, role) = self
            .authorize(
                caller,
                "ApprovePreCredits",
                &[Role::Approver],
                "",
                publication_id,
            )
            .await?;
        let who = (principal.person.as_str(), role.name());
        let result = self.approve_checked(&principal, publication_id, now).await;
        let detail = result.as_ref().map(|p| {
            format!(
                "batch {}: {} offered, {} referred, {} declined live; {} older entries superseded",
                p.batch_id, p.offered, p.referred, p.declined, p.superseded
            )
        });
        self.audit(who, "ApprovePreCredits", publication_id, detail)
            .await;
        result
    }

    async fn approve_checked(
        &self,
        principal: &Principal,
        publication_id: &str,
        now: SystemTime,
    ) -> Result<PublicationRecord, ServiceError> {
        let p = self
            .store
            .get_publication(publication_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("no publication with id `{publication_id}`"))
            })?;
        principal.require_scope(&p.institution)?;
        if p.requested_by == principal.person {
            return Err(ServiceError::Forbidden(format!(
                "{} published {publication_id}; a second person must approve it (four-eyes)",
                principal.person
            )));
        }
        if p.status != PublicationStatus::Pending {
            return Err(ServiceError::Precondition(format!(
                "publication {publication_id} is {}: only a pending one can be approved",
                p.status
            )));
        }
        let all = self.store.list_publications().await.map_err(unavailable)?;
        if let Some(newer) = all.iter().find(|o| {
            o.status == PublicationStatus::Approved
                && o.institution == p.institution
                && o.product == p.product
                && o.requested_at > p.requested_at
        }) {
            return Err(ServiceError::Precondition(format!(
                "publication {} of a later run is already live for {} {}; approving the older {publication_id} would supersede its offers: publish the run again",
                newer.publication_id, p.institution, p.product
            )));
        }
        let today = date_at(now);
        if parse_date("valid_until", &p.valid_until)? < today {
            return Err(ServiceError::Precondition(format!(
                "publication {publication_id} was valid until {}; publish the run again with a later date",
                p.valid_until
            )));
        }
        self.store
            .approve_publication(publication_id, &principal.person, &clock::format(now))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                ServiceError::Changed(format!(
                    "publication {publication_id} changed while approving it; look at it again"
                ))
            })
    }

    /// Publications of the institutions the caller acts for, oldest first.
    pub async fn publications(
        &self,
        caller: &Bearer<'_>,
    ) -> Result<Vec<PublicationRecord>, ServiceError> {
        let (principal, _) = self
            .authorize(
                caller,
                "ListPublications",
                &[Role::Analyst, Role::Approver, Role::Auditor, Role::Officer],
                "",
                "",
            )
            .await?;
        let all = self.store.list_publications().await.map_err(unavailable)?;
        Ok(all
            .into_iter()
            .filter(|p| principal.acts_for(&p.institution))
            .collect())
    }

    /// A household's entries, newest first: by household id, or by the
    /// head's national ID number.
    pub async fn get(
        &self,
        caller: &Bearer<'_>,
        institution: &str,
        product: &str,
        household_id: &str,
        national_id: &str,
        now: SystemTime,
    ) -> Result<Vec<EntryView>, ServiceError> {
        self.authorize(
            caller,
            "GetPreCredit",
            &[Role::Client, Role::Officer, Role::Auditor],
            institution,
            household_id,
        )
        .await?;
        if institution.trim().is_empty() {
            return Err(ServiceError::field("institution", "must not be empty"));
        }
        if product.trim().is_empty() {
            return Err(ServiceError::field("product", "must not be empty"));
        }
        let entries = match (household_id.trim(), national_id.trim()) {
            ("", "") => {
                return Err(ServiceError::field(
                    "household_id",
                    "give household_id or national_id",
                ));
            }
            (h, "") => {
                self.store
                    .household_precredits(institution, product, h)
                    .await
            }
            ("", n) => {
                let hash = self.id_hash(n)?;
                let found = self
                    .store
                    .identified_precredits(institution, product, &hash)
                    .await;
                if found.as_ref().is_ok_and(Vec::is_empty) {
                    // Nothing found: say so if the key may be why.
                    self.check_key(institution, product).await?;
                }
                found
            }
            _ => {
                return Err(ServiceError::field(
                    "national_id",
                    "give household_id or national_id, not both",
                ));
            }
        }
        .map_err(unavailable)?;
        if entries.is_empty() {
            return Err(ServiceError::NotFound(format!(
                "no pre-credit of institution {institution} and product {product} for this household"
            )));
        }
        let today = date_at(now);
        Ok(entries
            .into_iter()
            .map(|e| EntryView::new(e, today))
            .collect())
    }

    /// When a national ID look-up found nothing: refuses it if a live
    /// publication hashed its numbers with another key than this server's
    /// (the number may be there, unfindable with this key).
    async fn check_key(&self, institution: &str, product: &str) -> Result<(), ServiceError> {
        let mine = self
            .id_key
            .as_ref()
            .map(|k| k.fingerprint())
            .unwrap_or_default();
        let all = self.store.list_publications().await.map_err(unavailable)?;
        if let Some(other) = all.iter().find(|p| {
            p.status == PublicationStatus::Approved
                && p.institution == institution
                && p.product == product
                && !p.id_key.is_empty()
                && p.id_key != mine
        }) {
            return Err(ServiceError::Precondition(format!(
                "publication {} hashed its national ID numbers with key {}, and this server has key {mine}: start it with that publication's --id-key-file",
                other.publication_id, other.id_key
            )));
        }
        Ok(())
    }

    /// Entries of an institution, in id order from after `query.after`.
    pub async fn list(
        &self,
        caller: &Bearer<'_>,
        mut query: PreCreditQuery,
        now: SystemTime,
    ) -> Result<Vec<EntryView>, ServiceError> {
        self.authorize(
            caller,
            "ListPreCredits",
            &[Role::Officer, Role::Auditor, Role::Analyst],
            &query.institution,
            "",
        )
        .await?;
        if query.institution.trim().is_empty() {
            return Err(ServiceError::field("institution", "must not be empty"));
        }
        query.limit = match query.limit {
            0 => 100,
            n => n.min(MAX_PAGE),
        };
        let today = date_at(now);
        Ok(self
            .store
            .list_precredits(query)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(|e| EntryView::new(e, today))
            .collect())
    }

    /// Applies `operation` to entry `entry_id` of `institution` once: a
    /// retry with the same `op_id` and content returns the first answer,
    /// other content under the same id is a conflict.
    pub async fn operate(
        &self,
        caller: &Bearer<'_>,
        institution: &str,
        entry_id: &str,
        op_id: &str,
        operation: Operation,
        now: SystemTime,
    ) -> Result<Operated, ServiceError> {
        let action = match operation {
            Operation::Sign { .. } => "SignPreCredit",
            Operation::Drawdown { .. } => "RecordDrawdown",
            Operation::Repayment { .. } => "RecordRepayment",
            Operation::Revoke { .. } => "RevokePreCredit",
            Operation::ClearFlag { .. } => "ClearReviewFlag",
        };
        let (principal, role) = self
            .authorize(caller, action, operation.roles(), institution, entry_id)
            .await?;
        let result = self
            .operate_checked(
                &principal,
                role,
                institution,
                entry_id,
                op_id,
                &operation,
                now,
            )
            .await;
        if let Err(e) = &result {
            // Accepted operations are audited in their own write.
            self.audit((&principal.person, role.name()), action, entry_id, Err(e))
                .await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn operate_checked(
        &self,
        principal: &Principal,
        role: Role,
        institution: &str,
        entry_id: &str,
        op_id: &str,
        operation: &Operation,
        now: SystemTime,
    ) -> Result<Operated, ServiceError> {
        let op_id = op_id.trim();
        if op_id.is_empty() || op_id.len() > 128 {
            return Err(ServiceError::field(
                "op_id",
                "expected the caller's operation id (1 to 128 characters), the same on every retry",
            ));
        }
        if op_id.starts_with(FLAG_PREFIX) {
            return Err(ServiceError::field(
                "op_id",
                format!("`{FLAG_PREFIX}` starts the service's own operation ids; choose another"),
            ));
        }
        // Amounts by value: a retry may write 5000 as 5000.00.
        let amount = |field: &str, text: &str| -> Result<String, ServiceError> {
            Ok(parse_amount(field, text)?.normalize().to_string())
        };
        let content = match operation {
            Operation::Sign {
                signed_limit,
                contract_id,
            } => vec![
                amount("signed_limit", signed_limit)?,
                contract_id.trim().to_string(),
            ],
            Operation::Drawdown { amount: a } | Operation::Repayment { amount: a } => {
                vec![amount("amount", a)?]
            }
            Operation::Revoke { reason } => vec![reason.trim().to_string()],
            Operation::ClearFlag { note } => vec![note.trim().to_string()],
        };
        let request_hash = content_hash(&serde_json::json!({
            "entry_id": entry_id,
            "kind": operation.kind(),
            "content": content,
        }));
        let today = date_at(now);
        let at = clock::format(now);
        for _ in 0..TRIES {
            if let Some(op) = self
                .store
                .get_precredit_op(institution, op_id)
                .await
                .map_err(unavailable)?
            {
                return replay_of(op, &request_hash, today);
            }
            let entry = self
                .store
                .get_precredit(entry_id)
                .await
                .map_err(unavailable)?
                .filter(|e| e.institution == institution && e.status != PreCreditStatus::Pending)
                .ok_or_else(|| {
                    ServiceError::NotFound(format!(
                        "no pre-credit `{entry_id}` of institution {institution}"
                    ))
                })?;
            if matches!(operation, Operation::Sign { .. }) {
                self.refuse_second_contract(&entry, today).await?;
            }
            let (after, amount, detail) = next_state(&entry, operation, today, &at)?;
            let op = PreCreditOp {
                format: PRECREDIT_FORMAT,
                op_id: op_id.to_string(),
                institution: institution.to_string(),
                entry_id: entry_id.to_string(),
                kind: operation.kind().to_string(),
                amount,
                detail,
                request_hash: request_hash.clone(),
                person: principal.person.clone(),
                at: at.clone(),
                entry_after: after,
            };
            let audit = audit_of(&op, role.name());
            let entry_after = op.entry_after.clone();
            match self
                .store
                .write_precredit_op(op, entry.revision, audit)
                .await
                .map_err(unavailable)?
            {
                OpWritten::Done => {
                    metrics::counter!("precredit_operations_total", "kind" => operation.kind())
                        .increment(1);
                    return Ok(Operated {
                        entry: EntryView::new(entry_after, today),
                        idempotent_replay: false,
                    });
                }
                OpWritten::Existing(op) => return replay_of(*op, &request_hash, today),
                OpWritten::Stale => continue,
            }
        }
        Err(ServiceError::Unavailable(format!(
            "pre-credit {entry_id} kept changing while recording this operation; nothing was changed, retry with the same op_id"
        )))
    }

    /// One contract a household at a time: signing is refused while another
    /// of its entries (same institution and product) is signed or drawn and
    /// not expired.
    async fn refuse_second_contract(
        &self,
        entry: &PreCreditEntry,
        today: NaiveDate,
    ) -> Result<(), ServiceError> {
        let all = self
            .store
            .household_precredits(&entry.institution, &entry.product, &entry.household_id)
            .await
            .map_err(unavailable)?;
        if let Some(other) = all.into_iter().find(|o| {
            o.entry_id != entry.entry_id
                && ((o.status.under_contract() && !EntryView::new(o.clone(), today).expired)
                    || o.outstanding > Decimal::ZERO)
        }) {
            return Err(ServiceError::Precondition(format!(
                "household {} already has a contract on pre-credit {} ({}, until {}, outstanding {}); one contract at a time: it must be revoked or expired, and repaid, first",
                entry.household_id,
                other.entry_id,
                other.status,
                other.valid_until,
                other.outstanding
            )));
        }
        Ok(())
    }

    /// The live pre-credit of a household that an online decision meets,
    /// flagging it for revocation review when the decision declined. `None`
    /// when the household has no live entry.
    pub async fn meet(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
        decision: &Decision,
        now: SystemTime,
    ) -> Result<Option<PreCreditLink>, ServiceError> {
        let entries = self
            .store
            .household_precredits(institution, product, household_id)
            .await
            .map_err(|e| {
                ServiceError::store(e, "nothing was recorded, retry with the same request_id")
            })?;
        // A contract first, else the newest offer.
        let contract = entries.iter().position(|e| e.status.under_contract());
        let offer = entries
            .iter()
            .position(|e| e.status == PreCreditStatus::Offered);
        let Some(entry) = contract.or(offer).map(|i| entries[i].clone()) else {
            return Ok(None);
        };
        let today = date_at(now);
        let view = EntryView::new(entry, today);
        let mut link = PreCreditLink {
            entry_id: view.entry.entry_id.clone(),
            status: view.entry.status,
            limit: view.entry.signed_limit.unwrap_or(view.entry.limit),
            valid_until: view.entry.valid_until.clone(),
            expired: view.expired,
            flagged_for_review: false,
            referred_above_precredit: decision.decision == Outcome::Approve
                && decision.limit > view.entry.signed_limit.unwrap_or(view.entry.limit),
        };
        if decision.decision == Outcome::Decline {
            // Every live entry of the household, so revoking one does not
            // leave another to be signed.
            let first = decision.reasons.first();
            let why = format!(
                "online decision {} declined ({}) on {}",
                decision.decision_id,
                first.map_or("no reason", |r| r.code.as_str()),
                clock::format(now)
            );
            for e in entries.iter().filter(|e| e.status.is_live()) {
                self.flag(e, &decision.decision_id, &why, now).await?;
            }
            link.flagged_for_review = true;
        }
        Ok(Some(link))
    }

    /// Flags every live pre-credit of a household for revocation review
    /// because post-loan monitoring raised a red signal on one of its loans
    /// (once per signal: the operation id is the signal's). Returns the
    /// entries flagged.
    pub async fn flag_for_signal(
        &self,
        institution: &str,
        product: &str,
        household_id: &str,
        signal_id: &str,
        why: &str,
        now: SystemTime,
    ) -> Result<Vec<String>, ServiceError> {
        let entries = self
            .store
            .household_precredits(institution, product, household_id)
            .await
            .map_err(unavailable)?;
        let mut flagged = Vec::new();
        for e in entries.iter().filter(|e| e.status.is_live()) {
            self.flag(e, signal_id, why, now).await?;
            flagged.push(e.entry_id.clone());
        }
        Ok(flagged)
    }

    /// Flags `entry` for revocation review because of `source` (a decision
    /// or a signal id: once per source, the operation id is its).
    async fn flag(
        &self,
        entry: &PreCreditEntry,
        source: &str,
        why: &str,
        now: SystemTime,
    ) -> Result<(), ServiceError> {
        let at = clock::format(now);
        let why = why.to_string();
        let mut current = entry.clone();
        for _ in 0..TRIES {
            let mut after = current.clone();
            after.review_flag = why.clone();
            after.revision += 1;
            after.updated_at = at.clone();
            let op = PreCreditOp {
                format: PRECREDIT_FORMAT,
                op_id: format!("{FLAG_PREFIX}{source}"),
                institution: entry.institution.clone(),
                entry_id: entry.entry_id.clone(),
                kind: "flag".into(),
                amount: None,
                detail: why.clone(),
                request_hash: source.to_string(),
                person: "(decision service)".into(),
                at: at.clone(),
                entry_after: after,
            };
            let audit = audit_of(&op, "");
            match self
                .store
                .write_precredit_op(op, current.revision, audit)
                .await
                .map_err(|e| {
                    ServiceError::store(e, "nothing was recorded, retry with the same request_id")
                })? {
                OpWritten::Done | OpWritten::Existing(_) => return Ok(()),
                OpWritten::Stale => {
                    current = self
                        .store
                        .get_precredit(&entry.entry_id)
                        .await
                        .map_err(unavailable)?
                        .ok_or_else(|| {
                            ServiceError::Internal(format!("entry {} vanished", entry.entry_id))
                        })?;
                }
            }
        }
        Err(ServiceError::Unavailable(format!(
            "pre-credit {} kept changing while flagging it; nothing was recorded, retry with the same request_id",
            entry.entry_id
        )))
    }
}

fn replay_of(
    op: PreCreditOp,
    request_hash: &str,
    today: NaiveDate,
) -> Result<Operated, ServiceError> {
    if op.request_hash != request_hash {
        return Err(ServiceError::Conflict(format!(
            "op_id `{}` was already used for a {} of {} with different content; use a new op_id",
            op.op_id, op.kind, op.entry_id
        )));
    }
    Ok(Operated {
        entry: EntryView::new(op.entry_after, today),
        idempotent_replay: true,
    })
}

/// The entry after `operation`, the amount it moved and a line for the
/// audit log; or why the entry's state refuses it.
fn next_state(
    entry: &PreCreditEntry,
    operation: &Operation,
    today: NaiveDate,
    at: &str,
) -> Result<(PreCreditEntry, Option<Decimal>, String), ServiceError> {
    let id = &entry.entry_id;
    let expired = expired(entry, today);
    let refuse_status = |wanted: &str| {
        ServiceError::Precondition(match entry.status {
            PreCreditStatus::Revoked => format!(
                "pre-credit {id} was revoked ({}); {wanted}",
                entry.revoked_reason
            ),
            PreCreditStatus::Superseded => format!(
                "pre-credit {id} was superseded by {}; {wanted}",
                entry.superseded_by
            ),
            other => format!("pre-credit {id} is {other}; {wanted}"),
        })
    };
    let refuse_expired = |what: &str| {
        ServiceError::Precondition(format!(
            "pre-credit {id} expired: it was valid until {} and today is {today} (China Standard Time); {what}",
            entry.valid_until
        ))
    };
    let mut after = entry.clone();
    after.revision += 1;
    after.updated_at = at.to_string();
    let (amount, detail) = match operation {
        Operation::Sign {
            signed_limit,
            contract_id,
        } => {
            let limit = parse_amount("signed_limit", signed_limit)?;
            if contract_id.trim().is_empty() {
                return Err(ServiceError::field(
                    "contract_id",
                    "expected the number of the signed contract",
                ));
            }
            if entry.status != PreCreditStatus::Offered {
                return Err(refuse_status("only an offered pre-credit can be signed"));
            }
            if expired {
                return Err(refuse_expired("it can no longer be signed"));
            }
            if !entry.review_flag.is_empty() {
                return Err(ServiceError::Precondition(format!(
                    "pre-credit {id} is flagged for revocation review ({}); an officer must review it before signing",
                    entry.review_flag
                )));
            }
            if limit > entry.limit {
                return Err(ServiceError::field(
                    "signed_limit",
                    format!(
                        "{limit} is above the pre-credited limit {} of {id}",
                        entry.limit
                    ),
                ));
            }
            after.status = PreCreditStatus::Signed;
            after.signed_limit = Some(limit);
            after.contract_id = contract_id.trim().to_string();
            after.signed_at = at.to_string();
            (
                Some(limit),
                format!("signed contract {} for {limit}", contract_id.trim()),
            )
        }
        Operation::Drawdown { amount } => {
            let amount = parse_amount("amount", amount)?;
            if !entry.status.under_contract() {
                return Err(refuse_status("only a signed pre-credit can be drawn"));
            }
            if expired {
                return Err(refuse_expired("no more draw-downs"));
            }
            let available = entry.available();
            if amount > available {
                return Err(ServiceError::Precondition(format!(
                    "a draw-down of {amount} exceeds the available {available} of pre-credit {id} (signed limit {}, outstanding {})",
                    entry.signed_limit.unwrap_or_default(),
                    entry.outstanding
                )));
            }
            after.status = PreCreditStatus::Drawn;
            after.drawn_total += amount;
            after.outstanding += amount;
            (
                Some(amount),
                format!("drew {amount}; outstanding {}", after.outstanding),
            )
        }
        Operation::Repayment { amount } => {
            let amount = parse_amount("amount", amount)?;
            if !matches!(
                entry.status,
                PreCreditStatus::Drawn | PreCreditStatus::Revoked
            ) || entry.outstanding.is_zero()
            {
                return Err(ServiceError::Precondition(format!(
                    "pre-credit {id} ({}) has nothing outstanding to repay",
                    entry.status
                )));
            }
            if amount > entry.outstanding {
                return Err(ServiceError::Precondition(format!(
                    "a repayment of {amount} exceeds the outstanding {} of pre-credit {id}",
                    entry.outstanding
                )));
            }
            after.repaid_total += amount;
            after.outstanding -= amount;
            (
                Some(amount),
                format!("repaid {amount}; outstanding {}", after.outstanding),
            )
        }
        Operation::Revoke { reason } => {
            if reason.trim().is_empty() {
                return Err(ServiceError::field(
                    "reason",
                    "expected why the pre-credit is revoked",
                ));
            }
            if !matches!(
                entry.status,
                PreCreditStatus::Offered
                    | PreCreditStatus::Signed
                    | PreCreditStatus::Drawn
                    | PreCreditStatus::Referred
            ) {
                return Err(refuse_status("only a live pre-credit can be revoked"));
            }
            after.status = PreCreditStatus::Revoked;
            after.revoked_reason = reason.trim().to_string();
            (
                None,
                format!(
                    "revoked ({}); outstanding {} still to be repaid",
                    reason.trim(),
                    entry.outstanding
                ),
            )
        }
        Operation::ClearFlag { note } => {
            if note.trim().is_empty() {
                return Err(ServiceError::field(
                    "note",
                    "expected why the entry is kept despite the flag",
                ));
            }
            if entry.review_flag.is_empty() {
                return Err(ServiceError::Precondition(format!(
                    "pre-credit {id} is not flagged for review"
                )));
            }
            if !entry.status.is_live() {
                return Err(refuse_status(
                    "only a live pre-credit's flag can be cleared",
                ));
            }
            after.review_flag = String::new();
            (
                None,
                format!(
                    "kept after review ({}); the flag was: {}",
                    note.trim(),
                    entry.review_flag
                ),
            )
        }
    };
    Ok((after, amount, detail))
}

/// One line of the funnel: an institution, a branch or a village.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FunnelRow {
    /// institution, branch or village
    pub level: &'static str,
    pub institution: String,
    /// The branch or village code (the institution's code on its own line).
    pub key: String,
    /// Households in the register (not superseded), whatever the outcome.
    pub households: u64,
    /// Of them, pre-credited (the batch approved them).
    pub precredited: u64,
    pub referred: u64,
    pub declined: u64,
    /// Signed a contract (whatever happened after).
    pub signed: u64,
    /// Drew at least once.
    pub drawn: u64,
    pub revoked: u64,
    /// Offered, signed or drawn, and past its validity.
    pub expired: u64,
    /// Offered, signed or drawn, and valid for 30 days or fewer from today.
    pub expiring_30d: u64,
    pub offered_amount: Decimal,
    pub signed_amount: Decimal,
    pub drawn_amount: Decimal,
    pub repaid_amount: Decimal,
    pub outstanding: Decimal,
}

impl FunnelRow {
    fn add(&mut self, e: &PreCreditEntry, today: NaiveDate) {
        self.households += 1;
        match e.outcome.as_str() {
            "APPROVE" => {
                self.precredited += 1;
                self.offered_amount += e.limit;
            }
            "REFER" => self.referred += 1,
            _ => self.declined += 1,
        }
        if let Some(l) = e.signed_limit {
            self.signed += 1;
            self.signed_amount += l;
        }
        if e.drawn_total > Decimal::ZERO {
            self.drawn += 1;
        }
        if e.status == PreCreditStatus::Revoked {
            self.revoked += 1;
        }
        self.drawn_amount += e.drawn_total;
        self.repaid_amount += e.repaid_total;
        self.outstanding += e.outstanding;
        let live = e.status.is_live();
        if let (true, Ok(until)) = (live, NaiveDate::parse_from_str(&e.valid_until, "%Y-%m-%d")) {
            if until < today {
                self.expired += 1;
            } else if (until - today).num_days() <= 30 {
                self.expiring_30d += 1;
            }
        }
    }
}

/// Entries read per page while counting the funnel.
const PAGE: usize = 10_000;

/// The funnel of the register, from the store, a page at a time (memory
/// holds one page and a line per village and branch): for each
/// institution a line, then its branches, then its villages, each sorted.
/// `institutions` empty: every institution with a publication.
pub async fn funnel<S: Store>(
    store: &S,
    institutions: &[String],
    product: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<FunnelRow>, ServiceError> {
    use std::collections::BTreeMap;
    let mut names: Vec<String> = if institutions.is_empty() {
        store
            .list_publications()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|p| p.status == PublicationStatus::Approved)
            .map(|p| p.institution)
            .collect()
    } else {
        institutions.to_vec()
    };
    names.sort();
    names.dedup();
    let mut rows = Vec::new();
    for institution in names {
        let mut total = FunnelRow {
            level: "institution",
            institution: institution.clone(),
            key: institution.clone(),
            ..FunnelRow::default()
        };
        let mut branches: BTreeMap<String, FunnelRow> = BTreeMap::new();
        let mut villages: BTreeMap<String, FunnelRow> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = store
                .list_precredits(PreCreditQuery {
                    institution: institution.clone(),
                    product: product.map(str::to_string),
                    status: None,
                    village: None,
                    after: after.clone(),
                    limit: PAGE,
                })
                .await
                .map_err(unavailable)?;
            for e in page
                .iter()
                .filter(|e| e.status != PreCreditStatus::Superseded)
            {
                total.add(e, today);
                for (level, map, key) in [
                    ("branch", &mut branches, &e.branch),
                    ("village", &mut villages, &e.village),
                ] {
                    map.entry(key.clone())
                        .or_insert_with(|| FunnelRow {
                            level,
                            institution: institution.clone(),
                            key: key.clone(),
                            ..FunnelRow::default()
                        })
                        .add(e, today);
                }
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(last.entry_id.clone()),
                _ => break,
            }
        }
        rows.push(total);
        rows.extend(branches.into_values());
        rows.extend(villages.into_values());
    }
    Ok(rows)
}
