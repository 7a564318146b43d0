//! What changed between two versions of a policy document: rules, parameters
//! and derived features added, removed or changed; characteristics, bins and
//! points; grades and limit and price steps. Lists of objects are matched by
//! their key (`id`, `name`, `grade`, a bin's interval or categories), so a
//! reordered list is not a change.

use serde_json::Value;

/// The key that identifies an element of a list, if it has one.
fn key(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    for k in ["id", "name", "grade", "interval"] {
        if let Some(s) = obj.get(k).and_then(|s| s.as_str()) {
            return Some(s.to_string());
        }
    }
    if let Some(c) = obj.get("categories") {
        return Some(c.to_string());
    }
    if obj.get("missing").and_then(|m| m.as_bool()) == Some(true) {
        return Some("missing".to_string());
    }
    if obj.get("else").and_then(|m| m.as_bool()) == Some(true) {
        return Some("else".to_string());
    }
    if let Some(p) = obj.get("predicate") {
        return Some(p.to_string());
    }
    None
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) => walk(&format!("{path}.{k}"), va, vb, out),
                    None => out.push(format!("{path}.{k}: removed (was {})", show(va))),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(format!("{path}.{k}: added {}", show(vb)));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.iter().chain(y).all(|v| key(v).is_some()) => {
            for va in x {
                let k = key(va).unwrap_or_default();
                match y.iter().find(|vb| key(vb).as_deref() == Some(k.as_str())) {
                    Some(vb) => walk(&format!("{path}[{k}]"), va, vb, out),
                    None => out.push(format!("{path}[{k}]: removed")),
                }
            }
            for vb in y {
                let k = key(vb).unwrap_or_default();
                if !x.iter().any(|va| key(va).as_deref() == Some(k.as_str())) {
                    out.push(format!("{path}[{k}]: added {}", vb));
                }
            }
            // Order matters for first-match bins and reason-code ties.
            let common = |from: &[Value], other: &[Value]| -> Vec<String> {
                from.iter()
                    .filter_map(key)
                    .filter(|k| other.iter().any(|o| key(o).as_deref() == Some(k)))
                    .collect()
            };
            if common(x, y) != common(y, x) {
                out.push(format!("{path}: order changed"));
            }
        }
        _ if a != b => out.push(format!("{path}: {} -> {}", show(a), show(b))),
        _ => {}
    }
}

/// Each difference from document `a` to document `b`, one line each.
pub fn diff(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out.into_iter()
        .map(|l| l.trim_start_matches('.').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_bins_and_points_are_matched_by_key() {
        let a = json!({"version": "1", "rules": [{"id": "A", "expression": "age > 65"}, {"id": "B", "expression": "x"}],
            "characteristics": [{"name": "age", "bins": [{"interval": "[18, 30)", "points": 5}, {"missing": true, "points": 0}]}]});
        let b = json!({"version": "2", "rules": [{"id": "C", "expression": "y"}, {"id": "A", "expression": "age > 60"}],
            "characteristics": [{"name": "age", "bins": [{"missing": true, "points": 0}, {"interval": "[18, 30)", "points": 8}]}]});
        assert_eq!(
            diff(&a, &b),
            vec![
                "version: `1` -> `2`",
                "rules[A].expression: `age > 65` -> `age > 60`",
                "rules[B]: removed",
                "rules[C]: added {\"id\":\"C\",\"expression\":\"y\"}",
                "characteristics[age].bins[[18, 30)].points: 5 -> 8",
                "characteristics[age].bins: order changed",
            ]
        );
    }
}
