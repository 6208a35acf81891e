//! JSON pointers (RFC 6901, e.g. `/env` or `/targets/0/host`), parsed once and resolved
//! without allocating. `serde_json::Value::pointer` unescapes every token on every call;
//! this is the hot path, so tokens are unescaped at compile time instead.

use serde_json::Value;

/// A parsed JSON pointer. The empty pointer is the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    tokens: Box<[Token]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// The unescaped object key.
    key: Box<str>,
    /// The array index, when the token is one (`0`, `17`; not `01`, `+1` or `-`).
    index: Option<usize>,
}

impl Pointer {
    /// Parses `text`: empty, or `/`-separated tokens where `~0` is `~` and `~1` is `/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self {
                tokens: Box::new([]),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "`{text}` is not a JSON pointer (it must be empty or start with `/`, e.g. `/env`)"
            ));
        };
        let tokens = rest
            .split('/')
            .map(|raw| {
                let key = unescape(raw).ok_or_else(|| {
                    format!("JSON pointer `{text}`: `~` must be followed by 0 or 1")
                })?;
                let index = array_index(&key);
                Ok(Token {
                    key: key.into(),
                    index,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { tokens })
    }

    /// The object key of the pointer's first token (`env` for `/env/name`); `None` for
    /// the whole document.
    pub fn first_key(&self) -> Option<&str> {
        self.tokens.first().map(|t| &*t.key)
    }

    /// The value `self` points at in `doc`, if any.
    #[inline]
    pub fn resolve<'v>(&self, doc: &'v Value) -> Option<&'v Value> {
        self.tokens.iter().try_fold(doc, |at, token| match at {
            Value::Object(map) => map.get(&*token.key),
            Value::Array(items) => token.index.and_then(|i| items.get(i)),
            _ => None,
        })
    }
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_like_rfc_6901() {
        let doc = json!({
            "env": "prod",
            "a/b": 1,
            "m~n": 2,
            "": 3,
            "list": [10, 20, { "host": "h" }],
            "07": "key",
        });
        let cases = [
            ("", Some(doc.clone())),
            ("/env", Some(json!("prod"))),
            ("/a~1b", Some(json!(1))),
            ("/m~0n", Some(json!(2))),
            ("/", Some(json!(3))),
            ("/list/1", Some(json!(20))),
            ("/list/2/host", Some(json!("h"))),
            ("/list/3", None),
            ("/list/01", None),
            ("/list/-", None),
            ("/list/+1", None),
            ("/07", Some(json!("key"))),
            ("/env/0", None),
            ("/missing", None),
            ("/missing/deeper", None),
        ];
        for (pointer, expected) in cases {
            let parsed = Pointer::parse(pointer).unwrap();
            assert_eq!(parsed.resolve(&doc).cloned(), expected, "{pointer}");
            // Agrees with serde_json's own resolution.
            assert_eq!(parsed.resolve(&doc), doc.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn refuses_malformed_pointers() {
        for bad in ["env", "#/env", "/a~2", "/a~"] {
            assert!(Pointer::parse(bad).is_err(), "{bad}");
        }
    }
}
