//! The pre-credit register as a bank runs it: a generated village of 5,000
//! households decided by `decision-engine batch`, published and approved
//! (four-eyes) through a real server, then signed, drawn, repaid and
//! revoked with exact amounts; every refusal with its status and message
//! and nothing changed; look-ups by national ID with no ID number in the
//! database file; online pre-reviews meeting the register; the funnel
//! recomputed from the register; and a kill -9 under draw-down load.
#![cfg(feature = "batch")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use decision_grpc::pb::pre_credit_service_client::PreCreditServiceClient;
use decision_service::identity::with_check_character;
use rust_decimal::Decimal;
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::common::{Server, cli, read_csv};

const INSTITUTION: &str = "3201";
const PRODUCT: &str = "FARMER_CREDIT";
const LEAD: &str = "dev-lead-token-00000001";
const ANALYST: &str = "dev-analyst-token-0001";
const APPROVER: &str = "dev-approver-token-0001";
const OFFICER: &str = "dev-officer-token-3201";
const OTHER_OFFICER: &str = "dev-officer-token-3202";
const CLIENT: &str = "dev-client-token-000001";

fn tokens_file() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/tokens.dev.toml")
        .to_str()
        .unwrap()
        .to_string()
}

fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The national ID number of household `H00000042`: a valid 18-digit number
/// made from its index.
fn national_id(household_id: &str) -> String {
    let n: u64 = household_id[1..].parse().unwrap();
    with_check_character(&format!("3201021980{n:07}")).unwrap()
}

/// A register: a generated village decided by a batch run, a households
/// file with national ID numbers and branches, and a server with tokens
/// and an ID key.
struct Register {
    dir: tempfile::TempDir,
    /// Output rows by household id.
    rows: BTreeMap<String, BTreeMap<String, String>>,
    /// Input rows (features) by household id.
    inputs: BTreeMap<String, BTreeMap<String, String>>,
    batch_id: String,
    server: Server,
}

impl Register {
    fn new(households: u64, villages: u64) -> Register {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("village.csv");
        let mut w = csv::Writer::from_path(&input).unwrap();
        w.write_record(village_gen::COLUMNS).unwrap();
        for row in village_gen::Village::new(village_gen::Config {
            households,
            villages,
            seed: 2026,
        }) {
            w.write_record(&row).unwrap();
        }
        w.flush().unwrap();
        let data = dir.path().join("data");
        let output = dir.path().join("decisions.csv");
        let (code, stdout, stderr) = cli(&[
            "batch",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--institution",
            INSTITUTION,
            "--data-dir",
            data.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        let batch_id = stdout.trim().to_string();
        let rows = read_csv(&output)
            .into_iter()
            .map(|r| (r["household_id"].clone(), r))
            .collect();
        let inputs: BTreeMap<_, _> = read_csv(&input)
            .into_iter()
            .map(|r| (r["household_id"].clone(), r))
            .collect();
        // The bank's households: every one with its head's national ID
        // number, in two branches by village.
        let mut w = csv::Writer::from_path(dir.path().join("households.csv")).unwrap();
        w.write_record(["household_id", "national_id", "branch"])
            .unwrap();
        for (id, r) in &inputs {
            let village: u64 = r["village_code"][1..].parse().unwrap();
            let branch = if village.is_multiple_of(2) {
                "B-EAST"
            } else {
                "B-WEST"
            };
            w.write_record([id.as_str(), &national_id(id), branch])
                .unwrap();
        }
        w.flush().unwrap();
        std::fs::write(
            dir.path().join("id.key"),
            "a-test-only-id-key-of-more-than-32-bytes-0123456789",
        )
        .unwrap();
        let server = start(dir.path());
        Register {
            dir,
            rows,
            inputs,
            batch_id,
            server,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn server_args(&self, token: &str) -> Vec<String> {
        vec![
            "--server".into(),
            format!("http://{}", self.server.addr),
            "--token".into(),
            token.into(),
        ]
    }

    /// `decision-engine precredit ACTION [server args] ARGS`.
    fn precredit(&self, action: &str, token: &str, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["precredit".to_string(), action.to_string()];
        all.extend(self.server_args(token));
        all.extend(args.iter().map(|a| a.to_string()));
        cli(&all.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Publishes the batch (lead) and approves it (approver); returns the
    /// publication line.
    fn publish_and_approve(&self, valid_until: &str) -> String {
        let households = self.path("households.csv");
        let (code, out, err) = self.precredit(
            "publish",
            LEAD,
            &[
                &self.batch_id,
                "--valid-until",
                valid_until,
                "--households",
                &households,
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        let publication = out.split_whitespace().next().unwrap().to_string();
        let (code, out, err) = self.precredit("approve", APPROVER, &[&publication]);
        assert_eq!(code, 0, "{out}{err}");
        out
    }

    fn household(&self, outcome: &str, skip: usize) -> String {
        self.rows
            .values()
            .filter(|r| r["decision"] == outcome)
            .nth(skip)
            .unwrap()["household_id"]
            .clone()
    }

    async fn client(&self) -> PreCreditServiceClient<Channel> {
        PreCreditServiceClient::new(self.server.channel().await)
    }
}

fn start(dir: &Path) -> Server {
    let key = dir.join("id.key");
    Server::start(
        &dir.join("data"),
        &[
            "--tokens-file",
            &tokens_file(),
            "--id-key-file",
            key.to_str().unwrap(),
            "--import-dir",
            dir.to_str().unwrap(),
        ],
    )
}

fn later(days: u64) -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(days * 86_400);
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

async fn get(client: &mut PreCreditServiceClient<Channel>, household: &str) -> pb::PreCredit {
    client
        .get_pre_credit(as_user(
            CLIENT,
            pb::GetPreCreditRequest {
                institution: INSTITUTION.into(),
                product: PRODUCT.into(),
                household_id: household.into(),
                national_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries
        .remove(0)
}

async fn sign(
    client: &mut PreCreditServiceClient<Channel>,
    token: &str,
    entry: &str,
    op: &str,
    limit: &str,
) -> Result<pb::PreCreditReply, tonic::Status> {
    client
        .sign_pre_credit(as_user(
            token,
            pb::SignPreCreditRequest {
                institution: INSTITUTION.into(),
                entry_id: entry.into(),
                op_id: op.into(),
                signed_limit: limit.into(),
                contract_id: format!("HT-{op}"),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn amount(
    client: &mut PreCreditServiceClient<Channel>,
    draw: bool,
    entry: &str,
    op: &str,
    amount: &str,
) -> Result<pb::PreCreditReply, tonic::Status> {
    let request = as_user(
        CLIENT,
        pb::AmountRequest {
            institution: INSTITUTION.into(),
            entry_id: entry.into(),
            op_id: op.into(),
            amount: amount.into(),
        },
    );
    if draw {
        client.record_drawdown(request).await
    } else {
        client.record_repayment(request).await
    }
    .map(|r| r.into_inner())
}

/// A refusal, its code and message; the entry must be unchanged after it.
fn refusal(result: Result<pb::PreCreditReply, tonic::Status>, code: Code) -> String {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{}", status.message());
    let mut text = status.message().to_string();
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!(" | {}: {}", v.field, v.description));
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_village_is_signed_drawn_repaid_revoked_and_counted() {
    let reg = Register::new(5000, 8);
    let mut client = reg.client().await;

    // Four-eyes: the lead publishes, and may not approve their own list.
    let households = reg.path("households.csv");
    let (code, out, err) = reg.precredit(
        "publish",
        LEAD,
        &[
            &reg.batch_id,
            "--valid-until",
            &later(180),
            "--households",
            &households,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let publication = out.split_whitespace().next().unwrap().to_string();
    let counts = |outcome: &str| {
        reg.rows
            .values()
            .filter(|r| r["decision"] == outcome)
            .count()
    };
    let offered_amount: Decimal = reg
        .rows
        .values()
        .filter(|r| r["decision"] == "APPROVE")
        .map(|r| dec(&r["limit"]))
        .sum();
    assert!(
        out.contains(&format!(
            "pending batch {} 3201 FARMER_CREDIT valid until {}: {} offered ({} yuan), {} referred, {} declined, 0 errors, 5000 identified",
            reg.batch_id,
            later(180),
            counts("APPROVE"),
            offered_amount,
            counts("REFER"),
            counts("DECLINE")
        )),
        "{out}"
    );
    // Publishing the same run twice is refused.
    let (code, _, err) = reg.precredit(
        "publish",
        LEAD,
        &[&reg.batch_id, "--valid-until", &later(180)],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("AlreadyExists") && err.contains("is already published as"),
        "{err}"
    );
    let (code, _, err) = reg.precredit("approve", LEAD, &[&publication]);
    assert_eq!(code, 1);
    assert!(
        err.contains("PermissionDenied: lead.sun published")
            && err.contains("a second person must approve it"),
        "{err}"
    );
    let (code, _, err) = reg.precredit("approve", ANALYST, &[&publication]);
    assert_eq!(code, 1);
    assert!(
        err.contains("PermissionDenied: analyst.wang holds analyst but this call needs approver"),
        "{err}"
    );
    // Nothing is live before approval.
    let a = reg.household("APPROVE", 0);
    let e = client
        .get_pre_credit(as_user(
            CLIENT,
            pb::GetPreCreditRequest {
                institution: INSTITUTION.into(),
                product: PRODUCT.into(),
                household_id: a.clone(),
                national_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let (code, out, err) = reg.precredit("approve", APPROVER, &[&publication]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(" approved ") && out.contains("approved by approver.li"),
        "{out}"
    );

    // Household A: offered at the batch's limit and rate.
    let entry = get(&mut client, &a).await;
    let row = &reg.rows[&a];
    assert_eq!(entry.status, "offered");
    assert_eq!(entry.limit, row["limit"]);
    assert_eq!(
        entry.annual_rate.as_deref(),
        Some(row["annual_rate"].as_str())
    );
    assert_eq!(entry.grade, row["grade"]);
    assert_eq!(entry.decision_id, row["decision_id"]);
    assert_eq!(entry.available, "0");
    let limit = dec(&entry.limit);
    assert!(limit >= dec("10000"), "{limit}");
    // The same entry by the head's national ID number.
    let by_id = client
        .get_pre_credit(as_user(
            CLIENT,
            pb::GetPreCreditRequest {
                institution: INSTITUTION.into(),
                product: PRODUCT.into(),
                household_id: String::new(),
                national_id: national_id(&a).to_lowercase(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(by_id, vec![entry.clone()]);
    let mut wrong = national_id(&a);
    wrong.replace_range(17.., if wrong.ends_with('1') { "2" } else { "1" });
    let e = client
        .get_pre_credit(as_user(
            CLIENT,
            pb::GetPreCreditRequest {
                institution: INSTITUTION.into(),
                product: PRODUCT.into(),
                household_id: String::new(),
                national_id: wrong,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let bad = e.get_details_bad_request().unwrap();
    assert_eq!(bad.field_violations[0].field, "national_id");
    assert!(
        bad.field_violations[0]
            .description
            .contains("check character")
    );

    // Sign below the limit, draw twice, repay: exact amounts.
    let signed = limit - dec("1000");
    let r = sign(
        &mut client,
        OFFICER,
        &entry.entry_id,
        "A-sign",
        &signed.to_string(),
    )
    .await
    .unwrap();
    let e = r.entry.unwrap();
    assert_eq!(
        (e.status.as_str(), e.signed_limit.clone()),
        ("signed", Some(signed.to_string()))
    );
    assert_eq!(dec(&e.available), signed);
    let r = amount(&mut client, true, &entry.entry_id, "A-d1", "5000.00")
        .await
        .unwrap();
    assert_eq!(r.entry.unwrap().outstanding, "5000.00");
    let r = amount(&mut client, true, &entry.entry_id, "A-d2", "3000.50")
        .await
        .unwrap();
    assert_eq!(r.entry.unwrap().outstanding, "8000.50");
    let r = amount(&mut client, false, &entry.entry_id, "A-r1", "2000.25")
        .await
        .unwrap();
    let e = r.entry.unwrap();
    assert_eq!(
        (
            e.status.as_str(),
            e.drawn_total.as_str(),
            e.repaid_total.as_str(),
            e.outstanding.as_str()
        ),
        ("drawn", "8000.50", "2000.25", "6000.25")
    );
    assert_eq!(dec(&e.available), signed - dec("6000.25"));
    // A retry is answered with the first answer; other content is a conflict.
    let again = amount(&mut client, true, &entry.entry_id, "A-d2", "3000.50")
        .await
        .unwrap();
    assert!(again.idempotent_replay);
    assert_eq!(again.entry.unwrap().outstanding, "8000.50");
    let before = get(&mut client, &a).await;
    assert_eq!(
        refusal(
            amount(&mut client, true, &entry.entry_id, "A-d2", "3000.51").await,
            Code::AlreadyExists
        ),
        format!(
            "op_id `A-d2` was already used for a drawdown of {} with different content; use a new op_id",
            entry.entry_id
        )
    );
    // Beyond the available amount.
    let available = dec(&before.available);
    let too_much = available + dec("0.01");
    assert_eq!(
        refusal(
            amount(
                &mut client,
                true,
                &entry.entry_id,
                "A-d3",
                &too_much.to_string()
            )
            .await,
            Code::FailedPrecondition
        ),
        format!(
            "a draw-down of {too_much} exceeds the available {available} of pre-credit {} (signed limit {signed}, outstanding 6000.25)",
            entry.entry_id
        )
    );
    assert_eq!(
        refusal(
            amount(&mut client, false, &entry.entry_id, "A-r2", "6000.26").await,
            Code::FailedPrecondition
        ),
        format!(
            "a repayment of 6000.26 exceeds the outstanding 6000.25 of pre-credit {}",
            entry.entry_id
        )
    );
    assert_eq!(
        refusal(
            amount(&mut client, true, &entry.entry_id, "A-d4", "10.001").await,
            Code::InvalidArgument
        ),
        "invalid request (1 problem):\n  amount: expected at most two decimals (fen), found 10.001 | amount: expected at most two decimals (fen), found 10.001"
    );
    assert_eq!(
        refusal(
            amount(&mut client, true, &entry.entry_id, "A-d5", "-5").await,
            Code::InvalidArgument
        ),
        "invalid request (1 problem):\n  amount: expected an amount above 0, found -5 | amount: expected an amount above 0, found -5"
    );
    // Another institution's officer, and a client revoking.
    assert_eq!(
        refusal(
            sign(&mut client, OTHER_OFFICER, &entry.entry_id, "X-1", "1000").await,
            Code::PermissionDenied
        ),
        "officer.wu acts for 3202 and not for institution 3201"
    );
    let e = client
        .revoke_pre_credit(as_user(
            CLIENT,
            pb::RevokePreCreditRequest {
                institution: INSTITUTION.into(),
                entry_id: entry.entry_id.clone(),
                op_id: "X-2".into(),
                reason: "test".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        "loan-system holds client but this call needs officer"
    );
    // Nothing changed by any refusal.
    assert_eq!(get(&mut client, &a).await, before);

    // Household B: signed, drawn, then revoked: no more draws, repayment still taken.
    let b = reg.household("APPROVE", 1);
    let b_entry = get(&mut client, &b).await;
    sign(
        &mut client,
        CLIENT,
        &b_entry.entry_id,
        "B-sign",
        &b_entry.limit,
    )
    .await
    .unwrap();
    amount(&mut client, true, &b_entry.entry_id, "B-d1", "1200.00")
        .await
        .unwrap();
    let revoked = client
        .revoke_pre_credit(as_user(
            OFFICER,
            pb::RevokePreCreditRequest {
                institution: INSTITUTION.into(),
                entry_id: b_entry.entry_id.clone(),
                op_id: "B-revoke".into(),
                reason: "挪用贷款 funds used off purpose".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(
        (revoked.status.as_str(), revoked.available.as_str()),
        ("revoked", "0")
    );
    assert_eq!(
        refusal(
            amount(&mut client, true, &b_entry.entry_id, "B-d2", "1.00").await,
            Code::FailedPrecondition
        ),
        format!(
            "pre-credit {} was revoked (挪用贷款 funds used off purpose); only a signed pre-credit can be drawn",
            b_entry.entry_id
        )
    );
    let repaid = amount(&mut client, false, &b_entry.entry_id, "B-r1", "1200.00")
        .await
        .unwrap();
    assert_eq!(repaid.entry.unwrap().outstanding, "0.00");
    let e = client
        .revoke_pre_credit(as_user(
            OFFICER,
            pb::RevokePreCreditRequest {
                institution: INSTITUTION.into(),
                entry_id: b_entry.entry_id.clone(),
                op_id: "B-revoke-2".into(),
                reason: " ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "reason"
    );

    // Household C: a signed limit above the pre-credit; not drawn before signing.
    let c = reg.household("APPROVE", 2);
    let c_entry = get(&mut client, &c).await;
    let above = dec(&c_entry.limit) + dec("0.01");
    assert_eq!(
        refusal(
            amount(&mut client, true, &c_entry.entry_id, "C-d0", "100").await,
            Code::FailedPrecondition
        ),
        format!(
            "pre-credit {} is offered; only a signed pre-credit can be drawn",
            c_entry.entry_id
        )
    );
    assert_eq!(
        refusal(
            sign(
                &mut client,
                OFFICER,
                &c_entry.entry_id,
                "C-sign",
                &above.to_string()
            )
            .await,
            Code::InvalidArgument
        ),
        format!(
            "invalid request (1 problem):\n  signed_limit: {above} is above the pre-credited limit {} of {} | signed_limit: {above} is above the pre-credited limit {} of {}",
            c_entry.limit, c_entry.entry_id, c_entry.limit, c_entry.entry_id
        )
    );
    assert_eq!(get(&mut client, &c).await, c_entry);

    // Referred and declined households are listed, never offered.
    let r = get(&mut client, &reg.household("REFER", 0)).await;
    assert_eq!((r.status.as_str(), r.limit.as_str()), ("referred", "0"));
    assert_eq!(
        refusal(
            sign(&mut client, OFFICER, &r.entry_id, "R-sign", "1000").await,
            Code::FailedPrecondition
        ),
        format!(
            "pre-credit {} is referred; only an offered pre-credit can be signed",
            r.entry_id
        )
    );
    let d = get(&mut client, &reg.household("DECLINE", 0)).await;
    assert_eq!(d.status, "declined");

    // The referred queue, a page at a time, in entry order.
    let mut referred = Vec::new();
    let mut after = String::new();
    loop {
        let page = client
            .list_pre_credits(as_user(
                OFFICER,
                pb::ListPreCreditsRequest {
                    institution: INSTITUTION.into(),
                    product: String::new(),
                    status: "referred".into(),
                    village: String::new(),
                    after: after.clone(),
                    limit: 200,
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .entries;
        let Some(last) = page.last() else { break };
        after = last.entry_id.clone();
        referred.extend(page);
    }
    assert_eq!(referred.len(), counts("REFER"));

    // No national ID number is in the store's files: every run of 18
    // digits (or 17 and an X) in them is checked against the village's.
    let data = reg.dir.path().join("data");
    let ids: std::collections::HashSet<Vec<u8>> = reg
        .inputs
        .keys()
        .map(|h| national_id(h).into_bytes())
        .collect();
    let mut bytes = Vec::new();
    for f in std::fs::read_dir(&data).unwrap() {
        bytes.extend(std::fs::read(f.unwrap().path()).unwrap());
        bytes.push(0);
    }
    let found = bytes
        .windows(18)
        .filter(|w| w[..17].iter().all(u8::is_ascii_digit))
        .filter(|w| ids.contains(&w.to_ascii_uppercase()))
        .count();
    assert_eq!(found, 0, "national ID numbers are stored in clear");
    assert!(
        bytes.windows(a.len()).any(|w| w == a.as_bytes()),
        "the files were read"
    );

    // The funnel, from the command line, against the register recomputed.
    let (code, out, err) = cli(&[
        "precredit",
        "report",
        "--data-dir",
        data.to_str().unwrap(),
        "--csv",
        &reg.path("funnel.csv"),
        "--html",
        &reg.path("funnel.html"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let funnel = read_csv(Path::new(&reg.path("funnel.csv")));
    let total = &funnel[0];
    assert_eq!(
        (total["level"].as_str(), total["key"].as_str()),
        ("institution", "3201")
    );
    assert_eq!(total["households"], "5000");
    assert_eq!(total["precredited"], counts("APPROVE").to_string());
    assert_eq!(total["referred"], counts("REFER").to_string());
    assert_eq!(total["declined"], counts("DECLINE").to_string());
    assert_eq!(total["offered_amount"], offered_amount.to_string());
    assert_eq!(
        (
            total["signed"].as_str(),
            total["drawn"].as_str(),
            total["revoked"].as_str()
        ),
        ("2", "2", "1")
    );
    assert_eq!(dec(&total["signed_amount"]), signed + dec(&b_entry.limit));
    assert_eq!(dec(&total["drawn_amount"]), dec("9200.50"));
    assert_eq!(dec(&total["outstanding"]), dec("6000.25"));
    assert_eq!(total["expiring_30d"], "0");
    // Per village and branch, from every entry listed through the service.
    let mut entries = Vec::new();
    let mut after = String::new();
    loop {
        let page = client
            .list_pre_credits(as_user(
                OFFICER,
                pb::ListPreCreditsRequest {
                    institution: INSTITUTION.into(),
                    after: after.clone(),
                    limit: 10_000,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .entries;
        let Some(last) = page.last() else { break };
        after = last.entry_id.clone();
        entries.extend(page);
    }
    assert_eq!(entries.len(), 5000);
    for line in funnel.iter().filter(|l| l["level"] != "institution") {
        let of: Vec<&pb::PreCredit> = entries
            .iter()
            .filter(|e| {
                if line["level"] == "village" {
                    e.village == line["key"]
                } else {
                    e.branch == line["key"]
                }
            })
            .collect();
        assert_eq!(line["households"], of.len().to_string(), "{line:?}");
        let pre: Vec<_> = of.iter().filter(|e| e.outcome == "APPROVE").collect();
        assert_eq!(line["precredited"], pre.len().to_string(), "{line:?}");
        let amount: Decimal = pre.iter().map(|e| dec(&e.limit)).sum();
        assert_eq!(dec(&line["offered_amount"]), amount, "{line:?}");
        let signed = of.iter().filter(|e| e.signed_limit.is_some()).count();
        assert_eq!(line["signed"], signed.to_string(), "{line:?}");
        let outstanding: Decimal = of.iter().map(|e| dec(&e.outstanding)).sum();
        assert_eq!(dec(&line["outstanding"]), outstanding, "{line:?}");
    }
    assert_eq!(funnel.iter().filter(|l| l["level"] == "village").count(), 8);
    assert_eq!(funnel.iter().filter(|l| l["level"] == "branch").count(), 2);
    let html = std::fs::read_to_string(reg.path("funnel.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("B-EAST") && !html.contains("<script"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_pre_review_meets_the_register() {
    let reg = Register::new(600, 3);
    reg.publish_and_approve(&later(90));
    let mut client = reg.client().await;
    let mut decisions = DecisionServiceClient::new(reg.server.channel().await);
    let features = |id: &str, change: Option<(&str, &str)>| {
        let mut json = serde_json::Map::new();
        for (k, v) in &reg.inputs[id] {
            if k != "household_id" && !v.is_empty() {
                json.insert(k.clone(), v.clone().into());
            }
        }
        if let Some((k, v)) = change {
            json.insert(k.into(), v.into());
        }
        decision_grpc::convert::features_to_proto(&typed(json)).unwrap()
    };

    // A pre-review of a household, as a loan system sends one.
    let online =
        |request_id: &str, household_id: String, features: pb::Features| pb::PreReviewRequest {
            request_id: request_id.into(),
            institution: INSTITUTION.into(),
            product: PRODUCT.into(),
            features: Some(features),
            household_id,
            ..Default::default()
        };

    // D: offered; the same features online: linked, not flagged, not referred.
    let d = reg.household("APPROVE", 0);
    let reply = decisions
        .pre_review(online("ONLINE-D", d.clone(), features(&d, None)))
        .await
        .unwrap()
        .into_inner();
    let entry = get(&mut client, &d).await;
    assert_eq!(reply.decision, "APPROVE");
    assert_eq!(reply.limit, entry.limit);
    let link = reply.precredit.clone().unwrap();
    assert_eq!(
        (
            link.entry_id.as_str(),
            link.status.as_str(),
            link.limit.as_str(),
            link.flagged_for_review,
            link.referred_above_precredit
        ),
        (
            entry.entry_id.as_str(),
            "offered",
            entry.limit.as_str(),
            false,
            false
        )
    );
    // Signed for less: the same online limit is now above it and is referred.
    let lower = dec(&entry.limit) - dec("1000");
    sign(
        &mut client,
        OFFICER,
        &entry.entry_id,
        "D-sign",
        &lower.to_string(),
    )
    .await
    .unwrap();
    let reply = decisions
        .pre_review(online("ONLINE-D2", d.clone(), features(&d, None)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.decision, "REFER");
    assert_eq!(reply.reasons[0].code, "PRECREDIT_LIMIT_EXCEEDED");
    assert_eq!(
        reply.reasons[0].source,
        format!("precredit:{}", entry.entry_id)
    );
    let link = reply.precredit.clone().unwrap();
    assert!(link.referred_above_precredit && !link.flagged_for_review);
    assert_eq!(
        (link.status.as_str(), link.limit.clone()),
        ("signed", lower.to_string())
    );
    // Stored as shown; the engine's own decision replays identically.
    let stored = decisions
        .get_decision(pb::GetDecisionRequest {
            decision_id: reply.decision_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let shown = stored.decision.unwrap();
    assert_eq!(
        (shown.decision.as_str(), shown.precredit),
        ("REFER", Some(link))
    );
    assert!(
        stored
            .explanation_en
            .contains("referred, the online limit is above the pre-credit"),
        "{}",
        stored.explanation_en
    );
    assert!(
        stored.explanation_zh.contains("线上额度高于预授信额度"),
        "{}",
        stored.explanation_zh
    );
    let replay = decisions
        .replay(pb::ReplayRequest {
            decision_id: reply.decision_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(replay.identical, "{:?}", replay.differences);
    let (code, out, err) = cli(&[
        "explain",
        &reply.decision_id,
        "--lang",
        "both",
        "--data-dir",
        &reg.path("data"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("PRECREDIT_LIMIT_EXCEEDED") || out.contains("above the pre-credited"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "pre-credit {} (signed, limit {lower}",
            entry.entry_id
        )),
        "{out}"
    );
    assert!(out.contains("线上额度高于预授信额度,转人工审查"), "{out}");
    // A retry answers the same.
    let retry = decisions
        .pre_review(online("ONLINE-D2", d.clone(), features(&d, None)))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.idempotent_replay);
    assert_eq!(
        (retry.decision.as_str(), retry.precredit),
        ("REFER", reply.precredit.clone())
    );

    // E: offered, now on the court's enforcement list: a knock-out online;
    // its entry is flagged for revocation review and can no longer be signed.
    let e = reg.household("APPROVE", 1);
    let reply = decisions
        .pre_review(online(
            "ONLINE-E",
            e.clone(),
            features(&e, Some(("court_enforcement_flag", "true"))),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.decision, "DECLINE");
    let link = reply.precredit.unwrap();
    assert!(link.flagged_for_review && !link.referred_above_precredit);
    let entry = get(&mut client, &e).await;
    assert_eq!(
        entry.review_flag,
        format!(
            "online decision {} declined ({}) on {}",
            reply.decision_id, reply.reasons[0].code, &entry.updated_at
        )
    );
    assert_eq!(
        refusal(
            sign(
                &mut client,
                OFFICER,
                &entry.entry_id,
                "E-sign",
                &entry.limit
            )
            .await,
            Code::FailedPrecondition
        ),
        format!(
            "pre-credit {} is flagged for revocation review ({}); an officer must review it before signing",
            entry.entry_id, entry.review_flag
        )
    );
    // An officer reviews the flag, keeps the entry, and it can be signed.
    let kept = client
        .clear_review_flag(as_user(
            OFFICER,
            pb::ClearReviewFlagRequest {
                institution: INSTITUTION.into(),
                entry_id: entry.entry_id.clone(),
                op_id: "E-keep".into(),
                note: "法院执行已结案 enforcement closed".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(kept.review_flag, "");
    sign(
        &mut client,
        OFFICER,
        &entry.entry_id,
        "E-sign-2",
        &entry.limit,
    )
    .await
    .unwrap();
    // A household with no pre-credit: no link.
    let reply = decisions
        .pre_review(online(
            "ONLINE-NONE",
            "H99999999".into(),
            features(&d, None),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.precredit, None);
}

/// The feature schema's types for a row of text cells.
fn typed(
    row: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/feature-schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let types: BTreeMap<String, String> = schema["features"]
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
    let mut out = serde_json::Map::new();
    for (k, v) in row {
        let text = v.as_str().unwrap().to_string();
        let value = match types.get(&k).map(String::as_str) {
            Some("bool") => serde_json::Value::Bool(text == "true"),
            Some("integer") => serde_json::Value::from(text.parse::<i64>().unwrap()),
            Some(_) => serde_json::Value::String(text),
            None => continue,
        };
        out.insert(k, value);
    }
    out
}

/// An acknowledged operation: entry, op id, draw (or repay), amount, and
/// the entry as the reply showed it.
type Acked = (String, String, bool, String, pb::PreCredit);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_under_draw_down_load_every_acknowledged_operation_is_there() {
    let mut reg = Register::new(600, 3);
    reg.publish_and_approve(&later(90));
    let mut client = reg.client().await;
    // Eight signed entries, each drawn and repaid by two workers at once.
    let mut entries = Vec::new();
    for i in 0..8 {
        let e = get(&mut client, &reg.household("APPROVE", i)).await;
        sign(
            &mut client,
            OFFICER,
            &e.entry_id,
            &format!("K-sign-{i}"),
            "3000",
        )
        .await
        .unwrap();
        entries.push(e.entry_id);
    }
    let channel = reg.server.channel().await;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let mut client = PreCreditServiceClient::new(channel.clone());
        let entry = entries[worker % entries.len()].clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5000 {
                // Draw 700 or repay 400: draws beyond the 3,000 are refused.
                let draw = i % 3 != 2;
                let value = if draw { "700.00" } else { "400.00" };
                let op = format!("K-{worker}-{i}");
                match amount(&mut client, draw, &entry, &op, value).await {
                    Ok(r) => acked.lock().unwrap().push((
                        entry.clone(),
                        op,
                        draw,
                        value.into(),
                        r.entry.unwrap(),
                    )),
                    Err(s) if s.code() == Code::FailedPrecondition => {}
                    Err(_) => break,
                }
            }
        }));
    }
    reg.server
        .kill_9_under_load(|| acked.lock().unwrap().len(), 400, tasks)
        .await;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 400, "{}", acked.len());

    reg.server = start(reg.dir.path());
    let mut client = reg.client().await;
    for (entry, op, draw, value, after) in &acked {
        let again = amount(&mut client, *draw, entry, op, value).await.unwrap();
        assert!(
            again.idempotent_replay,
            "{op} was acknowledged but is not stored"
        );
        assert_eq!(again.entry.as_ref().unwrap(), after);
    }
    for entry in &entries {
        let listed = client
            .list_pre_credits(as_user(
                OFFICER,
                pb::ListPreCreditsRequest {
                    institution: INSTITUTION.into(),
                    status: "drawn".into(),
                    limit: 10_000,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .entries;
        let e = listed.iter().find(|e| &e.entry_id == entry).unwrap();
        let (drawn, repaid, outstanding) = (
            dec(&e.drawn_total),
            dec(&e.repaid_total),
            dec(&e.outstanding),
        );
        assert_eq!(outstanding, drawn - repaid);
        assert!(
            outstanding >= Decimal::ZERO && outstanding <= dec("3000"),
            "{e:?}"
        );
        assert!(dec(&e.available) >= Decimal::ZERO);
        // The entry is at least as far as the last acknowledged operation on it.
        let last = acked
            .iter()
            .filter(|a| &a.0 == entry)
            .map(|a| a.4.revision)
            .max()
            .unwrap_or(0);
        assert!(e.revision >= last);
    }
}
