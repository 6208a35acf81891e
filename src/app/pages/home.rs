//! The signed-in home page: what needs you now (by your role), then who you are and
//! sign-out.

use crate::app::session::get_current_user;
use crate::app::widgets::{Countdown, Countdowns, Time};
use crate::domain::home::HomeData;
use crate::domain::inbox::tool_label;
use crate::domain::{AppError, UserView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

/// `/`: sends anonymous visitors to sign in.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="Home · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match get_current_user().await {
                    Ok(Some(user)) => view! { <Home user /> }.into_any(),
                    Ok(None) => view! { <Redirect path="/login" /> }.into_any(),
                    Err(e) => view! { <ErrorNote error=e /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What needs the signed-in person now. Any signed-in person.
#[server(prefix = "/rpc", endpoint = "home")]
pub async fn load_home() -> Result<HomeData, AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Viewer).await?;
    guard::state()?.gate.home(&user).await
}

/// "What needs me now": calls waiting on me (the soonest first), escalations to me,
/// sign-offs I may give, what approves calls without a person right now, and for a new
/// admin the first steps; then who I am.
#[component]
fn Home(user: UserView) -> impl IntoView {
    let me = user.clone();
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let user = me.clone();
                Suspend::new(async move {
                    match load_home().await {
                        Ok(home) => view! { <NeedsMe home user /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })
            }}
        </Suspense>
        <section class="card who">
            <h2>"Signed in as " <span class="username">{user.username.clone()}</span></h2>
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
            {if user.oidc_subject.is_some() {
                view! { <p class="hint"><a href="/account">"Your account"</a>": you sign in with your company's identity provider."</p> }.into_any()
            } else {
                view! { <p class="hint"><a href="/account">"Your account"</a>": change your password."</p> }.into_any()
            }}
        </section>
    }
}

#[component]
fn NeedsMe(home: HomeData, user: UserView) -> impl IntoView {
    use crate::domain::Role;
    let now = Signal::stored(home.now_ms);
    let approver = user.role.includes(Role::Approver);
    // Someone who only looks: what waits on the people who decide.
    let looking = (!approver).then(|| {
        let n = home.pending;
        view! {
            <li class="need">
                <h2>"Calls"</h2>
                {if n == 0 {
                    view! { <p class="need-main quiet">"No call is waiting for a decision."</p> }.into_any()
                } else {
                    view! { <p class="need-main"><a href="/inbox">{n} {if n == 1 { " call waits" } else { " calls wait" }} " on approvers"</a></p> }.into_any()
                }}
                <p class="hint">"You can look at every call; deciding needs the approver role."</p>
            </li>
        }
    });
    let calls = approver.then(|| {
        let line = match &home.soonest {
            Some(s) => view! {
                <p class="need-main">
                    <a href="/inbox" class="need-count">{home.waiting} {home.waiting_more.then_some("+")}
                        {if home.waiting == 1 && !home.waiting_more { " call waits" } else { " calls wait" }} " on you"</a>
                </p>
                <p>"Soonest: " <a href=format!("/calls/{}", s.id)><strong>{tool_label(&s.tool)}</strong> " from " {s.agent.clone()}</a>
                    " · " <Countdown deadline_ms=s.deadline_ms now /> " left"</p>
                <Countdowns server_now_ms=home.now_ms />
            }
            .into_any(),
            None => view! {
                <p class="need-main quiet">"No call waits on you."</p>
                <p class="hint">"New calls appear in the " <a href="/inbox">"inbox"</a> " as agents propose them."</p>
            }
            .into_any(),
        };
        view! {
            <li class="need">
                <h2>"Calls"</h2>
                {line}
                {(home.escalated > 0).then(|| view! {
                    <p class="escalated">{home.escalated} {if home.escalated == 1 { " of them was" } else { " of them were" }} " escalated to you: nobody decided in time."</p>
                })}
            </li>
        }
    });
    let signoffs = home.signoffs.map(|n| {
        view! {
            <li class="need">
                <h2>"Sign-offs"</h2>
                {if n == 0 {
                    view! { <p class="need-main quiet">"No bypass or policy change waits on you."</p> }.into_any()
                } else {
                    view! { <p class="need-main"><a href="/reviews" class="need-count">{n} {if n == 1 { " sign-off waits" } else { " sign-offs wait" }} " on you"</a></p> }.into_any()
                }}
            </li>
        }
    });
    let (b, g) = (home.active_bypasses, home.active_grants);
    let active = view! {
        <li class="need">
            <h2>"Approving without a person"</h2>
            {if b == 0 && g == 0 {
                view! { <p class="need-main quiet">"Nothing: every gated call waits for a person."</p> }.into_any()
            } else {
                view! {
                    <p class="need-main"><a href="/bypasses">
                        {format!("{b} bypass{} and {g} grant{} active", if b == 1 { "" } else { "es" }, if g == 1 { "" } else { "s" })}
                    </a></p>
                }.into_any()
            }}
        </li>
    };
    let setup = home.setup.map(|s| {
        let step = |done: bool, text: AnyView| {
            view! { <li class:done=done>{done.then(|| view! { <span class="visually-hidden">"Done: "</span> })}{text}</li> }
        };
        view! {
            <section class="card setup" aria-labelledby="setup-title">
                <h2 id="setup-title">"Next steps"</h2>
                <ol class="steps">
                    {step(s.agent, view! { <a href="/agents">"Create an agent"</a> " and copy its key: it is shown once." }.into_any())}
                    {step(s.first_call, view! { "Point the agent at askfirst: the " <a href="/api/v1/docs">"API reference"</a> " shows each request, or put " <code>"askfirst mcp proxy"</code> " in front of its tool server." }.into_any())}
                    {step(s.approvers, view! { <a href="/people">"Add the people who approve"</a> " (approvers), and managers for sign-offs." }.into_any())}
                    {step(false, view! { "Adjust what asks first on the " <a href="/policy">"policy"</a> " page." }.into_any())}
                </ol>
            </section>
        }
    });
    view! {
        <section class="card needs" aria-labelledby="needs-title">
            <h1 id="needs-title">"What needs you now"</h1>
            <ul class="needs-list">{looking}{calls}{signoffs}{active}</ul>
        </section>
        {setup}
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
