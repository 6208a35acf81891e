//! A small agent loop showing both gates: a 4-step plan with a routine read (allowed), a
//! production deploy (gated), an email to a customer (gated) and a credential export
//! (denied by policy). The tools are simulated: they print what they would do.

use crate::{CallView, Client, Error, GateOutcome, ProposedCall, Status};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

/// How the agent waits for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Block on each gate (long-poll).
    Sync,
    /// Checkpoint, exit the loop, resume from an event or a signed webhook.
    Async,
}

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub url: String,
    pub key: String,
    pub mode: Mode,
    /// With a secret, async mode resumes from webhooks to a receiver on 127.0.0.1;
    /// without, from the event stream.
    pub webhook_secret: Option<String>,
    /// The agent run's name.
    pub session: String,
}

/// What happened at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub step: usize,
    pub tool: String,
    /// `executed`, or the status that stopped it.
    pub outcome: String,
    pub feedback: Option<String>,
}

fn plan() -> Vec<ProposedCall> {
    vec![
        ProposedCall::new("", "read_logs")
            .args(json!({ "service": "api", "since": "1h" }))
            .reason("Find why checkout is slow"),
        ProposedCall::new("", "deploy")
            .args(json!({ "service": "api", "env": "production", "version": "2.4.1" }))
            .reason("Ship the fix for the checkout timeout")
            .risk(["production"])
            .alternatives(["Wait for the nightly deploy"]),
        ProposedCall::new("", "send_email")
            .args(json!({ "to": "customer@example.com", "subject": "Checkout is fixed" }))
            .reason("Tell the customer who reported it")
            .risk(["customer_facing", "external_comms"]),
        ProposedCall::new("", "export_credentials")
            .args(json!({ "system": "billing" }))
            .reason("Hand billing access to the finance bot"),
    ]
}

async fn simulated_tool(tool: String, args: Value) -> Value {
    println!("    (simulated) {tool} {args}");
    json!({ "ok": true })
}

/// Runs the demo, printing the loop's state transitions; returns each step's outcome.
pub async fn run(config: DemoConfig) -> Result<Vec<StepReport>, Error> {
    let client = Client::new(&config.url, &config.key)?;
    let steps = plan();
    let total = steps.len();
    let mut reports = Vec::new();
    let receiver = match (config.mode, &config.webhook_secret) {
        (Mode::Async, Some(secret)) => Some(webhook::Receiver::start(secret.clone()).await?),
        _ => None,
    };
    for (i, mut call) in steps.into_iter().enumerate() {
        let step = i + 1;
        call.session = config.session.clone();
        call.context = Some(
            json!({ "plan_step": step, "plan_total": total, "summary": "Fix the checkout timeout" }),
        );
        let tool = call.tool.clone();
        println!("EXECUTING step {step}/{total} {tool}");
        let outcome = match config.mode {
            Mode::Sync => sync_step(&client, call, step, total).await?,
            Mode::Async => async_step(&client, call, step, total, receiver.as_ref()).await?,
        };
        let report = match outcome {
            GateOutcome::Executed { .. } => {
                println!("EXECUTING step {step}/{total} {tool}: done");
                StepReport {
                    step,
                    tool,
                    outcome: "executed".into(),
                    feedback: None,
                }
            }
            GateOutcome::Denied {
                status, feedback, ..
            } => {
                println!("CANCELLED step {step}/{total} {tool}: {feedback}");
                StepReport {
                    step,
                    tool,
                    outcome: format!("{status:?}").to_lowercase(),
                    feedback: Some(feedback),
                }
            }
        };
        reports.push(report);
    }
    Ok(reports)
}

async fn sync_step(
    client: &Client,
    call: ProposedCall,
    step: usize,
    total: usize,
) -> Result<GateOutcome<Value>, Error> {
    let proposal = client.propose(&call).await?;
    if proposal.status == Status::Pending {
        println!(
            "WAITING step {step}/{total} {} (call {}; approve in the inbox or: askfirst calls approve {} --user <name>)",
            call.tool, proposal.id, proposal.id
        );
        let view = client.wait(&proposal.id, Duration::from_secs(3600)).await?;
        return client
            .resume(&view, |args| simulated_tool(call.tool.clone(), args))
            .await;
    }
    if proposal.status == Status::Allowed {
        let executed = client.execute(&proposal.id).await?;
        let output = simulated_tool(call.tool.clone(), executed.args.clone()).await;
        return Ok(GateOutcome::Executed {
            id: proposal.id,
            args: executed.args,
            output,
        });
    }
    let feedback = proposal
        .message
        .unwrap_or_else(|| "denied by policy".into());
    Ok(GateOutcome::Denied {
        id: proposal.id,
        status: proposal.status,
        feedback,
    })
}

async fn async_step(
    client: &Client,
    call: ProposedCall,
    step: usize,
    total: usize,
    receiver: Option<&webhook::Receiver>,
) -> Result<GateOutcome<Value>, Error> {
    // Listen before proposing so the decision cannot slip past.
    let events = match receiver {
        Some(_) => None,
        None => Some(Box::pin(client.events(None).await?)),
    };
    let checkpoint = json!({ "step": step, "plan_total": total, "tool": call.tool });
    let proposal = client
        .submit_async(call.clone(), checkpoint, receiver.map(|r| r.url.clone()))
        .await?;
    match proposal.status {
        Status::Pending => {}
        Status::Allowed => {
            let executed = client.execute(&proposal.id).await?;
            let output = simulated_tool(call.tool.clone(), executed.args.clone()).await;
            return Ok(GateOutcome::Executed {
                id: proposal.id,
                args: executed.args,
                output,
            });
        }
        status => {
            let feedback = proposal
                .message
                .unwrap_or_else(|| "denied by policy".into());
            return Ok(GateOutcome::Denied {
                id: proposal.id,
                status,
                feedback,
            });
        }
    }
    println!(
        "WAITING step {step}/{total} {} (call {}; checkpointed, the loop exits until people decide — askfirst calls approve {} --user <name>)",
        call.tool, proposal.id, proposal.id
    );
    let view: CallView = match (receiver, events) {
        (Some(r), _) => r.next_for(&proposal.id).await?,
        (None, Some(mut events)) => loop {
            match events.next().await {
                Some(Ok(ev)) if ev.call.id == proposal.id => break ev.call,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => break client.wait(&proposal.id, Duration::from_secs(3600)).await?,
            }
        },
        (None, None) => unreachable!("one of the two is always set"),
    };
    println!(
        "RESUMED step {step}/{total} {} from checkpoint {}",
        call.tool,
        view.checkpoint.clone().unwrap_or_default()
    );
    client
        .resume(&view, |args| simulated_tool(call.tool.clone(), args))
        .await
}

mod webhook {
    use crate::{verify_webhook_now, CallView, Error};
    use axum::{
        body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Router,
    };
    use tokio::sync::{mpsc, Mutex};

    /// A webhook receiver on 127.0.0.1 that verifies deliveries.
    pub struct Receiver {
        pub url: String,
        rx: Mutex<mpsc::Receiver<CallView>>,
    }

    #[derive(Clone)]
    struct Inbox {
        secret: String,
        tx: mpsc::Sender<CallView>,
    }

    async fn deliver(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        match verify_webhook_now(&inbox.secret, pairs, &body) {
            Ok(view) => {
                let _ = inbox.tx.send(view).await;
                StatusCode::NO_CONTENT
            }
            Err(e) => {
                eprintln!("    rejected a webhook: {e}");
                StatusCode::UNAUTHORIZED
            }
        }
    }

    impl Receiver {
        pub async fn start(secret: String) -> Result<Self, Error> {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Error::Usage(e.to_string()))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::Usage(e.to_string()))?;
            let (tx, rx) = mpsc::channel(16);
            let app = Router::new()
                .route("/hook", post(deliver))
                .with_state(Inbox { secret, tx });
            tokio::spawn(async move { axum::serve(listener, app).await });
            Ok(Self {
                url: format!("http://{addr}/hook"),
                rx: Mutex::new(rx),
            })
        }

        pub async fn next_for(&self, id: &str) -> Result<CallView, Error> {
            let mut rx = self.rx.lock().await;
            while let Some(view) = rx.recv().await {
                if view.id == id {
                    return Ok(view);
                }
            }
            Err(Error::Usage("the webhook receiver stopped".into()))
        }
    }
}
