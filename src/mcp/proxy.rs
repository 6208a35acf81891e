//! `askfirst mcp proxy`: an MCP server on stdio in front of an upstream MCP server (a child
//! process on stdio, or a streamable-HTTP URL). Tools, resources, prompts, completion and
//! the upstream's progress and list-changed notifications pass through; every `tools/call` is
//! proposed to askfirst first as `<name>.<tool>` and runs upstream only as allowed or
//! approved — with the approved arguments, exactly once. `tools/list` marks the tools a
//! person may be asked about.

use super::gatekeeper::{Gatekeeper, Progress, Verdict};
use super::risk::risk_of;
use super::tools::{marked, proxied_name, Mark};
use askfirst_sdk::{PreviewDecision, PreviewTool};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, ServiceError};
use rmcp::{transport::TokioChildProcess, ServiceExt};
use rmcp::{ClientHandler, ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the upstream MCP server is.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A program speaking MCP on stdio: the command and its arguments.
    Command(Vec<String>),
    /// A streamable-HTTP MCP endpoint.
    Url(String),
}

/// Runs the proxy until the client closes stdin (or the upstream goes away).
pub async fn run(server: String, upstream: Upstream, gate: Gatekeeper) -> anyhow::Result<()> {
    let downstream: Arc<OnceLock<Peer<RoleServer>>> = Arc::new(OnceLock::new());
    let forward = Forward {
        downstream: downstream.clone(),
        tools_changed: Arc::new(Mutex::new(false)),
    };
    let tools_changed = forward.tools_changed.clone();
    let upstream = match upstream {
        Upstream::Command(argv) => {
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| anyhow::anyhow!("give the upstream command after `--`"))?;
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            let transport = TokioChildProcess::new(cmd)
                .map_err(|e| anyhow::anyhow!("starting `{program}`: {e}"))?;
            forward.serve(transport).await
        }
        Upstream::Url(url) => {
            // rmcp's HTTP client leaves the TLS provider to the program; use ring, as ours.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
            forward.serve(transport).await
        }
    }
    .map_err(|e| anyhow::anyhow!("connecting to the upstream MCP server: {e}"))?;
    let peer = upstream
        .peer()
        .peer_info()
        .ok_or_else(|| anyhow::anyhow!("the upstream MCP server sent no server info"))?;
    let mut info = InitializeResult::new(peer.capabilities.clone());
    info.protocol_version = peer.protocol_version.clone();
    info.instructions = peer.instructions.clone();
    if let Some(server_info) = &peer.server_info {
        info.server_info = server_info.clone();
    }
    let proxy = Proxy {
        server,
        upstream: upstream.peer().clone(),
        info,
        gate,
        tools: Mutex::new(HashMap::new()),
        tools_changed,
    };
    let service = proxy
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("serving the MCP client on stdio: {e}"))?;
    let _ = downstream.set(service.peer().clone());
    service.waiting().await?;
    let _ = upstream.cancel().await;
    Ok(())
}

/// The upstream client: passes the upstream's notifications on to our client.
#[derive(Clone)]
struct Forward {
    downstream: Arc<OnceLock<Peer<RoleServer>>>,
    /// Set when the upstream says its tool list changed: annotations are read again.
    tools_changed: Arc<Mutex<bool>>,
}

impl Forward {
    fn peer(&self) -> Option<&Peer<RoleServer>> {
        self.downstream.get()
    }
}

impl ClientHandler for Forward {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        if let Some(p) = self.peer() {
            let _ = p.notify_progress(params).await;
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
    upstream: Peer<RoleClient>,
    /// What the upstream answered to `initialize`.
    info: InitializeResult,
    gate: Gatekeeper,
    /// The upstream's tools by name, as last listed (for their annotations).
    tools: Mutex<HashMap<String, Tool>>,
    tools_changed: Arc<Mutex<bool>>,
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

/// The top-level argument names a tool's input schema declares (`None`: it declares none).
fn params_of(tool: &Tool) -> Option<Vec<String>> {
    match tool.input_schema.get("properties") {
        Some(Value::Object(props)) => Some(props.keys().cloned().collect()),
        _ => None,
    }
}

impl Proxy {
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
            .upstream
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
            .upstream
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
        let args = match verdict {
            Ok(Verdict::Run { args, .. }) => args,
            Ok(Verdict::Refused(why)) => return Ok(error_result(why).into()),
            Ok(Verdict::Waiting { call_id, url }) => {
                return Ok(error_result(format!(
                    "askfirst: nobody has decided yet whether `{full}` may run; call {call_id} \
                     is waiting for a person at {url}. Call the tool again later with the same \
                     arguments to get their decision (it runs once, when approved)."
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
        let Value::Object(arguments) = args else {
            return Ok(error_result("askfirst: the approved arguments are not an object").into());
        };
        let mut upstream =
            CallToolRequestParams::new(request.name.clone()).with_arguments(arguments);
        if let Some(token) = context.meta.get_progress_token() {
            let mut meta = rmcp::model::RequestMetaObject::new();
            meta.set_progress_token(token);
            upstream.meta = Some(meta);
        }
        match self.upstream.call_tool(upstream).await {
            Ok(result) => Ok(result.into()),
            // It was reported as executed: say what happened instead of failing the request.
            Err(e) => Ok(error_result(format!("the upstream MCP server failed: {e}")).into()),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.upstream
            .list_resources(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.upstream
            .list_resource_templates(request)
            .await
            .map_err(upstream_error)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.upstream
            .read_resource_once(request)
            .await
            .map_err(upstream_error)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.upstream
            .list_prompts(request)
            .await
            .map_err(upstream_error)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.upstream
            .get_prompt_once(request)
            .await
            .map_err(upstream_error)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.upstream
            .complete(request)
            .await
            .map_err(upstream_error)
    }
}
