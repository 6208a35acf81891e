//! `/login`: the sign-in form. A plain HTML form underneath, so it works without JavaScript.

use crate::app::session::{use_session, SignIn};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;

/// Sends signed-in people home and a fresh install to first-run setup.
#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let setup_needed = Resource::new(|| (), |_| crate::app::session::needs_setup());
    view! {
        <Title text="Sign in · askfirst" />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let user = session.user.await;
                let setup = setup_needed.await;
                match (user, setup) {
                    (Ok(Some(_)), _) => view! { <Redirect path="/" /> }.into_any(),
                    (_, Ok(true)) => view! { <Redirect path="/setup" /> }.into_any(),
                    _ => view! { <SignInForm /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignInForm() -> impl IntoView {
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
        <section class="card narrow">
            <h1>"Sign in to askfirst"</h1>
            <ActionForm action=sign_in>
                <label for="username">"Username"</label>
                <input id="username" name="username" autocomplete="username" required autofocus maxlength="64" />
                <PasswordField id="password" name="password" label="Password" autocomplete="current-password" />
                {error}
                <button type="submit" disabled=move || pending.get()>"Sign in"</button>
            </ActionForm>
        </section>
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
