//! The event stream: live events, replay with `Last-Event-ID`, and parsing.

use crate::fake::{Fake, Policy, Then};
use askfirst_sdk::{Error, ProposedCall, Status};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn events_arrive_live_and_replay_from_an_id() {
    let fake = Fake::start().await;
    fake.policy("deploy", Policy::Gate(Then::Approve(None)))
        .policy("send_email", Policy::Gate(Then::Deny(Some("no"))));
    let client = fake.client();
    let mut events = client.events(None).await.unwrap();
    let deploy = client
        .submit_async(ProposedCall::new("s", "deploy"), json!({ "step": 2 }), None)
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.call.id, deploy.id);
    assert_eq!(first.call.status, Status::Approved);
    assert_eq!(first.call.checkpoint, Some(json!({ "step": 2 })));
    let email = client
        .submit_async(
            ProposedCall::new("s", "send_email"),
            json!({ "step": 3 }),
            None,
        )
        .await
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.call.id.as_str(), second.call.status),
        (email.id.as_str(), Status::Denied)
    );
    assert!(second.id > first.id);
    drop(events);

    // Reconnect after the first: the second is replayed.
    let mut replay = client.events(Some(first.id)).await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(5), replay.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(again, second);
    let ids: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/api/v1/events")
        .map(|s| s.last_event_id)
        .collect();
    assert_eq!(ids, [None, Some(first.id.to_string())]);
}

#[tokio::test]
async fn only_call_events_with_good_json_come_through() {
    let fake = Fake::start().await;
    fake.raw_events(concat!(
        ": hello\n\n",
        "retry: 1000\n\n",
        "event: call\r\nid: 41\r\ndata: {\"id\":\"c1\",\"status\":\"approved\",\"args\":{\"a\":1}}\r\n\r\n",
        "event: heartbeat\ndata: {}\n\n",
        "event: call\nid: 42\ndata: {\"id\":\n\n",
        "event: call\nid: 43\ndata: {\"id\":\"c3\",\"status\":\"expired\",\"new_field\":true}\n\n",
    ));
    let got: Vec<_> = fake.client().events(Some(0)).await.unwrap().collect().await;
    assert_eq!(got.len(), 3, "{got:?}");
    let first = got[0].as_ref().unwrap();
    assert_eq!((first.id, first.call.id.as_str()), (41, "c1"));
    assert_eq!(first.call.args, json!({ "a": 1 }));
    assert!(matches!(&got[1], Err(Error::Decode(m)) if m.contains("42")));
    let third = got[2].as_ref().unwrap();
    assert_eq!((third.id, third.call.status), (43, Status::Expired));
}

#[tokio::test]
async fn a_refused_subscription_is_an_error_up_front() {
    let fake = Fake::start().await;
    let wrong = askfirst_sdk::Client::new(&fake.url, "nope").unwrap();
    match wrong.events(None).await {
        Err(e) => assert_eq!((e.status(), e.code()), (Some(401), Some("unauthenticated"))),
        Ok(_) => panic!("subscribed with a wrong key"),
    }
}
