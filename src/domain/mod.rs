//! Domain types shared by the server and the browser. No I/O lives here.

pub mod agent;
pub mod audit_view;
pub mod bypass;
pub mod call;
pub mod change_request;
pub mod error;
pub mod grant;
pub mod history;
pub mod home;
pub mod inbox;
pub mod insights;
pub mod invisible;
pub mod limits;
#[cfg(feature = "ssr")]
pub mod meaning;
pub mod nav;
pub mod notify;
pub mod policy;
pub mod policy_change;
pub mod policy_console;
pub mod review;
pub mod risk;
pub mod role;
pub mod sign_in;
pub mod signoff;
pub mod tool_name;
pub mod user;
pub mod workflow;

pub use error::AppError;
pub use role::Role;
pub use user::UserView;
