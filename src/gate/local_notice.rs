//! How a command-line write reaches a running server at once. On SQLite one server owns
//! the database; the CLI writes to the same file from another process. After its write the
//! CLI connects to a Unix socket beside the database file (`<db>.notice`, mode 0600), says
//! how far the audit log now reaches, and waits until the server's watcher has acted on
//! everything up to there — reloaded grants, bypasses, policy, do-not-retry denials, limits
//! — so the server's next answer already follows it. Without a server nobody listens and
//! the CLI goes on. (On PostgreSQL every commit already notifies every instance; see
//! `store::changes`.)

use super::Gate;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest a caller waits for the server to catch up.
pub const CATCH_UP: Duration = Duration::from_secs(3);
/// Most callers served at once; more wait for their turn.
const MAX_CALLERS: usize = 16;

/// The socket beside an SQLite database file.
pub fn socket_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".notice");
    PathBuf::from(name)
}

/// Listens at `path` for as long as the gate's pool is open. A socket left by a server that
/// died is replaced; one that answers belongs to a live server, and this one stays quiet.
pub async fn listen(gate: Arc<Gate>, path: PathBuf) {
    if UnixStream::connect(&path).await.is_ok() {
        tracing::warn!(path = %path.display(), "another server answers on this database's notice socket");
        return;
    }
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "CLI writes will reach this server within its watch interval only");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CALLERS));
    while !gate.pool.is_closed() {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CATCH_UP, answer(&gate, stream)).await;
            drop(permit);
        });
    }
    let _ = std::fs::remove_file(&path);
}

/// Reads `<audit id>\n`, pokes the watcher, and answers `ok` once it has acted on that id.
async fn answer(gate: &Gate, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take_bytes(32))
        .read_line(&mut line)
        .await?;
    let Ok(upto) = line.trim().parse::<i64>() else {
        return write.write_all(b"bad\n").await;
    };
    let mut watched = gate.hub.watched.subscribe();
    gate.hub.changed.notify_one();
    let reached = watched.wait_for(|&seen| seen >= upto).await.is_ok();
    write
        .write_all(if reached { b"ok\n" } else { b"late\n" })
        .await
}

/// What became of telling a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// The server acted on everything up to the id.
    CaughtUp,
    /// No server listens (none runs on this database).
    NoServer,
    /// A server listens but did not say it caught up within [`CATCH_UP`].
    Late,
}

/// Tells the server on the database at `db` (if one runs) that the audit log reaches
/// `upto`, and waits until it has acted on it.
pub async fn tell(db: &Path, upto: i64) -> Told {
    let Ok(stream) = UnixStream::connect(socket_path(db)).await else {
        return Told::NoServer;
    };
    let exchange = async {
        let (read, mut write) = stream.into_split();
        write.write_all(format!("{upto}\n").as_bytes()).await?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await?;
        Ok::<_, std::io::Error>(line.trim() == "ok")
    };
    match tokio::time::timeout(CATCH_UP, exchange).await {
        Ok(Ok(true)) => Told::CaughtUp,
        _ => Told::Late,
    }
}

/// A reader that stops after `n` bytes.
trait TakeBytes: Sized {
    fn take_bytes(self, n: u64) -> tokio::io::Take<Self>;
}

impl<R: tokio::io::AsyncRead> TakeBytes for R {
    fn take_bytes(self, n: u64) -> tokio::io::Take<Self> {
        tokio::io::AsyncReadExt::take(self, n)
    }
}
