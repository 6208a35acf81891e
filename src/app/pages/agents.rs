//! `/agents` (admins): every agent with when it was last seen and its calls in the last 24
//! hours; create one (its key and webhook secret are shown once), disable or enable it,
//! rotate its key or webhook secret with a grace period, and set its callback origins; and
//! the limit on how many calls one agent may leave pending.

use super::home::page_error;
use crate::app::shown_once::SecretsShownOnce;
#[cfg(feature = "ssr")]
use crate::app::shown_once::ShownOnce;
use crate::app::widgets::Confirm;
use crate::domain::agent::{AgentView, CreatedAgent, Rotated};
use crate::domain::limits::Limits;
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// Where this page is, and where its forms come back to.
#[cfg(feature = "ssr")]
const PAGE: &str = "/agents";

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
    let created = gate
        .create_agent(&name, &format!("user:{}", user.username))
        .await?;
    crate::app::shown_once::hand_over(
        PAGE,
        &ShownOnce {
            said: format!(
                "Created {}. Store these now: they are not shown again.",
                created.name
            ),
            secrets: vec![
                ("API key".into(), created.key.clone()),
                ("Webhook secret".into(), created.webhook_secret.clone()),
            ],
        },
    )?;
    Ok(created)
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
    let rotated = gate
        .rotate_key(
            &name,
            self::grace(&grace)?,
            &format!("user:{}", user.username),
        )
        .await?;
    hand_over_rotated("API key", &rotated)?;
    Ok(rotated)
}

/// A new webhook secret (shown once); webhooks are signed with both for `grace`.
#[server(prefix = "/rpc", endpoint = "agent_rotate_secret")]
pub async fn agent_rotate_secret(name: String, grace: String) -> Result<Rotated, AppError> {
    let (user, gate) = admin().await?;
    let rotated = gate
        .rotate_secret(
            &name,
            self::grace(&grace)?,
            &format!("user:{}", user.username),
        )
        .await?;
    hand_over_rotated("Webhook secret", &rotated)?;
    Ok(rotated)
}

/// Shows a new key or secret once on the page the form comes back to.
#[cfg(feature = "ssr")]
fn hand_over_rotated(what: &str, rotated: &Rotated) -> Result<(), AppError> {
    let previous = match &rotated.previous_valid_until {
        Some(t) => format!("The previous one works until {t}."),
        None => "The previous one stopped working.".to_string(),
    };
    crate::app::shown_once::hand_over(
        PAGE,
        &ShownOnce {
            said: format!(
                "New {} for {}. {previous}",
                what.to_lowercase(),
                rotated.name
            ),
            secrets: vec![(what.to_string(), rotated.secret.clone())],
        },
    )
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

/// The page, rendered on the server; its forms are plain forms that come back to it
/// (a new key or secret with them, shown once).
#[component]
pub fn AgentsPage() -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    #[cfg(feature = "ssr")]
    let shown = crate::app::shown_once::take(PAGE);
    #[cfg(not(feature = "ssr"))]
    let shown = None;
    let errors = vec![
        error_of::<AgentCreate>(),
        error_of::<AgentEnabled>(),
        error_of::<AgentRotateKey>(),
        error_of::<AgentRotateSecret>(),
        error_of::<AgentCallbacks>(),
        error_of::<AgentReceipts>(),
    ];
    // Creating and rotating say so with the secret itself.
    let ok = done()
        .filter(|d| {
            ![
                name_of::<AgentCreate>(),
                name_of::<AgentRotateKey>(),
                name_of::<AgentRotateSecret>(),
                name_of::<SaveLimits>(),
            ]
            .contains(&d.as_str())
        })
        .map(|_| "Saved.".to_string());
    let create = ServerAction::<AgentCreate>::new();
    view! {
        <Title text="Agents · askfirst" />
        <section class="card">
            <h1>"Agents"</h1>
            <Outcome errors ok />
            <SecretsShownOnce shown />
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match load_agents().await {
                        Ok(list) => view! { <AgentTable list /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
        </section>
        <section class="card narrow">
            <h2>"Add an agent"</h2>
            <ActionForm action=create>
                <label for="agent-name">"Name"</label>
                <input id="agent-name" name="name" required maxlength="64" autocomplete="off" pattern="[A-Za-z0-9._\\-]+" />
                <button type="submit">"Create agent"</button>
            </ActionForm>
        </section>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                load_limits().await.ok().map(|limits| view! { <LimitsForm limits /> })
            })}
        </Suspense>
    }
}

/// The per-agent cap on pending calls, and the largest arguments.
#[component]
fn LimitsForm(limits: Limits) -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    let save = ServerAction::<SaveLimits>::new();
    let ok = (done().as_deref() == Some(name_of::<SaveLimits>())).then(|| "Saved.".to_string());
    let l = limits;
    let value = l
        .max_pending_per_agent
        .map(|n| n.to_string())
        .unwrap_or_default();
    let now = match l.max_pending_per_agent {
        Some(n) => format!("Each agent may have at most {n} pending calls; a proposal beyond that is refused (429 too_many_pending)."),
        None => "No cap: an agent may leave any number of calls pending.".to_string(),
    };
    let kib = (l.max_args_bytes / 1024).to_string();
    let args_now = format!(
        "A proposal's arguments may be at most {kib} KiB; larger ones are refused (413), naming this setting."
    );
    view! {
        <section class="card narrow" aria-labelledby="limits-title">
            <h2 id="limits-title">"Limits"</h2>
            <p>{now}</p>
            <p>{args_now}</p>
            <Outcome errors=vec![error_of::<SaveLimits>()] ok />
            <ActionForm action=save>
                <label for="max-pending">"Most pending calls per agent (empty: no cap)"</label>
                <input id="max-pending" name="max_pending_per_agent" inputmode="numeric" maxlength="7" pattern="[0-9]*" value=value autocomplete="off" />
                <label for="max-args">"Largest arguments of a proposal, KiB (1–4096; 64 unless raised)"</label>
                <input id="max-args" name="max_args_kib" inputmode="numeric" maxlength="4" pattern="[0-9]*" value=kib autocomplete="off" required />
                <button type="submit">"Save limits"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn AgentTable(list: Vec<AgentView>) -> impl IntoView {
    let enabled = ServerAction::<AgentEnabled>::new();
    let rotate_key = ServerAction::<AgentRotateKey>::new();
    let rotate_secret = ServerAction::<AgentRotateSecret>::new();
    let callbacks = ServerAction::<AgentCallbacks>::new();
    let receipts = ServerAction::<AgentReceipts>::new();
    let graces = || {
        [
            ("0", "stops now"),
            ("15m", "works 15 min more"),
            ("1h", "works 1 h more"),
            ("4h", "works 4 h more"),
            ("24h", "works 24 h more"),
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
            let rotate_key_label = format!("Rotate the key of {}", a.name);
            let rotate_secret_label = format!("Rotate the webhook secret of {}", a.name);
            let always = a.receipts_always;
            let origins = a.callback_origins.join("\n");
            view! {
                <tr data-agent=a.name.clone()>
                    <td><strong>{a.name.clone()}</strong><br /><code>{a.key_prefix.clone()} "…"</code>
                        {a.previous_key_until.clone().map(|t| view! { <br /><small>"previous key works until " {t}</small> })}
                        {a.previous_secret_until.clone().map(|t| view! { <br /><small>"previous secret signs until " {t}</small> })}</td>
                    <td>{if a.disabled { "disabled" } else { "active" }}</td>
                    <td>{match a.last_seen.clone() {
                        Some(t) => view! { "last seen " <crate::app::widgets::Time at=t /> }.into_any(),
                        None => "never seen".into_any(),
                    }}</td>
                    <td>{calls}</td>
                    <td class="agent-actions">
                        <ActionForm action=enabled attr:class="inline">
                            <input type="hidden" name="name" value=n1.clone() />
                            <input type="hidden" name="enabled" value=a.disabled.to_string() />
                            <button type="submit" class="small secondary">{if a.disabled { "Enable" } else { "Disable" }}</button>
                        </ActionForm>
                        <Confirm summary="Rotate key…">
                            <ActionForm action=rotate_key attr:class="inline" attr:aria-label=rotate_key_label>
                                <input type="hidden" name="name" value=n2.clone() />
                                <label>"Old key: " <select name="grace">{graces()}</select></label>
                                <button type="submit" class="small danger">"Rotate key"</button>
                            </ActionForm>
                        </Confirm>
                        <Confirm summary="Rotate webhook secret…">
                            <ActionForm action=rotate_secret attr:class="inline" attr:aria-label=rotate_secret_label>
                                <input type="hidden" name="name" value=n3.clone() />
                                <label>"Old secret: " <select name="grace">{graces()}</select></label>
                                <button type="submit" class="small danger">"Rotate webhook secret"</button>
                            </ActionForm>
                        </Confirm>
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
        <table class="agents stack">
            <thead><tr><th scope="col">"Agent"</th><th scope="col">"Status"</th><th scope="col">"Last seen"</th><th scope="col">"Last 24 h"</th><th scope="col">"Manage"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
