//! `decision-engine explain`: the account of a stored decision, online or
//! batch, read from the store (no server needed).

use decision_service::ServiceError;
use decision_service::find::{StoredPolicies, find_decision};
use decision_service::prereview::shown_decision;

use decision_core::{Lang, explain};
use decision_service::reviews::account::account;

use super::{ExplainLang, StoreArgs, open_store, runtime};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    decision_id: String,
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long, value_enum, default_value = "both")]
    lang: ExplainLang,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    if args.decision_id.starts_with("sig-") {
        return explain_signal(args);
    }
    // As callers saw it: with the pre-credit it met, if any, and its
    // reviews beside it.
    let (record, decision, precredit, reviews) = runtime()?.block_on(async {
        let store = open_store(&args.store).await?;
        let record = find_decision(&store, &args.decision_id, "")
            .await
            .map_err(|e| match e {
                ServiceError::NotFound(_) | ServiceError::Invalid { .. } => {
                    Failure::Input(format!(
                        "no decision with id `{}` in {}",
                        args.decision_id,
                        args.store.shown()
                    ))
                }
                other => Failure::Other(other.to_string()),
            })?;
        let (decision, precredit) = shown_decision(&record, &StoredPolicies::new(&store))
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        let reviews = account(&store, &record, &decision)
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        Ok::<_, Failure>((record, decision, precredit, reviews))
    })?;
    println!("{} {}", record.recorded_at, record.decision_id);
    for (lang, wanted) in [
        (
            Lang::En,
            matches!(args.lang, ExplainLang::En | ExplainLang::Both),
        ),
        (
            Lang::Zh,
            matches!(args.lang, ExplainLang::Zh | ExplainLang::Both),
        ),
    ] {
        if !wanted {
            continue;
        }
        print!("{}", explain(&decision, lang));
        if let Some(link) = &precredit {
            println!(
                "{}",
                match lang {
                    Lang::En => link.describe(),
                    Lang::Zh => link.describe_zh(),
                }
            );
        }
        println!("{}", reviews.describe(&decision, lang));
    }
    Ok(Exit::Done)
}

/// A post-loan signal: which rule fired on which values, the level and the
/// tasks, from the loan's evaluation stored with it.
fn explain_signal(args: Args) -> Result<Exit, Failure> {
    let signal = runtime()?.block_on(async {
        let store = open_store(&args.store).await?;
        decision_store::Store::get_signal(&store, &args.decision_id)
            .await
            .map_err(|e| Failure::Other(e.to_string()))?
            .ok_or_else(|| {
                Failure::Input(format!(
                    "no signal with id `{}` in {}",
                    args.decision_id,
                    args.store.shown()
                ))
            })
    })?;
    let evaluation: decision_core::monitor::Evaluation = serde_json::from_str(&signal.evaluation)
        .map_err(|e| {
        Failure::Other(format!("signal {} does not parse: {e}", signal.signal_id))
    })?;
    println!(
        "{} {} ({})",
        signal.recorded_at, signal.signal_id, signal.run_id
    );
    for (lang, wanted) in [
        (
            Lang::En,
            matches!(args.lang, ExplainLang::En | ExplainLang::Both),
        ),
        (
            Lang::Zh,
            matches!(args.lang, ExplainLang::Zh | ExplainLang::Both),
        ),
    ] {
        if wanted {
            print!("{}", evaluation.explain(Some(&signal.code), lang));
        }
    }
    Ok(Exit::Done)
}
