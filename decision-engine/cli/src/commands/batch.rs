//! `decision-engine batch`: whole-village pre-credit (整村授信) of a CSV or
//! Parquet file, by `decision_batch`.

use std::path::PathBuf;

use decision_batch::{BatchConfig, BatchError, FileFormat};

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// Households, one a row: household_id, village_code and feature columns (CSV or Parquet).
    #[arg(long)]
    input: PathBuf,
    /// Decisions, one a row in input order (Parquet or CSV, by extension; default Parquet).
    #[arg(long)]
    output: PathBuf,
    /// The input's format [default: by its extension].
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// The output's format [default: by its extension, else parquet].
    #[arg(long, value_enum)]
    output_format: Option<FileFormat>,
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
    /// A PostgreSQL store shared with the servers
    /// (postgres://user:password@host:port/database) instead of --data-dir.
    #[arg(long, env = "DECISION_ENGINE_STORE")]
    store: Option<String>,
    /// A directory with rulesets/ and scorecards/ (default: the shipped policy).
    #[arg(long)]
    policy_dir: Option<PathBuf>,
    /// Rows that could not be decided [default: OUTPUT.errors.csv].
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Every decision with its trace [default: OUTPUT.bat_<id>.traces.zst].
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
    /// Decide only shard I of N (0 <= I < N) of the input, by household id:
    /// the N shards' outputs together are the whole run's, row for row.
    #[arg(long, value_parser = decision_batch::shard::Shard::parse)]
    shard: Option<decision_batch::shard::Shard>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let mut pins = Vec::new();
    for pin in &args.pins {
        let parsed = pin.split_once(':').and_then(|(kind, rest)| {
            let (id, version) = rest.split_once('@')?;
            Some((kind.to_string(), id.to_string(), version.to_string()))
        });
        match parsed {
            Some(p) => pins.push(p),
            None => {
                return Err(Failure::Input(format!(
                    "--pin {pin}: expected KIND:ID@VERSION, e.g. scorecard:farmer-scorecard@2"
                )));
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
        store: args.store,
        policy_dir: args.policy_dir,
        errors: args.errors,
        traces: args.traces,
        summary: args.summary,
        report: args.report,
        ignore_columns: args.ignore_columns,
        chunk_rows: args.chunk_rows,
        progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        shard: args.shard,
    };
    match decision_batch::run(&config) {
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
            Ok(if r.errors > 0 {
                Exit::RowErrors
            } else {
                Exit::Done
            })
        }
        Err(e) => {
            let message = format!("decision-engine batch: {e}");
            Err(match e {
                BatchError::Input(_) => Failure::Input(format!(
                    "{message}\n  (listed in {})",
                    config.errors_path().display()
                )),
                BatchError::Policy(_) => Failure::Policy(message),
                BatchError::Failed(_) => Failure::Other(message),
            })
        }
    }
}
