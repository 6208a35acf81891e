//! The admin's policy console: a draft per admin, edited rule by rule or as TOML, tried
//! against typed-in or recent calls (dry run) and replayed over recent traffic, then saved
//! as a new version with a comment — or thrown away. Versions can be compared and restored.

use super::policy_admin::{parse, unsatisfiable, SavePolicy, Saved};
use super::Gate;
use crate::domain::policy::{Effect, Policy, Rule};
use crate::domain::policy_change::{classify, covers, diff, effect_text, sentence, Change};
use crate::domain::policy_console::{
    Direction, DraftView, DryRun, InForce, PolicyConsole, RecentCall, Replay, ReplayCall,
    ReplayGroup, RuleForm, RuleLine, VersionSummary,
};
use crate::domain::risk::RiskClass;
use crate::domain::{AppError, UserView};
use crate::policy::{toml_io, CallInput, CompiledPolicy, Outcome};
use crate::store::{calls, policy as store, users};
use std::collections::{BTreeMap, HashSet};

/// Calls replayed by default, and at most.
pub const REPLAY_DEFAULT: u32 = 10_000;
pub const REPLAY_MAX: u32 = 100_000;
/// Calls of one group listed in a replay.
const REPLAY_EXAMPLES: usize = 5;

/// A change to a draft, rule by rule.
#[derive(Debug, Clone)]
pub enum DraftEdit {
    Toggle(String),
    Up(String),
    Down(String),
    Duplicate(String),
    Delete(String),
    /// Replace the rule named `original`, or add a new one (`None`) where `place` says.
    Put {
        original: Option<String>,
        rule: Box<Rule>,
        place: Place,
    },
}

/// Where a new rule goes in the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Before the first rule that decides every call the new one would match (there it
    /// could never match), else last.
    Auto,
    /// Just before the rule of this name.
    Before(String),
    Last,
}

impl Place {
    /// The rule form's `place`: empty or `auto`, `last`, or `before:<rule>`.
    pub fn parse(text: &str) -> Result<Self, AppError> {
        match text.trim() {
            "" | "auto" => Ok(Place::Auto),
            "last" => Ok(Place::Last),
            other => other
                .strip_prefix("before:")
                .map(|name| Place::Before(name.to_string()))
                .ok_or_else(|| {
                    AppError::BadRequest("place must be auto, last or before:<rule>".into())
                }),
        }
    }
}

/// Where [`Place::Auto`] puts `rule` in `policy`: before the first rule that decides every
/// call it would match, else at the end.
pub fn auto_position(policy: &Policy, rule: &Rule) -> usize {
    policy
        .rules
        .iter()
        .position(|earlier| decides_all(earlier, rule))
        .unwrap_or(policy.rules.len())
}

/// Whether `earlier`, placed before `later`, decides every call `later` would match (so
/// `later` could never match): it is enabled, has an effect, and matches at least those
/// calls — a tool glob counts when it matches `later`'s literal tool name.
fn decides_all(earlier: &Rule, later: &Rule) -> bool {
    let literal = |t: &str| !t.contains(['*', '?', '[', '{', '\\']);
    let (wide, narrow) = (&earlier.matcher, &later.matcher);
    let tool = match (&wide.tool, &narrow.tool) {
        (None, _) => true,
        (Some(w), Some(n)) if w == n => true,
        (Some(w), Some(n)) if literal(n) => {
            crate::policy::tool_name::ToolPattern::new(w).is_ok_and(|p| p.matches(n))
        }
        _ => false,
    };
    let mut rest = wide.clone();
    rest.tool = narrow.tool.clone();
    earlier.enabled && earlier.effect.is_some() && tool && covers(&rest, narrow)
}

/// A call to try against the draft.
#[derive(Debug, Clone)]
pub struct TryCall {
    pub agent: String,
    pub tool: String,
    pub args: serde_json::Value,
    pub risk: Vec<RiskClass>,
    pub novel: bool,
}

fn rule_lines(policy: &Policy) -> Vec<RuleLine> {
    policy
        .rules
        .iter()
        .map(|r| RuleLine {
            name: r.name.clone(),
            enabled: r.enabled,
            sentence: sentence(r),
            form: RuleForm::of(r),
            sample: crate::domain::policy_console::sample_call(r),
        })
        .collect()
}

/// Runs CPU-bound work on the blocking pool.
async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("policy comparison failed: {e}")))
}

/// The draft as the console shows it, against the policy in force.
fn draft_view(
    base: i64,
    in_force: &Policy,
    draft: &Policy,
    active: &[(crate::domain::Role, i64)],
) -> DraftView {
    DraftView {
        base,
        default_effect: effect_text(Some(&draft.default_effect)),
        rules: rule_lines(draft),
        toml: toml_io::to_toml(draft),
        changes: diff(in_force, draft).iter().map(Change::describe).collect(),
        classification: classify(in_force, draft),
        problems: unsatisfiable(draft, active),
        warnings: shadowed_rules(draft),
    }
}

/// Rules that can never match because an earlier enabled rule with an effect matches every
/// call they would.
pub fn shadowed_rules(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for (i, later) in policy.rules.iter().enumerate().filter(|(_, r)| r.enabled) {
        if let Some(earlier) = policy.rules[..i].iter().find(|e| decides_all(e, later)) {
            out.push(format!(
                "rule `{}` can never match: `{}` before it decides every call it would",
                later.name, earlier.name
            ));
        }
    }
    out
}

fn outcome_effect(outcome: &Outcome) -> Effect {
    match outcome {
        Outcome::Allow => Effect::Allow,
        Outcome::Deny { message } => Effect::Deny {
            message: message.clone(),
        },
        Outcome::Gate { settings, .. } => Effect::Gate(settings.clone()),
    }
}

/// How an outcome changes from `before` to `after` (`None`: it does not, or only in ways
/// that are neither stricter nor laxer, like a reworded message).
fn direction(before: &Outcome, after: &Outcome) -> Option<Direction> {
    let (b, a) = (outcome_effect(before), outcome_effect(after));
    if b == a {
        return None;
    }
    let rank = |e: &Effect| match e {
        Effect::Allow => 0,
        Effect::Gate(_) => 1,
        Effect::Deny { .. } => 2,
    };
    match (rank(&b), rank(&a)) {
        (x, y) if y > x => Some(Direction::Stricter),
        (x, y) if y < x => Some(Direction::Laxer),
        _ => {
            // Both gates (or both denies, reworded): laxer if any setting loosened.
            let c = classify(
                &Policy {
                    default_effect: b,
                    rules: vec![],
                    groups: Default::default(),
                },
                &Policy {
                    default_effect: a,
                    rules: vec![],
                    groups: Default::default(),
                },
            );
            match (&before, &after) {
                (Outcome::Gate { .. }, Outcome::Gate { .. }) if c.loosening => {
                    Some(Direction::Laxer)
                }
                (Outcome::Gate { .. }, Outcome::Gate { .. }) => Some(Direction::Stricter),
                _ => None,
            }
        }
    }
}

fn outcome_text(outcome: &Outcome) -> String {
    effect_text(Some(&outcome_effect(outcome)))
}

impl Gate {
    /// The policy in force, as the console shows it.
    async fn in_force(&self) -> Result<(InForce, Policy), AppError> {
        let row = store::latest_row(&self.pool)
            .await?
            .ok_or_else(|| AppError::Internal("no policy is stored".into()))?;
        let policy = parse(row.version, &row.document)?;
        Ok((
            InForce {
                version: row.version,
                author: row.author,
                at: calls::rfc3339(row.created_at),
                comment: row.comment,
                default_effect: effect_text(Some(&policy.default_effect)),
                rules: rule_lines(&policy),
                toml: toml_io::to_toml(&policy),
            },
            policy,
        ))
    }

    /// `user`'s draft: (base version, policy), if they have one.
    async fn draft_of(&self, user: &UserView) -> Result<Option<(i64, Policy)>, AppError> {
        match store::draft(&self.pool, &user.id).await? {
            Some((base, document)) => Ok(Some((base, parse(base, &document)?))),
            None => Ok(None),
        }
    }

    /// Active people per role.
    async fn active_roles(&self) -> Result<Vec<(crate::domain::Role, i64)>, AppError> {
        let mut counts = BTreeMap::new();
        for u in users::list(&self.pool).await? {
            if !u.disabled {
                *counts.entry(u.role()).or_insert(0i64) += 1;
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// Everything the policy page shows to `user`.
    pub async fn policy_console(&self, user: &UserView) -> Result<PolicyConsole, AppError> {
        let (in_force, policy) = self.in_force().await?;
        let draft = match self.draft_of(user).await? {
            Some((base, draft)) => {
                let active = self.active_roles().await?;
                // Comparing and rendering a large policy is CPU work: off the async threads,
                // so agents' calls are not held up while an admin looks at a big draft.
                Some(off_thread(move || draft_view(base, &policy, &draft, &active)).await?)
            }
            None => None,
        };
        let recent = calls::recent(&self.pool, 20)
            .await?
            .into_iter()
            .map(|c| RecentCall {
                id: c.id.clone(),
                agent: c.agent_name.clone(),
                tool: c.tool.clone(),
                args: c.args.clone(),
                risk: serde_json::from_str(&c.risk).unwrap_or_default(),
            })
            .collect();
        Ok(PolicyConsole {
            in_force,
            draft,
            recent,
        })
    }

    /// Replaces `user`'s draft with `policy` (validated the way `policy import` does).
    async fn put_draft(&self, user: &UserView, base: i64, policy: &Policy) -> Result<(), AppError> {
        CompiledPolicy::compile(policy).map_err(|e| AppError::Invalid(e.to_string()))?;
        let document = serde_json::to_string(policy)
            .map_err(|e| AppError::Internal(format!("serializing a draft: {e}")))?;
        store::put_draft(&self.pool, &user.id, base, &document, self.clock.now()).await?;
        Ok(())
    }

    /// `user`'s draft, or a new one from the policy in force.
    async fn draft_or_new(&self, user: &UserView) -> Result<(i64, Policy), AppError> {
        match self.draft_of(user).await? {
            Some(d) => Ok(d),
            None => {
                let (in_force, policy) = self.in_force().await?;
                Ok((in_force.version, policy))
            }
        }
    }

    /// Applies one rule-level edit to `user`'s draft (starting one if needed).
    pub async fn edit_draft(&self, user: &UserView, edit: DraftEdit) -> Result<(), AppError> {
        let (base, mut policy) = self.draft_or_new(user).await?;
        let find = |policy: &Policy, name: &str| {
            policy
                .rules
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| AppError::NotFound(format!("the draft has no rule `{name}`")))
        };
        match edit {
            DraftEdit::Toggle(name) => {
                let i = find(&policy, &name)?;
                policy.rules[i].enabled = !policy.rules[i].enabled;
            }
            DraftEdit::Up(name) => {
                let i = find(&policy, &name)?;
                if i > 0 {
                    policy.rules.swap(i, i - 1);
                }
            }
            DraftEdit::Down(name) => {
                let i = find(&policy, &name)?;
                if i + 1 < policy.rules.len() {
                    policy.rules.swap(i, i + 1);
                }
            }
            DraftEdit::Duplicate(name) => {
                let i = find(&policy, &name)?;
                let mut copy = policy.rules[i].clone();
                let taken: HashSet<&str> = policy.rules.iter().map(|r| r.name.as_str()).collect();
                copy.name = (2..)
                    .map(|n| {
                        format!(
                            "{name}-copy{}",
                            if n == 2 {
                                String::new()
                            } else {
                                format!("-{n}")
                            }
                        )
                    })
                    .find(|c| !taken.contains(c.as_str()))
                    .unwrap_or_default();
                copy.enabled = false;
                policy.rules.insert(i + 1, copy);
            }
            DraftEdit::Delete(name) => {
                let i = find(&policy, &name)?;
                policy.rules.remove(i);
            }
            DraftEdit::Put {
                original,
                rule,
                place,
            } => {
                let clash = policy
                    .rules
                    .iter()
                    .any(|r| r.name == rule.name && Some(&r.name) != original.as_ref());
                if clash {
                    return Err(AppError::Invalid(format!(
                        "name: another rule is already called `{}`",
                        rule.name
                    )));
                }
                match original {
                    Some(name) => {
                        let i = find(&policy, &name)?;
                        policy.rules[i] = *rule;
                    }
                    None => {
                        let at = match place {
                            Place::Auto => auto_position(&policy, &rule),
                            Place::Before(name) => find(&policy, &name)?,
                            Place::Last => policy.rules.len(),
                        };
                        policy.rules.insert(at, *rule);
                    }
                }
            }
        }
        self.put_draft(user, base, &policy).await
    }

    /// Replaces `user`'s draft with a TOML document; errors name the line and column.
    pub async fn draft_from_toml(&self, user: &UserView, text: &str) -> Result<(), AppError> {
        let (base, _) = self.draft_or_new(user).await?;
        let (policy, _) = toml_io::import(text).map_err(|e| AppError::Invalid(e.to_string()))?;
        self.put_draft(user, base, &policy).await
    }

    /// Starts `user`'s draft from an old version (to restore it with a new save).
    pub async fn draft_from_version(&self, user: &UserView, version: i64) -> Result<(), AppError> {
        let row = store::version(&self.pool, version)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no policy version {version}")))?;
        let policy = parse(row.version, &row.document)?;
        let (base, _) = self.draft_or_new(user).await?;
        self.put_draft(user, base, &policy).await
    }

    /// Throws `user`'s draft away.
    pub async fn discard_draft(&self, user: &UserView) -> Result<(), AppError> {
        store::delete_draft(&self.pool, &user.id).await?;
        Ok(())
    }

    /// Saves `user`'s draft as the new version; their draft is gone afterwards.
    pub async fn save_draft(
        &self,
        user: &UserView,
        comment: &str,
        confirm_loosening: bool,
    ) -> Result<Saved, AppError> {
        let comment = comment.trim();
        if comment.is_empty() {
            return Err(AppError::Invalid(
                "say what this change is for: a comment is required".into(),
            ));
        }
        let (base, policy) = self
            .draft_of(user)
            .await?
            .ok_or_else(|| AppError::Invalid("there is no draft to save".into()))?;
        let problems = unsatisfiable(&policy, &self.active_roles().await?);
        if !problems.is_empty() {
            return Err(AppError::Invalid(format!(
                "this policy has a gate nobody can satisfy: {}",
                problems.join("; ")
            )));
        }
        let saved = self
            .save_policy(SavePolicy {
                policy,
                base: Some(base),
                author: format!("user:{}", user.username),
                author_id: Some(user.id.clone()),
                comment: comment.to_string(),
                confirm_loosening,
            })
            .await?;
        store::delete_draft(&self.pool, &user.id).await?;
        Ok(saved)
    }

    /// Tries a call against `user`'s draft (or the policy in force), rule by rule.
    pub async fn dry_run(&self, user: &UserView, call: &TryCall) -> Result<DryRun, AppError> {
        let max_args = self.limits().max_args_bytes as usize;
        crate::domain::call::limits::check_args("args", &call.args, max_args)?;
        if !call.args.is_object() {
            return Err(AppError::Invalid(
                "the arguments must be a JSON object".into(),
            ));
        }
        let (_, draft) = self.draft_or_new(user).await?;
        let compiled =
            CompiledPolicy::compile(&draft).map_err(|e| AppError::Invalid(e.to_string()))?;
        let input = CallInput {
            agent: &call.agent,
            tool: &call.tool,
            args: &call.args,
            risk: &call.risk,
            novel: call.novel,
        };
        let evaluation = compiled.evaluate(&input);
        Ok(DryRun {
            outcome: outcome_text(&evaluation.outcome),
            rule: evaluation.rule.clone(),
            risk: evaluation.risk.clone(),
            steps: compiled.explain(&input),
            in_force_outcome: outcome_text(&self.policy().evaluate(&input).outcome),
        })
    }

    /// Evaluates `user`'s draft and the policy in force over the newest `limit` calls and
    /// groups those whose outcome would change by agent and tool. Risk is as recorded with
    /// each call; novelty is worked out within the calls replayed.
    pub async fn replay(&self, user: &UserView, limit: u32) -> Result<Replay, AppError> {
        let (_, draft) = self.draft_or_new(user).await?;
        let draft =
            CompiledPolicy::compile(&draft).map_err(|e| AppError::Invalid(e.to_string()))?;
        self.replay_between(&self.policy(), &draft, limit).await
    }

    /// Evaluates `in_force` and `draft` over the newest `limit` calls and groups those
    /// whose outcome would change (see [`Gate::replay`]).
    pub async fn replay_between(
        &self,
        in_force: &CompiledPolicy,
        draft: &CompiledPolicy,
        limit: u32,
    ) -> Result<Replay, AppError> {
        let limit = limit.clamp(1, REPLAY_MAX);
        let mut rows = calls::recent(&self.pool, i64::from(limit)).await?;
        rows.reverse(); // oldest first, for novelty
        let mut seen: HashSet<(String, String, String)> = HashSet::new();
        let mut groups: BTreeMap<(String, String), ReplayGroup> = BTreeMap::new();
        let (mut stricter, mut laxer) = (0, 0);
        for row in &rows {
            let args: serde_json::Value = serde_json::from_str(&row.args).unwrap_or_default();
            let risk: Vec<RiskClass> = serde_json::from_str(&row.risk).unwrap_or_default();
            let key = (row.agent_id.clone(), row.session.clone(), row.tool.clone());
            let input = CallInput {
                agent: &row.agent_name,
                tool: &row.tool,
                args: &args,
                risk: &risk,
                novel: !seen.contains(&key),
            };
            if matches!(
                row.status,
                crate::domain::call::CallStatus::Allowed
                    | crate::domain::call::CallStatus::Executed
                    | crate::domain::call::CallStatus::Running
                    | crate::domain::call::CallStatus::Failed
            ) {
                seen.insert(key);
            }
            let (before, after) = (
                in_force.evaluate(&input).outcome,
                draft.evaluate(&input).outcome,
            );
            let Some(dir) = direction(&before, &after) else {
                continue;
            };
            let group = groups
                .entry((row.agent_name.clone(), row.tool.clone()))
                .or_insert_with(|| ReplayGroup {
                    agent: row.agent_name.clone(),
                    tool: row.tool.clone(),
                    stricter: 0,
                    laxer: 0,
                    calls: Vec::new(),
                });
            match dir {
                Direction::Stricter => {
                    group.stricter += 1;
                    stricter += 1;
                }
                Direction::Laxer => {
                    group.laxer += 1;
                    laxer += 1;
                }
            }
            if group.calls.len() < REPLAY_EXAMPLES {
                group.calls.push(ReplayCall {
                    id: row.id.clone(),
                    before: outcome_text(&before),
                    after: outcome_text(&after),
                    direction: dir,
                });
            }
        }
        let mut groups: Vec<ReplayGroup> = groups.into_values().collect();
        groups.sort_by_key(|g| std::cmp::Reverse((g.laxer, g.stricter)));
        Ok(Replay {
            examined: rows.len() as u32,
            stricter,
            laxer,
            groups,
        })
    }

    /// The newest versions, each with its changes against the one before it.
    pub async fn policy_versions(&self, limit: i64) -> Result<Vec<VersionSummary>, AppError> {
        let rows = store::newest(&self.pool, limit.clamp(1, 200)).await?;
        off_thread(move || {
            let mut out = Vec::new();
            for (i, row) in rows.iter().enumerate().take(limit.max(1) as usize) {
                let policy = parse(row.version, &row.document)?;
                let previous = match rows.get(i + 1) {
                    Some(p) => parse(p.version, &p.document)?,
                    None => Policy {
                        default_effect: policy.default_effect.clone(),
                        rules: vec![],
                        groups: Default::default(),
                    },
                };
                let c = classify(&previous, &policy);
                out.push(VersionSummary {
                    version: row.version,
                    author: row.author.clone(),
                    at: calls::rfc3339(row.created_at),
                    comment: row.comment.clone(),
                    changes: diff(&previous, &policy)
                        .iter()
                        .map(Change::describe)
                        .collect(),
                    loosening: rows.get(i + 1).is_some() && c.loosening,
                    findings: c.findings,
                });
            }
            Ok::<_, AppError>(out)
        })
        .await?
    }
}
