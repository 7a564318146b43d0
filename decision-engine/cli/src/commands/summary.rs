//! `decision-engine summary merge`: the village summary of a sharded run,
//! from the JSON summaries of its shards.

use std::path::PathBuf;

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Merge the JSON summaries of a run's shards (batch --shard I/N --summary FILE.json)
    /// into the summary of the whole run (CSV, or JSON if OUTPUT ends in .json).
    Merge {
        /// Where the merged summary goes.
        #[arg(long)]
        output: PathBuf,
        /// The shards' JSON summaries.
        #[arg(required = true)]
        summaries: Vec<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    match args.action {
        Action::Merge { output, summaries } => {
            let merged = decision_batch::summary::merge(&summaries).map_err(Failure::Input)?;
            merged
                .write(&output)
                .map_err(|e| Failure::Other(format!("cannot write {}: {e}", output.display())))?;
            eprintln!(
                "merged {} summaries: {} households in {} villages -> {}",
                summaries.len(),
                merged.total.households,
                merged.villages.len(),
                output.display()
            );
            Ok(Exit::Done)
        }
    }
}
