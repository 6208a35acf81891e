//! One admin, with no second person taking part, tries every account change they can make
//! alone — promote, demote and promote again, disable and enable, reset a password and set
//! a new one, make new accounts, edit groups, change the sign-off settings mid-review — to
//! satisfy the sign-off of a bypass they asked for and of a loosening policy change they
//! wrote. Every sequence must leave both waiting, through the browser's server functions
//! and through the CLI alike. A control row (nobody touched) shows the same reviews would
//! otherwise have counted.

use crate::process::cli;
use crate::support::{error_of, fresh_database, TestApp};
use askfirst::domain::bypass::{BypassStatus, Scope};
use askfirst::domain::change_request::ChangeStatus;
use askfirst::domain::Role;
use askfirst::gate::bypass::BypassRequest;
use chrono::{Duration, Utc};
use reqwest::Client;
use serde_json::json;

const PASSWORD: &str = "a long enough password";
const TEMPORARY: &str = "temporary password 1";
const CHOSEN: &str = "the attacker's own choice";

/// What the admin does after filing, through which door.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Role change.
    Role(&'static str, Role),
    Disable(&'static str),
    Enable(&'static str),
    /// Reset the password, then sign in with the temporary one and choose a new one (the
    /// admin knows both).
    Reset(&'static str),
    /// A new account with a password the admin chose.
    Create(&'static str, Role),
    /// Sign-off settings: no cooling-off after resets.
    NoCooling,
    /// A policy group with these members (the save itself loosens, so it waits too).
    Group(&'static str, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Browser,
    Cli,
}

struct Row {
    name: &'static str,
    via: Via,
    steps: Vec<Step>,
    /// Who then approves both subjects, and with which password.
    reviewers: [(&'static str, &'static str); 2],
    /// Whether the bypass and the change end up approved (only the control row).
    approved: bool,
}

fn policy() -> serde_json::Value {
    json!({
        "default_effect": { "kind": "allow" },
        "groups": { "crew": ["m1"] },
        "rules": [
            { "name": "gate-deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "deadline_secs": 60, "on_deadline": "escalate",
                          "escalate_to": "group:crew" } }
        ]
    })
}

/// Runs one row on a fresh server whose clock starts a minute in the past (the CLI acts on
/// the real clock, so everything it does happens after the filing, as in life).
async fn run(row: &Row) {
    let (app, _dir, ada, bypass) = filed(&[
        ("ada", Role::Admin),
        ("m1", Role::Manager),
        ("m2", Role::Manager),
        ("a1", Role::Approver),
        ("a2", Role::Approver),
    ])
    .await;
    let gate = app.gate();
    let mut loosened = gate.policy().policy().clone();
    loosened.rules.clear();
    let change = gate
        .save_policy(askfirst::gate::policy_admin::SavePolicy {
            policy: loosened,
            base: None,
            author: "user:ada".into(),
            author_id: Some(ada.id.clone()),
            comment: "deploys are routine now".into(),
            confirm_loosening: true,
        })
        .await
        .unwrap()
        .pending
        .expect("a loosening change waits for sign-off");
    app.clock.advance(Duration::seconds(1));

    let admin = signed_in(&app, "ada", PASSWORD).await;
    for step in &row.steps {
        act(&app, &admin, row.via, *step).await;
        app.clock.advance(Duration::seconds(1));
    }

    let bypass_hash = gate.bypass_page(bypass, &ada).await.unwrap().bypass.hash;
    let change_hash = gate.policy_change(change).await.unwrap().hash;
    for (who, password) in row.reviewers {
        let client = signed_in(&app, who, password).await;
        for (kind, id, hash) in [
            ("bypass", bypass, &bypass_hash),
            ("policy_change", change, &change_hash),
        ] {
            let res = app
                .rpc(
                    &client,
                    "signoff_review",
                    &[
                        ("kind", kind),
                        ("id", &id.to_string()),
                        ("verdict", "approve"),
                        ("hash", hash),
                    ],
                )
                .await;
            if row.approved {
                assert!(res.status().is_success(), "{}: {who} on {kind}", row.name);
            } else {
                let (status, code, message) = error_of(res).await;
                assert!(
                    code == "not_eligible" || (status == 403 && code == "forbidden"),
                    "{}: {who} on {kind} was answered {status} {code}: {message}",
                    row.name
                );
            }
        }
    }
    let bypass_now = gate.bypass_page(bypass, &ada).await.unwrap().bypass.status;
    let change_now = gate.policy_change(change).await.unwrap().status;
    if row.approved {
        assert_eq!(bypass_now, BypassStatus::Active, "{}", row.name);
        assert_eq!(change_now, ChangeStatus::Applied, "{}", row.name);
    } else {
        assert_eq!(bypass_now, BypassStatus::Pending, "{}", row.name);
        assert_eq!(change_now, ChangeStatus::Pending, "{}", row.name);
        assert!(
            !gate.policy().policy().rules.is_empty(),
            "{}: the loosening change was not applied",
            row.name
        );
    }
    app.stop().await;
}

/// A fresh server whose clock starts a minute in the past (the CLI acts on the real clock,
/// so everything it does happens after the filing, as in life), the policy above, `people`
/// (each with [`PASSWORD`]), and a bypass `ada` asked for: the server, its directory, Ada,
/// and the bypass's number.
async fn filed(
    people: &[(&str, Role)],
) -> (TestApp, tempfile::TempDir, askfirst::domain::UserView, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await;
    let start = Utc::now() - Duration::minutes(1);
    let app = TestApp::spawn_at(db, start, dir.path().join("key")).await;
    app.policy(policy()).await;
    for (name, role) in people {
        app.add_user(name, *role, PASSWORD).await;
    }
    let ada = askfirst::store::users::find_by_username(app.pool(), "ada")
        .await
        .unwrap()
        .unwrap()
        .view();
    let bypass = app
        .gate()
        .request_bypass(
            &ada,
            BypassRequest {
                scope: Scope {
                    agent: None,
                    tool: "deploy".into(),
                    args: Vec::new(),
                },
                window_secs: 3600,
                reason: "release day".into(),
                include_confirmation: false,
            },
        )
        .await
        .unwrap()
        .id;
    (app, dir, ada, bypass)
}

/// A browser session for `who`; a password someone else set is replaced at once by
/// [`CHOSEN`], as the sign-in flow forces.
async fn signed_in(app: &TestApp, who: &str, password: &str) -> Client {
    let client = app.client();
    let res = app
        .rpc(
            &client,
            "sign_in",
            &[("username", who), ("password", password)],
        )
        .await;
    assert!(
        res.status().is_success(),
        "sign-in as {who}: {}",
        res.status()
    );
    if password == TEMPORARY {
        let res = app
            .rpc(
                &client,
                "change_password",
                &[
                    ("current", TEMPORARY),
                    ("password", CHOSEN),
                    ("password_confirm", CHOSEN),
                ],
            )
            .await;
        assert!(res.status().is_success(), "{who} sets a password");
    }
    client
}

async fn act(app: &TestApp, admin: &Client, via: Via, step: Step) {
    let ok = |what: String, res: reqwest::Response| async move {
        let status = res.status();
        assert!(
            status.is_success(),
            "{what}: {status} {}",
            res.text().await.unwrap()
        );
    };
    match (via, step) {
        (Via::Browser, Step::Role(who, role)) => {
            let res = app
                .rpc(
                    admin,
                    "set_user_role",
                    &[("username", who), ("role", role.as_str())],
                )
                .await;
            ok(format!("{who} → {role}"), res).await
        }
        (Via::Browser, Step::Disable(who) | Step::Enable(who)) => {
            let disabled = if matches!(step, Step::Disable(_)) {
                "true"
            } else {
                "false"
            };
            let res = app
                .rpc(
                    admin,
                    "set_user_disabled",
                    &[("username", who), ("disabled", disabled)],
                )
                .await;
            ok(format!("{who} disabled={disabled}"), res).await
        }
        (Via::Browser, Step::Reset(who)) => {
            let res = app
                .rpc(
                    admin,
                    "reset_user_password",
                    &[("username", who), ("password", TEMPORARY)],
                )
                .await;
            ok(format!("reset {who}"), res).await
        }
        (Via::Browser, Step::Create(who, role)) => {
            let res = app
                .rpc(
                    admin,
                    "add_user",
                    &[
                        ("username", who),
                        ("password", PASSWORD),
                        ("role", role.as_str()),
                    ],
                )
                .await;
            ok(format!("create {who}"), res).await
        }
        (Via::Browser, Step::NoCooling) => {
            let res = app
                .rpc(
                    admin,
                    "signoff_settings",
                    &[
                        ("approvals", "2"),
                        ("max_window", "1d"),
                        ("request_ttl", "1d"),
                        ("reset_cooling", "0"),
                    ],
                )
                .await;
            ok("no cooling-off".into(), res).await
        }
        (_, Step::Group(a, b)) => {
            // What the policy page saves, as the admin: a loosening edit waits for sign-off.
            let gate = app.gate();
            let mut policy = gate.policy().policy().clone();
            policy
                .groups
                .get_mut("crew")
                .expect("the policy's group")
                .extend([a.to_string(), b.to_string()]);
            let ada = askfirst::store::users::find_by_username(app.pool(), "ada")
                .await
                .unwrap()
                .unwrap();
            let saved = gate
                .save_policy(askfirst::gate::policy_admin::SavePolicy {
                    policy,
                    base: None,
                    author: "user:ada".into(),
                    author_id: Some(ada.id),
                    comment: "a crew for deploys".into(),
                    confirm_loosening: true,
                })
                .await;
            assert!(
                saved.map_or(true, |s| s.version.is_none()),
                "a group edit never applies on one admin's word"
            );
        }
        (Via::Cli, step) => {
            let db = app.db.as_str();
            match step {
                Step::Role(who, role) => {
                    cli(db, &["user", "set-role", who, role.as_str()], None).await;
                }
                Step::Disable(who) => {
                    cli(db, &["user", "disable", who], None).await;
                }
                Step::Enable(who) => {
                    cli(db, &["user", "enable", who], None).await;
                }
                Step::Reset(who) => {
                    let input = format!("{TEMPORARY}\n");
                    cli(
                        db,
                        &["user", "reset-password", who, "--password-stdin"],
                        Some(&input),
                    )
                    .await;
                }
                Step::Create(who, role) => {
                    let input = format!("{PASSWORD}\n");
                    cli(
                        db,
                        &[
                            "user",
                            "add",
                            who,
                            "--role",
                            role.as_str(),
                            "--password-stdin",
                        ],
                        Some(&input),
                    )
                    .await;
                }
                Step::NoCooling => {
                    let input = format!("{PASSWORD}\n");
                    cli(
                        db,
                        &["signoff", "set", "--user", "ada", "--reset-cooling", "0"],
                        Some(&input),
                    )
                    .await;
                }
                Step::Group(..) => unreachable!("handled above"),
            }
        }
    }
}

fn rows() -> Vec<Row> {
    use Step::*;
    let mut rows = vec![Row {
        name: "control: managers nobody touched",
        via: Via::Browser,
        steps: Vec::new(),
        reviewers: [("m1", PASSWORD), ("m2", PASSWORD)],
        approved: true,
    }];
    for via in [Via::Browser, Via::Cli] {
        rows.extend([
            Row {
                name: "promote two approvers",
                via,
                steps: vec![
                    Role("a1", askfirst::domain::Role::Manager),
                    Role("a2", askfirst::domain::Role::Manager),
                ],
                reviewers: [("a1", PASSWORD), ("a2", PASSWORD)],
                approved: false,
            },
            Row {
                name: "demote and promote again",
                via,
                steps: vec![
                    Role("m1", askfirst::domain::Role::Approver),
                    Role("m1", askfirst::domain::Role::Manager),
                    Role("m2", askfirst::domain::Role::Viewer),
                    Role("m2", askfirst::domain::Role::Admin),
                ],
                reviewers: [("m1", PASSWORD), ("m2", PASSWORD)],
                approved: false,
            },
            Row {
                name: "disable and enable",
                via,
                steps: vec![Disable("m1"), Enable("m1"), Disable("m2"), Enable("m2")],
                reviewers: [("m1", PASSWORD), ("m2", PASSWORD)],
                approved: false,
            },
            Row {
                name: "reset passwords and choose new ones",
                via,
                steps: vec![Reset("m1"), Reset("m2")],
                reviewers: [("m1", TEMPORARY), ("m2", TEMPORARY)],
                approved: false,
            },
            Row {
                name: "no cooling-off, then reset",
                via,
                steps: vec![NoCooling, Reset("m1"), Reset("m2")],
                reviewers: [("m1", TEMPORARY), ("m2", TEMPORARY)],
                approved: false,
            },
            Row {
                name: "new manager accounts",
                via,
                steps: vec![
                    Create("n1", askfirst::domain::Role::Manager),
                    Create("n2", askfirst::domain::Role::Admin),
                ],
                reviewers: [("n1", PASSWORD), ("n2", PASSWORD)],
                approved: false,
            },
            Row {
                name: "promote one, reset the other",
                via,
                steps: vec![Role("a1", askfirst::domain::Role::Manager), Reset("m1")],
                reviewers: [("a1", PASSWORD), ("m1", TEMPORARY)],
                approved: false,
            },
        ]);
    }
    rows.push(Row {
        name: "approvers put in a group",
        via: Via::Browser,
        steps: vec![Group("a1", "a2")],
        reviewers: [("a1", PASSWORD), ("a2", PASSWORD)],
        approved: false,
    });
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admin_alone_never_satisfies_a_sign_off() {
    for row in rows() {
        run(&row).await;
    }
}

/// The command line is no one's word: acting as a person (`--user`) takes their password,
/// and a loosening import without a named author is refused (its author could otherwise
/// count as one of its own reviewers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_acts_as_a_person_only_with_their_password() {
    let (app, dir, ada, bypass) = filed(&[
        ("ada", Role::Admin),
        ("m1", Role::Manager),
        ("m2", Role::Manager),
    ])
    .await;
    let run = |args: Vec<String>, password: Option<&'static str>| {
        let db = app.db.clone();
        async move {
            let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"));
            cmd.arg("--db")
                .arg(db)
                .args(args)
                .env_remove("ASKFIRST_PASSWORD");
            if let Some(p) = password {
                cmd.env("ASKFIRST_PASSWORD", p);
            }
            cmd.output().await.unwrap()
        }
    };
    let review = |who: &str| {
        [
            "bypass",
            "review",
            &bypass.to_string(),
            "--user",
            who,
            "--approve",
        ]
        .map(String::from)
        .to_vec()
    };
    for (password, why) in [
        (None, "no password"),
        (Some("guessed wrong"), "wrong password"),
    ] {
        let out = run(review("m1"), password).await;
        assert!(!out.status.success(), "{why}: the review was taken");
    }
    let page = app.gate().bypass_page(bypass, &ada).await.unwrap();
    assert_eq!(page.bypass.approvals, 0, "nothing was recorded");
    // With m1's own password it is m1's review, and it counts.
    let out = run(review("m1"), Some(PASSWORD)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = app.gate().bypass_page(bypass, &ada).await.unwrap();
    assert_eq!(page.bypass.approvals, 1);

    // A loosening import needs its author.
    let file = dir.path().join("loose.toml");
    std::fs::write(&file, "default_effect = \"allow\"\n").unwrap();
    let path = file.to_string_lossy().into_owned();
    let out = run(["policy", "import", &path].map(String::from).to_vec(), None).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs its author"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.stop().await;
}

/// N-of-M calls: the approvers a two-person rule needs must predate the call, as
/// sign-off's managers must — an admin cannot make the second approver (a new account, a
/// promotion, a reset password) after the call arrived. A one-person rule is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_person_calls_count_only_approvers_who_predate_them() {
    use askfirst::gate::decide::DecisionInput;
    let app = TestApp::spawn().await;
    app.policy(json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "two-person-transfer", "match": { "tool": "transfer" },
              "effect": { "kind": "gate", "approvals_required": 2 } },
            { "name": "gate-restart", "match": { "tool": "restart" },
              "effect": { "kind": "gate" } }
        ]
    }))
    .await;
    let (key, _) = app.agent("bot").await;
    let ann = app.person("ann", Role::Approver).await;
    app.person("cy", Role::Approver).await;
    app.person("vic", Role::Viewer).await;
    app.clock.advance(Duration::seconds(1));
    let transfer = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "transfer", "args": { "usd": 900 } }),
        )
        .await;
    let restart = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "restart", "args": {} }),
        )
        .await;
    let (transfer, restart) = (
        transfer["id"].as_str().unwrap().to_string(),
        restart["id"].as_str().unwrap().to_string(),
    );
    app.clock.advance(Duration::seconds(1));
    // After the call: a new approver, a promoted viewer, and cy's password reset by the admin.
    let sock = app.person("sock", Role::Approver).await;
    askfirst::auth::service::set_role(
        app.pool(),
        app.gate().clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "vic",
        Role::Approver,
    )
    .await
    .unwrap();
    askfirst::auth::service::reset_password(
        app.pool(),
        app.gate().clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "cy",
        TEMPORARY,
    )
    .await
    .unwrap();
    let approve = || DecisionInput {
        approve: true,
        ..Default::default()
    };
    app.decide(&transfer, &ann, approve()).await.unwrap();
    let pool = app.pool();
    let now_as = |name: &'static str| async move {
        askfirst::store::users::find_by_username(pool, name)
            .await
            .unwrap()
            .unwrap()
            .view()
    };
    let (vic, cy) = (now_as("vic").await, now_as("cy").await);
    for (who, user) in [
        ("a new account", &sock),
        ("a promotion", &vic),
        ("a reset password", &cy),
    ] {
        let err = app.decide(&transfer, user, approve()).await.unwrap_err();
        assert_eq!(err.code(), "not_eligible", "{who}: {err}");
    }
    assert_eq!(
        app.get_call(&key, &transfer, None).await["status"],
        "pending"
    );
    // A one-person rule: any approver now qualifies, as before.
    app.decide(&restart, &sock, approve()).await.unwrap();
    assert_eq!(
        app.get_call(&key, &restart, None).await["status"],
        "approved"
    );
    app.stop().await;
}
