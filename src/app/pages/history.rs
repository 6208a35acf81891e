//! `/history`: calls that left `pending` (or never entered it), filterable and paginated.

use super::home::page_error;
use crate::app::widgets::RiskBadges;

use crate::domain::inbox::{tool_label, HistoryData};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// One page of decided calls. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "history")]
pub async fn load_history(
    agent: Option<String>,
    tool: Option<String>,
    status: Option<String>,
    page: Option<u32>,
) -> Result<HistoryData, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Viewer).await?;
    if let Some(s) = &status {
        s.parse::<crate::domain::call::CallStatus>()
            .map_err(AppError::BadRequest)?;
    }
    let filter = crate::store::calls::ListFilter {
        agent,
        tool,
        risk: None,
        status,
    };
    guard::state()?
        .gate
        .history(&filter, page.unwrap_or(1))
        .await
}

/// The history page.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || query.get(),
        |q| {
            let page = q.get("page").and_then(|p| p.parse().ok());
            load_history(q.get("agent"), q.get("tool"), q.get("status"), page)
        },
    );
    view! {
        <Title text="History · askfirst" />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <History data /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Transition>
    }
}

#[component]
fn History(data: HistoryData) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let link_with = move |page: u32| {
        let mut parts: Vec<String> = ["agent", "tool", "status"]
            .iter()
            .filter_map(|k| query.get(k).map(|v| format!("{k}={v}")))
            .collect();
        parts.push(format!("page={page}"));
        format!("/history?{}", parts.join("&"))
    };
    let statuses = [
        "executed",
        "approved",
        "denied",
        "expired",
        "cancelled",
        "stale",
        "allowed",
    ]
    .into_iter()
    .map(|s| view! { <li><a href=format!("/history?status={s}")>{s}</a></li> })
    .collect_view();
    let rows = data
        .items
        .iter()
        .map(|c| {
            view! {
                <tr>
                    <td><a href=format!("/calls/{}", c.id)>{tool_label(&c.tool)}</a></td>
                    <td class="agent">{c.agent.clone()}</td>
                    <td><span class=format!("status status-{}", c.status)>{c.status.as_str()}</span></td>
                    <td class="risks"><RiskBadges risk=c.risk.clone() /></td>
                    <td>{match c.bypass {
                        Some(k) => view! { <a href=format!("/bypasses/{k}")>"bypass #" {k}</a> }.into_any(),
                        None => c.decided_by.join(", ").into_any(),
                    }}</td>
                    <td><time datetime=c.created_at.clone()>{c.created_at.clone()}</time></td>
                </tr>
            }
        })
        .collect_view();
    let page = data.page;
    view! {
        <section class="card">
            <h1>"History"</h1>
            <nav class="filter" aria-label="Filter by status">
                <span class="filter-label">"status"</span>
                <ul><li><a href="/history">"all"</a></li>{statuses}</ul>
            </nav>
            {if data.items.is_empty() {
                view! { <p class="empty">"No calls here yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th scope="col">"Action"</th><th scope="col">"Agent"</th><th scope="col">"Status"</th>
                            <th scope="col">"Risk"</th><th scope="col">"Decided by"</th><th scope="col">"Proposed"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
            <nav class="pager" aria-label="Pages">
                {(page > 1).then(|| view! { <a href=link_with(page - 1) rel="prev">"← Newer"</a> })}
                <span>"Page " {page}</span>
                {data.has_more.then(|| view! { <a href=link_with(page + 1) rel="next">"Older →"</a> })}
            </nav>
        </section>
    }
}
