//! Which input column feeds which feature: checked once, from the header,
//! before any row is read. A missing required column or a column the
//! schema does not know refuses the whole file (a misspelt column would
//! otherwise turn into a missing value on every row).

use decision_core::FieldError;
use decision_core::compile::Schema;

/// The household's id (the request id of its decision).
pub const HOUSEHOLD_ID: &str = "household_id";
/// The village the household belongs to (the summary's key).
pub const VILLAGE_CODE: &str = "village_code";

/// Input column positions.
#[derive(Clone, Debug)]
pub struct Columns {
    pub household_id: usize,
    pub village_code: usize,
    /// (column position, feature index in the schema).
    pub features: Vec<(usize, usize)>,
}

/// Maps the header `names` onto the schema; every problem is listed, each
/// naming the column.
pub fn plan(
    names: &[String],
    schema: &Schema,
    ignore: &[String],
) -> Result<Columns, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut household_id = None;
    let mut village_code = None;
    let mut features = Vec::new();
    for (position, name) in names.iter().enumerate() {
        if names[..position].contains(name) {
            errors.push(FieldError {
                field: name.clone(),
                message: "column appears twice in the header; expected each column once".into(),
            });
            continue;
        }
        // The id and the village may also be features of the schema (the
        // shipped one declares village_code): then they feed both.
        match name.as_str() {
            HOUSEHOLD_ID => household_id = Some(position),
            VILLAGE_CODE => village_code = Some(position),
            _ => {}
        }
        match name.as_str() {
            _ if ignore.contains(name) => {}
            HOUSEHOLD_ID | VILLAGE_CODE if !schema.by_name.contains_key(name) => {}
            _ => match schema.by_name.get(name) {
                Some(&feature) => features.push((position, feature)),
                None => errors.push(FieldError {
                    field: name.clone(),
                    message: format!(
                        "unknown column: the feature schema {}@{} declares no such feature{}; expected {HOUSEHOLD_ID}, {VILLAGE_CODE} or a feature name (pass --ignore-column {name} to skip it)",
                        schema.id,
                        schema.version,
                        closest(name, schema)
                            .map(|c| format!(" (did you mean `{c}`?)"))
                            .unwrap_or_default()
                    ),
                }),
            },
        }
    }
    for (found, name, what) in [
        (household_id, HOUSEHOLD_ID, "the household's id"),
        (village_code, VILLAGE_CODE, "the village's code"),
    ] {
        if found.is_none() {
            errors.push(FieldError {
                field: name.to_string(),
                message: format!("required column is missing: expected {what} in every row"),
            });
        }
    }
    for (index, feature) in schema.features.iter().enumerate() {
        if feature.required && !features.iter().any(|&(_, f)| f == index) {
            errors.push(FieldError {
                field: feature.name.clone(),
                message: format!(
                    "required feature column is missing: expected {} in every row",
                    feature.expectation()
                ),
            });
        }
    }
    match (household_id, village_code) {
        (Some(household_id), Some(village_code)) if errors.is_empty() => Ok(Columns {
            household_id,
            village_code,
            features,
        }),
        _ => Err(errors),
    }
}

/// Money and decimal features stored in floating-point columns: refused,
/// since a binary float cannot hold most decimal amounts exactly.
pub fn inexact(
    columns: &Columns,
    names: &[String],
    float_columns: &[String],
    schema: &Schema,
) -> Vec<FieldError> {
    use decision_core::model::schema::FeatureType;
    columns
        .features
        .iter()
        .filter(|&&(position, feature)| {
            float_columns.contains(&names[position])
                && matches!(
                    schema.features[feature].ty,
                    FeatureType::Money | FeatureType::Decimal
                )
        })
        .map(|&(position, _)| FieldError {
            field: names[position].clone(),
            message: "is a floating-point column: money and decimals must be exact; expected a string (or integer) column holding the decimal text, e.g. \"12500.00\"".to_string(),
        })
        .collect()
}

/// A declared feature a misspelt column name probably meant: the one with
/// the fewest single-character edits, if at most two.
fn closest<'a>(name: &str, schema: &'a Schema) -> Option<&'a str> {
    schema
        .features
        .iter()
        .map(|f| (edit_distance(name, &f.name), f.name.as_str()))
        .filter(|&(d, _)| d <= 2)
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("anual_net_income", "annual_net_income"), 1);
        assert_eq!(edit_distance("age", "age"), 0);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }
}
