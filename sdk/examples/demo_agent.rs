//! The demo agent: a 4-step plan through askfirst's gates, with simulated tools.
//!
//! ```text
//! cargo run -p askfirst-sdk --features demo --example demo_agent -- --key af_… --mode async
//! ```

use askfirst_sdk::demo::{run, DemoConfig, Mode};
use std::process::ExitCode;

const USAGE: &str = "\
usage: demo_agent [--url URL] [--key KEY] [--mode sync|async] [--webhook-secret SECRET] [--session NAME]

  --url             askfirst server (env ASKFIRST_URL; default http://127.0.0.1:3000)
  --key             agent key (env ASKFIRST_AGENT_KEY); create one with `askfirst agent create demo`
  --mode            sync: block at each gate; async: checkpoint, exit, resume (default sync)
  --webhook-secret  the agent's webhook secret (env ASKFIRST_WEBHOOK_SECRET); async mode then
                    resumes from signed webhooks to a receiver on 127.0.0.1 instead of the event stream
  --session         the agent run's name (default demo-<time>)";

/// The demo's settings, or `None` after `--help`.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<DemoConfig>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = DemoConfig::new(
        env("ASKFIRST_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into()),
        env("ASKFIRST_AGENT_KEY").unwrap_or_default(),
    );
    config.webhook_secret = env("ASKFIRST_WEBHOOK_SECRET");
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(format!("{flag} needs a value\n\n{USAGE}")),
        };
        match flag.as_str() {
            "--url" => config.url = value,
            "--key" => config.key = value,
            "--webhook-secret" => config.webhook_secret = Some(value),
            "--session" => config.session = value,
            "--mode" => {
                config.mode = match value.as_str() {
                    "sync" => Mode::Sync,
                    "async" => Mode::Async,
                    other => return Err(format!("--mode is sync or async, not `{other}`")),
                }
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    if config.key.is_empty() {
        return Err(format!(
            "an agent key is needed: --key or ASKFIRST_AGENT_KEY\n\n{USAGE}"
        ));
    }
    Ok(Some(config))
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1)) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(report) => {
            println!();
            for s in &report {
                println!("step {}: {} → {}", s.step, s.tool, s.outcome);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
