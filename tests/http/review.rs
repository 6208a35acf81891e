//! An approval means exactly what was reviewed: reviews name the hash of what their
//! reviewer saw, an edit makes a new candidate that policy evaluates again, and execute
//! runs only what the audit log recorded as approved.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use reqwest::Client;
use serde_json::{json, Value};

/// `deploy` is gated: to `prod*` by 2 managers with a typed phrase and a 5-minute approval
/// TTL; elsewhere by 2 approvers; `env = wipe` is denied outright.
fn policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "no-wipe",
              "match": { "tool": "deploy", "args": [{ "pointer": "/env", "op": "eq", "value": "wipe" }] },
              "effect": { "kind": "deny", "message": "wiping is out of scope" } },
            { "name": "deploy-prod",
              "match": { "tool": "deploy", "args": [{ "pointer": "/env", "op": "glob", "value": "prod*" }] },
              "add_risk": ["production"],
              "effect": { "kind": "gate", "approvals_required": 2, "approver_role": "manager",
                          "approval_ttl_secs": 300, "confirm": "deploy {/service} to {/env}" } },
            { "name": "deploy",
              "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "approvals_required": 2, "approval_ttl_secs": 600 } }
        ]
    })
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.policy(policy()).await;
    let (key, _) = app.agent("bot").await;
    (app, key)
}

async fn propose(app: &TestApp, key: &str, args: Value) -> String {
    let p = app
        .propose_ok(
            key,
            json!({ "session": "s", "tool": "deploy", "args": args }),
        )
        .await;
    assert_eq!(p["status"], "pending", "{p}");
    p["id"].as_str().unwrap().to_string()
}

/// `/rpc/decide` as the hydrated card and the no-JS form send it.
async fn decide(
    app: &TestApp,
    who: &Client,
    id: &str,
    hash: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("id", id), ("hash", hash)];
    if !extra.iter().any(|(k, _)| *k == "decision") {
        form.push(("decision", "approve"));
    }
    form.extend_from_slice(extra);
    app.rpc(who, "decide", &form).await
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_resets_earlier_approvals_and_the_agent_runs_what_the_last_two_approved() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let (a, b, c) = (
        app.signed_in("ann", Role::Approver).await,
        app.signed_in("bob", Role::Approver).await,
        app.signed_in("cat", Role::Approver).await,
    );
    let v1 = app.candidate_hash(&id).await;
    assert_eq!(
        v1,
        askfirst::store::json::hash(&json!({ "env": "staging", "service": "api" })),
        "the hash is of the arguments' canonical JSON"
    );
    let waiter = app.long_poll(&key, &id, 30);

    let after_a = ok(decide(&app, &a, &id, &v1, &[]).await).await;
    assert_eq!(
        (after_a["status"].as_str(), after_a["approvals"].as_u64()),
        (Some("pending"), Some(1))
    );

    // Bob edits and approves: a new candidate, and Ann's approval no longer counts.
    let edited = r#"{"service":"api","env":"staging","canary":true}"#;
    let after_b = ok(decide(&app, &b, &id, &v1, &[("args", edited)]).await).await;
    let v2 = askfirst::store::json::hash(&serde_json::from_str(edited).unwrap());
    assert_eq!(
        after_b["status"], "pending",
        "2 of N: Ann approved another version"
    );
    assert_eq!(after_b["approvals"], 1);
    assert_eq!(after_b["candidate"]["version"], 2);
    assert_eq!(after_b["candidate"]["hash"], v2.as_str());
    assert_eq!(
        after_b["args"],
        json!({ "service": "api", "env": "staging", "canary": true })
    );
    assert_eq!(
        after_b["proposed_args"],
        json!({ "service": "api", "env": "staging" })
    );
    let reviews = after_b["decisions"].as_array().unwrap();
    assert_eq!(
        (
            reviews[0]["user"].as_str(),
            reviews[0]["version"].as_u64(),
            reviews[0]["current"].as_bool()
        ),
        (Some("ann"), Some(1), Some(false))
    );
    assert_eq!(
        (
            reviews[1]["user"].as_str(),
            reviews[1]["edited_args"].as_bool(),
            reviews[1]["current"].as_bool()
        ),
        (Some("bob"), Some(true), Some(true))
    );
    assert_eq!(app.get_call(&key, &id, None).await["status"], "pending");

    // Cat's card was opened before the edit: her review is refused, nothing recorded.
    let (status, code, message) = error_of(decide(&app, &c, &id, &v1, &[]).await).await;
    assert_eq!((status, code.as_str()), (409, "stale_view"));
    assert_eq!(
        message,
        "the arguments changed since you opened this call — review again"
    );
    let card = ok(app.rpc(&c, "card", &[("id", &id)]).await).await;
    assert_eq!(card["can_decide"], true);
    assert_eq!(card["versions"][0]["version"], 2);
    assert_eq!(card["versions"][0]["author"], "bob");
    assert_eq!(
        card["still_needed"],
        "1 more approval of version 2 from an approver or above"
    );

    // Reloaded, she approves what Bob approved: the threshold is two people on version 2.
    let done = ok(decide(&app, &c, &id, &v2, &[]).await).await;
    assert_eq!(
        (done["status"].as_str(), done["approvals"].as_u64()),
        (Some("approved"), Some(2))
    );
    let (seen, _) = waiter.await.unwrap();
    assert_eq!(seen["status"], "approved");
    assert_eq!(
        seen["args"],
        json!({ "service": "api", "env": "staging", "canary": true })
    );

    let run: Value = app
        .call_action(&key, &id, "execute")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        run["args"],
        json!({ "service": "api", "env": "staging", "canary": true })
    );

    // The audit trail binds it: each review's hash, the edit, and the approved hash.
    let events: Vec<(String, String)> = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT kind, detail FROM audit_events WHERE call_id = $1 ORDER BY id"
    )
    .bind(&id)
    .fetch_all(cn)
    .await)
    .unwrap();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "call.proposed",
            "call.approval_recorded",
            "call.candidate_created",
            "call.approval_recorded",
            "call.approved",
            "call.executed"
        ]
    );
    let detail = |i: usize| serde_json::from_str::<Value>(&events[i].1).unwrap();
    assert_eq!(detail(1)["reviewed_hash"], v1.as_str());
    assert_eq!(detail(2)["hash"], v2.as_str());
    assert_eq!(detail(3)["reviewed_hash"], v2.as_str());
    assert_eq!(detail(4)["args_hash"], v2.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_approver_may_approve_the_edited_version_but_never_twice() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let (a, b) = (
        app.signed_in("ann", Role::Approver).await,
        app.signed_in("bob", Role::Approver).await,
    );
    let v1 = app.candidate_hash(&id).await;
    ok(decide(&app, &a, &id, &v1, &[]).await).await;
    let (_, code, _) = error_of(decide(&app, &a, &id, &v1, &[]).await).await;
    assert_eq!(code, "duplicate_reviewer");
    ok(decide(
        &app,
        &b,
        &id,
        &v1,
        &[("args", r#"{"service":"web","env":"staging"}"#)],
    )
    .await)
    .await;
    let v2 = app.candidate_hash(&id).await;
    let (_, code, _) = error_of(decide(&app, &b, &id, &v2, &[]).await).await;
    assert_eq!(
        code, "duplicate_reviewer",
        "the editor's approval already counts"
    );
    let done = ok(decide(&app, &a, &id, &v2, &[]).await).await;
    assert_eq!(done["status"], "approved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_policy_denies_is_refused_and_changes_nothing() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let a = app.signed_in("ann", Role::Approver).await;
    let v1 = app.candidate_hash(&id).await;
    let (status, code, message) = error_of(
        decide(
            &app,
            &a,
            &id,
            &v1,
            &[("args", r#"{"service":"api","env":"wipe"}"#)],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (422, "invalid"));
    assert_eq!(
        message,
        "policy denies the edited arguments (rule no-wipe): wiping is out of scope"
    );
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["candidate"]["version"], 1);
    assert_eq!(view["candidate"]["hash"], v1.as_str());
    assert_eq!(view["approvals"], 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM reviews WHERE call_id = $1", &id)
            .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM call_candidates WHERE call_id = $1",
            &id
        )
        .await,
        0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_into_a_stricter_rule_raises_the_requirements_and_the_phrase() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let bob = app.signed_in("bob", Role::Approver).await;
    let (m1, m2) = (
        app.signed_in("mia", Role::Manager).await,
        app.signed_in("max", Role::Admin).await,
    );
    let v1 = app.candidate_hash(&id).await;

    // Bob turns the staging deploy into a production one. The edit stands, but production
    // needs managers, so his own approval cannot count.
    let prod = r#"{"service":"api","env":"production"}"#;
    let (status, code, message) =
        error_of(decide(&app, &bob, &id, &v1, &[("args", prod)]).await).await;
    assert_eq!((status, code.as_str()), (403, "not_eligible"));
    assert_eq!(
        message,
        "your edit is saved as version 2 of the arguments, but your approval does not count \
         for it: reviewing this needs the manager role"
    );
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["candidate"]["version"], 2);
    assert_eq!(view["approvals_required"], 2);
    assert_eq!(view["confirm"], "deploy api to production");
    assert_eq!(
        view["risk"],
        json!(["production"]),
        "policy's added risk joins the call's"
    );
    assert_eq!(view["approvals"], 0);
    let card = ok(app.rpc(&bob, "card", &[("id", &id)]).await).await;
    assert_eq!(
        card["cannot_decide_reason"],
        "Deciding this call needs the manager role."
    );
    assert_eq!(card["versions"][0]["rule"], "deploy-prod");

    let v2 = app.candidate_hash(&id).await;
    let (status, code, _) = error_of(decide(&app, &m1, &id, &v2, &[]).await).await;
    assert_eq!((status, code.as_str()), (422, "confirmation_mismatch"));
    let phrase = [("confirm", "deploy api to production")];
    let one = ok(decide(&app, &m1, &id, &v2, &phrase).await).await;
    assert_eq!(
        (one["status"].as_str(), one["approvals"].as_u64()),
        (Some("pending"), Some(1))
    );
    let two = ok(decide(&app, &m2, &id, &v2, &phrase).await).await;
    assert_eq!(two["status"], "approved");
    // The stricter rule's 5-minute approval TTL applies.
    let expires: chrono::DateTime<chrono::Utc> = two["approval_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires - app.now(), chrono::Duration::seconds(300));
    let run: Value = app
        .call_action(&key, &id, "execute")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        run["args"],
        json!({ "service": "api", "env": "production" })
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_never_loosens_the_call() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "production" })).await;
    let (m1, m2) = (
        app.signed_in("mia", Role::Manager).await,
        app.signed_in("max", Role::Manager).await,
    );
    let approver = app.signed_in("apu", Role::Approver).await;
    let v1 = app.candidate_hash(&id).await;
    // A manager moves it to staging, whose own rule wants 2 approvers and no phrase: the
    // call keeps its managers and a phrase, filled in from the new arguments.
    let staging = r#"{"service":"api","env":"staging"}"#;
    let one = ok(decide(
        &app,
        &m1,
        &id,
        &v1,
        &[("args", staging), ("confirm", "deploy api to staging")],
    )
    .await)
    .await;
    assert_eq!(
        (one["status"].as_str(), one["approvals"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(one["confirm"], "deploy api to staging");
    assert_eq!(one["approvals_required"], 2);
    assert_eq!(
        one["risk"],
        json!(["production"]),
        "an edit never removes risk"
    );
    let v2 = app.candidate_hash(&id).await;
    let (status, code, _) = error_of(
        decide(
            &app,
            &approver,
            &id,
            &v2,
            &[("confirm", "deploy api to staging")],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "not_eligible"));
    let done = ok(decide(&app, &m2, &id, &v2, &[("confirm", "deploy api to staging")]).await).await;
    assert_eq!(done["status"], "approved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_edited_behind_the_servers_back_does_not_run() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let (a, b) = (
        app.signed_in("ann", Role::Approver).await,
        app.signed_in("bob", Role::Approver).await,
    );
    let v1 = app.candidate_hash(&id).await;
    ok(decide(&app, &a, &id, &v1, &[]).await).await;
    ok(decide(&app, &b, &id, &v1, &[]).await).await;

    // Someone with the database file swaps the approved arguments and their hash.
    let evil = json!({ "service": "api", "env": "production", "force": true });
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "UPDATE calls SET approved_args = $1, approved_args_hash = $2 WHERE id = $3"
    )
    .bind(evil.to_string())
    .bind(askfirst::store::json::hash(&evil))
    .bind(&id)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let (status, code, _) = error_of(app.call_action(&key, &id, "execute").await).await;
    assert_eq!((status, code.as_str()), (409, "approval_mismatch"));
    let status: String = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT status FROM calls WHERE id = $1"
    )
    .bind(&id)
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(status, "approved", "nothing ran");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_pins_the_candidate_its_person_saw() {
    let (app, key) = setup().await;
    // The CLI runs on the system clock: bring the server's clock to now.
    app.clock.advance(chrono::Utc::now() - app.now());
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    app.add_user("ann", Role::Approver, "a long enough password")
        .await;
    app.add_user("bob", Role::Approver, "a long enough password")
        .await;
    app.add_user("cat", Role::Approver, "a long enough password")
        .await;
    let cli = |args: Vec<String>| {
        let db = app.db.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
                .env("ASKFIRST_PASSWORD", "a long enough password")
                .arg("--db")
                .arg(db)
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let shown: Value =
        serde_json::from_slice(&cli(args(&["calls", "show", &id, "--json"])).await.stdout).unwrap();
    let v1 = shown["candidate"]["hash"].as_str().unwrap().to_string();
    assert_eq!(
        shown["candidate"]["args"],
        json!({ "service": "api", "env": "staging" })
    );
    assert_eq!(shown["candidate"]["version"], 1);

    // Bob edits; a script that still holds v1 is refused.
    let out = cli(args(&[
        "calls",
        "approve",
        &id,
        "--user",
        "bob",
        "--hash",
        &v1,
        "--args",
        r#"{"service":"api","env":"qa"}"#,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(args(&[
        "calls", "approve", &id, "--user", "ann", "--hash", &v1,
    ]))
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stale_view"), "{stderr}");

    // Without --hash the CLI approves the current candidate and says which.
    let out = cli(args(&["calls", "approve", &id, "--user", "cat"])).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v2 = askfirst::store::json::hash(&json!({ "service": "api", "env": "qa" }));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&v2) && stdout.contains("approved"),
        "{stdout}"
    );
    let run: Value = app
        .call_action(&key, &id, "execute")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["args"], json!({ "service": "api", "env": "qa" }));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_who_does_not_qualify_cannot_keep_making_versions() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let bob = app.signed_in("bob", Role::Approver).await;
    let v1 = app.candidate_hash(&id).await;
    let prod = r#"{"service":"api","env":"production"}"#;
    let (status, _, _) = error_of(decide(&app, &bob, &id, &v1, &[("args", prod)]).await).await;
    assert_eq!(status, 403);
    let v2 = app.candidate_hash(&id).await;
    let again = r#"{"service":"api","env":"production","n":2}"#;
    let (status, code, _) = error_of(decide(&app, &bob, &id, &v2, &[("args", again)]).await).await;
    assert_eq!((status, code.as_str()), (403, "not_eligible"));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM call_candidates WHERE call_id = $1",
            &id
        )
        .await,
        1
    );
    let view = app.get_call(&key, &id, None).await;
    let bobs = &view["decisions"][0];
    assert_eq!(
        (
            bobs["user"].as_str(),
            bobs["current"].as_bool(),
            bobs["counts"].as_bool()
        ),
        (Some("bob"), Some(true), Some(false)),
        "recorded so he cannot edit this version again, but it does not count"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eligible_editor_must_type_the_edited_arguments_phrase_first() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let mia = app.signed_in("mia", Role::Manager).await;
    let v1 = app.candidate_hash(&id).await;
    let prod = r#"{"service":"api","env":"production"}"#;
    let (status, code, message) =
        error_of(decide(&app, &mia, &id, &v1, &[("args", prod)]).await).await;
    assert_eq!((status, code.as_str()), (422, "confirmation_mismatch"));
    assert_eq!(
        message,
        "type `deploy api to production` exactly to approve"
    );
    assert_eq!(
        app.get_call(&key, &id, None).await["candidate"]["version"],
        1,
        "nothing recorded"
    );
    let one = ok(decide(
        &app,
        &mia,
        &id,
        &v1,
        &[("args", prod), ("confirm", "deploy api to production")],
    )
    .await)
    .await;
    assert_eq!(
        (
            one["candidate"]["version"].as_u64(),
            one["approvals"].as_u64()
        ),
        (Some(2), Some(1))
    );

    // A later edit back to staging keeps a phrase, filled in from the newest arguments.
    let max = app.signed_in("max", Role::Manager).await;
    let v2 = app.candidate_hash(&id).await;
    let web = r#"{"service":"web","env":"staging"}"#;
    let two = ok(decide(
        &app,
        &max,
        &id,
        &v2,
        &[("args", web), ("confirm", "deploy web to staging")],
    )
    .await)
    .await;
    assert_eq!(two["confirm"], "deploy web to staging");
    assert_eq!(two["candidate"]["version"], 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_stop_counting_when_their_reviewer_is_disabled() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "staging" })).await;
    let (a, b) = (
        app.signed_in("ann", Role::Approver).await,
        app.signed_in("bob", Role::Approver).await,
    );
    let v1 = app.candidate_hash(&id).await;
    ok(decide(&app, &a, &id, &v1, &[]).await).await;
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ann",
        true,
    )
    .await
    .unwrap();
    let after = ok(decide(&app, &b, &id, &v1, &[]).await).await;
    assert_eq!(
        (after["status"].as_str(), after["approvals"].as_u64()),
        (Some("pending"), Some(1))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phrase_with_surrounding_spaces_can_be_typed_and_the_proposal_hash_is_audited() {
    let (app, key) = setup().await;
    let id = propose(&app, &key, json!({ "service": "api", "env": "prod " })).await;
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["confirm"], "deploy api to prod ");
    let (m1, m2) = (
        app.signed_in("mia", Role::Manager).await,
        app.signed_in("max", Role::Manager).await,
    );
    let v1 = app.candidate_hash(&id).await;
    ok(decide(&app, &m1, &id, &v1, &[("confirm", "deploy api to prod")]).await).await;
    let done = ok(decide(&app, &m2, &id, &v1, &[("confirm", "deploy api to prod ")]).await).await;
    assert_eq!(done["status"], "approved");
    let proposed: Vec<_> = app
        .audit_details("call.proposed")
        .await
        .into_iter()
        .filter(|(call, _)| call.as_deref() == Some(id.as_str()))
        .map(|(_, detail)| detail["args_hash"].clone())
        .collect();
    assert_eq!(proposed, vec![serde_json::json!(v1)]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_text_cannot_end_the_edit_field_and_inject_markup() {
    let (app, key) = setup().await;
    let payload = "</textarea><h1 id=AGENTCARD>injected</h1><textarea>";
    let id = propose(&app, &key, json!({ "service": payload, "env": "staging" })).await;
    let approver = app.signed_in("ann", Role::Approver).await;
    let page = app
        .page(&approver, &format!("/calls/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("<h1 id=AGENTCARD>"),
        "raw markup in the page"
    );
    assert!(
        page.contains("&lt;/textarea&gt;&lt;h1 id=AGENTCARD&gt;"),
        "escaped inside the field"
    );

    // The same for an admin's TOML and rule conditions on /policy.
    let admin = app.signed_in("ada", Role::Admin).await;
    let mut policy = policy();
    policy["rules"][0]["description"] = json!(payload);
    app.policy(policy).await;
    let page = app.page(&admin, "/policy").await.text().await.unwrap();
    assert!(!page.contains("<h1 id=AGENTCARD>"), "raw markup on /policy");
    app.stop().await;
}
