//! Pages rendered from many tasks at once: every request completes. A page that never
//! completed under concurrent renders would be a lock held across an await, or state shared
//! between requests, and would hang a production server too.

use crate::support::TestApp;
use askfirst::domain::Role;
use serde_json::json;
use std::time::Duration;

/// The pages people open, with the call's card among them.
fn pages(call: &str) -> Vec<String> {
    [
        "/",
        "/inbox",
        "/history",
        "/policy",
        "/agents",
        "/people",
        "/reviews",
        "/bypasses",
        "/insights",
        "/audit",
        "/notifications",
        "/account",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain([format!("/calls/{call}")])
    .collect()
}

/// A server with an admin's session and one waiting call.
async fn busy_app() -> (TestApp, reqwest::Client, String) {
    let app = TestApp::spawn().await;
    let admin = app.session_for("ada", Role::Admin).await;
    let (key, _) = app.agent("bot").await;
    let call = app
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": { "env": "production" } }),
        )
        .await;
    (app, admin, call["id"].as_str().unwrap().to_string())
}

/// Three servers on one runtime of eight workers (more threads than cores, so renders are
/// preempted mid-way), 24 tasks walking every page six times: 1,872 pages at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn pages_rendered_at_once_on_several_servers_all_complete() {
    const SERVERS: usize = 3;
    const TASKS_PER_SERVER: usize = 8;
    const ROUNDS: usize = 6;
    let mut apps = Vec::new();
    for _ in 0..SERVERS {
        apps.push(std::sync::Arc::new(busy_app().await));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (n, app) in apps.iter().enumerate() {
        for t in 0..TASKS_PER_SERVER {
            let app = app.clone();
            tasks.spawn(async move {
                let (app, client, call) = &*app;
                let mut pages = pages(call);
                // Each task walks the pages in its own order.
                let turn = (n * TASKS_PER_SERVER + t) % pages.len();
                pages.rotate_left(turn);
                for _ in 0..ROUNDS {
                    for path in &pages {
                        let res = tokio::time::timeout(Duration::from_secs(30), async {
                            let res = app.page(client, path).await;
                            let status = res.status();
                            let body = res.text().await.expect("body");
                            (status, body)
                        })
                        .await
                        .unwrap_or_else(|_| panic!("{path} did not complete in 30 s"));
                        assert_eq!(res.0, 200, "{path}");
                        assert!(res.1.contains("</html>"), "{path}: a whole page");
                    }
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a rendering task");
    }
    for app in apps {
        let (app, _, _) = std::sync::Arc::into_inner(app).expect("tasks done");
        app.stop().await;
    }
}

/// Servers each on a tokio runtime of its own in one process (as the test harness runs
/// tests in parallel), their pages rendered at once. When pages read their data through
/// `Resource`s shared by several `Suspense` boundaries (the session's user, the agents
/// page's two), about one run in three left a page request unanswered for good: every
/// thread idle, the connection mid-request, the render waiting on a wake-up Leptos never
/// sent. Pages now await their server functions directly (see `askfirst::app`), and the
/// integration suite runs in parallel again.
#[test]
fn pages_rendered_at_once_on_servers_in_several_runtimes_all_complete() {
    let threads: Vec<_> = (0..3)
        .map(|n| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    for round in 0..4 {
                        let (app, client, call) = busy_app().await;
                        let pages = pages(&call);
                        let mut tasks = tokio::task::JoinSet::new();
                        let app = std::sync::Arc::new(app);
                        for t in 0..6 {
                            let (app, client, mut pages) =
                                (app.clone(), client.clone(), pages.clone());
                            let turn = (n + t + round) % pages.len();
                            pages.rotate_left(turn);
                            tasks.spawn(async move {
                                for path in &pages {
                                    let res =
                                        tokio::time::timeout(Duration::from_secs(30), async {
                                            app.page(&client, path)
                                                .await
                                                .text()
                                                .await
                                                .expect("body")
                                        })
                                        .await
                                        .unwrap_or_else(
                                            |_| panic!("{path} did not complete in 30 s"),
                                        );
                                    assert!(res.contains("</html>"), "{path}");
                                }
                            });
                        }
                        while let Some(done) = tasks.join_next().await {
                            done.expect("a rendering task");
                        }
                        std::sync::Arc::into_inner(app).unwrap().stop().await;
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a server's runtime");
    }
}
