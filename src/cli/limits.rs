//! `askfirst limits …`: the admin's limits on what one agent may leave waiting. Whoever can
//! run the CLI on the database can already change anything; the change is audited as `cli`.

use super::gate::{err, open_gate, print_json};
use crate::domain::limits::Limits;
use clap::Subcommand;

/// Limits commands.
#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Print the limits in force.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change them (a running server picks the change up within a second).
    Set {
        /// Most calls one agent may have pending at once: a number (1-1000000) or `none`.
        #[arg(long, value_name = "N|none")]
        max_pending_per_agent: Option<String>,
        /// Largest arguments of a proposal (and of an approver's edit), in KiB: 1-4096.
        #[arg(long, value_name = "KIB")]
        max_args_kib: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn print(limits: &Limits, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(limits);
    }
    match limits.max_pending_per_agent {
        Some(n) => println!("each agent may have at most {n} pending calls"),
        None => println!("no cap on pending calls per agent"),
    }
    println!(
        "a proposal's arguments may be at most {} KiB",
        limits.max_args_bytes / 1024
    );
    Ok(())
}

/// Runs a limits command.
pub async fn run(cmd: LimitsCommand, db: &crate::store::Location) -> anyhow::Result<()> {
    let gate = open_gate(db).await?;
    match cmd {
        LimitsCommand::Show { json } => print(&gate.limits(), json),
        LimitsCommand::Set {
            max_pending_per_agent,
            max_args_kib,
            json,
        } => {
            let mut limits = gate.limits();
            if let Some(cap) = max_pending_per_agent {
                limits.max_pending_per_agent = Limits::parse_cap(&cap)
                    .map_err(|e| anyhow::anyhow!("--max-pending-per-agent: {e}"))?;
            }
            if let Some(kib) = max_args_kib {
                limits.max_args_bytes = Limits::parse_args_kib(&kib)
                    .map_err(|e| anyhow::anyhow!("--max-args-kib: {e}"))?;
            }
            let saved = gate.set_limits("cli", limits).await.map_err(err)?;
            print(&saved, json)
        }
    }
}
