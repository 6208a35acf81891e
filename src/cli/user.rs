//! `askfirst user …`: add, list, disable and enable people.

use crate::auth::service;
use crate::clock::SystemClock;
use crate::domain::{Role, UserView};
use crate::store;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

/// People commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person. Prompts for the password unless --password-stdin is given.
    Add {
        /// Username (letters, digits, '.', '_', '-').
        name: String,
        /// Role: viewer, approver, manager or admin.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Print the new person as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List everyone.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a person from signing in and end their sessions.
    Disable {
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let a disabled person sign in again.
    Enable {
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a person's role (the last active admin cannot be demoted).
    SetRole {
        name: String,
        /// viewer, approver, manager or admin.
        role: Role,
        #[arg(long)]
        json: bool,
    },
    /// Set a new password for a person; they must change it at their next sign-in, and
    /// their sessions end. Prompts unless --password-stdin is given.
    ResetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs a people command against the database at `db`.
pub async fn run(cmd: UserCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let pool = store::open(db).await?;
    store::check_audit_key(&pool).await?;
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            json,
        } => {
            let password = read_password(password_stdin)?;
            let user = service::create_user(
                &pool,
                &SystemClock,
                service::Actor::Cli,
                &name,
                &password,
                role,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&user)?);
            } else {
                println!("added {} ({})", user.username, user.role);
            }
        }
        UserCommand::List { json } => {
            let users = service::list_users(&pool).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                print_table(&users);
            }
        }
        UserCommand::Disable { name, json } => toggle(&pool, &name, true, json).await?,
        UserCommand::Enable { name, json } => toggle(&pool, &name, false, json).await?,
        UserCommand::SetRole { name, role, json } => {
            let user =
                service::set_role(&pool, &SystemClock, service::Actor::Cli, &name, role).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&user)?);
            } else {
                println!("{} is now {}", user.username, user.role);
            }
        }
        UserCommand::ResetPassword {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            service::reset_password(&pool, &SystemClock, service::Actor::Cli, &name, &password)
                .await?;
            println!(
                "{}: new password set; they must change it at their next sign-in",
                name.trim().to_lowercase()
            );
        }
    }
    pool.close().await;
    Ok(())
}

async fn toggle(
    pool: &crate::store::Pool,
    name: &str,
    disabled: bool,
    json: bool,
) -> anyhow::Result<()> {
    service::set_disabled(pool, &SystemClock, service::Actor::Cli, name, disabled).await?;
    let state = if disabled { "disabled" } else { "enabled" };
    if json {
        println!(
            "{}",
            serde_json::json!({ "username": name.trim().to_lowercase(), "state": state })
        );
    } else {
        println!("{} {state}", name.trim().to_lowercase());
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to prompt for a password; pass --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Repeat password: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}

fn print_table(users: &[UserView]) {
    let width = users
        .iter()
        .map(|u| u.username.len())
        .max()
        .unwrap_or(8)
        .max(8);
    println!(
        "{:width$}  {:8}  {:8}  CREATED",
        "USERNAME", "ROLE", "STATUS"
    );
    for u in users {
        let status = if u.disabled { "disabled" } else { "active" };
        println!(
            "{:width$}  {:8}  {:8}  {}",
            u.username,
            u.role.as_str(),
            status,
            u.created_at
        );
    }
}
