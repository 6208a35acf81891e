//! People reviewing pending calls, from the browser or the CLI alike. Whether a review
//! counts is the review engine's answer ([`crate::domain::review`]); this module loads the
//! subject, re-evaluates edited arguments under the policy in force, and writes what the
//! engine decided — the review, a new candidate, the transition — in one transaction.

use super::{lifecycle::settle_in, Gate};
use crate::clock::to_millis;
use crate::domain::call::{limits, CallEvent, CallStatus, CallTerms, CallView};
use crate::domain::error::StateCode;
use crate::domain::review::{
    self, Edit, Outcome, Refusal, Requirements, Reviewer, Submission, Verdict,
};
use crate::domain::{AppError, UserView};
use crate::policy::{CallInput, CompiledPolicy, Outcome as PolicyOutcome};
use crate::store::Conn;
use crate::store::{self, audit, calls, calls::CallRow, reviews};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

/// A person's review.
#[derive(Debug, Clone, Default)]
pub struct DecisionInput {
    /// Approve (`true`) or deny (`false`).
    pub approve: bool,
    /// Required when denying; returned verbatim to the agent.
    pub feedback: Option<String>,
    /// The typed confirmation phrase, when the rule asks for one.
    pub confirm: Option<String>,
    /// Replacement arguments (approve only): a new candidate, which the agent must execute
    /// once enough people approved it.
    pub edited_args: Option<Value>,
    /// Hash of the arguments the person was shown (the call's `candidate.hash`). A review
    /// of anything else is refused with `stale_view`.
    pub shown_hash: String,
    /// A denial's preset reason (one of the admin's codes).
    pub reason_code: Option<String>,
    /// A denial the agent must not retry: the same call is denied at once for a while.
    pub do_not_retry: bool,
    /// With an approval: also approve identical (or similar) calls for a while.
    pub grant: Option<crate::domain::grant::GrantAsk>,
}

/// What happened to a call that is no longer pending, in words.
fn no_longer_pending(status: CallStatus) -> String {
    match status {
        CallStatus::Expired => "the call expired before anyone decided".into(),
        CallStatus::Cancelled => "the agent cancelled the call".into(),
        CallStatus::Approved | CallStatus::Executed | CallStatus::Stale => {
            "the call was already approved".into()
        }
        CallStatus::Denied => "the call was already denied".into(),
        other => format!("the call is {other}, not pending"),
    }
}

/// A refusal as the client sees it, worded for a call.
fn refused(refusal: Refusal, status: CallStatus) -> AppError {
    match refusal {
        Refusal::NotPending => AppError::State(StateCode::NotPending, no_longer_pending(status)),
        Refusal::DeadlinePassed => AppError::State(
            StateCode::DeadlinePassed,
            "the decision deadline passed; the call expired".into(),
        ),
        other => other.into(),
    }
}

/// The subject of a review: a call as it stands.
pub struct CallSubject {
    pub hash: String,
    pub requirements: Requirements,
    pub reviews: Vec<review::Review>,
    pub candidate: u32,
    pub open: bool,
}

impl CallSubject {
    /// Builds the subject from a call row and its reviews.
    pub fn of(row: &CallRow, rows: &[reviews::ReviewRow]) -> Result<Self, AppError> {
        Ok(Self {
            hash: store::json::hash(&row.candidate_args()?),
            requirements: row.requirements(),
            reviews: rows.iter().map(reviews::ReviewRow::engine).collect(),
            candidate: row.candidate.max(1) as u32,
            open: row.status == CallStatus::Pending,
        })
    }

    /// The engine's view of it.
    pub fn subject(&self) -> review::Subject<'_> {
        review::Subject {
            open: self.open,
            candidate: self.candidate,
            hash: &self.hash,
            requirements: &self.requirements,
            reviews: &self.reviews,
        }
    }
}

/// A person as a reviewer.
pub fn reviewer(user: &UserView) -> Reviewer<'_> {
    Reviewer {
        id: &user.id,
        role: user.role,
        disabled: user.disabled,
        standing: user.standing,
    }
}

/// An edit, once policy has looked at it.
struct EvaluatedEdit {
    text: String,
    hash: String,
    terms: CallTerms,
    requirements: Requirements,
    risk: Vec<crate::domain::risk::RiskClass>,
    rule: Option<String>,
}

impl Gate {
    /// Records `user`'s review of a call and returns the call's view afterwards.
    pub async fn decide(
        &self,
        call_id: &str,
        user: &UserView,
        input: DecisionInput,
    ) -> Result<CallView, AppError> {
        let mut feedback = input
            .feedback
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string);
        if let Some(code) = &input.reason_code {
            if input.approve {
                return Err(AppError::Invalid("a reason code goes with a denial".into()));
            }
            let presets = self.denial_reasons().await?;
            let preset = presets.find(code).ok_or_else(|| {
                AppError::Invalid(format!("`{code}` is not one of the preset denial reasons"))
            })?;
            // The preset's words when the approver added none.
            feedback.get_or_insert_with(|| preset.label.clone());
        }
        if input.do_not_retry && input.approve {
            return Err(AppError::Invalid(
                "`do_not_retry` goes with a denial".into(),
            ));
        }
        if input.grant.is_some() && !input.approve {
            return Err(AppError::Invalid("a grant goes with an approval".into()));
        }

        if feedback
            .as_ref()
            .is_some_and(|f| f.chars().count() > limits::FEEDBACK)
        {
            return Err(AppError::Invalid(format!(
                "feedback is longer than {} characters",
                limits::FEEDBACK
            )));
        }
        if !input.approve && feedback.is_none() {
            return Err(AppError::Invalid(
                "say why you deny: feedback is required".into(),
            ));
        }
        if let Some(args) = &input.edited_args {
            if !input.approve {
                return Err(AppError::Invalid(
                    "arguments can only be edited when approving".into(),
                ));
            }
            if !args.is_object() {
                return Err(AppError::Invalid(
                    "edited arguments must be a JSON object".into(),
                ));
            }
            let max_args = self.limits().max_args_bytes as usize;
            limits::check_args("edited arguments", args, max_args)?;
        }

        let now = self.clock.now();
        let policy = self.policy();
        let (id, user) = (call_id.to_string(), user.clone());
        let input = DecisionInput { feedback, ..input };
        let granting = input.grant.is_some();
        let until = self
            .writer
            .write(move |conn| {
                Box::pin(async move { decide_in(conn, &id, &user, input, &policy, now).await })
            })
            .await??;
        if let Some(until) = until {
            self.note_no_retry(until);
        }
        if granting {
            self.reload_grants().await?;
        }
        self.view(call_id, None).await
    }
}

impl Gate {
    /// Approves or denies several calls as one person: each call goes through the review
    /// engine on its own, with its own hash, role and terms. Calls that need a typed phrase
    /// (to approve) or that this person may not review are left out, with why; the result
    /// says what happened to each, in the order given.
    pub async fn decide_batch(
        &self,
        user: &UserView,
        calls: &[(String, String)],
        template: DecisionInput,
    ) -> Result<Vec<crate::domain::inbox::BatchOutcome>, AppError> {
        use crate::domain::inbox::{BatchOutcome, MAX_BATCH};
        if calls.is_empty() || calls.len() > MAX_BATCH {
            return Err(AppError::Invalid(format!(
                "a batch decides 1-{MAX_BATCH} calls"
            )));
        }
        if template.edited_args.is_some() || template.grant.is_some() || template.confirm.is_some()
        {
            return Err(AppError::Invalid(
                "a batch decision edits nothing, types no phrase and gives no grant: open the call for that"
                    .into(),
            ));
        }
        let mut out = Vec::with_capacity(calls.len());
        let mut seen = std::collections::HashSet::new();
        for (id, hash) in calls {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let row = match self.call_row(id, None).await {
                Ok(row) => row,
                Err(_) => {
                    out.push(BatchOutcome {
                        id: id.clone(),
                        tool: String::new(),
                        outcome: "left_out".into(),
                        why: Some("no such call".into()),
                    });
                    continue;
                }
            };
            let left_out = |why: String| BatchOutcome {
                id: id.clone(),
                tool: row.tool.clone(),
                outcome: "left_out".into(),
                why: Some(why),
            };
            if template.approve && row.confirm.is_some() {
                out.push(left_out(
                    "it asks for a typed confirmation: open it to approve".into(),
                ));
                continue;
            }
            let input = DecisionInput {
                shown_hash: hash.clone(),
                ..template.clone()
            };
            match self.decide(id, user, input).await {
                Ok(view) => out.push(BatchOutcome {
                    id: id.clone(),
                    tool: row.tool.clone(),
                    outcome: match view.status {
                        CallStatus::Approved => "approved".into(),
                        CallStatus::Denied => "denied".into(),
                        _ => "approval_recorded".into(),
                    },
                    why: (view.status == CallStatus::Pending).then(|| {
                        format!(
                            "{} of {} approvals",
                            view.approvals,
                            view.approvals_required.unwrap_or(1)
                        )
                    }),
                }),
                Err(e @ (AppError::State(..) | AppError::Invalid(_) | AppError::Forbidden(_))) => {
                    out.push(left_out(e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// Checks a grant asked for with an approval of `row` against what its rule allows.
fn check_grant(
    row: &CallRow,
    ask: &crate::domain::grant::GrantAsk,
) -> Result<crate::domain::workflow::GrantTerms, AppError> {
    use crate::domain::workflow;
    let refuse = |why: String| AppError::State(StateCode::GrantRefused, why);
    let terms = row
        .workflow()
        .grant
        .ok_or_else(|| refuse("this call's rule allows no remembered grants".into()))?;
    let risk: Vec<crate::domain::risk::RiskClass> =
        serde_json::from_str(&row.risk).unwrap_or_default();
    if let Some(why) = workflow::grant_refusal(
        &risk,
        row.confirm.is_some(),
        row.approvals_required.unwrap_or(1).max(1) as u32,
    ) {
        return Err(refuse(why));
    }
    if row.candidate > 1 {
        return Err(refuse(
            "the arguments were edited; a grant covers calls as the agent proposes them".into(),
        ));
    }
    let secs_ok = ask.secs >= 60 && (ask.secs as i64).saturating_mul(1000) <= terms.max_ms;
    if !secs_ok {
        return Err(refuse(format!(
            "a grant for this rule lasts 1 minute to {}",
            crate::domain::policy_change::duration_text((terms.max_ms / 1000) as u64)
        )));
    }
    if !(1..=terms.max_uses).contains(&ask.uses) {
        return Err(refuse(format!(
            "a grant for this rule has 1-{} uses",
            terms.max_uses
        )));
    }
    if ask.similar && terms.pointers.is_empty() {
        return Err(refuse(
            "this rule names no deciding arguments (`grant_match`): grant identical calls only"
                .into(),
        ));
    }
    Ok(terms)
}

/// Records the grant an approval gave, with its audit event; returns its number.
async fn record_grant(
    conn: &mut Conn,
    row: &CallRow,
    user: &UserView,
    ask: &crate::domain::grant::GrantAsk,
    terms: &crate::domain::workflow::GrantTerms,
    now: DateTime<Utc>,
) -> Result<Result<i64, AppError>, AppError> {
    use crate::domain::workflow::GrantMatch;
    let args: Value = serde_json::from_str(&row.args)
        .map_err(|e| AppError::Internal(format!("call {}: stored args unreadable: {e}", row.id)))?;
    let hash = store::json::hash(&args);
    let covers = match GrantMatch::of(terms, ask.similar, &args, &hash) {
        Ok(c) => c,
        Err(why) => return Ok(Err(AppError::State(StateCode::GrantRefused, why))),
    };
    let covers_text = serde_json::to_string(&covers)
        .map_err(|e| AppError::Internal(format!("a grant's scope: {e}")))?;
    let rule = row.rule.clone().unwrap_or_default();
    let scope_hash = store::json::hash(&json!({
        "agent": row.agent_id, "tool": row.tool, "rule": rule, "covers": covers,
    }));
    let now_ms = to_millis(now);
    let ends_at = now_ms.saturating_add((ask.secs as i64).saturating_mul(1000));
    let id = store::grants::insert(
        &mut *conn,
        &store::grants::NewGrant {
            call_id: &row.id,
            granted_by_id: &user.id,
            granted_by: &user.username,
            agent_id: &row.agent_id,
            tool: &row.tool,
            rule: &rule,
            covers: &covers_text,
            scope_hash: &scope_hash,
            created_at: now_ms,
            ends_at,
            max_uses: i64::from(ask.uses),
            risk: &row.risk,
        },
    )
    .await?;
    audit::append(
        conn,
        &audit::NewEvent {
            at: now,
            actor: &format!("user:{}", user.username),
            kind: "grant.created",
            agent_id: Some(&row.agent_id),
            call_id: Some(&row.id),
            from_status: None,
            to_status: Some("active"),
            detail: json!({
                "grant": id,
                "tool": row.tool,
                "rule": rule,
                "covers": covers.describe(),
                "scope_hash": scope_hash,
                "ends_at": calls::rfc3339(ends_at),
                "max_uses": ask.uses,
            }),
        },
    )
    .await?;
    Ok(Ok(id))
}

/// The body of [`Gate::decide`], inside the write transaction. The outer `Result` fails
/// the job; the inner one is a refusal whose side effects (an expiry, an edit whose
/// editor's approval cannot count) still commit.
async fn decide_in(
    conn: &mut Conn,
    id: &str,
    user: &UserView,
    input: DecisionInput,
    policy: &Arc<CompiledPolicy>,
    now: DateTime<Utc>,
) -> Result<Result<Option<i64>, AppError>, AppError> {
    let row = super::lifecycle::call_in(conn, id).await?;
    let rows = reviews::of_call(&mut *conn, id).await?;
    let subject = CallSubject::of(&row, &rows)?;
    // Role, account and standing as they are inside this write, not as the session read
    // them: a demotion or reset that committed meanwhile counts.
    let fresh = super::signoff::current_reviewer(&mut *conn, user).await?;
    let user = &fresh;
    let me = reviewer(user);
    let now_ms = to_millis(now);
    let verdict = if input.approve {
        Verdict::Approve
    } else {
        Verdict::Deny
    };

    // Refusals that need no policy evaluation come first, so a stale card that also
    // carries an edit hears `stale_view`, not a policy message about arguments it never saw.
    let early = review::may_review(&subject.subject(), me, now_ms).and_then(|()| {
        if input.shown_hash == subject.hash {
            Ok(())
        } else {
            Err(Refusal::StaleView)
        }
    });
    if let Err(refusal) = early {
        if refusal == Refusal::DeadlinePassed {
            settle_in(conn, &row, now).await?;
        }
        return Ok(Err(refused(refusal, row.status)));
    }

    let grant_terms = match &input.grant {
        Some(ask) => match check_grant(&row, ask) {
            Ok(terms) => Some(terms),
            Err(e) => return Ok(Err(e)),
        },
        None => None,
    };
    let edit = match input.edited_args {
        Some(args) if store::json::hash(&args) != subject.hash => {
            match evaluate_edit(conn, &row, &subject, args, policy).await? {
                Ok(edit) => Some(edit),
                Err(e) => return Ok(Err(e)),
            }
        }
        _ => None,
    };
    if edit.is_some() && input.grant.is_some() {
        return Ok(Err(AppError::State(
            StateCode::GrantRefused,
            "a grant covers the call as the agent proposed it: approve without editing, or edit without a grant".into(),
        )));
    }
    let submission = Submission {
        reviewer: me,
        verdict,
        shown: &input.shown_hash,
        typed: input.confirm.as_deref(),
        edit: edit.as_ref().map(|e| Edit {
            hash: &e.hash,
            requirements: &e.requirements,
        }),
        now_ms,
    };
    let outcome = match review::review(&subject.subject(), &submission) {
        Ok(outcome) => outcome,
        Err(refusal) => return Ok(Err(refused(refusal, row.status))),
    };

    let actor = format!("user:{}", user.username);
    let candidate = match &edit {
        Some(edit) => {
            let version = subject.candidate + 1;
            record_candidate(conn, &row, version, edit, &actor, now).await?;
            version
        }
        None => subject.candidate,
    };
    let (candidate_text, candidate_hash) = match &edit {
        Some(e) => (e.text.clone(), e.hash.clone()),
        None => (
            row.approved_args
                .clone()
                .unwrap_or_else(|| row.args.clone()),
            subject.hash.clone(),
        ),
    };
    let review_detail = json!({
        "user": user.username,
        "decision": verdict.as_str(),
        "version": candidate,
        "shown_hash": input.shown_hash,
        "reviewed_hash": candidate_hash,
        "feedback": input.feedback,
    });
    let review = reviews::ReviewRow {
        call_id: row.id.clone(),
        version: i64::from(candidate),
        user_id: user.id.clone(),
        username: user.username.clone(),
        role: user.role,
        decision: verdict,
        feedback: input.feedback.clone(),
        shown_hash: input.shown_hash.clone(),
        edited: edit.is_some(),
        role_now: Some(user.role),
        disabled_now: user.disabled,
        at: now_ms,
        qualified_since: Some(user.standing.since_ms),
    };
    match outcome {
        Outcome::EditedOnly { why, .. } => {
            // Recorded, so the editor cannot edit this version again; it does not count.
            reviews::insert(&mut *conn, &review).await?;
            let message = format!(
                "your edit is saved as version {candidate} of the arguments, but your approval \
                 does not count for it: {why}"
            );
            return Ok(Err(match AppError::from(why) {
                AppError::State(code, _) => AppError::State(code, message),
                other => other,
            }));
        }
        Outcome::Vetoed { .. } => {
            reviews::insert(&mut *conn, &review).await?;
            let changes = calls::Changes {
                message: input.feedback.clone(),
                ..Default::default()
            };
            let until = input
                .do_not_retry
                .then(|| now_ms.saturating_add(row.workflow().no_retry_ms()));
            let mut detail = review_detail;
            detail["reason_code"] = json!(input.reason_code);
            detail["retry"] = json!(!input.do_not_retry);
            if let Some(until) = until {
                detail["no_retry_until"] = json!(until);
            }
            calls::transition(
                conn,
                &row,
                CallStatus::Pending,
                CallEvent::Deny,
                now,
                &actor,
                changes,
                detail,
            )
            .await?;
            calls::set_denial(
                &mut *conn,
                &row.id,
                input.reason_code.as_deref(),
                !input.do_not_retry,
            )
            .await?;
            if let Some(until) = until {
                let hash = crate::domain::meaning::args_meaning_hash(
                    &serde_json::from_str::<Value>(&row.args).map_err(|e| {
                        AppError::Internal(format!("call {}: stored args unreadable: {e}", row.id))
                    })?,
                );
                store::no_retry::put(
                    &mut *conn,
                    store::no_retry::Key {
                        agent_id: &row.agent_id,
                        tool: &row.tool,
                        args_hash: &hash,
                    },
                    &store::no_retry::NoRetryRow {
                        call_id: row.id.clone(),
                        feedback: input.feedback.clone().unwrap_or_default(),
                        reason_code: input.reason_code.clone(),
                        until,
                    },
                )
                .await?;
                return Ok(Ok(Some(until)));
            }
        }
        Outcome::Recorded {
            approvals,
            required,
            ..
        } => {
            reviews::insert(&mut *conn, &review).await?;
            let mut detail = review_detail;
            detail["approvals"] = json!(approvals);
            detail["required"] = json!(required);
            audit::append(
                conn,
                &audit::NewEvent {
                    at: now,
                    actor: &actor,
                    kind: audit::kinds::APPROVAL_RECORDED,
                    agent_id: Some(&row.agent_id),
                    call_id: Some(&row.id),
                    from_status: None,
                    to_status: None,
                    detail,
                },
            )
            .await?;
        }
        Outcome::Approved { approvals, .. } => {
            reviews::insert(&mut *conn, &review).await?;
            let ttl_ms = edit
                .as_ref()
                .map(|e| e.terms.approval_ttl_ms)
                .or(row.approval_ttl_ms)
                .unwrap_or(600_000);
            let changes = calls::Changes {
                message: input.feedback.clone(),
                approved_args: Some((candidate_text, candidate_hash.clone())),
                approval_expires_at: Some(to_millis(now + Duration::milliseconds(ttl_ms))),
                ..Default::default()
            };
            let mut detail = review_detail;
            detail["approvals"] = json!(approvals);
            // What may run: execute checks the row's arguments against this hash.
            detail["args_hash"] = json!(candidate_hash);
            calls::transition(
                &mut *conn,
                &row,
                CallStatus::Pending,
                CallEvent::Approve,
                now,
                &actor,
                changes,
                detail,
            )
            .await?;
            if let (Some(ask), Some(terms)) = (&input.grant, &grant_terms) {
                // A grant that cannot be recorded undoes the approval with it.
                record_grant(conn, &row, user, ask, terms, now).await??;
            }
        }
    }
    Ok(Ok(None))
}

/// Evaluates edited arguments under the policy in force, with the call's risk (the agent's
/// claims plus what policy added; an edit never removes risk). A deny refuses the edit; a
/// gate can only tighten what the call needs.
async fn evaluate_edit(
    conn: &mut Conn,
    row: &CallRow,
    subject: &CallSubject,
    args: Value,
    policy: &CompiledPolicy,
) -> Result<Result<EvaluatedEdit, AppError>, AppError> {
    let risk: Vec<crate::domain::risk::RiskClass> = serde_json::from_str(&row.risk)
        .map_err(|e| AppError::Internal(format!("call {}: stored risk unreadable: {e}", row.id)))?;
    let mut input = CallInput {
        agent: &row.agent_name,
        tool: &row.tool,
        args: &args,
        risk: &risk,
        novel: false,
    };
    let mut evaluation = policy.evaluate(&input);
    if evaluation.consulted_novelty
        && calls::is_novel(&mut *conn, &row.agent_id, &row.session, &row.tool).await?
    {
        input.novel = true;
        evaluation = policy.evaluate(&input);
    }
    let ours = CallTerms {
        approvals: subject.requirements.approvals,
        role: subject.requirements.role,
        confirm: row.confirm.clone(),
        approval_ttl_ms: row.approval_ttl_ms.unwrap_or(600_000),
    };
    // The phrase the call carries, filled in again from the edited arguments: from the
    // newest rule that gave a version of this call a phrase (an edit's, else the proposal's).
    let kept = match &row.confirm {
        None => None,
        Some(_) => {
            let earlier = reviews::candidates(&mut *conn, &row.id).await?;
            earlier
                .iter()
                .rev()
                .filter_map(|c| c.rule.as_deref())
                .chain(row.rule.as_deref())
                .find_map(|rule| policy.confirm_of(rule, &row.tool, &args))
        }
    };
    let terms = match &evaluation.outcome {
        PolicyOutcome::Deny { message } => {
            let rule = evaluation.rule.as_deref().unwrap_or("the default effect");
            return Ok(Err(AppError::Invalid(format!(
                "policy denies the edited arguments (rule {rule}): {message}"
            ))));
        }
        PolicyOutcome::Allow => ours.tightened(None, None, kept),
        PolicyOutcome::Gate { settings, confirm } => {
            ours.tightened(Some(settings), confirm.clone(), kept)
        }
    };
    let requirements = Requirements {
        approvals: terms.approvals,
        role: terms.role,
        confirm: terms.confirm.clone(),
        filed_ms: crate::domain::review::call_needs_standing(terms.role, terms.approvals)
            .then_some(row.created_at),
        ..subject.requirements.clone()
    };
    let mut risk = risk;
    for class in evaluation.risk {
        if !risk.contains(&class) {
            risk.push(class);
        }
    }
    risk.sort();
    Ok(Ok(EvaluatedEdit {
        hash: store::json::hash(&args),
        text: args.to_string(),
        terms,
        requirements,
        risk,
        rule: evaluation.rule,
    }))
}

/// Writes an edit as the call's next candidate, with its audit event.
async fn record_candidate(
    conn: &mut Conn,
    row: &CallRow,
    version: u32,
    edit: &EvaluatedEdit,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let terms = calls::CandidateTerms {
        approvals_required: i64::from(edit.terms.approvals),
        approver_role: edit.terms.role,
        confirm: edit.terms.confirm.clone(),
        approval_ttl_ms: edit.terms.approval_ttl_ms,
        risk: serde_json::to_string(&edit.risk).unwrap_or_else(|_| "[]".into()),
    };
    let moved =
        calls::set_candidate(&mut *conn, &row.id, i64::from(version), &edit.text, &terms).await?;
    if !moved {
        // The engine saw this candidate inside the same transaction; the row cannot have
        // moved under us.
        return Err(AppError::Internal(format!(
            "call {}: its candidate changed during a review",
            row.id
        )));
    }
    reviews::insert_candidate(
        &mut *conn,
        &reviews::CandidateRow {
            call_id: row.id.clone(),
            version: i64::from(version),
            args: edit.text.clone(),
            author: actor.to_string(),
            rule: edit.rule.clone(),
            created_at: to_millis(now),
        },
    )
    .await?;
    audit::append(
        conn,
        &audit::NewEvent {
            at: now,
            actor,
            kind: audit::kinds::CANDIDATE_CREATED,
            agent_id: Some(&row.agent_id),
            call_id: Some(&row.id),
            from_status: None,
            to_status: None,
            detail: json!({
                "version": version,
                "hash": edit.hash,
                "rule": edit.rule,
                "approvals_required": edit.terms.approvals,
                "approver_role": edit.terms.role,
                "confirm": edit.terms.confirm,
                "approval_ttl_ms": edit.terms.approval_ttl_ms,
                "risk": edit.risk,
            }),
        },
    )
    .await?;
    Ok(())
}
