//! Rust client for [askfirst](https://example.invalid/askfirst): propose each tool call,
//! wait for people when policy gates it, and execute only what was approved.
//!
//! ```no_run
//! # async fn run() -> Result<(), askfirst_sdk::Error> {
//! use askfirst_sdk::{Client, GateOutcome, ProposedCall};
//! use serde_json::json;
//!
//! let client = Client::new("http://127.0.0.1:3000", "af_…")?;
//! let call = ProposedCall::new("run-42", "deploy")
//!     .args(json!({ "service": "api", "env": "production" }))
//!     .reason("ship the fix for #311");
//! match client.execute_with_gate(call, |args| async move { format!("deployed {args}") }).await? {
//!     GateOutcome::Executed { output, .. } => println!("{output}"),
//!     GateOutcome::Denied { feedback, .. } => println!("not allowed: {feedback}"),
//! }
//! # Ok(()) }
//! ```

mod client;
mod error;
mod gate;
mod types;
mod webhook;

#[cfg(feature = "demo")]
pub mod demo;

pub use client::{CallEvent, Client};
pub use error::Error;
pub use gate::GateOutcome;
pub use types::{CallView, Decision, Executed, Proposal, ProposedCall, Status};
pub use webhook::{
    sign_webhook, verify_webhook, verify_webhook_now, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER,
};
