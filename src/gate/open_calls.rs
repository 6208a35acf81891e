//! Finding an earlier identical call (`ProposeRequest::join_open`): a client that stopped
//! waiting for a gated call and asks again — the MCP proxy after `--max-wait`, Claude
//! Code's permission prompt in a new `claude -p` run — gets the call it filed before
//! instead of a second entry in the inbox.
//!
//! Identical means the same agent, the same tool name and the same arguments as proposed
//! (compared as canonical JSON, so key order does not matter), in any session. Only a call
//! that can still run is found: pending (not past its deadline), or approved and not yet
//! executed nor stale.

use super::{AgentInfo, Gate};
use crate::domain::call::{CallStatus, ProposeResponse};
use crate::domain::AppError;
use crate::store::{calls, json};
use serde_json::Value;

/// Most open calls of one tool looked through (the newest first).
const LOOK_THROUGH: i64 = 200;

impl Gate {
    /// The answer for `agent`'s open call of `tool` with these arguments, if it has one.
    pub(super) async fn open_identical(
        &self,
        agent: &AgentInfo,
        tool: &str,
        args: &Value,
    ) -> Result<Option<ProposeResponse>, AppError> {
        let open = calls::open_of_tool(&self.pool, &agent.id, tool, LOOK_THROUGH).await?;
        if open.is_empty() {
            return Ok(None);
        }
        let wanted = json::hash(args);
        for (id, text) in open {
            let same = serde_json::from_str::<Value>(&text).is_ok_and(|a| json::hash(&a) == wanted);
            if !same {
                continue;
            }
            // The view settles expiry that is due, so a call past its deadline is not found.
            let view = self.view(&id, Some(agent)).await?;
            if matches!(view.status, CallStatus::Pending | CallStatus::Approved) {
                return Ok(Some(ProposeResponse {
                    id: view.id,
                    status: view.status,
                    rule: view.rule,
                    risk: view.risk,
                    message: view.message,
                    deadline: view.deadline,
                    approvals_required: view.approvals_required,
                    approved_by: view.approved_by,
                    approval_expires_at: view.approval_expires_at,
                    denial: None,
                    receipt: view.receipt,
                }));
            }
        }
        Ok(None)
    }
}
