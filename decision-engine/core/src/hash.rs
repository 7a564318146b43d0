//! Content hashes of policy documents: sha256 of a canonical JSON form (keys
//! sorted, no insignificant whitespace, numbers as written), so the same
//! content hashes the same however it was formatted.

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of the canonical form of `value`.
pub fn content_hash(value: &serde_json::Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    )
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_key_order_do_not_change_the_hash() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b": 1, "a": [1, "x"]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str("{\"a\":[1,\"x\"],\n \"b\":1}").unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a": [1, "x"], "b": 2}"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
        assert!(content_hash(&a).starts_with("sha256:"));
    }
}
