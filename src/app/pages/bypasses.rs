//! `/bypasses`: every recent bypass, and the form to ask for one (approvers and above),
//! with a preview of the recent calls its scope would have covered; `/bypasses/:id`: one
//! bypass with its time left, the calls it approved, and revoke (its requester or a manager)
//! or — for managers — approve or deny.

use super::home::page_error;
use super::reviews::{ReviewForms, SignoffReview};
use super::signoff_parts::{AccountChanges, BypassSummary, CallList};
use crate::app::forms::{done, error_of, name_of, Outcome};
use crate::app::widgets::{Countdowns, Time};
use crate::domain::bypass::{BypassList, BypassPage, BypassStatus, BypassView, ScopePreview};
use crate::domain::grant::{GrantStatus, GrantView};
use crate::domain::policy_change::duration_short;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[cfg(feature = "ssr")]
fn read_request(
    agent: &str,
    tool: &str,
    conditions: &str,
    window: &str,
    reason: String,
    include_confirmation: bool,
) -> Result<crate::gate::bypass::BypassRequest, AppError> {
    if conditions.len() > 20_000 || reason.len() > 20_000 || agent.len() + tool.len() > 2_000 {
        return Err(AppError::TooLarge("the request is too long".into()));
    }
    let scope = crate::policy::scope::read(agent, tool, conditions).map_err(AppError::Invalid)?;
    let window_secs = crate::policy::rule_form::duration(window)
        .map_err(|e| AppError::Invalid(format!("window: {e}")))?;
    Ok(crate::gate::bypass::BypassRequest {
        scope,
        window_secs,
        reason,
        include_confirmation,
    })
}

#[cfg(feature = "ssr")]
fn flag(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| v == "true" || v == "on")
}

/// Recent bypasses. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "bypasses")]
pub async fn load_bypasses() -> Result<BypassList, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Viewer).await?;
    guard::state()?.gate.list_bypasses().await
}

/// The recent gated calls a scope would have covered. Approvers and above.
#[server(prefix = "/rpc", endpoint = "bypass_preview")]
pub async fn bypass_preview(
    agent: String,
    tool: String,
    conditions: String,
    include_confirmation: Option<String>,
) -> Result<ScopePreview, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Approver).await?;
    if conditions.len() > 20_000 || agent.len() + tool.len() > 2_000 {
        return Err(AppError::TooLarge("the scope is too long".into()));
    }
    let scope =
        crate::policy::scope::read(&agent, &tool, &conditions).map_err(AppError::Invalid)?;
    guard::state()?
        .gate
        .preview_scope(&scope, flag(&include_confirmation))
        .await
}

/// Files a bypass request. Approvers and above.
#[server(prefix = "/rpc", endpoint = "bypass_request")]
pub async fn bypass_request(
    agent: String,
    tool: String,
    conditions: String,
    window: String,
    reason: String,
    include_confirmation: Option<String>,
) -> Result<BypassView, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    let request = read_request(
        &agent,
        &tool,
        &conditions,
        &window,
        reason,
        flag(&include_confirmation),
    )?;
    let bypass = guard::state()?.gate.request_bypass(&user, request).await?;
    // A plain form goes on to the new request's page.
    leptos_axum::redirect(&format!("/bypasses/{}?done=bypass_request", bypass.id));
    Ok(bypass)
}

/// One bypass, as the signed-in person sees it. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "bypass")]
pub async fn load_bypass(id: i64) -> Result<BypassPage, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Viewer).await?;
    guard::state()?.gate.bypass_page(id, &user).await
}

/// Revokes a bypass (or withdraws a pending request): its requester or a manager; the
/// service checks which.
#[server(prefix = "/rpc", endpoint = "bypass_revoke")]
pub async fn bypass_revoke(id: i64) -> Result<BypassView, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    guard::state()?.gate.revoke_bypass(id, &user).await
}

/// Recent remembered grants with their uses. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "grants")]
pub async fn load_grants() -> Result<Vec<GrantView>, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Viewer).await?;
    guard::state()?.gate.grants(50).await
}

/// Revokes a remembered grant at once: whoever gave it, or a manager; the service checks.
#[server(prefix = "/rpc", endpoint = "grant_revoke")]
pub async fn grant_revoke(id: i64) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Approver).await?;
    guard::state()?.gate.revoke_grant(id, &user).await
}

/// Remembered grants: one approver's "also approve identical calls", with their uses.
#[component]
fn Grants(list: Vec<GrantView>) -> impl IntoView {
    let revoke = ServerAction::<GrantRevoke>::new();
    let ok = (done().as_deref() == Some(name_of::<GrantRevoke>()))
        .then(|| "Revoked: it approves nothing from now on.".to_string());
    let table = if list.is_empty() {
        view! { <p class="empty">"No grants yet. An approver gives one with an approval (“also approve identical calls”) where the rule allows it."</p> }.into_any()
    } else {
        view! {
            <crate::app::widgets::ScrollBox label="Grants, newest first"><table class="grant-list">
                <thead><tr><th>"Grant"</th><th>"Covers"</th><th>"By"</th><th>"Until"</th><th>"Uses"</th><th>"Status"</th><th><span class="visually-hidden">"Revoke"</span></th></tr></thead>
                <tbody>{list.into_iter().map(|g| view! { <GrantRow grant=g revoke /> }).collect_view()}</tbody>
            </table></crate::app::widgets::ScrollBox>
        }
        .into_any()
    };
    view! {
        <section class="card grants" aria-label="Remembered grants">
            <h2>"Remembered grants"</h2>
            <p class="hint">"When a rule allows it, an approver may also approve identical (or similar) calls from the same agent for a while. Each is one person's word, bounded by its rule; anything wider is a bypass request."</p>
            <Outcome errors=vec![error_of::<GrantRevoke>()] ok />
            {table}
        </section>
    }
}

#[component]
fn GrantRow(grant: GrantView, revoke: ServerAction<GrantRevoke>) -> impl IntoView {
    let active = grant.status == GrantStatus::Active;
    let calls = grant
        .calls
        .iter()
        .map(|c| view! { <a href=format!("/calls/{}", c.id)>{c.status.as_str()}</a> " " })
        .collect_view();
    view! {
        <tr id=format!("grant-{}", grant.id)>
            <td>"#" {grant.id} " · from " <a href=format!("/calls/{}", grant.call_id)>"this approval"</a></td>
            <td><span class="agent">{grant.agent.clone()}</span> " · " <code class="agent-text">{crate::domain::invisible::visible(&grant.tool)}</code>
                " · " <span class="agent-text">{crate::domain::invisible::visible(&grant.covers)}</span> " · rule " <code>{crate::domain::invisible::visible(&grant.rule)}</code></td>
            <td>{grant.granted_by.clone()}</td>
            <td><Time at=grant.ends_at.clone() /></td>
            <td>{grant.used} " of " {grant.max_uses} " " {calls}</td>
            <td><span class=format!("status status-{}", grant.status.as_str())>{grant.status.as_str()}</span>
                {grant.revoked_by.clone().map(|b| format!(" by {}", b.trim_start_matches("user:")))}</td>
            <td>{active.then(|| view! {
                <ActionForm action=revoke>
                    <input type="hidden" name="id" value=grant.id />
                    <button type="submit" class="small deny">"Revoke grant #" {grant.id}</button>
                </ActionForm>
            })}</td>
        </tr>
    }
}

/// What the request form holds: what was typed, kept when it is previewed
/// (`?preview=1&tool=…`, a plain GET of this page).
#[derive(Clone, Debug, Default)]
struct Draft {
    tool: String,
    agent: String,
    conditions: String,
    window: String,
    reason: String,
    include_confirmation: bool,
}

/// The bypass list and request form, and the grants. Rendered on the server: the request
/// form's Preview button loads this page with the scope in the query, and the preview
/// comes with it.
#[component]
pub fn BypassesPage() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let field = |name: &str| query.get(name).unwrap_or_default();
    let previewing = query.get("preview").is_some();
    let draft = Draft {
        tool: field("tool"),
        agent: field("agent"),
        conditions: field("conditions"),
        window: field("window"),
        reason: field("reason"),
        include_confirmation: matches!(field("include_confirmation").as_str(), "true" | "on"),
    };
    let load = move |draft: Draft| async move {
        let preview = if previewing {
            Some(
                bypass_preview(
                    draft.agent.clone(),
                    draft.tool.clone(),
                    draft.conditions.clone(),
                    draft.include_confirmation.then(|| "true".to_string()),
                )
                .await,
            )
        } else {
            None
        };
        (load_bypasses().await, load_grants().await, preview)
    };
    view! {
        <Title text="Bypasses · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let draft = draft.clone();
                Suspend::new(async move {
                    let may_ask = crate::app::session::get_current_user()
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|u| u.role.includes(crate::domain::Role::Approver));
                    match load(draft.clone()).await {
                        (Ok(list), Ok(grants), preview) => view! {
                            <Bypasses list preview draft may_ask />
                            <Grants list=grants />
                        }.into_any(),
                        (Err(error), _, _) | (_, Err(error), _) => page_error(error),
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn Bypasses(
    list: BypassList,
    preview: Option<Result<ScopePreview, AppError>>,
    draft: Draft,
    /// Whether the person may ask for one (approvers and above).
    may_ask: bool,
) -> impl IntoView {
    let request = ServerAction::<BypassRequest>::new();
    let now = Signal::stored(list.now_ms);
    let server_now_ms = list.now_ms;
    let (open, done): (Vec<BypassView>, Vec<BypassView>) = list
        .bypasses
        .into_iter()
        .partition(|b| matches!(b.status, BypassStatus::Pending | BypassStatus::Active));
    let open_view = if open.is_empty() {
        view! { <li class="empty">"No bypass is active or waiting."
            {may_ask.then_some(" Ask for one below when a known batch of gated calls should run without a person.")}</li> }.into_any()
    } else {
        open.into_iter()
            .map(|bypass| view! { <li class="card"><BypassSummary bypass now /></li> })
            .collect_view()
            .into_any()
    };
    let no_ended = done.is_empty();
    let done_rows = done
        .into_iter()
        .map(|b| {
            view! {
                <tr>
                    <td><a href=format!("/bypasses/{}", b.id)>"#" {b.id}</a></td>
                    <td class="agent-text">{crate::app::widgets::with_code(&crate::domain::invisible::visible(&b.scope_text))}</td>
                    <td><span class=format!("status status-{}", b.status)>{b.status.as_str()}</span></td>
                    <td>{b.requester.clone()}</td>
                    <td>{b.used}</td>
                </tr>
            }
        })
        .collect_view();
    let previewed = preview.map(|r| match r {
        Ok(p) => view! {
            <div class="preview" role="status">
                <p>"Would approve " <span class="agent-text">{crate::app::widgets::with_code(&crate::domain::invisible::visible(&p.scope_text))}</span> ": "
                    <strong>{p.matched}</strong> " of the last " {p.examined} " gated calls."</p>
                {(p.denied > 0).then(|| view! {
                    <p class="warning" role="alert">
                        {format!("{} of them {} denied: this bypass would have let {} through without anyone asked.",
                            p.denied, if p.denied == 1 { "was" } else { "were" }, if p.denied == 1 { "it" } else { "them" })}
                    </p>
                })}
                <CallList calls=p.calls empty="None of the recent gated calls." />
            </div>
        }.into_any(),
        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
    });
    view! {
        <section class="bypasses">
            <h1>"Bypasses"</h1>
            <p class="hint">"A bypass approves gated calls matching its scope without a person, for a window. It takes effect only when "
                {list.approvals} " managers other than the person asking approve it. Policy denials are never bypassed."</p>
            <ol class="bypass-list" aria-label="Active and waiting bypasses">{open_view}</ol>
            <Countdowns server_now_ms />
        </section>
        {may_ask.then(|| view! {
        <section class="card narrow" aria-labelledby="ask-bypass">
            <h2 id="ask-bypass">"Ask for a bypass"</h2>
            <Outcome errors=vec![error_of::<BypassRequest>()] ok=None />
            <ActionForm action=request attr:class="bypass-form">
                <BypassFields max_window=list.max_window_secs draft=draft.clone() />
                <label for="bypass-reason">"Why (the managers read this)"</label>
                <textarea id="bypass-reason" name="reason" required maxlength="2000" rows="3"
                    inner_html=crate::app::widgets::textarea_html(&draft.reason)></textarea>
                <p class="hint">"Preview first: which recent gated calls would it have approved?"</p>
                <div class="form-buttons">
                    <button type="submit" class="secondary" formaction="/bypasses" formmethod="get" formnovalidate name="preview" value="1">"Preview"</button>
                    <button type="submit">"Ask managers to sign off"</button>
                </div>
            </ActionForm>
            {previewed}
        </section>
        })}
        {(!may_ask).then(|| view! {
            <p class="hint">"Approvers and above may ask for a bypass."</p>
        })}
        <section class="card">
            <h2>"Ended"</h2>
            {no_ended.then(|| view! { <p class="empty">"None yet."</p> })}
            <crate::app::widgets::ScrollBox label="Ended bypasses"><table class="bypass-history">
                <thead><tr><th>"Bypass"</th><th>"Scope"</th><th>"Status"</th><th>"Asked by"</th><th>"Calls approved"</th></tr></thead>
                <tbody>{done_rows}</tbody>
            </table></crate::app::widgets::ScrollBox>
        </section>
    }
}

/// The scope fields and the window, filled with what was typed before a preview.
#[component]
fn BypassFields(max_window: u64, draft: Draft) -> impl IntoView {
    view! {
        <label for="bypass-tool">"Tool (glob)"</label>
        <input id="bypass-tool" name="tool" required maxlength="200" placeholder="deploy_*" value=draft.tool />
        <label for="bypass-agent">"Agent (glob; empty: any agent)"</label>
        <input id="bypass-agent" name="agent" maxlength="200" placeholder="ci-*" value=draft.agent />
        <label for="bypass-conditions">"Argument conditions, one per line (" <code>"/env=staging*"</code> " or " <code>"/count le 10"</code> ")"</label>
        <textarea id="bypass-conditions" name="conditions" rows="2" maxlength="4000"
            inner_html=crate::app::widgets::textarea_html(&draft.conditions)></textarea>
        <label for="bypass-window">"For how long once active (at most " {duration_short(max_window)} ")"</label>
        <input id="bypass-window" name="window" required maxlength="20" placeholder="2h" value=draft.window />
        <label class="checkbox">
            <input type="checkbox" name="include_confirmation" value="true" checked=draft.include_confirmation />
            " Also bypass gates that ask for typed confirmation"
        </label>
    }
}

/// One bypass with its sign-off and revocation forms, rendered on the server; the forms
/// are plain forms that come back to it.
#[component]
pub fn BypassPageView() -> impl IntoView {
    let id = use_params_map().get_untracked().get("id");
    let load = move || {
        let id = id.clone();
        async move {
            let id = id
                .and_then(|i| i.parse::<i64>().ok())
                .ok_or_else(|| AppError::NotFound("no such bypass".into()))?;
            load_bypass(id).await
        }
    };
    view! {
        <Title text="Bypass · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let load = load.clone();
                Suspend::new(async move {
                match load().await {
                    Ok(page) => view! { <BypassDetail page /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}}
        </Suspense>
    }
}

#[component]
fn BypassDetail(page: BypassPage) -> impl IntoView {
    let review = ServerAction::<SignoffReview>::new();
    let revoke = ServerAction::<BypassRevoke>::new();
    let now = Signal::stored(page.now_ms);
    let server_now_ms = page.now_ms;
    let id = page.bypass.id;
    let pending = page.bypass.status == BypassStatus::Pending;
    let hash = page.bypass.hash.clone();
    let ok = done().map(|d| {
        if d == name_of::<BypassRequest>() {
            format!(
                "Bypass #{id} requested: it needs {} managers' approval (not yours) before it approves anything.",
                page.bypass.approvals_required
            )
        } else if d == name_of::<SignoffReview>() {
            "Your review is recorded.".to_string()
        } else {
            "Done.".to_string()
        }
    });
    let errors = view! { <Outcome errors=vec![error_of::<SignoffReview>(), error_of::<BypassRevoke>()] ok /> };
    view! {
        <article class="card bypass-detail">
            <h1>"Bypass #" {id}</h1>
            {errors}
            <BypassSummary bypass=page.bypass.clone() now />
            <Countdowns server_now_ms />
            {pending.then(|| view! {
                <p class="hint">{page.eligible_reviewers} " managers or admins could sign this off."</p>
            })}
            {pending.then(|| view! { <AccountChanges changes=page.account_changes.clone() /> })}
            {match (pending, page.cannot_review.clone()) {
                (true, None) => view! { <ReviewForms kind="bypass" id hash=hash.clone() review /> }.into_any(),
                (true, Some(why)) => view! { <p class="cannot-decide" role="status">{why}</p> }.into_any(),
                (false, _) => ().into_any(),
            }}
            {page.can_revoke.then(|| view! {
                <ActionForm action=revoke attr:class="revoke-form">
                    <input type="hidden" name="id" value=id />
                    <button type="submit" class="deny">{if pending { "Withdraw request" } else { "Revoke now" }}</button>
                </ActionForm>
            })}
        </article>
        <section class="card">
            <h2>"Calls it approved"</h2>
            <CallList calls=page.approved_calls empty="None yet." />
        </section>
        {pending.then(|| view! {
            <section class="card">
                <h2>"Recent gated calls it would have approved"</h2>
                <CallList calls=page.would_cover.clone() empty="None of the recent gated calls." />
            </section>
        })}
    }
}
