//! The API reference page, rendered from the OpenAPI document alone: every operation with
//! its parameters, bodies, responses, an example of each body and a `curl` line, then every
//! component schema with its fields, their types, limits and an example.
//!
//! Pure: [`render`] takes the document and the base URL the `curl` lines use, and returns
//! HTML. Every piece of text from the document is escaped; nothing is fetched from elsewhere
//! and nothing runs in the browser (the page's CSP allows styles from this server only).
//! Examples come from the document's `example`/`examples` where it has them, otherwise they
//! are built from the schema (required fields, an enum's first value, format-aware strings),
//! so the same document always gives the same page.

use serde_json::{Map, Value};
use std::fmt::Write;

/// The key placeholder `curl` lines use.
pub const KEY_PLACEHOLDER: &str = "$ASKFIRST_KEY";

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Where the page's one script lives: it adds a copy button to each `curl` line (the page
/// works without it; the lines are plain selectable text).
pub const COPY_SCRIPT: &str = "/api/v1/docs.js";

/// How deep examples and nested field tables follow `$ref`s and nesting.
const MAX_DEPTH: usize = 8;

/// The reference page for `doc`, its `curl` lines aimed at `base_url` (no trailing slash).
pub fn render(doc: &utoipa::openapi::OpenApi, base_url: &str) -> String {
    let doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    Renderer { doc: &doc }.page(base_url.trim_end_matches('/'))
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose from doc comments, escaped, with each `backticked` span as code (a backtick
/// without its pair stays as it is).
pub fn prose(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    // An even number of parts means one backtick is unpaired: the last one.
    let paired = if parts.len().is_multiple_of(2) {
        parts.len() - 1
    } else {
        parts.len()
    };
    let mut out = String::with_capacity(s.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i >= paired {
            out.push('`');
            out.push_str(&esc(part));
        } else if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

/// An anchor id made of `[A-Za-z0-9_-]` only.
fn anchor(prefix: &str, name: &str) -> String {
    let mut id = String::from(prefix);
    for c in name.chars() {
        id.push(if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        });
    }
    id
}

/// Quotes a word for a POSIX shell (single quotes).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last segment of a local `$ref` (`#/components/schemas/CallView` → `CallView`).
fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

struct Renderer<'d> {
    doc: &'d Value,
}

impl Renderer<'_> {
    fn schemas(&self) -> Option<&Map<String, Value>> {
        self.doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
    }

    /// Follows a local `$ref` (to a schema, response, parameter or request body).
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..MAX_DEPTH {
            match text(v, "$ref") {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                    Some(target) => v = target,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    fn page(&self, base: &str) -> String {
        let doc = self.doc;
        let title = text(&doc["info"], "title").unwrap_or("API");
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><link rel=\"stylesheet\" href=\"/pkg/askfirst.css\">\
             <script src=\"{}\" defer></script></head>\
             <body><main class=\"api-docs\"><h1>{} <small>v{}</small></h1>",
            esc(title),
            COPY_SCRIPT,
            esc(title),
            esc(text(&doc["info"], "version").unwrap_or(""))
        );
        if let Some(d) = text(&doc["info"], "description") {
            let _ = write!(h, "<p>{}</p>", prose(d));
        }
        let _ = write!(
            h,
            "<p>Base URL: <code>{}</code>. The <code>curl</code> lines read the agent key from \
             <code>{}</code> (<code>export ASKFIRST_KEY=…</code>). Machine-readable: \
             <a href=\"/api/v1/openapi.json\">openapi.json</a> (OpenAPI {}).</p>",
            esc(base),
            esc(KEY_PLACEHOLDER),
            esc(text(doc, "openapi").unwrap_or("3.1"))
        );

        let ops = self.operations();
        h += "<nav class=\"card\"><h2>Contents</h2><h3>Routes</h3><ul>";
        for (path, method, _) in &ops {
            let _ = write!(
                h,
                "<li><a href=\"#{}\"><code>{} {}</code></a></li>",
                anchor("op-", &format!("{method}-{path}")),
                esc(&method.to_uppercase()),
                esc(path)
            );
        }
        h += "</ul><h3>Schemas</h3><ul>";
        if let Some(schemas) = self.schemas() {
            for name in schemas.keys() {
                let _ = write!(
                    h,
                    "<li><a href=\"#{}\"><code>{}</code></a></li>",
                    anchor("schema-", name),
                    esc(name)
                );
            }
        }
        h += "</ul></nav>";

        h += "<h2>Routes</h2>";
        for (path, method, op) in &ops {
            self.operation(&mut h, base, path, method, op);
        }
        h += "<h2>Schemas</h2>";
        if let Some(schemas) = self.schemas() {
            for (name, schema) in schemas {
                self.component(&mut h, name, schema);
            }
        }
        h += "</main></body></html>";
        h
    }

    /// Every operation, in path order, methods in the usual order.
    fn operations(&self) -> Vec<(String, &str, &Value)> {
        let mut ops = Vec::new();
        if let Some(paths) = self.doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                for method in METHODS {
                    if let Some(op) = item.get(method).filter(|o| o.is_object()) {
                        ops.push((path.clone(), method, op));
                    }
                }
            }
        }
        ops
    }

    fn operation(&self, h: &mut String, base: &str, path: &str, method: &str, op: &Value) {
        let _ = write!(
            h,
            "<section class=\"card api-op\" id=\"{}\"><h3><code>{} {}</code></h3>",
            anchor("op-", &format!("{method}-{path}")),
            esc(&method.to_uppercase()),
            esc(path)
        );
        if let Some(s) = text(op, "summary") {
            let _ = write!(h, "<p>{}</p>", prose(s));
        }
        if let Some(s) = text(op, "description") {
            let _ = write!(h, "<p>{}</p>", prose(s));
        }
        let secured = self.secured(op);
        if secured {
            h.push_str("<p>Needs <code>Authorization: Bearer &lt;agent key&gt;</code>.</p>");
        }

        let params: Vec<&Value> = op
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| self.resolve(p)).collect())
            .unwrap_or_default();
        if !params.is_empty() {
            h.push_str(
                "<h4>Parameters</h4><table class=\"api-fields\"><thead><tr><th>Name</th>\
                 <th>In</th><th>Type</th><th>Required</th><th>Description</th><th>Limits</th>\
                 </tr></thead><tbody>",
            );
            for p in &params {
                let schema = p.get("schema").unwrap_or(&Value::Null);
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td></tr>",
                    esc(text(p, "name").unwrap_or("")),
                    esc(text(p, "in").unwrap_or("")),
                    self.type_html(schema),
                    yes_no(p.get("required").and_then(Value::as_bool).unwrap_or(false)),
                    prose(
                        text(p, "description")
                            .or_else(|| self.description(schema))
                            .unwrap_or("")
                    ),
                    self.limits_html(schema)
                );
            }
            h.push_str("</tbody></table>");
        }

        let body = op.get("requestBody").map(|b| self.resolve(b));
        let mut body_example = None;
        if let Some(body) = body {
            let required = body.get("required").and_then(Value::as_bool) == Some(true);
            let _ = write!(
                h,
                "<h4>Request body{}</h4>",
                if required { "" } else { " (optional)" }
            );
            if let Some(d) = text(body, "description") {
                let _ = write!(h, "<p>{}</p>", prose(d));
            }
            if let Some(content) = body.get("content").and_then(Value::as_object) {
                for (ctype, media) in content {
                    let example = self.media_example(media);
                    self.media(h, ctype, media, &example, true);
                    if body_example.is_none() {
                        body_example = Some((ctype.clone(), example));
                    }
                }
            }
        }

        h.push_str("<h4>Responses</h4>");
        if let Some(responses) = op.get("responses").and_then(Value::as_object) {
            for (code, resp) in responses {
                let resp = self.resolve(resp);
                let _ = write!(
                    h,
                    "<div class=\"api-response\"><p><code>{}</code> — {}</p>",
                    esc(code),
                    prose(text(resp, "description").unwrap_or(""))
                );
                if let Some(content) = resp.get("content").and_then(Value::as_object) {
                    for (ctype, media) in content {
                        let example = self.media_example(media);
                        self.media(h, ctype, media, &example, code.starts_with('2'));
                    }
                }
                h.push_str("</div>");
            }
        }

        let streams = op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|r| r.values())
            .any(|r| {
                self.resolve(r)
                    .get("content")
                    .and_then(|c| c.get("text/event-stream"))
                    .is_some()
            });
        let curl = self.curl(
            base,
            path,
            method,
            &params,
            secured,
            streams,
            body_example.as_ref(),
        );
        let _ = write!(
            h,
            "<h4>Try it</h4><pre class=\"api-curl\"><code>{}</code></pre></section>",
            esc(&curl)
        );
    }

    /// Whether the operation (or, failing that, the document) asks for credentials.
    fn secured(&self, op: &Value) -> bool {
        let reqs = op.get("security").or_else(|| self.doc.get("security"));
        reqs.and_then(Value::as_array).is_some_and(|r| {
            r.iter()
                .any(|req| req.as_object().is_some_and(|o| !o.is_empty()))
        })
    }

    /// One content type of a body: its schema's type and an example.
    fn media(&self, h: &mut String, ctype: &str, media: &Value, example: &Value, open: bool) {
        let schema = media.get("schema").unwrap_or(&Value::Null);
        let _ = write!(
            h,
            "<p><code>{}</code>: {}</p>",
            esc(ctype),
            self.type_html(schema)
        );
        if !schema.is_null() && text(schema, "$ref").is_none() {
            self.fields(h, schema);
        }
        let shown = if ctype == "text/event-stream" {
            event_stream_text(example)
        } else {
            pretty(example)
        };
        let _ = write!(
            h,
            "<details class=\"api-example\"{}><summary>Example</summary><pre><code>{}</code></pre></details>",
            if open { " open" } else { "" },
            esc(&shown)
        );
    }

    /// The example of a body: the media type's own, else its schema's.
    fn media_example(&self, media: &Value) -> Value {
        if let Some(e) = media.get("example") {
            return e.clone();
        }
        if let Some(e) = media
            .get("examples")
            .and_then(Value::as_object)
            .and_then(|m| m.values().next())
        {
            let e = self.resolve(e);
            if let Some(v) = e.get("value") {
                return v.clone();
            }
        }
        self.example(media.get("schema").unwrap_or(&Value::Null), None, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn curl(
        &self,
        base: &str,
        path: &str,
        method: &str,
        params: &[&Value],
        secured: bool,
        streams: bool,
        body: Option<&(String, Value)>,
    ) -> String {
        // Path parameters become shell variables (`{id}` → `$ID`), so the URL is double-quoted.
        let mut url = String::new();
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            url += &double_quoted_literal(&rest[..open]);
            let name: String = rest[open + 1..open + close]
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            url += &format!("${{{name}}}");
            rest = &rest[open + close + 1..];
        }
        url += &double_quoted_literal(rest);
        let query: Vec<String> = params
            .iter()
            .filter(|p| text(p, "in") == Some("query"))
            .filter(|p| p.get("required").and_then(Value::as_bool) == Some(true))
            .map(|p| {
                let name = text(p, "name").unwrap_or("");
                let value = self.example(p.get("schema").unwrap_or(&Value::Null), Some(name), 0);
                let value = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                format!("{}={}", percent(name), percent(&value))
            })
            .collect();
        if !query.is_empty() {
            url += &double_quoted_literal(&format!("?{}", query.join("&")));
        }

        let mut lines = vec![format!(
            "curl -sS{} -X {} \"{}{}\"",
            if streams { " -N" } else { "" },
            method.to_uppercase(),
            double_quoted_literal(base),
            url
        )];
        if secured {
            lines.push(format!("  -H \"Authorization: Bearer {KEY_PLACEHOLDER}\""));
        }
        if streams {
            lines.push("  -H 'Accept: text/event-stream'".into());
        }
        if let Some((ctype, example)) = body {
            lines.push(format!(
                "  -H {}",
                shell_quote(&format!("Content-Type: {ctype}"))
            ));
            let data = match example {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(format!("  -d {}", shell_quote(&data)));
        }
        lines.join(" \\\n")
    }

    /// A component schema: its description, type, fields and example.
    fn component(&self, h: &mut String, name: &str, schema: &Value) {
        let _ = write!(
            h,
            "<section class=\"card api-schema\" id=\"{}\"><h3><code>{}</code></h3>",
            anchor("schema-", name),
            esc(name)
        );
        if let Some(d) = text(schema, "description") {
            let _ = write!(h, "<p>{}</p>", prose(d));
        }
        let _ = write!(h, "<p>Type: {}</p>", self.type_html(schema));
        let limits = self.limits_html(schema);
        if !limits.is_empty() {
            let _ = write!(h, "<p>Limits: {limits}</p>");
        }
        self.fields(h, schema);
        let example = self.example(schema, None, 0);
        let _ = write!(
            h,
            "<details class=\"api-example\" open><summary>Example</summary><pre><code>{}</code></pre></details></section>",
            esc(&pretty(&example))
        );
    }

    /// The field tables of an inline schema: an object's properties (nested objects and
    /// arrays of objects flattened as `a.b` and `a[].b`), or each alternative of a `oneOf`.
    fn fields(&self, h: &mut String, schema: &Value) {
        let alternatives = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array);
        if let Some(alts) = alternatives {
            let alts: Vec<&Value> = alts.iter().filter(|a| !is_null_type(a)).collect();
            if alts.len() > 1 || alts.iter().any(|a| has_properties(a)) {
                h.push_str("<p>One of:</p><ol class=\"api-alternatives\">");
                for alt in alts {
                    h.push_str("<li>");
                    if let Some(d) = text(alt, "description") {
                        let _ = write!(h, "<p>{}</p>", prose(d));
                    }
                    let _ = write!(h, "<p>{}</p>", self.type_html(alt));
                    if text(alt, "$ref").is_none() {
                        self.fields(h, alt);
                    }
                    h.push_str("</li>");
                }
                h.push_str("</ol>");
            }
            return;
        }
        let mut rows = Vec::new();
        self.field_rows(&mut rows, "", schema, 0);
        if rows.is_empty() {
            return;
        }
        h.push_str(
            "<table class=\"api-fields\"><thead><tr><th>Field</th><th>Type</th>\
             <th>Required</th><th>Description</th><th>Limits</th></tr></thead><tbody>",
        );
        for row in rows {
            h.push_str(&row);
        }
        h.push_str("</tbody></table>");
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            h.push_str("<p>No other fields are accepted.</p>");
        }
    }

    fn field_rows(&self, rows: &mut Vec<String>, prefix: &str, schema: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (name, prop) in props {
            let full = format!("{prefix}{name}");
            rows.push(format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&full),
                self.type_html(prop),
                yes_no(required.contains(&name.as_str())),
                prose(self.description(prop).unwrap_or("")),
                self.limits_html(prop)
            ));
            // Inline nested objects and arrays of them (a `$ref` links to its own section).
            let inner = non_null(prop);
            if text(inner, "$ref").is_none() {
                if has_properties(inner) {
                    self.field_rows(rows, &format!("{full}."), inner, depth + 1);
                } else if let Some(items) = inner.get("items") {
                    let items = non_null(items);
                    if text(items, "$ref").is_none() && has_properties(items) {
                        self.field_rows(rows, &format!("{full}[]."), items, depth + 1);
                    }
                }
            }
        }
    }

    /// A schema's description, looking inside `oneOf: [null, {$ref, description}]` too.
    fn description<'a>(&self, schema: &'a Value) -> Option<&'a str> {
        text(schema, "description").or_else(|| {
            ["oneOf", "anyOf", "allOf"].iter().find_map(|k| {
                schema
                    .get(*k)
                    .and_then(Value::as_array)?
                    .iter()
                    .find_map(|a| text(a, "description"))
            })
        })
    }

    /// A schema's type in words, with links to component schemas.
    fn type_html(&self, schema: &Value) -> String {
        self.type_at(schema, 0)
    }

    fn type_at(&self, schema: &Value, depth: usize) -> String {
        if depth > MAX_DEPTH {
            return "…".into();
        }
        if let Some(r) = text(schema, "$ref") {
            let name = ref_name(r);
            return format!(
                "<a href=\"#{}\"><code>{}</code></a>",
                anchor("schema-", name),
                esc(name)
            );
        }
        for (key, joiner) in [("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                // `null` last: "Denial or null".
                let (nulls, others): (Vec<&Value>, Vec<&Value>) =
                    alts.iter().partition(|a| is_null_type(a));
                let parts: Vec<String> = others
                    .into_iter()
                    .chain(nulls)
                    .map(|a| self.type_at(a, depth + 1))
                    .fold(Vec::new(), |mut seen, t| {
                        if !seen.contains(&t) {
                            seen.push(t);
                        }
                        seen
                    });
                return parts.join(joiner);
            }
        }
        if let Some(c) = schema.get("const") {
            return format!("<code>{}</code>", esc(&c.to_string()));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.is_empty() {
            return if schema.get("properties").is_some() {
                "object".into()
            } else if schema.get("items").is_some() {
                format!("array of {}", self.type_at(&schema["items"], depth + 1))
            } else {
                "any JSON value".into()
            };
        }
        let parts: Vec<String> = types
            .iter()
            .map(|t| match *t {
                "array" => match schema.get("items") {
                    Some(items) => format!("array of {}", self.type_at(items, depth + 1)),
                    None => "array".into(),
                },
                "string" | "integer" | "number" => match text(schema, "format") {
                    Some(f) => format!("{} ({})", esc(t), esc(f)),
                    None => esc(t),
                },
                other => esc(other),
            })
            .collect();
        parts.join(" or ")
    }

    /// A schema's limits in words: lengths, counts, ranges, pattern, allowed values.
    fn limits_html(&self, schema: &Value) -> String {
        let s = non_null(schema);
        let mut out: Vec<String> = Vec::new();
        for key in [
            "minLength",
            "maxLength",
            "minItems",
            "maxItems",
            "minProperties",
            "maxProperties",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
        ] {
            if let Some(v) = s.get(key) {
                out.push(format!("{} {}", key, esc(&scalar(v))));
            }
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            out.push("uniqueItems".into());
        }
        if let Some(p) = text(s, "pattern") {
            out.push(format!("pattern <code>{}</code>", esc(p)));
        }
        let values = s
            .get("enum")
            .or_else(|| {
                text(s, "$ref")
                    .map(|_| self.resolve(s))
                    .and_then(|t| t.get("enum"))
            })
            .and_then(Value::as_array);
        if let Some(values) = values {
            let vs: Vec<String> = values
                .iter()
                .map(|v| format!("<code>{}</code>", esc(&scalar(v))))
                .collect();
            out.push(format!("one of {}", vs.join(", ")));
        }
        if let Some(d) = s.get("default") {
            out.push(format!("default <code>{}</code>", esc(&d.to_string())));
        }
        if let Some(items) = s.get("items") {
            let inner = self.limits_html(items);
            if !inner.is_empty() && text(items, "$ref").is_none() {
                out.push(format!("each item: {inner}"));
            }
        }
        out.join("; ")
    }

    /// A deterministic example of `schema`: the schema's own example if it has one, else
    /// required fields filled in by type (an enum's first value, format-aware strings).
    fn example(&self, schema: &Value, name: Option<&str>, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        if let Some(e) = schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return e.clone();
        }
        if let Some(e) = schema.get("example") {
            return e.clone();
        }
        if text(schema, "$ref").is_some() {
            let target = self.resolve(schema);
            if std::ptr::eq(target, schema) {
                return Value::Null;
            }
            return self.example(target, name, depth + 1);
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(v) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return v.clone();
        }
        if let Some(d) = schema.get("default") {
            return d.clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                return match alts.iter().find(|a| !is_null_type(a)) {
                    Some(alt) => self.example(alt, name, depth + 1),
                    None => Value::Null,
                };
            }
        }
        if let Some(alts) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for alt in alts {
                match self.example(alt, name, depth + 1) {
                    Value::Object(o) => merged.extend(o),
                    other if alts.len() == 1 => return other,
                    _ => {}
                }
            }
            return Value::Object(merged);
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if schema.get("properties").is_some() => "object",
            _ if schema.get("items").is_some() => "array",
            _ => "",
        };
        match ty {
            "object" => {
                let mut out = Map::new();
                let props = schema.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = props {
                    for (k, p) in props {
                        if required.contains(&k.as_str()) {
                            out.insert(k.clone(), self.example(p, Some(k), depth + 1));
                        }
                    }
                }
                Value::Object(out)
            }
            "array" => {
                let max = schema.get("maxItems").and_then(Value::as_u64);
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
                let n = min.max(1).min(max.unwrap_or(u64::MAX)).min(3);
                let item = match schema.get("items") {
                    Some(items) => self.example(items, name, depth + 1),
                    None => Value::Null,
                };
                Value::Array((0..n).map(|_| item.clone()).collect())
            }
            "string" => Value::String(string_example(schema, name)),
            "integer" => {
                let lo = schema.get("minimum").and_then(Value::as_i64);
                let hi = schema.get("maximum").and_then(Value::as_i64);
                let n = lo.map_or(1, |lo| lo.max(1));
                Value::from(hi.map_or(n, |hi| n.min(hi)))
            }
            "number" => {
                let lo = schema.get("minimum").and_then(Value::as_f64);
                let hi = schema.get("maximum").and_then(Value::as_f64);
                let n = lo.map_or(1.0, |lo| lo.max(1.0));
                serde_json::Number::from_f64(hi.map_or(n, |hi| n.min(hi)))
                    .map_or(Value::Null, Value::Number)
            }
            "boolean" => Value::Bool(false),
            "null" => Value::Null,
            // Any JSON value.
            _ => Value::Object(Map::new()),
        }
    }
}

/// A string that fits the schema's format, a literal pattern, or the field's name.
fn string_example(schema: &Value, name: Option<&str>) -> String {
    let desc = text(schema, "description").unwrap_or("");
    let name = name.unwrap_or("");
    let by_format = match text(schema, "format") {
        Some("date-time") => Some("2025-01-31T12:00:00Z"),
        Some("date") => Some("2025-01-31"),
        Some("time") => Some("12:00:00Z"),
        Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
        Some("uri" | "url" | "uri-reference") => Some("https://example.com/"),
        Some("email") => Some("ann@example.com"),
        Some("hostname") => Some("example.com"),
        Some("ipv4") => Some("192.0.2.1"),
        Some("ipv6") => Some("2001:db8::1"),
        _ => None,
    };
    let mut s = if let Some(s) = by_format {
        s.to_string()
    } else if let Some(lit) = text(schema, "pattern").and_then(literal_pattern) {
        lit
    } else if text(schema, "pattern") == Some("^[0-9]+$") {
        "1".into()
    } else if desc.contains("RFC 3339")
        || name.ends_with("_at")
        || name == "at"
        || name == "deadline"
    {
        "2025-01-31T12:00:00Z".into()
    } else if name.ends_with("url") {
        "https://example.com/hook".into()
    } else if name == "id" {
        "0194bc1e-7a00-7000-8000-000000000001".into()
    } else if name == "hash" {
        "0".repeat(64)
    } else if !name.is_empty() {
        name.to_string()
    } else {
        "string".into()
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = max {
        s = s.chars().take(max).collect();
    }
    s
}

/// The one string a pattern like `^call$` matches, if it is that simple.
fn literal_pattern(p: &str) -> Option<String> {
    let inner = p.strip_prefix('^')?.strip_suffix('$')?;
    (!inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| inner.to_string())
}

fn is_null_type(s: &Value) -> bool {
    s.get("type") == Some(&Value::String("null".into()))
}

fn has_properties(s: &Value) -> bool {
    s.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty())
}

/// The non-null alternative of `oneOf: [null, X]`, else the schema itself.
fn non_null(s: &Value) -> &Value {
    match s.get("oneOf").and_then(Value::as_array) {
        Some(alts) => {
            let rest: Vec<&Value> = alts.iter().filter(|a| !is_null_type(a)).collect();
            match rest.as_slice() {
                [one] => one,
                _ => s,
            }
        }
        None => s,
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// An example event as it travels in `text/event-stream`: `field: value` lines.
fn event_stream_text(example: &Value) -> String {
    match example {
        Value::Object(fields) => {
            let mut out = String::new();
            for key in ["event", "id", "retry"] {
                if let Some(v) = fields.get(key) {
                    let _ = writeln!(out, "{key}: {}", scalar(v));
                }
            }
            for (k, v) in fields {
                if !["event", "id", "retry"].contains(&k.as_str()) {
                    let _ = writeln!(out, "{k}: {}", scalar(v).replace('\n', " "));
                }
            }
            out
        }
        other => scalar(other),
    }
}

/// Text for inside a double-quoted shell word: `"`, `$`, `` ` `` and `\` escaped.
fn double_quoted_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '$' | '`' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes a query component (unreserved characters kept).
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prose_shows_backticks_as_code_and_escapes_the_rest() {
        let cases = [
            ("plain <b>", "plain &lt;b&gt;"),
            ("use `POST /calls` now", "use <code>POST /calls</code> now"),
            ("`a` and `b<`", "<code>a</code> and <code>b&lt;</code>"),
            ("one ` alone", "one ` alone"),
            ("`x` then `", "<code>x</code> then `"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(prose(input), want, "{input}");
        }
    }

    fn doc(v: Value) -> utoipa::openapi::OpenApi {
        serde_json::from_value(v).expect("a valid OpenAPI document")
    }

    fn minimal(schemas: Value, paths: Value) -> utoipa::openapi::OpenApi {
        doc(json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": paths,
            "components": { "schemas": schemas }
        }))
    }

    #[test]
    fn escapes_html() {
        let cases = [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            ("a & b", "a &amp; b"),
            ("\"q\" 'a'", "&quot;q&quot; &#39;a&#39;"),
            ("&lt;", "&amp;lt;"),
        ];
        for (input, want) in cases {
            assert_eq!(esc(input), want, "{input}");
        }
    }

    #[test]
    fn document_text_is_escaped_everywhere() {
        // Each case puts hostile text in one place of the document.
        let bad = "<img src=x onerror=alert(1)> & \"'";
        let cases: Vec<(&str, utoipa::openapi::OpenApi)> = vec![
            (
                "title",
                doc(
                    json!({"openapi": "3.1.0", "info": {"title": bad, "version": bad, "description": bad}, "paths": {}}),
                ),
            ),
            (
                "schema name and description",
                minimal(
                    json!({ bad: { "type": "object", "description": bad } }),
                    json!({}),
                ),
            ),
            (
                "field name, description, pattern, enum",
                minimal(
                    json!({ "S": { "type": "object", "required": [bad], "properties": {
                        bad: { "type": "string", "description": bad, "pattern": bad, "enum": [bad] }
                    } } }),
                    json!({}),
                ),
            ),
            (
                "path, summary, parameter, response",
                minimal(
                    json!({}),
                    json!({ format!("/x/{bad}"): { "post": {
                        "summary": bad, "description": bad,
                        "parameters": [{ "name": bad, "in": "query", "required": true, "description": bad, "schema": { "type": "string", "example": bad } }],
                        "requestBody": { "content": { "application/json": { "schema": { "type": "string", "example": bad } } } },
                        "responses": { "200": { "description": bad, "content": { "application/json": { "schema": { "type": "object", "example": { "k": bad } } } } } }
                    } } }),
                ),
            ),
            (
                "ref name",
                minimal(
                    json!({ "S": { "type": "object", "properties": { "f": { "$ref": format!("#/components/schemas/{bad}") } } } }),
                    json!({}),
                ),
            ),
        ];
        for (what, d) in cases {
            let html = render(&d, "http://h\"<x>");
            assert!(!html.contains("<img"), "{what}: {html}");
            assert!(!html.contains("<x>"), "{what}");
            assert!(!html.contains("\"'"), "{what}");
            assert!(!html.contains("& \""), "{what}");
        }
    }

    #[test]
    fn types_in_words() {
        let r = Renderer { doc: &Value::Null };
        let cases = [
            (json!({"type": "string"}), "string"),
            (json!({"type": ["string", "null"]}), "string or null"),
            (
                json!({"type": "integer", "format": "int64"}),
                "integer (int64)",
            ),
            (
                json!({"type": "array", "items": {"type": "string"}}),
                "array of string",
            ),
            (
                json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Denial"}]}),
                "<a href=\"#schema-Denial\"><code>Denial</code></a> or null",
            ),
            (json!({}), "any JSON value"),
            (
                json!({"oneOf": [{"type": "object"}, {"type": "object"}]}),
                "object",
            ),
            (json!({"type": "object"}), "object"),
        ];
        for (schema, want) in cases {
            assert_eq!(r.type_html(&schema), want, "{schema}");
        }
    }

    #[test]
    fn limits_in_words() {
        let d = json!({"components": {"schemas": {"E": {"type": "string", "enum": ["a", "b"]}}}});
        let r = Renderer { doc: &d };
        let cases = [
            (
                json!({"type": "string", "maxLength": 200, "minLength": 1}),
                "minLength 1; maxLength 200",
            ),
            (
                json!({"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 1000}}),
                "maxItems 20; each item: maxLength 1000",
            ),
            (
                json!({"type": "integer", "minimum": 0, "maximum": 60}),
                "minimum 0; maximum 60",
            ),
            (
                json!({"type": "string", "pattern": "^a<b$"}),
                "pattern <code>^a&lt;b$</code>",
            ),
            (
                json!({"$ref": "#/components/schemas/E"}),
                "one of <code>a</code>, <code>b</code>",
            ),
            (
                json!({"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 5}]}),
                "maxLength 5",
            ),
            (json!({"type": "string"}), ""),
        ];
        for (schema, want) in cases {
            assert_eq!(r.limits_html(&schema), want, "{schema}");
        }
    }

    #[test]
    fn examples_from_schemas() {
        let d = json!({"components": {"schemas": {
            "E": {"type": "string", "enum": ["first", "second"]},
            "Loop": {"type": "object", "required": ["next"], "properties": {"next": {"$ref": "#/components/schemas/Loop"}}}
        }}});
        let r = Renderer { doc: &d };
        let cases = [
            (
                json!({"type": "string", "format": "date-time"}),
                json!("2025-01-31T12:00:00Z"),
            ),
            (
                json!({"type": "string", "pattern": "^call$"}),
                json!("call"),
            ),
            (json!({"$ref": "#/components/schemas/E"}), json!("first")),
            (
                json!({"type": "integer", "minimum": 5, "maximum": 9}),
                json!(5),
            ),
            (
                json!({"type": "integer", "minimum": 0, "maximum": 0}),
                json!(0),
            ),
            (json!({"type": "boolean"}), json!(false)),
            (
                json!({"type": "string", "example": "given"}),
                json!("given"),
            ),
            (
                json!({"type": "string", "examples": ["listed"]}),
                json!("listed"),
            ),
            (
                json!({"oneOf": [{"type": "null"}, {"type": "integer"}]}),
                json!(1),
            ),
            (
                json!({"type": "array", "items": {"$ref": "#/components/schemas/E"}}),
                json!(["first"]),
            ),
            (
                json!({"type": "object", "required": ["tool", "at"], "properties": {
                    "tool": {"type": "string", "maxLength": 3},
                    "at": {"type": "string"},
                    "optional": {"type": "string"}
                }}),
                json!({"tool": "too", "at": "2025-01-31T12:00:00Z"}),
            ),
            (json!({}), json!({})),
        ];
        for (schema, want) in cases {
            assert_eq!(r.example(&schema, None, 0), want, "{schema}");
        }
        // A schema that refers to itself ends instead of recursing forever.
        let looped = r.example(&json!({"$ref": "#/components/schemas/Loop"}), None, 0);
        assert!(looped.is_object());
    }

    #[test]
    fn curl_lines() {
        let d = minimal(
            json!({}),
            json!({
                "/api/v1/calls/{id}": { "get": {
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
                        { "name": "wait", "in": "query", "required": false, "schema": { "type": "integer" } }
                    ],
                    "responses": { "200": { "description": "ok" } },
                    "security": [{ "agent_key": [] }]
                } },
                "/api/v1/calls": { "post": {
                    "requestBody": { "content": { "application/json": { "schema": { "type": "object", "example": { "note": "it's" } } } } },
                    "responses": { "201": { "description": "ok" } },
                    "security": [{ "agent_key": [] }]
                } }
            }),
        );
        let html = render(&d, "http://127.0.0.1:3000/");
        assert!(html.contains(
            "curl -sS -X GET &quot;http://127.0.0.1:3000/api/v1/calls/${ID}&quot; \\\n  -H &quot;Authorization: Bearer $ASKFIRST_KEY&quot;"
        ), "{html}");
        assert!(
            html.contains("-d &#39;{&quot;note&quot;:&quot;it&#39;\\&#39;&#39;s&quot;}&#39;"),
            "{html}"
        );
        assert!(html.contains("-H &#39;Content-Type: application/json&#39;"));
    }

    #[test]
    fn shell_quoting() {
        let cases = [("a", "'a'"), ("it's", r"'it'\''s'"), ("$X", "'$X'")];
        for (input, want) in cases {
            assert_eq!(shell_quote(input), want);
        }
        assert_eq!(double_quoted_literal("a\"$`\\"), "a\\\"\\$\\`\\\\");
    }
}
