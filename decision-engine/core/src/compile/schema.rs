//! The compiled feature schema: each feature's slot, type and checks.

use rustc_hash::FxHashMap;

use rust_decimal::Decimal;

use crate::error::Issues;
use crate::expr::{EValue, Layout, Num, Var, VarKind, VarType};
use crate::model::schema::{FeatureDef, FeatureType};
use crate::model::{DecimalError, SchemaDoc, decimal_from_text};
use crate::validate::Input;

use super::Phase;

/// One feature, ready to validate request values.
#[derive(Clone, Debug)]
pub struct Feature {
    /// The canonical name: the JSON key in a request's `features`.
    pub name: String,
    /// The type, which fixes the accepted encoding.
    pub ty: FeatureType,
    /// Where its value is bound for expressions.
    pub slot: usize,
    /// The unit, for people, e.g. `yuan`.
    pub unit: Option<String>,
    /// Inclusive lower bound of a numeric value.
    pub min: Option<Decimal>,
    /// Inclusive upper bound of a numeric value.
    pub max: Option<Decimal>,
    /// Most decimal places accepted; money defaults to 2.
    pub scale: Option<u32>,
    /// The allowed values of an enum feature; empty for other types.
    pub values: Vec<String>,
    /// Longest accepted string, in characters.
    pub max_length: Option<usize>,
    /// A request without this feature is refused.
    pub required: bool,
    /// The value used when the request omits the feature.
    pub default: Option<EValue>,
    /// Index (in `features`) of the boolean feature that must be true.
    pub only_if: Option<usize>,
}

impl Feature {
    /// What a valid value looks like, for error messages.
    pub fn expectation(&self) -> String {
        let mut s = match self.ty {
            FeatureType::Bool => "true or false".to_string(),
            FeatureType::Integer => "an integer".to_string(),
            FeatureType::Money => format!(
                "an amount in yuan with at most {} decimal places, as a decimal string or number",
                self.scale.unwrap_or(2)
            ),
            FeatureType::Decimal => "a decimal number or decimal string".to_string(),
            FeatureType::Enum => format!("one of {}", self.values.join(", ")),
            FeatureType::String => "a string".to_string(),
        };
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => s.push_str(&format!(" between {lo} and {hi}")),
            (Some(lo), None) => s.push_str(&format!(" of at least {lo}")),
            (None, Some(hi)) => s.push_str(&format!(" of at most {hi}")),
            (None, None) => {}
        }
        s
    }
}

/// The compiled schema.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The schema document's id.
    pub id: String,
    /// The schema document's version.
    pub version: String,
    /// The features in document order, the order the trace lists them.
    pub features: Vec<Feature>,
    /// Each feature's index in `features`, by name.
    pub by_name: FxHashMap<String, usize>,
}

pub(super) fn var_type(ty: FeatureType) -> VarType {
    match ty {
        FeatureType::Bool => VarType::Bool,
        FeatureType::Integer => VarType::Int,
        FeatureType::Money | FeatureType::Decimal => VarType::Decimal,
        FeatureType::Enum | FeatureType::String => VarType::Text,
    }
}

/// Converts one value as a front door received it to a feature value, or
/// says what was expected.
pub fn feature_value(feature: &Feature, value: Input<'_>) -> Result<EValue, String> {
    let found = || {
        format!(
            "expected {}, found {}",
            feature.expectation(),
            value.short()
        )
    };
    let v = match feature.ty {
        FeatureType::Bool => match value {
            Input::Bool(b) => EValue::Boolean(b),
            _ => return Err(found()),
        },
        FeatureType::Integer => {
            let i = match value {
                Input::Int(i) => i,
                Input::Number(n) => n.parse().map_err(|_| found())?,
                _ => return Err(found()),
            };
            check_range(feature, Decimal::from(i)).map_err(|_| found())?;
            EValue::Int(i)
        }
        FeatureType::Money | FeatureType::Decimal => {
            let parsed = match value {
                Input::Int(i) => Ok(Decimal::from(i)),
                Input::Number(n) => decimal_from_text(n),
                Input::Text(s) => decimal_from_text(s.trim()),
                Input::Bool(_) | Input::Other(_) => return Err(found()),
            };
            let d = parsed.map_err(|e| match e {
                // Too many digits to hold exactly: say so, never round.
                DecimalError::TooManyDigits { .. } => format!("{}: {e}", found()),
                DecimalError::NotANumber(_) => found(),
            })?;
            let scale = feature.scale.or(if feature.ty == FeatureType::Money {
                Some(2)
            } else {
                None
            });
            if let Some(scale) = scale
                && d.normalize().scale() > scale
            {
                return Err(found());
            }
            check_range(feature, d).map_err(|_| found())?;
            EValue::Float(Num(d))
        }
        FeatureType::Enum => {
            let Input::Text(s) = value else {
                return Err(found());
            };
            if !feature.values.iter().any(|v| v == s) {
                return Err(found());
            }
            EValue::String(s.to_string())
        }
        FeatureType::String => {
            let Input::Text(s) = value else {
                return Err(found());
            };
            if let Some(max) = feature.max_length
                && s.chars().count() > max
            {
                return Err(format!(
                    "expected a string of at most {max} characters, found {} characters",
                    s.chars().count()
                ));
            }
            EValue::String(s.to_string())
        }
    };
    Ok(v)
}

fn check_range(feature: &Feature, d: Decimal) -> Result<(), ()> {
    if feature.min.is_some_and(|lo| d < lo) || feature.max.is_some_and(|hi| d > hi) {
        Err(())
    } else {
        Ok(())
    }
}

fn sample(f: &FeatureDef) -> EValue {
    match f.ty {
        FeatureType::Bool => EValue::Boolean(true),
        FeatureType::Integer => EValue::Int(1),
        FeatureType::Money | FeatureType::Decimal => EValue::Float(Num(Decimal::ONE)),
        FeatureType::Enum => EValue::String(
            f.values
                .as_ref()
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default(),
        ),
        FeatureType::String => EValue::String("sample".to_string()),
    }
}

/// Compiles the schema and adds every feature to the layout.
pub(super) fn compile(
    doc: &SchemaDoc,
    source: &str,
    layout: &mut Layout,
    issues: &mut Issues,
) -> Schema {
    let mut features: Vec<Feature> = Vec::new();
    let mut by_name = FxHashMap::default();
    for (i, f) in doc.features.iter().enumerate() {
        let place = format!("features[{i}] {}", f.name);
        if !is_identifier(&f.name) {
            issues.push(
                source,
                &place,
                "a feature name must start with a letter and hold only letters, digits and `_`",
            );
            continue;
        }
        let numeric = matches!(
            f.ty,
            FeatureType::Integer | FeatureType::Money | FeatureType::Decimal
        );
        if !numeric && (f.min.is_some() || f.max.is_some()) {
            issues.push(
                source,
                &place,
                format!(
                    "min and max apply to numeric features, not to a {}",
                    f.ty.name()
                ),
            );
        }
        if let (Some(lo), Some(hi)) = (f.min, f.max)
            && lo > hi
        {
            issues.push(source, &place, format!("min {lo} is greater than max {hi}"));
        }
        let values = f.values.clone().unwrap_or_default();
        match (f.ty, values.is_empty()) {
            (FeatureType::Enum, true) => issues.push(
                source,
                &place,
                "an enum feature needs a non-empty `values` list",
            ),
            (FeatureType::Enum, false) => {}
            (_, false) => issues.push(source, &place, "`values` applies to enum features only"),
            _ => {}
        }
        if f.required && f.default.is_some() {
            issues.push(
                source,
                &place,
                "a required feature cannot also have a default",
            );
        }
        let slot = match layout.add(Var {
            name: f.name.as_str().into(),
            ty: var_type(f.ty),
            kind: VarKind::Feature,
            optional: !f.required && f.default.is_none(),
            sample: sample(f),
            phase: Phase::Input as u8,
        }) {
            Ok(slot) => slot,
            Err(e) => {
                issues.push(source, &place, e);
                continue;
            }
        };
        let mut feature = Feature {
            name: f.name.clone(),
            ty: f.ty,
            slot,
            unit: f.unit.clone(),
            min: f.min,
            max: f.max,
            scale: f.scale,
            values,
            max_length: f.max_length,
            required: f.required,
            default: None,
            only_if: None,
        };
        if let Some(default) = &f.default {
            match feature_value(&feature, Input::of_json(default)) {
                Ok(v) => feature.default = Some(v),
                Err(e) => issues.push(source, format!("{place}.default"), e),
            }
        }
        by_name.insert(f.name.clone(), features.len());
        features.push(feature);
    }
    for (i, f) in doc.features.iter().enumerate() {
        let Some(guard) = &f.only_if else { continue };
        let place = format!("features[{i}] {}.only_if", f.name);
        match by_name.get(guard) {
            Some(&g) if features[g].ty == FeatureType::Bool => {
                if let Some(&me) = by_name.get(&f.name) {
                    features[me].only_if = Some(g);
                }
            }
            Some(_) => issues.push(source, place, format!("`{guard}` must be a bool feature")),
            None => issues.push(source, place, format!("unknown feature `{guard}`")),
        }
    }
    Schema {
        id: doc.id.clone(),
        version: doc.version.clone(),
        features,
        by_name,
    }
}

/// Names usable in expressions: a letter, then letters, digits or `_`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(name, "true" | "false")
}
