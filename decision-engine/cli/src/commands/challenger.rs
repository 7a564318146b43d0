//! `decision-engine challenger report`: a challenger's shadow decisions
//! compared with the champion's, by `decision_batch::challenger`.

use std::path::PathBuf;

use clap::Subcommand;
use decision_batch::challenger::ReportConfig;

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// The swap-set, rule hit rates, score and grade shifts of the shadow
    /// decisions against the champion's, as `simulate` shows a candidate.
    Report {
        /// Shadow decisions recorded from this date (or RFC 3339 time).
        #[arg(long)]
        since: String,
        /// ... and before this date [default: now].
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        institution: String,
        #[arg(long, default_value = "FARMER_CREDIT")]
        product: String,
        /// The swap-set (CSV): champion decision x challenger decision.
        #[arg(long)]
        output: PathBuf,
        /// Each household's two decisions (CSV).
        #[arg(long)]
        households: Option<PathBuf>,
        /// Every table (JSON).
        #[arg(long)]
        summary: Option<PathBuf>,
        /// A self-contained HTML report.
        #[arg(long)]
        report: Option<PathBuf>,
        #[command(flatten)]
        store: super::StoreArgs,
    },
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let Action::Report {
        since,
        until,
        institution,
        product,
        output,
        households,
        summary,
        report,
        store,
    } = args.action;
    let config = ReportConfig {
        institution,
        product,
        since,
        until,
        output,
        households,
        summary,
        report,
        data_dir: store.data_dir,
        store: store.store,
    };
    let compared = decision_batch::challenger::report(&config).map_err(|e| {
        let message = format!("decision-engine challenger report: {e}");
        match e {
            decision_batch::BatchError::Input(_) => Failure::Input(message),
            decision_batch::BatchError::Policy(_) => Failure::Policy(message),
            decision_batch::BatchError::Failed(_) => Failure::Other(message),
        }
    })?;
    if compared.other_versions > 0 {
        eprintln!(
            "{} shadow decisions made under other versions than the period's first were left out: report each stretch with --since and --until",
            compared.other_versions
        );
    }
    if compared.pruned > 0 {
        eprintln!(
            "{} shadow decisions whose input was pruned were left out",
            compared.pruned
        );
    }
    let Some(impact) = compared.impact else {
        println!(
            "no shadow decisions of {} {} recorded from {}",
            config.institution, config.product, config.since
        );
        return Ok(Exit::Done);
    };
    println!("{}", impact.headline(("champion", "challenger")));
    println!("{}", impact.swap_table(("champion", "challenger")));
    Ok(Exit::Done)
}
