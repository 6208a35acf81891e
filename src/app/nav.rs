//! The header: product name, the navigation the signed-in role may use, and sign-out.

use super::session::use_session;
use crate::domain::nav::nav_for;
use leptos::prelude::*;
use leptos_router::components::A;

/// The site header. Shows navigation only to signed-in people, filtered by role.
#[component]
pub fn Header() -> impl IntoView {
    // The server functions are awaited directly, not through resources: the header is
    // rendered on the server only, so nothing needs their values serialised, and the
    // page's own `<Suspense>` no longer shares the session resource with it.
    view! {
        <header class="site-header">
            <a class="brand" href="/">"askfirst"</a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match super::session::get_current_user().await {
                        Ok(Some(user)) => {
                            let count = crate::app::pages::reviews::reviews_count()
                                .await
                                .ok()
                                .flatten()
                                .filter(|n| *n > 0);
                            let role = user.role;
                            let links = move || {
                                nav_for(role)
                                    .map(|item| {
                                        let badge = (item.href == "/reviews")
                                            .then_some(count)
                                            .flatten()
                                            .map(|n| view! { " " <span class="count nav-count" aria-label=format!("{n} waiting")>{n}</span> });
                                        view! { <li><A href=item.href>{item.label}{badge}</A></li> }
                                    })
                                    .collect_view()
                            };
                            // A row of links on a wide screen; on a narrow one a menu (no
                            // script: a `<details>`), so every page is two taps away.
                            view! {
                                <nav aria-label="Main" class="nav-wide">
                                    <ul>{links()}</ul>
                                </nav>
                                <details class="nav-narrow">
                                    <summary>"Menu"</summary>
                                    <nav aria-label="Main">
                                        <ul>{links()}</ul>
                                    </nav>
                                </details>
                                <div class="whoami">
                                    <A href="/account" attr:class="username" attr:title="Your account">{user.username.clone()}</A>
                                    <span class=format!("role role-{}", user.role)>{user.role.as_str()}</span>
                                    <SignOutButton />
                                </div>
                            }
                                .into_any()
                        }
                        _ => ().into_any(),
                    }
                })}
            </Transition>
        </header>
    }
}

/// A sign-out button (a form, so it works without JavaScript too).
#[component]
pub fn SignOutButton() -> impl IntoView {
    let session = use_session();
    view! {
        <ActionForm action=session.sign_out attr:class="inline">
            <button type="submit" class="secondary">"Sign out"</button>
        </ActionForm>
    }
}
