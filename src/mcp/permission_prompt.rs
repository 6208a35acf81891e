//! `askfirst mcp permission-prompt`: an MCP server on stdio with one tool for Claude Code's
//! `--permission-prompt-tool`. Claude Code calls it before a tool runs that its own
//! settings do not already allow, with `{tool_name, input, tool_use_id}`; askfirst decides
//! (and people, when policy gates it), and the answer is one text block holding
//! `{"behavior":"allow","updatedInput":{…}}` — the approved, possibly edited, input — or
//! `{"behavior":"deny","message":"…"}`. Anything but an approval or an allow is a deny.
//! Tool names follow `crate::domain::tool_name`: `mcp__vault__read_secret` is proposed,
//! and matched by policy, as `vault.read_secret`.

use super::gatekeeper::{Gatekeeper, Progress, Verdict};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// The tool's name; Claude Code names it `mcp__<server>__approval_prompt`.
pub const TOOL_NAME: &str = "approval_prompt";

/// What Claude Code sends.
#[derive(Debug, Deserialize)]
struct PromptInput {
    tool_name: String,
    #[serde(default)]
    input: Value,
}

/// Runs the server until the client closes stdin.
pub async fn run(gate: Gatekeeper) -> anyhow::Result<()> {
    let io = super::stdio::stdio();
    let service = PermissionPrompt { gate }
        .serve((io.read, io.write))
        .await
        .map_err(|e| anyhow::anyhow!("serving the MCP client on stdio: {e}"))?;
    service.waiting().await?;
    let _ = io.flushed.await;
    Ok(())
}

struct PermissionPrompt {
    gate: Gatekeeper,
}

/// The tool as listed.
fn tool() -> Tool {
    let schema = json!({
        "type": "object",
        "properties": {
            "tool_name": { "type": "string", "description": "The tool Claude wants to use" },
            "input": { "type": "object", "description": "Its input" },
            "tool_use_id": { "type": "string", "description": "Claude's id of this tool use" }
        },
        "required": ["tool_name", "input"]
    });
    let Value::Object(schema) = schema else {
        unreachable!("a JSON object literal")
    };
    Tool::new(
        TOOL_NAME,
        "Asks askfirst whether a tool use may go ahead: policy decides, and a person when \
         policy gates it. Answers Claude Code's permission-prompt JSON.",
        Arc::new(schema),
    )
}

/// The answer Claude Code reads: allow with the input to use, or deny with a message.
pub fn answer(verdict: Result<Verdict, String>) -> Value {
    match verdict {
        Ok(Verdict::Run { args, .. }) => json!({ "behavior": "allow", "updatedInput": args }),
        Ok(Verdict::Refused(refusal)) => json!({ "behavior": "deny", "message": refusal.text() }),
        Ok(Verdict::Waiting { call_id, url, .. }) => json!({
            "behavior": "deny",
            "message": format!(
                "askfirst: nobody has decided yet; call {call_id} is waiting for a person at \
                 {url}. Try the same tool use again later (also in a new session) to get their \
                 decision: askfirst finds this call again."
            ),
        }),
        Ok(Verdict::Cancelled) => json!({
            "behavior": "deny", "message": "askfirst: the request was cancelled",
        }),
        Err(e) => json!({
            "behavior": "deny",
            "message": format!("askfirst could not be asked, so the tool use is denied: {e}"),
        }),
    }
}

impl ServerHandler for PermissionPrompt {
    fn get_info(&self) -> InitializeResult {
        let mut info = InitializeResult::new(ServerCapabilities::builder().enable_tools().build());
        info.server_info =
            Implementation::new("askfirst-permission-prompt", env!("CARGO_PKG_VERSION"));
        info
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(
            &ProtocolVersion::LATEST_WITH_INITIALIZE,
        ))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != TOOL_NAME {
            return Err(McpError::invalid_params(
                format!("no tool `{}`; this server has `{TOOL_NAME}`", request.name),
                None,
            ));
        }
        let raw = Value::Object(request.arguments.unwrap_or_default());
        let input: PromptInput = serde_json::from_value(raw)
            .map_err(|e| McpError::invalid_params(format!("{TOOL_NAME}: {e}"), None))?;
        let args = match input.input {
            Value::Object(map) => Value::Object(map),
            Value::Null => json!({}),
            other => json!({ "value": other }),
        };
        let progress = context.meta.get_progress_token().map(|token| Progress {
            peer: context.peer.clone(),
            token,
        });
        // Claude Code's `mcp__server__tool` is `server.tool`, as through the proxy.
        let tool = crate::domain::tool_name::policy_name(&input.tool_name);
        let verdict = self
            .gate
            .decide(
                &tool,
                args,
                vec![],
                progress.as_ref(),
                context.ct.cancelled(),
            )
            .await
            .map_err(|e| e.to_string());
        let receipt = match &verdict {
            Ok(Verdict::Run { receipt, .. }) => receipt.clone(),
            _ => None,
        };
        let text = answer(verdict).to_string();
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        // Beside Claude Code's JSON, which has no place for it.
        if let Some(receipt) = receipt {
            let mut meta = rmcp::model::MetaObject::default();
            meta.0
                .insert(crate::mcp::RECEIPT_META_KEY.to_string(), receipt.into());
            result.meta = Some(meta);
        }
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_claude_codes_shape() {
        let allow = answer(Ok(Verdict::Run {
            receipt: None,
            call_id: "c".into(),
            args: json!({ "command": "ls" }),
        }));
        assert_eq!(
            allow,
            json!({ "behavior": "allow", "updatedInput": { "command": "ls" } })
        );
        let refusal = super::super::Refusal::askfirst(None, "not today", true);
        let deny = answer(Ok(Verdict::Refused(refusal.clone())));
        assert_eq!(
            deny,
            json!({ "behavior": "deny", "message": refusal.text() })
        );
        let waiting = answer(Ok(Verdict::Waiting {
            call_id: "c7".into(),
            url: "http://h/calls/c7".into(),
            deadline: None,
        }));
        assert_eq!(waiting["behavior"], "deny");
        let text = waiting["message"].as_str().unwrap();
        assert!(
            text.contains("c7") && text.contains("http://h/calls/c7"),
            "{text}"
        );
        for other in [answer(Ok(Verdict::Cancelled)), answer(Err("down".into()))] {
            assert_eq!(other["behavior"], "deny");
            assert!(other["message"].is_string());
        }
        assert_eq!(tool().name, TOOL_NAME);
    }
}
