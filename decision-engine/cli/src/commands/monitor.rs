//! `decision-engine monitor`: post-loan monitoring (贷后管理) of a loan
//! book as of a date: every loan evaluated by the engine path the online
//! door uses, one row per loan (its level and signals, or ERROR) and one
//! per task asked for, in input order; signals and tasks recorded in the
//! store, a task only when none is open for the same loan and rule.

use std::path::PathBuf;
use std::sync::Arc;

use decision_batch::BatchError;
use decision_batch::FileFormat;
use decision_batch::monitor::{MonitorConfig, run as run_book};
use decision_service::monitoring::Monitor;
use decision_service::{Policies, PreCredits, Tokens};

use super::{StoreArgs, load_policies, runtime};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The loan book: CSV or Parquet, one row a loan (rulesets/loan-schema.json and the refreshed features).
    #[arg(long)]
    book: PathBuf,
    /// The monitoring date, YYYY-MM-DD: days past due and the refreshed features are as of it.
    #[arg(long)]
    as_of: String,
    /// One row per loan: its level, score, grade, signals, or ERROR (.csv or .parquet).
    #[arg(long)]
    output: PathBuf,
    /// One row per task the rules ask for, and whether it was created (.csv or .parquet).
    #[arg(long)]
    tasks: PathBuf,
    /// The errors file [default: <output>.errors.csv].
    #[arg(long)]
    errors: Option<PathBuf>,
    /// Print the run's figures: loans, signals by severity, levels, tasks.
    #[arg(long)]
    summary: bool,
    /// The dashboard, one self-contained HTML file: signals by severity,
    /// product and branch, tasks by branch (completed, open, overdue, due
    /// in 7 / 30 days), the grade migration and the loans by level; its
    /// figures go beside it as CSV (the same name, .csv).
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Policy documents to start from instead of the shipped ones.
    #[arg(long)]
    policy_dir: Option<PathBuf>,
    /// Loans read at a time.
    #[arg(long, default_value_t = 20_000)]
    chunk_rows: usize,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn format_of(path: &std::path::Path, what: &str) -> Result<FileFormat, Failure> {
    FileFormat::of(path).ok_or_else(|| {
        Failure::Input(format!(
            "{what} {}: expected a .csv or .parquet file name",
            path.display()
        ))
    })
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let as_of = decision_core::monitor::parse_date(&args.as_of)
        .map_err(|e| Failure::Input(format!("--as-of: {e}")))?;
    if let Some(r) = &args.report
        && !r
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
    {
        return Err(Failure::Input(format!(
            "--report {}: expected an .html file name (its figures go beside it as .csv)",
            r.display()
        )));
    }
    let config = MonitorConfig {
        book_format: format_of(&args.book, "--book")?,
        output_format: format_of(&args.output, "--output")?,
        tasks_format: format_of(&args.tasks, "--tasks")?,
        errors: args.errors.clone().unwrap_or_else(|| {
            let mut name = args.output.file_name().unwrap_or_default().to_os_string();
            name.push(".errors.csv");
            args.output.with_file_name(name)
        }),
        book: args.book,
        as_of,
        output: args.output,
        tasks: args.tasks,
        run_id: decision_service::clock::new_id("mon", 16, &[&args.as_of]),
        chunk_rows: args.chunk_rows,
        progress: !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        report: args.report,
    };
    let policies = Arc::new(load_policies(args.policy_dir.as_deref())?);
    let rt = runtime()?;
    let location = args.store.location()?;
    let monitor = rt.block_on(async {
        let store = Arc::new(
            decision_store::AnyStore::open(&location, 2)
                .await
                .map_err(|e| Failure::Other(e.to_string()))?,
        );
        let policies = Arc::new(
            Policies::new(policies, store.clone())
                .await
                .map_err(|e| Failure::Other(e.to_string()))?,
        );
        let tokens = Arc::new(Tokens::default());
        let precredits = Arc::new(PreCredits::new(store, tokens.clone(), None));
        Monitor::new(policies, precredits, tokens).map_err(|e| Failure::Other(e.to_string()))
    })?;
    let outcome = run_book(&monitor, rt.handle(), &config).map_err(|e| {
        let message = e.to_string();
        match e {
            BatchError::Input(_) => Failure::Input(message),
            BatchError::Policy(_) => Failure::Policy(message),
            BatchError::Failed(_) => Failure::Other(message),
        }
    })?;
    if args.summary {
        println!(
            "run {}: {} loans as of {}, {} evaluated, {} ERROR",
            config.run_id, outcome.loans, config.as_of, outcome.evaluated, outcome.errors
        );
        println!(
            "signals: {} red, {} orange, {} yellow",
            outcome.signals[0], outcome.signals[1], outcome.signals[2]
        );
        for (level, n) in &outcome.levels {
            println!("level {level}: {n} loans");
        }
        println!(
            "tasks: {} asked for, {} created ({} already open or asked for this period)",
            outcome.tasks_due,
            outcome.tasks_created,
            outcome.tasks_due - outcome.tasks_created
        );
    }
    if outcome.errors > 0 {
        eprintln!(
            "{} of {} loans are ERROR; see {}",
            outcome.errors,
            outcome.loans,
            config.errors.display()
        );
        return Ok(Exit::RowErrors);
    }
    Ok(Exit::Done)
}
