//! Canonical JSON: object keys sorted at every level, no insignificant whitespace. Used
//! wherever a hash must not depend on key order (approved arguments, the audit chain).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `value` written canonically.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of the canonical form of `value`.
pub fn hash(value: &Value) -> String {
    hex::encode(Sha256::digest(canonical(value).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let cases = [
            (
                json!({"b": 1, "a": [true, null, {"d": 2, "c": "x"}]}),
                r#"{"a":[true,null,{"c":"x","d":2}],"b":1}"#,
            ),
            (json!({}), "{}"),
            (json!("a\"b"), r#""a\"b""#),
            (json!(1.5), "1.5"),
        ];
        for (value, expected) in cases {
            assert_eq!(canonical(&value), expected);
        }
        assert_eq!(
            hash(&json!({"a": 1, "b": 2})),
            hash(&json!({"b": 2, "a": 1}))
        );
        assert_ne!(hash(&json!({"a": 1})), hash(&json!({"a": 2})));
    }
}
