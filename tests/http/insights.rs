//! Insights over HTTP: the numbers for a seeded history, suggestions that become policy
//! (an ungate waits for sign-off; a tighten applies once confirmed), dismissals, and the
//! rubber-stamp watch fed by card openings.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use serde_json::{json, Value};

async fn setup(app: &TestApp) {
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "tag-prod", "add_risk": ["production"],
              "match": { "args": [ { "pointer": "/env", "op": "glob", "value": "prod*" } ] } },
            { "name": "no-drops", "match": { "tool": "drop_db" },
              "effect": { "kind": "deny", "message": "never" } },
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "deadline_secs": 600 } }
        ]
    }))
    .await;
}

async fn deploy(app: &TestApp, key: &str, env: &str, n: usize) -> String {
    let p = app
        .propose_ok(
            key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": env, "n": n } }),
        )
        .await;
    assert_eq!(p["status"], "pending");
    p["id"].as_str().unwrap().to_string()
}

fn approve() -> DecisionInput {
    DecisionInput {
        approve: true,
        ..Default::default()
    }
}

fn deny(feedback: &str) -> DecisionInput {
    DecisionInput {
        approve: false,
        feedback: Some(feedback.to_string()),
        ..Default::default()
    }
}

async fn insights(app: &TestApp, who: &reqwest::Client, period: &str) -> Value {
    app.gate().roll_up_all().await.unwrap();
    let res = app.rpc(who, "insights", &[("period", period)]).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn row<'a>(table: &'a Value, label: &str) -> &'a Value {
    table
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == label)
        .unwrap_or_else(|| panic!("no row {label} in {table}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_numbers_of_a_seeded_history() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("other").await;
    let ann = app.person("ann", Role::Approver).await;

    // 5 allowed reads (2 executed), 2 denied by policy, 6 gated deploys: 3 approved after
    // 40 s (and left unused until stale), 1 denied, 1 cancelled, 1 expired; and 1 allowed
    // call of another agent.
    for i in 0..5 {
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": "read", "args": { "i": i } }),
            )
            .await;
        if i < 2 {
            let id = p["id"].as_str().unwrap();
            assert_eq!(app.call_action(&key, id, "execute").await.status(), 200);
        }
    }
    for _ in 0..2 {
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": "drop_db", "args": {} }),
            )
            .await;
        assert_eq!(p["status"], "denied");
    }
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(deploy(&app, &key, "production", n).await);
    }
    app.propose_ok(
        &other,
        json!({ "session": "s", "tool": "read", "args": {} }),
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(40));
    for id in &ids[0..3] {
        app.decide(id, &ann, approve()).await.unwrap();
    }
    app.decide(&ids[3], &ann, deny("use staging first"))
        .await
        .unwrap();
    assert_eq!(app.call_action(&key, &ids[4], "cancel").await.status(), 200);
    app.clock.advance(chrono::Duration::seconds(600));
    app.gate().sweep().await.unwrap();

    let manager = app.signed_in("max", Role::Manager).await;
    let data = insights(&app, &manager, "24h").await;
    let t = &data["totals"];
    let expect = [
        ("proposed", 14),
        ("allowed", 6),
        ("denied_policy", 2),
        ("gated", 6),
        ("approved", 3),
        ("denied_people", 1),
        ("cancelled", 1),
        ("expired", 1),
        ("executed", 2),
        // The approvals went unused past their 10-minute life meanwhile.
        ("stale", 3),
    ];
    for (field, n) in expect {
        assert_eq!(t[field], n, "{field} in {t}");
    }
    // The same numbers counted independently from the calls themselves.
    let stored =
        |status: &'static str| app.count("SELECT COUNT(*) FROM calls WHERE status = $1", status);
    assert_eq!(stored("stale").await, 3);
    assert_eq!(stored("expired").await, 1);
    let pattern = row(&data["by_pattern"], "deploy env=production");
    assert_eq!(pattern["counts"]["gated"], 6);
    assert_eq!(row(&data["by_agent"], "other")["counts"]["proposed"], 1);
    assert_eq!(row(&data["by_tool"], "read")["counts"]["proposed"], 6);
    // Four decisions by people, all about 40 s after the proposal: the 30-60 s bucket.
    let buckets = pattern["counts"]["buckets"].as_array().unwrap();
    assert_eq!(buckets[4], 4, "{buckets:?}");
    // A period before all this is empty, and a bad period is a clear 400.
    let custom = app
        .rpc(
            &manager,
            "insights",
            &[
                ("period", "custom"),
                ("from", "2020-01-01"),
                ("to", "2020-01-02"),
            ],
        )
        .await;
    let custom: Value = custom.json().await.unwrap();
    assert_eq!(custom["totals"]["proposed"], 0);
    let (status, code, message) =
        error_of(app.rpc(&manager, "insights", &[("period", "1y")]).await).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"), "{message}");
    // Rolling up twice counts nothing twice.
    let again = insights(&app, &manager, "24h").await;
    assert_eq!(again["totals"], data["totals"]);
    // Two days on, that day is a whole day inside a 7-day period: read from the daily
    // rollups, the numbers are the same.
    app.clock.advance(chrono::Duration::days(2));
    let manager = app.signed_in("mia", Role::Manager).await; // the first session ended
    let week = insights(&app, &manager, "7d").await;
    assert_eq!(week["totals"], data["totals"]);
    let from = week["period"]["from"].as_i64().unwrap();
    let days = if from % 86_400_000 == 0 { 7 } else { 8 };
    assert_eq!(
        week["bars"].as_array().unwrap().len(),
        days,
        "UTC days, partial at the ends"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_ungate_suggestion_waits_for_sign_off() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let ann = app.person("ann", Role::Approver).await;
    for m in ["m1", "m2", "m3"] {
        app.person(m, Role::Manager).await;
    }
    // 49 approvals: one short of the evidence an ungate needs.
    for n in 0..49 {
        let id = deploy(&app, &key, "production", n).await;
        app.decide(&id, &ann, approve()).await.unwrap();
    }
    let admin = app.signed_in("ada", Role::Admin).await;
    let data = insights(&app, &admin, "7d").await;
    assert_eq!(
        data["suggestions"],
        json!([]),
        "49 decisions are not enough"
    );
    let id = deploy(&app, &key, "production", 49).await;
    app.decide(&id, &ann, approve()).await.unwrap();
    let data = insights(&app, &admin, "7d").await;
    let s = &data["suggestions"][0];
    assert_eq!(
        (s["kind"].as_str(), s["pattern"].as_str()),
        (Some("ungate"), Some("deploy env=production"))
    );
    assert!(s["evidence"]
        .as_str()
        .unwrap()
        .contains("approved 50 of 50"));

    let accept = |confirm: bool| {
        let mut form = vec![
            ("kind", "ungate"),
            ("tool", "deploy"),
            ("pattern", "deploy env=production"),
            ("period", "7d"),
        ];
        if confirm {
            form.push(("confirm", "yes"));
        }
        let admin = admin.clone();
        let app = &app;
        async move { app.rpc(&admin, "suggestion_accept", &form).await }
    };
    // A manager may look, not change policy.
    let manager = app.signed_in("mo", Role::Manager).await;
    let form = [
        ("kind", "ungate"),
        ("tool", "deploy"),
        ("pattern", "deploy env=production"),
    ];
    let (status, _, _) = error_of(app.rpc(&manager, "suggestion_accept", &form).await).await;
    assert_eq!(status, 403);

    let res = accept(false).await;
    assert_eq!(res.status(), 200);
    let accepted: Value = res.json().await.unwrap();
    let change = accepted["pending"].as_i64().expect("a pending change");
    assert!(accepted["version"].is_null(), "not applied: {accepted}");
    let status: String = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT status FROM policy_changes WHERE id = $1"
    )
    .bind(change)
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(status, "pending");
    let comment: String = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT comment FROM policy_changes WHERE id = $1"
    )
    .bind(change)
    .fetch_one(cn)
    .await)
    .unwrap();
    assert!(comment.contains("approved 50 of 50"), "{comment}");
    // Still gated until managers sign it off.
    deploy(&app, &key, "production", 99).await;

    // A name the evidence does not support is refused.
    let form = [
        ("kind", "ungate"),
        ("tool", "deploy"),
        ("pattern", "deploy env=staging"),
        ("period", "7d"),
    ];
    let (status, code, _) = error_of(app.rpc(&admin, "suggestion_accept", &form).await).await;
    assert_eq!((status, code.as_str()), (422, "invalid"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tighten_suggestion_groups_feedback_and_applies_once_confirmed() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let ann = app.person("ann", Role::Approver).await;
    let feedback = [
        "use the staging database, not production",
        "staging database first, never production",
        "Use staging database instead of production!",
        "wrong ticket number",
        "the ticket number is wrong",
    ];
    for (n, text) in feedback.iter().enumerate() {
        let id = deploy(&app, &key, "prod-eu", n).await;
        app.decide(&id, &ann, deny(text)).await.unwrap();
    }
    for n in 10..13 {
        let id = deploy(&app, &key, "prod-eu", n).await;
        app.decide(&id, &ann, approve()).await.unwrap();
    }
    let manager = app.signed_in("mo", Role::Manager).await;
    let data = insights(&app, &manager, "24h").await;
    let s = &data["suggestions"][0];
    assert_eq!(s["kind"], "tighten");
    assert_eq!(s["pattern"], "deploy env=prod-eu");
    let sizes: Vec<i64> = s["feedback"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_i64().unwrap())
        .collect();
    assert_eq!(sizes, vec![3, 2]);
    assert!(s["prompt_note"].as_str().unwrap().contains("staging"));

    let admin = app.signed_in("ada", Role::Admin).await;
    let form = [
        ("kind", "tighten"),
        ("tool", "deploy"),
        ("pattern", "deploy env=prod-eu"),
        ("period", "24h"),
    ];
    let (status, _, message) = error_of(app.rpc(&admin, "suggestion_accept", &form).await).await;
    assert_eq!(
        status, 422,
        "tightening needs the admin to confirm: {message}"
    );
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "yes"));
    let accepted: Value = app
        .rpc(&admin, "suggestion_accept", &confirmed)
        .await
        .json()
        .await
        .unwrap();
    assert!(accepted["version"].as_i64().is_some(), "{accepted}");
    let denied = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "prod-eu" } }),
        )
        .await;
    assert_eq!(denied["status"], "denied");
    assert!(denied["message"].as_str().unwrap().contains("staging"));
    let other = deploy(&app, &key, "production", 1).await;
    assert!(!other.is_empty(), "another value is still only gated");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dismissed_suggestion_stays_away_until_the_evidence_changes() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let ann = app.person("ann", Role::Approver).await;
    for n in 0..6 {
        let id = deploy(&app, &key, "production", n).await;
        app.decide(&id, &ann, deny("not during the freeze"))
            .await
            .unwrap();
    }
    let manager = app.signed_in("mo", Role::Manager).await;
    assert_eq!(
        insights(&app, &manager, "24h").await["suggestions"][0]["kind"],
        "tighten"
    );
    let form = [
        ("kind", "tighten"),
        ("tool", "deploy"),
        ("pattern", "deploy env=production"),
        ("period", "24h"),
        ("reason", ""),
    ];
    let (status, _, _) = error_of(app.rpc(&manager, "suggestion_dismiss", &form).await).await;
    assert_eq!(status, 422, "a dismissal needs a reason");
    let mut form = form.to_vec();
    form[4] = ("reason", "the freeze ends on Friday");
    assert_eq!(
        app.rpc(&manager, "suggestion_dismiss", &form)
            .await
            .status(),
        200
    );
    let data = insights(&app, &manager, "24h").await;
    assert_eq!(
        (data["suggestions"].clone(), data["dismissed"].clone()),
        (json!([]), json!(1))
    );
    let audited = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'insight.dismissed' AND actor = $1",
            "user:mo",
        )
        .await;
    assert_eq!(audited, 1);
    // More denials than before by half: it is back.
    for n in 6..30 {
        let id = deploy(&app, &key, "production", n).await;
        app.decide(&id, &ann, deny("still frozen")).await.unwrap();
    }
    assert_eq!(
        insights(&app, &manager, "24h").await["suggestions"][0]["kind"],
        "tighten"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rubber_stamp_watch_reads_card_openings() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let quick = app.signed_in("quick", Role::Approver).await;
    let quick_user = askfirst::store::users::find_by_username(app.pool(), "quick")
        .await
        .unwrap()
        .unwrap()
        .view();
    for n in 0..6 {
        let id = deploy(&app, &key, "production", n).await;
        let seen = app
            .rpc(
                &quick,
                "card_seen",
                &[("id", id.as_str()), ("expanded", "false")],
            )
            .await;
        assert_eq!(seen.status(), 200);
        app.clock.advance(chrono::Duration::seconds(2));
        app.decide(&id, &quick_user, approve()).await.unwrap();
    }
    let admin = app.signed_in("ada", Role::Admin).await;
    let rows: Value = app
        .rpc(&admin, "rubber_stamp", &[("period", "24h")])
        .await
        .json()
        .await
        .unwrap();
    let m = &rows[0]["measures"];
    assert_eq!(rows[0]["username"], "quick");
    assert_eq!(
        (m["approvals"].clone(), m["streak"].clone()),
        (json!(6), json!(6))
    );
    assert_eq!(m["median_high_risk_secs"], 2.0);
    assert_eq!(m["unexpanded_approvals"], 6);
    assert!(m["prompts"][0]
        .as_str()
        .unwrap()
        .contains("2.0 s after opening"));

    // Only a waiting call's card is watched.
    let done_id: String = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = 'approved' LIMIT 1"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    let (status, code, _) = error_of(
        app.rpc(
            &quick,
            "card_seen",
            &[("id", done_id.as_str()), ("expanded", "true")],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "not_pending"));
    // Serving the card to an approver notes the opening on the server.
    let fresh = deploy(&app, &key, "production", 50).await;
    let other = app.signed_in("olga", Role::Approver).await;
    assert_eq!(
        app.rpc(&other, "card", &[("id", fresh.as_str())])
            .await
            .status(),
        200
    );
    let opened = app
        .count(
            "SELECT COUNT(*) FROM card_views WHERE call_id = $1 AND expanded_at IS NULL",
            &fresh,
        )
        .await;
    assert_eq!(opened, 1);
    // Only for calls that exist; viewers do not review, so they are not recorded.
    let (status, _, _) = error_of(
        app.rpc(&quick, "card_seen", &[("id", "nope"), ("expanded", "true")])
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let viewer = app.signed_in("vic", Role::Viewer).await;
    let id = deploy(&app, &key, "production", 99).await;
    let (status, _, _) = error_of(
        app.rpc(
            &viewer,
            "card_seen",
            &[("id", id.as_str()), ("expanded", "true")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    let manager = app.signed_in("mo", Role::Manager).await;
    let (status, _, _) = error_of(
        app.rpc(&manager, "rubber_stamp", &[("period", "24h")])
            .await,
    )
    .await;
    assert_eq!(status, 403, "the watch is for admins");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flagged_executions_suggest_a_gate_for_what_policy_lets_through() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (key, _) = app.agent("bot").await;
    let ann = app.signed_in("ann", Role::Approver).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": "email", "args": { "to": "all", "n": n } }),
            )
            .await;
        assert_eq!(p["status"], "allowed");
        let id = p["id"].as_str().unwrap().to_string();
        assert_eq!(app.call_action(&key, &id, "execute").await.status(), 200);
        ids.push(id);
    }
    let flag = |id: String, reason: &'static str| {
        let ann = ann.clone();
        let app = &app;
        async move {
            app.rpc(
                &ann,
                "flag_call",
                &[("id", id.as_str()), ("reason", reason)],
            )
            .await
        }
    };
    assert_eq!(
        flag(ids[0].clone(), "mailed every customer").await.status(),
        200
    );
    let (status, code, _) = error_of(flag(ids[0].clone(), "again").await).await;
    assert_eq!(
        (status, code.as_str()),
        (409, "duplicate_reviewer"),
        "one flag per person"
    );
    let (status, _, _) = error_of(flag(ids[1].clone(), "  ").await).await;
    assert_eq!(status, 422, "a flag says why");
    let manager = app.signed_in("mo", Role::Manager).await;
    assert_eq!(
        insights(&app, &manager, "24h").await["suggestions"],
        json!([]),
        "one flag is not a pattern"
    );
    for id in &ids[1..3] {
        assert_eq!(
            flag(id.clone(), "mailed every customer again")
                .await
                .status(),
            200
        );
    }
    let card: Value = app
        .rpc(&ann, "card", &[("id", ids[0].as_str())])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(card["flags"][0]["reason"], "mailed every customer");

    let data = insights(&app, &manager, "24h").await;
    let s = &data["suggestions"][0];
    assert_eq!(
        (s["kind"].as_str(), s["pattern"].as_str()),
        (Some("tighten"), Some("email"))
    );
    assert!(
        s["evidence"]
            .as_str()
            .unwrap()
            .contains("flagged 3 executions"),
        "{s}"
    );
    assert_eq!(s["feedback"][0]["count"], 3);

    let admin = app.signed_in("ada", Role::Admin).await;
    let form = [
        ("kind", "tighten"),
        ("tool", "email"),
        ("pattern", "email"),
        ("period", "24h"),
        ("confirm", "yes"),
    ];
    let accepted: Value = app
        .rpc(&admin, "suggestion_accept", &form)
        .await
        .json()
        .await
        .unwrap();
    assert!(accepted["version"].as_i64().is_some(), "{accepted}");
    let next = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "email", "args": { "to": "all" } }),
        )
        .await;
    assert_eq!(
        next["status"], "pending",
        "what policy let through now asks a person"
    );

    // Only a call that ran can be flagged.
    let (status, _, _) = error_of(flag(next["id"].as_str().unwrap().to_string(), "no").await).await;
    assert_eq!(status, 422);
    app.stop().await;
}
