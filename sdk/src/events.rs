//! The event stream (`GET /api/v1/events`): Server-Sent Events, one `call` event each
//! time one of the agent's calls leaves `pending`.

use crate::error::Error;
use crate::types::CallView;
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{future, Stream, StreamExt};

/// A call leaving `pending`, from [`Client::events`](crate::Client::events).
#[derive(Debug, Clone, PartialEq)]
pub struct CallEvent {
    /// The event id; pass the last one seen to `events` to replay what followed.
    pub id: u64,
    /// The call as it was decided (its checkpoint included).
    pub call: CallView,
}

/// Turns an SSE byte stream into call events. Comments, keep-alives and events of other
/// types are skipped; a malformed event becomes one `Err` item and the stream goes on.
pub(crate) fn parse_events<S, B>(
    bytes: S,
) -> impl Stream<Item = Result<CallEvent, Error>> + Send + Unpin + 'static
where
    S: Stream<Item = Result<B, reqwest::Error>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
{
    bytes
        .eventsource()
        .filter_map(|item| {
            future::ready(match item {
                Err(EventStreamError::Transport(e)) => Some(Err(Error::Http(e))),
                Err(e) => Some(Err(Error::Decode(format!("event stream: {e}")))),
                Ok(ev) if ev.event != "call" => None,
                Ok(ev) => Some(decode(&ev.id, &ev.data)),
            })
        })
        .boxed()
}

fn decode(id: &str, data: &str) -> Result<CallEvent, Error> {
    let id = id.trim().parse::<u64>().map_err(|_| {
        Error::Decode(format!(
            "event id `{}`",
            id.chars().take(40).collect::<String>()
        ))
    })?;
    let call = serde_json::from_str(data).map_err(|e| Error::Decode(format!("event {id}: {e}")))?;
    Ok(CallEvent { id, call })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    async fn parse(chunks: &[&'static str]) -> Vec<Result<CallEvent, Error>> {
        let chunks: Vec<_> = chunks
            .iter()
            .map(|c| Ok::<_, reqwest::Error>(c.as_bytes()))
            .collect();
        let bytes = stream::iter(chunks);
        parse_events(bytes).collect().await
    }

    #[tokio::test]
    async fn parses_call_events_across_chunks() {
        let got = parse(&[
            ": keep-alive\n\n",
            "event: call\nid: 7\nda",
            "ta: {\"id\":\"c1\",\"status\":\"approved\",\"checkpoint\":{\"step\":2}}\n\n",
            "event: ping\ndata: {}\n\n",
            "data: {\"id\":\"c0\",\"status\":\"denied\"}\n\n",
            "event: call\nid: 8\ndata: {\"id\":\"c2\",\n",
            "data: \"status\":\"denied\"}\n\n",
        ])
        .await;
        let got: Vec<_> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].id, got[0].call.id.as_str()), (7, "c1"));
        assert_eq!(
            got[0].call.checkpoint,
            Some(serde_json::json!({ "step": 2 }))
        );
        assert_eq!((got[1].id, got[1].call.id.as_str()), (8, "c2"));
    }

    #[tokio::test]
    async fn bad_events_are_errors_and_the_stream_goes_on() {
        let got = parse(&[
            "event: call\nid: x1\ndata: {\"id\":\"c1\",\"status\":\"approved\"}\n\n",
            "event: call\nid: 2\ndata: not json\n\n",
            "event: call\ndata: {\"id\":\"c3\",\"status\":\"approved\"}\n\n",
            "event: call\nid: 4\ndata: {\"id\":\"c4\",\"status\":\"expired\"}\n\n",
        ])
        .await;
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[0], Err(Error::Decode(m)) if m.contains("x1")));
        assert!(matches!(&got[1], Err(Error::Decode(_))));
        // The SSE id persists until changed: an event without one carries the last.
        assert!(matches!(&got[2], Ok(e) if e.id == 2 && e.call.id == "c3"));
        assert!(matches!(&got[3], Ok(e) if e.id == 4));
    }
}
