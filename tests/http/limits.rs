//! Bounded work per caller: the per-agent cap on pending calls, and history paged by
//! position so no page costs more than its rows.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use serde_json::{json, Value};
use std::collections::HashSet;

fn deploy(n: usize) -> Value {
    json!({ "session": "s", "tool": "deploy", "args": { "env": "production", "n": n } })
}

async fn save_cap(app: &TestApp, admin: &reqwest::Client, cap: &str) -> reqwest::Response {
    app.rpc(admin, "limits_save", &[("max_pending_per_agent", cap)])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_its_pending_cap_is_refused_until_calls_leave_pending() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let limits: Value = app.rpc(&admin, "limits", &[]).await.json().await.unwrap();
    assert_eq!(limits["max_pending_per_agent"], 1000, "a cap by default");
    let saved: Value = save_cap(&app, &admin, "3").await.json().await.unwrap();
    assert_eq!(saved["max_pending_per_agent"], 3);

    let (key, _) = app.agent("bot").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let p = app.propose_ok(&key, deploy(n)).await;
        assert_eq!(p["status"], "pending");
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    let (status, code, message) = error_of(app.propose(&key, deploy(3)).await).await;
    assert_eq!((status, code.as_str()), (429, "too_many_pending"));
    assert!(message.contains("3 pending calls"), "{message}");

    // Calls policy decides at once are not pending, so they are not capped.
    let read = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "read_file", "args": {} }),
        )
        .await;
    assert_eq!(read["status"], "allowed");
    // Another agent has its own count.
    let (other, _) = app.agent("other").await;
    assert_eq!(app.propose_ok(&other, deploy(0)).await["status"], "pending");

    // A call that leaves pending makes room.
    assert_eq!(app.call_action(&key, &ids[0], "cancel").await.status(), 200);
    assert_eq!(app.propose_ok(&key, deploy(4)).await["status"], "pending");
    let (status, _, _) = error_of(app.propose(&key, deploy(5)).await).await;
    assert_eq!(status, 429);

    // No cap: anything goes.
    let saved: Value = save_cap(&app, &admin, "").await.json().await.unwrap();
    assert_eq!(saved["max_pending_per_agent"], Value::Null);
    assert_eq!(app.propose_ok(&key, deploy(6)).await["status"], "pending");

    // Out of bounds is refused and changes nothing.
    for bad in ["0", "1000001", "many"] {
        let (status, code, _) = error_of(save_cap(&app, &admin, bad).await).await;
        assert_eq!((status, code.as_str()), (422, "invalid"), "{bad}");
    }
    let limits: Value = app.rpc(&admin, "limits", &[]).await.json().await.unwrap();
    assert_eq!(limits["max_pending_per_agent"], Value::Null);
    let changes = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'settings.changed' AND actor = $1",
            "user:ada",
        )
        .await;
    assert_eq!(changes, 2, "each saved change is audited once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_its_idempotency_key_is_answered_even_at_the_cap() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    save_cap(&app, &admin, "1").await;
    let (key, _) = app.agent("bot").await;
    let send = || {
        reqwest::Client::new()
            .post(app.url("/api/v1/calls"))
            .bearer_auth(&key)
            .header("idempotency-key", "deploy-1")
            .json(&deploy(0))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["status"], "pending");
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201, "the first answer, not a refusal");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_proposals_does_not_overshoot_the_cap() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("ada", Role::Admin).await;
    save_cap(&app, &admin, "5").await;
    let (key, _) = app.agent("bot").await;
    let burst = (0..60).map(|n| {
        let key = key.clone();
        let url = app.url("/api/v1/calls");
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .json(&deploy(n))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for task in burst {
        statuses.push(task.await.unwrap());
    }
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((accepted, refused), (5, 55), "{statuses:?}");
    let pending = app
        .count(
            "SELECT COUNT(*) FROM calls c JOIN agents a ON a.id = c.agent_id
             WHERE c.status = 'pending' AND a.name = $1",
            "bot",
        )
        .await;
    assert_eq!(pending, 5);
    app.stop().await;
}

/// Proposes `n` calls policy allows (they go straight to the history), all at the same
/// instant on the test clock, so paging must break ties by id.
async fn history_of(app: &TestApp, agent: &str, n: usize) -> Vec<String> {
    let (key, _) = app.agent(agent).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": "read_file", "args": { "i": i } }),
            )
            .await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    ids
}

fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_by_position_forwards_and_back() {
    let app = TestApp::spawn().await;
    let newest_first = history_of(&app, "bot", 60).await;
    let viewer = app.signed_in("vic", Role::Viewer).await;
    let page = |form: Vec<(&'static str, String)>| {
        let viewer = viewer.clone();
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = app.rpc(&viewer, "history", &form).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };

    let first = page(vec![]).await;
    assert!(first["newer"].is_null());
    let second = page(vec![("before", first["older"].as_str().unwrap().into())]).await;
    let third = page(vec![("before", second["older"].as_str().unwrap().into())]).await;
    assert!(third["older"].is_null(), "the last page says so");
    let walked: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|p| ids_of(p))
        .collect();
    assert_eq!(
        [
            ids_of(&first).len(),
            ids_of(&second).len(),
            ids_of(&third).len()
        ],
        [25, 25, 10]
    );
    assert_eq!(walked, newest_first, "every call once, newest first");
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), 60);

    // Going back from the last page gives the middle page again, then the first.
    let back = page(vec![("after", third["newer"].as_str().unwrap().into())]).await;
    assert_eq!(ids_of(&back), ids_of(&second));
    let top = page(vec![("after", back["newer"].as_str().unwrap().into())]).await;
    assert_eq!(ids_of(&top), ids_of(&first));
    assert!(top["newer"].is_null(), "back at the newest page");

    // A call decided meanwhile does not shift the pages already handed out.
    history_of(&app, "later", 1).await;
    let again = page(vec![("before", first["older"].as_str().unwrap().into())]).await;
    assert_eq!(ids_of(&again), ids_of(&second));

    for (key, bad) in [
        ("before", "page=2"),
        ("before", "12.' OR 1=1 --"),
        ("after", "x.y"),
    ] {
        let (status, code, _) = error_of(app.rpc(&viewer, "history", &[(key, bad)]).await).await;
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{key}={bad}");
    }
    let cursor = first["older"].as_str().unwrap();
    let both = [("before", cursor), ("after", cursor)];
    let (status, _, _) = error_of(app.rpc(&viewer, "history", &both).await).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_the_cap_and_a_running_server_follows() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let askfirst = |args: &'static [&'static str]| {
        let db = app.db.clone();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
                .arg("--db")
                .arg(db)
                .args(args)
                .output()
                .await
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let shown: Value =
        serde_json::from_str(&askfirst(&["limits", "show", "--json"]).await).unwrap();
    assert_eq!(shown["max_pending_per_agent"], 1000);
    let said = askfirst(&["limits", "set", "--max-pending-per-agent", "1"]).await;
    assert!(said.contains("at most 1 pending"), "{said}");

    app.propose_ok(&key, deploy(0)).await;
    // The server reloads the limits when it sees the change in the audit log.
    let mut refused = false;
    for n in 1..40 {
        let res = app.propose(&key, deploy(n)).await;
        if res.status() == 429 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "the running server applies the cap set by the CLI");

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .arg("--db")
        .arg(&app.db)
        .args(["limits", "set", "--max-pending-per-agent", "0"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("1-1000000"));
    askfirst(&["limits", "set", "--max-pending-per-agent", "none"]).await;
    let shown: Value =
        serde_json::from_str(&askfirst(&["limits", "show", "--json"]).await).unwrap();
    assert_eq!(shown["max_pending_per_agent"], Value::Null);
    app.stop().await;
}

/// A proposal whose `args` hold a `kib` KiB string.
fn write(kib: usize) -> Value {
    json!({ "session": "s", "tool": "write_file", "args": { "path": "/tmp/big", "content": "x".repeat(kib * 1024) } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_arguments_are_an_admin_setting_up_to_4_mib() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [{ "name": "writes", "match": { "tool": "write_file" },
                    "effect": { "kind": "gate", "deadline_secs": 600 } }]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    let admin = app.signed_in("ada", Role::Admin).await;
    // 64 KiB by default; the refusal names the setting.
    let (status, code, message) = error_of(app.propose(&key, write(200)).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    assert!(
        message.contains("larger than the 64 KiB allowed"),
        "{message}"
    );
    assert!(message.contains("Agents → Limits"), "{message}");

    // Out of range, or not a number: refused, nothing saved.
    for bad in ["4097", "0", "1MiB"] {
        let res = app
            .rpc(
                &admin,
                "limits_save",
                &[("max_pending_per_agent", "1000"), ("max_args_kib", bad)],
            )
            .await;
        assert_eq!(error_of(res).await.0, 422, "{bad}");
    }
    let saved: Value = app
        .rpc(
            &admin,
            "limits_save",
            &[("max_pending_per_agent", "1000"), ("max_args_kib", "1024")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(saved["max_args_bytes"], 1024 * 1024);
    // Saving the cap alone keeps the size.
    let kept: Value = app
        .rpc(&admin, "limits_save", &[("max_pending_per_agent", "999")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["max_args_bytes"], 1024 * 1024);

    // 200 KiB under 1 MiB: proposed, approved with an edit of the same size, executed.
    let call = app.propose_ok(&key, write(200)).await;
    assert_eq!(call["status"], "pending");
    let id = call["id"].as_str().unwrap();
    let approver = app.person("apu", Role::Approver).await;
    let edited = json!({ "path": "/tmp/big", "content": "y".repeat(200 * 1024) });
    app.decide(
        id,
        &approver,
        askfirst::gate::decide::DecisionInput {
            approve: true,
            edited_args: Some(edited.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let ran = app.call_action(&key, id, "execute").await;
    assert_eq!(ran.status(), 200);
    assert_eq!(ran.json::<Value>().await.unwrap()["args"], edited);
    // The card shows the large value collapsed, with its size.
    let page = app
        .page(&admin, &format!("/calls/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Show all (200 KiB)"),
        "the card names the size"
    );

    // Over 1 MiB: the body alone is refused before it is read, in our error format…
    let (status, code, _) = error_of(app.propose(&key, write(2 * 1024 + 512)).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    // …and so is one sent without a length that grows past the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(
        br#"{"session":"s","tool":"write_file","args":{"content":""#.to_vec(),
    ))
    .chain((0..40).map(|_| Ok(vec![b'x'; 64 * 1024])))
    .chain(std::iter::once(Ok(br#""}}"#.to_vec())))
    .collect();
    let streamed = reqwest::Client::new()
        .post(app.url("/api/v1/calls"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(tokio_stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(streamed).await.0, 413);
    // Other routes keep their 1 MiB limit whatever the setting.
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = app
        .client()
        .post(app.url("/rpc/sign_in"))
        .header("accept", "application/json")
        .form(&[("username", "ada"), ("password", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(res).await.0, 413);

    // The ceiling: 4 MiB.
    let most: Value = app
        .rpc(
            &admin,
            "limits_save",
            &[("max_pending_per_agent", "1000"), ("max_args_kib", "4096")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(most["max_args_bytes"], 4 * 1024 * 1024);
    let big = app.propose_ok(&key, write(4 * 1024 - 1)).await;
    assert_eq!(big["status"], "pending");
    // Its card offers no edit box to post 4 MiB back through a form: approve as shown.
    let card = app
        .page(&admin, &format!("/calls/{}", big["id"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    assert!(card.contains("too large to edit here"), "the card says why");
    assert!(!card.contains(r#"name="args""#), "no edit box");
    // The inbox lists it in a row of its usual size: no copy of the arguments.
    let inbox = app.rpc(&admin, "inbox", &[]).await;
    assert_eq!(inbox.status(), 200);
    let inbox = inbox.text().await.unwrap();
    assert!(inbox.len() < 64 * 1024, "an inbox of {} bytes", inbox.len());
}
