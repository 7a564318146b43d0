//! `decision-engine score`: a CSV scored by one scorecard alone, to check
//! an import against the originating tool's own scores.

use std::path::PathBuf;

use decision_core::policy_set::read_document;
use decision_core::{Document, LoneScorecard};
use decision_import::scoring::score_csv;

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let lone = match read_document(&args.scorecard) {
        Ok(Document::Scorecard(c)) => LoneScorecard::compile(&c),
        Ok(_) => {
            return Err(Failure::Policy(format!(
                "{}: not a scorecard document",
                args.scorecard.display()
            )));
        }
        Err(e) => Err(e),
    }
    .map_err(|e| Failure::Policy(e.to_string()))?;
    let (i, o) = std::fs::File::open(&args.input)
        .and_then(|i| std::fs::File::create(&args.output).map(|o| (i, o)))
        .map_err(|e| {
            Failure::Other(format!(
                "cannot open {} or {}: {e}",
                args.input.display(),
                args.output.display()
            ))
        })?;
    let s = score_csv(&lone, i, o, args.id_column.as_deref(), args.reason_codes)
        .map_err(|e| Failure::Input(e.to_string()))?;
    eprintln!("scored {} rows, {} with an error", s.rows, s.errors);
    if s.errors > 0 {
        return Err(Failure::Input(String::new()));
    }
    Ok(Exit::Done)
}
