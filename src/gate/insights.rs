//! Insights: rolling the audit log up into hourly counts per agent, tool and call pattern
//! (the server does this in the background, so every change is counted once, whichever
//! process made it), the insights read model, suggestions and what accepting or dismissing
//! one does, the rubber-stamp watch, and recording when a card was opened.

use super::policy_admin::{SavePolicy, Saved};
use super::Gate;
use crate::clock::{from_millis, to_millis};
use crate::domain::insights::{
    self, bucket, group_feedback, materially_changed, stamp_measures, tighten_due, ungate_due, Bar,
    Counts, InsightRow, InsightsData, Period, ReviewFact, StampRow, Suggestion, SuggestionKind,
};
use crate::domain::policy::{Effect, Policy};
use crate::domain::risk::RiskClass;
use crate::domain::{AppError, UserView};
use crate::policy::pattern::{insert_before, rule_for, rule_name, PatternFinder};
use crate::policy::{CallInput, CompiledPolicy, Outcome};
use crate::store::insights::{self as rollups, CallBrief};
use crate::store::{self, audit};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Audit events read per rollup step. Small enough that the step's one transaction, which
/// goes through the writer the calls' commits share, holds them back by a few milliseconds
/// at most (2,000 held a burst of allowed calls back by tens of milliseconds).
pub(super) const STEP: i64 = 500;
/// Events counted between two yields to the runtime: the counting is CPU work on the
/// runtime's thread, and the calls arriving meanwhile are served in between.
const YIELD_EVERY: usize = 64;
/// Rows per insights table.
const TABLE_ROWS: usize = 50;
/// Denials read to group feedback.
const FEEDBACK_SAMPLE: i64 = 2_000;
/// Feedback texts grouped per pattern (the newest).
const FEEDBACK_PER_PATTERN: usize = 200;
/// Longest reason or comment.
const MAX_REASON: usize = 1_000;

/// One hour's change to one rollup row, keyed by the raw pattern.
#[derive(Default)]
struct Delta {
    counts: Counts,
    rule: Option<String>,
    args: String,
    /// Decisions by people in order: `true` approved.
    runs: Vec<bool>,
}

impl Gate {
    /// Rolls up the audit events not yet counted, at most one step of them; returns how
    /// many were read (0: up to date).
    pub async fn roll_up(&self) -> Result<usize, AppError> {
        let last = rollups::last_event(&self.pool).await?;
        let events = audit::since(&self.pool, last, STEP).await?;
        let Some(newest) = events.last().map(|e| e.id) else {
            return Ok(0);
        };
        let ids: Vec<String> = events
            .iter()
            .filter(|e| e.kind.starts_with("call."))
            .filter_map(|e| e.call_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let briefs: HashMap<String, CallBrief> = rollups::call_briefs(&self.pool, &ids)
            .await?
            .into_iter()
            .map(|b| (b.id.clone(), b))
            .collect();
        let policy = self.policy();
        let finder = PatternFinder::new(policy.policy());
        let mut deltas: BTreeMap<(i64, String, String, String), Delta> = BTreeMap::new();
        let mut patterns: HashMap<String, (String, BTreeMap<String, Value>)> = HashMap::new();
        for (n, event) in events.iter().enumerate() {
            if n % YIELD_EVERY == YIELD_EVERY - 1 {
                tokio::task::yield_now().await;
            }
            let Some(call) = event.call_id.as_ref().and_then(|id| briefs.get(id)) else {
                continue;
            };
            let (pattern, args) = patterns
                .entry(call.id.clone())
                .or_insert_with(|| {
                    let args: Value = serde_json::from_str(&call.args).unwrap_or(Value::Null);
                    let p = finder.pattern(&call.tool, &args, call.rule.as_deref());
                    (p.text, p.args)
                })
                .clone();
            let hour = event.at.div_euclid(3_600_000) * 3_600_000;
            let key = (hour, call.agent_id.clone(), call.tool.clone(), pattern);
            let delta = deltas.entry(key).or_default();
            delta.rule = call.rule.clone();
            delta.args = serde_json::to_string(&args).unwrap_or_else(|_| "{}".into());
            let c = &mut delta.counts;
            let to = event.to_status.as_deref();
            match (event.kind.as_str(), event.from_status.as_deref(), to) {
                ("call.flagged", _, _) => c.flagged += 1,
                ("call.proposed", _, Some(to)) => {
                    c.proposed += 1;
                    match to {
                        // `running`: allowed, and started at once.
                        "allowed" | "running" => c.allowed += 1,
                        "denied" => c.denied_policy += 1,
                        "pending" => c.gated += 1,
                        "approved" => c.bypassed += 1,
                        _ => {}
                    }
                }
                // A bypass approved it: nobody decided, so it is neither an approval nor
                // part of a run of them (else a bypass would breed an ungate).
                (_, Some("pending"), Some("approved")) if event.actor.starts_with("bypass:") => {
                    c.bypassed += 1;
                }
                (_, Some("pending"), Some(to)) => {
                    let decided = matches!(to, "approved" | "denied");
                    match to {
                        "approved" => c.approved += 1,
                        "denied" => c.denied_people += 1,
                        "expired" => c.expired += 1,
                        "cancelled" => c.cancelled += 1,
                        _ => {}
                    }
                    if decided {
                        c.buckets[bucket(event.at - call.created_at)] += 1;
                        delta.runs.push(to == "approved");
                    }
                }
                (_, _, Some("stale")) => c.stale += 1,
                (_, _, Some("executed")) => c.executed += 1,
                // Started and ended without a result: it ran as far as askfirst is concerned.
                (_, _, Some("failed")) => c.executed += 1,
                _ => {}
            }
        }
        let read = events.len();
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    if !rollups::advance(&mut *conn, last, newest).await? {
                        return Ok(());
                    }
                    for ((hour, agent_id, tool, raw), delta) in deltas {
                        let pattern = rollups::resolve_pattern(
                            &mut *conn,
                            &tool,
                            &raw,
                            delta.rule.as_deref(),
                            &delta.args,
                        )
                        .await?;
                        rollups::add(&mut *conn, hour, &agent_id, &tool, &pattern, &delta.counts)
                            .await?;
                        for approved in delta.runs {
                            rollups::note_decision(&mut *conn, &tool, &pattern, approved).await?;
                        }
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(read)
    }

    /// Rolls up until the rollups have caught up with the audit log.
    pub async fn roll_up_all(&self) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            let n = self.roll_up().await?;
            total += n;
            if (n as i64) < STEP {
                return Ok(total);
            }
        }
    }

    /// The insights over `period` (`key` names it), for `user`.
    pub async fn insights(
        &self,
        user: &UserView,
        period: Period,
        key: &str,
    ) -> Result<InsightsData, AppError> {
        // At most two at once: more wait their turn instead of scanning side by side.
        let _turn = self
            .reports
            .acquire()
            .await
            .map_err(|_| AppError::Internal("the gate is closing".into()))?;
        let previous = period.previous();
        // Three independent reads, each on its own pooled connection, side by side.
        let day_bars = period.bar_ms() > 3_600_000;
        let (now_groups, before_groups, series) = tokio::try_join!(
            rollups::groups(&self.pool, period.from, period.to),
            rollups::groups(&self.pool, previous.from, previous.to),
            rollups::series(&self.pool, period.from, period.to, day_bars),
        )?;
        let table = |label: &dyn Fn(&rollups::GroupCounts) -> String| {
            let mut rows: BTreeMap<String, InsightRow> = BTreeMap::new();
            for (groups, now) in [(&now_groups, true), (&before_groups, false)] {
                for g in groups {
                    let row = rows.entry(label(g)).or_insert_with_key(|k| InsightRow {
                        label: k.clone(),
                        counts: Counts::default(),
                        previous: Counts::default(),
                    });
                    if now {
                        row.counts.add(&g.counts);
                    } else {
                        row.previous.add(&g.counts);
                    }
                }
            }
            let mut rows: Vec<InsightRow> = rows
                .into_values()
                .filter(|r| r.counts.proposed > 0 || r.counts.decisions() > 0)
                .collect();
            rows.sort_by(|a, b| {
                b.counts
                    .proposed
                    .cmp(&a.counts.proposed)
                    .then(a.label.cmp(&b.label))
            });
            rows.truncate(TABLE_ROWS);
            rows
        };
        let by_tool = table(&|g| crate::domain::inbox::visible(&g.tool));
        let by_agent = table(&|g| g.agent.clone());
        let by_pattern = table(&|g| g.pattern.clone());
        let mut totals = Counts::default();
        now_groups.iter().for_each(|g| totals.add(&g.counts));
        let mut before = Counts::default();
        before_groups.iter().for_each(|g| before.add(&g.counts));

        let bars = bars(&period, &series);
        let (mut suggestions, dismissed) = self.suggestions(&now_groups, &period).await?;
        let more_suggestions = suggestions.len().saturating_sub(insights::MAX_SUGGESTIONS);
        suggestions.truncate(insights::MAX_SUGGESTIONS);
        Ok(InsightsData {
            period,
            period_key: key.to_string(),
            totals,
            previous: before,
            bars,
            by_tool,
            by_agent,
            by_pattern,
            suggestions,
            dismissed,
            more_suggestions,
            may_change_policy: user.role == crate::domain::Role::Admin,
        })
    }

    /// The suggestions the evidence of `groups` supports, less those dismissed without a
    /// material change since; and how many were hidden so.
    async fn suggestions(
        &self,
        groups: &[rollups::GroupCounts],
        period: &Period,
    ) -> Result<(Vec<Suggestion>, usize), AppError> {
        let mut by_pattern: BTreeMap<(String, String), Counts> = BTreeMap::new();
        for g in groups {
            by_pattern
                .entry((g.tool.clone(), g.pattern.clone()))
                .or_default()
                .add(&g.counts);
        }
        let known: HashMap<(String, String), rollups::PatternRow> = rollups::patterns(&self.pool)
            .await?
            .into_iter()
            .map(|p| ((p.tool.clone(), p.pattern.clone()), p))
            .collect();
        let dismissed: HashMap<(String, String, String), rollups::Dismissal> =
            rollups::dismissals(&self.pool)
                .await?
                .into_iter()
                .map(|d| ((d.kind.clone(), d.tool.clone(), d.pattern.clone()), d))
                .collect();
        let policy = self.policy();
        let mut out = Vec::new();
        let mut hidden = 0;
        for ((tool, pattern), counts) in &by_pattern {
            let Some(row) = known.get(&(tool.clone(), pattern.clone())) else {
                continue;
            };
            let kind = if ungate_due(counts, row.approvals_in_row) {
                SuggestionKind::Ungate
            } else if tighten_due(counts) {
                SuggestionKind::Tighten
            } else {
                continue;
            };
            // Nothing to suggest when policy already does it.
            let outcome = outcome_now(&policy, tool, &row.args);
            match (kind, &outcome) {
                (SuggestionKind::Ungate, Some(Outcome::Allow))
                | (SuggestionKind::Tighten, Some(Outcome::Deny { .. })) => continue,
                _ => {}
            }
            if let Some(d) =
                dismissed.get(&(kind.as_str().to_string(), tool.clone(), pattern.clone()))
            {
                let now = (counts.decisions(), counts.denied_people);
                if !materially_changed((d.decisions, d.denials), now) {
                    hidden += 1;
                    continue;
                }
            }
            out.push(Suggestion {
                kind,
                tool: tool.clone(),
                pattern: pattern.clone(),
                rule: row.rule.clone(),
                counts: *counts,
                approvals_in_row: row.approvals_in_row,
                feedback: Vec::new(),
                prompt_note: None,
                evidence: evidence(kind, counts, row.approvals_in_row),
            });
        }
        // The most-decided first; feedback is grouped for the ones that will be listed.
        out.sort_by_key(|s| std::cmp::Reverse(s.counts.decisions()));
        let tighten_wanted: Vec<usize> = (0..out.len().min(insights::MAX_SUGGESTIONS))
            .filter(|i| out[*i].kind == SuggestionKind::Tighten)
            .collect();
        if !tighten_wanted.is_empty() {
            let mut denials =
                rollups::denials_since(&self.pool, period.from, period.to, FEEDBACK_SAMPLE).await?;
            denials.extend(
                rollups::flags_since(&self.pool, period.from, period.to, FEEDBACK_SAMPLE).await?,
            );
            let finder = PatternFinder::new(policy.policy());
            let mut texts: HashMap<(String, String), Vec<String>> = HashMap::new();
            for d in denials {
                let args: Value = serde_json::from_str(&d.args).unwrap_or(Value::Null);
                let p = finder.pattern(&d.tool, &args, d.rule.as_deref());
                let texts = texts.entry((d.tool, p.text)).or_default();
                // Grouping compares every pair: the newest 200 of a pattern say enough.
                if texts.len() < FEEDBACK_PER_PATTERN {
                    texts.push(d.feedback);
                }
            }
            for i in tighten_wanted {
                let s = &mut out[i];
                let groups = texts
                    .get(&(s.tool.clone(), s.pattern.clone()))
                    .map(|t| group_feedback(t))
                    .unwrap_or_default();
                s.prompt_note = Some(prompt_note(s, &groups));
                s.feedback = groups;
            }
        }
        Ok((out, hidden))
    }

    /// Turns a suggestion into policy, as `user` (an admin; the caller checked). Ungating
    /// files a pending policy change for managers' sign-off; tightening adds a deny rule,
    /// in force at once (`confirm` must be set). The evidence is read again here: nothing
    /// the browser sends but the pattern's name and the period is trusted.
    pub async fn accept_suggestion(
        &self,
        user: &UserView,
        kind: SuggestionKind,
        tool: &str,
        pattern: &str,
        period: Period,
        confirm: bool,
    ) -> Result<Saved, AppError> {
        let groups = rollups::groups(&self.pool, period.from, period.to).await?;
        let (suggestions, _) = self.suggestions(&groups, &period).await?;
        let Some(s) = suggestions
            .into_iter()
            .find(|s| s.kind == kind && s.tool == tool && s.pattern == pattern)
        else {
            return Err(AppError::Invalid(
                "the evidence no longer supports this suggestion (or it was dismissed)".into(),
            ));
        };
        let row = rollups::pattern(&self.pool, tool, pattern)
            .await?
            .ok_or_else(|| AppError::NotFound("no such call pattern".into()))?;
        let args: BTreeMap<String, Value> = serde_json::from_str(&row.args).unwrap_or_default();
        if pattern.ends_with(" (other values)") {
            return Err(AppError::Invalid(
                "this groups many values of the tool; write a rule for it on the policy page"
                    .into(),
            ));
        }
        let (base, policy) = self.policy_in_force().await?;
        let (rule, comment, confirm_loosening) = match kind {
            SuggestionKind::Ungate => (
                rule_for(
                    rule_name("ungate-", pattern),
                    format!("Suggested by insights: {}", s.evidence),
                    tool,
                    &args,
                    Effect::Allow,
                ),
                format!("Ungate `{pattern}`: {}", s.evidence),
                true,
            ),
            SuggestionKind::Tighten => {
                if !confirm {
                    return Err(AppError::Invalid(
                        "confirm that this rule should apply at once".into(),
                    ));
                }
                // Policy lets it run: ask a person first. People deny it: refuse it.
                let allowed_now = matches!(
                    outcome_now(&self.policy(), tool, &row.args),
                    Some(Outcome::Allow)
                );
                let quoted = s.feedback.first().and_then(|g| g.examples.first());
                let (prefix, effect) = if allowed_now {
                    (
                        "gate-",
                        Effect::Gate(crate::domain::policy::GateSettings::default()),
                    )
                } else {
                    let message = match quoted {
                        Some(text) => format!(
                            "People deny this call: \"{}\"",
                            crate::domain::inbox::truncate(text, 200)
                        ),
                        None => "People deny this call; ask them what to do instead.".into(),
                    };
                    ("deny-", Effect::Deny { message })
                };
                (
                    rule_for(
                        rule_name(prefix, pattern),
                        format!("Suggested by insights: {}", s.evidence),
                        tool,
                        &args,
                        effect,
                    ),
                    format!(
                        "{} `{pattern}`: {}",
                        if allowed_now { "Gate" } else { "Deny" },
                        s.evidence
                    ),
                    false,
                )
            }
        };
        let policy = insert_before(&policy, row.rule.as_deref(), rule);
        self.save_policy(SavePolicy {
            policy,
            base: Some(base),
            author: format!("user:{}", user.username),
            author_id: Some(user.id.clone()),
            comment,
            confirm_loosening,
        })
        .await
    }

    /// Dismisses a suggestion with a reason; it comes back only when its evidence changes
    /// materially.
    pub async fn dismiss_suggestion(
        &self,
        user: &UserView,
        kind: SuggestionKind,
        tool: &str,
        pattern: &str,
        period: Period,
        reason: &str,
    ) -> Result<(), AppError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(AppError::Invalid("say why you dismiss it".into()));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(AppError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters"
            )));
        }
        let groups = rollups::groups(&self.pool, period.from, period.to).await?;
        let (suggestions, _) = self.suggestions(&groups, &period).await?;
        let Some(s) = suggestions
            .into_iter()
            .find(|s| s.kind == kind && s.tool == tool && s.pattern == pattern)
        else {
            return Err(AppError::NotFound("no such suggestion".into()));
        };
        let now = self.clock.now();
        let (user_id, username, reason) =
            (user.id.clone(), user.username.clone(), reason.to_string());
        let (tool, pattern) = (tool.to_string(), pattern.to_string());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    rollups::dismiss(
                        &mut *conn,
                        kind.as_str(),
                        &tool,
                        &pattern,
                        (s.counts.decisions(), s.counts.denied_people),
                        &reason,
                        (&user_id, &username),
                        to_millis(now),
                    )
                    .await?;
                    let actor = format!("user:{username}");
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            "insight.dismissed",
                            None,
                            None,
                            json!({ "kind": kind.as_str(), "tool": tool, "pattern": pattern,
                                    "reason": reason, "evidence": s.evidence }),
                        ),
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The rubber-stamp measures of everyone who reviewed calls in `period`.
    pub async fn rubber_stamp(&self, period: Period) -> Result<Vec<StampRow>, AppError> {
        let _turn = self
            .reports
            .acquire()
            .await
            .map_err(|_| AppError::Internal("the gate is closing".into()))?;
        let rows = rollups::review_facts(&self.pool, period.from, period.to, 200_000).await?;
        let mut by_user: BTreeMap<String, Vec<ReviewFact>> = BTreeMap::new();
        let high = [
            RiskClass::Destructive,
            RiskClass::Irreversible,
            RiskClass::Financial,
            RiskClass::Production,
        ];
        for r in rows {
            let risk: Vec<RiskClass> = serde_json::from_str(&r.risk).unwrap_or_default();
            by_user.entry(r.username).or_default().push(ReviewFact {
                approve: r.decision == "approve",
                at: r.at,
                opened_at: r.opened_at,
                expanded: r.expanded_at.is_some_and(|t| t <= r.at),
                high_risk: risk.iter().any(|c| high.contains(c)),
            });
        }
        let mut out: Vec<StampRow> = by_user
            .into_iter()
            .map(|(username, facts)| StampRow {
                username,
                measures: stamp_measures(&facts),
            })
            .collect();
        out.sort_by(|a, b| {
            b.measures
                .prompts
                .len()
                .cmp(&a.measures.prompts.len())
                .then(a.username.cmp(&b.username))
        });
        Ok(out)
    }

    /// Flags a call that ran (allowed by policy or approved, executed or not) as one that
    /// should not have; a second flag by the same person is refused (`409
    /// duplicate_reviewer`). The insights count flags per pattern.
    pub async fn flag_call(&self, user: &UserView, id: &str, reason: &str) -> Result<(), AppError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() {
            return Err(AppError::Invalid("say what was wrong with it".into()));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(AppError::Invalid(format!(
                "the reason is longer than {MAX_REASON} characters"
            )));
        }
        let call = store::calls::get(&self.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound("no such call".into()))?;
        if !call.status.was_let_through() {
            return Err(AppError::Invalid(
                "only a call that was allowed to run can be flagged".into(),
            ));
        }
        let now = self.clock.now();
        let (user_id, username) = (user.id.clone(), user.username.clone());
        let (call_id, agent_id) = (call.id.clone(), call.agent_id.clone());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    let user = (user_id.as_str(), username.as_str());
                    if !rollups::flag(&mut *conn, &call_id, user, &reason, to_millis(now)).await? {
                        return Err(AppError::State(
                            crate::domain::error::StateCode::DuplicateReviewer,
                            "you flagged this call already".into(),
                        ));
                    }
                    let actor = format!("user:{username}");
                    audit::append(
                        conn,
                        &audit::NewEvent {
                            at: now,
                            actor: &actor,
                            kind: "call.flagged",
                            agent_id: Some(&agent_id),
                            call_id: Some(&call_id),
                            from_status: None,
                            to_status: None,
                            detail: json!({ "reason": reason }),
                        },
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    /// Notes that `user` opened the card of call `id` (`expanded`: its full arguments), for
    /// a pending call only. The server notes the opening itself when it serves the card;
    /// the expansion is the browser's word.
    pub async fn card_seen(
        &self,
        user: &UserView,
        id: &str,
        expanded: bool,
    ) -> Result<(), AppError> {
        let call = store::calls::get(&self.pool, id)
            .await?
            .ok_or_else(|| AppError::NotFound("no such call".into()))?;
        if call.status != crate::domain::call::CallStatus::Pending {
            return Err(AppError::State(
                crate::domain::error::StateCode::NotPending,
                "only a waiting call's card is watched".into(),
            ));
        }
        let (id, user_id) = (id.to_string(), user.id.clone());
        let at = to_millis(self.clock.now());
        self.writer
            .write(move |conn| {
                Box::pin(async move {
                    rollups::card_seen(&mut *conn, &id, &user_id, expanded, at).await?;
                    Ok(())
                })
            })
            .await
    }

    /// The newest policy version and its rules.
    async fn policy_in_force(&self) -> Result<(i64, Policy), AppError> {
        let (version, document) = store::policy::latest(&self.pool)
            .await?
            .ok_or_else(|| AppError::Internal("no policy version stored".into()))?;
        let policy: Policy = serde_json::from_str(&document)
            .map_err(|e| AppError::Internal(format!("stored policy unreadable: {e}")))?;
        Ok((version, policy))
    }
}

/// What the policy in force does now with a call of `tool` carrying just the pattern's
/// deciding arguments (none when they cannot be rebuilt).
fn outcome_now(policy: &CompiledPolicy, tool: &str, args: &str) -> Option<Outcome> {
    let by_pointer: BTreeMap<String, Value> = serde_json::from_str(args).ok()?;
    let mut doc = serde_json::Map::new();
    for (pointer, value) in by_pointer {
        let key = pointer.strip_prefix('/')?;
        if key.contains('/') || key.contains('~') {
            return None;
        }
        doc.insert(key.to_string(), value);
    }
    let args = Value::Object(doc);
    Some(
        policy
            .evaluate(&CallInput {
                agent: "",
                tool,
                args: &args,
                risk: &[],
                novel: false,
            })
            .outcome,
    )
}

fn evidence(kind: SuggestionKind, c: &Counts, in_row: i64) -> String {
    let pct = c.approval_pct().unwrap_or(0.0);
    match kind {
        SuggestionKind::Ungate => format!(
            "approved {} of {} decisions ({pct:.1} %) in the period; the latest {in_row} were all approvals",
            c.approved,
            c.decisions()
        ),
        SuggestionKind::Tighten if c.flagged > 0 && c.denied_people < insights::TIGHTEN_MIN_DENIALS => {
            format!(
                "allowed by policy {} times in the period; people flagged {} executions afterwards",
                c.allowed, c.flagged
            )
        }
        SuggestionKind::Tighten => format!(
            "denied by people {} of {} times ({:.1} %) in the period",
            c.denied_people,
            c.decisions(),
            100.0 - pct
        ),
    }
}

fn prompt_note(s: &Suggestion, groups: &[insights::FeedbackGroup]) -> String {
    let mut note = format!(
        "Before calling `{}` like this ({}): people denied {} of {} such calls.",
        crate::domain::inbox::visible(&s.tool),
        s.pattern,
        s.counts.denied_people,
        s.counts.decisions()
    );
    if !groups.is_empty() {
        note += " What they said:";
        for g in groups.iter().take(3) {
            if let Some(text) = g.examples.first() {
                note += &format!(
                    "\n- \"{}\" ({}×)",
                    crate::domain::inbox::truncate(text, 200),
                    g.count
                );
            }
        }
    }
    note
}

/// The chart's bars over `period`: hours for a day, else UTC days (the first and last may
/// be partial). `series` holds counts by row start, oldest first.
fn bars(period: &Period, series: &[(i64, Counts)]) -> Vec<Bar> {
    let step = period.bar_ms();
    let mut out = Vec::new();
    let mut start = period.from.div_euclid(step) * step;
    let mut rows = series.iter().peekable();
    while start < period.to {
        let end = start + step;
        let mut counts = Counts::default();
        while let Some((hour, c)) = rows.peek() {
            if *hour >= end {
                break;
            }
            if *hour >= start {
                counts.add(c);
            }
            rows.next();
        }
        let at = from_millis(start);
        out.push(Bar {
            start: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            label: if step < 86_400_000 {
                at.format("%H:%M").to_string()
            } else {
                at.format("%b %d").to_string()
            },
            counts,
        });
        start = end;
    }
    out
}
