//! Risk classes from an MCP tool's annotations. Annotations are hints from the upstream
//! server: they only ever add risk (policy decides, and may add more); a tool without them
//! claims none.

use askfirst_sdk::risk;
use rmcp::model::ToolAnnotations;

/// The risk classes a call of a tool with these annotations claims:
/// `destructiveHint` → `destructive`, `openWorldHint` → `external_comms`; a tool marked
/// `readOnlyHint` claims none.
pub fn risk_of(annotations: Option<&ToolAnnotations>) -> Vec<String> {
    let Some(a) = annotations else {
        return Vec::new();
    };
    if a.read_only_hint == Some(true) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if a.destructive_hint == Some(true) {
        out.push(risk::DESTRUCTIVE.to_string());
    }
    if a.open_world_hint == Some(true) {
        out.push(risk::EXTERNAL_COMMS.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotations_only_add_risk() {
        #[rustfmt::skip]
        let cases = [
            // (annotations, risk)
            (None, vec![]),
            (Some(json!({})), vec![]),
            (Some(json!({ "readOnlyHint": true })), vec![]),
            (Some(json!({ "readOnlyHint": true, "destructiveHint": true, "openWorldHint": true })), vec![]),
            (Some(json!({ "readOnlyHint": false })), vec![]),
            (Some(json!({ "destructiveHint": true })), vec!["destructive"]),
            (Some(json!({ "destructiveHint": false, "idempotentHint": true })), vec![]),
            (Some(json!({ "openWorldHint": true })), vec!["external_comms"]),
            (Some(json!({ "readOnlyHint": false, "destructiveHint": true, "openWorldHint": true })),
             vec!["destructive", "external_comms"]),
        ];
        for (annotations, want) in cases {
            let a: Option<ToolAnnotations> = annotations
                .clone()
                .map(|v| serde_json::from_value(v).unwrap());
            assert_eq!(risk_of(a.as_ref()), want, "{annotations:?}");
        }
    }
}
