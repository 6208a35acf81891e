//! `askfirst agent …`, `askfirst calls …`, `askfirst policy …`, `askfirst audit …`: the gate
//! from the command line, through the same service functions as the server.

use crate::clock::SystemClock;
use crate::domain::{call::CallView, AppError};
use crate::gate::{decide::DecisionInput, Gate, GateConfig};
use crate::store;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Agent commands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent; prints its API key and webhook secret ONCE.
    Create {
        name: String,
        /// Print `{"name", "key", "webhook_secret"}`.
        #[arg(long)]
        json: bool,
    },
    /// List agents (never their keys).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an agent: its keys stop working.
    Disable {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled agent again.
    Enable {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one agent (never its key): last seen, calls in the last 24 h, callback origins.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// A new API key, printed ONCE; the old key stops at once, or after --grace (at most 24h).
    RotateKey {
        name: String,
        /// How long the old key keeps working: 0 (default), 90s, 15m, 1h … 24h.
        #[arg(long, default_value = "0")]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// A new webhook secret, printed ONCE; webhooks are signed with both for --grace.
    RotateSecret {
        name: String,
        #[arg(long, default_value = "0")]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// The origins (http(s)://host[:port]) the agent's callbacks may reach even inside the
    /// network; none given clears them.
    SetCallbacks {
        name: String,
        origins: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// When the agent's allowed calls get a signed receipt: `always`, or only when the
    /// proposal asks (`asked`, the default). Approved calls always have one.
    Receipts {
        name: String,
        #[arg(value_enum)]
        when: ReceiptsWhen,
        #[arg(long)]
        json: bool,
    },
}

/// When an agent's allowed calls get a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReceiptsWhen {
    /// Every allowed call.
    Always,
    /// Only when the proposal says `"receipt": true`.
    Asked,
}

/// A grace period as typed: `0` or a duration such as `90s`, `15m`, `1h`.
fn grace(text: &str) -> anyhow::Result<chrono::Duration> {
    crate::gate::agents::parse_grace(text).map_err(|e| anyhow::anyhow!("--grace: {e}"))
}

/// Commands to decide on calls without a browser.
#[derive(Debug, Subcommand)]
pub enum CallsCommand {
    /// Pending calls, soonest deadline first.
    Pending {
        #[arg(long)]
        json: bool,
    },
    /// Show one call with its reviews and the candidate under review (`--json`:
    /// `"candidate": {"version", "args", "hash"}`).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a call as a person, through the same review engine as the inbox.
    Approve {
        id: String,
        /// Username of the person approving.
        #[arg(long)]
        user: String,
        /// The hash of the candidate the person was shown (`calls show --json`); refused
        /// with `stale_view` if the arguments changed since. Without it: the candidate
        /// current now, whose hash is printed.
        #[arg(long)]
        hash: Option<String>,
        /// Feedback for the agent.
        #[arg(long)]
        feedback: Option<String>,
        /// The typed confirmation phrase, when the rule asks for one.
        #[arg(long)]
        confirm: Option<String>,
        /// Replacement arguments (a JSON object) the agent must execute instead.
        #[arg(long)]
        args: Option<String>,
        /// Also approve identical calls for this many minutes (the rule must allow grants).
        #[arg(long, value_name = "MINUTES")]
        grant_minutes: Option<u64>,
        /// Most calls the grant approves (with --grant-minutes).
        #[arg(long, requires = "grant_minutes", default_value_t = 1)]
        grant_uses: u32,
        /// The grant covers similar calls (same deciding arguments), not only identical ones.
        #[arg(long, requires = "grant_minutes")]
        grant_similar: bool,
        #[arg(long)]
        json: bool,
    },
    /// Deny a call as a person; the feedback goes back to the agent verbatim.
    Deny {
        id: String,
        #[arg(long)]
        user: String,
        /// Why, in words (optional with --reason).
        #[arg(long, required_unless_present = "reason")]
        feedback: Option<String>,
        /// A preset denial reason's code (`policy reasons` lists them).
        #[arg(long)]
        reason: Option<String>,
        /// Tell the agent not to retry: the same call is denied at once for a while.
        #[arg(long)]
        do_not_retry: bool,
        /// The hash of the candidate the person was shown (as for `approve`).
        #[arg(long)]
        hash: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// Policy commands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Replace the whole policy with a TOML file (validated first; line-precise errors).
    /// A file that loosens a gate against the policy in force is refused unless
    /// `--confirm-loosening` is given; the reasons are printed.
    /// A file that loosens a gate becomes a pending change (its number is printed) that
    /// applies once enough managers approve it (`policy review`); otherwise it applies at
    /// once. Before anyone has an account (provisioning), it always applies at once.
    Import {
        file: PathBuf,
        /// The person making the change: recorded as its author, and never counted as a
        /// reviewer of it.
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List policy changes waiting for managers' sign-off.
    Pending {
        #[arg(long)]
        json: bool,
    },
    /// Approve or deny a pending policy change as a manager, through the review engine.
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
        /// The hash of the change the manager was shown (`policy pending --json`);
        /// without it, the change as it is now (its hash is printed).
        #[arg(long)]
        hash: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Move a pending change of yours onto the policy in force (voids its reviews).
    Rebase {
        id: i64,
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a pending change of yours.
    Withdraw {
        id: i64,
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the policy in force as TOML.
    Export,
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain of the audit log (keyed with `--audit-key-file`).
    Verify {
        /// A head printed earlier by `audit head` (`ID:HASH`): that event must still be
        /// there, unchanged, so truncation after it shows.
        #[arg(long)]
        head: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the newest event's id and hash (`ID:HASH`): keep it somewhere the database's
    /// writers cannot reach, and pass it to `audit verify --head` later.
    Head {
        #[arg(long)]
        json: bool,
    },
    /// Re-link a plain (unkeyed, intact) audit log with `--audit-key-file`, once, when a
    /// key is first put in use.
    Rekey,
    /// Write the events matching a filter, oldest first, as CSV or JSON Lines (the same
    /// rendering as the audit page's exports; CSV cells that a spreadsheet would run as a
    /// formula get a leading `'`).
    Export {
        /// `csv` or `jsonl`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// An event kind, or a prefix ending in `.` (`bypass.`).
        #[arg(long)]
        kind: Option<String>,
        /// Exactly this actor (`user:ada`, `agent:bot`, `cli`).
        #[arg(long)]
        actor: Option<String>,
        /// Events about the agent with this name.
        #[arg(long)]
        agent: Option<String>,
        /// Events about this call.
        #[arg(long)]
        call: Option<String>,
        /// At or after this time (RFC 3339, e.g. 2026-01-01T09:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub(super) async fn open_gate(db: &crate::store::Location) -> anyhow::Result<Arc<Gate>> {
    let pool = store::open(db).await?;
    store::check_audit_key(&pool).await?;
    Gate::open(pool, Arc::new(SystemClock), GateConfig::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub(super) fn err(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e} ({})", e.code())
}

pub(super) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs an agent command.
pub async fn agent(cmd: AgentCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    match cmd {
        AgentCommand::Create { name, json } => {
            let created = gate.create_agent(&name, "cli").await.map_err(err)?;
            if json {
                print_json(&created)?;
            } else {
                println!("agent:          {}", created.name);
                println!("api key:        {}", created.key);
                println!("webhook secret: {}", created.webhook_secret);
                println!(
                    "\nStore both now: they are not shown again (only a hash of the key is kept)."
                );
            }
        }
        AgentCommand::List { json } => {
            let agents = gate.list_agents().await.map_err(err)?;
            if json {
                print_json(&agents)?;
            } else {
                println!(
                    "{:24}  {:14}  {:8}  {:20}  LAST SEEN",
                    "NAME", "KEY", "STATUS", "CREATED"
                );
                for a in agents {
                    let status = if a.disabled { "disabled" } else { "active" };
                    println!(
                        "{:24}  {:14}  {:8}  {:20}  {}",
                        a.name,
                        format!("{}…", a.key_prefix),
                        status,
                        a.created_at,
                        a.last_seen.as_deref().unwrap_or("never")
                    );
                }
            }
        }
        AgentCommand::Disable { name, json } => set_enabled(&gate, &name, false, json).await?,
        AgentCommand::Enable { name, json } => set_enabled(&gate, &name, true, json).await?,
        AgentCommand::Show { name, json } => {
            let a = gate.agent(&name).await.map_err(err)?;
            if json {
                print_json(&a)?;
            } else {
                println!("agent:            {}", a.name);
                println!("key:              {}…", a.key_prefix);
                println!(
                    "status:           {}",
                    if a.disabled { "disabled" } else { "active" }
                );
                println!("created:          {}", a.created_at);
                println!(
                    "last seen:        {}",
                    a.last_seen.as_deref().unwrap_or("never")
                );
                if let Some(t) = &a.previous_key_until {
                    println!("previous key:     works until {t}");
                }
                if let Some(t) = &a.previous_secret_until {
                    println!("previous secret:  signs until {t}");
                }
                println!(
                    "callback origins: {}",
                    if a.callback_origins.is_empty() {
                        "(none)".to_string()
                    } else {
                        a.callback_origins.join(", ")
                    }
                );
                println!(
                    "receipts:         {}",
                    if a.receipts_always {
                        "every allowed call"
                    } else {
                        "allowed calls that ask (approved calls always)"
                    }
                );
                let calls: Vec<String> =
                    a.last_24h.iter().map(|(s, n)| format!("{n} {s}")).collect();
                println!(
                    "last 24 h:        {}",
                    if calls.is_empty() {
                        "no calls".to_string()
                    } else {
                        calls.join(", ")
                    }
                );
            }
        }
        AgentCommand::RotateKey {
            name,
            grace: g,
            json,
        } => {
            let rotated = gate
                .rotate_key(&name, grace(&g)?, "cli")
                .await
                .map_err(err)?;
            print_rotated(&rotated, "api key", json)?;
        }
        AgentCommand::RotateSecret {
            name,
            grace: g,
            json,
        } => {
            let rotated = gate
                .rotate_secret(&name, grace(&g)?, "cli")
                .await
                .map_err(err)?;
            print_rotated(&rotated, "webhook secret", json)?;
        }
        AgentCommand::SetCallbacks {
            name,
            origins,
            json,
        } => {
            let set = gate
                .set_callback_origins(&name, &origins, "cli")
                .await
                .map_err(err)?;
            if json {
                print_json(&serde_json::json!({ "name": name, "callback_origins": set }))?;
            } else if set.is_empty() {
                println!("{name}: no callback origins");
            } else {
                println!("{name}: callbacks may reach {}", set.join(", "));
            }
        }
        AgentCommand::Receipts { name, when, json } => {
            let always = when == ReceiptsWhen::Always;
            gate.set_receipts_always(&name, always, "cli")
                .await
                .map_err(err)?;
            if json {
                print_json(&serde_json::json!({ "name": name, "receipts_always": always }))?;
            } else if always {
                println!("{name}: every allowed call gets a receipt");
            } else {
                println!("{name}: allowed calls get a receipt when the proposal asks");
            }
        }
    }
    Ok(())
}

async fn set_enabled(gate: &Gate, name: &str, enable: bool, json: bool) -> anyhow::Result<()> {
    gate.set_agent_enabled(name, enable, "cli")
        .await
        .map_err(err)?;
    let state = if enable { "enabled" } else { "disabled" };
    if json {
        print_json(&serde_json::json!({ "name": name, "state": state }))
    } else {
        println!("{name} {state}");
        Ok(())
    }
}

fn print_rotated(r: &crate::domain::agent::Rotated, what: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(r);
    }
    println!("agent:     {}", r.name);
    println!("new {what}: {}", r.secret);
    match &r.previous_valid_until {
        Some(t) => println!("the previous {what} works until {t}"),
        None => println!("the previous {what} stopped working"),
    }
    println!("\nStore it now: it is not shown again.");
    Ok(())
}

/// Runs a calls command.
pub async fn calls(cmd: CallsCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    match cmd {
        CallsCommand::Pending { json } => {
            gate.sweep().await.map_err(err)?;
            let rows = store::calls::pending(&gate.pool, 1000).await?;
            let mut views = Vec::with_capacity(rows.len());
            for row in rows {
                views.push(row.view(&store::reviews::of_call(&gate.pool, &row.id).await?));
            }
            if json {
                print_json(&views)?;
            } else if views.is_empty() {
                println!("no pending calls");
            } else {
                for v in &views {
                    print_summary(v);
                }
            }
        }
        CallsCommand::Show { id, json } => {
            let view = gate.view(&id, None).await.map_err(err)?;
            if json {
                print_json(&view)?;
            } else {
                print_summary(&view);
                println!("  args: {}", serde_json::to_string_pretty(&view.args)?);
                if let Some(c) = &view.candidate {
                    println!("  candidate: version {}, hash {}", c.version, c.hash);
                }
                for d in &view.decisions {
                    let of = if d.current {
                        String::new()
                    } else {
                        format!(" (of version {}, no longer counts)", d.version)
                    };
                    println!(
                        "  {} by {} at {}{of}: {}",
                        d.decision.as_str(),
                        d.user,
                        d.at,
                        d.feedback.as_deref().unwrap_or("")
                    );
                }
            }
        }
        CallsCommand::Approve {
            id,
            user,
            hash,
            feedback,
            confirm,
            args,
            grant_minutes,
            grant_uses,
            grant_similar,
            json,
        } => {
            let edited_args = match args {
                Some(text) => {
                    Some(serde_json::from_str(&text).context("--args must be a JSON object")?)
                }
                None => None,
            };
            let person = person(&gate, &user).await?;
            let shown_hash = shown(&gate, &id, hash).await?;
            let input = DecisionInput {
                approve: true,
                feedback,
                confirm,
                edited_args,
                shown_hash: shown_hash.clone(),
                grant: grant_minutes.map(|m| askfirst_grant(m, grant_uses, grant_similar)),
                ..Default::default()
            };
            let view = gate.decide(&id, &person, input).await.map_err(err)?;
            report(&view, &shown_hash, json)?;
        }
        CallsCommand::Deny {
            id,
            user,
            feedback,
            reason,
            do_not_retry,
            hash,
            json,
        } => {
            let person = person(&gate, &user).await?;
            let shown_hash = shown(&gate, &id, hash).await?;
            let input = DecisionInput {
                approve: false,
                feedback,
                shown_hash: shown_hash.clone(),
                reason_code: reason,
                do_not_retry,
                ..Default::default()
            };
            let view = gate.decide(&id, &person, input).await.map_err(err)?;
            report(&view, &shown_hash, json)?;
        }
    }
    Ok(())
}

/// A grant asked for on the command line.
fn askfirst_grant(minutes: u64, uses: u32, similar: bool) -> crate::domain::grant::GrantAsk {
    crate::domain::grant::GrantAsk {
        secs: minutes.saturating_mul(60),
        uses,
        similar,
    }
}

/// The hash a review names: the one given, or the current candidate's.
async fn shown(gate: &Gate, id: &str, hash: Option<String>) -> anyhow::Result<String> {
    if let Some(hash) = hash {
        return Ok(hash.trim().to_string());
    }
    let view = gate.view(id, None).await.map_err(err)?;
    match view.candidate {
        Some(candidate) => Ok(candidate.hash),
        None => bail!("call {id} was never gated: there is nothing to review"),
    }
}

/// The person a command acts as — who must prove it with their password (see
/// [`read_password`]): access to the command line is not someone's word. Refused for a disabled account and for one whose password someone
/// else set (they choose their own in the browser first).
pub(super) async fn person(gate: &Gate, username: &str) -> anyhow::Result<crate::domain::UserView> {
    let name = username.trim().to_lowercase();
    let Some(row) = store::users::find_by_username(&gate.pool, &name).await? else {
        bail!("no user named `{name}`");
    };
    let password = read_password(&format!("password for {name}: "))?;
    let right = crate::auth::password::verify_blocking(password, row.password_hash.clone())
        .await
        .map_err(err)?;
    if !right {
        bail!("wrong password for `{name}`: a command acts as a person only with their password");
    }
    if row.disabled {
        bail!("`{name}` is disabled");
    }
    if row.must_change_password {
        bail!("`{name}` must choose their own password first (sign in to the browser)");
    }
    Ok(row.view())
}

/// A password: `ASKFIRST_PASSWORD` when set (for scripts), else prompted without echo on a
/// terminal, else the first line of standard input.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if let Some(password) = std::env::var("ASKFIRST_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        bail!("no password on standard input (its first line is the acting person's password)");
    }
    Ok(line)
}

fn print_summary(v: &CallView) {
    let risk: Vec<_> = v.risk.iter().map(|r| r.as_str()).collect();
    println!(
        "{}  {:9}  {} → {}  risk [{}]  approvals {}/{}  deadline {}",
        v.id,
        v.status.as_str(),
        v.agent,
        v.tool,
        risk.join(", "),
        v.approvals,
        v.approvals_required.unwrap_or(0),
        v.deadline.as_deref().unwrap_or("-"),
    );
}

fn report(view: &CallView, reviewed: &str, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(view)
    } else {
        println!(
            "reviewed arguments {reviewed}; call {} is now {} ({} of {} approvals)",
            view.id,
            view.status,
            view.approvals,
            view.approvals_required.unwrap_or(1)
        );
        Ok(())
    }
}

/// Runs a policy command.
pub async fn policy(cmd: PolicyCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Import { file, user, json } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (policy, _) = crate::policy::toml_io::import(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let rules = policy.rules.len();
            let gate = open_gate(db).await?;
            let (author, author_id) = match user {
                Some(name) => {
                    let person = person(&gate, &name).await?;
                    if person.disabled || person.role != crate::domain::Role::Admin {
                        bail!("`{name}` is not an active admin: only admins change the policy");
                    }
                    (format!("user:{}", person.username), Some(person.id))
                }
                None => ("cli".to_string(), None),
            };
            let saved = gate
                .replace_policy(policy, &author, author_id)
                .await
                .map_err(err)?;
            let loosening = saved.classification.loosening;
            if json {
                print_json(&serde_json::json!({
                    "version": saved.version,
                    "pending": saved.pending,
                    "approvals_required": saved.pending.map(|_| saved.approvals_required),
                    "rules": rules,
                    "loosening": loosening,
                    "findings": saved.classification.findings,
                }))?;
            } else {
                match (saved.version, saved.pending) {
                    (_, Some(change)) => println!(
                        "it loosens a gate: pending change #{change} waits for {} managers \
                         (askfirst policy review {change} --user NAME --approve)",
                        saved.approvals_required
                    ),
                    (Some(version), None) => {
                        println!("policy version {version} in force ({rules} rules)")
                    }
                    (None, None) => {}
                }
                if loosening {
                    for f in saved.classification.findings.iter().filter(|f| f.loosens) {
                        println!("  - {}: {}", f.change, f.why);
                    }
                }
            }
        }
        PolicyCommand::Pending { json } => super::signoff::pending(db, json).await?,
        PolicyCommand::Review {
            id,
            user,
            approve,
            deny: _,
            comment,
            hash,
            json,
        } => super::signoff::review_change(db, id, &user, approve, comment, hash, json).await?,
        PolicyCommand::Rebase { id, user, json } => {
            super::signoff::rebase_or_withdraw(db, id, &user, true, json).await?
        }
        PolicyCommand::Withdraw { id, user, json } => {
            super::signoff::rebase_or_withdraw(db, id, &user, false, json).await?
        }
        PolicyCommand::Export => {
            let gate = open_gate(db).await?;
            print!(
                "{}",
                crate::policy::toml_io::to_toml(gate.policy().policy())
            );
        }
    }
    Ok(())
}

/// Runs an audit command.
pub async fn audit(cmd: AuditCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    if let AuditCommand::Export {
        format,
        kind,
        actor,
        agent,
        call,
        since,
        until,
        output,
    } = cmd
    {
        let query = crate::domain::audit_view::AuditQuery {
            kind,
            actor,
            agent,
            call,
            from: since,
            to: until,
            ..Default::default()
        };
        return audit_export(db, &format, &query, output.as_deref()).await;
    }
    let pool = store::open(db).await?;
    let mut conn = pool.acquire().await?;
    let (head, json) = match cmd {
        AuditCommand::Rekey => {
            let Some(key) = store::audit::key() else {
                bail!("pass the key with --audit-key-file (or ASKFIRST_AUDIT_KEY_FILE)");
            };
            let mut tx = store::write_tx(&pool).await?;
            let count = store::audit::rekey(&mut tx, key)
                .await?
                .map_err(|e| anyhow::anyhow!(e))?;
            tx.commit().await?;
            println!("audit log re-linked with the key: {count} events");
            return Ok(());
        }
        AuditCommand::Head { json } => {
            let Some((id, hash)) = store::audit::head(&mut *conn).await? else {
                bail!("the audit log is empty");
            };
            if json {
                print_json(
                    &serde_json::json!({ "id": id, "hash": hash, "head": format!("{id}:{hash}") }),
                )?;
            } else {
                println!("{id}:{hash}");
            }
            return Ok(());
        }
        AuditCommand::Verify { head, json } => (head, json),
        AuditCommand::Export { .. } => unreachable!("handled above"),
    };
    let head = match head.as_deref() {
        Some(text) => {
            let (id, hash) = text
                .trim()
                .split_once(':')
                .and_then(|(id, hash)| Some((id.parse::<i64>().ok()?, hash.to_string())))
                .filter(|(_, hash)| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
                .context("--head must be ID:HASH as `askfirst audit head` prints it")?;
            Some((id, hash))
        }
        None => None,
    };
    let result = store::audit::verify(
        &mut conn,
        store::audit::key(),
        head.as_ref().map(|(id, hash)| (*id, hash.as_str())),
    )
    .await?;
    // An intact chain may still have lost its newest events: compare its end with what the
    // database remembers apart from it.
    let tail = match result {
        store::audit::Verification::Intact { .. } => {
            Some(store::audit::missing_tail(&mut conn).await?)
        }
        store::audit::Verification::Broken { .. } => None,
    };
    let truncated = tail.as_ref().filter(|t| !t.gaps.is_empty());
    let notes = tail.as_ref().map(|t| t.notes.clone()).unwrap_or_default();
    match (&result, truncated, json) {
        (store::audit::Verification::Intact { events }, None, true) => {
            print_json(&serde_json::json!({ "intact": true, "events": events, "notes": notes }))?
        }
        (store::audit::Verification::Intact { events }, None, false) => {
            println!("audit log intact: {events} events");
            for note in &notes {
                println!("note: {note}");
            }
        }
        (_, Some(t), true) => print_json(&serde_json::json!({
            "intact": false,
            "event": t.last,
            "reason": format!("events after {} are missing: {}", t.last, t.gaps.join("; ")),
            "gaps": t.gaps,
            "notes": notes,
        }))?,
        (_, Some(t), false) => {
            println!(
                "audit log BROKEN after event {}: newer events are missing",
                t.last
            );
            for gap in &t.gaps {
                println!("  {gap}");
            }
        }
        (store::audit::Verification::Broken { id, reason }, None, true) => {
            print_json(&serde_json::json!({ "intact": false, "event": id, "reason": reason }))?
        }
        (store::audit::Verification::Broken { id, reason }, None, false) => {
            println!("audit log BROKEN at event {id}: {reason}")
        }
    }
    if truncated.is_some() {
        bail!("the audit log has lost its newest events");
    }
    if let store::audit::Verification::Broken { .. } = result {
        bail!("the audit log's hash chain is broken");
    }
    Ok(())
}

/// `askfirst audit export`: the filtered events, streamed to a file or standard output.
async fn audit_export(
    db: &crate::store::Location,
    format: &str,
    query: &crate::domain::audit_view::AuditQuery,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    use std::io::Write;
    let format: crate::domain::audit_view::ExportFormat = format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let filter = query.filter().map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.replace("`from`", "`--since`")
                .replace("`to`", "`--until`")
        )
    })?;
    let gate = open_gate(db).await?;
    let sink: Box<dyn Write + Send> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let mut sink = std::io::BufWriter::new(sink);
    let mut chunks = std::pin::pin!(gate.export_audit(filter, format).await.map_err(err)?);
    while let Some(chunk) = chunks.next().await {
        sink.write_all(&chunk.map_err(err)?)?;
    }
    sink.flush()?;
    Ok(())
}
