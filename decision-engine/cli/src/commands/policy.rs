//! `decision-engine policy`: a client of a running server's policy
//! registry (gRPC), one subcommand per registry call. A refusal by the
//! server exits 1 with its code and every field problem; a server that
//! cannot be reached exits 3.

use std::path::PathBuf;

use clap::Subcommand;
use decision_grpc::pb;
use decision_grpc::pb::policy_registry_client::PolicyRegistryClient;

use super::client::{ServerArgs, refused};
use super::runtime;
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    action: PolicyAction,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    if let PolicyAction::Test { files, policy_dir } = args.action {
        return test(&files, policy_dir.as_deref());
    }
    let lines = runtime()?.block_on(call(&args.server, args.action))?;
    for l in lines {
        println!("{l}");
    }
    Ok(Exit::Done)
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Publish a ruleset, scorecard or monitoring policy document (analyst).
    Upload { file: PathBuf },
    /// Check a document against the active policy set without publishing it (analyst).
    Validate { file: PathBuf },
    /// Run the test cases of ruleset and scorecard documents locally, with
    /// the shipped policy set (or `--policy-dir`); no server is needed.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        policy_dir: Option<PathBuf>,
    },
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
        #[command(flatten)]
        challenger: ChallengerArgs,
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
    /// An institution code, or `*` for the default (the province's
    /// documents: `*`, the default).
    #[arg(long, required_unless_present_any = ["red_lines", "feature_schema", "market_parameters", "catalogue_entry"])]
    institution: Option<String>,
    #[arg(long, default_value = "FARMER_CREDIT")]
    product: String,
    /// ID@VERSION
    #[arg(long, required_unless_present_any = ["monitoring", "red_lines", "feature_schema", "market_parameters", "catalogue_entry"])]
    ruleset: Option<String>,
    /// ID@VERSION
    #[arg(long, required_unless_present_any = ["monitoring", "red_lines", "feature_schema", "market_parameters", "catalogue_entry"])]
    scorecard: Option<String>,
    /// A post-loan monitoring policy, ID@VERSION, activated alone (product
    /// POST_LOAN).
    #[arg(long, conflicts_with_all = ["ruleset", "scorecard", "product"])]
    monitoring: Option<String>,
    /// The province red lines, ID@VERSION (a province ruleset), activated
    /// alone for every institution (product RED_LINES, institution `*`).
    #[arg(long, conflicts_with_all = ["ruleset", "scorecard", "product", "monitoring"])]
    red_lines: Option<String>,
    /// The feature schema, ID@VERSION, activated alone for every
    /// institution (product FEATURE_SCHEMA, institution `*`).
    #[arg(long, conflicts_with_all = ["ruleset", "scorecard", "product", "monitoring", "red_lines"])]
    feature_schema: Option<String>,
    /// The market parameters (the LPR), ID@VERSION, activated alone for
    /// every institution (product MARKET_PARAMETERS, institution `*`).
    #[arg(long, conflicts_with_all = ["ruleset", "scorecard", "product", "monitoring", "red_lines", "feature_schema"])]
    market_parameters: Option<String>,
    /// A product's catalogue entry, CODE@VERSION (kind product), activated
    /// alone for every institution (product PRODUCT:<CODE>, institution `*`).
    #[arg(long, conflicts_with_all = ["ruleset", "scorecard", "product", "monitoring", "red_lines", "feature_schema", "market_parameters"])]
    catalogue_entry: Option<String>,
}

/// Champion/challenger: other versions decided beside the activated ones.
#[derive(clap::Args)]
struct ChallengerArgs {
    /// The challenger's ruleset, ID@VERSION [default: the activated ruleset].
    #[arg(long, requires = "challenger_scorecard")]
    challenger_ruleset: Option<String>,
    /// The challenger's scorecard, ID@VERSION.
    #[arg(long)]
    challenger_scorecard: Option<String>,
    /// `shadow` (every request also decided by the challenger, recorded
    /// beside and never returned) or the percentage of households (1-100)
    /// the challenger decides and answers.
    #[arg(long, default_value = "shadow", requires = "challenger_scorecard")]
    challenger_share: String,
}

fn challenger(c: ChallengerArgs, ruleset: (&str, &str)) -> Result<Option<pb::Challenger>, Failure> {
    let Some(card) = c.challenger_scorecard else {
        return Ok(None);
    };
    let (scorecard_id, scorecard_version) = split("challenger-scorecard", &card)?;
    let (ruleset_id, ruleset_version) = match &c.challenger_ruleset {
        Some(r) => split("challenger-ruleset", r)?,
        None => (ruleset.0.to_string(), ruleset.1.to_string()),
    };
    let share_percent = match c.challenger_share.as_str() {
        "shadow" => 0,
        n => n
            .trim_end_matches('%')
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                Failure::Input(format!(
                    "--challenger-share {n}: expected `shadow` or a percentage from 1 to 100"
                ))
            })?,
    };
    Ok(Some(pb::Challenger {
        ruleset_id,
        ruleset_version,
        scorecard_id,
        scorecard_version,
        share_percent,
    }))
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
    use decision_service::policy::{MARKET_PRODUCT, RED_LINES_PRODUCT, SCHEMA_PRODUCT};
    let alone = |product: &str, flag: &str, v: &str| -> Result<_, Failure> {
        Ok((
            product.to_string(),
            split(flag, v)?,
            (String::new(), String::new()),
        ))
    };
    let (product, (ruleset_id, ruleset_version), (scorecard_id, scorecard_version)) = match (
        &t.monitoring,
        &t.red_lines,
        &t.feature_schema,
        &t.market_parameters,
        &t.catalogue_entry,
        &t.ruleset,
        &t.scorecard,
    ) {
        (Some(m), ..) => alone(
            decision_service::monitoring::MONITORING_PRODUCT,
            "monitoring",
            m,
        )?,
        (_, Some(r), ..) => alone(RED_LINES_PRODUCT, "red-lines", r)?,
        (_, _, Some(s), ..) => alone(SCHEMA_PRODUCT, "feature-schema", s)?,
        (_, _, _, Some(m), ..) => alone(MARKET_PRODUCT, "market-parameters", m)?,
        (_, _, _, _, Some(e), ..) => {
            let (code, version) = split("catalogue-entry", e)?;
            (
                decision_service::policy::catalogue_key(&code),
                (code, version),
                (String::new(), String::new()),
            )
        }
        (.., Some(r), Some(s)) => (t.product, split("ruleset", r)?, split("scorecard", s)?),
        _ => {
            return Err(Failure::Input(
                "expected --ruleset and --scorecard, or --monitoring, --red-lines, --feature-schema, --market-parameters or --catalogue-entry"
                    .into(),
            ));
        }
    };
    let institution = match t.institution {
        Some(i) => i,
        None if t.red_lines.is_some()
            || t.feature_schema.is_some()
            || t.market_parameters.is_some()
            || t.catalogue_entry.is_some() =>
        {
            "*".to_string()
        }
        None => return Err(Failure::Input("expected --institution".into())),
    };
    Ok(pb::RequestActivationRequest {
        institution,
        product,
        ruleset_id,
        ruleset_version,
        scorecard_id,
        scorecard_version,
        effective_at,
        challenger: None,
    })
}
fn activation(a: &pb::Activation) -> String {
    let versions = if a.product == decision_service::monitoring::MONITORING_PRODUCT {
        format!("monitoring policy {}@{}", a.ruleset_id, a.ruleset_version)
    } else if a.product == decision_service::policy::RED_LINES_PRODUCT {
        format!("red lines {}@{}", a.ruleset_id, a.ruleset_version)
    } else if a.product == decision_service::policy::SCHEMA_PRODUCT {
        format!("feature schema {}@{}", a.ruleset_id, a.ruleset_version)
    } else if a.product == decision_service::policy::MARKET_PRODUCT {
        format!("market parameters {}@{}", a.ruleset_id, a.ruleset_version)
    } else if a
        .product
        .starts_with(decision_service::policy::CATALOGUE_PREFIX)
    {
        format!("catalogue entry {}@{}", a.ruleset_id, a.ruleset_version)
    } else {
        format!(
            "ruleset {}@{} scorecard {}@{}",
            a.ruleset_id, a.ruleset_version, a.scorecard_id, a.scorecard_version
        )
    };
    format!(
        "{} {} {} {} {versions} effective {} requested by {} approved by {}{}",
        a.activation_id,
        a.status,
        a.institution,
        a.product,
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
    ) + &a
        .challenger
        .as_ref()
        .map(|c| {
            format!(
                " challenger ruleset {}@{} scorecard {}@{} {}",
                c.ruleset_id,
                c.ruleset_version,
                c.scorecard_id,
                c.scorecard_version,
                if c.share_percent == 0 {
                    "shadow".to_string()
                } else {
                    format!("{}%", c.share_percent)
                }
            )
        })
        .unwrap_or_default()
}

async fn call(server: &ServerArgs, action: PolicyAction) -> Result<Vec<String>, Failure> {
    let mut client = PolicyRegistryClient::new(server.connect().await?);
    let status = refused;
    let lines: Vec<String> = match action {
        PolicyAction::Upload { file } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Policy(format!("cannot read {}: {e}", file.display())))?;
            let kind = serde_json::from_str::<serde_json::Value>(&json)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
                .unwrap_or_default();
            let req = server.authed(pb::UploadRequest {
                document_json: json,
            })?;
            let reply = match kind.as_str() {
                "ruleset" => client.upload_ruleset(req).await,
                "scorecard" => client.upload_scorecard(req).await,
                "monitoring_policy" => client.upload_monitoring_policy(req).await,
                _ => client.upload_document(req).await,
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
        // Run locally by `run`, never sent to a server.
        PolicyAction::Test { .. } => Vec::new(),
        PolicyAction::Validate { file } => {
            let json = std::fs::read_to_string(&file)
                .map_err(|e| Failure::Policy(format!("cannot read {}: {e}", file.display())))?;
            let reply = client
                .validate_document(server.authed(pb::UploadRequest {
                    document_json: json,
                })?)
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
            .list_versions(server.authed(pb::ListVersionsRequest {
                kind: kind.unwrap_or_default(),
                id: id.unwrap_or_default(),
            })?)
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
                .diff_versions(server.authed(pb::DiffVersionsRequest {
                    kind,
                    id,
                    from_version: from,
                    to_version: to,
                })?)
                .await
                .map_err(status)?
                .into_inner()
                .changes
        }
        PolicyAction::Activate {
            target,
            effective_at,
            challenger: named,
        } => {
            let mut asked = request(target, effective_at)?;
            asked.challenger = challenger(named, (&asked.ruleset_id, &asked.ruleset_version))?;
            let a = client
                .request_activation(server.authed(asked)?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Rollback { target } => {
            let a = client
                .rollback(server.authed(request(target, String::new())?)?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Approve { activation_id } => {
            let a = client
                .approve_activation(server.authed(pb::ApproveActivationRequest { activation_id })?)
                .await
                .map_err(status)?
                .into_inner();
            vec![activation(&a)]
        }
        PolicyAction::Activations {
            institution,
            product,
        } => client
            .list_activations(server.authed(pb::ListActivationsRequest {
                institution,
                product,
            })?)
            .await
            .map_err(status)?
            .into_inner()
            .activations
            .iter()
            .map(activation)
            .collect(),
        PolicyAction::Audit { limit } => client
            .list_audit_log(server.authed(pb::ListAuditLogRequest { limit })?)
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

/// `policy test`: every case of the given documents, under each policy they
/// are part of, PASS or FAIL with each difference; exit 1 when one fails.
fn test(files: &[PathBuf], policy_dir: Option<&std::path::Path>) -> Result<Exit, Failure> {
    let (docs, given) = super::validate::with_given(files, policy_dir)?;
    let set = decision_core::PolicySet::from_documents_with_case_results(docs)
        .map_err(|e| Failure::Policy(e.to_string()))?;
    let (mut passed, mut failed) = (0, 0);
    for (source, v) in &given {
        let runs: Vec<_> = set
            .test_cases()
            .filter(|r| r.document.hash == v.hash)
            .collect();
        if runs.is_empty() {
            let carried =
                match decision_core::policy_set::read_document(std::path::Path::new(source)) {
                    Ok(decision_core::Document::Ruleset(r)) => r.doc.test_cases.len(),
                    Ok(decision_core::Document::Scorecard(c)) => c.doc.test_cases.len(),
                    _ => 0,
                };
            if carried > 0 {
                failed += carried;
                println!(
                    "{source} ({} {}@{}): FAIL its {carried} test case(s) ran under no policy: no policy of the set uses this document",
                    v.kind, v.id, v.version
                );
            } else {
                println!(
                    "{source} ({} {}@{}): no test cases",
                    v.kind, v.id, v.version
                );
            }
            continue;
        }
        println!("{source} ({} {}@{}):", v.kind, v.id, v.version);
        for r in runs {
            if r.passed() {
                passed += 1;
                println!("  PASS {} (under {})", r.name, r.under);
            } else {
                failed += 1;
                println!("  FAIL {} (under {})", r.name, r.under);
                for d in &r.differences {
                    println!("    {d}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(Failure::Policy(format!(
            "{failed} test case(s) failed: this version would be refused"
        )));
    }
    Ok(Exit::Done)
}
