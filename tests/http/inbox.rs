//! The inbox's server functions over HTTP: who may call them, and what a decision that
//! loses a race gets back.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use serde_json::{json, Value};

async fn gated_call(app: &TestApp) -> String {
    let (key, _) = app.agent("bot").await;
    let p = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "production" } }),
        )
        .await;
    p["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_needs_a_session_and_deciding_needs_the_role() {
    let app = TestApp::spawn().await;
    let id = gated_call(&app).await;
    let hash = app.candidate_hash(&id).await;
    let anonymous = app.client();
    for (name, form) in [
        ("inbox", vec![]),
        ("card", vec![("id", id.as_str())]),
        ("history", vec![]),
        (
            "decide",
            vec![
                ("id", id.as_str()),
                ("decision", "approve"),
                ("hash", hash.as_str()),
            ],
        ),
    ] {
        let (status, code, _) = error_of(app.rpc(&anonymous, name, &form).await).await;
        assert_eq!((status, code.as_str()), (401, "unauthenticated"), "{name}");
    }

    let viewer = app.signed_in("val", Role::Viewer).await;
    let inbox: Value = app.rpc(&viewer, "inbox", &[]).await.json().await.unwrap();
    assert_eq!(inbox["items"][0]["id"], id.as_str());
    assert_eq!(inbox["items"][0]["risk"], json!(["production"]));
    let card: Value = app
        .rpc(&viewer, "card", &[("id", &id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["can_decide"], false);
    assert_eq!(
        card["cannot_decide_reason"],
        "Deciding this call needs the approver role."
    );
    let (status, code, _) = error_of(
        app.rpc(
            &viewer,
            "decide",
            &[("id", &id), ("decision", "approve"), ("hash", &hash)],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));

    let approver = app.signed_in("ann", Role::Approver).await;
    let res = app
        .rpc(
            &approver,
            "decide",
            &[("id", &id), ("decision", "approve"), ("hash", &hash)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "approved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_loses_the_race_says_what_happened() {
    let app = TestApp::spawn().await;
    let id = gated_call(&app).await;
    let hash = app.candidate_hash(&id).await;
    let ann = app.signed_in("ann", Role::Approver).await;
    let bob = app.signed_in("bob", Role::Approver).await;
    let deny = [
        ("id", id.as_str()),
        ("decision", "deny"),
        ("feedback", "no"),
        ("hash", hash.as_str()),
    ];
    assert_eq!(app.rpc(&ann, "decide", &deny).await.status(), 200);
    let (status, code, message) = error_of(
        app.rpc(
            &bob,
            "decide",
            &[("id", &id), ("decision", "approve"), ("hash", &hash)],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "not_pending"));
    assert_eq!(message, "the call was already denied");

    // Bad input is a clear error, not a 500.
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("id", "no-such-call"),
                ("decision", "approve"),
                ("hash", "x"),
            ],
            404,
            "not_found",
        ),
        (
            vec![("id", &id), ("decision", "maybe"), ("hash", &hash)],
            400,
            "bad_request",
        ),
        (
            vec![("decision", "approve"), ("hash", &hash)],
            400,
            "bad_request",
        ),
        (
            vec![("id", &id), ("decision", "approve")],
            400,
            "bad_request",
        ),
    ];
    for (form, status, code) in cases {
        let got = error_of(app.rpc(&bob, "decide", &form).await).await;
        assert_eq!((got.0, got.1.as_str()), (status, code), "{form:?}");
    }
    let (status, code, _) = error_of(app.rpc(&bob, "card", &[("id", "nope")]).await).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_arguments_must_be_json_and_history_pages() {
    let app = TestApp::spawn().await;
    let id = gated_call(&app).await;
    let hash = app.candidate_hash(&id).await;
    let ann = app.signed_in("ann", Role::Approver).await;
    let form = [
        ("id", id.as_str()),
        ("decision", "approve"),
        ("hash", hash.as_str()),
        ("args", "{not json"),
    ];
    let (status, code, _) = error_of(app.rpc(&ann, "decide", &form).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid"));
    let form = [
        ("id", id.as_str()),
        ("decision", "approve"),
        ("hash", hash.as_str()),
        ("args", r#"{"env":"staging"}"#),
    ];
    let view: Value = app.rpc(&ann, "decide", &form).await.json().await.unwrap();
    assert_eq!(view["args"], json!({ "env": "staging" }));

    let history: Value = app.rpc(&ann, "history", &[]).await.json().await.unwrap();
    assert_eq!(history["items"][0]["id"], id.as_str());
    assert_eq!(history["items"][0]["decided_by"], json!(["ann"]));
    let filtered: Value = app
        .rpc(&ann, "history", &[("status", "denied")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"], json!([]));
    let (status, _, _) = error_of(app.rpc(&ann, "history", &[("status", "bogus")]).await).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_event_stream_needs_a_session() {
    let app = TestApp::spawn().await;
    let res = app
        .client()
        .get(app.url("/inbox/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.1, "unauthenticated");
    let viewer = app.signed_in("val", Role::Viewer).await;
    let res = viewer.get(app.url("/inbox/events")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    drop(res);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_inbox_shows_the_soonest_deadlines_and_counts_all() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "gate", "match": { "tool": "deploy*" },
              "effect": { "kind": "gate", "deadline_secs": 3600 } }
        ]
    }))
    .await;
    let limit = askfirst::gate::views::INBOX_LIMIT as usize;
    let mut ids = Vec::new();
    for i in 0..=limit {
        let tool = if i % 2 == 0 {
            "deploy_web"
        } else {
            "deploy_db"
        };
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": tool, "args": { "n": i } }),
            )
            .await;
        ids.push(p["id"].as_str().unwrap().to_string());
        app.clock.advance(chrono::Duration::milliseconds(10));
    }
    let viewer = app.signed_in("vic", Role::Viewer).await;
    let inbox: Value = app.rpc(&viewer, "inbox", &[]).await.json().await.unwrap();
    assert_eq!(inbox["total"], limit + 1);
    let listed: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), limit);
    assert_eq!(
        listed,
        ids[..limit].iter().map(String::as_str).collect::<Vec<_>>(),
        "soonest deadline first"
    );
    let count = |dimension: &str, value: &str| {
        inbox["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["dimension"] == dimension && c["value"] == value)
            .map(|c| c["count"].as_i64().unwrap())
    };
    assert_eq!(count("agent", "bot"), Some(limit as i64 + 1));
    assert_eq!(count("tool", "deploy_web"), Some(limit as i64 / 2 + 1));
    assert_eq!(count("tool", "deploy_db"), Some(limit as i64 / 2));

    let filtered: Value = app
        .rpc(&viewer, "inbox", &[("tool", "deploy_db")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["total"], limit / 2);
    assert_eq!(filtered["items"].as_array().unwrap().len(), limit / 2);

    let page = app.page(&viewer, "/inbox").await.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "Showing the {limit} soonest deadlines of {}",
            limit + 1
        )),
        "the page says the list is cut short"
    );
    app.stop().await;
}

/// A decision posted by a plain form on call `id`, as the card shows it: where it went.
async fn decide_plainly(app: &TestApp, who: &reqwest::Client, id: &str, decision: &str) -> String {
    let hash = app.candidate_hash(id).await;
    let res = who
        .post(app.url("/rpc/decide"))
        .header("accept", "text/html")
        .header("referer", app.url(&format!("/calls/{id}")))
        .form(&[
            ("id", id),
            ("decision", decision),
            ("hash", &hash),
            ("feedback", "not now"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "{decision} {id}");
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The triage loop: a decision made on the card goes on to the next call waiting on this
/// person (the soonest deadline), then to the inbox when none is left, and the page it
/// lands on says what the decision did. The inbox tells the calls waiting on me from those
/// waiting on others (with why); the card and home say the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_goes_on_to_the_next_call_waiting_on_me_then_to_the_inbox() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "mail-out", "match": { "tool": "send_email",
                "args": [{ "pointer": "/to", "op": "glob", "value": "*@*" }] },
              "effect": { "kind": "gate", "approvals_required": 2, "deadline_secs": 60,
                          "on_deadline": "escalate", "escalate_to": "manager" } },
            { "name": "restarts", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "deadline_secs": 120 } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    let propose = |body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            app.propose_ok(&key, body).await["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let first = propose(json!({ "session": "s", "tool": "send_email",
        "args": { "body": "hi", "to": "ceo@corp.example" }, "reason": "board" }))
    .await;
    let second =
        propose(json!({ "session": "s", "tool": "restart", "args": { "host": "a" } })).await;
    let ann = app.signed_in("ann", Role::Approver).await;

    // The card: the arguments that decide, what happens at the deadline.
    let card: Value = app
        .rpc(&ann, "card", &[("id", &first)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["deciding"], json!(["to"]));
    assert_eq!(card["at_deadline"], "then it escalates to managers");
    assert_eq!(card["you_approved"], false);

    let went = decide_plainly(&app, &ann, &first, "approve").await;
    assert_eq!(went, format!("/calls/{second}?after={first}"));
    let card: Value = app
        .rpc(&ann, "card", &[("id", &second), ("after", &first)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["after"]["id"], first.as_str());
    assert_eq!(
        card["after"]["what"],
        "your approval is recorded · 1 more needed"
    );
    let card: Value = app
        .rpc(&ann, "card", &[("id", &first)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["you_approved"], true);

    // The inbox: the first now waits on others (and says why), the second on ann.
    let inbox: Value = app.rpc(&ann, "inbox", &[]).await.json().await.unwrap();
    let item = |id: &str| {
        inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(item(&first)["mine"], false);
    assert_eq!(
        item(&first)["waiting_on"],
        "you approved it · 1 more needed"
    );
    assert_eq!(item(&first)["reason"], "board");
    assert_eq!(
        item(&first)["key_args"],
        json!([{ "key": "to", "value": "ceo@corp.example", "deciding": true },
               { "key": "body", "value": "hi", "deciding": false }])
    );
    assert_eq!(item(&second)["mine"], true);
    assert_eq!(item(&second)["waiting_on"], Value::Null);

    // Nothing else waits on ann after the second: the inbox, saying what was done.
    let went = decide_plainly(&app, &ann, &second, "deny").await;
    assert_eq!(went, format!("/inbox?after={second}"));
    let inbox: Value = app
        .rpc(&ann, "inbox", &[("after", &second)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["after"]["what"], "denied");

    // A note is only about the person's own decision.
    let bo = app.signed_in("bo", Role::Approver).await;
    let card: Value = app
        .rpc(&bo, "card", &[("id", &first), ("after", &second)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["after"], Value::Null);
    // Home: the call still needing one more approval waits on bo, not on ann; a viewer
    // has none waiting on them.
    let home: Value = app.rpc(&bo, "home", &[]).await.json().await.unwrap();
    assert_eq!(home["waiting"], 1);
    assert_eq!(home["soonest"]["id"], first.as_str());
    assert_eq!(home["signoffs"], Value::Null);
    let home: Value = app.rpc(&ann, "home", &[]).await.json().await.unwrap();
    assert_eq!(home["waiting"], 0);
    let val = app.signed_in("val", Role::Viewer).await;
    let inbox: Value = app.rpc(&val, "inbox", &[]).await.json().await.unwrap();
    assert_eq!(inbox["items"][0]["mine"], false);
    assert_eq!(inbox["items"][0]["waiting_on"], "needs an approver");
    let home: Value = app.rpc(&val, "home", &[]).await.json().await.unwrap();
    assert_eq!(home["pending"], 1, "what waits on the approvers");
    assert_eq!(home["waiting"], 0);
    assert_eq!(home["soonest"], Value::Null);

    // An admin's first steps, until they are taken.
    let ada = app.signed_in("ada", Role::Admin).await;
    let home: Value = app.rpc(&ada, "home", &[]).await.json().await.unwrap();
    assert_eq!(home["signoffs"], 0);
    assert_eq!(
        home["setup"],
        Value::Null,
        "an agent, approvers and calls exist"
    );
    app.stop().await;
}

/// Home's count and the triage loop's next call look through every pending call, not only
/// the inbox's first page: 110 calls ann may not decide, due sooner, do not hide the one
/// she may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_waits_on_me_is_found_behind_a_page_of_calls_that_do_not() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "managers", "match": { "tool": "scale" },
              "effect": { "kind": "gate", "approver_role": "manager", "deadline_secs": 60 } },
            { "name": "approvers", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "deadline_secs": 600 } }
        ]
    }))
    .await;
    // Two agents: each stays under the per-agent pending cap.
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("bot-2").await;
    let mut first = String::new();
    for n in 0..110 {
        let by = if n % 2 == 0 { &key } else { &other };
        let p = app
            .propose_ok(
                by,
                json!({ "session": "s", "tool": "scale", "args": { "n": n } }),
            )
            .await;
        if n == 0 {
            first = p["id"].as_str().unwrap().to_string();
        }
    }
    let mine = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": { "host": "a" } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ann = app.person("ann", Role::Approver).await;
    assert_eq!(
        app.gate().next_for(&ann, &first).await.unwrap(),
        Some(mine.clone())
    );
    let home = app.gate().home(&ann).await.unwrap();
    assert_eq!((home.waiting, home.waiting_more), (1, false));
    assert_eq!(home.soonest.map(|s| s.id), Some(mine.clone()));
    assert_eq!(home.pending, 111);
    // Nothing else: no next call after it.
    assert_eq!(app.gate().next_for(&ann, &mine).await.unwrap(), None);
    app.stop().await;
}
