//! Several servers over one PostgreSQL (a throw-away cluster the tests
//! start themselves): what one replica approves is in force on the others
//! within a second; a request id names one decision whichever replica
//! takes it; a replica killed with SIGKILL under load, and PostgreSQL
//! stopped and started under load, lose no acknowledged decision; while
//! PostgreSQL is down calls fail with UNAVAILABLE and health says
//! NOT_SERVING, and the replicas recover by themselves when it is back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
use decision_pgtest::Cluster;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::Server;
use crate::grpc::{examples, proto_request, repo};
use crate::registry::{ANALYST, APPROVER, APPROVER_2, as_user, decide, scorecard, upload};

/// A replica over `url`, with the development tokens and its own (unused)
/// data directory.
fn replica(url: &str, dir: &std::path::Path) -> Server {
    crate::registry::start_with(dir, &["--store", url])
}

async fn count_stored(url: &str, request_ids: &[String]) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FROM decisions WHERE request_id = ANY($1)",
            &[&request_ids],
        )
        .await
        .unwrap()
        .get(0)
}

async fn health(server: &Server) -> Option<i32> {
    let mut client = HealthClient::new(server.channel().await);
    client
        .check(HealthCheckRequest {
            service: "decision.v1.DecisionService".into(),
        })
        .await
        .ok()
        .map(|r| r.into_inner().status)
}

/// Waits (at most 30 s) until `server`'s health is `status`.
async fn health_becomes(server: &Server, status: ServingStatus) {
    for _ in 0..300 {
        if health(server).await == Some(status as i32) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never reported {status:?}", server.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_through_one_replica_is_in_force_on_the_other_and_a_request_id_names_one_decision()
 {
    let url = Cluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = replica(&url, dir_a.path());
    let b = replica(&url, dir_b.path());

    // Before: both decide on the shipped scorecard.
    let (_, before) = decide(&b, "HB-REPLICA", "R-BEFORE", "").await;
    assert_eq!(before, "2026.1");

    // Upload and activate through A (four eyes: two approvers).
    let mut registry = PolicyRegistryClient::connect(format!("http://{}", a.addr))
        .await
        .unwrap();
    assert!(
        upload(&mut registry, ANALYST, scorecard("2026.7", 470))
            .await
            .unwrap()
            .created
    );
    let requested = registry
        .request_activation(as_user(
            APPROVER,
            pb::RequestActivationRequest {
                institution: "HB-REPLICA".into(),
                product: "FARMER_CREDIT".into(),
                ruleset_id: "farmer-credit-default".into(),
                ruleset_version: "2026.4".into(),
                scorecard_id: "farmer-scorecard".into(),
                scorecard_version: "2026.7".into(),
                effective_at: String::new(),
                challenger: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    registry
        .approve_activation(as_user(
            APPROVER_2,
            pb::ApproveActivationRequest {
                activation_id: requested.activation_id.clone(),
            },
        ))
        .await
        .unwrap();
    // One second later, B decides with what A approved: B never saw the
    // upload or the approval, only the shared database.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, after) = decide(&b, "HB-REPLICA", "R-AFTER", "").await;
    assert_eq!(after, "2026.7");
    // And B's registry lists A's activation.
    let mut registry_b = PolicyRegistryClient::connect(format!("http://{}", b.addr))
        .await
        .unwrap();
    let listed = registry_b
        .list_activations(as_user(APPROVER, pb::ListActivationsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .activations
            .iter()
            .any(|x| x.activation_id == requested.activation_id && x.status == "approved"),
        "{listed:?}"
    );

    // A request id names one decision, whichever replica takes it.
    let file = repo("examples/requests/02-grade-aa.json");
    let mut client_a = a.client().await;
    let mut client_b = b.client().await;
    let first = client_a
        .pre_review(proto_request(&file, Some("SAME-ID")))
        .await
        .unwrap()
        .into_inner();
    let again = client_b
        .pre_review(proto_request(&file, Some("SAME-ID")))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.idempotent_replay);
    assert!(again.idempotent_replay);
    assert_eq!(again.decision_id, first.decision_id);
    assert_eq!(again.recorded_at, first.recorded_at);
    let mut changed = proto_request(&file, Some("SAME-ID"));
    changed
        .features
        .as_mut()
        .unwrap()
        .household
        .as_mut()
        .unwrap()
        .age = Some(39);
    let refused = client_b.pre_review(changed).await.unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert!(
        refused.message().contains(&first.decision_id),
        "{}",
        refused.message()
    );
    assert_eq!(count_stored(&url, &["SAME-ID".to_string()]).await, 1);
    // Either replica answers GetDecision for the other's decision.
    let got = client_b
        .get_decision(pb::GetDecisionRequest {
            decision_id: first.decision_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    assert_eq!(got.recorded_at, first.recorded_at);
}

/// What the load saw: acknowledged request ids, and the codes of failures.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<String>,
    failures: Vec<(Code, String)>,
}

/// Workers sending pre-reviews with fresh request ids to `addr` until
/// `stop` is set (or, with `until_error`, until a call fails: the server
/// is to be killed); each call has a 10 s deadline, so a hung call shows
/// as DEADLINE_EXCEEDED.
fn load(
    addr: &str,
    tag: &str,
    until_error: bool,
    workers: usize,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let files = examples();
    (0..workers)
        .map(|w| {
            let (addr, tag, files, seen, stop) = (
                addr.to_string(),
                tag.to_string(),
                files.clone(),
                seen.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                    .unwrap()
                    .timeout(Duration::from_secs(10))
                    .connect_lazy();
                let mut client = DecisionServiceClient::new(channel);
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let id = format!("{tag}-{w}-{i}");
                    i += 1;
                    let file = &files[(w + i) % files.len()];
                    match client.pre_review(proto_request(file, Some(&id))).await {
                        Ok(_) => seen.lock().unwrap().acknowledged.push(id),
                        Err(e) => {
                            seen.lock()
                                .unwrap()
                                .failures
                                .push((e.code(), e.message().to_string()));
                            if until_error {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_and_postgres_restarted_under_load_lose_no_acknowledged_decision() {
    // A cluster of its own: this test stops and starts it.
    let cluster = Cluster::start();
    let url = cluster.database("decisions");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = replica(&url, dir_a.path());
    let b = replica(&url, dir_b.path());
    let (seen_a, seen_b) = (
        Arc::new(Mutex::new(Seen::default())),
        Arc::new(Mutex::new(Seen::default())),
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers_a = load(&a.addr, "A", true, 8, seen_a.clone(), stop.clone());
    let mut workers_b = load(&b.addr, "B", false, 8, seen_b.clone(), stop.clone());

    // kill -9 of A mid-load, while B goes on.
    a.kill_9_under_load(|| seen_a.lock().unwrap().acknowledged.len(), 300, workers_a)
        .await;
    let b_at_kill = seen_b.lock().unwrap().acknowledged.len();
    until("B answering after A's kill", || {
        seen_b.lock().unwrap().acknowledged.len() > b_at_kill + 100
    })
    .await;

    // PostgreSQL stopped under load: B fails fast with UNAVAILABLE and
    // reports NOT_SERVING; nothing hangs.
    cluster.stop();
    let failures_before = seen_b.lock().unwrap().failures.len();
    health_becomes(&b, ServingStatus::NotServing).await;
    until("calls failing while PostgreSQL is down", || {
        seen_b.lock().unwrap().failures.len() > failures_before + 20
    })
    .await;
    let acknowledged_while_down = seen_b.lock().unwrap().acknowledged.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        seen_b.lock().unwrap().acknowledged.len(),
        acknowledged_while_down,
        "no decision is acknowledged while its store is down"
    );

    // PostgreSQL back: B recovers by itself, without a restart.
    cluster.start_server();
    health_becomes(&b, ServingStatus::Serving).await;
    let b_after = seen_b.lock().unwrap().acknowledged.len();
    until("B answering after PostgreSQL returned", || {
        seen_b.lock().unwrap().acknowledged.len() > b_after + 100
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers_b.drain(..) {
        w.await.unwrap();
    }

    // Every failure while PostgreSQL was down was UNAVAILABLE (none hung
    // until its deadline).
    let seen_b = std::mem::take(&mut *seen_b.lock().unwrap());
    assert!(!seen_b.failures.is_empty());
    for (code, message) in &seen_b.failures {
        assert_eq!(*code, Code::Unavailable, "{message}");
    }
    // A's failures are its own death (the calls in flight when it was
    // killed), nothing else.
    let seen_a = std::mem::take(&mut *seen_a.lock().unwrap());
    assert!(seen_a.failures.len() <= 8, "{:?}", seen_a.failures);
    // Every acknowledged decision, of both replicas, is in PostgreSQL.
    let acknowledged: Vec<String> = seen_a
        .acknowledged
        .iter()
        .chain(&seen_b.acknowledged)
        .cloned()
        .collect();
    assert!(
        seen_a.acknowledged.len() >= 300,
        "{}",
        seen_a.acknowledged.len()
    );
    assert_eq!(
        count_stored(&url, &acknowledged).await,
        acknowledged.len() as i64
    );
}
