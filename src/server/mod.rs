//! Server start-up: configuration, state, the HTTP stack and its middleware.

pub mod audit_export;
pub mod errors;
pub mod http;
pub mod inbox_stream;
pub mod install;
pub mod listen;
pub mod metrics;
pub mod middleware;
pub mod oidc;
pub mod run;
pub mod sse;
pub mod state;

pub use listen::ConnectionLimits;
pub use run::{start, Running, ServeConfig};
