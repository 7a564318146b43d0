//! `decision-engine review`: the human decision beside the system's.
//! `record`, `pending` and `show` are clients of a running server's
//! `decision.v1.ReviewService` (a refusal exits 1 with its code and every
//! field problem; an unreachable server exits 3); `report` reads the store
//! itself.

use std::path::PathBuf;

use clap::Subcommand;
use decision_grpc::pb;
use decision_grpc::pb::review_service_client::ReviewServiceClient;
use decision_service::reviews::report::report as count_report;

use super::client::{ServerArgs, refused};
use super::{open_store, print_lines};
use crate::exit::{Exit, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Record a review step on a decision (reviewer token): the final outcome, limit and rate, with override reasons and a note.
    Record {
        #[command(flatten)]
        server: ServerArgs,
        decision_id: String,
        /// Your id of this review: a retry with the same id is recorded once.
        #[arg(long)]
        review_id: String,
        /// APPROVE or DECLINE.
        #[arg(long)]
        outcome: String,
        /// Yuan (omit when declining).
        #[arg(long, default_value = "")]
        limit: String,
        /// A yearly fraction, 0.0410 for 4.10% (omit when declining).
        #[arg(long, default_value = "")]
        rate: String,
        /// An override reason code of the authority matrix (repeat for several; none when confirming another's terms).
        #[arg(long = "reason")]
        reasons: Vec<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Open cases oldest first with their age: your level's queue unless --level is given.
    Pending {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value = "")]
        institution: String,
        #[arg(long, default_value = "")]
        level: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// A decision's review case and every step, told beside the system decision.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        decision_id: String,
        #[arg(long, value_enum, default_value = "both")]
        lang: super::ExplainLang,
    },
    /// Approval and override rates by override reason, referring rule, reviewer and branch: CSV and HTML with charts (reads the store).
    Report {
        #[command(flatten)]
        store: super::StoreArgs,
        /// Only these institutions (repeat); default: every one.
        #[arg(long)]
        institution: Vec<String>,
        #[arg(long)]
        product: Option<String>,
        #[arg(long)]
        csv: Option<PathBuf>,
        #[arg(long)]
        html: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    print_lines(call(args.action))
}

fn case_line(c: &pb::ReviewCase) -> String {
    format!(
        "{} {} {} system {} {}{}{}",
        c.decision_id,
        c.institution,
        c.status,
        c.system_outcome,
        match (&c.waiting_level, &c.final_outcome) {
            (Some(level), _) => format!("waiting for {level}"),
            (None, Some(outcome)) => format!(
                "decided {outcome} {}{}",
                c.final_limit.as_deref().unwrap_or("0"),
                c.final_rate
                    .as_deref()
                    .map(|r| format!(" at {r}"))
                    .unwrap_or_default()
            ),
            (None, None) => String::new(),
        },
        c.application_id
            .as_deref()
            .map(|a| format!(" application {a}"))
            .unwrap_or_default(),
        c.superseded_by
            .as_deref()
            .map(|s| format!(" superseded by {s}"))
            .unwrap_or_default(),
    )
}

/// An age as days, hours and minutes (`2d 3h 5m`, `0m` under a minute).
fn age(seconds: u64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

fn step_line(s: &pb::ReviewStep) -> String {
    format!(
        "step {} {} {} ({}, branch {}): {} {}{} [{}] {}{}",
        s.step,
        s.review_id,
        s.reviewer,
        s.level,
        s.branch,
        s.outcome,
        s.limit,
        s.annual_rate
            .as_deref()
            .map(|r| format!(" at {r}"))
            .unwrap_or_default(),
        s.reason_codes.join(","),
        s.effect,
        if s.requires_because.is_empty() {
            String::new()
        } else {
            format!(
                " — needs {}: {}",
                s.requires_level.as_deref().unwrap_or_default(),
                s.requires_because.join("; ")
            )
        }
    )
}

async fn call(action: Action) -> Result<Vec<String>, Failure> {
    match action {
        Action::Record {
            server,
            decision_id,
            review_id,
            outcome,
            limit,
            rate,
            reasons,
            note,
        } => {
            let mut client = ReviewServiceClient::new(server.connect().await?);
            let r = client
                .record_review(server.authed(pb::RecordReviewRequest {
                    review_id,
                    decision_id,
                    outcome,
                    limit,
                    annual_rate: rate,
                    reason_codes: reasons,
                    note,
                })?)
                .await
                .map_err(refused)?
                .into_inner();
            let mut lines: Vec<String> = r.step.iter().map(step_line).collect();
            lines.extend(r.case.iter().map(case_line));
            if r.idempotent_replay {
                lines.push("(already recorded)".into());
            }
            Ok(lines)
        }
        Action::Pending {
            server,
            institution,
            level,
            limit,
        } => {
            let mut client = ReviewServiceClient::new(server.connect().await?);
            let r = client
                .list_pending_reviews(server.authed(pb::ListPendingReviewsRequest {
                    institution,
                    level,
                    limit,
                })?)
                .await
                .map_err(refused)?
                .into_inner();
            if r.cases.is_empty() {
                return Ok(vec!["(no open case)".into()]);
            }
            Ok(r.cases
                .iter()
                .map(|p| {
                    format!(
                        "{} (waiting {})",
                        p.case.as_ref().map(case_line).unwrap_or_default(),
                        age(p.age_seconds)
                    )
                })
                .collect())
        }
        Action::Show {
            server,
            decision_id,
            lang,
        } => {
            let mut client = ReviewServiceClient::new(server.connect().await?);
            let r = client
                .get_reviews(server.authed(pb::GetReviewsRequest { decision_id })?)
                .await
                .map_err(refused)?
                .into_inner();
            let mut lines: Vec<String> = r.case.iter().map(case_line).collect();
            if r.case.is_none() && r.steps.is_empty() {
                lines.push(
                    "no review case: the decision needed no review and none was recorded".into(),
                );
            }
            lines.extend(r.steps.iter().map(step_line));
            if matches!(lang, super::ExplainLang::En | super::ExplainLang::Both) {
                lines.push(r.explanation_en);
            }
            if matches!(lang, super::ExplainLang::Zh | super::ExplainLang::Both) {
                lines.push(r.explanation_zh);
            }
            Ok(lines)
        }
        Action::Report {
            store,
            institution,
            product,
            csv,
            html,
        } => {
            let store = open_store(&store).await?;
            let report = count_report(&store, &institution, product.as_deref())
                .await
                .map_err(|e| Failure::Other(e.to_string()))?;
            if let Some(path) = &csv {
                decision_batch::review_report::write_csv(path, &report).map_err(Failure::Other)?;
            }
            if let Some(path) = &html {
                let at = decision_service::clock::now_seconds();
                let text =
                    decision_batch::review_report::render(&report, &at).map_err(Failure::Other)?;
                std::fs::write(path, text)
                    .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
            }
            let mut lines = vec![format!(
                "{} pending, {} awaiting confirmation, {} superseded",
                report.pending, report.awaiting_confirmation, report.superseded
            )];
            lines.extend(report.rows.iter().map(|r| {
                format!(
                    "{} {}: {} decided, {} approved ({}), {} overrode the system ({})",
                    r.dimension,
                    r.key,
                    r.cases,
                    r.approved,
                    r.approval_rate,
                    r.overridden,
                    r.override_rate
                )
            }));
            Ok(lines)
        }
    }
}
