//! The SQLite and PostgreSQL schemas are the same schema: both backends' migrations are
//! applied to fresh databases by `store::open`, each schema is read back from its catalog
//! into one normalised set of facts (tables, columns, keys, checks, indexes, triggers and
//! seeded rows), and a fact only one side has fails the test, listed in words.
//!
//! Runs only when `ASKFIRST_TEST_PG` holds the URL of a PostgreSQL server that may create
//! databases (see `scripts/pg.sh`).

use askfirst::store::{self, Location};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::ConnectOptions as _;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

/// One schema, as sentences such as `index calls_pending on calls (deadline, …) partial`.
type Facts = BTreeSet<String>;

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let Some(admin) = std::env::var("ASKFIRST_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped: ASKFIRST_TEST_PG is not set (no PostgreSQL to compare with)");
        return;
    };

    // SQLite: a new file, migrated by the application, then read natively.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    let app = store::open(&Location::Sqlite(path.clone()))
        .await
        .expect("the SQLite migrations apply");
    app.close().await;
    let sqlite = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    let sqlite_facts = sqlite_schema(&sqlite)
        .await
        .expect("the SQLite schema reads");
    sqlite.close().await;

    // PostgreSQL: a new database on the test server, likewise.
    let admin_options =
        PgConnectOptions::from_str(&admin).expect("ASKFIRST_TEST_PG is a PostgreSQL URL");
    let admin_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin_options.clone())
        .await
        .expect("the test PostgreSQL server answers");
    let name = format!("schema_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&admin_pool)
        .await
        .expect("a test database is created");
    let options = admin_options.database(&name);
    let read = async {
        let url = options.to_url_lossy().to_string();
        let app = store::open(&Location::Postgres(url)).await?;
        app.close().await;
        let pg = PgPool::connect_with(options.clone()).await?;
        let facts = postgres_schema(&pg).await;
        pg.close().await;
        anyhow::Ok(facts?)
    }
    .await;
    // The database goes whatever happened (FORCE: with any connection a failure left open).
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&admin_pool)
        .await
        .unwrap();
    admin_pool.close().await;
    let postgres_facts = read.expect("the PostgreSQL migrations apply and the schema reads");

    // Both readers found the schema at all (an empty read on both sides would "match").
    for facts in [&sqlite_facts, &postgres_facts] {
        assert!(facts.contains("table audit_events"), "{facts:#?}");
    }

    let only_sqlite: Vec<&String> = sqlite_facts.difference(&postgres_facts).collect();
    let only_postgres: Vec<&String> = postgres_facts.difference(&sqlite_facts).collect();
    if !only_sqlite.is_empty() || !only_postgres.is_empty() {
        let mut report = String::from(
            "the SQLite and PostgreSQL schemas differ (migrations/sqlite vs migrations/postgres):\n",
        );
        for fact in only_sqlite {
            report += &format!("  only in SQLite:     {fact}\n");
        }
        for fact in only_postgres {
            report += &format!("  only in PostgreSQL: {fact}\n");
        }
        panic!("{report}");
    }
}

// ---------------------------------------------------------------------------------------
// The facts, worded the same for both backends.

/// A column at its 1-based position. Type classes: `integer`, `text`, `real`, `blob` (and
/// `boolean`, `numeric` for what should not be there).
fn column_fact(
    table: &str,
    position: usize,
    name: &str,
    class: &str,
    not_null: bool,
    has_default: bool,
) -> String {
    format!(
        "column {table} #{position} {name} {class}{}{}",
        if not_null { " not null" } else { "" },
        if has_default { " default" } else { "" },
    )
}

/// An index made by `CREATE [UNIQUE] INDEX`: by name, with whether it has a WHERE clause.
fn index_fact(name: &str, table: &str, columns: &str, unique: bool, partial: bool) -> String {
    format!(
        "{} {name} on {table} ({columns}){}",
        if unique { "unique index" } else { "index" },
        if partial { " partial" } else { "" },
    )
}

/// A declared type's class: PostgreSQL's types by name, SQLite's by its affinity rules
/// (<https://sqlite.org/datatype3.html>, section 3.1).
fn type_class(declared: &str) -> &'static str {
    let t = declared.to_lowercase();
    match t.as_str() {
        "bigint" | "integer" | "smallint" => "integer",
        "double precision" | "real" => "real",
        "bytea" => "blob",
        "text" => "text",
        "boolean" => "boolean",
        _ if t.contains("int") => "integer",
        _ if t.contains("char") || t.contains("clob") || t.contains("text") => "text",
        _ if t.is_empty() || t.contains("blob") => "blob",
        _ if t.contains("real") || t.contains("floa") || t.contains("doub") => "real",
        _ => "numeric",
    }
}

/// Whether `column` is a 0/1 flag: its table declares `CHECK (column IN (0, 1))`.
fn is_flag(create_table: &str, column: &str) -> bool {
    create_table.contains(&format!("CHECK ({column} IN (0, 1))"))
}

/// How many CHECK constraints (table- or column-level) a CREATE TABLE declares: its
/// `CHECK (` occurrences outside `--` comments, but for a flag's `IN (0, 1)` (PostgreSQL's
/// BOOLEAN needs none).
fn count_checks(create_table: &str) -> usize {
    let mut count = 0;
    for line in create_table.lines() {
        let code = line.split("--").next().unwrap_or_default().to_uppercase();
        for (at, keyword) in code.match_indices("CHECK") {
            let rest = code[at + keyword.len()..].trim_start();
            let flag = rest
                .split_once(')')
                .is_some_and(|(inside, _)| inside.ends_with(" IN (0, 1"));
            if rest.starts_with('(') && !flag {
                count += 1;
            }
        }
    }
    count
}

// ---------------------------------------------------------------------------------------
// SQLite: sqlite_master and the table-valued pragmas.

const SQLITE_TABLES: &str = r#"
    SELECT name, sql FROM sqlite_master
    WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> '_sqlx_migrations'
    ORDER BY name"#;

/// Name, declared type, NOT NULL, has a default, position in the primary key (0: none).
const SQLITE_COLUMNS: &str = r#"
    SELECT name, type, "notnull", dflt_value IS NOT NULL, pk
    FROM pragma_table_info($1) ORDER BY cid"#;

/// One row per column of each foreign key; `to` is NULL for `REFERENCES t` without columns.
const SQLITE_FOREIGN_KEYS: &str = r#"
    SELECT id, "table", "from", "to", on_delete
    FROM pragma_foreign_key_list($1) ORDER BY id, seq"#;

/// Origin `c`: CREATE INDEX; `u`: a UNIQUE constraint; `pk`: the primary key.
const SQLITE_INDEXES: &str = r#"
    SELECT name, "unique", origin, partial FROM pragma_index_list($1) ORDER BY name"#;

/// An index's key columns in order (NULL for an expression).
const SQLITE_INDEX_COLUMNS: &str = r#"
    SELECT name FROM pragma_index_info($1) ORDER BY seqno"#;

const SQLITE_TRIGGERS: &str = r#"
    SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1 ORDER BY name"#;

/// One foreign key, gathered from its rows (one per column) in `pragma_foreign_key_list`.
struct SqliteForeignKey {
    target: String,
    from: Vec<String>,
    /// `None` where the key names no target columns (`REFERENCES t`: t's primary key).
    to: Vec<Option<String>>,
    on_delete: String,
}

async fn sqlite_schema(db: &SqlitePool) -> sqlx::Result<Facts> {
    let mut facts = Facts::new();
    let tables = sqlx::query_as::<_, (String, String)>(SQLITE_TABLES)
        .fetch_all(db)
        .await?;
    for (table, create_table) in tables {
        facts.insert(format!("table {table}"));

        let columns = sqlx::query_as::<_, (String, String, i64, i64, i64)>(SQLITE_COLUMNS)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for (index, (name, declared, not_null, has_default, key)) in columns.iter().enumerate() {
            // A 0/1 flag (a STRICT table has no BOOLEAN) is PostgreSQL's BOOLEAN.
            let class = if is_flag(&create_table, name) {
                "boolean"
            } else {
                type_class(declared)
            };
            // A key column never holds NULL: PostgreSQL says so, and SQLite's INTEGER
            // PRIMARY KEY (which it reports as nullable) assigns a rowid instead.
            facts.insert(column_fact(
                &table,
                index + 1,
                name,
                class,
                *not_null != 0 || *key > 0,
                *has_default != 0,
            ));
        }
        let key = sqlite_primary_key(db, &table).await?;
        if !key.is_empty() {
            facts.insert(format!("primary key {table} ({})", key.join(", ")));
        }

        // Grouped by foreign key, columns in order.
        let rows =
            sqlx::query_as::<_, (i64, String, String, Option<String>, String)>(SQLITE_FOREIGN_KEYS)
                .bind(&table)
                .fetch_all(db)
                .await?;
        let mut foreign_keys: BTreeMap<i64, SqliteForeignKey> = BTreeMap::new();
        for (id, target, from, to, on_delete) in rows {
            let key = foreign_keys.entry(id).or_insert_with(|| SqliteForeignKey {
                target,
                from: Vec::new(),
                to: Vec::new(),
                on_delete,
            });
            key.from.push(from);
            key.to.push(to);
        }
        for key in foreign_keys.into_values() {
            let to = if key.to.iter().all(Option::is_some) {
                key.to.into_iter().flatten().collect()
            } else {
                sqlite_primary_key(db, &key.target).await?
            };
            facts.insert(format!(
                "foreign key {table} ({}) -> {} ({}) on delete {}",
                key.from.join(", "),
                key.target,
                to.join(", "),
                key.on_delete,
            ));
        }

        facts.insert(format!("checks {table} {}", count_checks(&create_table)));

        let indexes = sqlx::query_as::<_, (String, i64, String, i64)>(SQLITE_INDEXES)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for (name, unique, origin, partial) in indexes {
            if origin == "pk" {
                continue; // the primary key, compared above
            }
            let columns = sqlx::query_scalar::<_, Option<String>>(SQLITE_INDEX_COLUMNS)
                .bind(&name)
                .fetch_all(db)
                .await?
                .into_iter()
                .map(|column| column.unwrap_or_else(|| "<expression>".into()))
                .collect::<Vec<_>>()
                .join(", ");
            if origin == "u" {
                // `sqlite_autoindex_*`: named by SQLite, so compared by its columns.
                facts.insert(format!("unique constraint {table} ({columns})"));
            } else {
                facts.insert(index_fact(
                    &name,
                    &table,
                    &columns,
                    unique != 0,
                    partial != 0,
                ));
            }
        }

        let triggers = sqlx::query_scalar::<_, String>(SQLITE_TRIGGERS)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for name in triggers {
            facts.insert(format!("trigger {name} on {table}"));
        }

        // Seed rows (a fresh database holds only what the migrations inserted).
        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(db)
            .await?;
        facts.insert(format!("rows {table} {rows}"));
    }
    Ok(facts)
}

/// A table's primary key columns, in key order.
async fn sqlite_primary_key(db: &SqlitePool, table: &str) -> sqlx::Result<Vec<String>> {
    let mut key: Vec<(i64, String)> =
        sqlx::query_as::<_, (String, String, i64, i64, i64)>(SQLITE_COLUMNS)
            .bind(table)
            .fetch_all(db)
            .await?
            .into_iter()
            .filter(|column| column.4 > 0)
            .map(|(name, _, _, _, position)| (position, name))
            .collect();
    key.sort();
    Ok(key.into_iter().map(|(_, name)| name).collect())
}

// ---------------------------------------------------------------------------------------
// PostgreSQL: the pg_catalog tables of the current schema.

const PG_TABLES: &str = r#"
    SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      AND c.relname <> '_sqlx_migrations'
    ORDER BY 1"#;

/// Name, type, NOT NULL, has a default, position in the primary key (0: none).
const PG_COLUMNS: &str = r#"
    SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
           COALESCE(k.ord, 0)::bigint
    FROM pg_attribute a
    LEFT JOIN pg_constraint p ON p.conrelid = a.attrelid AND p.contype = 'p'
    LEFT JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord) ON k.attnum = a.attnum
    WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum"#;

/// Target table, columns, target columns, ON DELETE action.
const PG_FOREIGN_KEYS: &str = r#"
    SELECT c.confrelid::regclass::text,
           (SELECT string_agg(a.attname::text, ', ' ORDER BY k.ord)
            FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
           (SELECT string_agg(a.attname::text, ', ' ORDER BY k.ord)
            FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum),
           CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
               WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' END
    FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'f'
    ORDER BY c.conname"#;

const PG_CHECKS: &str = r#"
    SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'c'"#;

/// Name, unique, primary key, partial, backs a UNIQUE constraint, key columns in order.
const PG_INDEXES: &str = r#"
    SELECT i.relname::text, x.indisunique, x.indisprimary, x.indpred IS NOT NULL,
           EXISTS (SELECT 1 FROM pg_constraint c
                   WHERE c.conrelid = x.indrelid AND c.conindid = x.indexrelid
                     AND c.contype IN ('u', 'x')),
           (SELECT string_agg(COALESCE(a.attname::text, '<expression>'), ', ' ORDER BY k.ord)
            FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
            LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
            WHERE k.ord <= x.indnkeyatts)
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = $1::regclass
    ORDER BY 1"#;

/// Triggers written by hand (not the ones that enforce foreign keys).
const PG_TRIGGERS: &str = r#"
    SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal
    ORDER BY 1"#;

async fn postgres_schema(db: &PgPool) -> sqlx::Result<Facts> {
    let mut facts = Facts::new();
    let tables = sqlx::query_scalar::<_, String>(PG_TABLES)
        .fetch_all(db)
        .await?;
    for table in tables {
        facts.insert(format!("table {table}"));

        let columns = sqlx::query_as::<_, (String, String, bool, bool, i64)>(PG_COLUMNS)
            .bind(&table)
            .fetch_all(db)
            .await?;
        let mut key = Vec::new();
        for (index, (name, declared, not_null, has_default, position)) in
            columns.into_iter().enumerate()
        {
            facts.insert(column_fact(
                &table,
                index + 1,
                &name,
                type_class(&declared),
                not_null,
                has_default,
            ));
            if position > 0 {
                key.push((position, name));
            }
        }
        key.sort();
        if !key.is_empty() {
            let key: Vec<String> = key.into_iter().map(|(_, name)| name).collect();
            facts.insert(format!("primary key {table} ({})", key.join(", ")));
        }

        let foreign_keys = sqlx::query_as::<_, (String, String, String, String)>(PG_FOREIGN_KEYS)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for (target, from, to, on_delete) in foreign_keys {
            facts.insert(format!(
                "foreign key {table} ({from}) -> {target} ({to}) on delete {on_delete}"
            ));
        }

        let checks: i64 = sqlx::query_scalar(PG_CHECKS)
            .bind(&table)
            .fetch_one(db)
            .await?;
        facts.insert(format!("checks {table} {checks}"));

        let indexes = sqlx::query_as::<_, (String, bool, bool, bool, bool, String)>(PG_INDEXES)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for (name, unique, primary, partial, constraint, columns) in indexes {
            if primary {
                continue; // the primary key, compared above
            }
            if constraint {
                // Named by PostgreSQL (`<table>_<column>_key`), so compared by its columns.
                facts.insert(format!("unique constraint {table} ({columns})"));
            } else {
                facts.insert(index_fact(&name, &table, &columns, unique, partial));
            }
        }

        let triggers = sqlx::query_scalar::<_, String>(PG_TRIGGERS)
            .bind(&table)
            .fetch_all(db)
            .await?;
        for name in triggers {
            facts.insert(format!("trigger {name} on {table}"));
        }

        let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .fetch_one(db)
            .await?;
        facts.insert(format!("rows {table} {rows}"));
    }
    Ok(facts)
}
