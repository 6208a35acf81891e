//! Tool patterns and proxied tool names. A tool reached through `askfirst mcp proxy` is
//! proposed as `<server>.<tool>` (`files.write_file`). A pattern that names no server (it
//! has no `.`) is written for bare tool names and matches such a call by its bare name too,
//! so the default policy treats `files.read_text_file` like `read_text_file`; a pattern
//! with a `.` (`files.*`, `files.write_file`) matches full names only, so admins can single
//! out one server.

use super::glob::Pattern;
use crate::domain::policy::bare_tool_name;

/// A rule's compiled tool glob.
#[derive(Debug, Clone)]
pub struct ToolPattern {
    pattern: Pattern,
    /// The pattern has no `.`: it also matches the bare name of `<server>.<tool>`.
    bare: bool,
}

impl ToolPattern {
    /// Compiles `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        Ok(Self {
            pattern: Pattern::new(pattern)?,
            bare: !pattern.contains('.'),
        })
    }

    /// Whether `tool` matches, by its full name or (for a pattern without a `.`) by its
    /// bare name.
    #[inline]
    pub fn matches(&self, tool: &str) -> bool {
        self.pattern.matches(tool)
            || (self.bare && bare_tool_name(tool).is_some_and(|b| self.pattern.matches(b)))
    }

    /// The pattern's text, when it has no metacharacters.
    pub fn literal(&self) -> Option<&str> {
        self.pattern.literal()
    }
}

/// The names under which literal tool patterns are indexed that can match `tool`: its
/// full name, and its bare name when that has no `.` (literals with a `.` match full names
/// only).
pub fn index_keys(tool: &str) -> (&str, Option<&str>) {
    (tool, bare_tool_name(tool).filter(|b| !b.contains('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_patterns_match_proxied_names() {
        #[rustfmt::skip]
        let cases = [
            // (pattern, tool, expected)
            ("read_*", "read_logs", true),
            ("read_*", "files.read_text_file", true),
            ("read_*", "files.write_file", false),
            ("write_file", "files.write_file", true),
            ("write_file", "write_file", true),
            ("write_file", "a.b.write_file", false),
            // A pattern with a `.` names a server: full names only.
            ("b.write_file", "a.b.write_file", false),
            ("files.*", "files.write_file", true),
            ("files.*", "write_file", false),
            ("files.*", "other.write_file", false),
            ("files.write_file", "files.write_file", true),
            ("files.write_file", "x.files.write_file", false),
            ("*_credentials", "vault.export_credentials", true),
            ("deploy", ".deploy", false),
            ("deploy", "deploy.", false),
            ("*", "files.anything", true),
        ];
        for (pattern, tool, expected) in cases {
            let p = ToolPattern::new(pattern).unwrap();
            assert_eq!(p.matches(tool), expected, "{pattern:?} vs {tool:?}");
        }
    }

    #[test]
    fn index_keys_of_names() {
        assert_eq!(index_keys("deploy"), ("deploy", None));
        assert_eq!(
            index_keys("files.write_file"),
            ("files.write_file", Some("write_file"))
        );
        assert_eq!(index_keys("a.b.c"), ("a.b.c", None));
        assert_eq!(index_keys(".x"), (".x", None));
    }
}
