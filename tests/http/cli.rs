//! The command line against a real database: agents, policy files, the audit chain.

use crate::support::TestApp;
use serde_json::{json, Value};
use std::process::Output;

async fn askfirst(app: &TestApp, args: &[&str]) -> Output {
    let mut full = vec!["--db", app.db.to_str().unwrap()];
    full.extend_from_slice(args);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
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
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE key_hash = ?")
        .bind(&key)
        .fetch_one(app.pool())
        .await
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
    sqlx::query("DROP TRIGGER audit_events_no_update")
        .execute(app.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'agent:someone-else' WHERE id = (SELECT MAX(id) FROM audit_events)")
        .execute(app.pool())
        .await
        .unwrap();
    let out = askfirst(&app, &["audit", "verify"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN"));
    app.stop().await;
}
