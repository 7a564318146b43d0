//! The compiled authority matrix: routing a decision to the review level
//! that may decide it, and checking a reviewer's decision against their
//! level's authority.

use rust_decimal::Decimal;

use crate::decision::{Outcome, Routing};
use crate::error::Issues;
use crate::model::ReasonDef;
use crate::model::authority::{AuthorityDoc, BoundsDef};

use super::Schema;

/// The feature the term of a case is read from.
pub const TERM_FEATURE: &str = "requested_term_months";
/// The feature the guarantee type of a case is read from.
pub const GUARANTEE_FEATURE: &str = "guarantee_type";

/// Bounds of a case, checked.
#[derive(Clone, Debug, Default)]
pub struct Bounds {
    /// The largest limit; `None`: no ceiling.
    pub max_amount: Option<Decimal>,
    /// The longest term in months; `None`: no ceiling.
    pub max_term_months: Option<i64>,
    /// The guarantee types covered; empty: every type.
    pub guarantee_types: Vec<String>,
}

impl Bounds {
    fn from_doc(b: &BoundsDef) -> Bounds {
        Bounds {
            max_amount: b.max_amount,
            max_term_months: b.max_term_months,
            guarantee_types: b.guarantee_types.clone(),
        }
    }

    /// The first bound `case` exceeds, in English and Chinese; `None` when it
    /// is within all of them. An absent term or guarantee type is within.
    pub fn exceeded(&self, case: &Case) -> Option<(String, String)> {
        if let Some(max) = self.max_amount
            && case.amount > max
        {
            return Some((
                format!("amount {} above {}", case.amount, max),
                format!("金额{}超过{}", case.amount, max),
            ));
        }
        if let (Some(max), Some(term)) = (self.max_term_months, case.term_months)
            && term > max
        {
            return Some((
                format!("term of {term} months above {max}"),
                format!("期限{term}个月超过{max}个月"),
            ));
        }
        if let Some(g) = &case.guarantee_type
            && !self.guarantee_types.is_empty()
            && !self.guarantee_types.iter().any(|t| t == g)
        {
            return Some((
                format!(
                    "guarantee type {g} not among {}",
                    self.guarantee_types.join(", ")
                ),
                format!("担保方式{g}不在{}之列", self.guarantee_types.join("、")),
            ));
        }
        None
    }
}

/// One review level.
#[derive(Clone, Debug)]
pub struct Level {
    /// The level's code, e.g. `branch_officer`.
    pub code: String,
    /// The level's name in Chinese.
    pub name_zh: String,
    /// The level's name in English.
    pub name_en: String,
    /// Whether it may decline on its own.
    pub may_decline: bool,
    /// What it may approve on its own; `None`: nothing.
    pub approve: Option<Bounds>,
}

/// A case as the matrix sees it.
#[derive(Clone, Debug)]
pub struct Case {
    /// The limit at stake, yuan.
    pub amount: Decimal,
    /// The requested term, when the application gives one.
    pub term_months: Option<i64>,
    /// The guarantee type, when the application gives one.
    pub guarantee_type: Option<String>,
}

/// A compiled authority matrix.
#[derive(Clone, Debug)]
pub struct Authority {
    /// The matrix's id.
    pub id: String,
    /// The matrix's version.
    pub version: String,
    /// Levels from the lowest up.
    pub levels: Vec<Level>,
    /// The system's approval stands alone within these.
    pub auto_approve: Bounds,
    /// (refer reason code, index of the lowest level).
    pub refer_routes: Vec<(String, usize)>,
    /// Index of the lowest level that confirms an override.
    pub override_confirmation: usize,
    /// The override reasons reviewers choose from.
    pub override_reasons: Vec<ReasonDef>,
}

impl Authority {
    /// The index of level `code`.
    pub fn level_index(&self, code: &str) -> Option<usize> {
        self.levels.iter().position(|l| l.code == code)
    }

    /// Whether level `index` may give `outcome` on `case` on its own.
    pub fn covers(&self, index: usize, outcome: Outcome, case: &Case) -> bool {
        let level = &self.levels[index];
        match outcome {
            Outcome::Decline => level.may_decline,
            Outcome::Approve => level
                .approve
                .as_ref()
                .is_some_and(|b| b.exceeded(case).is_none()),
            Outcome::Refer => false,
        }
    }

    /// The lowest level at or above `from` that may give `outcome` on `case`.
    pub fn lowest_covering(&self, from: usize, outcome: Outcome, case: &Case) -> Option<usize> {
        (from..self.levels.len()).find(|&i| self.covers(i, outcome, case))
    }

    /// Where a decision goes: nowhere for a decline or an approval within
    /// the auto-approval bounds; otherwise the lowest level that may approve
    /// the case and that every hit refer reason allows.
    pub fn route(&self, outcome: Outcome, case: &Case, refer_codes: &[&str]) -> Routing {
        let mut routing = Routing {
            matrix: format!("{}@{}", self.id, self.version),
            amount: case.amount,
            term_months: case.term_months,
            guarantee_type: case.guarantee_type.clone(),
            level: None,
            level_name_zh: None,
            level_name_en: None,
            because: Vec::new(),
            because_zh: Vec::new(),
        };
        let mut say = |en: String, zh: String| {
            routing.because.push(en);
            routing.because_zh.push(zh);
        };
        match outcome {
            Outcome::Decline => {
                say(
                    "the system declined: no review is required".into(),
                    "系统拒绝，无需人工审批".into(),
                );
                return routing;
            }
            Outcome::Approve => match self.auto_approve.exceeded(case) {
                None => {
                    say(
                        "within the auto-approval bounds".into(),
                        "在自动审批权限之内".into(),
                    );
                    return routing;
                }
                Some((en, zh)) => say(
                    format!("approval beyond the auto-approval bounds: {en}"),
                    format!("超出自动审批权限：{zh}"),
                ),
            },
            Outcome::Refer => say(
                format!("the system referred ({})", refer_codes.join(", ")),
                format!("系统转人工（{}）", refer_codes.join("、")),
            ),
        }
        let mut from = 0;
        for (code, level) in &self.refer_routes {
            if refer_codes.contains(&code.as_str()) && *level > from {
                from = *level;
                say(
                    format!(
                        "reason {code} goes at least to {}",
                        self.levels[*level].name_en
                    ),
                    format!("原因{code}至少由{}审批", self.levels[*level].name_zh),
                );
            }
        }
        let index = match self.lowest_covering(from, Outcome::Approve, case) {
            Some(i) => {
                let term_en = case.term_months.map(|t| format!(" over {t} months"));
                let term_zh = case.term_months.map(|t| format!("、期限{t}个月"));
                let guarantee_en = case
                    .guarantee_type
                    .as_ref()
                    .map(|g| format!(" with guarantee type {g}"));
                let guarantee_zh = case
                    .guarantee_type
                    .as_ref()
                    .map(|g| format!("、担保方式{g}"));
                say(
                    format!(
                        "{} is the lowest level that may approve {} yuan{}{}",
                        self.levels[i].name_en,
                        case.amount,
                        term_en.unwrap_or_default(),
                        guarantee_en.unwrap_or_default(),
                    ),
                    format!(
                        "{}是可审批{}元{}{}的最低层级",
                        self.levels[i].name_zh,
                        case.amount,
                        term_zh.unwrap_or_default(),
                        guarantee_zh.unwrap_or_default(),
                    ),
                );
                i
            }
            None => {
                let top = self.levels.len() - 1;
                say(
                    format!(
                        "beyond every level's approval authority: the highest level, {}, decides",
                        self.levels[top].name_en
                    ),
                    format!(
                        "超出各层级审批权限，由最高层级{}决定",
                        self.levels[top].name_zh
                    ),
                );
                top
            }
        };
        let level = &self.levels[index];
        routing.level = Some(level.code.clone());
        routing.level_name_zh = Some(level.name_zh.clone());
        routing.level_name_en = Some(level.name_en.clone());
        routing
    }
}

/// Compiles a matrix, checking its levels, bounds and reasons against each
/// other and the guarantee types against the schema's `guarantee_type`.
pub fn compile(
    doc: &AuthorityDoc,
    source: &str,
    schema: &Schema,
    issues: &mut Issues,
) -> Option<Authority> {
    let before = issues.len();
    if doc.kind != "authority_matrix" {
        issues.push(
            source,
            "kind",
            format!("expected \"authority_matrix\", found \"{}\"", doc.kind),
        );
    }
    if doc.levels.is_empty() {
        issues.push(source, "levels", "name at least one review level");
    }
    let guarantee_values: Option<&[String]> = schema
        .by_name
        .get(GUARANTEE_FEATURE)
        .map(|&i| schema.features[i].values.as_slice());
    let check_bounds = |b: &BoundsDef, place: String, issues: &mut Issues| {
        if let Some(m) = b.max_amount
            && m < Decimal::ZERO
        {
            issues.push(
                source,
                format!("{place}.max_amount"),
                "must not be negative",
            );
        }
        if let Some(t) = b.max_term_months
            && t < 1
        {
            issues.push(
                source,
                format!("{place}.max_term_months"),
                "expected a whole number of months of at least 1",
            );
        }
        for (n, g) in b.guarantee_types.iter().enumerate() {
            match guarantee_values {
                Some(values) if !values.contains(g) => issues.push(
                    source,
                    format!("{place}.guarantee_types[{n}]"),
                    format!(
                        "unknown guarantee type `{g}`; the feature schema's {GUARANTEE_FEATURE} allows {}",
                        values.join(", ")
                    ),
                ),
                None => issues.push(
                    source,
                    format!("{place}.guarantee_types[{n}]"),
                    format!("the feature schema declares no enum feature `{GUARANTEE_FEATURE}`"),
                ),
                _ => {}
            }
        }
    };
    let mut levels: Vec<Level> = Vec::new();
    for (n, l) in doc.levels.iter().enumerate() {
        let place = format!("levels[{n}]");
        if l.level.trim().is_empty() || l.level.chars().any(|c| c.is_whitespace()) {
            issues.push(
                source,
                format!("{place}.level"),
                "expected a code without spaces, e.g. branch_officer",
            );
        }
        if levels.iter().any(|x| x.code == l.level) {
            issues.push(
                source,
                format!("{place}.level"),
                format!("level `{}` is named twice", l.level),
            );
        }
        if let Some(b) = &l.approve {
            check_bounds(b, format!("{place}.approve"), issues);
        }
        levels.push(Level {
            code: l.level.clone(),
            name_zh: l.name_zh.clone(),
            name_en: l.name_en.clone(),
            may_decline: l.may_decline,
            approve: l.approve.as_ref().map(Bounds::from_doc),
        });
    }
    check_bounds(&doc.auto_approve, "auto_approve".to_string(), issues);
    let index = |code: &str, place: String, issues: &mut Issues| {
        let found = levels.iter().position(|l| l.code == code);
        if found.is_none() {
            issues.push(
                source,
                place,
                format!(
                    "unknown level `{code}`; expected one of {}",
                    levels
                        .iter()
                        .map(|l| l.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        found
    };
    let mut refer_routes = Vec::new();
    for (n, r) in doc.refer_routes.iter().enumerate() {
        if let Some(i) = index(&r.level, format!("refer_routes[{n}].level"), issues) {
            refer_routes.push((r.reason_code.clone(), i));
        }
    }
    let confirmation = index(
        &doc.override_confirmation,
        "override_confirmation".to_string(),
        issues,
    );
    if doc.override_reasons.is_empty() {
        issues.push(
            source,
            "override_reasons",
            "list at least one override reason",
        );
    }
    for (n, r) in doc.override_reasons.iter().enumerate() {
        if r.code.trim().is_empty() {
            issues.push(
                source,
                format!("override_reasons[{n}].code"),
                "must not be empty",
            );
        }
        if doc.override_reasons[..n].iter().any(|x| x.code == r.code) {
            issues.push(
                source,
                format!("override_reasons[{n}].code"),
                format!("code `{}` is listed twice", r.code),
            );
        }
    }
    if issues.len() > before {
        return None;
    }
    Some(Authority {
        id: doc.id.clone(),
        version: doc.version.clone(),
        levels,
        auto_approve: Bounds::from_doc(&doc.auto_approve),
        refer_routes,
        override_confirmation: confirmation.unwrap_or(0),
        override_reasons: doc.override_reasons.clone(),
    })
}
