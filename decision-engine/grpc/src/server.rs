//! The gRPC server: the decision service, the policy registry, the
//! pre-credit register, the reviews and post-loan monitoring over the
//! store, with health checking, server reflection, Prometheus metrics, TLS
//! and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use decision_core::PolicySet;
use decision_service::{Decisions, IdKey, Limits, Policies, PreCredits, Registry, Reviews, Tokens};
use decision_store::{AnyStore, Location};
use metrics_exporter_prometheus::Matcher;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::pb;
use crate::pb::decision_service_server::DecisionServiceServer;
use crate::pb::monitoring_service_server::MonitoringServiceServer;
use crate::pb::policy_registry_server::PolicyRegistryServer;
use crate::pb::pre_credit_service_server::PreCreditServiceServer;
use crate::pb::review_service_server::ReviewServiceServer;
use crate::{
    DecisionHandlers, MonitoringHandlers, PreCreditHandlers, RegistryHandlers, ReviewHandlers,
};

/// Latency buckets, seconds: 100 us to 2.5 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Rows per group commit: 1 to the writer's cap of 4096.
const ROWS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// What the server needs, every setting resolved.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// A PostgreSQL URL shared by several servers; `None`: the embedded
    /// SQLite store in `data_dir`.
    pub store: Option<String>,
    /// Connections of a PostgreSQL store's pool, at most.
    pub store_connections: usize,
    pub metrics_listen: Option<SocketAddr>,
    pub policy_dir: Option<PathBuf>,
    pub max_in_flight: usize,
    /// Calls of every other kind (all but PreReview and health checks) run
    /// at once, server-wide; beyond it they are shed with RESOURCE_EXHAUSTED.
    pub max_concurrent_calls: usize,
    /// How long any call may run before it is cancelled.
    pub call_timeout: std::time::Duration,
    /// The REST/JSON door's address; `None`: no REST door.
    pub http_listen: Option<SocketAddr>,
    pub max_message_bytes: usize,
    pub tokens_file: Option<PathBuf>,
    pub require_client_token: bool,
    /// (certificate chain, private key), PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The key of national ID hashes in the pre-credit register (a secret
    /// file, never in the store).
    pub id_key_file: Option<PathBuf>,
    /// The only directory households files of pre-credit publications are
    /// read from.
    pub import_dir: Option<PathBuf>,
}

fn load_policies(dir: Option<&Path>) -> anyhow::Result<PolicySet> {
    Ok(match dir {
        Some(d) => PolicySet::load_dir(d)?,
        None => PolicySet::shipped()?,
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// How often the health check asks the store whether it answers.
const STORE_PROBE: std::time::Duration = std::time::Duration::from_millis(500);

/// Health follows the store: NOT_SERVING while it does not answer (a
/// PostgreSQL that is down or out of reach), SERVING again once it does,
/// without a restart. Stops changing anything once the server is stopping.
async fn watch_store(
    store: Arc<AnyStore>,
    health: tonic_health::server::HealthReporter,
    stopped: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut serving = true;
    let mut every = tokio::time::interval(STORE_PROBE);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let answered = store.ping().await;
        if stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        match (&answered, serving) {
            (Err(e), true) => {
                tracing::error!("the store does not answer; health NOT_SERVING: {e}");
                health
                    .set_not_serving::<DecisionServiceServer<DecisionHandlers<AnyStore>>>()
                    .await;
                health
                    .set_service_status("", tonic_health::ServingStatus::NotServing)
                    .await;
                serving = false;
            }
            (Ok(()), false) => {
                tracing::info!("the store answers again; health SERVING");
                health
                    .set_serving::<DecisionServiceServer<DecisionHandlers<AnyStore>>>()
                    .await;
                health
                    .set_service_status("", tonic_health::ServingStatus::Serving)
                    .await;
                serving = true;
            }
            _ => {}
        }
    }
}

/// Runs the server until SIGTERM or SIGINT: then it stops accepting,
/// finishes the requests in flight, flushes the store and returns.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let policies = Arc::new(load_policies(config.policy_dir.as_deref())?);
    let location = Location::parse(config.store.as_deref(), &config.data_dir)?;
    let store = Arc::new(
        AnyStore::open(&location, config.store_connections)
            .await
            .with_context(|| format!("cannot open the store {}", location.shown()))?,
    );
    let limits = Limits {
        max_in_flight: config.max_in_flight,
        ..Limits::default()
    };
    let tokens = Arc::new(match &config.tokens_file {
        Some(path) => Tokens::load(path).map_err(|e| anyhow::anyhow!(e))?,
        None => {
            tracing::warn!("no tokens file: every policy registry call will be refused");
            Tokens::default()
        }
    });
    anyhow::ensure!(
        !config.require_client_token || config.tokens_file.is_some(),
        "require_client_token needs a tokens_file with client tokens"
    );
    let in_force = Arc::new(Policies::new(policies.clone(), store.clone()).await?);
    let review_cases = Arc::new(Reviews::new(in_force.clone(), tokens.clone()));
    let reviews = ReviewServiceServer::new(ReviewHandlers::new(review_cases.clone()))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let monitoring = in_force.clone();
    let mut decisions = Decisions::new(in_force, limits);
    if config.require_client_token {
        decisions = decisions.require_client_tokens(tokens.clone());
    }
    let decisions = Arc::new(decisions);
    let id_key = match &config.id_key_file {
        Some(path) => Some(Arc::new(IdKey::load(path).map_err(|e| anyhow::anyhow!(e))?)),
        None => None,
    };
    let mut precredits = PreCredits::new(store.clone(), tokens.clone(), id_key);
    if let Some(dir) = &config.import_dir {
        precredits = precredits.with_import_dir(dir.clone());
    }
    let interrupted = precredits.recover().await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "publications left loading by a stopped server are marked failed"
        );
    }
    let precredits = Arc::new(precredits);
    let register = precredits.clone();
    let monitor = Arc::new(
        decision_service::monitoring::Monitor::new(monitoring, precredits.clone(), tokens.clone())
            .map_err(|e| anyhow::anyhow!(e))?,
    );
    let monitoring = MonitoringServiceServer::new(MonitoringHandlers::new(monitor))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let precredits = PreCreditServiceServer::new(PreCreditHandlers::new(precredits))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let registry = Arc::new(Registry::new(policies, store.clone(), tokens));
    // One budget of calls for the whole server, both doors.
    let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_calls));
    let rest = decision_rest::router(Arc::new(decision_rest::Rest {
        decisions: decisions.clone(),
        registry: registry.clone(),
        precredits: register,
        reviews: review_cases,
        permits: permits.clone(),
        max_concurrent_calls: config.max_concurrent_calls,
        call_timeout: config.call_timeout,
        max_body_bytes: config.max_message_bytes,
    }));
    let registry = PolicyRegistryServer::new(RegistryHandlers::new(registry))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    if let Some(addr) = config.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
            .set_buckets_for_metric(Matcher::Full("decision_store_commit_rows".into()), ROWS)?
            .install()
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DecisionServiceServer<DecisionHandlers<AnyStore>>>()
        .await;
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(watch_store(store.clone(), health.clone(), stopped.clone()));
    // Reflection in both protocol versions: grpcurl and current tools
    // speak v1; Python's grpcio-reflection and several older tools speak
    // only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let reflection = reflection().build_v1()?;
    let draining = decisions.clone();
    let decisions = DecisionServiceServer::new(DecisionHandlers::new(decisions))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = %store.shown(), "serving decision.v1.DecisionService");
    // Scripts and tests read the bound port from this line.
    println!("decision-engine listening on {addr}");
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    let http = match config.http_listen {
        Some(http_addr) => {
            let listener = tokio::net::TcpListener::bind(http_addr)
                .await
                .with_context(|| format!("cannot listen for HTTP on {http_addr}"))?;
            let bound = listener.local_addr()?;
            tracing::info!(%bound, "serving the REST/JSON API");
            println!("decision-engine http listening on {bound}");
            let mut stopped = http_stopped;
            Some(tokio::spawn(decision_rest::serve(
                listener,
                rest,
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            )))
        }
        None => None,
    };

    let stopping = {
        let health = health.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            stopped.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = stop_http.send(true);
            health
                .set_not_serving::<DecisionServiceServer<DecisionHandlers<AnyStore>>>()
                .await;
        }
    };
    let mut builder = Server::builder()
        .timeout(config.call_timeout)
        // Dead peers are found and their connections closed: an HTTP/2 ping
        // every 30 s, answered within 10 s, and TCP keepalive under it.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
        .tcp_keepalive(Some(std::time::Duration::from_secs(60)));
    if let Some((cert, key)) = &config.tls {
        let read =
            |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        let identity = tonic::transport::Identity::from_pem(read(cert)?, read(key)?);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .context("invalid TLS certificate or key")?;
        tracing::info!(cert = %cert.display(), "serving TLS");
    }
    builder
        .layer(crate::limits::CallLimitLayer::sharing(
            permits,
            config.max_concurrent_calls,
        ))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(decisions)
        .add_service(registry)
        .add_service(precredits)
        .add_service(reviews)
        .add_service(monitoring)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY small replies wait on delayed ACKs (~40 ms).
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    if let Some(http) = http {
        match http.await {
            Ok(Err(e)) => tracing::error!("the REST door stopped with an error: {e}"),
            Err(e) => tracing::error!("the REST door panicked: {e}"),
            Ok(Ok(())) => {}
        }
    }
    // Shadow decisions still being written finish before the store closes.
    if !draining
        .drain_shadows(std::time::Duration::from_secs(10))
        .await
    {
        tracing::warn!("some shadow decisions were still being written at shutdown; they are lost");
    }
    store.close();
    tracing::info!("store flushed; stopped");
    Ok(())
}
