//! How every Server-Sent Events stream is sent: opened with a comment, so the client has
//! the headers — and knows it is subscribed — at once (axum sends them with the first
//! frame, which would otherwise be the first event or keep-alive), then kept alive.

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use std::convert::Infallible;

/// The comment every stream opens with.
pub const OPENED: &str = "subscribed";

/// `events` as an SSE response: the opening comment, then the events, with a keep-alive
/// comment every 5 s.
pub fn stream<S>(events: S) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let opened = futures::stream::once(async { Ok(Event::default().comment(OPENED)) });
    Sse::new(opened.chain(events))
        .keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(5)))
}
