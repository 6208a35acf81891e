//! Invisible and confusable characters in agent text: one of each class the classifier
//! knows goes into a call's session, tool, arguments and reason, and every page that shows
//! them — inbox, card (and its edit box), history, a bypass request, the policy console —
//! must mark each one (`⟨U+202E⟩`) and show none raw. Names with nothing visible are refused.

use crate::support::{error_of, TestApp};
use askfirst::domain::bypass::Scope;
use askfirst::domain::invisible::{classify, Class};
use askfirst::domain::Role;
use askfirst::gate::bypass::BypassRequest;
use askfirst::gate::decide::DecisionInput;
use serde_json::json;

/// One character of each class, with its class (as a check that the list is complete).
const ONE_OF_EACH: [(char, Class); 8] = [
    ('\u{202E}', Class::Bidi),
    ('\u{200B}', Class::ZeroWidth),
    ('\u{E0041}', Class::Tag),
    ('\u{FE0F}', Class::VariationSelector),
    ('\u{3164}', Class::Filler),
    ('\u{2028}', Class::LineSeparator),
    ('\u{00AD}', Class::Format),
    ('\u{0007}', Class::Control),
];

fn marker(c: char) -> String {
    format!("⟨U+{:04X}⟩", c as u32)
}

/// The page without its `<script>` elements and its islands' `data-props` (hydration data
/// carries the raw text, as the browser needs it; people never see it).
fn shown(page: &str) -> String {
    let page = without_island_props(page);
    let mut out = String::with_capacity(page.len());
    let mut rest = page.as_str();
    while let Some(start) = rest.find("<script") {
        out.push_str(&rest[..start]);
        rest = match rest[start..].find("</script>") {
            Some(end) => &rest[start + end + "</script>".len()..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// `page` with every island's `data-props="…"` emptied.
fn without_island_props(page: &str) -> String {
    const ATTR: &str = "data-props=\"";
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(start) = rest.find(ATTR) {
        out.push_str(&rest[..start + ATTR.len()]);
        rest = &rest[start + ATTR.len()..];
        rest = rest.find('"').map_or("", |end| &rest[end..]);
    }
    out.push_str(rest);
    out
}

/// `page` marks each of `chars` and shows no classified character raw.
fn assert_marked(what: &str, page: &str, chars: &[char]) {
    let page = shown(page);
    for &c in chars {
        assert!(
            page.contains(&marker(c)),
            "{what}: {} not marked",
            marker(c)
        );
    }
    let raw: Vec<String> = page
        .chars()
        .filter(|&c| !matches!(c, '\t' | '\n' | '\r') && classify(c).is_some())
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(raw.is_empty(), "{what}: shown raw: {raw:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invisible_class_is_marked_wherever_agent_text_is_shown() {
    for (c, class) in ONE_OF_EACH {
        assert_eq!(classify(c), Some(class));
    }
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let all: Vec<char> = ONE_OF_EACH.iter().map(|(c, _)| *c).collect();
    // Short values, so that summaries cut to 60 characters still hold every marker.
    let a: String = std::iter::once('x')
        .chain(all[..4].iter().copied())
        .collect();
    let b: String = std::iter::once('y')
        .chain(all[4..].iter().copied())
        .collect();
    let session: String = std::iter::once('s')
        .chain(all[..7].iter().copied())
        .collect();
    let tool = "deploy\u{E0041}";
    let body = json!({
        "session": session, "tool": tool,
        "args": { "a": a, "b": b }, "reason": format!("{a} {b}"),
    });
    let pending = app.propose_ok(&key, body.clone()).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    let id = pending["id"].as_str().unwrap().to_string();
    let denied = app.propose_ok(&key, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ann = app.person("ann", Role::Approver).await;
    app.decide(
        &denied,
        &ann,
        DecisionInput {
            approve: false,
            feedback: Some(format!("no {a}")),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Names with nothing visible are refused, with the error saying why.
    for (field, name) in [
        ("tool", "\u{3164}"),
        ("tool", "\u{115F}\u{1160}"),
        ("session", "\u{E0041}\u{200B} \u{2800}"),
    ] {
        let mut body = json!({ "session": "s", "tool": "deploy" });
        body[field] = json!(name);
        let (status, code, message) = error_of(app.propose(&key, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "invalid"),
            "{field} {name:?}"
        );
        assert!(message.contains("visible character"), "{message}");
    }

    let admin = app.signed_in("ada", Role::Admin).await;
    let page = |path: String| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app.page(admin, &path).await;
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };

    let inbox = page("/inbox".into()).await;
    assert_marked("inbox", &inbox, &all);

    let card = page(format!("/calls/{id}")).await;
    assert_marked("card", &card, &all);
    // The edit box holds the arguments as JSON with `\u` escapes: exact and visible, and
    // it parses back to the very same arguments.
    let start = card.find("<textarea id=\"args\"").expect("the edit box");
    let open = start + card[start..].find('>').unwrap() + 1;
    let close = open + card[open..].find("</textarea>").unwrap();
    let edit = card[open..close]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    for escape in [
        "\\u202E",
        "\\u200B",
        "\\uDB40\\uDC41",
        "\\uFE0F",
        "\\u3164",
        "\\u2028",
        "\\u00AD",
        "\\u0007",
    ] {
        assert!(edit.contains(escape), "{escape} in the edit box: {edit}");
    }
    assert!(
        !edit.chars().any(|c| c != '\n' && classify(c).is_some()),
        "{edit}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&edit).unwrap();
    assert_eq!(parsed, json!({ "a": a, "b": b }));

    let denied_card = page(format!("/calls/{denied}")).await;
    assert_marked("a denied call's card", &denied_card, &all);
    let history = page("/history".into()).await;
    assert_marked("history", &history, &['\u{E0041}']);

    // A bypass request lists the recent calls it would cover.
    let ria = app.person("ria", Role::Manager).await;
    let bypass = app
        .gate()
        .request_bypass(
            &ria,
            BypassRequest {
                scope: Scope {
                    agent: None,
                    tool: "deploy*".into(),
                    args: vec![],
                },
                window_secs: 3600,
                reason: "release day".into(),
                include_confirmation: false,
            },
        )
        .await
        .unwrap();
    let request = page(format!("/bypasses/{}", bypass.id)).await;
    assert_marked("bypass request", &request, &all);
    let bypasses = page("/bypasses".into()).await;
    assert_marked("bypasses", &bypasses, &[]);

    // The policy console offers recent calls to try.
    let policy = page("/policy".into()).await;
    assert_marked("policy console", &policy, &all[..4]);
    app.stop().await;
}
