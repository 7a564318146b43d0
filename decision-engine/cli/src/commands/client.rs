//! What the commands that call a running server share: where it is, the
//! caller's token, TLS, and how a refusal is told.

use std::path::PathBuf;

use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::exit::Failure;

/// Where the server is and who calls it.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "DECISION_ENGINE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// Your bearer token (prefer the environment variable: a flag shows in
    /// `ps`); every call to a server needs it.
    #[arg(
        long,
        env = "DECISION_ENGINE_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub token: String,
    /// PEM certificate of the authority that signed a TLS server's certificate (for https:// servers).
    #[arg(long, env = "DECISION_ENGINE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl ServerArgs {
    /// A channel to the server; an unreachable server is exit 3.
    pub async fn connect(&self) -> Result<Channel, Failure> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Failure::Other(format!("cannot connect to {}: {e}", self.server))
        };
        let mut endpoint =
            Channel::from_shared(self.server.clone()).map_err(|e| unreachable(&e))?;
        if let Some(ca) = &self.ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| unreachable(&format!("cannot read {}: {e}", ca.display())))?;
            let host = endpoint.uri().host().unwrap_or("localhost").to_string();
            let tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(pem))
                .domain_name(host);
            endpoint = endpoint.tls_config(tls).map_err(|e| unreachable(&e))?;
        }
        endpoint.connect().await.map_err(|e| unreachable(&e))
    }

    /// `message` with the caller's token.
    pub fn authed<T>(&self, message: T) -> Result<tonic::Request<T>, Failure> {
        if self.token.is_empty() {
            return Err(Failure::Input(
                "--token (or DECISION_ENGINE_TOKEN): expected your bearer token to call the server"
                    .to_string(),
            ));
        }
        let mut r = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| Failure::Input("the token is not valid metadata".to_string()))?;
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    }
}

/// A refusal by the server: its code, message and every field problem
/// (exit 1).
pub fn refused(s: tonic::Status) -> Failure {
    let mut text = format!("{:?}: {}", s.code(), s.message());
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    Failure::Policy(text)
}
