//! The browser app: the HTML shell, routes, and the pages with their server functions.
//!
//! Pages are rendered on the server only (the browser hydrates the islands inside them),
//! so a page reads its data by awaiting its server functions inside `Suspend`, never
//! through a `Resource`: nothing needs the values serialised into the page, and with
//! several `Suspense` boundaries sharing resources Leptos' server rendering could lose a
//! wake-up and leave a page request unanswered (`tests/http/render_stress.rs`).

pub mod browser;
pub mod forms;
pub mod nav;
pub mod pages;
pub mod session;
pub mod shown_once;
pub mod widgets;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};
use session::Session;

/// The whole HTML document, rendered on the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    page_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="stylesheet" href="/pkg/askfirst.css" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="manifest" href="/manifest.webmanifest" />
                <link rel="apple-touch-icon" href="/icons/icon-192.png" />
                <meta name="theme-color" content="#1f4e79" />
                <script src="/register-sw.js" defer></script>
                <AutoReload options=options.clone() />
                {page_bundle().map(|bundle| {
                    let mut options = options.clone();
                    options.output_name = bundle.output_name().into();
                    view! { <HydrationScripts options islands=true /> }
                })}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The bundle the requested page's islands are in; `None` for a page without islands,
/// which then loads no WebAssembly at all.
fn page_bundle() -> Option<Bundle> {
    #[cfg(feature = "ssr")]
    {
        let path = use_context::<http::request::Parts>()?
            .uri
            .path()
            .to_string();
        Bundle::for_path(&path)
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// The two browser bundles. The approver's (every page's small islands) stays within the
/// first-load budget; the console's adds the policy editor's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundle {
    Approver,
    Console,
}

impl Bundle {
    /// Which bundle the page at `path` needs, if any (one line per route in [`Layout`]).
    pub fn for_path(path: &str) -> Option<Bundle> {
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match first {
            "" | "inbox" | "calls" | "login" | "setup" | "account" | "history" | "audit"
            | "people" | "agents" | "bypasses" | "reviews" | "insights" | "notifications" => {
                Some(Bundle::Approver)
            }
            "policy" => Some(Bundle::Console),
            _ => None,
        }
    }

    /// The file name its script and wasm are published under in `/pkg`.
    pub fn output_name(self) -> &'static str {
        match self {
            Bundle::Approver => "askfirst",
            Bundle::Console => "askfirst_console",
        }
    }
}

/// Gives this page the script nonce minted for its request; the server's middleware sends
/// the Content-Security-Policy allowing exactly it.
#[cfg(feature = "ssr")]
fn page_csp() {
    use crate::server::middleware::PageNonce;
    use leptos::nonce::{provide_nonce, Nonce};
    let minted = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<PageNonce>().cloned());
    match minted {
        Some(PageNonce(nonce)) => provide_context(Nonce::from_value(nonce)),
        // Rendering without a request (never in the server): a nonce nobody allows.
        None => provide_nonce(),
    }
}

/// The application: the router, and everything inside it. Rendered on the server only:
/// the browser hydrates the islands inside it, never the whole.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="askfirst" />
        <Router>
            <Layout />
        </Router>
    }
}

/// Session state, header and routes. Lives inside the router so that form errors carried
/// in the URL (how a server function reports back without JavaScript) reach the actions.
#[component]
fn Layout() -> impl IntoView {
    provide_context(Session::new());
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <nav::Header />
        <main id="main">
            <Routes fallback=|| view! { <pages::not_found::NotFound /> }>
                <Route path=path!("/") view=pages::home::HomePage ssr=SsrMode::Async />
                <Route path=path!("/login") view=pages::login::LoginPage ssr=SsrMode::Async />
                <Route path=path!("/auth/continue") view=pages::login::ContinuePage ssr=SsrMode::Async />
                <Route path=path!("/signed-out") view=pages::login::SignedOutPage ssr=SsrMode::Async />
                <Route path=path!("/setup") view=pages::setup::SetupPage ssr=SsrMode::Async />
                <Route path=path!("/people") view=pages::people::PeoplePage ssr=SsrMode::Async />
                <Route path=path!("/policy") view=pages::policy::PolicyPage ssr=SsrMode::Async />
                <Route path=path!("/agents") view=pages::agents::AgentsPage ssr=SsrMode::Async />
                <Route path=path!("/account") view=pages::account::AccountPage ssr=SsrMode::Async />
                <Route path=path!("/inbox") view=pages::inbox::InboxPage ssr=SsrMode::Async />
                <Route path=path!("/calls/:id") view=pages::call::CallPage ssr=SsrMode::Async />
                <Route path=path!("/history") view=pages::history::HistoryPage ssr=SsrMode::Async />
                <Route path=path!("/bypasses") view=pages::bypasses::BypassesPage ssr=SsrMode::Async />
                <Route path=path!("/bypasses/:id") view=pages::bypasses::BypassPageView ssr=SsrMode::Async />
                <Route path=path!("/reviews") view=pages::reviews::ReviewsPage ssr=SsrMode::Async />
                <Route path=path!("/insights") view=pages::insights::InsightsPage ssr=SsrMode::Async />
                <Route path=path!("/audit") view=pages::audit::AuditPage ssr=SsrMode::Async />
                <Route path=path!("/notifications") view=pages::notifications::NotificationsPage ssr=SsrMode::Async />
            </Routes>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::Bundle;

    #[test]
    fn each_page_loads_the_bundle_its_islands_are_in() {
        for (path, bundle) in [
            ("/", Some(Bundle::Approver)),
            ("/inbox", Some(Bundle::Approver)),
            ("/calls/0190-abc", Some(Bundle::Approver)),
            ("/login", Some(Bundle::Approver)),
            ("/history", Some(Bundle::Approver)),
            ("/policy", Some(Bundle::Console)),
            ("/bypasses/3", Some(Bundle::Approver)),
            ("/people", Some(Bundle::Approver)),
            ("/account", Some(Bundle::Approver)),
            ("/audit", Some(Bundle::Approver)),
            ("/setup", Some(Bundle::Approver)),
            ("/no-such-page", None),
        ] {
            assert_eq!(Bundle::for_path(path), bundle, "{path}");
        }
    }
}
