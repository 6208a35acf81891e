//! The roles people can hold, and what each may do.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A person's role. Roles are ordered: each one may do everything the roles below it may.
///
/// `Viewer < Approver < Manager < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees calls and their history; decides nothing.
    Viewer,
    /// Approves or denies gated calls.
    Approver,
    /// Signs off bypass requests and policy changes that loosen a gate.
    Manager,
    /// Manages people, agents and policy.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Approver, Role::Manager, Role::Admin];

    /// The role's stable name, as stored and as accepted on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Whether someone holding `self` may do what `required` may.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }

    /// A one-line description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Viewer => "can see gated calls and their history, but cannot decide",
            Role::Approver => "can approve or deny gated calls",
            Role::Manager => "can approve calls and sign off bypasses and loosening policy changes",
            Role::Admin => "can manage people, agents and gate policy, and do everything else",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a role name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected one of: viewer, approver, manager, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_follows_the_order() {
        let cases = [
            (Role::Admin, Role::Viewer, true),
            (Role::Admin, Role::Admin, true),
            (Role::Manager, Role::Approver, true),
            (Role::Manager, Role::Admin, false),
            (Role::Approver, Role::Approver, true),
            (Role::Approver, Role::Manager, false),
            (Role::Viewer, Role::Viewer, true),
            (Role::Viewer, Role::Approver, false),
        ];
        for (held, required, expected) in cases {
            assert_eq!(
                held.includes(required),
                expected,
                "{held} includes {required}"
            );
        }
    }

    #[test]
    fn parses_names() {
        let cases = [
            ("admin", Ok(Role::Admin)),
            ("Manager", Ok(Role::Manager)),
            (" approver ", Ok(Role::Approver)),
            ("viewer", Ok(Role::Viewer)),
            ("root", Err(UnknownRole("root".into()))),
            ("", Err(UnknownRole(String::new()))),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Role>(), expected, "{input:?}");
        }
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
    }
}
