//! `/inbox`: pending calls, soonest deadline first, live.

use super::home::page_error;
use crate::app::widgets::{live_updates, ticking_now, Countdown, RiskBadges};
use crate::domain::inbox::{tool_label, BatchOutcome, FilterCount, InboxData, InboxItem};
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

/// Approves or denies several calls at once as the signed-in person. `calls` holds one
/// `<id> <hash>` per line (the hash of the arguments each row showed); every call goes
/// through the review engine on its own, and calls it may not take are left out with why.
#[server(prefix = "/rpc", endpoint = "decide_batch")]
pub async fn decide_batch(
    calls: String,
    decision: String,
    feedback: Option<String>,
    reason_code: Option<String>,
    do_not_retry: Option<String>,
) -> Result<Vec<BatchOutcome>, AppError> {
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
    let pairs = calls
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| match line.split_once(' ') {
            Some((id, hash)) => Ok((id.trim().to_string(), hash.trim().to_string())),
            None => Err(AppError::BadRequest(
                "each line of `calls` is `<id> <hash>`".into(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let template = DecisionInput {
        approve,
        feedback,
        reason_code: reason_code.filter(|c| !c.is_empty() && !approve),
        do_not_retry: !approve && do_not_retry.as_deref() == Some("true"),
        ..Default::default()
    };
    guard::state()?
        .gate
        .decide_batch(&user, &pairs, template)
        .await
}

/// The inbox page.
#[component]
pub fn InboxPage() -> impl IntoView {
    let query = use_query_map();
    let refresh = RwSignal::new(0u32);
    live_updates(refresh);
    // Kept across live refreshes: the selection, and what the last batch did.
    let batch = ServerAction::<DecideBatch>::new();
    let checked = RwSignal::new(Vec::<String>::new());
    let data = Resource::new(
        move || (query.get(), refresh.get()),
        |(q, _)| load_inbox(q.get("agent"), q.get("tool"), q.get("risk")),
    );
    view! {
        <Title text="Inbox · askfirst" />
        <BatchResult batch checked />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <Inbox data batch checked /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
        </Transition>
    }
}

#[component]
fn Inbox(
    data: InboxData,
    batch: ServerAction<DecideBatch>,
    checked: RwSignal<Vec<String>>,
) -> impl IntoView {
    let now = ticking_now(data.now_ms);
    let query = use_query_map();
    let grouped = query.with_untracked(|q| q.get("group").as_deref() == Some("similar"));
    let selected = RwSignal::new(0usize);
    let anchor = RwSignal::new(None::<usize>);
    let mut items = data.items;
    if grouped {
        // Similar calls side by side, groups in the order of their soonest deadline.
        let mut first: std::collections::HashMap<String, usize> = Default::default();
        for (i, item) in items.iter().enumerate() {
            first.entry(item.similar.clone()).or_insert(i);
        }
        items.sort_by_key(|item| first[&item.similar]);
    }
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    // Calls that left the list meanwhile leave the selection.
    if checked.with_untracked(|c| c.iter().any(|id| !ids.contains(id))) {
        checked.update(|c| c.retain(|id| ids.contains(id)));
    }
    let hashes: std::collections::HashMap<String, String> = items
        .iter()
        .map(|i| (i.id.clone(), i.hash.clone()))
        .collect();
    keyboard(ids.clone(), selected, checked);
    let count = items.len();
    let total = data.total;
    let filtered = move || {
        let q = query.get();
        ["agent", "tool", "risk"].iter().any(|k| q.get(k).is_some())
    };
    let pick = Pick {
        ids: StoredValue::new(ids),
        checked,
        anchor,
    };
    let rows = if grouped {
        let mut groups: Vec<SimilarGroup> = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match groups.last_mut() {
                Some(g) if g.0 == item.similar => g.2.push((i, item)),
                _ => groups.push((
                    item.similar.clone(),
                    format!("{} {}", tool_label(&item.tool), item.similar_text),
                    vec![(i, item)],
                )),
            }
        }
        groups
            .into_iter()
            .map(|(_, label, members)| {
                let member_ids: Vec<String> = members.iter().map(|(_, m)| m.id.clone()).collect();
                let n = members.len();
                let all = member_ids.clone();
                let toggle_all = move |_| {
                    checked.update(|c| {
                        let every = all.iter().all(|id| c.contains(id));
                        c.retain(|id| !all.contains(id));
                        if !every {
                            c.extend(all.iter().cloned());
                        }
                    })
                };
                let ids_for_state = member_ids.clone();
                let rows = members
                    .into_iter()
                    .map(|(i, item)| view! { <Row item index=i selected now pick /> })
                    .collect_view();
                view! {
                    <li class="similar-group">
                        <div class="group-head">
                            <input type="checkbox" class="pick" aria-label=format!("Select all {n} similar calls")
                                prop:checked=move || checked.with(|c| ids_for_state.iter().all(|id| c.contains(id)))
                                on:click=toggle_all />
                            <strong class="agent-text">{label}</strong> " " <span class="count">"×" {n}</span>
                        </div>
                        <ol class="call-list">{rows}</ol>
                    </li>
                }
            })
            .collect_view()
            .into_any()
    } else {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| view! { <Row item index=i selected now pick /> })
            .collect_view()
            .into_any()
    };
    let group_link = if grouped {
        view! { <a href="/inbox" class="group-toggle">"Show one by one"</a> }.into_any()
    } else {
        view! { <a href="/inbox?group=similar" class="group-toggle">"Group similar calls"</a> }
            .into_any()
    };
    view! {
        <section class="inbox">
            <header class="inbox-head">
                <h1>"Inbox " <span class="count">{total}</span></h1>
                <p class="hint">"Keys: " <kbd>"j"</kbd> "/" <kbd>"k"</kbd> " move · " <kbd>"x"</kbd> " select · " <kbd>"Enter"</kbd> " open · "
                    <kbd>"a"</kbd> "/" <kbd>"d"</kbd> " open to approve/deny · shift-click selects a range"</p>
                {group_link}
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
            <BatchBar action=batch checked hashes=StoredValue::new(hashes) reasons=data.reasons.clone() />
            {if count == 0 {
                view! { <p class="empty">"Nothing is waiting for a decision."</p> }.into_any()
            } else {
                view! { <ol class="call-list" aria-label="Pending calls">{rows}</ol> }.into_any()
            }}
        </section>
    }
}

/// Similar calls folded together: their key, a header, and each row with its position.
type SimilarGroup = (String, String, Vec<(usize, InboxItem)>);

/// The selection: which rows are ticked, and where a shift-click range starts.
#[derive(Clone, Copy)]
struct Pick {
    ids: StoredValue<Vec<String>>,
    checked: RwSignal<Vec<String>>,
    anchor: RwSignal<Option<usize>>,
}

impl Pick {
    /// Ticks or unticks row `index`; with shift, every row between the last one clicked
    /// and this one takes this row's new state.
    fn click(self, index: usize, shift: bool) {
        let ids = self.ids.get_value();
        let Some(id) = ids.get(index).cloned() else {
            return;
        };
        let on = !self.checked.with_untracked(|c| c.contains(&id));
        let range = match (shift, self.anchor.get_untracked()) {
            (true, Some(a)) => a.min(index)..=a.max(index),
            _ => index..=index,
        };
        self.checked.update(|c| {
            for id in &ids[range] {
                c.retain(|x| x != id);
                if on {
                    c.push(id.clone());
                }
            }
        });
        self.anchor.set(Some(index));
    }
}

/// What to do with the ticked calls: approve them, or deny them with one reason — each
/// call decided on its own; the result lists what happened to each.
#[component]
fn BatchBar(
    action: ServerAction<DecideBatch>,
    checked: RwSignal<Vec<String>>,
    hashes: StoredValue<std::collections::HashMap<String, String>>,
    reasons: Vec<crate::domain::workflow::DenialReason>,
) -> impl IntoView {
    let feedback = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let no_retry = RwSignal::new(false);
    let send = move |decision: &str| {
        let lines = checked
            .get_untracked()
            .iter()
            .map(|id| {
                let hash = hashes.with_value(|h| h.get(id).cloned().unwrap_or_default());
                format!("{id} {hash}")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let text = |s: RwSignal<String>| Some(s.get_untracked()).filter(|t| !t.trim().is_empty());
        action.dispatch(DecideBatch {
            calls: lines,
            decision: decision.to_string(),
            feedback: text(feedback),
            reason_code: text(reason),
            do_not_retry: Some(no_retry.get_untracked().to_string()),
        });
    };
    view! {
        <Show when=move || !checked.with(Vec::is_empty)>
            <div class="batch-bar" role="region" aria-label="Decide the selected calls">
                <span class="batch-count">{move || checked.with(Vec::len)} " selected"</span>
                <button type="button" class="approve" disabled=move || action.pending().get()
                    on:click=move |_| send("approve")>"Approve selected"</button>
                <select aria-label="Denial reason" on:change=move |ev| reason.set(event_target_value(&ev))>
                    <option value="">"— reason —"</option>
                    {reasons.iter().map(|r| view! { <option value=r.code.clone()>{r.label.clone()}</option> }).collect_view()}
                </select>
                <input aria-label="Why deny (to each agent)" placeholder="why deny"
                    on:input=move |ev| feedback.set(event_target_value(&ev)) />
                <label class="checkbox"><input type="checkbox" on:change=move |ev| no_retry.set(event_target_checked(&ev)) /> " do not retry"</label>
                <button type="button" class="deny" disabled=move || action.pending().get()
                    on:click=move |_| send("deny")>"Deny selected"</button>
                <button type="button" class="secondary small" on:click=move |_| checked.set(Vec::new())>"Clear"</button>
            </div>
        </Show>
    }
}

/// What the last batch decision did to each call (above the list, so a live refresh of
/// the list keeps it).
#[component]
fn BatchResult(batch: ServerAction<DecideBatch>, checked: RwSignal<Vec<String>>) -> impl IntoView {
    let action = batch;
    let results = move || {
        action.value().get().map(|r| match r {
            Ok(list) => {
                let items = list
                    .into_iter()
                    .map(|o| {
                        let label = match o.outcome.as_str() {
                            "approved" => "approved",
                            "denied" => "denied",
                            "approval_recorded" => "approval recorded",
                            _ => "left out",
                        };
                        view! {
                            <li class=format!("batch-{}", o.outcome)>
                                <a href=format!("/calls/{}", o.id)>{tool_label(&o.tool)}</a> " — " <strong>{label}</strong>
                                {o.why.map(|w| view! { ": " <span>{w}</span> })}
                            </li>
                        }
                    })
                    .collect_view();
                view! { <div class="batch-result" role="status"><h2>"Batch result"</h2><ul>{items}</ul></div> }.into_any()
            }
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            checked.set(Vec::new());
        }
    });
    results
}

#[component]
fn Row(
    item: InboxItem,
    index: usize,
    selected: RwSignal<usize>,
    now: Signal<i64>,
    pick: Pick,
) -> impl IntoView {
    let href = format!("/calls/{}", item.id);
    let args = item
        .key_args
        .into_iter()
        .map(|(k, v)| view! { <span class="arg"><span class="arg-key">{k}</span>"="<span class="arg-value">{v}</span></span> })
        .collect_view();
    let id = item.id.clone();
    let label = format!("Select {}", tool_label(&item.tool));
    view! {
        <li class="call-row" class:selected=move || selected.get() == index data-call=item.id.clone()
            class:picked=move || pick.checked.with(|c| c.contains(&id))>
            <input type="checkbox" class="pick" aria-label=label
                prop:checked={
                    let id = item.id.clone();
                    move || pick.checked.with(|c| c.contains(&id))
                }
                on:click=move |ev: leptos::ev::MouseEvent| pick.click(index, ev.shift_key()) />
            <a href=href class="call-link">
                <span class="agent">{item.agent}</span>
                <span class="action">
                    <strong class="tool">{tool_label(&item.tool)}</strong>
                    <span class="args">{args}</span>
                    {item.confirm.then(|| view! { <span class="tag">"typed confirmation"</span> })}
                    {item.escalated_to.map(|to| view! { <span class="tag escalated">"escalated to " {to}</span> })}
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
                view! { <li><a href=href>{crate::domain::invisible::visible(&c.value)} " " <span class="count">{c.count}</span></a></li> }
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

/// j/k move the focus, `x` ticks the focused row, Enter opens it, a/d open it ready to
/// approve or deny.
fn keyboard(ids: Vec<String>, selected: RwSignal<usize>, checked: RwSignal<Vec<String>>) {
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
                "x" => {
                    let id = ids[current].clone();
                    checked.update(|c| {
                        if let Some(at) = c.iter().position(|x| *x == id) {
                            c.remove(at);
                        } else {
                            c.push(id);
                        }
                    });
                }
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
    let _ = (ids, selected, checked);
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode() {
        assert_eq!(super::urlencode("a b&c=é"), "a%20b%26c%3D%C3%A9");
        assert_eq!(super::urlencode("send_email"), "send_email");
    }
}
