//! The command line against a real database: agents, policy files, the audit chain.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::process::Output;

async fn askfirst(app: &TestApp, args: &[&str]) -> Output {
    let mut full = vec!["--db", app.db.as_str()];
    full.extend_from_slice(args);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        // The password of whoever a command acts as (`--user`); every test person has it.
        .env("ASKFIRST_PASSWORD", "a long enough password")
        .args(&full)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_created_once_listed_and_disabled() {
    let app = TestApp::spawn().await;
    let out = askfirst(&app, &["agent", "create", "ci-bot", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("af_"));
    assert!(created["webhook_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let stored: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM agents WHERE key_hash = $1"
    )
    .bind(&key)
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(stored, 0, "the key itself is never stored");
    assert_eq!(
        app.propose(&key, json!({ "session": "s", "tool": "read_x" }))
            .await
            .status(),
        201
    );

    let dup = askfirst(&app, &["agent", "create", "ci-bot"]).await;
    assert!(!dup.status.success());
    let list: Value =
        serde_json::from_slice(&askfirst(&app, &["agent", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(list[0]["name"], "ci-bot");
    assert!(list[0].get("key").is_none());

    assert!(askfirst(&app, &["agent", "disable", "ci-bot"])
        .await
        .status
        .success());
    // The running server drops its cached key within a second.
    let mut refused = false;
    for _ in 0..40 {
        if app
            .propose(&key, json!({ "session": "s", "tool": "read_x" }))
            .await
            .status()
            == 401
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "a disabled agent's key stops working");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_files_round_trip_and_errors_name_the_line() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let exported = askfirst(&app, &["policy", "export"]).await;
    assert!(exported.status.success());
    let text = String::from_utf8(exported.stdout).unwrap();
    assert!(text.contains("gate-novel-actions"));

    let file = dir.path().join("policy.toml");
    let custom = "default_effect = \"gate\"\n\n[[rules]]\nname = \"reads\"\n[rules.match]\ntool = \"read_*\"\n[rules.effect]\nkind = \"allow\"\n";
    std::fs::write(&file, custom).unwrap();
    // It drops the default policy's deny and gate rules: it loosens, but nobody has an
    // account yet (provisioning), so nobody could sign it off — it applies at once.
    let out = askfirst(
        &app,
        &["policy", "import", file.to_str().unwrap(), "--json"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(saved["loosening"], true);
    assert!(
        saved["version"].is_i64() && saved["pending"].is_null(),
        "{saved}"
    );
    // The running server picks the new policy up.
    let (key, _) = app.agent("bot").await;
    let mut gated = false;
    for _ in 0..40 {
        let p = app
            .propose_ok(&key, json!({ "session": "s", "tool": "write_x" }))
            .await;
        if p["status"] == "pending" && p["rule"].is_null() {
            gated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gated, "the new default effect (gate) is in force");

    let bad = "default_effect = \"allow\"\n\n[[rules]]\nname = \"r\"\n[rules.match]\ntool = \"x\"\n[[rules.match.args]]\npointer = \"/to\"\nop = \"regex\"\nvalue = \"([\"\n[rules.effect]\nkind = \"allow\"\n";
    std::fs::write(&file, bad).unwrap();
    let out = askfirst(&app, &["policy", "import", file.to_str().unwrap()]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("invalid regex"),
        "{err}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_verifies_and_detects_tampering() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    app.propose_ok(&key, json!({ "session": "s", "tool": "read_x" }))
        .await;
    let out = askfirst(&app, &["audit", "verify", "--json"]).await;
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);

    // Tamper behind the triggers' back (as an attacker with file access could).
    crate::support::drop_audit_trigger(app.pool(), "audit_events_no_update").await;
    askfirst::on!(app.pool(), |cn| sqlx::query("UPDATE audit_events SET actor = 'agent:someone-else' WHERE id = (SELECT MAX(id) FROM audit_events)")
        .execute(cn)
        .await.map(askfirst::store::Done::from))
        .unwrap();
    let out = askfirst(&app, &["audit", "verify"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
    app.stop().await;
}

/// Deleting the log's newest events is caught without a head kept elsewhere: the chain
/// still links, but the database remembers the lost events apart from it (the newest
/// review and decision, the newest call, and on SQLite the id sequence).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_catches_lost_newest_events_without_a_head() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let call = app
        .propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
        .await;
    let id = call["id"].as_str().unwrap();
    let ann = app.person("ann", askfirst::domain::Role::Approver).await;
    app.decide(
        id,
        &ann,
        askfirst::gate::decide::DecisionInput {
            approve: false,
            feedback: Some("no".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let verify = || async {
        let out = askfirst(&app, &["audit", "verify", "--json"]).await;
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.success(), report)
    };
    let (ok, report) = verify().await;
    assert!(ok, "{report}");
    assert_eq!(report["intact"], true);

    crate::support::drop_audit_trigger(app.pool(), "audit_events_no_delete").await;
    let delete_newest = || async {
        askfirst::on!(app.pool(), |cn| sqlx::query(
            "DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)"
        )
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
        .unwrap();
    };
    // The denial's event goes: its review and decision rows remain.
    delete_newest().await;
    let (ok, report) = verify().await;
    assert!(!ok, "{report}");
    let gaps = report["gaps"].to_string();
    for fact in ["newest review", "newest decided call"] {
        assert!(gaps.contains(fact), "{fact}: {report}");
    }
    if !crate::support::on_postgres() {
        assert!(gaps.contains("id sequence"), "{report}");
    }
    let text = askfirst(&app, &["audit", "verify"]).await;
    assert!(!text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("BROKEN") && stdout.contains("missing"),
        "{stdout}"
    );

    // A newer call's proposal goes: its row remains.
    let newer = app
        .propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
        .await;
    delete_newest().await;
    let (ok, report) = verify().await;
    assert!(!ok, "{report}");
    let gaps = report["gaps"].to_string();
    assert!(
        gaps.contains("newest call") && gaps.contains(newer["id"].as_str().unwrap()),
        "{report}"
    );
    app.stop().await;
}

/// Runs the CLI on `db`, with the audit key in `key` if given.
async fn run(
    db: &str,
    key: Option<&std::path::Path>,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"));
    cmd.arg("--db").arg(db).args(args);
    cmd.env_remove("ASKFIRST_AUDIT_KEY_FILE");
    if let Some(key) = key {
        cmd.arg("--audit-key-file").arg(key);
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .await
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().await.unwrap()
}

/// The SHA-256 chain as someone without the key would rebuild it.
fn unkeyed(prev: &str, row: &askfirst::store::audit::EventRow) -> String {
    use sha2::{Digest, Sha256};
    let content = askfirst::store::json::canonical(&json!({
        "at": row.at, "actor": row.actor, "kind": row.kind, "agent_id": row.agent_id,
        "call_id": row.call_id, "from_status": row.from_status, "to_status": row.to_status,
        "detail": row.detail,
    }));
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_chain_cannot_be_rebuilt_and_an_anchored_head_catches_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::fresh_database(dir.path()).await;
    let key = dir.path().join("audit.key");
    std::fs::write(&key, "k".repeat(48)).unwrap();
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout.clone()).unwrap()
    };
    // Written without a key first: with the key, writing is refused until re-linked once.
    ok(&run(
        &db,
        None,
        &["user", "add", "ann", "--role", "admin", "--password-stdin"],
        Some("a long password 1\n"),
    )
    .await);
    let refused = run(&db, Some(&key), &["agent", "create", "bot"], None).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("audit rekey"));
    let rekeyed = ok(&run(&db, Some(&key), &["audit", "rekey"], None).await);
    assert!(rekeyed.contains("re-linked"), "{rekeyed}");
    ok(&run(&db, Some(&key), &["agent", "create", "bot"], None).await);
    let head = ok(&run(&db, Some(&key), &["audit", "head"], None).await)
        .trim()
        .to_string();
    assert!(head.contains(':'), "{head}");
    ok(&run(&db, Some(&key), &["agent", "create", "bot2"], None).await);
    // With the key and the head: intact. Without the key the chain cannot be checked.
    let verified = ok(&run(&db, Some(&key), &["audit", "verify", "--head", &head], None).await);
    assert!(verified.contains("intact"), "{verified}");
    assert!(!run(&db, None, &["audit", "verify"], None)
        .await
        .status
        .success());
    // Nor may anything write to a keyed log without the key (it would break the chain).
    let keyless = run(&db, None, &["agent", "create", "bot3"], None).await;
    assert!(!keyless.status.success());
    assert!(
        String::from_utf8_lossy(&keyless.stderr).contains("--audit-key-file"),
        "{}",
        String::from_utf8_lossy(&keyless.stderr)
    );

    // Truncation after an exported head.
    let last = ok(&run(&db, Some(&key), &["audit", "head"], None).await)
        .trim()
        .to_string();
    let pool = askfirst::store::open(&db.parse().unwrap()).await.unwrap();
    let id: i64 = last.split(':').next().unwrap().parse().unwrap();
    // Whoever can write the database file can drop the log's triggers.
    for trigger in ["audit_events_no_update", "audit_events_no_delete"] {
        crate::support::drop_audit_trigger(&pool, trigger).await;
    }
    askfirst::on!(&pool, |cn| sqlx::query(
        "DELETE FROM audit_events WHERE id >= $1"
    )
    .bind(id)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let out = run(
        &db,
        Some(&key),
        &["audit", "verify", "--head", &last, "--json"],
        None,
    )
    .await;
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["reason"].as_str().unwrap().contains("truncated"),
        "{report}"
    );

    // Rewriting the whole chain without the key: valid as a plain chain, refused with the key.
    let rows: Vec<askfirst::store::audit::EventRow> = askfirst::on!(&pool, |cn| sqlx::query_as(
        "SELECT id, at, actor, kind, agent_id, call_id, from_status, to_status, detail, prev_hash, hash
         FROM audit_events ORDER BY id",
    )
    .fetch_all(cn)
    .await)
    .unwrap();
    let mut prev = askfirst::store::audit::GENESIS.to_string();
    for row in &rows {
        let hash = unkeyed(&prev, row);
        askfirst::on!(&pool, |cn| sqlx::query(
            "UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE id = $3"
        )
        .bind(&prev)
        .bind(&hash)
        .bind(row.id)
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
        .unwrap();
        prev = hash;
    }
    pool.close().await;
    // A plain chain: every link holds; only the events lost above may still show (what
    // the database remembers apart from the chain), never a broken link.
    let plain = run(&db, None, &["audit", "verify", "--json"], None).await;
    let report: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(
        plain.status.success() || report["gaps"].as_array().is_some_and(|g| !g.is_empty()),
        "a plain chain: {report}"
    );
    let out = run(&db, Some(&key), &["audit", "verify", "--json"], None).await;
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// On one server with SQLite, what the CLI decides governs the server's very next answer:
/// the CLI waits until the server has acted on its writes. The server's watcher here polls
/// only every 60 s, so without that nothing would reach it in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_decisions_take_effect_before_the_cli_returns() {
    if crate::support::on_postgres() {
        return; // Several instances on PostgreSQL learn through NOTIFY (see cluster.rs).
    }
    let app = TestApp::spawn_now(std::time::Duration::from_secs(60)).await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "gate-restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "grant_max_secs": 1800, "grant_max_uses": 3 } },
            { "name": "gate-drop", "match": { "tool": "drop" }, "effect": { "kind": "gate" } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    app.add_user(
        "ann",
        askfirst::domain::Role::Approver,
        "a long enough password",
    )
    .await;
    let call = |tool: &str, session: &str| json!({ "session": session, "tool": tool, "args": { "service": "db" } });

    // A grant given from the CLI approves the next identical call at once.
    let first = app.propose_ok(&key, call("restart", "s1")).await;
    let id = first["id"].as_str().unwrap();
    let out = askfirst(
        &app,
        &[
            "calls",
            "approve",
            id,
            "--user",
            "ann",
            "--grant-minutes",
            "30",
            "--grant-uses",
            "2",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let next = app.propose_ok(&key, call("restart", "s2")).await;
    assert_eq!(next["status"], "approved", "{next}");
    assert!(next["approved_by"]["grant"].is_i64(), "{next}");

    // A do-not-retry denial from the CLI answers the very next repeat.
    let first = app.propose_ok(&key, call("drop", "s1")).await;
    let id = first["id"].as_str().unwrap();
    let out = askfirst(
        &app,
        &[
            "calls",
            "deny",
            id,
            "--user",
            "ann",
            "--feedback",
            "no",
            "--do-not-retry",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repeat = app.propose_ok(&key, call("drop", "s1")).await;
    assert_eq!(repeat["status"], "denied", "{repeat}");
    assert_eq!(repeat["denial"]["repeat_of"], id, "{repeat}");

    // A policy change from the CLI governs the next call.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        r#"default_effect = "allow"

[[rules]]
name = "no-ping"
[rules.match]
tool = "ping"
[rules.effect]
kind = "deny"
message = "no pings"

[[rules]]
name = "gate-restart"
[rules.match]
tool = "restart"
[rules.effect]
kind = "gate"
grant_max = "30m"
grant_max_uses = 3

[[rules]]
name = "gate-drop"
[rules.match]
tool = "drop"
[rules.effect]
kind = "gate"
"#,
    )
    .unwrap();
    let out = askfirst(&app, &["policy", "import", file.path().to_str().unwrap()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ping = app.propose_ok(&key, call("ping", "s1")).await;
    assert_eq!(ping["status"], "denied", "{ping}");
    app.stop().await;
}
