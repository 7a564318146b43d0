//! Checks a request against the policy's feature schema and binds its
//! values into evaluation slots. Every problem is reported, each naming the
//! field and what was expected; nothing is evaluated when any is found.

use crate::compile::Policy;
use crate::error::{FieldError, InputError};
use crate::expr::{EValue, Slots};
use crate::request::Request;

/// The longest accepted `request_id`, `institution` or `product`.
pub const MAX_KEY_LENGTH: usize = 128;

/// A feature value as a front door received it, before it is checked:
/// what a JSON value, a proto field or a table cell carries. Every front
/// door binds through [`Binder`] with these, so a value is checked, and
/// refused with the same message, whichever way it came.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input<'a> {
    /// true or false.
    Bool(bool),
    /// An integer the front door already holds as one (a proto `int64`, a
    /// table cell of an integer feature).
    Int(i64),
    /// A JSON number, exactly as written.
    Number(&'a str),
    /// Text: a JSON or proto string, a table cell.
    Text(&'a str),
    /// A value no feature takes, by its kind (`null`, `an array`,
    /// `an object`), for the message.
    Other(&'static str),
}

impl<'a> Input<'a> {
    /// A JSON value as an input.
    pub fn of_json(value: &'a serde_json::Value) -> Input<'a> {
        match value {
            serde_json::Value::Bool(b) => Input::Bool(*b),
            serde_json::Value::Number(n) => Input::Number(n.as_str()),
            serde_json::Value::String(s) => Input::Text(s),
            other => Input::Other(crate::model::json_kind(other)),
        }
    }

    /// The value as a JSON request carries it (what the same household
    /// sends online). A kind no feature takes becomes null.
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            Input::Bool(b) => serde_json::Value::Bool(b),
            Input::Int(i) => serde_json::Value::from(i),
            Input::Number(n) => {
                serde_json::from_str(n).unwrap_or_else(|_| serde_json::Value::String(n.to_string()))
            }
            Input::Text(s) => serde_json::Value::String(s.to_string()),
            Input::Other(_) => serde_json::Value::Null,
        }
    }

    /// The value shortened for an error message, written as JSON would
    /// show it.
    pub fn short(&self) -> String {
        match self {
            Input::Text(s) if s.chars().count() > 40 => {
                format!("a string {:?}...", s.chars().take(40).collect::<String>())
            }
            Input::Text(s) => format!("{s:?}"),
            Input::Number(n) => n.to_string(),
            Input::Int(i) => i.to_string(),
            Input::Bool(b) => b.to_string(),
            Input::Other(kind) => kind.to_string(),
        }
    }
}

/// Checks one request's keys and features against the policy's feature
/// schema and binds them into evaluation slots. A front door hands it
/// each feature it holds, by name or by schema index, then asks for the
/// slots: every problem is reported, each naming the field and what was
/// expected, and nothing is evaluated when any is found.
pub struct Binder<'p> {
    policy: &'p Policy,
    slots: Slots,
    errors: Vec<FieldError>,
    /// Schema indices of features whose value was refused.
    invalid: Vec<usize>,
}

impl<'p> Binder<'p> {
    /// Starts a request for `policy`, checking its keys.
    pub fn new(policy: &'p Policy, request_id: &str, institution: &str, product: &str) -> Self {
        let mut errors = Vec::new();
        let mut err = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_string(),
                message,
            })
        };
        for (field, value) in [
            ("request_id", request_id),
            ("institution", institution),
            ("product", product),
        ] {
            if value.trim().is_empty() {
                err(field, "must not be empty".to_string());
            } else if value.chars().count() > MAX_KEY_LENGTH || value.chars().any(char::is_control)
            {
                err(
                    field,
                    format!("expected at most {MAX_KEY_LENGTH} printable characters"),
                );
            }
        }
        if !product.trim().is_empty() && product != policy.product {
            err(
                "product",
                format!("unknown product `{product}`; expected `{}`", policy.product),
            );
        }
        Binder {
            policy,
            slots: policy.new_slots(),
            errors,
            invalid: Vec::new(),
        }
    }

    /// One feature by its canonical name; `None` when the request carries
    /// it as null. A name the schema does not declare is refused, null or
    /// not.
    pub fn set(&mut self, name: &str, value: Option<Input<'_>>) {
        let schema = &self.policy.schema;
        let Some(&index) = schema.by_name.get(name) else {
            self.errors.push(FieldError {
                field: field(name),
                message: format!(
                    "unknown feature; the feature schema {}@{} declares no such name",
                    schema.id, schema.version
                ),
            });
            return;
        };
        if let Some(value) = value {
            self.set_at(index, value);
        }
    }

    /// One feature by its index in the policy's schema (a front door that
    /// resolved the names once).
    pub fn set_at(&mut self, index: usize, value: Input<'_>) {
        let feature = &self.policy.schema.features[index];
        match crate::compile::schema::feature_value(feature, value) {
            Ok(v) => self.slots.set(feature.slot, v),
            Err(message) => {
                self.invalid.push(index);
                self.errors.push(FieldError {
                    field: field(&feature.name),
                    message,
                });
            }
        }
    }

    /// The slots, with defaults applied, or every problem found.
    pub fn finish(mut self) -> Result<Slots, InputError> {
        let schema = &self.policy.schema;
        for (index, feature) in schema.features.iter().enumerate() {
            if self.invalid.contains(&index) {
                continue;
            }
            if self.slots.is_missing(feature.slot) {
                if feature.required {
                    self.errors.push(FieldError {
                        field: field(&feature.name),
                        message: format!(
                            "required feature is missing: expected {}",
                            feature.expectation()
                        ),
                    });
                } else if let Some(default) = &feature.default {
                    self.slots.set(feature.slot, default.clone());
                }
                continue;
            }
            if let Some(guard) = feature.only_if.map(|g| &schema.features[g])
                && !matches!(self.slots.get(guard.slot), EValue::Boolean(true))
            {
                self.errors.push(FieldError {
                    field: field(&feature.name),
                    message: format!(
                        "present, but `{}` is not true: a household without a {} record carries no such feature",
                        guard.name,
                        guard.name.split('_').next().unwrap_or("matching")
                    ),
                });
            }
        }
        if self.errors.is_empty() {
            Ok(self.slots)
        } else {
            Err(InputError {
                errors: self.errors,
            })
        }
    }
}

/// A feature's field in messages. Formatted only for an error: binding
/// runs per request.
fn field(name: &str) -> String {
    format!("features.{name}")
}

/// Validates a JSON `request` and returns slots holding its features
/// (defaults applied) and the policy's parameters.
pub fn bind(policy: &Policy, request: &Request) -> Result<Slots, InputError> {
    let mut binder = Binder::new(
        policy,
        &request.request_id,
        &request.institution,
        &request.product,
    );
    for (name, value) in &request.features {
        binder.set(name, (!value.is_null()).then(|| Input::of_json(value)));
    }
    binder.finish()
}

/// One cell of a table (CSV, or a Parquet column read as text) as the value
/// the request would carry for `feature`: an empty cell is absent;
/// booleans are `true`/`false`; integers may be written `49.0` (as tools
/// write an integer column with gaps); money and decimals stay exact text.
pub fn feature_from_cell<'c>(
    feature: &crate::compile::Feature,
    cell: &'c str,
) -> Result<Option<Input<'c>>, String> {
    use crate::model::schema::FeatureType;
    let cell = cell.trim();
    if cell.is_empty() {
        return Ok(None);
    }
    let value = match feature.ty {
        FeatureType::Bool => match cell {
            "true" | "TRUE" | "True" => Input::Bool(true),
            "false" | "FALSE" | "False" => Input::Bool(false),
            _ => return Err(format!("expected true or false, found {cell:?}")),
        },
        FeatureType::Integer => {
            let whole = cell.strip_suffix(".0").unwrap_or(cell);
            match whole.parse::<i64>() {
                Ok(i) => Input::Int(i),
                Err(_) => {
                    return Err(format!(
                        "expected {}, found {cell:?}",
                        feature.expectation()
                    ));
                }
            }
        }
        FeatureType::Money | FeatureType::Decimal | FeatureType::Enum | FeatureType::String => {
            Input::Text(cell)
        }
    };
    Ok(Some(value))
}
