//! Asking askfirst about one MCP tool call and waiting for people: propose once, wait with
//! progress notifications until a person decides, the call's deadline passes or the
//! client's patience (`--max-wait`) runs out, and execute exactly once what was allowed or
//! approved — or refuse, saying who refused and whether to ask again. Fails closed when
//! askfirst cannot be asked.
//!
//! One tool call makes at most one proposal. A call that expires, is denied or runs out
//! of patience ends with an error result; it is never proposed again behind the client's
//! back. A retry of the same call (same agent, tool and arguments, in any session) while
//! the earlier one is pending, or approved and not yet executed, finds the earlier one
//! (`join_open` on the proposal) instead of filing a second.

use askfirst_sdk::{CallView, Client, Denial, Outcome, ProposedCall, Status};
use chrono::{DateTime, Utc};
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::{Peer, RoleServer};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a waiting call reports progress to the client.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long after a tool's answer its outcome report is sent: time enough for the answer
/// to reach the client first.
pub const REPORT_AFTER: Duration = Duration::from_millis(2);

/// What to do with one tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Run it with these arguments (as approved, possibly edited), now and once. askfirst
    /// has recorded the execution — as started (`running`) when the gatekeeper reports
    /// outcomes: then [`Gatekeeper::report`] says how it went.
    Run {
        call_id: String,
        args: Value,
        /// The signed receipt for the tool server: always for an approved call; for an
        /// allowed one when its agent is set to get receipts always.
        receipt: Option<String>,
    },
    /// It will not run: who refused, why, and whether to ask again.
    Refused(Refusal),
    /// The client's maximum wait passed while people still have time. The same call asked
    /// again (same agent, tool and arguments) finds this pending call.
    Waiting {
        call_id: String,
        url: String,
        deadline: Option<String>,
    },
    /// The client cancelled the request; the pending call was withdrawn.
    Cancelled,
}

/// Who refused a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedBy {
    /// A person denied it (their name, when known).
    Person,
    /// A policy rule (or the default effect) denied it.
    Policy,
    /// Nobody decided before the call's deadline.
    Deadline,
    /// askfirst could not let it run (the approval went stale, it already ran, it was
    /// withdrawn).
    Askfirst,
}

/// Why a call will not run, for the model to read: as text and as structured content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// `denied`, `expired` or `not_run`.
    pub outcome: &'static str,
    pub by: RefusedBy,
    /// The person who denied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The policy rule that denied it (`None` with `by: policy`: the default effect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The person's feedback, policy's message, or what happened.
    pub feedback: String,
    /// The preset reason a person picked (e.g. `out_of_scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// Whether asking again may help (`false`: do not propose this call again).
    pub retry: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// When the call expired (RFC 3339), for `by: deadline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_at: Option<String>,
}

impl Refusal {
    /// A refusal by askfirst itself (nothing a person or a rule said).
    pub fn askfirst(call_id: Option<String>, feedback: impl Into<String>, retry: bool) -> Self {
        Self {
            outcome: "not_run",
            by: RefusedBy::Askfirst,
            person: None,
            rule: None,
            feedback: feedback.into(),
            reason_code: None,
            retry,
            call_id,
            expired_at: None,
        }
    }

    /// The refusal in words: who, what they said, the reason code, and whether to retry.
    pub fn text(&self) -> String {
        let feedback = self.feedback.trim();
        let mut out = match self.by {
            RefusedBy::Person => match &self.person {
                Some(p) => format!("askfirst: {p} (a person) denied this call: {feedback}"),
                None => format!("askfirst: a person denied this call: {feedback}"),
            },
            RefusedBy::Policy => match &self.rule {
                Some(r) => format!("askfirst: policy rule `{r}` denied this call: {feedback}"),
                None => format!("askfirst: policy denied this call: {feedback}"),
            },
            RefusedBy::Deadline | RefusedBy::Askfirst => format!("askfirst: {feedback}"),
        };
        if let Some(code) = &self.reason_code {
            out.push_str(&format!(" (reason: {code})"));
        }
        let advice = match (&self.by, self.retry) {
            (_, false) => "Do not retry this call.",
            (RefusedBy::Deadline | RefusedBy::Askfirst, true) => return out,
            (_, true) => "You may try again with a changed call.",
        };
        if !out.ends_with(['.', '!', '?']) {
            out.push('.');
        }
        out.push(' ');
        out.push_str(advice);
        out
    }
}

/// Where to send progress notifications while waiting: the client's peer and the progress
/// token of its request.
pub struct Progress {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

impl Progress {
    async fn send(&self, progress: f64, message: String) {
        let mut p = ProgressNotificationParam::new(self.token.clone(), progress);
        p.message = Some(message);
        if let Err(e) = self.peer.notify_progress(p).await {
            tracing::debug!("progress notification not sent: {e}");
        }
    }
}

/// Proposes tool calls of one agent session to askfirst and waits for the answers.
pub struct Gatekeeper {
    client: Client,
    session: String,
    max_wait: Duration,
    /// Whether calls that may run are started (`running`) and their outcome reported.
    reporting: bool,
    reports: Reports,
}

/// The outcome reports still being sent: [`Reports::flush`] waits for them.
#[derive(Clone, Default)]
pub struct Reports(std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>);

impl Reports {
    /// Waits (at most `limit`) for every report sent so far.
    pub async fn flush(&self, limit: Duration) {
        let mut pending = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let all = async { while pending.join_next().await.is_some() {} };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("some execution outcomes were not reported to askfirst in time");
        }
    }
}

impl Gatekeeper {
    /// A gatekeeper proposing as `client`'s agent in `session`, waiting at most `max_wait`
    /// for people on any one call.
    pub fn new(client: Client, session: String, max_wait: Duration) -> Self {
        Self {
            client,
            session,
            max_wait,
            reporting: false,
            reports: Reports::default(),
        }
    }

    /// Starts calls that may run instead of recording them executed, and reports how
    /// running them went ([`Gatekeeper::report`]): for a gatekeeper that runs the tools
    /// itself, as the proxy does.
    pub fn reporting_outcomes(mut self) -> Self {
        self.reporting = true;
        self
    }

    /// The outcome reports in flight.
    pub fn reports(&self) -> Reports {
        self.reports.clone()
    }

    /// Records in the background how running call `id` went (the client's answer does not
    /// wait for it; [`Reports::flush`] does, before the process ends). The report starts
    /// [`REPORT_AFTER`] later: on the proxy's one thread it would otherwise run before the
    /// answer is written to the client, and hold it up.
    pub fn report(&self, id: String, outcome: Outcome, detail: Option<String>) {
        let client = self.client.clone();
        let detail = detail.map(|d| truncate(&d, 2_000));
        self.reports
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .spawn(async move {
                tokio::time::sleep(REPORT_AFTER).await;
                if let Err(e) = client.report_outcome(&id, outcome, detail.as_deref()).await {
                    tracing::warn!("could not report the outcome of call {id}: {e}");
                }
            });
    }

    /// The askfirst session calls are proposed in.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The askfirst client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The card of call `id` in the inbox.
    pub fn call_url(&self, id: &str) -> String {
        format!("{}/calls/{id}", self.client.base_url())
    }

    /// Decides a call of `tool` with `args` claiming `risk`: proposes it once (or finds
    /// the same call asked earlier), waits while people decide — until the call's deadline
    /// or the maximum wait, whichever comes first — sending progress, and reports execution
    /// when it may run. `cancelled` resolves when the client withdraws the request. An
    /// error means askfirst could not be asked: the call must not run.
    pub async fn decide(
        &self,
        tool: &str,
        args: Value,
        risk: Vec<String>,
        progress: Option<&Progress>,
        cancelled: impl Future<Output = ()>,
    ) -> Result<Verdict, askfirst_sdk::Error> {
        let mut call = ProposedCall::new(&self.session, tool)
            .args(args)
            .risk(risk)
            .join_open();
        if self.reporting {
            call = call.run_if_allowed();
        }
        let proposal = self.client.propose(&call).await?;
        let id = proposal.id.clone();
        match proposal.status {
            // Allowed and started at once: the arguments are the proposal's.
            Status::Running => {
                return Ok(Verdict::Run {
                    call_id: id,
                    args: call.args,
                    receipt: proposal.receipt,
                })
            }
            Status::Allowed | Status::Approved => {
                return self.execute(&id, proposal.receipt.clone()).await
            }
            Status::Denied => {
                return Ok(Verdict::Refused(denied(
                    Some(id),
                    proposal.rule.clone(),
                    proposal.message.clone().unwrap_or_default(),
                    proposal.denial.as_ref(),
                    None,
                )))
            }
            _ => {}
        }
        let deadline = proposal.deadline_at();
        let mut cancelled = std::pin::pin!(cancelled);
        let Some(view) = self
            .wait(tool, &id, deadline, progress, cancelled.as_mut())
            .await?
        else {
            return Ok(Verdict::Cancelled);
        };
        match view.status {
            Status::Allowed | Status::Approved => self.execute(&id, view.receipt.clone()).await,
            Status::Denied => {
                let person = view
                    .decisions
                    .iter()
                    .rev()
                    .find(|d| d.decision == "deny")
                    .map(|d| d.user.clone());
                let feedback = view.feedback();
                Ok(Verdict::Refused(denied(
                    Some(id),
                    view.rule.clone(),
                    feedback,
                    view.denial.as_ref(),
                    person,
                )))
            }
            Status::Pending => Ok(Verdict::Waiting {
                url: self.call_url(&id),
                call_id: id,
                deadline: view.deadline.clone(),
            }),
            Status::Expired => {
                let at = view.deadline.as_deref().and_then(parse_time);
                let when = at.map_or_else(|| "its deadline".to_string(), clock_time);
                Ok(Verdict::Refused(Refusal {
                    outcome: "expired",
                    by: RefusedBy::Deadline,
                    person: None,
                    rule: view.rule.clone(),
                    feedback: format!(
                        "nobody decided in time — the call expired at {when}; ask again if \
                         still needed"
                    ),
                    reason_code: None,
                    retry: true,
                    call_id: Some(id),
                    expired_at: view.deadline.clone(),
                }))
            }
            Status::Cancelled => Ok(Verdict::Refused(Refusal::askfirst(
                Some(id),
                "the call was withdrawn before anyone approved it; ask again if still needed",
                true,
            ))),
            Status::Stale => Ok(Verdict::Refused(stale(id))),
            Status::Executed | Status::Running | Status::Failed => {
                Ok(Verdict::Refused(already_ran(id)))
            }
            Status::Unknown => Err(askfirst_sdk::Error::Decode(format!(
                "call {id} has a status this proxy does not know"
            ))),
        }
    }

    /// Reports execution of an allowed or approved call: the arguments to run, once. With
    /// a `receipt`, askfirst records its `jti` as used by this execution.
    async fn execute(
        &self,
        id: &str,
        receipt: Option<String>,
    ) -> Result<Verdict, askfirst_sdk::Error> {
        let jti = receipt
            .as_deref()
            .and_then(|token| askfirst_sdk::receipt::unverified_claims(token).ok())
            .map(|claims| claims.jti);
        let executed = match &jti {
            Some(jti) => {
                self.client
                    .execute_with_receipt(id, jti, self.reporting)
                    .await
            }
            None if self.reporting => self.client.start(id).await,
            None => self.client.execute(id).await,
        };
        match executed {
            Ok(executed) => Ok(Verdict::Run {
                call_id: id.to_string(),
                args: executed.args,
                receipt,
            }),
            // Another request with the same call ran it meanwhile.
            Err(e) if e.is_conflict("already_executed") => {
                Ok(Verdict::Refused(already_ran(id.to_string())))
            }
            Err(e) if e.is_conflict("approval_stale") => {
                Ok(Verdict::Refused(stale(id.to_string())))
            }
            Err(e) => Err(e),
        }
    }

    /// Long-polls call `id` until it leaves `pending`, its deadline passes or the maximum
    /// wait passes (then the pending view), reporting progress every few seconds; `None`
    /// when the client cancelled (the call is then withdrawn).
    async fn wait(
        &self,
        tool: &str,
        id: &str,
        mut deadline: Option<DateTime<Utc>>,
        progress: Option<&Progress>,
        mut cancelled: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Option<CallView>, askfirst_sdk::Error> {
        let started = Instant::now();
        let end = started + self.max_wait;
        let url = self.call_url(id);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let mut slice = left.min(PROGRESS_EVERY);
            // Ask again just after the deadline: the call is then expired (or escalated,
            // with a later deadline).
            if let Some(d) = deadline {
                let to_deadline = (d - Utc::now()).to_std().unwrap_or_default();
                slice = slice.min(to_deadline + Duration::from_millis(300));
            }
            // Long-polls are whole seconds: a last slice under one second asks once more.
            let slice = slice.max(Duration::from_secs(1));
            let view = tokio::select! {
                () = cancelled.as_mut() => {
                    match self.client.cancel(id).await {
                        Ok(_) => {}
                        // Decided meanwhile: nothing is left to withdraw, and it will not run.
                        Err(e) if e.is_conflict("not_pending") => {}
                        Err(e) => tracing::warn!("could not cancel call {id}: {e}"),
                    }
                    return Ok(None);
                }
                view = self.client.wait(id, slice) => view?,
            };
            if view.status != Status::Pending || Instant::now() >= end {
                return Ok(Some(view));
            }
            // Extensions and escalations move the deadline.
            deadline = view.deadline.as_deref().and_then(parse_time).or(deadline);
            if let Some(p) = progress {
                let until = match deadline {
                    Some(d) => format!(" (people have until {})", clock_time(d)),
                    None => String::new(),
                };
                p.send(
                    started.elapsed().as_secs_f64().floor(),
                    format!("askfirst: waiting for a person to approve `{tool}`{until} — {url}"),
                )
                .await;
            }
        }
    }
}

/// A denial by a person or by policy, from what askfirst answered.
fn denied(
    call_id: Option<String>,
    rule: Option<String>,
    message: String,
    denial: Option<&Denial>,
    person: Option<String>,
) -> Refusal {
    match denial {
        // A person denied it (or denied this very call before, with "do not retry").
        Some(d) => Refusal {
            outcome: "denied",
            by: RefusedBy::Person,
            person,
            rule: None,
            feedback: d.feedback.clone(),
            reason_code: d.reason_code.clone(),
            retry: d.retry,
            call_id,
            expired_at: None,
        },
        None if person.is_some() => Refusal {
            outcome: "denied",
            by: RefusedBy::Person,
            person,
            rule: None,
            feedback: message,
            reason_code: None,
            retry: true,
            call_id,
            expired_at: None,
        },
        // Policy: the same call would be denied again.
        None => Refusal {
            outcome: "denied",
            by: RefusedBy::Policy,
            person: None,
            rule,
            feedback: message,
            reason_code: None,
            retry: false,
            call_id,
            expired_at: None,
        },
    }
}

fn stale(id: String) -> Refusal {
    Refusal::askfirst(
        Some(id),
        "the approval expired before the call ran; ask again if still needed",
        true,
    )
}

fn already_ran(id: String) -> Refusal {
    Refusal::askfirst(
        Some(id),
        "this call already ran once (an identical request ran it); it does not run twice",
        false,
    )
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A time as people read it: `14:02:05 UTC`.
fn clock_time(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S UTC").to_string()
}

/// At most `max` characters of `text`.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// A fresh session name for one run of a proxy or permission-prompt server.
pub fn new_session(server: &str) -> String {
    format!("mcp-{server}-{}", uuid::Uuid::now_v7())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_who_why_and_whether_to_retry() {
        let denial = Denial {
            feedback: "write to /tmp/scratch instead".into(),
            reason_code: Some("out_of_scope".into()),
            retry: false,
            repeat_of: None,
        };
        let person = denied(
            Some("c1".into()),
            Some("gate-high-stakes".into()),
            String::new(),
            Some(&denial),
            Some("alice".into()),
        );
        assert_eq!(
            person.text(),
            "askfirst: alice (a person) denied this call: write to /tmp/scratch instead \
             (reason: out_of_scope). Do not retry this call."
        );
        let json = serde_json::to_value(&person).unwrap();
        assert_eq!(json["by"], "person");
        assert_eq!(json["retry"], false);
        assert_eq!(json["reason_code"], "out_of_scope");
        assert!(json.get("rule").is_none());

        let policy = denied(
            Some("c2".into()),
            Some("deny-credentials".into()),
            "Credential access is out of scope.".into(),
            None,
            None,
        );
        assert_eq!(policy.by, RefusedBy::Policy);
        assert!(!policy.retry);
        assert_eq!(
            policy.text(),
            "askfirst: policy rule `deny-credentials` denied this call: Credential access \
             is out of scope. Do not retry this call."
        );

        let open = denied(None, None, "no".into(), None, Some("bob".into()));
        assert!(open.retry);
        assert!(open
            .text()
            .ends_with("You may try again with a changed call."));
        assert_eq!(stale("c3".into()).by, RefusedBy::Askfirst);
        assert!(!already_ran("c4".into()).retry);
    }

    #[test]
    fn times_for_people() {
        let t = parse_time("2026-12-06T14:02:05.123Z").unwrap();
        assert_eq!(clock_time(t), "14:02:05 UTC");
        assert!(parse_time("yesterday").is_none());
    }
}
