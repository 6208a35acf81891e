//! The demo agent: `cargo run -p askfirst-sdk --features demo --example demo_agent -- --key af_…`
//!
//! Options: `--url` (env ASKFIRST_URL, default http://127.0.0.1:3000), `--key` (env
//! ASKFIRST_AGENT_KEY), `--mode sync|async`, `--webhook-secret` (env ASKFIRST_WEBHOOK_SECRET;
//! async mode then resumes from signed webhooks instead of the event stream).

use askfirst_sdk::demo::{run, DemoConfig, Mode};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = DemoConfig {
        url: std::env::var("ASKFIRST_URL").unwrap_or_else(|_| "http://127.0.0.1:3000".into()),
        key: std::env::var("ASKFIRST_AGENT_KEY").unwrap_or_default(),
        mode: Mode::Sync,
        webhook_secret: std::env::var("ASKFIRST_WEBHOOK_SECRET").ok(),
        session: format!("demo-{}", uuid::Uuid::new_v4()),
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => config.url = value,
            "--key" => config.key = value,
            "--webhook-secret" => config.webhook_secret = Some(value),
            "--mode" => {
                config.mode = if value == "async" {
                    Mode::Async
                } else {
                    Mode::Sync
                }
            }
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
    }
    if config.key.is_empty() {
        eprintln!(
            "pass --key (or ASKFIRST_AGENT_KEY): create one with `askfirst agent create demo`"
        );
        std::process::exit(2);
    }
    match run(config).await {
        Ok(reports) => {
            for r in reports {
                println!("step {}: {} → {}", r.step, r.tool, r.outcome);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
