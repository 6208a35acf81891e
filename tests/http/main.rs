//! Integration tests: the real server on port 0 with a fresh SQLite file per test,
//! spoken to over HTTP. One test binary, a module per area.

mod support;

mod first_run;
mod hardening;
mod roles;
mod sessions;
mod sign_in;
