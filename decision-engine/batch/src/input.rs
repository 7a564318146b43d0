//! Reading the household file with polars' streaming engine: CSV or
//! Parquet, every column read as text (the engine parses each cell itself,
//! exactly, and names the column when a cell is wrong), delivered in
//! bounded chunks in file order.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;

use polars::prelude::*;

use super::FileFormat;

/// An input file opened lazily: its columns are known, nothing is read yet.
pub struct Input {
    frame: LazyFrame,
    pub columns: Vec<String>,
    /// Columns stored as binary floating point (Parquet): their values are
    /// not exact decimals.
    pub float_columns: Vec<String>,
}

/// Opens `path`; the error says what is wrong with the file.
pub fn open(path: &Path, format: FileFormat) -> Result<Input, String> {
    let shown = path.display();
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read the input file {shown}: {e}"))?;
    if metadata.len() == 0 {
        return Err(format!(
            "the input file {shown} is empty: expected a header row naming household_id, village_code and the feature columns"
        ));
    }
    let text = path
        .to_str()
        .ok_or_else(|| format!("the input path {shown} is not valid UTF-8"))?;
    let opened = match format {
        FileFormat::Csv => LazyCsvReader::new(PlRefPath::new(text))
            .with_has_header(true)
            // No type inference: every column is text.
            .with_infer_schema_length(Some(0))
            // A line with more fields than the header is reported as a bad
            // row (see `ragged_rows`), not a reason to stop the run.
            .with_truncate_ragged_lines(true)
            // A cell that is not UTF-8 is reported as a bad row (see
            // `line_problems`), not a reason to stop the run.
            .with_encoding(CsvEncoding::LossyUtf8)
            .with_glob(false)
            .finish(),
        FileFormat::Parquet => LazyFrame::scan_parquet(
            PlRefPath::new(text),
            ScanArgsParquet {
                glob: false,
                ..ScanArgsParquet::default()
            },
        ),
    };
    let mut frame = opened.map_err(|e| format!("cannot read {shown} as {format}: {e}"))?;
    let schema = frame
        .collect_schema()
        .map_err(|e| format!("cannot read {shown} as {format}: {e}"))?;
    let columns: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    if columns.is_empty() {
        return Err(format!("{shown} has no columns: expected a header row"));
    }
    let float_columns = schema
        .iter()
        .filter(|(_, t)| t.is_float())
        .map(|(n, _)| n.to_string())
        .collect();
    let needs_cast = schema.iter_values().any(|t| t != &DataType::String);
    if needs_cast {
        // Parquet columns of other types: booleans become true/false,
        // numbers their shortest exact decimal text.
        frame = frame.select(
            columns
                .iter()
                .map(|c| col(c.as_str()).cast(DataType::String))
                .collect::<Vec<_>>(),
        );
    }
    Ok(Input {
        frame,
        columns,
        float_columns,
    })
}

impl Input {
    /// Streams the file in chunks of about `chunk_rows` rows, in order, into
    /// `sink`, on a thread of its own; ends early when the receiver hangs up.
    pub fn stream(
        self,
        chunk_rows: usize,
        sink: SyncSender<DataFrame>,
    ) -> Result<JoinHandle<PolarsResult<()>>, String> {
        let callback = PlanCallback::new(move |df: DataFrame| {
            // `true` stops the query: nobody is listening any more.
            Ok(sink.send(df).is_err())
        });
        let plan = self
            .frame
            .sink_batches(callback, true, NonZeroUsize::new(chunk_rows.max(1)))
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("batch-reader".into())
            .spawn(move || plan.collect_with_engine(Engine::Streaming).map(|_| ()))
            .map_err(|e| format!("cannot start the reader thread: {e}"))
    }
}

/// A chunk's columns as text cells, column-major.
pub fn text_columns(df: &DataFrame) -> PolarsResult<Vec<Vec<Option<&str>>>> {
    df.columns()
        .iter()
        .map(|c| Ok(c.str()?.iter().collect()))
        .collect()
}

/// What is wrong with a CSV line as a line (before any cell is parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineProblem {
    /// Another number of fields than the header has.
    Fields(usize),
    /// An empty line (polars reads it as a row of nulls).
    Empty,
    /// The cell at this position is not UTF-8 text.
    NotUtf8(usize),
}

/// What the pre-scan of a CSV file found: rows that cannot be read as rows,
/// and where each row starts in the file.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    pub problems: std::collections::HashMap<u64, LineProblem>,
    /// (first row, extra lines before it): a quoted line break moves every
    /// later row one line further down.
    shifts: Vec<(u64, u64)>,
    /// Rows polars will read (empty lines included).
    rows: u64,
    csv: bool,
}

impl Lines {
    /// How many rows the CSV file has; `None` for Parquet.
    pub fn rows(&self) -> Option<u64> {
        self.csv.then_some(self.rows)
    }

    /// The file line (the header is line 1) where `row` starts; `None` for
    /// Parquet.
    pub fn line_of(&self, row: u64) -> Option<u64> {
        if !self.csv {
            return None;
        }
        let i = self.shifts.partition_point(|&(first, _)| first <= row);
        let shift = i.checked_sub(1).map_or(0, |i| self.shifts[i].1);
        Some(row + 1 + shift)
    }
}

/// CSV rows (1 = the first after the header) that cannot be read as a row
/// of the header's columns. polars pads short lines with nulls, cuts long
/// ones and replaces bytes that are not UTF-8, so these are found here, in
/// one quick pass with the csv crate (same RFC 4180 quoting, rows ended by
/// `\n` as polars ends them), and refused row by row.
pub fn line_problems(path: &Path) -> Result<Lines, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let header = reader
        .byte_headers()
        .map_err(|e| format!("cannot read the header of {}: {e}", path.display()))?;
    let expected = header.len();
    // Whether the file's last line ends with a line break (the reader's
    // line count then moves past it).
    let (length, last_byte) = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let length = f.seek(SeekFrom::End(0)).unwrap_or(0);
        let mut last = [b'\n'];
        if length > 0 {
            let _ = f
                .seek(SeekFrom::End(-1))
                .and_then(|_| f.read_exact(&mut last));
        }
        (length, last[0])
    };
    // The line the reader stands on after the previous record.
    let mut previous_end = reader.position().line();
    let mut ragged = std::collections::HashMap::new();
    let (mut shift, mut shifts) = (0u64, Vec::new());
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let end = reader.position();
                let terminated = !(end.byte() == length && last_byte != b'\n');
                let breaks: u64 = record
                    .iter()
                    .map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64)
                    .sum();
                // Lines this read consumed, less the record's own: the
                // empty lines before it, which the csv crate skips and
                // polars reads as rows.
                let own = breaks + u64::from(terminated);
                let empty = (end.line() - previous_end).saturating_sub(own);
                for _ in 0..empty {
                    row += 1;
                    ragged.insert(row, LineProblem::Empty);
                }
                row += 1;
                let blank = record.len() == 1 && matches!(record.get(0), Some(b"" | b"\r"));
                if blank && expected > 1 {
                    // A CRLF file's empty line.
                    ragged.insert(row, LineProblem::Empty);
                } else if record.len() != expected {
                    ragged.insert(row, LineProblem::Fields(record.len()));
                } else if let Some(column) =
                    record.iter().position(|f| std::str::from_utf8(f).is_err())
                {
                    ragged.insert(row, LineProblem::NotUtf8(column));
                }
                previous_end = end.line();
                if breaks > 0 {
                    shift += breaks;
                    shifts.push((row + 1, shift));
                }
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
    }
    // Empty lines at the end, which polars also reads as rows.
    for _ in previous_end..reader.position().line() {
        row += 1;
        ragged.insert(row, LineProblem::Empty);
    }
    Ok(Lines {
        problems: ragged,
        shifts,
        rows: row,
        csv: true,
    })
}
