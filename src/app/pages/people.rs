//! `/people` (admins): everyone who can sign in, and adding someone.

use super::{home::ErrorNote, login::PasswordField};
use crate::domain::{AppError, Role, UserView};
use leptos::prelude::*;
use leptos_meta::Title;

/// Everyone with an account. Admins only.
#[server(prefix = "/rpc", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserView>, AppError> {
    use crate::auth::{guard, service};
    guard::require_role(Role::Admin).await?;
    service::list_users(&guard::state()?.pool).await
}

/// Adds a person with a role. Admins only.
#[server(prefix = "/rpc", endpoint = "add_user")]
pub async fn add_user(
    username: String,
    password: String,
    role: Role,
) -> Result<UserView, AppError> {
    use crate::auth::{guard, service};
    guard::require_role(Role::Admin).await?;
    let state = guard::state()?;
    service::create_user(
        &state.pool,
        state.clock.as_ref(),
        &username,
        &password,
        role,
    )
    .await
}

/// The people page.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let people = Resource::new(move || add.version().get(), |_| list_users());
    view! {
        <Title text="People · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match people.await {
                    Ok(list) => view! { <People list add /> }.into_any(),
                    Err(AppError::Unauthenticated) => {
                        view! { <leptos_router::components::Redirect path="/login" /> }.into_any()
                    }
                    Err(error) => {
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
            })}
        </Suspense>
    }
}

#[component]
fn People(list: Vec<UserView>, add: ServerAction<AddUser>) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|u| {
            view! {
                <tr>
                    <td class="username">{u.username}</td>
                    <td><span class=format!("role role-{}", u.role)>{u.role.as_str()}</span></td>
                    <td>{if u.disabled { "disabled" } else { "active" }}</td>
                    <td><time datetime=u.created_at.clone()>{u.created_at.clone()}</time></td>
                </tr>
            }
        })
        .collect_view();
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
            <table>
                <thead>
                    <tr><th scope="col">"Username"</th><th scope="col">"Role"</th><th scope="col">"Status"</th><th scope="col">"Created"</th></tr>
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
