//! The pre-credit register's rules on the in-memory store, with the clock
//! in the test's hands: expiry, supersession by a newer publication,
//! institution scope, and every refusal of publishing. The batch run is
//! the 17 example households decided by the shipped policy and written as
//! a real trace file; the end-to-end tests run the same rules over gRPC on
//! a generated village.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use decision_core::{Input, Options, PolicySet, Request, evaluate_recorded};
use decision_service::find::{StoredPolicies, parse_decision};
use decision_service::find_decision;
use decision_service::precredit::{FunnelRow, date_at, funnel};
use decision_service::{
    Bearer, IdKey, Operation, Policies, PreCredits, Publish, ServiceError, Tokens,
};
use decision_store::traces::{
    FrameBuilder, JSON_LINES_FORMAT, TraceLine, TraceWriter, compress_frame,
};
use decision_store::{
    BatchRecord, BatchStatus, MemoryStore, PreCreditStatus, PublicationStatus, Store,
};
use rust_decimal::Decimal;

const LEAD: &str = "dev-lead-token-00000001";
const ANALYST: &str = "dev-analyst-token-0001";
const APPROVER: &str = "dev-approver-token-0001";
const CLIENT: &str = "dev-client-token-000001";
const INSTITUTION: &str = "HB-JINGSHAN";
const PRODUCT: &str = "FARMER_CREDIT";
const DAY: Duration = Duration::from_secs(86_400);

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// A finished batch run `batch_id` of the example households (household
/// `H<row>`, villages V1 and V2), its trace file in `dir`.
async fn batch_run(store: &Arc<MemoryStore>, dir: &Path, batch_id: &str) -> BatchRecord {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("examples/requests"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    let households = files
        .iter()
        .enumerate()
        .map(|(row, file)| {
            let request = Request::from_json(&std::fs::read_to_string(file).unwrap()).unwrap();
            let village = if row % 2 == 0 { "V1" } else { "V2" };
            (format!("H{row}"), village.to_string(), request)
        })
        .collect();
    run_of(
        store,
        dir,
        batch_id,
        INSTITUTION,
        households,
        Traces::Compact,
    )
    .await
}

/// A generated village (village-gen, seed 2026) as requests of institution
/// 3201, typed by the feature schema as a loan system would send them.
fn generated_village(households: u64, villages: u64) -> Vec<(String, String, Request)> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("rulesets/feature-schema.json")).unwrap(),
    )
    .unwrap();
    let types: std::collections::HashMap<String, String> = schema["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    village_gen::Village::new(village_gen::Config {
        households,
        villages,
        seed: 2026,
    })
    .map(|row| {
        let mut features = serde_json::Map::new();
        for (name, cell) in village_gen::COLUMNS.iter().zip(&row) {
            let value = match (types.get(*name).map(String::as_str), cell.is_empty()) {
                (_, true) | (None, _) => continue,
                (Some("bool"), _) => serde_json::Value::Bool(cell == "true"),
                (Some("integer"), _) => serde_json::Value::from(cell.parse::<i64>().unwrap()),
                (Some(_), _) => serde_json::Value::String(cell.clone()),
            };
            features.insert(name.to_string(), value);
        }
        let request = Request {
            request_id: row[0].clone(),
            institution: "3201".into(),
            product: PRODUCT.into(),
            features,
        };
        (row[0].clone(), row[1].clone(), request)
    })
    .collect()
}

/// How a test run's trace file is written.
#[derive(Clone, Copy, PartialEq)]
enum Traces {
    /// Trace format 2, as this release writes: requests and compact records.
    Compact,
    /// Trace format 1, as earlier releases wrote: JSON lines with the full
    /// decision and trace.
    JsonLines,
}

/// A finished batch run of `households` (id, village, request) decided by
/// the shipped policy, its trace file written in `dir` in the given format;
/// the policy's documents are in the store, as a run leaves them.
async fn run_of(
    store: &Arc<MemoryStore>,
    dir: &Path,
    batch_id: &str,
    institution: &str,
    households: Vec<(String, String, Request)>,
    traces: Traces,
) -> BatchRecord {
    let policies = PolicySet::shipped().unwrap();
    // A run stores the documents it loaded, as this does.
    Policies::new(Arc::new(PolicySet::shipped().unwrap()), store.clone())
        .await
        .unwrap();
    let rows = households.len() as u64;
    let mut lines = Vec::new();
    let mut frame = FrameBuilder::new();
    let (mut approved, mut referred, mut declined) = (0, 0, 0);
    let mut versions = Vec::new();
    for (i, (household_id, village_code, request)) in households.into_iter().enumerate() {
        // Rows are 1-based, as a run numbers them.
        let row = i as u64 + 1;
        let policy = policies
            .select(&request.institution, &request.product)
            .unwrap();
        let (mut decision, record) =
            evaluate_recorded(policy, &request, Options { trace: true }).unwrap();
        decision.decision_id = format!("dec_{}_{row}", &batch_id[4..]);
        match decision.decision.as_str() {
            "APPROVE" => approved += 1,
            "REFER" => referred += 1,
            _ => declined += 1,
        }
        versions = decision.versions.clone();
        let features: Vec<(&str, Input)> = request
            .features
            .iter()
            .map(|(name, value)| (name.as_str(), Input::of_json(value)))
            .collect();
        match traces {
            Traces::Compact => frame
                .push(
                    row,
                    &household_id,
                    &village_code,
                    Some(&features),
                    Some(&record),
                    &[],
                )
                .unwrap(),
            Traces::JsonLines => {
                let line = TraceLine {
                    format: JSON_LINES_FORMAT,
                    row,
                    household_id,
                    village_code,
                    request: Some(request),
                    decision: Some(decision),
                    errors: Vec::new(),
                };
                lines.extend(serde_json::to_vec(&line).unwrap());
                lines.push(b'\n');
            }
        }
    }
    let path = dir.join(format!("{batch_id}.traces.zst"));
    let mut writer = TraceWriter::create(&path).unwrap();
    let bytes = match traces {
        Traces::Compact => frame.finish().unwrap(),
        Traces::JsonLines => compress_frame(&lines).unwrap(),
    };
    writer.append(1, &bytes).unwrap();
    let (frame_first_rows, frame_offsets, trace_sha256) = writer.finish().unwrap();
    let batch = BatchRecord {
        batch_id: batch_id.into(),
        status: BatchStatus::Finished,
        started_at: "2026-11-20T08:00:00Z".into(),
        finished_at: "2026-11-20T08:00:01Z".into(),
        institution: institution.into(),
        product: PRODUCT.into(),
        as_of: String::new(),
        versions,
        input: "households".into(),
        output: "out.csv".into(),
        errors_file: String::new(),
        trace_file: path.display().to_string(),
        trace_sha256,
        frame_first_rows,
        frame_offsets,
        rows,
        approved,
        referred,
        declined,
        errors: 0,
        failure: String::new(),
        shard: String::new(),
    };
    store.put_batch(batch.clone()).await.unwrap();
    batch
}

struct World {
    dir: tempfile::TempDir,
    store: Arc<MemoryStore>,
    register: PreCredits<MemoryStore>,
    now: SystemTime,
}

fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let tokens = Arc::new(Tokens::load(&repo("config/tokens.dev.toml")).unwrap());
    let key = Arc::new(IdKey::new(b"a-test-only-key-of-32-bytes-or-more!".to_vec()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    World {
        register: PreCredits::new(store.clone(), tokens, Some(key))
            .with_import_dir(dir.path().join("imports")),
        dir,
        store,
        now: SystemTime::now(),
    }
}

fn day(now: SystemTime, days: u64) -> String {
    date_at(now + DAY * days as u32).to_string()
}

impl World {
    async fn publish(&self, batch_id: &str, valid_until: &str) -> Result<String, ServiceError> {
        self.register
            .publish(
                &Bearer::Token(LEAD),
                Publish {
                    batch_id: batch_id.into(),
                    valid_until: valid_until.into(),
                    households: None,
                },
                self.now,
            )
            .await
            .map(|p| p.publication_id)
    }

    async fn live(&self, batch_id: &str, valid_until: &str) -> String {
        let id = self.publish(batch_id, valid_until).await.unwrap();
        self.register
            .approve(&Bearer::Token(APPROVER), &id, self.now)
            .await
            .unwrap();
        id
    }

    async fn op(
        &self,
        entry: &str,
        op_id: &str,
        operation: Operation,
        at: SystemTime,
    ) -> Result<decision_service::precredit::Operated, ServiceError> {
        self.register
            .operate(
                &Bearer::Token(CLIENT),
                INSTITUTION,
                entry,
                op_id,
                operation,
                at,
            )
            .await
    }

    async fn entries(
        &self,
        household: &str,
        at: SystemTime,
    ) -> Vec<decision_service::precredit::EntryView> {
        self.register
            .get(
                &Bearer::Token(CLIENT),
                INSTITUTION,
                PRODUCT,
                household,
                "",
                at,
            )
            .await
            .unwrap()
    }

    /// Every entry of `institution`'s register but a loading publication's.
    async fn all_entries(&self, institution: &str) -> Vec<decision_store::PreCreditEntry> {
        self.store
            .list_precredits(decision_store::PreCreditQuery {
                institution: institution.into(),
                limit: 10_000,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    async fn funnel(&self, at: SystemTime) -> FunnelRow {
        funnel(&*self.store, &[], None, date_at(at))
            .await
            .unwrap()
            .remove(0)
    }
}

fn draw(amount: &str) -> Operation {
    Operation::Drawdown {
        amount: amount.into(),
    }
}

#[tokio::test]
async fn an_entry_expires_after_its_day_and_can_still_be_repaid() {
    let w = world();
    let batch = batch_run(&w.store, w.dir.path(), "bat_0001").await;
    w.live(&batch.batch_id, &day(w.now, 10)).await;
    // H0 (01-clean-approve) is offered.
    let h0 = w.entries("H0", w.now).await.remove(0);
    assert_eq!(h0.entry.status, PreCreditStatus::Offered);
    let id = h0.entry.entry_id.clone();
    let sign = Operation::Sign {
        signed_limit: h0.entry.limit.to_string(),
        contract_id: "HT-1".into(),
    };
    w.op(&id, "s1", sign, w.now).await.unwrap();
    w.op(&id, "d1", draw("1000.00"), w.now).await.unwrap();
    // On its last day it is still valid; the day after it is expired.
    let last = w.now + DAY * 10;
    assert!(!w.entries("H0", last).await[0].expired);
    let after = w.now + DAY * 11;
    let view = w.entries("H0", after).await.remove(0);
    assert!(view.expired);
    assert_eq!(view.available, Decimal::ZERO);
    let e = w.op(&id, "d2", draw("1.00"), after).await.unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!(
            "pre-credit {id} expired: it was valid until {} and today is {} (China Standard Time); no more draw-downs",
            day(w.now, 10),
            day(w.now, 11)
        ))
    );
    let repaid = w
        .op(
            &id,
            "r1",
            Operation::Repayment {
                amount: "400.00".into(),
            },
            after,
        )
        .await
        .unwrap();
    assert_eq!(repaid.entry.entry.outstanding, dec("600.00"));
    // An offered entry can no longer be signed once expired.
    let h1 = w.entries("H1", after).await.remove(0);
    assert_eq!(h1.entry.status, PreCreditStatus::Offered, "{h1:?}");
    let e = w
        .op(
            &h1.entry.entry_id,
            "s2",
            Operation::Sign {
                signed_limit: "1000".into(),
                contract_id: "HT-2".into(),
            },
            after,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Precondition(m) if m.ends_with("; it can no longer be signed")),
        "{e:?}"
    );
    // The funnel: everything live expires within 30 days; after the day,
    // it is expired.
    let offered = w
        .store
        .list_precredits(decision_store::PreCreditQuery {
            institution: INSTITUTION.into(),
            status: Some(PreCreditStatus::Offered),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len() as u64;
    let before = w.funnel(w.now).await;
    assert_eq!((before.expiring_30d, before.expired), (offered + 1, 0));
    let later = w.funnel(after).await;
    assert_eq!((later.expiring_30d, later.expired), (0, offered + 1));
    assert_eq!(later.outstanding, dec("600.00"));
}

#[tokio::test]
async fn a_newer_publication_supersedes_offers_but_not_contracts() {
    let w = world();
    let first = batch_run(&w.store, w.dir.path(), "bat_0001").await;
    w.live(&first.batch_id, &day(w.now, 30)).await;
    let h0 = w.entries("H0", w.now).await.remove(0).entry;
    w.op(
        &h0.entry_id,
        "s1",
        Operation::Sign {
            signed_limit: "5000".into(),
            contract_id: "HT-1".into(),
        },
        w.now,
    )
    .await
    .unwrap();
    // The same run cannot be published twice; a new run can.
    let e = w
        .publish(&first.batch_id, &day(w.now, 30))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Conflict(m) if m.starts_with("batch bat_0001 is already published as pub_")),
        "{e:?}"
    );
    let second = batch_run(&w.store, w.dir.path(), "bat_0002").await;
    let w = World {
        now: w.now + Duration::from_secs(1),
        ..w
    };
    let id = w.live(&second.batch_id, &day(w.now, 60)).await;
    let p = w.store.get_publication(&id).await.unwrap().unwrap();
    // Every household but the signed one had its older entry superseded.
    assert_eq!(p.superseded, second.rows - 1);
    let h0s = w.entries("H0", w.now).await;
    assert_eq!(h0s.len(), 2);
    assert_eq!(h0s[0].entry.publication_id, id);
    assert_eq!(h0s[0].entry.status, PreCreditStatus::Offered);
    assert_eq!(h0s[1].entry.status, PreCreditStatus::Signed);
    let h1s = w.entries("H1", w.now).await;
    assert_eq!(h1s[1].entry.status, PreCreditStatus::Superseded);
    assert_eq!(h1s[1].entry.superseded_by, h1s[0].entry.entry_id);
    // A superseded entry refuses operations with the newer entry's id.
    let e = w
        .op(
            &h1s[1].entry.entry_id,
            "s2",
            Operation::Sign {
                signed_limit: "1000".into(),
                contract_id: "HT-2".into(),
            },
            w.now,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!(
            "pre-credit {} was superseded by {}; only an offered pre-credit can be signed",
            h1s[1].entry.entry_id, h1s[0].entry.entry_id
        ))
    );
    // One contract at a time: H0's new offer cannot be signed while the
    // old contract runs.
    let e = w
        .op(
            &h0s[0].entry.entry_id,
            "s3",
            Operation::Sign {
                signed_limit: "1000".into(),
                contract_id: "HT-3".into(),
            },
            w.now,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!(
            "household H0 already has a contract on pre-credit {} (signed, until {}, outstanding 0); one contract at a time: it must be revoked or expired, and repaid, first",
            h0s[1].entry.entry_id,
            day(w.now, 30)
        ))
    );
    // A retry with the amount written otherwise is the same operation.
    let again = w
        .op(
            &h0s[1].entry.entry_id,
            "s1",
            Operation::Sign {
                signed_limit: "5000.00".into(),
                contract_id: "HT-1".into(),
            },
            w.now,
        )
        .await
        .unwrap();
    assert!(again.idempotent_replay);
    // The funnel counts current entries: the new ones and the contract.
    let f = w.funnel(w.now).await;
    assert_eq!(f.households, second.rows + 1);
    assert_eq!(f.signed, 1);
}

#[tokio::test]
async fn a_trace_file_of_an_earlier_release_publishes_the_same_entries() {
    let w = world();
    let village = generated_village(400, 4);
    let mut runs = Vec::new();
    for (batch_id, traces) in [
        ("bat_0a01", Traces::JsonLines),
        ("bat_0a02", Traces::Compact),
    ] {
        let batch = run_of(
            &w.store,
            w.dir.path(),
            batch_id,
            "3201",
            village.clone(),
            traces,
        )
        .await;
        let publication = w.live(batch_id, &day(w.now, 30)).await;
        runs.push((batch, publication));
    }
    let entries = w.all_entries("3201").await;
    let of = |publication: &str| {
        let mut rows: Vec<_> = entries
            .iter()
            .filter(|e| e.publication_id == publication)
            .map(|e| {
                (
                    e.household_id.clone(),
                    e.village.clone(),
                    e.outcome.clone(),
                    e.grade.clone(),
                    e.score.to_string(),
                    e.limit.to_string(),
                    e.annual_rate.map(|r| r.to_string()),
                    // dec_<batch>_<row>: the row.
                    e.decision_id.rsplit('_').next().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let (old, new) = (of(&runs[0].1), of(&runs[1].1));
    assert_eq!(old.len(), 400);
    assert_eq!(old, new);
    // Both outcomes a register holds are there, with their terms.
    assert!(new.iter().any(|e| e.2 == "APPROVE" && e.5 != "0"));
    assert!(new.iter().any(|e| e.2 == "DECLINE" && e.5 == "0"));
    let p = w.store.get_publication(&runs[1].1).await.unwrap().unwrap();
    assert_eq!(
        (p.offered, p.referred, p.declined),
        (runs[1].0.approved, runs[1].0.referred, runs[1].0.declined)
    );
    // Looked up by id (explain, GetDecision), a row of either format is the
    // same decision, trace and all: format 1 as stored, format 2 rendered.
    let policies = StoredPolicies::new(&*w.store);
    for row in [1, 2, 200, 400] {
        let mut shown = Vec::new();
        for batch in ["0a01", "0a02"] {
            let id = format!("dec_{batch}_{row}");
            let record = find_decision(&*w.store, &id, "").await.unwrap();
            assert_eq!(record.format, if batch == "0a01" { 1 } else { 2 });
            assert_eq!(record.batch_id.as_deref(), Some(&*format!("bat_{batch}")));
            let decision = parse_decision(&record, &policies).await.unwrap();
            assert_eq!(decision.decision_id, id);
            assert!(decision.trace.is_some(), "{id}");
            let json = serde_json::to_string(&decision).unwrap();
            shown.push(json.replace(&id, "dec_ID"));
        }
        assert_eq!(shown[0], shown[1], "row {row}");
    }
}

#[tokio::test]
async fn publishing_refuses_bad_dates_unknown_or_unfinished_runs_and_changed_trace_files() {
    let w = world();
    let batch = batch_run(&w.store, w.dir.path(), "bat_0001").await;
    let field = |e: ServiceError| match e {
        ServiceError::Invalid { fields, .. } => {
            format!("{}: {}", fields[0].field, fields[0].message)
        }
        other => panic!("{other:?}"),
    };
    let yesterday = day(w.now - DAY, 0);
    assert_eq!(
        field(w.publish(&batch.batch_id, &yesterday).await.unwrap_err()),
        format!(
            "valid_until: {yesterday} is in the past (today is {} in China Standard Time)",
            day(w.now, 0)
        )
    );
    assert!(
        field(
            w.publish(&batch.batch_id, &day(w.now, 1200))
                .await
                .unwrap_err()
        )
        .contains("is more than three years from today")
    );
    assert!(
        field(w.publish(&batch.batch_id, "2027-02-30").await.unwrap_err())
            .starts_with("valid_until: expected a date as YYYY-MM-DD")
    );
    assert_eq!(
        w.publish("bat_none", &day(w.now, 30)).await.unwrap_err(),
        ServiceError::NotFound("no batch run with id `bat_none`".into())
    );
    let mut running = batch.clone();
    running.batch_id = "bat_0009".into();
    running.status = BatchStatus::Running;
    w.store.put_batch(running).await.unwrap();
    assert_eq!(
        w.publish("bat_0009", &day(w.now, 30)).await.unwrap_err(),
        ServiceError::Precondition(
            "batch bat_0009 is running: only a finished run can be published".into()
        )
    );
    // Roles: an approver cannot publish, an analyst cannot approve.
    let e = w
        .register
        .publish(
            &Bearer::Token(APPROVER),
            Publish {
                batch_id: batch.batch_id.clone(),
                valid_until: day(w.now, 30),
                households: None,
            },
            w.now,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Forbidden(_)), "{e:?}");
    // A changed trace file: refused, the publication failed, nothing live.
    let mut bytes = std::fs::read(&batch.trace_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let changed = w.dir.path().join("changed.zst");
    std::fs::write(&changed, &bytes).unwrap();
    let mut tampered = batch.clone();
    tampered.batch_id = "bat_0003".into();
    tampered.trace_file = changed.display().to_string();
    w.store.put_batch(tampered).await.unwrap();
    let e = w.publish("bat_0003", &day(w.now, 30)).await.unwrap_err();
    assert!(matches!(e, ServiceError::Corrupt(_)), "{e:?}");
    let failed = w.store.list_publications().await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, PublicationStatus::Failed);
    let e = w
        .register
        .approve(&Bearer::Token(APPROVER), &failed[0].publication_id, w.now)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!(
            "publication {} is failed: only a pending one can be approved",
            failed[0].publication_id
        ))
    );
    assert!(
        w.register
            .get(
                &Bearer::Token(CLIENT),
                INSTITUTION,
                PRODUCT,
                "H0",
                "",
                w.now
            )
            .await
            .is_err()
    );
    // Households files only from the import directory.
    std::fs::create_dir_all(w.dir.path().join("imports")).unwrap();
    std::fs::write(w.dir.path().join("secret.key"), "household_id\n").unwrap();
    let e = w
        .register
        .publish(
            &Bearer::Token(ANALYST),
            Publish {
                batch_id: batch.batch_id.clone(),
                valid_until: day(w.now, 30),
                households: Some("../secret.key".into()),
            },
            w.now,
        )
        .await
        .unwrap_err();
    assert!(field(e).starts_with(
        "households_file: expected a readable file under the server's import directory"
    ),);
    // A households file with a mistyped national ID number names its line.
    let households = w.dir.path().join("imports/households.csv");
    std::fs::write(
        &households,
        "household_id,national_id,branch\nH0,11010519491231002X,B1\nH1,110105194912310021,B1\n",
    )
    .unwrap();
    let e = w
        .register
        .publish(
            &Bearer::Token(ANALYST),
            Publish {
                batch_id: batch.batch_id.clone(),
                valid_until: day(w.now, 30),
                households: Some(households),
            },
            w.now,
        )
        .await
        .unwrap_err();
    let text = field(e);
    assert!(
        text.starts_with("households: ") && text.contains("households.csv line 3: national_id:"),
        "{text}"
    );
    assert!(text.contains("check character"), "{text}");
}

#[tokio::test]
async fn a_generated_village_of_5000_signs_draws_repays_and_expires_with_exact_amounts() {
    let w = world();
    let batch = run_of(
        &w.store,
        w.dir.path(),
        "bat_5000",
        "3201",
        generated_village(5000, 8),
        Traces::Compact,
    )
    .await;
    assert_eq!(batch.rows, 5000);
    w.live(&batch.batch_id, &day(w.now, 30)).await;
    let client = Bearer::Token(CLIENT);
    let offered: Vec<_> = w
        .store
        .list_precredits(decision_store::PreCreditQuery {
            institution: "3201".into(),
            status: Some(PreCreditStatus::Offered),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(offered.len() as u64, batch.approved);
    let op = |entry: &str, op_id: &str, operation: Operation, at: SystemTime| {
        let (entry, op_id) = (entry.to_string(), op_id.to_string());
        let register = &w.register;
        let client = &client;
        async move {
            register
                .operate(client, "3201", &entry, &op_id, operation, at)
                .await
        }
    };
    let (a, b, c) = (&offered[0], &offered[1], &offered[2]);
    // A: signed for 20,000.00 (or its limit, if lower), drawn twice, repaid once.
    let signed = a.limit.min(dec("20000.00"));
    op(
        &a.entry_id,
        "a-sign",
        Operation::Sign {
            signed_limit: signed.to_string(),
            contract_id: "HT-A".into(),
        },
        w.now,
    )
    .await
    .unwrap();
    op(&a.entry_id, "a-d1", draw("1234.56"), w.now)
        .await
        .unwrap();
    op(&a.entry_id, "a-d2", draw("765.44"), w.now)
        .await
        .unwrap();
    let after = op(
        &a.entry_id,
        "a-r1",
        Operation::Repayment {
            amount: "500.00".into(),
        },
        w.now,
    )
    .await
    .unwrap()
    .entry;
    assert_eq!(
        (
            after.entry.drawn_total,
            after.entry.repaid_total,
            after.entry.outstanding,
            after.available
        ),
        (
            dec("2000.00"),
            dec("500.00"),
            dec("1500.00"),
            signed - dec("1500.00")
        )
    );
    // B: signed, then revoked by an officer.
    op(
        &b.entry_id,
        "b-sign",
        Operation::Sign {
            signed_limit: b.limit.to_string(),
            contract_id: "HT-B".into(),
        },
        w.now,
    )
    .await
    .unwrap();
    w.register
        .operate(
            &Bearer::Token("dev-officer-token-3201"),
            "3201",
            &b.entry_id,
            "b-revoke",
            Operation::Revoke {
                reason: "迁出本县 moved away".into(),
            },
            w.now,
        )
        .await
        .unwrap();
    // 31 days on: expired. A can no longer draw, but repays; C cannot sign.
    let later = w.now + DAY * 31;
    let e = op(&a.entry_id, "a-d3", draw("1.00"), later)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ServiceError::Precondition(format!(
            "pre-credit {} expired: it was valid until {} and today is {} (China Standard Time); no more draw-downs",
            a.entry_id,
            day(w.now, 30),
            day(w.now, 31)
        ))
    );
    let repaid = op(
        &a.entry_id,
        "a-r2",
        Operation::Repayment {
            amount: "1500.00".into(),
        },
        later,
    )
    .await
    .unwrap()
    .entry;
    assert_eq!(repaid.entry.outstanding, dec("0.00"));
    assert!(repaid.expired);
    let e = op(
        &c.entry_id,
        "c-sign",
        Operation::Sign {
            signed_limit: "1000".into(),
            contract_id: "HT-C".into(),
        },
        later,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Precondition(m) if m.ends_with("; it can no longer be signed")),
        "{e:?}"
    );
    // The funnel, recomputed from the register's entries.
    let f = funnel(&*w.store, &[], None, date_at(later)).await.unwrap();
    let total = &f[0];
    assert_eq!((total.level, total.key.as_str()), ("institution", "3201"));
    assert_eq!(total.households, 5000);
    assert_eq!(
        (total.precredited, total.referred, total.declined),
        (batch.approved, batch.referred, batch.declined)
    );
    let all = w.all_entries("3201").await;
    let offered_amount: Decimal = all.iter().map(|e| e.limit).sum();
    assert_eq!(total.offered_amount, offered_amount);
    assert_eq!(
        (total.signed, total.drawn, total.revoked),
        (2, 1, 1),
        "{total:?}"
    );
    assert_eq!(total.signed_amount, signed + b.limit);
    assert_eq!(
        (total.drawn_amount, total.repaid_amount, total.outstanding),
        (dec("2000.00"), dec("2000.00"), dec("0.00"))
    );
    // Offered (less C? no: C stayed offered) and A's contract are expired;
    // B is revoked, not expired.
    assert_eq!(total.expired, batch.approved - 1);
    assert_eq!(total.expiring_30d, 0);
    for v in f.iter().filter(|r| r.level == "village") {
        let of: Vec<_> = all.iter().filter(|e| e.village == v.key).collect();
        assert_eq!(v.households, of.len() as u64);
        assert_eq!(
            v.precredited,
            of.iter().filter(|e| e.outcome == "APPROVE").count() as u64
        );
        assert_eq!(
            v.offered_amount,
            of.iter().map(|e| e.limit).sum::<Decimal>()
        );
    }
    assert_eq!(f.iter().filter(|r| r.level == "village").count(), 8);
    let _ = client;
}

/// Example 01's household as a loan of `household` on 2026-01-15,
/// disbursed 2025-12-01, `dpd` days past due.
fn loan(household: &str, loan_id: &str, dpd: i64) -> serde_json::Map<String, serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/requests/01-clean-approve.json")).unwrap(),
    )
    .unwrap();
    let mut loan = v["features"].as_object().unwrap().clone();
    for (k, v) in serde_json::json!({
        "loan_id": loan_id,
        "household_id": household,
        "institution": INSTITUTION,
        "branch": "JS-01",
        "product": PRODUCT,
        "amount": "30000",
        "balance": "30000",
        "disbursed_on": "2025-12-01",
        "maturity_on": "2026-12-01",
        "days_past_due": dpd
    })
    .as_object()
    .unwrap()
    {
        loan.insert(k.clone(), v.clone());
    }
    loan
}

#[tokio::test]
async fn a_red_post_loan_signal_flags_the_live_pre_credit_and_tasks_are_kept_to_their_institution()
{
    use decision_service::monitoring::{Monitor, TaskList};
    use decision_store::TaskStatus;

    let w = world();
    let batch = batch_run(&w.store, w.dir.path(), "bat_0001").await;
    w.live(&batch.batch_id, &day(w.now, 30)).await;
    // The dev tokens and a loan officer of HB-JINGSHAN.
    let tokens = w.dir.path().join("tokens.toml");
    let mut text = std::fs::read_to_string(repo("config/tokens.dev.toml")).unwrap();
    text.push_str(
        "\n[[tokens]]\ntoken = \"test-officer-token-hb\"\nperson = \"officer.liu\"\nroles = [\"officer\"]\ninstitutions = [\"HB-JINGSHAN\"]\n",
    );
    std::fs::write(&tokens, text).unwrap();
    let tokens = Arc::new(Tokens::load(&tokens).unwrap());
    let policies = Arc::new(
        Policies::new(Arc::new(PolicySet::shipped().unwrap()), w.store.clone())
            .await
            .unwrap(),
    );
    let register = Arc::new(PreCredits::new(w.store.clone(), tokens.clone(), None));
    let monitor = Monitor::new(policies, register, tokens).unwrap();

    // H0 is 45 days past due: red, intensive; H1 is current.
    let (e, created) = monitor
        .evaluate_loan(
            &Bearer::Token(CLIENT),
            &loan("H0", "LN-H0", 45),
            "2026-01-15",
        )
        .await
        .unwrap();
    let codes: Vec<&str> = e.signals.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["W_DPD_SEVERE"]);
    assert_eq!(e.level.code, "L1_INTENSIVE");
    let tasks: Vec<(&str, &str)> = e
        .tasks
        .iter()
        .map(|t| (t.rule_id.as_str(), t.due_on.as_str()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("T_INTENSIVE_FIELD", "2026-01-22"),
            ("T_FREEZE", "2026-01-16")
        ]
    );
    assert_eq!(created.len(), 2);
    let (quiet, _) = monitor
        .evaluate_loan(
            &Bearer::Token(CLIENT),
            &loan("H1", "LN-H1", 0),
            "2026-01-15",
        )
        .await
        .unwrap();
    assert!(quiet.signals.is_empty());
    assert_eq!(quiet.level.code, "L4_NORMAL");

    // The hand-off: H0's live pre-credit is flagged with the signal, H1's
    // is not.
    let h0 = w.entries("H0", w.now).await.remove(0);
    let signal = &e.signals[0].signal_id;
    assert_eq!(
        h0.entry.review_flag,
        format!("post-loan signal W_DPD_SEVERE ({signal}) on loan LN-H0 as of 2026-01-15")
    );
    assert_eq!(w.entries("H1", w.now).await[0].entry.review_flag, "");
    // The same evaluation again: nothing new, the flag once.
    let (_, again) = monitor
        .evaluate_loan(
            &Bearer::Token(CLIENT),
            &loan("H0", "LN-H0", 45),
            "2026-01-15",
        )
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(
        w.entries("H0", w.now).await[0].entry.revision,
        h0.entry.revision
    );

    // Scope: an officer of 3201 neither sees nor completes HB-JINGSHAN's
    // tasks.
    let officer_3201 = Bearer::Token("dev-officer-token-3201");
    let officer_hb = Bearer::Token("test-officer-token-hb");
    let list = |institution: &str, overdue: bool| TaskList {
        institution: institution.into(),
        overdue,
        ..TaskList::default()
    };
    let e3201 = monitor
        .list_tasks(&officer_3201, &list(INSTITUTION, false))
        .await
        .unwrap_err();
    assert!(matches!(e3201, ServiceError::Forbidden(_)), "{e3201:?}");
    let own = monitor
        .list_tasks(&officer_3201, &list("", false))
        .await
        .unwrap()
        .tasks;
    assert!(own.is_empty());
    // Both tasks were due in January 2026: overdue today.
    let page = monitor
        .list_tasks(&officer_hb, &list("", true))
        .await
        .unwrap();
    assert_eq!(page.next_page_token, "");
    let (overdue, today) = (page.tasks, page.today);
    assert_eq!(
        overdue
            .iter()
            .map(|t| t.rule_id.as_str())
            .collect::<Vec<_>>(),
        ["T_FREEZE", "T_INTENSIVE_FIELD"]
    );
    assert!(overdue.iter().all(|t| t.overdue_on(&today)));
    let freeze = overdue[0].task_id.clone();
    let refused = monitor
        .complete_task(&officer_3201, &freeze, "limit_freeze", "frozen", "")
        .await
        .unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");
    // A client cannot complete a follow-up either.
    let refused = monitor
        .complete_task(
            &Bearer::Token(CLIENT),
            &freeze,
            "limit_freeze",
            "frozen",
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)), "{refused:?}");
    // Bad input names its fields; nothing changes.
    let bad = monitor
        .complete_task(&officer_hb, &freeze, "visit", " ", "")
        .await
        .unwrap_err();
    match bad {
        ServiceError::Invalid { fields, .. } => assert_eq!(
            fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
            ["visit_type", "result"]
        ),
        other => panic!("{other:?}"),
    }
    let open = monitor
        .list_tasks(&officer_hb, &list("", true))
        .await
        .unwrap()
        .tasks;
    assert_eq!(open.len(), 2);
    // Completed by the officer of the institution: durable and audited.
    let done = monitor
        .complete_task(
            &officer_hb,
            &freeze,
            "limit_freeze",
            "frozen",
            "limit frozen at the branch",
        )
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    let completion = done.completion.unwrap();
    assert_eq!(
        (completion.completed_by.as_str(), completion.result.as_str()),
        ("officer.liu", "frozen")
    );
    let audit = w.store.list_audit(10, None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "CompleteTask" && a.id == freeze && a.person == "officer.liu"),
        "{audit:?}"
    );
    let again = monitor
        .complete_task(&officer_hb, &freeze, "limit_freeze", "frozen", "")
        .await
        .unwrap_err();
    assert!(matches!(again, ServiceError::Precondition(_)), "{again:?}");
    let still = monitor
        .list_tasks(&officer_hb, &list("", true))
        .await
        .unwrap()
        .tasks;
    assert_eq!(
        still.iter().map(|t| t.rule_id.as_str()).collect::<Vec<_>>(),
        ["T_INTENSIVE_FIELD"]
    );
}
