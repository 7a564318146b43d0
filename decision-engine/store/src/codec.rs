//! How a decision record is kept, whatever the backend: the request
//! dictionary of record format 2, the compression done on the caller's
//! thread before an insert, and its inverse on a read.

use crate::{DecisionRecord, StoreError};

/// A decision record made ready for its insert by the caller: what the
/// row stores beside the record's own fields.
pub(crate) struct Prepared {
    pub(crate) record: DecisionRecord,
    /// Format 1: the decision JSON, zstd. Empty in format 2.
    pub(crate) decision_zstd: Vec<u8>,
    /// Format 2: the request, zstd with the request dictionary.
    pub(crate) request_zstd: Option<Vec<u8>>,
    /// Format 2: the policy set's hash (of its versions).
    pub(crate) policy: Option<[u8; 32]>,
}

/// The request dictionary of record format 2: a request's JSON skeleton
/// (every feature name of the shipped schema, the enum values), which zstd
/// uses as already-seen text, so a ~700-byte request is stored in ~160
/// bytes. Part of the format: it never changes (a new dictionary is a new
/// format).
pub(crate) const REQUEST_DICTIONARY: &[u8] = include_bytes!("request-dict-1.txt");

/// A thread's compressors (each caller's thread keeps its own), one for
/// every record.
struct Compressors {
    /// zstd level 1 for format-1 decision JSON: most of the size gain for a
    /// fraction of the time of the default level.
    trace: zstd::bulk::Compressor<'static>,
    /// zstd level 3 with [`REQUEST_DICTIONARY`], for format-2 requests.
    request: zstd::bulk::Compressor<'static>,
}

impl Compressors {
    fn new() -> std::io::Result<Compressors> {
        // The dictionary digested once for every thread: loading it raw
        // into each compression re-builds its tables every time.
        static PREPARED: std::sync::LazyLock<zstd::dict::EncoderDictionary<'static>> =
            std::sync::LazyLock::new(|| zstd::dict::EncoderDictionary::copy(REQUEST_DICTIONARY, 3));
        Ok(Compressors {
            trace: zstd::bulk::Compressor::new(1)?,
            request: zstd::bulk::Compressor::with_prepared_dictionary(&PREPARED)?,
        })
    }

    fn trace(&mut self, json: &str) -> Result<Vec<u8>, StoreError> {
        self.trace
            .compress(json.as_bytes())
            .map_err(|e| StoreError::Database(format!("cannot compress a record: {e}")))
    }

    fn request(&mut self, json: &str) -> Result<Vec<u8>, StoreError> {
        self.request
            .compress(json.as_bytes())
            .map_err(|e| StoreError::Database(format!("cannot compress a request: {e}")))
    }
}

/// Makes records ready for their insert on the caller's thread: the
/// compression and hashing the writer thread would otherwise do one
/// record at a time while every caller waits.
pub(crate) fn prepare(records: Vec<DecisionRecord>) -> Result<Vec<Prepared>, StoreError> {
    thread_local! {
        static COMPRESSORS: std::cell::RefCell<Option<Compressors>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSORS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressors = match &mut *slot {
            Some(c) => c,
            None => slot.insert(Compressors::new().map_err(|e| {
                StoreError::Database(format!("cannot create the record compressors: {e}"))
            })?),
        };
        records
            .into_iter()
            .map(|record| {
                if record.format >= 2 {
                    if record.versions.is_empty() {
                        return Err(StoreError::Database(
                            "a format-2 decision record must name its policy's versions".into(),
                        ));
                    }
                    Ok(Prepared {
                        decision_zstd: Vec::new(),
                        request_zstd: Some(compressors.request(&record.request_json)?),
                        policy: Some(decision_core::record::policy_hash(&record.versions)),
                        record,
                    })
                } else {
                    Ok(Prepared {
                        decision_zstd: compressors.trace(&record.decision_json)?,
                        request_zstd: None,
                        policy: None,
                        record,
                    })
                }
            })
            .collect()
    })
}

/// A format-1 decision JSON, zstd.
pub(crate) fn decompress(blob: &[u8]) -> Result<String, String> {
    let bytes = zstd::stream::decode_all(blob).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// A format-2 request, compressed with [`REQUEST_DICTIONARY`].
pub(crate) fn decompress_request(blob: &[u8]) -> Result<String, String> {
    use std::io::Read;
    let mut decoder = zstd::stream::read::Decoder::with_dictionary(blob, REQUEST_DICTIONARY)
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    decoder
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}
