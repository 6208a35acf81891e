//! Where the async demo hears about decisions: the event stream, or signed webhooks to a
//! small receiver on 127.0.0.1. Either way it also reads the call directly now and then,
//! so a dropped connection or a lost delivery cannot strand the agent.

use crate::{verify_webhook_now, CallEvent, CallView, Client, Error, Proposal, Status};
use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Router};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often to read the call directly while waiting for an event or webhook.
const CHECK_EVERY: Duration = Duration::from_secs(30);
/// How long past the deadline to wait before withdrawing the call.
const GRACE: Duration = Duration::from_secs(30);

type Events = Pin<Box<dyn Stream<Item = Result<CallEvent, Error>> + Send>>;

pub(super) enum Source {
    Events {
        stream: Events,
        last_id: Option<u64>,
    },
    Webhook(Receiver),
}

impl Source {
    /// Subscribes before anything is proposed, so no decision can slip past.
    pub(super) async fn open(
        client: &Client,
        secret: Option<String>,
        port: u16,
    ) -> Result<Self, Error> {
        Ok(match secret {
            Some(secret) => Source::Webhook(Receiver::start(secret, port).await?),
            None => Source::Events {
                stream: Box::pin(client.events(None).await?),
                last_id: None,
            },
        })
    }

    pub(super) fn describe(&self) -> String {
        match self {
            Source::Events { .. } => "the event stream (GET /api/v1/events)".into(),
            Source::Webhook(r) => format!("a signed webhook to {}", r.url),
        }
    }

    pub(super) fn callback_url(&self) -> Option<String> {
        match self {
            Source::Events { .. } => None,
            Source::Webhook(r) => Some(r.url.clone()),
        }
    }

    /// The call once people decided (or it expired).
    pub(super) async fn decision(
        &mut self,
        client: &Client,
        proposal: &Proposal,
    ) -> Result<CallView, Error> {
        let give_up = proposal.deadline_at().and_then(|d| {
            let left = (d - chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()))
                .to_std()
                .unwrap_or(Duration::ZERO);
            Instant::now().checked_add(left + GRACE)
        });
        loop {
            if let Ok(heard) =
                tokio::time::timeout(CHECK_EVERY, self.next_for(client, &proposal.id)).await
            {
                if let Some(view) = heard? {
                    return Ok(view);
                }
            }
            let view = client.get(&proposal.id).await?;
            if view.status != Status::Pending {
                return Ok(view);
            }
            if give_up.is_some_and(|g| Instant::now() >= g) {
                return match client.cancel(&proposal.id).await {
                    Ok(view) => Ok(view),
                    Err(e) if e.is_conflict("not_pending") => client.get(&proposal.id).await,
                    Err(e) => Err(e),
                };
            }
        }
    }

    /// The next delivery about call `id`; `None` when the connection dropped (it is
    /// reopened; the caller then reads the call directly to cover the gap).
    async fn next_for(&mut self, client: &Client, id: &str) -> Result<Option<CallView>, Error> {
        match self {
            Source::Webhook(r) => r.next_for(id).await.map(Some),
            Source::Events { stream, last_id } => loop {
                match stream.next().await {
                    Some(Ok(ev)) => {
                        *last_id = Some(ev.id);
                        if ev.call.id == id {
                            return Ok(Some(ev.call));
                        }
                    }
                    Some(Err(Error::Decode(e))) => eprintln!("    skipped a bad event: {e}"),
                    Some(Err(_)) | None => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        *stream = Box::pin(client.events(*last_id).await?);
                        return Ok(None);
                    }
                }
            },
        }
    }
}

/// A webhook receiver on 127.0.0.1 that verifies each delivery's signature.
pub(super) struct Receiver {
    pub(super) url: String,
    rx: mpsc::Receiver<CallView>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Inbox {
    secret: String,
    tx: mpsc::Sender<CallView>,
}

async fn deliver(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let pairs = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    match verify_webhook_now(&inbox.secret, pairs, &body) {
        Ok(view) => {
            // A full queue or a finished demo: the delivery is still acknowledged.
            let _ = inbox.tx.try_send(view);
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            eprintln!("    rejected a webhook delivery: {e}");
            StatusCode::UNAUTHORIZED
        }
    }
}

impl Receiver {
    async fn start(secret: String, port: u16) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let app = Router::new()
            .route("/askfirst/webhook", post(deliver))
            .with_state(Inbox { secret, tx });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("    the webhook receiver stopped: {e}");
            }
        });
        Ok(Self {
            url: format!("http://{addr}/askfirst/webhook"),
            rx,
            server,
        })
    }

    async fn next_for(&mut self, id: &str) -> Result<CallView, Error> {
        while let Some(view) = self.rx.recv().await {
            if view.id == id {
                return Ok(view);
            }
        }
        Err(Error::Io(std::io::Error::other(
            "the webhook receiver stopped",
        )))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
