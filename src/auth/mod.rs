//! Who is calling: passwords, sessions, sign-in rate limits, and the role checks every
//! server function goes through.

pub mod client_addr;
pub mod guard;
pub mod oidc;
pub mod password;
pub mod rate_limit;
pub mod service;
pub mod token;

pub use guard::{current_user, require_role};
