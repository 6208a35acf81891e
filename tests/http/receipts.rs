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

/// Checks a call's receipt at the test clock's time (receipts expire with the approval,
/// and the test clock is not the real one); returns its claims.
fn checked(
    app: &TestApp,
    set: &JwkSet,
    view: &Value,
    args: &Value,
) -> Result<Claims, ReceiptError> {
    let token = view["receipt"].as_str().expect("a receipt");
    let claims = receipt::verify_signature(set, token)?;
    let tool = view["tool"].as_str().unwrap();
    receipt::check_claims(&claims, tool, args, app.now().timestamp())?;
    Ok(claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_calls_carry_a_receipt_bound_to_what_was_approved() {
    use askfirst::domain::grant::GrantAsk;
    use askfirst::domain::Role;
    use askfirst::gate::decide::DecisionInput;
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "approval_ttl_secs": 600, "grant_max_secs": 1800,
                          "grant_max_uses": 2 } }
        ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ann = app.person("ann", Role::Approver).await;
    let (set, _) = jwks(&app).await;
    let approve = || DecisionInput {
        approve: true,
        ..Default::default()
    };
    let propose = |args: Value| {
        let (app, key) = (&app, &key);
        async move {
            let view = app
                .propose_ok(
                    key,
                    json!({ "session": "s", "tool": "deploy", "args": args }),
                )
                .await;
            view["id"].as_str().unwrap().to_string()
        }
    };

    // Pending: no receipt yet.
    let args = json!({ "service": "api", "env": "prod" });
    let id = propose(args.clone()).await;
    assert!(app.get_call(&key, &id, None).await.get("receipt").is_none());

    // A person approves: the receipt names them, the rule, the audit event, the approval's end.
    app.decide(&id, &ann, approve()).await.unwrap();
    let view = app.get_call(&key, &id, None).await;
    let claims = checked(&app, &set, &view, &args).unwrap();
    assert_eq!(claims.decision.by, DecidedBy::People);
    assert_eq!(claims.decision.rule.as_deref(), Some("gate-deploy"));
    assert_eq!(claims.decision.approvers.len(), 1);
    assert_eq!(claims.decision.approvers[0].username, "ann");
    assert_eq!(
        (claims.sub.as_str(), claims.agent.as_str()),
        (id.as_str(), "ci-bot")
    );
    assert_eq!(claims.aud, "deploy");
    assert!(
        claims.iss.starts_with("http://127.0.0.1:"),
        "{}",
        claims.iss
    );
    assert!(claims.policy_version >= 1);
    let expires =
        chrono::DateTime::parse_from_rfc3339(view["approval_expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(claims.exp, expires);
    assert_eq!(claims.exp - claims.iat, 600);
    let (audit_id, hash): (i64, String) = sqlx::query_as(
        "SELECT id, hash FROM audit_events WHERE call_id = $1 AND to_status = 'approved'",
    )
    .bind(&id)
    .fetch_one(app.pool())
    .await
    .unwrap();
    assert_eq!(
        (claims.audit.id, claims.audit.hash.clone()),
        (audit_id, hash)
    );
    // Only for this tool and these arguments, and not after the approval ends.
    assert_eq!(
        checked(
            &app,
            &set,
            &view,
            &json!({ "service": "api", "env": "dev" })
        ),
        Err(ReceiptError::WrongArgs)
    );
    let mut other_tool = view.clone();
    other_tool["tool"] = json!("delete");
    assert!(matches!(
        checked(&app, &set, &other_tool, &args),
        Err(ReceiptError::WrongTool { .. })
    ));
    let token = view["receipt"].as_str().unwrap();
    let late = receipt::check_claims(
        &receipt::verify_signature(&set, token).unwrap(),
        "deploy",
        &args,
        claims.exp + receipt::LEEWAY_SECS as i64 + 1,
    );
    assert_eq!(late, Err(ReceiptError::Expired));
    // Executed, it may not run again: no receipt.
    let res = app.call_action(&key, &id, "execute").await;
    assert_eq!(res.status(), 200);
    assert!(app.get_call(&key, &id, None).await.get("receipt").is_none());

    // An edit: the receipt binds the edited arguments, not the proposed ones.
    let proposed = json!({ "service": "web", "env": "prod" });
    let edited = json!({ "service": "web", "env": "staging" });
    let id = propose(proposed.clone()).await;
    app.decide(
        &id,
        &ann,
        DecisionInput {
            edited_args: Some(edited.clone()),
            ..approve()
        },
    )
    .await
    .unwrap();
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["status"], "approved", "{view}");
    assert!(checked(&app, &set, &view, &edited).is_ok());
    assert_eq!(
        checked(&app, &set, &view, &proposed),
        Err(ReceiptError::WrongArgs)
    );

    // A remembered grant approves the same call again: the receipt says so.
    let args = json!({ "service": "db", "env": "prod" });
    let id = propose(args.clone()).await;
    app.decide(
        &id,
        &ann,
        DecisionInput {
            grant: Some(GrantAsk {
                secs: 600,
                uses: 2,
                similar: false,
            }),
            ..approve()
        },
    )
    .await
    .unwrap();
    let again = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": args }),
        )
        .await;
    assert_eq!(again["status"], "approved", "{again}");
    let view = app
        .get_call(&key, again["id"].as_str().unwrap(), None)
        .await;
    let claims = checked(&app, &set, &view, &args).unwrap();
    assert_eq!(claims.decision.by, DecidedBy::Grant);
    assert!(claims.decision.grant.is_some());

    // Allowed outright: nothing to show a tool server yet.
    let allowed = app
        .propose_ok(&key, json!({ "session": "s", "tool": "read", "args": {} }))
        .await;
    assert_eq!(allowed["status"], "allowed");
    let view = app
        .get_call(&key, allowed["id"].as_str().unwrap(), None)
        .await;
    assert!(view.get("receipt").is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_bypass_let_through_has_a_receipt_naming_the_bypass() {
    use askfirst::domain::bypass::{BypassStatus, Scope};
    use askfirst::domain::review::Verdict;
    use askfirst::domain::Role;
    use askfirst::gate::bypass::BypassRequest;
    use askfirst::gate::signoff::SignoffInput;
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate" } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ria = app.person("ria", Role::Approver).await;
    let managers = [
        app.person("ann", Role::Manager).await,
        app.person("bo", Role::Manager).await,
    ];
    let request = BypassRequest {
        scope: Scope {
            agent: None,
            tool: "deploy".into(),
            args: vec![],
        },
        window_secs: 3600,
        reason: "release day".into(),
        include_confirmation: false,
    };
    let id = app.gate().request_bypass(&ria, request).await.unwrap().id;
    let mut status = None;
    for manager in &managers {
        let shown_hash = app
            .gate()
            .bypass_page(id, manager)
            .await
            .unwrap()
            .bypass
            .hash;
        let view = app
            .gate()
            .review_bypass(
                id,
                manager,
                SignoffInput {
                    verdict: Verdict::Approve,
                    comment: None,
                    shown_hash,
                },
            )
            .await
            .unwrap();
        status = Some(view.status);
    }
    assert_eq!(status, Some(BypassStatus::Active));
    let args = json!({ "env": "prod" });
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": args }),
        )
        .await;
    assert_eq!(call["status"], "approved", "{call}");
    let view = app.get_call(&key, call["id"].as_str().unwrap(), None).await;
    let (set, _) = jwks(&app).await;
    let claims = checked(&app, &set, &view, &args).unwrap();
    assert_eq!(claims.decision.by, DecidedBy::Bypass);
    assert_eq!(claims.decision.bypass, Some(id.to_string()));
    assert!(claims.decision.approvers.is_empty());
    app.stop().await;
}
