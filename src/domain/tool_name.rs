//! One naming rule for MCP tools, used by `askfirst mcp proxy`, `askfirst mcp
//! permission-prompt`, proposals and `POST /api/v1/policy/preview`: a tool of MCP server
//! `s` is `s.tool`. Claude Code names the same tool `mcp__s__tool`; that name means
//! `s.tool` too. Policy rules whose tool pattern has no `.` match such a call by its bare
//! name (`tool`), a pattern with a `.` names the server (see `policy::tool_name`). Claude
//! Code's built-in tools (`Bash`, `Edit`, `Write`, `WebFetch`, …) keep their names.

use std::borrow::Cow;

/// The name askfirst gives tool `tool` of MCP server `server`: `files.write_file`.
pub fn proxied(server: &str, tool: &str) -> String {
    format!("{server}.{tool}")
}

/// The name policy sees for a tool name a client reports: Claude Code's
/// `mcp__<server>__<tool>` becomes `<server>.<tool>` (the server is the part up to the
/// first `__`, so `mcp__my_db__run__sql` is `my_db.run__sql`); every other name is kept.
pub fn policy_name(name: &str) -> Cow<'_, str> {
    let Some(rest) = name.strip_prefix("mcp__") else {
        return Cow::Borrowed(name);
    };
    match rest.split_once("__") {
        Some((server, tool)) if !server.is_empty() && !tool.is_empty() && !server.contains('.') => {
            Cow::Owned(proxied(server, tool))
        }
        _ => Cow::Borrowed(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_for_each_tool() {
        #[rustfmt::skip]
        let cases = [
            // (name a client reports, name policy sees)
            ("mcp__vault__read_secret", "vault.read_secret"),
            ("mcp__files__write_file", "files.write_file"),
            ("mcp__my_db__run__sql", "my_db.run__sql"),
            ("mcp__askfirst__approval_prompt", "askfirst.approval_prompt"),
            // Claude Code's built-ins and already proxied names are kept.
            ("Bash", "Bash"),
            ("Edit", "Edit"),
            ("Write", "Write"),
            ("WebFetch", "WebFetch"),
            ("files.write_file", "files.write_file"),
            ("read_secret", "read_secret"),
            // Not Claude Code's MCP form: kept as sent.
            ("mcp__vault", "mcp__vault"),
            ("mcp__vault__", "mcp__vault__"),
            ("mcp____read_secret", "mcp____read_secret"),
            ("mcp_vault_read_secret", "mcp_vault_read_secret"),
            ("MCP__vault__read_secret", "MCP__vault__read_secret"),
            ("mcp__a.b__c", "mcp__a.b__c"),
        ];
        for (name, want) in cases {
            assert_eq!(policy_name(name), want, "{name}");
        }
        assert_eq!(proxied("files", "write_file"), "files.write_file");
    }
}
