//! `/account`: everyone signed in changes their own password here (the current one is
//! required; their other sessions end). Someone whose password an admin set comes here
//! first.

use super::login::PasswordField;
use crate::app::session::get_current_user;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// Changes the signed-in person's password.
#[server(prefix = "/rpc", endpoint = "change_password")]
pub async fn change_password(
    current: String,
    password: String,
    password_confirm: String,
) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let me = guard::require_signed_in().await?;
    if password != password_confirm {
        return Err(AppError::Invalid("the two new passwords differ".into()));
    }
    let state = guard::state()?;
    let token = guard::request_token().ok_or(AppError::Unauthenticated)?;
    service::change_own_password(
        &state.pool,
        state.clock.as_ref(),
        &state.limiter,
        &me,
        &current,
        &password,
        &token,
        &crate::app::session::client_addr(),
    )
    .await?;
    // A plain form: back to the page, which then says it is done.
    leptos_axum::redirect("/account?done=password");
    Ok(())
}

/// The account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Account · askfirst" />
        <section class="card narrow">
            <h1>"Your account"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match get_current_user().await {
                        Ok(Some(user)) if user.oidc_subject.is_some() => view! {
                            <p>"Signed in as " <strong>{user.username.clone()}</strong> " (" {user.role.as_str()} ")."</p>
                            <p class="hint">"You sign in with your company's identity provider: your password and your groups (which give your role here) are kept there."</p>
                        }.into_any(),
                        Ok(Some(user)) => view! {
                            <p>"Signed in as " <strong>{user.username.clone()}</strong> " (" {user.role.as_str()} ")."</p>
                            {user.must_change_password.then(|| view! {
                                <p class="warning" role="alert">"An admin set your password. Choose your own before you continue."</p>
                            })}
                            <h2>"Change your password"</h2>
                            <ChangePasswordForm />
                        }.into_any(),
                        _ => view! { <leptos_router::components::Redirect path="/login" /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The change-password form, with its outcome: a plain form (the server comes back to
/// the page with `?done=password`, or with the error).
#[component]
fn ChangePasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let done = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("done")
        .is_some_and(|d| d == "password");
    let result = match change.value().get_untracked() {
        Some(Err(e)) => Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any()),
        _ if done => Some(view! { <p class="ok" role="status">"Your password is changed; your other sessions have ended."</p> }.into_any()),
        _ => None,
    };
    view! {
        <ActionForm action=change>
            <PasswordField id="current-password" name="current" label="Current password" autocomplete="current-password" />
            <PasswordField id="new-password" name="password" label="New password" autocomplete="new-password" />
            <PasswordField id="confirm-password" name="password_confirm" label="New password again" autocomplete="new-password" />
            {result}
            <button type="submit">"Change password"</button>
        </ActionForm>
    }
}
