//! Glob matching for agent, tool and argument patterns: `*`, `?`, `[abc]`, `[!abc]`,
//! `{a,b}` and `\` escapes, always over the whole string (`read_*` does not match
//! `xread_logs`). `*` also matches `/`; matching is case-sensitive.
//!
//! Common shapes skip the glob engine: a pattern without metacharacters compares as a
//! plain string, `literal*` as a prefix test and `*literal` as a suffix test.

use globset::{GlobBuilder, GlobMatcher};

/// Characters that make a pattern more than a plain string.
const META: [char; 7] = ['*', '?', '[', ']', '{', '}', '\\'];

/// A compiled glob.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// No metacharacters: string equality.
    Literal(Box<str>),
    /// `literal*`: a prefix test.
    Prefix(Box<str>),
    /// `*literal`: a suffix test.
    Suffix(Box<str>),
    /// Anything else.
    Glob(GlobMatcher),
}

impl Pattern {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let plain = |s: &str| !s.contains(META);
        if plain(pattern) {
            return Ok(Pattern::Literal(pattern.into()));
        }
        if let Some(prefix) = pattern.strip_suffix('*').filter(|p| plain(p)) {
            return Ok(Pattern::Prefix(prefix.into()));
        }
        if let Some(suffix) = pattern.strip_prefix('*').filter(|s| plain(s)) {
            return Ok(Pattern::Suffix(suffix.into()));
        }
        GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .case_insensitive(false)
            .build()
            .map(|g| Pattern::Glob(g.compile_matcher()))
            .map_err(|e| format!("invalid glob `{pattern}`: {}", e.kind()))
    }

    /// Whether the whole of `text` matches.
    #[inline]
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Literal(s) => **s == *text,
            Pattern::Prefix(p) => text.starts_with(&**p),
            Pattern::Suffix(s) => text.ends_with(&**s),
            Pattern::Glob(g) => g.is_match(text),
        }
    }

    /// The pattern's text, when it has no metacharacters.
    pub fn literal(&self) -> Option<&str> {
        match self {
            Pattern::Literal(s) => Some(s),
            Pattern::Prefix(_) | Pattern::Suffix(_) | Pattern::Glob(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_strings() {
        let cases = [
            // (pattern, text, expected)
            ("deploy", "deploy", true),
            ("deploy", "deploy_prod", false),
            ("deploy", "re-deploy", false),
            ("deploy", "Deploy", false),
            ("", "", true),
            ("", "x", false),
            ("read_*", "read_logs", true),
            ("read_*", "read_", true),
            ("read_*", "xread_logs", false),
            ("read_*", "read", false),
            ("*_credentials", "export_credentials", true),
            ("*_credentials", "export_credentials_now", false),
            ("*log*", "catalog_entries", true),
            ("*log*", "catalog", true),
            ("log", "catalog", false),
            ("get_?", "get_a", true),
            ("get_?", "get_ab", false),
            ("get_?", "get_", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("{read,get,list}_*", "list_users", true),
            ("{read,get,list}_*", "delete_users", false),
            ("{read,get,list}_*", "xlist_users", false),
            ("{deploy,rollback}", "rollback", true),
            ("{deploy,rollback}", "rollback2", false),
            ("deploy-[ab]", "deploy-a", true),
            ("deploy-[ab]", "deploy-c", false),
            ("deploy-[ab]", "deploy-ab", false),
            ("deploy-[!ab]", "deploy-c", true),
            ("deploy-[!ab]", "deploy-a", false),
            ("v[0-9]", "v7", true),
            ("v[0-9]", "vx", false),
            ("*", "", true),
            ("*", "any/thing at all", true),
            ("*/*", "a/b", true),
            ("prod*", "production", true),
            ("prod*", "preprod", false),
            (r"a\*b", "a*b", true),
            (r"a\*b", "axb", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Pattern::new(pattern).unwrap().matches(text),
                expected,
                "{pattern:?} vs {text:?}"
            );
        }
    }

    #[test]
    fn picks_the_cheap_form_and_refuses_bad_globs() {
        let cases = [
            ("plain", "literal"),
            ("read_*", "prefix"),
            ("*_credentials", "suffix"),
            ("*", "prefix"),
            ("{a,b}_*", "glob"),
            ("a*b", "glob"),
        ];
        for (pattern, expected) in cases {
            let kind = match Pattern::new(pattern).unwrap() {
                Pattern::Literal(_) => "literal",
                Pattern::Prefix(_) => "prefix",
                Pattern::Suffix(_) => "suffix",
                Pattern::Glob(_) => "glob",
            };
            assert_eq!(kind, expected, "{pattern}");
        }
        assert_eq!(Pattern::new("plain").unwrap().literal(), Some("plain"));
        assert_eq!(Pattern::new("p*").unwrap().literal(), None);
        for bad in ["{unclosed", "[unclosed", "v[z-a]"] {
            let err = Pattern::new(bad).unwrap_err();
            assert!(err.contains("invalid glob"), "{bad}: {err}");
        }
    }
}
