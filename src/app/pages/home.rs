//! The signed-in home page: who you are, what your role lets you do, and sign-out.

use crate::app::widgets::Time;
use crate::app::{nav::SignOutButton, session::use_session};
use crate::domain::{nav::nav_for, AppError, UserView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

/// `/`: sends anonymous visitors to sign in.
#[component]
pub fn HomePage() -> impl IntoView {
    let session = use_session();
    view! {
        <Title text="Home · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match session.user.await {
                    Ok(Some(user)) => view! { <Home user /> }.into_any(),
                    Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Home(user: UserView) -> impl IntoView {
    let pages = nav_for(user.role)
        .filter(|item| item.href != "/")
        .map(|item| view! { <li><a href=item.href>{item.label}</a></li> })
        .collect_view();
    let has_pages = nav_for(user.role).any(|item| item.href != "/");
    view! {
        <section class="card">
            <h1>"Signed in as " <span class="username">{user.username.clone()}</span></h1>
            <dl class="facts">
                <dt>"Role"</dt>
                <dd>
                    <span class=format!("role role-{}", user.role)>{user.role.as_str()}</span>
                    " — "
                    {user.role.describe()}
                </dd>
                <dt>"Account created"</dt>
                <dd><Time at=user.created_at.clone() /></dd>
            </dl>
            <Show when=move || has_pages>
                <h2>"Your pages"</h2>
                <ul class="links">{pages.clone()}</ul>
            </Show>
            <SignOutButton />
        </section>
    }
}

/// A short, readable error in place of a page's content.
#[component]
pub fn ErrorNote(error: AppError) -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Something went wrong"</h1>
            <p role="alert" class="error">{error.to_string()}</p>
        </section>
    }
}

/// What a page shows when its data could not be loaded: the sign-in page for someone signed
/// out, otherwise the error — answered with its HTTP status when rendered on the server.
pub fn page_error(error: AppError) -> AnyView {
    match error {
        AppError::Unauthenticated => {
            // On the server a redirect; in an island (a session that ended meanwhile) a
            // page load.
            #[cfg(feature = "ssr")]
            return view! { <leptos_router::components::Redirect path="/login" /> }.into_any();
            #[cfg(not(feature = "ssr"))]
            {
                crate::app::browser::go_to("/login");
                ().into_any()
            }
        }
        error => {
            #[cfg(feature = "ssr")]
            if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
                res.set_status(
                    http::StatusCode::from_u16(error.status())
                        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
                );
            }
            view! { <ErrorNote error /> }.into_any()
        }
    }
}
