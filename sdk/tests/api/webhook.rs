//! Webhook verification, table-driven.

use askfirst_sdk::{sign_webhook, verify_webhook, Error, SignatureError, Status};

const SECRET: &str = "whsec_test";
const BODY: &[u8] = br#"{"id":"c1","status":"approved","args":{"env":"staging"}}"#;
const T: i64 = 1_700_000_000;

/// Computed independently (Python's hmac module) for SECRET, T and BODY.
const KNOWN_V1: &str = "e7d61fda58262e4bb04e711f0f1bbbf07e976cfd55470900ce5a5738066eda82";

#[test]
fn signing_matches_an_independent_implementation() {
    assert_eq!(
        sign_webhook(SECRET, T, BODY),
        format!("t={T},v1={KNOWN_V1}")
    );
}

#[test]
fn verification_table() {
    let good = sign_webhook(SECRET, T, BODY);
    let zeros = "00".repeat(32);
    let other_secret = sign_webhook("whsec_other", T, BODY);
    // The right signature under a moved timestamp (a replay made to look fresh).
    let moved_t = format!("t={},v1={KNOWN_V1}", T + 1);
    let several_one_good = format!("t={T},v1={zeros},v1={KNOWN_V1}");
    let several_none_good = format!("t={T},v1={zeros},v1={}", "11".repeat(32));
    let tampered: &[u8] = br#"{"id":"c1","status":"approved","args":{"env":"production"}}"#;
    let spaced = format!(" t = {T} , v1 = {KNOWN_V1} ");
    let future_scheme = format!("t={T},v2=abc,v1={KNOWN_V1}");
    let upper = format!("t={T},v1={}", KNOWN_V1.to_uppercase());
    let truncated = format!("t={T},v1={}", &KNOWN_V1[..32]);
    let two_t = format!("t={T},t={T},v1={KNOWN_V1}");
    let no_t = format!("v1={KNOWN_V1}");

    use SignatureError as E;
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [u8],
        i64,
        Result<(), SignatureError>,
    );
    let cases: Vec<Case> = vec![
        ("valid", Some(&good), BODY, T, Ok(())),
        ("valid, 300 s later", Some(&good), BODY, T + 300, Ok(())),
        (
            "valid, clock 300 s behind",
            Some(&good),
            BODY,
            T - 300,
            Ok(()),
        ),
        ("spaces around parts", Some(&spaced), BODY, T, Ok(())),
        (
            "unknown schemes ignored",
            Some(&future_scheme),
            BODY,
            T,
            Ok(()),
        ),
        ("uppercase hex", Some(&upper), BODY, T, Ok(())),
        (
            "several v1, one matches",
            Some(&several_one_good),
            BODY,
            T,
            Ok(()),
        ),
        (
            "wrong secret",
            Some(&other_secret),
            BODY,
            T,
            Err(E::Mismatch),
        ),
        (
            "timestamp changed after signing",
            Some(&moved_t),
            BODY,
            T + 1,
            Err(E::Mismatch),
        ),
        ("tampered body", Some(&good), tampered, T, Err(E::Mismatch)),
        (
            "truncated signature",
            Some(&truncated),
            BODY,
            T,
            Err(E::Mismatch),
        ),
        (
            "several v1, none matches",
            Some(&several_none_good),
            BODY,
            T,
            Err(E::Mismatch),
        ),
        (
            "too old",
            Some(&good),
            BODY,
            T + 301,
            Err(E::Timestamp { skew_secs: 301 }),
        ),
        (
            "from the future",
            Some(&good),
            BODY,
            T - 301,
            Err(E::Timestamp { skew_secs: -301 }),
        ),
        ("no header", None, BODY, T, Err(E::MissingHeader)),
        (
            "garbage",
            Some("garbage"),
            BODY,
            T,
            Err(E::Malformed("expected key=value pairs")),
        ),
        (
            "empty",
            Some(""),
            BODY,
            T,
            Err(E::Malformed("expected key=value pairs")),
        ),
        (
            "missing v1",
            Some("t=1700000000"),
            BODY,
            T,
            Err(E::MissingSignature),
        ),
        (
            "missing t",
            Some(&no_t),
            BODY,
            T,
            Err(E::Malformed("no timestamp")),
        ),
        (
            "two timestamps",
            Some(&two_t),
            BODY,
            T,
            Err(E::Malformed("more than one timestamp")),
        ),
        (
            "t not a number",
            Some("t=soon,v1=00"),
            BODY,
            T,
            Err(E::Malformed("timestamp is not an integer")),
        ),
        (
            "v1 not hex",
            Some("t=1700000000,v1=xyz"),
            BODY,
            T,
            Err(E::Malformed("v1 is not hex")),
        ),
        (
            "huge t",
            Some("t=9223372036854775807,v1=00"),
            BODY,
            i64::MIN,
            Err(E::Timestamp {
                skew_secs: i64::MIN as i128 - i64::MAX as i128,
            }),
        ),
    ];
    for (name, header, body, now, expected) in cases {
        let headers: Vec<(&str, &str)> = match header {
            Some(h) => vec![
                ("content-type", "application/json"),
                ("askfirst-signature", h),
            ],
            None => vec![("content-type", "application/json")],
        };
        let got = verify_webhook(SECRET, headers, body, now, 300);
        match (got, expected) {
            (Ok(view), Ok(())) => assert_eq!(
                (view.id.as_str(), view.status),
                ("c1", Status::Approved),
                "{name}"
            ),
            (Err(Error::Signature(e)), Err(expected)) => assert_eq!(e, expected, "{name}"),
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn the_header_name_is_case_insensitive_and_the_body_must_be_a_call() {
    let good = sign_webhook(SECRET, T, BODY);
    for name in [
        "Askfirst-Signature",
        "ASKFIRST-SIGNATURE",
        "askfirst-signature",
    ] {
        assert!(
            verify_webhook(SECRET, [(name, good.as_str())], BODY, T, 300).is_ok(),
            "{name}"
        );
    }
    let body = br#"{"not":"a call"}"#;
    let signed = sign_webhook(SECRET, T, body);
    let got = verify_webhook(
        SECRET,
        [("Askfirst-Signature", signed.as_str())],
        body,
        T,
        300,
    );
    assert!(matches!(got, Err(Error::Decode(_))), "{got:?}");
}

#[test]
fn verify_now_uses_the_clock() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh = sign_webhook(SECRET, now, BODY);
    assert!(askfirst_sdk::verify_webhook_now(
        SECRET,
        [("askfirst-signature", fresh.as_str())],
        BODY
    )
    .is_ok());
    let old = sign_webhook(SECRET, now - 3600, BODY);
    assert!(
        askfirst_sdk::verify_webhook_now(SECRET, [("askfirst-signature", old.as_str())], BODY)
            .is_err()
    );
}

/// The fake server signs deliveries with its own HMAC code; a receiver verifying them with
/// the SDK accepts them, and resumes the call from the delivered view.
#[tokio::test]
async fn deliveries_over_http_verify_and_resume() {
    use crate::fake::{Fake, Policy, Then};
    use axum::{body::Bytes, http::HeaderMap, http::StatusCode, routing::post, Router};
    use serde_json::json;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let pairs = headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
                match askfirst_sdk::verify_webhook_now(crate::fake::SECRET, pairs, &body) {
                    Ok(view) => {
                        tx.send(view).unwrap();
                        StatusCode::NO_CONTENT
                    }
                    Err(_) => StatusCode::UNAUTHORIZED,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let fake = Fake::start().await;
    fake.policy(
        "deploy",
        Policy::Gate(Then::Approve(Some(json!({ "env": "staging" })))),
    );
    let client = fake.client();
    let call = askfirst_sdk::ProposedCall::new("s", "deploy").args(json!({ "env": "production" }));
    let p = client
        .submit_async(call, json!({ "step": 2 }), Some(hook))
        .await
        .unwrap();
    let view = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.id.as_str(), view.status),
        (p.id.as_str(), Status::Approved)
    );
    assert_eq!(view.checkpoint, Some(json!({ "step": 2 })));
    let out = client
        .resume(&view, |args| async move { args })
        .await
        .unwrap();
    assert!(
        matches!(out, askfirst_sdk::GateOutcome::Executed { ref args, .. } if args == &json!({ "env": "staging" }))
    );
    assert_eq!(fake.webhooks(), [204]);
    receiver.abort();
}
