//! Messages: the five-second summary of a gated call (agent, action in words, risk, reason,
//! time left) and a plain link to its card, as a Slack Block Kit message, an e-mail (text
//! and HTML) or a signed webhook's JSON. Agent-supplied text is untrusted: control and
//! invisible characters are marked as on every page (`⟨U+202E⟩`, see
//! [`crate::domain::invisible`]), lengths are capped, and it is
//! escaped for where it goes — Slack text objects it cannot format, HTML-escaped in mail.

use crate::domain::inbox::{countdown, tool_label, visible};
use crate::domain::notify::NoticeKind;
use crate::domain::risk::RiskClass;
use serde_json::{json, Value};

/// Longest agent name, rule or audience shown.
const NAME_CHARS: usize = 80;
/// Longest action shown.
const ACTION_CHARS: usize = 120;
/// Longest reason shown.
const REASON_CHARS: usize = 500;
/// Longest argument JSON shown (private channels only).
const ARGS_CHARS: usize = 1_500;

/// What every message says about one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub kind: NoticeKind,
    pub call_id: String,
    pub agent: String,
    pub tool: String,
    pub risk: Vec<RiskClass>,
    pub reason: Option<String>,
    pub rule: Option<String>,
    /// Milliseconds until the deadline (`None`: no deadline).
    pub time_left_ms: Option<i64>,
    /// RFC 3339.
    pub deadline: Option<String>,
    /// The card: `<base>/calls/<id>`.
    pub link: String,
    /// The arguments under review — set only for channels marked private.
    pub args: Option<Value>,
    /// The role or group a call was escalated to.
    pub escalated_to: Option<String>,
    /// The typed confirmation an approver will be asked for.
    pub confirm: Option<String>,
}

/// `text` made safe to show: control and invisible characters marked (line breaks
/// become spaces), whitespace runs collapsed, at most `max` characters (`…` marks a cut).
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut count = 0;
    let mut space = false;
    let mut cut = false;
    for c in visible(text).chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        let needed = if space { 2 } else { 1 };
        if count + needed > max {
            cut = true;
            break;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    if cut && max > 0 {
        if count >= max {
            out.pop();
        }
        out.push('…');
    }
    out
}

/// Escapes Slack's three control characters (`&`, `<`, `>`): no link, mention or
/// `<!channel>` can be smuggled into mrkdwn text.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for HTML (element content and quoted attributes).
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
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

impl Summary {
    fn agent(&self) -> String {
        clean(&self.agent, NAME_CHARS)
    }

    /// The action in words: `send_email` → "Send email".
    pub fn action(&self) -> String {
        clean(&tool_label(&self.tool), ACTION_CHARS)
    }

    /// The risk classes in words, or "no risk claimed".
    pub fn risk_words(&self) -> String {
        if self.risk.is_empty() {
            return "no risk claimed".into();
        }
        self.risk
            .iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn reason(&self) -> String {
        match &self.reason {
            Some(r) if !clean(r, 1).is_empty() => clean(r, REASON_CHARS),
            _ => "no reason given".into(),
        }
    }

    /// "9:59 left" / "expired" / "no deadline".
    pub fn time_left(&self) -> String {
        match self.time_left_ms {
            Some(ms) if ms > 0 => format!("{} left", countdown(ms)),
            Some(_) => "expired".into(),
            None => "no deadline".into(),
        }
    }

    fn audience(&self) -> Option<String> {
        self.escalated_to.as_deref().map(|a| clean(a, NAME_CHARS))
    }

    /// The first line: what happened, in a few words.
    pub fn headline(&self) -> String {
        let (agent, action) = (self.agent(), self.action());
        match self.kind {
            NoticeKind::Gated => format!("Approval needed: {agent} wants to {action}"),
            NoticeKind::Reminder => {
                format!("Reminder, {}: {agent} wants to {action}", self.time_left())
            }
            NoticeKind::Escalated => format!(
                "Escalated to {}: {agent} wants to {action}",
                self.audience().unwrap_or_else(|| "a new audience".into())
            ), // Not a call's kind: [`HeadNotice`] renders it.
            NoticeKind::AuditHead => format!("{agent}: {action}"),
        }
    }

    fn args_text(&self) -> Option<String> {
        self.args.as_ref().map(|a| {
            // Pretty JSON escapes controls inside strings; the rest are marked.
            let kept = visible(&serde_json::to_string_pretty(a).unwrap_or_default());
            if kept.chars().count() > ARGS_CHARS {
                let mut cut: String = kept.chars().take(ARGS_CHARS - 1).collect();
                cut.push('…');
                cut
            } else {
                kept
            }
        })
    }

    /// The Slack incoming-webhook body: Block Kit, every piece of agent text in
    /// `plain_text` objects (never formatted), the fallback `text` escaped.
    pub fn slack(&self) -> Value {
        let plain = |text: String| json!({ "type": "plain_text", "text": text, "emoji": false });
        let mut fields = vec![
            plain(format!("Agent: {}", self.agent())),
            plain(format!("Action: {}", self.action())),
            plain(format!("Risk: {}", self.risk_words())),
            plain(format!("Time left: {}", self.time_left())),
        ];
        if let Some(rule) = &self.rule {
            fields.push(plain(format!("Rule: {}", clean(rule, NAME_CHARS))));
        }
        if let Some(audience) = self.audience() {
            fields.push(plain(format!("Escalated to: {audience}")));
        }
        let mut blocks = vec![
            json!({ "type": "header", "text": plain(clean(&self.headline(), 150)) }),
            json!({ "type": "section", "fields": fields }),
            json!({ "type": "section", "text": plain(format!("Reason: {}", self.reason())) }),
        ];
        if let Some(phrase) = &self.confirm {
            blocks.push(json!({ "type": "context", "elements": [
                plain(format!("Approving asks to type: {}", clean(phrase, NAME_CHARS)))
            ] }));
        }
        if let Some(args) = self.args_text() {
            blocks.push(json!({ "type": "section", "text": plain(format!("Arguments: {args}")) }));
        }
        blocks.push(json!({ "type": "actions", "elements": [{
            "type": "button",
            "text": plain("Open in askfirst".into()),
            "url": self.link,
            "action_id": "open_card",
        }] }));
        json!({
            "text": format!(
                "{} ({}, {}) <{}|Open in askfirst>",
                slack_escape(&self.headline()),
                slack_escape(&self.risk_words()),
                slack_escape(&self.time_left()),
                slack_escape(&self.link),
            ),
            "blocks": blocks,
            "unfurl_links": false,
        })
    }

    /// The e-mail subject.
    pub fn subject(&self) -> String {
        clean(&format!("[askfirst] {}", self.headline()), 200)
    }

    /// The e-mail's plain-text body.
    pub fn mail_text(&self) -> String {
        let mut lines = vec![
            self.headline(),
            String::new(),
            format!("Agent:     {}", self.agent()),
            format!("Action:    {}", self.action()),
            format!("Risk:      {}", self.risk_words()),
            format!("Reason:    {}", self.reason()),
            format!("Time left: {}", self.time_left()),
        ];
        if let Some(rule) = &self.rule {
            lines.push(format!("Rule:      {}", clean(rule, NAME_CHARS)));
        }
        if let Some(audience) = self.audience() {
            lines.push(format!("Escalated: to {audience}"));
        }
        if let Some(phrase) = &self.confirm {
            lines.push(format!(
                "Approving asks to type: {}",
                clean(phrase, NAME_CHARS)
            ));
        }
        if let Some(args) = self.args_text() {
            lines.push(String::new());
            lines.push("Arguments:".into());
            lines.push(args);
        }
        lines.push(String::new());
        lines.push(format!("Open the card: {}", self.link));
        lines.push(String::new());
        lines.push("The link grants nothing by itself: sign in to decide.".into());
        lines.join("\n")
    }

    /// The e-mail's HTML body: every value escaped.
    pub fn mail_html(&self) -> String {
        let mut rows = vec![
            ("Agent", self.agent()),
            ("Action", self.action()),
            ("Risk", self.risk_words()),
            ("Reason", self.reason()),
            ("Time left", self.time_left()),
        ];
        if let Some(rule) = &self.rule {
            rows.push(("Rule", clean(rule, NAME_CHARS)));
        }
        if let Some(audience) = self.audience() {
            rows.push(("Escalated to", audience));
        }
        if let Some(phrase) = &self.confirm {
            rows.push(("Approving asks to type", clean(phrase, NAME_CHARS)));
        }
        let rows: String = rows
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "<tr><th align=\"left\">{k}</th><td>{}</td></tr>",
                    html_escape(&v)
                )
            })
            .collect();
        let args = self
            .args_text()
            .map(|a| format!("<h3>Arguments</h3><pre>{}</pre>", html_escape(&a)))
            .unwrap_or_default();
        let link = html_escape(&self.link);
        format!(
            "<!DOCTYPE html><html><body><h2>{}</h2><table>{rows}</table>{args}\
             <p><a href=\"{link}\">Open the card</a> ({link})</p>\
             <p><small>The link grants nothing by itself: sign in to decide.</small></p>\
             </body></html>",
            html_escape(&self.headline())
        )
    }

    /// The generic webhook's JSON body.
    pub fn webhook(&self, sent_at: &str) -> Value {
        let mut call = json!({
            "id": self.call_id,
            "agent": clean(&self.agent, NAME_CHARS),
            "tool": clean(&self.tool, ACTION_CHARS),
            "action": self.action(),
            "risk": self.risk,
            "reason": self.reason.as_deref().map(|r| clean(r, REASON_CHARS)),
            "rule": self.rule,
            "deadline": self.deadline,
            "time_left_ms": self.time_left_ms,
            "url": self.link,
            "summary": self.headline(),
        });
        if let Some(args) = &self.args {
            call["args"] = args.clone();
        }
        if let Some(audience) = &self.escalated_to {
            call["escalated_to"] = json!(clean(audience, NAME_CHARS));
        }
        if let Some(phrase) = &self.confirm {
            call["confirm"] = json!(clean(phrase, NAME_CHARS));
        }
        json!({ "event": format!("notification.{}", self.kind.as_str()), "sent_at": sent_at, "call": call })
    }
}

/// The audit log's newest event, published so that a copy lives outside the database:
/// compare it later with `askfirst audit verify --head ID:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadNotice {
    pub id: i64,
    pub hash: String,
    /// When it was read (RFC 3339).
    pub at: String,
}

impl HeadNotice {
    /// `ID:HASH`, as `askfirst audit head` prints it.
    pub fn head(&self) -> String {
        format!("{}:{}", self.id, self.hash)
    }

    fn headline(&self) -> String {
        format!("Audit log head at {}: event {}", self.at, self.id)
    }

    fn how(&self) -> String {
        format!(
            "Keep it: `askfirst audit verify --head {}` later fails if this event is gone or changed.",
            self.head()
        )
    }
}

/// One message to send: about a call, or the audit head.
#[derive(Debug, Clone)]
pub enum Message {
    Call(Box<Summary>),
    Head(HeadNotice),
}

impl Message {
    /// The Slack incoming-webhook body.
    pub fn slack(&self) -> Value {
        match self {
            Message::Call(s) => s.slack(),
            Message::Head(h) => {
                let plain =
                    |text: String| json!({ "type": "plain_text", "text": text, "emoji": false });
                json!({
                    "text": slack_escape(&format!("{} {}", h.headline(), h.head())),
                    "blocks": [
                        { "type": "header", "text": plain(h.headline()) },
                        { "type": "section", "text": plain(h.head()) },
                        { "type": "context", "elements": [plain(h.how())] },
                    ],
                    "unfurl_links": false,
                })
            }
        }
    }

    /// The e-mail subject.
    pub fn subject(&self) -> String {
        match self {
            Message::Call(s) => s.subject(),
            Message::Head(h) => format!("[askfirst] {}", h.headline()),
        }
    }

    /// The e-mail's plain-text body.
    pub fn mail_text(&self) -> String {
        match self {
            Message::Call(s) => s.mail_text(),
            Message::Head(h) => format!("{}\n\n{}\n\n{}\n", h.headline(), h.head(), h.how()),
        }
    }

    /// The e-mail's HTML body.
    pub fn mail_html(&self) -> String {
        match self {
            Message::Call(s) => s.mail_html(),
            Message::Head(h) => format!(
                "<p>{}</p><p><code>{}</code></p><p>{}</p>",
                html_escape(&h.headline()),
                html_escape(&h.head()),
                html_escape(&h.how())
            ),
        }
    }

    /// The generic webhook's JSON body.
    pub fn webhook(&self, sent_at: &str) -> Value {
        match self {
            Message::Call(s) => s.webhook(sent_at),
            Message::Head(h) => json!({
                "event": "notification.audit_head",
                "sent_at": sent_at,
                "audit_head": { "id": h.id, "hash": h.hash, "at": h.at, "head": h.head() },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            kind: NoticeKind::Gated,
            call_id: "c1".into(),
            agent: "deploy-bot".into(),
            tool: "deploy_service".into(),
            risk: vec![RiskClass::Production],
            reason: Some("ship the fix".into()),
            rule: Some("gate-prod".into()),
            time_left_ms: Some(600_000),
            deadline: Some("2026-01-01T09:10:00+00:00".into()),
            link: "https://askfirst.example.com/calls/c1".into(),
            args: None,
            escalated_to: None,
            confirm: None,
        }
    }

    #[test]
    fn cleaning_marks_hidden_characters_and_caps_length() {
        let cases = [
            ("plain", 10, "plain"),
            ("a\u{202E}b\u{200B}c", 40, "a⟨U+202E⟩b⟨U+200B⟩c"),
            ("t\u{E0041}\u{3164}", 40, "t⟨U+E0041⟩⟨U+3164⟩"),
            ("line\nbreak\r\n\ttab", 40, "line break tab"),
            ("bell\u{7}", 20, "bell⟨U+0007⟩"),
            ("0123456789abc", 10, "012345678…"),
            ("  spaced   out  ", 20, "spaced out"),
            ("", 5, ""),
        ];
        for (text, max, want) in cases {
            assert_eq!(clean(text, max), want, "{text:?}");
            assert!(clean(text, max).chars().count() <= max);
        }
    }

    #[test]
    fn escaping() {
        let cases = [
            ("<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
            ("*bold*", "*bold*"),
        ];
        for (text, want) in cases {
            assert_eq!(slack_escape(text), want);
        }
        assert_eq!(
            html_escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn headlines_by_kind() {
        let cases = [
            (
                NoticeKind::Gated,
                None,
                "Approval needed: deploy-bot wants to Deploy service",
            ),
            (
                NoticeKind::Reminder,
                None,
                "Reminder, 10:00 left: deploy-bot wants to Deploy service",
            ),
            (
                NoticeKind::Escalated,
                Some("managers"),
                "Escalated to managers: deploy-bot wants to Deploy service",
            ),
        ];
        for (kind, to, want) in cases {
            let s = Summary {
                kind,
                escalated_to: to.map(str::to_string),
                ..summary()
            };
            assert_eq!(s.headline(), want);
        }
    }

    #[test]
    fn the_audit_head_in_every_format() {
        let head = Message::Head(HeadNotice {
            id: 42,
            hash: "ab".repeat(32),
            at: "2026-01-01T10:00:00Z".into(),
        });
        let want = format!("42:{}", "ab".repeat(32));
        let hook = head.webhook("now");
        assert_eq!(hook["event"], "notification.audit_head");
        assert_eq!(hook["audit_head"]["head"], want.as_str());
        assert_eq!(hook["audit_head"]["id"], 42);
        assert!(head.slack().to_string().contains(&want));
        assert!(head.subject().contains("event 42"), "{}", head.subject());
        assert!(head.mail_text().contains(&format!("--head {want}")));
        assert!(head.mail_html().contains(&want));
    }

    #[test]
    fn slack_messages_keep_agent_text_unformatted() {
        let s = Summary {
            agent: "evil<!channel>".into(),
            reason: Some("*click* <https://phish.example|here>\u{202E}".into()),
            ..summary()
        };
        let body = s.slack();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("evil&lt;!channel&gt;"), "{text}");
        assert!(text.ends_with("<https://askfirst.example.com/calls/c1|Open in askfirst>"));
        let blocks = body["blocks"].as_array().unwrap();
        for block in blocks {
            for t in [&block["text"], &block["fields"]] {
                let objects = match t {
                    Value::Array(a) => a.clone(),
                    Value::Null => vec![],
                    other => vec![other.clone()],
                };
                for o in objects {
                    assert_eq!(o["type"], "plain_text", "{block}");
                }
            }
        }
        let all = body.to_string();
        assert!(!all.contains('\u{202E}'));
        assert!(all.contains("Reason: *click* <https://phish.example|here>⟨U+202E⟩"));
        assert_eq!(blocks.last().unwrap()["elements"][0]["url"], s.link);
    }

    #[test]
    fn arguments_only_where_private() {
        let open = summary();
        let private = Summary {
            args: Some(json!({ "token": "tok-123" })),
            ..summary()
        };
        for (s, shown) in [(&open, false), (&private, true)] {
            for text in [
                s.slack().to_string(),
                s.mail_text(),
                s.mail_html(),
                s.webhook("t").to_string(),
            ] {
                assert_eq!(text.contains("tok-123"), shown, "{text}");
            }
        }
    }

    #[test]
    fn mail_is_escaped_and_links_the_card() {
        let s = Summary {
            reason: Some("<img src=x onerror=alert(1)>".into()),
            ..summary()
        };
        let html = s.mail_html();
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("href=\"https://askfirst.example.com/calls/c1\""));
        assert!(s
            .mail_text()
            .contains("Open the card: https://askfirst.example.com/calls/c1"));
        assert_eq!(
            s.subject(),
            "[askfirst] Approval needed: deploy-bot wants to Deploy service"
        );
        let long = Summary {
            agent: "x".repeat(5_000),
            ..summary()
        };
        assert!(long.subject().chars().count() <= 200);
    }
}
