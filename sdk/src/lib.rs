//! Rust client for askfirst, a self-hosted approval gate for AI agents: propose each tool
//! call, wait for people when policy gates it, and execute only what was approved — with
//! the arguments they approved.
//!
//! Synchronous gate (block until people decide):
//!
//! ```no_run
//! # async fn run() -> Result<(), askfirst_sdk::Error> {
//! use askfirst_sdk::{risk, Client, GateOutcome, ProposedCall};
//! use serde_json::json;
//!
//! let client = Client::new("http://127.0.0.1:3000", "af_…")?;
//! let call = ProposedCall::new("run-42", "deploy")
//!     .args(json!({ "service": "api", "env": "production" }))
//!     .reason("ship the fix for #311")
//!     .risk([risk::PRODUCTION])
//!     .idempotency_key("run-42/step-2");
//! match client.execute_with_gate(call, |args| async move { format!("deployed {args}") }).await? {
//!     GateOutcome::Executed { output, .. } => println!("{output}"),
//!     GateOutcome::Denied { feedback, .. } => println!("not allowed: {feedback}"),
//! }
//! # Ok(()) }
//! ```
//!
//! Asynchronous gate: [`Client::submit_async`] with a checkpoint, exit, then on a webhook
//! ([`verify_webhook`]) or an event ([`Client::events`]) call [`Client::resume`].

mod call;
mod client;
mod error;
mod events;
mod gate;
mod preview;
pub mod receipt;
mod types;
mod webhook;

#[cfg(feature = "demo")]
pub mod demo;

pub use call::{risk, ProposedCall};
pub use client::Client;
pub use error::{Error, SignatureError};
pub use events::CallEvent;
pub use gate::GateOutcome;
pub use preview::{PreviewAnswer, PreviewDecision, PreviewTool, MAX_PREVIEW_TOOLS};
pub use types::{
    ApprovedBy, Bypass, CallView, Decision, Denial, Escalation, Executed, Outcome, Proposal, Status,
};
pub use webhook::{
    sign_webhook, verify_webhook, verify_webhook_now, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER,
};

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
