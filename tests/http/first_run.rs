use crate::support::{error_of, set_cookies, TestApp, SETUP_TOKEN};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_install_offers_setup_and_creates_the_first_admin_once() {
    let app = TestApp::spawn().await;
    let browser = app.client();

    // Nobody yet: setup is offered, and every page leads there.
    let res = app.rpc(&browser, "needs_setup", &[]).await;
    assert!(res.json::<bool>().await.unwrap());
    let res = app.page(&browser, "/setup").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Welcome to askfirst"));

    // Passwords that differ are refused before anything is written.
    let res = app
        .rpc(
            &browser,
            "create_first_admin",
            &[
                ("username", "ada"),
                ("password", "long enough 1"),
                ("password_confirm", "different 1"),
                ("token", SETUP_TOKEN),
            ],
        )
        .await;
    assert_eq!(
        error_of(res).await,
        (422, "invalid".into(), "the two passwords differ".into())
    );

    // The admin is created and signed in.
    let form = [
        ("username", "Ada"),
        ("password", "long enough 1"),
        ("password_confirm", "long enough 1"),
        ("token", SETUP_TOKEN),
    ];
    let res = app.rpc(&browser, "create_first_admin", &form).await;
    assert!(res.status().is_success(), "{}", res.status());
    let cookies = set_cookies(&res);
    assert!(
        cookies.iter().any(|c| c.starts_with("askfirst_session=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")
            && c.contains("Max-Age=3600")),
        "{cookies:?}"
    );
    let me: serde_json::Value = app
        .rpc(&browser, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["role"], "admin");
    assert!(me.get("password_hash").is_none());

    // Never again: a second first-run is refused, and the page is gone.
    let other = app.client();
    let form = [
        ("username", "mallory"),
        ("password", "long enough 2"),
        ("password_confirm", "long enough 2"),
        ("token", SETUP_TOKEN),
    ];
    let (status, code, _) = error_of(app.rpc(&other, "create_first_admin", &form).await).await;
    assert_eq!((status, code.as_str()), (409, "conflict"));
    assert!(!app
        .rpc(&other, "needs_setup", &[])
        .await
        .json::<bool>()
        .await
        .unwrap());
    let res = app.page(&other, "/setup").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_runs_create_exactly_one_admin() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = app.client();
        let url = app.url("/rpc/create_first_admin");
        tasks.push(tokio::spawn(async move {
            let name = format!("admin{i}");
            client
                .post(url)
                .header("accept", "application/json")
                .form(&[
                    ("username", name.as_str()),
                    ("password", "long enough 1"),
                    ("password_confirm", "long enough 1"),
                    ("token", SETUP_TOKEN),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let status = t.await.unwrap();
        if status.is_success() {
            ok += 1;
        } else {
            assert_eq!(status, StatusCode::CONFLICT);
        }
    }
    assert_eq!(ok, 1);
    let count: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(count, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_validates_input() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let cases = [
        (("", "long enough 1"), "username is required"),
        (
            ("has space", "long enough 1"),
            "username may contain only letters, digits, '.', '_' and '-'",
        ),
        (("ada", "short"), "password must be at least 8 characters"),
    ];
    for ((username, password), message) in cases {
        let form = [
            ("username", username),
            ("password", password),
            ("password_confirm", password),
            ("token", SETUP_TOKEN),
        ];
        let res = app.rpc(&client, "create_first_admin", &form).await;
        assert_eq!(
            error_of(res).await,
            (422, "invalid".into(), message.into()),
            "{username:?}"
        );
    }
    // A missing field is a malformed request, not a server error.
    let res = app
        .rpc(&client, "create_first_admin", &[("username", "ada")])
        .await;
    let (status, code, _) = error_of(res).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_needs_the_printed_token_and_strange_hosts_are_refused() {
    let app = TestApp::spawn().await;
    let client = app.client();
    for token in [None, Some(""), Some("guessed")] {
        let mut form = vec![
            ("username", "mallory"),
            ("password", "long enough 1"),
            ("password_confirm", "long enough 1"),
        ];
        if let Some(t) = token {
            form.push(("token", t));
        }
        let (status, code, _) = error_of(app.rpc(&client, "create_first_admin", &form).await).await;
        assert_eq!((status, code.as_str()), (403, "forbidden"), "{token:?}");
    }
    let count: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(count, 0, "nobody was created");

    // A page on another name that resolves here (DNS rebinding) reaches nothing.
    for host in ["evil.example", "evil.example:80", "attacker.localhost.evil"] {
        let res = client
            .get(app.url("/setup"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{host}");
    }
    for host in ["localhost", "127.0.0.1", "LOCALHOST:3000"] {
        let res = client
            .get(app.url("/api/v1/openapi.json"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
    app.stop().await;
}
