//! A browser bundle: hydrates the islands of the page the server rendered. Built twice,
//! as the approver bundle (`askfirst-browser`: inbox, card, small widgets) and as the
//! console bundle (`askfirst-console`: with the admin and manager pages' islands).

// The islands' views are deeply nested types (as in the `askfirst` crate).
#![recursion_limit = "256"]

// Links the islands: each is exported from the `askfirst` crate, which nothing here names.
extern crate askfirst;

/// Entry point, called by the hydration script Leptos puts in a page with islands; the
/// script then hydrates each island, one after the other, in the same task.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Marks the document once every island has taken over (tests wait for it): a timer
    // runs after the script has hydrated the last island.
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = leptos::prelude::document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
