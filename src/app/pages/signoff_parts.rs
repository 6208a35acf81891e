//! What the bypass pages and the review page share: a bypass at a glance, the reviews so
//! far, and the approve/deny forms of a manager.

use crate::app::widgets::{Countdown, Time};
use crate::domain::bypass::{BypassStatus, BypassView};
use crate::domain::inbox::visible;
use crate::domain::policy_change::duration_text;
use crate::domain::signoff::{AccountChange, CoveredCall, SignoffReviewView};
use leptos::prelude::*;

/// A bypass in words: scope, window, justification, who asked, what is still needed.
#[component]
pub fn BypassSummary(bypass: BypassView, now: Signal<i64>) -> impl IntoView {
    let status = bypass.status;
    let time_left = match status {
        BypassStatus::Pending => Some(view! {
            <span class="time-left">"request expires in " <Countdown deadline_ms=bypass.expires_at_ms now /></span>
        }.into_any()),
        BypassStatus::Active => bypass.ends_at_ms.map(|t| view! {
            <span class="time-left">"ends in " <Countdown deadline_ms=t now /></span>
        }.into_any()),
        _ => None,
    };
    view! {
        <div class="bypass-summary">
            <p class="bypass-head">
                <a href=format!("/bypasses/{}", bypass.id)><strong>"Bypass #" {bypass.id}</strong></a> " "
                <span class=format!("status status-{status}")>{status.as_str()}</span> " "
                {time_left}
            </p>
            <dl class="summary">
                <dt>"Approves"</dt>
                <dd>
                    <span class="scope agent-text">{crate::app::widgets::with_code(&crate::domain::invisible::visible(&bypass.scope_text))}</span>
                    {(!bypass.scope.args.is_empty()).then(|| view! {
                        <span class="hint">" — conditions restrict only the arguments they name: a call may carry any others, and " <code>"ne"</code> " also holds when the argument is missing."</span>
                    })}
                </dd>
                <dt>"For"</dt>
                <dd>{duration_text(bypass.window_secs)} " once active"</dd>
                <dt>"Typed confirmation"</dt>
                <dd>{if bypass.include_confirmation {
                    view! { <strong class="warn">"also bypasses gates that ask for typed confirmation"</strong> }.into_any()
                } else {
                    "gates that ask for typed confirmation still wait for a person".into_any()
                }}</dd>
                <dt>"Why"</dt>
                <dd class="agent-text reason">{crate::domain::invisible::visible(&bypass.reason)}</dd>
                <dt>"Asked by"</dt>
                <dd>{bypass.requester.clone()} " at " <Time at=bypass.created_at.clone() /></dd>
                <dt>"Sign-off"</dt>
                <dd class="approvals">{bypass.approvals} " of " {bypass.approvals_required} " managers approved"
                    {(bypass.used > 0).then(|| view! { " · approved " {bypass.used} " calls" })}
                    {bypass.revoked_by.clone().map(|r| view! { " · revoked by " {r} })}
                </dd>
            </dl>
            <ReviewList reviews=bypass.reviews.clone() />
        </div>
    }
}

/// The reviews so far.
#[component]
pub fn ReviewList(reviews: Vec<SignoffReviewView>) -> impl IntoView {
    if reviews.is_empty() {
        return view! { <p class="hint">"No reviews yet."</p> }.into_any();
    }
    let items = reviews
        .into_iter()
        .map(|r| {
            let note = if r.verdict == crate::domain::review::Verdict::Approve && !r.counts {
                if r.current {
                    " (no longer counts: their role or account changed)"
                } else {
                    " (of an earlier version: no longer counts)"
                }
            } else {
                ""
            };
            view! {
                <li class=format!("review review-{}", r.verdict.as_str())>
                    <strong>{r.user}</strong> " " {r.verdict.as_str()} "d" {note}
                    {r.comment.map(|c| view! { ": " <span class="agent-text">{crate::domain::invisible::visible(&c)}</span> })}
                </li>
            }
        })
        .collect_view();
    view! { <ul class="reviews">{items}</ul> }.into_any()
}

/// Calls listed for a glance.
#[component]
pub fn CallList(calls: Vec<CoveredCall>, empty: &'static str) -> impl IntoView {
    if calls.is_empty() {
        return view! { <p class="hint">{empty}</p> }.into_any();
    }
    let rows = calls
        .into_iter()
        .map(|c| {
            let args = c
                .key_args
                .into_iter()
                .map(|(k, v)| view! { <span class="arg"><span class="arg-key">{k}</span>"="<span class="arg-value">{v}</span></span> " " })
                .collect_view();
            view! {
                <li>
                    <a href=format!("/calls/{}", c.id)><span class="agent">{c.agent}</span> " → " <strong class="tool agent-text">{crate::domain::invisible::visible(&c.tool)}</strong></a>
                    " " <span class="args">{args}</span>
                    " " <span class=format!("status status-{}", c.status)>{c.status.clone()}</span>
                    " " <Time at=c.created_at.clone() />
                </li>
            }
        })
        .collect_view();
    view! { <ul class="covered-calls">{rows}</ul> }.into_any()
}

/// Changes to people's accounts since a request was filed: role changes, enables, resets.
/// Reviewers qualify only from before the filing, so these explain who cannot sign off.
#[component]
pub fn AccountChanges(changes: Vec<AccountChange>) -> impl IntoView {
    (!changes.is_empty()).then(|| {
        let items = changes
            .into_iter()
            .map(|c| {
                view! {
                    <li><Time at=c.at /> " · " <strong class="username">{visible(&c.user)}</strong>
                        ": " {c.what} " (by " {visible(&c.by)} ")"</li>
                }
            })
            .collect_view();
        view! {
            <details class="account-changes" open>
                <summary>"Accounts changed since this was asked for"</summary>
                <p class="hint">"Only people who already qualified when it was asked for can sign it off; these changes restart that."</p>
                <ul>{items}</ul>
            </details>
        }
    })
}
