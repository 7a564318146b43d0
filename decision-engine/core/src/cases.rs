//! Runs the test cases a ruleset or scorecard carries (see
//! [`crate::model::TestCase`]) under a compiled policy, through the same
//! [`evaluate()`] every front door uses, and lists each difference between
//! what the case expects and what the policy decides.

use std::fmt::Display;

use crate::compile::{Policy, Slot, VersionRef};
use crate::decision::Decision;
use crate::error::PolicyError;
use crate::evaluate::{Options, evaluate};
use crate::model::TestCase;
use crate::request::Request;

/// One test case run under one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRun {
    /// The document that carries the case.
    pub document: VersionRef,
    /// Where the document came from (file or `id@version`), as errors name it.
    pub source: String,
    /// The case's position in the document's `test_cases`.
    pub index: usize,
    /// The case's name.
    pub name: String,
    /// The policy it ran under: `ruleset id@version, scorecard id@version`.
    pub under: String,
    /// Each difference, `field: expected X, got Y`; empty when it passed.
    pub differences: Vec<String>,
}

impl CaseRun {
    /// Whether the policy decided exactly what the case expects.
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }

    /// Where the case sits in its document, as errors name it.
    pub fn place(&self) -> String {
        format!("test_cases[{}] {}", self.index, self.name)
    }
}

/// The policy a case runs under, as results name it.
pub fn policy_label(policy: &Policy) -> String {
    format!(
        "ruleset {}, scorecard {}",
        policy.version(Slot::Ruleset).label(),
        policy.version(Slot::Scorecard).label()
    )
}

/// Runs `cases` of `document` under `policy`, deciding each for
/// `institution` and the policy's product.
pub fn run(
    policy: &Policy,
    document: &VersionRef,
    source: &str,
    cases: &[TestCase],
    institution: &str,
) -> Vec<CaseRun> {
    let under = policy_label(policy);
    cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let mut differences = Vec::new();
            if case.name.trim().is_empty() {
                differences.push("`name`: expected a name for the case".to_string());
            }
            if cases[..index].iter().any(|c| c.name == case.name) {
                differences.push(format!(
                    "`name`: a second case named `{}`; expected names unique in the document",
                    case.name
                ));
            }
            if case.expect.is_empty() {
                differences.push(
                    "`expect`: expected at least one of decision, score, grade, limit, annual_rate, reason_codes, flag_codes"
                        .to_string(),
                );
            }
            let request = Request {
                request_id: format!("test-case {}", case.name),
                institution: institution.to_string(),
                product: policy.product.clone(),
                features: case.features.clone(),
            };
            match evaluate(policy, &request, Options { trace: false }) {
                Ok(decision) => compare(case, &decision, &mut differences),
                Err(crate::error::EvaluateError::Input(e)) => {
                    for f in e.errors {
                        differences.push(format!(
                            "the household is refused: `{}`: {}",
                            f.field, f.message
                        ));
                    }
                }
                Err(e) => differences.push(format!("the policy cannot decide it: {e}")),
            }
            CaseRun {
                document: document.clone(),
                source: source.to_string(),
                index,
                name: case.name.clone(),
                under: under.clone(),
                differences,
            }
        })
        .collect()
}

fn compare(case: &TestCase, d: &Decision, differences: &mut Vec<String>) {
    let e = &case.expect;
    let mut check = |field: &str, expected: &dyn Display, got: &dyn Display, same: bool| {
        if !same {
            differences.push(format!("`{field}`: expected {expected}, got {got}"));
        }
    };
    if let Some(x) = e.decision {
        check(
            "decision",
            &x.as_str(),
            &d.decision.as_str(),
            x == d.decision,
        );
    }
    if let Some(x) = e.score {
        check("score", &x, &d.score, x == d.score);
    }
    if let Some(x) = &e.grade {
        check("grade", x, &d.grade, *x == d.grade);
    }
    if let Some(x) = e.limit {
        check("limit", &x, &d.limit, x == d.limit);
    }
    if let Some(x) = e.annual_rate {
        let show =
            |r: Option<rust_decimal::Decimal>| r.map_or("none".to_string(), |r| r.to_string());
        check(
            "annual_rate",
            &show(x),
            &show(d.annual_rate),
            x == d.annual_rate,
        );
    }
    let codes =
        |rs: &[crate::decision::Reason]| rs.iter().map(|r| r.code.clone()).collect::<Vec<_>>();
    if let Some(x) = &e.reason_codes {
        let got = codes(&d.reasons);
        check("reason_codes", &list(x), &list(&got), *x == got);
    }
    if let Some(x) = &e.flag_codes {
        let got = codes(&d.flags);
        check("flag_codes", &list(x), &list(&got), *x == got);
    }
}

fn list(codes: &[String]) -> String {
    format!("[{}]", codes.join(", "))
}

/// Every failing run as a problem of its document: one per difference.
pub fn failures(runs: &[CaseRun]) -> Result<(), PolicyError> {
    let mut issues = crate::error::Issues::default();
    for run in runs.iter().filter(|r| !r.passed()) {
        for d in &run.differences {
            issues.push(
                &run.source,
                run.place(),
                format!("{d} (under {})", run.under),
            );
        }
    }
    issues.into_result()
}
