//! `decision-engine simulate`: impact analysis of a candidate policy on a
//! file of households, by `decision_batch::simulate`. Nothing is recorded.

use std::path::PathBuf;

use decision_batch::simulate::SimulateConfig;
use decision_batch::{BatchError, FileFormat};

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// Households, one a row: household_id, village_code and feature columns (CSV or Parquet).
    #[arg(
        long,
        required_unless_present = "from_store",
        conflicts_with = "from_store"
    )]
    input: Option<PathBuf>,
    /// Instead of a file: replay the stored requests of the institution's
    /// online decisions recorded from this date (or RFC 3339 time).
    #[arg(long, value_name = "SINCE")]
    from_store: Option<String>,
    /// With --from-store: recorded before this date [default: now].
    #[arg(long, requires = "from_store")]
    until: Option<String>,
    /// The input's format [default: by its extension].
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// What the candidate changes: a published ruleset or scorecard
    /// (ID@VERSION), a document file, or a policy directory (its policy for
    /// the institution and product, whole). Repeat to change several.
    #[arg(long, required = true)]
    candidate: Vec<String>,
    /// What the baseline changes in the policy in force, as --candidate
    /// [default: the policy in force].
    #[arg(long)]
    baseline: Vec<String>,
    /// The swap-set: households and limit totals by baseline decision x
    /// candidate decision (CSV).
    #[arg(long)]
    output: PathBuf,
    /// Each household's decision both ways (CSV).
    #[arg(long)]
    households: Option<PathBuf>,
    /// Every table of the analysis (JSON).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// A self-contained HTML report with charts.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The institution (法人机构) code the households apply to.
    #[arg(long)]
    institution: String,
    #[arg(long, default_value = "FARMER_CREDIT")]
    product: String,
    /// The baseline is the policy in force at this RFC 3339 time [default: now].
    #[arg(long, default_value = "")]
    as_of: String,
    /// The decision store (activations and published versions).
    #[arg(long, env = "DECISION_ENGINE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// A PostgreSQL store instead of --data-dir.
    #[arg(long, env = "DECISION_ENGINE_STORE")]
    store: Option<String>,
    /// A directory with rulesets/ and scorecards/ (default: the shipped policy).
    #[arg(long)]
    policy_dir: Option<PathBuf>,
    /// An input column to skip (repeat for several).
    #[arg(long = "ignore-column")]
    ignore_columns: Vec<String>,
    /// Rows read at a time.
    #[arg(long, default_value_t = 16384)]
    chunk_rows: usize,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let config = SimulateConfig {
        input: args.input.unwrap_or_default(),
        from_store: args.from_store,
        until: args.until,
        input_format: args.format,
        institution: args.institution,
        product: args.product,
        as_of: args.as_of,
        baseline: args.baseline,
        candidate: args.candidate,
        output: args.output,
        households: args.households,
        summary: args.summary,
        report: args.report,
        data_dir: args.data_dir,
        store: args.store,
        policy_dir: args.policy_dir,
        ignore_columns: args.ignore_columns,
        chunk_rows: args.chunk_rows,
        progress: !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let impact = decision_batch::simulate::run(&config).map_err(|e| {
        let message = format!("decision-engine simulate: {e}");
        match e {
            BatchError::Input(_) => Failure::Input(message),
            BatchError::Policy(_) => Failure::Policy(message),
            BatchError::Failed(_) => Failure::Other(message),
        }
    })?;
    println!("{}", impact.headline(("baseline", "candidate")));
    println!("{}", impact.swap_table(("baseline", "candidate")));
    eprintln!("swap-set written to {}", config.output.display());
    Ok(Exit::Done)
}
