//! Typed-confirmation phrases: `deploy {/service} to {/env}` names arguments by JSON
//! pointer. The phrase is parsed when the policy is compiled and filled in per call.

use super::pointer::Pointer;
use serde_json::Value;

/// The longest phrase, in characters (before arguments are filled in).
pub const MAX_CONFIRM_CHARS: usize = 200;

/// A parsed confirmation phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Box<str>),
    Arg(Pointer),
    /// `{tool}`: the tool's name in words.
    Tool,
}

/// A tool's name in words: `drop_table` → `drop table`, `files.write-file` → `files write
/// file` (what an approver types for a `{tool}` placeholder).
pub fn tool_in_words(tool: &str) -> String {
    tool.split(['_', '-', '.', ' '])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Confirm {
    /// Parses `phrase`. It must not be blank, is at most [`MAX_CONFIRM_CHARS`] long, and
    /// every `{` opens a placeholder closed by `}` that holds a JSON pointer (`{/env}`).
    /// A `}` outside a placeholder is plain text.
    pub fn parse(phrase: &str) -> Result<Self, String> {
        if phrase.trim().is_empty() {
            return Err("the confirmation phrase is blank".into());
        }
        if phrase.chars().count() > MAX_CONFIRM_CHARS {
            return Err(format!(
                "the confirmation phrase is longer than {MAX_CONFIRM_CHARS} characters"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = phrase;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].into()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                format!("confirmation phrase `{phrase}`: `{{` without a closing `}}`")
            })?;
            let pointer = &after[..close];
            if pointer == "tool" {
                parts.push(Part::Tool);
                rest = &after[close + 1..];
                continue;
            }
            if !pointer.starts_with('/') {
                return Err(format!(
                    "confirmation phrase `{phrase}`: `{{{pointer}}}` must hold a JSON pointer such as `{{/env}}`, or be `{{tool}}`"
                ));
            }
            parts.push(Part::Arg(
                Pointer::parse(pointer).map_err(|e| format!("confirmation phrase: {e}"))?,
            ));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.into()));
        }
        Ok(Self { parts })
    }

    /// The phrase with the tool's name (in words) and arguments filled in: a string argument as it is, any other JSON
    /// value as its compact JSON text (`3`, `true`, `["a"]`), and an argument that is
    /// missing as the empty string.
    /// Invisible characters taken from the arguments are written out (`⟨U+202E⟩`): a
    /// phrase never holds a character the approver cannot see.
    pub fn render(&self, tool: &str, args: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Tool => out.push_str(&tool_in_words(tool)),
                Part::Arg(pointer) => match pointer.resolve(args) {
                    Some(Value::String(s)) => out.push_str(&crate::domain::inbox::visible(s)),
                    Some(other) => out.push_str(&crate::domain::inbox::visible(&other.to_string())),
                    None => {}
                },
            }
        }
        crate::domain::inbox::visible(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_arguments() {
        let args = json!({
            "env": "production",
            "service": "api",
            "n": 3,
            "force": true,
            "tags": ["a", "b"],
            "nothing": null,
            "a/b": "slash",
        });
        let cases = [
            ("deploy {/env}", "deploy production"),
            ("deploy {/service} to {/env}", "deploy api to production"),
            ("{/env}", "production"),
            ("scale to {/n}", "scale to 3"),
            ("force={/force}", "force=true"),
            ("tags {/tags}", r#"tags ["a","b"]"#),
            ("null {/nothing}", "null null"),
            ("first tag {/tags/0}", "first tag a"),
            ("escaped {/a~1b}", "escaped slash"),
            ("missing [{/missing}]", "missing []"),
            ("no placeholders", "no placeholders"),
            ("stray } brace", "stray } brace"),
            ("{/env}{/service}", "productionapi"),
            ("{tool}", "drop table"),
            ("run {tool} on {/env}", "run drop table on production"),
        ];
        for (phrase, expected) in cases {
            assert_eq!(
                Confirm::parse(phrase).unwrap().render("drop_table", &args),
                expected,
                "{phrase}"
            );
        }
    }

    #[test]
    fn refuses_bad_phrases() {
        let long = "x".repeat(MAX_CONFIRM_CHARS + 1);
        let cases = [
            ("", "blank"),
            ("   ", "blank"),
            (long.as_str(), "longer than 200"),
            ("deploy {env}", "JSON pointer"),
            ("deploy {}", "JSON pointer"),
            ("deploy {/env", "without a closing"),
            ("deploy {/a~2}", "followed by 0 or 1"),
            ("a {b {/c}", "JSON pointer"),
        ];
        for (phrase, needle) in cases {
            let err = Confirm::parse(phrase).unwrap_err();
            assert!(err.contains(needle), "{phrase:?}: {err}");
        }
        assert!(Confirm::parse(&"é".repeat(MAX_CONFIRM_CHARS)).is_ok());
    }
}
