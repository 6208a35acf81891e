//! `askfirst db copy`: a realistic SQLite database, filled through a real server, copied
//! into a new PostgreSQL database (or, without `ASKFIRST_TEST_PG`, a new SQLite file) by
//! the binary: every table and row arrives, the audit chain verifies, people sign in and
//! agents go on where they left off; a second copy onto the filled database is refused.

use crate::support::{fresh_database, on_postgres, TestApp};
use askfirst::domain::bypass::Scope;
use askfirst::domain::grant::GrantAsk;
use askfirst::domain::review::Verdict;
use askfirst::domain::Role;
use askfirst::gate::bypass::BypassRequest;
use askfirst::gate::decide::DecisionInput;
use askfirst::gate::signoff::SignoffInput;
use askfirst::store::{self, Location, Pool};
use serde_json::{json, Value};
use sqlx::{Column as _, Row as _, ValueRef as _};
use std::collections::BTreeMap;
use std::process::Output;

const PASSWORD: &str = "a long enough password";

/// Deny `rm`, gate `deploy` (one approval) and `restart` (grants allowed); allow the rest.
fn policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "no-rm", "match": { "tool": "rm" },
              "effect": { "kind": "deny", "message": "never" } },
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "approvals_required": 1 } },
            { "name": "gate-restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "grant_max_secs": 1800, "grant_max_uses": 3 } }
        ]
    })
}

async fn askfirst(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn propose(app: &TestApp, key: &str, session: &str, tool: &str, args: Value) -> Value {
    app.propose_ok(
        key,
        json!({ "session": session, "tool": tool, "args": args,
                "callback_url": "http://127.0.0.1:9/hook" }),
    )
    .await
}

fn approve() -> DecisionInput {
    DecisionInput {
        approve: true,
        ..Default::default()
    }
}

/// Fills an SQLite database through a running server: people (with a session), agents,
/// two policy versions, allowed, denied, pending, approved-then-executed, edited, denied
/// (do not retry) calls with reviews, a grant and a call it approved, an active bypass
/// and a call it approved, webhooks for every call. Returns the server.
async fn seeded_source() -> (TestApp, String) {
    let app = TestApp::spawn_sqlite().await;
    app.policy(json!({ "default_effect": { "kind": "allow" }, "rules": [] }))
        .await;
    app.policy(policy()).await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let ann = app.person("ann", Role::Approver).await;
    let mia = app.person("mia", Role::Manager).await;
    let bo = app.person("bo", Role::Manager).await;
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("ops-bot").await;
    app.allow_callbacks("bot", "http://127.0.0.1:9").await;
    app.allow_callbacks("ops-bot", "http://127.0.0.1:9").await;
    // A signed-webhook notification channel (its secret sealed with the key file), routed.
    for (name, form) in [
        (
            "notify_settings",
            &[("allowed_origins", "http://127.0.0.1:9")][..],
        ),
        (
            "notify_channel_add",
            &[
                ("name", "hook"),
                ("kind", "webhook"),
                ("url", "http://127.0.0.1:9/hook/generic"),
            ][..],
        ),
        ("notify_route_add", &[("channel", "hook")][..]),
    ] {
        let res = app.rpc(&admin, name, form).await;
        assert!(res.status().is_success(), "{name}: {}", res.status());
    }

    assert_eq!(
        propose(&app, &key, "s1", "read_x", json!({ "path": "/etc" })).await["status"],
        "allowed"
    );
    assert_eq!(
        propose(&app, &key, "s1", "rm", json!({ "path": "/" })).await["status"],
        "denied"
    );
    // Approved, then executed.
    let call = propose(&app, &key, "s1", "deploy", json!({ "env": "prod" })).await;
    let id = call["id"].as_str().unwrap();
    app.decide(id, &ann, approve()).await.unwrap();
    assert_eq!(app.call_action(&key, id, "execute").await.status(), 200);
    // Approved with edited arguments (a second candidate).
    let call = propose(
        &app,
        &other,
        "s2",
        "deploy",
        json!({ "env": "prod", "n": 9 }),
    )
    .await;
    let edited = DecisionInput {
        edited_args: Some(json!({ "env": "prod", "n": 1 })),
        ..approve()
    };
    app.decide(call["id"].as_str().unwrap(), &ann, edited)
        .await
        .unwrap();
    // Denied, not to be retried.
    let call = propose(&app, &key, "s1", "deploy", json!({ "env": "moon" })).await;
    let denied = DecisionInput {
        approve: false,
        feedback: Some("There is no moon region.".into()),
        do_not_retry: true,
        ..Default::default()
    };
    app.decide(call["id"].as_str().unwrap(), &ann, denied)
        .await
        .unwrap();
    // A grant, and the identical call it approves (calls.grant_id ⇄ grants.call_id).
    let args = json!({ "service": "api" });
    let call = propose(&app, &key, "s1", "restart", args.clone()).await;
    let granted = DecisionInput {
        grant: Some(GrantAsk {
            secs: 1800,
            uses: 2,
            similar: false,
        }),
        ..approve()
    };
    app.decide(call["id"].as_str().unwrap(), &ann, granted)
        .await
        .unwrap();
    let again = propose(&app, &key, "s3", "restart", args).await;
    assert!(again["approved_by"]["grant"].is_i64(), "{again}");
    // An active bypass (two managers signed it off), and a call it approved.
    let request = BypassRequest {
        scope: Scope {
            agent: None,
            tool: "deploy".into(),
            args: Vec::new(),
        },
        window_secs: 3600,
        reason: "release day".into(),
        include_confirmation: false,
    };
    let bypass = app.gate().request_bypass(&ann, request).await.unwrap().id;
    for manager in [&mia, &bo] {
        let hash = app
            .gate()
            .bypass_page(bypass, manager)
            .await
            .unwrap()
            .bypass
            .hash;
        let input = SignoffInput {
            verdict: Verdict::Approve,
            comment: None,
            shown_hash: hash,
        };
        app.gate()
            .review_bypass(bypass, manager, input)
            .await
            .unwrap();
    }
    let by_bypass = propose(&app, &other, "s4", "deploy", json!({ "env": "staging" })).await;
    assert_eq!(by_bypass["approved_by"], json!({ "bypass": bypass }));
    app.gate().revoke_bypass(bypass, &ann).await.unwrap();
    // Left pending.
    propose(&app, &other, "s5", "deploy", json!({ "env": "qa" })).await;
    (app, key)
}

/// The tables of an SQLite database, as the copy should find them.
async fn sqlite_tables(pool: &Pool) -> Vec<String> {
    askfirst::on!(pool, |cn| sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(cn)
    .await)
    .unwrap()
}

/// Every row of `table` as JSON (an object by column name), sorted: the same on both
/// backends for the same content, whatever each one's order and collation.
async fn rows(pool: &Pool, table: &str) -> Vec<String> {
    use sqlx::TypeInfo as _;
    let sql = format!("SELECT * FROM \"{table}\"");
    let mut out: Vec<String> = askfirst::on!(pool, |c| {
        let rows = sqlx::query(&sql).fetch_all(c).await.unwrap();
        let objects = rows.iter().map(|row| {
            let mut object = serde_json::Map::new();
            for (i, column) in row.columns().iter().enumerate() {
                let raw = row.try_get_raw(i).unwrap();
                let value = if raw.is_null() {
                    Value::Null
                } else {
                    // SQLite's storage classes, PostgreSQL's types; a flag as SQLite's 0/1.
                    match raw.type_info().name() {
                        "INTEGER" | "INT8" => json!(row.get::<i64, _>(i)),
                        "REAL" | "FLOAT8" => json!(row.get::<f64, _>(i)),
                        "TEXT" => json!(row.get::<String, _>(i)),
                        "BOOL" => json!(i64::from(row.get::<bool, _>(i))),
                        other => panic!("{table}.{}: {other}", column.name()),
                    }
                };
                object.insert(column.name().to_string(), value);
            }
            Value::Object(object).to_string()
        });
        Ok::<_, sqlx::Error>(objects.collect())
    })
    .unwrap();
    out.sort();
    out
}

/// Asserts that both databases hold exactly the same rows in each of `tables`.
async fn assert_same_content(a: &Pool, b: &Pool, tables: &[String]) {
    for table in tables {
        let (left, right) = (rows(a, table).await, rows(b, table).await);
        assert_eq!(left.len(), right.len(), "row count of {table}");
        assert!(left == right, "the rows of {table} differ");
    }
}

async fn max_id(pool: &Pool, sql: &str) -> i64 {
    askfirst::on!(pool, |cn| sqlx::query_scalar::<_, Option<i64>>(sql)
        .fetch_one(cn)
        .await)
    .unwrap()
    .unwrap_or_default()
}

/// `askfirst --db <db> audit verify --json`: the number of events, asserting it is intact.
async fn verify(db: &str) -> i64 {
    let out = askfirst(&["--db", db, "audit", "verify", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    report["events"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_sqlite_database_is_copied_and_goes_on_working() {
    let (source_app, key) = seeded_source().await;
    let now = source_app.now();
    let source_db = source_app.db.clone();
    let source_dir = source_app.stop_keeping_files().await;
    let key_file = source_dir.path().join("askfirst.secrets-key");
    let source = store::open(&Location::Sqlite(source_db.clone().into()))
        .await
        .unwrap();
    let tables = sqlite_tables(&source).await;
    let mut source_counts = BTreeMap::new();
    for table in &tables {
        let n: i64 = askfirst::on!(&source, |cn| sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM \"{table}\""
        ))
        .fetch_one(cn)
        .await)
        .unwrap();
        source_counts.insert(table.clone(), n);
    }
    for (table, at_least) in [
        ("users", 4),
        ("sessions", 1),
        ("agents", 2),
        ("policy_versions", 2),
        ("calls", 9),
        ("reviews", 4),
        ("call_candidates", 1),
        ("grants", 1),
        ("bypasses", 1),
        ("signoff_reviews", 2),
        ("no_retry", 1),
        ("webhooks", 3),
        ("settings", 1),
        ("notify_channels", 1),
        ("notify_routes", 1),
        ("audit_events", 20),
    ] {
        assert!(
            source_counts[table] >= at_least,
            "the source has {} rows in {table}",
            source_counts[table]
        );
    }
    let granted: i64 = askfirst::on!(&source, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM calls WHERE grant_id IS NOT NULL"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(granted, 1, "a call approved by a grant");
    let source_events = verify(&source_db).await;

    // Refused onto itself, by the same path or another way to it.
    let same = askfirst(&["db", "copy", "--from", &source_db, "--to", &source_db]).await;
    assert!(!same.status.success());
    assert!(text(&same).contains("same database"), "{}", text(&same));
    let other_path = source_dir.path().join(".").join("askfirst.db");
    let other_path = other_path.to_string_lossy();
    let same = askfirst(&["db", "copy", "--from", &source_db, "--to", &other_path]).await;
    assert!(!same.status.success());
    assert!(text(&same).contains("same database"), "{}", text(&same));

    // The copy: into PostgreSQL when the suite has one, else into a new SQLite file.
    let dest_dir = tempfile::tempdir().unwrap();
    let dest_db = fresh_database(dest_dir.path()).await;
    assert_eq!(dest_db.starts_with("postgres"), on_postgres());
    let out = askfirst(&[
        "db", "copy", "--from", &source_db, "--to", &dest_db, "--json",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit_events:"),
        "progress per table: {stderr}"
    );
    assert_eq!(summary["tables"], tables.len(), "{summary}");
    assert_eq!(summary["audit_events"], source_events, "{summary}");
    assert_eq!(
        summary["rows"],
        source_counts.values().sum::<i64>(),
        "{summary}"
    );
    let note = summary["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!("--secrets-key-file {}", key_file.display())),
        "the copy says which key its notification secrets need: {summary}"
    );
    let reported: BTreeMap<String, i64> =
        serde_json::from_value(summary["counts"].clone()).unwrap();
    assert_eq!(reported, source_counts, "every table, every row");

    // The same rows on both sides, table by table, and the chain verifies there.
    let dest = store::open(&dest_db.parse().unwrap()).await.unwrap();
    assert_same_content(&source, &dest, &tables).await;
    assert_eq!(verify(&dest_db).await, source_events);
    let last_event = max_id(&source, "SELECT MAX(id) FROM audit_events").await;
    let last_version = max_id(&source, "SELECT MAX(version) FROM policy_versions").await;
    dest.close().await;

    // A server on the copy: people sign in, agents go on, ids continue after the copied.
    let app = TestApp::spawn_at(dest_db.clone(), now, key_file.clone()).await;
    let client = app.client();
    let wrong = app
        .rpc(
            &client,
            "sign_in",
            &[("username", "ada"), ("password", "not the password")],
        )
        .await;
    assert!(!wrong.status().is_success());
    let res = app
        .rpc(
            &client,
            "sign_in",
            &[("username", "ada"), ("password", PASSWORD)],
        )
        .await;
    assert!(res.status().is_success(), "sign-in: {}", res.status());
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "after", "tool": "deploy", "args": { "env": "prod" } }),
        )
        .await;
    assert_eq!(call["status"], "pending");
    let first_new: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT MIN(id) FROM audit_events WHERE call_id = $1"
    )
    .bind(call["id"].as_str().unwrap())
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(first_new, last_event + 1, "audit ids continue");
    app.policy(policy()).await;
    assert_eq!(
        max_id(app.pool(), "SELECT MAX(version) FROM policy_versions").await,
        last_version + 1,
        "policy versions continue"
    );
    let repeat = app
        .propose_ok(
            &key,
            json!({ "session": "s1", "tool": "deploy", "args": { "env": "moon" } }),
        )
        .await;
    assert_eq!(
        repeat["status"], "denied",
        "the do-not-retry denial came along"
    );
    app.stop().await;
    let events = verify(&dest_db).await;
    assert!(events > source_events, "{events} after {source_events}");

    // A second copy onto the filled database is refused, naming a table, changing nothing.
    let dest = store::open(&dest_db.parse().unwrap()).await.unwrap();
    let before = rows(&dest, "audit_events").await;
    let out = askfirst(&["db", "copy", "--from", &source_db, "--to", &dest_db]).await;
    assert!(!out.status.success());
    let message = text(&out);
    assert!(
        message.contains("not empty") && message.contains("`users`"),
        "{message}"
    );
    assert_eq!(rows(&dest, "audit_events").await, before);

    // And back: PostgreSQL into a new SQLite file, the same rows again.
    if on_postgres() {
        let back_dir = tempfile::tempdir().unwrap();
        let back_db = back_dir.path().join("back.db");
        let back_db = back_db.to_string_lossy();
        let out = askfirst(&["db", "copy", "--from", &dest_db, "--to", &back_db]).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("chain verified"), "{}", text(&out));
        let back = store::open(&Location::Sqlite(back_db.to_string().into()))
            .await
            .unwrap();
        assert_same_content(&dest, &back, &tables).await;
        back.close().await;
        assert_eq!(verify(&back_db).await, events);
    }
    dest.close().await;
    source.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let to = dir.path().join("to.db");
    let out = askfirst(&[
        "db",
        "copy",
        "--from",
        &missing.to_string_lossy(),
        "--to",
        &to.to_string_lossy(),
    ])
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("no database at"), "{}", text(&out));
    assert!(!missing.exists() && !to.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_audit_log_is_copied_only_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("keyed.db").to_string_lossy().into_owned();
    let key = dir.path().join("audit.key");
    std::fs::write(&key, "k".repeat(40)).unwrap();
    let key = key.to_string_lossy().into_owned();
    for name in ["bot", "ops-bot"] {
        let out = askfirst(&[
            "--db",
            &source,
            "--audit-key-file",
            &key,
            "agent",
            "create",
            name,
        ])
        .await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let dest = fresh_database(dir.path()).await;

    // Without the key the source's chain does not verify: refused before anything is written.
    let out = askfirst(&["db", "copy", "--from", &source, "--to", &dest]).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not verify at event 1"),
        "{}",
        text(&out)
    );

    // With it, the copy (still empty) goes through and verifies with the key.
    let out = askfirst(&[
        "--audit-key-file",
        &key,
        "db",
        "copy",
        "--from",
        &source,
        "--to",
        &dest,
        "--json",
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["counts"]["agents"], 2, "{summary}");
    let out = askfirst(&[
        "--db",
        &dest,
        "--audit-key-file",
        &key,
        "audit",
        "verify",
        "--json",
    ])
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["events"], summary["audit_events"], "{report}");
}
