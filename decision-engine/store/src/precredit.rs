//! The records of the pre-credit register (授信名单): a publication of a
//! batch run, one entry per household of it, and the ledger of operations
//! on entries (sign, draw, repay, revoke, flag). Amounts are exact decimals
//! (yuan), dates `YYYY-MM-DD`, times RFC 3339 in UTC.

use decision_core::VersionRef;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The format of the entry and operation bodies this release writes.
pub const PRECREDIT_FORMAT: u32 = 1;

fn first_format() -> u32 {
    1
}

/// A batch run published as a register: pending until a second person
/// approves it, then its entries are live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationRecord {
    pub publication_id: String,
    pub batch_id: String,
    pub institution: String,
    pub product: String,
    /// The last day an entry can be signed or drawn on (inclusive).
    pub valid_until: String,
    pub status: PublicationStatus,
    pub requested_by: String,
    pub requested_at: String,
    pub approved_by: String,
    pub approved_at: String,
    /// The versions the batch ran.
    pub versions: Vec<VersionRef>,
    /// Entries by the batch's outcome.
    pub offered: u64,
    pub referred: u64,
    pub declined: u64,
    /// Rows the batch could not decide (not in the register).
    pub errors: u64,
    /// Entries with a national ID number (kept as a keyed hash only).
    pub identified: u64,
    /// The sum of the offered limits.
    pub offered_amount: Decimal,
    /// Older entries this publication superseded when it was approved.
    pub superseded: u64,
    /// Why loading failed.
    pub failure: String,
    /// The fingerprint of the key that hashed its national ID numbers
    /// (empty: none were given).
    #[serde(default)]
    pub id_key: String,
}

/// Where a publication stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicationStatus {
    /// Its entries are being written.
    Loading,
    /// Complete, waiting for a second person's approval.
    Pending,
    /// Approved: its entries are live.
    Approved,
    /// Loading failed; its entries never go live.
    Failed,
}

/// Where an entry stands. `expired` is not stored: an entry past its
/// `valid_until` is expired for signing and drawing whatever its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreCreditStatus {
    /// Its publication is not approved yet.
    Pending,
    /// Pre-credited (APPROVE): may be signed.
    Offered,
    /// The batch referred it: listed for a person's review, not offered.
    Referred,
    /// The batch declined it: not offered.
    Declined,
    /// Contract signed; nothing drawn yet.
    Signed,
    /// Drawn at least once (revolving: repaid amounts may be drawn again).
    Drawn,
    /// Revoked by an officer, with a reason: no more draw-downs.
    Revoked,
    /// A newer approved publication replaced this offer.
    Superseded,
}

/// One household of a publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCreditEntry {
    #[serde(default = "first_format")]
    pub format: u32,
    pub entry_id: String,
    pub publication_id: String,
    pub institution: String,
    pub product: String,
    pub household_id: String,
    /// Keyed hash (HMAC-SHA256, hex) of the head's national ID number;
    /// the number itself is never stored.
    pub id_hash: Option<String>,
    pub village: String,
    pub branch: String,
    /// The batch's outcome: APPROVE, REFER or DECLINE.
    pub outcome: String,
    pub grade: String,
    pub score: Decimal,
    /// The pre-credited limit (0 unless offered).
    pub limit: Decimal,
    pub annual_rate: Option<Decimal>,
    /// The last day it can be signed or drawn on.
    pub valid_until: String,
    /// The batch decision (`dec_<batch>_<row>`), with its trace; the
    /// versions it ran are the publication's.
    pub decision_id: String,
    pub status: PreCreditStatus,
    /// The limit the household signed for (at most `limit`).
    pub signed_limit: Option<Decimal>,
    pub contract_id: String,
    pub signed_at: String,
    pub drawn_total: Decimal,
    pub repaid_total: Decimal,
    /// Drawn minus repaid.
    pub outstanding: Decimal,
    pub revoked_reason: String,
    /// Set when an online decision was worse than this pre-credit: why,
    /// and by which decision.
    pub review_flag: String,
    pub superseded_by: String,
    /// Bumped by every change; a change is written only over the revision
    /// it was computed from.
    pub revision: u64,
    pub published_at: String,
    pub updated_at: String,
}

impl PreCreditEntry {
    /// What may still be drawn: the signed limit less what is outstanding.
    pub fn available(&self) -> Decimal {
        match self.signed_limit {
            Some(limit) => (limit - self.outstanding).max(Decimal::ZERO),
            None => Decimal::ZERO,
        }
    }
}

/// One operation on an entry, kept forever (the ledger): the caller's
/// operation id makes a retry return the first answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreCreditOp {
    #[serde(default = "first_format")]
    pub format: u32,
    /// The caller's operation id, unique within the institution.
    pub op_id: String,
    pub institution: String,
    pub entry_id: String,
    /// sign, drawdown, repayment, revoke or flag.
    pub kind: String,
    pub amount: Option<Decimal>,
    pub detail: String,
    /// sha256 of the operation's content: the same id with other content
    /// is a conflict.
    pub request_hash: String,
    pub person: String,
    pub at: String,
    /// The entry as this operation left it.
    pub entry_after: PreCreditEntry,
}

/// Who a household of a publication is, from the bank's customer records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HouseholdIdentity {
    pub household_id: String,
    /// The keyed hash of the head's national ID number.
    pub id_hash: Option<String>,
    pub branch: String,
}

/// What writing an operation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpWritten {
    /// Written with the entry, durably.
    Done,
    /// The entry changed since it was read: read it again and retry.
    Stale,
    /// An operation with this id was written before; here it is.
    Existing(Box<PreCreditOp>),
}

/// Which entries to list: live entries (not pending) of an institution,
/// in entry id order, after `after`.
#[derive(Clone, Debug, Default)]
pub struct PreCreditQuery {
    pub institution: String,
    pub product: Option<String>,
    pub status: Option<PreCreditStatus>,
    pub village: Option<String>,
    /// Only entries with ids after this one (paging).
    pub after: Option<String>,
    pub limit: usize,
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

names!(PublicationStatus {
    Loading => "loading",
    Pending => "pending",
    Approved => "approved",
    Failed => "failed",
});
names!(PreCreditStatus {
    Pending => "pending",
    Offered => "offered",
    Referred => "referred",
    Declined => "declined",
    Signed => "signed",
    Drawn => "drawn",
    Revoked => "revoked",
    Superseded => "superseded",
});

impl PreCreditStatus {
    /// Every status, in the order of the funnel.
    pub const ALL: [PreCreditStatus; 8] = [
        PreCreditStatus::Pending,
        PreCreditStatus::Offered,
        PreCreditStatus::Referred,
        PreCreditStatus::Declined,
        PreCreditStatus::Signed,
        PreCreditStatus::Drawn,
        PreCreditStatus::Revoked,
        PreCreditStatus::Superseded,
    ];

    /// The status an approved publication gives an entry of `outcome`.
    pub fn published(outcome: &str) -> PreCreditStatus {
        match outcome {
            "APPROVE" => PreCreditStatus::Offered,
            "REFER" => PreCreditStatus::Referred,
            _ => PreCreditStatus::Declined,
        }
    }

    /// Offered or under contract: what a household can still sign or draw
    /// on (until its validity ends).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            PreCreditStatus::Offered | PreCreditStatus::Signed | PreCreditStatus::Drawn
        )
    }

    /// Signed or drawn.
    pub fn under_contract(self) -> bool {
        matches!(self, PreCreditStatus::Signed | PreCreditStatus::Drawn)
    }

    /// Replaced by a newer publication when it is approved: an entry not
    /// under contract.
    pub fn supersedable(self) -> bool {
        matches!(
            self,
            PreCreditStatus::Offered | PreCreditStatus::Referred | PreCreditStatus::Declined
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stored_by_the_names_serde_writes() {
        for s in PreCreditStatus::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(PreCreditStatus::parse(s.as_str()), Some(s));
        }
        for s in [
            PublicationStatus::Loading,
            PublicationStatus::Pending,
            PublicationStatus::Approved,
            PublicationStatus::Failed,
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(PublicationStatus::parse(s.as_str()), Some(s));
        }
    }
}
