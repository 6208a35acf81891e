//! Event streams end with their rights: a person's inbox stream when their session ends or
//! their account is disabled, an agent's stream when it is disabled or its key rotated out.

use crate::support::TestApp;
use askfirst::domain::Role;
use futures::StreamExt;
use std::time::Duration;

/// Whether the stream ends (the server closes it) within `within`.
async fn ends_within(res: reqwest::Response, within: Duration) -> bool {
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return false,                     // still open
            Ok(None) | Ok(Some(Err(_))) => return true, // closed
            Ok(Some(Ok(_))) => {}                       // a keep-alive or an event
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_streams_end_when_the_session_does() {
    let app = TestApp::spawn().await;
    // Disabled account.
    let ann = app.signed_in("ann", Role::Viewer).await;
    let res = ann.get(app.url("/inbox/events")).send().await.unwrap();
    askfirst::auth::service::set_disabled(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "ann",
        true,
    )
    .await
    .unwrap();
    assert!(ends_within(res, Duration::from_secs(6)).await, "disabled");
    // Signed out.
    let bo = app.signed_in("bo", Role::Manager).await;
    let res = bo.get(app.url("/reviews/events")).send().await.unwrap();
    app.rpc(&bo, "sign_out", &[]).await;
    assert!(ends_within(res, Duration::from_secs(6)).await, "signed out");
    // Demoted below the stream's role.
    let cy = app.signed_in("cy", Role::Manager).await;
    let res = cy.get(app.url("/reviews/events")).send().await.unwrap();
    askfirst::auth::service::set_role(
        app.pool(),
        app.clock.as_ref(),
        askfirst::auth::service::Actor::Cli,
        "cy",
        Role::Approver,
    )
    .await
    .unwrap();
    assert!(ends_within(res, Duration::from_secs(6)).await, "demoted");
    // Still qualified: the stream stays open.
    let dee = app.signed_in("dee", Role::Viewer).await;
    let res = dee.get(app.url("/inbox/events")).send().await.unwrap();
    assert!(
        !ends_within(res, Duration::from_secs(3)).await,
        "a live session keeps it"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_streams_end_when_the_key_stops_working() {
    let app = TestApp::spawn().await;
    let open = |key: String| {
        let app = &app;
        async move {
            reqwest::Client::new()
                .get(app.url("/api/v1/events"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };
    let (key, _) = app.agent("bot").await;
    let res = open(key.clone()).await;
    app.gate().disable_agent("bot", "test").await.unwrap();
    assert!(ends_within(res, Duration::from_secs(6)).await, "disabled");

    let (key, _) = app.agent("other").await;
    let res = open(key.clone()).await;
    app.gate()
        .rotate_key("other", chrono::Duration::zero(), "test")
        .await
        .unwrap();
    assert!(
        ends_within(res, Duration::from_secs(6)).await,
        "rotated out"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_are_capped_per_agent_and_per_session() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let (other, _) = app.agent("other").await;
    let events = |key: &str| {
        reqwest::Client::new()
            .get(app.url("/api/v1/events"))
            .bearer_auth(key)
            .send()
    };
    let mut held = Vec::new();
    for _ in 0..askfirst::gate::hub::MAX_STREAMS {
        let res = events(&key).await.unwrap();
        assert_eq!(res.status(), 200);
        held.push(res);
    }
    let refused = events(&key).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert_eq!(
        events(&other).await.unwrap().status(),
        200,
        "another agent is not affected"
    );

    let ann = app.signed_in("ann", Role::Manager).await;
    let mut pages = Vec::new();
    for i in 0..askfirst::gate::hub::MAX_STREAMS {
        let path = if i % 2 == 0 {
            "/inbox/events"
        } else {
            "/reviews/events"
        };
        let res = ann.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        pages.push(res);
    }
    assert_eq!(
        ann.get(app.url("/inbox/events"))
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let bo = app.signed_in("bo", Role::Viewer).await;
    assert_eq!(
        bo.get(app.url("/inbox/events"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    drop((held, pages));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_bounded() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let agent_id: String = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT id FROM agents WHERE name = 'bot'"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    // 10,001 calls of this agent left `pending` (rows made directly: only their count matters).
    askfirst::on!(app.pool(), |cn| sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001)
         INSERT INTO audit_events (at, actor, kind, agent_id, call_id, from_status, to_status,
             detail, prev_hash, hash)
         SELECT 0, 'seed', 'call.expired', $1, 'gone-' || i, 'pending', 'expired', '{}', 'x', 'x'
         FROM n",
    )
    .bind(&agent_id)
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let last: i64 = askfirst::on!(app.pool(), |cn| sqlx::query_scalar(
        "SELECT MAX(id) FROM audit_events"
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    let replay = |from: i64| {
        reqwest::Client::new()
            .get(app.url("/api/v1/events"))
            .bearer_auth(&key)
            .header("last-event-id", from.to_string())
            .send()
    };
    let res = replay(0).await.unwrap();
    assert_eq!(res.status(), 409);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "replay_window_exceeded");
    assert_eq!(replay(last - 5).await.unwrap().status(), 200);
    app.stop().await;
}

/// The first thing every stream sends is its opening comment: the client has the headers,
/// and knows it is subscribed, before any event or keep-alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_open_with_a_comment() {
    let app = TestApp::spawn().await;
    let (key, _) = app.agent("bot").await;
    let agent = reqwest::Client::new()
        .get(app.url("/api/v1/events"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let viewer = app.signed_in("val", Role::Viewer).await;
    let inbox = viewer.get(app.url("/inbox/events")).send().await.unwrap();
    for (what, res) in [("agent", agent), ("inbox", inbox)] {
        assert_eq!(res.status(), 200, "{what}");
        assert_eq!(res.headers()["content-type"], "text/event-stream", "{what}");
        let first = res.bytes_stream().next().await.unwrap().unwrap();
        assert_eq!(&first[..], b": subscribed\n\n", "{what}");
    }
    app.stop().await;
}
