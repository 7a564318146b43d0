//! toad: `ScoreCard.export()` JSON `{variable: {label: points}}`.
//!
//! Labels: `[lo ~ hi)` with `-inf`/`inf` (closed on the left), categories
//! joined by `,`, `nan`, `else`. There is no base row. toad fills a numeric
//! NaN with -1 unless the variable has a `nan` bin, turns a categorical NaN
//! into the string `nan`, and gives an unseen category the `else` bin or,
//! without one, the variable's lowest points; the card writes all of that as
//! missing and else bins.

use rust_decimal::Decimal;

use super::{
    ImportError, ImportOptions, card, categories, characteristic, left_closed, missing, otherwise,
    points,
};
use decision_core::compile::Interval;
use decision_core::model::ScorecardDoc;
use decision_core::model::scorecard::Provenance;

pub fn import(text: &str, options: &ImportOptions) -> Result<ScorecardDoc, ImportError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::one(format!("not valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ImportError::one("expected a JSON object {variable: {label: points}}"))?;
    let mut problems = Vec::new();
    let mut characteristics = Vec::new();
    for (variable, bins) in obj {
        let Some(bins) = bins.as_object() else {
            problems.push(format!("{variable}: expected an object {{label: points}}"));
            continue;
        };
        let mut out = Vec::new();
        let mut numeric = false;
        let mut has_missing = false;
        for (label, p) in bins {
            let place = format!("{variable} bin `{label}`");
            let p = match points(p.to_string().trim_matches('"'), &place) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            if label == "nan" {
                out.push(missing(p, "nan"));
                has_missing = true;
            } else if label == "else" {
                out.push(otherwise(p, "else"));
            } else if let Some(inner) = label.strip_prefix('[').and_then(|l| l.strip_suffix(')'))
                && let Some((lo, hi)) = inner.split_once(" ~ ")
            {
                match left_closed(lo, hi, p, label, &place) {
                    Ok(b) => {
                        numeric = true;
                        out.push(b);
                    }
                    Err(e) => problems.push(e),
                }
            } else {
                let parts: Vec<String> = label.split(',').map(str::to_string).collect();
                if parts.iter().any(|c| c == "nan") {
                    out.push(missing(p, "nan"));
                    has_missing = true;
                }
                let values: Vec<String> = parts.into_iter().filter(|c| c != "nan").collect();
                if !values.is_empty() {
                    out.push(categories(values, p));
                }
            }
        }
        let lowest = out.iter().map(|b| b.points).min().unwrap_or(Decimal::ZERO);
        if numeric && !has_missing {
            // NaN is filled with -1 and binned like -1.
            let at_minus_one = out
                .iter()
                .filter_map(|b| {
                    b.interval
                        .as_deref()
                        .and_then(|i| Interval::parse(i).ok())
                        .map(|i| (i, b.points))
                })
                .find(|(i, _)| i.contains(Decimal::NEGATIVE_ONE))
                .map(|(_, p)| p);
            match at_minus_one {
                Some(p) => out.push(missing(p, "nan (toad: filled with -1)")),
                None => problems.push(format!(
                    "{variable}: no bin holds -1, where toad puts a missing value"
                )),
            }
        }
        if !numeric {
            let else_points = out.iter().find(|b| b.otherwise).map(|b| b.points);
            if !has_missing {
                out.push(missing(
                    else_points.unwrap_or(lowest),
                    "nan (toad: an unseen category)",
                ));
            }
            if else_points.is_none() {
                out.push(otherwise(
                    lowest,
                    "unseen (toad: the variable's lowest points)",
                ));
            }
        }
        characteristics.push(characteristic(variable, out));
    }
    if !problems.is_empty() {
        return Err(ImportError { problems });
    }
    Ok(card(
        options,
        Decimal::ZERO,
        characteristics,
        Provenance {
            tool: "toad".to_string(),
            source_file: options.source_file.clone(),
            missing_values: "the `nan` bin; without one a numeric NaN is binned as -1 and a categorical one as an unseen category".to_string(),
            unknown_categories: "the `else` bin, or the variable's lowest points".to_string(),
            notes: vec!["toad rounds exported points to 2 decimals; its predict() on the fitted card uses the unrounded ones".to_string()],
        },
    ))
}
