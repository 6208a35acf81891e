//! askfirst: a self-hosted approval gate for AI agents.
//!
//! One crate, two builds: `ssr` (the axum server, storage and CLI) and `hydrate` (the
//! browser bundle, linked by the `askfirst-browser` crate in `browser/`). Only `app` and
//! `domain` are compiled into the WebAssembly bundle.

// Leptos views are nested types; the policy console's hydration future is deeper than the
// default limit of 128.
#![recursion_limit = "256"]

pub mod app;
pub mod domain;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod gate;
#[cfg(feature = "ssr")]
pub mod mcp;
#[cfg(feature = "ssr")]
pub mod policy;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod store;
