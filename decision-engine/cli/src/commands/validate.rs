//! `decision-engine validate`: policy documents checked together with the
//! rest of the policy set (shipped, or `--policy-dir`), every error listed.

use std::path::{Path, PathBuf};

use decision_core::policy_set::{read_dir_documents, read_document};
use decision_core::{Document, PolicySet, SHIPPED, VersionRef};

use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    policy_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let (docs, given) = with_given(&args.files, args.policy_dir.as_deref())?;
    PolicySet::from_documents(docs).map_err(|e| Failure::Policy(e.to_string()))?;
    for (source, v) in given {
        println!(
            "ok: {source} ({} {}@{}, {})",
            v.kind, v.id, v.version, v.hash
        );
    }
    Ok(Exit::Done)
}

/// The documents given on the command line: where each came from, and its
/// version.
pub(crate) type Given = Vec<(String, VersionRef)>;

/// The policy set (shipped, or `policy_dir`) with `files` in place of the
/// documents of the same kind and id; and the given documents.
pub(crate) fn with_given(
    files: &[PathBuf],
    policy_dir: Option<&Path>,
) -> Result<(Vec<Document>, Given), Failure> {
    let mut given = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        match read_document(f) {
            Ok(d) => given.push(d),
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    if !unreadable.is_empty() {
        return Err(Failure::Policy(unreadable.join("\n")));
    }
    let base = match policy_dir {
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
    let versions = given
        .iter()
        .map(|d| (d.source().to_string(), d.version_ref()))
        .collect();
    docs.extend(given);
    Ok((docs, versions))
}
