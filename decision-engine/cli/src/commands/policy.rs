//! `decision-engine policy`: a client of a running server's policy
//! registry (gRPC), one subcommand per registry call. A refusal by the
//! server exits 1 with its code and every field problem; a server that
//! cannot be reached exits 3.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use decision_grpc::pb;
use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;
use tonic_types::StatusExt;

use super::runtime;
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The server's gRPC address.
    #[arg(
        long,
        env = "DECISION_ENGINE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Your bearer token (prefer the environment variable: a flag shows in `ps`).
    #[arg(long, env = "DECISION_ENGINE_TOKEN", hide_env_values = true)]
    token: String,
    /// PEM certificate of the authority that signed a TLS server's certificate (for https:// servers).
    #[arg(long, env = "DECISION_ENGINE_CA_CERT")]
    ca_cert: Option<PathBuf>,
    #[command(subcommand)]
    action: PolicyAction,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let lines = runtime()?.block_on(call(
        &args.server,
        &args.token,
        args.ca_cert.as_deref(),
        args.action,
    ))?;
    for l in lines {
        println!("{l}");
    }
    Ok(Exit::Done)
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Publish a ruleset or scorecard document (analyst).
    Upload { file: PathBuf },
    /// Check a document against the active policy set without publishing it (analyst).
    Validate { file: PathBuf },
    /// Published versions.
    List {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        id: Option<String>,
    },
    /// What changed between two versions of a document.
    Diff {
        kind: String,
        id: String,
        from: String,
        to: String,
    },
    /// Ask to point an institution's product at a ruleset and scorecard version (approver).
    Activate {
        #[command(flatten)]
        target: ActivationArgs,
        /// RFC 3339 time; default: as soon as approved.
        #[arg(long, default_value = "")]
        effective_at: String,
    },
    /// Approve another approver's activation request (approver).
    Approve { activation_id: String },
    /// Ask to return to versions that ran before (approver; needs approval too).
    Rollback {
        #[command(flatten)]
        target: ActivationArgs,
    },
    /// The activation history.
    Activations {
        #[arg(long, default_value = "")]
        institution: String,
        #[arg(long, default_value = "")]
        product: String,
    },
    /// The audit log, newest first (auditor).
    Audit {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

#[derive(clap::Args)]
struct ActivationArgs {
    /// An institution code, or `*` for the default.
    #[arg(long)]
    institution: String,
    #[arg(long, default_value = "FARMER_CREDIT")]
    product: String,
    /// ID@VERSION
    #[arg(long)]
    ruleset: String,
    /// ID@VERSION
    #[arg(long)]
    scorecard: String,
}

fn authed<T>(token: &str, message: T) -> Result<tonic::Request<T>, Failure> {
    let mut r = tonic::Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| Failure::Policy("the token is not valid metadata".to_string()))?;
    r.metadata_mut().insert("authorization", value);
    Ok(r)
}
fn split(what: &str, s: &str) -> Result<(String, String), Failure> {
    s.split_once('@')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| Failure::Policy(format!("--{what}: expected ID@VERSION, found `{s}`")))
}
fn request(
    t: ActivationArgs,
    effective_at: String,
) -> Result<pb::RequestActivationRequest, Failure> {
    let (ruleset_id, ruleset_version) = split("ruleset", &t.ruleset)?;
    let (scorecard_id, scorecard_version) = split("scorecard", &t.scorecard)?;
    Ok(pb::RequestActivationRequest {
        institution: t.institution,
        product: t.product,
        ruleset_id,
        ruleset_version,
        scorecard_id,
        scorecard_version,
        effective_at,
    })
}
fn activation(a: &pb::Activation) -> String {
    format!(
        "{} {} {} {} ruleset {}@{} scorecard {}@{} effective {} requested by {} approved by {}{}",
        a.activation_id,
        a.status,
        a.institution,
        a.product,
        a.ruleset_id,
        a.ruleset_version,
        a.scorecard_id,
        a.scorecard_version,
        if a.effective_at.is_empty() {
            "on approval"
        } else {
            &a.effective_at
        },
        a.requested_by,
        if a.approved_by.is_empty() {
            "-"
        } else {
            &a.approved_by
        },
        if a.rollback { " (rollback)" } else { "" }
    )
}

async fn call(
    server: &str,
    token: &str,
    ca_cert: Option<&Path>,
    action: PolicyAction,
) -> Result<Vec<String>, Failure> {
    let unreachable =
        |e: &dyn std::fmt::Display| Failure::Other(format!("cannot connect to {server}: {e}"));
    let mut endpoint =
        tonic::transport::Channel::from_shared(server.to_string()).map_err(|e| unreachable(&e))?;
    if let Some(ca) = ca_cert {
        let pem = std::fs::read(ca)
            .map_err(|e| unreachable(&format!("cannot read {}: {e}", ca.display())))?;
        let host = endpoint.uri().host().unwrap_or("localhost").to_string();
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem))
            .domain_name(host);
        endpoint = endpoint.tls_config(tls).map_err(|e| unreachable(&e))?;
    }
    let channel = endpoint.connect().await.map_err(|e| unreachable(&e))?;
    let mut client = PolicyRegistryClient::new(channel);
    let status = |s: tonic::Status| {
        let mut text = format!("{:?}: {}", s.code(), s.message());
        if let Some(bad) = s.get_details_bad_request() {
            for v in bad.field_violations {
                text.push_str(&format!("\n  {}: {}", v.field, v.description));
            }
        }
        Failure::Policy(text)
    };
    let lines: Vec<String> = match action {
        PolicyAction::Upload { file } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Policy(format!("cannot read {}: {e}", file.display())))?;
            let kind = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_default();
            let req = authed(
                token,
                pb::UploadRequest {
                    document_json: json,
                },
            )?;
            let reply = match kind.as_str() {
                "ruleset" => client.upload_ruleset(req).await,
                "scorecard" => client.upload_scorecard(req).await,
                other => {
                    return Err(Failure::Policy(format!(
                        "{}: expected a ruleset or scorecard document, found kind `{other}`",
                        file.display()
                    )));
                }
            }
            .map_err(status)?
            .into_inner();
            let v = reply.version.unwrap_or_default();
            vec![format!(
                "{} {} {}@{} {} (by {} at {})",
                if reply.created {
                    "published"
                } else {
                    "already published"
                },
                v.kind,
                v.id,
                v.version,
                v.hash,
                v.uploaded_by,
                v.uploaded_at
            )]
        }
        PolicyAction::Validate { file } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Policy(format!("cannot read {}: {e}", file.display())))?;
            let reply = client
                .validate_document(authed(
                    token,
                    pb::UploadRequest {
                        document_json: json,
                    },
                )?)
                .await
                .map_err(status)?
                .into_inner();
            if !reply.valid {
                return Err(Failure::Policy(format!(
                    "invalid:\n  {}",
                    reply.problems.join("\n  ")
                )));
            }
            let v = reply.version.unwrap_or_default();
            vec![format!(
                "valid {} {}@{} {}",
                v.kind, v.id, v.version, v.hash
            )]
        }
        PolicyAction::List { kind, id } => client
            .list_versions(authed(
                token,
                pb::ListVersionsRequest {
                    kind: kind.unwrap_or_default(),
                    id: id.unwrap_or_default(),
                },
            )?)
            .await
            .map_err(status)?
            .into_inner()
            .versions
            .iter()
            .map(|v| {
                format!(
                    "{} {}@{} {} {} {}",
                    v.kind, v.id, v.version, v.hash, v.uploaded_by, v.uploaded_at
                )
            })
            .collect(),
        PolicyAction::Diff { kind, id, from, to } => {
            client
                .diff_versions(authed(
                    token,
                    pb::DiffVersionsRequest {
                        kind,
                        id,
                        from_version: from,
                        to_version: to,
                    },
                )?)
                .await
                .map_err(status)?
                .into_inner()
                .changes
        }
        PolicyAction::Activate {
            target,
            effective_at,
        } => {
            let a = client
                .request_activation(authed(token, request(target, effective_at)?)?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Rollback { target } => {
            let a = client
                .rollback(authed(token, request(target, String::new())?)?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Approve { activation_id } => {
            let a = client
                .approve_activation(authed(
                    token,
                    pb::ApproveActivationRequest { activation_id },
                )?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Activations {
            institution,
            product,
        } => client
            .list_activations(authed(
                token,
                pb::ListActivationsRequest {
                    institution,
                    product,
                },
            )?)
            .await
            .map_err(status)?
            .into_inner()
            .activations
            .iter()
            .map(activation)
            .collect(),
        PolicyAction::Audit { limit } => client
            .list_audit_log(authed(token, pb::ListAuditLogRequest { limit })?)
            .await
            .map_err(status)?
            .into_inner()
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {} {} {} {} {} {}",
                    e.at,
                    e.person,
                    if e.role.is_empty() { "-" } else { &e.role },
                    e.action,
                    if e.kind.is_empty() { "-" } else { &e.kind },
                    if e.id.is_empty() { "-" } else { &e.id },
                    if e.version.is_empty() {
                        "-"
                    } else {
                        &e.version
                    },
                    if e.accepted { "accepted" } else { "refused" },
                    e.detail
                )
            })
            .collect(),
    };
    Ok(lines)
}
