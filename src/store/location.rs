//! Where the data lives (`--db`), and which backend a pool or connection talks to.

use super::{Conn, Pool};
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
        match pool {
            Pool::Sqlite(_) => Self::Sqlite,
            Pool::Postgres(_) => Self::Postgres,
        }
    }

    /// The backend of a connection.
    pub fn of_conn(conn: &Conn) -> Self {
        match conn {
            Conn::Sqlite(_) | Conn::SqliteTx(_) => Self::Sqlite,
            Conn::Postgres(_) | Conn::PostgresTx(_) => Self::Postgres,
        }
    }
}

#[cfg(test)]
mod tests {
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
}
