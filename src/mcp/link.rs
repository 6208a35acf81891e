//! The proxy's connection to its upstream MCP server, kept up: a child process that exits
//! (or an HTTP session that ends) is started again with backoff — at most
//! [`RESTARTS_PER_MINUTE`] times a minute; after that the proxy gives up and exits with the
//! upstream's last lines of stderr. While the upstream is down, calls fail at once: nothing
//! is proposed, nobody is asked.

use super::proxy::{Upstream, UpstreamEnv};
use rmcp::service::RunningService;
use rmcp::{transport::TokioChildProcess, ClientHandler, Peer, RoleClient, ServiceExt};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// Most restarts in any minute before the proxy gives up.
pub const RESTARTS_PER_MINUTE: usize = 5;
/// The first wait before a restart; each failed or short-lived run doubles it, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Lines of the upstream's stderr kept for the last words.
const TAIL: usize = 20;

/// The current upstream peer, or why there is none.
pub struct Link {
    state: Mutex<Result<Peer<RoleClient>, String>>,
    /// The upstream's last lines of stderr.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Link {
    /// The upstream peer, or why it is down.
    pub fn peer(&self) -> Result<Peer<RoleClient>, String> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Notes that the upstream is down (a call saw its transport close before the
    /// supervisor did).
    pub fn down(&self, why: impl Into<String>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Err(why.into());
    }

    fn up(&self, peer: Peer<RoleClient>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Ok(peer);
    }

    fn last_words(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.is_empty() {
            "(it wrote nothing to stderr)".into()
        } else {
            tail.iter().cloned().collect::<Vec<_>>().join("\n")
        }
    }
}

/// Starts (or reaches) the upstream and opens an MCP session with it, `handler` receiving
/// its notifications.
async fn connect<H: ClientHandler + Clone>(
    upstream: &Upstream,
    env: &UpstreamEnv,
    handler: H,
    tail: &Arc<Mutex<VecDeque<String>>>,
) -> anyhow::Result<RunningService<RoleClient, H>> {
    match upstream {
        Upstream::Command(argv) => {
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| anyhow::anyhow!("give the upstream command after `--`"))?;
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            env.apply(&mut cmd);
            let (transport, stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| anyhow::anyhow!("starting `{program}`: {e}"))?;
            if let Some(stderr) = stderr {
                // Passed on to ours, and the last lines kept.
                let tail = tail.clone();
                tokio::spawn(async move {
                    let mut lines = tokio::io::BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        eprintln!("{line}");
                        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                        if tail.len() == TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                });
            }
            Ok(handler.serve(transport).await?)
        }
        Upstream::Url(url) => {
            // rmcp's HTTP client leaves the TLS provider to the program; use ring, as ours.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
            Ok(handler.serve(transport).await?)
        }
    }
}

/// The upstream, connected: the link, and a task that keeps it up and ends only when it
/// gives up (with what to say).
pub struct Connected {
    pub link: Arc<Link>,
    pub first: Peer<RoleClient>,
    pub gave_up: tokio::task::JoinHandle<anyhow::Error>,
}

/// Connects to the upstream and keeps it up; `restarted` runs after each restart.
pub async fn keep_up<H: ClientHandler + Clone>(
    upstream: Upstream,
    env: UpstreamEnv,
    handler: H,
    restarted: impl Fn() + Send + Sync + 'static,
) -> anyhow::Result<Connected> {
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let running = connect(&upstream, &env, handler.clone(), &tail)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to the upstream MCP server: {e}"))?;
    let first = running.peer().clone();
    let link = Arc::new(Link {
        state: Mutex::new(Ok(first.clone())),
        tail: tail.clone(),
    });
    let supervised = link.clone();
    let gave_up = tokio::spawn(async move {
        let mut running = running;
        let mut backoff = FIRST_BACKOFF;
        let mut restarts: VecDeque<Instant> = VecDeque::new();
        let mut up_since = Instant::now();
        loop {
            let _ = running.waiting().await;
            supervised.down(
                "the upstream MCP server stopped; askfirst is starting it again — try again \
                 in a few seconds",
            );
            // A run that lasted a while starts the backoff over.
            if up_since.elapsed() > Duration::from_secs(60) {
                backoff = FIRST_BACKOFF;
            }
            loop {
                let now = Instant::now();
                restarts.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
                if restarts.len() >= RESTARTS_PER_MINUTE {
                    return anyhow::anyhow!(
                        "the upstream MCP server stopped {} times within a minute; giving up. \
                         Its last lines of stderr:\n{}",
                        RESTARTS_PER_MINUTE + 1,
                        supervised.last_words()
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                restarts.push_back(Instant::now());
                match connect(&upstream, &env, handler.clone(), &tail).await {
                    Ok(next) => {
                        supervised.up(next.peer().clone());
                        running = next;
                        up_since = Instant::now();
                        restarted();
                        break;
                    }
                    Err(e) => {
                        tracing::warn!("restarting the upstream MCP server: {e}");
                        supervised.down(format!(
                            "the upstream MCP server is down (starting it again failed: {e})"
                        ));
                    }
                }
            }
        }
    });
    Ok(Connected {
        link,
        first,
        gave_up,
    })
}
