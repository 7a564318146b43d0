//! Impact analysis (`decision-engine simulate`): every household of a file
//! decided under the baseline policy (by default the activation in force)
//! and under a candidate (a published ruleset or scorecard version, a
//! document file not yet published, or a policy directory), by the same
//! engine path as a batch row ([`row::decide_row`]). Nothing is recorded:
//! a simulation decides no household.
//!
//! Its results: the swap-set (baseline decision x candidate decision:
//! households and limit totals), each rule's hit rate under both, score and
//! grade shifts, and limit and rate changes by grade and by village; as
//! CSV, JSON and a self-contained HTML report ([`impact_report`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use decision_core::compile::Document;
use decision_core::model::ruleset::Layer;
use decision_core::policy_set::{PolicySet, read_document};
use decision_core::{FieldError, Outcome, Policy, VersionRef, compile_exact};
use decision_store::{AnyStore, Location, Store};

use super::row::{Context, Decided, RowCells, decide_row};
use super::{BatchError, FileFormat, columns, failed, input};

pub mod impact_report;

/// What to compare, on which households.
#[derive(Clone, Debug)]
pub struct SimulateConfig {
    pub input: PathBuf,
    pub input_format: Option<FileFormat>,
    pub institution: String,
    pub product: String,
    /// RFC 3339; empty: now. The baseline is the activation in force then.
    pub as_of: String,
    /// Changes to the policy in force that make the baseline (each
    /// `ID@VERSION`, a document file or a policy directory); empty: the
    /// policy in force.
    pub baseline: Vec<String>,
    /// Changes to the baseline that make the candidate; at least one.
    pub candidate: Vec<String>,
    /// Replay the stored online decisions of the institution and product
    /// recorded from this date (RFC 3339 time or date) instead of reading
    /// `input`: their stored requests, decided both ways.
    pub from_store: Option<String>,
    /// With `from_store`: recorded before this time.
    pub until: Option<String>,
    /// The swap-set CSV.
    pub output: PathBuf,
    /// Each household's two decisions, CSV.
    pub households: Option<PathBuf>,
    /// Every table of the analysis, JSON.
    pub summary: Option<PathBuf>,
    /// The HTML report.
    pub report: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub store: Option<String>,
    pub policy_dir: Option<PathBuf>,
    pub ignore_columns: Vec<String>,
    pub chunk_rows: usize,
    pub progress: bool,
}

/// A change that makes a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `ID@VERSION` of a published ruleset or scorecard.
    Published { id: String, version: String },
    /// A document file: it takes the place of the document of its kind
    /// (and layer) in the policy.
    File(PathBuf),
    /// A policy directory: its policy for the institution and product,
    /// whole.
    Dir(PathBuf),
}

impl Change {
    /// Reads a `--baseline` or `--candidate` value.
    pub fn parse(flag: &str, text: &str) -> Result<Change, FieldError> {
        let path = Path::new(text);
        if path.is_dir() {
            return Ok(Change::Dir(path.to_path_buf()));
        }
        if path.is_file() {
            return Ok(Change::File(path.to_path_buf()));
        }
        match text.split_once('@') {
            Some((id, version)) if !id.is_empty() && !version.is_empty() && !id.contains('/') => {
                Ok(Change::Published {
                    id: id.to_string(),
                    version: version.to_string(),
                })
            }
            _ => Err(FieldError {
                field: flag.to_string(),
                message: format!(
                    "`{text}` is no file, directory or ID@VERSION: expected a published ruleset or scorecard as ID@VERSION, a document file or a policy directory"
                ),
            }),
        }
    }
}

/// One side of a household: its decision, or why it has none.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub decided: Result<Decided, String>,
    /// Each rule's hit, in the policy's rule order (empty on error).
    pub rule_hits: Vec<bool>,
    /// Each characteristic's bin, in card order (empty on error).
    pub bins: Vec<u32>,
}

/// Limits, rates and approvals of a group of households, both ways.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Group {
    pub households: u64,
    pub baseline_approved: u64,
    pub candidate_approved: u64,
    pub baseline_limit_total: Decimal,
    pub candidate_limit_total: Decimal,
    /// Sum and count of the rates given (approvals and refers).
    pub baseline_rate_sum: Decimal,
    pub baseline_rated: u64,
    pub candidate_rate_sum: Decimal,
    pub candidate_rated: u64,
}

impl Group {
    fn add(&mut self, b: Option<&Decided>, c: Option<&Decided>) {
        self.households += 1;
        if let Some(b) = b {
            self.baseline_approved += u64::from(b.outcome == Outcome::Approve);
            self.baseline_limit_total += b.limit;
            if let Some(r) = b.annual_rate {
                self.baseline_rate_sum += r;
                self.baseline_rated += 1;
            }
        }
        if let Some(c) = c {
            self.candidate_approved += u64::from(c.outcome == Outcome::Approve);
            self.candidate_limit_total += c.limit;
            if let Some(r) = c.annual_rate {
                self.candidate_rate_sum += r;
                self.candidate_rated += 1;
            }
        }
    }

    /// The mean rate given (4 places), if any was.
    pub fn mean_rate(sum: Decimal, n: u64) -> Option<Decimal> {
        (n > 0).then(|| (sum / Decimal::from(n)).round_dp(4))
    }
}

/// One cell of the swap-set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Swap {
    pub households: u64,
    pub baseline_limit_total: Decimal,
    pub candidate_limit_total: Decimal,
}

/// A rule's hits under both policies (a rule one of them lacks has 0
/// there).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleHits {
    pub rule: String,
    pub stage: String,
    pub baseline_hits: u64,
    pub candidate_hits: u64,
}

/// The whole analysis.
#[derive(Clone, Debug, Serialize)]
pub struct Impact {
    pub institution: String,
    pub product: String,
    pub input: String,
    pub baseline: Vec<VersionRef>,
    pub candidate: Vec<VersionRef>,
    pub households: u64,
    /// (baseline decision, candidate decision) -> cell; `ERROR` where a
    /// side could not decide the row.
    #[serde(serialize_with = "pairs")]
    pub swap: BTreeMap<(String, String), Swap>,
    /// Households decided by both (the rates below are over them).
    pub decided_both: u64,
    pub rules: Vec<RuleHits>,
    /// (baseline grade, candidate grade) -> households.
    #[serde(serialize_with = "pairs")]
    pub grade_migration: BTreeMap<(String, String), u64>,
    /// Candidate score minus baseline score -> households.
    pub score_shift: BTreeMap<String, u64>,
    pub baseline_score_sum: Decimal,
    pub candidate_score_sum: Decimal,
    /// By the baseline grade.
    pub by_grade: BTreeMap<String, Group>,
    pub by_village: BTreeMap<String, Group>,
    pub total: Group,
    /// Baseline grades, best first, for tables.
    pub grade_order: Vec<String>,
}

fn pairs<S: serde::Serializer, V: Serialize>(
    map: &BTreeMap<(String, String), V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(map.len()))?;
    for ((a, b), v) in map {
        seq.serialize_element(&(a, b, v))?;
    }
    seq.end()
}

/// The outcomes of the swap-set, in table order.
pub const OUTCOMES: [&str; 3] = ["APPROVE", "REFER", "DECLINE"];

impl Impact {
    fn new(config: &SimulateConfig, baseline: &Policy, candidate: &Policy) -> Impact {
        let input = match &config.from_store {
            Some(since) => format!(
                "stored online decisions from {since} to {}",
                config.until.as_deref().unwrap_or("now")
            ),
            None => config.input.display().to_string(),
        };
        Impact::between(
            (&config.institution, &config.product, &input),
            baseline,
            candidate,
        )
    }

    /// An empty analysis of `baseline` against `candidate`.
    pub fn between(
        (institution, product, input): (&str, &str, &str),
        baseline: &Policy,
        candidate: &Policy,
    ) -> Impact {
        let mut rules: Vec<RuleHits> = baseline
            .rules
            .iter()
            .map(|r| RuleHits {
                rule: r.id.to_string(),
                stage: r.stage.name().to_string(),
                baseline_hits: 0,
                candidate_hits: 0,
            })
            .collect();
        for r in &candidate.rules {
            if !rules.iter().any(|x| *x.rule == *r.id) {
                rules.push(RuleHits {
                    rule: r.id.to_string(),
                    stage: r.stage.name().to_string(),
                    baseline_hits: 0,
                    candidate_hits: 0,
                });
            }
        }
        let mut swap = BTreeMap::new();
        for b in OUTCOMES {
            for c in OUTCOMES {
                swap.insert((b.to_string(), c.to_string()), Swap::default());
            }
        }
        Impact {
            institution: institution.to_string(),
            product: product.to_string(),
            input: input.to_string(),
            baseline: baseline.versions.clone(),
            candidate: candidate.versions.clone(),
            households: 0,
            swap,
            decided_both: 0,
            rules,
            grade_migration: BTreeMap::new(),
            score_shift: BTreeMap::new(),
            baseline_score_sum: Decimal::ZERO,
            candidate_score_sum: Decimal::ZERO,
            by_grade: BTreeMap::new(),
            by_village: BTreeMap::new(),
            total: Group::default(),
            grade_order: baseline
                .grades
                .bands
                .iter()
                .map(|b| b.grade.clone())
                .collect(),
        }
    }

    pub fn add(
        &mut self,
        (baseline, candidate): (&Policy, &Policy),
        village: &str,
        b: &Side,
        c: &Side,
    ) {
        self.households += 1;
        let outcome = |s: &Side| match &s.decided {
            Ok(d) => d.outcome.as_str().to_string(),
            Err(_) => "ERROR".to_string(),
        };
        let cell = self.swap.entry((outcome(b), outcome(c))).or_default();
        cell.households += 1;
        let (bd, cd) = (b.decided.as_ref().ok(), c.decided.as_ref().ok());
        if let Some(d) = bd {
            cell.baseline_limit_total += d.limit;
        }
        if let Some(d) = cd {
            cell.candidate_limit_total += d.limit;
        }
        self.total.add(bd, cd);
        self.by_village
            .entry(village.to_string())
            .or_default()
            .add(bd, cd);
        for (policy, side, baseline_side) in [(baseline, b, true), (candidate, c, false)] {
            for (rule, hit) in policy.rules.iter().zip(&side.rule_hits) {
                if !hit {
                    continue;
                }
                if let Some(r) = self.rules.iter_mut().find(|r| *r.rule == *rule.id) {
                    if baseline_side {
                        r.baseline_hits += 1;
                    } else {
                        r.candidate_hits += 1;
                    }
                }
            }
        }
        if let Some(d) = bd {
            self.by_grade
                .entry(d.grade.clone())
                .or_default()
                .add(bd, cd);
        }
        if let (Some(bd), Some(cd)) = (bd, cd) {
            self.decided_both += 1;
            *self
                .grade_migration
                .entry((bd.grade.clone(), cd.grade.clone()))
                .or_default() += 1;
            *self
                .score_shift
                .entry((cd.score - bd.score).normalize().to_string())
                .or_default() += 1;
            self.baseline_score_sum += bd.score;
            self.candidate_score_sum += cd.score;
        }
    }

    /// Writes the swap-set CSV to `output`, and every table as JSON and the
    /// HTML report where asked.
    pub fn write(
        &self,
        output: &Path,
        summary: Option<&Path>,
        report: Option<&Path>,
    ) -> Result<(), BatchError> {
        self.write_swap_set(output)
            .map_err(failed("cannot write the swap-set"))?;
        if let Some(path) = summary {
            let json =
                serde_json::to_string_pretty(self).map_err(failed("cannot write the summary"))?;
            std::fs::write(path, json).map_err(failed("cannot write the summary"))?;
        }
        if let Some(path) = report {
            let html = impact_report::render(self).map_err(failed("cannot write the report"))?;
            std::fs::write(path, html).map_err(failed("cannot write the report"))?;
        }
        Ok(())
    }

    /// `N households: baseline R + S -> candidate R' + S'`, with the two
    /// sides named `names` (the ruleset and scorecard of each).
    pub fn headline(&self, (first, second): (&str, &str)) -> String {
        let label = |v: &[VersionRef]| {
            v.iter()
                .skip(2)
                .take(2)
                .map(|v| v.label())
                .collect::<Vec<_>>()
                .join(" + ")
        };
        format!(
            "{} households: {first} {} -> {second} {}",
            self.households,
            label(&self.baseline),
            label(&self.candidate)
        )
    }

    /// The swap-set as a text table, rows `rows` (e.g. `baseline`), columns
    /// `columns`, then the limit totals.
    pub fn swap_table(&self, (rows, columns): (&str, &str)) -> String {
        let mut out = format!(
            "{:<20} {:>9} {:>9} {:>9}\n",
            format!("{rows} \\ {columns}"),
            "APPROVE",
            "REFER",
            "DECLINE"
        );
        for b in OUTCOMES {
            out.push_str(&format!("{b:<20}"));
            for c in OUTCOMES {
                let n = self
                    .swap
                    .get(&(b.to_string(), c.to_string()))
                    .map_or(0, |s| s.households);
                out.push_str(&format!(" {n:>9}"));
            }
            out.push('\n');
        }
        let t = &self.total;
        out.push_str(&format!(
            "limit total {} -> {} ({:+})",
            t.baseline_limit_total,
            t.candidate_limit_total,
            t.candidate_limit_total - t.baseline_limit_total
        ));
        out
    }

    /// The swap-set as CSV: every outcome pair (the 3 x 3 always, ERROR
    /// pairs when they occur).
    pub fn write_swap_set(&self, path: &Path) -> Result<(), String> {
        let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
        w.write_record(SWAP_COLUMNS).map_err(|e| e.to_string())?;
        let mut keys: Vec<&(String, String)> = self.swap.keys().collect();
        let rank = |o: &str| {
            OUTCOMES
                .iter()
                .position(|x| *x == o)
                .unwrap_or(OUTCOMES.len())
        };
        keys.sort_by_key(|(b, c)| (rank(b), rank(c)));
        for key in keys {
            let s = &self.swap[key];
            w.write_record([
                key.0.as_str(),
                key.1.as_str(),
                &s.households.to_string(),
                &s.baseline_limit_total.to_string(),
                &s.candidate_limit_total.to_string(),
                &(s.candidate_limit_total - s.baseline_limit_total).to_string(),
            ])
            .map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())
    }
}

/// The swap-set's header alone (nothing to compare).
pub fn write_empty_swap_set(path: &Path) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    w.write_record(SWAP_COLUMNS).map_err(|e| e.to_string())?;
    w.flush().map_err(|e| e.to_string())
}

/// The swap-set's columns.
const SWAP_COLUMNS: [&str; 6] = [
    "baseline_decision",
    "candidate_decision",
    "households",
    "baseline_limit_total",
    "candidate_limit_total",
    "limit_change",
];

/// The columns of the households file, one side's.
pub const SIDE_COLUMNS: [&str; 7] = [
    "decision",
    "score",
    "grade",
    "limit",
    "annual_rate",
    "reason_codes",
    "error",
];

pub fn side_cells(s: &Side) -> [String; 7] {
    match &s.decided {
        Ok(d) => [
            d.outcome.as_str().to_string(),
            d.score.to_string(),
            d.grade.clone(),
            d.limit.to_string(),
            d.annual_rate.map(|r| r.to_string()).unwrap_or_default(),
            d.reason_codes.clone(),
            String::new(),
        ],
        Err(e) => [
            "ERROR".to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            e.clone(),
        ],
    }
}

/// Runs the analysis.
pub fn run(config: &SimulateConfig) -> Result<Impact, BatchError> {
    let input_format = config
        .input_format
        .or_else(|| FileFormat::of(&config.input))
        .or(config.from_store.as_ref().map(|_| FileFormat::Csv))
        .ok_or_else(|| {
            BatchError::Input(vec![FieldError {
                field: "--format".into(),
                message: format!(
                    "cannot tell the format of {} from its extension; expected .csv or .parquet, or --format csv|parquet",
                    config.input.display()
                ),
            }])
        })?;
    let changes = |flag: &str, values: &[String]| -> Result<Vec<Change>, BatchError> {
        let (ok, bad): (Vec<_>, Vec<_>) = values
            .iter()
            .map(|v| Change::parse(flag, v))
            .partition(Result::is_ok);
        if !bad.is_empty() {
            return Err(BatchError::Input(
                bad.into_iter().filter_map(Result::err).collect(),
            ));
        }
        Ok(ok.into_iter().filter_map(Result::ok).collect())
    };
    let from_store = config
        .from_store
        .as_deref()
        .map(|s| time_bound("--from-store", s))
        .transpose()?;
    let until = config
        .until
        .as_deref()
        .map(|u| time_bound("--until", u))
        .transpose()?;
    let baseline_changes = changes("--baseline", &config.baseline)?;
    let candidate_changes = changes("--candidate", &config.candidate)?;
    if candidate_changes.is_empty() {
        return Err(BatchError::Input(vec![FieldError {
            field: "--candidate".into(),
            message: "expected at least one: ID@VERSION, a document file or a policy directory"
                .into(),
        }]));
    }
    let loaded = match &config.policy_dir {
        Some(d) => PolicySet::load_dir(d),
        None => PolicySet::shipped(),
    }
    .map_err(|e| BatchError::Policy(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed("cannot start"))?;
    let location = Location::parse(config.store.as_deref(), &config.data_dir)
        .map_err(failed("decision store"))?;
    let store = Arc::new(
        runtime
            .block_on(AnyStore::open(&location, 2))
            .map_err(failed("decision store"))?,
    );
    let (baseline, candidate) = runtime.block_on(async {
        let in_force = super::resolve(
            (&config.institution, &config.product, &config.as_of),
            &[],
            Arc::new(loaded),
            store.clone(),
        )
        .await?;
        let baseline = apply(config, &store, in_force, &baseline_changes, "--baseline").await?;
        let candidate = apply(
            config,
            &store,
            baseline.clone(),
            &candidate_changes,
            "--candidate",
        )
        .await?;
        Ok::<_, BatchError>((baseline, candidate))
    })?;

    let mut households = match &config.households {
        Some(path) => {
            let mut w =
                csv::Writer::from_path(path).map_err(failed("cannot write the households file"))?;
            let mut header = vec![
                "row".to_string(),
                "household_id".to_string(),
                "village_code".to_string(),
            ];
            for side in ["baseline", "candidate"] {
                header.extend(SIDE_COLUMNS.iter().map(|c| format!("{side}_{c}")));
            }
            w.write_record(&header)
                .map_err(failed("cannot write the households file"))?;
            Some(w)
        }
        None => None,
    };
    let mut impact = Impact::new(config, &baseline, &candidate);
    let file = FileRun {
        input: &config.input,
        format: input_format,
        institution: &config.institution,
        product: &config.product,
        ignore_columns: &config.ignore_columns,
        chunk_rows: config.chunk_rows,
        progress: config.progress,
    };
    let mut each = |row: u64, household: &str, village: &str, sides: &[Side]| {
        let (b, c) = (&sides[0], &sides[1]);
        impact.add((&baseline, &candidate), village, b, c);
        if let Some(w) = households.as_mut() {
            let mut record = vec![row.to_string(), household.to_string(), village.to_string()];
            record.extend(side_cells(b));
            record.extend(side_cells(c));
            w.write_record(&record)
                .map_err(failed("cannot write the households file"))?;
        }
        Ok(())
    };
    let replayed = match &from_store {
        Some(since) => runtime.block_on(replay_stored(
            &store,
            config,
            (since, until.as_deref()),
            &[&baseline, &candidate],
            &mut each,
        )),
        None => decide_file(&file, &[&baseline, &candidate], &mut each),
    };
    store.close();
    replayed?;
    if let Some(mut w) = households {
        w.flush()
            .map_err(failed("cannot write the households file"))?;
    }
    impact.write(
        &config.output,
        config.summary.as_deref(),
        config.report.as_deref(),
    )?;
    Ok(impact)
}

/// The policy `base` with `changes` applied, compiled (test cases and
/// all).
async fn apply(
    config: &SimulateConfig,
    store: &AnyStore,
    base: Arc<Policy>,
    changes: &[Change],
    flag: &str,
) -> Result<Arc<Policy>, BatchError> {
    if changes.is_empty() {
        return Ok(base);
    }
    let refuse = |message: String| {
        BatchError::Input(vec![FieldError {
            field: flag.to_string(),
            message,
        }])
    };
    // The base's documents, from the store (a server or a run stored every
    // version it loaded).
    let mut docs: Vec<Document> = Vec::new();
    for v in &base.versions {
        let stored = store
            .get_document(&v.hash)
            .await
            .map_err(failed("decision store"))?
            .ok_or_else(|| {
                BatchError::Policy(format!(
                    "{} {} is not in the decision store",
                    v.kind,
                    v.label()
                ))
            })?;
        docs.push(
            Document::parse(&v.label(), &stored.json)
                .map_err(|e| BatchError::Policy(e.to_string()))?,
        );
    }
    for change in changes {
        let doc = match change {
            Change::Dir(dir) => {
                let set = PolicySet::load_dir(dir).map_err(|e| refuse(e.to_string()))?;
                let policy = set
                    .select_shared(&config.institution, &config.product)
                    .map_err(|e| refuse(format!("{}: {e}", dir.display())))?;
                docs = set
                    .documents()
                    .iter()
                    .filter(|d| {
                        let r = d.version_ref();
                        policy.versions.iter().any(|v| v.hash == r.hash)
                    })
                    .cloned()
                    .collect();
                continue;
            }
            Change::File(path) => read_document(path).map_err(|e| refuse(e.to_string()))?,
            Change::Published { id, version } => {
                let mut found = Vec::new();
                for kind in ["ruleset", "scorecard"] {
                    if let Some(stored) = store
                        .find_document(kind, id, version)
                        .await
                        .map_err(failed("decision store"))?
                    {
                        found.push(stored);
                    }
                }
                let stored = found.pop().ok_or_else(|| {
                    refuse(format!(
                        "no ruleset or scorecard `{id}` version `{version}` is published"
                    ))
                })?;
                Document::parse(&format!("{id}@{version}"), &stored.json)
                    .map_err(|e| BatchError::Policy(e.to_string()))?
            }
        };
        let slot = |d: &Document| match d {
            Document::Schema(_) => 0,
            Document::Ruleset(r) if r.doc.layer == Layer::Province => 1,
            Document::Ruleset(_) => 2,
            Document::Scorecard(_) => 3,
            Document::Authority(_) => 4,
            Document::Monitoring(_) => 5,
            Document::Market(_) => 6,
            Document::Overlay(_) => 7,
            Document::Product(_) => 8,
        };
        docs.retain(|d| slot(d) != slot(&doc));
        docs.push(doc);
    }
    compile_exact(&docs)
        .map(Arc::new)
        .map_err(|e| refuse(format!("the changed policy cannot run: {e}")))
}

/// A file of households to decide.
#[derive(Clone, Copy, Debug)]
pub struct FileRun<'a> {
    pub input: &'a Path,
    pub format: FileFormat,
    pub institution: &'a str,
    pub product: &'a str,
    pub ignore_columns: &'a [String],
    pub chunk_rows: usize,
    pub progress: bool,
}

/// Decides every row of a file under each of `policies` (the same checks
/// and engine path as a batch row), on all cores, and hands each row's
/// sides to `each` in input order: (row, household id, village, sides).
pub fn decide_file(
    run: &FileRun,
    policies: &[&Policy],
    mut each: impl FnMut(u64, &str, &str, &[Side]) -> Result<(), BatchError>,
) -> Result<(), BatchError> {
    let input = input::open(run.input, run.format).map_err(|message| {
        BatchError::Input(vec![FieldError {
            field: "input".into(),
            message,
        }])
    })?;
    let plans = policies
        .iter()
        .map(|p| {
            let c = columns::plan(&input.columns, &p.schema, run.ignore_columns)
                .map_err(BatchError::Input)?;
            let inexact = columns::inexact(&c, &input.columns, &input.float_columns, &p.schema);
            if inexact.is_empty() {
                Ok(c)
            } else {
                Err(BatchError::Input(inexact))
            }
        })
        .collect::<Result<Vec<_>, BatchError>>()?;
    let Some(first) = plans.first() else {
        return Ok(());
    };
    let lines = match run.format {
        FileFormat::Csv => input::line_problems(run.input).map_err(BatchError::Failed)?,
        FileFormat::Parquet => input::Lines::default(),
    };
    let names = input.columns.clone();
    let contexts: Vec<Context> = policies
        .iter()
        .map(|&policy| Context {
            policy,
            institution: run.institution,
            product: run.product,
            batch_hex: "simulation",
        })
        .collect();
    let progress = super::pipeline::progress_bar(run.progress, lines.rows());
    let (tx, rx) = sync_channel(1);
    let reader = input
        .stream(run.chunk_rows.max(1), tx)
        .map_err(BatchError::Failed)?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut next_row: u64 = 1;
    for df in rx {
        let cells = input::text_columns(&df).map_err(failed("cannot read a chunk"))?;
        let height = df.height();
        let rows: Vec<(u64, Option<u64>)> = (0..height)
            .map(|i| {
                let row = next_row + i as u64;
                let id = cells[first.household_id][i]
                    .map(str::trim)
                    .filter(|h| !h.is_empty());
                let duplicate_of = id.and_then(|h| match seen.get(h) {
                    Some(&first) => Some(first),
                    None => {
                        seen.insert(h.to_string(), row);
                        None
                    }
                });
                (row, duplicate_of)
            })
            .collect();
        let side = |cx: &Context, plan: &columns::Columns, i: usize| -> Side {
            let cells = RowCells {
                row: rows[i].0,
                household_id: cells[plan.household_id][i],
                village_code: cells[plan.village_code][i],
                features: plan
                    .features
                    .iter()
                    .map(|&(position, feature)| (feature, cells[position][i]))
                    .collect(),
                duplicate_of: rows[i].1,
                unreadable: lines
                    .problems
                    .get(&rows[i].0)
                    .map(|&p| super::pipeline::line_problem(p, &names)),
            };
            match decide_row(cx, &cells) {
                Ok((record, decided)) => Side {
                    decided: Ok(decided),
                    rule_hits: record.rule_hits,
                    bins: record.bins,
                },
                Err(problems) => Side {
                    decided: Err(problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; ")),
                    rule_hits: Vec::new(),
                    bins: Vec::new(),
                },
            }
        };
        let decided: Vec<Vec<Side>> = (0..height)
            .into_par_iter()
            .map(|i| {
                contexts
                    .iter()
                    .zip(&plans)
                    .map(|(cx, plan)| side(cx, plan, i))
                    .collect()
            })
            .collect();
        for (i, sides) in decided.iter().enumerate() {
            let household = cells[first.household_id][i].unwrap_or("").trim();
            let village = cells[first.village_code][i].unwrap_or("").trim();
            each(rows[i].0, household, village, sides)?;
        }
        next_row += height as u64;
        progress.inc(height as u64);
    }
    progress.finish_and_clear();
    reader
        .join()
        .map_err(|_| BatchError::Failed("the reader thread panicked".into()))?
        .map_err(|e| BatchError::Failed(format!("cannot read {}: {e}", run.input.display())))
}

/// Each household of a file scored by `policy`: its score and bins, for
/// score monitoring against a development sample. Rows the policy refuses
/// are left out and counted.
pub fn observe_file(
    run: &FileRun,
    policy: &Policy,
) -> Result<(Vec<decision_service::stability::Observation>, u64), BatchError> {
    let mut observations = Vec::new();
    let mut refused = 0;
    decide_file(run, &[policy], |_, _, _, sides| {
        match &sides[0].decided {
            Ok(d) => observations.push(decision_service::stability::Observation {
                score: d.score,
                bins: policy
                    .scorecard
                    .characteristics
                    .iter()
                    .zip(&sides[0].bins)
                    .map(|(c, &b)| {
                        let label = c
                            .bins
                            .get(b as usize)
                            .map_or_else(|| std::sync::Arc::from("?"), |bin| bin.label.clone());
                        (c.name.clone(), label)
                    })
                    .collect(),
            }),
            Err(_) => refused += 1,
        }
        Ok(())
    })?;
    Ok((observations, refused))
}

/// The policy in force for `institution` and `product` at `as_of`, as a
/// batch run would decide with.
pub fn policy_in_force(
    (institution, product, as_of): (&str, &str, &str),
    policy_dir: Option<&Path>,
    store: &Arc<AnyStore>,
    runtime: &tokio::runtime::Runtime,
) -> Result<Arc<Policy>, BatchError> {
    let loaded = match policy_dir {
        Some(d) => PolicySet::load_dir(d),
        None => PolicySet::shipped(),
    }
    .map_err(|e| BatchError::Policy(e.to_string()))?;
    runtime.block_on(super::resolve(
        (institution, product, as_of),
        &[],
        Arc::new(loaded),
        store.clone(),
    ))
}

/// Decides the stored requests of the online decisions of the institution
/// and product recorded in `[since, until)` under each of `policies`, in
/// recorded order; the request id stands for the household, the request's
/// `village_code` (if any) for its village. A decision whose input was
/// pruned cannot be replayed: it is an ERROR row on both sides.
async fn replay_stored(
    store: &AnyStore,
    config: &SimulateConfig,
    (since, until): (&str, Option<&str>),
    policies: &[&Policy],
    each: &mut impl FnMut(u64, &str, &str, &[Side]) -> Result<(), BatchError>,
) -> Result<(), BatchError> {
    let mut query = decision_store::DecisionQuery {
        institution: Some(config.institution.clone()),
        product: Some(config.product.clone()),
        since: since.to_string(),
        until: until.map(str::to_string),
        after: None,
        limit: 1000,
        shadows: false,
    };
    let mut row = 0u64;
    loop {
        let page = store
            .list_decisions(query.clone())
            .await
            .map_err(failed("decision store"))?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        query.after = Some((last.recorded_at.clone(), last.decision_id.clone()));
        let decided: Vec<(String, String, Vec<Side>)> = page
            .par_iter()
            .map(|r| {
                let request: Result<decision_core::Request, String> = if r.request_json.is_empty() {
                    Err(format!(
                        "decision {}: its input was pruned; it cannot be replayed",
                        r.decision_id
                    ))
                } else {
                    serde_json::from_str(&r.request_json).map_err(|e| {
                        format!(
                            "decision {}: the stored request does not parse: {e}",
                            r.decision_id
                        )
                    })
                };
                let village = request
                    .as_ref()
                    .ok()
                    .and_then(|q| q.features.get("village_code"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                let sides = policies
                    .iter()
                    .map(|&policy| match &request {
                        Ok(request) => decide_request(policy, request),
                        Err(e) => Side {
                            decided: Err(e.clone()),
                            rule_hits: Vec::new(),
                            bins: Vec::new(),
                        },
                    })
                    .collect();
                (r.request_id.clone(), village, sides)
            })
            .collect();
        for (household, village, sides) in decided {
            row += 1;
            each(row, &household, &village, &sides)?;
        }
    }
}

/// One stored request decided by `policy` (the online engine path: bind,
/// decide, outline).
fn decide_request(policy: &Policy, request: &decision_core::Request) -> Side {
    let cx = Context {
        policy,
        institution: &request.institution,
        product: &request.product,
        batch_hex: "simulation",
    };
    let decided = decision_core::validate::bind(policy, request)
        .map_err(decision_core::EvaluateError::Input)
        .and_then(|slots| decision_core::decide_bound(policy, slots))
        .and_then(|record| {
            let o = decision_core::outline(policy, &record).map_err(|e| {
                decision_core::EvaluateError::Policy {
                    place: "decision record".into(),
                    message: e.to_string(),
                }
            })?;
            Ok((super::row::decided(&cx, 0, &o), record))
        });
    match decided {
        Ok((d, record)) => Side {
            decided: Ok(d),
            rule_hits: record.rule_hits,
            bins: record.bins,
        },
        Err(e) => Side {
            decided: Err(e.to_string()),
            rule_hits: Vec::new(),
            bins: Vec::new(),
        },
    }
}

/// A `--since`/`--until` value as stored times compare (see
/// [`decision_service::clock::bound`]); refused naming the flag.
pub fn time_bound(flag: &str, text: &str) -> Result<String, BatchError> {
    decision_service::clock::bound(flag, text).map_err(|message| {
        BatchError::Input(vec![FieldError {
            field: flag.to_string(),
            message,
        }])
    })
}
