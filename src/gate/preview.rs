//! What policy would do with calls of a list of tools, as one agent sees it — for the MCP
//! proxy's `tools/list`, which marks the tools a person may be asked about.
//!
//! It tells an agent no more than proposing would (and records nothing): only effects for
//! its own name, no rule names, messages or conditions, and at most [`MAX_TOOLS`] tools a
//! request.

use super::{AgentInfo, Gate};
use crate::domain::risk::RiskClass;
use crate::domain::AppError;
use crate::policy::{Preview, PreviewInput};
use serde::{Deserialize, Serialize};

/// Most tools one preview may ask about.
pub const MAX_TOOLS: usize = 200;
/// Most argument names one tool may list.
pub const MAX_PARAMS: usize = 100;

/// `POST /api/v1/policy/preview`: tools the agent may call.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// 1–200 tools.
    #[schema(min_items = 1, max_items = 200)]
    pub tools: Vec<PreviewTool>,
}

/// One tool to preview.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewTool {
    /// Tool name, as it would be proposed.
    #[schema(schema_with = crate::domain::call::name_schema)]
    pub tool: String,
    /// Risk classes every call of it would claim.
    #[serde(default)]
    pub risk: Vec<RiskClass>,
    /// The names of the arguments it takes (at most 100): conditions on other arguments
    /// are taken as absent. Absent: any argument may be present.
    #[serde(default)]
    #[schema(schema_with = params_schema)]
    pub params: Option<Vec<String>>,
}

fn params_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(crate::domain::call::name_schema())
        .max_items(Some(MAX_PARAMS))
        .description(Some(
            "The names of the arguments it takes (at most 100): conditions on other arguments \
             are taken as absent. Absent: any argument may be present.",
        ))
        .build()
}

/// What policy would do with a call of the tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewDecision {
    /// Every call runs without asking.
    Allow,
    /// Every call waits for people (an active bypass may still approve it at once).
    Gate,
    /// Every call is refused.
    Deny,
    /// It depends on the arguments or on whether the tool was used in the session before;
    /// `outcomes` lists what can happen.
    Depends,
}

/// The answer for one tool.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PreviewAnswer {
    pub tool: String,
    pub decision: PreviewDecision,
    /// Every effect some call can meet: `allow`, `gate`, `deny` (in that order).
    pub outcomes: Vec<PreviewDecision>,
}

/// `200` answer: one entry per tool asked about, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PreviewResponse {
    pub tools: Vec<PreviewAnswer>,
}

impl Gate {
    /// What the policy in force would do with calls of each tool by `agent`.
    pub fn preview(
        &self,
        agent: &AgentInfo,
        req: &PreviewRequest,
    ) -> Result<PreviewResponse, AppError> {
        if req.tools.is_empty() || req.tools.len() > MAX_TOOLS {
            return Err(AppError::Invalid(format!(
                "`tools` must list 1 to {MAX_TOOLS} tools"
            )));
        }
        for (i, t) in req.tools.iter().enumerate() {
            super::propose::check_name(&format!("tools[{i}].tool"), &t.tool)?;
            let params = t.params.as_deref().unwrap_or_default();
            if params.len() > MAX_PARAMS {
                return Err(AppError::Invalid(format!(
                    "`tools[{i}].params` lists more than {MAX_PARAMS} names"
                )));
            }
            for p in params {
                super::propose::check_name(&format!("tools[{i}].params"), p)?;
            }
        }
        let policy = self.policy();
        let tools = req
            .tools
            .iter()
            .map(|t| {
                // Claude Code's `mcp__s__tool` is `s.tool`, as in proposals.
                let tool = crate::domain::tool_name::policy_name(&t.tool);
                let preview = policy.preview(&PreviewInput {
                    agent: &agent.name,
                    tool: &tool,
                    risk: &t.risk,
                    params: t.params.as_deref(),
                });
                answer(t.tool.clone(), preview)
            })
            .collect();
        Ok(PreviewResponse { tools })
    }
}

fn answer(tool: String, p: Preview) -> PreviewAnswer {
    let outcomes: Vec<PreviewDecision> = [
        (p.allow, PreviewDecision::Allow),
        (p.gate, PreviewDecision::Gate),
        (p.deny, PreviewDecision::Deny),
    ]
    .into_iter()
    .filter_map(|(on, d)| on.then_some(d))
    .collect();
    let decision = match outcomes.as_slice() {
        [one] => *one,
        _ => PreviewDecision::Depends,
    };
    PreviewAnswer {
        tool,
        decision,
        outcomes,
    }
}
