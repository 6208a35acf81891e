//! Receipt keys: the JWKS every verifier reads, signing with the current key, rotation
//! that keeps what the old key signed verifiable while it is published (and not after),
//! several instances signing with the same keys, and the command line's rotation reaching
//! a running server at once.

use crate::support::TestApp;
use askfirst_sdk::receipt::{self, Claims, DecidedBy, JwkSet, ReceiptError};
use chrono::Duration;
use serde_json::{json, Value};

async fn jwks(app: &TestApp) -> (JwkSet, Value) {
    let res = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let raw: Value = res.json().await.unwrap();
    (serde_json::from_value(raw.clone()).unwrap(), raw)
}

fn claims(tool: &str, args: &Value) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: "http://askfirst.test".into(),
        sub: "call-1".into(),
        aud: tool.into(),
        jti: uuid::Uuid::now_v7().to_string(),
        iat: now,
        nbf: now,
        exp: now + 600,
        agent: "bot".into(),
        tool: tool.into(),
        args_sha256: receipt::args_sha256(args),
        decision: receipt::Decision {
            by: DecidedBy::Policy,
            rule: Some("allow-all".into()),
            approvers: vec![],
            bypass: None,
            grant: None,
        },
        policy_version: 1,
        audit: receipt::AuditRef {
            id: 1,
            hash: "00".repeat(32),
        },
    }
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_publishes_the_signing_key_and_rotation_keeps_old_receipts_verifiable() {
    let app = TestApp::spawn().await;
    let (set, raw) = jwks(&app).await;
    // One key, as any JWT library expects it.
    assert_eq!(set.keys.len(), 1, "{raw}");
    let key = &raw["keys"][0];
    for (field, want) in [
        ("kty", "OKP"),
        ("crv", "Ed25519"),
        ("use", "sig"),
        ("alg", "EdDSA"),
    ] {
        assert_eq!(key[field], want, "{field} in {raw}");
    }
    assert_eq!(key.as_object().unwrap().len(), 6, "nothing private: {raw}");
    let first = kids(&set)[0].clone();

    let args = json!({ "path": "/srv/app", "force": true });
    let old = app.gate().sign_receipt(&claims("deploy", &args)).unwrap();
    assert!(receipt::verify(&set, &old, "deploy", &args).is_ok());

    // Rotated, the old key published for another hour.
    let made = app
        .gate()
        .rotate_receipt_key("cli", Duration::hours(1), true)
        .await
        .unwrap();
    let (set, _) = jwks(&app).await;
    assert_eq!(kids(&set), [made.kid.clone(), first.clone()]);
    let new = app.gate().sign_receipt(&claims("deploy", &args)).unwrap();
    let header = jsonwebtoken::decode_header(&new).unwrap();
    assert_eq!(header.kid.as_deref(), Some(made.kid.as_str()));
    assert_eq!(header.typ.as_deref(), Some(receipt::TYPE));
    for token in [&old, &new] {
        assert!(receipt::verify(&set, token, "deploy", &args).is_ok());
    }
    // Its hour up, the old key is gone, and so is every receipt it signed.
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let (set, _) = jwks(&app).await;
    assert_eq!(kids(&set), std::slice::from_ref(&made.kid));
    assert_eq!(
        receipt::verify(&set, &old, "deploy", &args),
        Err(ReceiptError::UnknownKey(Some(first)))
    );
    assert!(receipt::verify(&set, &new, "deploy", &args).is_ok());
    // The rotation is in the audit log.
    let rotations = app.audit_details("receipts.key_rotated").await;
    assert_eq!(
        rotations.len(),
        2,
        "the first key and the rotation: {rotations:?}"
    );
    // Out-of-range windows are refused.
    for bad in [Duration::seconds(-1), Duration::days(367)] {
        assert!(app
            .gate()
            .rotate_receipt_key("cli", bad, true)
            .await
            .is_err());
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_a_database_sign_with_the_same_keys() {
    let one = TestApp::spawn().await;
    let two = one.another_instance().await;
    let (a, _) = jwks(&one).await;
    let (b, _) = jwks(&two).await;
    assert_eq!(kids(&a), kids(&b), "one first key, not one per instance");
    let args = json!({ "n": 1 });
    let signed_by_two = two.gate().sign_receipt(&claims("t", &args)).unwrap();
    assert!(receipt::verify(&a, &signed_by_two, "t", &args).is_ok());
    // A rotation on one instance reaches the other through the audit log.
    let made = one
        .gate()
        .rotate_receipt_key("cli", Duration::hours(1), true)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (b, _) = jwks(&two).await;
        if kids(&b).first() == Some(&made.kid) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", kids(&b));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let signed = two.gate().sign_receipt(&claims("t", &args)).unwrap();
    let header = jsonwebtoken::decode_header(&signed).unwrap();
    assert_eq!(header.kid.as_deref(), Some(made.kid.as_str()));
    two.stop().await;
    one.stop().await;
}

/// `askfirst receipts …` with the server's database and secrets key.
async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let key_file = app.key_file.to_string_lossy().into_owned();
    let mut full = vec!["--db", app.db.as_str(), "--secrets-key-file", &key_file];
    full.extend_from_slice(args);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args(&full)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_rotates_the_key_a_running_server_signs_with() {
    if crate::support::on_postgres() {
        return; // Instances on PostgreSQL learn through NOTIFY (the test above).
    }
    // The watcher polls once a minute: only the CLI's notice can make the change prompt.
    let app = TestApp::spawn_now(std::time::Duration::from_secs(60)).await;
    let (before, _) = jwks(&app).await;
    let out = cli(
        &app,
        &["receipts", "rotate-key", "--keep-previous", "2h", "--json"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kid = made["kid"].as_str().unwrap();
    // Taken up before the command returned.
    let (after, _) = jwks(&app).await;
    assert_eq!(kids(&after), [kid.to_string(), kids(&before)[0].clone()]);
    let signed = app.gate().sign_receipt(&claims("t", &json!({}))).unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(&signed).unwrap().kid.as_deref(),
        Some(kid)
    );
    let out = cli(&app, &["receipts", "keys", "--json"]).await;
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys[0]["kid"], kid);
    assert_eq!(keys[0]["retired_at"], Value::Null);
    assert!(keys[1]["published_until"].is_string(), "{keys}");
    // A bad window is refused, and nothing changes.
    let out = cli(&app, &["receipts", "rotate-key", "--keep-previous", "1y"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
    let (unchanged, _) = jwks(&app).await;
    assert_eq!(kids(&unchanged), kids(&after));
    app.stop().await;
}
