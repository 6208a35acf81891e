//! What islands use in place of the router, which runs on the server only: the URL's
//! query, navigation by full page loads, and the error a server function sent back to a
//! form without JavaScript.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Makes the error a server function reported through the URL (`?__err=…&__path=…`, how
/// a form posted without JavaScript hears back) visible to the island's actions in the
/// browser too, as the router does on the server: the island then hydrates the same error
/// the server rendered. Call it first in an island that creates server actions.
pub fn provide_action_error() {
    #[cfg(feature = "hydrate")]
    {
        let Some(params) = window()
            .location()
            .search()
            .ok()
            .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        else {
            return;
        };
        // Only an error this browser's own form brought back: its token is in the cookie
        // the server set with the redirect (a link's error has none, or another).
        let cookie = js_sys::Reflect::get(&document(), &"cookie".into())
            .ok()
            .and_then(|c| c.as_string())
            .unwrap_or_default();
        let genuine = params.get("__form").is_some_and(|token| {
            !token.is_empty()
                && cookie
                    .split(';')
                    .filter_map(|c| c.trim().split_once('='))
                    .any(|(name, value)| name == "askfirst_form" && value == token)
        });
        if let (true, Some(err), Some(path)) = (genuine, params.get("__err"), params.get("__path"))
        {
            provide_context(leptos::server::ServerActionError::new(&path, &err));
        }
    }
}

/// Opens `path` (a full page load; on the server, nothing).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    let _ = window().location().set_href(path);
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// The page's elements matching `selector`, in document order.
#[cfg(feature = "hydrate")]
pub fn select_all(selector: &str) -> Vec<web_sys::Element> {
    use wasm_bindgen::JsCast;
    let Ok(list) = document().query_selector_all(selector) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|node| node.dyn_into::<web_sys::Element>().ok())
        .collect()
}

/// Posts `fields` as a form to a server function and returns the JSON it answered, or the
/// message of the error it answered with (or of the network's).
#[cfg(feature = "hydrate")]
pub async fn post_form(url: &str, fields: &[(&str, String)]) -> Result<String, String> {
    let body = web_sys::UrlSearchParams::new().map_err(|_| unreachable_server())?;
    for (name, value) in fields {
        body.append(name, value);
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&body.into());
    let headers = web_sys::Headers::new().map_err(|_| unreachable_server())?;
    let _ = headers.set("Accept", "application/json");
    init.set_headers(&headers.into());
    let (ok, text) = fetch_text(url, &init).await?;
    if ok {
        Ok(text)
    } else {
        Err(
            serde_json::from_str::<crate::domain::error::ErrorBody>(&text)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| format!("the server answered: {text}")),
        )
    }
}

/// The page at `url` (this page again, for a live list), parsed.
#[cfg(feature = "hydrate")]
pub async fn fetch_document(url: &str) -> Option<web_sys::Document> {
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    let _ = headers.set("Accept", "text/html");
    init.set_headers(&headers.into());
    let (ok, html) = fetch_text(url, &init).await.ok()?;
    if !ok {
        return None;
    }
    web_sys::DomParser::new()
        .ok()?
        .parse_from_string(&html, web_sys::SupportedType::TextHtml)
        .ok()
}

#[cfg(feature = "hydrate")]
async fn fetch_text(url: &str, init: &web_sys::RequestInit) -> Result<(bool, String), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let response = JsFuture::from(window().fetch_with_str_and_init(url, init))
        .await
        .map_err(|_| unreachable_server())?
        .dyn_into::<web_sys::Response>()
        .map_err(|_| unreachable_server())?;
    let text = JsFuture::from(response.text().map_err(|_| unreachable_server())?)
        .await
        .map_err(|_| unreachable_server())?
        .as_string()
        .unwrap_or_default();
    Ok((response.ok(), text))
}

#[cfg(feature = "hydrate")]
fn unreachable_server() -> String {
    "could not reach the server; check your connection".into()
}
