//! The trace file of a batch run: every row's request and decision with its
//! full trace, as JSON lines, compressed in independent zstd frames (each
//! with its checksum) of a few hundred rows. Concatenated frames are one
//! valid zstd stream, so `zstd -dc FILE` prints every line; the frame index
//! kept in the batch record lets `explain` decompress only the frame that
//! holds one decision.
//!
//! Each line carries its `format` ([`TRACE_FORMAT`]); lines written before
//! formats were numbered have none and are format 1.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use std::path::{Path, PathBuf};

use decision_core::{Decision, FieldError, Request};
use serde::{Deserialize, Serialize};

/// The format of the trace lines this release writes.
pub const TRACE_FORMAT: u32 = 1;

fn first_format() -> u32 {
    1
}

/// One line of the trace file: the request as the engine saw it and the
/// decision with its full trace, or why the row was refused.
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

/// Rows per frame: small enough that finding one decision decompresses a
/// few megabytes at most, large enough that zstd sees the repetition
/// between traces.
pub const FRAME_ROWS: usize = 256;

/// zstd level 1: the traces repeat each other, so the fastest level
/// already compresses them well.
const LEVEL: i32 = 1;

/// Compresses one frame of JSON lines (one zstd frame with its checksum).
/// Each thread keeps its compressor.
pub fn compress_frame(lines: &[u8]) -> std::io::Result<Vec<u8>> {
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
        compressor.compress(lines)
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

/// Reads row `row`'s line from a trace file with the given frame index.
pub fn read_line(
    path: &Path,
    first_rows: &[u64],
    offsets: &[u64],
    row: u64,
) -> Result<TraceLine, String> {
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
    let lines = zstd::stream::decode_all(&compressed[..]).map_err(|e| {
        format!(
            "frame {frame} of {} does not decompress: {e}",
            path.display()
        )
    })?;
    let wanted = (row - first_rows[frame]) as usize;
    let line = lines
        .split(|&b| b == b'\n')
        .nth(wanted)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("row {row} is not in {}", path.display()))?;
    let parsed: TraceLine = serde_json::from_slice(line)
        .map_err(|e| format!("row {row} of {} does not parse: {e}", path.display()))?;
    if parsed.row != row {
        return Err(format!(
            "{} holds row {} where row {row} was expected",
            path.display(),
            parsed.row
        ));
    }
    Ok(parsed)
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

type Frames = zstd::stream::read::Decoder<'static, std::io::BufReader<Hashing<File>>>;

/// Reads a whole trace file line by line, in constant memory, and checks
/// its sha256 at the end.
pub struct TraceReader {
    path: PathBuf,
    lines: std::io::BufReader<Frames>,
    line: Vec<u8>,
}

impl TraceReader {
    pub fn open(path: &Path) -> Result<TraceReader, String> {
        let file = File::open(path)
            .map_err(|e| format!("cannot open the trace file {}: {e}", path.display()))?;
        let hashing = Hashing {
            inner: file,
            sha256: sha2::Sha256::default(),
        };
        let frames = zstd::stream::read::Decoder::new(hashing)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(TraceReader {
            path: path.to_path_buf(),
            lines: std::io::BufReader::with_capacity(1 << 20, frames),
            line: Vec::with_capacity(1 << 16),
        })
    }

    /// The next line, read as `T` (a type may take only the fields it
    /// needs); `None` at the end of the file.
    pub fn next_line<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>, String> {
        use std::io::BufRead;
        self.line.clear();
        let n = self
            .lines
            .read_until(b'\n', &mut self.line)
            .map_err(|e| format!("{} does not decompress: {e}", self.path.display()))?;
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&self.line)
            .map(Some)
            .map_err(|e| format!("a line of {} does not parse: {e}", self.path.display()))
    }

    /// The sha256 of everything read (`sha256:<hex>`): the whole file's
    /// once every line was read.
    pub fn finish(self) -> String {
        let hashing = self.lines.into_inner().finish().into_inner();
        format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(hashing.sha256))
        )
    }
}
