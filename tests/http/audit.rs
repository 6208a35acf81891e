//! The audit page and its exports: filters, paging by event id, the chain's status (and a
//! tampered chain shown loudly), and CSV / JSON Lines exports that hold every filtered
//! event and parse.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use askfirst::store::audit::{append_many, OwnedEvent};
use serde_json::{json, Value};

/// Appends `n` events straight into the log (as the server would, chained), actors
/// cycling through `user:ada`, `cli` and a formula-looking one.
async fn seed(app: &TestApp, n: usize) {
    let at = app.now();
    let events: Vec<OwnedEvent> = (0..n)
        .map(|i| OwnedEvent {
            at: at + chrono::Duration::seconds(i as i64),
            actor: ["user:ada", "cli", "=HYPERLINK(\"http://x\")"][i % 3].into(),
            kind: ["user.created", "settings.changed", "bypass.requested"][i % 3].into(),
            agent_id: None,
            call_id: None,
            from_status: None,
            to_status: None,
            detail: json!({ "n": i, "note": "a, \"quoted\"\nline" }),
        })
        .collect();
    let mut tx = askfirst::store::write_tx(app.pool()).await.unwrap();
    append_many(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
}

async fn audit_rpc(app: &TestApp, client: &reqwest::Client, form: &[(&str, &str)]) -> Value {
    let res = app.rpc(client, "audit", form).await;
    assert_eq!(res.status(), 200, "{form:?}");
    res.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_filters_and_pages_by_event_id() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let call = app
        .propose_ok(&key, json!({ "session": "s", "tool": "read_x" }))
        .await;
    let call_id = call["id"].as_str().unwrap();
    seed(&app, 120).await;
    let manager = app.session_for("ada", Role::Manager).await;

    // Newest first, 50 a page, every event reached once going down.
    let first = audit_rpc(&app, &manager, &[]).await;
    let newest: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT MAX(id) FROM audit_events"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(ids(&first)[0], newest);
    assert_eq!(ids(&first).len(), 50);
    assert!(first["newer"].is_null());
    let mut seen = ids(&first);
    let mut page = first.clone();
    while let Some(before) = page["older"].as_i64() {
        page = audit_rpc(&app, &manager, &[("before", &before.to_string())]).await;
        seen.extend(ids(&page));
    }
    assert_eq!(seen, (1..=newest).rev().collect::<Vec<_>>());
    // And back up from the second page.
    let second = audit_rpc(&app, &manager, &[("before", &ids(&first)[49].to_string())]).await;
    let back = audit_rpc(
        &app,
        &manager,
        &[("after", &second["newer"].as_i64().unwrap().to_string())],
    )
    .await;
    assert_eq!(ids(&back), ids(&first));

    // Filters.
    let exact = audit_rpc(&app, &manager, &[("kind", "bypass.requested")]).await;
    assert_eq!(ids(&exact).len(), 40);
    let prefix = audit_rpc(&app, &manager, &[("kind", "bypass."), ("actor", "")]).await;
    assert_eq!(ids(&prefix), ids(&exact));
    let none = audit_rpc(&app, &manager, &[("kind", "bypass")]).await;
    assert!(ids(&none).is_empty(), "an exact kind is not a prefix");
    let actor = audit_rpc(&app, &manager, &[("actor", "cli")]).await;
    assert_eq!(ids(&actor).len(), 40);
    let by_call = audit_rpc(&app, &manager, &[("call", call_id)]).await;
    assert_eq!(by_call["items"][0]["kind"], "call.proposed");
    assert_eq!(by_call["items"][0]["agent"], "bot");
    assert_eq!(by_call["items"][0]["call_id"], call_id);
    let by_agent = audit_rpc(&app, &manager, &[("agent", "bot")]).await;
    let kinds: Vec<&str> = by_agent["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call.proposed", "agent.created"]);
    assert!(ids(&audit_rpc(&app, &manager, &[("agent", "nobody")]).await).is_empty());
    // Seeded events are one a second from 09:00:00 UTC: [09:00:10, 09:00:20) holds ten.
    let window = audit_rpc(
        &app,
        &manager,
        &[
            ("from", "2026-01-01T09:00:10"),
            ("to", "2026-01-01T09:00:20Z"),
        ],
    )
    .await;
    assert_eq!(ids(&window).len(), 10, "{window}");

    // Bad input is a 400 with a message, never a 500.
    for form in [
        vec![("kind", "DROP TABLE")],
        vec![("from", "last tuesday")],
        vec![("from", "2026-01-02T00:00"), ("to", "2026-01-01T00:00")],
        vec![("before", "abc")],
        vec![("before", "3"), ("after", "4")],
    ] {
        let (status, code, message) = error_of(app.rpc(&manager, "audit", &form).await).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "bad_request"),
            "{form:?}: {message}"
        );
        assert!(!message.is_empty());
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_chain_status_and_a_tampered_chain_loudly() {
    let app = TestApp::spawn().await;
    seed(&app, 30).await;
    let manager = app.session_for("ada", Role::Manager).await;
    let page = audit_rpc(&app, &manager, &[]).await;
    let newest = ids(&page)[0];
    // At most a page load's budget is verified per load; 30 events fit in one.
    assert_eq!(page["chain"]["verified_up_to"], newest);
    assert!(page["chain"]["broken"].is_null());
    let html = app.page(&manager, "/audit").await.text().await.unwrap();
    assert!(html.contains("verified up to event"), "{html}");
    assert!(!html.contains("BROKEN"));

    // Rewrite the newest (already verified) event behind the triggers' back.
    crate::support::drop_audit_trigger(app.pool(), "audit_events_no_update").await;
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "UPDATE audit_events SET actor = 'user:someone-else' WHERE id = $1"
    )
    .bind(newest)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let page = audit_rpc(&app, &manager, &[]).await;
    assert_eq!(page["chain"]["broken"][0], newest, "{page}");
    let html = app.page(&manager, "/audit").await.text().await.unwrap();
    assert!(
        html.contains("BROKEN at event") && html.contains("role=\"alert\""),
        "{html}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_appended_outside_the_chain_is_found_by_the_page() {
    let app = TestApp::spawn().await;
    seed(&app, 10).await;
    let manager = app.session_for("ada", Role::Manager).await;
    let page = audit_rpc(&app, &manager, &[]).await;
    assert!(page["chain"]["broken"].is_null());
    // Inserting is what the triggers allow; a forger without the chain cannot link it.
    let forged: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "INSERT INTO audit_events (at, actor, kind, detail, prev_hash, hash)
         SELECT at, 'user:mallory', 'user.created', '{}', hash, hash FROM audit_events
         ORDER BY id DESC LIMIT 1 RETURNING id",
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    seed(&app, 5).await;
    let page = audit_rpc(&app, &manager, &[]).await;
    assert_eq!(page["chain"]["broken"][0], forged, "{page}");
    assert!(page["chain"]["verified_up_to"].as_i64().unwrap() < forged);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_every_filtered_event_and_the_csv_parses() {
    let app = TestApp::spawn().await;
    // More than two export chunks.
    seed(&app, 2_500).await;
    let manager = app.session_for("ada", Role::Manager).await;
    let total: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events"
    )
    .fetch_one(cn)
    .await)
    .unwrap();

    let res = manager
        .get(app.url("/audit/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"askfirst-audit-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let body = res.bytes().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_ref());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "id",
            "at",
            "actor",
            "kind",
            "agent",
            "call_id",
            "from_status",
            "to_status",
            "detail",
            "hash"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len() as i64, total);
    let csv_ids: Vec<i64> = records.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(
        csv_ids,
        (1..=total).collect::<Vec<_>>(),
        "oldest first, each once"
    );
    let formula = records.iter().find(|r| r[2].contains("HYPERLINK")).unwrap();
    assert_eq!(
        &formula[2], "'=HYPERLINK(\"http://x\")",
        "formulas are made inert"
    );
    let detail: Value = serde_json::from_str(&records.last().unwrap()[8]).unwrap();
    assert_eq!(detail["note"], "a, \"quoted\"\nline");

    // The page's filter applies; JSON Lines carry the same events.
    let res = manager
        .get(app.url("/audit/export.jsonl?kind=bypass.&actor=&from=2026-01-01T09:00"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".jsonl\""));
    let text = res.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2_500 / 3);
    assert!(lines.iter().all(|l| l["kind"] == "bypass.requested"));
    assert_eq!(lines[0]["detail"]["n"], 2);
    assert_eq!(lines[0]["actor"], "=HYPERLINK(\"http://x\")");

    // Who may, and what a bad filter gets.
    let (status, code, _) = error_of(
        manager
            .get(app.url("/audit/export.csv?from=soon"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    let viewer = app.session_for("vic", Role::Viewer).await;
    let res = viewer
        .get(app.url("/audit/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client()
        .get(app.url("/audit/export.jsonl?from=soon"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "who before what");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_export_matches_the_http_export() {
    let app = TestApp::spawn().await;
    seed(&app, 1_200).await;
    let manager = app.session_for("ada", Role::Manager).await;
    let http = manager
        .get(app.url("/audit/export.csv?actor=user%3Aada"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.csv");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args([
            "--db",
            app.db.as_str(),
            "audit",
            "export",
            "--format",
            "csv",
        ])
        .args(["--actor", "user:ada", "--output", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = std::fs::read_to_string(&file).unwrap();
    assert_eq!(cli, http);
    assert_eq!(cli.lines().count(), 1 + 400);

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args([
            "--db",
            app.db.as_str(),
            "audit",
            "export",
            "--format",
            "jsonl",
        ])
        .args([
            "--kind",
            "settings.changed",
            "--since",
            "2026-01-01T09:00:00Z",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 400);

    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args([
            "--db",
            app.db.as_str(),
            "audit",
            "export",
            "--format",
            "xml",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("csv` or `jsonl"));
    app.stop().await;
}

/// New calls are written the fast way on SQLite, from the chain's last hash as the writer
/// last wrote it. Whoever else appends in between (the command line, another process),
/// the chain stays intact: a batch that finds the chain moved on is written again the
/// ordinary way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_calls_stay_on_the_chain_when_others_append_in_between() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("chain-bot").await;
    app.policy(json!({ "default_effect": { "kind": "allow" }, "rules": [] }))
        .await;
    let propose = |round: usize| {
        let (app, key) = (&app, &key);
        async move {
            let proposals = (0..6).map(|i| {
                app.propose_ok(
                    key,
                    json!({ "session": "s", "tool": "t", "args": { "round": round, "i": i },
                            "run_if_allowed": i % 2 == 0 }),
                )
            });
            for view in futures::future::join_all(proposals).await {
                assert!(
                    ["allowed", "running"].contains(&view["status"].as_str().unwrap()),
                    "{view}"
                );
            }
        }
    };
    for round in 0..4 {
        propose(round).await;
        // Someone else appends to the log between the writer's batches.
        seed(&app, round + 1).await;
    }
    propose(4).await;
    crate::support::assert_chain_intact(app.pool()).await;
    let mut conn = app.pool().acquire().await.unwrap();
    let calls: i64 = askfirst::on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    let events: i64 = askfirst::on!(&mut *conn, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE kind = 'call.proposed'"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!((calls, events), (30, 30));
}
