//! The I/O floor of a monitoring run, for `tools/bench-monitor.sh`: polars
//! reads the loan book exactly as `decision-engine monitor` does (same
//! reader, every column as text, same chunks) and writes a signals file and
//! a tasks file of the same shape (same columns and writer, one signals row
//! per loan and about as many task rows as the run asks for, values of the
//! same length), but evaluates nothing and records nothing.
//!
//!   cargo run --release --example monitor_floor -- BOOK SIGNALS TASKS

use std::path::PathBuf;
use std::sync::mpsc::sync_channel;

use decision_batch::monitor::{SIGNAL_COLUMNS, TASK_COLUMNS, Writer, frame};
use decision_batch::{FileFormat, input};

/// Loans read at a time: the run's default.
const CHUNK: usize = 20_000;

// Each row reads several columns by its index.
#[allow(clippy::needless_range_loop)]
fn main() -> Result<(), String> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [book, signals, tasks] = &args[..] else {
        return Err("usage: monitor_floor BOOK SIGNALS TASKS".into());
    };
    let format = FileFormat::of(book).ok_or("BOOK must end in .csv or .parquet")?;
    let of = |p: &PathBuf| FileFormat::of(p).unwrap_or(FileFormat::Parquet);
    let started = std::time::Instant::now();
    let input = input::open(book, format)?;
    let column = |name: &str| {
        input
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or(format!("BOOK needs {name}"))
    };
    let keys = [
        column("loan_id")?,
        column("household_id")?,
        column("institution")?,
        column("branch")?,
        column("product")?,
    ];
    let (tx, rx) = sync_channel(2);
    let reader = input.stream(CHUNK, tx)?;
    let mut signals_out =
        Writer::create(signals, of(signals), SIGNAL_COLUMNS).map_err(|e| e.to_string())?;
    let mut tasks_out =
        Writer::create(tasks, of(tasks), TASK_COLUMNS).map_err(|e| e.to_string())?;
    let levels = ["L1_INTENSIVE", "L2_ATTENTION", "L3_WATCH", "L4_NORMAL"];
    let grades = ["AAA", "AA", "A", "B", "C"];
    let mut next_row = 1u64;
    for df in rx {
        let cells = input::text_columns(&df).map_err(|e| e.to_string())?;
        let n = df.height();
        let mut s: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(n); SIGNAL_COLUMNS.len()];
        let mut t: Vec<Vec<Option<String>>> = vec![Vec::new(); TASK_COLUMNS.len()];
        for i in 0..n {
            let row = next_row + i as u64;
            let key = |k: usize| cells[keys[k]][i].map(str::to_string);
            let level = levels[(row % 13).min(3) as usize];
            // About one loan in four has a signal, one in three a task, as
            // the generated books have.
            let signalled = row.is_multiple_of(4);
            let values = [
                Some(row.to_string()),
                key(0),
                key(1),
                key(2),
                key(3),
                key(4),
                Some(level.to_string()),
                Some(format!("{}.25", 480 + row % 240)),
                Some(grades[(row % 5) as usize].to_string()),
                Some(grades[((row + 1) % 5) as usize].to_string()),
                Some((row % 3).to_string()),
                Some(u64::from(row.is_multiple_of(13)).to_string()),
                Some(u64::from(row.is_multiple_of(17)).to_string()),
                Some(u64::from(signalled).to_string()),
                signalled.then(|| "W_SCORE_DROP".to_string()),
                signalled.then(|| format!("sig-{:016x}", row.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
                Some("farmer-post-loan-default@2026.1".to_string()),
                None,
            ];
            for (c, v) in values.into_iter().enumerate() {
                s[c].push(v);
            }
            if row.is_multiple_of(3) {
                let task = [
                    Some(row.to_string()),
                    Some(format!(
                        "task-{:016x}",
                        row.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    )),
                    key(0),
                    key(1),
                    key(2),
                    key(3),
                    key(4),
                    Some(level.to_string()),
                    Some("T_WATCH_PHONE".to_string()),
                    Some("phone_visit".to_string()),
                    Some("2026-Q4".to_string()),
                    Some("2026-12-30".to_string()),
                    Some("true".to_string()),
                ];
                for (c, v) in task.into_iter().enumerate() {
                    t[c].push(v);
                }
            }
        }
        next_row += n as u64;
        signals_out
            .write(frame(SIGNAL_COLUMNS, s).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        tasks_out
            .write(frame(TASK_COLUMNS, t).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    reader
        .join()
        .map_err(|_| "the reader panicked")?
        .map_err(|e| e.to_string())?;
    signals_out.finish(signals).map_err(|e| e.to_string())?;
    tasks_out.finish(tasks).map_err(|e| e.to_string())?;
    eprintln!(
        "floor: {} loans in {:.2} s",
        next_row - 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
