//! `/insights` (managers and admins): what happened to calls per tool, agent and call
//! pattern over a period, drawn as an SVG chart beside the numbers; suggestions to ungate or
//! tighten a pattern with their evidence; and, for admins, the rubber-stamp watch.

use super::home::page_error;
use crate::domain::insights::{Counts, InsightRow, InsightsData, StampRow, Suggestion};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
fn period(
    key: &Option<String>,
    from: &Option<String>,
    to: &Option<String>,
    gate: &crate::gate::Gate,
) -> Result<crate::domain::insights::Period, AppError> {
    let now = crate::clock::to_millis(gate.clock.now());
    crate::domain::insights::Period::parse(key.as_deref(), from.as_deref(), to.as_deref(), now)
        .map_err(AppError::BadRequest)
}

#[cfg(feature = "ssr")]
fn kind(text: &str) -> Result<crate::domain::insights::SuggestionKind, AppError> {
    use crate::domain::insights::SuggestionKind;
    match text {
        "ungate" => Ok(SuggestionKind::Ungate),
        "tighten" => Ok(SuggestionKind::Tighten),
        _ => Err(AppError::BadRequest(
            "a suggestion is `ungate` or `tighten`".into(),
        )),
    }
}

/// The insights over a period (`24h`, `7d`, `30d`, or `custom` with `from`/`to` dates).
/// Managers and admins.
#[server(prefix = "/rpc", endpoint = "insights")]
pub async fn load_insights(
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<InsightsData, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Manager).await?;
    let gate = guard::state()?.gate.clone();
    let range = self::period(&period, &from, &to, &gate)?;
    gate.insights(&user, range, period.as_deref().unwrap_or("7d"))
        .await
}

/// The rubber-stamp watch over a period. Admins.
#[server(prefix = "/rpc", endpoint = "rubber_stamp")]
pub async fn load_rubber_stamp(
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<Vec<StampRow>, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Admin).await?;
    let gate = guard::state()?.gate.clone();
    let range = self::period(&period, &from, &to, &gate)?;
    gate.rubber_stamp(range).await
}

/// What accepting a suggestion did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// A pending policy change waiting for sign-off (ungate).
    pub pending: Option<i64>,
    /// The policy version now in force (tighten).
    pub version: Option<i64>,
}

/// Turns a suggestion into policy. Admins. Ungating files a pending change for managers'
/// sign-off; tightening (with `confirm`) adds a deny rule in force at once.
#[server(prefix = "/rpc", endpoint = "suggestion_accept")]
#[allow(clippy::too_many_arguments)]
pub async fn accept_suggestion(
    kind: String,
    tool: String,
    pattern: String,
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    confirm: Option<String>,
) -> Result<Accepted, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    let gate = guard::state()?.gate.clone();
    let range = self::period(&period, &from, &to, &gate)?;
    let saved = gate
        .accept_suggestion(
            &user,
            self::kind(&kind)?,
            &tool,
            &pattern,
            range,
            confirm.is_some(),
        )
        .await?;
    let details: Vec<(&str, String)> = [
        saved.pending.map(|id| ("change", id.to_string())),
        saved.version.map(|v| ("version", v.to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    crate::app::forms::come_back_with(crate::app::forms::name_of::<AcceptSuggestion>(), &details);
    Ok(Accepted {
        pending: saved.pending,
        version: saved.version,
    })
}

/// Dismisses a suggestion with a reason. Managers and admins.
#[server(prefix = "/rpc", endpoint = "suggestion_dismiss")]
pub async fn dismiss_suggestion(
    kind: String,
    tool: String,
    pattern: String,
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    reason: String,
) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Manager).await?;
    let gate = guard::state()?.gate.clone();
    let range = self::period(&period, &from, &to, &gate)?;
    gate.dismiss_suggestion(&user, self::kind(&kind)?, &tool, &pattern, range, &reason)
        .await
}

/// The insights page for the period in the URL, rendered on the server; its forms are
/// plain forms that come back to it.
#[component]
pub fn InsightsPage() -> impl IntoView {
    let q = use_query_map().get_untracked();
    let range = Period {
        period: q.get("period"),
        from: q.get("from"),
        to: q.get("to"),
    };
    let load = |r: Period| async move {
        let data = load_insights(r.period.clone(), r.from.clone(), r.to.clone()).await;
        // The rubber-stamp watch is for admins only.
        let stamp = match &data {
            Ok(d) if d.may_change_policy => Some(load_rubber_stamp(r.period, r.from, r.to).await),
            _ => None,
        };
        (data, stamp)
    };
    view! {
        <Title text="Insights · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let range = range.clone();
                Suspend::new(async move {
                    match load(range.clone()).await {
                        (Ok(data), stamp) => view! { <Insights data range stamp /> }.into_any(),
                        (Err(error), _) => page_error(error),
                    }
                })
            }}
        </Suspense>
    }
}

/// The period the page shows, as the URL gave it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Period {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn pct(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1} %"))
}

fn secs(value: Option<f64>) -> String {
    match value {
        None => "—".into(),
        Some(s) if s < 60.0 => format!("{s:.0} s"),
        Some(s) if s < 3_600.0 => format!("{:.1} min", s / 60.0),
        Some(s) if s < 86_400.0 => format!("{:.1} h", s / 3_600.0),
        Some(_) => "≥ 24 h".into(),
    }
}

/// "+12 %" / "−3 pts" against the previous period.
fn trend(now: f64, before: f64, points: bool) -> String {
    if points {
        let d = now - before;
        return format!("{}{:.1} pts", if d >= 0.0 { "+" } else { "−" }, d.abs());
    }
    if before == 0.0 {
        return if now == 0.0 {
            "±0".into()
        } else {
            "new".into()
        };
    }
    let d = (now - before) * 100.0 / before;
    format!("{}{:.0} %", if d >= 0.0 { "+" } else { "−" }, d.abs())
}

#[component]
fn Insights(
    data: InsightsData,
    range: Period,
    stamp: Option<Result<Vec<StampRow>, AppError>>,
) -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    let accept = ServerAction::<AcceptSuggestion>::new();
    let dismiss = ServerAction::<DismissSuggestion>::new();
    let params = (range.period.clone(), range.from.clone(), range.to.clone());
    let periods = ["24h", "7d", "30d"]
        .into_iter()
        .map(|p| {
            let current = (data.period_key == p).then_some("page");
            view! { <li><a href=format!("/insights?period={p}") aria-current=current>{p}</a></li> }
        })
        .collect_view();
    let t = data.totals;
    let p = data.previous;
    let approval_trend = match (t.approval_pct(), p.approval_pct()) {
        (Some(a), Some(b)) => trend(a, b, true),
        _ => "—".into(),
    };
    let q = leptos_router::hooks::use_query_map().get_untracked();
    let number = |key: &str| q.get(key).and_then(|v| v.parse::<i64>().ok());
    let accepted = match done() {
        Some(d) if d == name_of::<AcceptSuggestion>() => {
            match (number("done_change"), number("done_version")) {
                (Some(id), _) => Some(view! {
                    <p class="ok form-notice" role="status">"Sent for managers' sign-off as policy change #" {id} ". "
                        <a href="/reviews">"Open the review page"</a></p>
                }.into_any()),
                (None, Some(version)) => Some(view! {
                    <p class="ok form-notice" role="status">"In force now as policy version " {version} "."</p>
                }.into_any()),
                _ => None,
            }
        }
        Some(d) if d == name_of::<DismissSuggestion>() => Some(
            view! {
                <p class="ok form-notice" role="status">"Dismissed until its evidence changes."</p>
            }
            .into_any(),
        ),
        _ => None,
    };
    let errors = view! { <Outcome errors=vec![error_of::<AcceptSuggestion>(), error_of::<DismissSuggestion>()] ok=None /> };
    let suggestions = data
        .suggestions
        .iter()
        .cloned()
        .map(|s| view! { <SuggestionCard s may_change=data.may_change_policy params=params.clone() accept dismiss /> })
        .collect_view();
    let admin = data.may_change_policy;
    view! {
        <section class="card insights">
            <h1>"Insights"</h1>
            <nav class="filter" aria-label="Period">
                <span class="filter-label">"period"</span>
                <ul>{periods}</ul>
                <form method="get" action="/insights" class="inline custom-period">
                    <input type="hidden" name="period" value="custom" />
                    <label>"from " <input type="date" name="from" required value=range.from.clone().unwrap_or_default() /></label>
                    <label>" to " <input type="date" name="to" required value=range.to.clone().unwrap_or_default() /></label>
                    <button type="submit" class="small secondary">"Show"</button>
                </form>
            </nav>
            <p class="summary">
                <strong>{t.proposed}</strong> " calls proposed (" {trend(t.proposed as f64, p.proposed as f64, false)} " on the previous period); "
                <strong>{t.gated}</strong> " asked a person; approval rate " <strong>{pct(t.approval_pct())}</strong>
                " (" {approval_trend} "); median time to decide " <strong>{secs(t.median_secs())}</strong>
                ", p90 " {secs(t.p90_secs())} "."
            </p>
            <Chart data=data.clone() />
        </section>
        <section class="card" aria-labelledby="suggestions-title">
            <h2 id="suggestions-title">"Suggestions"</h2>
            {errors}
            {accepted}
            {if data.suggestions.is_empty() {
                view! { <p class="empty">"Nothing to suggest for this period: no pattern is approved almost always or denied often enough."</p> }.into_any()
            } else {
                view! { <div class="suggestions">{suggestions}</div> }.into_any()
            }}
            {(data.more_suggestions > 0).then(|| view! {
                <p class="muted">{data.more_suggestions} " more suggestion(s) for less-decided patterns: act on these first, or pick a shorter period."</p>
            })}
            {(data.dismissed > 0).then(|| view! {
                <p class="muted">{data.dismissed} " dismissed suggestion(s) hidden until their evidence changes."</p>
            })}
        </section>
        <section class="card">
            <h2>"By call pattern"</h2>
            <CountsTable rows=data.by_pattern.clone() what="Pattern" />
            <h2>"By tool"</h2>
            <CountsTable rows=data.by_tool.clone() what="Tool" />
            <h2>"By agent"</h2>
            <CountsTable rows=data.by_agent.clone() what="Agent" />
        </section>
        {stamp.filter(|_| admin).map(|rows| view! { <RubberStamp rows /> })}
    }
}

/// Proposals per hour or day, stacked by what policy did, with patterns (not only colour)
/// telling the parts apart, and the numbers in a table beside.
#[component]
fn Chart(data: InsightsData) -> impl IntoView {
    const W: f64 = 640.0;
    const H: f64 = 160.0;
    let n = data.bars.len().max(1) as f64;
    let max = data
        .bars
        .iter()
        .map(|b| b.counts.proposed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = W / n;
    let width = (slot * 0.8).max(1.0);
    let bars = data
        .bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let c = b.counts;
            let x = i as f64 * slot + (slot - width) / 2.0;
            let mut y = H;
            let parts = [
                (c.allowed, "url(#allowed)"),
                (c.gated, "url(#gated)"),
                (c.denied_policy, "url(#denied)"),
            ];
            let rects = parts
                .into_iter()
                .filter(|(v, _)| *v > 0)
                .map(|(v, fill)| {
                    let h = v as f64 / max * H;
                    y -= h;
                    view! { <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{width:.1}") height=format!("{h:.1}") fill=fill stroke="currentColor" stroke-width="0.5" /> }
                })
                .collect_view();
            let title = format!(
                "{}: {} proposed, {} allowed, {} asked a person, {} denied by policy",
                b.label, c.proposed, c.allowed, c.gated, c.denied_policy
            );
            view! { <g><title>{title}</title>{rects}</g> }
        })
        .collect_view();
    let rows = data
        .bars
        .iter()
        .filter(|b| b.counts.proposed > 0 || b.counts.decisions() > 0)
        .map(|b| {
            let c = b.counts;
            view! {
                <tr><th scope="row"><time datetime=b.start.clone()>{b.label.clone()}</time></th>
                    <td>{c.proposed}</td><td>{c.allowed}</td><td>{c.gated}</td><td>{c.denied_policy}</td>
                    <td>{c.approved}</td><td>{c.denied_people}</td></tr>
            }
        })
        .collect_view();
    let first = data
        .bars
        .first()
        .map(|b| b.label.clone())
        .unwrap_or_default();
    let last = data
        .bars
        .last()
        .map(|b| b.label.clone())
        .unwrap_or_default();
    view! {
        <div class="chart-and-numbers">
            <figure class="chart">
                <svg viewBox=format!("0 0 {W} {}", H + 20.0) role="img" aria-labelledby="chart-caption" width="100%">
                    <defs>
                        <pattern id="allowed" width="6" height="6" patternUnits="userSpaceOnUse">
                            <rect width="6" height="6" fill="var(--chart-allowed, #cde8d4)" />
                        </pattern>
                        <pattern id="gated" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                            <rect width="6" height="6" fill="var(--chart-gated, #ffe3a3)" />
                            <line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" stroke-width="1.5" />
                        </pattern>
                        <pattern id="denied" width="6" height="6" patternUnits="userSpaceOnUse">
                            <rect width="6" height="6" fill="var(--chart-denied, #f5c2c0)" />
                            <circle cx="3" cy="3" r="1.3" fill="currentColor" />
                        </pattern>
                    </defs>
                    <line x1="0" y1=H x2=W y2=H stroke="currentColor" />
                    {bars}
                    <text x="0" y=H + 15.0 font-size="11">{first}</text>
                    <text x=W y=H + 15.0 font-size="11" text-anchor="end">{last}</text>
                </svg>
                <figcaption id="chart-caption">
                    "Calls proposed per " {if data.period.bar_ms() < 86_400_000 { "hour" } else { "day" }}
                    ": plain — allowed, striped — asked a person, dotted — denied by policy. Tallest bar: " {max as i64} "."
                </figcaption>
            </figure>
            <crate::app::widgets::ScrollBox label="The chart's numbers"><table class="numbers">
                <caption>"The chart's numbers"</caption>
                <thead><tr><th scope="col">"When"</th><th scope="col">"Proposed"</th><th scope="col">"Allowed"</th>
                    <th scope="col">"Asked"</th><th scope="col">"Denied by policy"</th><th scope="col">"Approved"</th><th scope="col">"Denied by people"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table></crate::app::widgets::ScrollBox>
        </div>
    }
}

#[component]
fn CountsTable(rows: Vec<InsightRow>, what: &'static str) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No calls in this period."</p> }.into_any();
    }
    let body = rows
        .into_iter()
        .map(|r| {
            let c: Counts = r.counts;
            let rate_trend = match (c.approval_pct(), r.previous.approval_pct()) {
                (Some(a), Some(b)) => trend(a, b, true),
                _ => "—".into(),
            };
            view! {
                <tr data-row=r.label.clone()>
                    <th scope="row" class="agent-text">{crate::domain::invisible::visible(&r.label)}</th>
                    <td>{c.proposed}</td><td>{c.allowed}</td><td>{c.denied_policy}</td><td>{c.gated}</td>
                    <td>{c.approved}</td><td>{c.denied_people}</td><td>{c.expired}</td><td>{c.stale}</td><td>{c.executed}</td>
                    <td>{pct(c.approval_pct())}</td><td>{secs(c.median_secs())}</td><td>{secs(c.p90_secs())}</td>
                    <td>{trend(c.proposed as f64, r.previous.proposed as f64, false)} " / " {rate_trend}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label=format!("Figures by {}", what.to_lowercase())>
            <table class="insight-table">
                <thead><tr><th scope="col">{what}</th><th scope="col">"Proposed"</th><th scope="col">"Allowed"</th>
                    <th scope="col">"Denied by policy"</th><th scope="col">"Asked"</th><th scope="col">"Approved"</th>
                    <th scope="col">"Denied by people"</th><th scope="col">"Expired"</th><th scope="col">"Stale"</th>
                    <th scope="col">"Executed"</th><th scope="col">"Approval rate"</th><th scope="col">"Median to decide"</th>
                    <th scope="col">"p90"</th><th scope="col">"Trend (calls / rate)"</th></tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn SuggestionCard(
    s: Suggestion,
    may_change: bool,
    params: (Option<String>, Option<String>, Option<String>),
    accept: ServerAction<AcceptSuggestion>,
    dismiss: ServerAction<DismissSuggestion>,
) -> impl IntoView {
    use crate::domain::insights::SuggestionKind;
    let fields = {
        let (kind, tool, pattern) = (s.kind.as_str(), s.tool.clone(), s.pattern.clone());
        move || hidden_fields(kind, tool.clone(), pattern.clone(), params.clone())
    };
    let fields2 = fields.clone();
    let (title, button) = match s.kind {
        SuggestionKind::Ungate => ("Ungate", "Prepare an allow rule for sign-off"),
        SuggestionKind::Tighten => ("Tighten", "Add a deny rule now"),
    };
    let feedback = s
        .feedback
        .iter()
        .map(|g| {
            let examples = g
                .examples
                .iter()
                .map(|e| view! { <li class="agent-text">"“" {crate::domain::invisible::visible(e)} "”"</li> })
                .collect_view();
            view! { <li>{g.count} " denial(s) saying:" <ul>{examples}</ul></li> }
        })
        .collect_view();
    let label = format!("{title} {}", s.pattern);
    let dismiss_label = format!("Why dismiss {label}");
    view! {
        <article class=format!("suggestion suggestion-{}", s.kind.as_str()) aria-label=label.clone() data-pattern=s.pattern.clone()>
            <h3>{title} " " <code class="agent-text">{crate::domain::invisible::visible(&s.pattern)}</code></h3>
            <p>{s.evidence.clone()}
                {s.rule.clone().map(|r| view! { "; gated now by rule " <code>{r}</code> })} "."</p>
            {(!s.feedback.is_empty()).then(|| view! { <ul class="feedback-groups">{feedback}</ul> })}
            {s.prompt_note.clone().map(|note| view! {
                <label>"A note for the agent's prompt"
                    <textarea readonly rows="4" class="prompt-note" inner_html=crate::app::widgets::textarea_html(&note)></textarea></label>
            })}
            <div class="suggestion-actions">
                {may_change.then(|| view! {
                    <ActionForm action=accept attr:class="inline">
                        {fields()}
                        {(s.kind == SuggestionKind::Tighten).then(|| view! {
                            <label class="check"><input type="checkbox" name="confirm" value="yes" required />
                                " It applies at once: calls like this will be refused"</label>
                        })}
                        <button type="submit" class="small">{button}</button>
                    </ActionForm>
                })}
                <ActionForm action=dismiss attr:class="inline">
                    {fields2()}
                    <label>"Why dismiss " <input name="reason" required maxlength="1000" aria-label=dismiss_label /></label>
                    <button type="submit" class="small secondary">"Dismiss"</button>
                </ActionForm>
            </div>
        </article>
    }
}

/// The fields that name a suggestion and the period it was seen in.
fn hidden_fields(
    kind: &'static str,
    tool: String,
    pattern: String,
    (period, from, to): (Option<String>, Option<String>, Option<String>),
) -> impl IntoView {
    view! {
        <input type="hidden" name="kind" value=kind />
        <input type="hidden" name="tool" value=tool />
        <input type="hidden" name="pattern" value=pattern />
        {period.map(|v| view! { <input type="hidden" name="period" value=v /> })}
        {from.map(|v| view! { <input type="hidden" name="from" value=v /> })}
        {to.map(|v| view! { <input type="hidden" name="to" value=v /> })}
    }
}

#[component]
fn RubberStamp(rows: Result<Vec<StampRow>, AppError>) -> impl IntoView {
    let body = match rows {
        Ok(list) if list.is_empty() => {
            view! { <p class="empty">"Nobody reviewed calls in this period."</p> }.into_any()
        }
        Ok(list) => {
            let body = list.into_iter().map(|r| {
                let m = r.measures;
                let prompts = if m.prompts.is_empty() { "nothing stands out".to_string() } else { m.prompts.join("; ") };
                view! {
                    <tr data-approver=r.username.clone()>
                        <th scope="row">{r.username.clone()}</th>
                        <td>{m.approvals}</td><td>{m.denials}</td>
                        <td>{secs(m.median_high_risk_secs)} " (" {m.high_risk_approvals} ")"</td>
                        <td>{m.streak}</td><td>{m.unexpanded_approvals}</td>
                        <td>{prompts}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <div class="table-scroll" tabindex="0" role="region" aria-label="Rubber-stamp watch by approver">
                    <table>
                        <thead><tr><th scope="col">"Approver"</th><th scope="col">"Approvals"</th><th scope="col">"Denials"</th>
                            <th scope="col">"Median open → approve, high risk (n)"</th><th scope="col">"Approvals since last denial"</th>
                            <th scope="col">"Approved without full arguments"</th><th scope="col">"Worth a look"</th></tr></thead>
                        <tbody>{body}</tbody>
                    </table>
                </div>
            }.into_any()
        }
        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
    };
    view! {
        <section class="card" aria-labelledby="stamp-title">
            <h2 id="stamp-title">"Rubber-stamp watch"</h2>
            <p class="muted">"A prompt to look at how approvals are made, not an accusation: fast approvals of high-risk calls, long runs without a denial, approvals without opening the full arguments."</p>
            {body}
        </section>
    }
}
