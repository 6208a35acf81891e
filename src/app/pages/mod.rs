//! One module per page; each holds the page and the server functions only it uses.

pub mod account;
pub mod agents;
pub mod audit;
pub mod bypasses;
pub mod call;
pub mod history;
pub mod home;
pub mod inbox;
pub mod insights;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod people;
pub mod policy;
pub mod reviews;
pub mod setup;
pub mod signoff_parts;
