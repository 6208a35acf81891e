//! Policy evaluation: pure functions over the rules (`crate::domain::policy`) and a
//! proposed call. Rules are compiled once (globs, regexes, pointers checked) and evaluated
//! in memory on every proposal — the hot path of every agent tool call.

pub mod default;
pub mod eval;
pub mod glob;
pub mod toml_io;

pub use default::default_policy;
pub use eval::{CallInput, CompiledPolicy, Evaluation, Outcome, PolicyError};
