//! `/inbox`: pending calls, soonest deadline first, live.

use super::home::page_error;
use crate::app::widgets::{Countdown, Countdowns, RiskBadges};
use crate::domain::inbox::{tool_label, BatchOutcome, FilterCount, InboxData, InboxItem};
use crate::domain::workflow::DenialReason;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Pending calls matching the filters, with counts per filter value. Any signed-in person.
/// `after`: a call the person just decided (the triage loop found nothing else waiting on
/// them): the page says what that decision did.
#[server(prefix = "/rpc", endpoint = "inbox")]
pub async fn load_inbox(
    agent: Option<String>,
    tool: Option<String>,
    risk: Option<String>,
    after: Option<String>,
) -> Result<InboxData, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Viewer).await?;
    let filter = crate::store::calls::ListFilter {
        agent,
        tool,
        risk,
        status: None,
    };
    let gate = guard::state()?.gate.clone();
    let mut data = gate.inbox(&filter, Some(&user)).await?;
    data.may_decide = user.role.includes(crate::domain::Role::Approver);
    if let Some(after) = after {
        data.after = gate.decided_note(&after, &user).await?;
    }
    Ok(data)
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
        feedback: feedback.map(|f| f.replace("\r\n", "\n")),
        reason_code: reason_code.filter(|c| !c.is_empty() && !approve),
        do_not_retry: !approve && do_not_retry.as_deref() == Some("true"),
        ..Default::default()
    };
    guard::state()?
        .gate
        .decide_batch(&user, &pairs, template)
        .await
}

/// The inbox page, rendered on the server: the list, the filters and the counts. Its
/// islands keep it live and make it quick to work through: [`InboxControls`] (keys,
/// selection, batch decisions, live arrivals) and [`Countdowns`].
#[component]
pub fn InboxPage() -> impl IntoView {
    let query = use_query_map().get_untracked();
    let filter = InboxQuery {
        agent: query.get("agent"),
        tool: query.get("tool"),
        risk: query.get("risk"),
        grouped: query.get("group").as_deref() == Some("similar"),
    };
    let after = query.get("after");
    view! {
        <Title text="Inbox · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let (filter, after) = (filter.clone(), after.clone());
                Suspend::new(async move {
                    let f = &filter;
                    match load_inbox(f.agent.clone(), f.tool.clone(), f.risk.clone(), after).await {
                        Ok(data) => view! { <Inbox data filter /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })
            }}
        </Suspense>
    }
}

/// What the inbox shows: the filters, and whether similar calls are folded together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InboxQuery {
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub risk: Option<String>,
    pub grouped: bool,
}

/// The parts a live update replaces are marked `data-live`: the count, the filters and
/// the list. For someone who decides, the calls waiting on them come first; those waiting
/// on others (escalated away, already approved by them) follow in their own section.
#[component]
fn Inbox(data: InboxData, filter: InboxQuery) -> impl IntoView {
    let now = data.now_ms;
    let may_decide = data.may_decide;
    let grouped = filter.grouped;
    let count = data.items.len();
    let total = data.total;
    let filtered = filter.agent.is_some() || filter.tool.is_some() || filter.risk.is_some();
    let (mine, others): (Vec<InboxItem>, Vec<InboxItem>) = if may_decide {
        data.items.into_iter().partition(|item| item.mine)
    } else {
        (data.items, Vec::new())
    };
    let (n_mine, n_others) = (mine.len(), others.len());
    let list = if count == 0 {
        view! { <p class="empty">"Nothing is waiting for a decision. Calls a policy rule gates appear here as agents propose them, without a reload."</p> }.into_any()
    } else if !may_decide {
        // Someone who only looks: one line says why, not a tag on every row.
        let items = mine
            .into_iter()
            .map(|item| InboxItem {
                waiting_on: None,
                ..item
            })
            .collect();
        view! {
            <p class="hint">"You can look at these calls; deciding them needs the approver role."</p>
            <ol class="call-list" aria-label="Pending calls">{rows(items, 0, grouped, now, false)}</ol>
        }
        .into_any()
    } else {
        view! {
            <section aria-labelledby="waiting-on-you">
                <h2 id="waiting-on-you" class="list-head">"Waiting on you " <span class="count">{n_mine}</span></h2>
                {if n_mine == 0 {
                    view! { <p class="empty">"Nothing is waiting on you: the calls below wait on others."</p> }.into_any()
                } else {
                    view! { <ol class="call-list" aria-label="Waiting on you">{rows(mine, 0, grouped, now, true)}</ol> }.into_any()
                }}
            </section>
            {(n_others > 0).then(|| view! {
                <section aria-labelledby="waiting-on-others">
                    <h2 id="waiting-on-others" class="list-head">"Waiting on others " <span class="count">{n_others}</span></h2>
                    <ol class="call-list others" aria-label="Waiting on others">{rows(others, n_mine, grouped, now, false)}</ol>
                </section>
            })}
        }
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
            <crate::app::pages::call::AfterNote note=data.after next=false />
            <header class="inbox-head">
                <h1 data-live="count">"Inbox " <span class="count">{total}</span></h1>
                {may_decide.then(|| view! { <p class="hint key-hints">"Keys: " <kbd>"j"</kbd> "/" <kbd>"k"</kbd> " move · " <kbd>"x"</kbd> " select · " <kbd>"Enter"</kbd> " open · "
                    <kbd>"a"</kbd> "/" <kbd>"d"</kbd> " open to approve/deny · " <kbd>"A"</kbd> " approve selected · shift-click selects a range"</p> })}
                {group_link}
            </header>
            <div data-live="filters">
                <Filters counts=data.counts />
                {filtered.then(|| view! { <p><a href="/inbox">"Clear filters"</a></p> })}
                {(total > count as i64).then(|| view! {
                    <p class="hint truncated">
                        {format!("Showing the {count} soonest deadlines of {total}. \
                                  Filter by agent, tool or risk to see the others.")}
                    </p>
                })}
            </div>
            <InboxControls reasons=data.reasons />
            <Countdowns server_now_ms=now />
            <div data-live="list">{list}</div>
        </section>
    }
}

/// The rows of one list (`first`: the position of its first row in the page), similar
/// calls folded under one header when `grouped` (a call with no similar one stays a row).
fn rows(items: Vec<InboxItem>, first: usize, grouped: bool, now: i64, pickable: bool) -> AnyView {
    let mut items: Vec<(usize, InboxItem)> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| (first + i, item))
        .collect();
    if !grouped {
        return items
            .into_iter()
            .map(|(i, item)| view! { <Row item index=i now pickable /> })
            .collect_view()
            .into_any();
    }
    // Similar calls side by side, groups in the order of their soonest deadline.
    let mut order: std::collections::HashMap<String, usize> = Default::default();
    for (i, item) in &items {
        order.entry(item.similar.clone()).or_insert(*i);
    }
    items.sort_by_key(|(_, item)| order[&item.similar]);
    let mut groups: Vec<SimilarGroup> = Vec::new();
    for (i, item) in items {
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
            if members.len() == 1 {
                return members
                    .into_iter()
                    .map(|(i, item)| view! { <Row item index=i now pickable /> })
                    .collect_view()
                    .into_any();
            }
            let ids = members
                .iter()
                .map(|(_, m)| m.id.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let n = members.len();
            let rows = members
                .into_iter()
                .map(|(i, item)| view! { <Row item index=i now pickable /> })
                .collect_view();
            view! {
                <li class="similar-group">
                    <div class="group-head">
                        {pickable.then(|| view! { <input type="checkbox" class="pick-group" data-members=ids
                            aria-label=format!("Select all {n} similar calls") /> })}
                        <strong class="agent-text">{label}</strong> " " <span class="count">"×" {n}</span>
                    </div>
                    <ol class="call-list">{rows}</ol>
                </li>
            }
            .into_any()
        })
        .collect_view()
        .into_any()
}

/// Similar calls folded together: their key, a header, and each row with its position.
type SimilarGroup = (String, String, Vec<(usize, InboxItem)>);

/// One pending call. Its checkbox carries the hash of the arguments the row shows (what a
/// batch decision of it reviews); the first row starts out focused.
#[component]
fn Row(item: InboxItem, index: usize, now: i64, pickable: bool) -> impl IntoView {
    let href = format!("/calls/{}", item.id);
    let args = item
        .key_args
        .into_iter()
        .map(|a| view! { <span class="arg" class:deciding=a.deciding><span class="arg-key">{a.key}</span>"="<span class="arg-value">{a.value}</span></span> })
        .collect_view();
    let label = format!("Select {}", tool_label(&item.tool));
    view! {
        <li class="call-row" class:selected=index == 0 data-call=item.id.clone()>
            {pickable.then(|| view! { <input type="checkbox" class="pick" aria-label=label data-hash=item.hash /> })}
            <a href=href class="call-link">
                <span class="agent">{item.agent}</span>
                <span class="action">
                    <strong class="tool">{tool_label(&item.tool)}</strong>
                    <span class="args">{args}</span>
                    {item.confirm.then(|| view! { <span class="tag">"typed confirmation"</span> })}
                    {match item.waiting_on {
                        Some(w) => view! { <span class="tag waiting-on">{w}</span> }.into_any(),
                        None => item.escalated_to.map(|to| view! { <span class="tag escalated">"escalated to " {to}</span> }).into_any(),
                    }}
                    {item.reason.map(|r| view! { <span class="row-reason agent-text">{r}</span> })}
                </span>
                <span class="risks"><RiskBadges risk=item.risk /></span>
                <span class="approvals">{item.approvals} " of " {item.approvals_required} " approvals"</span>
                <Countdown deadline_ms=item.deadline_ms now=Signal::stored(now) />
            </a>
        </li>
    }
}

/// The inbox's island: keyboard triage (`j`/`k` move, `x` ticks, Enter opens, `a`/`d`
/// open ready to approve or deny, `A` approves the ticked ones), ticking rows (shift-click for a range, a group's box for
/// all its calls), deciding the ticked ones at once, and the list kept live. It works on
/// the rows the server rendered; a live update replaces them with the server's newer ones.
#[island]
fn InboxControls(reasons: Vec<DenialReason>) -> impl IntoView {
    let checked = RwSignal::new(Vec::<Ticked>::new());
    let outcome = RwSignal::new(None::<Result<Vec<BatchOutcome>, String>>);
    let pending = RwSignal::new(false);
    // How many ticked rows a live update unticked because their call was edited.
    let notice = RwSignal::new(None::<usize>);
    #[cfg(feature = "hydrate")]
    live::attach(checked, notice);
    // The bar and the result of the last batch stay in view while the list scrolls.
    view! {
        <div class="batch-dock">
        <BatchResult outcome />
        {move || notice.get().map(|n| view! {
            <p class="warning" role="status">
                {format!("{n} ticked call{} changed meanwhile (its arguments were edited) and {} no longer ticked: look at {} again.",
                    if n == 1 { "" } else { "s" }, if n == 1 { "is" } else { "are" }, if n == 1 { "it" } else { "them" })}
            </p>
        })}
        <BatchBar checked reasons outcome pending notice />
        </div>
    }
}

/// A ticked row: the call, and the hash of the arguments it showed.
#[derive(Clone, Debug, PartialEq)]
struct Ticked {
    id: String,
    hash: String,
}

/// What to do with the ticked calls: approve them, or deny them with one reason — each
/// call decided on its own; the result lists what happened to each.
#[component]
fn BatchBar(
    checked: RwSignal<Vec<Ticked>>,
    reasons: Vec<DenialReason>,
    outcome: RwSignal<Option<Result<Vec<BatchOutcome>, String>>>,
    pending: RwSignal<bool>,
    notice: RwSignal<Option<usize>>,
) -> impl IntoView {
    let feedback = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let no_retry = RwSignal::new(false);
    let send = move |decision: &'static str| {
        let calls = checked
            .get_untracked()
            .iter()
            .map(|t| format!("{} {}", t.id, t.hash))
            .collect::<Vec<_>>()
            .join("\n");
        let mut fields = vec![
            ("calls", calls),
            ("decision", decision.to_string()),
            ("do_not_retry", no_retry.get_untracked().to_string()),
        ];
        for (name, value) in [("feedback", feedback), ("reason_code", reason)] {
            let text = value.get_untracked();
            if !text.trim().is_empty() {
                fields.push((name, text));
            }
        }
        #[cfg(feature = "hydrate")]
        live::decide(fields, checked, outcome, pending, notice);
        #[cfg(not(feature = "hydrate"))]
        let _ = (fields, outcome, notice);
    };
    view! {
        <Show when=move || !checked.with(Vec::is_empty)>
            <div class="batch-bar" role="region" aria-label="Decide the selected calls">
                <span class="batch-count">{move || checked.with(Vec::len)} " selected"</span>
                <button type="button" class="approve" disabled=move || pending.get()
                    on:click=move |_| send("approve")>"Approve selected"</button>
                <select aria-label="Denial reason" on:change=move |ev| reason.set(event_target_value(&ev))>
                    <option value="">"— reason —"</option>
                    {reasons.iter().map(|r| view! { <option value=r.code.clone()>{r.label.clone()}</option> }).collect_view()}
                </select>
                <input aria-label="Why deny (to each agent)" placeholder="why deny"
                    on:input=move |ev| feedback.set(event_target_value(&ev)) />
                <label class="checkbox"><input type="checkbox" on:change=move |ev| no_retry.set(event_target_checked(&ev)) /> " do not retry"</label>
                <button type="button" class="deny" disabled=move || pending.get()
                    on:click=move |_| send("deny")>"Deny selected"</button>
                <button type="button" class="secondary small" on:click=move |_| {
                    #[cfg(feature = "hydrate")]
                    live::untick_all(checked);
                }>"Clear"</button>
            </div>
        </Show>
    }
}

/// What the last batch decision did to each call (outside the live list, so a live
/// update keeps it).
#[component]
fn BatchResult(outcome: RwSignal<Option<Result<Vec<BatchOutcome>, String>>>) -> impl IntoView {
    move || {
        outcome.get().map(|r| match r {
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
                view! {
                    <div class="batch-result" role="status">
                        <h2>"Batch result"</h2><ul>{items}</ul>
                        <button type="button" class="secondary small" on:click=move |_| outcome.set(None)>"Dismiss"</button>
                    </div>
                }.into_any()
            }
            Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        })
    }
}

/// The browser side of [`InboxControls`], on the rows in the page.
#[cfg(feature = "hydrate")]
mod live {
    use super::{BatchOutcome, Ticked};
    use crate::app::browser::{fetch_document, go_to, post_form, select_all};
    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};
    use web_sys::{Element, HtmlInputElement};

    /// Listens for keys, clicks on the rows' boxes and the server's news of changed calls.
    pub fn attach(checked: RwSignal<Vec<Ticked>>, notice: RwSignal<Option<usize>>) {
        let anchor = StoredValue::new(None::<usize>);
        let keys = window_event_listener(leptos::ev::keydown, move |e| {
            if crate::app::widgets::typing_in_field(&e) {
                return;
            }
            let rows = select_all("li.call-row");
            if rows.is_empty() {
                return;
            }
            let current = focused(&rows).unwrap_or(0);
            match e.key().as_str() {
                "j" | "ArrowDown" => focus_visibly(&rows, (current + 1).min(rows.len() - 1)),
                "k" | "ArrowUp" => focus_visibly(&rows, current.saturating_sub(1)),
                "x" => {
                    if let Some(input) = pick(&rows[current]) {
                        input.set_checked(!input.checked());
                    }
                    anchor.set_value(Some(current));
                    sync(checked);
                }
                // Approve the ticked calls (the batch bar's button, when there is one).
                "A" => {
                    let Some(button) = document()
                        .query_selector(".batch-bar button.approve")
                        .ok()
                        .flatten()
                        .and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok())
                    else {
                        return;
                    };
                    button.click();
                }
                "Enter" | "a" | "d" => {
                    let Some(id) = rows[current].get_attribute("data-call") else {
                        return;
                    };
                    go_to(&match e.key().as_str() {
                        "a" => format!("/calls/{id}?intent=approve"),
                        "d" => format!("/calls/{id}?intent=deny"),
                        _ => format!("/calls/{id}"),
                    });
                }
                _ => return,
            }
            e.prevent_default();
        });
        let clicks = window_event_listener(leptos::ev::click, move |e| {
            let Some(input) = e
                .target()
                .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
            else {
                return;
            };
            let class = input.class_name();
            if class == "pick" {
                let rows = select_all("li.call-row");
                let Some(index) = rows
                    .iter()
                    .position(|row| pick(row).is_some_and(|p| p == input))
                else {
                    return;
                };
                // With shift, every row between the last one ticked and this one takes
                // this one's new state.
                if let (true, Some(from)) = (e.shift_key(), anchor.get_value()) {
                    for row in &rows[from.min(index)..=from.max(index).min(rows.len() - 1)] {
                        if let Some(p) = pick(row) {
                            p.set_checked(input.checked());
                        }
                    }
                }
                anchor.set_value(Some(index));
                sync(checked);
            } else if class == "pick-group" {
                let members = input.get_attribute("data-members").unwrap_or_default();
                for id in members.split_whitespace() {
                    if let Some(p) = row_of(id).as_ref().and_then(pick) {
                        p.set_checked(input.checked());
                    }
                }
                sync(checked);
            }
        });
        let stream = listen(checked, notice);
        on_cleanup(move || {
            keys.remove();
            clicks.remove();
            drop(stream);
        });
    }

    /// Decides the ticked calls; then unticks them and shows what happened to each.
    pub fn decide(
        fields: Vec<(&'static str, String)>,
        checked: RwSignal<Vec<Ticked>>,
        outcome: RwSignal<Option<Result<Vec<BatchOutcome>, String>>>,
        pending: RwSignal<bool>,
        notice: RwSignal<Option<usize>>,
    ) {
        pending.set(true);
        notice.set(None);
        leptos::task::spawn_local(async move {
            let answer = post_form("/rpc/decide_batch", &fields)
                .await
                .and_then(|json| {
                    serde_json::from_str::<Vec<BatchOutcome>>(&json).map_err(|e| e.to_string())
                });
            if answer.is_ok() {
                untick_all(checked);
            }
            outcome.set(Some(answer));
            pending.set(false);
            refresh(checked, notice).await;
        });
    }

    /// Unticks every row.
    pub fn untick_all(checked: RwSignal<Vec<Ticked>>) {
        for input in select_all("input.pick, input.pick-group") {
            if let Ok(input) = input.dyn_into::<HtmlInputElement>() {
                input.set_checked(false);
            }
        }
        sync(checked);
    }

    /// The server's stream of call changes: each one loads the list again. The browser's
    /// `EventSource` reconnects by itself after a network error.
    fn listen(
        checked: RwSignal<Vec<Ticked>>,
        notice: RwSignal<Option<usize>>,
    ) -> Option<send_wrapper::SendWrapper<Stream>> {
        let source = web_sys::EventSource::new("/inbox/events").ok()?;
        let on_event = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| {
            leptos::task::spawn_local(refresh(checked, notice));
        });
        for event in ["call", "resync"] {
            let _ =
                source.add_event_listener_with_callback(event, on_event.as_ref().unchecked_ref());
        }
        Some(send_wrapper::SendWrapper::new(Stream {
            source,
            _on_event: on_event,
        }))
    }

    /// An open event stream, closed when dropped.
    pub struct Stream {
        source: web_sys::EventSource,
        _on_event: Closure<dyn Fn(web_sys::MessageEvent)>,
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            self.source.close();
        }
    }

    /// Loads this page again and puts its live parts in place of the current ones,
    /// keeping the ticked rows (those still listed) and the focused position. Updates
    /// that arrive while one is under way are folded into one more.
    async fn refresh(checked: RwSignal<Vec<Ticked>>, notice: RwSignal<Option<usize>>) {
        thread_local! {
            static STATE: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
        }
        let (busy, _) = STATE.get();
        if busy {
            STATE.set((true, true));
            return;
        }
        loop {
            STATE.set((true, false));
            let url = window().location().href().unwrap_or_default();
            if let Some(fresh) = fetch_document(&url).await {
                let focused_at = focused(&select_all("li.call-row")).unwrap_or(0);
                for part in select_all("[data-live]") {
                    let name = part.get_attribute("data-live").unwrap_or_default();
                    if let Ok(Some(new)) = fresh.query_selector(&format!("[data-live=\"{name}\"]"))
                    {
                        part.set_inner_html(&new.inner_html());
                    }
                }
                // A row stays ticked only while it shows the arguments it showed when it
                // was ticked: a call edited meanwhile must be looked at again, never decided
                // in a batch on the strength of its earlier version.
                let mut changed = 0;
                for t in &checked.get_untracked() {
                    if let Some(p) = row_of(&t.id).as_ref().and_then(pick) {
                        if p.get_attribute("data-hash").as_deref() == Some(t.hash.as_str()) {
                            p.set_checked(true);
                        } else {
                            changed += 1;
                        }
                    }
                }
                if changed > 0 {
                    notice.set(Some(changed));
                }
                let rows = select_all("li.call-row");
                if !rows.is_empty() {
                    focus(&rows, focused_at.min(rows.len() - 1));
                }
                sync(checked);
            }
            let (_, again) = STATE.get();
            if !again {
                STATE.set((false, false));
                return;
            }
        }
    }

    /// Reads the ticked rows from the page into `checked`, and marks them (and the group
    /// boxes whose calls are all ticked).
    fn sync(checked: RwSignal<Vec<Ticked>>) {
        let mut ticked = Vec::new();
        for row in select_all("li.call-row") {
            let on = pick(&row).is_some_and(|p| p.checked());
            let _ = row.class_list().toggle_with_force("picked", on);
            if let (true, Some(id), Some(hash)) = (
                on,
                row.get_attribute("data-call"),
                pick(&row).and_then(|p| p.get_attribute("data-hash")),
            ) {
                ticked.push(Ticked { id, hash });
            }
        }
        for group in select_all("input.pick-group") {
            let all = group
                .get_attribute("data-members")
                .unwrap_or_default()
                .split_whitespace()
                .all(|id| ticked.iter().any(|t| t.id == id));
            if let Ok(group) = group.dyn_into::<HtmlInputElement>() {
                group.set_checked(all);
            }
        }
        if checked.with_untracked(|c| *c != ticked) {
            checked.set(ticked);
        }
    }

    fn focused(rows: &[Element]) -> Option<usize> {
        rows.iter()
            .position(|r| r.class_list().contains("selected"))
    }

    fn focus(rows: &[Element], index: usize) {
        for (i, row) in rows.iter().enumerate() {
            let _ = row.class_list().toggle_with_force("selected", i == index);
        }
    }

    /// Focuses row `index` and scrolls it into view (the least scrolling that shows it).
    fn focus_visibly(rows: &[Element], index: usize) {
        focus(rows, index);
        if let Some(row) = rows.get(index) {
            row.scroll_into_view_with_bool(false);
        }
    }

    fn pick(row: &Element) -> Option<HtmlInputElement> {
        row.query_selector("input.pick")
            .ok()
            .flatten()
            .and_then(|el| el.dyn_into::<HtmlInputElement>().ok())
    }

    fn row_of(id: &str) -> Option<Element> {
        select_all("li.call-row")
            .into_iter()
            .find(|r| r.get_attribute("data-call").as_deref() == Some(id))
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
    // One bar: on a phone a sheet that opens (a `<details>`, no script); on a wider screen
    // always open (the stylesheet shows its content and hides the summary).
    view! {
        <details class="filter-bar">
            <summary>"Filter by agent, tool or risk"</summary>
            <div class="filters">{group("agent", "agent")} {group("tool", "tool")} {group("risk", "risk")}</div>
        </details>
    }
}

/// Percent-encodes a query value.
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urlencode() {
        assert_eq!(super::urlencode("a b&c=é"), "a%20b%26c%3D%C3%A9");
        assert_eq!(super::urlencode("send_email"), "send_email");
    }
}
