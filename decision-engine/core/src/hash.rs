//! Content hashes of policy documents: sha256 of a canonical JSON form (keys
//! sorted, no insignificant whitespace, numbers as written), so the same
//! content hashes the same however it was formatted.

use sha2::{Digest, Sha256};

use crate::request::Request;

/// `sha256:<hex>` of the canonical form of `value`.
pub fn content_hash(value: &serde_json::Value) -> String {
    let mut hasher = Hashing(Sha256::new());
    write_canonical(value, &mut hasher);
    finish(hasher)
}

/// One value of an object [`object_hash`] hashes, borrowed where it is.
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// A JSON value.
    Json(&'a serde_json::Value),
    /// A JSON string.
    Text(&'a str),
    /// A request, as the JSON object it serialises to.
    Request(&'a Request),
}

/// [`content_hash`] of the object holding `entries` (key, value), without
/// building it: the same hash, with the values borrowed where they are.
pub fn object_hash(entries: &mut [(&str, Part<'_>)]) -> String {
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Hashing(Sha256::new());
    hasher.0.update(b"{");
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            hasher.0.update(b",");
        }
        write_json(&mut hasher, *key);
        hasher.0.update(b":");
        match value {
            Part::Json(value) => write_canonical(value, &mut hasher),
            Part::Text(text) => write_json(&mut hasher, *text),
            Part::Request(request) => {
                // Its keys in order: features, institution, product,
                // request_id.
                hasher.0.update(b"{\"features\":");
                write_object(&request.features, &mut hasher);
                for (key, text) in [
                    ("institution", &request.institution),
                    ("product", &request.product),
                    ("request_id", &request.request_id),
                ] {
                    hasher.0.update(b",");
                    write_json(&mut hasher, key);
                    hasher.0.update(b":");
                    write_json(&mut hasher, text);
                }
                hasher.0.update(b"}");
            }
        }
    }
    hasher.0.update(b"}");
    finish(hasher)
}

fn finish(hasher: Hashing) -> String {
    format!("sha256:{}", hex::encode(hasher.0.finalize()))
}

/// The canonical form goes straight into the digest, never into a string.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A key or a scalar as compact JSON (what its `Display` writes).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Hashing, value: &T) {
    // Writing plain JSON into a digest cannot fail.
    let _ = serde_json::to_writer(out, value);
}

fn write_canonical(value: &serde_json::Value, out: &mut Hashing) {
    match value {
        serde_json::Value::Object(map) => write_object(map, out),
        serde_json::Value::Array(items) => {
            out.0.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.0.update(b",");
                }
                write_canonical(item, out);
            }
            out.0.update(b"]");
        }
        other => write_json(out, other),
    }
}

fn write_object(map: &serde_json::Map<String, serde_json::Value>, out: &mut Hashing) {
    let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.0.update(b"{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.0.update(b",");
        }
        write_json(out, key.as_str());
        out.0.update(b":");
        write_canonical(value, out);
    }
    out.0.update(b"}");
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

    /// The hashes every stored document and request carries: the canonical
    /// text written straight into the digest hashes as the text did.
    #[test]
    fn the_canonical_form_is_the_one_stored_hashes_were_made_of() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"z": {"b": "\u00e9\"\n", "a": 0.10}, "a": [true, null, -3, "田"], "é": 1e3}"#,
        )
        .unwrap();
        // The canonical text as every release before this one built it.
        fn text(value: &serde_json::Value, out: &mut String) {
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
                        text(&map[key], out);
                    }
                    out.push('}');
                }
                serde_json::Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        text(item, out);
                    }
                    out.push(']');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let mut canonical = String::new();
        text(&v, &mut canonical);
        assert_eq!(
            canonical,
            r#"{"a":[true,null,-3,"田"],"z":{"a":0.10,"b":"é\"\n"},"é":1e+3}"#
        );
        assert_eq!(
            content_hash(&v),
            format!(
                "sha256:{}",
                hex::encode(Sha256::digest(canonical.as_bytes()))
            )
        );
        let (a, z, e) = (&v["a"], &v["z"], &v["é"]);
        assert_eq!(
            object_hash(&mut [
                ("z", Part::Json(z)),
                ("é", Part::Json(e)),
                ("a", Part::Json(a))
            ]),
            content_hash(&v)
        );
        // A request hashes as the JSON object it serialises to.
        let request: Request = serde_json::from_str(
            r#"{"request_id": "R-\"1", "institution": "3201", "product": "P",
                "features": {"main_crop": "田", "age": 42, "x": null, "d": 1.50}}"#,
        )
        .unwrap();
        let whole = serde_json::json!({"request": request, "as_of": ""});
        assert_eq!(
            object_hash(&mut [
                ("request", Part::Request(&request)),
                ("as_of", Part::Text(""))
            ]),
            content_hash(&whole)
        );
    }
}
