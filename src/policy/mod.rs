//! The policy engine: pure functions over the rules (`crate::domain::policy`) and a
//! proposed call, no I/O. A policy is compiled once ([`CompiledPolicy::compile`]: every
//! glob, regex, JSON pointer and setting checked and prepared) and then evaluated in memory
//! on every proposal ([`CompiledPolicy::evaluate`]) — the hot path of every agent tool call.
//!
//! Policies are stored as JSON (the serde shape of the domain types) and edited by people as
//! TOML ([`toml_io`]); a fresh install starts from [`default_policy`].

mod compile;
pub mod confirm;
pub mod default;
mod eval;
mod explain;
pub mod glob;
pub mod pattern;
pub mod pointer;
mod preview;
mod risk_set;
pub mod rule_form;
pub mod scope;
pub mod toml_io;
pub mod tool_name;

#[cfg(test)]
mod tests;

pub use compile::{
    printable, CompiledPolicy, PolicyError, MAX_APPROVALS, MAX_DEADLINE_SECS, MAX_GRANT_SECS,
    MAX_NAME_CHARS, MAX_REGEX_CHARS, MAX_TTL_SECS,
};
pub use confirm::MAX_CONFIRM_CHARS;
pub use default::default_policy;
pub use eval::{CallInput, Evaluation, Outcome};
pub use preview::{Preview, PreviewInput};
pub use toml_io::{import, PolicyFileError};
