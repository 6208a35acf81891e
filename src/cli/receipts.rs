//! `askfirst receipts …`: the keys that sign approval receipts (a running server — every
//! instance, on PostgreSQL — picks up a new key at once), and checking a receipt.

use super::gate::{err, open_gate, print_json};
use crate::gate::notify::secrets;
use crate::gate::receipts::{KeyInfo, KEEP_PREVIOUS};
use chrono::Duration;
use clap::Subcommand;
use std::path::PathBuf;

/// Receipt commands.
#[derive(Debug, Subcommand)]
pub enum ReceiptsCommand {
    /// List the keys: which one signs, which retired ones are still published.
    Keys {
        #[arg(long)]
        json: bool,
    },
    /// Make a new signing key. The one it replaces stays in the JWKS for
    /// --keep-previous (default 7d), so receipts it signed still verify meanwhile.
    RotateKey {
        /// How long the replaced key stays published: e.g. `0s`, `90m`, `12h`, `7d` (at
        /// most 366d). Make it at least your longest approval TTL.
        #[arg(long, value_name = "DURATION", value_parser = parse_keep)]
        keep_previous: Option<Duration>,
        #[arg(long)]
        json: bool,
    },
    /// Check a receipt as a tool server would: signature, type, time, tool and arguments.
    /// Prints its claims; exits 1 when it does not hold.
    Verify {
        /// The receipt (a compact JWS).
        token: String,
        /// The tool about to run.
        #[arg(long)]
        tool: String,
        /// The arguments about to be used, as a JSON object.
        #[arg(long, value_name = "JSON")]
        args: String,
        /// The keys: a JWKS URL (`https://…/.well-known/jwks.json`) or file. Default: the
        /// keys this database publishes.
        #[arg(long, value_name = "URL|FILE")]
        jwks: Option<String>,
    },
}

/// The largest JWKS `verify` reads.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// The JWKS at `source`: an http(s) URL or a file.
async fn load_jwks(source: &str) -> anyhow::Result<askfirst_sdk::receipt::JwkSet> {
    use anyhow::Context as _;
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let mut response = client
            .get(source)
            .send()
            .await
            .with_context(|| format!("fetching {source}"))?
            .error_for_status()
            .with_context(|| format!("fetching {source}"))?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(
                body.len() <= MAX_JWKS_BYTES,
                "{source}: more than 1 MiB; not a JWKS"
            );
        }
        body
    } else {
        use std::io::Read as _;
        let mut body = Vec::new();
        std::fs::File::open(source)
            .and_then(|file| file.take(MAX_JWKS_BYTES as u64 + 1).read_to_end(&mut body))
            .with_context(|| format!("reading {source}"))?;
        anyhow::ensure!(
            body.len() <= MAX_JWKS_BYTES,
            "{source}: more than 1 MiB; not a JWKS"
        );
        body
    };
    serde_json::from_slice(&bytes).with_context(|| format!("{source} is not a JWKS"))
}

/// `0s`, `90m`, `12h`, `7d`.
fn parse_keep(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a duration like `0s`, `90m`, `12h` or `7d`");
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = t.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if duration > crate::gate::receipts::MAX_KEEP_PREVIOUS {
        return Err(format!(
            "`{text}`: a retired key is published for at most 366d"
        ));
    }
    Ok(duration)
}

fn print(keys: &[KeyInfo], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&keys);
    }
    let now = chrono::Utc::now();
    for key in keys {
        let state = match (key.retired_at, key.published_until) {
            (None, _) => "signs".to_string(),
            (Some(_), Some(until)) if until > now => format!("published until {until}"),
            (Some(retired), _) => format!("retired {retired}, no longer published"),
        };
        println!("{}  made {}  {state}", key.kid, key.created_at);
    }
    Ok(())
}

/// Runs a receipts command.
pub async fn run(
    cmd: ReceiptsCommand,
    db: &crate::store::Location,
    key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    if let ReceiptsCommand::Verify {
        token,
        tool,
        args,
        jwks,
    } = &cmd
    {
        let args: serde_json::Value =
            serde_json::from_str(args).map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?;
        anyhow::ensure!(args.is_object(), "--args must be a JSON object");
        let jwks = match jwks {
            Some(source) => load_jwks(source).await?,
            None => {
                // The public halves only: nothing is unsealed, no key is made.
                let gate = open_gate(db).await?;
                gate.reload_receipt_keys().await.map_err(err)?;
                gate.jwks()
            }
        };
        let claims = askfirst_sdk::receipt::verify(&jwks, token.trim(), tool, &args)
            .map_err(|e| anyhow::anyhow!("the receipt does not hold: {e}"))?;
        return print_json(&claims);
    }
    let gate = open_gate(db).await?;
    let key = secrets::SecretKey::for_db(db, key_file.as_deref())?;
    // The command line signs nothing: no issuer.
    gate.start_receipts(key, "").await.map_err(err)?;
    match cmd {
        ReceiptsCommand::Keys { json } => print(&gate.receipt_keys(), json),
        ReceiptsCommand::RotateKey {
            keep_previous,
            json,
        } => {
            let made = gate
                .rotate_receipt_key("cli", keep_previous.unwrap_or(KEEP_PREVIOUS), true)
                .await
                .map_err(err)?;
            if json {
                return print_json(&made);
            }
            println!("{} now signs receipts", made.kid);
            print(&gate.receipt_keys(), false)
        }
        ReceiptsCommand::Verify { .. } => unreachable!("answered above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_previous_reads_a_duration() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<Duration>)] = &[
            ("0s", Some(Duration::zero())),
            ("90m", Some(Duration::minutes(90))),
            ("12h", Some(Duration::hours(12))),
            ("7d", Some(Duration::days(7))),
            ("366d", Some(Duration::days(366))),
            ("367d", None),
            ("7", None),
            ("d", None),
            ("-1d", None),
            ("1w", None),
            ("99999999999999999999d", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_keep(text).ok(), *want, "{text}");
        }
    }
}
