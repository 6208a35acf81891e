//! `/history`: calls that left `pending` (or never entered it), filterable, paged by
//! position (`before=` / `after=` a call) so every page costs the same however deep.

use super::home::page_error;
use crate::app::widgets::{RiskBadges, Time};

use crate::domain::inbox::{tool_label, HistoryData};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// One page of decided calls, newest first, older than `before` or newer than `after` (a
/// position from an earlier page). Any signed-in person.
#[server(prefix = "/rpc", endpoint = "history")]
pub async fn load_history(
    agent: Option<String>,
    tool: Option<String>,
    status: Option<String>,
    before: Option<String>,
    after: Option<String>,
) -> Result<HistoryData, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Viewer).await?;
    if let Some(s) = &status {
        s.parse::<crate::domain::call::CallStatus>()
            .map_err(AppError::BadRequest)?;
    }
    let page = crate::domain::history::Page::from_query(before.as_deref(), after.as_deref())
        .map_err(AppError::BadRequest)?;
    let filter = crate::store::calls::ListFilter {
        agent,
        tool,
        risk: None,
        status,
    };
    guard::state()?.gate.history(&filter, page).await
}

/// The history page.
#[component]
pub fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    view! {
        <Title text="History · askfirst" />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get_untracked();
                let data = load_history(
                    q.get("agent"),
                    q.get("tool"),
                    q.get("status"),
                    q.get("before"),
                    q.get("after"),
                );
                match data.await {
                    Ok(data) => view! { <History data /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Transition>
    }
}

/// A query value as it may appear in a link (filter values are people's and agents' text).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn History(data: HistoryData) -> impl IntoView {
    let query = use_query_map().get_untracked();
    let link_with = move |position: Option<(&str, &str)>| {
        let mut parts: Vec<String> = ["agent", "tool", "status"]
            .iter()
            .filter_map(|k| query.get(k).map(|v| format!("{k}={}", encode(&v))))
            .collect();
        if let Some((key, at)) = position {
            parts.push(format!("{key}={}", encode(at)));
        }
        match parts.is_empty() {
            true => "/history".to_string(),
            false => format!("/history?{}", parts.join("&")),
        }
    };
    let statuses = [
        "executed",
        "running",
        "failed",
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
                    <td><Time at=c.created_at.clone() /></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h1>"History"</h1>
            <nav class="filter" aria-label="Filter by status">
                <span class="filter-label">"status"</span>
                <ul><li><a href="/history">"all"</a></li>{statuses}</ul>
            </nav>
            {if data.items.is_empty() {
                view! { <p class="empty">"No calls here yet. Every call an agent proposes lands here once it is decided; clear the filters to see them all."</p> }.into_any()
            } else {
                view! {
                    <crate::app::widgets::ScrollBox label="Decided calls"><table>
                        <thead><tr><th scope="col">"Action"</th><th scope="col">"Agent"</th><th scope="col">"Status"</th>
                            <th scope="col">"Risk"</th><th scope="col">"Decided by"</th><th scope="col">"Proposed"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table></crate::app::widgets::ScrollBox>
                }.into_any()
            }}
            <nav class="pager" aria-label="Pages">
                {data.newer.as_deref().map(|at| view! {
                    <a href=link_with(None)>"⇤ Newest"</a>
                    <a href=link_with(Some(("after", at))) rel="prev">"← Newer"</a>
                })}
                {data.older.as_deref().map(|at| view! { <a href=link_with(Some(("before", at))) rel="next">"Older →"</a> })}
            </nav>
        </section>
    }
}
