//! The demo agent against the fake server, in its three ways of waiting.

use crate::fake::{Fake, Policy, Then, SECRET};
use askfirst_sdk::demo::{run, DemoConfig, DemoReport, Mode};
use askfirst_sdk::Status;
use serde_json::json;
use std::time::Duration;

async fn play(mode: Mode, webhook: bool) -> (Fake, DemoReport) {
    let fake = Fake::start().await;
    fake.policy("read_logs", Policy::Allow)
        .policy("deploy", Policy::Gate(Then::Approve(None)))
        .policy(
            "send_email",
            Policy::Gate(Then::Deny(Some("not to customers today"))),
        )
        .policy(
            "export_credentials",
            Policy::Deny("out of scope for this agent"),
        );
    let mut config = DemoConfig::new(&fake.url, crate::fake::KEY);
    config.mode = mode;
    config.webhook_secret = webhook.then(|| SECRET.to_string());
    let report = tokio::time::timeout(Duration::from_secs(20), run(config))
        .await
        .expect("the demo finishes")
        .unwrap();
    (fake, report)
}

fn position(report: &DemoReport, prefix: &str) -> usize {
    report
        .transcript
        .iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in {:#?}", report.transcript))
}

fn check(report: &DemoReport) {
    let outcomes: Vec<_> = report
        .iter()
        .map(|s| (s.tool.as_str(), s.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("read_logs", Status::Executed),
            ("deploy", Status::Executed),
            ("send_email", Status::Denied),
            ("export_credentials", Status::Denied),
        ]
    );
    assert_eq!(
        report.steps[1].args,
        Some(json!({ "service": "api", "env": "production" }))
    );
    assert_eq!(
        report.steps[2].feedback.as_deref(),
        Some("not to customers today")
    );
    let deploy_id = &report.steps[1].call_id;
    let lines = [
        "askfirst demo agent",
        "EXECUTING step 1/4 read_logs",
        &format!("WAITING step 2/4 deploy (call {deploy_id}, approve in the inbox or: askfirst calls approve {deploy_id} --user <name>)"),
        "EXECUTING step 2/4 deploy",
        "WAITING step 3/4 send_email",
        "CANCELLED step 3/4 send_email: not to customers today",
        "CANCELLED step 4/4 export_credentials: out of scope for this agent",
        "FINISHED 2 of 4 steps executed",
    ];
    let at: Vec<_> = lines.iter().map(|l| position(report, l)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {at:?}");
    assert!(report.transcript[0].contains("simulated"));
    assert!(!report
        .transcript
        .iter()
        .any(|l| l.starts_with("EXECUTING step 3/4")));
}

#[tokio::test]
async fn sync_mode_blocks_at_each_gate() {
    let (fake, report) = play(Mode::Sync, false).await;
    check(&report);
    assert_eq!(report.mode, Mode::Sync);
    assert!(!report.transcript.iter().any(|l| l.starts_with("SUSPENDED")));
    let proposals = fake.proposals();
    let session = proposals[0].body["session"].as_str().unwrap().to_string();
    let keys: Vec<_> = proposals
        .iter()
        .map(|p| p.idempotency_key.clone().unwrap())
        .collect();
    assert_eq!(
        keys,
        (1..=4)
            .map(|n| format!("{session}/step-{n}"))
            .collect::<Vec<_>>()
    );
    let context = &proposals[1].body["context"];
    assert_eq!(
        (
            context["plan_step"].as_u64(),
            context["plan_total"].as_u64()
        ),
        (Some(2), Some(4))
    );
}

#[tokio::test]
async fn async_mode_resumes_from_the_event_stream() {
    let (fake, report) = play(Mode::Async, false).await;
    check(&report);
    assert!(
        position(&report, "SUSPENDED step 2/4 deploy")
            < position(&report, "RESUMED step 2/4 deploy")
    );
    assert_eq!(fake.count("GET", "/api/v1/events"), 1);
    let deploy = &fake.proposals()[1].body;
    assert_eq!(deploy["checkpoint"]["step"], 2);
    assert_eq!(deploy["checkpoint"]["plan"][3], "export_credentials");
    assert!(deploy.get("callback_url").is_none());
    assert!(fake.webhooks().is_empty());
}

#[tokio::test]
async fn async_mode_resumes_from_signed_webhooks() {
    let (fake, report) = play(Mode::Async, true).await;
    check(&report);
    position(&report, "RESUMED step 3/4 send_email");
    assert_eq!(fake.count("GET", "/api/v1/events"), 0);
    let url = fake.proposals()[1].body["callback_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(
        fake.webhooks(),
        [204, 204],
        "both deliveries verified and accepted"
    );
}
