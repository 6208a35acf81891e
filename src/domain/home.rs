//! The home page's read model: what needs the signed-in person now.

use serde::{Deserialize, Serialize};

/// What needs one person now, by what their role lets them do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeData {
    /// Pending calls, whoever may decide them.
    pub pending: u32,
    /// Pending calls this person may decide now (approvers and above).
    pub waiting: u32,
    /// More pending calls were not looked through: `waiting` is at least this many.
    #[serde(default)]
    pub waiting_more: bool,
    /// The one of them with the soonest deadline.
    pub soonest: Option<SoonestCall>,
    /// How many of them were escalated to this person's role or group.
    pub escalated: u32,
    /// Bypass requests and policy changes this person may sign off now (`None`: their role
    /// never signs off).
    pub signoffs: Option<u32>,
    /// Bypasses approving calls right now.
    pub active_bypasses: u32,
    /// Remembered grants approving calls right now.
    pub active_grants: u32,
    /// For an admin: the first steps, and which are done (`None` once all are).
    pub setup: Option<SetupSteps>,
    pub now_ms: i64,
}

/// The call with the soonest deadline among those waiting on someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoonestCall {
    pub id: String,
    pub tool: String,
    pub agent: String,
    pub deadline_ms: i64,
}

/// A new installation's first steps, for its admins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupSteps {
    /// An agent exists (and so a key was shown once).
    pub agent: bool,
    /// Someone besides this admin may approve calls.
    pub approvers: bool,
    /// An agent has proposed a call.
    pub first_call: bool,
}
