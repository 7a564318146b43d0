//! `decision-engine monitor-scores`: the population stability of the score
//! (PSI) and of each characteristic (CSI), per institution and product,
//! from the stored online decisions of a period against a baseline: an
//! earlier period of stored decisions, or a file of households (the
//! scorecard's development sample) scored by the policy in force.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use decision_batch::FileFormat;
use decision_batch::simulate::{FileRun, observe_file, policy_in_force};
use decision_service::stability::{self, Flag, Observation, Stability, shown};
use decision_store::DecisionQuery;

use super::{StoreArgs, open_store, runtime};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The current population: online decisions recorded from this date
    /// (or RFC 3339 time).
    #[arg(long)]
    since: String,
    /// ... and before this date [default: now].
    #[arg(long)]
    until: Option<String>,
    /// What the current population is compared with: a period of stored
    /// decisions, FROM..TO (dates or RFC 3339 times, TO excluded), or a
    /// file of households (CSV or Parquet, as the batch reads) scored by
    /// the policy in force [default: every stored decision before --since].
    #[arg(long)]
    baseline: Option<String>,
    /// Only this institution's decisions [default: every institution's].
    #[arg(long)]
    institution: Option<String>,
    /// Only this product's decisions [default: every product's].
    #[arg(long)]
    product: Option<String>,
    /// One row per index: institution, product, scorecard, measure (PSI or
    /// CSI), name, value, flag, baseline and current households (CSV).
    #[arg(long)]
    output: PathBuf,
    /// One row per score band and characteristic bin, with both shares (CSV).
    #[arg(long)]
    bins: Option<PathBuf>,
    /// A self-contained HTML report.
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// A directory with rulesets/ and scorecards/ for a file baseline
    /// (default: the shipped policy).
    #[arg(long)]
    policy_dir: Option<PathBuf>,
}

/// The baseline's observations of each (institution, product).
type Baselines = BTreeMap<(String, String), Vec<Observation>>;

pub fn run(mut args: Args) -> Result<Exit, Failure> {
    let bound = |field: &str, text: &str| {
        decision_service::clock::bound(field, text).map_err(Failure::Input)
    };
    args.since = bound("--since", &args.since)?;
    args.until = args
        .until
        .as_deref()
        .map(|u| bound("--until", u))
        .transpose()?;
    let rt = runtime()?;
    let store = Arc::new(rt.block_on(open_store(&args.store))?);
    let query = |since: String, until: Option<String>| DecisionQuery {
        institution: args.institution.clone(),
        product: args.product.clone(),
        since,
        until,
        after: None,
        limit: 1000,
        shadows: false,
    };
    let read = |q: DecisionQuery| {
        rt.block_on(stability::stored_population(store.as_ref(), q))
            .map_err(|e| Failure::Other(format!("decision-engine monitor-scores: {e}")))
    };
    let current = read(query(args.since.clone(), args.until.clone()))?;
    let current_label = format!(
        "online decisions recorded from {} to {}{}",
        args.since,
        args.until.as_deref().unwrap_or("now"),
        match (current.pruned, current.untraced) {
            (0, 0) => String::new(),
            (p, 0) => format!(" ({p} pruned decisions left out)"),
            (0, u) => format!(" ({u} decisions stored without a trace left out)"),
            (p, u) => format!(" ({p} pruned decisions and {u} stored without a trace left out)"),
        }
    );
    let (baselines, baseline_label): (Baselines, String) = match args.baseline.as_deref() {
        Some(text) if Path::new(text).is_file() => {
            let path = Path::new(text);
            let format = FileFormat::of(path).ok_or_else(|| {
                Failure::Input(format!(
                    "--baseline {text}: expected a .csv or .parquet file of households, or a period FROM..TO"
                ))
            })?;
            let mut baselines = Baselines::new();
            let mut refused = 0;
            for (institution, product) in current.groups.keys() {
                let policy = policy_in_force(
                    (institution, product, ""),
                    args.policy_dir.as_deref(),
                    &store,
                    &rt,
                )
                .map_err(|e| batch_failure("--baseline", e))?;
                let run = FileRun {
                    input: path,
                    format,
                    institution,
                    product,
                    ignore_columns: &[],
                    chunk_rows: 16384,
                    progress: false,
                };
                let (observed, not_scored) = observe_file(&run, &policy)
                    .map_err(|e| batch_failure(&format!("--baseline {text}"), e))?;
                refused += not_scored;
                baselines.insert((institution.clone(), product.clone()), observed);
            }
            let label = format!(
                "households of {text}, scored by the policy in force{}",
                if refused > 0 {
                    format!(" ({refused} rows refused, left out)")
                } else {
                    String::new()
                }
            );
            (baselines, label)
        }
        Some(period) => {
            let (from, to) = period.split_once("..").ok_or_else(|| {
                Failure::Input(format!(
                    "--baseline {period}: expected a period FROM..TO (e.g. 2026-01-01..2026-07-01) or a households file that exists"
                ))
            })?;
            let (from, to) = (
                bound("--baseline (from)", from)?,
                bound("--baseline (to)", to)?,
            );
            let population = read(query(from.clone(), Some(to.clone())))?;
            (
                population
                    .groups
                    .into_iter()
                    .map(|(k, (o, _))| (k, o))
                    .collect(),
                format!("online decisions recorded from {from} to {to}"),
            )
        }
        None => {
            let population = read(query(String::new(), Some(args.since.clone())))?;
            (
                population
                    .groups
                    .into_iter()
                    .map(|(k, (o, _))| (k, o))
                    .collect(),
                format!("every online decision recorded before {}", args.since),
            )
        }
    };
    store.close();

    let mut groups: Vec<Stability> = Vec::new();
    for ((institution, product), (observed, cards)) in &current.groups {
        let Some(baseline) = baselines.get(&(institution.clone(), product.clone())) else {
            eprintln!("{institution} {product}: no baseline decisions; left out");
            continue;
        };
        if baseline.is_empty() {
            eprintln!("{institution} {product}: no baseline decisions; left out");
            continue;
        }
        groups.push(stability::stability(
            (institution, product, &cards.join(" + ")),
            baseline,
            observed,
        ));
    }
    decision_batch::stability_report::write_csv(&args.output, &groups)
        .map_err(|e| Failure::Other(format!("cannot write {}: {e}", args.output.display())))?;
    if let Some(path) = &args.bins {
        decision_batch::stability_report::write_bins_csv(path, &groups)
            .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.report {
        let html =
            decision_batch::stability_report::render(&groups, &baseline_label, &current_label)
                .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
        std::fs::write(path, html)
            .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    println!("baseline: {baseline_label}");
    println!("current:  {current_label}");
    for g in &groups {
        println!(
            "{} {} ({}): PSI {} {} ({} -> {} households)",
            g.institution,
            g.product,
            g.scorecard,
            shown(g.score.value),
            g.score.flag.name(),
            g.baseline_households,
            g.current_households
        );
        for c in g.characteristics.iter().filter(|c| c.flag != Flag::Stable) {
            println!("  CSI {} {} {}", c.name, shown(c.value), c.flag.name());
        }
    }
    Ok(Exit::Done)
}

/// A batch error as the exit status its kind calls for.
fn batch_failure(what: &str, e: decision_batch::BatchError) -> Failure {
    let message = format!("{what}: {e}");
    match e {
        decision_batch::BatchError::Input(_) => Failure::Input(message),
        decision_batch::BatchError::Policy(_) => Failure::Policy(message),
        decision_batch::BatchError::Failed(_) => Failure::Other(message),
    }
}
