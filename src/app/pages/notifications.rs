//! `/notifications` (admins): channels (Slack, e-mail, signed webhooks) with their routes,
//! the settings every channel shares (reminder timing, destinations allowed inside the
//! network), and the delivery log. Secrets are written once and shown back only masked.

// Adding a channel takes the form's fields as they are; the macro's browser stub repeats
// them.
#![allow(clippy::too_many_arguments)]

use super::home::page_error;
use crate::app::widgets::Confirm;
use crate::domain::notify::{ChannelKind, ChannelView, DeliveryView, NotifyPage, RouteView};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// Where this page is, and where its forms come back to.
#[cfg(feature = "ssr")]
const PAGE: &str = "/notifications";

#[cfg(feature = "ssr")]
async fn admin() -> Result<(String, std::sync::Arc<crate::gate::notify::Notifier>), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    Ok((
        format!("user:{}", user.username),
        guard::state()?.notifier.clone(),
    ))
}

/// Channels, settings and the delivery log. Admins only.
#[server(prefix = "/rpc", endpoint = "notifications")]
pub async fn load_notifications() -> Result<NotifyPage, AppError> {
    let (_, notifier) = admin().await?;
    notifier.page().await
}

/// Adds a channel; a signing secret made for it is in the answer and nowhere else.
#[server(prefix = "/rpc", endpoint = "notify_channel_add")]
pub async fn notify_channel_add(
    name: String,
    kind: String,
    #[server(default)] url: String,
    #[server(default)] secret: String,
    #[server(default)] smtp_host: String,
    #[server(default)] smtp_port: String,
    #[server(default)] smtp_tls: String,
    #[server(default)] smtp_username: String,
    #[server(default)] mail_from: String,
    #[server(default)] mail_to: String,
    #[server(default)] private: Option<String>,
    #[server(default)] reminder_percent: String,
) -> Result<Option<String>, AppError> {
    let (actor, notifier) = admin().await?;
    let input = crate::gate::notify::channels::ChannelInput {
        name,
        kind,
        url,
        secret,
        smtp_host,
        smtp_port,
        smtp_tls,
        smtp_username,
        mail_from,
        mail_to,
        private: private.is_some_and(|p| matches!(p.as_str(), "on" | "true" | "1")),
        reminder_percent,
    };
    let secret = notifier.add_channel(&input, &actor).await?.secret_once;
    if let Some(secret) = &secret {
        crate::app::shown_once::hand_over(
            PAGE,
            &crate::app::shown_once::ShownOnce {
                said: "Channel added. Its signing secret, shown once — give it to the receiver:"
                    .into(),
                secrets: vec![("Signing secret".into(), secret.clone())],
            },
        )?;
    }
    Ok(secret)
}

/// Deletes a channel, its routes and its queued messages.
#[server(prefix = "/rpc", endpoint = "notify_channel_remove")]
pub async fn notify_channel_remove(name: String) -> Result<(), AppError> {
    let (actor, notifier) = admin().await?;
    notifier.remove_channel(&name, &actor).await
}

/// Pauses (`enabled` = false) or resumes a channel.
#[server(prefix = "/rpc", endpoint = "notify_channel_enabled")]
pub async fn notify_channel_enabled(name: String, enabled: bool) -> Result<(), AppError> {
    let (actor, notifier) = admin().await?;
    notifier.set_enabled(&name, enabled, &actor).await
}

/// Adds a route to a channel; empty filters mean `*`.
#[server(prefix = "/rpc", endpoint = "notify_route_add")]
pub async fn notify_route_add(
    channel: String,
    #[server(default)] rule: String,
    #[server(default)] risk: String,
    #[server(default)] agent: String,
    #[server(default)] audience: String,
) -> Result<RouteView, AppError> {
    let (actor, notifier) = admin().await?;
    notifier
        .add_route(&channel, [&rule, &risk, &agent, &audience], &actor)
        .await
}

/// Removes a route.
#[server(prefix = "/rpc", endpoint = "notify_route_remove")]
pub async fn notify_route_remove(id: i64) -> Result<(), AppError> {
    let (actor, notifier) = admin().await?;
    notifier.remove_route(id, &actor).await
}

/// Saves the reminder default, the destinations allowed inside the network and how often
/// the audit head is published.
#[server(prefix = "/rpc", endpoint = "notify_settings")]
pub async fn notify_settings(
    #[server(default)] reminder_percent: String,
    #[server(default)] allowed_origins: String,
    #[server(default)] audit_head_minutes: String,
) -> Result<(), AppError> {
    let (actor, notifier) = admin().await?;
    notifier
        .save_settings(
            &reminder_percent,
            &allowed_origins,
            &audit_head_minutes,
            &actor,
        )
        .await
        .map(|_| ())
}

/// The page, rendered on the server; its forms are plain forms that come back to it.
#[component]
pub fn NotificationsPage() -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    #[cfg(feature = "ssr")]
    let shown = crate::app::shown_once::take(PAGE);
    #[cfg(not(feature = "ssr"))]
    let shown = None;
    let errors = vec![
        error_of::<NotifyChannelAdd>(),
        error_of::<NotifyChannelRemove>(),
        error_of::<NotifyChannelEnabled>(),
        error_of::<NotifyRouteAdd>(),
        error_of::<NotifyRouteRemove>(),
        error_of::<NotifySettings>(),
    ];
    let ok = match done() {
        // A channel with a secret says so with the secret.
        _ if shown.is_some() => None,
        Some(d) if d == name_of::<NotifyChannelAdd>() => Some("Channel added.".to_string()),
        Some(d) if d == name_of::<NotifyChannelRemove>() => Some("Channel deleted.".to_string()),
        Some(_) => Some("Saved.".to_string()),
        None => None,
    };
    let add = ServerAction::<NotifyChannelAdd>::new();
    view! {
        <Title text="Notifications · askfirst" />
        <section class="card">
            <h1>"Notifications"</h1>
            <p>"Gated calls are announced on the channels their routes match, with a reminder before the deadline. Messages carry a summary and a link to the card; arguments only on channels marked private."</p>
            <Outcome errors ok />
            <crate::app::shown_once::SecretsShownOnce shown />
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match load_notifications().await {
                        Ok(page) => view! { <Channels page /> }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
        </section>
        <section class="card narrow" aria-labelledby="add-channel">
            <h2 id="add-channel">"Add a channel"</h2>
            <ActionForm action=add attr:class="notify-add">
                <label for="ch-name">"Name"</label>
                <input id="ch-name" name="name" required maxlength="64" pattern="[A-Za-z0-9._\\-]+" autocomplete="off" />
                <label for="ch-kind">"Kind"</label>
                <select id="ch-kind" name="kind">
                    {ChannelKind::ALL.into_iter().map(|k| view! { <option value=k.as_str()>{k.label()}</option> }).collect_view()}
                </select>
                <label for="ch-url">"URL — Slack: the incoming-webhook URL (a secret, stored encrypted) or env:NAME; webhook: where to POST"</label>
                <input id="ch-url" name="url" maxlength="2000" autocomplete="off" spellcheck="false" />
                <label for="ch-secret">"Secret — webhook: signing secret (empty: one is made); e-mail: SMTP password; or env:NAME"</label>
                <input id="ch-secret" name="secret" type="password" maxlength="2000" autocomplete="new-password" />
                <fieldset>
                    <legend>"E-mail only"</legend>
                    <label for="ch-host">"SMTP host"</label>
                    <input id="ch-host" name="smtp_host" maxlength="253" autocomplete="off" />
                    <label for="ch-port">"Port (default 587, 465 with TLS)"</label>
                    <input id="ch-port" name="smtp_port" inputmode="numeric" maxlength="5" autocomplete="off" />
                    <label for="ch-tls">"Security"</label>
                    <select id="ch-tls" name="smtp_tls">
                        <option value="starttls">"STARTTLS (required)"</option>
                        <option value="tls">"TLS"</option>
                        <option value="none">"None (trusted relay only)"</option>
                    </select>
                    <label for="ch-user">"SMTP user (empty: no sign-in)"</label>
                    <input id="ch-user" name="smtp_username" maxlength="254" autocomplete="off" />
                    <label for="ch-from">"From"</label>
                    <input id="ch-from" name="mail_from" type="email" maxlength="254" />
                    <label for="ch-to">"To (comma-separated)"</label>
                    <input id="ch-to" name="mail_to" maxlength="2000" />
                </fieldset>
                <label><input type="checkbox" name="private" value="on" />" Private channel: messages include the call's arguments"</label>
                <label for="ch-reminder">"Reminder when this % of time is left (empty: the default)"</label>
                <input id="ch-reminder" name="reminder_percent" inputmode="numeric" maxlength="3" autocomplete="off" />
                <button type="submit">"Add channel"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn Channels(page: NotifyPage) -> impl IntoView {
    let remove = ServerAction::<NotifyChannelRemove>::new();
    let enabled = ServerAction::<NotifyChannelEnabled>::new();
    let route_add = ServerAction::<NotifyRouteAdd>::new();
    let route_remove = ServerAction::<NotifyRouteRemove>::new();
    let settings = ServerAction::<NotifySettings>::new();
    let empty = page.channels.is_empty();
    let channels = page
        .channels
        .into_iter()
        .map(|c| view! { <Channel c remove enabled route_add route_remove /> })
        .collect_view();
    let origins = page.settings.allowed_origins.join("\n");
    view! {
        <p>"Links point at " <code>{page.link_base.clone()} "/calls/…"</code> " (set with --public-url)."</p>
        <Show when=move || empty>
            <p class="empty">"No channels yet: add one below."</p>
        </Show>
        <h2>"Channels"</h2>
        <div class="notify-channels">{channels}</div>
        <h2>"Settings"</h2>
        <ActionForm action=settings attr:class="notify-settings">
            <label for="reminder-default">"Reminders when this % of a call's time is left"</label>
            <input id="reminder-default" name="reminder_percent" inputmode="numeric" maxlength="3" value=page.settings.reminder_percent.to_string() />
            <label for="allowed-origins">"Allowed destinations inside the network (one per line: http(s)://host:port or smtp://host:port)"</label>
            <textarea id="allowed-origins" name="allowed_origins" rows="3" spellcheck="false" inner_html=crate::app::widgets::textarea_html(&origins)></textarea>
            <label for="audit-head-minutes">"Publish the audit log's head (newest event id and hash) to the server log and every channel every … minutes (0: never)"</label>
            <input id="audit-head-minutes" name="audit_head_minutes" inputmode="numeric" maxlength="5" value=page.settings.audit_head_minutes.to_string() />
            <button type="submit" class="secondary">"Save settings"</button>
        </ActionForm>
        <h2>"Delivery log"</h2>
        <DeliveryLog list=page.deliveries />
    }
}

#[component]
fn Channel(
    c: ChannelView,
    remove: ServerAction<NotifyChannelRemove>,
    enabled: ServerAction<NotifyChannelEnabled>,
    route_add: ServerAction<NotifyRouteAdd>,
    route_remove: ServerAction<NotifyRouteRemove>,
) -> impl IntoView {
    let routes = c
        .routes
        .clone()
        .into_iter()
        .map(|r| {
            view! {
                <li data-route=r.id>
                    "rule " <code>{r.rule}</code> " · risk " <code>{r.risk}</code>
                    " · agent " <code>{r.agent}</code> " · audience " <code>{r.audience}</code>
                    <ActionForm action=route_remove attr:class="inline">
                        <input type="hidden" name="id" value=r.id.to_string() />
                        <button type="submit" class="small secondary">"Remove"</button>
                    </ActionForm>
                </li>
            }
        })
        .collect_view();
    let no_routes = c.routes.is_empty();
    let (n1, n2, n3) = (c.name.clone(), c.name.clone(), c.name.clone());
    view! {
        <article class="notify-channel" data-channel=c.name.clone()>
            <h3>{c.name.clone()} " " <small>{c.kind.label()}</small>
                {c.private.then(|| view! { " " <span class="badge">"private"</span> })}
                {(!c.enabled).then(|| view! { " " <span class="badge">"paused"</span> })}</h3>
            <p class="target"><code>{c.target.clone()}</code></p>
            <p>{match c.reminder_percent {
                Some(p) => format!("Reminder when {p} % of the time is left."),
                None => "Reminder at the default.".to_string(),
            }}</p>
            <h4>"Routes"</h4>
            <Show when=move || no_routes>
                <p class="empty">"No routes: this channel hears about nothing yet."</p>
            </Show>
            <ul class="routes">{routes}</ul>
            <ActionForm action=route_add attr:class="route-add" attr:aria-label=format!("Add a route to {}", c.name)>
                <input type="hidden" name="channel" value=n1 />
                <label>"Rule " <input name="rule" placeholder="*" maxlength="200" /></label>
                <label>"Risk " <input name="risk" placeholder="*" maxlength="40" /></label>
                <label>"Agent " <input name="agent" placeholder="*" maxlength="200" /></label>
                <label>"Audience " <input name="audience" placeholder="*" maxlength="200" /></label>
                <button type="submit" class="small">"Add route"</button>
            </ActionForm>
            <ActionForm action=enabled attr:class="inline">
                <input type="hidden" name="name" value=n2 />
                <input type="hidden" name="enabled" value=(!c.enabled).to_string() />
                <button type="submit" class="small secondary">{if c.enabled { "Pause" } else { "Resume" }}</button>
            </ActionForm>
            <Confirm summary="Delete channel…">
                <p class="hint">"Its routes and any messages still queued for it go with it."</p>
                <ActionForm action=remove attr:class="inline">
                    <input type="hidden" name="name" value=n3 />
                    <button type="submit" class="small danger">"Delete channel"</button>
                </ActionForm>
            </Confirm>
        </article>
    }
}

#[component]
fn DeliveryLog(list: Vec<DeliveryView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"Nothing sent yet."</p> }.into_any();
    }
    let rows = list
        .into_iter()
        .map(|d| {
            let class = format!("delivery-{}", d.state);
            let when = d.updated_at.clone().unwrap_or_else(|| d.due_at.clone());
            view! {
                <tr data-delivery=d.id class=class>
                    <td>{d.channel}</td>
                    <td>{d.kind.as_str()}</td>
                    <td>{d.call_id.map(|c| view! { <a href=format!("/calls/{c}")>{c.chars().take(8).collect::<String>()}</a> })}</td>
                    <td>{d.state}</td>
                    <td>{d.attempts}</td>
                    <td>{d.last_result.unwrap_or_default()}</td>
                    <td><crate::app::widgets::Time at=when /></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <crate::app::widgets::ScrollBox label="Delivery log"><table class="deliveries">
            <thead><tr>
                <th scope="col">"Channel"</th><th scope="col">"Message"</th><th scope="col">"Call"</th>
                <th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Last result"</th><th scope="col">"When"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table></crate::app::widgets::ScrollBox>
    }
    .into_any()
}
