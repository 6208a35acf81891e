//! `askfirst mcp proxy`: an MCP server on stdio in front of an upstream MCP server (a child
//! process on stdio, or a streamable-HTTP URL). Tools, resources (with subscriptions),
//! prompts, completion and logging pass through, and so do the upstream's progress (under
//! the client's own progress token), resource-updated, log-message and list-changed
//! notifications; a client's cancellation of a running call is passed on to the upstream.
//! Every `tools/call` is proposed to askfirst first as `<name>.<tool>` and runs upstream only
//! as allowed or approved — with the approved arguments, exactly once. `tools/list` marks
//! the tools a person may be asked about. What the proxy does not forward — the upstream's
//! sampling, elicitation and roots requests, tasks — is advertised to neither side.

use super::gatekeeper::{Gatekeeper, Progress, Refusal, Verdict};
use super::risk::risk_of;
use super::tools::{marked, Mark};
use crate::domain::tool_name::proxied as proxied_name;
use askfirst_sdk::{Outcome, PreviewDecision, PreviewTool};
// Logging (and resources/subscribe) are deprecated in the newest MCP revision; the
// revisions this proxy speaks (those that open with `initialize`) have them.
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    CancelledNotificationParam, ClientRequest, CompleteRequestParams, CompleteResult, ContentBlock,
    GetPromptRequestParams, GetPromptResponse, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerResult, SetLevelRequestParams,
    SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestContext, ServiceError};
use rmcp::ServiceExt;
use rmcp::{ClientHandler, ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Where the upstream MCP server is.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A program speaking MCP on stdio: the command and its arguments.
    Command(Vec<String>),
    /// A streamable-HTTP MCP endpoint.
    Url(String),
}

/// The environment of an upstream child process: askfirst's own, without the agent's key
/// (the variable `--key-env` names) and without any `ASKFIRST_*` variable, plus what
/// `--upstream-env` passes on explicitly. The upstream never sees askfirst's credentials
/// unless an admin hands them over by name.
#[derive(Debug, Clone, Default)]
pub struct UpstreamEnv {
    /// The variable holding the agent's key.
    pub key_env: String,
    /// `--upstream-env`: `NAME` (pass askfirst's value on) or `NAME=VALUE`.
    pub pass: Vec<String>,
}

impl UpstreamEnv {
    /// The variables to remove from the inherited environment and to set, in order: the
    /// key's variable, every `ASKFIRST_*`, and any other variable whose value holds the key
    /// or 16 bytes of it in a row (the key copied under another name, inside a longer value
    /// such as `Bearer <key>`, or most of it, is the key all the same). `--upstream-env` never hands the key over either: an item
    /// naming the key's variable, or whose value holds the key, is left out (with a
    /// warning); other `ASKFIRST_*` variables may be passed on by name.
    pub fn plan(
        &self,
        inherited: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> (Vec<std::ffi::OsString>, Vec<(String, std::ffi::OsString)>) {
        let inherited: Vec<_> = inherited.collect();
        // As the proxy uses it: trimmed. Too short to be a key, it matches nothing.
        let key: Option<Vec<u8>> = inherited
            .iter()
            .find(|(name, _)| name.to_str() == Some(self.key_env.as_str()))
            .map(|(_, value)| value.as_encoded_bytes().trim_ascii().to_vec())
            .filter(|key| key.len() >= 8);
        // Any 16 bytes of the key in a row are too much of it to hand over.
        let holds_key = |value: &std::ffi::OsStr| {
            key.as_ref().is_some_and(|key| {
                let value = value.as_encoded_bytes();
                key.windows(key.len().min(16))
                    .any(|part| value.windows(part.len()).any(|w| w == part))
            })
        };
        let reserved = |name: &str| name == self.key_env || name.starts_with("ASKFIRST_");
        let remove = inherited
            .iter()
            .filter(|(name, value)| name.to_str().is_none_or(reserved) || holds_key(value))
            .map(|(name, _)| name.clone())
            .collect();
        let set = self
            .pass
            .iter()
            .filter_map(|item| match item.split_once('=') {
                Some((name, value)) => Some((name.to_string(), value.into())),
                None => std::env::var_os(item).map(|v| (item.clone(), v)),
            })
            .filter(|(name, value)| {
                let refused = *name == self.key_env || holds_key(value);
                if refused {
                    tracing::warn!(
                        "--upstream-env {name}: not passed on (it would hand the agent's key to \
                         the upstream)"
                    );
                }
                !refused
            })
            .collect();
        (remove, set)
    }

    pub(crate) fn apply(&self, cmd: &mut tokio::process::Command) {
        let (remove, set) = self.plan(std::env::vars_os());
        for name in remove {
            cmd.env_remove(name);
        }
        for (name, value) in set {
            cmd.env(name, value);
        }
    }
}

/// Checks an `--upstream-env` item: `NAME` or `NAME=VALUE`, with a name of letters,
/// digits and `_` that does not start with a digit.
pub fn check_env_item(item: &str) -> Result<(), String> {
    let name = item.split_once('=').map_or(item, |(n, _)| n);
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{item}` is not `NAME` or `NAME=VALUE` (a name of letters, digits and `_`)"
        ))
    }
}

/// Runs the proxy until the client closes stdin (or the upstream goes away).
pub async fn run(
    server: String,
    upstream: Upstream,
    upstream_env: UpstreamEnv,
    gate: Gatekeeper,
) -> anyhow::Result<()> {
    let downstream: Arc<OnceLock<Peer<RoleServer>>> = Arc::new(OnceLock::new());
    let forward = Forward {
        downstream: downstream.clone(),
        tools_changed: Arc::new(Mutex::new(false)),
        progress: Arc::new(Mutex::new(HashMap::new())),
    };
    let tools_changed = forward.tools_changed.clone();
    let progress = forward.progress.clone();
    let restarted_tools = tools_changed.clone();
    let connected = super::link::keep_up(upstream, upstream_env, forward, move || {
        // Another process: its tools are listed again.
        *restarted_tools.lock().unwrap_or_else(|e| e.into_inner()) = true;
    })
    .await?;
    let peer = connected
        .first
        .peer_info()
        .ok_or_else(|| anyhow::anyhow!("the upstream MCP server sent no server info"))?;
    let mut info = InitializeResult::new(forwarded(&peer.capabilities));
    info.protocol_version = peer.protocol_version.clone();
    info.instructions = peer.instructions.clone();
    if let Some(server_info) = &peer.server_info {
        info.server_info = server_info.clone();
    }
    let reports = gate.reports();
    let proxy = Proxy {
        server,
        link: connected.link.clone(),
        info,
        gate,
        tools: Mutex::new(HashMap::new()),
        tools_changed,
        progress,
    };
    let io = super::stdio::stdio();
    let service = proxy
        .serve((io.read, io.write))
        .await
        .map_err(|e| anyhow::anyhow!("serving the MCP client on stdio: {e}"))?;
    let _ = downstream.set(service.peer().clone());
    let mut gave_up = connected.gave_up;
    let outcome = tokio::select! {
        done = service.waiting() => done.map(|_| ()).map_err(anyhow::Error::from),
        why = &mut gave_up => Err(why.unwrap_or_else(|e| anyhow::anyhow!("the upstream supervisor failed: {e}"))),
    };
    // Stops the upstream (its process is killed with its session).
    gave_up.abort();
    // What askfirst has not heard yet about calls that ran.
    reports.flush(Duration::from_secs(5)).await;
    if outcome.is_ok() {
        let _ = io.flushed.await;
    }
    outcome
}

/// The upstream client: passes the upstream's notifications on to our client.
#[derive(Clone)]
struct Forward {
    downstream: Arc<OnceLock<Peer<RoleServer>>>,
    /// Set when the upstream says its tool list changed: annotations are read again.
    tools_changed: Arc<Mutex<bool>>,
    /// The upstream requests' progress tokens (the SDK sets its own on every request) and
    /// the client's token for each.
    progress: ProgressTokens,
}

type ProgressTokens = Arc<Mutex<HashMap<ProgressToken, ProgressToken>>>;

/// The server capabilities the proxy advertises: the upstream's, for what it forwards —
/// tools, resources (with subscriptions), prompts, completion and logging. Anything else
/// (tasks, extensions, experimental ones) is not forwarded, so not advertised.
fn forwarded(upstream: &ServerCapabilities) -> ServerCapabilities {
    let mut caps = ServerCapabilities::default();
    caps.tools = upstream.tools.clone();
    caps.resources = upstream.resources.clone();
    caps.prompts = upstream.prompts.clone();
    caps.completions = upstream.completions.clone();
    caps.logging = upstream.logging.clone();
    caps
}

impl Forward {
    fn peer(&self) -> Option<&Peer<RoleServer>> {
        self.downstream.get()
    }
}

impl ClientHandler for Forward {
    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        // Under the client's own token; progress of a request the client gave no token
        // for goes nowhere.
        let token = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&params.progress_token)
            .cloned();
        if let (Some(p), Some(token)) = (self.peer(), token) {
            params.progress_token = token;
            let _ = p.notify_progress(params).await;
        }
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        if let Some(p) = self.peer() {
            let _ = p.notify_logging_message(params).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        if let Some(p) = self.peer() {
            let _ = p.notify_resource_updated(params).await;
        }
    }

    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        if let Some(p) = self.peer() {
            let _ = p.notify_resource_list_changed().await;
        }
    }

    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        *self.tools_changed.lock().unwrap_or_else(|e| e.into_inner()) = true;
        if let Some(p) = self.peer() {
            let _ = p.notify_tool_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _: NotificationContext<RoleClient>) {
        if let Some(p) = self.peer() {
            let _ = p.notify_prompt_list_changed().await;
        }
    }
}

/// The server our client talks to.
struct Proxy {
    /// `--name`: the prefix of every tool name askfirst sees.
    server: String,
    /// The upstream, kept up (`link`).
    link: Arc<super::link::Link>,
    /// What the upstream answered to `initialize`.
    info: InitializeResult,
    gate: Gatekeeper,
    /// The upstream's tools by name, as last listed (for their annotations).
    tools: Mutex<HashMap<String, Tool>>,
    tools_changed: Arc<Mutex<bool>>,
    progress: ProgressTokens,
}

/// An upstream failure as the client sees it.
fn upstream_error(e: ServiceError) -> McpError {
    match e {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("upstream MCP server: {other}"), None),
    }
}

/// A tool result the model reads as a failure.
fn error_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// The first text of a tool result (a tool error's message), for the record.
fn first_text(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
}

/// The `_meta` key (and structured content key) of askfirst's refusal.
pub const REFUSAL_KEY: &str = "askfirst";

/// A refused call as the model reads it: the refusal in words, and as structured content
/// `{"askfirst": {outcome, by, person, rule, feedback, reason_code, retry, call_id}}`
/// (also in `_meta`, and only there when the tool declares an output schema, which the
/// refusal would not fit).
fn refusal_result(refusal: &Refusal, has_output_schema: bool) -> CallToolResult {
    let mut result = error_result(refusal.text());
    let value = serde_json::to_value(refusal).unwrap_or(Value::Null);
    let mut meta = rmcp::model::MetaObject::default();
    meta.0.insert(REFUSAL_KEY.to_string(), value.clone());
    result.meta = Some(meta);
    if !has_output_schema {
        result.structured_content = Some(serde_json::json!({ REFUSAL_KEY: value }));
    }
    result
}

/// The top-level argument names a tool's input schema declares (`None`: it declares none).
fn params_of(tool: &Tool) -> Option<Vec<String>> {
    match tool.input_schema.get("properties") {
        Some(Value::Object(props)) => Some(props.keys().cloned().collect()),
        _ => None,
    }
}

impl Proxy {
    /// The upstream peer, or an error saying it is down.
    fn upstream(&self) -> Result<Peer<RoleClient>, McpError> {
        self.link
            .peer()
            .map_err(|why| McpError::internal_error(why, None))
    }

    /// The upstream tool `name`, listing the tools again if it is not known yet or the list
    /// changed.
    async fn tool(&self, name: &str) -> Result<Option<Tool>, McpError> {
        let changed =
            std::mem::take(&mut *self.tools_changed.lock().unwrap_or_else(|e| e.into_inner()));
        if !changed {
            if let Some(t) = self
                .tools
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
            {
                return Ok(Some(t.clone()));
            }
        }
        let all = self
            .upstream()?
            .list_all_tools()
            .await
            .map_err(upstream_error)?;
        let mut tools = self.tools.lock().unwrap_or_else(|e| e.into_inner());
        tools.clear();
        tools.extend(all.into_iter().map(|t| (t.name.to_string(), t)));
        Ok(tools.get(name).cloned())
    }

    /// How each tool is marked: what policy would do with calls of it. If askfirst cannot
    /// be asked, every tool is marked as possibly gated.
    async fn marks(&self, tools: &[Tool]) -> Vec<Mark> {
        let asks: Vec<PreviewTool> = tools
            .iter()
            .map(|t| PreviewTool {
                tool: proxied_name(&self.server, &t.name),
                risk: risk_of(t.annotations.as_ref()),
                params: params_of(t),
            })
            .collect();
        match self.gate.client().preview(&asks).await {
            Ok(answers) if answers.len() == tools.len() => answers
                .iter()
                .map(|a| match a.decision {
                    PreviewDecision::Allow => Mark::None,
                    PreviewDecision::Deny => Mark::Denied,
                    _ if a.may_gate() => Mark::Gated,
                    _ => Mark::None,
                })
                .collect(),
            Ok(_) => vec![Mark::Gated; tools.len()],
            Err(e) => {
                tracing::warn!("askfirst policy preview failed: {e}");
                vec![Mark::Gated; tools.len()]
            }
        }
    }
}

impl ServerHandler for Proxy {
    fn get_info(&self) -> InitializeResult {
        self.info.clone()
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        // One stdio session per client: the revisions that open with `initialize`.
        Cow::Borrowed(ProtocolVersion::known_up_to(
            &ProtocolVersion::LATEST_WITH_INITIALIZE,
        ))
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut page = self
            .upstream()?
            .list_tools(request)
            .await
            .map_err(upstream_error)?;
        {
            let mut known = self.tools.lock().unwrap_or_else(|e| e.into_inner());
            for t in &page.tools {
                known.insert(t.name.to_string(), t.clone());
            }
        }
        let marks = self.marks(&page.tools).await;
        for (tool, mark) in page.tools.iter_mut().zip(marks) {
            tool.description = marked(tool.description.as_deref(), mark).map(Cow::Owned);
        }
        Ok(page)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        // While the upstream is down, nobody is asked about a call that could not run.
        let upstream = match self.link.peer() {
            Ok(peer) => peer,
            Err(why) => {
                return Ok(error_result(format!(
                    "askfirst: {why}. The call was not proposed and did not run."
                ))
                .into())
            }
        };
        let Some(tool) = self.tool(&name).await? else {
            return Ok(error_result(format!("the upstream server has no tool `{name}`")).into());
        };
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let progress = context.meta.get_progress_token().map(|token| Progress {
            peer: context.peer.clone(),
            token,
        });
        let full = proxied_name(&self.server, &name);
        let verdict = self
            .gate
            .decide(
                &full,
                args,
                risk_of(tool.annotations.as_ref()),
                progress.as_ref(),
                context.ct.cancelled(),
            )
            .await;
        let (call_id, args, receipt) = match verdict {
            Ok(Verdict::Run {
                call_id,
                args,
                receipt,
            }) => (call_id, args, receipt),
            Ok(Verdict::Refused(why)) => {
                return Ok(refusal_result(&why, tool.output_schema.is_some()).into())
            }
            Ok(Verdict::Waiting { call_id, url, .. }) => {
                return Ok(error_result(format!(
                    "askfirst: nobody has decided yet whether `{full}` may run; call {call_id} \
                     is waiting for a person at {url}. Call the tool again later with the same \
                     arguments to get their decision: askfirst finds this call again (it runs \
                     once, when approved)."
                ))
                .into())
            }
            Ok(Verdict::Cancelled) => {
                return Ok(error_result("askfirst: the call was cancelled").into())
            }
            Err(e) => {
                return Ok(error_result(format!(
                    "askfirst could not check this call, so it did not run: {e}"
                ))
                .into())
            }
        };
        // From here on the call is running: askfirst hears how it went, whatever happens.
        let failed = |detail: String| {
            self.gate
                .report(call_id.clone(), Outcome::Failed, Some(detail.clone()));
            Ok(error_result(detail).into())
        };
        let Value::Object(arguments) = args else {
            return failed("askfirst: the approved arguments are not an object".into());
        };
        let mut params = CallToolRequestParams::new(request.name.clone()).with_arguments(arguments);
        if let Some(receipt) = receipt {
            // For an upstream that checks what was approved (the SDK adds its progress
            // token beside it).
            let mut meta = rmcp::model::RequestMetaObject::default();
            meta.0
                .insert(super::RECEIPT_META_KEY.to_string(), receipt.into());
            params.meta = Some(meta);
        }
        let handle = match upstream
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                PeerRequestOptions::no_options(),
            )
            .await
        {
            Ok(handle) => handle,
            Err(e) => return failed(format!("the upstream MCP server failed: {e}")),
        };
        // The SDK put its own progress token on the request: the upstream's progress is
        // passed on under the client's.
        let upstream_token = handle.progress_token.clone();
        if let Some(token) = context.meta.get_progress_token() {
            self.progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(upstream_token.clone(), token);
        }
        let id = handle.id.clone();
        let answer = tokio::select! {
            answer = handle.await_response() => Some(answer),
            () = context.ct.cancelled() => None,
        };
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&upstream_token);
        match answer {
            Some(Ok(ServerResult::CallToolResult(result))) => {
                let (outcome, detail) = match result.is_error {
                    Some(true) => (Outcome::ToolError, first_text(&result)),
                    _ => (Outcome::Succeeded, None),
                };
                self.gate.report(call_id, outcome, detail);
                Ok(result.into())
            }
            Some(Ok(_)) => failed(
                "the upstream MCP server answered the tool call with something else than a result"
                    .into(),
            ),
            // Say what happened instead of failing the request.
            Some(Err(e)) => {
                if matches!(e, ServiceError::TransportClosed) {
                    self.link
                        .down("the upstream MCP server stopped; askfirst is starting it again");
                }
                failed(format!(
                    "the upstream MCP server failed while running the call: {e}"
                ))
            }
            None => {
                // The client cancelled the request while the tool ran: tell the upstream.
                let cancel = CancelledNotificationParam::new(
                    Some(id),
                    Some("the client cancelled the request".into()),
                );
                let _ = upstream.notify_cancelled(cancel).await;
                failed("askfirst: the client cancelled the call while it ran; the upstream was told to stop".into())
            }
        }
    }

    #[allow(deprecated)] // resources/subscribe: the revisions that open with `initialize` have it
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.upstream()?
            .subscribe(request)
            .await
            .map(|_| ())
            .map_err(upstream_error)
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.upstream()?
            .unsubscribe(request)
            .await
            .map(|_| ())
            .map_err(upstream_error)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.upstream()?
            .set_level(request)
            .await
            .map(|_| ())
            .map_err(upstream_error)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.upstream()?
            .list_resources(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.upstream()?
            .list_resource_templates(request)
            .await
            .map_err(upstream_error)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.upstream()?
            .read_resource_once(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.upstream()?
            .list_prompts(request)
            .await
            .map_err(upstream_error)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.upstream()?
            .get_prompt_once(request)
            .await
            .map_err(upstream_error)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.upstream()?
            .complete(request)
            .await
            .map_err(upstream_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn the_upstream_gets_no_askfirst_secrets() {
        let env = UpstreamEnv {
            key_env: "MY_AGENT_KEY".into(),
            pass: vec![
                "GIVEN=a=b".into(),
                "ASKFIRST_URL=http://x".into(),
                // Never the key, by its name or its value.
                "MY_AGENT_KEY".into(),
                "LITERAL=af_0123456789abcdef0123".into(),
            ],
        };
        let inherited = [
            ("PATH", "/bin"),
            // Read with a trailing newline, used trimmed: every copy of it goes.
            ("MY_AGENT_KEY", "af_0123456789abcdef0123\n"),
            ("ASKFIRST_KEY", "af_0123456789abcdef0123"),
            ("ASKFIRST_SESSION", "s"),
            ("HOME", "/root"),
            ("COPIED_KEY", "af_0123456789abcdef0123"),
            ("AUTH_HEADER", "Bearer af_0123456789abcdef0123"),
            ("MOST_OF_IT", "x af_0123456789abc"),
            ("TOO_LITTLE", "af_0123456"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let (remove, set) = env.plan(inherited.into_iter());
        assert_eq!(
            remove,
            [
                "MY_AGENT_KEY",
                "ASKFIRST_KEY",
                "ASKFIRST_SESSION",
                "COPIED_KEY",
                "AUTH_HEADER",
                "MOST_OF_IT"
            ]
            .map(OsString::from)
        );
        // Set explicitly, after the removals: an admin may hand a variable on by name.
        assert_eq!(
            set,
            vec![
                ("GIVEN".to_string(), OsString::from("a=b")),
                ("ASKFIRST_URL".to_string(), OsString::from("http://x")),
            ]
        );
        // `NAME` alone passes this process's value, if it has one.
        let unset = UpstreamEnv {
            key_env: "K".into(),
            pass: vec!["SURELY_NOT_SET_ANYWHERE_42".into()],
        };
        assert!(unset.plan(std::iter::empty()).1.is_empty());
    }

    #[test]
    fn upstream_env_items() {
        for good in ["A", "GIVEN=x", "_X1=", "PATH=/a:/b"] {
            assert!(check_env_item(good).is_ok(), "{good}");
        }
        for bad in ["", "=x", "1A", "A-B", "A B=c"] {
            assert!(check_env_item(bad).is_err(), "{bad}");
        }
    }
}
