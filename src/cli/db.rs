//! `askfirst db`: whole-database operations (copying SQLite into PostgreSQL).

use crate::store::{self, copy::Progress, Location};
use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use std::path::Path;
use std::time::{Duration, Instant};

/// Database commands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy a whole database into a new, empty one (e.g. SQLite into PostgreSQL).
    ///
    /// Everything goes: people, agents, calls and their reviews, the audit chain, policy
    /// versions, bypasses, grants, notifications. Both databases are migrated first; the
    /// copy is one transaction, committed only once every table's row count matches and
    /// the copied audit chain verifies (a keyed log needs `--audit-key-file`), so a failed
    /// copy leaves the destination empty. Stop the servers on the source first: what they
    /// write during the copy is not in it. `--db` is not used: name both ends.
    Copy(CopyArgs),
}

/// Options of `askfirst db copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy: an SQLite file or `postgres://user@host/db` (not changed,
    /// but for migrating it to this version's schema).
    #[arg(long)]
    pub from: Location,
    /// The database to copy into, which must be empty: an SQLite file (created if
    /// missing) or `postgres://user@host/db` (an existing, empty database).
    #[arg(long)]
    pub to: Location,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a database command. `secrets_key_file` is the global `--secrets-key-file`.
pub async fn run(cmd: DbCommand, secrets_key_file: Option<&Path>) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Copy(args) => copy(args, secrets_key_file).await,
    }
}

async fn copy(args: CopyArgs, secrets_key_file: Option<&Path>) -> anyhow::Result<()> {
    let CopyArgs { from, to, json } = args;
    if from == to {
        bail!("--from and --to are the same database ({from}): copy into a new, empty one");
    }
    if let Some(path) = from.sqlite_path() {
        if !path.is_file() {
            bail!("there is no database at {} (--from)", path.display());
        }
    }
    let started = Instant::now();
    let source = store::open(&from)
        .await
        .with_context(|| format!("opening the source {from}"))?;
    let dest = store::open(&to)
        .await
        .with_context(|| format!("opening the destination {to}"))?;
    if store::copy::same_database(&from, &source, &to, &dest).await? {
        bail!("--from ({from}) and --to ({to}) are the same database: copy into a new, empty one");
    }
    eprintln!("copying {from} into {to}");
    let mut last_shown = Instant::now();
    let copied = store::copy::copy(&source, &dest, store::audit::key(), |p| match p {
        Progress::Rows {
            table,
            copied,
            total,
        } => {
            // Each table once done, and a large one's progress every few seconds.
            if copied == total || last_shown.elapsed() >= Duration::from_secs(2) {
                eprintln!("  {table}: {copied} of {total} rows");
                last_shown = Instant::now();
            }
        }
        Progress::Step(step) => eprintln!("  {step}"),
    })
    .await?;
    source.close().await;
    dest.close().await;
    let seconds = started.elapsed().as_secs_f64();

    // Notification secrets are sealed with a key file outside the database: servers on
    // the copy need the same one.
    let channels = copied
        .tables
        .iter()
        .any(|(table, rows)| table == "notify_channels" && *rows > 0);
    let key_note = match secrets_key_file {
        None if channels => {
            let (old, new) = (
                crate::gate::notify::secrets::default_key_file(&from),
                crate::gate::notify::secrets::default_key_file(&to),
            );
            (old != new).then(|| {
                format!(
                    "notification secrets are sealed with {}: start servers on the copy with \
                     --secrets-key-file {}",
                    old.display(),
                    old.display()
                )
            })
        }
        _ => None,
    };

    if json {
        super::gate::print_json(&serde_json::json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "tables": copied.tables.len(),
            "rows": copied.rows(),
            "audit_events": copied.audit_events,
            "audit_intact": true,
            "seconds": seconds,
            "counts": copied
                .tables
                .iter()
                .map(|(table, rows)| (table.clone(), serde_json::json!(rows)))
                .collect::<serde_json::Map<_, _>>(),
            "note": key_note,
        }))?;
    } else {
        println!(
            "copied {} tables, {} rows ({} audit events, chain verified) in {seconds:.1} s",
            copied.tables.len(),
            copied.rows(),
            copied.audit_events,
        );
        println!("  from {from}");
        println!("  to   {to}");
        if let Some(note) = key_note {
            println!("{note}");
        }
    }
    Ok(())
}
