//! Whole-village pre-credit (整村授信): every household of a file decided
//! by the same engine path as an online pre-review, in one run.
//!
//! Data flows one way, in three stages that overlap:
//! 1. [`input`]: polars streams the file in chunks, every cell as text;
//! 2. rows are checked and evaluated on all cores ([`row`], rayon), a frame
//!    of trace lines compressed per few hundred rows;
//! 3. one writer thread appends the decisions ([`output`]), the errors, the
//!    trace frames ([`traces`]) and tallies the [`summary`], in input order.
//!
//! The run is recorded in the decision store (its batch record names the
//! versions, the files and the trace index; the trace file's format is
//! `decision_store::traces`), so `decision-engine explain` and GetDecision
//! find any of its decisions later, through `decision_service::find`. A bad row never stops the run: it is
//! written as `ERROR` with its problems in the errors file.

#![forbid(unsafe_code)]

pub mod challenger;
pub mod columns;
pub mod funnel;
pub mod input;
pub mod monitor;
pub mod monitor_report;
pub mod output;
mod pipeline;
pub mod report;
pub mod review_report;
pub mod row;
pub mod shard;
pub mod simulate;
pub mod stability_report;
pub mod summary;

use pipeline::{Files, execute, move_into_place};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use decision_core::{FieldError, Policy, PolicySet, Slot};
use decision_service::{Pin, Policies, ServiceError, clock, policy::as_of_time};
use decision_store::{AnyStore, BatchRecord, BatchStatus, Location, Store};

/// CSV or Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileFormat::Csv => "CSV",
            FileFormat::Parquet => "Parquet",
        })
    }
}

impl FileFormat {
    /// The format a file name's extension names.
    pub fn of(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(FileFormat::Csv),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BatchConfig {
    pub input: PathBuf,
    pub output: PathBuf,
    pub input_format: Option<FileFormat>,
    pub output_format: Option<FileFormat>,
    pub institution: String,
    pub product: String,
    /// RFC 3339; empty: now.
    pub as_of: String,
    /// (kind, id, version).
    pub pins: Vec<(String, String, String)>,
    pub data_dir: PathBuf,
    /// A PostgreSQL store shared with the servers; `None`: the SQLite
    /// store in `data_dir`.
    pub store: Option<String>,
    pub policy_dir: Option<PathBuf>,
    /// Default: `<output>.errors.csv`.
    pub errors: Option<PathBuf>,
    /// Default: `<output>.<batch id>.traces.zst`.
    pub traces: Option<PathBuf>,
    pub summary: Option<PathBuf>,
    pub report: Option<PathBuf>,
    /// Input columns to skip.
    pub ignore_columns: Vec<String>,
    /// Rows read at a time.
    pub chunk_rows: usize,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
    /// Decide only this shard's rows (see [`shard`]).
    pub shard: Option<shard::Shard>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct BatchOutcome {
    pub batch_id: String,
    pub record: BatchRecord,
    pub summary: summary::Summary,
    pub elapsed: std::time::Duration,
}

/// Why a run did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The input file or the arguments were refused before any row was
    /// evaluated; each problem names the column or argument.
    #[error("{}", describe(.0))]
    Input(Vec<FieldError>),
    /// The policy could not be loaded or resolved.
    #[error("{0}")]
    Policy(String),
    /// Reading, writing or recording failed.
    #[error("{0}")]
    Failed(String),
}

fn describe(errors: &[FieldError]) -> String {
    let mut s = format!(
        "the input was refused ({} problem{}), nothing was evaluated:",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        s.push_str(&format!("\n  {}: {}", e.field, e.message));
    }
    s
}

fn failed<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> BatchError + '_ {
    move |e| BatchError::Failed(format!("{what}: {e}"))
}

/// `path` with `suffix` appended to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

impl BatchConfig {
    pub fn errors_path(&self) -> PathBuf {
        self.errors
            .clone()
            .unwrap_or_else(|| beside(&self.output, ".errors.csv"))
    }

    /// The trace file of batch `batch_id`: named for the batch, so a run
    /// never replaces an earlier run's traces.
    pub fn traces_path(&self, batch_id: &str) -> PathBuf {
        self.traces
            .clone()
            .unwrap_or_else(|| beside(&self.output, &format!(".{batch_id}.traces.zst")))
    }

    /// Refuses outputs that would overwrite the input or each other, and a
    /// trace file that exists (traces are never overwritten).
    fn check_paths(&self, batch_id: &str) -> Result<(), Vec<FieldError>> {
        let same = same_file;
        let mut errors = Vec::new();
        let traces = self.traces_path(batch_id);
        let mut outputs: Vec<(&str, PathBuf)> = vec![
            ("--output", self.output.clone()),
            ("--errors", self.errors_path()),
            ("--traces", traces.clone()),
        ];
        if let Some(p) = &self.summary {
            outputs.push(("--summary", p.clone()));
        }
        if let Some(p) = &self.report {
            outputs.push(("--report", p.clone()));
        }
        for (i, (flag, path)) in outputs.iter().enumerate() {
            if same(path, &self.input) {
                errors.push(FieldError {
                    field: flag.to_string(),
                    message: format!(
                        "{} is the input file: expected another file",
                        path.display()
                    ),
                });
            }
            if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| same(p, path)) {
                errors.push(FieldError {
                    field: flag.to_string(),
                    message: format!("{} is also {other}: expected another file", path.display()),
                });
            }
        }
        if traces.exists() {
            errors.push(FieldError {
                field: "--traces".into(),
                message: format!(
                    "{} exists: a trace file is never overwritten; expected a new file",
                    traces.display()
                ),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A new batch id's hex digits (the id is `bat_` and them).
fn new_batch_hex(config: &BatchConfig) -> String {
    let id = clock::new_id(
        "bat",
        16,
        &[
            &config.input.to_string_lossy(),
            &config.output.to_string_lossy(),
        ],
    );
    id["bat_".len()..].to_string()
}

/// Runs a batch. File-level refusals write the errors file and return
/// [`BatchError::Input`]; row errors do not stop the run (see
/// [`BatchRecord::errors`]).
pub fn run(config: &BatchConfig) -> Result<BatchOutcome, BatchError> {
    let started = Instant::now();
    let input_format = match config
        .input_format
        .or_else(|| FileFormat::of(&config.input))
    {
        Some(f) => f,
        None => {
            return Err(refuse(
                config,
                vec![FieldError {
                    field: "--format".into(),
                    message: format!(
                        "cannot tell the format of {} from its extension; expected .csv or .parquet, or --format csv|parquet",
                        config.input.display()
                    ),
                }],
            ));
        }
    };
    let output_format = config
        .output_format
        .or_else(|| FileFormat::of(&config.output))
        .unwrap_or(FileFormat::Parquet);
    let policies = match &config.policy_dir {
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
    let policy = runtime
        .block_on(resolve(
            (&config.institution, &config.product, &config.as_of),
            &config.pins,
            Arc::new(policies),
            store.clone(),
        ))
        .map_err(|e| match e {
            BatchError::Input(errors) => refuse(config, errors),
            other => other,
        })?;

    let input = input::open(&config.input, input_format).map_err(|message| {
        refuse(
            config,
            vec![FieldError {
                field: "input".into(),
                message,
            }],
        )
    })?;
    let columns = columns::plan(&input.columns, &policy.schema, &config.ignore_columns)
        .map_err(|errors| refuse(config, errors))?;
    let inexact = columns::inexact(
        &columns,
        &input.columns,
        &input.float_columns,
        &policy.schema,
    );
    if !inexact.is_empty() {
        return Err(refuse(config, inexact));
    }
    let lines = match input_format {
        FileFormat::Csv => input::line_problems(&config.input).map_err(BatchError::Failed)?,
        FileFormat::Parquet => input::Lines::default(),
    };
    let names = input.columns.clone();

    let batch_hex = new_batch_hex(config);
    let batch_id = format!("bat_{batch_hex}");
    config
        .check_paths(&batch_id)
        .map_err(|errors| refuse(config, errors))?;
    let mut record = BatchRecord {
        batch_id: batch_id.clone(),
        status: BatchStatus::Running,
        started_at: clock::now_micros(),
        finished_at: String::new(),
        institution: config.institution.clone(),
        product: config.product.clone(),
        as_of: config.as_of.clone(),
        versions: policy.versions.clone(),
        input: absolute(&config.input),
        output: absolute(&config.output),
        errors_file: absolute(&config.errors_path()),
        trace_file: absolute(&config.traces_path(&batch_id)),
        trace_sha256: String::new(),
        frame_first_rows: Vec::new(),
        frame_offsets: Vec::new(),
        rows: 0,
        approved: 0,
        referred: 0,
        declined: 0,
        errors: 0,
        failure: String::new(),
        shard: config.shard.map(|s| s.to_string()).unwrap_or_default(),
    };
    // Ctrl-C or SIGTERM stops the run between chunks; it then ends like
    // any failed run: recorded as failed, partial files removed. Registered
    // before anything of the run is written.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the run winds down ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, interrupted.clone());
        let _ = signal_hook::flag::register(signal, interrupted.clone());
    }
    runtime
        .block_on(store.put_batch(record.clone()))
        .map_err(failed("decision store"))?;

    // Written under names of this run, moved into place when it finishes.
    let partial = format!(".{batch_id}.partial");
    let files = Files {
        output: config.output.clone(),
        output_tmp: beside(&config.output, &partial),
        errors: config.errors_path(),
        errors_tmp: beside(&config.errors_path(), &partial),
        traces: config.traces_path(&batch_id),
        traces_tmp: beside(&config.traces_path(&batch_id), &partial),
    };
    // A panic (a bug) ends the run like any failure: recorded, no files.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute(
            config,
            input,
            (&columns, &lines, &names),
            &policy,
            (&batch_hex, &interrupted),
            output_format,
            &files,
            (
                policy.version(Slot::Ruleset).label(),
                policy.version(Slot::Scorecard).label(),
            ),
        )
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(BatchError::Failed(format!(
            "internal error (a bug): {what}"
        )))
    });
    record.finished_at = clock::now_micros();
    match result {
        Ok((summary, (first_rows, offsets, trace_sha256))) => {
            record.status = BatchStatus::Finished;
            record.frame_first_rows = first_rows;
            record.frame_offsets = offsets;
            record.trace_sha256 = trace_sha256;
            record.rows = summary.total.households;
            record.approved = summary.total.approved;
            record.referred = summary.total.referred;
            record.declined = summary.total.declined;
            record.errors = summary.total.errors;
            // The traces first, then the record that makes them findable,
            // then the files a reader acts on.
            let finish = || -> Result<(), BatchError> {
                // A link fails if the name exists: traces are never replaced.
                std::fs::hard_link(&files.traces_tmp, &files.traces).map_err(|e| {
                    BatchError::Failed(format!(
                        "cannot move {} to {}: {e}",
                        files.traces_tmp.display(),
                        files.traces.display()
                    ))
                })?;
                let _ = std::fs::remove_file(&files.traces_tmp);
                runtime
                    .block_on(store.put_batch(record.clone()))
                    .map_err(failed("decision store"))?;
                move_into_place(&files.errors_tmp, &files.errors)?;
                move_into_place(&files.output_tmp, &files.output)
            };
            let finished = finish();
            if let Err(e) = &finished {
                for tmp in [&files.output_tmp, &files.errors_tmp, &files.traces_tmp] {
                    let _ = std::fs::remove_file(tmp);
                }
                record.status = BatchStatus::Failed;
                record.failure = e.to_string();
                let _ = runtime.block_on(store.put_batch(record.clone()));
            }
            store.close();
            finished?;
            if let Some(path) = &config.summary {
                summary
                    .write(path)
                    .map_err(failed("cannot write the summary"))?;
            }
            if let Some(path) = &config.report {
                report::write(path, &record, &summary)
                    .map_err(failed("cannot write the report"))?;
            }
            Ok(BatchOutcome {
                batch_id: record.batch_id.clone(),
                record,
                summary,
                elapsed: started.elapsed(),
            })
        }
        Err(e) => {
            record.status = BatchStatus::Failed;
            record.failure = e.to_string();
            for tmp in [&files.output_tmp, &files.errors_tmp, &files.traces_tmp] {
                let _ = std::fs::remove_file(tmp);
            }
            let batch_id = record.batch_id.clone();
            let _ = runtime.block_on(store.put_batch(record));
            store.close();
            Err(match e {
                BatchError::Failed(m) => {
                    BatchError::Failed(format!("batch {batch_id} failed (recorded as failed): {m}"))
                }
                other => other,
            })
        }
    }
}

/// The policy the run uses: resolved once, as an online pre-review of the
/// institution and product at `as_of` with the pins would resolve it.
pub(crate) async fn resolve(
    (institution, product, as_of): (&str, &str, &str),
    pins: &[(String, String, String)],
    policies: Arc<PolicySet>,
    store: Arc<AnyStore>,
) -> Result<Arc<Policy>, BatchError> {
    let mut errors = Vec::new();
    if institution.trim().is_empty() {
        errors.push(FieldError {
            field: "--institution".into(),
            message: "must not be empty: expected the institution (法人机构) code".into(),
        });
    }
    if !errors.is_empty() {
        return Err(BatchError::Input(errors));
    }
    let refused = |e: ServiceError| match e {
        ServiceError::Invalid { summary, .. } => BatchError::Input(vec![FieldError {
            field: "arguments".into(),
            message: summary,
        }]),
        other => BatchError::Policy(other.to_string()),
    };
    let policies = Policies::new(policies, store)
        .await
        .map_err(failed("decision store"))?;
    let at = as_of_time(as_of).map_err(refused)?;
    let pins: Vec<Pin> = pins
        .iter()
        .map(|(kind, id, version)| Pin {
            kind: kind.clone(),
            id: id.clone(),
            version: version.clone(),
        })
        .collect();
    policies
        .resolve(institution, product, at, &pins)
        .await
        .map_err(refused)
}

/// Whether two paths name one file: the same inode when both exist, else
/// the same canonical directory and name (`..` and links resolved).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return x.dev() == y.dev() && x.ino() == y.ino();
    }
    let canonical = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::canonicalize(&dir)
            .unwrap_or(dir)
            .join(p.file_name().unwrap_or_default())
    };
    canonical(a) == canonical(b)
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Writes the file-level problems to the errors file; nothing else is
/// written.
fn refuse(config: &BatchConfig, errors: Vec<FieldError>) -> BatchError {
    let errors_path = config.errors_path();
    let mut others = vec![config.input.clone(), config.output.clone()];
    others.extend(config.traces.clone());
    others.extend(config.summary.clone());
    others.extend(config.report.clone());
    if others.iter().any(|p| same_file(p, &errors_path))
        || errors_path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            // Trace files of this release, and of format 1.
            n.ends_with(".traces.zst") || n.ends_with(".traces.jsonl.zst")
        })
    {
        // Never write over the input or another file: stderr only.
        return BatchError::Input(errors);
    }
    let write = || -> std::io::Result<()> {
        let mut w = output::ErrorsWriter::create(&config.errors_path())?;
        for e in &errors {
            w.write(None, None, "", &e.field, &e.message)?;
        }
        w.finish()
    };
    if let Err(e) = write() {
        return BatchError::Failed(format!(
            "{}\nand the errors file {} could not be written: {e}",
            describe(&errors),
            config.errors_path().display()
        ));
    }
    BatchError::Input(errors)
}
