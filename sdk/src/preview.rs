//! Asking what policy would do with calls of some tools, without proposing any
//! (`POST /api/v1/policy/preview`).

use serde::{Deserialize, Serialize};

/// Most tools one preview request may ask about; [`crate::Client::preview`] splits longer
/// lists.
pub const MAX_PREVIEW_TOOLS: usize = 200;

/// A tool to ask about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewTool {
    /// The name it would be proposed under.
    pub tool: String,
    /// Risk classes every call of it would claim (see [`crate::risk`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub risk: Vec<String>,
    /// The names of the arguments it takes; conditions on others are taken as absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<String>>,
}

/// What policy would do with a call: the same for every call, or `Depends`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewDecision {
    Allow,
    Gate,
    Deny,
    /// On the arguments, or on whether the tool was used in the session before.
    Depends,
    /// A decision this SDK does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// The answer for one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewAnswer {
    pub tool: String,
    pub decision: PreviewDecision,
    /// Every effect some call can meet (`Allow`, `Gate`, `Deny`).
    #[serde(default)]
    pub outcomes: Vec<PreviewDecision>,
}

impl PreviewAnswer {
    /// Whether some call of the tool may wait for a person.
    pub fn may_gate(&self) -> bool {
        self.decision == PreviewDecision::Gate || self.outcomes.contains(&PreviewDecision::Gate)
    }
}

#[derive(Serialize)]
pub(crate) struct PreviewRequest<'a> {
    pub tools: &'a [PreviewTool],
}

#[derive(Deserialize)]
pub(crate) struct PreviewResponse {
    pub tools: Vec<PreviewAnswer>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes() {
        let t = PreviewTool {
            tool: "files.write_file".into(),
            risk: vec![],
            params: Some(vec!["path".into()]),
        };
        assert_eq!(
            serde_json::to_value(PreviewRequest { tools: &[t] }).unwrap(),
            json!({ "tools": [{ "tool": "files.write_file", "params": ["path"] }] })
        );
        let r: PreviewResponse = serde_json::from_value(json!({ "tools": [
            { "tool": "a", "decision": "depends", "outcomes": ["allow", "gate"] },
            { "tool": "b", "decision": "allow", "outcomes": ["allow"] },
            { "tool": "c", "decision": "maybe_later" },
        ] }))
        .unwrap();
        let gated: Vec<bool> = r.tools.iter().map(PreviewAnswer::may_gate).collect();
        assert_eq!(gated, [true, false, false]);
        assert_eq!(r.tools[2].decision, PreviewDecision::Unknown);
    }
}
