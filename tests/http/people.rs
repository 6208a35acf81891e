//! Managing people: roles, the last active admin, admins' password resets that must be
//! changed at the next sign-in, and everyone changing their own password.

use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_admin_cannot_be_demoted_or_disabled_and_admins_cannot_demote_themselves() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada", Role::Admin).await;
    app.add_user("bob", Role::Approver, "a long enough password")
        .await;

    let (status, _, message) = error_of(
        app.rpc(
            &ada,
            "set_user_role",
            &[("username", "ada"), ("role", "manager")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(message, "you cannot demote yourself; another admin must");
    let (status, _, _) = error_of(
        app.rpc(
            &ada,
            "set_user_disabled",
            &[("username", "ada"), ("disabled", "true")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 409);

    let bob: Value = app
        .rpc(
            &ada,
            "set_user_role",
            &[("username", "bob"), ("role", "admin")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bob["role"], "admin");
    // With Bob an admin, Ada can be demoted; then Bob is the last admin and cannot be.
    askfirst::auth::service::set_role(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ada",
        Role::Manager,
    )
    .await
    .unwrap();
    let err = askfirst::auth::service::set_role(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "bob",
        Role::Viewer,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "conflict");
    assert!(err.to_string().contains("last active admin"), "{err}");
    let err = askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "bob",
        true,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "conflict");
    let kinds: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE kind LIKE 'user.%' ORDER BY id"
    )
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(
        kinds,
        [
            "user.created",
            "user.created",
            "user.role_changed",
            "user.role_changed"
        ]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_an_admin_set_must_be_changed_before_anything_else() {
    let app = TestApp::spawn().await;
    let ada = app.signed_in("ada", Role::Admin).await;
    let cat = app.signed_in("cat", Role::Approver).await;
    let res = app
        .rpc(
            &ada,
            "reset_user_password",
            &[("username", "cat"), ("password", "set by ada 123")],
        )
        .await;
    assert_eq!(res.status(), 200);
    // Cat's sessions ended.
    let me: Value = app
        .rpc(&cat, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(me.is_null());

    let cat = app.client();
    let res = app
        .rpc(
            &cat,
            "sign_in",
            &[("username", "cat"), ("password", "set by ada 123")],
        )
        .await;
    assert!(res.status().is_success());
    let (status, _, message) = error_of(app.rpc(&cat, "inbox", &[]).await).await;
    assert_eq!(status, 403);
    assert!(message.contains("choose a new password first"), "{message}");

    let form = |current: &'static str, new: &'static str, again: &'static str| {
        [
            ("current", current),
            ("password", new),
            ("password_confirm", again),
        ]
    };
    let (status, _, message) = error_of(
        app.rpc(
            &cat,
            "change_password",
            &form("wrong one!", "cats own pass", "cats own pass"),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, message.as_str()),
        (422, "the current password is wrong")
    );
    let (status, _, _) = error_of(
        app.rpc(
            &cat,
            "change_password",
            &form("set by ada 123", "cats own pass", "different!!"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    // A second session of Cat's ends when she changes her password in the first.
    let other = app.client();
    assert!(app
        .rpc(
            &other,
            "sign_in",
            &[("username", "cat"), ("password", "set by ada 123")]
        )
        .await
        .status()
        .is_success());
    let res = app
        .rpc(
            &cat,
            "change_password",
            &form("set by ada 123", "cats own pass", "cats own pass"),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.rpc(&cat, "inbox", &[]).await.status(),
        200,
        "free to work now"
    );
    let gone: Value = app
        .rpc(&other, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(gone.is_null(), "other sessions end");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_roles() {
    let app = TestApp::spawn().await;
    app.add_user("dan", Role::Viewer, "a long enough password")
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args([
            "--db",
            app.db.as_str(),
            "user",
            "set-role",
            "dan",
            "manager",
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dan["role"], "manager");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args(["--db", app.db.as_str(), "user", "set-role", "dan", "boss"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    app.stop().await;
}
