//! Rust client for askfirst.
