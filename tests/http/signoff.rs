//! Sign-off: bypass requests and loosening policy changes, reviewed by managers through the
//! review engine, with an injected clock.

use crate::support::{error_of, TestApp};
use askfirst::domain::bypass::{BypassStatus, Scope};
use askfirst::domain::policy::{ArgCondition, ArgOp};
use askfirst::domain::review::Verdict;
use askfirst::domain::{AppError, Role, UserView};
use askfirst::gate::bypass::BypassRequest;
use askfirst::gate::signoff::SignoffInput;
use chrono::Duration;
use serde_json::{json, Value};

/// Deny `rm`, gate `deploy`, gate `wire` with a typed phrase; allow the rest.
fn policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "no-rm", "match": { "tool": "rm" },
              "effect": { "kind": "deny", "message": "never" } },
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "approvals_required": 1 } },
            { "name": "gate-wire", "match": { "tool": "wire" },
              "effect": { "kind": "gate", "confirm": "wire {/amount}" } },
            { "name": "gate-rm-ish", "match": { "tool": "rm*" },
              "effect": { "kind": "gate" } }
        ]
    })
}

/// How many audit events of `kind` name subject `id` under `key` (`bypass`, `change`).
async fn events(app: &TestApp, kind: &str, key: &str, id: i64) -> i64 {
    app.audit_details(kind)
        .await
        .iter()
        .filter(|(_, detail)| detail[key].as_i64() == Some(id))
        .count() as i64
}

const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn request(tool: &str, env: Option<&str>) -> BypassRequest {
    BypassRequest {
        scope: Scope {
            agent: None,
            tool: tool.into(),
            args: env
                .map(|e| {
                    vec![ArgCondition {
                        pointer: "/env".into(),
                        op: ArgOp::Glob,
                        value: Some(e.into()),
                    }]
                })
                .unwrap_or_default(),
        },
        window_secs: 3600,
        reason: "release day".into(),
        include_confirmation: false,
    }
}

async fn review(
    app: &TestApp,
    id: i64,
    who: &UserView,
    verdict: Verdict,
    hash: Option<&str>,
) -> Result<BypassStatus, String> {
    let stored = app.gate().bypass_page(id, who).await.unwrap().bypass.hash;
    app.gate()
        .review_bypass(
            id,
            who,
            SignoffInput {
                verdict,
                comment: (verdict == Verdict::Deny).then(|| "not today".into()),
                shown_hash: hash.map_or(stored, str::to_string),
            },
        )
        .await
        .map(|v| v.status)
        .map_err(|e: AppError| e.code().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_sequences() {
    let app = TestApp::spawn().await;
    let approver = app.person("ria", Role::Approver).await;
    let manager = app.person("mia", Role::Manager).await;
    let admin = app.person("ada", Role::Admin).await;
    let ann = app.person("ann", Role::Manager).await;
    let bo = app.person("bo", Role::Manager).await;
    let cy = app.person("cy", Role::Manager).await;
    let dan = app.person("dan", Role::Manager).await;
    let viewer = app.person("vic", Role::Viewer).await;

    use Verdict::{Approve, Deny};
    type Step<'a> = (
        &'a UserView,
        Verdict,
        Option<&'a str>,
        Result<BypassStatus, &'a str>,
    );
    let pending = Ok(BypassStatus::Pending);
    let active = Ok(BypassStatus::Active);
    let cases: Vec<(&str, &UserView, Vec<Step>)> = vec![
        (
            "two distinct managers activate it",
            &approver,
            vec![
                (&ann, Approve, None, pending),
                (&bo, Approve, None, active),
                (&cy, Approve, None, Err("already_resolved")),
                (&cy, Deny, None, Err("already_resolved")),
            ],
        ),
        (
            "a manager who asked cannot approve",
            &manager,
            vec![
                (&manager, Approve, None, Err("self_review")),
                (&ann, Approve, None, pending),
                (&bo, Approve, None, active),
            ],
        ),
        (
            "an admin who asked cannot approve either",
            &admin,
            vec![
                (&admin, Approve, None, Err("self_review")),
                (&ann, Approve, None, pending),
            ],
        ),
        (
            "the same manager twice",
            &approver,
            vec![
                (&ann, Approve, None, pending),
                (&ann, Approve, None, Err("duplicate_reviewer")),
                (&ann, Deny, None, Err("duplicate_reviewer")),
            ],
        ),
        (
            "one deny vetoes",
            &approver,
            vec![
                (&ann, Approve, None, pending),
                (&bo, Deny, None, Ok(BypassStatus::Denied)),
                (&cy, Approve, None, Err("already_resolved")),
            ],
        ),
        (
            "a review of another hash",
            &approver,
            vec![
                (&ann, Approve, Some(ZERO), Err("stale_view")),
                (&ann, Approve, None, pending),
            ],
        ),
        (
            "approvers and viewers are not eligible",
            &manager,
            vec![
                (&approver, Approve, None, Err("not_eligible")),
                (&viewer, Approve, None, Err("not_eligible")),
                (&admin, Approve, None, pending),
                (&dan, Approve, None, active),
            ],
        ),
    ];
    for (what, requester, steps) in cases {
        let id = app
            .gate()
            .request_bypass(requester, request("deploy", Some("staging*")))
            .await
            .unwrap()
            .id;
        for (i, (who, verdict, hash, want)) in steps.into_iter().enumerate() {
            let got = review(&app, id, who, verdict, hash).await;
            assert_eq!(got, want.map_err(str::to_string), "{what}, step {}", i + 1);
        }
    }

    // A deny needs a comment.
    let id = app
        .gate()
        .request_bypass(&approver, request("deploy", None))
        .await
        .unwrap()
        .id;
    let hash = app.gate().bypass_page(id, &ann).await.unwrap().bypass.hash;
    let err = app
        .gate()
        .review_bypass(
            id,
            &ann,
            SignoffInput {
                verdict: Deny,
                comment: Some("  ".into()),
                shown_hash: hash,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");

    // Eligibility is checked again at the threshold: a manager disabled (or demoted) after
    // approving no longer counts.
    assert_eq!(
        review(&app, id, &ann, Approve, None).await,
        Ok(BypassStatus::Pending)
    );
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ann",
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        review(&app, id, &bo, Approve, None).await,
        Ok(BypassStatus::Pending)
    );
    let page = app.gate().bypass_page(id, &cy).await.unwrap();
    assert_eq!(
        (page.bypass.approvals, page.bypass.approvals_required),
        (1, 2)
    );
    assert_eq!(
        review(&app, id, &cy, Approve, None).await,
        Ok(BypassStatus::Active)
    );

    // An account created after the request never signs it off (an admin cannot make the
    // managers they need).
    let id = app
        .gate()
        .request_bypass(&admin, request("deploy", None))
        .await
        .unwrap()
        .id;
    app.clock.advance(Duration::seconds(1));
    let newcomer = app.person("newcomer", Role::Manager).await;
    assert_eq!(
        review(&app, id, &newcomer, Approve, None).await,
        Err("not_eligible".to_string())
    );
    let page = app.gate().bypass_page(id, &newcomer).await.unwrap();
    assert!(
        page.cannot_review.unwrap().contains("created after"),
        "the page says why"
    );

    // The request expires at its deadline, not a millisecond before.
    let id = app
        .gate()
        .request_bypass(&approver, request("deploy", None))
        .await
        .unwrap()
        .id;
    let expires = app
        .gate()
        .bypass_page(id, &bo)
        .await
        .unwrap()
        .bypass
        .expires_at_ms;
    let now = askfirst::clock::to_millis(app.now());
    app.clock.advance(Duration::milliseconds(expires - now - 1));
    assert_eq!(
        review(&app, id, &bo, Approve, None).await,
        Ok(BypassStatus::Pending)
    );
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(
        review(&app, id, &cy, Approve, None).await,
        Err("already_resolved".to_string())
    );
    assert_eq!(
        app.gate().bypass_page(id, &cy).await.unwrap().bypass.status,
        BypassStatus::Expired
    );
    let expired = events(&app, "bypass.expired", "bypass", id).await;
    assert_eq!(expired, 1, "one audit event for the expiry");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_bypass_approves_matching_gated_calls_until_revoked_or_ended() {
    let app = TestApp::spawn().await;
    app.policy(policy()).await;
    let (key, _) = app.agent("ci-bot").await;
    let (other_key, _) = app.agent("ops-bot").await;
    let ria = app.person("ria", Role::Approver).await;
    let ann = app.person("ann", Role::Manager).await;
    let bo = app.person("bo", Role::Manager).await;

    let mut req = request("*", Some("staging*"));
    req.scope.agent = Some("ci-*".into());
    let id = app.gate().request_bypass(&ria, req).await.unwrap().id;
    let call = |key: &str, tool: &str, args: Value| {
        let (app, key, tool) = (&app, key.to_string(), tool.to_string());
        async move {
            app.propose_ok(&key, json!({ "session": "s", "tool": tool, "args": args }))
                .await
        }
    };
    // Pending: nothing is approved yet.
    let p = call(&key, "deploy", json!({ "env": "staging" })).await;
    assert_eq!(p["status"], "pending");
    review(&app, id, &ann, Verdict::Approve, None)
        .await
        .unwrap();
    assert_eq!(
        review(&app, id, &bo, Verdict::Approve, None).await,
        Ok(BypassStatus::Active)
    );

    let p = call(&key, "deploy", json!({ "env": "staging-eu" })).await;
    assert_eq!(
        (p["status"].clone(), p["approved_by"].clone()),
        (json!("approved"), json!({ "bypass": id }))
    );
    let view = app.get_call(&key, p["id"].as_str().unwrap(), None).await;
    assert_eq!(view["approved_by"], json!({ "bypass": id }));
    // What the bypass approved can be executed, once.
    let res = app
        .call_action(&key, p["id"].as_str().unwrap(), "execute")
        .await;
    assert_eq!(res.status(), 200);
    // Nobody decided it: the insights count it as bypassed, never as a person's approval
    // (else a bypass would build the evidence for a permanent ungate).
    app.gate().roll_up_all().await.unwrap();
    let (bypassed, approved): (i64, i64) = askfirst::on!(app.pool(), |cn| {
        sqlx::query_as(
        "SELECT CAST(SUM(bypassed) AS BIGINT), CAST(SUM(approved) AS BIGINT) FROM insight_rollups",
    )
    .fetch_one(cn)
    .await
    })
    .unwrap();
    assert_eq!((bypassed, approved), (1, 0));
    let in_row: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT MAX(approvals_in_row) FROM insight_patterns"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(in_row, 0);
    // Out of scope: another environment, another agent, a policy deny, a typed phrase.
    assert_eq!(
        call(&key, "deploy", json!({ "env": "production" })).await["status"],
        "pending"
    );
    assert_eq!(
        call(&other_key, "deploy", json!({ "env": "staging" })).await["status"],
        "pending"
    );
    assert_eq!(
        call(&key, "rm", json!({ "env": "staging" })).await["status"],
        "denied"
    );
    assert_eq!(
        call(&key, "rmdir", json!({ "env": "staging" })).await["status"],
        "approved"
    );
    assert_eq!(
        call(&key, "wire", json!({ "env": "staging", "amount": 5 })).await["status"],
        "pending",
        "typed-confirmation gates are bypassed only when the request said so"
    );
    assert_eq!(
        call(&key, "read", json!({ "env": "staging" })).await["status"],
        "allowed"
    );

    // Agents can see what covers them.
    let list: Value = reqwest::Client::new()
        .get(app.url("/api/v1/bypasses"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["approved_by"], json!(["ann", "bo"]));
    let none: Value = reqwest::Client::new()
        .get(app.url("/api/v1/bypasses"))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // Revoking takes effect for the very next call.
    let revoked = app.gate().revoke_bypass(id, &ria).await.unwrap();
    assert_eq!(revoked.status, BypassStatus::Revoked);
    assert_eq!(revoked.used, 2);
    assert_eq!(
        call(&key, "deploy", json!({ "env": "staging" })).await["status"],
        "pending"
    );
    let err = app.gate().revoke_bypass(id, &ann).await.unwrap_err();
    assert_eq!(err.code(), "not_active");

    // A second bypass, with confirmation included, ends exactly at its window's end.
    let mut req = request("wire", None);
    req.include_confirmation = true;
    req.window_secs = 600;
    let id2 = app.gate().request_bypass(&ria, req).await.unwrap().id;
    review(&app, id2, &ann, Verdict::Approve, None)
        .await
        .unwrap();
    review(&app, id2, &bo, Verdict::Approve, None)
        .await
        .unwrap();
    app.clock
        .advance(Duration::seconds(600) - Duration::milliseconds(1));
    let p = call(&key, "wire", json!({ "amount": 9 })).await;
    assert_eq!(p["approved_by"], json!({ "bypass": id2 }));
    app.clock.advance(Duration::milliseconds(1));
    assert_eq!(
        call(&key, "wire", json!({ "amount": 9 })).await["status"],
        "pending"
    );
    // The sweeper records the end once.
    let mut ended = 0;
    for _ in 0..60 {
        ended = events(&app, "bypass.ended", "bypass", id2).await;
        if ended > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let again = events(&app, "bypass.ended", "bypass", id2).await;
    assert_eq!((ended, again), (1, 1));
    let uses = events(&app, "bypass.used", "bypass", id).await;
    assert_eq!(uses, 2, "one audit event per call a bypass approved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_reviews_activate_exactly_once() {
    let app = TestApp::spawn().await;
    let ria = app.person("ria", Role::Approver).await;
    let mut managers = Vec::new();
    for i in 0..8 {
        managers.push(app.person(&format!("m{i}"), Role::Manager).await);
    }
    let id = app
        .gate()
        .request_bypass(&ria, request("deploy", None))
        .await
        .unwrap()
        .id;
    let hash = app.gate().bypass_page(id, &ria).await.unwrap().bypass.hash;
    let mut tasks = Vec::new();
    for m in managers {
        let gate = app.gate().clone();
        let hash = hash.clone();
        tasks.push(tokio::spawn(async move {
            gate.review_bypass(
                id,
                &m,
                SignoffInput {
                    verdict: Verdict::Approve,
                    comment: None,
                    shown_hash: hash,
                },
            )
            .await
            .map(|v| v.status)
            .map_err(|e| e.code())
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let activated = outcomes
        .iter()
        .filter(|o| **o == Ok(BypassStatus::Active))
        .count();
    let recorded = outcomes
        .iter()
        .filter(|o| **o == Ok(BypassStatus::Pending))
        .count();
    let resolved = outcomes
        .iter()
        .filter(|o| **o == Err("already_resolved"))
        .count();
    assert_eq!((recorded, activated, resolved), (1, 1, 6), "{outcomes:?}");
    let events = events(&app, "bypass.activated", "bypass", id).await;
    assert_eq!(events, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_settings_are_checked() {
    let app = TestApp::spawn().await;
    let ria = app.person("ria", Role::Approver).await;
    let vic = app.person("vic", Role::Viewer).await;
    let ada = app.person("ada", Role::Admin).await;
    app.person("ann", Role::Manager).await;
    let gate = app.gate();

    let err = gate
        .request_bypass(&vic, request("deploy", None))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403, "viewers cannot ask");
    let cases: Vec<(&str, BypassRequest, &str)> = vec![
        (
            "no reason",
            BypassRequest {
                reason: " ".into(),
                ..request("deploy", None)
            },
            "justification",
        ),
        (
            "window over the cap",
            BypassRequest {
                window_secs: 86_401,
                ..request("deploy", None)
            },
            "window",
        ),
        ("bad glob", request("deploy[", None), "tool"),
        (
            "long reason",
            BypassRequest {
                reason: "x".repeat(2001),
                ..request("deploy", None)
            },
            "longer",
        ),
    ];
    for (what, req, part) in cases {
        let err = gate.request_bypass(&ria, req).await.unwrap_err();
        assert!(
            err.status() == 422 && err.to_string().contains(part),
            "{what}: {err}"
        );
    }

    // Two managers-or-admins (ann, ada): two approvals need three.
    let err = gate
        .set_signoff_settings(
            "user:ada",
            askfirst::domain::signoff::SignoffSettings::default(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("at least 3 active managers"),
        "{err}"
    );
    app.person("bo", Role::Manager).await;
    let settings = askfirst::domain::signoff::SignoffSettings {
        approvals: 2,
        max_window_secs: 7 * 86_400,
        request_ttl_secs: 3600,
        ..Default::default()
    };
    gate.set_signoff_settings("user:ada", settings)
        .await
        .unwrap();
    let long = BypassRequest {
        window_secs: 3 * 86_400,
        ..request("deploy", None)
    };
    let b = gate.request_bypass(&ria, long).await.unwrap();
    assert_eq!(
        b.expires_at_ms - askfirst::clock::to_millis(app.now()),
        3_600_000
    );
    let _ = ada;

    // One person has at most 20 requests waiting.
    let rex = app.person("rex", Role::Approver).await;
    for _ in 0..askfirst::domain::signoff::MAX_PENDING_PER_PERSON {
        gate.request_bypass(&rex, request("deploy", None))
            .await
            .unwrap();
    }
    let err = gate
        .request_bypass(&rex, request("deploy", None))
        .await
        .unwrap_err();
    assert_eq!(err.status(), 409, "{err}");

    // Through the server functions: a viewer or approver forging a review is refused.
    let hash = b.hash.clone();
    for (name, role) in [("v2", Role::Viewer), ("a2", Role::Approver)] {
        let client = app.signed_in(name, role).await;
        let res = app
            .rpc(
                &client,
                "signoff_review",
                &[
                    ("kind", "bypass"),
                    ("id", &b.id.to_string()),
                    ("verdict", "approve"),
                    ("hash", &hash),
                ],
            )
            .await;
        assert_eq!(error_of(res).await.0, 403, "{role}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_policy_change_is_rebased_by_its_author_which_voids_its_reviews() {
    let app = TestApp::spawn().await;
    app.policy(policy()).await;
    let (key, _) = app.agent("bot").await;
    let ada = app.person("ada", Role::Admin).await;
    let bea = app.person("bea", Role::Admin).await;
    let ann = app.person("ann", Role::Manager).await;
    let bo = app.person("bo", Role::Manager).await;
    let gate = app.gate();
    let in_force = gate.policy().policy().clone();

    // Ada loosens: deploys allowed.
    let mut loosened = in_force.clone();
    loosened.rules.retain(|r| r.name != "gate-deploy");
    let saved = gate
        .save_policy(askfirst::gate::policy_admin::SavePolicy {
            policy: loosened,
            base: None,
            author: "user:ada".into(),
            author_id: Some(ada.id.clone()),
            comment: "deploys are routine now".into(),
            confirm_loosening: true,
        })
        .await
        .unwrap();
    let change = saved.pending.unwrap();
    let review = |who: &UserView, hash: String| {
        let who = who.clone();
        async move {
            gate.review_change(
                change,
                &who,
                SignoffInput {
                    verdict: Verdict::Approve,
                    comment: None,
                    shown_hash: hash,
                },
            )
            .await
            .map_err(|e| e.code().to_string())
        }
    };
    let first_hash = gate.policy_change(change).await.unwrap().hash;
    review(&ann, first_hash.clone()).await.unwrap();

    // Bea tightens meanwhile (applies at once): Ada's change is now stale.
    let mut tightened = in_force.clone();
    tightened.rules.insert(
        0,
        serde_json::from_value(json!({ "name": "no-drop", "match": { "tool": "drop" },
            "effect": { "kind": "deny", "message": "no" } }))
        .unwrap(),
    );
    let applied = gate
        .save_policy(askfirst::gate::policy_admin::SavePolicy {
            policy: tightened,
            base: None,
            author: "user:bea".into(),
            author_id: Some(bea.id.clone()),
            comment: "never drop".into(),
            confirm_loosening: false,
        })
        .await
        .unwrap();
    assert!(applied.version.is_some() && applied.pending.is_none());
    assert_eq!(
        review(&bo, first_hash.clone()).await,
        Err("needs_rebase".into())
    );

    // Only its author may re-base; doing so voids Ann's approval.
    assert_eq!(
        gate.rebase_change(change, &bea).await.unwrap_err().status(),
        403
    );
    let rebased = gate.rebase_change(change, &ada).await.unwrap();
    assert_eq!((rebased.candidate, rebased.approvals), (2, 0));
    assert!(rebased.reviews.iter().all(|r| !r.counts && !r.current));
    assert_eq!(review(&bo, first_hash).await, Err("stale_view".into()));
    review(&bo, rebased.hash.clone()).await.unwrap();
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "pending"
    );
    let done = review(&ann, rebased.hash.clone()).await.unwrap();
    assert_eq!(done.applied_version, Some(applied.version.unwrap() + 1));
    // Both changes are in force: deploys allowed, drops denied.
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "allowed"
    );
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "drop" }))
            .await["status"],
        "denied"
    );
    let voided = events(&app, "policy.change.voided", "change", change).await;
    assert_eq!(voided, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_revoked_bypass_no_longer_approves_still_fits_under_the_pending_cap() {
    let app = TestApp::spawn().await;
    app.policy(policy()).await;
    let (key, _) = app.agent("ci-bot").await;
    let admin = app.person("ada", Role::Admin).await;
    app.gate()
        .set_limits(
            &format!("user:{}", admin.username),
            askfirst::domain::limits::Limits {
                max_pending_per_agent: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ria = app.person("ria", Role::Approver).await;
    let ann = app.person("ann", Role::Manager).await;
    let bo = app.person("bo", Role::Manager).await;
    let id = app
        .gate()
        .request_bypass(&ria, request("deploy", Some("staging*")))
        .await
        .unwrap()
        .id;
    let first = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "prod" } }),
        )
        .await;
    assert_eq!(
        first["status"], "pending",
        "the one pending call the cap allows"
    );
    review(&app, id, &ann, Verdict::Approve, None)
        .await
        .unwrap();
    review(&app, id, &bo, Verdict::Approve, None).await.unwrap();
    // The bypass ends in the database while the server still holds it as active (as a
    // revocation racing a proposal would): the call falls back to pending, over the cap.
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "UPDATE bypasses SET status = 'revoked' WHERE id = $1"
    )
    .bind(id)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let res = app
        .propose(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "staging" } }),
        )
        .await;
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (429, "too_many_pending"));
    let pending = app
        .count("SELECT COUNT(*) FROM calls WHERE status = 'pending' AND agent_id = (SELECT id FROM agents WHERE name = $1)", "ci-bot")
        .await;
    assert_eq!(pending, 1);
    app.stop().await;
}
