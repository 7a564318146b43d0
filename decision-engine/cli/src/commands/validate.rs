//! `decision-engine validate`: policy documents checked together with the
//! rest of the policy set (shipped, or `--policy-dir`), every error listed.

use std::path::PathBuf;

use decision_core::policy_set::{read_dir_documents, read_document};
use decision_core::{Document, PolicySet, SHIPPED};

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    policy_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let mut given = Vec::new();
    let mut unreadable = Vec::new();
    for f in &args.files {
        match read_document(f) {
            Ok(d) => given.push(d),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    if !unreadable.is_empty() {
        return Err(Failure::Policy(unreadable.join("\n")));
    }
    let base = match &args.policy_dir {
        Some(d) => read_dir_documents(d),
        None => SHIPPED
            .iter()
            .map(|(name, text)| Document::parse(name, text))
            .collect(),
    }
    .map_err(|e| Failure::Policy(e.to_string()))?;
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
    PolicySet::from_documents(docs).map_err(|e| Failure::Policy(e.to_string()))?;
    for line in summary {
        println!("{line}");
    }
    Ok(Exit::Done)
}
