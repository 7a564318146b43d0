//! `decision-engine serve`: the gRPC server. Settings come from flags,
//! `DECISION_ENGINE_*` environment variables and a TOML config file, in that
//! order of precedence; the server itself is `decision_grpc::serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use decision_grpc::ServerConfig;
use decision_service::Limits;
use serde::Deserialize;

use crate::exit::{Exit, Failure};

pub fn run(config: ServeConfig) -> Result<Exit, Failure> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    config
        .resolve()
        .and_then(|resolved| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(decision_grpc::serve(resolved))
        })
        .map(|()| Exit::Done)
        .map_err(|e| Failure::Other(format!("decision-engine serve: {e:#}")))
}

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
    /// The REST/JSON door's address, `off` for none [default: 127.0.0.1:8080].
    #[arg(long, env = "DECISION_ENGINE_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// A PostgreSQL database shared by several servers
    /// (postgres://user:password@host:port/database); without it, the
    /// embedded SQLite store in --data-dir [default: none].
    #[arg(long, env = "DECISION_ENGINE_STORE")]
    pub store: Option<String>,
    /// Connections to the PostgreSQL store, at most [default: 16].
    #[arg(long, env = "DECISION_ENGINE_STORE_CONNECTIONS")]
    pub store_connections: Option<usize>,
    /// Prometheus metrics address, `off` to disable [default: 127.0.0.1:9464].
    #[arg(long, env = "DECISION_ENGINE_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// A directory with rulesets/ and scorecards/ [default: the shipped policy].
    #[arg(long, env = "DECISION_ENGINE_POLICY_DIR")]
    pub policy_dir: Option<PathBuf>,
    /// Requests evaluated at once; more get RESOURCE_EXHAUSTED [default: 512].
    #[arg(long, env = "DECISION_ENGINE_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Calls of other kinds (all but PreReview and health checks) running at
    /// once, server-wide; more get RESOURCE_EXHAUSTED [default: 256].
    #[arg(long, env = "DECISION_ENGINE_MAX_CONCURRENT_CALLS")]
    pub max_concurrent_calls: Option<usize>,
    /// How long any call may run before it is cancelled, e.g. `30s` [default: 30s].
    #[arg(long, env = "DECISION_ENGINE_CALL_TIMEOUT")]
    pub call_timeout: Option<String>,
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
    /// A secret file (at least 32 bytes) keying the hashes of national ID
    /// numbers in the pre-credit register; without it ID look-ups are
    /// refused. Keep it out of the data directory and its backups.
    #[arg(long, env = "DECISION_ENGINE_ID_KEY_FILE")]
    pub id_key_file: Option<PathBuf>,
    /// The only directory the server reads households files of pre-credit
    /// publications from [default: none: publications carry no identities].
    #[arg(long, env = "DECISION_ENGINE_IMPORT_DIR")]
    pub import_dir: Option<PathBuf>,
}

impl ServeConfig {
    /// These settings over those of the config file, if any.
    pub fn resolve(self) -> anyhow::Result<ServerConfig> {
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
        let http = self
            .http_listen
            .or(file.http_listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let http_listen = match http.as_str() {
            "off" => None,
            addr => Some(addr.parse().with_context(|| {
                format!("http_listen: expected an address or `off`, found `{addr}`")
            })?),
        };
        let max_concurrent_calls = self
            .max_concurrent_calls
            .or(file.max_concurrent_calls)
            .unwrap_or(256);
        anyhow::ensure!(
            max_concurrent_calls > 0,
            "max_concurrent_calls: expected at least 1"
        );
        let call_timeout = self
            .call_timeout
            .or(file.call_timeout)
            .unwrap_or_else(|| "30s".into());
        let call_timeout = humantime::parse_duration(&call_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!("call_timeout: expected a duration such as `30s` or `2m`, found `{call_timeout}`")
            })?;
        let store_connections = self
            .store_connections
            .or(file.store_connections)
            .unwrap_or(decision_store::postgres::DEFAULT_MAX_CONNECTIONS);
        anyhow::ensure!(
            store_connections > 0,
            "store_connections: expected at least 1"
        );
        let tls = match (
            self.tls_cert.or(file.tls_cert),
            self.tls_key.or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => anyhow::bail!("tls_cert and tls_key go together: give both or neither"),
        };
        Ok(ServerConfig {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 50051))),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("data")),
            store: self.store.or(file.store),
            store_connections,
            metrics_listen,
            policy_dir: self.policy_dir.or(file.policy_dir),
            max_in_flight,
            max_concurrent_calls,
            call_timeout,
            http_listen,
            tokens_file: self.tokens_file.or(file.tokens_file),
            require_client_token: self
                .require_client_token
                .or(file.require_client_token)
                .unwrap_or(false),
            tls,
            id_key_file: self.id_key_file.or(file.id_key_file),
            import_dir: self.import_dir.or(file.import_dir),
            max_message_bytes: self
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(1 << 20),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_config_file_is_one_the_server_reads() {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/kubernetes/base/decision-engine.toml");
        let resolved = ServeConfig {
            config: Some(file),
            store: Some("postgres://engine@postgres/decisions".into()),
            ..ServeConfig::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(resolved.listen, "0.0.0.0:50051".parse().unwrap());
        assert_eq!(resolved.http_listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(resolved.max_concurrent_calls, 256);
        assert_eq!(resolved.call_timeout, std::time::Duration::from_secs(30));
        assert_eq!(
            resolved.policy_dir,
            Some(PathBuf::from("/etc/decision-engine/policy"))
        );
        assert!(resolved.require_client_token);
        assert_eq!(
            resolved.store.as_deref(),
            Some("postgres://engine@postgres/decisions")
        );
    }

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
