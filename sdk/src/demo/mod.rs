//! A small agent loop showing both gates (feature `demo`). Its plan has four steps: a
//! routine log read (policy allows it), a production deploy and an email to a customer
//! (gated: people decide), and a credential export (policy denies it as out of scope).
//! The tools are simulated: they print what they would do and return a small JSON result.
//!
//! In [`Mode::Sync`] each step goes through [`Client::execute_with_gate`], blocking while
//! people decide. In [`Mode::Async`] each step is proposed with
//! [`Client::submit_async`] and a checkpoint `{step, plan}`; at a gate the loop exits,
//! and it is resumed from the checkpoint when the decision arrives, by the event stream
//! or, with a webhook secret, by a signed webhook to a receiver on `127.0.0.1`.

mod resume;

use crate::{risk, Client, Error, GateOutcome, Proposal, ProposedCall, Status};
use resume::Source;
use serde_json::{json, Value};
use std::sync::Mutex;

/// How the agent waits for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Block on each gate (long-polls).
    Sync,
    /// Checkpoint, exit the loop, resume from an event or a signed webhook.
    Async,
}

/// Demo settings.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// The askfirst server, e.g. `http://127.0.0.1:3000`.
    pub url: String,
    /// An agent key.
    pub key: String,
    pub mode: Mode,
    /// The agent's webhook secret: async mode then resumes from signed webhooks to a
    /// receiver on 127.0.0.1; without it, from the event stream.
    pub webhook_secret: Option<String>,
    /// The port of that receiver on 127.0.0.1 (0: any free port). askfirst refuses
    /// callbacks inside the network unless an admin allowed their origin for the agent:
    /// `askfirst agent set-callbacks NAME http://127.0.0.1:PORT`.
    pub webhook_port: u16,
    /// The agent run's name (novelty and idempotency keys are per session).
    pub session: String,
}

impl DemoConfig {
    /// Sync mode, no webhook, a session named after the current time.
    pub fn new(url: impl Into<String>, key: impl Into<String>) -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self {
            url: url.into(),
            key: key.into(),
            mode: Mode::Sync,
            webhook_secret: None,
            webhook_port: 0,
            session: format!("demo-{millis}"),
        }
    }
}

/// What happened at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// 1-based.
    pub step: usize,
    pub tool: String,
    pub call_id: String,
    /// `executed`, or the status that stopped it (`denied`, `expired`, `cancelled`, `stale`).
    pub outcome: Status,
    /// The arguments the tool ran with (as approved), if it ran.
    pub args: Option<Value>,
    /// The simulated tool's result, if it ran.
    pub output: Option<Value>,
    /// Why it did not run.
    pub feedback: Option<String>,
}

/// What the demo did: each step's outcome and every line it printed.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    pub mode: Mode,
    pub steps: Vec<StepReport>,
    /// The lines printed, in order.
    pub transcript: Vec<String>,
}

impl DemoReport {
    /// The steps, in plan order.
    pub fn iter(&self) -> std::slice::Iter<'_, StepReport> {
        self.steps.iter()
    }
}

impl IntoIterator for DemoReport {
    type Item = StepReport;
    type IntoIter = std::vec::IntoIter<StepReport>;
    fn into_iter(self) -> Self::IntoIter {
        self.steps.into_iter()
    }
}

impl<'a> IntoIterator for &'a DemoReport {
    type Item = &'a StepReport;
    type IntoIter = std::slice::Iter<'a, StepReport>;
    fn into_iter(self) -> Self::IntoIter {
        self.steps.iter()
    }
}

/// One step of the plan.
struct Step {
    tool: &'static str,
    args: Value,
    reason: &'static str,
    risk: &'static [&'static str],
    alternatives: &'static [&'static str],
}

const SUMMARY: &str = "Fix the slow checkout and tell the customer who reported it";

fn plan() -> Vec<Step> {
    vec![
        Step {
            tool: "read_logs",
            args: json!({ "service": "api", "since": "1h" }),
            reason: "Find why checkout is slow",
            risk: &[],
            alternatives: &[],
        },
        Step {
            tool: "deploy",
            args: json!({ "service": "api", "env": "production" }),
            reason: "Ship the fix for the checkout timeout",
            risk: &[risk::PRODUCTION],
            alternatives: &["Wait for the nightly deploy"],
        },
        Step {
            tool: "send_email",
            args: json!({
                "to": "customer@example.com",
                "subject": "Checkout is fixed",
                "body": "Thanks for reporting the slow checkout; a fix is live."
            }),
            reason: "Tell the customer who reported it",
            risk: &[risk::CUSTOMER_FACING, risk::EXTERNAL_COMMS],
            alternatives: &["Let support reply in the ticket"],
        },
        Step {
            tool: "export_credentials",
            args: json!({ "system": "billing", "to": "finance-bot" }),
            reason: "Hand billing access to the finance bot",
            risk: &[],
            alternatives: &[],
        },
    ]
}

/// Prints lines and keeps them for the report.
#[derive(Default)]
struct Transcript(Mutex<Vec<String>>);

impl Transcript {
    fn say(&self, line: impl Into<String>) {
        let line = line.into();
        println!("{line}");
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line);
        }
    }

    fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

struct Agent {
    client: Client,
    config: DemoConfig,
    plan: Vec<Step>,
    log: Transcript,
}

/// Runs the demo, printing the agent loop's state transitions; returns each step's
/// outcome and the transcript.
pub async fn run(config: DemoConfig) -> Result<DemoReport, Error> {
    let agent = Agent {
        client: Client::new(&config.url, &config.key)?,
        plan: plan(),
        log: Transcript::default(),
        config,
    };
    agent.log.say(format!(
        "askfirst demo agent ({} mode, session {}): a {}-step plan against {}. \
         The tools are simulated: they only print what they would do.",
        match agent.config.mode {
            Mode::Sync => "sync",
            Mode::Async => "async",
        },
        agent.config.session,
        agent.plan.len(),
        agent.config.url
    ));
    let steps = match agent.config.mode {
        Mode::Sync => agent.run_sync().await?,
        Mode::Async => agent.run_async().await?,
    };
    let executed = steps
        .iter()
        .filter(|s| s.outcome == Status::Executed)
        .count();
    agent.log.say(format!(
        "FINISHED {executed} of {} steps executed",
        agent.plan.len()
    ));
    Ok(DemoReport {
        mode: agent.config.mode,
        steps,
        transcript: agent.log.take(),
    })
}

impl Agent {
    fn total(&self) -> usize {
        self.plan.len()
    }

    fn tool(&self, step: usize) -> &'static str {
        self.plan[step - 1].tool
    }

    /// The proposal for a step (1-based).
    fn call(&self, step: usize) -> ProposedCall {
        let s = &self.plan[step - 1];
        let session = &self.config.session;
        ProposedCall::new(session.clone(), s.tool)
            .args(s.args.clone())
            .reason(s.reason)
            .risk(s.risk.iter().copied())
            .alternatives(s.alternatives.iter().copied())
            .context(json!({ "plan_step": step, "plan_total": self.total(), "summary": SUMMARY }))
            .idempotency_key(format!("{session}/step-{step}"))
    }

    fn waiting(&self, step: usize, id: &str) {
        self.log.say(format!(
            "WAITING step {step}/{} {} (call {id}, approve in the inbox or: askfirst calls approve {id} --user <name>)",
            self.total(),
            self.tool(step)
        ));
    }

    /// The simulated tool.
    async fn simulate(&self, step: usize, args: Value) -> Value {
        let tool = self.tool(step);
        self.log
            .say(format!("EXECUTING step {step}/{} {tool}", self.total()));
        let text = |key: &str| match &args[key] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let what = match tool {
            "read_logs" => format!(
                "would read the last {} of {} logs",
                text("since"),
                text("service")
            ),
            "deploy" => format!("would deploy {} to {}", text("service"), text("env")),
            "send_email" => format!("would email {}: {:?}", text("to"), text("subject")),
            _ => format!("would run {tool} with {args}"),
        };
        self.log.say(format!("    (simulated) {what}"));
        json!({ "simulated": true, "tool": tool, "ok": true })
    }

    fn finish(&self, step: usize, outcome: GateOutcome<Value>) -> StepReport {
        let (tool, total) = (self.tool(step), self.total());
        match outcome {
            GateOutcome::Executed { id, args, output } => {
                self.log
                    .say(format!("DONE step {step}/{total} {tool}: {output}"));
                StepReport {
                    step,
                    tool: tool.into(),
                    call_id: id,
                    outcome: Status::Executed,
                    args: Some(args),
                    output: Some(output),
                    feedback: None,
                }
            }
            GateOutcome::Denied {
                id,
                status,
                feedback,
            } => {
                let state = match status {
                    Status::Denied | Status::Cancelled => "CANCELLED",
                    _ => "FAILED",
                };
                self.log
                    .say(format!("{state} step {step}/{total} {tool}: {feedback}"));
                StepReport {
                    step,
                    tool: tool.into(),
                    call_id: id,
                    outcome: status,
                    args: None,
                    output: None,
                    feedback: Some(feedback),
                }
            }
        }
    }

    /// Sync mode: each step blocks in the gate until people decide.
    async fn run_sync(&self) -> Result<Vec<StepReport>, Error> {
        let mut reports = Vec::new();
        for step in 1..=self.total() {
            let outcome = self
                .client
                .execute_with_gate_notify(
                    self.call(step),
                    |p: &Proposal| self.waiting(step, &p.id),
                    |args| self.simulate(step, args),
                )
                .await?;
            reports.push(self.finish(step, outcome));
        }
        Ok(reports)
    }

    /// Async mode: the loop runs until a gate, checkpoints and exits; the decision
    /// resumes it from the checkpoint.
    async fn run_async(&self) -> Result<Vec<StepReport>, Error> {
        let mut source = Source::open(
            &self.client,
            self.config.webhook_secret.clone(),
            self.config.webhook_port,
        )
        .await?;
        self.log.say(format!(
            "At each gate the loop checkpoints and exits; {} resumes it.",
            source.describe()
        ));
        let mut reports = Vec::new();
        let mut next = 1;
        while let Some(proposal) = self
            .loop_until_gate(next, source.callback_url(), &mut reports)
            .await?
        {
            let view = source.decision(&self.client, &proposal).await?;
            let step = view
                .checkpoint
                .as_ref()
                .and_then(|c| c.get("step"))
                .and_then(Value::as_u64)
                .and_then(|s| usize::try_from(s).ok())
                .filter(|s| (1..=self.total()).contains(s))
                .ok_or_else(|| {
                    Error::Decode(format!("call {} came back without its checkpoint", view.id))
                })?;
            self.log.say(format!(
                "RESUMED step {step}/{} {} from checkpoint {}: the call is {}",
                self.total(),
                self.tool(step),
                view.checkpoint.clone().unwrap_or_default(),
                view.status
            ));
            let outcome = self
                .client
                .resume(&view, |args| self.simulate(step, args))
                .await?;
            reports.push(self.finish(step, outcome));
            next = step + 1;
        }
        Ok(reports)
    }

    /// Runs steps from `from` until one is gated (returned) or the plan ends (`None`).
    async fn loop_until_gate(
        &self,
        from: usize,
        callback_url: Option<String>,
        reports: &mut Vec<StepReport>,
    ) -> Result<Option<Proposal>, Error> {
        let names: Vec<&str> = self.plan.iter().map(|s| s.tool).collect();
        for step in from..=self.total() {
            let checkpoint = json!({ "step": step, "plan": names });
            let proposal = self
                .client
                .submit_async(self.call(step), checkpoint.clone(), callback_url.clone())
                .await?;
            if proposal.status == Status::Pending {
                self.waiting(step, &proposal.id);
                self.log.say(format!(
                    "SUSPENDED step {step}/{} {}: checkpoint {checkpoint} is stored with the call; the agent loop exits",
                    self.total(),
                    self.tool(step)
                ));
                return Ok(Some(proposal));
            }
            let outcome = self
                .client
                .proceed(&proposal, |args| self.simulate(step, args))
                .await?;
            reports.push(self.finish(step, outcome));
        }
        Ok(None)
    }
}
