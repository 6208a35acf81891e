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
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
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
    let (audit_id, hash): (i64, String) = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT id, hash FROM audit_events WHERE call_id = $1 AND to_status = 'approved'",
    )
    .bind(&id)
    .fetch_one(cn)
    .await)
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
    // People see the call, never its receipt: a viewer's card does not carry it.
    let viewer = app.signed_in("val", Role::Viewer).await;
    let card: Value = app
        .rpc(&viewer, "card", &[("id", &id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["call"]["status"], "approved", "{card}");
    assert!(!card.to_string().contains(token), "{card}");
    // The approver disabled since: the receipt still says what happened, token for token.
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.gate().clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ann",
        true,
    )
    .await
    .unwrap();
    assert_eq!(app.get_call(&key, &id, None).await["receipt"], token);
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.gate().clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ann",
        false,
    )
    .await
    .unwrap();
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
    // The proposal's own answer carries it: the agent can run at once.
    assert_eq!(call["receipt"], view["receipt"], "{call}");
    let (set, _) = jwks(&app).await;
    let claims = checked(&app, &set, &view, &args).unwrap();
    assert_eq!(claims.decision.by, DecidedBy::Bypass);
    assert_eq!(claims.decision.bypass, Some(id.to_string()));
    assert!(claims.decision.approvers.is_empty());
    app.stop().await;
}

/// `POST /api/v1/calls/{id}/execute` with `body`.
async fn execute(app: &TestApp, key: &str, id: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!("/api/v1/calls/{id}/execute")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_calls_get_a_receipt_only_when_asked_or_their_agent_always_gets_one() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate" } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let (set, _) = jwks(&app).await;
    let args = json!({ "path": "/srv/log", "lines": 20 });
    let body = |extra: Value| {
        let mut b = json!({ "session": "s", "tool": "read_log", "args": args });
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };

    // Not asked: nothing is signed, in the answer or the view.
    let plain = app.propose_ok(&key, body(json!({}))).await;
    assert_eq!(plain["status"], "allowed");
    assert!(plain.get("receipt").is_none(), "{plain}");
    let id = plain["id"].as_str().unwrap();
    assert!(app.get_call(&key, id, None).await.get("receipt").is_none());

    // Asked: the answer carries it, the view too; policy decided, under its rule.
    let asked = app.propose_ok(&key, body(json!({ "receipt": true }))).await;
    assert_eq!(asked["status"], "allowed");
    let id = asked["id"].as_str().unwrap().to_string();
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(asked["receipt"], view["receipt"]);
    let claims = checked(&app, &set, &view, &args).unwrap();
    assert_eq!(claims.decision.by, DecidedBy::Policy);
    assert_eq!(claims.decision.rule, None, "the default effect allowed it");
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_str()),
        (id.as_str(), "read_log")
    );
    let (event, hash): (i64, String) = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT id, hash FROM audit_events WHERE call_id = $1 AND kind = 'call.proposed'",
    )
    .bind(&id)
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!((claims.audit.id, claims.audit.hash.clone()), (event, hash));
    assert_eq!(claims.jti, format!("{id}.{event}"));
    // Allowed calls run at once: their receipts last ten minutes, not a day.
    assert_eq!(claims.exp - claims.iat, 600);

    // Execute names the receipt's jti as used: another jti is refused and nothing runs;
    // the right one is recorded in the audit log with the execution, once.
    let res = execute(&app, &key, &id, json!({ "jti": format!("{id}.1") })).await;
    let (status, code, _) = crate::support::error_of(res).await;
    assert_eq!((status, code.as_str()), (409, "receipt_mismatch"));
    assert_eq!(app.get_call(&key, &id, None).await["status"], "allowed");
    let res = execute(&app, &key, &id, json!({ "jti": claims.jti })).await;
    assert_eq!(res.status(), 200);
    let executed: (Option<String>,) = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT detail FROM audit_events WHERE call_id = $1 AND to_status = 'executed'",
    )
    .bind(&id)
    .fetch_one(cn)
    .await)
    .unwrap();
    let detail: Value = serde_json::from_str(executed.0.as_deref().unwrap()).unwrap();
    assert_eq!(detail["jti"], claims.jti);
    let res = execute(&app, &key, &id, json!({ "jti": claims.jti })).await;
    let (status, code, _) = crate::support::error_of(res).await;
    assert_eq!((status, code.as_str()), (409, "already_executed"));
    // Executed: the view no longer offers a receipt.
    assert!(app.get_call(&key, &id, None).await.get("receipt").is_none());
    // An allowed call that asked for no receipt has none to name.
    let unasked = app.propose_ok(&key, body(json!({}))).await;
    let unasked = unasked["id"].as_str().unwrap();
    let (event,): (i64,) = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT id FROM audit_events WHERE call_id = $1 AND kind = 'call.proposed'"
    )
    .bind(unasked)
    .fetch_one(cn)
    .await)
    .unwrap();
    let res = execute(
        &app,
        &key,
        unasked,
        json!({ "jti": format!("{unasked}.{event}") }),
    )
    .await;
    let (status, code, _) = crate::support::error_of(res).await;
    assert_eq!((status, code.as_str()), (409, "receipt_mismatch"));
    // Too long a jti is a client mistake, not a lookup.
    let other = app.propose_ok(&key, body(json!({}))).await;
    let res = execute(
        &app,
        &key,
        other["id"].as_str().unwrap(),
        json!({ "jti": "x".repeat(201) }),
    )
    .await;
    assert_eq!(res.status(), 422);

    // Started at once with `run_if_allowed`: running, with its receipt.
    let running = app
        .propose_ok(
            &key,
            body(json!({ "receipt": true, "run_if_allowed": true })),
        )
        .await;
    assert_eq!(running["status"], "running");
    let view = app
        .get_call(&key, running["id"].as_str().unwrap(), None)
        .await;
    assert_eq!(running["receipt"], view["receipt"]);
    assert!(checked(&app, &set, &view, &args).is_ok());

    // An admin sets the agent to always get one: unasked proposals carry it too.
    app.gate()
        .set_receipts_always("ci-bot", true, "user:admin")
        .await
        .unwrap();
    let always = app.propose_ok(&key, body(json!({}))).await;
    let view = app
        .get_call(&key, always["id"].as_str().unwrap(), None)
        .await;
    assert!(always["receipt"].is_string(), "{always}");
    assert_eq!(
        checked(&app, &set, &view, &args).unwrap().decision.by,
        DecidedBy::Policy
    );
    let agents = app.gate().list_agents().await.unwrap();
    assert!(agents
        .iter()
        .any(|a| a.name == "ci-bot" && a.receipts_always));
    // Denied calls never have one, whatever was asked.
    app.policy(json!({ "default_effect": { "kind": "deny", "message": "no" }, "rules": [] }))
        .await;
    let denied = app.propose_ok(&key, body(json!({ "receipt": true }))).await;
    assert_eq!(denied["status"], "denied");
    assert!(denied.get("receipt").is_none(), "{denied}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_of_an_approved_call_carries_its_receipt() {
    use askfirst::domain::Role;
    use askfirst::gate::decide::DecisionInput;
    use axum::{extract::State, routing::post, Router};
    use std::sync::{Arc, Mutex};
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate", "approval_ttl_secs": 900 } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ann = app.person("ann", Role::Approver).await;
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let receiver = Router::new()
        .route(
            "/hook",
            post(
                |State(got): State<Arc<Mutex<Vec<Value>>>>, body: axum::body::Bytes| async move {
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    app.allow_callbacks("ci-bot", &origin).await;
    let args = json!({ "service": "api" });
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": args,
                    "callback_url": format!("{origin}/hook") }),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    app.decide(
        id,
        &ann,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let body = loop {
        if let Some(b) = got.lock().unwrap().first().cloned() {
            break b;
        }
        assert!(std::time::Instant::now() < deadline, "no webhook came");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(body["status"], "approved");
    let (set, _) = jwks(&app).await;
    let claims = checked(&app, &set, &body, &args).unwrap();
    assert_eq!(claims.decision.approvers[0].username, "ann");
    assert_eq!(
        body["receipt"],
        app.get_call(&key, id, None).await["receipt"]
    );
    app.stop().await;
}

/// The receipt venv's python (PyJWT and rfc8785, pinned in tests/receipts/requirements.txt).
fn receipt_python() -> std::path::PathBuf {
    std::env::var_os("ASKFIRST_RECEIPT_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/askfirst-receipt-venv")
        })
        .join("bin/python")
}

/// Runs tests/receipts/verify.py with `request`; its answer.
async fn python_verifier(request: Value) -> Value {
    use tokio::io::AsyncWriteExt as _;
    let python = receipt_python();
    assert!(
        python.exists(),
        "{} is missing: run `scripts/setup.sh --test`",
        python.display()
    );
    let mut child = tokio::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/receipts/verify.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(request.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyjwt_and_rfc8785_verify_receipts_and_agree_on_canonical_json() {
    use askfirst::domain::Role;
    use askfirst::gate::decide::DecisionInput;
    // On the real clock: PyJWT checks `exp` and `nbf` against it.
    let app = TestApp::spawn_now(std::time::Duration::from_secs(1)).await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate", "approval_ttl_secs": 600 } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ann = app.person("ann", Role::Approver).await;
    let args_json =
        r#"{"service":"api","replicas":3,"note":"café ☕ \u2028","ratio":0.1,"big":1e21}"#;
    let args: Value = serde_json::from_str(args_json).unwrap();
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": args }),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    app.decide(
        id,
        &ann,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let view = app.get_call(&key, id, None).await;
    let token = view["receipt"].as_str().unwrap();
    let (_, jwks_raw) = jwks(&app).await;
    let issuer = app.url("").trim_end_matches('/').to_string();
    let ask = |tool: &str, args_text: &str, token: &str| {
        json!({ "mode": "verify", "jwks": jwks_raw, "token": token, "tool": tool,
                "args_json": args_text, "issuer": issuer })
    };
    // The same arguments spelled differently (key order, 3.0, escapes) still hold.
    let respelled = r#"{"big":1E+21,"ratio":0.10,"replicas":3.0,"service":"api","note":"caf\u00e9 \u2615 \u2028"}"#;
    for text in [args_json, respelled] {
        let answer = python_verifier(ask("deploy", text, token)).await;
        assert_eq!(answer["ok"], true, "{text}: {answer}");
        assert_eq!(
            answer["claims"]["decision"]["approvers"][0]["username"],
            "ann"
        );
        assert_eq!(answer["claims"]["sub"], id);
    }
    let mut tampered = token.to_string();
    let at = tampered.rfind('.').unwrap() + 1;
    let swap = if &tampered[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, swap);
    #[rustfmt::skip]
    let refusals = [
        ("another tool", ask("delete", args_json, token), "wrong_audience"),
        ("other arguments", ask("deploy", r#"{"service":"api","replicas":4,"note":"café ☕ \u2028","ratio":0.1,"big":1e21}"#, token), "wrong_args"),
        ("a tampered signature", ask("deploy", args_json, &tampered), "bad_signature"),
    ];
    for (what, request, kind) in refusals {
        let answer = python_verifier(request).await;
        assert_eq!(answer["ok"], false, "{what}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.starts_with(kind), "{what}: {error}");
    }

    // Canonical JSON: the Rust hash and Python's rfc8785 agree on tricky numbers and text.
    let values = [
        r#"{"n":1e21}"#,
        r#"{"n":1e20}"#,
        r#"{"n":0.1}"#,
        r#"{"n":-0}"#,
        r#"{"n":-0.0}"#,
        r#"{"n":1.0}"#,
        r#"{"n":1e-7}"#,
        r#"{"n":333333333.33333329}"#,
        r#"{"n":4.5e-320}"#,
        r#"{"b":[1,{"z":null,"a":true}],"a":"\u0000\u001f\"\\ \u007f é 😀 \ud83d\ude00"}"#,
        r#"{"€":1,"\r":2,"1":3,"\ud83d\ude00":4,"ö":5}"#,
    ];
    let answer = python_verifier(json!({ "mode": "canon", "values": values })).await;
    for (i, text) in values.iter().enumerate() {
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            answer["sha256"][i].as_str(),
            Some(receipt::args_sha256(&parsed).as_str()),
            "{text}: Python's form {}",
            answer["canonical"][i]
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_verifies_a_receipt_as_a_tool_server_would() {
    use askfirst::domain::Role;
    use askfirst::gate::decide::DecisionInput;
    let app = TestApp::spawn_now(std::time::Duration::from_secs(1)).await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate", "approval_ttl_secs": 600 } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ann = app.person("ann", Role::Approver).await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "prod" } }),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    app.decide(
        id,
        &ann,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = app.get_call(&key, id, None).await["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jwks.json");
    let (_, raw) = jwks(&app).await;
    std::fs::write(&file, raw.to_string()).unwrap();
    let jwks_url = app.url("/.well-known/jwks.json");
    let file = file.to_string_lossy().into_owned();
    // From the database's keys, the server's URL and a file: the claims.
    for source in [None, Some(jwks_url.as_str()), Some(file.as_str())] {
        let mut args = vec![
            "receipts",
            "verify",
            &token,
            "--tool",
            "deploy",
            "--args",
            r#"{ "env": "prod" }"#,
        ];
        if let Some(s) = source {
            args.extend(["--jwks", s]);
        }
        let out = cli(&app, &args).await;
        assert!(
            out.status.success(),
            "{source:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(claims["sub"], id);
        assert_eq!(claims["decision"]["by"], "people");
    }
    // What does not hold exits 1 and says why.
    #[rustfmt::skip]
    let refusals: [(&[&str], &str); 4] = [
        (&["--tool", "delete", "--args", r#"{"env":"prod"}"#], "not `delete`"),
        (&["--tool", "deploy", "--args", r#"{"env":"staging"}"#], "arguments differ"),
        (&["--tool", "deploy", "--args", "[1]"], "JSON object"),
        (&["--tool", "deploy", "--args", r#"{"env":"prod"}"#, "--jwks", "/nonexistent/jwks.json"], "reading"),
    ];
    for (extra, says) in refusals {
        let mut args = vec!["receipts", "verify", &token];
        args.extend_from_slice(extra);
        let out = cli(&app, &args).await;
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    // `askfirst agent receipts` sets the agent's choice, and `agent show` says it.
    let out = cli(&app, &["agent", "receipts", "ci-bot", "always", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let set: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(set, json!({ "name": "ci-bot", "receipts_always": true }));
    let out = cli(&app, &["agent", "show", "ci-bot"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("every allowed call"));
    let out = cli(&app, &["agent", "receipts", "ci-bot", "sometimes"]).await;
    assert!(!out.status.success());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_verifier_follows_a_key_rotation_and_accepts_each_receipt_once() {
    use askfirst::domain::Role;
    use askfirst::gate::decide::DecisionInput;
    use askfirst_sdk::receipt::Verifier;
    let app = TestApp::spawn_now(std::time::Duration::from_secs(1)).await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [ { "name": "gate-deploy", "match": { "tool": "deploy" },
                     "effect": { "kind": "gate", "approval_ttl_secs": 600 } } ]
    }))
    .await;
    let (key, _) = app.agent("ci-bot").await;
    let ann = app.person("ann", Role::Approver).await;
    // A tool server starts and fetches the keys; then askfirst rotates.
    let verifier = Verifier::new(app.url("/.well-known/jwks.json"))
        .await
        .unwrap();
    app.gate()
        .rotate_receipt_key("cli", Duration::hours(1), true)
        .await
        .unwrap();
    let args = json!({ "env": "prod" });
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": args }),
        )
        .await;
    let id = call["id"].as_str().unwrap();
    app.decide(
        id,
        &ann,
        DecisionInput {
            approve: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let token = app.get_call(&key, id, None).await["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    // Signed with the new key: fetched again, and accepted — once.
    let claims = verifier.verify_once(&token, "deploy", &args).await.unwrap();
    assert_eq!(claims.sub, id);
    assert_eq!(
        verifier.verify_once(&token, "deploy", &args).await,
        Err(ReceiptError::Replayed(claims.jti.clone()))
    );
    // `verify` alone does not remember; it still checks the call.
    assert!(verifier.verify(&token, "deploy", &args).await.is_ok());
    assert_eq!(
        verifier
            .verify(&token, "deploy", &json!({ "env": "staging" }))
            .await,
        Err(ReceiptError::WrongArgs)
    );
    app.stop().await;
}
