//! `/agents` (admins): every agent with when it was last seen and its calls in the last 24
//! hours; create one (its key and webhook secret are shown once), disable or enable it,
//! rotate its key or webhook secret with a grace period, and set its callback origins; and
//! the limit on how many calls one agent may leave pending.

use super::home::page_error;
use crate::domain::agent::{AgentView, CreatedAgent, Rotated};
use crate::domain::limits::Limits;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[cfg(feature = "ssr")]
async fn admin() -> Result<(crate::domain::UserView, std::sync::Arc<crate::gate::Gate>), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    Ok((user, guard::state()?.gate.clone()))
}

#[cfg(feature = "ssr")]
fn grace(text: &str) -> Result<chrono::Duration, AppError> {
    crate::gate::agents::parse_grace(text)
}

/// Every agent. Admins only.
#[server(prefix = "/rpc", endpoint = "agents")]
pub async fn load_agents() -> Result<Vec<AgentView>, AppError> {
    let (_, gate) = admin().await?;
    gate.list_agents().await
}

/// Creates an agent; its key and webhook secret are in the answer, and nowhere else.
#[server(prefix = "/rpc", endpoint = "agent_create")]
pub async fn agent_create(name: String) -> Result<CreatedAgent, AppError> {
    let (user, gate) = admin().await?;
    gate.create_agent(&name, &format!("user:{}", user.username))
        .await
}

/// Disables (`enabled` = false) or enables an agent.
#[server(prefix = "/rpc", endpoint = "agent_enabled")]
pub async fn agent_enabled(name: String, enabled: bool) -> Result<(), AppError> {
    let (user, gate) = admin().await?;
    gate.set_agent_enabled(&name, enabled, &format!("user:{}", user.username))
        .await
}

/// A new API key (shown once); the old one works for `grace` (`0`, `15m`, … `24h`).
#[server(prefix = "/rpc", endpoint = "agent_rotate_key")]
pub async fn agent_rotate_key(name: String, grace: String) -> Result<Rotated, AppError> {
    let (user, gate) = admin().await?;
    gate.rotate_key(
        &name,
        self::grace(&grace)?,
        &format!("user:{}", user.username),
    )
    .await
}

/// A new webhook secret (shown once); webhooks are signed with both for `grace`.
#[server(prefix = "/rpc", endpoint = "agent_rotate_secret")]
pub async fn agent_rotate_secret(name: String, grace: String) -> Result<Rotated, AppError> {
    let (user, gate) = admin().await?;
    gate.rotate_secret(
        &name,
        self::grace(&grace)?,
        &format!("user:{}", user.username),
    )
    .await
}

/// The agent's allowed callback origins, one per line.
#[server(prefix = "/rpc", endpoint = "agent_callbacks")]
pub async fn agent_callbacks(name: String, origins: String) -> Result<Vec<String>, AppError> {
    let (user, gate) = admin().await?;
    if origins.len() > 20_000 {
        return Err(AppError::TooLarge("too many callback origins".into()));
    }
    let list: Vec<String> = origins.lines().map(str::to_string).collect();
    gate.set_callback_origins(&name, &list, &format!("user:{}", user.username))
        .await
}

/// When the agent's allowed calls get a signed receipt: `always` or `asked` (only when a
/// proposal asks). Admins only.
#[server(prefix = "/rpc", endpoint = "agent_receipts")]
pub async fn agent_receipts(name: String, when: String) -> Result<bool, AppError> {
    let (user, gate) = admin().await?;
    let always = match when.as_str() {
        "always" => true,
        "asked" => false,
        _ => return Err(AppError::Invalid("`when` is `always` or `asked`".into())),
    };
    gate.set_receipts_always(&name, always, &format!("user:{}", user.username))
        .await?;
    Ok(always)
}

/// The limits in force. Admins only.
#[server(prefix = "/rpc", endpoint = "limits")]
pub async fn load_limits() -> Result<Limits, AppError> {
    let (_, gate) = admin().await?;
    Ok(gate.limits())
}

/// Sets the most pending calls per agent (a number, or `none` or empty for no cap) and
/// the largest arguments of a proposal, in KiB (absent or empty: unchanged).
#[server(prefix = "/rpc", endpoint = "limits_save")]
pub async fn save_limits(
    max_pending_per_agent: String,
    max_args_kib: Option<String>,
) -> Result<Limits, AppError> {
    let (user, gate) = admin().await?;
    let kib_len = max_args_kib.as_ref().map_or(0, String::len);
    if max_pending_per_agent.len() > 32 || kib_len > 32 {
        return Err(AppError::Invalid(
            "the cap is a number or `none`, the size a number of KiB".into(),
        ));
    }
    let cap = Limits::parse_cap(&max_pending_per_agent).map_err(AppError::Invalid)?;
    let max_args_bytes = match max_args_kib.as_deref().map(str::trim) {
        Some(kib) if !kib.is_empty() => Limits::parse_args_kib(kib).map_err(AppError::Invalid)?,
        _ => gate.limits().max_args_bytes,
    };
    let limits = Limits {
        max_pending_per_agent: cap,
        max_args_bytes,
    };
    gate.set_limits(&format!("user:{}", user.username), limits)
        .await
}

/// The page: its title, and the console island that is the rest.
#[component]
pub fn AgentsPage() -> impl IntoView {
    view! {
        <Title text="Agents · askfirst" />
        <AgentsLive />
    }
}

/// Agents: the list, keys shown once, limits (an island of the console bundle).
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn AgentsLive() -> impl IntoView {
    crate::app::browser::provide_action_error();
    let create = ServerAction::<AgentCreate>::new();
    let enabled = ServerAction::<AgentEnabled>::new();
    let rotate_key = ServerAction::<AgentRotateKey>::new();
    let rotate_secret = ServerAction::<AgentRotateSecret>::new();
    let callbacks = ServerAction::<AgentCallbacks>::new();
    let receipts = ServerAction::<AgentReceipts>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                enabled.version().get(),
                rotate_key.version().get(),
                rotate_secret.version().get(),
                callbacks.version().get(),
                receipts.version().get(),
            )
        },
        |_| load_agents(),
    );
    let shown_once = move || {
        let created = create.value().get().map(|r| {
            r.map(|c| {
                view! {
                    <div class="secret-once" role="status">
                        <p>"Created " <strong>{c.name.clone()}</strong> ". Store these now: they are not shown again."</p>
                        <Secret label="API key" value=c.key />
                        <Secret label="Webhook secret" value=c.webhook_secret />
                    </div>
                }
                .into_any()
            })
            .unwrap_or_else(|e| view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any())
        });
        let rotated = [
            rotate_key.value().get().map(|r| ("API key", r)),
            rotate_secret.value().get().map(|r| ("Webhook secret", r)),
        ]
        .into_iter()
        .flatten()
        .map(|(what, r)| match r {
            Ok(r) => view! {
                <div class="secret-once" role="status">
                    <p>"New " {what.to_lowercase()} " for " <strong>{r.name.clone()}</strong> ". "
                        {match r.previous_valid_until.clone() {
                            Some(t) => format!("The previous one works until {t}."),
                            None => "The previous one stopped working.".to_string(),
                        }}</p>
                    <Secret label=what value=r.secret />
                </div>
            }
            .into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
        .collect_view();
        let other = [
            enabled.value().get().and_then(|r| r.err()),
            callbacks.value().get().and_then(|r| r.err()),
            receipts.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
        .collect_view();
        view! { {created} {rotated} {other} }
    };
    view! {
        <section class="card">
            <h1>"Agents"</h1>
            {shown_once}
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(list) => view! { <AgentTable list enabled rotate_key rotate_secret callbacks receipts /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Transition>
        </section>
        <section class="card narrow">
            <h2>"Add an agent"</h2>
            <ActionForm action=create>
                <label for="agent-name">"Name"</label>
                <input id="agent-name" name="name" required maxlength="64" autocomplete="off" pattern="[A-Za-z0-9._\\-]+" />
                <button type="submit">"Create agent"</button>
            </ActionForm>
        </section>
        <LimitsForm />
    }
}

/// The per-agent cap on pending calls.
#[component]
fn LimitsForm() -> impl IntoView {
    let save = ServerAction::<SaveLimits>::new();
    let limits = Resource::new(move || save.version().get(), |_| load_limits());
    let outcome = move || {
        save.value().get().map(|r| match r {
            Ok(_) => view! { <p class="notice" role="status">"Saved."</p> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="card narrow" aria-labelledby="limits-title">
            <h2 id="limits-title">"Limits"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match limits.await {
                        Ok(l) => {
                            let value = l.max_pending_per_agent.map(|n| n.to_string()).unwrap_or_default();
                            let now = match l.max_pending_per_agent {
                                Some(n) => format!("Each agent may have at most {n} pending calls; a proposal beyond that is refused (429 too_many_pending)."),
                                None => "No cap: an agent may leave any number of calls pending.".to_string(),
                            };
                            let kib = (l.max_args_bytes / 1024).to_string();
                            let args_now = format!(
                                "A proposal's arguments may be at most {kib} KiB; larger ones are refused (413), naming this setting."
                            );
                            view! {
                                <p>{now}</p>
                                <p>{args_now}</p>
                                <ActionForm action=save>
                                    <label for="max-pending">"Most pending calls per agent (empty: no cap)"</label>
                                    <input id="max-pending" name="max_pending_per_agent" inputmode="numeric" maxlength="7" pattern="[0-9]*" value=value autocomplete="off" />
                                    <label for="max-args">"Largest arguments of a proposal, KiB (1–4096; 64 unless raised)"</label>
                                    <input id="max-args" name="max_args_kib" inputmode="numeric" maxlength="4" pattern="[0-9]*" value=kib autocomplete="off" required />
                                    <button type="submit">"Save limits"</button>
                                </ActionForm>
                            }.into_any()
                        }
                        Err(error) => page_error(error),
                    }
                })}
            </Transition>
            {outcome}
        </section>
    }
}

/// A secret shown once, with a button that copies it.
#[component]
fn Secret(label: &'static str, value: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let navigator = js_sys::Reflect::get(&window(), &"navigator".into()).ok();
            let clipboard =
                navigator.and_then(|n| js_sys::Reflect::get(&n, &"clipboard".into()).ok());
            let write = clipboard
                .as_ref()
                .and_then(|c| js_sys::Reflect::get(c, &"writeText".into()).ok())
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            if let (Some(c), Some(f)) = (clipboard, write) {
                let _ = f.call1(&c, &text.clone().into());
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <div class="secret">
            <label>{label} ": " <input readonly value=value class="secret-value" aria-label=label /></label>
            <button type="button" class="small secondary" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </div>
    }
}

#[component]
fn AgentTable(
    list: Vec<AgentView>,
    enabled: ServerAction<AgentEnabled>,
    rotate_key: ServerAction<AgentRotateKey>,
    rotate_secret: ServerAction<AgentRotateSecret>,
    callbacks: ServerAction<AgentCallbacks>,
    receipts: ServerAction<AgentReceipts>,
) -> impl IntoView {
    let graces = || {
        [
            ("0", "old stops now"),
            ("15m", "old works 15 min"),
            ("1h", "old works 1 h"),
            ("4h", "old works 4 h"),
            ("24h", "old works 24 h"),
        ]
        .into_iter()
        .map(|(v, t)| view! { <option value=v>{t}</option> })
        .collect_view()
    };
    let rows = list
        .into_iter()
        .map(|a| {
            let calls = if a.last_24h.is_empty() {
                "no calls".to_string()
            } else {
                let counts = a.last_24h.iter().map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
                if a.last_24h_sampled {
                    format!("{counts} (among the newest 20,000 calls)")
                } else {
                    counts
                }
            };
            let (n1, n2, n3, n4) = (a.name.clone(), a.name.clone(), a.name.clone(), a.name.clone());
            let n5 = a.name.clone();
            let always = a.receipts_always;
            let origins = a.callback_origins.join("\n");
            view! {
                <tr data-agent=a.name.clone()>
                    <td><strong>{a.name.clone()}</strong><br /><code>{a.key_prefix.clone()} "…"</code>
                        {a.previous_key_until.clone().map(|t| view! { <br /><small>"previous key works until " {t}</small> })}
                        {a.previous_secret_until.clone().map(|t| view! { <br /><small>"previous secret signs until " {t}</small> })}</td>
                    <td>{if a.disabled { "disabled" } else { "active" }}</td>
                    <td>{a.last_seen.clone().unwrap_or_else(|| "never".into())}</td>
                    <td>{calls}</td>
                    <td class="agent-actions">
                        <ActionForm action=enabled attr:class="inline">
                            <input type="hidden" name="name" value=n1.clone() />
                            <input type="hidden" name="enabled" value=a.disabled.to_string() />
                            <button type="submit" class="small secondary">{if a.disabled { "Enable" } else { "Disable" }}</button>
                        </ActionForm>
                        <ActionForm action=rotate_key attr:class="inline" attr:aria-label=format!("Rotate the key of {}", a.name)>
                            <input type="hidden" name="name" value=n2.clone() />
                            <select name="grace" aria-label="Grace period for the old key">{graces()}</select>
                            <button type="submit" class="small">"Rotate key"</button>
                        </ActionForm>
                        <ActionForm action=rotate_secret attr:class="inline" attr:aria-label=format!("Rotate the webhook secret of {}", a.name)>
                            <input type="hidden" name="name" value=n3.clone() />
                            <select name="grace" aria-label="Grace period for the old secret">{graces()}</select>
                            <button type="submit" class="small">"Rotate webhook secret"</button>
                        </ActionForm>
                        <ActionForm action=callbacks attr:class="callbacks" attr:aria-label=format!("Callback origins of {}", a.name)>
                            <input type="hidden" name="name" value=n4.clone() />
                            <label>"Callback origins (one per line)"
                                <textarea name="origins" rows="2" spellcheck="false" inner_html=crate::app::widgets::textarea_html(&origins)></textarea></label>
                            <button type="submit" class="small secondary">"Save origins"</button>
                        </ActionForm>
                        <ActionForm action=receipts attr:class="inline" attr:aria-label=format!("Receipts for allowed calls of {}", a.name)>
                            <input type="hidden" name="name" value=n5 />
                            <label>"Receipts for allowed calls "
                                <select name="when">
                                    <option value="asked" selected=!always>"when asked"</option>
                                    <option value="always" selected=always>"always"</option>
                                </select></label>
                            <button type="submit" class="small secondary">"Save"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="agents">
            <thead><tr><th scope="col">"Agent"</th><th scope="col">"Status"</th><th scope="col">"Last seen"</th><th scope="col">"Last 24 h"</th><th scope="col">"Manage"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
