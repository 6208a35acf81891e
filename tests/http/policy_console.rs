//! The admin's policy console through its server functions: drafts, saving with a comment,
//! conflicts, loosening, restore, replay, dry runs, and the policy in force changing.

use crate::support::{error_of, install_policy, TestApp};
use askfirst::domain::Role;
use reqwest::Client;
use serde_json::{json, Value};

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// A short policy: deny wipes, gate deploys, allow the rest.
const START: &str = r#"default_effect = "allow"

[[rules]]
name = "no-wipe"
[rules.match]
tool = "wipe"
[rules.effect]
kind = "deny"
message = "no wiping"

[[rules]]
name = "gate-deploy"
[rules.match]
tool = "deploy"
[rules.effect]
kind = "gate"
"#;

async fn setup() -> (TestApp, Client, String) {
    let app = TestApp::spawn().await;
    let (policy, _) = askfirst::policy::import(START).unwrap();
    install_policy(app.gate(), &policy).await;
    let admin = app.signed_in("ada", Role::Admin).await;
    let (key, _) = app.agent("bot").await;
    (app, admin, key)
}

fn rule_form(name: &str, tool: &str, effect: &str) -> Vec<(String, String)> {
    [
        ("name", name),
        ("tool", tool),
        ("effect", effect),
        ("enabled", "true"),
        ("approvals", "1"),
        ("role", "approver"),
        ("deadline", "1h"),
        ("ttl", "10m"),
        ("novel", "any"),
    ]
    .iter()
    .map(|(k, v)| (format!("form[{k}]"), v.to_string()))
    .collect()
}

async fn put_rule(app: &TestApp, who: &Client, fields: Vec<(String, String)>) -> Value {
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ok(app.rpc(who, "policy_rule", &form).await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_gate_saved_with_a_comment_is_in_force_for_the_next_call() {
    let (app, admin, key) = setup().await;
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "migrate" }))
            .await["status"],
        "allowed"
    );

    let errors = put_rule(&app, &admin, rule_form("gate-migrate", "migrate", "gate")).await;
    assert_eq!(errors, json!([]));
    // Nothing changes until the draft is saved.
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "migrate" }))
            .await["status"],
        "allowed"
    );
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    let draft = &console["draft"];
    assert_eq!(draft["classification"]["loosening"], false, "{draft}");
    assert_eq!(
        draft["changes"],
        json!(["added rule `gate-migrate` at position 3"])
    );
    assert!(draft["toml"]
        .as_str()
        .unwrap()
        .contains("name = \"gate-migrate\""));

    let (status, code, _) =
        error_of(app.rpc(&admin, "policy_save", &[("comment", " ")]).await).await;
    assert_eq!(
        (status, code.as_str()),
        (422, "invalid"),
        "a comment is required"
    );
    let saved = ok(app
        .rpc(&admin, "policy_save", &[("comment", "gate migrations")])
        .await)
    .await;
    assert!(
        saved["pending"].is_null(),
        "a tightening change applies at once"
    );
    let version = saved["version"].clone();
    let p = app
        .propose_ok(&key, json!({ "session": "s", "tool": "migrate" }))
        .await;
    assert_eq!(
        (p["status"].as_str(), p["rule"].as_str()),
        (Some("pending"), Some("gate-migrate"))
    );

    let versions = ok(app.rpc(&admin, "policy_versions", &[]).await).await;
    assert_eq!(versions[0]["version"], version);
    assert_eq!(versions[0]["author"], "user:ada");
    assert_eq!(versions[0]["comment"], "gate migrations");
    assert_eq!(
        versions[0]["changes"],
        json!(["added rule `gate-migrate` at position 3"])
    );
    let (author, detail): (String, String) = askfirst::on!(app.pool(), |cn| sqlx::query_as(
        "SELECT actor, detail FROM audit_events WHERE kind = 'policy.changed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(author, "user:ada");
    assert!(detail.contains("gate migrations"), "{detail}");
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert!(console["draft"].is_null(), "saving uses the draft up");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_saving_from_the_same_base_conflict() {
    let (app, ada, _) = setup().await;
    let bea = app.signed_in("bea", Role::Admin).await;
    put_rule(&app, &ada, rule_form("gate-a", "a", "gate")).await;
    put_rule(&app, &bea, rule_form("gate-b", "b", "gate")).await;
    ok(app.rpc(&ada, "policy_save", &[("comment", "first")]).await).await;
    let (status, code, message) =
        error_of(app.rpc(&bea, "policy_save", &[("comment", "second")]).await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(
        message.contains("saved by user:ada") && message.contains("added rule `gate-a`"),
        "{message}"
    );
    // Nothing was overwritten: Ada's rule is in force, Bea keeps her draft.
    let console = ok(app.rpc(&bea, "policy_console", &[]).await).await;
    let names: Vec<&str> = console["in_force"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["no-wipe", "gate-deploy", "gate-a"]);
    assert!(!console["draft"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loosening_waits_for_two_managers_and_restore_tightens_at_once() {
    let (app, admin, key) = setup().await;
    let mia = app.signed_in("mia", Role::Manager).await;
    let max = app.signed_in("max", Role::Manager).await;
    ok(app
        .rpc(
            &admin,
            "policy_edit",
            &[("op", "toggle"), ("rule", "gate-deploy")],
        )
        .await)
    .await;
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    let c = &console["draft"]["classification"];
    assert_eq!(c["loosening"], true);
    assert!(
        c["findings"][0]["why"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{c}"
    );
    let (status, code, _) = error_of(
        app.rpc(&admin, "policy_save", &[("comment", "pause deploy gate")])
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (409, "loosening_unconfirmed"));
    let saved = ok(app
        .rpc(
            &admin,
            "policy_save",
            &[
                ("comment", "pause deploy gate"),
                ("confirm_loosening", "true"),
            ],
        )
        .await)
    .await;
    let change = saved["pending"].as_i64().expect("a pending change");
    assert_eq!(
        (
            saved["version"].clone(),
            saved["approvals_required"].clone()
        ),
        (Value::Null, json!(2))
    );
    // Not in force yet.
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "pending"
    );
    let hash = app.gate().policy_change(change).await.unwrap().hash;
    let review = |who: &'static str| {
        let client = if who == "mia" {
            mia.clone()
        } else {
            max.clone()
        };
        let (app, hash) = (&app, hash.clone());
        async move {
            app.rpc(
                &client,
                "signoff_review",
                &[
                    ("kind", "policy_change"),
                    ("id", &change.to_string()),
                    ("verdict", "approve"),
                    ("hash", &hash),
                ],
            )
            .await
        }
    };
    // Its author (an admin) never counts.
    let (status, code, _) = error_of(
        app.rpc(
            &admin,
            "signoff_review",
            &[
                ("kind", "policy_change"),
                ("id", &change.to_string()),
                ("verdict", "approve"),
                ("hash", &hash),
            ],
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (403, "self_review"));
    ok(review("mia").await).await;
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "pending",
        "one approval of two changes nothing"
    );
    ok(review("max").await).await;
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "allowed"
    );
    let (status, code, _) = error_of(review("max").await).await;
    assert_eq!((status, code.as_str()), (409, "already_resolved"));
    let versions = ok(app.rpc(&admin, "policy_versions", &[]).await).await;
    assert_eq!(versions[0]["loosening"], json!(true));
    assert!(versions[0]["comment"]
        .as_str()
        .unwrap()
        .contains("signed off by mia, max"));
    let v2 = versions[0]["version"].as_i64().unwrap();

    // Restore the version before: it tightens, so it applies at once.
    let v1 = v2 - 1;
    ok(app
        .rpc(&admin, "policy_restore", &[("version", &v1.to_string())])
        .await)
    .await;
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert_eq!(console["draft"]["classification"]["loosening"], false);
    let v3 = ok(app
        .rpc(&admin, "policy_save", &[("comment", "deploys gated again")])
        .await)
    .await;
    assert_eq!(v3["version"].as_i64().unwrap(), v2 + 1);
    assert_eq!(
        app.propose_ok(&key, json!({ "session": "s", "tool": "deploy" }))
            .await["status"],
        "pending"
    );
    let documents: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT document FROM policy_versions WHERE version IN ($1, $2) ORDER BY version",
    )
    .bind(v1)
    .bind(v2 + 1)
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(documents[0], documents[1]);
    let kinds: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE kind LIKE 'policy.change.%' ORDER BY id",
    )
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(
        kinds,
        [
            "policy.change.proposed",
            "policy.change.reviewed",
            "policy.change.reviewed",
            "policy.change.applied"
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_nobody_can_satisfy_is_refused() {
    let (app, admin, _) = setup().await;
    let mut form = rule_form("three-managers", "payout", "gate");
    form.retain(|(k, _)| k != "form[approvals]" && k != "form[role]");
    form.push(("form[approvals]".into(), "3".into()));
    form.push(("form[role]".into(), "manager".into()));
    put_rule(&app, &admin, form).await;
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert_eq!(
        console["draft"]["problems"],
        json!(["rule `three-managers` needs 3 approvals from managers or above, but only 1 active person hold that role"])
    );
    let (status, _, message) =
        error_of(app.rpc(&admin, "policy_save", &[("comment", "x")]).await).await;
    assert_eq!(status, 422);
    assert!(message.contains("nobody can satisfy"), "{message}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_errors_toml_errors_and_dry_runs() {
    let (app, admin, _) = setup().await;
    let mut form = rule_form("bad", "dep{loy", "gate");
    form.push(("form[conditions]".into(), "/env regex ([".into()));
    form.push(("form[confirm]".into(), "deploy {/region}".into()));
    let errors = put_rule(&app, &admin, form).await;
    let fields: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"tool") && fields.contains(&"conditions") && fields.contains(&"confirm"),
        "{errors}"
    );
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert!(console["draft"].is_null(), "a refused form changes nothing");
    let dup = put_rule(&app, &admin, rule_form("no-wipe", "x", "allow")).await;
    assert_eq!(dup[0]["field"], "name");

    let broken = "default_effect = \"allow\"\n\n[[rules]]\nname = \"x\"\n[rules.match]\ntool = \"t\"\n[rules.effect]\nkind = \"gate\"\napprovals_required = \"two\"\n";
    let (status, _, message) =
        error_of(app.rpc(&admin, "policy_toml", &[("toml", broken)]).await).await;
    assert_eq!(status, 422);
    assert!(message.starts_with("line 9, column 22"), "{message}");

    let run = ok(app
        .rpc(
            &admin,
            "policy_try",
            &[
                ("agent", "bot"),
                ("tool", "deploy"),
                ("args", r#"{"env":"prod"}"#),
            ],
        )
        .await)
    .await;
    assert_eq!(run["rule"], "gate-deploy");
    assert!(
        run["outcome"]
            .as_str()
            .unwrap()
            .starts_with("gate: 1 approver"),
        "{run}"
    );
    assert_eq!(
        run["steps"][0],
        json!({ "rule": "no-wipe", "verdict": { "Skipped": { "why": "tool `deploy` does not match `wipe`" } } })
    );
    assert_eq!(run["steps"][1]["verdict"], "Decided");
    let (status, _, _) = error_of(
        app.rpc(
            &admin,
            "policy_try",
            &[("agent", "bot"), ("tool", "deploy"), ("args", "[1]")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_counts_the_calls_a_draft_would_change() {
    let (app, admin, key) = setup().await;
    for i in 0..3 {
        app.propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "n": i } }),
        )
        .await;
    }
    for _ in 0..2 {
        app.propose_ok(&key, json!({ "session": "s", "tool": "export" }))
            .await;
    }
    app.propose_ok(&key, json!({ "session": "s", "tool": "read" }))
        .await;
    // Deploys become allowed (laxer), exports denied (stricter).
    ok(app
        .rpc(
            &admin,
            "policy_edit",
            &[("op", "delete"), ("rule", "gate-deploy")],
        )
        .await)
    .await;
    let mut deny = rule_form("no-export", "export", "deny");
    deny.push(("form[message]".into(), "exports are out of scope".into()));
    put_rule(&app, &admin, deny).await;
    let replay = ok(app.rpc(&admin, "policy_replay", &[]).await).await;
    assert_eq!(
        (
            replay["examined"].as_u64(),
            replay["stricter"].as_u64(),
            replay["laxer"].as_u64()
        ),
        (Some(6), Some(2), Some(3))
    );
    let groups = replay["groups"].as_array().unwrap();
    assert_eq!(
        (groups[0]["tool"].as_str(), groups[0]["laxer"].as_u64()),
        (Some("deploy"), Some(3))
    );
    assert_eq!(
        (groups[1]["tool"].as_str(), groups[1]["stricter"].as_u64()),
        (Some("export"), Some(2))
    );
    assert_eq!(
        groups[1]["calls"][0]["after"],
        "deny (\"exports are out of scope\")"
    );
    app.stop().await;
}

/// A new rule goes where it takes effect unless the form says otherwise: before the first
/// rule that decides every call it matches (a glob tool counts), before a named rule, or
/// last. The rule lines carry a call each rule matches (the console's "Try").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rule_goes_where_it_takes_effect_unless_placed() {
    let (app, admin, _) = setup().await;
    let names = |console: &Value| -> Vec<String> {
        console["draft"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    let placed = |name: &str, tool: &str, effect: &str, place: Option<&str>| {
        let mut fields = rule_form(name, tool, effect);
        if effect == "deny" {
            fields.push(("form[message]".into(), "no".into()));
        }
        if let Some(place) = place {
            fields.push(("place".into(), place.into()));
        }
        fields
    };
    // Every deploy-ish call is decided by a broad rule put last.
    put_rule(
        &app,
        &admin,
        placed("all-deploys", "deploy*", "deny", Some("last")),
    )
    .await;
    // A narrower one goes before it (where it takes effect), not after.
    put_rule(
        &app,
        &admin,
        placed("deploy-docs", "deploy_docs", "allow", None),
    )
    .await;
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert_eq!(
        names(&console),
        ["no-wipe", "gate-deploy", "deploy-docs", "all-deploys"]
    );
    // Nothing covers it: last.
    put_rule(
        &app,
        &admin,
        placed("read-logs", "read_logs", "allow", Some("auto")),
    )
    .await;
    // Before a named rule, as asked.
    put_rule(
        &app,
        &admin,
        placed("first", "x", "allow", Some("before:no-wipe")),
    )
    .await;
    let console = ok(app.rpc(&admin, "policy_console", &[]).await).await;
    assert_eq!(
        names(&console),
        [
            "first",
            "no-wipe",
            "gate-deploy",
            "deploy-docs",
            "all-deploys",
            "read-logs"
        ]
    );
    let line = console["draft"]["rules"][3].clone();
    assert_eq!(line["sample"]["tool"], "deploy_docs");
    // A place that is not one is refused, and a rule that is not there is not found.
    let form = placed("y", "y", "allow", Some("middle"));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, _) = error_of(app.rpc(&admin, "policy_rule", &form).await).await;
    assert_eq!(status, 400);
    let form = placed("y", "y", "allow", Some("before:nope"));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, _) = error_of(app.rpc(&admin, "policy_rule", &form).await).await;
    assert_eq!(status, 404);
    app.stop().await;
}
