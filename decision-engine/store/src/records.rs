//! The records the store keeps. Timestamps are RFC 3339 strings in UTC, as
//! written on the wire; statuses are enums, stored as their lower-case
//! names.

use decision_core::VersionRef;
use serde::{Deserialize, Serialize};

/// The decision record format this release writes.
///
/// - 1: [`DecisionRecord::decision_json`] is the JSON of a
///   `decision_core::Decision` with its trace (records from before formats
///   were numbered, schema versions 1 to 3, are format 1). Still read.
/// - 2: [`DecisionRecord::record`] is the compact record
///   (`decision.record.v1.DecisionRecord`, see `decision_core::record`) and
///   [`DecisionRecord::versions`] the policy it names; the decision and its
///   trace are rendered from them and the request.
pub const DECISION_FORMAT: u32 = 2;

/// One recorded decision: the request as received, the decision with its
/// trace, and when it was made. Timestamps are kept apart from the decision,
/// so the decision itself replays byte for byte.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub decision_id: String,
    pub institution: String,
    pub product: String,
    pub request_id: String,
    /// sha256 of the canonical request (features, pins): two requests with
    /// the same id are the same request only if this matches.
    pub request_hash: String,
    /// The request as received, as JSON.
    pub request_json: String,
    /// APPROVE, REFER or DECLINE.
    pub outcome: String,
    /// Format 1: the decision with its trace, as JSON. Empty in format 2.
    pub decision_json: String,
    /// Format 2: the compact record (protocol buffers). Empty in format 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record: Vec<u8>,
    /// Format 2: the versions of the policy the record names (kept once per
    /// policy by the store). Empty in format 1, where the decision JSON
    /// holds them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRef>,
    /// Ties the decisions of one batch run together.
    pub batch_id: Option<String>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub evaluation_micros: u64,
    /// The format of `decision_json` ([`DECISION_FORMAT`] when written by
    /// this release).
    #[serde(default = "first_format")]
    pub format: u32,
    /// The pre-credit the online decision met (JSON, written by the
    /// service), when the household had a live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precredit: Option<String>,
    /// The application the decision belongs to (a pre-review and the
    /// decision after the field investigation share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// `pre_review` or `investigation`, when the request named an
    /// application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The review level the authority matrix routed the decision to: a
    /// review case waiting for that level is written with the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_level: Option<String>,
}

fn first_format() -> u32 {
    1
}

/// A policy document as loaded, kept by content hash so every recorded
/// version can be compiled again to replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDocument {
    pub hash: String,
    pub kind: String,
    pub id: String,
    pub version: String,
    pub json: String,
    /// Who published it (`(shipped)` / `(policy dir)` for documents a
    /// server loaded at start).
    pub uploaded_by: String,
    /// RFC 3339.
    pub uploaded_at: String,
}

/// An activation: (institution, product) runs a ruleset and a scorecard
/// version from `effective_at`, once approved by a second person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRecord {
    pub activation_id: String,
    pub institution: String,
    pub product: String,
    pub ruleset_id: String,
    pub ruleset_version: String,
    pub scorecard_id: String,
    pub scorecard_version: String,
    /// RFC 3339; empty until approved when asked for "as soon as approved".
    pub effective_at: String,
    pub requested_by: String,
    pub requested_at: String,
    pub status: ActivationStatus,
    pub approved_by: String,
    pub approved_at: String,
    pub rollback: bool,
    /// Other versions decided beside these (champion/challenger), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger: Option<Challenger>,
}

/// A challenger an activation names: other ruleset and scorecard versions,
/// decided beside the champion's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenger {
    pub ruleset_id: String,
    pub ruleset_version: String,
    pub scorecard_id: String,
    pub scorecard_version: String,
    /// The percentage of households (by request id, 1..=100) the challenger
    /// decides and answers instead of the champion; 0: shadow only (every
    /// request also decided by the challenger, recorded beside the
    /// champion's decision and never returned).
    pub share_percent: u32,
}

impl Challenger {
    /// `ruleset id@version + scorecard id@version (shadow|N%)`.
    pub fn describe(&self) -> String {
        format!(
            "{}@{} + {}@{} ({})",
            self.ruleset_id,
            self.ruleset_version,
            self.scorecard_id,
            self.scorecard_version,
            if self.share_percent == 0 {
                "shadow".to_string()
            } else {
                format!("{}% of households", self.share_percent)
            }
        )
    }
}

/// The stage a shadow (challenger) decision is stored with.
pub const SHADOW_STAGE: &str = "challenger";

/// The id of the shadow decision beside `decision_id` (`dec_…` -> `shd_…`).
pub fn shadow_id(decision_id: &str) -> String {
    format!(
        "shd_{}",
        decision_id.strip_prefix("dec_").unwrap_or(decision_id)
    )
}

/// One admin action, accepted or refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: String,
    pub person: String,
    pub role: String,
    pub action: String,
    pub kind: String,
    pub id: String,
    pub version: String,
    pub hash: String,
    pub accepted: bool,
    pub detail: String,
    /// The institution the action was for: an institution code, `*` for
    /// the province (its default, red lines, schema, market parameters), or
    /// empty when it is not known (entries written before schema 11 other
    /// than activations, a call refused before its subject was read).
    /// An auditor scoped to institutions sees only theirs.
    #[serde(default)]
    pub institution: String,
}

/// A batch run: what it read and wrote, which versions ran, where its
/// decisions' traces are, and how it ended. Written when the run starts
/// (`running`) and again when it ends (`finished` or `failed`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub batch_id: String,
    pub status: BatchStatus,
    pub started_at: String,
    pub finished_at: String,
    pub institution: String,
    pub product: String,
    pub as_of: String,
    pub versions: Vec<VersionRef>,
    pub input: String,
    pub output: String,
    pub errors_file: String,
    /// The decisions with their traces: JSON lines, one a row, in zstd
    /// frames (see `batch::traces`).
    pub trace_file: String,
    /// sha256 of the whole trace file (`sha256:<hex>`), to check it later.
    #[serde(default)]
    pub trace_sha256: String,
    /// The first row of every frame.
    pub frame_first_rows: Vec<u64>,
    /// Byte offset of every frame in the trace file, then the file's length.
    pub frame_offsets: Vec<u64>,
    pub rows: u64,
    pub approved: u64,
    pub referred: u64,
    pub declined: u64,
    pub errors: u64,
    /// Why a failed run stopped.
    pub failure: String,
    /// `I/N` when the run decided shard I of N of its input (empty: all).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shard: String,
}

/// Where an activation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationStatus {
    /// Requested, waiting for a second approver.
    Pending,
    /// Approved: in force from its effective time.
    Approved,
    /// Was approved for a later time, then replaced by an approval of an
    /// earlier effective time (a rollback, say) before it took effect.
    Superseded,
}

/// How a batch run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Running,
    Finished,
    Failed,
}

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),*
                }
            }

            /// The status a stored name names.
            pub fn parse(name: &str) -> Option<$ty> {
                match name {
                    $($name => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use names;

names!(ActivationStatus { Pending => "pending", Approved => "approved", Superseded => "superseded" });
names!(BatchStatus { Running => "running", Finished => "finished", Failed => "failed" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_by_the_names_serde_writes() {
        for s in [
            ActivationStatus::Pending,
            ActivationStatus::Approved,
            ActivationStatus::Superseded,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(ActivationStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            BatchStatus::Running,
            BatchStatus::Finished,
            BatchStatus::Failed,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(BatchStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ActivationStatus::parse("Approved"), None);
    }
}
