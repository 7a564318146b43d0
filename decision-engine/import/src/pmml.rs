//! PMML 4.x `Scorecard` models: SimplePredicate, CompoundPredicate (and, or,
//! xor, surrogate), SimpleSetPredicate, True/False, partialScore and
//! ComplexPartialScore over the PMML 4.4 built-in functions a scorecard
//! uses, initialScore, baselineScore at model and characteristic level,
//! reasonCode at characteristic and attribute level, useReasonCodes,
//! reasonCodeAlgorithm pointsBelow/pointsAbove, MiningField
//! missingValueReplacement, and the `DerivedField`s of the
//! TransformationDictionary and the model's LocalTransformations (Apply,
//! FieldRef, Constant, Discretize, MapValues with an InlineTable,
//! NormContinuous), which become the card's `derived` values.
//!
//! Semantics follow the specification as JPMML implements it: the first
//! attribute whose predicate is true wins, a row that matches no attribute
//! is an error, comparisons with a missing value are unknown, and reason
//! codes keep a zero difference and drop negative ones. Anything else
//! (another model type, another transformation, other functions) is refused
//! with the construct and where it is.

use roxmltree::{Document, Node};
use rust_decimal::Decimal;

use super::{ImportError, ImportOptions, points};
use decision_core::model::ScorecardDoc;
use decision_core::model::scorecard::{
    BinDef, CardDerivedDef, CardValueType, CharacteristicDef, CompareOp, DiscretizeBinDef,
    DiscretizeDef, ExpressionSemantics, FieldDef, FieldType, MapRowDef, MapValuesDef,
    NormContinuousDef, NormPointDef, Outliers, Predicate, Provenance, ReasonCodeAlgorithm,
};

fn children<'a>(node: Node<'a, 'a>) -> impl Iterator<Item = Node<'a, 'a>> {
    node.children().filter(|n| n.is_element())
}

fn child<'a>(node: Node<'a, 'a>, name: &str) -> Option<Node<'a, 'a>> {
    children(node).find(|n| n.tag_name().name() == name)
}

fn attr<'a>(node: Node<'a, 'a>, name: &str, place: &str) -> Result<&'a str, String> {
    node.attribute(name).ok_or_else(|| {
        format!(
            "{place}: <{}> has no `{name}` attribute",
            node.tag_name().name()
        )
    })
}

/// The items of a PMML `Array`: whitespace-separated, `"quoted"` when they
/// hold spaces.
fn array_items(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut item = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => item.extend(chars.next()),
                    '"' => break,
                    c => item.push(c),
                }
            }
            items.push(item);
        } else {
            let mut item = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                item.push(c);
                chars.next();
            }
            items.push(item);
        }
    }
    items
}

fn predicate(node: Node, place: &str) -> Result<Predicate, String> {
    let name = node.tag_name().name();
    Ok(match name {
        "True" => Predicate::True,
        "False" => Predicate::False,
        "SimplePredicate" => {
            let field = attr(node, "field", place)?.to_string();
            let op = attr(node, "operator", place)?;
            let value = || attr(node, "value", place).map(str::to_string);
            let compare = |op| {
                Ok::<_, String>(Predicate::Compare {
                    field: field.clone(),
                    op,
                    value: value()?,
                })
            };
            match op {
                "equal" => compare(CompareOp::Equal)?,
                "notEqual" => compare(CompareOp::NotEqual)?,
                "lessThan" => compare(CompareOp::LessThan)?,
                "lessOrEqual" => compare(CompareOp::LessOrEqual)?,
                "greaterThan" => compare(CompareOp::GreaterThan)?,
                "greaterOrEqual" => compare(CompareOp::GreaterOrEqual)?,
                "isMissing" => Predicate::IsMissing { field },
                "isNotMissing" => Predicate::IsNotMissing { field },
                other => {
                    return Err(format!(
                        "{place}: SimplePredicate operator `{other}` is not supported"
                    ));
                }
            }
        }
        "SimpleSetPredicate" => {
            let field = attr(node, "field", place)?.to_string();
            let array = child(node, "Array")
                .ok_or_else(|| format!("{place}: SimpleSetPredicate without an Array"))?;
            let values = array_items(array.text().unwrap_or_default());
            match attr(node, "booleanOperator", place)? {
                "isIn" => Predicate::IsIn { field, values },
                "isNotIn" => Predicate::IsNotIn { field, values },
                other => {
                    return Err(format!(
                        "{place}: SimpleSetPredicate booleanOperator `{other}` is not supported"
                    ));
                }
            }
        }
        "CompoundPredicate" => {
            let parts = children(node)
                .filter(|n| n.tag_name().name() != "Extension")
                .map(|n| predicate(n, place))
                .collect::<Result<Vec<_>, _>>()?;
            match attr(node, "booleanOperator", place)? {
                "and" => Predicate::And(parts),
                "or" => Predicate::Or(parts),
                "xor" => Predicate::Xor(parts),
                "surrogate" => Predicate::Surrogate(parts),
                other => {
                    return Err(format!(
                        "{place}: CompoundPredicate booleanOperator `{other}` is not supported"
                    ));
                }
            }
        }
        other => return Err(format!("{place}: <{other}> is not a supported predicate")),
    })
}

/// PMML's static type of an expression's value: an integer divided by an
/// integer truncates (JPMML: 7 / 4 = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PType {
    Integer,
    Double,
    Text,
    Bool,
}

/// The types of the fields an expression may read, by name.
type Types = std::collections::HashMap<String, PType>;

fn ptype(data_type: &str) -> Option<PType> {
    match data_type {
        "integer" => Some(PType::Integer),
        "double" | "float" => Some(PType::Double),
        "string" => Some(PType::Text),
        "boolean" => Some(PType::Bool),
        _ => None,
    }
}

/// A ComplexPartialScore or DerivedField expression as an exact-decimal
/// expression, with its PMML type.
fn expression(node: Node, place: &str, types: &Types) -> Result<(String, PType), String> {
    match node.tag_name().name() {
        "Constant" => {
            let text = node.text().unwrap_or_default().trim();
            Decimal::from_str_exact(text)
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| format!("{place}: Constant `{text}` is not a number"))?;
            let integral = !text.contains(['.', 'e', 'E']);
            let ty = match node.attribute("dataType") {
                Some(t) => ptype(t).unwrap_or(PType::Double),
                None if integral => PType::Integer,
                None => PType::Double,
            };
            // A decimal literal keeps evalexpr from integer division.
            let literal = if integral {
                format!("{text}.0")
            } else {
                text.to_string()
            };
            Ok((literal, ty))
        }
        "FieldRef" => {
            let field = attr(node, "field", place)?;
            if !decision_core::compile::schema::is_identifier(field) {
                return Err(format!(
                    "{place}: FieldRef `{field}` is not a name an expression can use"
                ));
            }
            let ty = types.get(field).copied().unwrap_or(PType::Double);
            if node.attribute("mapMissingTo").is_some() {
                // JPMML maps it to text, which no numeric function takes.
                return Err(format!(
                    "{place}: FieldRef `{field}` with `mapMissingTo` inside an expression is not supported; use the MiningField's missingValueReplacement or the Apply's mapMissingTo"
                ));
            }
            Ok((field.to_string(), ty))
        }
        "Apply" => apply(node, place, false, types),
        other => Err(format!(
            "{place}: <{other}> is not supported inside an expression; expected Apply, FieldRef or Constant"
        )),
    }
}

/// The PMML 4.4 built-in functions an expression may apply, evaluated with
/// PMML's missing-value rules (the card's `expression_semantics` is
/// `pmml`): arithmetic with a missing operand is missing, `min`, `max`,
/// `sum` and `avg` leave missing arguments out, `if` evaluates only the
/// branch it takes, and any other function given a missing value makes the
/// row an error (JPMML-Evaluator's MissingArgumentException). Arithmetic
/// and rounding are exact decimals; `ln`, `log10`, `exp`, `sqrt` and `pow`,
/// which PMML computes in double, are computed in decimals to 28
/// significant digits (they agree with a double to about 1e-12 on a
/// scorecard's magnitudes). `round` is Java's `Math.round` (-2.5 gives -2),
/// and an integer divided by an integer truncates (`trunc`), as JPMML.
///
/// `outermost` is the Apply a DerivedField holds, whose `mapMissingTo` and
/// `defaultValue` the caller takes.
fn apply(
    node: Node,
    place: &str,
    outermost: bool,
    types: &Types,
) -> Result<(String, PType), String> {
    let function = attr(node, "function", place)?;
    if node.attribute("invalidValueTreatment").is_some() {
        return Err(format!(
            "{place}: Apply `{function}` with `invalidValueTreatment` is not supported (an invalid argument makes the row an error)"
        ));
    }
    if !outermost {
        for attribute in ["mapMissingTo", "defaultValue"] {
            if node.attribute(attribute).is_some() {
                return Err(format!(
                    "{place}: Apply `{function}` with `{attribute}` is supported only as a DerivedField's outermost Apply"
                ));
            }
        }
    }
    let typed = children(node)
        .filter(|n| n.tag_name().name() != "Extension")
        .map(|n| expression(n, place, types))
        .collect::<Result<Vec<_>, _>>()?;
    let all_integer = typed.iter().all(|(_, t)| *t == PType::Integer);
    let (args, arg_types): (Vec<String>, Vec<PType>) = typed.into_iter().unzip();
    let number = if all_integer {
        PType::Integer
    } else {
        PType::Double
    };
    let arity = |expected: &str, ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{place}: Apply `{function}` needs {expected} argument(s), found {}",
                args.len()
            ))
        }
    };
    let n = args.len();
    Ok(match function {
        "/" if all_integer => {
            arity("2", n == 2)?;
            (
                format!("trunc(({} / {}))", args[0], args[1]),
                PType::Integer,
            )
        }
        "+" | "-" | "*" | "/" => {
            arity("2", n == 2)?;
            (format!("({} {function} {})", args[0], args[1]), number)
        }
        "min" | "max" => {
            arity("at least 1", n >= 1)?;
            let e = if n == 1 {
                args[0].clone()
            } else {
                format!("{function}({})", args.join(", "))
            };
            (e, number)
        }
        "sum" | "avg" => {
            arity("at least 1", n >= 1)?;
            let ty = if function == "sum" {
                number
            } else {
                PType::Double
            };
            (format!("{function}({})", args.join(", ")), ty)
        }
        "abs" => {
            arity("1", n == 1)?;
            (format!("math::abs({})", args[0]), number)
        }
        "ln" | "log10" | "exp" | "sqrt" => {
            arity("1", n == 1)?;
            (format!("{function}({})", args[0]), PType::Double)
        }
        "floor" | "ceil" | "round" => {
            arity("1", n == 1)?;
            (format!("{function}({})", args[0]), PType::Integer)
        }
        "pow" => {
            arity("2", n == 2)?;
            (format!("pow({}, {})", args[0], args[1]), PType::Double)
        }
        "threshold" => {
            arity("2", n == 2)?;
            (
                format!("threshold({}, {})", args[0], args[1]),
                PType::Double,
            )
        }
        "if" => {
            arity("3 (condition, then, else)", n == 3)?;
            let ty = if arg_types[1] == arg_types[2] {
                arg_types[1]
            } else {
                PType::Double
            };
            (format!("if({}, {}, {})", args[0], args[1], args[2]), ty)
        }
        "isMissing" | "isNotMissing" => {
            arity("1", n == 1)?;
            let f = if function == "isMissing" {
                "is_missing"
            } else {
                "is_present"
            };
            (format!("{f}({})", args[0]), PType::Bool)
        }
        "equal" | "notEqual" | "lessThan" | "lessOrEqual" | "greaterThan" | "greaterOrEqual" => {
            arity("2", n == 2)?;
            let op = match function {
                "equal" => "==",
                "notEqual" => "!=",
                "lessThan" => "<",
                "lessOrEqual" => "<=",
                "greaterThan" => ">",
                _ => ">=",
            };
            (format!("({} {op} {})", args[0], args[1]), PType::Bool)
        }
        "and" | "or" => {
            arity("at least 2", n >= 2)?;
            let op = if function == "and" { " && " } else { " || " };
            (format!("({})", args.join(op)), PType::Bool)
        }
        "not" => {
            arity("1", n == 1)?;
            (format!("!({})", args[0]), PType::Bool)
        }
        other => {
            return Err(format!(
                "{place}: Apply function `{other}` is not supported; expected one of + - * / min max sum avg abs ln log10 exp sqrt pow threshold floor ceil round if isMissing isNotMissing equal notEqual lessThan lessOrEqual greaterThan greaterOrEqual and or not"
            ));
        }
    })
}

/// A number written in PMML (`2e4`, `0.5`), as exact decimal text.
fn number_text(text: &str, what: &str, place: &str) -> Result<String, String> {
    let t = text.trim();
    Decimal::from_str_exact(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map(|d| d.to_string())
        .map_err(|_| format!("{place}: {what} `{text}` is not a number"))
}

/// A PMML `Interval` (closure, leftMargin, rightMargin) as `[a, b)`.
fn interval(node: Node, place: &str) -> Result<String, String> {
    let closure = attr(node, "closure", place)?;
    let (open, close) = match closure {
        "openClosed" => ('(', ']'),
        "openOpen" => ('(', ')'),
        "closedOpen" => ('[', ')'),
        "closedClosed" => ('[', ']'),
        other => {
            return Err(format!(
                "{place}: Interval closure `{other}` is not one of openClosed, openOpen, closedOpen, closedClosed"
            ));
        }
    };
    let lo = node
        .attribute("leftMargin")
        .map(|m| number_text(m, "leftMargin", place))
        .transpose()?;
    let hi = node
        .attribute("rightMargin")
        .map(|m| number_text(m, "rightMargin", place))
        .transpose()?;
    if lo.is_none() && hi.is_none() {
        return Err(format!(
            "{place}: an Interval needs a leftMargin or a rightMargin"
        ));
    }
    // An infinite end is open whatever the closure says.
    Ok(format!(
        "{}{}, {}{}",
        if lo.is_some() { open } else { '(' },
        lo.as_deref().unwrap_or("-inf"),
        hi.as_deref().unwrap_or("inf"),
        if hi.is_some() { close } else { ')' },
    ))
}

/// One `DerivedField` as a scorecard derived value.
fn derived_field(node: Node, place: &str, types: &Types) -> Result<CardDerivedDef, String> {
    let name = attr(node, "name", place)?.to_string();
    let place = &format!("{place} DerivedField `{name}`");
    let ty = match node.attribute("dataType").unwrap_or("string") {
        "double" | "float" => CardValueType::Decimal,
        "integer" => CardValueType::Integer,
        "string" => CardValueType::String,
        "boolean" => CardValueType::Bool,
        other => {
            return Err(format!(
                "{place}: dataType `{other}` is not supported; expected double, float, integer, string or boolean"
            ));
        }
    };
    let mut def = CardDerivedDef {
        name,
        ty,
        expression: None,
        discretize: None,
        map_values: None,
        norm_continuous: None,
        map_missing_to: None,
        default_value: None,
        description: String::new(),
    };
    let Some(body) = children(node).find(|n| n.tag_name().name() != "Extension") else {
        return Err(format!("{place}: no expression"));
    };
    let text_attr = |n: Node, a: &str| n.attribute(a).map(str::to_string);
    let tag = body.tag_name().name();
    match tag {
        "Apply" => {
            def.expression = Some(apply(body, place, true, types)?.0);
            def.map_missing_to = text_attr(body, "mapMissingTo");
            def.default_value = text_attr(body, "defaultValue");
        }
        "FieldRef" => {
            // The derived field's own mapMissingTo: this FieldRef's.
            let field = attr(body, "field", place)?;
            if !decision_core::compile::schema::is_identifier(field) {
                return Err(format!(
                    "{place}: FieldRef `{field}` is not a name an expression can use"
                ));
            }
            def.expression = Some(field.to_string());
            def.map_missing_to = text_attr(body, "mapMissingTo");
        }
        "Constant" => {
            def.expression = Some(expression(body, place, types)?.0);
        }
        "Discretize" => {
            let mut bins = Vec::new();
            for (i, b) in children(body)
                .filter(|n| n.tag_name().name() == "DiscretizeBin")
                .enumerate()
            {
                let bplace = format!("{place} DiscretizeBin {}", i + 1);
                let value = attr(b, "binValue", &bplace)?.to_string();
                let iv = child(b, "Interval").ok_or_else(|| format!("{bplace}: no Interval"))?;
                bins.push(DiscretizeBinDef {
                    interval: interval(iv, &bplace)?,
                    value,
                });
            }
            def.discretize = Some(DiscretizeDef {
                field: attr(body, "field", place)?.to_string(),
                bins,
            });
            def.map_missing_to = text_attr(body, "mapMissingTo");
            def.default_value = text_attr(body, "defaultValue");
        }
        "MapValues" => {
            if child(body, "TableLocator").is_some() {
                return Err(format!(
                    "{place}: MapValues with a TableLocator is not supported; write the table inline (InlineTable)"
                ));
            }
            let output = attr(body, "outputColumn", place)?;
            let pairs: Vec<(String, String)> = children(body)
                .filter(|n| n.tag_name().name() == "FieldColumnPair")
                .map(|p| {
                    Ok::<_, String>((
                        attr(p, "field", place)?.to_string(),
                        attr(p, "column", place)?.to_string(),
                    ))
                })
                .collect::<Result<_, _>>()?;
            let table = child(body, "InlineTable")
                .ok_or_else(|| format!("{place}: MapValues without an InlineTable"))?;
            let mut rows = Vec::new();
            for (ri, row) in children(table)
                .filter(|n| n.tag_name().name() == "row")
                .enumerate()
            {
                let cell = |column: &str| {
                    children(row)
                        .find(|c| c.tag_name().name() == column)
                        .map(|c| c.text().unwrap_or_default().to_string())
                        .ok_or_else(|| {
                            format!("{place}: InlineTable row {} has no `{column}` cell", ri + 1)
                        })
                };
                rows.push(MapRowDef {
                    keys: pairs
                        .iter()
                        .map(|(_, c)| cell(c))
                        .collect::<Result<_, _>>()?,
                    value: cell(output)?,
                });
            }
            def.map_values = Some(MapValuesDef {
                fields: pairs.into_iter().map(|(f, _)| f).collect(),
                rows,
            });
            def.map_missing_to = text_attr(body, "mapMissingTo");
            def.default_value = text_attr(body, "defaultValue");
        }
        "NormContinuous" => {
            let points = children(body)
                .filter(|n| n.tag_name().name() == "LinearNorm")
                .map(|n| {
                    let num = |a: &str| {
                        let t = attr(n, a, place)?;
                        Decimal::from_str_exact(t.trim())
                            .or_else(|_| Decimal::from_scientific(t.trim()))
                            .map_err(|_| format!("{place}: LinearNorm {a} `{t}` is not a number"))
                    };
                    Ok::<_, String>(NormPointDef {
                        orig: num("orig")?,
                        norm: num("norm")?,
                    })
                })
                .collect::<Result<_, _>>()?;
            let outliers = match body.attribute("outliers").unwrap_or("asIs") {
                "asIs" => Outliers::AsIs,
                "asMissingValues" => Outliers::AsMissingValues,
                "asExtremeValues" => Outliers::AsExtremeValues,
                other => {
                    return Err(format!(
                        "{place}: NormContinuous outliers `{other}` is not one of asIs, asMissingValues, asExtremeValues"
                    ));
                }
            };
            def.norm_continuous = Some(NormContinuousDef {
                field: attr(body, "field", place)?.to_string(),
                points,
                outliers,
            });
            def.map_missing_to = text_attr(body, "mapMissingTo");
        }
        other => {
            return Err(format!(
                "{place}: <{other}> is not supported; expected Apply, FieldRef, Constant, Discretize, MapValues or NormContinuous"
            ));
        }
    }
    Ok(def)
}

pub fn import(text: &str, options: &ImportOptions) -> Result<ScorecardDoc, ImportError> {
    let doc = Document::parse(text).map_err(|e| ImportError::one(format!("not valid XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "PMML" {
        return Err(ImportError::one(format!(
            "the root element is <{}>, not <PMML>",
            root.tag_name().name()
        )));
    }
    let Some(model) = child(root, "Scorecard") else {
        let models: Vec<&str> = children(root)
            .map(|n| n.tag_name().name())
            .filter(|n| {
                !matches!(
                    *n,
                    "Header"
                        | "DataDictionary"
                        | "TransformationDictionary"
                        | "MiningBuildTask"
                        | "Extension"
                )
            })
            .collect();
        return Err(ImportError::one(format!(
            "not a Scorecard model: found {}",
            if models.is_empty() {
                "no model".to_string()
            } else {
                models.join(", ")
            }
        )));
    };
    let mut problems = Vec::new();
    // The dictionary's derived fields, then the model's own, in order,
    // each typed for the expressions after it.
    let mut types: Types = child(root, "DataDictionary")
        .into_iter()
        .flat_map(children)
        .filter_map(|f| {
            let ty = ptype(f.attribute("dataType").unwrap_or("string"))?;
            Some((f.attribute("name")?.to_string(), ty))
        })
        .collect();
    let mut derived = Vec::new();
    for (parent, place) in [
        (
            child(root, "TransformationDictionary"),
            "TransformationDictionary:",
        ),
        (
            child(model, "LocalTransformations"),
            "LocalTransformations:",
        ),
    ] {
        for node in parent.into_iter().flat_map(children) {
            match node.tag_name().name() {
                "DerivedField" => match derived_field(node, place, &types) {
                    Ok(d) => {
                        let ty = match d.ty {
                            CardValueType::Decimal => PType::Double,
                            CardValueType::Integer => PType::Integer,
                            CardValueType::String => PType::Text,
                            CardValueType::Bool => PType::Bool,
                        };
                        types.insert(d.name.clone(), ty);
                        derived.push(d);
                    }
                    Err(e) => problems.push(e),
                },
                "DefineFunction" => problems.push(format!(
                    "{place} DefineFunction `{}` is not supported; use the built-in functions",
                    node.attribute("name").unwrap_or("?")
                )),
                _ => {}
            }
        }
    }

    let mut fields = Vec::new();
    if let Some(dd) = child(root, "DataDictionary") {
        for f in children(dd).filter(|n| n.tag_name().name() == "DataField") {
            let name = f.attribute("name").unwrap_or_default().to_string();
            let ty = match f.attribute("dataType").unwrap_or("string") {
                "double" | "float" | "integer" => FieldType::Decimal,
                "string" => FieldType::String,
                other => {
                    problems.push(format!(
                        "DataField `{name}`: dataType `{other}` is not supported"
                    ));
                    continue;
                }
            };
            fields.push(FieldDef {
                name,
                ty,
                missing_value_replacement: None,
            });
        }
    }
    let mut predicted = Vec::new();
    if let Some(ms) = child(model, "MiningSchema") {
        for mf in children(ms).filter(|n| n.tag_name().name() == "MiningField") {
            let name = mf.attribute("name").unwrap_or_default();
            if matches!(mf.attribute("usageType"), Some("predicted" | "target")) {
                predicted.push(name.to_string());
                continue;
            }
            if let Some(r) = mf.attribute("missingValueReplacement")
                && let Some(f) = fields.iter_mut().find(|f| f.name == name)
            {
                f.missing_value_replacement = Some(r.to_string());
            }
            for unsupported in ["invalidValueTreatment", "outliers"] {
                if let Some(v) = mf.attribute(unsupported)
                    && v != "returnInvalid"
                    && v != "asIs"
                {
                    problems.push(format!(
                        "MiningField `{name}`: {unsupported}=\"{v}\" is not supported"
                    ));
                }
            }
        }
    }
    fields.retain(|f| !predicted.contains(&f.name));

    let number =
        |name: &str, default: Decimal, problems: &mut Vec<String>| match model.attribute(name) {
            Some(v) => points(v, &format!("Scorecard@{name}")).unwrap_or_else(|e| {
                problems.push(e);
                default
            }),
            None => default,
        };
    let initial = number("initialScore", Decimal::ZERO, &mut problems);
    let use_reason_codes = model.attribute("useReasonCodes") != Some("false");
    let algorithm = match model.attribute("reasonCodeAlgorithm") {
        None | Some("pointsBelow") => ReasonCodeAlgorithm::PointsBelow,
        Some("pointsAbove") => ReasonCodeAlgorithm::PointsAbove,
        Some(other) => {
            problems.push(format!(
                "Scorecard: reasonCodeAlgorithm `{other}` is not supported"
            ));
            ReasonCodeAlgorithm::PointsBelow
        }
    };
    let model_baseline = model
        .attribute("baselineScore")
        .map(|v| points(v, "Scorecard@baselineScore"))
        .transpose()
        .unwrap_or_else(|e| {
            problems.push(e);
            None
        });
    let reason_ranks = child(model, "Output")
        .map(|o| {
            children(o)
                .filter(|f| f.attribute("feature") == Some("reasonCode"))
                .count()
        })
        .unwrap_or(0);

    let Some(chars) = child(model, "Characteristics") else {
        return Err(ImportError::one("Scorecard has no Characteristics"));
    };
    let mut characteristics = Vec::new();
    for (ci, c) in children(chars)
        .filter(|n| n.tag_name().name() == "Characteristic")
        .enumerate()
    {
        let name = c
            .attribute("name")
            .map_or_else(|| format!("characteristic_{}", ci + 1), str::to_string);
        let place = format!("Characteristic `{name}`");
        let baseline = match c.attribute("baselineScore") {
            Some(v) => points(v, &format!("{place}@baselineScore")).unwrap_or_else(|e| {
                problems.push(e);
                Decimal::ZERO
            }),
            None => match model_baseline {
                Some(b) => b,
                None if use_reason_codes => {
                    problems.push(format!("{place}: no baselineScore here or on the Scorecard, which reason codes need"));
                    Decimal::ZERO
                }
                None => Decimal::ZERO,
            },
        };
        let mut bins = Vec::new();
        let mut first_field = None;
        for (ai, a) in children(c)
            .filter(|n| n.tag_name().name() == "Attribute")
            .enumerate()
        {
            let aplace = format!("{place} Attribute {}", ai + 1);
            let mut pred = None;
            let mut complex = None;
            for n in children(a) {
                match n.tag_name().name() {
                    "Extension" => {}
                    "ComplexPartialScore" => {
                        match children(n)
                            .next()
                            .map(|e| expression(e, &aplace, &types).map(|(e, _)| e))
                        {
                            Some(Ok(e)) => complex = Some(e),
                            Some(Err(e)) => problems.push(e),
                            None => problems.push(format!("{aplace}: empty ComplexPartialScore")),
                        }
                    }
                    _ if pred.is_none() => match predicate(n, &aplace) {
                        Ok(p) => pred = Some(p),
                        Err(e) => problems.push(e),
                    },
                    other => problems.push(format!("{aplace}: unexpected <{other}>")),
                }
            }
            let Some(pred) = pred else {
                problems.push(format!("{aplace}: no predicate"));
                continue;
            };
            if first_field.is_none() {
                first_field = first_field_of(&pred);
            }
            let partial = match (a.attribute("partialScore"), &complex) {
                (Some(v), _) => points(v, &aplace).unwrap_or_else(|e| {
                    problems.push(e);
                    Decimal::ZERO
                }),
                (None, Some(_)) => Decimal::ZERO,
                (None, None) => {
                    problems.push(format!(
                        "{aplace}: neither partialScore nor ComplexPartialScore"
                    ));
                    Decimal::ZERO
                }
            };
            bins.push(BinDef {
                label: Some(format!("attribute {}", ai + 1)),
                predicate: Some(pred),
                points: partial,
                points_expression: complex,
                reason_code: a.attribute("reasonCode").map(str::to_string),
                ..BinDef::default()
            });
        }
        let feature = first_field
            .or_else(|| fields.first().map(|f| f.name.clone()))
            .unwrap_or_default();
        characteristics.push(CharacteristicDef {
            message_zh: format!("特征 {name} 得分偏低"),
            message_en: format!("Low points on {name}"),
            reason_code: c.attribute("reasonCode").unwrap_or_default().to_string(),
            name,
            feature,
            baseline,
            bins,
        });
    }
    if !problems.is_empty() {
        return Err(ImportError { problems });
    }
    let has_derived = !derived.is_empty();
    Ok(ScorecardDoc {
        kind: "scorecard".to_string(),
        id: options.id.clone(),
        version: options.version.clone(),
        description: format!("Imported from PMML {}", options.source_file),
        illustrative: false,
        institution: None,
        base_points: initial,
        reason_code_algorithm: algorithm,
        // PMML evaluators keep a code whose summed difference is zero.
        count_zero_differences: true,
        max_reason_codes: match (use_reason_codes, reason_ranks) {
            (false, _) => 0,
            (true, 0) => 3,
            (true, ranks) => ranks,
        },
        derived,
        expression_semantics: ExpressionSemantics::Pmml,
        characteristics,
        provenance: Some(Provenance {
            tool: "pmml".to_string(),
            source_file: options.source_file.clone(),
            missing_values: "each field's missingValueReplacement, then the attributes in order; a row matching no attribute is an error".to_string(),
            unknown_categories: "the attributes in order; a row matching no attribute is an error".to_string(),
            notes: if has_derived {
                vec![
                    "derived fields compute in exact decimals: a division by zero is an error where PMML's double arithmetic gives an infinity".to_string(),
                ]
            } else {
                Vec::new()
            },
        }),
        fields,
        test_cases: Vec::new(),
    })
}

fn first_field_of(p: &Predicate) -> Option<String> {
    match p {
        Predicate::True | Predicate::False => None,
        Predicate::Compare { field, .. }
        | Predicate::IsMissing { field }
        | Predicate::IsNotMissing { field }
        | Predicate::IsIn { field, .. }
        | Predicate::IsNotIn { field, .. } => Some(field.clone()),
        Predicate::And(ps) | Predicate::Or(ps) | Predicate::Xor(ps) | Predicate::Surrogate(ps) => {
            ps.iter().find_map(first_field_of)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn array_items_split_on_spaces_and_keep_quoted_ones_whole() {
        assert_eq!(
            super::array_items(r#"north east south "south west""#),
            vec!["north", "east", "south", "south west"]
        );
    }
}
