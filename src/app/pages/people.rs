//! `/people` (admins): everyone who can sign in, and adding someone.

use super::{home::page_error, login::PasswordField};
use crate::app::widgets::Time;
use crate::domain::{AppError, Role, UserView};
use leptos::prelude::*;
use leptos_meta::Title;

/// Everyone with an account. Admins only.
#[server(prefix = "/rpc", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    use crate::auth::{guard, service};
    guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    let now_ms = crate::clock::to_millis(state.gate.clock.now());
    let mut people = service::list_users(&state.pool).await?;
    // A cooling-off that is over is not shown (decided here, so the page renders the same
    // on the server and in the browser).
    for person in &mut people {
        if person.standing.cooling(now_ms).is_none() {
            person.standing.cooling_until_ms = None;
        }
    }
    Ok(people)
}

/// How people sign in, as People shows it: the OpenID provider's label, and the
/// break-glass accounts with their last use.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SignInFacts {
    pub provider: Option<String>,
    /// `(username, last break-glass sign-in, RFC 3339)`.
    pub break_glass: Vec<(String, Option<String>)>,
}

/// How people sign in here. Admins only.
#[server(prefix = "/rpc", endpoint = "people_sign_in")]
pub async fn people_sign_in() -> Result<SignInFacts, AppError> {
    use crate::auth::{
        guard,
        service::{Passwords, BREAK_GLASS_KIND},
    };
    guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    let Passwords::BreakGlassOnly(names) = &state.settings.passwords else {
        return Ok(SignInFacts {
            provider: state.oidc.as_ref().map(|o| o.config.label.clone()),
            break_glass: Vec::new(),
        });
    };
    let used = crate::store::audit_query::latest_by_actor(&state.pool, BREAK_GLASS_KIND).await?;
    let break_glass = names
        .iter()
        .map(|name| {
            let actor = format!("user:{name}");
            let at = used
                .iter()
                .find(|(a, _)| *a == actor)
                .map(|(_, at)| crate::store::calls::rfc3339(*at));
            (name.clone(), at)
        })
        .collect();
    Ok(SignInFacts {
        provider: state.oidc.as_ref().map(|o| o.config.label.clone()),
        break_glass,
    })
}

/// Adds a person with a role. Admins only.
#[server(prefix = "/rpc", endpoint = "add_user")]
pub async fn add_user(
    username: String,
    password: String,
    role: Role,
) -> Result<UserView, AppError> {
    use crate::auth::{guard, service};
    let me = guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    let added = service::create_user(
        &state.pool,
        state.clock.as_ref(),
        service::Actor::Admin(&me),
        &username,
        &password,
        role,
    )
    .await?;
    // A plain form comes back to the list, which then says who was added.
    leptos_axum::redirect(&format!(
        "/people?done=add_user&done_who={}",
        added.username
    ));
    Ok(added)
}

/// Changes someone's role. Admins only; nobody can demote the last active admin, and an
/// admin cannot demote themselves.
#[server(prefix = "/rpc", endpoint = "set_user_role")]
pub async fn set_user_role(username: String, role: Role) -> Result<UserView, AppError> {
    use crate::auth::{guard, service};
    let me = guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    service::set_role(
        &state.pool,
        state.clock.as_ref(),
        service::Actor::Admin(&me),
        &username,
        role,
    )
    .await
}

/// Disables (`disabled` = true) or enables someone. Admins only; not the last active admin,
/// not oneself.
#[server(prefix = "/rpc", endpoint = "set_user_disabled")]
pub async fn set_user_disabled(username: String, disabled: bool) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let me = guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    service::set_disabled(
        &state.pool,
        state.clock.as_ref(),
        service::Actor::Admin(&me),
        &username,
        disabled,
    )
    .await
}

/// Sets a new password for someone; they must change it at their next sign-in. Admins only.
#[server(prefix = "/rpc", endpoint = "reset_user_password")]
pub async fn reset_user_password(username: String, password: String) -> Result<(), AppError> {
    use crate::auth::{guard, service};
    let me = guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    service::reset_password(
        &state.pool,
        state.clock.as_ref(),
        service::Actor::Admin(&me),
        &username,
        &password,
    )
    .await
}

/// The page, rendered on the server; its forms are plain forms that come back to it.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let added = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("done_who");
    view! {
        <Title text="People · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let added = added.clone();
                Suspend::new(async move {
                    let me = crate::app::session::get_current_user()
                        .await
                        .ok()
                        .flatten()
                        .map(|u| u.username);
                    let facts = people_sign_in().await.unwrap_or_default();
                    match list_users().await {
                        Ok(list) => view! { <People list added me facts /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })
            }}
        </Suspense>
    }
}

/// What sign-off eligibility is measured from, when it is not simply the account's age:
/// a role raised, an account enabled again, a password reset — and a reset's cooling-off.
#[component]
fn Standing(standing: crate::domain::user::Standing) -> impl IntoView {
    use crate::domain::user::QualifiedBy;
    let ms = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let since = match standing.by {
        QualifiedBy::Created => None,
        QualifiedBy::RoleRaised => Some("role raised"),
        QualifiedBy::Enabled => Some("enabled again"),
        QualifiedBy::PasswordReset => Some("password reset"),
    }
    .map(|what| {
        view! { <span class="standing">" · " {what} " " <Time at=ms(standing.since_ms) /> ": signs off only what is asked for after that"</span> }
    });
    let cooling = standing.cooling_until_ms.map(|until| {
        view! { <strong class="cooling">" · reset by an admin: signs nothing off until " <Time at=ms(until) /></strong> }
    });
    view! { {since} {cooling} }
}

#[component]
fn People(
    list: Vec<UserView>,
    added: Option<String>,
    me: Option<String>,
    facts: SignInFacts,
) -> impl IntoView {
    use crate::app::forms::{done, error_of, Outcome};
    let add = ServerAction::<AddUser>::new();
    let manage = (
        ServerAction::<SetUserRole>::new(),
        ServerAction::<SetUserDisabled>::new(),
        ServerAction::<ResetUserPassword>::new(),
    );
    // Who was just added, as the list says (not as the URL does).
    let added = added
        .and_then(|name| list.iter().find(|u| u.username == name))
        .map(|u| format!("Added {} as {}.", u.username, u.role.as_str()));
    let changed = done()
        .filter(|d| d != crate::app::forms::name_of::<AddUser>())
        .map(|_| "Saved.".to_string());
    let outcome = view! {
        <Outcome errors=vec![error_of::<SetUserRole>(), error_of::<SetUserDisabled>(), error_of::<ResetUserPassword>()]
            ok=changed />
    };
    let add_error =
        error_of::<AddUser>().map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> });
    let added = added.map(|t| view! { <p class="ok" role="status">{t}</p> });
    let provider = facts
        .provider
        .clone()
        .unwrap_or_else(|| "the identity provider".into());
    let rows = list
        .into_iter()
        .map(|u| {
            let (n1, n2, n3) = (u.username.clone(), u.username.clone(), u.username.clone());
            let oidc = u.oidc_subject.is_some();
            let how = if oidc {
                Some(view! { <span class="signs-in">" · signs in with " {provider.clone()}</span> }.into_any())
            } else {
                facts.break_glass.iter().find(|(n, _)| *n == u.username).map(|(_, used)| {
                    let used = match used {
                        Some(at) => view! { " · last used " <Time at=at.clone() /> }.into_any(),
                        None => view! { " · never used" }.into_any(),
                    };
                    view! { <span class="break-glass-tag">" · break-glass" {used}</span> }.into_any()
                })
            };
            let current = u.role;
            let roles = move || {
                Role::ALL
                    .into_iter()
                    .rev()
                    .map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> })
                    .collect_view()
            };
            view! {
                <tr data-user=u.username.clone()>
                    <td class="username">{u.username.clone()}</td>
                    <td><span class=format!("role role-{}", u.role)>{u.role.as_str()}</span></td>
                    <td>{if u.disabled { "disabled" } else { "active" }}
                        {u.must_change_password.then_some(" · must change password")}
                        {how}
                        <Standing standing=u.standing /></td>
                    <td data-label="Created"><Time at=u.created_at.clone() /></td>
                    <td><div class="person-actions">
                    {if me.as_deref() == Some(u.username.as_str()) {
                        // Nobody disables or demotes themselves from here by a slip.
                        view! { <p class="hint">"This is you: change your password on "
                            <a href="/account">"your account"</a> "."</p> }.into_any()
                    } else { view! {
                        {if oidc { view! {
                            <p class="hint">"Role from " {provider.clone()} "'s groups at each sign-in"</p>
                        }.into_any() } else { view! {
                        <ActionForm action=manage.0 attr:class="inline" attr:aria-label=format!("Change the role of {}", u.username)>
                            <input type="hidden" name="username" value=n1.clone() />
                            <select name="role" aria-label="New role">{roles()}</select>
                            <button type="submit" class="small secondary">"Change role"</button>
                        </ActionForm>
                        }.into_any() }}
                        <ActionForm action=manage.1 attr:class="inline">
                            <input type="hidden" name="username" value=n2.clone() />
                            <input type="hidden" name="disabled" value=(!u.disabled).to_string() />
                            <button type="submit" class="small secondary">{if u.disabled { "Enable" } else { "Disable" }}</button>
                        </ActionForm>
                        {(!oidc).then(|| view! {
                        <ActionForm action=manage.2 attr:class="inline" attr:aria-label=format!("New password for {}", u.username)>
                            <input type="hidden" name="username" value=n3.clone() />
                            <input type="password" name="password" aria-label="New password" placeholder="New password" autocomplete="new-password" minlength="8" required />
                            <button type="submit" class="small secondary">"Set new password"</button>
                        </ActionForm>
                        })}
                    }.into_any() }}
                    </div></td>
                </tr>
            }
        })
        .collect_view();
    let options = Role::ALL
        .into_iter()
        .rev()
        .map(|r| view! { <option value=r.as_str() selected=r == Role::Approver>{r.as_str()}</option> })
        .collect_view();
    view! {
        <section class="card">
            <h1>"People"</h1>
            {outcome}
            <table class="people stack">
                <thead>
                    <tr><th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"Status"</th><th scope="col">"Created"</th><th scope="col">"Manage"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
        <section class="card narrow">
            <h2>"Add a person"</h2>
            {facts.provider.clone().map(|label| view! {
                <p class="hint">"People who sign in with " {label} " appear here after their first sign-in, with the role their groups give. Add a local account here only for someone who needs a password."</p>
            })}
            {added}
            <ActionForm action=add>
                <label for="new-username">"Username"</label>
                <input id="new-username" name="username" required maxlength="64" autocomplete="off" />
                <label for="new-role">"Role"</label>
                <select id="new-role" name="role">{options}</select>
                <PasswordField id="new-password" name="password" label="Initial password" autocomplete="new-password" />
                {add_error}
                <button type="submit">"Add person"</button>
            </ActionForm>
        </section>
    }
}
