//! Scorecards exported by other tools, turned into native scorecard
//! documents: one module per format. Each tool's treatment of missing values
//! and unseen categories is written into the card as explicit missing and
//! else bins (and stated in its `provenance`), so the card scores as the tool
//! does and an analyst can change it. A label or construct that cannot be
//! represented is refused with its place, never dropped. [`scoring`] scores
//! a CSV with one card alone, to check an import against the tool's scores.

#![forbid(unsafe_code)]

pub mod optbinning;
pub mod pmml;
pub mod scorecardpy;
pub mod scoring;
pub mod toad;

use rust_decimal::Decimal;

use decision_core::compile::Interval;
use decision_core::model::ScorecardDoc;
use decision_core::model::scorecard::{BinDef, CharacteristicDef, Provenance, ReasonCodeAlgorithm};

/// The formats `decision-engine import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// `sc.scorecard()` as the long CSV `variable,bin,points` or its JSON dict form.
    Scorecardpy,
    /// `Scorecard.table(style="summary")` or `style="detailed"` as CSV.
    Optbinning,
    /// `ScoreCard.export()` JSON `{variable: {label: points}}`.
    Toad,
    /// A PMML 4.x `Scorecard` model.
    Pmml,
}

/// Id and version of the card to write, and the file it came from.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub id: String,
    pub version: String,
    pub source_file: String,
}

/// An export that cannot be imported, with every problem found.
#[derive(Debug, thiserror::Error)]
pub struct ImportError {
    pub problems: Vec<String>,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot import ({} problem{}):",
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl ImportError {
    pub fn one(message: impl Into<String>) -> Self {
        ImportError {
            problems: vec![message.into()],
        }
    }
}

/// Reads an export of `format`.
pub fn import(
    format: Format,
    text: &str,
    options: &ImportOptions,
) -> Result<ScorecardDoc, ImportError> {
    match format {
        Format::Scorecardpy => scorecardpy::import(text, options),
        Format::Optbinning => optbinning::import(text, options),
        Format::Toad => toad::import(text, options),
        Format::Pmml => pmml::import(text, options),
    }
}

/// An interval in the native form from its two ends as written by a tool
/// (`-inf`/`inf` allowed); `[lo, hi)` with open infinite ends.
pub(crate) fn left_closed(
    lo: &str,
    hi: &str,
    points: Decimal,
    label: &str,
    place: &str,
) -> Result<BinDef, String> {
    let lo = lo.trim();
    let hi = hi.trim();
    let text = format!(
        "{}{}, {})",
        if lo == "-inf" { '(' } else { '[' },
        lo,
        if hi == "+inf" { "inf" } else { hi }
    );
    Interval::parse(&text).map_err(|e| format!("{place}: {e}"))?;
    let mut bin = interval(text, points);
    bin.label = Some(label.to_string());
    Ok(bin)
}

pub(crate) fn interval(text: String, points: Decimal) -> BinDef {
    BinDef {
        interval: Some(text),
        points,
        ..BinDef::default()
    }
}

pub(crate) fn categories(values: Vec<String>, points: Decimal) -> BinDef {
    BinDef {
        categories: Some(values),
        points,
        ..BinDef::default()
    }
}

pub(crate) fn missing(points: Decimal, label: &str) -> BinDef {
    BinDef {
        label: Some(label.to_string()),
        missing: true,
        points,
        ..BinDef::default()
    }
}

pub(crate) fn otherwise(points: Decimal, label: &str) -> BinDef {
    BinDef {
        label: Some(label.to_string()),
        otherwise: true,
        points,
        ..BinDef::default()
    }
}

/// A points value as written by the tool, exactly.
pub(crate) fn points(text: &str, place: &str) -> Result<Decimal, String> {
    let t = text.trim();
    Decimal::from_str_exact(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| format!("{place}: points `{t}` is not a number"))
}

/// A characteristic named after the tool's variable; its reason code is the
/// variable name and its baseline its best bin (PMML pointsBelow: reasons
/// rank the variables that cost the most points).
pub(crate) fn characteristic(variable: &str, bins: Vec<BinDef>) -> CharacteristicDef {
    let baseline = bins.iter().map(|b| b.points).max().unwrap_or_default();
    CharacteristicDef {
        name: variable.to_string(),
        feature: variable.to_string(),
        reason_code: variable.to_string(),
        baseline,
        message_zh: format!("变量 {variable} 得分偏低"),
        message_en: format!("Low points on {variable}"),
        bins,
    }
}

pub(crate) fn card(
    options: &ImportOptions,
    base_points: Decimal,
    characteristics: Vec<CharacteristicDef>,
    provenance: Provenance,
) -> ScorecardDoc {
    ScorecardDoc {
        kind: "scorecard".to_string(),
        id: options.id.clone(),
        version: options.version.clone(),
        description: format!(
            "Imported from {} export {}",
            provenance.tool, options.source_file
        ),
        illustrative: false,
        institution: None,
        base_points,
        reason_code_algorithm: ReasonCodeAlgorithm::PointsBelow,
        count_zero_differences: false,
        max_reason_codes: 4,
        derived: Vec::new(),
        expression_semantics: Default::default(),
        characteristics,
        provenance: Some(provenance),
        fields: Vec::new(),
        test_cases: Vec::new(),
    }
}

/// Reads a CSV export into rows of named columns.
pub(crate) fn csv_rows(
    text: &str,
    required: &[&str],
) -> Result<Vec<std::collections::HashMap<String, String>>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ImportError::one(format!("not a CSV file: {e}")))?
        .clone();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|r| !headers.iter().any(|h| h == *r))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::one(format!(
            "missing column{} {}: expected a header with {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            required.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ImportError::one(format!("row {}: {e}", i + 2)))?;
        rows.push(
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect(),
        );
    }
    Ok(rows)
}

/// The variables in order of first appearance with their (label, points).
pub(crate) fn group_by_variable(
    rows: impl IntoIterator<Item = (String, String, String)>,
) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (variable, label, points) in rows {
        match out.iter_mut().find(|(v, _)| *v == variable) {
            Some((_, bins)) => bins.push((label, points)),
            None => out.push((variable, vec![(label, points)])),
        }
    }
    out
}
