//! `askfirst mcp`: askfirst between an agent and its Model Context Protocol tools.
//!
//! - [`proxy`]: a gating MCP proxy in front of an upstream MCP server; every `tools/call`
//!   is proposed to askfirst first and runs only as allowed or approved.
//! - [`permission_prompt`]: a one-tool MCP server for Claude Code's
//!   `--permission-prompt-tool`.
//!
//! Both wait for people the same way ([`gatekeeper`]): long-polling askfirst, sending MCP
//! progress notifications while they wait, and failing closed.

pub mod gatekeeper;
pub mod link;
pub mod permission_prompt;
pub mod proxy;
pub mod risk;
pub mod stdio;
pub mod tools;

pub use gatekeeper::{Gatekeeper, Progress, Refusal, RefusedBy, Verdict};

/// The `_meta` key under which the upstream's `tools/call` (and the permission prompt's
/// answer) carries the call's signed receipt.
pub const RECEIPT_META_KEY: &str = "askfirst/receipt";
