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
    service::create_user(
        &state.pool,
        state.clock.as_ref(),
        service::Actor::Admin(&me),
        &username,
        &password,
        role,
    )
    .await
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

/// The page: its title, and the console island that is the rest.
#[component]
pub fn PeoplePage() -> impl IntoView {
    view! {
        <Title text="People · askfirst" />
        <PeopleLive />
    }
}

/// People: the list and every change to it (an island of the console bundle).
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn PeopleLive() -> impl IntoView {
    crate::app::browser::provide_action_error();
    let add = ServerAction::<AddUser>::new();
    let manage = Manage {
        role: ServerAction::new(),
        disabled: ServerAction::new(),
        password: ServerAction::new(),
    };
    let people = Resource::new(
        move || {
            (
                add.version().get(),
                manage.role.version().get(),
                manage.disabled.version().get(),
                manage.password.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match people.await {
                    Ok(list) => view! { <People list add manage /> }.into_any(),
                    Err(error) => page_error(error),
                }
            })}
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

/// The actions that change someone.
#[derive(Clone, Copy)]
struct Manage {
    role: ServerAction<SetUserRole>,
    disabled: ServerAction<SetUserDisabled>,
    password: ServerAction<ResetUserPassword>,
}

#[component]
fn People(list: Vec<UserView>, add: ServerAction<AddUser>, manage: Manage) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|u| {
            let (n1, n2, n3) = (u.username.clone(), u.username.clone(), u.username.clone());
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
                        <Standing standing=u.standing /></td>
                    <td><Time at=u.created_at.clone() /></td>
                    <td class="person-actions">
                        <ActionForm action=manage.role attr:class="inline" attr:aria-label=format!("Change the role of {}", u.username)>
                            <input type="hidden" name="username" value=n1.clone() />
                            <select name="role" aria-label="New role">{roles()}</select>
                            <button type="submit" class="small secondary">"Change role"</button>
                        </ActionForm>
                        <ActionForm action=manage.disabled attr:class="inline">
                            <input type="hidden" name="username" value=n2.clone() />
                            <input type="hidden" name="disabled" value=(!u.disabled).to_string() />
                            <button type="submit" class="small secondary">{if u.disabled { "Enable" } else { "Disable" }}</button>
                        </ActionForm>
                        <ActionForm action=manage.password attr:class="inline" attr:aria-label=format!("New password for {}", u.username)>
                            <input type="hidden" name="username" value=n3.clone() />
                            <input type="password" name="password" aria-label="New password" autocomplete="new-password" minlength="8" required />
                            <button type="submit" class="small secondary">"Set new password"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let failures = move || {
        [
            manage.role.value().get().and_then(|r| r.err()),
            manage.disabled.value().get().and_then(|r| r.err()),
            manage.password.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
        .collect_view()
    };
    let result = move || {
        add.value().get().map(|r| match r {
            Ok(u) => view! { <p class="ok" role="status">"Added " {u.username} " as " {u.role.as_str()} "."</p> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    let options = Role::ALL
        .into_iter()
        .rev()
        .map(|r| view! { <option value=r.as_str() selected=r == Role::Approver>{r.as_str()}</option> })
        .collect_view();
    view! {
        <section class="card">
            <h1>"People"</h1>
            {failures}
            <table>
                <thead>
                    <tr><th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"Status"</th><th scope="col">"Created"</th><th scope="col">"Manage"</th></tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
        <section class="card narrow">
            <h2>"Add a person"</h2>
            <ActionForm action=add>
                <label for="new-username">"Username"</label>
                <input id="new-username" name="username" required maxlength="64" autocomplete="off" />
                <label for="new-role">"Role"</label>
                <select id="new-role" name="role">{options}</select>
                <PasswordField id="new-password" name="password" label="Initial password" autocomplete="new-password" />
                {result}
                <button type="submit">"Add person"</button>
            </ActionForm>
        </section>
    }
}
