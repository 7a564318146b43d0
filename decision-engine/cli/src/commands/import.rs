//! `decision-engine import`: a scorecard exported by another tool, written
//! as a native scorecard document that passes the same checks as a
//! hand-written one.

use std::path::PathBuf;

use decision_core::{Document, LoneScorecard};
use decision_import::{Format, ImportOptions, import};

use super::read_input;
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    format: Format,
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    output: PathBuf,
    /// Id of the written scorecard [default: the input file's stem].
    #[arg(long)]
    id: Option<String>,
    #[arg(long, default_value = "1")]
    version: String,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let text = read_input(&args.input)?;
    let options = ImportOptions {
        id: args.id.unwrap_or_else(|| {
            args.input
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default()
        }),
        version: args.version,
        source_file: args.input.display().to_string(),
    };
    let doc = import(args.format, &text, &options)
        .map_err(|e| Failure::Policy(format!("{}: {e}", args.input.display())))?;
    let json = serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::Other(format!("cannot write the scorecard: {e}")))?;
    // The imported card must pass the same checks as a hand-written one.
    Document::parse(&args.output.display().to_string(), &json)
        .and_then(|d| match d {
            Document::Scorecard(card) => LoneScorecard::compile(&card).map(|_| ()),
            _ => Ok(()),
        })
        .map_err(|e| Failure::Policy(e.to_string()))?;
    std::fs::write(&args.output, json + "\n")
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", args.output.display())))?;
    println!(
        "imported {} characteristics into {} ({}@{})",
        doc.characteristics.len(),
        args.output.display(),
        doc.id,
        doc.version
    );
    Ok(Exit::Done)
}
