//! `/calls/:id`: the decision card — everything needed to judge a call in five seconds,
//! the history that helps, and the approve/deny forms (plain forms: they work without
//! JavaScript; the typed-confirmation gate and the argument diff need the wasm).
// Server functions take one argument per form field.
#![allow(clippy::too_many_arguments)]

use super::home::page_error;
use crate::app::widgets::{Countdown, Countdowns, LongText, RiskBadges, Time};
use crate::domain::bypass::ApprovedBy;
use crate::domain::call::{CallStatus, CallView};
use crate::domain::inbox::{
    arg_diff, tool_label, visible, CardData, DecidedNote, DiffLine, VersionView,
};
use crate::domain::review::Verdict;
use crate::domain::{error::StateCode, AppError};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The card's data. Any signed-in person may look.
/// `after`: a call the person just decided (the triage loop brought them here): the card
/// then says what that decision did.
#[server(prefix = "/rpc", endpoint = "card")]
pub async fn load_card(id: String, after: Option<String>) -> Result<CardData, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Viewer).await?;
    let gate = guard::state()?.gate.clone();
    let mut card = gate.card(&id, &user).await?;
    if let Some(after) = after.filter(|a| *a != id) {
        card.after = gate.decided_note(&after, &user).await?;
    }
    // The opening is noted here, where the card is served, for whoever may review it.
    if card.call.status == CallStatus::Pending && user.role.includes(crate::domain::Role::Approver)
    {
        let _ = gate.card_seen(&user, &id, false).await;
    }
    Ok(card)
}

/// Notes that the signed-in person opened this card (`expanded`: its full arguments), for
/// the rubber-stamp watch. Only the first opening and first expansion are kept.
#[server(prefix = "/rpc", endpoint = "card_seen")]
pub async fn card_seen(id: String, expanded: bool) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    guard::state()?.gate.card_seen(&user, &id, expanded).await
}

/// Flags a call that ran as one that should not have, with why. Approvers and above; the
/// insights count flags per call pattern and may suggest a gate.
#[server(prefix = "/rpc", endpoint = "flag_call")]
pub async fn flag_call(id: String, reason: String) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    guard::state()?.gate.flag_call(&user, &id, &reason).await?;
    leptos_axum::redirect(&format!("/calls/{}?done=flagged", urlencode(&id)));
    Ok(())
}

/// Approve or deny a call as the signed-in person. `hash` names the arguments the person
/// was shown (the card's `candidate.hash`); the review engine refuses anything else with
/// `stale_view`. `args`, when given and different from those, is an edit: a new candidate.
#[server(prefix = "/rpc", endpoint = "decide")]
pub async fn decide_call(
    id: String,
    decision: String,
    hash: String,
    feedback: Option<String>,
    confirm: Option<String>,
    args: Option<String>,
    reason_code: Option<String>,
    do_not_retry: Option<String>,
    grant: Option<String>,
    grant_minutes: Option<String>,
    grant_uses: Option<String>,
    grant_similar: Option<String>,
) -> Result<CallView, AppError> {
    use crate::auth::guard;
    use crate::gate::decide::DecisionInput;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    let approve = match decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(AppError::BadRequest(
                "decision must be `approve` or `deny`".into(),
            ))
        }
    };
    let edited_args = match args.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(text) if approve => Some(serde_json::from_str(text).map_err(|e| {
            AppError::Invalid(format!("the edited arguments are not valid JSON: {e}"))
        })?),
        _ => None,
    };
    let checked = |v: &Option<String>| v.as_deref().is_some_and(|v| v == "true" || v == "on");
    let grant = (approve && checked(&grant))
        .then(|| -> Result<_, AppError> {
            let number = |v: &Option<String>, what: &str| {
                v.as_deref()
                    .and_then(|t| t.trim().parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| AppError::Invalid(format!("say for how many {what}")))
            };
            Ok(crate::domain::grant::GrantAsk {
                secs: u64::from(number(&grant_minutes, "minutes")?) * 60,
                uses: number(&grant_uses, "uses")?,
                similar: checked(&grant_similar),
            })
        })
        .transpose()?;
    let input = DecisionInput {
        approve,
        // A browser posting a textarea sends its line breaks as CRLF: the agent gets the
        // text as it was typed.
        feedback: feedback.map(|f| f.replace("\r\n", "\n")),
        confirm: confirm.filter(|c| !c.is_empty()),
        edited_args,
        shown_hash: hash,
        reason_code: reason_code.filter(|c| !c.is_empty() && !approve),
        do_not_retry: !approve && checked(&do_not_retry),
        grant,
    };
    let gate = guard::state()?.gate.clone();
    let call = gate.decide(&id, &user, input).await?;
    // A plain form goes on to the next call waiting on this person (the soonest deadline),
    // or to the inbox when none is left; either says what this decision did.
    let next = if crate::app::forms::is_plain_form() {
        gate.next_for(&user, &id).await.ok().flatten()
    } else {
        None
    };
    let after = urlencode(&id);
    leptos_axum::redirect(&match next {
        Some(next) => format!("/calls/{}?after={after}", urlencode(&next)),
        None => format!("/inbox?after={after}"),
    });
    Ok(call)
}

/// Gives a pending call more time, as someone who may review it, with why.
#[server(prefix = "/rpc", endpoint = "extend")]
pub async fn extend_call(id: String, minutes: u64, reason: String) -> Result<CallView, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    let call = guard::state()?
        .gate
        .extend(&id, &user, minutes.saturating_mul(60), &reason)
        .await?;
    leptos_axum::redirect(&format!("/calls/{}?done=extended", urlencode(&id)));
    Ok(call)
}

/// The decision card page, rendered on the server (again after every decision, edit or
/// extension: its forms are plain forms that come back to it). Islands: the approve
/// form's checks ([`ApproveControls`]), the full arguments' opening ([`FullArgs`]) and
/// the countdown.
#[component]
pub fn CallPage() -> impl IntoView {
    let id = use_params_map()
        .get_untracked()
        .get("id")
        .unwrap_or_default();
    let query = use_query_map().get_untracked();
    // `?intent=approve|deny` (the inbox's `a`/`d` keys): the form to focus.
    let intent = query.get("intent");
    // `?done=extended|flagged`: what a form just did (the form came back here).
    let done = query.get("done");
    // `?after=ID`: the call decided just before (the triage loop).
    let after = query.get("after");
    view! {
        <Title text="Decide · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let (intent, done) = (intent.clone(), done.clone());
                let (id, after) = (id.clone(), after.clone());
                Suspend::new(async move {
                    match load_card(id, after).await {
                        Ok(data) => view! { <Card data intent done /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn Card(data: CardData, intent: Option<String>, done: Option<String>) -> impl IntoView {
    let now = Signal::stored(data.now_ms);
    let call = data.call.clone();
    let plan = plan_line(&call);
    let tracked = (call.status == CallStatus::Pending && data.can_decide).then(|| call.id.clone());
    let summary = call
        .context
        .as_ref()
        .and_then(|c| c.get("summary"))
        .and_then(|s| s.as_str())
        .map(str::to_string);
    let args_json = visible(&serde_json::to_string_pretty(&call.args).unwrap_or_default());
    let args_size =
        crate::domain::inbox::size_label(crate::domain::call::limits::json_size(&call.args));
    let key_args = match &call.args {
        serde_json::Value::Object(map) if !map.is_empty() => {
            // The arguments that decide first (marked), then the rest.
            let first = data
                .deciding
                .iter()
                .filter_map(|k| map.get_key_value(k))
                .map(|(k, v)| (k, v, true));
            let rest = map
                .iter()
                .filter(|(k, _)| !data.deciding.contains(k))
                .map(|(k, v)| (k, v, false));
            first
                .chain(rest)
                .map(|(k, v, deciding)| {
                    view! {
                        <li class:deciding=deciding>
                            <span class="arg-key agent-text">{visible(k)}</span>
                            {deciding.then(|| view! { <span class="decides" title="A policy rule reads this argument">"decides"</span> })}
                            ": " <ArgValue value=v.clone() depth=0 />
                        </li>
                    }
                })
                .collect_view()
                .into_any()
        }
        _ => view! { <li>"(no arguments)"</li> }.into_any(),
    };
    let alternatives = call.alternatives.clone();
    let approvers: Vec<String> = call
        .decisions
        .iter()
        .filter(|d| d.counts)
        .map(|d| d.user.clone())
        .collect();
    let status = call.status;
    let decisions = call
        .decisions
        .iter()
        .map(|d| {
            let what = match (d.decision, d.edited_args, d.current, d.counts) {
                (Verdict::Deny, ..) => format!(" denied version {}", d.version),
                (Verdict::Approve, true, _, true) => {
                    format!(" edited the arguments (version {}) and approved them", d.version)
                }
                (Verdict::Approve, true, true, false) => format!(
                    " edited the arguments (version {}); their approval does not count under its terms",
                    d.version
                ),
                (Verdict::Approve, false, true, true) => format!(" approved version {}", d.version),
                (Verdict::Approve, false, true, false) => format!(
                    " approved version {} — does not count (their role or account no longer qualifies)",
                    d.version
                ),
                (Verdict::Approve, _, false, _) => {
                    format!(" approved an earlier version (version {}) — no longer counts", d.version)
                }
            };
            view! {
                <li class:earlier=!d.current>
                    <strong>{d.user.clone()}</strong> {what}
                    " at " <Time at=d.at.clone() />
                    {d.feedback.clone().map(|f| view! { <blockquote class="agent-text">{visible(&f)}</blockquote> })}
                </li>
            }
        })
        .collect_view()
        .into_any();
    let versions = (!data.versions.is_empty()).then(|| {
        view! { <Versions call=call.clone() versions=data.versions.clone() /> }.into_any()
    });
    let version_no = call.candidate.as_ref().map_or(1, |c| c.version);
    let stats = data.stats.clone();
    let session_calls = data
        .session_calls
        .iter()
        .map(|c| {
            view! {
                <li><a href=format!("/calls/{}", c.id)>{tool_label(&c.tool)}</a> " "
                    <span class=format!("status status-{}", c.status)>{c.status.as_str()}</span></li>
            }
        })
        .collect_view();
    let rule = call.rule.clone().unwrap_or_else(|| "default policy".into());
    let headline = headline(&call, &data.deciding);
    let approvals_line = {
        let required = call.approvals_required.unwrap_or(1);
        let more = required.saturating_sub(call.approvals).max(1);
        match (data.you_approved, call.approvals) {
            (true, _) => format!("you approved · {more} more needed"),
            (false, 0) if required == 1 => "1 approval needed".to_string(),
            (false, 0) => format!("{required} approvals needed"),
            (false, n) => format!("{n} of {required} approved · {more} more needed"),
        }
    };
    view! {
        <div class="card-layout">
            <article class="card decision-card" aria-labelledby="card-title">
                <AfterNote note=data.after.clone() next=true />
                <header class="card-head">
                    <p class="kicker">
                        {if status == CallStatus::Pending { "Approval requested" } else { "Call" }}
                        " · " <span class=format!("status status-{status}")>{status.as_str()}</span>
                        " · from " <span class="agent">{call.agent.clone()}</span>
                    </p>
                    <h1 id="card-title" class="headline">{headline}</h1>
                    <div class="head-facts">
                        <span class="risks"><RiskBadges risk=call.risk.clone() /></span>
                        {data.deadline_ms.filter(|_| status == CallStatus::Pending).map(|d| view! {
                            <span class="deadline"><Countdown deadline_ms=d now /> " left"
                                {data.at_deadline.clone().map(|t| format!(" · {t}"))}</span>
                            <Countdowns server_now_ms=data.now_ms />
                        })}
                        {(status == CallStatus::Pending).then(|| view! { <span class="approvals-line">{approvals_line.clone()}</span> })}
                    </div>
                    <p class="head-reason">{call.reason.clone().map(|r| view! { <LongText text=r /> }.into_any()).unwrap_or_else(|| view! { <em>"No reason given."</em> }.into_any())}</p>
                </header>
                {data.can_decide.then(|| view! {
                    <nav class="quick-decide" aria-label="Decide">
                        <a href="#approve" class="button approve">"Approve…"</a>
                        <a href="#deny" class="button deny">"Deny…"</a>
                    </nav>
                })}
                <FormNotices done=done.clone() />
                {match &call.approved_by {
                    Some(ApprovedBy::Bypass(k)) => view! {
                        <p class="approved-by bypass" role="status">
                            "Approved by " <a href=format!("/bypasses/{k}")>"bypass #" {*k}</a>
                            ", without a person: managers signed off that bypass."
                        </p>
                    }.into_any(),
                    Some(ApprovedBy::Grant(k)) => view! {
                        <p class="approved-by grant" role="status">
                            "Approved by " <a href=format!("/bypasses#grant-{k}")>"grant #" {*k}</a>
                            ": an approver's earlier \"also approve identical calls\"."
                        </p>
                    }.into_any(),
                    _ => ().into_any(),
                }}
                {call.escalated.clone().map(|e| view! {
                    <p class="escalated" role="status">"Escalated to " {e.to_text} " " <Time at=e.at /> " — nobody decided before the first deadline."</p>
                })}
                <Outcome call=call.clone() />
                {(call.extensions > 0).then(|| view! {
                    <p class="extended">{format!("Deadline extended {} time{}.", call.extensions, if call.extensions == 1 { "" } else { "s" })}</p>
                })}
                {call.denial.clone().filter(|d| d.reason_code.is_some() || !d.retry).map(|d| view! {
                    <p class="denial" role="status">
                        {d.reason_code.map(|c| view! { "Reason " <code>{c}</code> ". " })}
                        {(!d.retry).then_some("The agent was told not to retry this call.")}
                    </p>
                })}
                <dl class="summary">
                    <dt>"Agent"</dt>
                    <dd><span class="agent">{call.agent.clone()}</span> " · session " <code class="agent-text">{visible(&call.session)}</code></dd>
                    <dt>"Action"</dt>
                    <dd>
                        <strong class="tool">{tool_label(&call.tool)}</strong> " " <code class="agent-text">{visible(&call.tool)}</code>
                        <ul class="arg-list">{key_args}</ul>
                        <FullArgs seen=tracked summary=format!("Full arguments (JSON, {args_size})")><pre class="json agent-text">{args_json.clone()}</pre></FullArgs>
                        {versions}
                    </dd>
                    <dt>"Plan"</dt>
                    <dd>{plan} {summary.map(|s| view! { " — " <LongText text=s /> })}</dd>
                    <dt>"Alternatives considered"</dt>
                    <dd>{if alternatives.is_empty() {
                        view! { <em>"none"</em> }.into_any()
                    } else {
                        view! { <ul>{alternatives.into_iter().map(|a| view! { <li><LongText text=a /></li> }).collect_view()}</ul> }.into_any()
                    }}</dd>
                    <dt>"Gated by"</dt>
                    <dd>"rule " <code>{visible(&rule)}</code> {call.confirm.clone().map(|c| view! { " · typed confirmation: " <code class="agent-text">{visible(&c)}</code> })}</dd>
                    <dt>"Approvals"</dt>
                    <dd>{view! {
                        <span class="approval-count">{call.approvals} " of " {call.approvals_required.unwrap_or(1)}
                            {(version_no > 1).then(|| format!(" for version {version_no}"))}</span>
                        {(!approvers.is_empty()).then(|| format!(" — {}", approvers.join(", ")))}
                        {data.still_needed.clone().map(|n| view! { <p class="still-needed">"Still needed: " {crate::app::widgets::with_code(&n)}</p> })}
                    }.into_any()}</dd>
                </dl>
                <Decide data=data.clone() intent />
                <Extend data=data.clone() />
                <Flags data=data.clone() />
                {(!call.decisions.is_empty()).then(|| view! { <h2>"Reviews"</h2> <ul class="decisions">{decisions}</ul> })}
            </article>
            <aside class="card history-panel" aria-label="History">
                <h2>"How this has gone before"</h2>
                <p>
                    {format!("{}'s earlier {} calls: ", call.agent, tool_label(&call.tool))}
                    <strong>{stats.approved}</strong> " approved, " <strong>{stats.denied}</strong> " denied"
                    {stats.median_decision_secs.map(|s| format!("; median decision in {s} s"))}
                </p>
                <h3>"Earlier in this session"</h3>
                {if data.session_calls.is_empty() {
                    view! { <p><em>"This is the session's first call."</em></p> }.into_any()
                } else {
                    view! { <ol class="session-calls">{session_calls}</ol> }.into_any()
                }}
            </aside>
        </div>
    }
}

/// Most entries of one object or array the argument tree lists (the full arguments hold
/// the rest).
const TREE_ENTRIES: usize = 50;
/// Deepest level the argument tree unfolds; below it a value is shown as JSON.
const TREE_DEPTH: usize = 6;

/// One argument's value: text as it is (long text folded), an object or array as a tree
/// that folds (open at the top when it is small).
#[component]
fn ArgValue(value: serde_json::Value, depth: usize) -> impl IntoView {
    arg_value(value, depth)
}

fn arg_value(value: serde_json::Value, depth: usize) -> AnyView {
    use serde_json::Value;
    let entries: Vec<(String, Value)> = match value {
        Value::Object(map) if !map.is_empty() && depth < TREE_DEPTH => map.into_iter().collect(),
        Value::Array(items) if !items.is_empty() && depth < TREE_DEPTH => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        other => {
            let text = crate::domain::inbox::short_value(&other);
            return view! { <LongText text /> }.into_any();
        }
    };
    let is_array = entries.first().is_some_and(|(k, _)| k == "0");
    let n = entries.len();
    let summary = match (is_array, n) {
        (true, 1) => "[ 1 item ]".to_string(),
        (true, n) => format!("[ {n} items ]"),
        (false, 1) => "{ 1 key }".to_string(),
        (false, n) => format!("{{ {n} keys }}"),
    };
    let small = depth == 0 && n <= 6;
    let more = n.saturating_sub(TREE_ENTRIES);
    let items = entries
        .into_iter()
        .take(TREE_ENTRIES)
        .map(|(k, v)| {
            view! { <li><span class="arg-key agent-text">{visible(&k)}</span> ": " {arg_value(v, depth + 1)}</li> }
        })
        .collect_view();
    view! {
        <details class="arg-tree" open=small>
            <summary>{summary}</summary>
            <ul>
                {items}
                {(more > 0).then(|| view! { <li class="hint">{format!("…and {more} more (see the full arguments)")}</li> })}
            </ul>
        </details>
    }
    .into_any()
}

/// How running the call went, as its agent reported it: running since when, executed with
/// a result or the tool's own error, or failed without a result (and what it said).
#[component]
fn Outcome(call: CallView) -> impl IntoView {
    use crate::domain::call::ExecutionResult;
    let since = call.executed_at.clone().unwrap_or_default();
    let detail = call
        .outcome_detail
        .clone()
        .map(|d| view! { <span class="agent-text">{visible(&d)}</span> });
    match (call.status, call.outcome) {
        (CallStatus::Running, _) => Some(
            view! {
                <p class="outcome running" role="status">
                    "Running since " <Time at=since /> "; the agent reports how it goes."
                </p>
            }
            .into_any(),
        ),
        (_, Some(result)) => {
            let class = match result {
                ExecutionResult::Succeeded => "outcome ok",
                ExecutionResult::ToolError | ExecutionResult::Failed => "outcome failed",
            };
            let finished = call.finished_at.clone().unwrap_or_default();
            Some(
                view! {
                    <p class=class role="status">
                        "It " {result.label()} " (" <Time at=finished /> ")"
                        {detail.map(|d| view! { ": " {d} })}
                    </p>
                }
                .into_any(),
            )
        }
        _ => None,
    }
}

/// The largest arguments (as the edit box would hold them) the card offers to edit: beyond
/// it they are approved as shown, which keeps the form's body well under the 1 MiB limit.
const EDITABLE_ARGS_BYTES: usize = 128 * 1024;

/// People's flags on a call that ran, and the form to add one (a plain form: it comes
/// back to the card, `?done=flagged`; [`FormNotices`] says how it went).
#[component]
fn Flags(data: CardData) -> impl IntoView {
    let flag = ServerAction::<FlagCall>::new();
    let ran = data.call.status.was_let_through();
    let list = data
        .flags
        .iter()
        .map(|f| {
            view! {
                <li><strong>{f.username.clone()}</strong> " flagged it at " <Time at=f.at.clone() />
                    ": " <span class="agent-text">{visible(&f.reason)}</span></li>
            }
        })
        .collect_view();
    let id = data.call.id.clone();
    (ran || !data.flags.is_empty()).then(|| {
        view! {
            <section class="flags" aria-label="Flags">
                {(!data.flags.is_empty()).then(|| view! { <h2>"Flags"</h2> <ul>{list}</ul> })}
                {ran.then(|| view! {
                    <details class="flag-form">
                        <summary>"Flag: this should not have run"</summary>
                        <ActionForm action=flag>
                            <input type="hidden" name="id" value=id.clone() />
                            <label for="flag-reason">"What was wrong with it"</label>
                            <input id="flag-reason" name="reason" required maxlength="1000" />
                            <button type="submit" class="small secondary">"Flag it"</button>
                        </ActionForm>
                    </details>
                })}
            </section>
        }
    })
}

/// The proposal and every edit of it: who made which version, and how the current one
/// differs from what the agent proposed.
#[component]
fn Versions(call: CallView, versions: Vec<VersionView>) -> impl IntoView {
    let current = call.candidate.as_ref().map_or(1, |c| c.version);
    let proposal = serde_json::to_string_pretty(&call.proposed_args).unwrap_or_default();
    let items = versions
        .into_iter()
        .map(|v| {
            let label = if v.version == current {
                " (current)"
            } else {
                ""
            };
            view! {
                <li>
                    "Version " {v.version} {label} " by " <strong>{v.author}</strong>
                    " at " <Time at=v.at.clone() />
                    {v.rule.map(|r| view! { " · policy rule " <code>{r}</code> })}
                    <DiffList before=call.proposed_args.clone() after=v.args />
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="versions" aria-label="Versions of the arguments">
            <h3>"Edited: version " {current} " is under review"</h3>
            <p>"Changes against the agent's proposal (version 1):"</p>
            <ol class="version-list">{items}</ol>
            <details><summary>"The proposal (version 1, JSON)"</summary><pre class="json agent-text">{visible(&proposal)}</pre></details>
        </section>
    }
}

/// The top-level differences between two sets of arguments.
#[component]
fn DiffList(before: serde_json::Value, after: serde_json::Value) -> impl IntoView {
    let lines = arg_diff(&before, &after)
        .into_iter()
        .filter(|l| !matches!(l, DiffLine::Same(..)))
        .map(|l| match l {
            DiffLine::Changed(k, a, b) => view! { <li class="changed"><code class="agent-text">{visible(&k)}</code> ": " <del class="agent-text">{visible(&a)}</del> " → " <ins class="agent-text">{visible(&b)}</ins></li> }.into_any(),
            DiffLine::Added(k, b) => view! { <li class="added"><code class="agent-text">{visible(&k)}</code> ": " <ins class="agent-text">{visible(&b)}</ins></li> }.into_any(),
            DiffLine::Removed(k, a) => view! { <li class="removed"><code class="agent-text">{visible(&k)}</code> ": " <del class="agent-text">{visible(&a)}</del></li> }.into_any(),
            DiffLine::Same(..) => ().into_any(),
        })
        .collect_view();
    view! { <ul class="diff-lines">{lines}</ul> }
}

/// The action as a sentence: the tool in words, then the arguments that decide
/// (`Drop table table events_2023_archive database analytics`), at most three; when no
/// rule reads its arguments, the first two that are short plain values.
fn headline(call: &CallView, deciding: &[String]) -> impl IntoView {
    let first_two: Vec<String> = match &call.args {
        serde_json::Value::Object(map) if deciding.is_empty() => map
            .iter()
            .filter(|(_, v)| {
                v.as_str()
                    .map_or(v.is_number() || v.is_boolean(), |s| s.chars().count() <= 48)
            })
            .take(2)
            .map(|(k, _)| k.clone())
            .collect(),
        _ => Vec::new(),
    };
    let keys = if deciding.is_empty() {
        &first_two[..]
    } else {
        deciding
    };
    let args = keys
        .iter()
        .filter_map(|k| match call.args.get(k) {
            Some(v) if !v.is_object() && !v.is_array() => Some((
                crate::domain::inbox::truncate(k, 32),
                crate::domain::inbox::truncate(&crate::domain::inbox::short_value(v), 48),
            )),
            _ => None,
        })
        .take(3)
        .map(|(k, v)| {
            view! { " " <span class="head-arg"><span class="arg-key">{k}</span> " " <code class="agent-text">{v}</code></span> }
        })
        .collect_view();
    view! { <span class="tool">{tool_label(&call.tool)}</span> {args} }
}

/// What the person's decision on the call before did (the triage loop brought them here),
/// with a link to it; `next`: this page is the next call waiting on them (else the inbox).
#[component]
pub fn AfterNote(note: Option<DecidedNote>, next: bool) -> impl IntoView {
    note.map(|n| {
        // On the inbox nothing more is said: its list says what still waits.
        let then = if next {
            " This is the next call waiting on you."
        } else {
            ""
        };
        view! {
            <p class="ok form-notice decided-note" role="status">
                <a href=format!("/calls/{}", n.id)>{tool_label(&n.tool)}</a> ": " {n.what} "." {then}
            </p>
        }
    })
}

fn plan_line(call: &CallView) -> String {
    let ctx = call.context.as_ref();
    let step = ctx
        .and_then(|c| c.get("plan_step"))
        .and_then(|v| v.as_u64());
    let total = ctx
        .and_then(|c| c.get("plan_total"))
        .and_then(|v| v.as_u64());
    match (step, total) {
        (Some(s), Some(t)) => format!("Step {s} of {t}"),
        (Some(s), None) => format!("Step {s}"),
        _ => "No plan given".into(),
    }
}

/// What the card's last form did, at the top of the card (on a phone the forms are far
/// below): the error the server came back with, or `?done=extended|flagged`.
#[component]
fn FormNotices(done: Option<String>) -> impl IntoView {
    fn error_of<S>() -> Option<AppError>
    where
        S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
        S::Output: Clone + Send + Sync + 'static,
    {
        ServerAction::<S>::new()
            .value()
            .get_untracked()
            .and_then(|r| r.err())
    }
    let error = error_of::<DecideCall>()
        .map(|e| match &e {
            AppError::State(StateCode::NotPending | StateCode::DeadlinePassed, _) => {
                format!("Too late: {e}")
            }
            AppError::State(StateCode::StaleView, _) => "The arguments changed since you opened \
                 this call — review again: the card now shows the current version."
                .to_string(),
            _ => e.to_string(),
        })
        .or_else(|| error_of::<ExtendCall>().map(|e| e.to_string()))
        .or_else(|| error_of::<FlagCall>().map(|e| e.to_string()));
    let ok = match done.as_deref() {
        _ if error.is_some() => None,
        Some("extended") => Some("Extended: the agent sees the new deadline."),
        Some("flagged") => Some("Flagged. The insights count it for this call's pattern."),
        _ => None,
    };
    view! {
        {error.map(|e| view! { <p class="error form-notice" role="alert">{e}</p> })}
        {ok.map(|t| view! { <p class="ok form-notice" role="status">{t}</p> })}
    }
}

/// The approve and deny forms, or why the signed-in person cannot decide. Plain forms:
/// the server decides and comes back to the card (with the error in the URL, if any).
#[component]
fn Decide(data: CardData, intent: Option<String>) -> impl IntoView {
    let decide = ServerAction::<DecideCall>::new();
    if !data.can_decide {
        return view! {
            <p class="cannot-decide" role="status">{data.cannot_decide_reason.clone().unwrap_or_default()}</p>
        }
        .into_any();
    }
    let reasons = data.reasons.clone();
    let grant = data.grant.clone();
    let call = data.call;
    let id = call.id.clone();
    let hash = call
        .candidate
        .as_ref()
        .map(|c| c.hash.clone())
        .unwrap_or_default();
    let deny_hash = hash.clone();
    // Invisible characters are written as `\u` escapes: the text stays exact and visible.
    let full_text = crate::domain::invisible::escape_json(&call.args);
    // Arguments too large to edit in a text box (and to post back within a form's body
    // limit) are approved as shown; the CLI edits them.
    let editable = full_text.len() <= EDITABLE_ARGS_BYTES;
    let args_size = crate::domain::inbox::size_label(full_text.len());
    let focus_deny = intent.as_deref() == Some("deny");
    let deny_id = id.clone();
    let grant = grant.map(|g| {
        let max_minutes = (g.max_secs / 60).max(1);
        let similar = (!g.pointers.is_empty()).then(|| {
            let by = g.pointers.join(", ");
            view! {
                <label class="checkbox"><input type="checkbox" name="grant_similar" value="true" />
                    " …and similar ones (same " <code>{by}</code> ")"</label>
            }
        });
        view! {
            <fieldset class="grant" aria-label="Remember this approval">
                <label class="checkbox"><input type="checkbox" name="grant" value="true" />
                    " Also approve identical calls (same agent, tool and arguments)"</label>
                <div class="grant-terms">
                    <label for="grant-minutes">"for the next (minutes)"</label>
                    <input id="grant-minutes" name="grant_minutes" type="number" min="1" max=max_minutes value=max_minutes.min(30) />
                    <label for="grant-uses">"at most (uses)"</label>
                    <input id="grant-uses" name="grant_uses" type="number" min="1" max=g.max_uses value=g.max_uses.min(5) />
                </div>
                {similar}
            </fieldset>
        }
    });
    let form = ApproveForm {
        phrase: call.confirm.clone(),
        focus_confirm: intent.as_deref() == Some("approve"),
        args_text: if editable { full_text } else { String::new() },
        args_size: (!editable).then_some(args_size),
    };
    view! {
        <div class="decide">
            <ActionForm action=decide attr:class="approve-form" attr:id="approve" attr:aria-label="Approve">
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="decision" value="approve" />
                <input type="hidden" name="hash" value=hash />
                <ApproveControls form>{grant}</ApproveControls>
            </ActionForm>
            <ActionForm action=decide attr:class="deny-form" attr:id="deny" attr:aria-label="Deny">
                <input type="hidden" name="id" value=deny_id />
                <input type="hidden" name="decision" value="deny" />
                <input type="hidden" name="hash" value=deny_hash />
                {(!reasons.is_empty()).then(|| view! {
                    <select id="deny-reason" name="reason_code" aria-label="Reason for denying">
                        <option value="">"Reason: your own words below"</option>
                        {reasons.iter().map(|r| view! { <option value=r.code.clone()>{r.label.clone()}</option> }).collect_view()}
                    </select>
                })}
                <label for="deny-feedback">"Why deny? (sent to the agent verbatim)"</label>
                <textarea id="deny-feedback" name="feedback" rows="2" maxlength="4000"
                    autofocus=focus_deny></textarea>
                <div class="deny-actions">
                    <button type="submit" class="deny">"Deny"</button>
                    <label class="checkbox" title="The agent is told not to retry, and the same call is denied at once for a while">
                        <input type="checkbox" name="do_not_retry" value="true" /> " Do not retry"</label>
                </div>
            </ActionForm>
        </div>
    }
    .into_any()
}

/// What the approve form's island needs to know.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ApproveForm {
    /// The phrase to type before approving, if the rule asks for one.
    phrase: Option<String>,
    /// Whether the person came to approve (the inbox's `a`): the phrase field takes focus.
    focus_confirm: bool,
    /// The arguments as the edit box holds them (empty when too large to edit).
    args_text: String,
    /// When too large to edit: their size, in words.
    args_size: Option<String>,
}

/// The inside of the approve form: the typed confirmation, Approve (held back until the
/// phrase is typed and an edit is valid JSON), and the argument editor with what the edit
/// changes. `children` (the grant's terms) sit between the phrase and the button. With
/// the wasm running, `a` presses Approve and `d` moves to the deny reason.
#[island]
fn ApproveControls(form: ApproveForm, children: Children) -> impl IntoView {
    let ApproveForm {
        phrase,
        focus_confirm,
        args_text: full_text,
        args_size,
    } = form;
    let editable = args_size.is_none();
    let typed = RwSignal::new(String::new());
    // On the server (and so without the wasm) nothing is held back: the server checks.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let phrase_ok = {
        let phrase = phrase.clone();
        move || {
            phrase
                .as_ref()
                .is_none_or(|p| typed.get().trim() == p.trim())
        }
    };
    let original = serde_json::from_str::<serde_json::Value>(&full_text).unwrap_or_default();
    let args_text = RwSignal::new(full_text);
    let parsed = move || serde_json::from_str::<serde_json::Value>(&args_text.get());
    let args_error = move || match parsed() {
        _ if !editable => None,
        Ok(v) if v.is_object() => None,
        Ok(_) => Some("Arguments must be a JSON object.".to_string()),
        Err(e) => Some(format!("Not valid JSON: {e}")),
    };
    let diff = move || {
        let Ok(edited) = parsed() else { return None };
        if !editable || edited == original {
            return None;
        }
        Some(view! {
            <div class="diff" aria-live="polite"><h3>"You changed"</h3>
                <DiffList before=original.clone() after=edited />
                <p class="hint">"Your edit becomes a new version: approvals of the current one stop counting, and policy checks the new arguments again (it may ask for more)."</p>
            </div>
        })
    };
    let approve_disabled = {
        let phrase_ok = phrase_ok.clone();
        move || hydrated.get() && (!phrase_ok() || args_error().is_some())
    };
    keyboard(hydrated);
    view! {
        {phrase.clone().map(|p| view! {
            <label for="confirm">"Type " <code class="agent-text">{visible(&p)}</code> " to approve"</label>
            <input id="confirm" name="confirm" autocomplete="off" spellcheck="false"
                on:input=move |ev| typed.set(event_target_value(&ev)) autofocus=focus_confirm />
        })}
        {children()}
        <button type="submit" class="approve" disabled=approve_disabled>"Approve"</button>
        <details class="edit-args">
            <summary>"Edit arguments or add a note, then approve"</summary>
            {match args_size {
                None => view! {
                    <label for="args">"Arguments (JSON)"</label>
                    <textarea id="args" name="args" rows="6" spellcheck="false" prop:value=args_text
                        on:input=move |ev| args_text.set(event_target_value(&ev))
                        inner_html=crate::app::widgets::textarea_html(&args_text.get_untracked())></textarea>
                }.into_any(),
                Some(size) => view! {
                    <p class="hint">{format!(
                        "These arguments are {size}: too large to edit here. Approve them as shown, or edit them with `askfirst calls approve ID --args …`."
                    )}</p>
                }.into_any(),
            }}
            {move || args_error().map(|e| view! { <p class="error">{e}</p> })}
            {diff}
            <label for="approve-feedback">"Note for the agent (optional)"</label>
            <input id="approve-feedback" name="feedback" maxlength="4000" />
        </details>
    }
}

/// On the card: `a` presses Approve (when it is enabled), `d` moves to the deny reason,
/// `u` or `Esc` goes back to the inbox.
fn keyboard(hydrated: RwSignal<bool>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::ev;
        use wasm_bindgen::JsCast;
        let handle = window_event_listener(ev::keydown, move |e| {
            if !hydrated.get_untracked() || crate::app::widgets::typing_in_field(&e) {
                return;
            }
            let target = match e.key().as_str() {
                "a" => "button.approve",
                "d" => "#deny-feedback",
                "u" | "Escape" => {
                    e.prevent_default();
                    crate::app::browser::go_to("/inbox");
                    return;
                }
                _ => return,
            };
            if let Some(el) = document()
                .query_selector(target)
                .ok()
                .flatten()
                .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok())
            {
                e.prevent_default();
                if target == "button.approve" {
                    el.click();
                } else {
                    let _ = el.focus();
                }
            }
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = hydrated;
}

/// "Give it more time": for someone who may review a pending call, while extensions are
/// left (a plain form: it comes back to the card, `?done=extended`; [`FormNotices`] says
/// how it went).
#[component]
fn Extend(data: CardData) -> impl IntoView {
    let extend = ServerAction::<ExtendCall>::new();
    let offer = data
        .extend
        .clone()
        .filter(|_| data.call.status == CallStatus::Pending)?;
    let max_minutes = (offer.max_secs / 60).max(1);
    Some(view! {
        <details class="extend">
            <summary>{format!("Need more time? Extend the deadline ({} left)", offer.left)}</summary>
            <ActionForm action=extend attr:aria-label="Extend the deadline">
                <input type="hidden" name="id" value=data.call.id.clone() />
                <label for="extend-minutes">{format!("By how many minutes (at most {max_minutes})")}</label>
                <input id="extend-minutes" name="minutes" type="number" min="1" max=max_minutes value=max_minutes.min(15) required />
                <label for="extend-reason">"Why"</label>
                <input id="extend-reason" name="reason" required maxlength="500" />
                <button type="submit" class="secondary">"Extend"</button>
            </ActionForm>
        </details>
    })
}

/// The full arguments, folded: opening them is noted for the rubber-stamp watch (`seen`:
/// the call, when the viewer may review it and it still waits). An island for that note;
/// the arguments themselves are rendered on the server.
#[island]
fn FullArgs(seen: Option<String>, summary: String, children: Children) -> impl IntoView {
    let on_toggle = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let open = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
                .is_some_and(|d| d.open());
            if let (true, Some(id)) = (open, seen.clone()) {
                leptos::task::spawn_local(async move {
                    let fields = [("id", id), ("expanded", "true".to_string())];
                    let _ = crate::app::browser::post_form("/rpc/card_seen", &fields).await;
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, &seen);
    };
    view! {
        <details class="full-args" on:toggle=on_toggle><summary>{summary}</summary>{children()}</details>
    }
}

/// Percent-encodes a path segment.
#[cfg(feature = "ssr")]
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
