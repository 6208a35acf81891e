//! The policy console's server functions. Every one checks the admin role on the server
//! and works on the signed-in admin's own draft; the service layer does the rest.

use crate::domain::policy_console::{
    DryRun, FieldError, PolicyConsole, Replay, RuleForm, SaveResult, VersionSummary,
};
use crate::domain::AppError;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
async fn admin() -> Result<(crate::domain::UserView, std::sync::Arc<crate::gate::Gate>), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    Ok((user, guard::state()?.gate.clone()))
}

/// The policy in force, the admin's draft with its changes and verdict, recent calls.
#[server(prefix = "/rpc", endpoint = "policy_console")]
pub async fn load_policy_console() -> Result<PolicyConsole, AppError> {
    let (user, gate) = admin().await?;
    gate.policy_console(&user).await
}

/// Adds a rule to the draft where `place` says (`auto`: before the first rule that would
/// decide every call it matches; `last`; `before:<rule>`), or replaces the one named
/// `original`. Refused fields come back with their messages (and nothing is changed); an
/// empty list means it was saved.
#[server(prefix = "/rpc", endpoint = "policy_rule")]
pub async fn policy_rule(
    original: Option<String>,
    place: Option<String>,
    form: RuleForm,
) -> Result<Vec<FieldError>, AppError> {
    use crate::gate::policy_console::{DraftEdit, Place};
    let (user, gate) = admin().await?;
    let place = Place::parse(place.as_deref().unwrap_or_default())?;
    let rule = match crate::policy::rule_form::read(&form) {
        Ok(rule) => rule,
        Err(errors) => return refused(errors),
    };
    let original = original.filter(|o| !o.is_empty());
    match gate
        .edit_draft(
            &user,
            DraftEdit::Put {
                original,
                rule: Box::new(rule),
                place,
            },
        )
        .await
    {
        Ok(()) => {
            leptos_axum::redirect("/policy?done=policy_rule");
            Ok(Vec::new())
        }
        Err(AppError::Invalid(message)) if message.starts_with("name: ") => {
            refused(vec![FieldError {
                field: "name".into(),
                message: message.trim_start_matches("name: ").into(),
            }])
        }
        Err(e) => Err(e),
    }
}

/// Refused fields: for the editor's script, the list (shown beside each field); for a
/// form posted without JavaScript, an error naming them (the page says it at the top).
#[cfg(feature = "ssr")]
fn refused(errors: Vec<FieldError>) -> Result<Vec<FieldError>, AppError> {
    if crate::app::forms::is_plain_form() {
        let text = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(AppError::Invalid(text));
    }
    Ok(errors)
}

/// A rule-level change to the draft: `toggle`, `up`, `down`, `duplicate` or `delete` the
/// rule named `rule`.
#[server(prefix = "/rpc", endpoint = "policy_edit")]
pub async fn policy_edit(op: String, rule: String) -> Result<(), AppError> {
    use crate::gate::policy_console::DraftEdit;
    let (user, gate) = admin().await?;
    let edit = match op.as_str() {
        "toggle" => DraftEdit::Toggle(rule),
        "up" => DraftEdit::Up(rule),
        "down" => DraftEdit::Down(rule),
        "duplicate" => DraftEdit::Duplicate(rule),
        "delete" => DraftEdit::Delete(rule),
        _ => {
            return Err(AppError::BadRequest(
                "op must be toggle, up, down, duplicate or delete".into(),
            ))
        }
    };
    gate.edit_draft(&user, edit).await
}

/// Replaces the draft with a TOML document (the file `askfirst policy import` reads).
#[server(prefix = "/rpc", endpoint = "policy_toml")]
pub async fn policy_toml(toml: String) -> Result<(), AppError> {
    let (user, gate) = admin().await?;
    if toml.len() > 1024 * 1024 {
        return Err(AppError::TooLarge("a policy file is at most 1 MiB".into()));
    }
    gate.draft_from_toml(&user, &toml).await?;
    leptos_axum::redirect("/policy?done=policy_toml");
    Ok(())
}

/// Throws the draft away.
#[server(prefix = "/rpc", endpoint = "policy_discard")]
pub async fn policy_discard() -> Result<(), AppError> {
    let (user, gate) = admin().await?;
    gate.discard_draft(&user).await
}

/// Saves the draft with a comment: in force at once, or — when it loosens a gate, which
/// `confirm_loosening` must acknowledge — a pending change that waits for managers.
#[server(prefix = "/rpc", endpoint = "policy_save")]
pub async fn policy_save(
    comment: String,
    confirm_loosening: Option<String>,
) -> Result<SaveResult, AppError> {
    let (user, gate) = admin().await?;
    let confirmed = confirm_loosening.is_some_and(|c| c == "true" || c == "on");
    let saved = gate.save_draft(&user, &comment, confirmed).await?;
    let details: Vec<(&str, String)> = [
        saved.version.map(|v| ("version", v.to_string())),
        saved.pending.map(|c| ("change", c.to_string())),
        Some(("approvals", saved.approvals_required.to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    crate::app::forms::come_back_with(crate::app::forms::name_of::<PolicySave>(), &details);
    Ok(SaveResult {
        version: saved.version,
        pending: saved.pending,
        approvals_required: saved.approvals_required,
    })
}

/// Starts the draft from an old version, to restore it (saved like any other change).
#[server(prefix = "/rpc", endpoint = "policy_restore")]
pub async fn policy_restore(version: i64) -> Result<(), AppError> {
    let (user, gate) = admin().await?;
    gate.draft_from_version(&user, version).await
}

/// Tries a call against the draft (or the policy in force), rule by rule.
#[server(prefix = "/rpc", endpoint = "policy_try")]
pub async fn policy_try(
    agent: String,
    tool: String,
    args: String,
    risk: Option<String>,
    novel: Option<String>,
) -> Result<DryRun, AppError> {
    use crate::domain::risk::RiskClass;
    let (user, gate) = admin().await?;
    let args = match args.trim() {
        "" => serde_json::json!({}),
        text => serde_json::from_str(text)
            .map_err(|e| AppError::Invalid(format!("the arguments are not valid JSON: {e}")))?,
    };
    let mut classes = Vec::new();
    for word in risk
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|w| !w.trim().is_empty())
    {
        let class: RiskClass =
            serde_json::from_value(serde_json::Value::String(word.trim().into()))
                .map_err(|_| AppError::Invalid(format!("unknown risk class `{}`", word.trim())))?;
        classes.push(class);
    }
    let call = crate::gate::policy_console::TryCall {
        agent: agent.trim().to_string(),
        tool: tool.trim().to_string(),
        args,
        risk: classes,
        novel: novel.is_some_and(|n| n == "true" || n == "on"),
    };
    if call.tool.is_empty() {
        return Err(AppError::Invalid("name the tool to try".into()));
    }
    gate.dry_run(&user, &call).await
}

/// The draft and the policy in force over the newest calls (10,000 unless `limit`).
#[server(prefix = "/rpc", endpoint = "policy_replay")]
pub async fn policy_replay(limit: Option<u32>) -> Result<Replay, AppError> {
    use crate::gate::policy_console::REPLAY_DEFAULT;
    let (user, gate) = admin().await?;
    gate.replay(&user, limit.unwrap_or(REPLAY_DEFAULT)).await
}

/// The newest versions with their changes.
#[server(prefix = "/rpc", endpoint = "policy_versions")]
pub async fn policy_versions() -> Result<Vec<VersionSummary>, AppError> {
    let (_, gate) = admin().await?;
    gate.policy_versions(50).await
}
