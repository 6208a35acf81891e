//! The authorization matrix: every server function and every API route, called as every
//! kind of caller. Only the documented callers get through. The table is checked against
//! the routes the server really has, so a new route without a row fails this test.

use crate::support::{TestApp, TTL};
use askfirst::domain::Role;
use reqwest::{Client, Method};
use serde_json::json;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Approver,
    Manager,
    Admin,
    AgentKey,
    DisabledUser,
    ExpiredSession,
}

const PEOPLE: &[Who] = &[Who::Viewer, Who::Approver, Who::Manager, Who::Admin];
const EVERYONE: &[Who] = &[
    Who::Anonymous,
    Who::Viewer,
    Who::Approver,
    Who::Manager,
    Who::Admin,
    Who::AgentKey,
    Who::DisabledUser,
    Who::ExpiredSession,
];
const DECIDERS: &[Who] = &[Who::Approver, Who::Manager, Who::Admin];
const MANAGERS: &[Who] = &[Who::Manager, Who::Admin];
const ADMINS: &[Who] = &[Who::Admin];
const AGENTS: &[Who] = &[Who::AgentKey];

/// `(method, path, body, who gets through)`. `{call}` is replaced by a real call id.
fn table() -> Vec<(Method, &'static str, &'static str, &'static [Who])> {
    vec![
        (Method::POST, "/rpc/current_user", "", EVERYONE),
        (Method::POST, "/rpc/needs_setup", "", EVERYONE),
        (Method::POST, "/rpc/sign_in_options", "", EVERYONE),
        (Method::POST, "/rpc/provider_sign_out", "", EVERYONE),
        (Method::POST, "/rpc/people_sign_in", "", ADMINS),
        (
            Method::POST,
            "/rpc/create_first_admin",
            "username=x&password=long+enough+1&password_confirm=long+enough+1&token=test-setup-token",
            EVERYONE,
        ),
        (Method::POST, "/rpc/list_users", "", ADMINS),
        (
            Method::POST,
            "/rpc/add_user",
            "username=newbie&password=long+enough+1&role=viewer",
            ADMINS,
        ),
        (Method::POST, "/rpc/inbox", "", PEOPLE),
        (Method::POST, "/rpc/home", "", PEOPLE),
        (Method::POST, "/rpc/card", "id={call}", PEOPLE),
        (
            Method::POST,
            "/rpc/decide",
            "id={call}&decision=deny&feedback=no&hash={hash}",
            DECIDERS,
        ),
        (Method::POST, "/rpc/history", "", PEOPLE),
        (Method::POST, "/rpc/policy_console", "", ADMINS),
        (
            Method::POST,
            "/rpc/policy_rule",
            "form%5Bname%5D=r&form%5Beffect%5D=allow&form%5Btool%5D=ping",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/policy_edit",
            "op=toggle&rule=gate-novel-actions",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/policy_toml",
            "toml=default_effect+%3D+%22gate%22",
            ADMINS,
        ),
        (Method::POST, "/rpc/policy_discard", "", ADMINS),
        (Method::POST, "/rpc/policy_save", "comment=x", ADMINS),
        (Method::POST, "/rpc/policy_restore", "version=1", ADMINS),
        (
            Method::POST,
            "/rpc/policy_try",
            "agent=a&tool=deploy&args=%7B%7D",
            ADMINS,
        ),
        (Method::POST, "/rpc/policy_replay", "limit=10", ADMINS),
        (Method::POST, "/rpc/policy_versions", "", ADMINS),
        (Method::POST, "/rpc/agents", "", ADMINS),
        (Method::POST, "/rpc/limits", "", ADMINS),
        (Method::POST, "/rpc/insights", "period=24h", MANAGERS),
        (Method::POST, "/rpc/rubber_stamp", "period=24h", ADMINS),
        (
            Method::POST,
            "/rpc/suggestion_accept",
            "kind=ungate&tool=x&pattern=x",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/suggestion_dismiss",
            "kind=ungate&tool=x&pattern=x&reason=because",
            MANAGERS,
        ),
        (
            Method::POST,
            "/rpc/flag_call",
            "id=no-such-call&reason=wrong",
            DECIDERS,
        ),
        (
            Method::POST,
            "/rpc/card_seen",
            "id=no-such-call&expanded=false",
            DECIDERS,
        ),
        (
            Method::POST,
            "/rpc/limits_save",
            // Empty: no cap (every row here leaves a pending call behind).
            "max_pending_per_agent=",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/set_user_role",
            "username=no-such-person&role=viewer",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/set_user_disabled",
            "username=no-such-person&disabled=true",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/reset_user_password",
            "username=no-such-person&password=long+enough+1",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/change_password",
            "current=not+my+password&password=a+new+long+one&password_confirm=a+new+long+one",
            PEOPLE,
        ),
        (
            Method::POST,
            "/rpc/agent_create",
            "name=made-by-admin",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/agent_enabled",
            "name=bot&enabled=true",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/agent_rotate_key",
            "name=bot&grace=1h",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/agent_rotate_secret",
            "name=bot&grace=1h",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/agent_callbacks",
            "name=bot&origins=",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/agent_receipts",
            "name=bot&when=always",
            ADMINS,
        ),
        (
            Method::POST,
            "/api/v1/calls",
            r#"{"session":"s","tool":"read_x"}"#,
            AGENTS,
        ),
        (Method::GET, "/api/v1/calls/{call}", "", AGENTS),
        (Method::POST, "/api/v1/calls/{call}/execute", "", AGENTS),
        (Method::POST, "/api/v1/calls/{call}/cancel", "", AGENTS),
        (
            Method::POST,
            "/api/v1/calls/{call}/outcome",
            r#"{"result":"succeeded"}"#,
            AGENTS,
        ),
        (Method::GET, "/api/v1/events", "", AGENTS),
        (Method::GET, "/inbox/events", "", PEOPLE),
        (Method::GET, "/reviews/events", "", MANAGERS),
        (Method::POST, "/rpc/audit", "", MANAGERS),
        (Method::GET, "/audit/export.csv", "", MANAGERS),
        (Method::GET, "/audit/export.jsonl", "", MANAGERS),
        (Method::GET, "/api/v1/bypasses", "", AGENTS),
        (
            Method::POST,
            "/api/v1/policy/preview",
            r#"{"tools":[{"tool":"files.write_file"}]}"#,
            AGENTS,
        ),
        // Open without `--metrics-token` (as here); with one, only it works (see metrics.rs).
        (Method::GET, "/metrics", "", EVERYONE),
        // Public keys, for anyone verifying a receipt.
        (Method::GET, "/.well-known/jwks.json", "", EVERYONE),
        (Method::POST, "/rpc/bypasses", "", PEOPLE),
        (Method::POST, "/rpc/bypass", "id=999999", PEOPLE),
        (
            Method::POST,
            "/rpc/bypass_preview",
            "tool=deploy&agent=&conditions=",
            DECIDERS,
        ),
        (
            Method::POST,
            "/rpc/bypass_request",
            "tool=zzz-nothing&agent=&conditions=&window=1h&reason=matrix",
            DECIDERS,
        ),
        (Method::POST, "/rpc/bypass_revoke", "id=999999", DECIDERS),
        (Method::POST, "/rpc/grants", "", PEOPLE),
        (Method::POST, "/rpc/grant_revoke", "id=999999", DECIDERS),
        (
            Method::POST,
            "/rpc/decide_batch",
            "calls={call}+{hash}&decision=deny&feedback=no",
            DECIDERS,
        ),
        (
            Method::POST,
            "/rpc/extend",
            "id={call}&minutes=5&reason=need+time",
            DECIDERS,
        ),
        (Method::POST, "/rpc/denial_reasons", "", ADMINS),
        (
            Method::POST,
            "/rpc/denial_reasons_save",
            "reasons=out_of_scope%3A+Not+your+task",
            ADMINS,
        ),
        (Method::POST, "/rpc/reviews", "", MANAGERS),
        (Method::POST, "/rpc/reviews_count", "", EVERYONE),
        (
            Method::POST,
            "/rpc/signoff_review",
            "kind=bypass&id=999999&verdict=approve&hash=x",
            MANAGERS,
        ),
        (
            Method::POST,
            "/rpc/change_author",
            "id=999999&action=withdraw",
            ADMINS,
        ),
        (
            Method::POST,
            "/rpc/signoff_settings",
            "approvals=2&max_window=1d&request_ttl=1d",
            ADMINS,
        ),
        (Method::POST, "/rpc/notifications", "", ADMINS),
        (
            Method::POST,
            "/rpc/notify_channel_add",
            "name=matrix&kind=slack&url=env%3ASLACK_HOOK",
            ADMINS,
        ),
        (Method::POST, "/rpc/notify_channel_remove", "name=no-such", ADMINS),
        (
            Method::POST,
            "/rpc/notify_channel_enabled",
            "name=no-such&enabled=true",
            ADMINS,
        ),
        (Method::POST, "/rpc/notify_route_add", "channel=no-such", ADMINS),
        (Method::POST, "/rpc/notify_route_remove", "id=999999", ADMINS),
        (
            Method::POST,
            "/rpc/notify_settings",
            "reminder_percent=20&allowed_origins=",
            ADMINS,
        ),
        // Signing in with the OpenID provider is for anyone (`404` here: none is configured;
        // `tests/http/oidc.rs` has them working).
        (Method::GET, "/auth/oidc/start", "", EVERYONE),
        (Method::GET, "/auth/oidc/callback", "", EVERYONE),
        // Last: these change who the client is.
        (Method::POST, "/rpc/sign_out", "", EVERYONE),
        (
            Method::POST,
            "/rpc/sign_in",
            "username=m-signin&password=a+long+enough+password",
            EVERYONE,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_admits_only_its_callers() {
    let app = TestApp::spawn().await;
    // Every request below gets a fresh pending call: more than the default cap per agent.
    app.gate()
        .set_limits(
            "test",
            askfirst::domain::limits::Limits {
                max_pending_per_agent: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (key, _) = app.agent("bot").await;
    app.add_user("m-signin", Role::Viewer, "a long enough password")
        .await;

    // The table covers every server function and every API operation.
    let listed: BTreeSet<String> = table().iter().map(|(_, p, _, _)| p.to_string()).collect();
    let server_fns: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_string())
        .filter(|p| p.starts_with("/rpc/"))
        .collect();
    let missing: Vec<_> = server_fns.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "server functions without a row: {missing:?}"
    );
    let doc: serde_json::Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        let path = path.replace("{id}", "{call}");
        assert!(listed.contains(&path), "API route without a row: {path}");
    }

    let mut clients = Vec::new();
    for who in EVERYONE {
        let client = match who {
            Who::Anonymous | Who::AgentKey => app.client(),
            Who::Viewer => app.signed_in("m-viewer", Role::Viewer).await,
            Who::Approver => app.signed_in("m-approver", Role::Approver).await,
            Who::Manager => app.signed_in("m-manager", Role::Manager).await,
            Who::Admin => app.signed_in("m-admin", Role::Admin).await,
            Who::DisabledUser => {
                let c = app.signed_in("m-disabled", Role::Admin).await;
                askfirst::auth::service::set_disabled(
                    app.pool(),
                    app.clock.as_ref(),
                    askfirst::auth::service::Actor::Cli,
                    "m-disabled",
                    true,
                )
                .await
                .unwrap();
                c
            }
            Who::ExpiredSession => app.signed_in("m-expired", Role::Admin).await,
        };
        clients.push((*who, client));
    }
    // Expire the one session (the others were made after it and live a full TTL longer).
    app.clock.advance(TTL - chrono::Duration::seconds(1));
    let fresh: Vec<(Who, Client)> = {
        let mut v = Vec::new();
        for (who, c) in clients {
            let c = match who {
                Who::Viewer => app.signed_in("m2-viewer", Role::Viewer).await,
                Who::Approver => app.signed_in("m2-approver", Role::Approver).await,
                Who::Manager => app.signed_in("m2-manager", Role::Manager).await,
                Who::Admin => app.signed_in("m2-admin", Role::Admin).await,
                _ => c,
            };
            v.push((who, c));
        }
        v
    };
    app.clock.advance(chrono::Duration::seconds(1));

    for (method, path, body, allowed) in table() {
        for (who, client) in &fresh {
            // A fresh pending call for every request, so state never hides the check.
            let call = app
                .propose_ok(
                    &key,
                    json!({ "session": "m", "tool": "deploy", "args": { "env": "production" } }),
                )
                .await;
            let id = call["id"].as_str().unwrap();
            let url = app.url(&path.replace("{call}", id));
            let mut req = client
                .request(method.clone(), url)
                .header("accept", "application/json");
            if *who == Who::AgentKey {
                req = req.bearer_auth(&key);
            }
            if !body.is_empty() {
                let body = body
                    .replace("{call}", id)
                    .replace("{hash}", &app.candidate_hash(id).await);
                let kind = if body.starts_with('{') {
                    "application/json"
                } else {
                    "application/x-www-form-urlencoded"
                };
                req = req.header("content-type", kind).body(body);
            }
            let status = req.send().await.unwrap().status().as_u16();
            let got_through = status != 401 && status != 403;
            assert_eq!(
                got_through,
                allowed.contains(who),
                "{method} {path} as {who:?}: {status}"
            );
        }
    }
    app.stop().await;
}
