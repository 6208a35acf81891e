//! The plain client methods, errors, long-polls and the async gate's halves.

use crate::fake::{Fake, Policy, Then};
use askfirst_sdk::{Client, Error, GateOutcome, ProposedCall, Status};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn errors_carry_status_and_code() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Never));
    let client = fake.client();

    let wrong = Client::new(&fake.url, "af_wrong").unwrap();
    let e = wrong
        .propose(&ProposedCall::new("s", "t"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Api { status: 401, code, .. } if code == "unauthenticated"),
        "{e}"
    );

    let e = client.get("no-such-call").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("not_found")));

    let pending = client
        .propose(&ProposedCall::new("s", "deploy"))
        .await
        .unwrap();
    let e = client.execute(&pending.id).await.unwrap_err();
    assert!(e.is_conflict("not_approved"), "{e}");
    let cancelled = client.cancel(&pending.id).await.unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert!(client
        .cancel(&pending.id)
        .await
        .unwrap_err()
        .is_conflict("not_pending"));

    let allowed = client
        .propose(&ProposedCall::new("s", "read"))
        .await
        .unwrap();
    client.execute(&allowed.id).await.unwrap();
    assert!(client
        .execute(&allowed.id)
        .await
        .unwrap_err()
        .is_conflict("already_executed"));

    let e = client.get("garbage").await.unwrap_err();
    assert!(
        matches!(&e, Error::Decode(m) if m.starts_with("call:")),
        "{e}"
    );
    assert!(matches!(client.get("..").await, Err(Error::Usage(_))));
}

#[tokio::test]
async fn an_unreachable_server_is_an_http_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = Client::new(url, "k").unwrap().get("c1").await.unwrap_err();
    assert!(matches!(e, Error::Http(_)), "{e}");
}

#[tokio::test]
async fn wait_long_polls_until_people_decide() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Never));
    let client = fake.client();
    let p = client
        .propose(&ProposedCall::new("s", "deploy"))
        .await
        .unwrap();
    let id = p.id.clone();
    let decider = {
        let client_fake = &fake;
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client_fake.decide(&id, Then::Approve(None));
        }
    };
    let started = Instant::now();
    let (view, ()) = tokio::join!(client.wait(&p.id, Duration::from_secs(30)), decider);
    let view = view.unwrap();
    assert_eq!(view.status, Status::Approved);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.count("GET", &p.id), 1, "one long-poll");
    let wait: u64 = fake.seen().last().unwrap().body["wait"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&wait), "{wait}");
}

#[tokio::test]
async fn wait_gives_up_after_max_without_spinning() {
    for ignore_wait in [false, true] {
        let fake = Fake::start().await;
        fake.policy("deploy", Policy::Gate(Then::Never));
        if ignore_wait {
            fake.ignore_wait();
        }
        let client = fake.client();
        let p = client
            .propose(&ProposedCall::new("s", "deploy"))
            .await
            .unwrap();
        let started = Instant::now();
        let view = client
            .wait(&p.id, Duration::from_millis(2500))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(view.status, Status::Pending);
        assert!(
            elapsed >= Duration::from_millis(2400) && elapsed < Duration::from_secs(5),
            "{elapsed:?}"
        );
        let polls = fake.count("GET", &p.id);
        assert!(
            (2..=5).contains(&polls),
            "ignore_wait={ignore_wait}: {polls} polls"
        );
    }
}

#[tokio::test]
async fn the_async_gate_submits_a_checkpoint_and_resumes_once() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Never));
    let client = fake.client();
    let call = ProposedCall::new("s", "deploy").args(json!({ "env": "production" }));
    let p = client
        .submit_async(
            call,
            json!({ "step": 2 }),
            Some("http://127.0.0.1:9/hook".into()),
        )
        .await
        .unwrap();
    assert_eq!(p.status, Status::Pending);
    let body = &fake.proposals()[0].body;
    assert_eq!(body["checkpoint"], json!({ "step": 2 }));
    assert_eq!(body["callback_url"], "http://127.0.0.1:9/hook");
    assert!(
        client.proceed(&p, |a| async move { a }).await.is_err(),
        "pending"
    );

    fake.decide(&p.id, Then::Approve(Some(json!({ "env": "staging" }))));
    let view = client.get(&p.id).await.unwrap();
    assert_eq!(view.checkpoint, Some(json!({ "step": 2 })));
    let out = client.resume(&view, |a| async move { a }).await.unwrap();
    assert_eq!(
        out,
        GateOutcome::Executed {
            id: p.id.clone(),
            args: json!({ "env": "staging" }),
            output: json!({ "env": "staging" })
        }
    );
    // A repeated webhook: the server refuses, the tool does not run again.
    let again = client
        .resume(&view, |_| async { panic!("ran twice") })
        .await
        .unwrap_err();
    assert!(again.is_conflict("already_executed"));
}

#[tokio::test]
async fn resuming_what_was_not_approved_runs_nothing() {
    let fake = Fake::start().await;
    fake.policy("send_email", Policy::Gate(Then::Never))
        .policy("deploy", Policy::Gate(Then::Never))
        .stale("deploy", 1);
    let client = fake.client();

    let p = client
        .propose(&ProposedCall::new("s", "send_email"))
        .await
        .unwrap();
    fake.decide(&p.id, Then::Deny(Some("not to customers")));
    let view = client.get(&p.id).await.unwrap();
    let out: GateOutcome<()> = client
        .resume(&view, |_| async { panic!("ran") })
        .await
        .unwrap();
    assert_eq!(
        out,
        GateOutcome::Denied {
            id: p.id,
            status: Status::Denied,
            feedback: "not to customers".into()
        }
    );

    let p = client
        .propose(&ProposedCall::new("s", "deploy"))
        .await
        .unwrap();
    fake.decide(&p.id, Then::Approve(None));
    let view = client.get(&p.id).await.unwrap();
    let out: GateOutcome<()> = client
        .resume(&view, |_| async { panic!("ran") })
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            GateOutcome::Denied {
                status: Status::Stale,
                ..
            }
        ),
        "{out:?}"
    );

    // A forged or outdated view that claims approval: the server has the last word.
    let p = client
        .propose(&ProposedCall::new("s", "send_email"))
        .await
        .unwrap();
    let mut view = client.get(&p.id).await.unwrap();
    view.status = Status::Approved;
    client.cancel(&p.id).await.unwrap();
    let out: GateOutcome<()> = client
        .resume(&view, |_| async { panic!("ran") })
        .await
        .unwrap();
    assert!(
        matches!(
            out,
            GateOutcome::Denied {
                status: Status::Cancelled,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn proceed_runs_allowed_proposals_only() {
    let fake = Fake::start().await;
    fake.policy("export_credentials", Policy::Deny("out of scope"));
    let client = fake.client();
    let p = client
        .submit_async(
            ProposedCall::new("s", "read_logs"),
            json!({ "step": 1 }),
            None,
        )
        .await
        .unwrap();
    let out = client.proceed(&p, |a| async move { a }).await.unwrap();
    assert!(out.is_executed());
    let p = client
        .submit_async(
            ProposedCall::new("s", "export_credentials"),
            json!({ "step": 4 }),
            None,
        )
        .await
        .unwrap();
    let out: GateOutcome<()> = client
        .proceed(&p, |_| async { panic!("ran") })
        .await
        .unwrap();
    assert!(matches!(out, GateOutcome::Denied { ref feedback, .. } if feedback == "out of scope"));
}
