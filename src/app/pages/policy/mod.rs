//! `/policy` (admins): the gate policy as readable rules, edited in a draft (rule by rule
//! or as TOML), tried against calls, replayed over recent traffic, saved with a comment as
//! a new version — and every version, with its changes, restorable.

mod reasons;
mod rpc;

pub use rpc::*;

use super::home::page_error;
use crate::app::widgets::Time;
use crate::domain::policy_console::{
    Direction, DraftView, DryRun, FieldError, PolicyConsole, Replay, RuleForm, RuleLine,
    StepVerdict, VersionSummary,
};
use crate::domain::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

/// The page, rendered on the server: the rules, the draft and the versions, with plain
/// forms that come back to it. The rule editor (`?edit=<rule>` or `?new=1`), the TOML
/// editor, the dry run and the replay are islands: they keep what was typed beside an
/// error, and load the page again once a change is in.
#[component]
pub fn PolicyPage() -> impl IntoView {
    let q = leptos_router::hooks::use_query_map().get_untracked();
    let edit = q.get("edit");
    let new_rule = q.get("new").is_some();
    // `?try=<rule>`: the dry run opens with a call that rule would match.
    let try_rule = q.get("try");
    view! {
        <Title text="Policy · askfirst" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let (edit, try_rule) = (edit.clone(), try_rule.clone());
                Suspend::new(async move {
                    match (load_policy_console().await, policy_versions().await) {
                        (Ok(console), versions) => view! { <Console console versions edit new_rule try_rule /> }.into_any(),
                        (Err(error), _) => page_error(error),
                    }
                })
            }}
        </Suspense>
        <reasons::DenialReasonsForm />
    }
}

/// What a plain form of this page did, from `done` and its details.
fn saved_notice() -> Option<AnyView> {
    use crate::app::forms::{done, name_of};
    let q = leptos_router::hooks::use_query_map().get_untracked();
    let number = |key: &str| q.get(key).and_then(|v| v.parse::<i64>().ok());
    let done = done()?;
    Some(if done == name_of::<PolicySave>() {
        match (number("done_change"), number("done_version")) {
            (Some(change), _) => view! {
                <p class="ok pending-change form-notice" role="status">
                    "This change loosens a gate, so it waits as "
                    <a href="/reviews">"change #" {change}</a>
                    " for sign-off by " {number("done_approvals").unwrap_or(2)} " managers (you cannot be one of them). It takes effect once they approve it."
                </p>
            }.into_any(),
            (None, Some(v)) => view! {
                <p class="ok form-notice" role="status">"Saved as version " {v} "; in force now."</p>
            }.into_any(),
            _ => return None,
        }
    } else if done == name_of::<PolicyDiscard>() {
        view! { <p class="ok form-notice" role="status">"Draft discarded."</p> }.into_any()
    } else if done == name_of::<PolicyRestore>() {
        view! { <p class="ok form-notice" role="status">"Restored into your draft: save it to put it in force."</p> }.into_any()
    } else {
        view! { <p class="ok form-notice" role="status">"Your draft is changed."</p> }.into_any()
    })
}

/// An action's error, shown where the action was taken (in an island).
fn failure<S>(action: ServerAction<S>) -> impl IntoView
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || {
        action
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
    }
}

#[component]
fn Console(
    console: PolicyConsole,
    versions: Result<Vec<VersionSummary>, AppError>,
    edit: Option<String>,
    new_rule: bool,
    try_rule: Option<String>,
) -> impl IntoView {
    use crate::app::forms::{error_of, Outcome};
    let f = &console.in_force;
    let rule_lines = console
        .draft
        .as_ref()
        .map_or_else(|| f.rules.clone(), |d| d.rules.clone());
    let default_effect = console
        .draft
        .as_ref()
        .map_or_else(|| f.default_effect.clone(), |d| d.default_effect.clone());
    let toml = console.draft.as_ref().map(|d| d.toml.clone());
    let has_draft = console.draft.is_some();
    let editor = match (&edit, new_rule) {
        (Some(name), _) => rule_lines
            .iter()
            .find(|r| &r.name == name)
            .map(|r| (Some(r.name.clone()), r.form.clone())),
        (None, true) => Some((
            None,
            RuleForm {
                enabled: true,
                effect: "gate".into(),
                approvals: "1".into(),
                role: "approver".into(),
                deadline: "1h".into(),
                ttl: "10m".into(),
                novel: "any".into(),
                ..RuleForm::default()
            },
        )),
        (None, false) => None,
    };
    let names: Vec<String> = rule_lines.iter().map(|r| r.name.clone()).collect();
    let sample = try_rule
        .and_then(|name| rule_lines.iter().find(|r| r.name == name))
        .map(|r| r.sample.clone());
    let head = view! {
        <section class="card policy-head">
            <h1>"Gate policy"</h1>
            <p>
                "In force: " <strong>"version " {f.version}</strong> " by " {f.author.clone()}
                " at " <Time at=f.at.clone() />
                {(!f.comment.is_empty()).then(|| view! { " — “" <span class="comment">{f.comment.clone()}</span> "”" })}
            </p>
            {saved_notice()}
            <Outcome errors=vec![error_of::<PolicyEdit>(), error_of::<PolicyDiscard>(), error_of::<PolicyRestore>()] ok=None />
            {match console.draft.clone() {
                Some(draft) => view! { <Draft draft /> }.into_any(),
                None => view! { <p class="hint">"Changes you make below go into your draft; the policy in force changes only when you save it."</p> }.into_any(),
            }}
        </section>
    }
    .into_any();
    let rules = view! {
        <section class="card">
            <h2>{if has_draft { "Rules in your draft" } else { "Rules in force" }}</h2>
            <p>"The first enabled rule that matches decides; otherwise the default effect: " <strong>{default_effect}</strong> "."</p>
            <RuleTable rules=rule_lines.clone() />
            <a class="button secondary new-rule" href="/policy?new=1#rule-form">"New rule"</a>
            {editor.map(|(original, form)| view! { <RuleEditor original form rules=names.clone() /> })}
        </section>
    }
    .into_any();
    let toml = toml.unwrap_or_else(|| console.in_force.toml.clone());
    let toml = view! { <TomlTab toml /> }.into_any();
    let try_call = view! { <TryCall recent=console.recent.clone() sample /> }.into_any();
    let replay = view! { <ReplayPanel /> }.into_any();
    let in_force = console.in_force.version;
    let versions = view! { <Versions versions in_force /> }.into_any();
    view! { {head} {rules} {toml} {try_call} {replay} {versions} }
}

#[component]
fn Draft(draft: DraftView) -> impl IntoView {
    let save = ServerAction::<PolicySave>::new();
    let discard = ServerAction::<PolicyDiscard>::new();
    let loosening = draft.classification.loosening;
    let findings = draft
        .classification
        .findings
        .iter()
        .map(|f| {
            view! {
                <li class:loosens=f.loosens>
                    {crate::app::widgets::with_code(&f.change)} " — "
                    <strong>{if f.loosens { "loosens: " } else { "safe: " }}</strong>
                    {f.why.clone()}
                </li>
            }
        })
        .collect_view();
    let problems = draft.problems.clone();
    let blocked = !problems.is_empty();
    let warnings = draft.warnings.clone();
    let verdict = if draft.changes.is_empty() {
        "Your draft is the same as the policy in force."
    } else if loosening {
        "This change loosens a gate."
    } else {
        "This change does not loosen any gate."
    };
    view! {
        <div class="draft" aria-label="Your draft">
            <h2>"Your draft (from version " {draft.base} ")"</h2>
            <p class=if loosening { "verdict loosening" } else { "verdict" } role="status">{verdict}</p>
            {(!draft.changes.is_empty()).then(|| view! { <ul class="findings">{findings}</ul> })}
            {(!problems.is_empty()).then(|| view! {
                <div class="problems" role="alert"><h3>"Cannot be saved"</h3>
                    <ul>{problems.into_iter().map(|p| view! { <li>{crate::app::widgets::with_code(&p)}</li> }).collect_view()}</ul></div>
            })}
            {(!warnings.is_empty()).then(|| view! {
                <div class="warnings"><h3>"Worth a look"</h3>
                    <ul>{warnings.into_iter().map(|w| view! { <li>{crate::app::widgets::with_code(&w)}</li> }).collect_view()}</ul></div>
            })}
            <ActionForm action=save attr:class="save-form">
                <label for="policy-comment">"Why this change (recorded with the version)"</label>
                <input id="policy-comment" name="comment" required maxlength="2000" />
                {loosening.then(|| view! {
                    <label class="checkbox">
                        <input type="checkbox" name="confirm_loosening" value="true" required />
                        " I understand this loosens a gate: it waits for managers to sign it off"
                    </label>
                })}
                {crate::app::forms::error_of::<PolicySave>().map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
                <button type="submit" disabled=blocked>{if loosening { "Send for sign-off" } else { "Save as new version" }}</button>
            </ActionForm>
            <ActionForm action=discard attr:class="discard-form">
                <button type="submit" class="secondary">"Discard draft"</button>
            </ActionForm>
        </div>
    }
}

#[component]
fn RuleTable(rules: Vec<RuleLine>) -> impl IntoView {
    let edit = ServerAction::<PolicyEdit>::new();
    let count = rules.len();
    let rows = rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let op = move |op: &'static str, label: &'static str, name: String, disabled: bool| {
                view! {
                    <ActionForm action=edit attr:class="inline">
                        <input type="hidden" name="op" value=op />
                        <input type="hidden" name="rule" value=name.clone() />
                        <button type="submit" class="small secondary" disabled=disabled
                            aria-label=format!("{label} {name}")>{label}</button>
                    </ActionForm>
                }
            };
            let href = format!(
                "/policy?edit={}#rule-form",
                crate::app::pages::inbox::urlencode(&r.name)
            );
            view! {
                <tr class:disabled=!r.enabled data-rule=r.name.clone()>
                    <td>{i + 1}</td>
                    <td><code>{crate::domain::invisible::visible(&r.name)}</code></td>
                    <td class="sentence">{crate::app::widgets::with_code(&crate::domain::invisible::visible(&r.sentence))}</td>
                    <td class="rule-actions">
                        <a class="button small" href=href aria-label=format!("Edit {}", r.name)>"Edit"</a>
                        <a class="button small secondary" href=format!("/policy?try={}#try", crate::app::pages::inbox::urlencode(&r.name))
                            aria-label=format!("Try {}", r.name)>"Try"</a>
                        {op("up", "Up", r.name.clone(), i == 0)}
                        {op("down", "Down", r.name.clone(), i + 1 == count)}
                        {op("duplicate", "Duplicate", r.name.clone(), false)}
                        {op("toggle", if r.enabled { "Disable" } else { "Enable" }, r.name.clone(), false)}
                        {op("delete", "Delete", r.name.clone(), false)}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="rules stack">
            <thead><tr><th scope="col">"#"</th><th scope="col">"Name"</th><th scope="col">"Rule"</th><th scope="col">"Actions"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// The rule form (an island of the console bundle). Field errors appear beside their
/// fields and nothing typed is lost: the page is loaded again only once the rule is in
/// the draft.
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn RuleEditor(original: Option<String>, form: RuleForm, rules: Vec<String>) -> impl IntoView {
    crate::app::browser::provide_action_error();
    let action = ServerAction::<PolicyRule>::new();
    Effect::new(move |_| {
        if action
            .value()
            .with(|v| matches!(v, Some(Ok(errors)) if errors.is_empty()))
        {
            crate::app::browser::go_to("/policy?done=policy_rule");
        }
    });
    let errors = move |field: &'static str| {
        move || {
            action
                .value()
                .get()
                .and_then(|r| r.ok())
                .into_iter()
                .flatten()
                .filter(|e: &FieldError| e.field == field)
                .map(|e| view! { <p class="field-error" role="alert">{e.message}</p> })
                .collect_view()
        }
    };
    let title = match &original {
        Some(name) => format!("Edit rule {name}"),
        None => "New rule".to_string(),
    };
    let label = title.clone();
    let text = move |id: &'static str, label: &'static str, value: String, hint: &'static str| {
        view! {
            <label for=format!("rule-{id}")>{label}</label>
            <input id=format!("rule-{id}") name=format!("form[{id}]") value=value autocomplete="off" spellcheck="false"
                aria-describedby=format!("rule-{id}-hint rule-{id}-error") />
            {(!hint.is_empty()).then(|| view! { <small class="hint field-hint" id=format!("rule-{id}-hint")>{hint}</small> })}
            <div id=format!("rule-{id}-error")>{errors(id)}</div>
        }
    };
    let select = move |id: &'static str,
                       label: &'static str,
                       value: String,
                       options: &'static [&'static str]| {
        view! {
            <label for=format!("rule-{id}")>{label}</label>
            <select id=format!("rule-{id}") name=format!("form[{id}]")>
                {options.iter().map(|o| view! { <option value=*o selected=value == *o>{*o}</option> }).collect_view()}
            </select>
            {errors(id)}
        }
    };
    view! {
        <ActionForm action attr:class="rule-form" attr:id="rule-form" attr:aria-label=label>
            <h3>{title}</h3>
            <input type="hidden" name="original" value=original.clone().unwrap_or_default() />
            {original.is_none().then(|| view! {
                <label for="rule-place">"Where it goes"</label>
                <select id="rule-place" name="place" aria-describedby="rule-place-hint">
                    <option value="auto" selected>"Where it takes effect"</option>
                    {rules.iter().map(|n| view! { <option value=format!("before:{n}")>{format!("Before {n}")}</option> }).collect_view()}
                    <option value="last">"Last"</option>
                </select>
                <small class="hint field-hint" id="rule-place-hint">"The first enabled rule that matches decides: “where it takes effect” puts it before the first rule that would decide every call it matches."</small>
            })}
            <div class="rule-grid">
                <div>
                    {text("name", "Name", form.name.clone(), "")}
                    <label class="checkbox"><input type="checkbox" name="form[enabled]" value="true" checked=form.enabled /> " Enabled"</label>
                    {text("description", "Description", form.description.clone(), "")}
                    {text("tool", "Tool (glob; empty: any)", form.tool.clone(), "e.g. deploy, read_*, {send_email,post_*}")}
                    {text("agent", "Agent (glob; empty: any)", form.agent.clone(), "")}
                    <label for="rule-conditions">"Argument conditions (one per line)"</label>
                    <textarea id="rule-conditions" name="form[conditions]" rows="3" spellcheck="false" inner_html=crate::app::widgets::textarea_html(&form.conditions)></textarea>
                    <small class="hint">"pointer op value: /env glob prod*, /amount gt 1000, /force eq true, /path exists"</small>
                    {errors("conditions")}
                    {text("risk_any", "Matches calls with any of these risks", form.risk_any.clone(), "destructive, irreversible, financial, customer_facing, production, external_comms")}
                    <label class="checkbox"><input type="checkbox" name="form[risk_none]" value="true" checked=form.risk_none /> " Only calls with no risk"</label>
                    {errors("risk_none")}
                    {select("novel", "New tool in the session?", form.novel.clone(), &["any", "yes", "no"])}
                    {text("add_risk", "Adds risk", form.add_risk.clone(), "")}
                </div>
                <div>
                    {select("effect", "Effect", form.effect.clone(), &["gate", "allow", "deny", "none"])}
                    <p class="hint effect-hint">"Only the fields of the chosen effect are shown: a gate's approvals and deadlines, a denial's message."</p>
                    <div class="deny-only">
                    {text("message", "Deny message (to the agent)", form.message.clone(), "")}
                    </div>
                    <div class="gate-only">
                    {text("approvals", "Approvals needed", form.approvals.clone(), "")}
                    {select("role", "Approver role", form.role.clone(), &["approver", "manager", "admin"])}
                    {text("deadline", "Decision deadline", form.deadline.clone(), "90s, 10m, 1h, 2d")}
                    {text("ttl", "Approval TTL", form.ttl.clone(), "")}
                    {text("confirm", "Typed confirmation", form.confirm.clone(), "may quote matched arguments: deploy {/env}; {tool} is the tool's name")}
                    {select("on_deadline", "When nobody decides in time", form.on_deadline.clone(), &["expire", "deny", "escalate"])}
                    {text("escalate_to", "Escalate to", form.escalate_to.clone(), "manager, admin or group:<name>")}
                    {text("escalate_deadline", "Escalated deadline", form.escalate_deadline.clone(), "empty: the decision deadline")}
                    <label class="checkbox"><input type="checkbox" name="form[escalate_overrides_role]" value="true" checked=form.escalate_overrides_role /> " The escalation group decides whatever its members' roles (a group otherwise never lowers the approver role)"</label>
                    {text("extend_max", "Longest extension", form.extend_max.clone(), "empty: the decision deadline; at most twice")}
                    {text("grant_max", "Remembered grants up to", form.grant_max.clone(), "e.g. 30m; empty: no grants")}
                    {text("grant_uses", "Uses per grant", form.grant_uses.clone(), "empty: 10")}
                    {text("grant_match", "Similar calls agree on", form.grant_match.clone(), "e.g. /service; empty: identical calls only")}
                    {text("no_retry", "Do-not-retry window", form.no_retry.clone(), "empty: 1 day")}
                    </div>
                </div>
            </div>
            {failure(action)}
            <button type="submit">"Save to draft"</button>
            <a class="button secondary" href="/policy">"Cancel"</a>
        </ActionForm>
    }
}

/// The policy as TOML, applied to the draft (an island of the console bundle: what was
/// typed stays beside an error; the page is loaded again once it applied).
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn TomlTab(toml: String) -> impl IntoView {
    crate::app::browser::provide_action_error();
    let action = ServerAction::<PolicyToml>::new();
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(())))) {
            crate::app::browser::go_to("/policy?done=policy_toml");
        }
    });
    let download = format!("data:text/plain;charset=utf-8,{}", js_uri_encode(&toml));
    let has_toml = !toml.is_empty();
    let text = RwSignal::new(toml.clone());
    // The box is as tall as the text (the frame around it scrolls), so the line numbers
    // beside it stay level with their lines without any script.
    let lines = move || text.with(|t| t.lines().count().max(1) + usize::from(t.ends_with('\n')));
    let error_line = move || {
        action.value().with(|v| match v {
            Some(Err(e)) => crate::domain::policy_console::error_line(&e.to_string()),
            _ => None,
        })
    };
    let gutter = move || {
        let bad = error_line();
        (1..=lines())
            .map(|n| view! { <span class:error-line=bad == Some(n)>{n}</span> })
            .collect_view()
    };
    view! {
        <section class="card toml-tab">
            <h2>"TOML"</h2>
            <p class="hint">"The same policy as the file " <code>"askfirst policy import"</code> " reads. Applying it replaces your draft; errors name the line and column."</p>
            <ActionForm action>
                <label for="policy-toml">"Policy file"</label>
                <div class="toml-editor">
                    <pre class="gutter" aria-hidden="true">{gutter}</pre>
                    <textarea id="policy-toml" name="toml" rows=move || lines().max(16) spellcheck="false" wrap="off" prop:value=text
                        inner_html=crate::app::widgets::textarea_html(&toml)
                        on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                </div>
                <label for="policy-upload">"Or load a file (then apply it)"</label>
                <input id="policy-upload" type="file" accept=".toml,text/plain" on:change=move |ev| load_file(ev, text) />
                {failure(action)}
                <button type="submit">"Apply to draft"</button>
                {has_toml.then(|| view! { <a class="button secondary" href=download download="policy.toml">"Download"</a> })}
            </ActionForm>
        </section>
    }
}

/// Reads the file picked in a file input into `into` (in the browser).
fn load_file(ev: leptos::ev::Event, into: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let file = ev
            .target()
            .and_then(|t| js_sys::Reflect::get(&t, &"files".into()).ok())
            .and_then(|files| js_sys::Reflect::get(&files, &0.into()).ok())
            .filter(|f| !f.is_undefined());
        let Some(file) = file else { return };
        let text = js_sys::Reflect::get(&file, &"text".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .and_then(|f| f.call0(&file).ok())
            .and_then(|p| p.dyn_into::<js_sys::Promise>().ok());
        if let Some(promise) = text {
            leptos::task::spawn_local(async move {
                if let Ok(value) = wasm_bindgen_futures::JsFuture::from(promise).await {
                    if let Some(s) = value.as_string() {
                        into.set(s);
                    }
                }
            });
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, into);
}

/// Percent-encodes text for a `data:` URL.
fn js_uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A call tried against the draft, rule by rule (an island of the console bundle).
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn TryCall(
    recent: Vec<crate::domain::policy_console::RecentCall>,
    /// A call to start from ("Try this rule"): what that rule would match.
    sample: Option<crate::domain::policy_console::RecentCall>,
) -> impl IntoView {
    let action = ServerAction::<PolicyTry>::new();
    let start = sample.unwrap_or_else(|| crate::domain::policy_console::RecentCall {
        args: "{}".into(),
        ..Default::default()
    });
    let agent = RwSignal::new(start.agent.clone());
    let tool = RwSignal::new(start.tool.clone());
    let args = RwSignal::new(start.args.clone());
    let risk = RwSignal::new(
        start
            .risk
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let picks = recent
        .iter()
        .enumerate()
        .map(|(i, c)| view! { <option value=i.to_string()>{format!("{} · {} {}", c.agent, crate::domain::invisible::visible(&c.tool), crate::domain::inbox::truncate(&c.args, 60))}</option> })
        .collect_view();
    let pick = move |ev: leptos::ev::Event| {
        if let Some(c) = event_target_value(&ev)
            .parse::<usize>()
            .ok()
            .and_then(|i| recent.get(i))
        {
            agent.set(c.agent.clone());
            tool.set(c.tool.clone());
            // Invisible characters as `\u` escapes, as in the card's editor.
            args.set(
                serde_json::from_str(&c.args)
                    .map(|v| crate::domain::invisible::escape_json(&v))
                    .unwrap_or_else(|_| c.args.clone()),
            );
            risk.set(
                c.risk
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    };
    view! {
        <section class="card try-call" id="try">
            <h2>"Try a call"</h2>
            <p class="hint">"Against your draft (or the policy in force when you have none)."</p>
            <label for="try-recent">"Pick a recent call"</label>
            <select id="try-recent" on:change=pick><option value="">"—"</option>{picks}</select>
            <ActionForm action>
                <label for="try-agent">"Agent"</label>
                <input id="try-agent" name="agent" value=start.agent.clone() prop:value=agent on:input=move |ev| agent.set(event_target_value(&ev)) />
                <label for="try-tool">"Tool"</label>
                <input id="try-tool" name="tool" required value=start.tool.clone() prop:value=tool on:input=move |ev| tool.set(event_target_value(&ev)) />
                <label for="try-args">"Arguments (JSON)"</label>
                <textarea id="try-args" name="args" rows="3" spellcheck="false" prop:value=args on:input=move |ev| args.set(event_target_value(&ev))
                    inner_html=crate::app::widgets::textarea_html(&start.args)></textarea>
                <label for="try-risk">"Risk claimed"</label>
                <input id="try-risk" name="risk" value=risk.get_untracked() prop:value=risk on:input=move |ev| risk.set(event_target_value(&ev)) />
                <label class="checkbox"><input type="checkbox" name="novel" value="true" /> " The tool is new in the session"</label>
                {failure(action)}
                <button type="submit">"Try it"</button>
            </ActionForm>
            {move || action.value().get().and_then(|r| r.ok()).map(|d| view! { <DryRunResult d /> })}
        </section>
    }
}

#[component]
fn DryRunResult(d: DryRun) -> impl IntoView {
    let steps = d
        .steps
        .into_iter()
        .map(|s| {
            let (class, text) = match s.verdict {
                StepVerdict::Disabled => ("disabled", "disabled".to_string()),
                StepVerdict::Skipped { why } => ("skipped", format!("did not match: {why}")),
                StepVerdict::Tagged => ("tagged", "matched and added its risk".to_string()),
                StepVerdict::Decided => ("decided", "matched and decided".to_string()),
                StepVerdict::NotReached => ("not-reached", "not reached".to_string()),
            };
            view! { <li class=class><code>{s.rule}</code> ": " {text}</li> }
        })
        .collect_view();
    let risk = d
        .risk
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <div class="dry-run" role="status">
            <p class="outcome">"Outcome: " <strong>{d.outcome.clone()}</strong>
                " — " {d.rule.map_or_else(|| "by the default effect".to_string(), |r| format!("by rule {r}"))}</p>
            <p>"Risk after tagging: " {if risk.is_empty() { "none".to_string() } else { risk }}</p>
            <p>"Under the policy in force: " {d.in_force_outcome}</p>
            <ol class="steps">{steps}</ol>
        </div>
    }
}

/// Recent calls replayed under the draft (an island of the console bundle).
#[cfg_attr(any(feature = "ssr", feature = "console"), island)]
#[cfg_attr(not(any(feature = "ssr", feature = "console")), component)]
fn ReplayPanel() -> impl IntoView {
    let action = ServerAction::<PolicyReplay>::new();
    view! {
        <section class="card replay">
            <h2>"Replay recent calls"</h2>
            <p class="hint">"Evaluates your draft and the policy in force over the most recent calls and lists every call whose outcome would change."</p>
            <ActionForm action>
                <label for="replay-limit">"Calls"</label>
                <input id="replay-limit" name="limit" type="number" min="1" max="100000" value="10000" />
                {failure(action)}
                <button type="submit">"Replay"</button>
            </ActionForm>
            {move || action.value().get().and_then(|r| r.ok()).map(|r| view! { <ReplayResult r /> })}
        </section>
    }
}

#[component]
fn ReplayResult(r: Replay) -> impl IntoView {
    let groups = r
        .groups
        .into_iter()
        .map(|g| {
            let calls = g
                .calls
                .into_iter()
                .map(|c| {
                    let dir = match c.direction {
                        Direction::Stricter => "stricter",
                        Direction::Laxer => "laxer",
                    };
                    view! { <li class=dir><a href=format!("/calls/{}", c.id)>{c.id.clone()}</a> ": " {c.before} " → " {c.after} " (" {dir} ")"</li> }
                })
                .collect_view();
            view! {
                <tr>
                    <td>{g.agent}</td><td><code class="agent-text">{crate::domain::invisible::visible(&g.tool)}</code></td><td>{g.stricter}</td><td>{g.laxer}</td>
                    <td><ul>{calls}</ul></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="replay-result" role="status">
            <p>{r.examined} " calls replayed: " <strong>{r.stricter}</strong> " would become stricter, "
                <strong>{r.laxer}</strong> " laxer."</p>
            <crate::app::widgets::ScrollBox label="Calls whose outcome would change"><table>
                <thead><tr><th scope="col">"Agent"</th><th scope="col">"Tool"</th><th scope="col">"Stricter"</th><th scope="col">"Laxer"</th><th scope="col">"Calls"</th></tr></thead>
                <tbody>{groups}</tbody>
            </table></crate::app::widgets::ScrollBox>
        </div>
    }
}

#[component]
fn Versions(versions: Result<Vec<VersionSummary>, AppError>, in_force: i64) -> impl IntoView {
    let restore = ServerAction::<PolicyRestore>::new();
    view! {
        <section class="card versions-list">
            <h2>"Versions"</h2>
            {match versions {
                Ok(list) => list.into_iter().map(|v| view! { <VersionItem v restore in_force /> }).collect_view().into_any(),
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn VersionItem(
    v: VersionSummary,
    restore: ServerAction<PolicyRestore>,
    in_force: i64,
) -> impl IntoView {
    let current = v.version == in_force;
    let changes = v
        .changes
        .into_iter()
        .map(|c| view! { <li>{crate::app::widgets::with_code(&c)}</li> })
        .collect_view();
    view! {
        <article class="version" data-version=v.version>
            <h3>"Version " {v.version} {v.loosening.then(|| view! { " " <span class="badge loosening">"loosened a gate"</span> })}</h3>
            <p>"by " {v.author} " at " <Time at=v.at.clone() />
                {(!v.comment.is_empty()).then(|| view! { " — “" {v.comment.clone()} "”" })}</p>
            <ul class="changes">{changes}</ul>
            {if current {
                view! { <p class="hint">"In force now."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=restore attr:class="inline">
                        <input type="hidden" name="version" value=v.version />
                        <button type="submit" class="small secondary">"Restore version " {v.version} " into draft"</button>
                    </ActionForm>
                }.into_any()
            }}
        </article>
    }
}
