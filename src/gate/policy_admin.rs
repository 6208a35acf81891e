//! Loading and saving the policy. The policy in force is the newest stored version; a fresh
//! database gets the documented default policy. Every save — from the console, a restore
//! or a file import — goes through [`Gate::save_policy`]: validated, classified (does it
//! loosen a gate?), refused on a stale base, and then either applied at once (it tightens
//! or changes nothing that gates) or, when it loosens a gate, kept as a pending change that
//! takes effect only once enough managers sign it off (`super::policy_changes`). Applied
//! versions are recorded with their author and comment and one audit event, and are in
//! force on every process within a second.

use super::{writer::Writer, Gate};
use crate::clock::Clock;
use crate::domain::error::StateCode;
use crate::domain::policy::{Effect, Policy};
use crate::domain::policy_change::{classify, diff, Change, Classification};
use crate::domain::{AppError, Role};
use crate::policy::{default_policy, CompiledPolicy};
use crate::store::Pool;
use crate::store::{audit, policy as store};
use serde_json::json;

/// Longest comment on a policy version, in characters.
pub const MAX_COMMENT: usize = 2_000;

/// The stored policy, compiled; installs the default policy if none is stored yet.
pub async fn load_policy(
    pool: &Pool,
    writer: &Writer,
    clock: &dyn Clock,
) -> Result<CompiledPolicy, AppError> {
    if let Some((version, document)) = store::latest(pool).await? {
        let policy = parse(version, &document)?;
        return CompiledPolicy::compile(&policy).map_err(|e| {
            AppError::Internal(format!("stored policy version {version} is invalid: {e}"))
        });
    }
    let policy = default_policy();
    let compiled = CompiledPolicy::compile(&policy)
        .map_err(|e| AppError::Internal(format!("the default policy is invalid: {e}")))?;
    let first = SavePolicy {
        policy,
        base: Some(0),
        author: "system".into(),
        author_id: None,
        comment: "the default policy".into(),
        confirm_loosening: true,
    };
    store_version(writer, first, false, clock).await?;
    Ok(compiled)
}

/// A stored policy document.
pub fn parse(version: i64, document: &str) -> Result<Policy, AppError> {
    serde_json::from_str(document).map_err(|e| {
        AppError::Internal(format!(
            "stored policy version {version} is unreadable: {e}"
        ))
    })
}

/// A policy to save.
#[derive(Debug, Clone)]
pub struct SavePolicy {
    pub policy: Policy,
    /// The version the change was made from; the save is refused with a conflict if
    /// another version was saved since. `None`: replace whatever is in force (file import).
    pub base: Option<i64>,
    /// `user:<name>` or `cli`.
    pub author: String,
    /// The author's user id, when a person saves: they never count as a reviewer of a
    /// change of theirs that waits for sign-off.
    pub author_id: Option<String>,
    /// Why (required from people).
    pub comment: String,
    /// The author has seen that the change loosens a gate and confirms it.
    pub confirm_loosening: bool,
}

/// What a save did: applied a new version, or (for a loosening change) filed a pending
/// change that waits for managers.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The version now in force, when the change applied at once.
    pub version: Option<i64>,
    /// The pending change's number, when it waits for sign-off.
    pub pending: Option<i64>,
    /// Approvals the pending change needs.
    pub approvals_required: u32,
    pub classification: Classification,
}

/// Stores a new version with its audit event, if the newest version is still `base`.
async fn store_version(
    writer: &Writer,
    save: SavePolicy,
    loosening: bool,
    clock: &dyn Clock,
) -> Result<i64, AppError> {
    let now = clock.now();
    let document = serde_json::to_string(&save.policy)
        .map_err(|e| AppError::Internal(format!("serializing the policy: {e}")))?;
    writer
        .write(move |conn| {
            Box::pin(async move {
                if let Some(conflict) = conflict(&mut *conn, save.base).await? {
                    return Ok(Err(conflict));
                }
                let version = insert_version(conn, &save, &document, loosening, now).await?;
                audit::append(
                    conn,
                    &audit::NewEvent {
                        at: now,
                        actor: &save.author,
                        kind: "policy.changed",
                        agent_id: None,
                        call_id: None,
                        from_status: None,
                        to_status: None,
                        detail: json!({
                            "version": version,
                            "base": save.base,
                            "rules": save.policy.rules.len(),
                            "comment": save.comment,
                            "loosening": loosening,
                        }),
                    },
                )
                .await?;
                Ok(Ok(version))
            })
        })
        .await?
}

/// Inserts a version (inside the caller's transaction, which checked its base).
pub(super) async fn insert_version(
    conn: &mut crate::store::Conn,
    save: &SavePolicy,
    document: &str,
    loosening: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, AppError> {
    Ok(store::insert(
        &mut *conn,
        &store::NewVersion {
            document,
            author: &save.author,
            comment: &save.comment,
            loosening,
            now,
        },
    )
    .await?)
}

/// A conflict, if a version other than `base` is now the newest: what changed since, and
/// who saved it.
pub(super) async fn conflict(
    conn: &mut crate::store::Conn,
    base: Option<i64>,
) -> Result<Option<AppError>, AppError> {
    let newest = store::latest_row(&mut *conn).await?;
    let newest_version = newest.as_ref().map_or(0, |v| v.version);
    let Some(base) = base.filter(|b| *b != newest_version) else {
        return Ok(None);
    };
    let changes = match &newest {
        Some(row) => conflict_changes(base, row, &mut *conn).await?,
        None => Vec::new(),
    };
    let by = newest.as_ref().map_or("someone", |v| v.author.as_str());
    Ok(Some(AppError::Conflict(format!(
        "the policy changed since you started (version {base} → {newest_version}, saved by \
         {by}); review their change and make yours again: {}",
        if changes.is_empty() {
            "no rule changes".into()
        } else {
            changes.join("; ")
        }
    ))))
}

/// What changed between `base` and the newest version, in words.
async fn conflict_changes(
    base: i64,
    newest: &store::VersionRow,
    conn: &mut crate::store::Conn,
) -> Result<Vec<String>, AppError> {
    let Some(old) = store::version(&mut *conn, base).await? else {
        return Ok(Vec::new());
    };
    let (old, new) = (
        parse(old.version, &old.document)?,
        parse(newest.version, &newest.document)?,
    );
    Ok(diff(&old, &new).iter().map(Change::describe).collect())
}

/// Gates that nobody can satisfy: more approvals than active people who hold the approver
/// role or above. `active` is the number of active people per role.
pub fn unsatisfiable(policy: &Policy, active: &[(Role, i64)]) -> Vec<String> {
    let holders = |role: Role| -> i64 {
        active
            .iter()
            .filter(|(r, _)| r.includes(role))
            .map(|(_, n)| n)
            .sum()
    };
    let effects = policy
        .rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| r.effect.as_ref().map(|e| (format!("rule `{}`", r.name), e)))
        .chain([("the default effect".to_string(), &policy.default_effect)]);
    effects
        .filter_map(|(what, effect)| match effect {
            Effect::Gate(g) if i64::from(g.approvals_required) > holders(g.approver_role) => {
                Some(format!(
                    "{what} needs {} approvals from {}s or above, but only {} active {} hold that role",
                    g.approvals_required,
                    g.approver_role,
                    holders(g.approver_role),
                    if holders(g.approver_role) == 1 { "person" } else { "people" }
                ))
            }
            _ => None,
        })
        .collect()
}

impl Gate {
    /// Validates and classifies a new policy. A change that does not loosen any gate is
    /// stored and in force at once; one that loosens a gate (which `confirm_loosening`
    /// must acknowledge) becomes a pending change that applies only when enough managers
    /// approve it — except while nobody has an account yet (provisioning a fresh install
    /// from a file), when there is nobody who could sign it off.
    pub async fn save_policy(&self, save: SavePolicy) -> Result<Saved, AppError> {
        if save.comment.chars().count() > MAX_COMMENT {
            return Err(AppError::Invalid(format!(
                "the comment is longer than {MAX_COMMENT} characters"
            )));
        }
        if save.comment.chars().any(|c| {
            (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                || crate::domain::signoff::is_bidi_control(c)
        }) {
            return Err(AppError::Invalid(
                "the comment must not contain control or text-direction characters".into(),
            ));
        }
        let compiled =
            CompiledPolicy::compile(&save.policy).map_err(|e| AppError::Invalid(e.to_string()))?;
        crate::policy::printable(&save.policy).map_err(AppError::Invalid)?;
        // A stale base is the first thing to hear about (the write checks it again).
        let mut conn = self.pool.acquire().await?;
        if let Some(conflict) = conflict(&mut conn, save.base).await? {
            return Err(conflict);
        }
        let provisioning = !crate::store::users::any(&mut *conn).await?;
        drop(conn);
        let in_force = self.policy();
        let classification = classify(in_force.policy(), &save.policy);
        if classification.loosening && !save.confirm_loosening {
            let why: Vec<String> = classification
                .findings
                .iter()
                .filter(|f| f.loosens)
                .map(|f| format!("{} ({})", f.change, f.why))
                .collect();
            return Err(AppError::State(
                StateCode::LooseningUnconfirmed,
                format!(
                    "this change loosens a gate; confirm it to send it for sign-off: {}",
                    why.join("; ")
                ),
            ));
        }
        if classification.loosening && !provisioning && save.author_id.is_none() {
            // Without a named author nobody is kept from reviewing it: whoever imported it
            // could then count as one of its own reviewers.
            return Err(AppError::Invalid(
                "a change that loosens a gate needs its author, who never reviews it: import \
                 it as an admin with --user NAME"
                    .into(),
            ));
        }
        if classification.loosening && !provisioning {
            let (id, approvals) = self
                .propose_change(save, &in_force, compiled, &classification)
                .await?;
            return Ok(Saved {
                version: None,
                pending: Some(id),
                approvals_required: approvals,
                classification,
            });
        }
        let loosening = classification.loosening;
        let version = store_version(&self.writer, save, loosening, self.clock.as_ref()).await?;
        self.set_policy(compiled);
        Ok(Saved {
            version: Some(version),
            pending: None,
            approvals_required: 0,
            classification,
        })
    }

    /// Replaces the policy with one from a file (`askfirst policy import`): applied at
    /// once, or pending sign-off when it loosens a gate. Other processes (a running
    /// server) pick an applied version up within a second.
    pub async fn replace_policy(
        &self,
        policy: Policy,
        author: &str,
        author_id: Option<String>,
    ) -> Result<Saved, AppError> {
        self.save_policy(SavePolicy {
            policy,
            base: None,
            author: author.to_string(),
            author_id,
            comment: "imported from a file".into(),
            confirm_loosening: true,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::policy::{GateSettings, Match, Rule};

    fn gate(name: &str, approvals: u32, role: Role, enabled: bool) -> Rule {
        Rule {
            name: name.into(),
            enabled,
            description: None,
            matcher: Match::default(),
            add_risk: vec![],
            effect: Some(Effect::Gate(GateSettings {
                approvals_required: approvals,
                approver_role: role,
                ..GateSettings::default()
            })),
        }
    }

    #[test]
    fn gates_nobody_can_satisfy() {
        let policy = Policy {
            default_effect: Effect::Gate(GateSettings {
                approvals_required: 4,
                ..GateSettings::default()
            }),
            rules: vec![
                gate("two-managers", 2, Role::Manager, true),
                gate("three-managers", 3, Role::Manager, true),
                gate("off", 9, Role::Admin, false),
                gate("one-admin", 1, Role::Admin, true),
            ],
            groups: Default::default(),
        };
        // One approver, one manager, one admin: managers-or-above are two.
        let active = [
            (Role::Approver, 1),
            (Role::Manager, 1),
            (Role::Admin, 1),
            (Role::Viewer, 5),
        ];
        assert_eq!(
            unsatisfiable(&policy, &active),
            vec![
                "rule `three-managers` needs 3 approvals from managers or above, but only 2 active people hold that role".to_string(),
                "the default effect needs 4 approvals from approvers or above, but only 3 active people hold that role".to_string(),
            ]
        );
        assert!(unsatisfiable(&policy, &[(Role::Admin, 4)]).is_empty());
    }
}
