//! `askfirst bypass …`, `askfirst signoff …` and the sign-off half of `askfirst policy …`:
//! the same service and review engine as the browser. Each command acts as a named person
//! (`--user`), and the rules hold for them as for anyone: a requester never signs off
//! their own request, and there is no override.

use super::gate::{err, open_gate, person, print_json};
use crate::domain::bypass::{BypassView, Scope};
use crate::domain::change_request::ChangeView;
use crate::domain::policy_change::duration_text;
use crate::domain::review::Verdict;
use crate::domain::signoff::SignoffSettings;
use crate::gate::bypass::BypassRequest;
use crate::gate::signoff::SignoffInput;
use crate::policy::rule_form::duration;
use anyhow::Context;
use clap::Subcommand;

/// Bypass commands.
#[derive(Debug, Subcommand)]
pub enum BypassCommand {
    /// Ask that gated calls matching a scope be approved without a person for a window.
    Request {
        /// Who asks (an approver or above).
        #[arg(long)]
        user: String,
        /// Glob on the tool name.
        #[arg(long)]
        tool: String,
        /// Glob on the agent's name (default: any agent).
        #[arg(long)]
        agent: Option<String>,
        /// An argument condition `POINTER=GLOB` (e.g. `/env=staging*`); repeatable.
        #[arg(long = "arg")]
        args: Vec<String>,
        /// How long it approves calls once active: 90s, 30m, 2h, 1d (the admins cap it).
        #[arg(long = "for")]
        window: String,
        /// Why it is needed.
        #[arg(long)]
        reason: String,
        /// Bypass gates that ask for typed confirmation too (reviewers see this).
        #[arg(long)]
        include_confirmation: bool,
        #[arg(long)]
        json: bool,
    },
    /// Approve or deny a pending bypass request as a manager.
    Review {
        id: i64,
        #[arg(long)]
        user: String,
        #[arg(long, conflicts_with = "deny", required_unless_present = "deny")]
        approve: bool,
        #[arg(long)]
        deny: bool,
        /// Why (required with --deny).
        #[arg(long)]
        comment: Option<String>,
        /// The hash of the request the manager was shown (`bypass show ID --json`);
        /// without it, the request as stored (its hash is printed).
        #[arg(long)]
        hash: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an active bypass (or withdraw a pending request): its requester or a manager.
    Revoke {
        id: i64,
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// List recent bypasses.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one bypass: scope, window, reviews, calls it approved.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

/// Sign-off settings (admins).
#[derive(Debug, Subcommand)]
pub enum SignoffCommand {
    /// Print the settings.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change them, as an admin; refused when fewer than approvals + 1 managers exist.
    Set {
        #[arg(long)]
        user: String,
        /// Distinct managers who must approve (at least 2).
        #[arg(long)]
        approvals: Option<u32>,
        /// Longest bypass window (at most 7d).
        #[arg(long)]
        max_window: Option<String>,
        /// How long a request waits before it expires (10m to 7d).
        #[arg(long)]
        request_ttl: Option<String>,
        /// How long someone whose password an admin reset signs nothing off (0 to 30d; a
        /// shorter period applies once the longer one has run its course).
        #[arg(long)]
        reset_cooling: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn print_bypass(b: &BypassView) {
    println!(
        "bypass #{}  {}  {}  window {}  approvals {}/{}  used {}",
        b.id,
        b.status,
        b.scope_text,
        duration_text(b.window_secs),
        b.approvals,
        b.approvals_required,
        b.used
    );
    println!("  requested by {}: {}", b.requester, b.reason);
    if b.include_confirmation {
        println!("  includes gates that ask for typed confirmation");
    }
    for r in &b.reviews {
        println!(
            "  {} {}{}",
            r.user,
            r.verdict.as_str(),
            r.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        );
    }
    println!("  hash {}", b.hash);
}

fn print_change(c: &ChangeView) {
    println!(
        "change #{}  {}  by {}  from version {}{}  approvals {}/{}",
        c.id,
        c.status,
        c.author,
        c.base,
        if c.needs_rebase() {
            format!(" (needs re-base onto {})", c.in_force)
        } else {
            String::new()
        },
        c.approvals,
        c.approvals_required
    );
    println!("  “{}”", c.comment);
    for change in &c.changes {
        println!("  - {change}");
    }
    for f in c.findings.iter().filter(|f| f.loosens) {
        println!("  loosens: {}: {}", f.change, f.why);
    }
    println!(
        "  replay: {} of the last {} calls would be treated more laxly, {} more strictly",
        c.replay.laxer, c.replay.examined, c.replay.stricter
    );
    println!("  hash {}", c.hash);
}

fn verdict(approve: bool) -> Verdict {
    if approve {
        Verdict::Approve
    } else {
        Verdict::Deny
    }
}

/// Runs a bypass command.
pub async fn bypass(cmd: BypassCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    match cmd {
        BypassCommand::Request {
            user,
            tool,
            agent,
            args,
            window,
            reason,
            include_confirmation,
            json,
        } => {
            let who = person(&gate, &user).await?;
            let scope: Scope =
                crate::policy::scope::read(agent.as_deref().unwrap_or(""), &tool, &args.join("\n"))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let window_secs = duration(&window).map_err(|e| anyhow::anyhow!("--for {e}"))?;
            let view = gate
                .request_bypass(
                    &who,
                    BypassRequest {
                        scope,
                        window_secs,
                        reason,
                        include_confirmation,
                    },
                )
                .await
                .map_err(err)?;
            if json {
                print_json(&view)?;
            } else {
                println!(
                    "bypass #{} requested; it needs {} managers' approval (not yours)",
                    view.id, view.approvals_required
                );
                print_bypass(&view);
            }
        }
        BypassCommand::Review {
            id,
            user,
            approve,
            deny: _,
            comment,
            hash,
            json,
        } => {
            let who = person(&gate, &user).await?;
            let shown_hash = match hash {
                Some(h) => h.trim().to_string(),
                None => gate.bypass_page(id, &who).await.map_err(err)?.bypass.hash,
            };
            let view = gate
                .review_bypass(
                    id,
                    &who,
                    SignoffInput {
                        verdict: verdict(approve),
                        comment,
                        shown_hash,
                    },
                )
                .await
                .map_err(err)?;
            if json {
                print_json(&view)?;
            } else {
                print_bypass(&view);
            }
        }
        BypassCommand::Revoke { id, user, json } => {
            let who = person(&gate, &user).await?;
            let view = gate.revoke_bypass(id, &who).await.map_err(err)?;
            if json {
                print_json(&view)?;
            } else {
                print_bypass(&view);
            }
        }
        BypassCommand::List { json } => {
            let list = gate.list_bypasses().await.map_err(err)?;
            if json {
                print_json(&list.bypasses)?;
            } else if list.bypasses.is_empty() {
                println!("no bypasses");
            } else {
                for b in &list.bypasses {
                    print_bypass(b);
                }
            }
        }
        BypassCommand::Show { id, json } => {
            // Shown as an operator sees it: nobody's "may I review" applies.
            let operator = crate::domain::UserView::operator();
            let page = gate.bypass_page(id, &operator).await.map_err(err)?;
            if json {
                print_json(&serde_json::json!({
                    "bypass": page.bypass,
                    "approved_calls": page.approved_calls,
                    "would_cover": page.would_cover,
                }))?;
            } else {
                print_bypass(&page.bypass);
                for c in &page.approved_calls {
                    println!(
                        "  approved call {} {} → {} at {}",
                        c.id, c.agent, c.tool, c.created_at
                    );
                }
            }
        }
    }
    Ok(())
}

/// Runs a sign-off settings command.
pub async fn settings(cmd: SignoffCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    let print = |s: &SignoffSettings, json: bool| -> anyhow::Result<()> {
        if json {
            print_json(s)
        } else {
            println!(
                "{} managers sign off; bypass windows up to {}; requests wait {}; after a \
                 password reset, {} without signing off",
                s.approvals,
                duration_text(s.max_window_secs),
                duration_text(s.request_ttl_secs),
                duration_text(s.reset_cooling_secs)
            );
            if let Some(l) = s.cooling_lowered {
                println!(
                    "  (resets until {} still cool off for {})",
                    crate::store::calls::rfc3339(l.until_ms),
                    duration_text(l.secs)
                );
            }
            Ok(())
        }
    };
    match cmd {
        SignoffCommand::Show { json } => print(&gate.signoff_settings().await.map_err(err)?, json),
        SignoffCommand::Set {
            user,
            approvals,
            max_window,
            request_ttl,
            reset_cooling,
            json,
        } => {
            let who = person(&gate, &user).await?;
            if who.disabled || who.role != crate::domain::Role::Admin {
                anyhow::bail!("only an active admin can change the sign-off settings");
            }
            let mut s = gate.signoff_settings().await.map_err(err)?;
            if let Some(n) = approvals {
                s.approvals = n;
            }
            if let Some(w) = max_window {
                s.max_window_secs =
                    duration(&w).map_err(|e| anyhow::anyhow!("--max-window {e}"))?;
            }
            if let Some(t) = request_ttl {
                s.request_ttl_secs =
                    duration(&t).map_err(|e| anyhow::anyhow!("--request-ttl {e}"))?;
            }
            if let Some(t) = reset_cooling {
                s.reset_cooling_secs = if crate::domain::signoff::is_zero_duration(&t) {
                    0
                } else {
                    duration(&t).map_err(|e| anyhow::anyhow!("--reset-cooling {e}"))?
                };
            }
            let saved = gate
                .set_signoff_settings(&format!("user:{}", who.username), s)
                .await
                .map_err(err)?;
            print(&saved, json)
        }
    }
}

/// `askfirst policy pending`.
pub async fn pending(db: &crate::store::Location, json: bool) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    let operator = crate::domain::UserView::operator();
    let items = gate.pending_changes(&operator).await.map_err(err)?;
    let changes: Vec<&ChangeView> = items.iter().map(|i| &i.change).collect();
    if json {
        print_json(&changes)?;
    } else if changes.is_empty() {
        println!("no policy changes are waiting");
    } else {
        for c in changes {
            print_change(c);
        }
    }
    Ok(())
}

/// `askfirst policy review`.
pub async fn review_change(
    db: &crate::store::Location,
    id: i64,
    user: &str,
    approve: bool,
    comment: Option<String>,
    hash: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    let who = person(&gate, user).await?;
    let shown_hash = match hash {
        Some(h) => h.trim().to_string(),
        None => gate.policy_change(id).await.map_err(err)?.hash,
    };
    let view = gate
        .review_change(
            id,
            &who,
            SignoffInput {
                verdict: verdict(approve),
                comment,
                shown_hash,
            },
        )
        .await
        .map_err(err)?;
    if json {
        print_json(&view)?;
    } else {
        print_change(&view);
        if let Some(version) = view.applied_version {
            println!("applied: policy version {version} is in force");
        }
    }
    Ok(())
}

/// `askfirst policy rebase` / `withdraw`.
pub async fn rebase_or_withdraw(
    db: &crate::store::Location,
    id: i64,
    user: &str,
    rebase: bool,
    json: bool,
) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    let who = person(&gate, user).await?;
    let view = if rebase {
        gate.rebase_change(id, &who).await
    } else {
        gate.withdraw_change(id, &who).await
    }
    .map_err(err)
    .context(if rebase { "re-basing" } else { "withdrawing" })?;
    if json {
        print_json(&view)?;
    } else {
        print_change(&view);
    }
    Ok(())
}
