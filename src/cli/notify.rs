//! `askfirst notify …`: notification channels, their routes, the shared settings and the
//! delivery log, from the command line. Changes are audited as `cli`; a running server's
//! dispatcher reads them at its next look (within a second).

use super::gate::{err, open_gate, print_json};
use crate::gate::notify::{channels::ChannelInput, secrets, Notifier};
use clap::Subcommand;
use std::path::PathBuf;
use std::sync::Arc;

/// Notification commands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// List channels with their routes (secrets masked).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a channel. Secrets may be `env:NAME` (read from the server's environment when
    /// sending) or given on standard input (`--secret-stdin`), never on the command line.
    Add {
        /// A name: letters, digits, `.`, `_`, `-`.
        name: String,
        /// `slack`, `email` or `webhook`.
        #[arg(long)]
        kind: String,
        /// Slack: `env:NAME` (or leave it out and pipe the webhook URL to --secret-stdin);
        /// webhook: the URL to POST to.
        #[arg(long, default_value = "")]
        url: String,
        /// The secret is `env:NAME`: an SMTP password or webhook signing secret.
        #[arg(long, value_name = "env:NAME")]
        secret_env: Option<String>,
        /// Read the secret (Slack URL, SMTP password, signing secret) from standard input.
        #[arg(long)]
        secret_stdin: bool,
        #[arg(long, default_value = "")]
        smtp_host: String,
        #[arg(long, default_value = "")]
        smtp_port: String,
        /// `starttls` (default), `tls` or `none`.
        #[arg(long, default_value = "")]
        smtp_tls: String,
        #[arg(long, default_value = "")]
        smtp_user: String,
        #[arg(long, default_value = "")]
        from: String,
        /// Comma-separated recipients.
        #[arg(long, default_value = "")]
        to: String,
        /// Messages may carry the call's arguments.
        #[arg(long)]
        private: bool,
        /// Percent of time left when the reminder goes (default: the global setting).
        #[arg(long, default_value = "")]
        reminder: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a channel with its routes and queued messages.
    Remove { name: String },
    /// Pause a channel (its queued messages are skipped).
    Disable { name: String },
    /// Resume a paused channel.
    Enable { name: String },
    /// Send a channel the gated calls matching every filter (globs; empty or `*`: any).
    Route {
        channel: String,
        #[arg(long, default_value = "*")]
        rule: String,
        /// A risk class, or `*`.
        #[arg(long, default_value = "*")]
        risk: String,
        #[arg(long, default_value = "*")]
        agent: String,
        /// The approver role, or the role or group a call was escalated to.
        #[arg(long, default_value = "*")]
        audience: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a route by its number (see `list`).
    Unroute { id: i64 },
    /// Show or change the shared settings.
    Settings {
        /// Percent of a call's time left when reminders go (1-99).
        #[arg(long)]
        reminder: Option<String>,
        /// Destinations inside the network channels may reach (comma-separated origins,
        /// `http://host:port` or `smtp://host:port`; empty to clear).
        #[arg(long)]
        allow: Option<String>,
        /// Every how many minutes the audit log's head goes to the server log and every
        /// enabled channel (0: never; default 60).
        #[arg(long)]
        audit_head_minutes: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The newest deliveries.
    Log {
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Runs a notify command.
pub async fn run(
    cmd: NotifyCommand,
    db: &crate::store::Location,
    key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    let key = secrets::SecretKey::for_db(db, key_file.as_deref())?;
    // Links are made by the server; the CLI never sends.
    let notifier = Arc::new(Notifier::new(gate, key, ""));
    match cmd {
        NotifyCommand::List { json } => {
            let channels = notifier.channels().await.map_err(err)?;
            if json {
                return print_json(&channels);
            }
            if channels.is_empty() {
                println!("no channels");
            }
            for c in channels {
                println!(
                    "{} ({}{}{}): {}",
                    c.name,
                    c.kind.as_str(),
                    if c.private { ", private" } else { "" },
                    if c.enabled { "" } else { ", paused" },
                    c.target
                );
                for r in c.routes {
                    println!(
                        "  route #{}: rule {} · risk {} · agent {} · audience {}",
                        r.id, r.rule, r.risk, r.agent, r.audience
                    );
                }
            }
            Ok(())
        }
        NotifyCommand::Add {
            name,
            kind,
            url,
            secret_env,
            secret_stdin,
            smtp_host,
            smtp_port,
            smtp_tls,
            smtp_user,
            from,
            to,
            private,
            reminder,
            json,
        } => {
            let mut secret = secret_env.unwrap_or_default();
            if secret_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                secret = line.trim().to_string();
            }
            let mut url = url;
            if kind == "slack" && url.is_empty() {
                url = std::mem::take(&mut secret);
            }
            let input = ChannelInput {
                name,
                kind,
                url,
                secret,
                smtp_host,
                smtp_port,
                smtp_tls,
                smtp_username: smtp_user,
                mail_from: from,
                mail_to: to,
                private,
                reminder_percent: reminder,
            };
            let added = notifier.add_channel(&input, "cli").await.map_err(err)?;
            if json {
                return print_json(&added);
            }
            println!("added {}: {}", added.channel.name, added.channel.target);
            if let Some(secret) = added.secret_once {
                println!("signing secret (shown once): {secret}");
            }
            Ok(())
        }
        NotifyCommand::Remove { name } => {
            notifier.remove_channel(&name, "cli").await.map_err(err)?;
            println!("removed {name}");
            Ok(())
        }
        NotifyCommand::Disable { name } => {
            notifier
                .set_enabled(&name, false, "cli")
                .await
                .map_err(err)?;
            println!("paused {name}");
            Ok(())
        }
        NotifyCommand::Enable { name } => {
            notifier
                .set_enabled(&name, true, "cli")
                .await
                .map_err(err)?;
            println!("resumed {name}");
            Ok(())
        }
        NotifyCommand::Route {
            channel,
            rule,
            risk,
            agent,
            audience,
            json,
        } => {
            let route = notifier
                .add_route(&channel, [&rule, &risk, &agent, &audience], "cli")
                .await
                .map_err(err)?;
            if json {
                return print_json(&route);
            }
            println!("route #{} added to {channel}", route.id);
            Ok(())
        }
        NotifyCommand::Unroute { id } => {
            notifier.remove_route(id, "cli").await.map_err(err)?;
            println!("route #{id} removed");
            Ok(())
        }
        NotifyCommand::Settings {
            reminder,
            allow,
            audit_head_minutes,
            json,
        } => {
            let mut settings = notifier.settings().await.map_err(err)?;
            if reminder.is_some() || allow.is_some() || audit_head_minutes.is_some() {
                let reminder = reminder.unwrap_or_else(|| settings.reminder_percent.to_string());
                let allow = allow.unwrap_or_else(|| settings.allowed_origins.join(","));
                let head =
                    audit_head_minutes.unwrap_or_else(|| settings.audit_head_minutes.to_string());
                settings = notifier
                    .save_settings(&reminder, &allow, &head, "cli")
                    .await
                    .map_err(err)?;
            }
            if json {
                return print_json(&settings);
            }
            println!(
                "reminders when {} % of a call's time is left",
                settings.reminder_percent
            );
            match settings.audit_head_minutes {
                0 => println!("the audit head is not published"),
                m => println!("the audit head is published every {m} minutes"),
            }
            if settings.allowed_origins.is_empty() {
                println!("no destinations inside the network allowed");
            } else {
                println!(
                    "allowed inside the network: {}",
                    settings.allowed_origins.join(", ")
                );
            }
            Ok(())
        }
        NotifyCommand::Log { limit, json } => {
            let log = notifier
                .deliveries(limit.clamp(1, 1000))
                .await
                .map_err(err)?;
            if json {
                return print_json(&log);
            }
            for d in log {
                println!(
                    "#{} {} {}{} — {} after {} attempt(s){}",
                    d.id,
                    d.channel,
                    d.kind.as_str(),
                    d.call_id.map(|c| format!(" call {c}")).unwrap_or_default(),
                    d.state,
                    d.attempts,
                    d.last_result.map(|r| format!(": {r}")).unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}
