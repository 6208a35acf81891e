//! Small pieces pages share: risk badges, countdowns, expandable text, code in text, a
//! scrolling box for wide tables, local times, and the island that keeps a page live.

use crate::domain::inbox::{countdown, is_urgent, truncate, SHOWN_CHARS};
use crate::domain::risk::RiskClass;
use leptos::prelude::*;

/// One badge per risk class: colour *and* text.
#[component]
pub fn RiskBadges(risk: Vec<RiskClass>) -> impl IntoView {
    if risk.is_empty() {
        return view! { <span class="badge risk-none">"No risk claimed"</span> }.into_any();
    }
    risk.into_iter()
        .map(|r| view! { <span class=format!("badge risk-{}", r.as_str())>{r.label()}</span> })
        .collect_view()
        .into_any()
}

/// Time left until `deadline_ms`, ticking with `now` (inside an island), or with the page's
/// [`Countdowns`] (on a page rendered on the server, with `now` fixed).
#[component]
pub fn Countdown(deadline_ms: i64, now: Signal<i64>) -> impl IntoView {
    let left = move || deadline_ms - now.get();
    view! {
        <span class="countdown" class:urgent=move || is_urgent(left()) role="timer" data-deadline=deadline_ms
            aria-label=move || format!("time left {}", countdown(left()))>
            {move || countdown(left())}
        </span>
    }
}

/// Keeps every [`Countdown`] of a page rendered on the server ticking: one timer for the
/// page, from the server's `server_now_ms` (so the browser's clock being off does not
/// matter). Renders nothing.
#[island]
pub fn Countdowns(server_now_ms: i64) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        let offset = server_now_ms - js_sys::Date::now() as i64;
        let tick = move || {
            let now = js_sys::Date::now() as i64 + offset;
            for el in crate::app::browser::select_all("span.countdown[data-deadline]") {
                let Some(deadline) = el
                    .get_attribute("data-deadline")
                    .and_then(|d| d.parse::<i64>().ok())
                else {
                    continue;
                };
                let left = deadline - now;
                let text = countdown(left);
                if el.text_content().as_deref() != Some(text.as_str()) {
                    el.set_text_content(Some(&text));
                    let _ = el.set_attribute("aria-label", &format!("time left {text}"));
                }
                let _ = el.class_list().toggle_with_force("urgent", is_urgent(left));
            }
        };
        Effect::new(move |_| {
            if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
                on_cleanup(move || handle.clear());
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = server_now_ms;
}

/// Text in which `backticks` mark code (rule names, tools, phrases to type), with those
/// parts shown as code and the backticks dropped; everything else as text.
pub fn with_code(text: &str) -> impl IntoView {
    text.split('`')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(i, part)| {
            let part = part.to_string();
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view()
}

/// A wide table in a box of its own that scrolls sideways, so the page never does; it
/// takes focus, so the keyboard scrolls it too.
#[component]
pub fn ScrollBox(#[prop(into)] label: String, children: Children) -> impl IntoView {
    view! { <div class="table-scroll" tabindex="0" role="region" aria-label=label>{children()}</div> }
}

/// Untrusted text: escaped (as all text is), invisible characters shown, isolated from
/// the text around it, and cut with an expander when long.
#[component]
pub fn LongText(text: String) -> impl IntoView {
    let text = crate::domain::inbox::visible(&text);
    if text.chars().count() <= SHOWN_CHARS {
        return view! { <span class="agent-text">{text}</span> }.into_any();
    }
    let short = truncate(&text, SHOWN_CHARS);
    let size = crate::domain::inbox::size_label(text.len());
    view! {
        <details class="long-text">
            <summary><span class="agent-text">{short}</span> " " <span class="more">{format!("Show all ({size})")}</span></summary>
            <span class="agent-text">{text}</span>
        </details>
    }
    .into_any()
}

/// Keeps a page rendered on the server up to date: whenever the event stream at `events`
/// sends one of `kinds` (or asks to resync), loads the page again and puts its parts
/// marked `data-live` in place of the current ones — except a part someone is working in
/// (focus in it, or a field changed): then it says the page changed instead. Renders that
/// notice only. The browser's `EventSource` reconnects by itself after a network error.
#[island]
pub fn LiveParts(events: String, kinds: Vec<String>) -> impl IntoView {
    let stale = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::{closure::Closure, JsCast};
        let Ok(source) = web_sys::EventSource::new(&events) else {
            return;
        };
        let on_event = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |_| {
            leptos::task::spawn_local(live::refresh(stale));
        });
        for kind in kinds.iter().map(String::as_str).chain(["resync"]) {
            let _ =
                source.add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref());
        }
        let keep = send_wrapper::SendWrapper::new((source, on_event));
        on_cleanup(move || keep.take().0.close());
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (events, kinds);
    view! {
        <p class="notice live-stale" role="status" hidden=move || !stale.get()>
            "This page changed while you were working in it. "
            <a href="">"Load the new version"</a>
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod live {
    use crate::app::browser::{fetch_document, select_all};
    use leptos::prelude::*;

    /// Loads the page again and replaces its live parts; updates that arrive meanwhile
    /// are folded into one more.
    pub async fn refresh(stale: RwSignal<bool>) {
        thread_local! {
            static STATE: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
        }
        if STATE.get().0 {
            STATE.set((true, true));
            return;
        }
        loop {
            STATE.set((true, false));
            let url = window().location().href().unwrap_or_default();
            if let Some(fresh) = fetch_document(&url).await {
                for part in select_all("[data-live]") {
                    let name = part.get_attribute("data-live").unwrap_or_default();
                    let Ok(Some(new)) = fresh.query_selector(&format!("[data-live=\"{name}\"]"))
                    else {
                        continue;
                    };
                    if part.inner_html() == new.inner_html() {
                        continue;
                    }
                    if in_use(&part) {
                        stale.set(true);
                    } else {
                        part.set_inner_html(&new.inner_html());
                    }
                }
            }
            if !STATE.get().1 {
                STATE.set((false, false));
                return;
            }
        }
    }

    /// Whether someone is working in `part`: the focus is in it, or a field in it no
    /// longer holds what the page came with.
    fn in_use(part: &web_sys::Element) -> bool {
        let focused = document()
            .active_element()
            .is_some_and(|el| part.contains(Some(&el)));
        let get = |el: &web_sys::Element, name: &str| js_sys::Reflect::get(el, &name.into()).ok();
        let changed = part
            .query_selector_all("input, textarea")
            .ok()
            .map(|list| {
                (0..list.length()).filter_map(|i| list.item(i)).any(|node| {
                    let el: &web_sys::Element = wasm_bindgen::JsCast::unchecked_ref(&node);
                    get(el, "value") != get(el, "defaultValue")
                        || get(el, "checked") != get(el, "defaultChecked")
                })
            })
            .unwrap_or(false);
        focused || changed
    }
}

/// Whether a key event came from a text field (where shortcuts must not fire).
#[cfg(feature = "hydrate")]
pub fn typing_in_field(ev: &web_sys::KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .map(|el| match el.tag_name().as_str() {
            // A ticked box keeps the focus: the keys still work there.
            "INPUT" => !matches!(
                el.get_attribute("type").as_deref(),
                Some("checkbox" | "radio" | "button" | "submit" | "reset")
            ),
            "TEXTAREA" | "SELECT" => true,
            _ => el.is_content_editable(),
        })
        .unwrap_or(false)
        || ev.ctrl_key()
        || ev.meta_key()
        || ev.alt_key()
}

/// Text escaped for the inside of a `<textarea>` (set as its inner HTML). A textarea's
/// content must never be written unescaped: `</textarea>` in agent-supplied arguments
/// would otherwise end the field and inject markup into the page.
pub fn textarea_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A moment, for people: in the viewer's time zone and relative to now ("14:02 · 3 min
/// ago", "in 12 min"), the exact UTC time on hover. The server renders the UTC time (it
/// does not know the viewer's zone); the browser rewrites it once hydrated, and keeps the
/// relative part fresh. An island of its own where the page around it has none.
#[island]
pub fn Time(
    /// RFC 3339.
    at: String,
) -> impl IntoView {
    // The server renders the exact UTC time; the browser (without chrono, which would
    // weigh on the bundle) rewrites it in the viewer's zone once hydrated.
    #[cfg(not(feature = "hydrate"))]
    let (exact, first) = {
        let parsed = chrono::DateTime::parse_from_rfc3339(&at).ok();
        let shown = |format: &str| {
            parsed
                .map(|d| d.with_timezone(&chrono::Utc).format(format).to_string())
                .unwrap_or_else(|| at.clone())
        };
        (shown("%Y-%m-%d %H:%M:%S UTC"), shown("%Y-%m-%d %H:%M UTC"))
    };
    #[cfg(feature = "hydrate")]
    let (exact, first) = (at.clone(), at.clone());
    let text = RwSignal::new(first);
    #[cfg(feature = "hydrate")]
    {
        let ms = js_sys::Date::parse(&at);
        if ms.is_finite() {
            let ms = ms as i64;
            let render = move || {
                let now = js_sys::Date::now() as i64;
                text.set(format!(
                    "{} · {}",
                    local_time(ms, now),
                    crate::domain::inbox::relative(ms - now)
                ));
            };
            Effect::new(move |_| {
                render();
                if let Ok(handle) =
                    set_interval_with_handle(render, std::time::Duration::from_secs(30))
                {
                    on_cleanup(move || handle.clear());
                }
            });
        }
    }
    view! { <time class="moment" datetime=at title=exact>{move || text.get()}</time> }
}

/// `ms` in the browser's time zone: the time of day when it is today, else the date too.
#[cfg(feature = "hydrate")]
fn local_time(ms: i64, now: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let today = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(now as f64));
    let time = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    let same_day = date.get_full_year() == today.get_full_year()
        && date.get_month() == today.get_month()
        && date.get_date() == today.get_date();
    if same_day {
        time
    } else {
        format!(
            "{}-{:02}-{:02} {time}",
            date.get_full_year(),
            date.get_month() + 1,
            date.get_date()
        )
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use leptos::prelude::*;

    #[test]
    fn backticked_text_is_shown_as_code_and_everything_escaped() {
        for (text, html) in [
            (
                "gate `vacuum` — 1 approver",
                "gate <code>vacuum</code> — 1 approver",
            ),
            ("no code", "no code"),
            ("`a``b`", "<code>a</code><code>b</code>"),
            ("one ` left open", "one <code> left open</code>"),
            ("`<b>`", "<code>&lt;b&gt;</code>"),
        ] {
            let rendered = super::with_code(text).to_html();
            // Leptos marks text boundaries with comments; only the markup matters here.
            let mut plain = rendered.replace("<!>", "");
            while let Some(start) = plain.find("<!--") {
                let end = plain[start..]
                    .find("-->")
                    .map_or(plain.len(), |e| start + e + 3);
                plain.replace_range(start..end, "");
            }
            assert_eq!(plain, html, "{text}");
        }
    }
}

/// A destructive action behind a second step: `summary` opens it, the form inside does it
/// (no script needed; a slip of the finger does nothing).
#[component]
pub fn Confirm(summary: &'static str, children: Children) -> impl IntoView {
    view! {
        <details class="confirm">
            <summary class="button small secondary">{summary}</summary>
            <div class="confirm-body">{children()}</div>
        </details>
    }
}
