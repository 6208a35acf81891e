//! The gate helpers: the synchronous gate (block until people decide) and the
//! asynchronous one (propose with a checkpoint, exit, resume on an event or webhook).

use crate::call::ProposedCall;
use crate::client::Client;
use crate::error::Error;
use crate::types::{status_sentence, CallView, Executed, Proposal, Status};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// How long past the deadline a synchronous gate keeps waiting (clock skew, sweeper).
const GRACE: Duration = Duration::from_secs(5);
/// How long a synchronous gate waits when the server gave no readable deadline.
const NO_DEADLINE_WAIT: Duration = Duration::from_secs(3600);

/// What became of a gated call.
#[derive(Debug, Clone, PartialEq)]
pub enum GateOutcome<T> {
    /// The tool ran with `args` (as the server returned them: possibly edited by an
    /// approver) and returned `output`.
    Executed { id: String, args: Value, output: T },
    /// The tool did not run. `status` is `denied`, `expired`, `cancelled` or `stale`;
    /// `feedback` says why (a person's feedback, policy's message, or what happened), for
    /// the agent loop to reflect on.
    Denied {
        id: String,
        status: Status,
        feedback: String,
    },
}

impl<T> GateOutcome<T> {
    /// The call's id.
    pub fn id(&self) -> &str {
        match self {
            GateOutcome::Executed { id, .. } | GateOutcome::Denied { id, .. } => id,
        }
    }

    /// Whether the tool ran.
    pub fn is_executed(&self) -> bool {
        matches!(self, GateOutcome::Executed { .. })
    }

    fn denied(view: &CallView) -> Self {
        GateOutcome::Denied {
            id: view.id.clone(),
            status: view.status,
            feedback: view.feedback(),
        }
    }

    fn refused(p: &Proposal) -> Self {
        let feedback = match (&p.message, &p.rule, p.status) {
            (Some(m), _, _) if !m.trim().is_empty() => m.clone(),
            (_, Some(rule), Status::Denied) => format!("denied by policy rule `{rule}`"),
            (_, None, Status::Denied) => "denied by policy".into(),
            (_, _, status) => status_sentence(status, p.deadline.as_deref()),
        };
        GateOutcome::Denied {
            id: p.id.clone(),
            status: p.status,
            feedback,
        }
    }
}

async fn run_tool<T, F, Fut>(executed: Executed, tool_fn: F) -> GateOutcome<T>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = T>,
{
    let output = tool_fn(executed.args.clone()).await;
    GateOutcome::Executed {
        id: executed.id,
        args: executed.args,
        output,
    }
}

impl Client {
    /// The synchronous gate. Proposes `call`; if policy allows it, reports execution and
    /// runs `tool_fn`; if it is gated, waits for people (until the deadline plus a few
    /// seconds) and, once approved, runs `tool_fn` with the arguments the server returns
    /// (an approver may have edited them). A stale approval is proposed again once, with
    /// a new idempotency key. Denied, expired and cancelled calls give
    /// [`GateOutcome::Denied`]; `tool_fn` then never runs. A denial whose approver said
    /// "do not retry" is the typed error [`Error::DoNotRetry`] instead: the agent must
    /// change course. When an approver extends the deadline, the gate waits longer.
    pub async fn execute_with_gate<T, F, Fut>(
        &self,
        call: ProposedCall,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
    {
        self.execute_with_gate_notify(call, |_| {}, tool_fn).await
    }

    /// [`execute_with_gate`](Self::execute_with_gate), calling `on_pending` each time a
    /// proposal is gated, before waiting (to log the call id or tell someone).
    pub async fn execute_with_gate_notify<T, F, Fut, W>(
        &self,
        mut call: ProposedCall,
        mut on_pending: W,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
        W: FnMut(&Proposal),
    {
        // With a key, a proposal lost in transit (an instance dying behind a load balancer)
        // is sent again and answered once.
        if call.idempotency_key.is_none() {
            call.idempotency_key = Some(crate::call::fresh_key());
        }
        let mut proposed_again = false;
        loop {
            let proposal = self.propose(&call).await?;
            if let Some(e) = Error::do_not_retry(&proposal.id, proposal.denial.as_ref()) {
                return Err(e);
            }
            let runnable = match proposal.status {
                Status::Allowed | Status::Approved => true,
                Status::Pending => {
                    on_pending(&proposal);
                    let view = self.await_decision(&proposal).await?;
                    if let Some(e) = Error::do_not_retry(&view.id, view.denial.as_ref()) {
                        return Err(e);
                    }
                    match view.status {
                        Status::Approved | Status::Allowed => true,
                        Status::Stale => false,
                        _ => return Ok(GateOutcome::denied(&view)),
                    }
                }
                _ => return Ok(GateOutcome::refused(&proposal)),
            };
            if runnable {
                match self.execute(&proposal.id).await {
                    Ok(executed) => return Ok(run_tool(executed, tool_fn).await),
                    Err(e) if e.is_conflict("approval_stale") => {}
                    Err(e) => return Err(e),
                }
            }
            // The approval expired before execution: propose again, once.
            if proposed_again {
                return Ok(GateOutcome::Denied {
                    id: proposal.id,
                    status: Status::Stale,
                    feedback: "the approval expired before the call could run, twice in a row; \
                               propose it again later"
                        .into(),
                });
            }
            proposed_again = true;
            call.idempotency_key = call.idempotency_key.map(|k| format!("{k}:again"));
        }
    }

    /// Waits for people until the deadline plus grace; if nobody decided by then the call
    /// is withdrawn and reported as expired.
    async fn await_decision(&self, proposal: &Proposal) -> Result<CallView, Error> {
        let mut deadline = proposal.deadline.clone();
        let mut budget = wait_budget(proposal);
        loop {
            let view = self.wait(&proposal.id, budget).await?;
            if view.status != Status::Pending {
                return Ok(view);
            }
            // An approver extended the deadline, or it escalated: wait for the new one.
            if view.deadline.is_some() && view.deadline != deadline {
                deadline = view.deadline.clone();
                budget = budget_until(deadline.as_deref());
                continue;
            }
            break;
        }
        match self.cancel(&proposal.id).await {
            Ok(mut view) => {
                view.status = Status::Expired;
                view.message = Some(status_sentence(
                    Status::Expired,
                    proposal.deadline.as_deref(),
                ));
                Ok(view)
            }
            // Decided between our last poll and the cancel: use the decision.
            Err(e) if e.is_conflict("not_pending") => self.get(&proposal.id).await,
            Err(e) => Err(e),
        }
    }

    /// The asynchronous gate, first half: proposes `call` with a `checkpoint` (returned
    /// with the call when people decide) and an optional webhook URL, and returns at
    /// once. Resume from the webhook ([`verify_webhook`](crate::verify_webhook)) or from
    /// [`Client::events`], then call [`Client::resume`]. An `allowed` proposal can be
    /// executed right away; a `denied` one will never run.
    pub async fn submit_async(
        &self,
        mut call: ProposedCall,
        checkpoint: Value,
        callback_url: Option<String>,
    ) -> Result<Proposal, Error> {
        call.checkpoint = Some(checkpoint);
        call.callback_url = callback_url;
        self.propose(&call).await
    }

    /// After [`submit_async`](Self::submit_async) answered at once: runs `tool_fn` if the
    /// proposal was `allowed` (with the arguments `execute` returns), or gives
    /// [`GateOutcome::Denied`] with policy's message. A `pending` proposal is an
    /// [`Error::Usage`]: resume it when people decide.
    pub async fn proceed<T, F, Fut>(
        &self,
        proposal: &Proposal,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(e) = Error::do_not_retry(&proposal.id, proposal.denial.as_ref()) {
            return Err(e);
        }
        match proposal.status {
            Status::Pending => Err(Error::Usage(format!(
                "call {} is pending: resume it when people decide",
                proposal.id
            ))),
            status if status.is_runnable() => {
                Ok(run_tool(self.execute(&proposal.id).await?, tool_fn).await)
            }
            _ => Ok(GateOutcome::refused(proposal)),
        }
    }

    /// The asynchronous gate, second half: given the call from a verified webhook or an
    /// event, runs `tool_fn` with the arguments the server returns if it was approved (or
    /// allowed); otherwise [`GateOutcome::Denied`] with the feedback. An approval that
    /// expired before the agent resumed gives `Denied` with status `stale`. Resuming the
    /// same call twice (a repeated webhook) is `Err` with code `already_executed`, and
    /// `tool_fn` does not run.
    pub async fn resume<T, F, Fut>(
        &self,
        view: &CallView,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(e) = Error::do_not_retry(&view.id, view.denial.as_ref()) {
            return Err(e);
        }
        if !view.status.is_runnable() {
            return Ok(GateOutcome::denied(view));
        }
        match self.execute(&view.id).await {
            Ok(executed) => Ok(run_tool(executed, tool_fn).await),
            Err(e) if e.is_conflict("approval_stale") => Ok(GateOutcome::Denied {
                id: view.id.clone(),
                status: Status::Stale,
                feedback: status_sentence(Status::Stale, None),
            }),
            // The view was out of date: report the call as the server has it.
            Err(e) if e.is_conflict("not_approved") => {
                let now = self.get(&view.id).await?;
                if now.status.is_runnable() {
                    return Err(e);
                }
                Ok(GateOutcome::denied(&now))
            }
            Err(e) => Err(e),
        }
    }
}

/// Time to wait for people: until the deadline plus grace.
fn wait_budget(p: &Proposal) -> Duration {
    budget_until(p.deadline.as_deref())
}

/// Time from now until `deadline` (RFC 3339) plus grace.
fn budget_until(deadline: Option<&str>) -> Duration {
    let Some(deadline) = deadline.and_then(crate::types::parse_time) else {
        return NO_DEADLINE_WAIT;
    };
    let now = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now());
    (deadline - now).to_std().unwrap_or(Duration::ZERO) + GRACE
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proposal(v: Value) -> Proposal {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn budgets() {
        let p = proposal(json!({ "id": "c", "status": "pending" }));
        assert_eq!(wait_budget(&p), NO_DEADLINE_WAIT);
        let p =
            proposal(json!({ "id": "c", "status": "pending", "deadline": "2000-01-01T00:00:00Z" }));
        assert_eq!(wait_budget(&p), GRACE);
        let soon = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
            + chrono::Duration::seconds(120);
        let p = proposal(json!({ "id": "c", "status": "pending", "deadline": soon.to_rfc3339() }));
        let b = wait_budget(&p);
        assert!(
            b > Duration::from_secs(120) && b <= Duration::from_secs(126),
            "{b:?}"
        );
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            (
                json!({ "id": "c", "status": "denied", "message": "out of scope" }),
                "out of scope",
            ),
            (
                json!({ "id": "c", "status": "denied", "rule": "no-creds" }),
                "denied by policy rule `no-creds`",
            ),
            (
                json!({ "id": "c", "status": "denied", "message": " " }),
                "denied by policy",
            ),
            (
                json!({ "id": "c", "status": "weird" }),
                "the call is unknown",
            ),
        ];
        for (p, feedback) in cases {
            match GateOutcome::<()>::refused(&proposal(p)) {
                GateOutcome::Denied { feedback: f, .. } => assert_eq!(f, feedback),
                other => panic!("{other:?}"),
            }
        }
    }
}
