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
    Ok(Input { frame, columns })
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
