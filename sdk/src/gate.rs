//! The gate helpers: the synchronous gate (block until people decide) and the
//! asynchronous one (checkpoint, exit, resume on an event or webhook).

use crate::client::Client;
use crate::error::Error;
use crate::types::{CallView, Proposal, ProposedCall, Status};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// How long past the deadline a synchronous gate keeps waiting (clock skew, sweeper).
const GRACE: Duration = Duration::from_secs(5);
/// How long a synchronous gate waits when the server gave no deadline.
const NO_DEADLINE_WAIT: Duration = Duration::from_secs(3600);

/// What became of a gated call.
#[derive(Debug, Clone, PartialEq)]
pub enum GateOutcome<T> {
    /// The tool ran with `args` (as approved) and returned `output`.
    Executed { id: String, args: Value, output: T },
    /// It will not run; `feedback` says why, for the agent to reflect on.
    Denied {
        id: String,
        status: Status,
        feedback: String,
    },
}

impl Client {
    /// The synchronous gate: proposes `call`; if allowed runs `tool_fn`; if gated waits for
    /// people; runs `tool_fn` only with the arguments `execute` returns. A stale approval is
    /// proposed again once.
    pub async fn execute_with_gate<T, F, Fut>(
        &self,
        call: ProposedCall,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut call = call;
        let mut retried = false;
        loop {
            let proposal = self.propose(&call).await?;
            let view = match proposal.status {
                Status::Allowed | Status::Approved => None,
                Status::Pending => Some(self.wait(&proposal.id, wait_budget(&proposal)).await?),
                _ => {
                    let feedback = proposal
                        .message
                        .clone()
                        .unwrap_or_else(|| "denied by policy".into());
                    return Ok(GateOutcome::Denied {
                        id: proposal.id,
                        status: proposal.status,
                        feedback,
                    });
                }
            };
            if let Some(view) = &view {
                match view.status {
                    Status::Approved => {}
                    Status::Pending => {
                        // Nobody decided in time on our side: withdraw rather than leave it.
                        let view = self
                            .cancel(&proposal.id)
                            .await
                            .unwrap_or_else(|_| view.clone());
                        return Ok(GateOutcome::Denied {
                            id: view.id.clone(),
                            status: view.status,
                            feedback: view.feedback(),
                        });
                    }
                    _ => {
                        return Ok(GateOutcome::Denied {
                            id: view.id.clone(),
                            status: view.status,
                            feedback: view.feedback(),
                        })
                    }
                }
            }
            match self.execute(&proposal.id).await {
                Ok(executed) => {
                    let output = tool_fn(executed.args.clone()).await;
                    return Ok(GateOutcome::Executed {
                        id: executed.id,
                        args: executed.args,
                        output,
                    });
                }
                Err(e) if e.is_conflict("approval_stale") && !retried => {
                    retried = true;
                    call.idempotency_key = call.idempotency_key.map(|k| format!("{k}/retry"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The asynchronous gate, first half: proposes with a checkpoint and a webhook URL (or
    /// none, to resume from [`Client::events`]) and returns at once.
    pub async fn submit_async(
        &self,
        call: ProposedCall,
        checkpoint: Value,
        callback_url: Option<String>,
    ) -> Result<Proposal, Error> {
        let mut call = call;
        call.checkpoint = Some(checkpoint);
        call.callback_url = callback_url;
        self.propose(&call).await
    }

    /// The asynchronous gate, second half (`on_gate_response`): given the call's view from
    /// a verified webhook or an event, runs `tool_fn` if it was approved.
    pub async fn resume<T, F, Fut>(
        &self,
        view: &CallView,
        tool_fn: F,
    ) -> Result<GateOutcome<T>, Error>
    where
        F: FnOnce(Value) -> Fut,
        Fut: Future<Output = T>,
    {
        if !matches!(view.status, Status::Approved | Status::Allowed) {
            return Ok(GateOutcome::Denied {
                id: view.id.clone(),
                status: view.status,
                feedback: view.feedback(),
            });
        }
        match self.execute(&view.id).await {
            Ok(executed) => {
                let output = tool_fn(executed.args.clone()).await;
                Ok(GateOutcome::Executed {
                    id: executed.id,
                    args: executed.args,
                    output,
                })
            }
            Err(e) if e.is_conflict("approval_stale") || e.is_conflict("not_approved") => {
                Ok(GateOutcome::Denied {
                    id: view.id.clone(),
                    status: Status::Stale,
                    feedback:
                        "the approval expired before the agent resumed; propose the call again"
                            .into(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// Time to wait for people: until the deadline plus grace.
fn wait_budget(p: &Proposal) -> Duration {
    let Some(deadline) = p.deadline.as_deref().and_then(parse_rfc3339_secs) else {
        return NO_DEADLINE_WAIT;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Duration::from_secs((deadline - now).max(0) as u64) + GRACE
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp (`2026-01-01T09:00:00.000Z`).
fn parse_rfc3339_secs(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.trim_end_matches('Z');
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2026-01-01T09:00:00.000Z", Some(1_767_258_000)),
            ("2000-02-29T12:30:15Z", Some(951_827_415)),
            ("nonsense", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339_secs(text), expected, "{text}");
        }
    }
}
