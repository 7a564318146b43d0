//! `decision-engine store`: operations on the store itself. `prune`
//! removes the inputs of online decisions older than the retention period
//! (see `decision_service::retention`).

use decision_service::ServiceError;

use super::{StoreArgs, open_store, runtime};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Remove the input (request, trace, compact record) of every online decision recorded
    /// before DATE that is not under legal hold, keeping its outcome, versions and request
    /// digest; audited.
    Prune {
        /// A date (2025-06-01: before that day, UTC) or an RFC 3339 time.
        #[arg(long)]
        before: String,
        /// Who runs the prune (for the audit log).
        #[arg(long)]
        by: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    match args.action {
        Action::Prune { before, by, store } => {
            let done = runtime()?.block_on(async {
                let opened = open_store(&store).await?;
                let done = decision_service::retention::prune(&opened, &before, &by).await;
                opened.close();
                done.map_err(|e| match e {
                    ServiceError::Invalid { fields, .. } => Failure::Input(
                        fields
                            .iter()
                            .map(|f| format!("--{}: {}", f.field, f.message))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    other => Failure::Other(other.to_string()),
                })
            })?;
            println!(
                "pruned the input of {} decisions recorded before {before}; {} under legal hold kept whole ({})",
                done.pruned,
                done.held,
                store.shown()
            );
            Ok(Exit::Done)
        }
    }
}
