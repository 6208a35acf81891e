//! Storage: the pool (SQLite or PostgreSQL, one interface over both) and, per table, the one
//! module that holds its SQL. Statements are written once, in the SQL both backends share
//! (`$n` parameters, `ON CONFLICT`, `RETURNING`); where they differ, the module asks
//! [`Backend`].

pub mod agents;
pub mod audit;
pub mod audit_query;
pub mod bypasses;
pub mod calls;
pub mod changes;
pub mod copy;
pub mod grants;
pub mod insights;
pub mod json;
pub mod no_retry;
pub mod notify;
pub mod policy;
pub mod policy_changes;
pub mod reviews;
pub mod sessions;
pub mod settings;
pub mod sign_in_failures;
pub mod signoff_reviews;
pub mod text;
pub mod users;
pub mod webhooks;

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The database driver: SQLite or PostgreSQL, chosen at run time by the `--db` value.
pub type Db = sqlx::Any;
/// A pool of connections to either backend.
pub type Pool = sqlx::AnyPool;
/// One connection to either backend.
pub type Conn = sqlx::AnyConnection;

/// Anything that runs a statement: a pool, a connection or a transaction.
pub trait Executor<'c>: sqlx::Executor<'c, Database = Db> {}
impl<'c, T: sqlx::Executor<'c, Database = Db>> Executor<'c> for T {}

/// Where the data lives, as given by `--db` / `ASKFIRST_DB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (a path, or `sqlite://path`); the default.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`), shared by every instance.
    Postgres(String),
}

impl FromStr for Location {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() {
            return Err("the database location is empty".into());
        }
        let scheme = value
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        if matches!(scheme.as_deref(), Some("postgres" | "postgresql")) {
            return Ok(Self::Postgres(value.to_string()));
        }
        if scheme.as_deref() == Some("sqlite") {
            let path = &value["sqlite://".len()..];
            if path.is_empty() {
                return Err("`sqlite://` needs a file path after it".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(format!(
                "unknown database scheme `{scheme}://`: use a file path (SQLite) or \
                 `postgres://user@host/db` (PostgreSQL)"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(value)))
    }
}

impl std::fmt::Display for Location {
    /// The location without a password (for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    // A password may also come as a query parameter.
                    if parsed.query_pairs().any(|(k, _)| k == "password") {
                        let pairs: Vec<(String, String)> = parsed
                            .query_pairs()
                            .map(|(k, v)| {
                                let v = if k == "password" { "***".into() } else { v };
                                (k.into_owned(), v.into_owned())
                            })
                            .collect();
                        parsed.query_pairs_mut().clear().extend_pairs(pairs);
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => write!(f, "postgres://…"),
            },
        }
    }
}

impl Location {
    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

/// Which database a pool or connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a pool.
    pub fn of(pool: &Pool) -> Self {
        Self::from_scheme(pool.connect_options().database_url.scheme())
    }

    /// The backend of a connection.
    pub fn of_conn(conn: &Conn) -> Self {
        if conn.backend_name() == "PostgreSQL" {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }

    fn from_scheme(scheme: &str) -> Self {
        if scheme.starts_with("postgres") {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// The advisory lock every write transaction on PostgreSQL takes first: writes from every
/// instance are serialised exactly as SQLite's `BEGIN IMMEDIATE` serialises them within
/// one, so a change that reads before it writes keeps its meaning, and audit ids are
/// assigned (and committed) in one total order.
const WRITE_LOCK: i64 = 0x6173_6b66_6972_7374; // "askfirst"

/// Starts a write transaction on `conn`, holding the database's write lock from its start.
pub async fn begin_write(conn: &mut Conn) -> sqlx::Result<()> {
    use sqlx::Executor as _;
    match Backend::of_conn(conn) {
        Backend::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await?;
        }
        Backend::Postgres => {
            conn.execute("BEGIN").await?;
            if let Err(e) = sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *conn)
                .await
            {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Transaction control for the group-commit writer, which runs many jobs in one transaction.
pub mod tx {
    use super::Conn;
    use sqlx::Executor as _;

    /// `COMMIT`.
    pub async fn commit(conn: &mut Conn) -> sqlx::Result<()> {
        conn.execute("COMMIT").await.map(drop)
    }

    /// `ROLLBACK`.
    pub async fn rollback(conn: &mut Conn) -> sqlx::Result<()> {
        conn.execute("ROLLBACK").await.map(drop)
    }

    /// Where [`rollback_to`] returns: the savepoints are the writer's own fixed names.
    #[derive(Debug, Clone, Copy)]
    pub enum Savepoint {
        /// Around one job.
        Job,
        /// Around a run of new calls.
        Appends,
    }

    impl Savepoint {
        fn name(self) -> &'static str {
            match self {
                Self::Job => "job",
                Self::Appends => "appends",
            }
        }
    }

    /// `SAVEPOINT name`.
    pub async fn savepoint(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
        conn.execute(format!("SAVEPOINT {}", at.name()).as_str())
            .await
            .map(drop)
    }

    /// `ROLLBACK TO name` (the savepoint stays; [`release`] it).
    pub async fn rollback_to(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
        conn.execute(format!("ROLLBACK TO SAVEPOINT {}", at.name()).as_str())
            .await
            .map(drop)
    }

    /// `RELEASE name`.
    pub async fn release(conn: &mut Conn, at: Savepoint) -> sqlx::Result<()> {
        conn.execute(format!("RELEASE SAVEPOINT {}", at.name()).as_str())
            .await
            .map(drop)
    }
}

/// Whether the database answers.
pub async fn ping(pool: &Pool) -> sqlx::Result<()> {
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(pool)
        .await
        .map(drop)
}

/// A write transaction from `pool` (see [`begin_write`]). On PostgreSQL the transaction
/// is open (and so rolled back if the caller is cancelled, say by a client that gave up)
/// before the lock is waited for: a cancelled wait can never leave a pooled connection
/// holding the lock.
pub async fn write_tx(pool: &Pool) -> sqlx::Result<sqlx::Transaction<'static, Db>> {
    match Backend::of(pool) {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(tx)
        }
    }
}

/// What every PostgreSQL session of askfirst sets first. A transaction left idle — its
/// instance frozen or cut off while holding the write lock — is ended by the server after
/// 15 s, which frees the lock; a write that waits 30 s for a lock gives up (`503 busy`)
/// instead of hanging its caller.
const POSTGRES_SESSION: &str =
    "SET idle_in_transaction_session_timeout = '15s'; SET lock_timeout = '30s'";

/// Whether `err` says the database is too busy to take the write now (a lock wait ran
/// out), rather than that something is wrong.
pub fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        // PostgreSQL's lock_not_available (lock_timeout).
        sqlx::Error::Database(db) => db.code().as_deref() == Some("55P03"),
        _ => false,
    }
}

/// Opens (creating if needed) the database and applies the embedded migrations of its
/// backend. SQLite runs in WAL mode with full durability; PostgreSQL is used as the
/// operator configured it.
pub async fn open(location: &Location) -> anyhow::Result<Pool> {
    sqlx::any::install_default_drivers();
    let pool = match location {
        Location::Sqlite(path) => open_sqlite(path).await?,
        // The driver's error only (its source repeats its message).
        Location::Postgres(url) => open_postgres(url)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to {location}: {e}"))?,
    };
    migrate(&pool).await?;
    Ok(pool)
}

async fn open_postgres(url: &str) -> sqlx::Result<Pool> {
    use sqlx::Connection as _;
    // One connection first: a refused connection or a wrong password is reported as such,
    // not as a pool that timed out retrying it.
    sqlx::AnyConnection::connect(url).await?.close().await?;
    sqlx::any::AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                conn.execute(POSTGRES_SESSION).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}

async fn open_sqlite(path: &Path) -> anyhow::Result<Pool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the database directory {}", dir.display()))?;
    }
    let url = sqlite_url(path);
    sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        // A local file cannot go stale the way a network connection can; pinging it on
        // every checkout costs a round trip to the connection's thread for nothing.
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor as _;
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .with_context(|| format!("opening the database {}", path.display()))
}

/// The `sqlite://` URL of a file (read-write, created if missing), its name percent-encoded
/// where a URL would misread it.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for ch in path.to_string_lossy().chars() {
        match ch {
            ' ' | '"' | '#' | '<' | '>' | '?' | '`' | '{' | '}' | '%' => {
                url.push_str(&format!("%{:02X}", ch as u32))
            }
            c if c.is_control() => url.push_str(&format!("%{:02X}", c as u32)),
            c => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// Applies the migrations of the pool's backend.
pub async fn migrate(pool: &Pool) -> anyhow::Result<()> {
    let migrator = match Backend::of(pool) {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Refuses to go on writing with an audit key over a log linked without it (the chain
/// would stop verifying): `askfirst audit rekey` re-links it once.
///
/// The other way round too: a log linked with a key is not written to without it (each
/// such write would break the chain for good). Every process writing to the database —
/// every instance, every CLI command — needs the same key.
pub async fn check_audit_key(pool: &Pool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let key = audit::key();
    if audit::linked_with(&mut conn, key).await? {
        return Ok(());
    }
    match key {
        Some(_) => anyhow::bail!(
            "the audit log is not linked with this audit key: run `askfirst audit verify` \
             without the key, then `askfirst audit rekey` with it, once"
        ),
        None => anyhow::bail!(
            "the audit log is linked with a key (or its first event was altered): pass the \
             key with --audit-key-file (or ASKFIRST_AUDIT_KEY_FILE) to every askfirst \
             process that writes to this database; `askfirst audit verify` tells which"
        ),
    }
}

/// Splits `items` into runs whose lengths are powers of two (largest first, at most
/// `max`), for multi-row statements: a few distinct statement shapes stay in the prepared
/// statement cache, instead of one new statement to prepare for every batch size.
pub fn power_of_two_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// A statement assembled from pieces (filters, multi-row `VALUES`) with `?` marks, given
/// `$1, $2, …` in order: the one parameter style both backends read. Marks inside quoted
/// SQL strings are left alone.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quoted = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

/// `n` comma-separated `?` marks, for `IN (…)` (number them with [`numbered`]).
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `text` with LIKE's wildcards (and its escape, `\\`) escaped, for `LIKE ? ESCAPE '\\'`.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Whether `err` is a violation of a UNIQUE constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_are_numbered_in_order_outside_quotes() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"),
            ("x = '?' AND y = ?", "x = '?' AND y = $1"),
            ("x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"),
        ];
        for (sql, want) in cases {
            assert_eq!(super::numbered(sql), want, "{sql}");
        }
    }

    #[test]
    fn locations_are_read_by_scheme() {
        use super::Location;
        use std::path::PathBuf;
        let ok = [
            (
                "data/askfirst.db",
                Location::Sqlite(PathBuf::from("data/askfirst.db")),
            ),
            (
                "sqlite:///tmp/a.db",
                Location::Sqlite(PathBuf::from("/tmp/a.db")),
            ),
            (
                "postgres://u@h/db",
                Location::Postgres("postgres://u@h/db".into()),
            ),
            (
                "postgresql://u@h:5/db",
                Location::Postgres("postgresql://u@h:5/db".into()),
            ),
        ];
        for (text, want) in ok {
            assert_eq!(text.parse::<Location>().unwrap(), want, "{text}");
        }
        for bad in ["mysql://u@h/db", "http://x", "", "sqlite://"] {
            assert!(bad.parse::<Location>().is_err(), "{bad}");
        }
        for url in [
            "postgres://u:secret@h/db",
            "postgres://h/db?user=u&password=secret",
        ] {
            let shown = url.parse::<Location>().unwrap().to_string();
            assert!(!shown.contains("secret"), "{shown}");
        }
        assert!(matches!(
            "POSTGRES://u@h/db".parse::<Location>(),
            Ok(Location::Postgres(_))
        ));
    }

    #[test]
    fn sqlite_urls_keep_odd_file_names() {
        let url = super::sqlite_url(std::path::Path::new("data/a b#?%.db"));
        assert_eq!(url, "sqlite://data/a%20b%23%3F%25.db?mode=rwc");
    }

    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let cases: [(usize, usize, &[usize]); 6] = [
            (0, 256, &[]),
            (1, 256, &[1]),
            (7, 256, &[4, 2, 1]),
            (64, 256, &[64]),
            (100, 256, &[64, 32, 4]),
            (600, 256, &[256, 256, 64, 16, 8]),
        ];
        for (n, max, want) in cases {
            let items: Vec<usize> = (0..n).collect();
            let chunks = super::power_of_two_chunks(&items, max);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes, want, "{n} items");
            assert_eq!(chunks.concat(), items, "order kept");
        }
    }
}
