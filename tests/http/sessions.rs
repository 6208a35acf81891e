use crate::support::{TestApp, TTL};
use askfirst::domain::Role;
use chrono::Duration;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_on_the_injected_clock() {
    let app = TestApp::spawn().await;
    let browser = app.signed_in("ada", Role::Viewer).await;

    // One second before expiry the session still works...
    app.clock.advance(TTL - Duration::seconds(1));
    let me: serde_json::Value = app
        .rpc(&browser, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "ada");
    let home = app.page(&browser, "/").await;
    assert_eq!(home.status(), StatusCode::OK);

    // ...and at expiry it is gone: pages send the person to sign in again.
    app.clock.advance(Duration::seconds(1));
    let me: serde_json::Value = app
        .rpc(&browser, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(me.is_null());
    let home = app.page(&browser, "/").await;
    assert_eq!(home.status(), StatusCode::FOUND);
    assert_eq!(home.headers()["location"], "/login");

    // The sweeper's query removes it for good.
    let removed = askfirst::store::sessions::delete_expired(app.pool(), app.now())
        .await
        .unwrap();
    assert_eq!(removed, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cookie_is_nobody() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let res = app
        .client()
        .post(app.url("/rpc/current_user"))
        .header("accept", "application/json")
        .header("cookie", format!("askfirst_session={}", "0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert!(res.json::<serde_json::Value>().await.unwrap().is_null());
    app.stop().await;
}
