//! `decision-engine evaluate`: one request from a file, decided by the
//! policy set in hand (no store, no server), printed as JSON.

use std::path::PathBuf;

use decision_core::{EvaluateError, Options, Request, evaluate};

use super::{ExplainLang, load_policies, print_explanation, read_input};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// The request: {"request_id", "institution", "product", "features": {...}}.
    #[arg(long)]
    request: PathBuf,
    /// Also print the readable account of the decision.
    #[arg(long)]
    explain: bool,
    /// Language of the account.
    #[arg(long, value_enum, default_value = "both")]
    lang: ExplainLang,
    /// Leave the trace out of the JSON.
    #[arg(long)]
    no_trace: bool,
    /// A directory with rulesets/ and scorecards/ (default: the shipped policy).
    #[arg(long)]
    policy_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    let trace = !args.no_trace;
    let policies = load_policies(args.policy_dir.as_deref())?;
    let text = read_input(&args.request)?;
    let input = |e: &dyn std::fmt::Display| Failure::Input(e.to_string());
    let request = Request::from_json(&text).map_err(|e| input(&e))?;
    let policy = policies
        .select(&request.institution, &request.product)
        .map_err(|e| input(&e))?;
    let decision = evaluate(
        policy,
        &request,
        Options {
            trace: trace || args.explain,
        },
    )
    .map_err(|e| match e {
        EvaluateError::Input(e) => input(&e),
        other => Failure::Policy(format!("the policy could not be applied: {other}")),
    })?;
    let mut shown = decision.clone();
    if !trace {
        shown.trace = None;
    }
    let json = serde_json::to_string_pretty(&shown)
        .map_err(|e| Failure::Other(format!("cannot print the decision: {e}")))?;
    println!("{json}");
    if args.explain {
        let counterfactuals = decision_core::counterfactual::counterfactuals(policy, &request);
        print_explanation(&decision, &counterfactuals, args.lang, "\n");
    }
    Ok(Exit::Done)
}
