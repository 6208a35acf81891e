//! The navigation a role sees. Pages are added here as they arrive.

use super::Role;

/// One entry in the app's navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavItem {
    /// Link target.
    pub href: &'static str,
    /// Visible label.
    pub label: &'static str,
    /// The least role that may use the page (the server checks this again).
    pub min_role: Role,
}

/// Every page in the navigation, in display order.
pub const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Home",
        min_role: Role::Viewer,
    },
    NavItem {
        href: "/inbox",
        label: "Inbox",
        min_role: Role::Viewer,
    },
    NavItem {
        href: "/history",
        label: "History",
        min_role: Role::Viewer,
    },
    NavItem {
        href: "/bypasses",
        label: "Bypasses",
        min_role: Role::Viewer,
    },
    NavItem {
        href: "/reviews",
        label: "Reviews",
        min_role: Role::Manager,
    },
    NavItem {
        href: "/insights",
        label: "Insights",
        min_role: Role::Manager,
    },
    NavItem {
        href: "/audit",
        label: "Audit",
        min_role: Role::Manager,
    },
    NavItem {
        href: "/policy",
        label: "Policy",
        min_role: Role::Admin,
    },
    NavItem {
        href: "/agents",
        label: "Agents",
        min_role: Role::Admin,
    },
    NavItem {
        href: "/people",
        label: "People",
        min_role: Role::Admin,
    },
    NavItem {
        href: "/notifications",
        label: "Notifications",
        min_role: Role::Admin,
    },
];

/// The navigation entries `role` may use.
pub fn nav_for(role: Role) -> impl Iterator<Item = &'static NavItem> {
    NAV.iter().filter(move |item| role.includes(item.min_role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_sees_only_its_pages() {
        let cases = [
            (Role::Viewer, vec!["/", "/inbox", "/history", "/bypasses"]),
            (Role::Approver, vec!["/", "/inbox", "/history", "/bypasses"]),
            (
                Role::Manager,
                vec![
                    "/",
                    "/inbox",
                    "/history",
                    "/bypasses",
                    "/reviews",
                    "/insights",
                    "/audit",
                ],
            ),
            (
                Role::Admin,
                vec![
                    "/",
                    "/inbox",
                    "/history",
                    "/bypasses",
                    "/reviews",
                    "/insights",
                    "/audit",
                    "/policy",
                    "/agents",
                    "/people",
                    "/notifications",
                ],
            ),
        ];
        for (role, expected) in cases {
            let got: Vec<_> = nav_for(role).map(|i| i.href).collect();
            assert_eq!(got, expected, "{role}");
        }
    }
}
