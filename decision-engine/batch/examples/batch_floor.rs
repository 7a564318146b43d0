//! The I/O floor of a batch run, for `tools/bench-batch.sh`: polars reads
//! the household file exactly as `decision-engine batch` does (same reader,
//! every column as text, same chunks) and writes a decisions file of the
//! same shape (same columns, one row per input row, values of the same
//! length), but decides nothing and writes no traces.
//!
//!   cargo run --release --example batch_floor -- INPUT OUTPUT

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::sync_channel;

use decision_batch::row::{Decided, RowResult};
use decision_batch::{FileFormat, input, output};
use decision_core::Outcome;
use rust_decimal::Decimal;

fn main() -> Result<(), String> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input_path, output_path] = &args[..] else {
        return Err("usage: batch_floor INPUT OUTPUT".into());
    };
    let format = FileFormat::of(input_path).ok_or("INPUT must end in .csv or .parquet")?;
    let out_format = FileFormat::of(output_path).unwrap_or(FileFormat::Parquet);
    let started = std::time::Instant::now();
    let input = input::open(input_path, format)?;
    let household = input.columns.iter().position(|c| c == "household_id");
    let village = input.columns.iter().position(|c| c == "village_code");
    let (Some(household), Some(village)) = (household, village) else {
        return Err("INPUT needs household_id and village_code".into());
    };
    let (tx, rx) = sync_channel(1);
    let reader = input.stream(16384, tx)?;
    let mut writer = output::DecisionsWriter::create(
        output_path,
        out_format,
        "farmer-credit-default@2026.1".into(),
        "farmer-scorecard@2026.1".into(),
    )
    .map_err(|e| e.to_string())?;
    // Values that vary by row as real ones do, so the writer compresses
    // comparable columns.
    let decided = |row: u64| Decided {
        decision_id: format!("dec_0123456789abcdef_{row}"),
        outcome: [Outcome::Approve, Outcome::Refer, Outcome::Decline][(row % 3) as usize],
        score: Decimal::from(480 + row % 240),
        grade: ["AAA", "AA", "A", "B", "C"][(row % 5) as usize].into(),
        limit: Decimal::from(5000 + (row % 296) * 1000),
        annual_rate: Decimal::from_str("0.0345")
            .ok()
            .map(|r| r + Decimal::new((row % 300) as i64, 4)),
        reason_codes: [
            "SC01;SC02;SC08;SC09",
            "R102;SC05;SC03;SC02",
            "F303;SC03;SC04;SC05;SC07",
        ][(row % 3) as usize]
            .into(),
        primary_reason: None,
    };
    let mut next_row = 1u64;
    for df in rx {
        let cells = input::text_columns(&df).map_err(|e| e.to_string())?;
        let rows: Vec<RowResult> = (0..df.height())
            .map(|i| {
                let row = next_row + i as u64;
                RowResult {
                    row,
                    household_id: cells[household][i].unwrap_or("").to_string(),
                    village_code: cells[village][i].unwrap_or("").to_string(),
                    result: Ok(decided(row)),
                }
            })
            .collect();
        next_row += rows.len() as u64;
        writer.write(&rows).map_err(|e| e.to_string())?;
    }
    reader
        .join()
        .map_err(|_| "the reader panicked")?
        .map_err(|e| e.to_string())?;
    writer.finish(output_path).map_err(|e| e.to_string())?;
    eprintln!(
        "floor: {} rows in {:.2} s",
        next_row - 1,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
