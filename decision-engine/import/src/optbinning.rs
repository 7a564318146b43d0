//! optbinning: `Scorecard.table(style="summary")` (`Variable,Bin,Points`) or
//! `style="detailed"` (more columns, the same three used) as CSV.
//!
//! Labels: `(-inf, x)`, `[a, b)`, `[b, inf)`, category lists as numpy prints
//! them (`['a' 'b']`), and the `Special` and `Missing` rows every variable
//! has. There is no base row: the points add up to the score. optbinning
//! scores a missing value and an unseen category with the `Missing` row's
//! points; `Special` applies only to declared special codes, which these
//! exports do not list, so it is left out (and said so).

use super::{
    ImportError, ImportOptions, card, categories, characteristic, csv_rows, group_by_variable,
    left_closed, missing, otherwise, points,
};
use decision_core::model::ScorecardDoc;
use decision_core::model::scorecard::Provenance;

/// The items of a numpy array of strings as printed: `['a' 'b c']`.
fn numpy_strings(label: &str) -> Option<Vec<String>> {
    let inner = label.trim().strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let quote = rest.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let end = rest[1..].find(quote)? + 1;
        items.push(rest[1..end].to_string());
        rest = rest[end + 1..].trim_start();
    }
    (!items.is_empty()).then_some(items)
}

pub fn import(text: &str, options: &ImportOptions) -> Result<ScorecardDoc, ImportError> {
    let rows = csv_rows(text, &["Variable", "Bin", "Points"])?;
    let mut problems = Vec::new();
    let mut characteristics = Vec::new();
    let grouped = group_by_variable(
        rows.into_iter()
            .filter(|r| !r["Variable"].is_empty())
            .map(|r| (r["Variable"].clone(), r["Bin"].clone(), r["Points"].clone())),
    );
    for (variable, bins) in grouped {
        let mut out = Vec::new();
        let mut missing_points = None;
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
            match label.as_str() {
                "Special" => {}
                "Missing" => missing_points = Some(p),
                l if (l.starts_with("(-inf,") || l.starts_with('[')) && l.ends_with(')') => {
                    let inner = l.get(1..l.len() - 1).unwrap_or_default();
                    let Some((lo, hi)) = inner.split_once(',') else {
                        problems.push(format!("{place}: expected `[lo, hi)`"));
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
                l => match numpy_strings(l) {
                    Some(values) => out.push(categories(values, p)),
                    None => problems.push(format!(
                        "{place}: expected an interval such as `[1.5, 3.0)`, a category list such as `['a' 'b']`, `Special` or `Missing`"
                    )),
                },
            }
        }
        let Some(mp) = missing_points else {
            problems.push(format!("{variable}: no `Missing` row"));
            continue;
        };
        out.push(missing(mp, "Missing"));
        if !numeric {
            out.push(otherwise(
                mp,
                "unseen (optbinning: the Missing row's points)",
            ));
        }
        characteristics.push(characteristic(&variable, out));
    }
    if !problems.is_empty() {
        return Err(ImportError { problems });
    }
    Ok(card(
        options,
        rust_decimal::Decimal::ZERO,
        characteristics,
        Provenance {
            tool: "optbinning".to_string(),
            source_file: options.source_file.clone(),
            missing_values: "the `Missing` row's points".to_string(),
            unknown_categories: "the `Missing` row's points (optbinning indexes an unseen category as the last row)".to_string(),
            notes: vec![
                "the `Special` rows are left out: the export lists no special codes".to_string(),
                "bin edges are the labels' digits: export with show_digits=8 or more, the default 2 misplaces values near a split".to_string(),
            ],
        },
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn numpy_string_arrays_parse() {
        assert_eq!(
            super::numpy_strings("['huge' 'very large']").unwrap(),
            vec!["huge", "very large"]
        );
        assert_eq!(super::numpy_strings("[\"it's\"]").unwrap(), vec!["it's"]);
        assert!(super::numpy_strings("[huge]").is_none());
    }
}
