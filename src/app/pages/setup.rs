//! `/setup`: the first-run page. It exists only while askfirst has nobody in it, and
//! creates the first admin (then signs them in).

use super::{login::PasswordField, not_found::NotFound};
use crate::app::session::needs_setup;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// Creates the first admin account and signs it in. Needs the one-time token of the setup
/// link the server printed at start (403 without it); refused (409) once anybody exists.
#[server(prefix = "/rpc", endpoint = "create_first_admin")]
pub async fn create_first_admin(
    username: String,
    password: String,
    password_confirm: String,
    token: Option<String>,
) -> Result<(), AppError> {
    use crate::auth::{guard, service, token as tokens};
    let state = guard::state()?;
    let expected = state.settings.setup_token.as_deref().unwrap_or_default();
    let given = token.unwrap_or_default();
    // Compared as hashes: equal-length strings, so the comparison's time says nothing.
    if expected.is_empty() || tokens::hash(given.trim()) != tokens::hash(expected) {
        return Err(AppError::Forbidden(
            "open the setup link the server printed when it started: it carries a one-time \
             token"
                .into(),
        ));
    }
    if password != password_confirm {
        return Err(AppError::Invalid("the two passwords differ".into()));
    }
    // With passwords off, the first admin can only be one that may keep using one.
    if let service::Passwords::BreakGlassOnly(names) = &state.settings.passwords {
        let name = username.trim().to_lowercase();
        if !names.contains(&name) {
            return Err(AppError::Invalid(format!(
                "passwords are off here (--oidc-only): the first admin must be a break-glass \
                 account ({})",
                if names.is_empty() {
                    "none is named: start with --break-glass NAME".into()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    service::create_first_admin(&state.pool, state.clock.as_ref(), &username, &password).await?;
    let signed_in = service::sign_in(
        &state.pool,
        state.clock.as_ref(),
        &state.limiter,
        &state.settings.passwords,
        state.settings.session_ttl,
        &username,
        &password,
        "setup",
    )
    .await?;
    crate::app::session::set_session_cookie(&signed_in.token, &state);
    leptos_axum::redirect("/");
    Ok(())
}

/// The first-run page, or a 404 once set up.
#[component]
pub fn SetupPage() -> impl IntoView {
    view! {
        <Title text="Set up · askfirst" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match needs_setup().await {
                    Ok(true) => view! { <SetupForm /> }.into_any(),
                    _ => view! { <NotFound /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SetupForm() -> impl IntoView {
    let setup = ServerAction::<CreateFirstAdmin>::new();
    let token = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("token")
        .unwrap_or_default();
    let has_token = !token.is_empty();
    let error = move || {
        setup
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
    };
    view! {
        <section class="card narrow">
            <h1>"Welcome to askfirst"</h1>
            <p>
                "Nobody has an account yet. Create the first administrator: they can then add "
                "the people who approve agents' calls."
            </p>
            {(!has_token).then(|| view! {
                <p class="warn" role="status">
                    "Open the setup link the server printed when it started (in its terminal and its log): "
                    "it carries a one-time token, so nobody else who can reach this page can take it."
                </p>
            })}
            <ActionForm action=setup>
                <input type="hidden" name="token" value=token />
                <label for="username">"Admin username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus maxlength="64" />
                <PasswordField id="password" name="password" label="Password (at least 8 characters)" autocomplete="new-password" />
                <label for="password_confirm">"Repeat the password"</label>
                <input id="password_confirm" name="password_confirm" type="password" autocomplete="new-password" required maxlength="256" />
                {error}
                <button type="submit">"Create admin and sign in"</button>
            </ActionForm>
        </section>
    }
}
