//! Read models for people: the inbox, the decision card and the history.

use super::decide::{reviewer, CallSubject};
use super::Gate;
use crate::clock::to_millis;
use crate::domain::call::CallStatus;
use crate::domain::history::{Cursor, Page};
use crate::domain::inbox::VersionView;
use crate::domain::inbox::{
    key_args, median, CardData, FilterCount, HistoryData, HistoryItem, InboxData, InboxItem,
    SessionCall, ToolStats,
};
use crate::domain::review::{self, Refusal, Requirements};
use crate::domain::{AppError, UserView};
use crate::store::calls::{self, ListFilter};
use crate::store::reviews;

/// Most pending calls listed at once (the soonest deadlines; filters narrow the rest).
pub const INBOX_LIMIT: i64 = 100;
/// Calls per history page.
pub const HISTORY_PAGE: i64 = 25;

impl Gate {
    /// Pending calls matching `filter`, soonest deadline first, with counts per filter value.
    pub async fn inbox(&self, filter: &ListFilter) -> Result<InboxData, AppError> {
        let now = self.clock.now();
        let rows = calls::pending_filtered(&self.pool, filter, INBOX_LIMIT).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let decisions = reviews::of_calls(&self.pool, &ids).await?;
        let items = rows
            .iter()
            .filter(|r| super::lifecycle::is_due(r, now).is_none())
            .map(|r| {
                let view = r.view(decisions.get(&r.id).map_or(&[], Vec::as_slice));
                let pointers = r.workflow().grant.map(|g| g.pointers).unwrap_or_default();
                let hash = view
                    .candidate
                    .as_ref()
                    .map(|c| c.hash.clone())
                    .unwrap_or_else(|| crate::store::json::hash(&view.args));
                let (similar, similar_text) =
                    crate::domain::inbox::similar_key(&r.tool, &view.args, &hash, &pointers);
                InboxItem {
                    hash,
                    confirm: r.confirm.is_some(),
                    similar,
                    similar_text,
                    escalated_to: view.escalated.as_ref().map(|e| e.to_text.clone()),
                    id: r.id.clone(),
                    agent: r.agent_name.clone(),
                    tool: r.tool.clone(),
                    key_args: key_args(&view.args, 3),
                    risk: view.risk,
                    approvals: view.approvals,
                    approvals_required: r.approvals_required.unwrap_or(1) as u32,
                    deadline_ms: r.deadline.unwrap_or(0),
                }
            })
            .collect();
        let counts = calls::pending_counts(&self.pool)
            .await?
            .into_iter()
            .map(|(dimension, value, count)| FilterCount {
                dimension,
                value,
                count,
            })
            .collect();
        let total = calls::pending_total(&self.pool, filter).await?;
        Ok(InboxData {
            reasons: self.denial_reasons().await?.reasons,
            items,
            total,
            counts,
            now_ms: to_millis(now),
            may_decide: false,
        })
    }

    /// Everything the decision card shows, for `user`; whether they may decide is the
    /// review engine's answer.
    pub async fn card(&self, call_id: &str, user: &UserView) -> Result<CardData, AppError> {
        let call = self.view(call_id, None).await?;
        let row = self.call_row(call_id, None).await?;
        let outcomes = calls::decision_stats(&self.pool, &row.agent_id, &row.tool).await?;
        let mut stats = ToolStats::default();
        let mut times = Vec::new();
        for (status, ms) in outcomes {
            if status == CallStatus::Denied {
                stats.denied += 1;
            } else {
                stats.approved += 1;
            }
            times.push(ms / 1000);
        }
        stats.median_decision_secs = median(times);
        let session_calls = calls::session_calls(&self.pool, &row.agent_id, &row.session, 50)
            .await?
            .into_iter()
            .filter(|c| c.id != row.id)
            .map(|c| SessionCall {
                id: c.id.clone(),
                tool: c.tool.clone(),
                status: c.status(),
                created_at: calls::rfc3339(c.created_at),
            })
            .collect();
        let rows = reviews::of_call(&self.pool, call_id).await?;
        let subject = CallSubject::of(&row, &rows)?;
        let now_ms = to_millis(self.clock.now());
        let cannot_decide_reason = review::may_review(&subject.subject(), reviewer(user), now_ms)
            .err()
            .map(|refusal| match refusal {
                Refusal::NotPending => format!("This call is {}.", call.status),
                Refusal::NotEligible {
                    disabled: false,
                    needs,
                } => {
                    format!("Deciding this call needs the {needs} role.")
                }
                Refusal::DuplicateReviewer if subject.candidate > 1 => {
                    "You already reviewed this version; another person must.".into()
                }
                Refusal::DuplicateReviewer => {
                    "You already decided on this call; another person must.".into()
                }
                other => capitalise(&other.to_string()),
            });
        let versions = reviews::candidates(&self.pool, call_id)
            .await?
            .into_iter()
            .map(|c| VersionView {
                version: c.version.max(1) as u32,
                author: c
                    .author
                    .strip_prefix("user:")
                    .unwrap_or(&c.author)
                    .to_string(),
                at: calls::rfc3339(c.created_at),
                rule: c.rule,
                args: serde_json::from_str(&c.args).unwrap_or(serde_json::Value::Null),
            })
            .collect();
        let approvals =
            review::approvals(&subject.reviews, subject.candidate, &subject.requirements);
        let still_needed = (call.status == CallStatus::Pending)
            .then(|| still_needed(&subject.requirements, approvals, subject.candidate));
        let flags = crate::store::insights::flags_of(&self.pool, &call.id)
            .await?
            .into_iter()
            .map(|(username, reason, at)| crate::domain::inbox::FlagView {
                username,
                reason,
                at: crate::clock::from_millis(at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .collect();
        let reasons = self.denial_reasons().await?.reasons;
        let risk: Vec<crate::domain::risk::RiskClass> =
            serde_json::from_str(&row.risk).unwrap_or_default();
        let workflow = row.workflow();
        let grant = workflow
            .grant
            .as_ref()
            .filter(|_| cannot_decide_reason.is_none() && row.candidate <= 1)
            .filter(|_| {
                crate::domain::workflow::grant_refusal(
                    &risk,
                    row.confirm.is_some(),
                    subject.requirements.approvals,
                )
                .is_none()
            })
            .map(|g| crate::domain::inbox::GrantOffer {
                max_secs: (g.max_ms / 1000).max(0) as u64,
                max_uses: g.max_uses,
                pointers: g.pointers.clone(),
            });
        let may_extend = matches!(
            review::may_review(&subject.subject(), reviewer(user), now_ms),
            Ok(()) | Err(Refusal::DuplicateReviewer)
        );
        let left =
            crate::domain::workflow::MAX_EXTENSIONS.saturating_sub(row.extensions.max(0) as u32);
        let extend = (may_extend && left > 0).then(|| crate::domain::inbox::ExtendOffer {
            max_secs: (workflow
                .extend_max_ms
                .unwrap_or_else(|| row.deadline.unwrap_or(row.created_at) - row.created_at)
                / 1000)
                .max(1) as u64,
            left,
        });
        Ok(CardData {
            reasons,
            grant,
            extend,
            flags,
            deadline_ms: row.deadline,
            now_ms,
            stats,
            session_calls,
            can_decide: cannot_decide_reason.is_none(),
            cannot_decide_reason,
            versions,
            still_needed,
            call,
        })
    }

    /// One page of calls that are no longer pending, newest first, from where `page` starts.
    pub async fn history(&self, filter: &ListFilter, page: Page) -> Result<HistoryData, AppError> {
        let cursor = |r: &calls::CallRow| {
            Cursor {
                created_at: r.created_at,
                id: r.id.clone(),
            }
            .to_string()
        };
        let mut rows = calls::history(&self.pool, filter, &page, HISTORY_PAGE + 1).await?;
        let newer = match page {
            Page::Newest => None,
            Page::Before(_) => rows.first().map(cursor),
            Page::After(_) if rows.len() as i64 > HISTORY_PAGE => {
                rows.remove(0);
                rows.first().map(cursor)
            }
            Page::After(_) => {
                // Back at the top: show the newest full page rather than a short one.
                rows = calls::history(&self.pool, filter, &Page::Newest, HISTORY_PAGE + 1).await?;
                None
            }
        };
        let older = if rows.len() as i64 > HISTORY_PAGE {
            rows.truncate(HISTORY_PAGE as usize);
            rows.last().map(cursor)
        } else if matches!(page, Page::After(_)) && newer.is_some() {
            // A page reached going back always has the call it started from below it.
            rows.last().map(cursor)
        } else {
            None
        };
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let mut decisions = reviews::of_calls(&self.pool, &ids).await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let decided_by = decisions
                    .remove(&r.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.username)
                    .collect();
                let view = r.view(&[]);
                HistoryItem {
                    id: r.id,
                    agent: r.agent_name,
                    tool: r.tool,
                    status: view.status,
                    risk: view.risk,
                    decided_by,
                    bypass: r.bypass_id,
                    created_at: view.created_at,
                    decided_at: view.decided_at,
                }
            })
            .collect();
        Ok(HistoryData {
            items,
            newer,
            older,
        })
    }
}

/// What a pending call still needs, in words: "1 more approval of version 2 from a
/// manager or above, typing `deploy api`".
fn still_needed(requirements: &Requirements, approvals: u32, candidate: u32) -> String {
    let more = requirements.approvals.saturating_sub(approvals).max(1);
    let noun = if more == 1 { "approval" } else { "approvals" };
    let of = if candidate > 1 {
        format!(" of version {candidate}")
    } else {
        String::new()
    };
    let role = requirements.role;
    let mut text = format!(
        "{more} more {noun}{of} from {} {role} or above",
        article(role.as_str())
    );
    if let Some(phrase) = &requirements.confirm {
        text += &format!(", typing `{phrase}`");
    }
    text
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
