//! `/audit` (managers and admins): every audit event, filtered by kind, actor, agent, call
//! and time, newest first and paged by event id; how far the hash chain is verified; and
//! links to export the filtered events as CSV or JSON Lines.

// The server function takes the page's eight query parameters as they are (all optional, so
// the page and a bare call share one shape); the macro's browser stub repeats them.
#![allow(clippy::too_many_arguments)]

use super::home::page_error;
use crate::app::widgets::Time;
use crate::domain::audit_view::{
    query_string, AuditPageData, AuditQuery, ChainStatus, KNOWN_KINDS,
};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// One page of audit events matching the filter, with the chain's status. Managers and
/// admins; `400` for a filter that does not parse.
#[server(prefix = "/rpc", endpoint = "audit")]
pub async fn load_audit(
    kind: Option<String>,
    actor: Option<String>,
    agent: Option<String>,
    call: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    after: Option<String>,
) -> Result<AuditPageData, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Manager).await?;
    let query = AuditQuery {
        kind,
        actor,
        agent,
        call,
        from,
        to,
        before,
        after,
    };
    guard::state()?.gate.audit_page(&query).await
}

fn query_from_url() -> impl Fn() -> AuditQuery + Copy {
    let map = use_query_map();
    move || {
        let q = map.get();
        AuditQuery {
            kind: q.get("kind"),
            actor: q.get("actor"),
            agent: q.get("agent"),
            call: q.get("call"),
            from: q.get("from"),
            to: q.get("to"),
            before: q.get("before"),
            after: q.get("after"),
        }
    }
}

/// The audit page.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = query_from_url();
    view! {
        <Title text="Audit · askfirst" />
        <section class="card audit">
            <h1>"Audit log"</h1>
            {move || view! { <FilterForm query=query() /> }}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let q = query();
                    match load_audit(q.kind, q.actor, q.agent, q.call, q.from, q.to, q.before, q.after).await {
                        Ok(data) => view! { <Events data query=query() /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The filter (a plain GET form, so it works without JavaScript too) and the exports.
#[component]
fn FilterForm(query: AuditQuery) -> impl IntoView {
    let value = move |k: &str| query.filter_value(k).unwrap_or_default().to_string();
    let kinds = KNOWN_KINDS
        .iter()
        .map(|k| view! { <option value=*k></option> })
        .collect_view();
    view! {
        <form method="get" action="/audit" class="audit-filter" aria-label="Filter events">
            <label>"Kind" <input name="kind" list="audit-kinds" value=value("kind")
                placeholder="call.approved or bypass." autocomplete="off" /></label>
            <datalist id="audit-kinds">{kinds}</datalist>
            <label>"Actor" <input name="actor" value=value("actor") placeholder="user:ada, agent:bot, cli" /></label>
            <label>"Agent" <input name="agent" value=value("agent") placeholder="agent name" /></label>
            <label>"Call" <input name="call" value=value("call") placeholder="call id" /></label>
            <label>"From" <input type="datetime-local" name="from" value=value("from") /></label>
            <label>"To" <input type="datetime-local" name="to" value=value("to") /></label>
            <button type="submit">"Filter"</button>
            <a href="/audit">"Clear"</a>
        </form>
        <p class="hint">"Times are UTC. A kind ending in “.” matches every kind it starts (" <code>"bypass."</code> ")."</p>
    }
}

/// How far the chain is verified; a break is shown loudly.
#[component]
fn Chain(chain: ChainStatus) -> impl IntoView {
    let checked = chain.checked_at.clone().unwrap_or_else(|| "not yet".into());
    match chain.broken {
        Some((id, reason)) => view! {
            <div class="chain chain-broken" role="alert">
                <strong>"The audit log's hash chain is BROKEN at event " {id} "."</strong>
                " " {reason} ". Events from there on cannot be trusted; run "
                <code>"askfirst audit verify"</code> " and investigate."
            </div>
        }
        .into_any(),
        None => {
            let rest = (chain.verified_up_to < chain.newest)
                .then(|| format!(" (newest is {}; the rest is being verified)", chain.newest));
            view! {
                <p class="chain chain-ok">
                    "Hash chain verified up to event " <strong class="verified-up-to">{chain.verified_up_to}</strong>
                    {rest} <span class="hint">" · checked " {checked}</span>
                </p>
            }
            .into_any()
        }
    }
}

#[component]
fn Events(data: AuditPageData, query: AuditQuery) -> impl IntoView {
    let qs = query_string(&query, None);
    let export = move |ext: &str| match qs.is_empty() {
        true => format!("/audit/export.{ext}"),
        false => format!("/audit/export.{ext}?{qs}"),
    };
    let link = move |position: Option<(&str, i64)>| {
        let qs = query_string(&query, position.map(|(k, id)| (k, id.to_string())));
        match qs.is_empty() {
            true => "/audit".to_string(),
            false => format!("/audit?{qs}"),
        }
    };
    let rows = data
        .items
        .iter()
        .map(|e| {
            let moved = match (&e.from_status, &e.to_status) {
                (None, None) => String::new(),
                (from, to) => format!(
                    "{} → {}",
                    from.as_deref().unwrap_or("·"),
                    to.as_deref().unwrap_or("·")
                ),
            };
            view! {
                <tr>
                    <td class="num">{e.id}</td>
                    <td><Time at=e.at.clone() /></td>
                    <td class="actor">{e.actor.clone()}</td>
                    <td class="kind"><code>{e.kind.clone()}</code></td>
                    <td class="agent">{e.agent.clone()}</td>
                    <td>{e.call_id.clone().map(|c| view! { <a href=format!("/calls/{c}")>{c.clone()}</a> })}</td>
                    <td class="moved">{moved}</td>
                    <td class="detail"><code class="agent-text">{crate::domain::invisible::visible(&e.detail)}</code></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Chain chain=data.chain.clone() />
        <p class="exports">
            "Export these events: "
            <a href=export("csv") download rel="external">"CSV"</a> " · "
            <a href=export("jsonl") download rel="external">"JSON Lines"</a>
        </p>
        {if data.items.is_empty() {
            view! { <p class="empty">"No events match: widen the time range or clear a filter."</p> }.into_any()
        } else {
            view! {
                <crate::app::widgets::ScrollBox label="Audit events"><table class="audit-events">
                        <thead><tr><th scope="col">"#"</th><th scope="col">"Time (UTC)"</th><th scope="col">"Actor"</th>
                            <th scope="col">"Kind"</th><th scope="col">"Agent"</th><th scope="col">"Call"</th>
                            <th scope="col">"Status"</th><th scope="col">"Detail"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table></crate::app::widgets::ScrollBox>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            {data.newer.map(|id| view! {
                <a href=link(None)>"⇤ Newest"</a>
                <a href=link(Some(("after", id))) rel="prev">"← Newer"</a>
            })}
            {data.older.map(|id| view! { <a href=link(Some(("before", id))) rel="next">"Older →"</a> })}
        </nav>
    }
}
