//! What a page rendered on the server says after one of its plain forms came back to it:
//! the error the server function sent back in the URL, or what the form did
//! (`?done=<server function>`, added by the server when the form worked).

use crate::domain::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// The error the server function `S` sent back to this page, if it was the last form.
pub fn error_of<S>() -> Option<AppError>
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    ServerAction::<S>::new()
        .value()
        .get_untracked()
        .and_then(|r| r.err())
}

/// The `done` of this page's URL: the server function whose form just worked.
pub fn done() -> Option<String> {
    leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("done")
}

/// The name of the server function `S` as it appears in `done`.
pub fn name_of<S: ServerFn>() -> &'static str {
    S::PATH.rsplit('/').next().unwrap_or_default()
}

/// What the last form did, where the person is looking: its error, or `ok` when it
/// worked. Nothing when the page was opened by a link.
#[component]
pub fn Outcome(
    /// The errors of the page's forms (at most one is there: the last form's).
    errors: Vec<Option<AppError>>,
    /// What to say when a form worked, if anything.
    ok: Option<String>,
) -> impl IntoView {
    let error = errors.into_iter().flatten().next();
    let ok = ok.filter(|_| error.is_none());
    view! {
        {error.map(|e| view! { <p class="error form-notice" role="alert">{e.to_string()}</p> })}
        {ok.map(|t| view! { <p class="ok form-notice" role="status">{t}</p> })}
    }
}

/// Whether the request being answered is a form posted without JavaScript (it asks for
/// a page back, not data).
#[cfg(feature = "ssr")]
pub fn is_plain_form() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

/// Sends a plain form back to the page it was on (the `Referer`, which the server has
/// already cleared of the last form's outcome) with `done=<name>` and details
/// (`done_<key>=<value>`), for a page that says more than that it worked.
#[cfg(feature = "ssr")]
pub fn come_back_with(name: &str, details: &[(&str, String)]) {
    let back = use_context::<http::request::Parts>()
        .and_then(|parts| {
            parts
                .headers
                .get(http::header::REFERER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .and_then(|referer| {
            // The path and query of the page (the server checked it is one of this site's).
            url::Url::parse(&referer)
                .ok()
                .map(|u| u[url::Position::BeforePath..].to_string())
                .or_else(|| referer.starts_with('/').then_some(referer))
        })
        .unwrap_or_else(|| "/".into());
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("done", name);
    for (key, value) in details {
        query.append_pair(&format!("done_{key}"), value);
    }
    let joint = if back.contains('?') { '&' } else { '?' };
    leptos_axum::redirect(&format!("{back}{joint}{}", query.finish()));
}
