//! The SDK against a fake askfirst server (no real server needed).

mod client;
#[cfg(feature = "demo")]
mod demo;
mod events;
mod fake;
mod gate;
mod webhook;
