//! The trace file of a batch run: every row's request and what the engine
//! decided, in independent zstd frames (each with its checksum) of a few
//! hundred rows. The frame index kept in the batch record lets `explain`
//! decompress only the frame that holds one decision.
//!
//! Two formats, told apart frame by frame (a file holds one):
//! - format 2 ([`TRACE_FORMAT`], this release): a frame is one
//!   `decision.record.v1.TraceFrame` (`proto/decision/record/v1/trace.proto`):
//!   each row's request features and its compact decision record
//!   ([`crate::compact`]). The trace JSON is rendered from the record, the
//!   request and the batch's policy versions, as for an online decision.
//! - format 1 (earlier releases): a frame is JSON lines, one a row, with the
//!   request and the decision with its full trace ([`TraceLine`]); lines
//!   written before formats were numbered have none and are format 1.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use decision_core::record::Record;
use decision_core::{Decision, FieldError, Input, Request};
use serde::{Deserialize, Serialize};

use crate::compact::pb;

/// The trace format this release writes.
pub const TRACE_FORMAT: u32 = 2;

/// The format of JSON lines, the first.
pub const JSON_LINES_FORMAT: u32 = 1;

fn first_format() -> u32 {
    JSON_LINES_FORMAT
}

/// One line of a format-1 trace file: the request as the engine saw it and
/// the decision with its full trace, or why the row was refused.
#[derive(Debug, Serialize, Deserialize)]
pub struct TraceLine {
    #[serde(default = "first_format")]
    pub format: u32,
    pub row: u64,
    pub household_id: String,
    pub village_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One row of a format-2 trace file.
#[derive(Clone, Debug, PartialEq)]
pub struct CompactRow {
    /// 1-based: the first household of the input is row 1.
    pub row: u64,
    pub household_id: String,
    pub village_code: String,
    /// The request's features as the engine saw them, in the request's
    /// order; `None` when the line could not be read as a row at all.
    pub features: Option<serde_json::Map<String, serde_json::Value>>,
    /// The compact decision record's bytes ([`crate::compact`]); `None`
    /// when the row was refused.
    pub record: Option<Vec<u8>>,
    /// Why the row was refused.
    pub errors: Vec<FieldError>,
}

impl CompactRow {
    /// The request the engine decided: the household id is its
    /// `request_id`, the institution and product are the batch's.
    pub fn request(&self, institution: &str, product: &str) -> Option<Request> {
        self.features.as_ref().map(|features| Request {
            request_id: self.household_id.clone(),
            institution: institution.to_string(),
            product: product.to_string(),
            features: features.clone(),
        })
    }
}

/// One row of a trace file of any format.
#[derive(Debug)]
pub enum TraceEntry {
    /// Format 1: the decision with its full trace, as JSON.
    Json(Box<TraceLine>),
    /// Format 2: the request and the compact record.
    Compact(CompactRow),
}

impl TraceEntry {
    /// The row's number.
    pub fn row(&self) -> u64 {
        match self {
            TraceEntry::Json(line) => line.row,
            TraceEntry::Compact(row) => row.row,
        }
    }

    /// The row's format.
    pub fn format(&self) -> u32 {
        match self {
            TraceEntry::Json(line) => line.format,
            TraceEntry::Compact(_) => TRACE_FORMAT,
        }
    }
}

/// Rows per frame: small enough that finding one decision decompresses
/// little, large enough that zstd sees the repetition between rows.
pub const FRAME_ROWS: usize = 256;

/// zstd level 3: rows repeat each other's values, and the level costs
/// little beside deciding them.
const LEVEL: i32 = 3;

/// Compresses one frame's bytes (one zstd frame with its checksum). Each
/// thread keeps its compressor.
pub fn compress_frame(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(c) => c,
            None => {
                let mut c = zstd::bulk::Compressor::new(LEVEL)?;
                c.include_checksum(true)?;
                slot.insert(c)
            }
        };
        compressor.compress(bytes)
    })
}

/// Builds one format-2 frame, row by row.
#[derive(Default)]
pub struct FrameBuilder {
    frame: pb::TraceFrame,
    names: std::collections::HashMap<String, u32>,
}

impl FrameBuilder {
    pub fn new() -> FrameBuilder {
        FrameBuilder {
            frame: pb::TraceFrame {
                format: TRACE_FORMAT,
                ..Default::default()
            },
            names: Default::default(),
        }
    }

    /// Adds a row: its request's features (`None` when the line could not
    /// be read as a row), its record when it was decided, and why it was
    /// refused otherwise. A feature value other than true/false, an
    /// integer or a string (what a batch cell becomes) is refused, naming
    /// it.
    pub fn push(
        &mut self,
        row: u64,
        household_id: &str,
        village_code: &str,
        features: Option<&[(&str, Input<'_>)]>,
        record: Option<&Record>,
        errors: &[FieldError],
    ) -> Result<(), String> {
        let mut out = Vec::with_capacity(features.map_or(0, <[_]>::len));
        for &(name, value) in features.into_iter().flatten() {
            let kind = match value {
                Input::Bool(b) => pb::value::Kind::Bool(b),
                Input::Int(i) => pb::value::Kind::Int(i),
                Input::Text(s) => pb::value::Kind::Text(s.to_string()),
                // A JSON integer is written back as the same integer.
                Input::Number(n) => match n.parse::<i64>() {
                    Ok(i) if i.to_string() == n => pb::value::Kind::Int(i),
                    _ => return Err(unwritable(row, name, &value)),
                },
                Input::Other(_) => return Err(unwritable(row, name, &value)),
            };
            let index = match self.names.get(name) {
                Some(&index) => index,
                None => {
                    let index = self.frame.features.len() as u32;
                    self.names.insert(name.to_string(), index);
                    self.frame.features.push(name.to_string());
                    index
                }
            };
            out.push(pb::Feature {
                name: index,
                value: Some(pb::Value { kind: Some(kind) }),
            });
        }
        self.frame.rows.push(pb::TraceRow {
            row,
            household_id: household_id.to_string(),
            village_code: village_code.to_string(),
            has_request: features.is_some(),
            features: out,
            record: record.map(crate::compact::encode).unwrap_or_default(),
            errors: errors
                .iter()
                .map(|e| pb::FieldError {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        });
        Ok(())
    }

    /// The frame, encoded and compressed.
    pub fn finish(self) -> std::io::Result<Vec<u8>> {
        compress_frame(&prost::Message::encode_to_vec(&self.frame))
    }
}

fn unwritable(row: u64, name: &str, value: &Input) -> String {
    format!(
        "row {row}: feature {name} holds {}; a trace row holds true/false, integers and strings",
        value.short()
    )
}

/// A decompressed frame of either format.
pub enum Frame {
    /// Format 1: JSON lines.
    Lines(Vec<u8>),
    /// Format 2.
    Rows(Vec<CompactRow>),
}

impl Frame {
    /// Reads a decompressed frame; `at` names it in errors.
    pub fn parse(bytes: Vec<u8>, at: &str) -> Result<Frame, String> {
        if bytes.first() == Some(&b'{') {
            return Ok(Frame::Lines(bytes));
        }
        let frame: pb::TraceFrame =
            prost::Message::decode(&bytes[..]).map_err(|e| format!("{at} does not decode: {e}"))?;
        if frame.format != TRACE_FORMAT {
            return Err(format!(
                "{at} has trace format {}; this release reads formats {JSON_LINES_FORMAT} and {TRACE_FORMAT}: upgrade it",
                frame.format
            ));
        }
        let names = frame.features;
        frame
            .rows
            .into_iter()
            .map(|r| compact_row(r, &names, at))
            .collect::<Result<_, _>>()
            .map(Frame::Rows)
    }

    /// A format-1 frame's lines, each read as `T` (a type may take only the
    /// fields it needs); empty for a format-2 frame.
    pub fn json_lines<T: serde::de::DeserializeOwned>(
        &self,
    ) -> impl Iterator<Item = Result<T, String>> + '_ {
        let lines: &[u8] = match self {
            Frame::Lines(lines) => lines,
            Frame::Rows(_) => &[],
        };
        lines
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).map_err(|e| format!("a trace line does not parse: {e}"))
            })
    }
}

fn compact_row(r: pb::TraceRow, names: &[String], at: &str) -> Result<CompactRow, String> {
    let features = if r.has_request {
        let mut map = serde_json::Map::with_capacity(r.features.len());
        for f in r.features {
            let damaged = || format!("{at}, row {}: a feature is damaged", r.row);
            let name = names.get(f.name as usize).ok_or_else(damaged)?;
            let value = match f.value.and_then(|v| v.kind) {
                Some(pb::value::Kind::Bool(b)) => serde_json::Value::Bool(b),
                Some(pb::value::Kind::Int(i)) => serde_json::Value::from(i),
                Some(pb::value::Kind::Text(s)) => serde_json::Value::String(s),
                _ => return Err(damaged()),
            };
            map.insert(name.clone(), value);
        }
        Some(map)
    } else {
        None
    };
    Ok(CompactRow {
        row: r.row,
        household_id: r.household_id,
        village_code: r.village_code,
        features,
        record: (!r.record.is_empty()).then_some(r.record),
        errors: r
            .errors
            .into_iter()
            .map(|e| FieldError {
                field: e.field,
                message: e.message,
            })
            .collect(),
    })
}

/// Appends frames and remembers where each starts.
pub struct TraceWriter {
    path: PathBuf,
    file: BufWriter<File>,
    length: u64,
    first_rows: Vec<u64>,
    offsets: Vec<u64>,
    sha256: sha2::Sha256,
}

impl TraceWriter {
    /// Creates a new file (never an existing one).
    pub fn create(path: &Path) -> std::io::Result<TraceWriter> {
        let file = File::options().write(true).create_new(true).open(path)?;
        Ok(TraceWriter {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(1 << 20, file),
            length: 0,
            first_rows: Vec::new(),
            offsets: Vec::new(),
            sha256: sha2::Sha256::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the frame holding rows from `first_row` on.
    pub fn append(&mut self, first_row: u64, frame: &[u8]) -> std::io::Result<()> {
        self.file.write_all(frame)?;
        sha2::Digest::update(&mut self.sha256, frame);
        self.first_rows.push(first_row);
        self.offsets.push(self.length);
        self.length += frame.len() as u64;
        Ok(())
    }

    /// Makes the file durable; returns the frame index (first rows, and
    /// offsets followed by the length) and the file's sha256 (`sha256:<hex>`).
    pub fn finish(mut self) -> std::io::Result<(Vec<u64>, Vec<u64>, String)> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        self.offsets.push(self.length);
        let digest = hex::encode(sha2::Digest::finalize(self.sha256));
        Ok((self.first_rows, self.offsets, format!("sha256:{digest}")))
    }
}

/// Reads row `row` from a trace file of either format with the given frame
/// index.
pub fn read_row(
    path: &Path,
    first_rows: &[u64],
    offsets: &[u64],
    row: u64,
) -> Result<TraceEntry, String> {
    let frame = first_rows
        .partition_point(|&first| first <= row)
        .checked_sub(1)
        .ok_or_else(|| format!("row {row} is before the first frame of {}", path.display()))?;
    let (start, end) = match (offsets.get(frame), offsets.get(frame + 1)) {
        // A frame of 256 rows is a few megabytes; more is a damaged index.
        (Some(&s), Some(&e)) if s <= e && e - s <= 1 << 30 => (s, e),
        _ => return Err(format!("the frame index of {} is damaged", path.display())),
    };
    let mut file = File::open(path)
        .map_err(|e| format!("cannot open the trace file {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut compressed = vec![0; (end - start) as usize];
    file.read_exact(&mut compressed)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let at = format!("frame {frame} of {}", path.display());
    let bytes = zstd::stream::decode_all(&compressed[..])
        .map_err(|e| format!("{at} does not decompress: {e}"))?;
    let entry = match Frame::parse(bytes, &at)? {
        Frame::Lines(lines) => {
            let wanted = (row - first_rows[frame]) as usize;
            let line = lines
                .split(|&b| b == b'\n')
                .nth(wanted)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| format!("row {row} is not in {}", path.display()))?;
            let parsed: TraceLine = serde_json::from_slice(line)
                .map_err(|e| format!("row {row} of {} does not parse: {e}", path.display()))?;
            TraceEntry::Json(Box::new(parsed))
        }
        Frame::Rows(rows) => rows
            .into_iter()
            .find(|r| r.row == row)
            .map(TraceEntry::Compact)
            .ok_or_else(|| format!("row {row} is not in {}", path.display()))?,
    };
    if entry.row() != row {
        return Err(format!(
            "{} holds row {} where row {row} was expected",
            path.display(),
            entry.row()
        ));
    }
    Ok(entry)
}

/// Counts a file's sha256 while it is read.
struct Hashing<R> {
    inner: R,
    sha256: sha2::Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.sha256, &buf[..n]);
        Ok(n)
    }
}

/// Reads a whole trace file frame by frame, in constant memory, and
/// checks its sha256 at the end.
pub struct TraceReader {
    path: PathBuf,
    file: BufReader<Hashing<File>>,
    frames: u64,
}

impl TraceReader {
    pub fn open(path: &Path) -> Result<TraceReader, String> {
        let file = File::open(path)
            .map_err(|e| format!("cannot open the trace file {}: {e}", path.display()))?;
        Ok(TraceReader {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(
                1 << 20,
                Hashing {
                    inner: file,
                    sha256: sha2::Sha256::default(),
                },
            ),
            frames: 0,
        })
    }

    /// The next frame; `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        let at = format!("frame {} of {}", self.frames, self.path.display());
        let more = self
            .file
            .fill_buf()
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        if more.is_empty() {
            return Ok(None);
        }
        let mut decoder = zstd::stream::read::Decoder::with_buffer(&mut self.file)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?
            .single_frame();
        let mut bytes = Vec::new();
        decoder
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{at} does not decompress: {e}"))?;
        self.frames += 1;
        Frame::parse(bytes, &at).map(Some)
    }

    /// The sha256 of everything read (`sha256:<hex>`): the whole file's
    /// once every frame was read.
    pub fn finish(self) -> String {
        let hashing = self.file.into_inner();
        format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(hashing.sha256))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's features as its cells give them, and the request JSON
    /// they stand for.
    const FEATURES: [(&str, Input); 4] = [
        ("age", Input::Int(42)),
        ("annual_net_income", Input::Text("68000.00")),
        ("bureau_has_record", Input::Bool(false)),
        ("main_crop", Input::Text("rice")),
    ];
    const FEATURES_JSON: &str =
        r#"{"age":42,"annual_net_income":"68000.00","bureau_has_record":false,"main_crop":"rice"}"#;

    /// Two frames: a decided row with a request and record bytes, a refused
    /// row with its errors, and an unreadable line with neither.
    fn file(dir: &Path) -> (PathBuf, Vec<u64>, Vec<u64>, String) {
        let path = dir.join("t.traces.zst");
        let mut writer = TraceWriter::create(&path).unwrap();
        let mut first = FrameBuilder::new();
        let record = decision_core::Record {
            policy: [7; 32],
            outcome: decision_core::Outcome::Approve,
            score: "612.5".parse().unwrap(),
            grade_band: 1,
            segment: 0,
            limit: "50000".parse().unwrap(),
            annual_rate: "0.0435".parse().unwrap(),
            derived: Vec::new(),
            rule_hits: vec![true, false, false],
            bins: vec![0, 2],
            computed_points: Vec::new(),
            limit_steps: vec![None],
            price_steps: Vec::new(),
            price_floor: "0.03".parse().unwrap(),
            price_cap: "0.09".parse().unwrap(),
        };
        first
            .push(1, "H1", "V1", Some(&FEATURES), Some(&record), &[])
            .unwrap();
        let refused = [FieldError {
            field: "age".into(),
            message: "expected an integer".into(),
        }];
        first
            .push(2, "H2", "V1", Some(&FEATURES), None, &refused)
            .unwrap();
        writer.append(1, &first.finish().unwrap()).unwrap();
        let mut second = FrameBuilder::new();
        second.push(3, "", "", None, None, &refused).unwrap();
        writer.append(3, &second.finish().unwrap()).unwrap();
        let (rows, offsets, sha) = writer.finish().unwrap();
        (path, rows, offsets, sha)
    }

    #[test]
    fn rows_read_back_as_written_by_index_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (path, first_rows, offsets, sha) = file(dir.path());
        let TraceEntry::Compact(one) = read_row(&path, &first_rows, &offsets, 1).unwrap() else {
            panic!("format 2 expected");
        };
        let request = one.request("3201", "FARMER_CREDIT").unwrap();
        assert_eq!(request.request_id, "H1");
        // The same JSON, in the same order.
        assert_eq!(
            serde_json::to_string(&request.features).unwrap(),
            FEATURES_JSON
        );
        let record = crate::compact::decode(one.record.as_ref().unwrap(), 3).unwrap();
        assert_eq!(record.limit.to_string(), "50000");
        let TraceEntry::Compact(three) = read_row(&path, &first_rows, &offsets, 3).unwrap() else {
            panic!("format 2 expected");
        };
        assert_eq!((three.features, three.record), (None, None));
        assert_eq!(three.errors[0].field, "age");

        let mut reader = TraceReader::open(&path).unwrap();
        let mut rows = Vec::new();
        while let Some(frame) = reader.next_frame().unwrap() {
            let Frame::Rows(r) = frame else {
                panic!("format 2 expected")
            };
            rows.extend(r);
        }
        assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rows[1].errors[0].message, "expected an integer");
        assert!(rows[1].features.is_some() && rows[1].record.is_none());
        assert_eq!(reader.finish(), sha);
    }

    #[test]
    fn a_later_format_or_damaged_frame_is_refused_saying_what() {
        let mut frame = pb::TraceFrame {
            format: 3,
            ..Default::default()
        };
        let e = Frame::parse(prost::Message::encode_to_vec(&frame), "frame 0 of t")
            .err()
            .unwrap();
        assert_eq!(
            e,
            "frame 0 of t has trace format 3; this release reads formats 1 and 2: upgrade it"
        );
        frame.format = TRACE_FORMAT;
        frame.rows.push(pb::TraceRow {
            row: 1,
            has_request: true,
            features: vec![pb::Feature {
                name: 5,
                value: None,
            }],
            ..Default::default()
        });
        let e = Frame::parse(prost::Message::encode_to_vec(&frame), "frame 0 of t")
            .err()
            .unwrap();
        assert_eq!(e, "frame 0 of t, row 1: a feature is damaged");
        let mut bytes = prost::Message::encode_to_vec(&frame);
        bytes.truncate(bytes.len() - 2);
        let e = Frame::parse(bytes, "frame 0 of t").err().unwrap();
        assert!(e.starts_with("frame 0 of t does not decode: "), "{e}");
        // A value no batch cell becomes is refused when written.
        let mut builder = FrameBuilder::new();
        assert_eq!(
            builder.push(
                9,
                "H9",
                "V",
                Some(&[("x", Input::Number("1.5"))]),
                None,
                &[]
            ),
            Err(
                "row 9: feature x holds 1.5; a trace row holds true/false, integers and strings"
                    .into()
            )
        );
    }
}
