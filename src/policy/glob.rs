//! Glob matching for agent, tool and argument patterns: `*`, `?`, `[abc]`, `{a,b}`, over
//! the whole string. Patterns without metacharacters compare as plain strings.

use globset::{GlobBuilder, GlobMatcher};

/// A compiled glob.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// No metacharacters: string equality.
    Literal(String),
    /// `literal*`: a prefix test.
    Prefix(String),
    /// Anything else.
    Glob(GlobMatcher),
}

impl Pattern {
    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        const META: [char; 7] = ['*', '?', '[', ']', '{', '}', '\\'];
        if !pattern.contains(META) {
            return Ok(Pattern::Literal(pattern.to_string()));
        }
        if let Some(prefix) = pattern.strip_suffix('*') {
            if !prefix.contains(META) {
                return Ok(Pattern::Prefix(prefix.to_string()));
            }
        }
        GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map(|g| Pattern::Glob(g.compile_matcher()))
            .map_err(|e| format!("invalid glob `{pattern}`: {e}"))
    }

    /// Whether `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Literal(s) => s == text,
            Pattern::Prefix(p) => text.starts_with(p.as_str()),
            Pattern::Glob(g) => g.is_match(text),
        }
    }

    /// The literal, when the pattern has no metacharacters.
    pub fn literal(&self) -> Option<&str> {
        match self {
            Pattern::Literal(s) => Some(s),
            Pattern::Prefix(_) | Pattern::Glob(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("deploy", "deploy", true),
            ("deploy", "deploy_prod", false),
            ("read_*", "read_logs", true),
            ("read_*", "xread_logs", false),
            ("read_*", "read_", true),
            ("get_?", "get_a", true),
            ("get_?", "get_ab", false),
            ("{read,get,list}_*", "list_users", true),
            ("{read,get,list}_*", "delete_users", false),
            ("deploy-[ab]", "deploy-a", true),
            ("deploy-[ab]", "deploy-c", false),
            ("*", "", true),
            ("*/*", "a/b", true),
            ("prod*", "production", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Pattern::new(pattern).unwrap().matches(text),
                expected,
                "{pattern} vs {text}"
            );
        }
        assert!(Pattern::new("{unclosed").is_err());
        assert_eq!(Pattern::new("plain").unwrap().literal(), Some("plain"));
    }
}
