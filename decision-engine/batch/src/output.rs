//! The decisions file (Parquet or CSV, one row per input row, in input
//! order, every value a string as on the wire) and the errors file (CSV: row,
//! line, household, field, message).

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::FileFormat;
use super::row::RowResult;

/// The decisions file's columns, in order.
pub const COLUMNS: &[&str] = &[
    "row",
    "household_id",
    "village_code",
    "decision",
    "score",
    "grade",
    "limit",
    "annual_rate",
    "reason_codes",
    "ruleset_version",
    "scorecard_version",
    "decision_id",
    "error",
];

/// Written for a row that could not be decided.
pub const ERROR: &str = "ERROR";

enum Inner {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
    Csv(polars::io::csv::write::BatchedWriter<File>),
}

pub struct DecisionsWriter {
    inner: Inner,
    ruleset_version: String,
    scorecard_version: String,
}

fn schema() -> Schema {
    COLUMNS
        .iter()
        .map(|c| Field::new((*c).into(), DataType::String))
        .collect()
}

impl DecisionsWriter {
    /// `ruleset_version` and `scorecard_version` as `id@version`: one
    /// policy decides the whole run.
    pub fn create(
        path: &Path,
        format: FileFormat,
        ruleset_version: String,
        scorecard_version: String,
    ) -> PolarsResult<DecisionsWriter> {
        let file = File::create(path)?;
        let schema = schema();
        let inner = match format {
            FileFormat::Parquet => Inner::Parquet(Box::new(
                ParquetWriter::new(file)
                    .with_compression(ParquetCompression::Snappy)
                    .batched(&schema)?,
            )),
            FileFormat::Csv => {
                Inner::Csv(CsvWriter::new(file).include_header(true).batched(&schema)?)
            }
        };
        Ok(DecisionsWriter {
            inner,
            ruleset_version,
            scorecard_version,
        })
    }

    pub fn write(&mut self, rows: &[RowResult]) -> PolarsResult<()> {
        let df = self.frame(rows)?;
        match &mut self.inner {
            Inner::Parquet(w) => w.write_batch(&df),
            Inner::Csv(w) => w.write_batch(&df),
        }
    }

    /// Writes the footer (Parquet) and makes the file durable.
    pub fn finish(self, path: &Path) -> PolarsResult<()> {
        match self.inner {
            Inner::Parquet(w) => {
                w.finish()?;
            }
            Inner::Csv(mut w) => w.finish()?,
        }
        File::open(path)?.sync_all()?;
        Ok(())
    }

    fn frame(&self, rows: &[RowResult]) -> PolarsResult<DataFrame> {
        let n = rows.len();
        let mut row = Vec::with_capacity(n);
        let mut household = Vec::with_capacity(n);
        let mut village = Vec::with_capacity(n);
        let mut decision = Vec::with_capacity(n);
        let mut score: Vec<Option<String>> = Vec::with_capacity(n);
        let mut grade = Vec::with_capacity(n);
        let mut limit: Vec<Option<String>> = Vec::with_capacity(n);
        let mut rate: Vec<Option<String>> = Vec::with_capacity(n);
        let mut reasons = Vec::with_capacity(n);
        let mut ruleset = Vec::with_capacity(n);
        let mut scorecard = Vec::with_capacity(n);
        let mut id = Vec::with_capacity(n);
        let mut error: Vec<Option<String>> = Vec::with_capacity(n);
        for r in rows {
            row.push(r.row.to_string());
            household.push(r.household_id.as_str());
            village.push(r.village_code.as_str());
            match &r.result {
                Ok(d) => {
                    decision.push(d.outcome.as_str());
                    score.push(Some(d.score.to_string()));
                    grade.push(Some(d.grade.as_str()));
                    limit.push(Some(d.limit.to_string()));
                    rate.push(d.annual_rate.map(|r| r.to_string()));
                    reasons.push(Some(d.reason_codes.as_str()));
                    ruleset.push(Some(self.ruleset_version.as_str()));
                    scorecard.push(Some(self.scorecard_version.as_str()));
                    id.push(Some(d.decision_id.as_str()));
                    error.push(None);
                }
                Err(errors) => {
                    decision.push(ERROR);
                    score.push(None);
                    grade.push(None);
                    limit.push(None);
                    rate.push(None);
                    reasons.push(None);
                    ruleset.push(Some(self.ruleset_version.as_str()));
                    scorecard.push(Some(self.scorecard_version.as_str()));
                    id.push(None);
                    error.push(Some(
                        errors
                            .iter()
                            .map(|e| format!("{}: {}", e.field, e.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ));
                }
            }
        }
        DataFrame::new(
            n,
            vec![
                Column::new("row".into(), row),
                Column::new("household_id".into(), household),
                Column::new("village_code".into(), village),
                Column::new("decision".into(), decision),
                Column::new("score".into(), score),
                Column::new("grade".into(), grade),
                Column::new("limit".into(), limit),
                Column::new("annual_rate".into(), rate),
                Column::new("reason_codes".into(), reasons),
                Column::new("ruleset_version".into(), ruleset),
                Column::new("scorecard_version".into(), scorecard),
                Column::new("decision_id".into(), id),
                Column::new("error".into(), error),
            ],
        )
    }
}

/// The errors file: one line per problem of every refused row (and, when
/// the whole file is refused, per problem of the file, with no row).
pub struct ErrorsWriter {
    writer: csv::Writer<File>,
    pub lines: u64,
}

impl ErrorsWriter {
    pub fn create(path: &Path) -> std::io::Result<ErrorsWriter> {
        let mut writer = csv::Writer::from_writer(File::create(path)?);
        writer
            .write_record(["row", "line", "household_id", "field", "message"])
            .map_err(std::io::Error::other)?;
        Ok(ErrorsWriter { writer, lines: 0 })
    }

    /// `row` counts households (1 = the first); `line` is the CSV line it
    /// starts on (the header is line 1), as an editor or spreadsheet shows.
    pub fn write(
        &mut self,
        row: Option<u64>,
        line: Option<u64>,
        household_id: &str,
        field: &str,
        message: &str,
    ) -> std::io::Result<()> {
        self.lines += 1;
        let text = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let (row, line) = (text(row), text(line));
        self.writer
            .write_record([row.as_str(), line.as_str(), household_id, field, message])
            .map_err(std::io::Error::other)
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_all()
    }
}
