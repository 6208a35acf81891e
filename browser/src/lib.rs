//! The browser bundle: hydrates the page the server rendered.

// The app's views are deeply nested types (as in the `askfirst` crate).
#![recursion_limit = "256"]

/// Entry point, called by the hydration script Leptos puts in every page.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(askfirst::app::App);
}
