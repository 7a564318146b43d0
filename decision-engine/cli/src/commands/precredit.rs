//! `decision-engine precredit`: the pre-credit register. Every subcommand
//! but `report` is a client of a running server's
//! `decision.v1.PreCreditService` (a refusal exits 1 with its code and
//! every field problem; an unreachable server exits 3); `report` reads the
//! store itself.

use std::path::PathBuf;

use clap::Subcommand;
use decision_grpc::pb;
use decision_grpc::pb::pre_credit_service_client::PreCreditServiceClient;
use decision_service::precredit::{date_at, funnel};

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
    /// Publish a finished batch run as a pending register (analyst).
    Publish {
        #[command(flatten)]
        server: ServerArgs,
        batch_id: String,
        /// The last day entries can be signed or drawn on (YYYY-MM-DD, China Standard Time).
        #[arg(long)]
        valid_until: String,
        /// A CSV under the server's --import-dir (relative to it): household_id, and optionally national_id and branch.
        #[arg(long)]
        households: Option<PathBuf>,
    },
    /// Approve another person's publication: its entries go live (approver).
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        publication_id: String,
    },
    /// The publications of the institutions you act for.
    Publications {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// A household's entries, newest first, by household id or national ID number.
    Get {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        institution: String,
        #[arg(long, default_value = "FARMER_CREDIT")]
        product: String,
        #[arg(long, default_value = "")]
        household: String,
        /// Read the head's national ID number from standard input (never a flag: it would show in `ps` and the shell's history).
        #[arg(long)]
        national_id_stdin: bool,
    },
    /// Record a signed contract (client or officer).
    Sign {
        #[command(flatten)]
        op: OpArgs,
        /// Yuan, at most the pre-credited limit.
        #[arg(long)]
        signed_limit: String,
        #[arg(long)]
        contract: String,
    },
    /// Record a draw-down (client or officer).
    Draw {
        #[command(flatten)]
        op: OpArgs,
        #[arg(long)]
        amount: String,
    },
    /// Record a repayment (client or officer).
    Repay {
        #[command(flatten)]
        op: OpArgs,
        #[arg(long)]
        amount: String,
    },
    /// Revoke an entry, with the reason (officer).
    Revoke {
        #[command(flatten)]
        op: OpArgs,
        #[arg(long)]
        reason: String,
    },
    /// Keep an entry an online decline flagged, with a note (officer).
    ClearFlag {
        #[command(flatten)]
        op: OpArgs,
        #[arg(long)]
        note: String,
    },
    /// An institution's entries in id order, a page at a time.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        institution: String,
        #[arg(long, default_value = "")]
        product: String,
        /// offered, referred, declined, signed, drawn, revoked or superseded
        #[arg(long, default_value = "")]
        status: String,
        #[arg(long, default_value = "")]
        village: String,
        /// The last entry id of the previous page.
        #[arg(long, default_value = "")]
        after: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// The funnel per institution, branch and village: CSV and HTML with charts (reads the store).
    Report {
        #[command(flatten)]
        store: super::StoreArgs,
        /// Only these institutions (repeat); default: every one with an approved publication.
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

#[derive(clap::Args)]
struct OpArgs {
    #[command(flatten)]
    server: ServerArgs,
    entry_id: String,
    #[arg(long)]
    institution: String,
    /// Your id of this operation: a retry with the same id is recorded once.
    #[arg(long)]
    op_id: String,
}

pub fn run(args: Args) -> Result<Exit, Failure> {
    print_lines(call(args.action))
}

fn publication(p: &pb::Publication) -> String {
    format!(
        "{} {} batch {} {} {} valid until {}: {} offered ({} yuan), {} referred, {} declined, {} errors, {} identified; requested by {} approved by {}{}{}",
        p.publication_id,
        p.status,
        p.batch_id,
        p.institution,
        p.product,
        p.valid_until,
        p.offered,
        p.offered_amount,
        p.referred,
        p.declined,
        p.errors,
        p.identified,
        p.requested_by,
        if p.approved_by.is_empty() {
            "-"
        } else {
            &p.approved_by
        },
        if p.superseded > 0 {
            format!("; superseded {} older entries", p.superseded)
        } else {
            String::new()
        },
        if p.failure.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", p.failure)
        }
    )
}

fn entry(e: &pb::PreCredit) -> String {
    format!(
        "{} {}{} household {} village {} limit {} rate {} signed {} drawn {} repaid {} outstanding {} available {} valid until {} decision {}{}{}",
        e.entry_id,
        e.status,
        if e.expired { " (expired)" } else { "" },
        e.household_id,
        e.village,
        e.limit,
        e.annual_rate.as_deref().unwrap_or("-"),
        e.signed_limit.as_deref().unwrap_or("-"),
        e.drawn_total,
        e.repaid_total,
        e.outstanding,
        e.available,
        e.valid_until,
        e.decision_id,
        if e.revoked_reason.is_empty() {
            String::new()
        } else {
            format!(" revoked: {}", e.revoked_reason)
        },
        if e.review_flag.is_empty() {
            String::new()
        } else {
            format!(" FLAGGED: {}", e.review_flag)
        },
    )
}

fn reply(r: pb::PreCreditReply) -> Vec<String> {
    let mut line = r.entry.as_ref().map(entry).unwrap_or_default();
    if r.idempotent_replay {
        line.push_str(" (already recorded)");
    }
    vec![line]
}

async fn call(action: Action) -> Result<Vec<String>, Failure> {
    match action {
        Action::Report {
            store,
            institution,
            product,
            csv,
            html,
        } => report(store, institution, product, csv, html).await,
        Action::Publish {
            server,
            batch_id,
            valid_until,
            households,
        } => {
            let mut client = PreCreditServiceClient::new(server.connect().await?);
            let p = client
                .publish_pre_credits(
                    server.authed(pb::PublishPreCreditsRequest {
                        batch_id,
                        valid_until,
                        households_file: households
                            .map(|h| h.display().to_string())
                            .unwrap_or_default(),
                    })?,
                )
                .await
                .map_err(refused)?
                .into_inner();
            Ok(vec![publication(&p)])
        }
        Action::Approve {
            server,
            publication_id,
        } => {
            let mut client = PreCreditServiceClient::new(server.connect().await?);
            let p = client
                .approve_pre_credits(
                    server.authed(pb::ApprovePreCreditsRequest { publication_id })?,
                )
                .await
                .map_err(refused)?
                .into_inner();
            Ok(vec![publication(&p)])
        }
        Action::Publications { server } => {
            let mut client = PreCreditServiceClient::new(server.connect().await?);
            let all = client
                .list_publications(server.authed(pb::ListPublicationsRequest {})?)
                .await
                .map_err(refused)?
                .into_inner();
            Ok(all.publications.iter().map(publication).collect())
        }
        Action::Get {
            server,
            institution,
            product,
            household,
            national_id_stdin,
        } => {
            let national_id = if national_id_stdin {
                std::io::read_to_string(std::io::stdin())
                    .map_err(|e| Failure::Input(format!("cannot read standard input: {e}")))?
                    .trim()
                    .to_string()
            } else {
                String::new()
            };
            let mut client = PreCreditServiceClient::new(server.connect().await?);
            let found = client
                .get_pre_credit(server.authed(pb::GetPreCreditRequest {
                    institution,
                    product,
                    household_id: household,
                    national_id,
                })?)
                .await
                .map_err(refused)?
                .into_inner();
            Ok(found.entries.iter().map(entry).collect())
        }
        Action::Sign {
            op,
            signed_limit,
            contract,
        } => {
            let mut client = PreCreditServiceClient::new(op.server.connect().await?);
            let r = client
                .sign_pre_credit(op.server.authed(pb::SignPreCreditRequest {
                    institution: op.institution,
                    entry_id: op.entry_id,
                    op_id: op.op_id,
                    signed_limit,
                    contract_id: contract,
                })?)
                .await
                .map_err(refused)?;
            Ok(reply(r.into_inner()))
        }
        Action::Draw { op, amount } => amount_op(op, amount, true).await,
        Action::Repay { op, amount } => amount_op(op, amount, false).await,
        Action::Revoke { op, reason } => {
            let mut client = PreCreditServiceClient::new(op.server.connect().await?);
            let r = client
                .revoke_pre_credit(op.server.authed(pb::RevokePreCreditRequest {
                    institution: op.institution,
                    entry_id: op.entry_id,
                    op_id: op.op_id,
                    reason,
                })?)
                .await
                .map_err(refused)?;
            Ok(reply(r.into_inner()))
        }
        Action::ClearFlag { op, note } => {
            let mut client = PreCreditServiceClient::new(op.server.connect().await?);
            let r = client
                .clear_review_flag(op.server.authed(pb::ClearReviewFlagRequest {
                    institution: op.institution,
                    entry_id: op.entry_id,
                    op_id: op.op_id,
                    note,
                })?)
                .await
                .map_err(refused)?;
            Ok(reply(r.into_inner()))
        }
        Action::List {
            server,
            institution,
            product,
            status,
            village,
            after,
            limit,
        } => {
            let mut client = PreCreditServiceClient::new(server.connect().await?);
            let page = client
                .list_pre_credits(server.authed(pb::ListPreCreditsRequest {
                    institution,
                    product,
                    status,
                    village,
                    after,
                    limit,
                })?)
                .await
                .map_err(refused)?
                .into_inner();
            Ok(page.entries.iter().map(entry).collect())
        }
    }
}

/// A draw-down (`drawdown`) or a repayment.
async fn amount_op(op: OpArgs, amount: String, drawdown: bool) -> Result<Vec<String>, Failure> {
    let mut client = PreCreditServiceClient::new(op.server.connect().await?);
    let request = op.server.authed(pb::AmountRequest {
        institution: op.institution,
        entry_id: op.entry_id,
        op_id: op.op_id,
        amount,
    })?;
    let r = if drawdown {
        client.record_drawdown(request).await
    } else {
        client.record_repayment(request).await
    }
    .map_err(refused)?;
    Ok(reply(r.into_inner()))
}

async fn report(
    store: super::StoreArgs,
    institutions: Vec<String>,
    product: Option<String>,
    csv: Option<PathBuf>,
    html: Option<PathBuf>,
) -> Result<Vec<String>, Failure> {
    let store = open_store(&store).await?;
    let today = date_at(std::time::SystemTime::now());
    let rows = funnel(&store, &institutions, product.as_deref(), today)
        .await
        .map_err(|e| Failure::Other(e.to_string()))?;
    if let Some(path) = &csv {
        decision_batch::funnel::write_csv(path, &rows).map_err(Failure::Other)?;
    }
    if let Some(path) = &html {
        let text =
            decision_batch::funnel::render(&rows, &today.to_string()).map_err(Failure::Other)?;
        std::fs::write(path, text)
            .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(rows
        .iter()
        .filter(|r| r.level == "institution")
        .map(|r| {
            format!(
                "{}: {} households, {} pre-credited ({} yuan), {} signed ({} yuan), {} drawn ({} yuan drawn, {} outstanding), {} revoked, {} expiring within 30 days, {} expired",
                r.institution,
                r.households,
                r.precredited,
                r.offered_amount,
                r.signed,
                r.signed_amount,
                r.drawn,
                r.drawn_amount,
                r.outstanding,
                r.revoked,
                r.expiring_30d,
                r.expired
            )
        })
        .collect())
}
