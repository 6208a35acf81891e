//! Read models for people: the inbox, the decision card and the history.

use super::decide::{reviewer, CallSubject};
use super::Gate;
use crate::clock::to_millis;
use crate::domain::call::CallStatus;
use crate::domain::history::{Cursor, Page};
use crate::domain::home::{HomeData, SetupSteps, SoonestCall};
use crate::domain::inbox::VersionView;
use crate::domain::inbox::{
    deciding_keys, median, ordered_args, truncate, CardData, DecidedNote, FilterCount, HistoryData,
    HistoryItem, InboxData, InboxItem, SessionCall, ToolStats,
};
use crate::domain::policy::OnDeadline;
use crate::domain::review::{self, Refusal, Requirements};
use crate::domain::{AppError, UserView};
use crate::policy::pattern::PatternFinder;
use crate::store::calls::{self, ListFilter};
use crate::store::reviews;

/// Most pending calls listed at once (the soonest deadlines; filters narrow the rest).
pub const INBOX_LIMIT: i64 = 100;
/// Calls per history page.
pub const HISTORY_PAGE: i64 = 25;
/// Pending calls read at once when looking for those waiting on one person.
const WAITING_PAGE: i64 = 100;
/// Most pending calls looked through for one person (Home's count, the next call).
pub const WAITING_SCAN: usize = 2_000;

impl Gate {
    /// Pending calls matching `filter`, soonest deadline first, with counts per filter value;
    /// for `viewer`, which are theirs to decide now and why the others are not.
    pub async fn inbox(
        &self,
        filter: &ListFilter,
        viewer: Option<&UserView>,
    ) -> Result<InboxData, AppError> {
        let now = self.clock.now();
        let now_ms = to_millis(now);
        let rows = calls::pending_filtered(&self.pool, filter, INBOX_LIMIT).await?;
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let decisions = reviews::of_calls(&self.pool, &ids).await?;
        let items = self.items(&rows, &decisions, viewer, now);
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
            now_ms,
            may_decide: false,
            after: None,
        })
    }

    /// Inbox rows for `rows` (their reviews in `decisions`), leaving out calls whose
    /// deadline has passed; for `viewer`, which are theirs to decide now and why the others
    /// are not.
    fn items(
        &self,
        rows: &[calls::CallRow],
        decisions: &std::collections::HashMap<String, Vec<reviews::ReviewRow>>,
        viewer: Option<&UserView>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<InboxItem> {
        let now_ms = to_millis(now);
        let policy = self.policy();
        let finder = PatternFinder::new(policy.policy());
        rows.iter()
            .filter(|r| super::lifecycle::is_due(r, now).is_none())
            .map(|r| {
                let reviewed = decisions.get(&r.id).map_or(&[][..], Vec::as_slice);
                let view = r.view(reviewed);
                let deciding = deciding_keys(&finder.pointers(&r.tool, r.rule.as_deref()));
                // `None`: nobody is looking; `Some(None)`: theirs to decide now.
                let refusal = viewer.map(|user| {
                    CallSubject::of(r, reviewed)
                        .map(|s| review::may_review(&s.subject(), reviewer(user), now_ms).err())
                        .unwrap_or(Some(Refusal::NotPending))
                });
                let mine = matches!(refusal, Some(None));
                let required = r.approvals_required.unwrap_or(1) as u32;
                let waiting_on = refusal
                    .flatten()
                    .map(|refusal| waiting_on(&refusal, required, &view));
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
                    key_args: ordered_args(&view.args, &deciding, 3, 60),
                    reason: view.reason.as_deref().map(|t| truncate(t, 160)),
                    mine,
                    waiting_on,
                    risk: view.risk,
                    approvals: view.approvals,
                    approvals_required: required,
                    deadline_ms: r.deadline.unwrap_or(0),
                }
            })
            .collect()
    }

    /// The pending calls `user` may decide now, soonest deadline first, other than `skip`:
    /// the whole queue read a page at a time (not only the inbox's first page), until
    /// `enough` are found or [`WAITING_SCAN`] calls were looked at. `true` with them when
    /// every pending call was looked at.
    async fn waiting_on(
        &self,
        user: &UserView,
        enough: usize,
        skip: Option<&str>,
    ) -> Result<(Vec<InboxItem>, bool), AppError> {
        let now = self.clock.now();
        let mut found = Vec::new();
        let mut cursor = None;
        let mut looked = 0;
        loop {
            let rows = calls::pending_after(&self.pool, cursor.as_ref(), WAITING_PAGE).await?;
            let Some(last) = rows.last() else {
                return Ok((found, true));
            };
            cursor = Some(calls::PendingCursor {
                deadline: last.deadline.unwrap_or(0),
                created_at: last.created_at,
                id: last.id.clone(),
            });
            looked += rows.len();
            let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            let decisions = reviews::of_calls(&self.pool, &ids).await?;
            for item in self.items(&rows, &decisions, Some(user), now) {
                if item.mine && Some(item.id.as_str()) != skip {
                    found.push(item);
                    if found.len() >= enough {
                        return Ok((found, false));
                    }
                }
            }
            if rows.len() < WAITING_PAGE as usize {
                return Ok((found, true));
            }
            if looked >= WAITING_SCAN {
                return Ok((found, false));
            }
        }
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
        let policy = self.policy();
        let deciding = deciding_keys(
            &PatternFinder::new(policy.policy()).pointers(&row.tool, row.rule.as_deref()),
        );
        let at_deadline = (call.status == CallStatus::Pending).then(|| {
            match (&workflow.on_deadline, &workflow.escalate_to) {
                (OnDeadline::Escalate, Some(to)) if call.escalated.is_none() => {
                    format!("then it escalates to {}", to.describe())
                }
                (OnDeadline::Deny, _) => "then it is denied".to_string(),
                _ => "then it expires".to_string(),
            }
        });
        let you_approved = call.decisions.iter().any(|d| {
            d.current && d.decision == review::Verdict::Approve && d.user == user.username
        });
        Ok(CardData {
            deciding,
            at_deadline,
            you_approved,
            after: None,
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

    /// What `user`'s latest decision on call `id` did, for the page they go on to; `None`
    /// when they have not decided it (or it is not theirs to see).
    pub async fn decided_note(
        &self,
        id: &str,
        user: &UserView,
    ) -> Result<Option<DecidedNote>, AppError> {
        let call = match self.view(id, None).await {
            Ok(call) => call,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(mine) = call
            .decisions
            .iter()
            .rev()
            .find(|d| d.user == user.username)
        else {
            return Ok(None);
        };
        let what = match (mine.decision, call.status) {
            (review::Verdict::Deny, _) => "denied".to_string(),
            (review::Verdict::Approve, CallStatus::Pending) => {
                let more = call
                    .approvals_required
                    .unwrap_or(1)
                    .saturating_sub(call.approvals)
                    .max(1);
                format!("your approval is recorded · {more} more needed")
            }
            (review::Verdict::Approve, CallStatus::Approved) => {
                "approved: it may run now".to_string()
            }
            (review::Verdict::Approve, status) => format!("approved; it is now {status}"),
        };
        Ok(Some(DecidedNote {
            id: call.id,
            tool: call.tool,
            what,
        }))
    }

    /// What needs `user` now, by their role: calls waiting on them (the soonest first),
    /// escalations to them, sign-offs they may give, what approves calls without a person
    /// right now, and for an admin the first steps still to take.
    pub async fn home(&self, user: &UserView) -> Result<HomeData, AppError> {
        use crate::domain::Role;
        let now_ms = to_millis(self.clock.now());
        let mut home = HomeData {
            now_ms,
            ..HomeData::default()
        };
        home.pending = calls::pending_total(&self.pool, &ListFilter::default()).await? as u32;
        if user.role.includes(Role::Approver) {
            let (mine, all_looked_at) = self.waiting_on(user, WAITING_SCAN, None).await?;
            home.waiting = mine.len() as u32;
            home.waiting_more = !all_looked_at;
            home.escalated = mine.iter().filter(|i| i.escalated_to.is_some()).count() as u32;
            home.soonest = mine.first().map(|i| SoonestCall {
                id: i.id.clone(),
                tool: i.tool.clone(),
                agent: i.agent.clone(),
                deadline_ms: i.deadline_ms,
            });
        }
        if user.role.includes(Role::Manager) {
            let bypasses = self.bypasses_awaiting(user).await?;
            let changes = self.pending_changes(user).await?;
            let open = changes.iter().filter(|c| c.cannot_review.is_none()).count();
            home.signoffs = Some(bypasses + open as u32);
        }
        home.active_bypasses = self
            .list_bypasses()
            .await?
            .bypasses
            .iter()
            .filter(|b| b.status == crate::domain::bypass::BypassStatus::Active)
            .count() as u32;
        home.active_grants = crate::store::grants::active(&self.pool)
            .await?
            .iter()
            .filter(|g| g.status == crate::domain::grant::GrantStatus::Active && g.ends_at > now_ms)
            .count() as u32;
        if user.role.includes(Role::Admin) {
            let agents = self.list_agents().await?;
            let people = crate::auth::service::list_users(&self.pool).await?;
            let steps = SetupSteps {
                agent: !agents.is_empty(),
                approvers: people
                    .iter()
                    .any(|p| p.id != user.id && !p.disabled && p.role.includes(Role::Approver)),
                first_call: calls::any_call(&self.pool).await?,
            };
            home.setup = (!(steps.agent && steps.approvers && steps.first_call)).then_some(steps);
        }
        Ok(home)
    }

    /// The pending call `user` may decide next, other than `after`: the soonest deadline.
    pub async fn next_for(&self, user: &UserView, after: &str) -> Result<Option<String>, AppError> {
        let (found, _) = self.waiting_on(user, 1, Some(after)).await?;
        Ok(found.into_iter().next().map(|item| item.id))
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
/// Why a call waits on others rather than on the person looking, in words.
fn waiting_on(refusal: &Refusal, required: u32, view: &crate::domain::call::CallView) -> String {
    match refusal {
        Refusal::DuplicateReviewer => {
            let more = required.saturating_sub(view.approvals).max(1);
            format!("you approved it · {more} more needed")
        }
        Refusal::NotEligible { .. } | Refusal::NotInGroup { .. } if view.escalated.is_some() => {
            let to = view.escalated.as_ref().map_or("", |e| e.to_text.as_str());
            format!("escalated to {to}")
        }
        Refusal::NotEligible { needs, .. } => format!("needs {} {needs}", article(needs.as_str())),
        Refusal::QualifiedAfter { .. } => {
            "only people who qualified before it was asked may decide".into()
        }
        Refusal::CoolingOff { .. } => "your password was reset: not yet".into(),
        Refusal::NotPending | Refusal::DeadlinePassed => "no longer open".into(),
        other => other.to_string(),
    }
}

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
