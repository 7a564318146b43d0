//! The gRPC service, run as a real server process on a loopback port and
//! called with the generated tonic client.

use crate::common::Server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use decision_core::decision::Decision;
use decision_grpc::convert::{decision_from_proto, features_to_proto};
use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

pub(crate) fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

pub(crate) fn examples() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo("examples/requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// A proto request from an example JSON file.
pub(crate) fn proto_request(file: &Path, request_id: Option<&str>) -> pb::PreReviewRequest {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    pb::PreReviewRequest {
        request_id: request_id.map_or_else(
            || v["request_id"].as_str().unwrap().to_string(),
            str::to_string,
        ),
        institution: v["institution"].as_str().unwrap().to_string(),
        product: v["product"].as_str().unwrap().to_string(),
        features: Some(features_to_proto(v["features"].as_object().unwrap()).unwrap()),
        include_trace: true,
        ..Default::default()
    }
}

fn cli_evaluate(file: &Path) -> Decision {
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["evaluate", "--request"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn pre_review_get_and_replay_agree_with_the_cli_for_every_example() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    for file in examples() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let reply = client
            .pre_review(proto_request(&file, None))
            .await
            .unwrap()
            .into_inner();
        assert!(!reply.idempotent_replay);
        let from_server = decision_from_proto(&reply).unwrap();
        assert_eq!(from_server, cli_evaluate(&file), "{name}");

        let stored = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: reply.decision_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let record = stored.decision.unwrap();
        assert_eq!(decision_from_proto(&record).unwrap(), from_server, "{name}");
        assert_eq!(record.recorded_at, reply.recorded_at);
        let input: serde_json::Value = serde_json::from_str(&stored.request_json).unwrap();
        let sent: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(
            input["features"].as_object().unwrap().len(),
            sent["features"].as_object().unwrap().len(),
            "{name}"
        );
        assert!(
            stored
                .explanation_en
                .contains(&format!("Decision {}", reply.decision_id))
        );
        assert!(
            stored
                .explanation_zh
                .contains(&format!("决策 {}", reply.decision_id))
        );

        let replay = client
            .replay(pb::ReplayRequest {
                decision_id: reply.decision_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(replay.identical, "{name}: {:?}", replay.differences);
        assert_eq!(
            decision_from_proto(&replay.replayed.unwrap()).unwrap(),
            from_server
        );
    }
    let missing = client
        .get_decision(pb::GetDecisionRequest {
            decision_id: "dec_nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.message(), "no decision with id `dec_nope`");
}

#[tokio::test]
async fn health_reports_serving_and_reflection_lists_the_service() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", "decision.v1.DecisionService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"decision.v1.DecisionService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );

    // v1alpha too: the protocol of Python's grpcio-reflection and older
    // tools. The services, and the file that defines one.
    use tonic_reflection::pb::v1alpha as alpha;
    let mut reflection =
        alpha::server_reflection_client::ServerReflectionClient::new(server.channel().await);
    let requests = vec![
        alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        },
        alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "decision.v1.DecisionService".into(),
                ),
            ),
        },
    ];
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = stream.message().await.unwrap().unwrap();
    let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a v1alpha service list, got {listed:?}");
    };
    let alpha_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in ["decision.v1.DecisionService", "grpc.health.v1.Health"] {
        assert!(
            alpha_names.contains(&service.to_string()),
            "{alpha_names:?}"
        );
    }
    let file = stream.message().await.unwrap().unwrap();
    let Some(alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        file.message_response
    else {
        panic!("expected a v1alpha file descriptor, got {file:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn a_retry_returns_the_stored_decision_and_a_changed_request_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    let file = repo("examples/requests/02-grade-aa.json");
    let first = client
        .pre_review(proto_request(&file, Some("IDEM-1")))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .pre_review(proto_request(&file, Some("IDEM-1")))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.idempotent_replay);
    assert!(second.idempotent_replay);
    assert_eq!(
        second.recorded_at, first.recorded_at,
        "the stored decision, not a new one"
    );
    assert_eq!(
        decision_from_proto(&second).unwrap(),
        decision_from_proto(&first).unwrap()
    );

    let mut changed = proto_request(&file, Some("IDEM-1"));
    changed
        .features
        .as_mut()
        .unwrap()
        .household
        .as_mut()
        .unwrap()
        .age = Some(39);
    let refused = client.pre_review(changed).await.unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert_eq!(
        refused.message(),
        format!(
            "request_id `IDEM-1` was already used for institution HB-JINGSHAN and product FARMER_CREDIT with different content (decision {}); use a new request_id",
            first.decision_id
        )
    );
    // A restarted server (empty cache) still knows the request from the store.
    drop(client);
    drop(server);
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    let third = client
        .pre_review(proto_request(&file, Some("IDEM-1")))
        .await
        .unwrap()
        .into_inner();
    assert!(third.idempotent_replay);
    assert_eq!(third.recorded_at, first.recorded_at);
}

#[tokio::test]
async fn invalid_input_is_refused_field_by_field_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    let mut request = proto_request(
        &repo("examples/requests/01-clean-approve.json"),
        Some("BAD-1"),
    );
    let features = request.features.as_mut().unwrap();
    features.household.as_mut().unwrap().age = Some(130);
    features.bureau.as_mut().unwrap().bureau_total_debt = Some("12.345".into());
    features.extra.insert(
        "mystery".into(),
        pb::FeatureValue {
            kind: Some(pb::feature_value::Kind::IntValue(1)),
        },
    );
    features
        .extra
        .insert("broken".into(), pb::FeatureValue { kind: None });
    let status = client.pre_review(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .expect("google.rpc.BadRequest details")
        .field_violations
        .into_iter()
        .map(|v| (v.field, v.description))
        .collect();
    assert_eq!(
        violations,
        vec![
            ("features.extra.broken".to_string(), "expected one of bool_value, int_value, decimal_value or string_value".to_string()),
            ("features.bureau_total_debt".to_string(), "expected an amount in yuan with at most 2 decimal places, as a decimal string or number between 0 and 100000000, found \"12.345\"".to_string()),
            ("features.age".to_string(), "expected an integer between 16 and 100, found 130".to_string()),
            ("features.mystery".to_string(), "unknown feature; the feature schema farmer-features@2026.2 declares no such name".to_string()),
        ]
    );
    let id = decision_core::decision::decision_id("HB-JINGSHAN", "FARMER_CREDIT", "BAD-1");
    let lookup = client
        .get_decision(pb::GetDecisionRequest { decision_id: id })
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound);

    let mut unknown = proto_request(
        &repo("examples/requests/01-clean-approve.json"),
        Some("BAD-2"),
    );
    unknown.product = "MORTGAGE".into();
    let status = client.pre_review(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "product"
    );
}

#[tokio::test]
async fn an_expired_deadline_is_refused_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    let mut request = tonic::Request::new(proto_request(
        &repo("examples/requests/01-clean-approve.json"),
        Some("LATE-1"),
    ));
    request
        .metadata_mut()
        .insert("grpc-timeout", "0n".parse().unwrap());
    let status = client.pre_review(request).await.unwrap_err();
    // tonic's transport enforces `grpc-timeout` around the handler and
    // reports an expired one as CANCELLED "Timeout expired"; a client with
    // its own deadline reports DEADLINE_EXCEEDED locally either way.
    assert!(
        matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{status:?}"
    );
    let id = decision_core::decision::decision_id("HB-JINGSHAN", "FARMER_CREDIT", "LATE-1");
    let lookup = client
        .get_decision(pb::GetDecisionRequest { decision_id: id })
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound);
    // A generous deadline is met.
    let mut request = tonic::Request::new(proto_request(
        &repo("examples/requests/01-clean-approve.json"),
        Some("ONTIME-1"),
    ));
    request.set_timeout(Duration::from_secs(10));
    assert!(client.pre_review(request).await.is_ok());
}

#[tokio::test]
async fn beyond_the_in_flight_limit_requests_are_refused_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-in-flight", "1"]);
    let channel = server.channel().await;
    let file = repo("examples/requests/01-clean-approve.json");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mut client = DecisionServiceClient::new(channel.clone());
        let request = proto_request(&file, Some(&format!("LOAD-{i}")));
        tasks.push(tokio::spawn(
            async move { client.pre_review(request).await },
        ));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                assert_eq!(
                    s.message(),
                    "the server is evaluating its limit of 1 requests; retry with backoff"
                );
                refused += 1;
            }
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok}, refused {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_look_ups_and_registry_calls_is_shed_while_pre_reviews_are_answered() {
    use crate::registry::{AUDITOR, as_user};
    use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let dir = tempfile::tempdir().unwrap();
    let tokens = repo("config/tokens.dev.toml");
    let server = Server::start(
        dir.path(),
        &[
            "--max-concurrent-calls",
            "2",
            "--tokens-file",
            tokens.to_str().unwrap(),
        ],
    );
    let channel = server.channel().await;
    let file = repo("examples/requests/01-clean-approve.json");
    let decided = DecisionServiceClient::new(channel.clone())
        .pre_review(proto_request(&file, Some("FLOOD-0")))
        .await
        .unwrap()
        .into_inner();

    // 48 clients sending look-ups and registry calls back to back until
    // the pre-reviews below are done: far more at once than the
    // server-wide limit of 2.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flood = Vec::new();
    for w in 0..48 {
        let channel = channel.clone();
        let id = decided.decision_id.clone();
        let stop = stop.clone();
        flood.push(tokio::spawn(async move {
            let mut decisions = DecisionServiceClient::new(channel.clone());
            let mut registry = PolicyRegistryClient::new(channel);
            let mut codes = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let result = if (w + i) % 2 == 0 {
                    decisions
                        .get_decision(pb::GetDecisionRequest {
                            decision_id: id.clone(),
                        })
                        .await
                        .map(|_| ())
                } else {
                    registry
                        .list_audit_log(as_user(AUDITOR, pb::ListAuditLogRequest { limit: 0 }))
                        .await
                        .map(|_| ())
                };
                codes.push(result.map_err(|s| (s.code(), s.message().to_string())));
            }
            codes
        }));
    }
    // Meanwhile, pre-reviews within their own limit, and health checks.
    let mut client = DecisionServiceClient::new(channel.clone());
    let mut health = HealthClient::new(channel.clone());
    for i in 1..=40 {
        client
            .pre_review(proto_request(&file, Some(&format!("FLOOD-{i}"))))
            .await
            .unwrap_or_else(|e| panic!("pre-review {i} during the flood: {e:?}"));
        let status = health
            .check(HealthCheckRequest {
                service: "decision.v1.DecisionService".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut answered, mut shed) = (0, 0);
    for t in flood {
        for result in t.await.unwrap() {
            match result {
                Ok(()) => answered += 1,
                Err((code, message)) => {
                    assert_eq!(code, Code::ResourceExhausted, "{message}");
                    assert!(
                        message.starts_with(
                            "the server is running its limit of 2 calls at once (max_concurrent_calls); /decision.v1."
                        ),
                        "{message}"
                    );
                    shed += 1;
                }
            }
        }
    }
    assert!(answered > 0 && shed > 0, "answered {answered}, shed {shed}");
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-message-bytes", "4096"]);
    let mut client = server.client().await;
    let mut request = proto_request(
        &repo("examples/requests/01-clean-approve.json"),
        Some("BIG-1"),
    );
    request
        .features
        .as_mut()
        .unwrap()
        .household
        .as_mut()
        .unwrap()
        .main_crop = Some("x".repeat(8192));
    let status = client.pre_review(request).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let channel = server.channel().await;
    let file = repo("examples/requests/03-grade-a-new-to-bank.json");
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut client = DecisionServiceClient::new(channel.clone());
        let request = proto_request(&file, Some(&format!("TERM-{i}")));
        tasks.push(tokio::spawn(
            async move { client.pre_review(request).await },
        ));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {:?}", status.0);
    let mut answered = Vec::new();
    for t in tasks {
        if let Ok(reply) = t.await.unwrap() {
            answered.push(reply.into_inner());
        }
    }
    // Every answered request is stored.
    let server = Server::start(dir.path(), &[]);
    let mut client = server.client().await;
    for reply in answered {
        let stored = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: reply.decision_id.clone(),
            })
            .await
            .unwrap();
        assert_eq!(
            decision_from_proto(&stored.into_inner().decision.unwrap()).unwrap(),
            decision_from_proto(&reply).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_every_decision_a_client_received_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let channel = server.channel().await;
    let files = examples();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let mut client = DecisionServiceClient::new(channel.clone());
        let files = files.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            // Bounded: stops at the first failure (the kill) or after 2,000 calls.
            for i in 0..2000 {
                let file = &files[(worker + i) % files.len()];
                let request = proto_request(file, Some(&format!("CRASH-{worker}-{i}")));
                match client.pre_review(request).await {
                    Ok(reply) => received.lock().unwrap().push(reply.into_inner()),
                    Err(_) => break,
                }
            }
        }));
    }
    // Let the load run, then kill -9 mid-flight.
    let mut server = server;
    server
        .kill_9_under_load(|| received.lock().unwrap().len(), 300, tasks)
        .await;
    let received = std::mem::take(&mut *received.lock().unwrap());
    assert!(received.len() >= 300);

    let restarted = Server::start(dir.path(), &[]);
    let mut client = restarted.client().await;
    for reply in &received {
        let stored = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: reply.decision_id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("{} was answered but is not stored: {e}", reply.decision_id))
            .into_inner()
            .decision
            .unwrap();
        assert_eq!(
            decision_from_proto(&stored).unwrap(),
            decision_from_proto(reply).unwrap()
        );
        assert_eq!(stored.recorded_at, reply.recorded_at);
    }
}

#[tokio::test]
async fn explain_prints_a_stored_decision_and_metrics_count_it() {
    let dir = tempfile::tempdir().unwrap();
    // A free port for the metrics listener.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let mut server = Server::start(dir.path(), &["--metrics-listen", &metrics]);
    let mut client = server.client().await;
    let reply = client
        .pre_review(proto_request(
            &repo("examples/requests/05-grade-c-decline.json"),
            Some("EXPLAIN-1"),
        ))
        .await
        .unwrap()
        .into_inner();

    let scrape = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&metrics).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    })
    .await
    .unwrap();
    assert!(
        scrape.contains("decisions_total{outcome=\"DECLINE\"} 1"),
        "{scrape}"
    );
    assert!(scrape.contains("pre_review_seconds_bucket"), "{scrape}");
    assert!(
        scrape.contains("decision_store_commit_seconds_bucket"),
        "{scrape}"
    );
    // A row count has buckets of rows, not of seconds.
    assert!(
        scrape.contains("decision_store_commit_rows_bucket{le=\"4096\"}")
            && !scrape.contains("decision_store_commit_rows_bucket{le=\"0.0001\"}"),
        "{scrape}"
    );

    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["explain", &reply.decision_id, "--lang", "en", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("Decision {}", reply.decision_id)),
        "{text}"
    );
    assert!(
        text.contains("Outcome: DECLINE; score 460, grade C"),
        "{text}"
    );
    assert!(
        text.contains("[G401] Score below the approval cut-off (grade:C)"),
        "{text}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args(["explain", "dec_unknown", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .starts_with("no decision with id `dec_unknown`")
    );
}

#[tokio::test]
async fn tls_is_served_when_configured() {
    use tonic::transport::{Certificate, ClientTlsConfig};
    let dir = tempfile::tempdir().unwrap();
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = generated.cert.pem();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = DecisionServiceClient::new(channel);
    let reply = client
        .pre_review(proto_request(
            &repo("examples/requests/01-clean-approve.json"),
            Some("TLS-1"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.decision, "APPROVE");
    // A plaintext client gets no answer from a TLS server.
    let mut plain = server.client().await;
    assert!(
        plain
            .pre_review(proto_request(
                &repo("examples/requests/01-clean-approve.json"),
                Some("TLS-2")
            ))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn rest_pre_review_of_every_example_equals_evaluate_and_bad_input_is_problem_json() {
    use crate::common::http;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    for file in examples() {
        let text = std::fs::read_to_string(&file).unwrap();
        let reply = http(&server.http, "POST", "/v1/pre-review", "", &text);
        assert_eq!(reply.status, 200, "{}: {}", file.display(), reply.body);
        assert_eq!(reply.headers["content-type"], "application/json");
        let got: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        let expected = serde_json::to_value(cli_evaluate(&file)).unwrap();
        assert_eq!(got, expected, "{}", file.display());
        // The same decision through gRPC's GetDecision.
        let stored = server
            .client()
            .await
            .get_decision(pb::GetDecisionRequest {
                decision_id: expected["decision_id"].as_str().unwrap().into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            decision_from_proto(&stored.decision.unwrap()).unwrap(),
            cli_evaluate(&file)
        );
        let zh = http(
            &server.http,
            "GET",
            &format!(
                "/v1/decisions/{}/explain?lang=zh",
                expected["decision_id"].as_str().unwrap()
            ),
            "",
            "",
        );
        assert_eq!(zh.status, 200);
        assert_eq!(zh.body, stored.explanation_zh);
    }
    let bad = r#"{"request_id": "REST-E2E-BAD", "institution": "", "product": "FARMER_CREDIT",
                  "features": {"age": "forty", "annual_net_income": "1e400"}}"#;
    let reply = http(&server.http, "POST", "/v1/pre-review", "", bad);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    let problem: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"institution"), "{fields:?}");
    assert!(fields.contains(&"features.age"), "{fields:?}");
    assert!(fields.contains(&"features.annual_net_income"), "{fields:?}");
    let openapi = http(&server.http, "GET", "/v1/openapi.json", "", "");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&openapi.body).unwrap(),
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(repo("proto/decision/v1/openapi.json")).unwrap()
        )
        .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_decisions_answer_with_outcome_versions_and_digest_and_held_ones_keep_their_input() {
    use crate::registry::{ANALYST, AUDITOR, as_user};
    use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
    let dir = tempfile::tempdir().unwrap();
    let tokens = repo("config/tokens.dev.toml");
    let server = Server::start(dir.path(), &["--tokens-file", tokens.to_str().unwrap()]);
    let mut client = server.client().await;
    let files = examples();
    let mut decided = Vec::new();
    for (i, file) in files.iter().take(3).enumerate() {
        decided.push(
            client
                .pre_review(proto_request(file, Some(&format!("KEEP-{i}"))))
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let mut registry = PolicyRegistryClient::new(server.channel().await);
    let hold = |token: &str, reason: &str| {
        as_user(
            token,
            pb::SetLegalHoldRequest {
                decision_id: decided[1].decision_id.clone(),
                hold: true,
                reason: reason.into(),
            },
        )
    };
    // Only an auditor, and only with a reason.
    let e = registry
        .set_legal_hold(hold(ANALYST, "court order 17"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = registry
        .set_legal_hold(hold(AUDITOR, " "))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.get_details_bad_request().unwrap().field_violations[0].field,
        "reason"
    );
    let held = registry
        .set_legal_hold(hold(AUDITOR, "court order 17"))
        .await
        .unwrap()
        .into_inner();
    assert!(held.legal_hold);

    // The retention period passes (for these three): prune everything
    // recorded before now, through the command line, beside the server.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_decision-engine"))
        .args([
            "store",
            "prune",
            "--before",
            &now,
            "--by",
            "ops.zhang",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!(
            "pruned the input of 2 decisions recorded before {now}; 1 under legal hold kept whole"
        )),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    for (i, original) in decided.iter().enumerate() {
        let got = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: original.decision_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let retention = got.retention.unwrap();
        let decision = got.decision.unwrap();
        assert_eq!(decision.decision, original.decision);
        assert_eq!(decision.versions, original.versions);
        assert_eq!(decision.recorded_at, original.recorded_at);
        assert!(retention.request_digest.starts_with("sha256:"));
        if i == 1 {
            // Held: whole.
            assert!(retention.legal_hold && !retention.pruned);
            assert!(!got.request_json.is_empty());
            assert_eq!(
                decision_from_proto(&decision).unwrap(),
                decision_from_proto(original).unwrap()
            );
        } else {
            assert!(retention.pruned && !retention.legal_hold);
            assert!(got.request_json.is_empty());
            assert_eq!(decision.score, "");
            assert!(
                got.explanation_en.contains("its input was removed on"),
                "{}",
                got.explanation_en
            );
            let e = client
                .replay(pb::ReplayRequest {
                    decision_id: original.decision_id.clone(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
        }
    }
    // A retry of a pruned request cannot be answered whole (the trace is
    // asked for, so it is read from the store, not the recent cache).
    let e = client
        .pre_review(proto_request(&files[0], Some("KEEP-0")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Both are in the audit log.
    let log = registry
        .list_audit_log(as_user(AUDITOR, pb::ListAuditLogRequest { limit: 10 }))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<&str> = log.entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"PruneDecisions"), "{actions:?}");
    assert!(actions.contains(&"SetLegalHold"), "{actions:?}");
}
