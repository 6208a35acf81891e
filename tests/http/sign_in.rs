use crate::support::{error_of, set_cookies, TestApp};
use askfirst::domain::Role;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_password_opens_a_session_and_sign_out_ends_it() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Approver, "correct horse 1").await;
    let browser = app.client();

    let res = app
        .rpc(
            &browser,
            "sign_in",
            &[("username", " ADA "), ("password", "correct horse 1")],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let me: serde_json::Value = app
        .rpc(&browser, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "ada");
    assert_eq!(me["role"], "approver");

    // The token is stored hashed: the cookie value is not in the database.
    let cookie = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("askfirst_session="))
        .unwrap();
    let token = cookie
        .trim_start_matches("askfirst_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let stored: Vec<String> = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT token_hash FROM sessions"
    )
    .fetch_all(cn)
    .await)
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);

    let res = app.rpc(&browser, "sign_out", &[]).await;
    assert!(res.status().is_success());
    assert!(set_cookies(&res).iter().any(|c| c.contains("Max-Age=0")));
    let me: serde_json::Value = app
        .rpc(&browser, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(me.is_null());

    // The old token is dead even if a client kept it.
    let replay = app.client();
    let res = replay
        .post(app.url("/rpc/current_user"))
        .header("accept", "application/json")
        .header("cookie", format!("askfirst_session={token}"))
        .send()
        .await
        .unwrap();
    assert!(res.json::<serde_json::Value>().await.unwrap().is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let client = app.client();
    let wrong = error_of(
        app.rpc(
            &client,
            "sign_in",
            &[("username", "ada"), ("password", "wrong one")],
        )
        .await,
    )
    .await;
    let unknown = error_of(
        app.rpc(
            &client,
            "sign_in",
            &[("username", "nobody"), ("password", "wrong one")],
        )
        .await,
    )
    .await;
    assert_eq!(
        wrong,
        (
            401,
            "invalid_credentials".into(),
            "wrong username or password".into()
        )
    );
    assert_eq!(wrong, unknown);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_accounts_cannot_sign_in_and_lose_their_sessions() {
    let app = TestApp::spawn().await;
    let signed_in = app.signed_in("ada", Role::Approver).await;
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ada",
        true,
    )
    .await
    .unwrap();

    let me: serde_json::Value = app
        .rpc(&signed_in, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(me.is_null(), "session ended on disable");
    let res = app
        .rpc(
            &app.client(),
            "sign_in",
            &[("username", "ada"), ("password", "a long enough password")],
        )
        .await;
    assert_eq!(error_of(res).await.1, "invalid_credentials");

    askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ada",
        false,
    )
    .await
    .unwrap();
    let res = app
        .rpc(
            &app.client(),
            "sign_in",
            &[("username", "ada"), ("password", "a long enough password")],
        )
        .await;
    assert!(res.status().is_success());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_rate_limited_until_the_window_passes() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let client = app.client();
    for _ in 0..5 {
        let res = app
            .rpc(
                &client,
                "sign_in",
                &[("username", "ada"), ("password", "guess")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while limited, and says when to retry.
    let res = app
        .rpc(
            &client,
            "sign_in",
            &[("username", "ada"), ("password", "correct horse 1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "900");
    let (_, code, _) = error_of(res).await;
    assert_eq!(code, "rate_limited");

    app.clock
        .advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let res = app
        .rpc(
            &client,
            "sign_in",
            &[("username", "ada"), ("password", "correct horse 1")],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_form_posts_redirect_with_the_error_for_the_page() {
    let app = TestApp::spawn().await;
    app.add_user("ada", Role::Admin, "correct horse 1").await;
    let client = app.client();
    let login = app.url("/login");
    let res = client
        .post(app.url("/rpc/sign_in"))
        .header("accept", "text/html")
        .header("referer", &login)
        .form(&[("username", "ada"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    // Back to the page as a path of this site, the error paired with this browser's token.
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/login?")
            && location.contains("__err=")
            && location.contains("__form="),
        "{location}"
    );
    let page = client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("wrong username or password"));

    // The same link in another browser (one without the token's cookie) shows no error: a
    // link cannot put its author's words on the page.
    let stranger = app.client();
    let page = stranger
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("wrong username or password"), "{page}");
    let forged = format!(
        "/login?__path=/rpc/sign_in&__err={}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE,
            r#"{"error":{"code":"forbidden","message":"Your account is locked: reset it at evil.example"}}"#
        )
    );
    for who in [&client, &stranger] {
        let page = who
            .get(app.url(&forged))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!page.contains("evil.example"), "{page}");
    }

    // A Referer of another site is never where the browser is sent.
    for referer in [
        "http://evil.example/x",
        "//evil.example/x",
        "javascript:alert(1)",
    ] {
        let res = client
            .post(app.url("/rpc/sign_in"))
            .header("accept", "text/html")
            .header("referer", referer)
            .form(&[("username", "ada"), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        let location = res.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains("evil"),
            "{referer}: {location}"
        );
    }

    let res = client
        .post(app.url("/rpc/sign_in"))
        .header("accept", "text/html")
        .header("referer", &login)
        .form(&[("username", "ada"), ("password", "correct horse 1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/");
    let home = app.page(&client, "/").await;
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Signed in as"));
    app.stop().await;
}

/// Signs in from `client` claiming `forwarded` as the client address; returns the status.
async fn attempt(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    forwarded: Option<&str>,
) -> (u16, Option<String>) {
    let mut req = client
        .post(app.url("/rpc/sign_in"))
        .header("accept", "application/json")
        .form(&[("username", username), ("password", "not the password")]);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    let res = req.send().await.unwrap();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (res.status().as_u16(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_passwords_gets_no_more_verifications_than_the_limit() {
    let app = TestApp::spawn().await;
    app.add_user("victim", Role::Admin, "the real password 1")
        .await;
    let client = app.client();
    let before = askfirst::auth::password::verifications();
    let burst = (0..200).map(|_| attempt(&app, &client, "victim", None));
    let results = futures::future::join_all(burst).await;
    let verified = askfirst::auth::password::verifications() - before;
    let refused = results.iter().filter(|(s, _)| *s == 429).count();
    let wrong = results.iter().filter(|(s, _)| *s == 401).count();
    assert!(verified <= 5, "{verified} verifications for a limit of 5");
    assert_eq!((wrong, refused), (5, 195), "{results:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn().await;
    let client = app.client();
    // 20 failures per address in 15 minutes: new names and new claimed addresses do not help.
    for i in 0..20 {
        let (status, _) = attempt(
            &app,
            &client,
            &format!("nobody{i}"),
            Some(&format!("198.51.100.{i}")),
        )
        .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let (status, retry) = attempt(&app, &client, "nobody-else", Some("203.0.113.77")).await;
    assert_eq!(status, 429);
    assert!(retry.is_some());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_are_told_apart_and_hashing_is_bounded() {
    let app = TestApp::spawn_trusting(vec!["127.0.0.1/32".parse().unwrap()]).await;
    let client = app.client();
    // Through the proxy, 25 clients each fail once: none is limited by the others.
    for i in 0..25 {
        let (status, _) = attempt(
            &app,
            &client,
            &format!("p{i}"),
            Some(&format!("198.51.100.{i}")),
        )
        .await;
        assert_eq!(status, 401, "client {i}");
    }
    // Many clients at once: at most 4 hashes run and 64 wait; the rest hear 503 at once.
    let burst = (0..300).map(|i| {
        let (app, client) = (&app, &client);
        async move {
            attempt(
                app,
                client,
                &format!("q{i}"),
                Some(&format!("203.0.{}.{}", i / 200, i % 200)),
            )
            .await
        }
    });
    let results = futures::future::join_all(burst).await;
    let busy: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert!(!busy.is_empty(), "no 503 among {results:?}");
    assert!(
        busy.iter().all(|(_, retry)| retry.is_some()),
        "503 carries Retry-After"
    );
    assert!(
        results.iter().all(|(s, _)| *s == 401 || *s == 503),
        "{results:?}"
    );
    app.stop().await;
}
