//! `loadgen`: drives unary PreReview (or GetPreCredit, or RecordReview) calls at a fixed
//! concurrency for a fixed duration or request count and reports throughput
//! and latency percentiles; `loadgen bare` serves the same RPCs from a bare
//! tonic service (a canned reply of the same size, no evaluation, no
//! storage), the reference our service is measured against in the same run.
//! RecordReview first decides `--requests` households by PreReview (that
//! phase is reported too: the durable pre-review on the same server is the
//! review's reference) and then reviews each routed decision once, at the
//! system's terms, as the token's reviewer.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use decision_core::PolicySet;
use decision_core::Request;
use decision_core::{Options, evaluate};
use decision_grpc::convert::{decision_to_proto, features_to_proto};
use decision_grpc::pb;
use decision_grpc::pb::decision_service_client::DecisionServiceClient;
use decision_grpc::pb::decision_service_server::{DecisionService, DecisionServiceServer};
use decision_grpc::pb::pre_credit_service_client::PreCreditServiceClient;
use decision_grpc::pb::pre_credit_service_server::{PreCreditService, PreCreditServiceServer};
use decision_grpc::pb::review_service_client::ReviewServiceClient;
use hdrhistogram::Histogram;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "gRPC load generator for decision.v1.DecisionService"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send PreReview calls and report throughput and latency.
    Run {
        /// e.g. http://127.0.0.1:50051; several replicas comma-separated
        /// (the connections are spread over them).
        #[arg(long)]
        target: String,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds to run (ignored with --requests).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Stop after this many calls instead of a duration.
        #[arg(long)]
        requests: Option<u64>,
        /// Request JSON files to cycle through (default: the example households).
        #[arg(long)]
        request: Vec<PathBuf>,
        /// Prefix of the generated request ids (each call gets a new id).
        #[arg(long, default_value = "LOAD")]
        id_prefix: String,
        /// HTTP/2 connections to spread the calls over.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// A label for the report line.
        #[arg(long, default_value = "")]
        label: String,
        /// The RPC to call.
        #[arg(long, value_enum, default_value = "pre-review")]
        call: Call,
        /// GetPreCredit: look up households H00000001 to H<N> (village-gen's ids) in turn.
        #[arg(long, default_value_t = 5000)]
        households: u64,
        /// GetPreCredit: the institution.
        #[arg(long, default_value = "3201")]
        institution: String,
        /// GetPreCredit: a bearer token (client, officer or auditor); RecordReview: a reviewer whose level decides the routed cases alone (e.g. the province's).
        #[arg(long, env = "DECISION_ENGINE_TOKEN", default_value = "")]
        token: String,
    },
    /// Serve a bare DecisionService (and PreCreditService.GetPreCredit) that returns a canned reply of the same size.
    Bare {
        #[arg(long, default_value = "127.0.0.1:50061")]
        listen: std::net::SocketAddr,
    },
}

fn load_requests(files: &[PathBuf]) -> anyhow::Result<Vec<(Request, pb::Features)>> {
    let files = if files.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/requests");
        let mut all: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        all.sort();
        all
    } else {
        files.to_vec()
    };
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            let request =
                Request::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            let features = features_to_proto(&request.features)
                .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
            Ok((request, features))
        })
        .collect()
}

/// The RPC a run calls.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Call {
    PreReview,
    GetPrecredit,
    RecordReview,
}

/// What one worker calls with.
struct Target {
    call: Call,
    /// RecordReview: the decisions to review (id, limit, rate), by call.
    to_review: Vec<(String, String, String)>,
    households: u64,
    institution: String,
    token: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

struct Stats {
    histogram: Histogram<u64>,
    ok: u64,
    errors: std::collections::BTreeMap<String, u64>,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    target: String,
    concurrency: usize,
    duration: f64,
    requests: Option<u64>,
    files: Vec<PathBuf>,
    prefix: String,
    connections: usize,
    label: String,
    what: Arc<Target>,
) -> anyhow::Result<()> {
    let bodies = Arc::new(load_requests(&files)?);
    let mut what = what;
    if matches!(what.call, Call::RecordReview) {
        what = Arc::new(
            prepare_reviews(
                &target,
                concurrency,
                requests,
                &files,
                &prefix,
                connections,
                &label,
                what,
            )
            .await?,
        );
    }
    // Several targets (replicas), comma-separated: the connections go to
    // each in turn, so the calls are spread evenly over them.
    let targets: Vec<&str> = target.split(',').map(str::trim).collect();
    let mut channels = Vec::new();
    for i in 0..connections.max(targets.len()) {
        let one = targets[i % targets.len()];
        channels.push(
            Channel::from_shared(one.to_string())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("cannot connect to {one}"))?,
        );
    }
    let counter = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs_f64(duration);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = DecisionServiceClient::new(channels[worker % channels.len()].clone());
        let mut register = PreCreditServiceClient::new(channels[worker % channels.len()].clone());
        let mut reviews = ReviewServiceClient::new(channels[worker % channels.len()].clone());
        let what = what.clone();
        let bodies = bodies.clone();
        let counter = counter.clone();
        let prefix = prefix.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats {
                histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
                ok: 0,
                errors: Default::default(),
            };
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match requests {
                    Some(limit) if n >= limit => break,
                    None if Instant::now() >= stop_at => break,
                    _ => {}
                }
                let t = Instant::now();
                let result = match what.call {
                    Call::PreReview => {
                        let (request, features) = &bodies[n as usize % bodies.len()];
                        let call = pb::PreReviewRequest {
                            request_id: format!("{prefix}-{n}"),
                            institution: request.institution.clone(),
                            product: request.product.clone(),
                            features: Some(features.clone()),
                            ..Default::default()
                        };
                        client.pre_review(call).await.map(|_| ())
                    }
                    Call::GetPrecredit => {
                        let mut call = tonic::Request::new(pb::GetPreCreditRequest {
                            institution: what.institution.clone(),
                            product: "FARMER_CREDIT".into(),
                            household_id: format!("H{:08}", n % what.households.max(1) + 1),
                            national_id: String::new(),
                        });
                        if let Some(t) = &what.token {
                            call.metadata_mut().insert("authorization", t.clone());
                        }
                        register.get_pre_credit(call).await.map(|_| ())
                    }
                    Call::RecordReview => {
                        let Some((decision_id, limit, rate)) = what.to_review.get(n as usize)
                        else {
                            break;
                        };
                        let mut call = tonic::Request::new(pb::RecordReviewRequest {
                            review_id: format!("{prefix}-RV-{n}"),
                            decision_id: decision_id.clone(),
                            outcome: "APPROVE".into(),
                            limit: limit.clone(),
                            annual_rate: rate.clone(),
                            reason_codes: vec!["O301".into()],
                            note: "loadgen: as the system proposed".into(),
                        });
                        if let Some(t) = &what.token {
                            call.metadata_mut().insert("authorization", t.clone());
                        }
                        reviews.record_review(call).await.map(|_| ())
                    }
                };
                let micros = t.elapsed().as_micros() as u64;
                match result {
                    Ok(_) => {
                        stats.ok += 1;
                        let _ = stats.histogram.record(micros.max(1));
                    }
                    Err(s) => *stats.errors.entry(format!("{:?}", s.code())).or_default() += 1,
                }
            }
            stats
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut ok = 0;
    let mut errors = std::collections::BTreeMap::<String, u64>::new();
    for t in tasks {
        let s = t.await?;
        total.add(&s.histogram)?;
        ok += s.ok;
        for (k, v) in s.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let report = serde_json::json!({
        "label": label, "target": target, "concurrency": concurrency, "seconds": elapsed,
        "ok": ok, "errors": errors, "throughput_per_s": ok as f64 / elapsed,
        "p50_ms": ms(0.50), "p90_ms": ms(0.90), "p99_ms": ms(0.99), "max_ms": total.max() as f64 / 1000.0,
    });
    println!("{report}");
    Ok(())
}

/// A decision routed to a reviewer: (call, decision id, limit, rate).
type Routed = (u64, String, String, String);

/// RecordReview's first phase: `requests` pre-reviews (reported as their
/// own line, the reference), each asking for the trace-free reply; the
/// decisions routed to a level are the ones reviewed.
#[allow(clippy::too_many_arguments)]
async fn prepare_reviews(
    target: &str,
    concurrency: usize,
    requests: Option<u64>,
    files: &[PathBuf],
    prefix: &str,
    connections: usize,
    label: &str,
    what: Arc<Target>,
) -> anyhow::Result<Target> {
    let Some(n) = requests else {
        anyhow::bail!("--call record-review needs --requests N: each decision is reviewed once");
    };
    let routed: Arc<std::sync::Mutex<Vec<Routed>>> = Arc::default();
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(
            Channel::from_shared(target.to_string())?
                .tcp_nodelay(true)
                .connect()
                .await
                .with_context(|| format!("cannot connect to {target}"))?,
        );
    }
    let bodies = Arc::new(load_requests(files)?);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = DecisionServiceClient::new(channels[worker % channels.len()].clone());
        let (bodies, counter, routed, prefix) = (
            bodies.clone(),
            counter.clone(),
            routed.clone(),
            prefix.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, tonic::Status>(());
                }
                let (request, features) = &bodies[i as usize % bodies.len()];
                let reply = client
                    .pre_review(pb::PreReviewRequest {
                        request_id: format!("{prefix}-{i}"),
                        institution: request.institution.clone(),
                        product: request.product.clone(),
                        features: Some(features.clone()),
                        application_id: format!("{prefix}-APP-{i}"),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                if reply.routing.as_ref().is_some_and(|r| r.level.is_some())
                    && reply.decision != "DECLINE"
                {
                    routed.lock().expect("not poisoned").push((
                        i,
                        reply.decision_id,
                        reply.limit,
                        reply.annual_rate.unwrap_or_default(),
                    ));
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"label": format!("{label}-prereview"), "target": target, "concurrency": concurrency,
            "seconds": elapsed, "ok": n, "throughput_per_s": n as f64 / elapsed})
    );
    let mut routed = std::mem::take(&mut *routed.lock().expect("not poisoned"));
    routed.sort();
    anyhow::ensure!(
        !routed.is_empty(),
        "none of the {n} decisions was routed to a reviewer"
    );
    Ok(Target {
        call: what.call,
        to_review: routed.into_iter().map(|(_, id, l, r)| (id, l, r)).collect(),
        households: what.households,
        institution: what.institution.clone(),
        token: what.token.clone(),
    })
}

/// The bare reference service: decodes the request, returns a canned reply.
struct Bare {
    reply: pb::PreReviewResponse,
}

#[tonic::async_trait]
impl DecisionService for Bare {
    async fn pre_review(
        &self,
        request: tonic::Request<pb::PreReviewRequest>,
    ) -> Result<tonic::Response<pb::PreReviewResponse>, tonic::Status> {
        let mut reply = self.reply.clone();
        reply.request_id = request.into_inner().request_id;
        Ok(tonic::Response::new(reply))
    }
    async fn get_decision(
        &self,
        _: tonic::Request<pb::GetDecisionRequest>,
    ) -> Result<tonic::Response<pb::GetDecisionResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn replay(
        &self,
        _: tonic::Request<pb::ReplayRequest>,
    ) -> Result<tonic::Response<pb::ReplayResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
}

/// The bare register: returns a canned entry of a real entry's size.
struct BareRegister {
    reply: pb::GetPreCreditResponse,
}

#[tonic::async_trait]
impl PreCreditService for BareRegister {
    async fn get_pre_credit(
        &self,
        request: tonic::Request<pb::GetPreCreditRequest>,
    ) -> Result<tonic::Response<pb::GetPreCreditResponse>, tonic::Status> {
        let mut reply = self.reply.clone();
        if let Some(e) = reply.entries.first_mut() {
            e.household_id = request.into_inner().household_id;
        }
        Ok(tonic::Response::new(reply))
    }
    async fn publish_pre_credits(
        &self,
        _: tonic::Request<pb::PublishPreCreditsRequest>,
    ) -> Result<tonic::Response<pb::Publication>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn approve_pre_credits(
        &self,
        _: tonic::Request<pb::ApprovePreCreditsRequest>,
    ) -> Result<tonic::Response<pb::Publication>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn list_publications(
        &self,
        _: tonic::Request<pb::ListPublicationsRequest>,
    ) -> Result<tonic::Response<pb::ListPublicationsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn sign_pre_credit(
        &self,
        _: tonic::Request<pb::SignPreCreditRequest>,
    ) -> Result<tonic::Response<pb::PreCreditReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn record_drawdown(
        &self,
        _: tonic::Request<pb::AmountRequest>,
    ) -> Result<tonic::Response<pb::PreCreditReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn record_repayment(
        &self,
        _: tonic::Request<pb::AmountRequest>,
    ) -> Result<tonic::Response<pb::PreCreditReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn revoke_pre_credit(
        &self,
        _: tonic::Request<pb::RevokePreCreditRequest>,
    ) -> Result<tonic::Response<pb::PreCreditReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn clear_review_flag(
        &self,
        _: tonic::Request<pb::ClearReviewFlagRequest>,
    ) -> Result<tonic::Response<pb::PreCreditReply>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
    async fn list_pre_credits(
        &self,
        _: tonic::Request<pb::ListPreCreditsRequest>,
    ) -> Result<tonic::Response<pb::ListPreCreditsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("bare service"))
    }
}

/// An entry with the field sizes of a published one.
fn canned_entry() -> pb::PreCredit {
    pb::PreCredit {
        entry_id: "pub_0123456789abcdef_123456".into(),
        publication_id: "pub_0123456789abcdef".into(),
        institution: "3201".into(),
        product: "FARMER_CREDIT".into(),
        household_id: "H00123456".into(),
        village: "V00042".into(),
        branch: "B-EAST".into(),
        outcome: "APPROVE".into(),
        grade: "A".into(),
        score: "652.40".into(),
        limit: "50000.00".into(),
        annual_rate: Some("0.0435".into()),
        valid_until: "2027-05-31".into(),
        status: "offered".into(),
        expired: false,
        signed_limit: None,
        contract_id: String::new(),
        drawn_total: "0".into(),
        repaid_total: "0".into(),
        outstanding: "0".into(),
        available: "0".into(),
        revoked_reason: String::new(),
        review_flag: String::new(),
        superseded_by: String::new(),
        decision_id: "dec_0123456789abcdef01234567_123456".into(),
        revision: 1,
        updated_at: "2026-11-23T08:00:00Z".into(),
    }
}

async fn bare(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    // A real decision's reply, so the payload has the same size as ours.
    let (request, _) = load_requests(&[])?.remove(0);
    let policies = PolicySet::shipped()?;
    let policy = policies
        .select(&request.institution, &request.product)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let decision =
        evaluate(policy, &request, Options { trace: false }).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut reply = decision_to_proto(&decision, false);
    reply.recorded_at = "2026-11-22T00:00:00.000000Z".into();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "loadgen bare service listening on {}",
        listener.local_addr()?
    );
    Server::builder()
        .add_service(DecisionServiceServer::new(Bare { reply }))
        .add_service(PreCreditServiceServer::new(BareRegister {
            reply: pb::GetPreCreditResponse {
                entries: vec![canned_entry()],
            },
        }))
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY small replies wait on delayed ACKs (~40 ms).
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Run {
            target,
            concurrency,
            duration,
            requests,
            request,
            id_prefix,
            connections,
            label,
            call,
            households,
            institution,
            token,
        } => {
            let what = Arc::new(Target {
                call,
                to_review: Vec::new(),
                households,
                institution,
                token: if token.is_empty() {
                    None
                } else {
                    Some(format!("Bearer {token}").parse()?)
                },
            });
            run(
                target,
                concurrency,
                duration,
                requests,
                request,
                id_prefix,
                connections,
                label,
                what,
            )
            .await
        }
        Cmd::Bare { listen } => bare(listen).await,
    }
}
