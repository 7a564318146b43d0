//! `decision-engine monitor` as a user runs it: a generated loan book of
//! more than 20,000 loans (`village-gen --loans-as-of`), every loan's level,
//! signals and tasks equal to the same loan sent alone to a server's
//! `MonitoringService.EvaluateLoan` and to the engine from its JSON; a
//! second cycle creates no task that is open; the run is refused or its
//! rows are ERROR with the column named.
#![cfg(feature = "batch")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use decision_core::PolicySet;
use decision_core::monitor::{LoanInput, parse_date};
use decision_core::validate::feature_from_cell;
use village_gen::loans::{LoanBook, LoanBookConfig, loan_columns};

use decision_grpc::convert::features_to_proto;
use decision_grpc::pb;
use decision_grpc::pb::monitoring_service_client::MonitoringServiceClient;
use tonic::Request;

use crate::common::{Server, read_csv};

/// The loan schema's columns; every other column of a book is a feature.
const LOAN_COLUMNS: [&str; 13] = [
    "loan_id",
    "household_id",
    "institution",
    "branch",
    "product",
    "amount",
    "balance",
    "disbursed_on",
    "maturity_on",
    "days_past_due",
    "origination_decision_id",
    "origination_score",
    "origination_grade",
];

const CLIENT: &str = "dev-client-token-000001";
const OFFICER: &str = "dev-officer-token-hb-jingshan";
/// Tasks the test completes between the two runs of a cycle.
const COMPLETED: usize = 40;

type Figures = BTreeSet<(String, String, String, u64)>;

/// The dashboard's figures file.
fn read_figures(path: &Path) -> Figures {
    read_csv(path)
        .into_iter()
        .map(|r| {
            (
                r["section"].clone(),
                r["key"].clone(),
                r["column"].clone(),
                r["value"].parse().unwrap(),
            )
        })
        .collect()
}

/// The dashboard's figures recomputed from a run's rows, the stored tasks
/// (`tasks`, the first run's, all created then) and those `completed`
/// since, as of `as_of`.
fn expected_figures(
    signals: &[BTreeMap<String, String>],
    tasks: &[BTreeMap<String, String>],
    completed: &BTreeMap<String, ()>,
    as_of: chrono::NaiveDate,
) -> Figures {
    let mut out: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut add = |section: &str, key: &str, column: &str, n: u64| {
        *out.entry((section.into(), key.into(), column.into()))
            .or_default() += n;
    };
    for r in signals {
        add("run", "all", "loans", 1);
        if r["level"] == "ERROR" {
            add("run", "all", "errors", 1);
            continue;
        }
        add("run", "all", "evaluated", 1);
        add("run", "all", "errors", 0);
        for severity in ["red", "orange", "yellow"] {
            let n: u64 = r[severity].parse().unwrap();
            add("severity", "all", severity, n);
            add("product", &r["product"], severity, n);
            add("branch", &r["branch"], severity, n);
        }
        add("level", &r["level"], "loans", 1);
        let from = if r["origination_grade"].is_empty() {
            "(unknown)"
        } else {
            &r["origination_grade"]
        };
        add("migration", &format!("{from}>{}", r["grade"]), "loans", 1);
    }
    let day = |n: i64| (as_of + chrono::Duration::days(n)).to_string();
    for t in tasks.iter().filter(|t| t["created"] == "true") {
        for key in [t["branch"].as_str(), "(total)"] {
            let done = completed.contains_key(&t["task_id"]);
            let due = t["due_on"].as_str();
            add("tasks", key, "completed", u64::from(done));
            add("tasks", key, "open", u64::from(!done));
            add(
                "tasks",
                key,
                "overdue",
                u64::from(!done && due < day(0).as_str()),
            );
            let ahead = !done && due >= day(0).as_str();
            add(
                "tasks",
                key,
                "due_7d",
                u64::from(ahead && due < day(7).as_str()),
            );
            add(
                "tasks",
                key,
                "due_30d",
                u64::from(ahead && due < day(30).as_str()),
            );
        }
    }
    out.into_iter().map(|((s, k, c), v)| (s, k, c, v)).collect()
}

fn tokens_file() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/tokens.dev.toml")
}

fn as_user<T>(token: &str, message: T) -> Request<T> {
    let mut r = Request::new(message);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A book row as a loan system sends it to `EvaluateLoan`.
fn evaluate_request(
    row: &BTreeMap<String, String>,
    policies: &PolicySet,
    as_of: &str,
) -> pb::EvaluateLoanRequest {
    let mut features = online_json(row, policies);
    for c in LOAN_COLUMNS {
        features.remove(c);
    }
    let text = |c: &str| row.get(c).cloned().unwrap_or_default();
    let optional = |c: &str| row.get(c).filter(|v| !v.is_empty()).cloned();
    pb::EvaluateLoanRequest {
        as_of: as_of.into(),
        loan: Some(pb::Loan {
            loan_id: text("loan_id"),
            household_id: text("household_id"),
            institution: text("institution"),
            branch: text("branch"),
            product: text("product"),
            amount: text("amount"),
            balance: text("balance"),
            disbursed_on: text("disbursed_on"),
            maturity_on: text("maturity_on"),
            days_past_due: optional("days_past_due").map(|d| d.parse().unwrap()),
            origination_decision_id: text("origination_decision_id"),
            origination_score: optional("origination_score"),
            origination_grade: optional("origination_grade"),
            extra: Default::default(),
        }),
        features: Some(features_to_proto(&features).unwrap()),
        include_trace: false,
    }
}

/// Every row sent to `EvaluateLoan`, 16 calls in flight; the replies in
/// row order.
async fn evaluate_online(
    server: &Server,
    rows: &[BTreeMap<String, String>],
    policies: &PolicySet,
) -> Vec<pb::EvaluateLoanResponse> {
    const CALLERS: usize = 16;
    let channel = server.channel().await;
    let requests: Vec<_> = rows
        .iter()
        .map(|r| evaluate_request(r, policies, AS_OF))
        .collect();
    let requests = std::sync::Arc::new(requests);
    let mut callers = tokio::task::JoinSet::new();
    for k in 0..CALLERS {
        let requests = requests.clone();
        let mut client = MonitoringServiceClient::new(channel.clone());
        callers.spawn(async move {
            let mut replies = Vec::new();
            for i in (k..requests.len()).step_by(CALLERS) {
                let reply = client
                    .evaluate_loan(as_user(CLIENT, requests[i].clone()))
                    .await
                    .unwrap_or_else(|e| panic!("row {}: {e:?}", i + 1))
                    .into_inner();
                replies.push((i, reply));
            }
            replies
        });
    }
    let mut all: Vec<(usize, pb::EvaluateLoanResponse)> = Vec::new();
    while let Some(done) = callers.join_next().await {
        all.extend(done.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

const AS_OF: &str = "2026-11-30";

fn write_book(path: &Path, households: u64) -> usize {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(loan_columns()).unwrap();
    let book = LoanBook::new(LoanBookConfig {
        village: village_gen::Config {
            households,
            villages: 40,
            seed: 7,
        },
        as_of: parse_date(AS_OF).unwrap(),
        institution: "HB-JINGSHAN".into(),
    })
    .unwrap();
    let mut n = 0;
    for row in book {
        w.write_record(&row).unwrap();
        n += 1;
    }
    w.flush().unwrap();
    n
}

fn monitor(dir: &Path, book: &Path, as_of: &str, tag: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .arg("monitor")
        .arg("--book")
        .arg(book)
        .args(["--as-of", as_of, "--summary", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--output")
        .arg(dir.join(format!("signals-{tag}.csv")))
        .arg("--tasks")
        .arg(dir.join(format!("tasks-{tag}.csv")))
        .arg("--report")
        .arg(dir.join(format!("monitor-{tag}.html")))
        .output()
        .expect("decision-engine runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A book row as the JSON object an online caller sends: numbers as
/// numbers, booleans as booleans (each feature's cell read as its type).
fn online_json(
    row: &BTreeMap<String, String>,
    policies: &PolicySet,
) -> serde_json::Map<String, serde_json::Value> {
    let product = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let mut json = serde_json::Map::new();
    for (k, v) in row {
        if v.is_empty() {
            continue;
        }
        let value = match product.schema.by_name.get(k.as_str()) {
            Some(&i) => match feature_from_cell(&product.schema.features[i], v).unwrap() {
                Some(input) => input.to_json(),
                None => continue,
            },
            None if k == "days_past_due" => serde_json::Value::from(v.parse::<i64>().unwrap()),
            None => serde_json::Value::String(v.clone()),
        };
        json.insert(k.clone(), value);
    }
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_loan_of_a_generated_book_is_evaluated_as_online_and_a_second_cycle_duplicates_no_task()
 {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book.csv");
    let loans = write_book(&book, 34_000);
    assert!(loans >= 20_000, "{loans} loans");
    let (code, stdout, stderr) = monitor(dir.path(), &book, AS_OF, "1");
    assert_eq!(code, 0, "{stdout}{stderr}");
    let signals = read_csv(&dir.path().join("signals-1.csv"));
    let tasks = read_csv(&dir.path().join("tasks-1.csv"));
    let rows = read_csv(&book);
    assert_eq!(signals.len(), loans);

    // Row by row, the same loan alone from its JSON.
    let policies = PolicySet::shipped().unwrap();
    let m = policies.monitoring("HB-JINGSHAN").unwrap();
    let p = policies.select("HB-JINGSHAN", "FARMER_CREDIT").unwrap();
    let as_of = parse_date(AS_OF).unwrap();
    let mut tasks_by_row: BTreeMap<String, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for t in &tasks {
        tasks_by_row.entry(t["row"].clone()).or_default().push(t);
    }
    // The same book sent loan by loan to a server on the run's store.
    let mut server = Server::start(
        &dir.path().join("data"),
        &["--tokens-file", tokens_file().to_str().unwrap()],
    );
    let replies = evaluate_online(&server, &rows, &policies).await;
    let mut fired = [0usize; 3];
    for (i, ((row, out), reply)) in rows.iter().zip(&signals).zip(&replies).enumerate() {
        assert_eq!(out["row"], (i + 1).to_string());
        assert_eq!(out["loan_id"], row["loan_id"]);
        let json = online_json(row, &policies);
        let e = m
            .evaluate(p, &LoanInput::of_json(&json), as_of)
            .unwrap_or_else(|e| panic!("row {}: {e:?}", i + 1));
        assert_eq!(out["level"], e.level.code, "row {}", i + 1);
        assert_eq!(out["score"], e.score.to_string(), "row {}", i + 1);
        assert_eq!(out["grade"], e.grade, "row {}", i + 1);
        let codes: Vec<&str> = e.signals.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(out["signal_codes"], codes.join(";"), "row {}", i + 1);
        let ids: Vec<&str> = e.signals.iter().map(|s| s.signal_id.as_str()).collect();
        assert_eq!(out["signal_ids"], ids.join(";"), "row {}", i + 1);
        // Over the wire: the same level, score, grade, signals and tasks.
        assert_eq!(reply.loan_id, row["loan_id"]);
        assert_eq!(
            (&reply.level, &reply.score, &reply.grade),
            (&out["level"], &out["score"], &out["grade"]),
            "row {}",
            i + 1
        );
        let wire: Vec<&str> = reply.signals.iter().map(|s| s.signal_id.as_str()).collect();
        assert_eq!(wire, ids, "row {}", i + 1);
        let wire: Vec<&str> = reply.signals.iter().map(|s| s.code.as_str()).collect();
        assert_eq!(wire, codes, "row {}", i + 1);
        for s in &e.signals {
            fired[s.severity as usize] += 1;
        }
        let written: Vec<(String, String, String)> = tasks_by_row
            .get(&out["row"])
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        (
                            t["task_id"].clone(),
                            t["rule_id"].clone(),
                            t["due_on"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let online: Vec<(String, String, String)> = e
            .tasks
            .iter()
            .map(|t| (t.task_id.clone(), t.rule_id.clone(), t.due_on.clone()))
            .collect();
        assert_eq!(written, online, "row {}", i + 1);
        let wire: Vec<(String, String, String)> = reply
            .tasks
            .iter()
            .map(|t| (t.task_id.clone(), t.rule_id.clone(), t.due_on.clone()))
            .collect();
        assert_eq!(wire, online, "row {}", i + 1);
        // The run recorded them: no task is created twice.
        assert!(reply.tasks.iter().all(|t| !t.created), "row {}", i + 1);
    }
    // The stored tasks, listed over the wire, are the run's.
    let mut queue = MonitoringServiceClient::new(server.channel().await);
    let mut listed: Vec<pb::Task> = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = queue
            .list_tasks(as_user(
                "dev-auditor-token-00001",
                pb::ListTasksRequest {
                    institution: "HB-JINGSHAN".into(),
                    limit: 1000,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.tasks.len() <= 1000);
        listed.extend(page.tasks);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed.len(), tasks.len(), "no task twice, none left out");
    let ids = |ts: Vec<String>| ts.into_iter().collect::<BTreeSet<String>>();
    assert_eq!(
        ids(listed.iter().map(|t| t.task_id.clone()).collect()),
        ids(tasks.iter().map(|t| t["task_id"].clone()).collect())
    );
    // The busiest branch's officer completes some of its tasks.
    let mut by_branch: BTreeMap<&str, Vec<&pb::Task>> = BTreeMap::new();
    for t in &listed {
        by_branch.entry(t.branch.as_str()).or_default().push(t);
    }
    let busiest = by_branch.values().max_by_key(|ts| ts.len()).unwrap();
    let mut completed: BTreeMap<String, ()> = BTreeMap::new();
    for t in busiest.iter().take(COMPLETED) {
        let done = queue
            .complete_task(as_user(
                OFFICER,
                pb::CompleteTaskRequest {
                    task_id: t.task_id.clone(),
                    visit_type: t.task.clone(),
                    result: "visited: repaying as agreed".into(),
                    note: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(done.status, "completed");
        assert_eq!(done.completion.unwrap().completed_by, "officer.liu");
        completed.insert(t.task_id.clone(), ());
    }
    let twice = queue
        .complete_task(as_user(
            OFFICER,
            pb::CompleteTaskRequest {
                task_id: busiest[0].task_id.clone(),
                visit_type: busiest[0].task.clone(),
                result: "again".into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), tonic::Code::FailedPrecondition);
    assert!(server.terminate().success());

    // The drift the generator documents shows: red, orange and yellow
    // signals, and the summary counts what the rows say.
    assert!(fired.iter().all(|&n| n > 100), "{fired:?}");
    assert!(
        stdout.contains(&format!(
            "signals: {} red, {} orange, {} yellow",
            fired[0], fired[1], fired[2]
        )),
        "{stdout}"
    );
    assert!(tasks.iter().all(|t| t["created"] == "true"));
    // A stored signal explains itself: the rule, the values it read.
    let red = signals.iter().find(|s| s["red"] != "0").unwrap();
    let id = red["signal_ids"].split(';').next().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["explain", id, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let code = red["signal_codes"].split(';').next().unwrap();
    // The dashboard of the first run: every figure recomputed from the
    // rows; every task open.
    let html = std::fs::read_to_string(dir.path().join("monitor-1.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "signals, tasks, levels");
    for fetch in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(
            !html.contains(fetch),
            "the dashboard fetches nothing: {fetch}"
        );
    }
    assert_eq!(
        read_figures(&dir.path().join("monitor-1.csv")),
        expected_figures(&signals, &tasks, &BTreeMap::new(), as_of)
    );
    assert!(
        text.contains(&format!("Warning rule {code} (red) fired: ")),
        "{text}"
    );
    assert!(
        text.contains(&format!("预警规则 {code}（红色）触发")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Loan {} (household {}",
            red["loan_id"], red["household_id"]
        )),
        "{text}"
    );
    assert!(
        stdout.contains(&format!(
            "tasks: {} asked for, {} created",
            tasks.len(),
            tasks.len()
        )),
        "{stdout}"
    );

    // The same cycle again: the same tasks, none created; the dashboard
    // counts the completed ones.
    let (code, stdout, _) = monitor(dir.path(), &book, AS_OF, "2");
    assert_eq!(code, 0);
    let figures = read_figures(&dir.path().join("monitor-2.csv"));
    assert_eq!(
        figures,
        expected_figures(&signals, &tasks, &completed, as_of)
    );
    let total = |column: &str, figures: &BTreeSet<(String, String, String, u64)>| {
        figures
            .iter()
            .find(|f| f.0 == "tasks" && f.1 == "(total)" && f.2 == column)
            .map(|f| f.3)
            .unwrap()
    };
    let before = read_figures(&dir.path().join("monitor-1.csv"));
    assert_eq!(total("completed", &figures), COMPLETED as u64);
    assert_eq!(
        total("open", &figures),
        total("open", &before) - COMPLETED as u64
    );
    let html = std::fs::read_to_string(dir.path().join("monitor-2.html")).unwrap();
    assert!(
        html.contains(&format!("已完成任务 Completed tasks<b>{COMPLETED}</b>")),
        "the card counts the completed tasks"
    );
    let again = read_csv(&dir.path().join("tasks-2.csv"));
    assert_eq!(again.len(), tasks.len());
    assert!(again.iter().all(|t| t["created"] == "false"));
    assert!(
        stdout.contains(&format!("{} asked for, 0 created", tasks.len())),
        "{stdout}"
    );
    // A month on: a monthly rule's task of November is still open, so
    // December's is not created for the same loan.
    let (code, _, _) = monitor(dir.path(), &book, "2026-12-31", "3");
    assert_eq!(code, 0);
    let december = read_csv(&dir.path().join("tasks-3.csv"));
    let key = |t: &BTreeMap<String, String>| (t["loan_id"].clone(), t["rule_id"].clone());
    let open_in_november: BTreeSet<(String, String)> = tasks
        .iter()
        .filter(|t| !completed.contains_key(&t["task_id"]))
        .map(key)
        .collect();
    let done_in_november: BTreeSet<(String, String)> = tasks
        .iter()
        .filter(|t| completed.contains_key(&t["task_id"]))
        .map(key)
        .collect();
    let repeated: Vec<_> = december
        .iter()
        .filter(|t| open_in_november.contains(&key(t)))
        .collect();
    assert!(!repeated.is_empty());
    assert!(repeated.iter().all(|t| t["created"] == "false"));
    // A completed task's rule may ask again: its December task is new.
    let asked_again: Vec<_> = december
        .iter()
        .filter(|t| done_in_november.contains(&key(t)))
        .collect();
    assert!(asked_again.iter().all(|t| t["created"] == "true"));
}

#[test]
fn bad_loans_are_error_rows_naming_the_column_and_a_bad_date_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book.csv");
    write_book(&book, 60);
    let mut rows = read_csv(&book);
    rows[1].insert("days_past_due".into(), "-3".into());
    rows[2].insert("disbursed_on".into(), "2026-13-01".into());
    rows[3].insert("age".into(), "old".into());
    let mut w = csv::Writer::from_path(&book).unwrap();
    w.write_record(loan_columns()).unwrap();
    for r in &rows {
        w.write_record(loan_columns().iter().map(|c| r[*c].as_str()))
            .unwrap();
    }
    w.flush().unwrap();
    let (code, _, stderr) = monitor(dir.path(), &book, AS_OF, "1");
    assert_eq!(code, 4, "{stderr}");
    let out = read_csv(&dir.path().join("signals-1.csv"));
    assert_eq!(out.len(), rows.len());
    assert_eq!(out[0]["error"], "");
    assert_eq!(
        out[1]["error"],
        "days_past_due: -3 is below the minimum: expected a whole number of at least 0"
    );
    assert_eq!(
        out[2]["error"],
        "disbursed_on: \"2026-13-01\" is not valid: expected a date, YYYY-MM-DD"
    );
    assert!(out[3]["error"].starts_with("age: "), "{}", out[3]["error"]);
    for r in &out[1..4] {
        assert_eq!(r["level"], "ERROR");
    }
    let errors = read_csv(&dir.path().join("signals-1.csv.errors.csv"));
    assert_eq!(
        errors
            .iter()
            .map(|e| (e["row"].as_str(), e["field"].as_str()))
            .collect::<Vec<_>>(),
        [("2", "days_past_due"), ("3", "disbursed_on"), ("4", "age")]
    );
    let (code, _, stderr) = monitor(dir.path(), &book, "30/11/2026", "2");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--as-of: \"30/11/2026\" is not a date: expected YYYY-MM-DD"),
        "{stderr}"
    );
}

/// The shipped monitoring policy as `version`, changed by `edit`.
fn monitoring_policy(version: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../rulesets/farmer-post-loan.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["version"] = serde_json::json!(version);
    edit(&mut v);
    v.to_string()
}

/// Example 01's household as a loan of `institution`, disbursed on
/// 2026-03-01, `dpd` days past due on 2026-11-30.
fn example_loan(institution: &str, dpd: i64) -> pb::EvaluateLoanRequest {
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/requests/01-clean-approve.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    pb::EvaluateLoanRequest {
        as_of: AS_OF.into(),
        loan: Some(pb::Loan {
            loan_id: format!("LN-{institution}-{dpd}"),
            household_id: "H-01".into(),
            institution: institution.into(),
            branch: "B-01".into(),
            product: "FARMER_CREDIT".into(),
            amount: "30000".into(),
            balance: "20000".into(),
            disbursed_on: "2026-03-01".into(),
            maturity_on: "2027-03-01".into(),
            days_past_due: Some(dpd),
            ..Default::default()
        }),
        features: Some(features_to_proto(v["features"].as_object().unwrap()).unwrap()),
        include_trace: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_policy_is_validated_published_diffed_and_activated_with_four_eyes() {
    use crate::registry::{ANALYST, APPROVER, APPROVER_2, start_with};
    use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
    use tonic::Code;
    use tonic_types::StatusExt;

    let dir = tempfile::tempdir().unwrap();
    let server = start_with(&dir.path().join("data"), &[]);
    let channel = server.channel().await;
    let mut registry = PolicyRegistryClient::new(channel.clone());
    let mut monitoring = MonitoringServiceClient::new(channel);
    let upload = |json: String| {
        as_user(
            ANALYST,
            pb::UploadRequest {
                document_json: json,
            },
        )
    };

    // Every problem listed with its place; nothing published.
    let bad = monitoring_policy("2026.9", |v| {
        v["warnings"][0]["expression"] = serde_json::json!("days_past_due >");
        v["warnings"][1]["expression"] = serde_json::json!("bureau_lawsuits > 0");
        v["tasks"][1]["levels"] = serde_json::json!(["L9_UNKNOWN"]);
    });
    let checked = registry
        .validate_document(upload(bad.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!checked.valid);
    let problems = checked.problems.join("\n");
    assert_eq!(checked.problems.len(), 3, "{problems}");
    assert_eq!(
        checked.problems,
        [
            "warnings[0] W_DPD_SEVERE.expression: upload: `days_past_due >` cannot be evaluated: An operator expected 2 arguments, but got 1.",
            "warnings[1] W_COURT.expression: upload: unknown identifier `bureau_lawsuits` in `bureau_lawsuits > 0`: expected a feature of the schema, a derived feature, a parameter or a computed value",
            "tasks[1] T_INTENSIVE_FIELD.levels[0]: upload: unknown level `L9_UNKNOWN`; expected one of L1_INTENSIVE, L2_ATTENTION, L3_WATCH, L4_NORMAL",
        ]
    );
    let refused = registry
        .upload_monitoring_policy(upload(bad))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = refused.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations.len(), 3, "{violations:?}");
    let listed = |kind: &str| pb::ListVersionsRequest {
        kind: kind.into(),
        id: String::new(),
    };
    let versions = registry
        .list_versions(as_user(ANALYST, listed("monitoring_policy")))
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(
        versions
            .iter()
            .map(|v| v.version.as_str())
            .collect::<Vec<_>>(),
        ["2026.1"],
        "only the shipped version is stored"
    );
    // A scorecard cannot go through the monitoring door.
    let scorecard = crate::registry::scorecard("2026.9", 600);
    let wrong = registry
        .upload_monitoring_policy(upload(scorecard))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert!(wrong.message().contains("kind"), "{}", wrong.message());

    // 2026.2: severe arrears from 60 days, not 30.
    let v2 = monitoring_policy("2026.2", |v| {
        v["parameters"][0]["value"] = serde_json::json!(60);
    });
    let published = registry
        .upload_monitoring_policy(upload(v2.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(published.created);
    let again = registry
        .upload_monitoring_policy(upload(v2))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.created);
    let changes = registry
        .diff_versions(as_user(
            ANALYST,
            pb::DiffVersionsRequest {
                kind: "monitoring_policy".into(),
                id: "farmer-post-loan-default".into(),
                from_version: "2026.1".into(),
                to_version: "2026.2".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .changes;
    assert_eq!(
        changes,
        [
            "version: `2026.1` -> `2026.2`",
            "parameters[dpd_severe].value: 30 -> 60"
        ]
    );

    // Before any activation: 45 days past due is severe everywhere.
    let before = monitoring
        .evaluate_loan(as_user(CLIENT, example_loan("HB-JINGSHAN", 45)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(before.signals[0].code, "W_DPD_SEVERE");
    assert_eq!(before.level, "L1_INTENSIVE");

    // Activation: alone, for POST_LOAN, four eyes.
    let request = |scorecard: &str| pb::RequestActivationRequest {
        institution: "HB-JINGSHAN".into(),
        product: "POST_LOAN".into(),
        ruleset_id: "farmer-post-loan-default".into(),
        ruleset_version: "2026.2".into(),
        scorecard_id: scorecard.into(),
        scorecard_version: String::new(),
        effective_at: String::new(),
        challenger: None,
    };
    let refused = registry
        .request_activation(as_user(APPROVER, request("farmer-scorecard")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        refused.get_details_bad_request().unwrap().field_violations[0].field,
        "scorecard_id"
    );
    let _ = request("");
    // The command line asks for it.
    let (code, out, err) = crate::registry::policy_cli(
        &server.addr,
        APPROVER,
        &[
            "activate".into(),
            "--institution".into(),
            "HB-JINGSHAN".into(),
            "--monitoring".into(),
            "farmer-post-loan-default@2026.2".into(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let activation_id = out.split_whitespace().next().unwrap().to_string();
    assert!(
        out.contains(" pending HB-JINGSHAN POST_LOAN monitoring policy farmer-post-loan-default@2026.2 effective on approval requested by approver.li"),
        "{out}"
    );
    let approve = |token: &str| {
        as_user(
            token,
            pb::ApproveActivationRequest {
                activation_id: activation_id.clone(),
            },
        )
    };
    let own = registry
        .approve_activation(approve(APPROVER))
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::PermissionDenied, "{}", own.message());
    // Pending, nothing changed yet.
    let still = monitoring
        .evaluate_loan(as_user(CLIENT, example_loan("HB-JINGSHAN", 45)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.signals[0].code, "W_DPD_SEVERE");
    let approved = registry
        .approve_activation(approve(APPROVER_2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.status, "approved");
    // Servers re-read the activation history at most every half second.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;

    // In force for HB-JINGSHAN: 45 days is past due, not severe; another
    // institution keeps the default.
    let after = monitoring
        .evaluate_loan(as_user(CLIENT, example_loan("HB-JINGSHAN", 45)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        after
            .signals
            .iter()
            .map(|s| s.code.as_str())
            .collect::<Vec<_>>(),
        ["W_DPD"]
    );
    assert_eq!(after.level, "L2_ATTENTION");
    let policy = after
        .versions
        .iter()
        .find(|v| v.kind == "monitoring_policy")
        .unwrap();
    assert_eq!(
        (policy.id.as_str(), policy.version.as_str()),
        ("farmer-post-loan-default", "2026.2")
    );
    let other = monitoring
        .evaluate_loan(as_user(CLIENT, example_loan("3201", 45)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.signals[0].code, "W_DPD_SEVERE");
    let policy = other
        .versions
        .iter()
        .find(|v| v.kind == "monitoring_policy")
        .unwrap();
    assert_eq!(policy.version, "2026.1");

    // A PreReview cannot use the reserved product.
    let mut decisions = server.client().await;
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/requests/01-clean-approve.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let e = decisions
        .pre_review(pb::PreReviewRequest {
            request_id: "R-POST-LOAN".into(),
            institution: "HB-JINGSHAN".into(),
            product: "POST_LOAN".into(),
            features: Some(features_to_proto(v["features"].as_object().unwrap()).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_ne!(e.code(), Code::Ok);
    assert!(e.message().contains("POST_LOAN"), "{}", e.message());
}
