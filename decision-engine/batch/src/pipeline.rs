//! The three overlapping stages of a run: polars reads chunks (see
//! [`super::input`]), rows are evaluated on all cores with their trace
//! frames compressed, and one writer thread writes the decisions, errors
//! and traces in input order and tallies the summary.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

use rayon::prelude::*;

use decision_core::FieldError;
use decision_core::Policy;

use super::row::{self, Context, RowCells, RowResult};
use super::{BatchConfig, BatchError, FileFormat, columns, failed, input, output, summary};
use decision_store::traces;

/// The run's files: each written under a `.partial` name first.
pub(super) struct Files {
    pub(super) output: PathBuf,
    pub(super) output_tmp: PathBuf,
    pub(super) errors: PathBuf,
    pub(super) errors_tmp: PathBuf,
    pub(super) traces: PathBuf,
    pub(super) traces_tmp: PathBuf,
}

/// Evaluated rows of one chunk, with their compressed trace frames.
struct Evaluated {
    rows: Vec<RowResult>,
    /// (first row, compressed frame).
    frames: Vec<(u64, Vec<u8>)>,
}

/// First rows, offsets, and the trace file's sha256.
pub(super) type FrameIndex = (Vec<u64>, Vec<u64>, String);

/// The error row of a line that cannot be read as a row.
pub(crate) fn line_problem(problem: input::LineProblem, names: &[String]) -> FieldError {
    let expected = names.len();
    match problem {
        input::LineProblem::Fields(found) => FieldError {
            field: "row".into(),
            message: format!(
                "has {found} fields where the header has {expected}: expected one value per column (a line cut short, or a comma in an unquoted value?)"
            ),
        },
        input::LineProblem::Empty => FieldError {
            field: "row".into(),
            message: format!("is an empty line: expected {expected} values, one per column"),
        },
        input::LineProblem::NotUtf8(column) => FieldError {
            field: names.get(column).cloned().unwrap_or_else(|| "row".into()),
            message: "is not UTF-8 text: expected the file saved as CSV UTF-8 (a file saved as GBK or GB18030 must be converted first)".into(),
        },
    }
}

/// A frame's rows, its first row, and its compressed trace lines.
type Frame = (Vec<RowResult>, u64, Vec<u8>);

#[allow(clippy::too_many_arguments)]
pub(super) fn execute(
    config: &BatchConfig,
    input: input::Input,
    (columns, lines, names): (&columns::Columns, &input::Lines, &[String]),
    policy: &Policy,
    (batch_hex, interrupted): (&str, &std::sync::atomic::AtomicBool),
    output_format: FileFormat,
    files: &Files,
    (ruleset_version, scorecard_version): (String, String),
) -> Result<(summary::Summary, FrameIndex), BatchError> {
    // The CSV pre-scan counted the rows; a Parquet run shows a spinner.
    // A shard decides a part of the rows the pre-scan counted: a spinner.
    let progress = progress_bar(
        config.progress,
        lines.rows().filter(|_| config.shard.is_none()),
    );
    let chunk_rows = config.chunk_rows.max(traces::FRAME_ROWS);

    let (chunk_tx, chunk_rx) = sync_channel(1);
    let reader = input
        .stream(chunk_rows, chunk_tx)
        .map_err(BatchError::Failed)?;
    let (done_tx, done_rx) = sync_channel::<Evaluated>(1);
    let grades = policy
        .grades
        .bands
        .iter()
        .map(|b| b.grade.clone())
        .collect();
    let writer = {
        let progress = progress.clone();
        let output_tmp = files.output_tmp.clone();
        let errors_tmp = files.errors_tmp.clone();
        let traces_tmp = files.traces_tmp.clone();
        let lines = lines.clone();
        std::thread::Builder::new()
            .name("batch-writer".into())
            .spawn(move || {
                write_results(
                    done_rx,
                    &output_tmp,
                    output_format,
                    &errors_tmp,
                    &traces_tmp,
                    &lines,
                    summary::Summary::new(grades),
                    (ruleset_version, scorecard_version),
                    progress,
                )
            })
            .map_err(failed("cannot start the writer thread"))?
    };

    let cx = Context {
        policy,
        institution: &config.institution,
        product: &config.product,
        batch_hex,
    };
    let evaluated = evaluate_chunks(
        &cx,
        (columns, lines, names),
        config.shard,
        chunk_rx,
        done_tx,
        interrupted,
    );
    // The writer ends when the evaluated chunks end; the reader when the
    // file ends or nobody listens.
    let written = writer
        .join()
        .map_err(|_| BatchError::Failed("the writer thread panicked".into()))?;
    let read = reader
        .join()
        .map_err(|_| BatchError::Failed("the reader thread panicked".into()))?;
    progress.finish_and_clear();
    read.map_err(|e| BatchError::Failed(format!("cannot read {}: {e}", config.input.display())))?;
    evaluated?;
    written
}

pub(super) fn move_into_place(tmp: &Path, path: &Path) -> Result<(), BatchError> {
    std::fs::rename(tmp, path).map_err(|e| {
        BatchError::Failed(format!(
            "cannot move {} to {}: {e}",
            tmp.display(),
            path.display()
        ))
    })
}

/// Stage 2: checks ids, evaluates every row on all cores, compresses the
/// trace frames, and hands each chunk on in order.
fn evaluate_chunks(
    cx: &Context,
    (columns, lines, names): (&columns::Columns, &input::Lines, &[String]),
    shard: Option<super::shard::Shard>,
    chunks: Receiver<polars::prelude::DataFrame>,
    done: std::sync::mpsc::SyncSender<Evaluated>,
    interrupted: &std::sync::atomic::AtomicBool,
) -> Result<(), BatchError> {
    // Household ids seen so far, by a 128-bit digest: 24 bytes a household
    // instead of the id itself (two ids sharing a digest: ~1e-26 odds).
    let mut seen: std::collections::HashMap<u128, u64> = std::collections::HashMap::new();
    let mut next_row: u64 = 1;
    for df in chunks {
        if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(BatchError::Failed(format!(
                "interrupted after {} rows; nothing of this run is kept but its record (status failed)",
                next_row - 1
            )));
        }
        let cells = input::text_columns(&df).map_err(failed("cannot read a chunk"))?;
        let height = df.height();
        let rows: Vec<RowCells> = (0..height)
            .filter(|&i| {
                shard.is_none_or(|s| {
                    let row = next_row + i as u64;
                    s.contains(
                        cells[columns.household_id][i],
                        !lines.problems.contains_key(&row),
                        row,
                    )
                })
            })
            .map(|i| {
                let row = next_row + i as u64;
                let household_id = cells[columns.household_id][i];
                let duplicate_of = household_id
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .and_then(|h| match seen.entry(id_digest(h)) {
                        std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            slot.insert(row);
                            None
                        }
                    });
                RowCells {
                    row,
                    household_id,
                    village_code: cells[columns.village_code][i],
                    features: columns
                        .features
                        .iter()
                        .map(|&(position, feature)| (feature, cells[position][i]))
                        .collect(),
                    duplicate_of,
                    unreadable: lines.problems.get(&row).map(|&p| line_problem(p, names)),
                }
            })
            .collect();
        next_row += height as u64;
        let frames: Vec<std::io::Result<Frame>> = rows
            .par_chunks(traces::FRAME_ROWS)
            .map(|frame| {
                let mut builder = traces::FrameBuilder::new();
                let results = frame
                    .iter()
                    .map(|cells| row::evaluate_row(cx, cells, &mut builder))
                    .collect::<Result<_, String>>()
                    .map_err(std::io::Error::other)?;
                Ok((results, frame[0].row, builder.finish()?))
            })
            .collect();
        let mut evaluated = Evaluated {
            rows: Vec::with_capacity(height),
            frames: Vec::with_capacity(frames.len()),
        };
        for f in frames {
            let (results, first_row, compressed) =
                f.map_err(failed("cannot write the trace file"))?;
            evaluated.rows.extend(results);
            evaluated.frames.push((first_row, compressed));
        }
        if done.send(evaluated).is_err() {
            // The writer stopped; its error is reported from its side.
            break;
        }
    }
    Ok(())
}

/// A household id's 128-bit digest: two SipHash-1-3 values under
/// different fixed keys (deterministic, unlike `RandomState`).
fn id_digest(id: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let half = |salt: u8| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// Stage 3: in input order, writes the decisions, errors and trace frames,
/// and tallies the summary.
#[allow(clippy::too_many_arguments)]
fn write_results(
    done: Receiver<Evaluated>,
    output: &Path,
    output_format: FileFormat,
    errors: &Path,
    traces: &Path,
    lines: &input::Lines,
    mut summary: summary::Summary,
    (ruleset_version, scorecard_version): (String, String),
    progress: indicatif::ProgressBar,
) -> Result<(summary::Summary, FrameIndex), BatchError> {
    let mut decisions =
        output::DecisionsWriter::create(output, output_format, ruleset_version, scorecard_version)
            .map_err(failed("cannot write the output"))?;
    let mut error_lines =
        output::ErrorsWriter::create(errors).map_err(failed("cannot write the errors file"))?;
    let mut trace_file =
        traces::TraceWriter::create(traces).map_err(failed("cannot write the trace file"))?;
    for chunk in done {
        decisions
            .write(&chunk.rows)
            .map_err(failed("cannot write the output"))?;
        for (first_row, frame) in &chunk.frames {
            trace_file
                .append(*first_row, frame)
                .map_err(failed("cannot write the trace file"))?;
        }
        for r in &chunk.rows {
            summary.add(r);
            if let Err(problems) = &r.result {
                for p in problems {
                    error_lines
                        .write(
                            Some(r.row),
                            lines.line_of(r.row),
                            &r.household_id,
                            &p.field,
                            &p.message,
                        )
                        .map_err(failed("cannot write the errors file"))?;
                }
            }
        }
        progress.inc(chunk.rows.len() as u64);
    }
    decisions
        .finish(output)
        .map_err(failed("cannot write the output"))?;
    error_lines
        .finish()
        .map_err(failed("cannot write the errors file"))?;
    let index = trace_file
        .finish()
        .map_err(failed("cannot write the trace file"))?;
    Ok((summary, index))
}

pub(crate) fn progress_bar(show: bool, total: Option<u64>) -> indicatif::ProgressBar {
    progress_bar_of(show, total, "households")
}

/// A progress bar counting `unit` (households, loans).
pub(crate) fn progress_bar_of(
    show: bool,
    total: Option<u64>,
    unit: &'static str,
) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = if total.is_some() {
        format!(
            "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit}  {{rate}}  ETA {{eta}}"
        )
    } else {
        format!("{{elapsed_precise}} {{spinner}} {{human_pos}} {unit}  {{rate}}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> ").with_key(
            "rate",
            move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let rate = format!("{:.0} {unit}/s", state.per_sec());
                let _ = std::fmt::Write::write_str(w, &rate);
            },
        ));
    }
    bar
}
