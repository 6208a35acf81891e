//! `/inbox`: pending calls, soonest deadline first, live.

use super::home::page_error;
use crate::app::widgets::{live_updates, ticking_now, Countdown, RiskBadges};
use crate::domain::inbox::{tool_label, FilterCount, InboxData, InboxItem};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Pending calls matching the filters, with counts per filter value. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "inbox")]
pub async fn load_inbox(
    agent: Option<String>,
    tool: Option<String>,
    risk: Option<String>,
) -> Result<InboxData, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Viewer).await?;
    let filter = crate::store::calls::ListFilter {
        agent,
        tool,
        risk,
        status: None,
    };
    guard::state()?.gate.inbox(&filter).await
}

/// The inbox page.
#[component]
pub fn InboxPage() -> impl IntoView {
    let query = use_query_map();
    let refresh = RwSignal::new(0u32);
    live_updates(refresh);
    let data = Resource::new(
        move || (query.get(), refresh.get()),
        |(q, _)| load_inbox(q.get("agent"), q.get("tool"), q.get("risk")),
    );
    view! {
        <Title text="Inbox · askfirst" />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Inbox data /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Transition>
    }
}

#[component]
fn Inbox(data: InboxData) -> impl IntoView {
    let now = ticking_now(data.now_ms);
    let query = use_query_map();
    let selected = RwSignal::new(0usize);
    let ids: Vec<String> = data.items.iter().map(|i| i.id.clone()).collect();
    keyboard(ids, selected);
    let count = data.items.len();
    let total = data.total;
    let filtered = move || {
        let q = query.get();
        ["agent", "tool", "risk"].iter().any(|k| q.get(k).is_some())
    };
    let rows = data
        .items
        .into_iter()
        .enumerate()
        .map(|(i, item)| view! { <Row item index=i selected now /> })
        .collect_view();
    view! {
        <section class="inbox">
            <header class="inbox-head">
                <h1>"Inbox " <span class="count">{total}</span></h1>
                <p class="hint">"Keys: " <kbd>"j"</kbd> "/" <kbd>"k"</kbd> " move · " <kbd>"Enter"</kbd> " open · "
                    <kbd>"a"</kbd> "/" <kbd>"d"</kbd> " approve/deny"</p>
            </header>
            <Filters counts=data.counts />
            <Show when=filtered>
                <p><a href="/inbox">"Clear filters"</a></p>
            </Show>
            {(total > count as i64).then(|| view! {
                <p class="hint truncated">
                    {format!("Showing the {count} soonest deadlines of {total}. \
                              Filter by agent, tool or risk to see the others.")}
                </p>
            })}
            {if count == 0 {
                view! { <p class="empty">"Nothing is waiting for a decision."</p> }.into_any()
            } else {
                view! { <ol class="call-list" aria-label="Pending calls">{rows}</ol> }.into_any()
            }}
        </section>
    }
}

#[component]
fn Row(
    item: InboxItem,
    index: usize,
    selected: RwSignal<usize>,
    now: Signal<i64>,
) -> impl IntoView {
    let href = format!("/calls/{}", item.id);
    let args = item
        .key_args
        .into_iter()
        .map(|(k, v)| view! { <span class="arg"><span class="arg-key">{k}</span>"="<span class="arg-value">{v}</span></span> })
        .collect_view();
    view! {
        <li class="call-row" class:selected=move || selected.get() == index data-call=item.id.clone()>
            <a href=href class="call-link">
                <span class="agent">{item.agent}</span>
                <span class="action">
                    <strong class="tool">{tool_label(&item.tool)}</strong>
                    <span class="args">{args}</span>
                </span>
                <span class="risks"><RiskBadges risk=item.risk /></span>
                <span class="approvals">{item.approvals} " of " {item.approvals_required} " approvals"</span>
                <Countdown deadline_ms=item.deadline_ms now />
            </a>
        </li>
    }
}

#[component]
fn Filters(counts: Vec<FilterCount>) -> impl IntoView {
    let group = |dimension: &'static str, label: &'static str| {
        let links = counts
            .iter()
            .filter(|c| c.dimension == dimension)
            .map(|c| {
                let href = format!("/inbox?{dimension}={}", urlencode(&c.value));
                view! { <li><a href=href>{c.value.clone()} " " <span class="count">{c.count}</span></a></li> }
            })
            .collect_view();
        view! {
            <nav class="filter" aria-label=format!("Filter by {label}")>
                <span class="filter-label">{label}</span>
                <ul>{links}</ul>
            </nav>
        }
    };
    view! { <div class="filters">{group("agent", "agent")} {group("tool", "tool")} {group("risk", "risk")}</div> }
}

/// Percent-encodes a query value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// j/k move the selection, Enter opens it, a/d open it ready to approve or deny.
fn keyboard(ids: Vec<String>, selected: RwSignal<usize>) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::ev;
        let navigate = leptos_router::hooks::use_navigate();
        let handle = window_event_listener(ev::keydown, move |e| {
            if crate::app::widgets::typing_in_field(&e) || ids.is_empty() {
                return;
            }
            let current = selected.get_untracked().min(ids.len() - 1);
            match e.key().as_str() {
                "j" | "ArrowDown" => selected.set((current + 1).min(ids.len() - 1)),
                "k" | "ArrowUp" => selected.set(current.saturating_sub(1)),
                "Enter" => navigate(&format!("/calls/{}", ids[current]), Default::default()),
                "a" => navigate(
                    &format!("/calls/{}?intent=approve", ids[current]),
                    Default::default(),
                ),
                "d" => navigate(
                    &format!("/calls/{}?intent=deny", ids[current]),
                    Default::default(),
                ),
                _ => return,
            }
            e.prevent_default();
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ids, selected);
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode() {
        assert_eq!(super::urlencode("a b&c=é"), "a%20b%26c%3D%C3%A9");
        assert_eq!(super::urlencode("send_email"), "send_email");
    }
}
