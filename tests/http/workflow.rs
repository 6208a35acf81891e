//! The approver workflow through HTTP and the service layer, on the injected clock: what a
//! gate's deadline does, extensions, batch decisions, remembered grants and denials the
//! agent must not retry.

use crate::support::{error_of, TestApp};
use askfirst::domain::grant::GrantAsk;
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use chrono::Duration;
use serde_json::{json, Value};

/// `deploy` expires, `wipe` is denied, `page` escalates to managers, `scale` to the
/// oncall group; `restart` allows grants (similar by `/service`), `wire` asks for a phrase.
fn policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "groups": { "oncall": ["olga"] },
        "rules": [
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "deadline_secs": 60, "extend_max_secs": 120 } },
            { "name": "gate-wipe", "match": { "tool": "wipe" },
              "effect": { "kind": "gate", "deadline_secs": 60, "on_deadline": "deny" } },
            { "name": "gate-page", "match": { "tool": "page" },
              "effect": { "kind": "gate", "deadline_secs": 60, "on_deadline": "escalate",
                          "escalate_to": "manager", "escalate_deadline_secs": 300 } },
            { "name": "gate-scale", "match": { "tool": "scale" },
              "effect": { "kind": "gate", "deadline_secs": 60, "on_deadline": "escalate",
                          "escalate_to": "group:oncall" } },
            { "name": "gate-restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate", "grant_max_secs": 1800, "grant_max_uses": 3,
                          "grant_match": ["/service"] } },
            { "name": "gate-wire", "match": { "tool": "wire" },
              "effect": { "kind": "gate", "confirm": "wire {/amount}" } }
        ]
    })
}

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.policy(policy()).await;
    let (key, _) = app.agent("bot").await;
    (app, key)
}

async fn propose(app: &TestApp, key: &str, tool: &str, args: Value) -> String {
    let call = app
        .propose_ok(key, json!({ "session": "s1", "tool": tool, "args": args }))
        .await;
    assert_eq!(call["status"], "pending", "{tool}: {call}");
    call["id"].as_str().unwrap().to_string()
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
        feedback: Some(feedback.into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deadline_outcome_at_the_instant() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    for (tool, expected) in [
        ("deploy", "expired"),
        ("wipe", "denied"),
        ("page", "pending"),
    ] {
        let id = propose(&app, &key, tool, json!({})).await;
        let one_ms_before = app.get_call(&key, &id, None).await;
        let deadline = one_ms_before["deadline"].as_str().unwrap().to_string();
        app.clock.advance(Duration::milliseconds(59_999));
        let before = app.get_call(&key, &id, None).await;
        assert_eq!(before["status"], "pending", "{tool} 1 ms before");
        app.clock.advance(Duration::milliseconds(1));
        let at = app.get_call(&key, &id, None).await;
        assert_eq!(at["status"], expected, "{tool} at the deadline: {at}");
        if tool == "wipe" {
            assert!(at["message"]
                .as_str()
                .unwrap()
                .contains("denies calls left undecided"));
            assert!(at.get("denial").is_none(), "no person denied it");
        }
        if tool == "page" {
            // Escalated once: a new deadline, a new audience, recorded and visible.
            assert_ne!(at["deadline"].as_str().unwrap(), deadline);
            assert_eq!(at["escalated"]["to"], "manager");
            assert_eq!(at["escalated"]["to_text"], "managers");
            let err = app.decide(&id, &ann, approve()).await.unwrap_err();
            assert_eq!(err.code(), "not_eligible", "{err}");
            assert_eq!(
                app.count(
                    "SELECT COUNT(*) FROM audit_events WHERE kind = 'call.escalated' AND call_id = $1",
                    &id
                )
                .await,
                1
            );
            // Then, at the escalated deadline, it expires: escalation happens once.
            app.clock.advance(Duration::milliseconds(299_999));
            assert_eq!(app.get_call(&key, &id, None).await["status"], "pending");
            app.clock.advance(Duration::milliseconds(1));
            assert_eq!(app.get_call(&key, &id, None).await["status"], "expired");
        }
        // A review at the instant is refused.
        if tool != "page" {
            let err = app.decide(&id, &ann, approve()).await.unwrap_err();
            assert!(
                matches!(err.code(), "not_pending" | "deadline_passed"),
                "{err}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_to_a_group_admits_only_its_members() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Manager).await;
    let olga = app.person("olga", Role::Approver).await;
    let id = propose(&app, &key, "scale", json!({ "n": 3 })).await;
    app.clock.advance(Duration::seconds(60));
    app.gate().sweep().await.unwrap();
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["escalated"]["to_text"], "the oncall group");
    let err = app.decide(&id, &ann, approve()).await.unwrap_err();
    assert!(err.to_string().contains("oncall"), "{err}");
    let done = app.decide(&id, &olga, approve()).await.unwrap();
    assert_eq!(done.status.as_str(), "approved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_reaches_a_waiting_long_poll_and_is_capped() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let viewer = app.person("vic", Role::Viewer).await;
    let id = propose(&app, &key, "deploy", json!({})).await;
    let first = app.get_call(&key, &id, None).await["deadline"].clone();

    let poll = app.long_poll(&key, &id, 30);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let view = app
        .gate()
        .extend(&id, &ann, 120, "on a call")
        .await
        .unwrap();
    let (seen, at) = poll.await.unwrap();
    assert!(at.duration_since(started) < std::time::Duration::from_secs(5));
    assert_eq!(seen["status"], "pending");
    assert_eq!(
        seen["deadline"],
        json!(view.deadline),
        "the agent sees the new deadline"
    );
    assert_ne!(seen["deadline"], first);
    assert_eq!(seen["extensions"], 1);

    // Bounded: more than the rule allows, no reason, a viewer, a third extension.
    let cases = [
        (121, "why", &ann, "cannot_extend"),
        (60, "  ", &ann, "invalid"),
        (60, "why", &viewer, "not_eligible"),
    ];
    for (secs, reason, who, code) in cases {
        let err = app.gate().extend(&id, who, secs, reason).await.unwrap_err();
        assert_eq!(
            err.code(),
            code,
            "{secs} {reason:?} {}: {err}",
            who.username
        );
    }
    app.gate().extend(&id, &ann, 60, "one more").await.unwrap();
    let err = app.gate().extend(&id, &ann, 60, "again").await.unwrap_err();
    assert_eq!(err.code(), "cannot_extend");
    assert!(err.to_string().contains("2 times"), "{err}");
    // The extended deadline holds: 60 + 120 + 60 s after the proposal.
    app.clock.advance(Duration::milliseconds(239_999));
    assert_eq!(app.get_call(&key, &id, None).await["status"], "pending");
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(app.get_call(&key, &id, None).await["status"], "expired");
    // Through the page's server function too.
    let id2 = propose(&app, &key, "deploy", json!({ "n": 2 })).await;
    let client = app.signed_in("ann2", Role::Approver).await;
    let res = app
        .rpc(
            &client,
            "extend",
            &[("id", &id2), ("minutes", "2"), ("reason", "lunch")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .rpc(
            &client,
            "extend",
            &[("id", &id2), ("minutes", "3"), ("reason", "lunch")],
        )
        .await;
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (409, "cannot_extend"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_five_approves_four_and_reports_the_fifth() {
    let (app, key) = setup().await;
    let client = app.signed_in("ann", Role::Approver).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(propose(&app, &key, "deploy", json!({ "n": n })).await);
    }
    let wire = propose(&app, &key, "wire", json!({ "amount": 100 })).await;
    ids.push(wire.clone());
    let mut lines = Vec::new();
    for id in &ids {
        lines.push(format!("{id} {}", app.candidate_hash(id).await));
    }
    let res = app
        .rpc(
            &client,
            "decide_batch",
            &[("calls", &lines.join("\n")), ("decision", "approve")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let outcomes: Vec<Value> = res.json().await.unwrap();
    assert_eq!(outcomes.len(), 5);
    for (o, id) in outcomes.iter().zip(&ids) {
        assert_eq!(o["id"], json!(id));
        if *id == wire {
            assert_eq!(o["outcome"], "left_out");
            assert!(
                o["why"].as_str().unwrap().contains("typed confirmation"),
                "{o}"
            );
            assert_eq!(app.get_call(&key, id, None).await["status"], "pending");
        } else {
            assert_eq!(o["outcome"], "approved", "{o}");
            assert_eq!(app.get_call(&key, id, None).await["status"], "approved");
        }
    }
    // Each call is reviewed for what it showed: a stale hash is left out, the rest denied.
    let a = propose(&app, &key, "deploy", json!({ "n": 10 })).await;
    let b = propose(&app, &key, "deploy", json!({ "n": 11 })).await;
    let lines = format!(
        "{a} {}\n{b} {}",
        app.candidate_hash(&a).await,
        "0".repeat(64)
    );
    let res = app
        .rpc(
            &client,
            "decide_batch",
            &[
                ("calls", &lines),
                ("decision", "deny"),
                ("reason_code", "out_of_scope"),
            ],
        )
        .await;
    let outcomes: Vec<Value> = res.json().await.unwrap();
    assert_eq!(outcomes[0]["outcome"], "denied");
    assert_eq!(outcomes[1]["outcome"], "left_out");
    let denied = app.get_call(&key, &a, None).await;
    assert_eq!(denied["denial"]["reason_code"], "out_of_scope");
    assert_eq!(denied["denial"]["retry"], true);
    assert!(denied["denial"]["feedback"]
        .as_str()
        .unwrap()
        .contains("outside the task"));
    // Too many at once is refused whole.
    let many: Vec<String> = (0..51).map(|i| format!("x{i} h")).collect();
    let res = app
        .rpc(
            &client,
            "decide_batch",
            &[("calls", &many.join("\n")), ("decision", "approve")],
        )
        .await;
    assert_eq!(error_of(res).await.0, 422);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_approves_identical_calls_until_its_uses_window_or_revocation() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let max = app.person("max", Role::Manager).await;
    let args = json!({ "service": "api", "reason": "stuck" });
    let first = propose(&app, &key, "restart", args.clone()).await;
    let ask = GrantAsk {
        secs: 1800,
        uses: 2,
        similar: false,
    };
    app.decide(
        &first,
        &ann,
        DecisionInput {
            grant: Some(ask),
            ..approve()
        },
    )
    .await
    .unwrap();

    // The next identical call is approved by the grant; a different one is not.
    let next = app
        .propose_ok(
            &key,
            json!({ "session": "s2", "tool": "restart", "args": args }),
        )
        .await;
    assert_eq!(next["status"], "approved", "{next}");
    let grant = next["approved_by"]["grant"]
        .as_i64()
        .expect("approved by a grant");
    let other = app
        .propose_ok(
            &key,
            json!({ "session": "s2", "tool": "restart", "args": { "service": "api", "reason": "other" } }),
        )
        .await;
    assert_eq!(other["status"], "pending", "identical only: {other}");
    // Its second use is its last.
    let again = app
        .propose_ok(
            &key,
            json!({ "session": "s3", "tool": "restart", "args": args }),
        )
        .await;
    assert_eq!(again["approved_by"]["grant"], grant);
    let used_up = app
        .propose_ok(
            &key,
            json!({ "session": "s4", "tool": "restart", "args": args }),
        )
        .await;
    assert_eq!(used_up["status"], "pending", "uses ran out");
    let view = app.get_call(&key, next["id"].as_str().unwrap(), None).await;
    assert_eq!(view["approved_by"]["grant"], grant);

    // A similar-calls grant (by /service), then its window ends.
    let third = used_up["id"].as_str().unwrap().to_string();
    app.decide(
        &third,
        &ann,
        DecisionInput {
            grant: Some(GrantAsk {
                secs: 600,
                uses: 3,
                similar: true,
            }),
            ..approve()
        },
    )
    .await
    .unwrap();
    let similar = app
        .propose_ok(
            &key,
            json!({ "session": "s5", "tool": "restart", "args": { "service": "api", "reason": "new" } }),
        )
        .await;
    assert_eq!(similar["status"], "approved", "same /service: {similar}");
    let web = app
        .propose_ok(
            &key,
            json!({ "session": "s5", "tool": "restart", "args": { "service": "web" } }),
        )
        .await;
    assert_eq!(web["status"], "pending", "another /service");
    app.clock.advance(Duration::seconds(600));
    app.gate().sweep_grants().await.unwrap();
    let late = app
        .propose_ok(
            &key,
            json!({ "session": "s6", "tool": "restart", "args": { "service": "api", "reason": "new" } }),
        )
        .await;
    assert_eq!(late["status"], "pending", "the window ended");

    // Revocation takes effect for the very next call; only its giver or a manager may.
    let fourth = web["id"].as_str().unwrap().to_string();
    app.decide(
        &fourth,
        &ann,
        DecisionInput {
            grant: Some(ask),
            ..approve()
        },
    )
    .await
    .unwrap();
    let grants = app.gate().grants(10).await.unwrap();
    let newest = grants[0].id;
    let bob = app.person("bob", Role::Approver).await;
    let err = app.gate().revoke_grant(newest, &bob).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
    app.gate().revoke_grant(newest, &max).await.unwrap();
    let after = app
        .propose_ok(
            &key,
            json!({ "session": "s7", "tool": "restart", "args": { "service": "web" } }),
        )
        .await;
    assert_eq!(after["status"], "pending", "revoked");
    assert_eq!(
        app.audit_details("grant.revoked")
            .await
            .iter()
            .filter(|(_, detail)| detail["grant"].as_i64() == Some(newest))
            .count(),
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_never_covers_more_than_its_rule_allows_now() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let args = json!({ "service": "db" });
    let id = propose(&app, &key, "restart", args.clone()).await;
    let ask = GrantAsk {
        secs: 1800,
        uses: 3,
        similar: false,
    };
    app.decide(
        &id,
        &ann,
        DecisionInput {
            grant: Some(ask),
            ..approve()
        },
    )
    .await
    .unwrap();
    // The same call claiming destructive risk is not covered.
    let risky = app
        .propose_ok(
            &key,
            json!({ "session": "s2", "tool": "restart", "args": args, "risk": ["destructive"] }),
        )
        .await;
    assert_eq!(risky["status"], "pending", "{risky}");
    // Once the rule no longer allows grants, the grant approves nothing.
    let mut tighter = policy();
    tighter["rules"][4]["effect"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.starts_with("grant_"));
    app.policy(tighter).await;
    let after = app
        .propose_ok(
            &key,
            json!({ "session": "s3", "tool": "restart", "args": args }),
        )
        .await;
    assert_eq!(after["status"], "pending", "{after}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_refused_beyond_what_the_rule_allows() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let cases = [
        (
            "deploy",
            json!({}),
            600,
            1,
            false,
            "allows no remembered grants",
        ),
        (
            "restart",
            json!({ "service": "a" }),
            1801,
            1,
            false,
            "lasts 1 minute to",
        ),
        (
            "restart",
            json!({ "service": "a" }),
            600,
            4,
            false,
            "1-3 uses",
        ),
        ("restart", json!({}), 600, 1, true, "no `/service`"),
        (
            "wire",
            json!({ "amount": 1 }),
            600,
            1,
            false,
            "allows no remembered grants",
        ),
    ];
    for (tool, args, secs, uses, similar, needle) in cases {
        let id = propose(&app, &key, tool, args).await;
        let err = app
            .decide(
                &id,
                &ann,
                DecisionInput {
                    grant: Some(GrantAsk {
                        secs,
                        uses,
                        similar,
                    }),
                    confirm: Some("wire 1".into()),
                    ..approve()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "grant_refused", "{tool}: {err}");
        assert!(err.to_string().contains(needle), "{tool}: {err}");
        assert_eq!(
            app.get_call(&key, &id, None).await["status"],
            "pending",
            "nothing recorded"
        );
    }
    // Claimed destructive risk: never, whatever the rule says.
    let id = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": { "service": "a" }, "risk": ["destructive"] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let err = app
        .decide(
            &id,
            &ann,
            DecisionInput {
                grant: Some(GrantAsk {
                    secs: 600,
                    uses: 1,
                    similar: false,
                }),
                ..approve()
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("destructive"), "{err}");
    app.stop().await;
}

/// "Do not retry" holds for what a call means: each other spelling of the denied
/// arguments, and another session, is denied at once as a repeat; another value is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_retry_holds_for_the_meaning_not_the_spelling() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let denied = r#"{ "count": 1, "target": "café", "opts": { "force": true } }"#;
    let id = propose(&app, &key, "deploy", serde_json::from_str(denied).unwrap()).await;
    app.decide(
        &id,
        &ann,
        DecisionInput {
            do_not_retry: true,
            ..deny("Never this one.")
        },
    )
    .await
    .unwrap();
    let spellings = [
        (
            "1.0 for 1",
            "s1",
            r#"{ "count": 1.0, "target": "café", "opts": { "force": true } }"#,
        ),
        (
            "1e0 for 1",
            "s1",
            r#"{ "count": 1e0, "target": "café", "opts": { "force": true } }"#,
        ),
        (
            "NFD text",
            "s1",
            "{ \"count\": 1, \"target\": \"cafe\u{301}\", \"opts\": { \"force\": true } }",
        ),
        (
            "an extra null key",
            "s1",
            r#"{ "count": 1, "target": "café", "opts": { "force": true, "dry_run": null } }"#,
        ),
        (
            "a zero-width space",
            "s1",
            "{ \"count\": 1, \"target\": \"caf\u{200B}é\", \"opts\": { \"force\": true } }",
        ),
        ("a new session", "s2", denied),
    ];
    for (what, session, args) in spellings {
        let body = format!(r#"{{ "session": "{session}", "tool": "deploy", "args": {args} }}"#);
        let res = app.propose_raw(&key, body).await;
        assert_eq!(res.status(), 201, "{what}");
        let repeat: Value = res.json().await.unwrap();
        assert_eq!(repeat["status"], "denied", "{what}: {repeat}");
        assert_eq!(repeat["denial"]["repeat_of"], json!(id), "{what}");
        assert_eq!(repeat["message"], "Never this one.", "{what}");
    }
    let inbox = app.gate().inbox(&Default::default(), None).await.unwrap();
    assert!(inbox.items.is_empty(), "no spelling reached the inbox");
    // Another value, or another tool, is a new call.
    for body in [
        json!({ "session": "s1", "tool": "deploy", "args": { "count": 2, "target": "café", "opts": { "force": true } } }),
        json!({ "session": "s1", "tool": "wipe", "args": serde_json::from_str::<Value>(denied).unwrap() }),
    ] {
        assert_eq!(app.propose_ok(&key, body).await["status"], "pending");
    }
    app.stop().await;
}

/// A denial recorded before do-not-retry compared meaning (kept by the migration with its
/// old hash marked `legacy:`) is re-keyed from its call's arguments when the gate starts,
/// and then holds for every spelling, in every session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_recorded_before_the_meaning_key_still_holds() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let id = propose(&app, &key, "deploy", json!({ "n": 1 })).await;
    app.decide(
        &id,
        &ann,
        DecisionInput {
            do_not_retry: true,
            ..deny("No.")
        },
    )
    .await
    .unwrap();
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "UPDATE no_retry SET args_hash = 'legacy:' || $1"
    )
    .bind(askfirst::store::json::hash(&json!({ "n": 1 })))
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    app.gate().reload_no_retry().await.unwrap();
    let legacy: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM no_retry WHERE args_hash LIKE 'legacy:%'"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(legacy, 0);
    let repeat = app
        .propose_raw(
            &key,
            r#"{ "session": "s9", "tool": "deploy", "args": { "n": 1.0 } }"#,
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(repeat["denial"]["repeat_of"], json!(id), "{repeat}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_not_retry_denial_answers_the_repeat_at_once() {
    let (app, key) = setup().await;
    let ann = app.person("ann", Role::Approver).await;
    let args = json!({ "env": "prod" });
    let id = propose(&app, &key, "deploy", args.clone()).await;
    app.decide(
        &id,
        &ann,
        DecisionInput {
            reason_code: Some("wrong_target".into()),
            do_not_retry: true,
            ..deny("Not prod, use staging.")
        },
    )
    .await
    .unwrap();
    let denied = app.get_call(&key, &id, None).await;
    assert_eq!(
        denied["denial"],
        json!({ "feedback": "Not prod, use staging.", "reason_code": "wrong_target", "retry": false })
    );

    // The repeat (same session, tool and arguments) is denied at once, with the feedback.
    let repeat = app
        .propose_ok(
            &key,
            json!({ "session": "s1", "tool": "deploy", "args": args }),
        )
        .await;
    assert_eq!(repeat["status"], "denied", "{repeat}");
    assert_eq!(repeat["message"], "Not prod, use staging.");
    assert_eq!(repeat["denial"]["retry"], false);
    assert_eq!(repeat["denial"]["repeat_of"], json!(id));
    let inbox = app.gate().inbox(&Default::default(), None).await.unwrap();
    assert!(inbox.items.is_empty(), "it never reached the inbox");
    // Other arguments are a new call (another session is not: see
    // `do_not_retry_holds_for_the_meaning_not_the_spelling`).
    let other = json!({ "session": "s1", "tool": "deploy", "args": { "env": "staging" } });
    assert_eq!(app.propose_ok(&key, other).await["status"], "pending");
    // After the window (a day by default) the repeat reaches people again.
    app.clock.advance(Duration::days(1));
    let later = app
        .propose_ok(
            &key,
            json!({ "session": "s1", "tool": "deploy", "args": args }),
        )
        .await;
    assert_eq!(later["status"], "pending");

    // A reason code must be a preset; an admin edits the presets.
    let id = propose(&app, &key, "deploy", json!({ "x": 1 })).await;
    let err = app
        .decide(
            &id,
            &ann,
            DecisionInput {
                reason_code: Some("made_up".into()),
                ..deny("no")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    let admin = app.signed_in("ada", Role::Admin).await;
    let res = app
        .rpc(
            &admin,
            "denial_reasons_save",
            &[("reasons", "made_up: Made up.\nbad code: x")],
        )
        .await;
    assert_eq!(error_of(res).await.0, 422);
    let res = app
        .rpc(
            &admin,
            "denial_reasons_save",
            &[("reasons", "made_up: Made up.")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let view = app
        .decide(
            &id,
            &ann,
            DecisionInput {
                reason_code: Some("made_up".into()),
                feedback: None,
                ..deny("")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        view.message.as_deref(),
        Some("Made up."),
        "the preset's words"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_grants_to_a_rule_is_a_loosening_change() {
    use askfirst::domain::policy::{Effect, Policy};
    let (app, _) = setup().await;
    let before: Policy = serde_json::from_value(policy()).unwrap();
    let mut after = before.clone();
    if let Some(Effect::Gate(g)) = &mut after.rules[0].effect {
        g.grant_max_secs = Some(1800);
    }
    let c = askfirst::domain::policy_change::classify(&before, &after);
    assert!(c.loosening, "{:?}", c.findings);
    assert!(
        c.findings
            .iter()
            .any(|f| f.loosens && format!("{} {}", f.change, f.why).contains("grants")),
        "{:?}",
        c.findings
    );
    // And a group gaining a member.
    let mut wider = before.clone();
    wider.groups.get_mut("oncall").unwrap().push("zed".into());
    assert!(askfirst::domain::policy_change::classify(&before, &wider).loosening);
    // Grants on a rule gating destructive calls are refused in config.
    let bad: Result<askfirst::policy::CompiledPolicy, _> =
        askfirst::policy::CompiledPolicy::compile(
            &serde_json::from_value(json!({
                "default_effect": { "kind": "allow" },
                "rules": [{ "name": "d", "match": { "risk_any": ["destructive"] },
                            "effect": { "kind": "gate", "grant_max_secs": 600 } }]
            }))
            .unwrap(),
        );
    assert!(bad.unwrap_err().to_string().contains("destructive"));
    app.stop().await;
}

/// A group narrows who may decide after an escalation; it never lowers the rule's role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_to_a_group_never_lowers_the_rules_role() {
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "groups": { "oncall": ["olga", "max"] },
        "rules": [
            { "name": "gate-resize", "match": { "tool": "resize" },
              "effect": { "kind": "gate", "approver_role": "manager", "deadline_secs": 60,
                          "on_deadline": "escalate", "escalate_to": "group:oncall" } },
            { "name": "gate-page", "match": { "tool": "page" },
              "effect": { "kind": "gate", "approver_role": "manager", "deadline_secs": 60,
                          "on_deadline": "escalate", "escalate_to": "group:oncall",
                          "escalate_overrides_role": true } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    let olga = app.person("olga", Role::Approver).await;
    let max = app.person("max", Role::Manager).await;
    let id = propose(&app, &key, "resize", json!({ "n": 3 })).await;
    app.clock.advance(Duration::seconds(60));
    app.gate().sweep().await.unwrap();
    let view = app.get_call(&key, &id, None).await;
    assert_eq!(view["escalated"]["to_text"], "the oncall group");
    let err = app.decide(&id, &olga, approve()).await.unwrap_err();
    assert_eq!(err.code(), "not_eligible", "{err}");
    assert!(err.to_string().contains("manager"), "{err}");
    let done = app.decide(&id, &max, approve()).await.unwrap();
    assert_eq!(done.status.as_str(), "approved");

    // Unless the policy declares the group decides whatever its members' roles; the card
    // says so.
    let id = propose(&app, &key, "page", json!({ "n": 1 })).await;
    app.clock.advance(Duration::seconds(60));
    app.gate().sweep().await.unwrap();
    let view = app.get_call(&key, &id, None).await;
    assert!(
        view["escalated"]["to_text"]
            .as_str()
            .unwrap()
            .contains("whatever their role"),
        "{view}"
    );
    let done = app.decide(&id, &olga, approve()).await.unwrap();
    assert_eq!(done.status.as_str(), "approved");
    app.stop().await;
}

/// A grant answers to its giver and its rule at every use: when its giver is disabled or
/// demoted, when the rule comes to need a higher role, or when a call claims more risk,
/// the grant ends (with an audit event saying why) and the call waits for people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_ends_when_its_giver_or_its_rule_no_longer_stand_behind_it() {
    use askfirst::auth::service::{self, Actor};
    #[derive(Debug, Clone, Copy)]
    enum Change {
        GiverDisabled,
        GiverDemoted,
        RuleRaised,
        MoreRisk,
    }
    for change in [
        Change::GiverDisabled,
        Change::GiverDemoted,
        Change::RuleRaised,
        Change::MoreRisk,
    ] {
        let (app, key) = setup().await;
        let ann = app.person("ann", Role::Approver).await;
        let args = json!({ "service": "db" });
        let id = propose(&app, &key, "restart", args.clone()).await;
        app.decide(
            &id,
            &ann,
            DecisionInput {
                grant: Some(GrantAsk {
                    secs: 1800,
                    uses: 3,
                    similar: false,
                }),
                ..approve()
            },
        )
        .await
        .unwrap();
        let covered = app
            .propose_ok(
                &key,
                json!({ "session": "s2", "tool": "restart", "args": args }),
            )
            .await;
        let grant = covered["approved_by"]["grant"]
            .as_i64()
            .unwrap_or_else(|| panic!("{change:?}: the grant approves first: {covered}"));
        let mut risk = json!([]);
        let pool = app.pool();
        match change {
            Change::GiverDisabled => {
                service::set_disabled(pool, app.clock.as_ref(), Actor::Cli, "ann", true)
                    .await
                    .unwrap()
            }
            Change::GiverDemoted => {
                service::set_role(pool, app.clock.as_ref(), Actor::Cli, "ann", Role::Viewer)
                    .await
                    .map(|_| ())
                    .unwrap()
            }
            Change::RuleRaised => {
                let mut raised = policy();
                raised["rules"][4]["effect"]["approver_role"] = json!("manager");
                app.policy(raised).await;
            }
            Change::MoreRisk => risk = json!(["customer_facing"]),
        }
        let after = app
            .propose_ok(
                &key,
                json!({ "session": "s3", "tool": "restart", "args": args, "risk": risk }),
            )
            .await;
        assert_eq!(after["status"], "pending", "{change:?}: {after}");
        let ended: Vec<_> = app
            .audit_details("grant.ended")
            .await
            .into_iter()
            .filter(|(_, d)| d["grant"].as_i64() == Some(grant))
            .collect();
        assert_eq!(ended.len(), 1, "{change:?}: one grant.ended event");
        let why = ended[0].1["why"].as_str().unwrap_or_default().to_string();
        let want = match change {
            Change::GiverDisabled => "disabled",
            Change::GiverDemoted => "viewer",
            Change::RuleRaised => "manager",
            Change::MoreRisk => "more risk",
        };
        assert!(why.contains(want), "{change:?}: {why}");
        let status = app.gate().grants(10).await.unwrap()[0].status;
        assert_eq!(status.as_str(), "ended", "{change:?}");
        // Ended for good: the next identical call, risk or not, waits too.
        let again = app
            .propose_ok(
                &key,
                json!({ "session": "s4", "tool": "restart", "args": args }),
            )
            .await;
        assert_eq!(again["status"], "pending", "{change:?}: {again}");
        app.stop().await;
    }
}
