//! The API reference page: generated from the OpenAPI document, it shows every route with a
//! `curl` line and every schema with its fields, limits and an example.

use crate::support::TestApp;
use serde_json::Value;

/// The part of the page from the element with `id` to the end of its section.
fn section<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").expect("section ends") + start;
    &html[start..end]
}

/// Property names of a schema, its `oneOf` alternatives included.
fn property_names(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for alt in schema["oneOf"].as_array().into_iter().flatten() {
        names.extend(property_names(alt));
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_shows_every_route_and_schema_with_fields_limits_examples_and_curl() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = reqwest::get(app.url("/api/v1/docs")).await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");

    // The copy buttons' script is served from the binary, and the CSP lets the page load it.
    assert!(html.contains("<script src=\"/api/v1/docs.js\" defer></script>"));
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let script = reqwest::get(app.url("/api/v1/docs.js")).await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("pre.api-curl"));

    // Every route: its heading and a curl line aimed at this server with the key placeholder.
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let upper = method.to_uppercase();
            let id = format!(
                "op-{method}-{}",
                path.replace(
                    |c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-',
                    "-"
                )
            );
            let op = section(&html, &id);
            assert!(op.contains(&format!("<code>{upper} {path}</code>")), "{id}");
            let url = path.replace("{id}", "${ID}");
            assert!(
                op.contains(&format!("-X {upper} &quot;{}{url}&quot;", app.base)),
                "{upper} {path}: {op}"
            );
            assert!(op.contains("Authorization: Bearer $ASKFIRST_KEY"), "{path}");
            assert!(op.contains("<summary>Example</summary>"), "{path}");
        }
    }

    // Every schema: a section with each field and an example.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Denial",
        "Escalation",
        "CallView",
        "ProposeResponse",
        "ApprovedBy",
    ] {
        assert!(schemas.contains_key(name), "{name} is in the document");
    }
    for (name, schema) in schemas {
        let part = section(&html, &format!("schema-{name}"));
        for prop in property_names(schema) {
            assert!(
                part.contains(&format!("<td><code>{prop}</code></td>")),
                "{name}.{prop}"
            );
        }
        assert!(part.contains("<summary>Example</summary>"), "{name}");
    }

    // Limits, enum values, and the approver workflow's fields.
    let propose = section(&html, "schema-ProposeRequest");
    let tool_row = &propose[propose.find("<td><code>tool</code></td>").unwrap()..];
    let tool_row = &tool_row[..tool_row.find("</tr>").unwrap()];
    assert!(tool_row.contains("maxLength 200"), "{tool_row}");
    assert!(tool_row.contains("minLength 1"), "{tool_row}");
    assert!(propose.contains("maxItems 20"), "alternatives");
    assert!(section(&html, "schema-RiskClass").contains("<code>destructive</code>"));
    let call = section(&html, "schema-CallView");
    for field in ["extensions", "escalated", "denial", "approved_by"] {
        assert!(
            call.contains(&format!("<td><code>{field}</code></td>")),
            "{field}"
        );
    }
    assert!(call.contains("href=\"#schema-Escalation\""));
    assert!(call.contains("href=\"#schema-Denial\""));
    assert!(section(&html, "schema-ProposeResponse").contains("href=\"#schema-Denial\""));
    assert!(section(&html, "schema-ApprovedBy").contains("<td><code>grant</code></td>"));
    app.stop().await;
}

/// The proposal example the reference shows is one the server accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_proposal_example_is_accepted() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let example = doc["components"]["schemas"]["ProposeRequest"]["examples"][0].clone();
    assert!(example.is_object(), "{example}");
    let res = app.propose(&key, example).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert!(body["status"].is_string(), "{body}");
    app.stop().await;
}
