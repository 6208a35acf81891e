//! Integration tests: the real server on port 0 with a fresh database per test (an SQLite
//! file, or a PostgreSQL database when `ASKFIRST_TEST_PG` names a server),
//! spoken to over HTTP. One test binary, a module per area.

mod process;
mod sdk_support;
mod support;

mod adversary;
mod agents;
mod api_docs;
mod api_input;
mod async_gate;
mod audit;
mod authz;
mod callbacks;
mod cli;
mod cluster;
mod crash;
mod db_copy;
mod first_run;
mod gate_flow;
mod hardening;
mod hostile;
mod inbox;
mod insights;
mod invisible;
mod join_open;
mod limits;
mod mcp_stdio;
mod metrics;
mod notify;
mod oidc;
mod outcome;
mod overload;
mod people;
mod policy_console;
mod policy_preview;
mod receipts;
mod render_stress;
mod review;
mod roles;
mod schema;
mod sdk;
mod sessions;
mod sign_in;
mod signoff;
mod streams;
mod workflow;
