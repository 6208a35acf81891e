//! The preset denial reasons approvers pick from (admins edit them on the policy page).

use crate::app::pages::home::page_error;
use crate::domain::AppError;
use leptos::prelude::*;

/// The preset denial reasons, as `code: text` lines. Admins.
#[server(prefix = "/rpc", endpoint = "denial_reasons")]
pub async fn load_denial_reasons() -> Result<String, AppError> {
    use crate::auth::guard;
    guard::require_role(crate::domain::Role::Admin).await?;
    Ok(guard::state()?.gate.denial_reasons().await?.text())
}

/// Saves the preset denial reasons from `code: text` lines. Admins.
#[server(prefix = "/rpc", endpoint = "denial_reasons_save")]
pub async fn save_denial_reasons(reasons: String) -> Result<(), AppError> {
    use crate::auth::guard;
    let user = guard::require_role(crate::domain::Role::Admin).await?;
    if reasons.len() > 10_000 {
        return Err(AppError::TooLarge("the list is too long".into()));
    }
    let list =
        crate::domain::workflow::DenialReasons::parse(&reasons).map_err(AppError::Invalid)?;
    guard::state()?.gate.set_denial_reasons(&user, list).await
}

/// The form: one reason per line (a plain form that comes back to the page).
#[component]
pub fn DenialReasonsForm() -> impl IntoView {
    use crate::app::forms::{done, error_of, name_of, Outcome};
    let save = ServerAction::<SaveDenialReasons>::new();
    let ok = (done().as_deref() == Some(name_of::<SaveDenialReasons>()))
        .then(|| "Saved: approvers pick from these now.".to_string());
    let outcome = view! { <Outcome errors=vec![error_of::<SaveDenialReasons>()] ok /> };
    view! {
        <section class="card narrow" aria-labelledby="reasons-title">
            <h2 id="reasons-title">"Denial reasons"</h2>
            <p class="hint">"Approvers pick one when denying (and may add words); the agent receives its code as "
                <code>"reason_code"</code> ". One per line: " <code>"code: text"</code> "."</p>
            {outcome}
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match load_denial_reasons().await {
                        Ok(text) => view! {
                            <ActionForm action=save>
                                <label for="denial-reasons">"Reasons"</label>
                                <textarea id="denial-reasons" name="reasons" rows="6" spellcheck="false"
                                    inner_html=crate::app::widgets::textarea_html(&text)></textarea>
                                <button type="submit">"Save reasons"</button>
                            </ActionForm>
                        }.into_any(),
                        Err(error) => page_error(error),
                    }
                })}
            </Suspense>
        </section>
    }
}
