//! A post-loan monitoring run over a loan book (`decision-engine monitor`):
//! polars reads the book (CSV or Parquet, every column as text) in chunks,
//! each loan is evaluated by the service's one engine path
//! ([`decision_service::monitoring`]) with the policies in force for its
//! institution and product, and the run writes, in input order, one row per
//! loan (its level and signals, or ERROR), one row per task asked for, and
//! the errors file; signals and tasks are recorded in the store (a task only
//! when none is open for the same loan and rule). With a report, the
//! dashboard ([`super::monitor_report`]) and its figures are written last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;

use decision_core::FieldError;
use decision_core::monitor::{Evaluation, LoanInput};
use decision_core::validate::Input;
use decision_service::monitoring::{LoanPolicies, Monitor};
use decision_store::Store;

use super::BatchError;
use super::FileFormat;
use super::input;
use super::monitor_report::{self, Heading, Tally};
use super::output::{ERROR, ErrorsWriter};
use super::pipeline::progress_bar_of;

/// The signals file's columns, one row per loan, in input order.
pub const SIGNAL_COLUMNS: &[&str] = &[
    "row",
    "loan_id",
    "household_id",
    "institution",
    "branch",
    "product",
    "level",
    "score",
    "grade",
    "origination_grade",
    "grade_notches_down",
    "red",
    "orange",
    "yellow",
    "signal_codes",
    "signal_ids",
    "monitoring_version",
    "error",
];

/// The tasks file's columns, one row per task asked for.
pub const TASK_COLUMNS: &[&str] = &[
    "row",
    "task_id",
    "loan_id",
    "household_id",
    "institution",
    "branch",
    "product",
    "level",
    "rule_id",
    "task",
    "period",
    "due_on",
    "created",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    pub book: PathBuf,
    pub book_format: FileFormat,
    pub as_of: NaiveDate,
    pub output: PathBuf,
    pub output_format: FileFormat,
    pub tasks: PathBuf,
    pub tasks_format: FileFormat,
    pub errors: PathBuf,
    pub run_id: String,
    pub chunk_rows: usize,
    pub progress: bool,
    /// The dashboard (HTML); its figures go beside it as CSV
    /// ([`figures_path`]).
    pub report: Option<PathBuf>,
}

/// Where the figures of the dashboard `report` go: the same name, `.csv`.
pub fn figures_path(report: &Path) -> PathBuf {
    report.with_extension("csv")
}

/// How a run went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorOutcome {
    pub loans: u64,
    pub evaluated: u64,
    pub errors: u64,
    /// Signals by severity: red, orange, yellow.
    pub signals: [u64; 3],
    /// Loans by level code.
    pub levels: Vec<(String, u64)>,
    /// Tasks the rules asked for, and those created (the others were open
    /// already or asked for earlier in the period).
    pub tasks_due: u64,
    pub tasks_created: u64,
}

/// One loan's result, in input order.
pub struct LoanRow {
    pub row: u64,
    pub loan_id: String,
    pub household_id: String,
    pub result: Result<Evaluation, Vec<FieldError>>,
}

/// Runs the book through `monitor`; `rt` runs the store's and the
/// resolver's futures.
pub fn run<S: Store>(
    monitor: &Monitor<S>,
    rt: &tokio::runtime::Handle,
    config: &MonitorConfig,
) -> Result<MonitorOutcome, BatchError> {
    let book = input::open(&config.book, config.book_format).map_err(|e| {
        BatchError::Input(vec![FieldError {
            field: "book".into(),
            message: e,
        }])
    })?;
    if !book.float_columns.is_empty() {
        return Err(BatchError::Input(
            book.float_columns
                .iter()
                .map(|c| FieldError {
                    field: c.clone(),
                    message: "stored as binary floating point: amounts and ratios must be exact decimals (store the column as text or a decimal type)".into(),
                })
                .collect(),
        ));
    }
    let columns: Vec<Arc<str>> = book.columns.iter().map(|c| Arc::from(c.as_str())).collect();
    let progress = progress_bar_of(config.progress, None, "loans");
    let (sink, chunks) = std::sync::mpsc::sync_channel(2);
    let reader = book
        .stream(config.chunk_rows.max(1), sink)
        .map_err(BatchError::Failed)?;
    let mut signals_out = Writer::create(&config.output, config.output_format, SIGNAL_COLUMNS)?;
    let mut tasks_out = Writer::create(&config.tasks, config.tasks_format, TASK_COLUMNS)?;
    let mut errors_out = ErrorsWriter::create(&config.errors).map_err(|e| {
        BatchError::Failed(format!("cannot write {}: {e}", config.errors.display()))
    })?;
    let mut resolved: HashMap<(String, String), Result<LoanPolicies, String>> = HashMap::new();
    let mut outcome = MonitorOutcome::default();
    let mut levels: HashMap<String, u64> = HashMap::new();
    let mut tally = Tally::default();
    let mut policies_run: std::collections::BTreeSet<String> = Default::default();
    let mut next_row = 1u64;
    for chunk in chunks {
        let cells = input::text_columns(&chunk)
            .map_err(|e| BatchError::Failed(format!("cannot read the book: {e}")))?;
        let n = chunk.height();
        let column = |name: &str| columns.iter().position(|c| &**c == name);
        let (inst, prod) = (column("institution"), column("product"));
        let key = |i: usize| {
            let get = |c: Option<usize>| {
                c.and_then(|c| cells[c][i])
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            (get(inst), get(prod))
        };
        for i in 0..n {
            let k = key(i);
            if !resolved.contains_key(&k) && !k.0.is_empty() && !k.1.is_empty() {
                let found = rt
                    .block_on(monitor.loan_policies(&k.0, &k.1, std::time::SystemTime::now()))
                    .map_err(|e| e.to_string());
                if let (Ok(p), true) = (&found, tally.level_order.is_empty()) {
                    tally.level_order = p
                        .monitoring
                        .levels
                        .iter()
                        .map(|l| (l.code.to_string(), l.name_zh.clone(), l.name_en.clone()))
                        .collect();
                    tally.grade_order = p
                        .product
                        .grades
                        .bands
                        .iter()
                        .map(|b| b.grade.clone())
                        .collect();
                }
                resolved.insert(k, found);
            }
        }
        let first = next_row;
        let rows: Vec<LoanRow> = (0..n)
            .into_par_iter()
            .map(|i| {
                let loan = LoanInput {
                    values: columns
                        .iter()
                        .enumerate()
                        .map(|(c, name)| (&**name, cells[c][i].map(Input::Text)))
                        .collect(),
                    cells: true,
                };
                let text = |name: &str| match loan.get(name) {
                    Some(Input::Text(s)) => s.trim().to_string(),
                    _ => String::new(),
                };
                let result = match resolved.get(&key(i)) {
                    Some(Ok(p)) => p.monitoring.evaluate(&p.product, &loan, config.as_of),
                    Some(Err(e)) => Err(vec![FieldError {
                        field: "product".into(),
                        message: e.clone(),
                    }]),
                    None => Err(["institution", "product"]
                        .iter()
                        .filter(|c| text(c).is_empty())
                        .map(|c| FieldError {
                            field: (*c).to_string(),
                            message: "required loan column is missing: expected text".into(),
                        })
                        .collect()),
                };
                LoanRow {
                    row: first + i as u64,
                    loan_id: text("loan_id"),
                    household_id: text("household_id"),
                    result,
                }
            })
            .collect();
        next_row += n as u64;
        let evaluations: Vec<Evaluation> = rows
            .iter()
            .filter_map(|r| r.result.as_ref().ok().cloned())
            .collect();
        let created: std::collections::HashSet<String> = rt
            .block_on(monitor.record(&evaluations, &config.run_id))
            .map_err(|e| BatchError::Failed(format!("cannot record the signals and tasks: {e}")))?
            .into_iter()
            .collect();
        for r in &rows {
            outcome.loans += 1;
            match &r.result {
                Ok(e) => {
                    tally.add(e);
                    policies_run.insert(e.monitoring.label());
                    outcome.evaluated += 1;
                    for s in &e.signals {
                        outcome.signals[s.severity as usize] += 1;
                    }
                    *levels.entry(e.level.code.clone()).or_default() += 1;
                    outcome.tasks_due += e.tasks.len() as u64;
                    outcome.tasks_created += e
                        .tasks
                        .iter()
                        .filter(|t| created.contains(&t.task_id))
                        .count() as u64;
                }
                Err(errors) => {
                    tally.add_error();
                    outcome.errors += 1;
                    for f in errors {
                        errors_out
                            .write(Some(r.row), None, &r.household_id, &f.field, &f.message)
                            .map_err(|e| {
                                BatchError::Failed(format!("cannot write the errors file: {e}"))
                            })?;
                    }
                }
            }
        }
        signals_out.write(signal_frame(&rows)?)?;
        tasks_out.write(task_frame(&rows, &created)?)?;
        progress.inc(n as u64);
    }
    progress.finish_and_clear();
    match reader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(BatchError::Failed(format!("cannot read the book: {e}"))),
        Err(_) => return Err(BatchError::Failed("the book reader stopped".into())),
    }
    signals_out.finish(&config.output)?;
    tasks_out.finish(&config.tasks)?;
    errors_out
        .finish()
        .map_err(|e| BatchError::Failed(format!("cannot write the errors file: {e}")))?;
    let mut levels: Vec<(String, u64)> = levels.into_iter().collect();
    levels.sort();
    outcome.levels = levels;
    if let Some(path) = &config.report {
        let tasks = rt
            .block_on(monitor.stored_tasks(tally.institutions.iter().cloned().collect()))
            .map_err(|e| BatchError::Failed(format!("cannot read the stored tasks: {e}")))?;
        let tasks = monitor_report::task_figures(&tasks, config.as_of);
        let figures_path = figures_path(path);
        monitor_report::write_figures(&figures_path, &monitor_report::figures(&tally, &tasks))
            .map_err(BatchError::Failed)?;
        let as_of = config.as_of.format("%Y-%m-%d").to_string();
        let policies: Vec<String> = policies_run.into_iter().collect();
        let heading = Heading {
            as_of: &as_of,
            run_id: &config.run_id,
            policies: &policies,
        };
        let html = monitor_report::render(&heading, &tally, &tasks)
            .map_err(|e| BatchError::Failed(format!("cannot draw the dashboard: {e}")))?;
        std::fs::write(path, html)
            .map_err(|e| BatchError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(outcome)
}

fn signal_frame(rows: &[LoanRow]) -> Result<DataFrame, BatchError> {
    let mut cols: Vec<Vec<Option<String>>> =
        vec![Vec::with_capacity(rows.len()); SIGNAL_COLUMNS.len()];
    for r in rows {
        let mut v: Vec<Option<String>> = vec![None; SIGNAL_COLUMNS.len()];
        v[0] = Some(r.row.to_string());
        v[1] = Some(r.loan_id.clone());
        v[2] = Some(r.household_id.clone());
        match &r.result {
            Ok(e) => {
                let count = |s: decision_core::model::monitoring::Severity| {
                    e.signals
                        .iter()
                        .filter(|x| x.severity == s)
                        .count()
                        .to_string()
                };
                use decision_core::model::monitoring::Severity;
                v[3] = Some(e.institution.clone());
                v[4] = Some(e.branch.clone());
                v[5] = Some(e.product.clone());
                v[6] = Some(e.level.code.clone());
                v[7] = Some(e.score.to_string());
                v[8] = Some(e.grade.clone());
                v[9] = e.origination_grade.clone();
                v[10] = e.grade_notches_down.map(|n| n.to_string());
                v[11] = Some(count(Severity::Red));
                v[12] = Some(count(Severity::Orange));
                v[13] = Some(count(Severity::Yellow));
                v[14] = Some(
                    e.signals
                        .iter()
                        .map(|s| s.code.as_str())
                        .collect::<Vec<_>>()
                        .join(";"),
                );
                v[15] = Some(
                    e.signals
                        .iter()
                        .map(|s| s.signal_id.as_str())
                        .collect::<Vec<_>>()
                        .join(";"),
                );
                v[16] = Some(e.monitoring.label());
            }
            Err(errors) => {
                v[6] = Some(ERROR.to_string());
                v[17] = Some(
                    errors
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
            }
        }
        for (c, x) in v.into_iter().enumerate() {
            cols[c].push(x);
        }
    }
    frame(SIGNAL_COLUMNS, cols)
}

fn task_frame(
    rows: &[LoanRow],
    created: &std::collections::HashSet<String>,
) -> Result<DataFrame, BatchError> {
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); TASK_COLUMNS.len()];
    for r in rows {
        let Ok(e) = &r.result else { continue };
        for t in &e.tasks {
            let v = [
                r.row.to_string(),
                t.task_id.clone(),
                e.loan_id.clone(),
                e.household_id.clone(),
                e.institution.clone(),
                e.branch.clone(),
                e.product.clone(),
                e.level.code.clone(),
                t.rule_id.clone(),
                t.task.name().to_string(),
                t.period.clone(),
                t.due_on.clone(),
                created.contains(&t.task_id).to_string(),
            ];
            for (c, x) in v.into_iter().enumerate() {
                cols[c].push(Some(x));
            }
        }
    }
    frame(TASK_COLUMNS, cols)
}

/// A frame of text columns `names`.
pub fn frame(names: &[&str], cols: Vec<Vec<Option<String>>>) -> Result<DataFrame, BatchError> {
    let height = cols.first().map_or(0, Vec::len);
    DataFrame::new(
        height,
        names
            .iter()
            .zip(cols)
            .map(|(n, c)| Column::new((*n).into(), c))
            .collect(),
    )
    .map_err(|e| BatchError::Failed(format!("cannot build an output chunk: {e}")))
}

enum Inner {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<std::fs::File>>),
    Csv(polars::io::csv::write::BatchedWriter<std::fs::File>),
}

/// A batched CSV or Parquet writer of text columns (the run's, and the
/// I/O floor's of `tools/bench-monitor.sh`).
pub struct Writer(Inner);

impl Writer {
    pub fn create(path: &Path, format: FileFormat, columns: &[&str]) -> Result<Writer, BatchError> {
        let fail =
            |e: PolarsError| BatchError::Failed(format!("cannot write {}: {e}", path.display()));
        let file = std::fs::File::create(path)
            .map_err(|e| BatchError::Failed(format!("cannot write {}: {e}", path.display())))?;
        let schema: Schema = columns
            .iter()
            .map(|c| Field::new((*c).into(), DataType::String))
            .collect();
        Ok(Writer(match format {
            FileFormat::Parquet => Inner::Parquet(Box::new(
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Snappy)
                    .batched(&schema)
                    .map_err(fail)?,
            )),
            FileFormat::Csv => Inner::Csv(
                CsvWriter::new(file)
                    .include_header(true)
                    .batched(&schema)
                    .map_err(fail)?,
            ),
        }))
    }

    pub fn write(&mut self, df: DataFrame) -> Result<(), BatchError> {
        let r = match &mut self.0 {
            Inner::Parquet(w) => w.write_batch(&df),
            Inner::Csv(w) => w.write_batch(&df),
        };
        r.map_err(|e| BatchError::Failed(format!("cannot write an output chunk: {e}")))
    }

    pub fn finish(self, path: &Path) -> Result<(), BatchError> {
        let r = match self.0 {
            Inner::Parquet(w) => w.finish().map(|_| ()),
            Inner::Csv(mut w) => w.finish(),
        };
        r.and_then(|()| Ok(std::fs::File::open(path)?.sync_all()?))
            .map_err(|e| BatchError::Failed(format!("cannot finish {}: {e}", path.display())))
    }
}
