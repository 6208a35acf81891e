//! `askfirst mcp proxy` and `askfirst mcp permission-prompt`: MCP servers on stdio that
//! ask a running askfirst server before tools run (see `crate::mcp`). Logs go to stderr;
//! stdout carries the protocol.

use crate::mcp::{gatekeeper::new_session, permission_prompt, proxy, tools, Gatekeeper};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::time::Duration;

/// The `mcp` commands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Gate an MCP server's tool calls: `askfirst mcp proxy --name files -- npx
    /// @modelcontextprotocol/server-filesystem /srv/data`.
    Proxy(ProxyArgs),
    /// Claude Code's `--permission-prompt-tool` (`mcp__askfirst__approval_prompt`).
    PermissionPrompt(ConnectArgs),
}

/// How to reach askfirst, as an agent.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The askfirst server.
    #[arg(long, env = "ASKFIRST_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The environment variable holding the agent's key (keys stay out of command lines
    /// and MCP configuration files).
    #[arg(long, default_value = "ASKFIRST_KEY")]
    pub key_env: String,
    /// The askfirst session of the calls (novelty is per session); default: a new one for
    /// each run.
    #[arg(long, env = "ASKFIRST_SESSION")]
    pub session: Option<String>,
    /// How long one tool call waits for people before the client gets an error naming the
    /// pending call (calling again later with the same arguments finds it), e.g. `240s`,
    /// `10m`. A call whose deadline comes first ends at its deadline.
    #[arg(long, default_value = "240s", value_parser = parse_wait)]
    pub max_wait: Duration,
}

/// Options of `askfirst mcp proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The upstream server's name: its tools are proposed as `<name>.<tool>`.
    #[arg(long, value_parser = |s: &str| tools::check_server_name(s).map(|()| s.to_string()))]
    pub name: String,
    /// A streamable-HTTP upstream instead of a command.
    #[arg(long, conflicts_with = "command")]
    pub upstream_url: Option<String>,
    /// An environment variable for the upstream command, repeatable: `NAME` passes this
    /// process's value on, `NAME=VALUE` sets it. The upstream inherits the rest of the
    /// environment except the agent's key (`--key-env`) and every `ASKFIRST_*` variable.
    #[arg(long = "upstream-env", value_name = "NAME[=VALUE]",
          value_parser = |s: &str| proxy::check_env_item(s).map(|()| s.to_string()))]
    pub upstream_env: Vec<String>,
    /// The upstream server's command and arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// A `--max-wait`: seconds (`90`, `90s`) or minutes (`4m`), 1 s to 24 h.
fn parse_wait(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (t.strip_suffix('s').unwrap_or(t), 1),
    };
    let secs = number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|s| (1..=24 * 3600).contains(s))
        .ok_or_else(|| format!("`{text}` is not a wait of 1s to 24h (e.g. `240s`, `4m`)"))?;
    Ok(Duration::from_secs(secs))
}

impl ConnectArgs {
    fn gatekeeper(&self, default_session: &str) -> anyhow::Result<Gatekeeper> {
        let key = std::env::var(&self.key_env).with_context(|| {
            format!(
                "set `{}` to the agent's key (askfirst agent create)",
                self.key_env
            )
        })?;
        let client = askfirst_sdk::Client::new(&self.url, key.trim())?;
        let session = self
            .session
            .clone()
            .unwrap_or_else(|| new_session(default_session));
        Ok(Gatekeeper::new(client, session, self.max_wait))
    }
}

/// Runs an `mcp` command.
pub async fn run(cmd: McpCommand) -> anyhow::Result<()> {
    init_stderr_logs();
    match cmd {
        McpCommand::Proxy(args) => {
            let upstream = match (&args.upstream_url, args.command.is_empty()) {
                (Some(url), _) => proxy::Upstream::Url(url.clone()),
                (None, false) => proxy::Upstream::Command(args.command.clone()),
                (None, true) => anyhow::bail!(
                    "give the upstream server: a command after `--`, or `--upstream-url`"
                ),
            };
            // The proxy runs the tools itself: askfirst hears how each run went.
            let gate = args.connect.gatekeeper(&args.name)?.reporting_outcomes();
            let env = proxy::UpstreamEnv {
                key_env: args.connect.key_env.clone(),
                pass: args.upstream_env.clone(),
            };
            let outcome = proxy::run(args.name, upstream, env, gate).await;
            if let Err(e) = &outcome {
                // Exit now: a read of stdin that is still waiting would hold the runtime's
                // shutdown (and the client would never see us go).
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
            outcome
        }
        McpCommand::PermissionPrompt(args) => {
            permission_prompt::run(args.gatekeeper("claude")?).await
        }
    }
}

/// Logs to stderr (stdout is the protocol), warnings and up unless `ASKFIRST_LOG` says.
fn init_stderr_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ASKFIRST_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits() {
        for (text, secs) in [
            ("240s", 240),
            ("240", 240),
            ("4m", 240),
            ("1s", 1),
            ("1440m", 86400),
        ] {
            assert_eq!(
                parse_wait(text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
        }
        for bad in [
            "",
            "0s",
            "-1s",
            "1h",
            "x",
            "86401s",
            "99999999999999999999m",
        ] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
    }
}
