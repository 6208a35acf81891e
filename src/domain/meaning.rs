//! What a call's arguments mean, as opposed to how they are spelled: the key of
//! "do not retry", so that a denied call cannot come back as `1.0` for `1`, in NFD instead
//! of NFC, with an extra `null` key or with a zero-width space (server only).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

/// `args` reduced to their meaning: text (keys and strings) without invisible characters
/// (see [`super::invisible`]) and in NFC, object keys whose value is `null` dropped (at
/// every level; `null`s in arrays keep their place). Numbers are left to the canonical
/// form [`args_meaning_hash`] writes.
pub fn args_meaning(args: &Value) -> Value {
    match args {
        Value::String(s) => Value::String(text(s)),
        Value::Array(items) => Value::Array(items.iter().map(args_meaning).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if value.is_null() {
                    continue;
                }
                // Two keys that differ only in spelling are one key; the later one (in the
                // map's sorted order) wins, so the result does not depend on input order.
                out.insert(text(key), args_meaning(value));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn text(s: &str) -> String {
    super::invisible::strip(s).nfc().collect()
}

/// Hex SHA-256 of [`args_meaning`] written as RFC 8785 canonical JSON (sorted keys, numbers
/// in their shortest ECMAScript form: `1`, `1.0` and `1e0` are all `1`).
pub fn args_meaning_hash(args: &Value) -> String {
    let meaning = args_meaning(args);
    // Every value parsed from JSON is finite, so canonical JSON cannot fail; if it ever
    // did, the sorted-keys form still gives a stable hash.
    let canonical = serde_json_canonicalizer::to_string(&meaning)
        .unwrap_or_else(|_| crate::store::json::canonical(&meaning));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// Spellings of one call that must be one meaning, and calls that must stay apart.
    #[test]
    fn spellings_of_one_meaning() {
        let base = r#"{"count": 1, "path": "café", "opts": {"force": true}}"#;
        let same = [
            (
                "1.0 for 1",
                r#"{"count": 1.0, "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "1e0 for 1",
                r#"{"count": 1e0, "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "10E-1 for 1",
                r#"{"count": 10E-1, "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "NFD text",
                "{\"count\": 1, \"path\": \"cafe\u{301}\", \"opts\": {\"force\": true}}",
            ),
            (
                "an extra null key",
                r#"{"count": 1, "path": "café", "opts": {"force": true, "dry": null}, "x": null}"#,
            ),
            (
                "a zero-width space",
                "{\"count\": 1, \"path\": \"ca\u{200B}fé\", \"opts\": {\"force\": true}}",
            ),
            (
                "a tag character in a key",
                "{\"count\u{E0041}\": 1, \"path\": \"café\", \"opts\": {\"force\": true}}",
            ),
            (
                "a bidi override",
                "{\"count\": 1, \"path\": \"\u{202E}café\", \"opts\": {\"force\": true}}",
            ),
            (
                "escaped text",
                r#"{"count": 1, "path": "caf\u00e9", "opts": {"force": true}}"#,
            ),
            (
                "key order and spacing",
                r#"{ "opts":{"force":true},"path":"café","count":1 }"#,
            ),
        ];
        let want = args_meaning_hash(&parse(base));
        for (what, spelling) in same {
            assert_eq!(args_meaning_hash(&parse(spelling)), want, "{what}");
        }
        let different = [
            (
                "another number",
                r#"{"count": 2, "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "1 as a string",
                r#"{"count": "1", "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "false for true",
                r#"{"count": 1, "path": "café", "opts": {"force": false}}"#,
            ),
            (
                "a visible extra key",
                r#"{"count": 1, "path": "café", "opts": {"force": true}, "y": 0}"#,
            ),
            (
                "null in place of a value",
                r#"{"count": null, "path": "café", "opts": {"force": true}}"#,
            ),
            (
                "an accent dropped",
                r#"{"count": 1, "path": "cafe", "opts": {"force": true}}"#,
            ),
        ];
        for (what, spelling) in different {
            assert_ne!(args_meaning_hash(&parse(spelling)), want, "{what}");
        }
        // Arrays keep their nulls: position is meaning.
        assert_ne!(
            args_meaning_hash(&parse(r#"{"a": [1, null]}"#)),
            args_meaning_hash(&parse(r#"{"a": [1]}"#))
        );
    }
}
