//! How the proxy marks upstream tools for the model (their names are
//! `crate::domain::tool_name`'s).

/// Put before the description of a tool a person may be asked to approve.
pub const GATED_MARK: &str = "[askfirst: a person may be asked to approve this call] ";
/// Put before the description of a tool policy refuses.
pub const DENIED_MARK: &str = "[askfirst: policy refuses calls of this tool] ";

/// Longest `--name`, in characters.
const MAX_SERVER_NAME: usize = 64;

/// Checks a `--name`: 1–64 letters, digits, `_` or `-` (no `.`: it separates the server
/// from the tool).
pub fn check_server_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SERVER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a server name: use 1-{MAX_SERVER_NAME} letters, digits, `_` or `-`"
        ))
    }
}

/// How a tool is marked in `tools/list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Runs without asking: unmarked.
    None,
    /// A person may be asked.
    Gated,
    /// Policy refuses every call.
    Denied,
}

/// The description with its mark in front (once: an already marked description is kept).
pub fn marked(description: Option<&str>, mark: Mark) -> Option<String> {
    let prefix = match mark {
        Mark::None => return description.map(str::to_string),
        Mark::Gated => GATED_MARK,
        Mark::Denied => DENIED_MARK,
    };
    let text = description.unwrap_or_default();
    if text.starts_with(prefix) {
        return Some(text.to_string());
    }
    Some(format!("{prefix}{text}").trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for good in ["files", "gh-2", "my_server", &"x".repeat(64)] {
            assert!(check_server_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "with space", "ünï", &"x".repeat(65), "a/b"] {
            assert!(check_server_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn descriptions_are_marked_once() {
        #[rustfmt::skip]
        let cases = [
            (Some("Write a file"), Mark::None, Some("Write a file".to_string())),
            (None, Mark::None, None),
            (Some("Write a file"), Mark::Gated, Some(format!("{GATED_MARK}Write a file"))),
            (None, Mark::Gated, Some(GATED_MARK.trim_end().to_string())),
            (Some("Export"), Mark::Denied, Some(format!("{DENIED_MARK}Export"))),
        ];
        for (description, mark, want) in cases {
            assert_eq!(marked(description, mark), want, "{description:?} {mark:?}");
        }
        let once = marked(Some("Write"), Mark::Gated).unwrap();
        assert_eq!(marked(Some(&once), Mark::Gated).unwrap(), once);
    }
}
