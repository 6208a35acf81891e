//! Policy changes that loosen a gate wait for managers' sign-off. This module owns their
//! lifecycle ([`ChangeStatus::apply`]), the rule for merging a change onto a newer policy
//! (re-basing, [`rebase`]) and the shapes people see.

use super::policy::Policy;
use super::policy_change::Finding;
use super::policy_console::Replay;
use super::signoff::SignoffReviewView;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a pending policy change is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Waiting for managers.
    Pending,
    /// Enough managers approved: it is a policy version now.
    Applied,
    /// A manager vetoed it.
    Denied,
    /// Nobody resolved it in time.
    Expired,
    /// Its author withdrew it.
    Withdrawn,
}

/// What can happen to a pending change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEvent {
    Approve,
    Deny,
    Deadline,
    Withdraw,
    /// Its author moved it onto the policy in force: a new candidate, reviews voided.
    Rebase,
}

impl ChangeStatus {
    /// Every status.
    pub const ALL: [ChangeStatus; 5] = [
        ChangeStatus::Pending,
        ChangeStatus::Applied,
        ChangeStatus::Denied,
        ChangeStatus::Expired,
        ChangeStatus::Withdrawn,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Pending => "pending",
            ChangeStatus::Applied => "applied",
            ChangeStatus::Denied => "denied",
            ChangeStatus::Expired => "expired",
            ChangeStatus::Withdrawn => "withdrawn",
        }
    }

    /// The status `event` leads to from `self`, or `None` if it cannot happen.
    pub fn apply(self, event: ChangeEvent) -> Option<ChangeStatus> {
        use ChangeEvent as E;
        use ChangeStatus as S;
        match (self, event) {
            (S::Pending, E::Approve) => Some(S::Applied),
            (S::Pending, E::Deny) => Some(S::Denied),
            (S::Pending, E::Deadline) => Some(S::Expired),
            (S::Pending, E::Withdraw) => Some(S::Withdrawn),
            (S::Pending, E::Rebase) => Some(S::Pending),
            (S::Applied | S::Denied | S::Expired | S::Withdrawn, _) => None,
        }
    }

    /// Whether the deadline has passed for a change in this status.
    pub fn due(self, expires_at: i64, now_ms: i64) -> Option<ChangeEvent> {
        (self == ChangeStatus::Pending && expires_at <= now_ms).then_some(ChangeEvent::Deadline)
    }
}

impl fmt::Display for ChangeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pending (or resolved) policy change as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeView {
    pub id: i64,
    /// `user:<name>` or `cli`.
    pub author: String,
    pub comment: String,
    /// The version it was made from.
    pub base: i64,
    /// The version in force now; when it is not `base`, the change must be re-based.
    pub in_force: i64,
    /// 1, plus one per re-base.
    pub candidate: u32,
    /// What a review names.
    pub hash: String,
    /// The diff against `base`, in words.
    pub changes: Vec<String>,
    pub findings: Vec<Finding>,
    /// Recent calls whose outcome it changes.
    pub replay: Replay,
    pub status: ChangeStatus,
    pub approvals: u32,
    pub approvals_required: u32,
    pub reviews: Vec<SignoffReviewView>,
    /// RFC 3339.
    pub created_at: String,
    pub expires_at_ms: i64,
    pub resolved_at: Option<String>,
    pub applied_version: Option<i64>,
}

impl ChangeView {
    /// Whether its author must re-base it before anyone can review it.
    pub fn needs_rebase(&self) -> bool {
        self.status == ChangeStatus::Pending && self.base != self.in_force
    }
}

/// What `/reviews` shows: everything waiting for managers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewQueue {
    pub bypasses: Vec<super::bypass::BypassPage>,
    pub changes: Vec<ChangeItem>,
    pub settings: super::signoff::SignoffSettings,
    /// Active managers and admins.
    pub managers: i64,
    /// Whether the viewer may change the settings.
    pub is_admin: bool,
    pub now_ms: i64,
}

/// A change with what the viewer may do with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeItem {
    pub change: ChangeView,
    /// Why the viewer cannot review it (`None`: they may).
    pub cannot_review: Option<String>,
    /// Whether the viewer wrote it (and so may re-base or withdraw it).
    pub is_author: bool,
    /// Changes to people's accounts since it was asked for.
    #[serde(default)]
    pub account_changes: Vec<super::signoff::AccountChange>,
}

/// Moves a change made from `base` onto `theirs` (the policy in force now), rule by rule:
/// a rule only one side changed takes that side's version; a rule both changed the same
/// way is kept; a rule both changed differently (or one changed and the other deleted) is
/// a conflict, as are different default effects and reorderings on both sides. Rules the
/// change added are placed after the rule they follow in the change.
pub fn rebase(base: &Policy, mine: &Policy, theirs: &Policy) -> Result<Policy, Vec<String>> {
    use super::policy::Rule;
    let find = |p: &Policy, name: &str| p.rules.iter().find(|r| r.name == name).cloned();
    let mut conflicts = Vec::new();
    let default_effect = if mine.default_effect == base.default_effect {
        theirs.default_effect.clone()
    } else if theirs.default_effect == base.default_effect
        || theirs.default_effect == mine.default_effect
    {
        mine.default_effect.clone()
    } else {
        conflicts.push("both changed the default effect".to_string());
        theirs.default_effect.clone()
    };
    let order = |p: &Policy, keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        p.rules
            .iter()
            .filter(|r| keep(&r.name))
            .map(|r| r.name.clone())
            .collect()
    };
    // Rules all three know: did either side reorder them?
    let common = |name: &str| {
        find(base, name).is_some() && find(mine, name).is_some() && find(theirs, name).is_some()
    };
    let (o_base, o_mine, o_theirs) = (
        order(base, &common),
        order(mine, &common),
        order(theirs, &common),
    );
    let use_my_order = o_mine != o_base;
    if use_my_order && o_theirs != o_base && o_theirs != o_mine {
        conflicts.push("both reordered rules".to_string());
    }
    // Start from theirs (or theirs in my order), then settle each rule.
    let mut rules: Vec<Rule> = Vec::new();
    let mut names: Vec<String> = order(theirs, &|_| true);
    if use_my_order {
        let mut mine_order = o_mine.clone().into_iter();
        names = names
            .into_iter()
            .map(|n| {
                if o_theirs.contains(&n) {
                    mine_order.next().unwrap_or(n)
                } else {
                    n
                }
            })
            .collect();
    }
    for name in &names {
        let (b, m, t) = (find(base, name), find(mine, name), find(theirs, name));
        match (b, m, t) {
            (Some(b), Some(m), Some(t)) => {
                if m == b || m == t {
                    rules.push(t);
                } else if t == b {
                    rules.push(m);
                } else {
                    conflicts.push(format!("both changed rule `{name}`"));
                }
            }
            (Some(b), None, Some(t)) => {
                if t != b {
                    conflicts.push(format!(
                        "the change deletes rule `{name}`, which was changed meanwhile"
                    ));
                }
            }
            (None, Some(m), Some(t)) => {
                if m == t {
                    rules.push(t);
                } else {
                    conflicts.push(format!("both added a rule named `{name}`"));
                }
            }
            (_, _, Some(t)) => rules.push(t),
            (_, _, None) => {}
        }
    }
    // Rules they deleted that the change had modified.
    for b in &base.rules {
        if find(theirs, &b.name).is_none() {
            if let Some(m) = find(mine, &b.name) {
                if m != *b {
                    conflicts.push(format!(
                        "the change edits rule `{}`, which was deleted meanwhile",
                        b.name
                    ));
                }
            }
        }
    }
    // Rules the change added, after the rule they follow in the change.
    for (i, m) in mine.rules.iter().enumerate() {
        if find(base, &m.name).is_some() || find(theirs, &m.name).is_some() {
            continue;
        }
        let after = mine.rules[..i]
            .iter()
            .rev()
            .find_map(|p| rules.iter().position(|r| r.name == p.name));
        rules.insert(after.map_or(0, |p| p + 1), m.clone());
    }
    let groups = if mine.groups == base.groups || mine.groups == theirs.groups {
        theirs.groups.clone()
    } else if theirs.groups == base.groups {
        mine.groups.clone()
    } else {
        conflicts.push("both changed the groups".into());
        theirs.groups.clone()
    };
    if conflicts.is_empty() {
        Ok(Policy {
            default_effect,
            rules,
            groups,
        })
    } else {
        Err(conflicts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{Effect, Match, Rule};

    fn rule(name: &str, effect: Effect) -> Rule {
        Rule {
            name: name.into(),
            enabled: true,
            description: None,
            matcher: Match {
                tool: Some(name.into()),
                ..Match::default()
            },
            add_risk: vec![],
            effect: Some(effect),
        }
    }
    fn allow(name: &str) -> Rule {
        rule(name, Effect::Allow)
    }
    fn deny(name: &str) -> Rule {
        rule(
            name,
            Effect::Deny {
                message: "no".into(),
            },
        )
    }
    fn policy(rules: Vec<Rule>) -> Policy {
        Policy {
            default_effect: Effect::Allow,
            rules,
            groups: Default::default(),
        }
    }
    fn names(p: &Policy) -> Vec<String> {
        p.rules.iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn every_transition() {
        use ChangeEvent as E;
        use ChangeStatus as S;
        let allowed = [
            (S::Pending, E::Approve, S::Applied),
            (S::Pending, E::Deny, S::Denied),
            (S::Pending, E::Deadline, S::Expired),
            (S::Pending, E::Withdraw, S::Withdrawn),
            (S::Pending, E::Rebase, S::Pending),
        ];
        let events = [E::Approve, E::Deny, E::Deadline, E::Withdraw, E::Rebase];
        for from in ChangeStatus::ALL {
            for event in events {
                let want = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|t| t.2);
                assert_eq!(from.apply(event), want, "{from} + {event:?}");
            }
        }
        assert_eq!(S::Pending.due(10, 9), None);
        assert_eq!(S::Pending.due(10, 10), Some(E::Deadline));
        assert_eq!(S::Applied.due(10, 99), None);
    }

    #[test]
    fn rebasing() {
        let base = policy(vec![deny("a"), deny("b"), deny("c")]);
        // (what, mine, theirs, expected rule names or the conflict text)
        type Case<'a> = (&'a str, Policy, Policy, Result<Vec<&'a str>, &'a str>);
        let cases: Vec<Case> = vec![
            (
                "disjoint edits",
                policy(vec![allow("a"), deny("b"), deny("c")]),
                policy(vec![deny("a"), deny("b"), allow("c")]),
                Ok(vec!["a", "b", "c"]),
            ),
            (
                "they added a rule, I added one after b",
                policy(vec![deny("a"), deny("b"), allow("x"), deny("c")]),
                policy(vec![deny("z"), deny("a"), deny("b"), deny("c")]),
                Ok(vec!["z", "a", "b", "x", "c"]),
            ),
            (
                "I deleted, they left it",
                policy(vec![deny("a"), deny("c")]),
                policy(vec![deny("a"), deny("b"), deny("c"), deny("d")]),
                Ok(vec!["a", "c", "d"]),
            ),
            (
                "both changed one rule",
                policy(vec![allow("a"), deny("b"), deny("c")]),
                policy(vec![
                    rule("a", Effect::Gate(Default::default())),
                    deny("b"),
                    deny("c"),
                ]),
                Err("both changed rule `a`"),
            ),
            (
                "I edit what they deleted",
                policy(vec![deny("a"), allow("b"), deny("c")]),
                policy(vec![deny("a"), deny("c")]),
                Err("deleted meanwhile"),
            ),
            (
                "I reordered, they edited",
                policy(vec![deny("c"), deny("a"), deny("b")]),
                policy(vec![deny("a"), allow("b"), deny("c")]),
                Ok(vec!["c", "a", "b"]),
            ),
        ];
        for (what, mine, theirs, want) in cases {
            let got = rebase(&base, &mine, &theirs);
            match (got, want) {
                (Ok(p), Ok(names_want)) => assert_eq!(names(&p), names_want, "{what}"),
                (Err(e), Err(part)) => {
                    assert!(e.iter().any(|c| c.contains(part)), "{what}: {e:?}")
                }
                (got, want) => panic!("{what}: got {got:?}, wanted {want:?}"),
            }
        }
        // The edit of `b` made meanwhile survives my reordering, and mine of `a` survives theirs.
        let merged = rebase(
            &base,
            &policy(vec![allow("a"), deny("b"), deny("c")]),
            &policy(vec![deny("a"), allow("b"), deny("c")]),
        )
        .unwrap();
        assert_eq!(merged.rules[0], allow("a"));
        assert_eq!(merged.rules[1], allow("b"));
    }
}
