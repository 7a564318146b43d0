//! Checks a request against the policy's feature schema and binds its
//! values into evaluation slots. Every problem is reported, each naming the
//! field and what was expected; nothing is evaluated when any is found.

use crate::compile::Policy;
use crate::error::{FieldError, InputError};
use crate::expr::{EValue, Slots};
use crate::request::Request;

/// The longest accepted `request_id`, `institution` or `product`.
pub const MAX_KEY_LENGTH: usize = 128;

/// Validates `request` and returns slots holding its features (defaults
/// applied) and the policy's parameters.
pub fn bind(policy: &Policy, request: &Request) -> Result<Slots, InputError> {
    let mut errors = Vec::new();
    let mut err = |field: String, message: String| errors.push(FieldError { field, message });

    for (field, value) in [
        ("request_id", &request.request_id),
        ("institution", &request.institution),
        ("product", &request.product),
    ] {
        if value.trim().is_empty() {
            err(field.to_string(), "must not be empty".to_string());
        } else if value.chars().count() > MAX_KEY_LENGTH || value.chars().any(char::is_control) {
            err(
                field.to_string(),
                format!("expected at most {MAX_KEY_LENGTH} printable characters"),
            );
        }
    }
    if !request.product.trim().is_empty() && request.product != policy.product {
        err(
            "product".to_string(),
            format!(
                "unknown product `{}`; expected `{}`",
                request.product, policy.product
            ),
        );
    }

    let schema = &policy.schema;
    let mut slots = policy.new_slots();
    let mut invalid = Vec::new();
    // Field names are formatted only for an error: this runs per request.
    let field = |name: &str| format!("features.{name}");
    for (name, value) in &request.features {
        let Some(&index) = schema.by_name.get(name) else {
            err(
                field(name),
                format!(
                    "unknown feature; the feature schema {}@{} declares no such name",
                    schema.id, schema.version
                ),
            );
            continue;
        };
        if value.is_null() {
            continue;
        }
        let feature = &schema.features[index];
        match crate::compile::schema::feature_value(feature, value) {
            Ok(v) => slots.set(feature.slot, v),
            Err(message) => {
                invalid.push(index);
                err(field(name), message)
            }
        }
    }
    for (index, feature) in schema.features.iter().enumerate() {
        if invalid.contains(&index) {
            continue;
        }
        if slots.is_missing(feature.slot) {
            if feature.required {
                err(
                    field(&feature.name),
                    format!(
                        "required feature is missing: expected {}",
                        feature.expectation()
                    ),
                );
            } else if let Some(default) = &feature.default {
                slots.set(feature.slot, default.clone());
            }
            continue;
        }
        if let Some(guard) = feature.only_if.map(|g| &schema.features[g])
            && !matches!(slots.get(guard.slot), EValue::Boolean(true))
        {
            err(
                field(&feature.name),
                format!(
                    "present, but `{}` is not true: a household without a {} record carries no such feature",
                    guard.name,
                    guard.name.split('_').next().unwrap_or("matching")
                ),
            );
        }
    }
    if errors.is_empty() {
        Ok(slots)
    } else {
        Err(InputError { errors })
    }
}

/// One cell of a table (CSV, or a Parquet column read as text) as the JSON
/// value the request would carry for `feature`: an empty cell is absent;
/// booleans are `true`/`false`; integers may be written `49.0` (as tools
/// write an integer column with gaps); money and decimals stay exact text.
pub fn feature_from_cell(
    feature: &crate::compile::Feature,
    cell: &str,
) -> Result<Option<serde_json::Value>, String> {
    use crate::model::schema::FeatureType;
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let value = match feature.ty {
        FeatureType::Bool => match cell {
            "true" | "TRUE" | "True" => serde_json::Value::Bool(true),
            "false" | "FALSE" | "False" => serde_json::Value::Bool(false),
            _ => return Err(format!("expected true or false, found {cell:?}")),
        },
        FeatureType::Integer => {
            let whole = cell.strip_suffix(".0").unwrap_or(cell);
            match whole.parse::<i64>() {
                Ok(i) => serde_json::Value::from(i),
                Err(_) => {
                    return Err(format!(
                        "expected {}, found {cell:?}",
                        feature.expectation()
                    ));
                }
            }
        }
        FeatureType::Money | FeatureType::Decimal | FeatureType::Enum | FeatureType::String => {
            serde_json::Value::String(cell.to_string())
        }
    };
    Ok(Some(value))
}
