//! `/reviews` (managers and above): everything waiting for managers' sign-off — bypass
//! requests and policy changes that loosen a gate — each with what it would approve or
//! change, the justification, the reviews so far and the time left; approve or deny with a
//! comment. Live: new requests appear without a reload. Admins also set how sign-off works.

use super::home::page_error;
use super::signoff_parts::{AccountChanges, BypassSummary, CallList, ReviewList};
use crate::app::widgets::{Countdown, Countdowns, LiveParts, Time};
use crate::domain::change_request::{ChangeItem, ReviewQueue};
use crate::domain::policy_change::duration_short;
use crate::domain::signoff::SignoffSettings;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// `approve` or `deny`.
#[cfg(feature = "ssr")]
pub fn verdict(text: &str) -> Result<crate::domain::review::Verdict, AppError> {
    use crate::domain::review::Verdict;
    match text {
        "approve" => Ok(Verdict::Approve),
        "deny" => Ok(Verdict::Deny),
        _ => Err(AppError::BadRequest(
            "verdict must be `approve` or `deny`".into(),
        )),
    }
}

/// What waits for managers. Managers and above.
#[server(prefix = "/rpc", endpoint = "reviews")]
pub async fn load_reviews() -> Result<ReviewQueue, AppError> {
    use crate::auth::guard;
    use crate::domain::Role;
    let user = guard::require_role(Role::Manager).await?;
    let gate = guard::state()?.gate.clone();
    Ok(ReviewQueue {
        bypasses: gate.pending_bypasses(&user).await?,
        changes: gate.pending_changes(&user).await?,
        settings: gate.signoff_settings().await?,
        managers: gate.active_managers().await?,
        is_admin: user.role == Role::Admin,
        now_ms: crate::clock::to_millis(gate.clock.now()),
    })
}

/// How many requests wait for managers: `None` for people who do not sign off.
#[server(prefix = "/rpc", endpoint = "reviews_count")]
pub async fn reviews_count() -> Result<Option<i64>, AppError> {
    use crate::auth::guard;
    match guard::current_user().await? {
        Some(u) if !u.must_change_password && u.role.includes(crate::domain::Role::Manager) => {
            Ok(Some(guard::state()?.gate.pending_signoffs().await?))
        }
        _ => Ok(None),
    }
}

/// A manager's review of a bypass request (`kind` = `bypass`) or a pending policy change
/// (`policy_change`): `verdict` is `approve` or `deny` (a deny needs a comment), `hash` what
/// they were shown. Managers and above; the review engine decides whether it counts —
/// never the requester's or author's own.
#[server(prefix = "/rpc", endpoint = "signoff_review")]
pub async fn signoff_review(
    kind: String,
    id: i64,
    verdict: String,
    hash: String,
    comment: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Manager).await?;
    let gate = guard::state()?.gate.clone();
    let input = crate::gate::signoff::SignoffInput {
        verdict: self::verdict(&verdict)?,
        comment,
        shown_hash: hash,
    };
    match kind.as_str() {
        "bypass" => gate.review_bypass(id, &user, input).await.map(|_| ()),
        "policy_change" => gate.review_change(id, &user, input).await.map(|_| ()),
        _ => Err(AppError::BadRequest(
            "kind must be `bypass` or `policy_change`".into(),
        )),
    }
}

/// Re-bases (`action` = `rebase`) or withdraws (`withdraw`) a pending policy change. Its
/// author only (an admin); the service checks.
#[server(prefix = "/rpc", endpoint = "change_author")]
pub async fn change_author(id: i64, action: String) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    let gate = guard::state()?.gate.clone();
    match action.as_str() {
        "rebase" => gate.rebase_change(id, &user).await.map(|_| ()),
        "withdraw" => gate.withdraw_change(id, &user).await.map(|_| ()),
        _ => Err(AppError::BadRequest(
            "action must be `rebase` or `withdraw`".into(),
        )),
    }
}

/// Saves the sign-off settings. Admins only; refused when fewer than approvals + 1 active
/// managers exist.
#[server(prefix = "/rpc", endpoint = "signoff_settings")]
pub async fn save_signoff_settings(
    approvals: u32,
    max_window: String,
    request_ttl: String,
    #[server(default)] reset_cooling: Option<String>,
) -> Result<SignoffSettings, AppError> {
    use crate::auth::guard;
    use crate::policy::rule_form::duration;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    let gate = &guard::state()?.gate;
    let current = gate.signoff_settings().await?;
    let reset_cooling_secs = match reset_cooling.as_deref().map(str::trim) {
        None | Some("") => current.reset_cooling_secs,
        Some(text) if crate::domain::signoff::is_zero_duration(text) => 0,
        Some(text) => duration(text)
            .map_err(|e| AppError::Invalid(format!("cooling-off after a reset: {e}")))?,
    };
    let settings = SignoffSettings {
        approvals,
        max_window_secs: duration(&max_window)
            .map_err(|e| AppError::Invalid(format!("longest window: {e}")))?,
        request_ttl_secs: duration(&request_ttl)
            .map_err(|e| AppError::Invalid(format!("request expiry: {e}")))?,
        reset_cooling_secs,
        cooling_lowered: None,
    };
    gate.set_signoff_settings(&format!("user:{}", user.username), settings)
        .await
}

/// The page, rendered on the server and kept live by the sign-off stream; its forms are
/// plain forms that come back to it.
#[component]
pub fn ReviewsPage() -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    let errors = vec![
        error_of::<SignoffReview>(),
        error_of::<ChangeAuthor>(),
        error_of::<SaveSignoffSettings>(),
    ];
    let ok = done().map(|d| {
        if d == name_of::<SignoffReview>() {
            "Your review is recorded.".to_string()
        } else {
            "Saved.".to_string()
        }
    });
    view! {
        <Title text="Reviews · askfirst" />
        <Outcome errors ok />
        <LiveParts events="/reviews/events".to_string() kinds=vec!["signoff".to_string()] />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match load_reviews().await {
                    Ok(queue) => view! { <Queue queue /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Queue(queue: ReviewQueue) -> impl IntoView {
    let review = ServerAction::<SignoffReview>::new();
    let author = ServerAction::<ChangeAuthor>::new();
    let settings = ServerAction::<SaveSignoffSettings>::new();
    let now = Signal::stored(queue.now_ms);
    let server_now_ms = queue.now_ms;
    let total = queue.bypasses.len() + queue.changes.len();
    let bypasses = queue
        .bypasses
        .into_iter()
        .map(|page| {
            let id = page.bypass.id;
            let hash = page.bypass.hash.clone();
            view! {
                <li class="card signoff-item" data-bypass=id>
                    <BypassSummary bypass=page.bypass now />
                    <h2 class="item-part">"Recent gated calls it would have approved"</h2>
                    <CallList calls=page.would_cover empty="None of the recent gated calls." />
                    <AccountChanges changes=page.account_changes />
                    {match page.cannot_review {
                        None => view! { <ReviewForms kind="bypass" id hash review /> }.into_any(),
                        Some(why) => view! { <p class="cannot-decide" role="status">{why}</p> }.into_any(),
                    }}
                </li>
            }
        })
        .collect_view();
    let changes = queue
        .changes
        .into_iter()
        .map(|item| view! { <Change item now review author /> })
        .collect_view();
    view! {
        <section class="reviews-page" data-live="reviews">
            <h1>"Waiting for sign-off " <span class="count">{total}</span></h1>
            {(total == 0).then(|| view! { <p class="empty">"Nothing is waiting for managers. Bypass requests and policy changes that loosen a gate appear here, live."</p> })}
            <ol class="signoff-list" aria-label="Waiting for sign-off">{bypasses}{changes}</ol>
        </section>
        <Countdowns server_now_ms />
        {queue.is_admin.then(|| view! { <Settings current=queue.settings managers=queue.managers action=settings /> })}
    }
}

#[component]
fn Change(
    item: ChangeItem,
    now: Signal<i64>,
    review: ServerAction<SignoffReview>,
    author: ServerAction<ChangeAuthor>,
) -> impl IntoView {
    let c = item.change;
    let id = c.id;
    let needs_rebase = c.needs_rebase();
    // Each change once, a loosening one with why it loosens.
    let changes = c
        .changes
        .iter()
        .map(|t| {
            let loosens = c
                .findings
                .iter()
                .find(|f| f.loosens && &f.change == t)
                .map(|f| view! { " — " <strong>"loosens: "</strong> {f.why.clone()} });
            let marked = loosens.is_some();
            view! { <li class:loosens=marked>{crate::app::widgets::with_code(t)}{loosens}</li> }
        })
        .collect_view();
    let groups = c
        .replay
        .groups
        .iter()
        .take(10)
        .map(|g| {
            let calls = g
                .calls
                .iter()
                .map(|call| {
                    // Each link names its call: the same change reads the same for every call.
                    let tail = &call.id[call.id.len().saturating_sub(6)..];
                    view! { <li><a href=format!("/calls/{}", call.id)>"call …" {tail.to_string()}</a> ": " {call.before.clone()} " → " {call.after.clone()}</li> }
                })
                .collect_view();
            view! {
                <li><span class="agent">{g.agent.clone()}</span> " → " <strong class="tool">{g.tool.clone()}</strong>
                    ": " {g.laxer} " laxer, " {g.stricter} " stricter" <ul>{calls}</ul></li>
            }
        })
        .collect_view();
    view! {
        <li class="card signoff-item" data-change=id>
            <p class="bypass-head">
                <strong>"Policy change #" {id}</strong> " "
                <span class="status status-pending">"pending"</span> " "
                <span class="time-left">"expires in " <Countdown deadline_ms=c.expires_at_ms now /></span>
            </p>
            <dl class="summary">
                <dt>"By"</dt>
                <dd>{c.author.clone()} " at " <Time at=c.created_at.clone() /></dd>
                <dt>"Why"</dt>
                <dd class="reason">{c.comment.clone()}</dd>
                <dt>"Changes (from version " {c.base} ")"</dt>
                <dd><ul class="changes">{changes}</ul></dd>
                <dt>"Recent calls"</dt>
                <dd>{c.replay.laxer} " of the last " {c.replay.examined} " calls would be treated more laxly, "
                    {c.replay.stricter} " more strictly." <ul class="replay">{groups}</ul></dd>
                <dt>"Sign-off"</dt>
                <dd class="approvals">{c.approvals} " of " {c.approvals_required} " managers approved"</dd>
            </dl>
            <ReviewList reviews=c.reviews.clone() />
            {needs_rebase.then(|| view! {
                <p class="warn" role="status">"The policy changed since (version " {c.in_force}
                    " is in force): this change must be re-based by its author before anyone can review it."</p>
            })}
            <AccountChanges changes=item.account_changes.clone() />
            {match item.cannot_review {
                None => view! { <ReviewForms kind="policy_change" id hash=c.hash.clone() review /> }.into_any(),
                Some(why) => view! { <p class="cannot-decide" role="status">{why}</p> }.into_any(),
            }}
            {item.is_author.then(|| view! {
                <div class="author-actions">
                    {needs_rebase.then(|| view! {
                        <ActionForm action=author attr:class="inline">
                            <input type="hidden" name="id" value=id />
                            <input type="hidden" name="action" value="rebase" />
                            <button type="submit">"Re-base onto version " {c.in_force}</button>
                        </ActionForm>
                    })}
                    <ActionForm action=author attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <input type="hidden" name="action" value="withdraw" />
                        <button type="submit" class="secondary">"Withdraw"</button>
                    </ActionForm>
                </div>
            })}
        </li>
    }
}

/// Approve and deny forms for a sign-off subject; `hash` is what the manager is shown.
#[component]
pub fn ReviewForms(
    kind: &'static str,
    id: i64,
    hash: String,
    review: ServerAction<SignoffReview>,
) -> impl IntoView {
    let comment_id = format!("{kind}-{id}-comment");
    let hash2 = hash.clone();
    view! {
        <div class="signoff-forms">
            <ActionForm action=review attr:class="approve-form" attr:aria-label=format!("Approve {kind} {id}")>
                <input type="hidden" name="kind" value=kind />
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="hash" value=hash />
                <input type="hidden" name="verdict" value="approve" />
                <input name="comment" maxlength="2000" placeholder="Comment (optional)" aria-label="Comment with approval" />
                <button type="submit" class="approve">"Approve"</button>
            </ActionForm>
            <ActionForm action=review attr:class="deny-form" attr:aria-label=format!("Deny {kind} {id}")>
                <input type="hidden" name="kind" value=kind />
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="hash" value=hash2 />
                <input type="hidden" name="verdict" value="deny" />
                <label for=comment_id.clone()>"Why deny (required)"</label>
                <input id=comment_id name="comment" required maxlength="2000" />
                <button type="submit" class="deny">"Deny"</button>
            </ActionForm>
        </div>
    }
}

#[component]
fn Settings(
    current: SignoffSettings,
    managers: i64,
    action: ServerAction<SaveSignoffSettings>,
) -> impl IntoView {
    view! {
        <section class="card narrow signoff-settings">
            <h2>"How sign-off works"</h2>
            <p class="hint">{managers} " active managers and admins. Each request needs that many approvals from people other than whoever asked, so there must be at least one more manager than approvals."</p>
            <ActionForm action=action>
                <label for="signoff-approvals">"Approvals needed (at least 2)"</label>
                <input id="signoff-approvals" name="approvals" type="number" min="2" max="10" required value=current.approvals />
                <label for="signoff-window">"Longest bypass window (at most 7d)"</label>
                <input id="signoff-window" name="max_window" required maxlength="20" value=duration_short(current.max_window_secs) />
                <label for="signoff-ttl">"Requests expire unresolved after"</label>
                <input id="signoff-ttl" name="request_ttl" required maxlength="20" value=duration_short(current.request_ttl_secs) />
                <label for="signoff-cooling">"After an admin resets a password, that person signs nothing off for (0 to 30d)"</label>
                <input id="signoff-cooling" name="reset_cooling" required maxlength="20" aria-describedby="signoff-cooling-hint" value=duration_short(current.reset_cooling_secs) />
                <p class="hint" id="signoff-cooling-hint">"A shorter period takes effect only once the longer one has run its course, so nobody can shorten it and reset at once."</p>
                <button type="submit">"Save"</button>
            </ActionForm>
        </section>
    }
}
