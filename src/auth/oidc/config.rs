//! How askfirst signs people in with the OpenID provider (from `askfirst serve`'s flags),
//! and the pure rules that turn an ID token's claims into an account: the role its groups
//! give and the username it gets.

use crate::domain::Role;
use serde_json::Value;

/// The provider and what its claims mean here.
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer URL (discovery is at `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    /// The client secret (read from a file or `env:NAME`; never logged).
    pub client_secret: String,
    /// Scopes asked for (`openid` is always among them).
    pub scopes: Vec<String>,
    /// The button text: "Sign in with <label>".
    pub label: String,
    /// The claim holding the person's groups (a name, or a dotted path into objects).
    pub role_claim: String,
    /// Which claim values give which role.
    pub roles: RoleMap,
    /// No mapped role: refused (`true`) or a viewer (`false`).
    pub strict: bool,
    /// The claim the username comes from (`None`: `preferred_username`, then `email`).
    pub username_claim: Option<String>,
    /// Where the provider sends people back: `<public URL>/auth/oidc/callback`.
    pub redirect_url: String,
    /// Where the provider sends people after signing out there: `<public URL>/login`.
    pub after_logout_url: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .field("scopes", &self.scopes)
            .field("label", &self.label)
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

/// Claim values and the roles they give; the highest role a person's values reach wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap(pub Vec<(Role, String)>);

impl RoleMap {
    /// The highest role any of `values` gives, if any does.
    pub fn role_for(&self, values: &[String]) -> Option<Role> {
        self.0
            .iter()
            .filter(|(_, value)| values.iter().any(|v| v == value))
            .map(|(role, _)| *role)
            .max()
    }
}

/// Parses one `--oidc-role ROLE=VALUE`.
pub fn parse_role_mapping(text: &str) -> Result<(Role, String), String> {
    let (role, value) = text.split_once('=').ok_or_else(|| {
        format!("`{text}`: expected ROLE=VALUE, e.g. approver=askfirst-approvers")
    })?;
    let role: Role = role
        .trim()
        .parse()
        .map_err(|_| format!("`{role}` is not a role (viewer, approver, manager or admin)"))?;
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("`{text}`: the claim value is empty"));
    }
    Ok((role, value.to_string()))
}

/// The value at `path` in the claims: a top-level claim of that exact name (names such as
/// `https://example.com/groups` contain dots), else the dotted path through objects
/// (`realm_access.roles`).
pub fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    path.split('.')
        .try_fold(claims, |value, key| value.get(key))
}

/// A claim's values as text: a string, or the strings and numbers of an array.
pub fn claim_values(value: Option<&Value>) -> Vec<String> {
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The username an account gets from its claims: the configured claim, else
/// `preferred_username`, else `email`; made into a valid username (`None`: nothing usable,
/// the caller falls back to `user`).
pub fn username_from(claims: &Value, claim: Option<&str>) -> Option<String> {
    let candidates: Vec<&str> = match claim {
        Some(c) => vec![c],
        None => vec!["preferred_username", "email"],
    };
    candidates
        .into_iter()
        .filter_map(|c| claim_at(claims, c)?.as_str())
        .find_map(valid_username)
}

/// `raw` made into a username: an e-mail's local part, lower-case, other characters than
/// letters, digits, `.`, `_` and `-` turned into `-`, at most 56 characters (room for a
/// suffix that makes it unique).
fn valid_username(raw: &str) -> Option<String> {
    let local = raw.split('@').next().unwrap_or(raw);
    let mut name = String::new();
    for c in local.trim().to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '-'
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    let name: String = name.trim_matches('-').chars().take(56).collect();
    let name = name.trim_matches('-').to_string();
    (!name.is_empty()).then_some(name)
}

/// `base`, or `base-2`, `base-3`… — the first that is not in `taken`.
pub fn unique_username(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken.iter().any(|t| t == name))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map() -> RoleMap {
        RoleMap(vec![
            (Role::Approver, "askfirst-approvers".into()),
            (Role::Manager, "askfirst-managers".into()),
            (Role::Admin, "askfirst-admins".into()),
            (Role::Viewer, "staff".into()),
        ])
    }

    #[test]
    fn the_highest_mapped_role_wins() {
        let cases: &[(&[&str], Option<Role>)] = &[
            (&[], None),
            (&["engineering"], None),
            (&["staff"], Some(Role::Viewer)),
            (&["staff", "askfirst-approvers"], Some(Role::Approver)),
            (
                &["askfirst-admins", "askfirst-approvers"],
                Some(Role::Admin),
            ),
            (&["askfirst-managers", "staff"], Some(Role::Manager)),
            // Exact values only: no prefixes, no case folding.
            (&["askfirst-approvers-old", "ASKFIRST-ADMINS"], None),
        ];
        for (values, want) in cases {
            let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            assert_eq!(map().role_for(&values), *want, "{values:?}");
        }
    }

    #[test]
    fn role_mappings_parse_or_say_why_not() {
        assert_eq!(
            parse_role_mapping("approver=askfirst-approvers"),
            Ok((Role::Approver, "askfirst-approvers".into()))
        );
        assert_eq!(
            parse_role_mapping("admin = cn=admins,ou=groups"),
            Ok((Role::Admin, "cn=admins,ou=groups".into()))
        );
        for bad in ["approver", "boss=x", "viewer="] {
            assert!(parse_role_mapping(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_are_found_by_name_or_dotted_path() {
        let claims = json!({
            "groups": ["a", "b", 7, {"x": 1}],
            "https://example.com/groups": "c",
            "realm_access": {"roles": ["d"]},
            "one": "e",
        });
        let cases: &[(&str, &[&str])] = &[
            ("groups", &["a", "b", "7"]),
            ("https://example.com/groups", &["c"]),
            ("realm_access.roles", &["d"]),
            ("one", &["e"]),
            ("missing", &[]),
            ("realm_access.missing", &[]),
        ];
        for (path, want) in cases {
            assert_eq!(claim_values(claim_at(&claims, path)), *want, "{path}");
        }
    }

    #[test]
    fn usernames_come_from_the_claims_and_are_made_valid() {
        let cases: &[(Value, Option<&str>, Option<&str>)] = &[
            (json!({"preferred_username": "Alice"}), None, Some("alice")),
            (
                json!({"email": "Bob.Smith@corp.example"}),
                None,
                Some("bob.smith"),
            ),
            (
                json!({"preferred_username": "Ève Dupont", "email": "e@x"}),
                None,
                Some("ve-dupont"),
            ),
            (
                json!({"preferred_username": "ÉÉ", "email": "eve@x"}),
                None,
                Some("eve"),
            ),
            (json!({"upn": "carol@corp"}), Some("upn"), Some("carol")),
            (json!({"preferred_username": "dan"}), Some("upn"), None),
            (json!({"sub": "x"}), None, None),
            (
                json!({"preferred_username": "a".repeat(100)}),
                None,
                Some(&*"a".repeat(56)),
            ),
        ];
        for (claims, claim, want) in cases {
            assert_eq!(
                username_from(claims, *claim).as_deref(),
                *want,
                "{claims} {claim:?}"
            );
        }
    }

    #[test]
    fn a_taken_username_gets_the_first_free_suffix() {
        let taken = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(unique_username("alice", &taken(&[])), "alice");
        assert_eq!(unique_username("alice", &taken(&["alice"])), "alice-2");
        assert_eq!(
            unique_username("alice", &taken(&["alice", "alice-2", "alice-4"])),
            "alice-3"
        );
    }
}
