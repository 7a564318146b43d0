//! The authority matrix (审批权限表) as analysts write it: the review levels
//! from the lowest up, what each may decide (by outcome, amount, term and
//! guarantee type), the ceiling under which the system's approval stands
//! alone, the level a refer reason goes to at least, the level that
//! confirms an override of the system, and the maintained list of override
//! reasons. One per (institution, product), `"*"` the province default;
//! versioned and four-eyes-activated like rulesets.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{ReasonDef, exact_opt};

/// `{"kind": "authority_matrix", "id": ..., "version": ..., "levels": [...]}`
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityDoc {
    /// Always `"authority_matrix"`.
    pub kind: String,
    /// The matrix's id, e.g. `farmer-authority`.
    pub id: String,
    /// The version label; a published version never changes.
    pub version: String,
    /// What the matrix covers, for people.
    #[serde(default)]
    pub description: String,
    /// Marks an example calibrated on no real data.
    #[serde(default)]
    pub illustrative: bool,
    /// The institution it governs; `"*"` is the province default.
    pub institution: String,
    /// The product it governs, e.g. `FARMER_CREDIT`.
    pub product: String,
    /// Review levels from the lowest (a branch officer) to the highest.
    pub levels: Vec<LevelDef>,
    /// The system's approval stands without review within these bounds.
    pub auto_approve: BoundsDef,
    /// Refer reasons that go at least to a given level.
    #[serde(default)]
    pub refer_routes: Vec<ReferRouteDef>,
    /// The lowest level that may confirm an override of the system (a limit
    /// above the system's, a rate below it, an approval of a system
    /// decline); the confirming reviewer is always a second person.
    pub override_confirmation: String,
    /// The override reason codes reviewers choose from.
    pub override_reasons: Vec<ReasonDef>,
}

/// One review level.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDef {
    /// The level's code, e.g. `branch_officer`; tokens name it.
    pub level: String,
    /// The level's name in Chinese, e.g. `支行客户经理`.
    pub name_zh: String,
    /// The level's name in English, e.g. `branch officer`.
    pub name_en: String,
    /// Whether the level may decline a case on its own.
    pub may_decline: bool,
    /// The approvals the level may give on its own; absent: none.
    #[serde(default)]
    pub approve: Option<BoundsDef>,
}

/// Bounds of a case by amount, term and guarantee type.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundsDef {
    /// The largest limit (yuan); absent: no ceiling.
    #[serde(default, deserialize_with = "exact_opt")]
    pub max_amount: Option<Decimal>,
    /// The longest requested term in months; absent: no ceiling.
    #[serde(default)]
    pub max_term_months: Option<i64>,
    /// The guarantee types covered; empty: every type.
    #[serde(default)]
    pub guarantee_types: Vec<String>,
}

/// A refer reason that goes at least to `level`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferRouteDef {
    /// The refer rule's reason code, e.g. `F304`.
    pub reason_code: String,
    /// The lowest level that may decide such a case.
    pub level: String,
}
