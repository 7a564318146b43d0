//! `decision-engine serve`: the gRPC server with health checking, server
//! reflection, Prometheus metrics and graceful shutdown, over the embedded
//! store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::auth::Tokens;
use crate::grpc::pb;
use crate::grpc::pb::decision_service_server::DecisionServiceServer;
use crate::grpc::pb::policy_registry_server::PolicyRegistryServer;
use crate::policy_set::PolicySet;
use crate::registry::RegistryService;
use crate::service::{DecisionServiceImpl, Limits};
use crate::store::sqlite::SqliteStore;

/// Server settings: command-line flags and `DECISION_ENGINE_*` environment
/// variables override the config file, which overrides the defaults.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// A TOML file with any of the settings below (same names, `_` for `-`).
    #[arg(long, env = "DECISION_ENGINE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// gRPC address [default: 127.0.0.1:50051].
    #[arg(long, env = "DECISION_ENGINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the embedded store lives [default: ./data].
    #[arg(long, env = "DECISION_ENGINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Prometheus metrics address, `off` to disable [default: 127.0.0.1:9464].
    #[arg(long, env = "DECISION_ENGINE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// A directory with rulesets/ and scorecards/ [default: the shipped policy].
    #[arg(long, env = "DECISION_ENGINE_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Requests evaluated at once; more get RESOURCE_EXHAUSTED [default: 512].
    #[arg(long, env = "DECISION_ENGINE_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Largest request or reply message, bytes [default: 1048576].
    #[arg(long, env = "DECISION_ENGINE_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Bearer tokens of the policy registry's users (TOML); without it every
    /// registry call is refused [default: none].
    #[arg(long, env = "DECISION_ENGINE_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Require a client token (role client) on decision calls [default: false].
    #[arg(long, env = "DECISION_ENGINE_REQUIRE_CLIENT_TOKEN")]
    pub require_client_token: Option<bool>,
    /// Serve TLS (rustls) with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "DECISION_ENGINE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "DECISION_ENGINE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
}

impl ServeConfig {
    /// These settings over those of the config file, if any.
    pub fn resolve(self) -> anyhow::Result<Resolved> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config {}", path.display()))?;
                toml::from_str::<ServeConfig>(&text)
                    .with_context(|| format!("invalid config {}", path.display()))?
            }
            None => ServeConfig::default(),
        };
        let metrics = self
            .metrics_listen
            .or(file.metrics_listen)
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        let metrics_listen = match metrics.as_str() {
            "off" => None,
            addr => Some(addr.parse().with_context(|| {
                format!("metrics_listen: expected an address or `off`, found `{addr}`")
            })?),
        };
        let max_in_flight = self
            .max_in_flight
            .or(file.max_in_flight)
            .unwrap_or(Limits::default().max_in_flight);
        anyhow::ensure!(max_in_flight > 0, "max_in_flight: expected at least 1");
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("tls_cert and tls_key go together: give both or neither"),
        };
        Ok(Resolved {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 50051))),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            metrics_listen,
            policy_dir: self.policy_dir.or(file.policy_dir),
            max_in_flight,
            tokens_file: self.tokens_file.or(file.tokens_file),
            require_client_token: self
                .require_client_token
                .or(file.require_client_token)
                .unwrap_or(false),
            tls,
            max_message_bytes: self
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(1 << 20),
        })
    }
}

/// Settings after merging.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    pub policy_dir: Option<PathBuf>,
    pub max_in_flight: usize,
    pub max_message_bytes: usize,
    pub tokens_file: Option<PathBuf>,
    pub require_client_token: bool,
    /// (certificate chain, private key), PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
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

/// Runs the server until SIGTERM or SIGINT: then it stops accepting,
/// finishes the requests in flight, flushes the store and returns.
pub async fn serve(config: Resolved) -> anyhow::Result<()> {
    let policies = Arc::new(load_policies(config.policy_dir.as_deref())?);
    let store = Arc::new(
        SqliteStore::open(&config.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?,
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
    let mut service = DecisionServiceImpl::new(policies.clone(), store.clone(), limits).await?;
    if config.require_client_token {
        service = service.require_client_tokens(tokens.clone());
    }
    let registry = PolicyRegistryServer::new(RegistryService::new(policies, store.clone(), tokens))
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    if let Some(addr) = config.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets(&[
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5,
            ])?
            .install()
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<DecisionServiceServer<DecisionServiceImpl<SqliteStore>>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let decisions = DecisionServiceServer::new(service)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), store = %store.path().display(), "serving decision.v1.DecisionService");
    // Scripts and tests read the bound port from this line.
    println!("decision-engine listening on {addr}");

    let stopping = {
        let health = health.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing requests in flight");
            health
                .set_not_serving::<DecisionServiceServer<DecisionServiceImpl<SqliteStore>>>()
                .await;
        }
    };
    let mut builder = Server::builder();
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
        .add_service(health_service)
        .add_service(reflection)
        .add_service(decisions)
        .add_service(registry)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY small replies wait on delayed ACKs (~40 ms).
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    store.close();
    tracing::info!("store flushed; stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_variables_win_over_the_config_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serve.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:6000\"\nmax_in_flight = 8\nmetrics_listen = \"off\"\n",
        )
        .unwrap();
        let resolved = ServeConfig {
            config: Some(file.clone()),
            max_in_flight: Some(16),
            ..ServeConfig::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(resolved.listen, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(resolved.max_in_flight, 16);
        assert_eq!(resolved.metrics_listen, None);
        assert_eq!(resolved.data_dir, PathBuf::from("data"));
        assert_eq!(resolved.max_message_bytes, 1 << 20);

        std::fs::write(&file, "listen = \"127.0.0.1:6000\"\nmax_in_flite = 8\n").unwrap();
        let e = ServeConfig {
            config: Some(file),
            ..ServeConfig::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown field `max_in_flite`"),
            "{e:#}"
        );
    }
}
