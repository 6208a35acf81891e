//! Copying a whole database into a new, empty one (`askfirst db copy`): SQLite to
//! PostgreSQL, or either backend to either. Tables, columns, primary and foreign keys are
//! read from both catalogs at run time; rows go across generically, value by value, in
//! foreign-key order and in batches, read from one snapshot of the source and written in
//! one destination transaction, which is committed only once every table's row count
//! matches and the copied audit chain verifies: a failure leaves the destination empty.

use super::audit::{self, Verification};
use super::{Backend, Conn, Location, Pool};
use anyhow::{anyhow, bail, Context as _};
use sqlx::{Row as _, TypeInfo as _, ValueRef as _};
use std::collections::{BTreeMap, BTreeSet};

/// Tables of one row saying how far a reader of the audit log got (a migration seeds
/// `insight_state`; a server writes `notify_cursor` on first use). A new database may
/// already hold them — pointing into its empty log — so they do not make the destination
/// "not empty"; the source's rows replace them.
const SINGLETONS: &[&str] = &["insight_state", "notify_cursor"];

/// At most this many rows per page read from the source and per statement written.
const MAX_BATCH: usize = 512;

/// At most this many bound values per statement (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_PARAMS: usize = 30_000;

/// How a column's values are bound when they need a type (NULLs): the classes both
/// backends share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Integer,
    Real,
    Text,
    Blob,
    Boolean,
}

impl Class {
    /// An SQLite declared type's class, by its affinity rules
    /// (<https://sqlite.org/datatype3.html>, section 3.1); `None` for NUMERIC affinity.
    fn of_sqlite(declared: &str) -> Option<Self> {
        let t = declared.to_ascii_uppercase();
        if t.contains("INT") {
            Some(Self::Integer)
        } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
            Some(Self::Text)
        } else if t.is_empty() || t.contains("BLOB") {
            Some(Self::Blob)
        } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
            Some(Self::Real)
        } else {
            None
        }
    }

    /// A PostgreSQL type's class (`information_schema.columns.data_type`); `None` for a
    /// type not copied.
    fn of_postgres(data_type: &str) -> Option<Self> {
        match data_type {
            "bigint" | "integer" | "smallint" => Some(Self::Integer),
            "double precision" | "real" => Some(Self::Real),
            "text" | "character varying" | "character" => Some(Self::Text),
            "bytea" => Some(Self::Blob),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    /// Whether values of `from` are copied into a column of this class: the same class,
    /// or a 0/1 flag (SQLite's INTEGER) and a BOOLEAN (PostgreSQL's) either way.
    fn copies(self, from: Self) -> bool {
        use Class::{Boolean, Integer};
        self == from || matches!((self, from), (Integer, Boolean) | (Boolean, Integer))
    }

    fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Real => "real",
            Self::Text => "text",
            Self::Blob => "blob",
            Self::Boolean => "boolean",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub class: Class,
    pub nullable: bool,
    /// Its values come from a sequence (PostgreSQL identity or serial columns), which is
    /// moved past the copied values.
    pub identity: bool,
}

/// A foreign key: these columns of a table point at `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub target: String,
}

/// One table, as the catalog describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// In the table's order.
    pub columns: Vec<Column>,
    /// In the key's order; every table copied needs one (rows are read in its order).
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Every table of a database but sqlx's migration bookkeeping, by name.
pub type Schema = BTreeMap<String, Table>;

/// How far the copy got, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// `copied` of `total` rows of `table` are in the destination.
    Rows {
        table: &'a str,
        copied: u64,
        total: u64,
    },
    /// A step besides copying rows, in words.
    Step(&'a str),
}

/// What a finished copy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Every table with its row count (the same on both sides), in the order filled.
    pub tables: Vec<(String, u64)>,
    /// The audit events in the copied chain, which verified.
    pub audit_events: u64,
}

impl Copied {
    /// All rows copied.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// The order to fill tables in so that each row's foreign keys point at rows already
/// there, and the foreign keys that close a cycle: those are filled in afterwards (their
/// columns are written NULL first), so all of their columns must be nullable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub order: Vec<String>,
    /// Table → the columns written NULL at first and filled in once every table is full.
    pub deferred: BTreeMap<String, Vec<String>>,
}

/// Plans the fill order from the foreign-key graph of `schema` (see [`Plan`]): a table
/// comes once every table it points at is in (ties by name); where none can come, a
/// foreign key on a cycle whose columns are all nullable is deferred.
pub fn plan(schema: &Schema) -> anyhow::Result<Plan> {
    let mut remaining: BTreeSet<&str> = schema.keys().map(String::as_str).collect();
    let mut deferred_keys: BTreeSet<(&str, usize)> = BTreeSet::new();
    let mut order = Vec::with_capacity(schema.len());
    /// Whether key `i` of `table` still orders tables: not deferred, and pointing at a
    /// table not yet in.
    fn live<'a>(
        remaining: &BTreeSet<&'a str>,
        deferred: &BTreeSet<(&'a str, usize)>,
        table: &'a str,
        i: usize,
        fk: &ForeignKey,
    ) -> bool {
        remaining.contains(fk.target.as_str()) && !deferred.contains(&(table, i))
    }
    while !remaining.is_empty() {
        let ready = remaining.iter().copied().find(|table| {
            !schema[*table]
                .foreign_keys
                .iter()
                .enumerate()
                .any(|(i, fk)| live(&remaining, &deferred_keys, table, i, fk))
        });
        if let Some(table) = ready {
            order.push(table.to_string());
            remaining.remove(table);
            continue;
        }
        // Every table left waits for another: a cycle. Defer one of its nullable keys.
        let reaches = |from: &str, to: &str| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(t) = stack.pop() {
                if t == to {
                    return true;
                }
                if !seen.insert(t) {
                    continue;
                }
                for (i, fk) in schema[t].foreign_keys.iter().enumerate() {
                    if live(&remaining, &deferred_keys, t, i, fk) {
                        stack.push(fk.target.as_str());
                    }
                }
            }
            false
        };
        let candidate = remaining.iter().copied().find_map(|table| {
            let t = &schema[table];
            t.foreign_keys.iter().enumerate().find_map(|(i, fk)| {
                let nullable = fk
                    .columns
                    .iter()
                    .all(|c| t.column(c).is_some_and(|c| c.nullable));
                (live(&remaining, &deferred_keys, table, i, fk)
                    && nullable
                    && reaches(&fk.target, table))
                .then_some((table, i))
            })
        });
        match candidate {
            Some(key) => {
                deferred_keys.insert(key);
            }
            None => bail!(
                "the foreign keys among the tables {} form a cycle with no nullable column to \
                 fill in afterwards",
                remaining.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let mut deferred: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, i) in deferred_keys {
        let columns = deferred.entry(table.to_string()).or_default();
        for column in &schema[table].foreign_keys[i].columns {
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
    }
    Ok(Plan { order, deferred })
}

/// Whether two opened locations are one database: the same file (through any path or
/// link), or the same database of the same running PostgreSQL server.
pub async fn same_database(
    first: &Location,
    first_pool: &Pool,
    second: &Location,
    second_pool: &Pool,
) -> anyhow::Result<bool> {
    match (first, second) {
        (Location::Sqlite(a), Location::Sqlite(b)) => Ok(same_file(a, b)),
        (Location::Postgres(_), Location::Postgres(_)) => {
            // The database's name on the server started at that instant.
            const IDENTITY: &str = "SELECT CAST(current_database() AS TEXT) || ' ' || \
                                    CAST(pg_postmaster_start_time() AS TEXT)";
            let a: String = on!(first_pool, |cn| sqlx::query_scalar(IDENTITY)
                .fetch_one(cn)
                .await)?;
            let b: String = on!(second_pool, |cn| sqlx::query_scalar(IDENTITY)
                .fetch_one(cn)
                .await)?;
            Ok(a == b)
        }
        _ => Ok(false),
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return a.dev() == b.dev() && a.ino() == b.ino();
        }
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Copies every row of `from` into `to`, which must be empty (but for [`SINGLETONS`]),
/// checking the audit chain on both sides with `key` (the `--audit-key-file`, if the log
/// is keyed). Both are migrated to the same schema already ([`super::open`]).
pub async fn copy(
    from: &Pool,
    to: &Pool,
    key: Option<&[u8]>,
    mut progress: impl FnMut(Progress<'_>),
) -> anyhow::Result<Copied> {
    let source = read_schema(&mut *from.acquire().await?)
        .await
        .context("reading the source's tables")?;
    let dest = read_schema(&mut *to.acquire().await?)
        .await
        .context("reading the destination's tables")?;
    compare(&source, &dest)?;
    let plan = plan(&dest)?;
    if let Some((name, _)) = source.iter().find(|(_, t)| t.primary_key.is_empty()) {
        bail!("table `{name}` has no primary key: its rows cannot be read in batches");
    }

    // One snapshot of the source, however long the copy takes.
    let mut src = match Backend::of(from) {
        Backend::Sqlite => from.begin().await?,
        Backend::Postgres => {
            from.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?
        }
    };
    let mut dst = super::write_tx(to)
        .await
        .context("starting the destination's transaction")?;

    let filled: Vec<String> = filled_tables(&mut dst, &plan.order)
        .await?
        .iter()
        .map(|t| format!("`{t}`"))
        .collect();
    if let Some((last, rest)) = filled.split_last() {
        let listed = if rest.is_empty() {
            format!("table {last} has")
        } else {
            format!("tables {} and {last} have", rest.join(", "))
        };
        bail!(
            "the destination is not empty: {listed} rows. Copy into a new, empty database; \
             nothing was changed"
        );
    }

    progress(Progress::Step("verifying the source's audit chain"));
    if let Verification::Broken { id, reason } = audit::verify(&mut src, key, None).await? {
        bail!(
            "the source's audit log does not verify at event {id} ({reason}); nothing was \
             copied"
        );
    }

    for table in SINGLETONS.iter().filter(|t| dest.contains_key(**t)) {
        on!(&mut *dst, |cn| sqlx::query(&format!(
            "DELETE FROM {}",
            quoted(table)
        ))
        .execute(cn)
        .await
        .map(super::Done::from))?;
    }

    let mut tables = Vec::with_capacity(plan.order.len());
    for name in &plan.order {
        let total = count(&mut src, name).await?;
        let deferred = plan.deferred.get(name).map_or(&[][..], Vec::as_slice);
        let copied = copy_table(
            &mut src,
            &mut dst,
            name,
            (&source[name], &dest[name]),
            deferred,
            total,
            &mut progress,
        )
        .await
        .with_context(|| format!("copying table `{name}`"))?;
        if copied != total {
            bail!("table `{name}`: read {copied} rows of {total}");
        }
        tables.push((name.clone(), total));
    }

    for (name, columns) in &plan.deferred {
        progress(Progress::Step(&format!(
            "filling in {name}.{}",
            columns.join(", ")
        )));
        fill_in(&mut src, &mut dst, name, &dest[name], columns)
            .await
            .with_context(|| format!("filling in `{name}`"))?;
    }

    if Backend::of(to) == Backend::Postgres {
        progress(Progress::Step(
            "moving the id sequences past the copied ids",
        ));
        reset_sequences(&mut dst, &dest).await?;
    }

    progress(Progress::Step("counting the copied rows"));
    for (name, expected) in &tables {
        let found = count(&mut dst, name).await?;
        if found != *expected {
            bail!(
                "table `{name}` holds {found} rows after the copy, not {expected}; nothing \
                 was copied"
            );
        }
    }
    progress(Progress::Step("verifying the copied audit chain"));
    let audit_events = match audit::verify(&mut dst, key, None).await? {
        Verification::Intact { events } => events,
        Verification::Broken { id, reason } => bail!(
            "the copied audit log does not verify at event {id} ({reason}); nothing was copied"
        ),
    };
    src.rollback().await?;
    dst.commit().await.context("committing the copy")?;
    Ok(Copied {
        tables,
        audit_events,
    })
}

/// `name` as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `names`, quoted, comma-separated.
fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}

/// `$from, $from+1, …` for `n` values, in parentheses.
fn placeholders(from: usize, n: usize) -> String {
    let marks: Vec<String> = (from..from + n).map(|i| format!("${i}")).collect();
    format!("({})", marks.join(", "))
}

/// Rows per statement for `width` values each: a power of two within both limits.
fn batch_rows(width: usize) -> usize {
    let cap = (MAX_PARAMS / width.max(1)).clamp(1, MAX_BATCH);
    1 << cap.ilog2()
}

async fn count(conn: &mut Conn, table: &str) -> anyhow::Result<u64> {
    let n: i64 = on!(&mut *conn, |cn| sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {}",
        quoted(table)
    ))
    .fetch_one(cn)
    .await)
    .with_context(|| format!("counting the rows of `{table}`"))?;
    Ok(n.try_into().unwrap_or_default())
}

/// The tables among `tables` that hold a row (but for [`SINGLETONS`]).
async fn filled_tables(conn: &mut Conn, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut filled = Vec::new();
    for table in tables.iter().filter(|t| !SINGLETONS.contains(&t.as_str())) {
        let row = on!(&mut *conn, |cn| sqlx::query(&format!(
            "SELECT 1 FROM {} LIMIT 1",
            quoted(table)
        ))
        .fetch_optional(cn)
        .await
        .map(|row| row.is_some()))?;
        if row {
            filled.push(table.clone());
        }
    }
    Ok(filled)
}

/// Fails, listing every difference, unless both sides have the same tables and columns.
fn compare(source: &Schema, dest: &Schema) -> anyhow::Result<()> {
    let mut differences = Vec::new();
    for name in source.keys().filter(|n| !dest.contains_key(*n)) {
        differences.push(format!("table `{name}` is only in the source"));
    }
    for name in dest.keys().filter(|n| !source.contains_key(*n)) {
        differences.push(format!("table `{name}` is only in the destination"));
    }
    for (name, s) in source {
        let Some(d) = dest.get(name) else { continue };
        for c in &s.columns {
            match d.column(&c.name) {
                None => {
                    differences.push(format!("column `{name}.{}` is only in the source", c.name))
                }
                Some(dc) if !dc.class.copies(c.class) => differences.push(format!(
                    "column `{name}.{}` is {} in the source but {} in the destination",
                    c.name,
                    c.class.name(),
                    dc.class.name()
                )),
                Some(_) => {}
            }
        }
        for c in d.columns.iter().filter(|c| s.column(&c.name).is_none()) {
            differences.push(format!(
                "column `{name}.{}` is only in the destination",
                c.name
            ));
        }
    }
    if !differences.is_empty() {
        bail!(
            "the two databases' schemas differ (is one of them from another version of \
             askfirst?):\n  {}",
            differences.join("\n  ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading the catalogs.

async fn read_schema(conn: &mut Conn) -> anyhow::Result<Schema> {
    match Backend::of_conn(conn) {
        Backend::Sqlite => sqlite_schema(conn).await,
        Backend::Postgres => postgres_schema(conn).await,
    }
}

const SQLITE_TABLES: &str = r#"
    SELECT name FROM sqlite_master
    WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> '_sqlx_migrations'
    ORDER BY name"#;

/// Name, declared type, NOT NULL, position in the primary key (0: none).
const SQLITE_COLUMNS: &str = r#"
    SELECT name, type, "notnull", pk FROM pragma_table_info($1) ORDER BY cid"#;

/// One row per column of each foreign key.
const SQLITE_FOREIGN_KEYS: &str = r#"
    SELECT id, "table", "from" FROM pragma_foreign_key_list($1) ORDER BY id, seq"#;

async fn sqlite_schema(conn: &mut Conn) -> anyhow::Result<Schema> {
    let names: Vec<String> = on!(&mut *conn, |cn| sqlx::query_scalar(SQLITE_TABLES)
        .fetch_all(cn)
        .await)?;
    let mut schema = Schema::new();
    for name in names {
        let rows: Vec<(String, String, i64, i64)> =
            on!(&mut *conn, |cn| sqlx::query_as(SQLITE_COLUMNS)
                .bind(&name)
                .fetch_all(cn)
                .await)?;
        let mut table = Table::default();
        let mut key = Vec::new();
        for (column, declared, not_null, pk) in rows {
            let class = Class::of_sqlite(&declared).ok_or_else(|| {
                anyhow!("column `{name}.{column}` has the type `{declared}`, which is not copied")
            })?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            table.columns.push(Column {
                name: column,
                class,
                nullable: not_null == 0 && pk == 0,
                identity: false,
            });
        }
        key.sort();
        table.primary_key = key.into_iter().map(|(_, c)| c).collect();
        let rows: Vec<(i64, String, String)> =
            on!(&mut *conn, |cn| sqlx::query_as(SQLITE_FOREIGN_KEYS)
                .bind(&name)
                .fetch_all(cn)
                .await)?;
        let mut keys: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for (id, target, column) in rows {
            keys.entry(id)
                .or_insert_with(|| ForeignKey {
                    columns: Vec::new(),
                    target,
                })
                .columns
                .push(column);
        }
        table.foreign_keys = keys.into_values().collect();
        schema.insert(name, table);
    }
    Ok(schema)
}

/// Table, column, type, nullable (`YES`/`NO`), a sequence's column (identity or serial).
const POSTGRES_COLUMNS: &str = "
    SELECT CAST(c.table_name AS TEXT), CAST(c.column_name AS TEXT), CAST(c.data_type AS TEXT),
           CAST(c.is_nullable AS TEXT),
           (c.is_identity = 'YES' OR COALESCE(c.column_default, '') LIKE 'nextval(%')
    FROM information_schema.columns c
    JOIN information_schema.tables t
      ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
      AND c.table_name <> '_sqlx_migrations'
    ORDER BY c.table_name, c.ordinal_position";

/// Table and column of each primary key, in the key's order.
const POSTGRES_PRIMARY_KEYS: &str = "
    SELECT CAST(k.table_name AS TEXT), CAST(k.column_name AS TEXT)
    FROM information_schema.table_constraints c
    JOIN information_schema.key_column_usage k
      ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
     AND k.table_name = c.table_name
    WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema()
    ORDER BY k.table_name, k.ordinal_position";

/// Constraint, table, target table and column: one row per column of each foreign key.
const POSTGRES_FOREIGN_KEYS: &str = "
    SELECT CAST(k.conname AS TEXT), CAST(s.relname AS TEXT), CAST(t.relname AS TEXT),
           CAST(a.attname AS TEXT)
    FROM pg_constraint k
    JOIN pg_class s ON s.oid = k.conrelid
    JOIN pg_class t ON t.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
    WHERE k.contype = 'f' AND n.nspname = current_schema()
    ORDER BY s.relname, k.conname, array_position(k.conkey, a.attnum)";

async fn postgres_schema(conn: &mut Conn) -> anyhow::Result<Schema> {
    let mut schema = Schema::new();
    let rows: Vec<(String, String, String, String, bool)> =
        on!(&mut *conn, |cn| sqlx::query_as(POSTGRES_COLUMNS)
            .fetch_all(cn)
            .await)?;
    for (table, column, data_type, nullable, identity) in rows {
        let class = Class::of_postgres(&data_type).ok_or_else(|| {
            anyhow!("column `{table}.{column}` has the type `{data_type}`, which is not copied")
        })?;
        schema.entry(table).or_default().columns.push(Column {
            name: column,
            class,
            nullable: nullable == "YES",
            identity,
        });
    }
    let rows: Vec<(String, String)> = on!(&mut *conn, |cn| sqlx::query_as(POSTGRES_PRIMARY_KEYS)
        .fetch_all(cn)
        .await)?;
    for (table, column) in rows {
        if let Some(t) = schema.get_mut(&table) {
            t.primary_key.push(column);
        }
    }
    let rows: Vec<(String, String, String, String)> =
        on!(&mut *conn, |cn| sqlx::query_as(POSTGRES_FOREIGN_KEYS)
            .fetch_all(cn)
            .await)?;
    let mut keys: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for (constraint, table, target, column) in rows {
        keys.entry((table, constraint))
            .or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                target,
            })
            .columns
            .push(column);
    }
    for ((table, _), key) in keys {
        if let Some(t) = schema.get_mut(&table) {
            t.foreign_keys.push(key);
        }
    }
    Ok(schema)
}

// ---------------------------------------------------------------------------------------
// Moving rows.

/// One value read from a row: every kind both backends share.
#[derive(Debug, Clone)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// A row of either backend, read value by value.
trait ReadValues {
    /// Column `i`, by the type of the value itself.
    fn value(&self, i: usize) -> anyhow::Result<Value>;
}

/// A statement of either backend, bound value by value.
trait BindValues: Sized {
    /// Binds the value for a column of `class` (NULLs typed by it; integers widened to
    /// reals and 0/1 to booleans where the column wants that).
    fn value(self, value: Value, class: Class) -> Self;
    /// Binds the value as it was read (a NULL as a text NULL).
    fn bound_as_read(self, value: Value) -> Self;
}

macro_rules! values_of {
    ($db:ty, $row:ty) => {
        impl ReadValues for $row {
            fn value(&self, i: usize) -> anyhow::Result<Value> {
                let raw = self.try_get_raw(i)?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                let kind = raw.type_info().name().to_string();
                let value = match kind.as_str() {
                    // SQLite's storage classes; PostgreSQL's types.
                    "INTEGER" | "INT8" => self.try_get(i).map(Value::Int),
                    "INT4" => self.try_get::<i32, _>(i).map(|v| Value::Int(v.into())),
                    "INT2" => self.try_get::<i16, _>(i).map(|v| Value::Int(v.into())),
                    "REAL" | "FLOAT8" => self.try_get(i).map(Value::Real),
                    "FLOAT4" => self.try_get::<f32, _>(i).map(|v| Value::Real(v.into())),
                    "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => self.try_get(i).map(Value::Text),
                    "BLOB" | "BYTEA" => self.try_get(i).map(Value::Blob),
                    "BOOL" | "BOOLEAN" => self.try_get(i).map(Value::Bool),
                    _ => bail!("column {i} has the type {kind}, which is not copied"),
                };
                value.map_err(|e| anyhow!("reading column {i} ({kind}): {e}"))
            }
        }

        impl<'q> BindValues
            for sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>
        {
            fn value(self, value: Value, class: Class) -> Self {
                match (value, class) {
                    (Value::Null, Class::Integer) => self.bind(None::<i64>),
                    (Value::Null, Class::Real) => self.bind(None::<f64>),
                    (Value::Null, Class::Text) => self.bind(None::<String>),
                    (Value::Null, Class::Blob) => self.bind(None::<Vec<u8>>),
                    (Value::Null, Class::Boolean) => self.bind(None::<bool>),
                    (Value::Int(i), Class::Real) => self.bind(i as f64),
                    (Value::Int(i), Class::Boolean) => self.bind(i != 0),
                    (Value::Bool(b), Class::Integer) => self.bind(i64::from(b)),
                    (value, _) => self.bound_as_read(value),
                }
            }

            fn bound_as_read(self, value: Value) -> Self {
                match value {
                    Value::Null => self.bind(None::<String>),
                    Value::Int(i) => self.bind(i),
                    Value::Real(r) => self.bind(r),
                    Value::Text(t) => self.bind(t),
                    Value::Blob(b) => self.bind(b),
                    Value::Bool(b) => self.bind(b),
                }
            }
        }
    };
}
values_of!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
values_of!(sqlx::Postgres, sqlx::postgres::PgRow);

/// Reads `table`'s rows in primary-key order, `batch` at a time: the first page with
/// `after = None`, then each after the key of the last row read. `filter` narrows it.
async fn page(
    conn: &mut Conn,
    table: &str,
    columns: &[&str],
    key: &[String],
    filter: Option<&str>,
    after: Option<&[Value]>,
    batch: usize,
) -> anyhow::Result<Vec<Vec<Value>>> {
    let key_list = quoted_list(key.iter().map(String::as_str));
    let mut conditions: Vec<String> = filter.map(|f| format!("({f})")).into_iter().collect();
    if after.is_some() {
        conditions.push(format!("({key_list}) > {}", placeholders(1, key.len())));
    }
    let sql = format!(
        "SELECT {} FROM {}{} ORDER BY {key_list} LIMIT {batch}",
        quoted_list(columns.iter().copied()),
        quoted(table),
        if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        },
    );
    on!(conn, |cn| {
        let mut query = sqlx::query(&sql);
        for value in after.unwrap_or_default() {
            query = query.bound_as_read(value.clone());
        }
        let rows = query.fetch_all(cn).await?;
        rows.iter()
            .map(|row| (0..row.len()).map(|i| row.value(i)).collect())
            .collect()
    })
}

/// The values of `key` (by position in `columns`) in `row`.
fn key_of(row: &[Value], columns: &[&str], key: &[String]) -> Vec<Value> {
    key.iter()
        .filter_map(|k| columns.iter().position(|c| c == k))
        .map(|i| row[i].clone())
        .collect()
}

/// Copies one table's rows (with the `deferred` columns NULL); returns how many.
async fn copy_table(
    src: &mut Conn,
    dst: &mut Conn,
    name: &str,
    (source, dest): (&Table, &Table),
    deferred: &[String],
    total: u64,
    progress: &mut impl FnMut(Progress<'_>),
) -> anyhow::Result<u64> {
    let columns: Vec<&str> = source.columns.iter().map(|c| c.name.as_str()).collect();
    // The destination's class of each column (both sides have the same, by `compare`),
    // and whether it waits to be filled in.
    let targets: Vec<(Class, bool)> = source
        .columns
        .iter()
        .map(|c| {
            let class = dest.column(&c.name).map_or(c.class, |d| d.class);
            (class, deferred.contains(&c.name))
        })
        .collect();
    let overriding =
        if Backend::of_conn(dst) == Backend::Postgres && dest.columns.iter().any(|c| c.identity) {
            // A no-op for BY DEFAULT identity columns; needed for GENERATED ALWAYS ones.
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
    let insert = format!(
        "INSERT INTO {} ({}){overriding} VALUES ",
        quoted(name),
        quoted_list(columns.iter().copied())
    );
    let batch = batch_rows(columns.len());
    let mut copied = 0u64;
    progress(Progress::Rows {
        table: name,
        copied,
        total,
    });
    let mut after: Option<Vec<Value>> = None;
    loop {
        let rows = page(
            src,
            name,
            &columns,
            &source.primary_key,
            None,
            after.as_deref(),
            batch,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = Some(key_of(last, &columns, &source.primary_key));
        let read = rows.len();
        let sizes: Vec<usize> = super::power_of_two_chunks(&rows, batch)
            .iter()
            .map(|c| c.len())
            .collect();
        let mut rows = rows.into_iter();
        for size in sizes {
            let mut sql = insert.clone();
            for r in 0..size {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&placeholders(1 + r * columns.len(), columns.len()));
            }
            let chunk: Vec<Vec<Value>> = rows.by_ref().take(size).collect();
            on!(&mut *dst, |cn| {
                let mut query = sqlx::query(&sql);
                for row in chunk {
                    for (value, &(class, later)) in row.into_iter().zip(&targets) {
                        let value = if later { Value::Null } else { value };
                        query = BindValues::value(query, value, class);
                    }
                }
                query.execute(cn).await.map(super::Done::from)
            })?;
        }
        copied += read as u64;
        progress(Progress::Rows {
            table: name,
            copied,
            total,
        });
        if read < batch {
            break;
        }
    }
    Ok(copied)
}

/// Fills in the deferred `columns` of `table` from the source, where they are not NULL.
async fn fill_in(
    src: &mut Conn,
    dst: &mut Conn,
    table: &str,
    dest: &Table,
    columns: &[String],
) -> anyhow::Result<()> {
    let key = &dest.primary_key;
    let read: Vec<&str> = key.iter().chain(columns).map(String::as_str).collect();
    let classes: Vec<Class> = read
        .iter()
        .map(|c| dest.column(c).map_or(Class::Text, |c| c.class))
        .collect();
    let filter = columns
        .iter()
        .map(|c| format!("{} IS NOT NULL", quoted(c)))
        .collect::<Vec<_>>()
        .join(" OR ");
    // UPDATE t SET c = v.column3 FROM (VALUES ($1, $2, $3), …) AS v WHERE t.k1 = v.column1 …
    // (both backends name a VALUES list's columns column1, column2, …).
    let set = columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{} = v.column{}", quoted(c), key.len() + i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let matches = key
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{}.{} = v.column{}", quoted(table), quoted(k), i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let batch = batch_rows(read.len());
    let mut after: Option<Vec<Value>> = None;
    loop {
        let rows = page(
            src,
            table,
            &read,
            key,
            Some(&filter),
            after.as_deref(),
            batch,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = Some(key_of(last, &read, key));
        let n = rows.len();
        let values = (0..n)
            .map(|r| placeholders(1 + r * read.len(), read.len()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE {} SET {set} FROM (VALUES {values}) AS v WHERE {matches}",
            quoted(table)
        );
        let updated = on!(&mut *dst, |cn| {
            let mut query = sqlx::query(&sql);
            for row in rows {
                for (value, &class) in row.into_iter().zip(&classes) {
                    query = BindValues::value(query, value, class);
                }
            }
            query.execute(cn).await.map(super::Done::from)
        })?
        .rows_affected();
        if updated != n as u64 {
            bail!("{updated} of {n} rows were filled in");
        }
        if n < batch {
            break;
        }
    }
    Ok(())
}

/// Moves every sequence-backed column's sequence (PostgreSQL) past the largest copied id,
/// so that the next row gets the next id.
async fn reset_sequences(conn: &mut Conn, schema: &Schema) -> anyhow::Result<()> {
    for (table, t) in schema {
        for column in t.columns.iter().filter(|c| c.identity) {
            let c = quoted(&column.name);
            on!(&mut *conn, |cn| sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({c}), 1), \
                 MAX({c}) IS NOT NULL) FROM {}",
                quoted(table)
            ))
            .bind(quoted(table))
            .bind(&column.name)
            .fetch_one(cn)
            .await
            .map(drop))
            .with_context(|| format!("moving the sequence of `{table}.{}`", column.name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: &[(&str, bool)], keys: &[(&[&str], &str)]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|(name, nullable)| Column {
                    name: name.to_string(),
                    class: Class::Integer,
                    nullable: *nullable,
                    identity: false,
                })
                .collect(),
            primary_key: vec!["id".into()],
            foreign_keys: keys
                .iter()
                .map(|(columns, target)| ForeignKey {
                    columns: columns.iter().map(|c| c.to_string()).collect(),
                    target: target.to_string(),
                })
                .collect(),
        }
    }

    /// The shape of askfirst's schema: users ← calls ⇄ grants, and tables hanging off them.
    fn schema() -> Schema {
        let mut s = Schema::new();
        s.insert("users".into(), table(&[("id", false)], &[]));
        s.insert("agents".into(), table(&[("id", false)], &[]));
        s.insert(
            "calls".into(),
            table(
                &[("id", false), ("agent_id", false), ("grant_id", true)],
                &[(&["agent_id"], "agents"), (&["grant_id"], "grants")],
            ),
        );
        s.insert(
            "grants".into(),
            table(
                &[("id", false), ("call_id", false), ("granted_by_id", false)],
                &[(&["call_id"], "calls"), (&["granted_by_id"], "users")],
            ),
        );
        s.insert(
            "reviews".into(),
            table(
                &[("id", false), ("call_id", false), ("note_id", true)],
                &[(&["call_id"], "calls"), (&["note_id"], "users")],
            ),
        );
        s
    }

    fn position(plan: &Plan, table: &str) -> usize {
        plan.order.iter().position(|t| t == table).unwrap()
    }

    #[test]
    fn a_cycle_is_broken_at_its_nullable_key_and_the_rest_follows_the_keys() {
        let plan = plan(&schema()).unwrap();
        assert_eq!(plan.order.len(), 5);
        assert_eq!(
            plan.deferred,
            BTreeMap::from([("calls".to_string(), vec!["grant_id".to_string()])]),
            "only the key on the cycle is deferred, not reviews' nullable one"
        );
        assert!(position(&plan, "agents") < position(&plan, "calls"));
        assert!(position(&plan, "calls") < position(&plan, "grants"));
        assert!(position(&plan, "users") < position(&plan, "grants"));
        assert!(position(&plan, "calls") < position(&plan, "reviews"));
    }

    #[test]
    fn a_cycle_of_required_keys_is_refused_and_named() {
        let mut s = schema();
        s.get_mut("calls").unwrap().columns[2].nullable = false;
        let err = plan(&s).unwrap_err().to_string();
        assert!(err.contains("calls, grants"), "{err}");
    }

    #[test]
    fn a_nullable_self_reference_is_filled_in_afterwards() {
        let mut s = Schema::new();
        s.insert(
            "nodes".into(),
            table(
                &[("id", false), ("parent", true)],
                &[(&["parent"], "nodes")],
            ),
        );
        let plan = plan(&s).unwrap();
        assert_eq!(plan.order, ["nodes"]);
        assert_eq!(plan.deferred["nodes"], ["parent"]);
    }

    #[test]
    fn batches_stay_within_the_parameter_limit() {
        assert_eq!(batch_rows(1), MAX_BATCH);
        assert_eq!(batch_rows(38), 512);
        assert_eq!(batch_rows(100), 256);
        assert_eq!(batch_rows(40_000), 1);
        for width in 1..200 {
            let rows = batch_rows(width);
            assert!(rows.is_power_of_two() && rows * width <= MAX_PARAMS.max(width));
        }
    }

    #[test]
    fn declared_types_map_to_classes() {
        assert_eq!(Class::of_sqlite("INTEGER"), Some(Class::Integer));
        assert_eq!(Class::of_sqlite("TEXT"), Some(Class::Text));
        assert_eq!(Class::of_sqlite("REAL"), Some(Class::Real));
        assert_eq!(Class::of_sqlite(""), Some(Class::Blob));
        assert_eq!(Class::of_sqlite("NUMERIC"), None);
        assert_eq!(Class::of_postgres("bigint"), Some(Class::Integer));
        assert_eq!(Class::of_postgres("numeric"), None);
        assert_eq!(Class::of_postgres("boolean"), Some(Class::Boolean));
    }

    #[test]
    fn flags_copy_between_integer_and_boolean_columns_only() {
        use Class::*;
        let cases = [
            (Integer, Integer, true),
            (Boolean, Integer, true),
            (Integer, Boolean, true),
            (Boolean, Boolean, true),
            (Text, Integer, false),
            (Real, Integer, false),
            (Boolean, Text, false),
            (Blob, Text, false),
        ];
        for (to, from, copies) in cases {
            assert_eq!(to.copies(from), copies, "{from:?} into {to:?}");
        }
    }
}
