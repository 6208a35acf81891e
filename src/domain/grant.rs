//! Remembered grants: one approver's "also approve identical (or similar) calls for the
//! next N minutes / uses". A grant lives `active` until its window ends, its uses run out,
//! or someone revokes it; nothing brings it back.

use super::risk::RiskClass;
use super::workflow::{grant_refusal, GrantTerms};
use super::Role;
use serde::{Deserialize, Serialize};

/// Where a grant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Approving covered calls.
    Active,
    /// Someone revoked it.
    Revoked,
    /// Its window ended.
    Ended,
    /// Its uses ran out.
    UsedUp,
}

impl GrantStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Active => "active",
            GrantStatus::Revoked => "revoked",
            GrantStatus::Ended => "ended",
            GrantStatus::UsedUp => "used_up",
        }
    }
}

/// What a grant asked for when approving: how long, how many uses, and whether similar
/// calls (by the rule's deciding arguments) count, not only identical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantAsk {
    pub secs: u64,
    pub uses: u32,
    pub similar: bool,
}

/// A grant as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    pub id: i64,
    /// The call whose approval gave it.
    pub call_id: String,
    pub granted_by: String,
    pub agent: String,
    pub tool: String,
    pub rule: String,
    /// What it covers, in words ("identical arguments", `/service = "api"`).
    pub covers: String,
    pub status: GrantStatus,
    /// RFC 3339.
    pub created_at: String,
    pub ends_at: String,
    pub max_uses: u32,
    pub used: u32,
    pub revoked_by: Option<String>,
    /// Calls it approved, newest first (at most 20).
    pub calls: Vec<GrantedCall>,
}

/// A call a grant approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantedCall {
    pub id: String,
    pub status: super::call::CallStatus,
    pub created_at: String,
}

/// A grant as it was given, and its giver as they stand now.
#[derive(Debug, Clone, Copy)]
pub struct GivenGrant<'a> {
    /// When it was given, and how long and how many uses it covers.
    pub given_ms: i64,
    pub window_ms: i64,
    pub uses: u32,
    /// The risk classes of the call it was given with.
    pub risk: &'a [RiskClass],
    /// Its giver now: still active, their role, and when their qualification began.
    pub giver_active: bool,
    pub giver_role: Role,
    pub giver_since_ms: i64,
}

/// A call a grant would approve, under the rule in force.
#[derive(Debug, Clone, Copy)]
pub struct CallUnderRule<'a> {
    /// The rule's grant terms now (`None`: it allows none).
    pub terms: Option<&'a GrantTerms>,
    /// The least role the rule needs to approve, how many approvals, and whether it asks
    /// for typed confirmation.
    pub role: Role,
    pub approvals: u32,
    pub confirm: bool,
    /// The call's risk classes (claimed and tagged).
    pub risk: &'a [RiskClass],
}

/// Why a grant may no longer approve `call`, checked at every use: a grant answers to its
/// giver (still active and qualified, their role never restarted since) and to its rule
/// (still allowing grants this large), and never covers more risk than it was given for.
pub fn withdrawal(grant: &GivenGrant<'_>, call: &CallUnderRule<'_>) -> Option<String> {
    if !grant.giver_active {
        return Some("its giver's account is disabled".into());
    }
    if !grant.giver_role.includes(call.role) {
        return Some(format!(
            "its giver is a {} now, and the rule needs a {} to approve",
            grant.giver_role, call.role
        ));
    }
    if grant.giver_since_ms > grant.given_ms {
        return Some("its giver's role, account or password changed since it was given".into());
    }
    let Some(terms) = call.terms else {
        return Some("its rule no longer allows remembered grants".into());
    };
    if let Some(why) = grant_refusal(call.risk, call.confirm, call.approvals) {
        return Some(format!("its rule no longer allows it: {why}"));
    }
    if grant.window_ms > terms.max_ms || grant.uses > terms.max_uses {
        return Some(format!(
            "its rule now allows grants of at most {} and {} uses",
            super::policy_change::duration_text((terms.max_ms / 1000).max(0) as u64),
            terms.max_uses
        ));
    }
    let wider: Vec<&str> = call
        .risk
        .iter()
        .filter(|r| !grant.risk.contains(r))
        .map(|r| r.as_str())
        .collect();
    if !wider.is_empty() {
        return Some(format!(
            "this call carries more risk ({}) than the one it was given for",
            wider.join(", ")
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_answers_to_its_giver_and_its_rule() {
        let terms = GrantTerms {
            max_ms: 3_600_000,
            max_uses: 10,
            pointers: Vec::new(),
        };
        let small = GrantTerms {
            max_ms: 60_000,
            ..terms.clone()
        };
        let given = GivenGrant {
            given_ms: 1_000,
            window_ms: 600_000,
            uses: 5,
            risk: &[RiskClass::Production],
            giver_active: true,
            giver_role: Role::Approver,
            giver_since_ms: 500,
        };
        let call = CallUnderRule {
            terms: Some(&terms),
            role: Role::Approver,
            approvals: 1,
            confirm: false,
            risk: &[RiskClass::Production],
        };
        let cases: Vec<(&str, GivenGrant, CallUnderRule, Option<&str>)> = vec![
            ("as given", given, call, None),
            (
                "less risk",
                given,
                CallUnderRule { risk: &[], ..call },
                None,
            ),
            (
                "giver disabled",
                GivenGrant {
                    giver_active: false,
                    ..given
                },
                call,
                Some("disabled"),
            ),
            (
                "giver demoted to viewer",
                GivenGrant {
                    giver_role: Role::Viewer,
                    ..given
                },
                call,
                Some("is a viewer now"),
            ),
            (
                "rule raised to manager",
                given,
                CallUnderRule {
                    role: Role::Manager,
                    ..call
                },
                Some("needs a manager"),
            ),
            (
                "giver re-promoted since",
                GivenGrant {
                    giver_since_ms: 2_000,
                    ..given
                },
                call,
                Some("changed since it was given"),
            ),
            (
                "rule allows no grants",
                given,
                CallUnderRule {
                    terms: None,
                    ..call
                },
                Some("no longer allows remembered grants"),
            ),
            (
                "rule needs two approvals",
                given,
                CallUnderRule {
                    approvals: 2,
                    ..call
                },
                Some("2 approvals"),
            ),
            (
                "rule asks to type",
                given,
                CallUnderRule {
                    confirm: true,
                    ..call
                },
                Some("typed confirmation"),
            ),
            (
                "rule's window shrank",
                given,
                CallUnderRule {
                    terms: Some(&small),
                    ..call
                },
                Some("at most"),
            ),
            (
                "more risk claimed",
                given,
                CallUnderRule {
                    risk: &[RiskClass::Production, RiskClass::Financial],
                    ..call
                },
                Some("more risk (financial)"),
            ),
            (
                "destructive now",
                given,
                CallUnderRule {
                    risk: &[RiskClass::Destructive],
                    ..call
                },
                Some("no grants for destructive"),
            ),
        ];
        for (name, grant, call, want) in cases {
            let got = withdrawal(&grant, &call);
            match (&got, want) {
                (None, None) => {}
                (Some(why), Some(part)) => assert!(why.contains(part), "{name}: {why}"),
                _ => panic!("{name}: got {got:?}, wanted {want:?}"),
            }
        }
    }
}
