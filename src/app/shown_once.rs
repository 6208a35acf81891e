//! Secrets shown once — a new agent's key and webhook secret, a rotated one, a channel's
//! signing secret — carried across a plain form's redirect to the page that shows them:
//! sealed under the secrets key and bound to the session and the page, in a cookie for
//! that page only (`HttpOnly`, `SameSite=Strict`, two minutes), cleared by the page that
//! shows it. Never in the URL (history, logs) and never stored in the database.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a form made that is shown once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShownOnce {
    /// What happened, in a sentence.
    pub said: String,
    /// The secrets: label and value.
    pub secrets: Vec<(String, String)>,
}

#[cfg(feature = "ssr")]
const COOKIE: &str = "askfirst_once";

/// How long a secret waits for its page.
#[cfg(feature = "ssr")]
const MAX_AGE_SECS: u32 = 120;

/// What the secret is bound to: this page, this session.
#[cfg(feature = "ssr")]
fn label(page: &str, session: &str) -> String {
    format!("shown-once:{page}:{session}")
}

/// What the cookie holds, sealed: the secrets and when they were made (the server, not
/// only the browser, refuses them once they are older than [`MAX_AGE_SECS`]).
#[cfg(feature = "ssr")]
#[derive(Serialize, Deserialize)]
struct Sealed {
    made_ms: i64,
    shown: ShownOnce,
}

/// Hands `shown` to `page`, which the form that made it comes back to (called by the
/// server function that made the secrets). Only for a plain form: a script calling the
/// server function has the secrets in its answer.
#[cfg(feature = "ssr")]
pub fn hand_over(page: &'static str, shown: &ShownOnce) -> Result<(), crate::domain::AppError> {
    use crate::auth::guard;
    use crate::domain::AppError;
    if !crate::app::forms::is_plain_form() {
        return Ok(());
    }
    let state = guard::state()?;
    let session = guard::request_token().ok_or(AppError::Unauthenticated)?;
    let sealed = Sealed {
        made_ms: crate::clock::to_millis(state.clock.now()),
        shown: shown.clone(),
    };
    let json = serde_json::to_vec(&sealed).map_err(|e| AppError::Internal(e.to_string()))?;
    let sealed = state
        .notifier
        .secrets_key()
        .seal(&label(page, &session), &json)?;
    set_cookie(page, &sealed, MAX_AGE_SECS, state.settings.secure_cookies);
    Ok(())
}

/// What was handed to `page` for this session, if anything; the cookie is cleared either
/// way, so a reload shows nothing.
#[cfg(feature = "ssr")]
pub fn take(page: &'static str) -> Option<ShownOnce> {
    use crate::auth::guard;
    let parts = use_context::<http::request::Parts>()?;
    let sealed = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())?;
    let state = guard::state().ok()?;
    set_cookie(page, "", 0, state.settings.secure_cookies);
    let session = guard::request_token()?;
    let plain = state
        .notifier
        .secrets_key()
        .unseal(&label(page, &session), &sealed)
        .ok()?;
    let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
    let age_ms = crate::clock::to_millis(state.clock.now()) - sealed.made_ms;
    if !(0..=i64::from(MAX_AGE_SECS) * 1000).contains(&age_ms) {
        return None;
    }
    // A page with a secret on it is kept in no cache.
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.insert_header(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
    }
    Some(sealed.shown)
}

#[cfg(feature = "ssr")]
fn set_cookie(page: &str, value: &str, max_age: u32, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={value}; Path={page}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    if let (Some(res), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        res.append_header(http::header::SET_COOKIE, value);
    }
}

/// The secrets handed to this page, each with a button that copies it.
#[component]
pub fn SecretsShownOnce(shown: Option<ShownOnce>) -> impl IntoView {
    shown.map(|shown| {
        let secrets = shown
            .secrets
            .into_iter()
            .map(|(label, value)| {
                view! {
                    <div class="secret">
                        <label>{label.clone()} ": " <input readonly value=value.clone() class="secret-value" aria-label=label /></label>
                        <CopyButton value />
                    </div>
                }
            })
            .collect_view();
        view! {
            <div class="secret-once" role="status">
                <p>{shown.said}</p>
                {secrets}
            </div>
        }
    })
}

/// Copies `value` to the clipboard (where the browser allows it).
#[island]
fn CopyButton(value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let navigator = js_sys::Reflect::get(&window(), &"navigator".into()).ok();
            let clipboard =
                navigator.and_then(|n| js_sys::Reflect::get(&n, &"clipboard".into()).ok());
            let write = clipboard
                .as_ref()
                .and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok())
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            if let (Some(c), Some(f)) = (clipboard, write) {
                let _ = f.call1(&c, &value.as_str().into());
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &value;
    };
    view! {
        <button type="button" class="small secondary" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
    }
}
