use crate::support::{error_of, TestApp};
use askfirst::domain::Role;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_answers() {
    let app = TestApp::spawn().await;
    let res = app.page(&app.client(), "/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    app.stop().await;
}

/// Routes outside the API answer a wrong method as the API does: `405`, a JSON error and
/// `Allow`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_anywhere_gets_a_json_405_with_allow() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    for (method, path, allow) in [
        (reqwest::Method::POST, "/healthz", "GET,HEAD"),
        (reqwest::Method::DELETE, "/metrics", "GET,HEAD"),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET,HEAD"),
        (reqwest::Method::PUT, "/audit/export.csv", "GET,HEAD"),
    ] {
        let res = client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        let (status, code, _) = error_of(res).await;
        assert_eq!(
            (status, code.as_str()),
            (405, "method_not_allowed"),
            "{method} {path}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_a_script_nonce() {
    let app = TestApp::spawn().await;
    let res = app.page(&app.client(), "/login").await;
    let headers = res.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("nonce");
    let page = res.text().await.unwrap();
    assert!(
        page.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );

    // A fresh nonce for every page.
    let again = app.page(&app.client(), "/login").await;
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );

    // Everything else gets a locked-down default.
    let res = app.page(&app.client(), "/healthz").await;
    assert_eq!(
        res.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_to_server_functions_are_refused() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let form = [("username", "ada"), ("password", "correct horse 1")];
    let cases = [
        (
            vec![("origin", "http://evil.example")],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("sec-fetch-site", "cross-site")],
            StatusCode::FORBIDDEN,
        ),
        (vec![("origin", app.base.as_str())], StatusCode::OK),
        (vec![("sec-fetch-site", "same-origin")], StatusCode::OK),
    ];
    for (headers, expected) in cases {
        let mut req = app
            .client()
            .post(app.url("/rpc/sign_in"))
            .header("accept", "application/json")
            .form(&form);
        for (k, v) in &headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), expected, "{headers:?}");
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(error_of(res).await.1, "forbidden");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413_in_our_error_format() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let res = app
        .client()
        .post(app.url("/rpc/sign_in"))
        .header("accept", "application/json")
        .form(&[("username", "ada"), ("password", huge.as_str())])
        .send()
        .await
        .unwrap();
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pages_are_404() {
    let app = TestApp::spawn().await;
    let res = app.page(&app.client(), "/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let pool = askfirst::store::open(&app.db.parse().unwrap())
        .await
        .unwrap();
    if !crate::support::on_postgres() {
        let check: String = askfirst::on!(&pool, |cn| sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(cn)
            .await)
        .unwrap();
        assert_eq!(check, "ok");
        let mode: String = askfirst::on!(&pool, |cn| sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(cn)
            .await)
        .unwrap();
        assert_eq!(mode, "wal");
    }
    let users = askfirst::auth::service::list_users(&pool).await.unwrap();
    assert_eq!(users.len(), 1);
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_carries_a_request_id_and_nothing_internal() {
    let app = crate::support::TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let ria = app.person("ria", askfirst::domain::Role::Approver).await;
    // A row the server cannot read: an active bypass whose stored scope is not JSON.
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "INSERT INTO bypasses (requester_id, requester, scope, include_confirmation, window_ms,
            reason, hash, status, approvals_required, created_at, expires_at, activated_at, ends_at)
         VALUES ($1, 'ria', 'not json {', FALSE, 1000, 'x', 'h', 'active', 2, 0, 1, 0, 9999999999999)",
    )
    .bind(&ria.id)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/bypasses"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let header = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id")
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["request_id"], header.as_str());
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&header), "{message}");
    assert!(
        !message.contains("unreadable") && !message.contains("scope"),
        "no internal detail: {message}"
    );
    // The same through a server function.
    let viewer = app.signed_in("vic", askfirst::domain::Role::Viewer).await;
    let res = app.rpc(&viewer, "bypass", &[("id", "1")]).await;
    assert_eq!(res.status(), 500);
    assert!(res.headers().get("x-request-id").is_some());
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(!body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unreadable"));
    app.stop().await;
}
