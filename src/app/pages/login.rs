//! `/login`: the sign-in form. A plain HTML form underneath, so it works without JavaScript.

use crate::app::session::{
    get_current_user, needs_setup, provider_sign_out, sign_in_options, SignIn,
};
use crate::domain::sign_in::{local_path, SignInChoices, SignInFailure};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::Redirect;

/// Sends signed-in people home and a fresh install to first-run setup.
#[component]
pub fn LoginPage() -> impl IntoView {
    let failure = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("oidc_error")
        .and_then(|e| SignInFailure::parse(&e));
    view! {
        <Title text="Sign in · askfirst" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let user = get_current_user().await;
                let setup = needs_setup().await;
                let options = sign_in_options().await.unwrap_or_default();
                match (user, setup) {
                    (Ok(Some(_)), _) => view! { <Redirect path="/" /> }.into_any(),
                    (_, Ok(true)) => view! { <Redirect path="/setup" /> }.into_any(),
                    _ => view! { <SignInForm options failure /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/auth/continue?next=…`: where a sign-in with the OpenID provider lands. A page of this
/// site sends the browser on (a same-site navigation, so the session cookie, which is
/// `SameSite=Strict`, goes with it); without a refresh, the link does.
#[component]
pub fn ContinuePage() -> impl IntoView {
    let next = local_path(
        leptos_router::hooks::use_query_map()
            .get_untracked()
            .get("next")
            .as_deref(),
    );
    view! {
        <Title text="Signed in · askfirst" />
        <Meta http_equiv="refresh" content=format!("0;url={next}") />
        <section class="card narrow">
            <h1>"Signed in"</h1>
            <p><a href=next>"Continue to askfirst"</a></p>
        </section>
    }
}

/// `/signed-out`: an account of the OpenID provider signed out here; the provider's own
/// session ends next (its sign-out page), when it offers that.
#[component]
pub fn SignedOutPage() -> impl IntoView {
    view! {
        <Title text="Signed out · askfirst" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match provider_sign_out().await.ok().flatten() {
                    Some((label, url)) => view! {
                        <Meta http_equiv="refresh" content=format!("0;url={url}") />
                        <section class="card narrow">
                            <h1>"Signed out of askfirst"</h1>
                            <p>"Now signing you out of " {label.clone()} "…"</p>
                            <p><a href=url>"Sign out of " {label}</a>" · "<a href="/login">"Back to sign-in"</a></p>
                        </section>
                    }.into_any(),
                    None => view! {
                        <section class="card narrow">
                            <h1>"Signed out of askfirst"</h1>
                            <p><a href="/login">"Sign in again"</a></p>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignInForm(options: SignInChoices, failure: Option<SignInFailure>) -> impl IntoView {
    let label = options.provider.clone().unwrap_or_default();
    let failure = failure.map(|f| view! { <p class="error" role="alert">{f.message(&label)}</p> });
    let provider = options.provider.clone().map(|label| {
        view! {
            <a class="button provider" href="/auth/oidc/start">"Sign in with " {label}</a>
        }
    });
    // With the provider's button first, the password form is the second way in.
    let second = options.provider.is_some();
    let form = view! { <PasswordForm second /> };
    // The break-glass form opens again when it just failed, so its error is seen.
    let failed = crate::app::forms::error_of::<SignIn>().is_some();
    let passwords = match (&options.provider, options.passwords_for_all) {
        (None, _) => form.into_any(),
        (Some(_), true) => view! {
            <p class="or">"or with a password"</p>
            {form}
        }
        .into_any(),
        (Some(_), false) => view! {
            <details class="break-glass" open=failed>
                <summary>"Emergency sign-in (break-glass account)"</summary>
                <p class="hint">"Passwords are off here except for the accounts kept for when the identity provider is down. Each use is recorded in the audit log."</p>
                {form}
            </details>
        }
        .into_any(),
    };
    view! {
        <section class="card narrow">
            <h1>"Sign in to askfirst"</h1>
            {failure}
            {provider}
            {passwords}
        </section>
    }
}

/// The username and password form; `second` when another way in comes first (no
/// autofocus, a secondary button).
#[component]
fn PasswordForm(second: bool) -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || {
        sign_in
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
    };
    let pending = sign_in.pending();
    view! {
            <ActionForm action=sign_in>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus=!second maxlength="64" />
                <PasswordField id="password" name="password" label="Password" autocomplete="current-password" />
                {error}
                <button type="submit" class:secondary=second disabled=move || pending.get()>
                    {if second { "Sign in with password" } else { "Sign in" }}
                </button>
            </ActionForm>
    }
}

/// A password input with a show/hide toggle: an island (the toggle needs the WebAssembly
/// to run; the field works without it).
#[island]
pub fn PasswordField(
    #[prop(into)] id: String,
    #[prop(into)] name: String,
    #[prop(into)] label: String,
    #[prop(into)] autocomplete: String,
) -> impl IntoView {
    let (shown, set_shown) = signal(false);
    view! {
        <label for=id.clone()>{label}</label>
        <div class="password">
            <input
                id=id.clone()
                name=name
                type=move || if shown.get() { "text" } else { "password" }
                autocomplete=autocomplete
                required
                maxlength="256"
            />
            <button
                type="button"
                class="secondary toggle"
                aria-controls=id
                aria-pressed=move || shown.get().to_string()
                on:click=move |_| set_shown.update(|s| *s = !*s)
            >
                {move || if shown.get() { "Hide" } else { "Show" }}
            </button>
        </div>
    }
}
