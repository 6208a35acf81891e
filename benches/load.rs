//! Load benchmark on loopback: the allowed path and the gated path of `POST /api/v1/calls`
//! against a bare axum JSON endpoint in the same process, and group commit against a raw
//! SQLite insert rate measured in the same run. Prints figures; never fails on slowness.
//!
//! `cargo bench --features ssr --bench load [-- SECONDS]`
//!
//! The load generator runs in the same process as the server (both on the machine's
//! cores), so absolute figures are a lower bound; the ratios are the point.

use askfirst::clock::SystemClock;
use askfirst::server::{start, state::Settings, ServeConfig};
use axum::{routing::post, Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;

struct Figures {
    name: &'static str,
    requests: usize,
    errors: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

async fn load(
    name: &'static str,
    url: String,
    key: Option<String>,
    body: impl Fn(usize, usize) -> Value + Send + Sync + 'static,
    secs: u64,
) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let body = Arc::new(body);
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for conn in 0..CONNECTIONS {
        let (client, url, key, body) = (client.clone(), url.clone(), key.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < end {
                let mut req = client.post(&url).json(&body(conn, i));
                if let Some(k) = &key {
                    req = req.bearer_auth(k);
                }
                let t = Instant::now();
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        latencies.push(t.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Figures {
        name,
        requests: all.len(),
        errors,
        secs,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

/// Single-row inserts, each its own transaction, WAL + synchronous=FULL: the fsync-bound rate.
async fn raw_sqlite_inserts(dir: &std::path::Path, secs: u64) -> f64 {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::ConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut n = 0;
    while Instant::now() < end {
        sqlx::query("INSERT INTO t (body) VALUES (?)")
            .bind("{\"tool\":\"deploy\"}")
            .execute(&mut conn)
            .await
            .unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            db: dir.path().join("askfirst.db"),
            site_root: dir.path().join("site"),
            settings: Settings {
                session_ttl: chrono::Duration::hours(1),
                secure_cookies: false,
            },
            gate: Default::default(),
            limits: Default::default(),
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let key = running
        .state
        .gate
        .create_agent("bench", "bench")
        .await
        .unwrap()
        .key;
    let base = format!("http://{}", running.addr);

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/echo", bare.local_addr().unwrap());
    let echo = Router::new().route(
        "/echo",
        post(|Json(v): Json<Value>| async move { Json(json!({ "ok": true, "tool": v["tool"] })) }),
    );
    tokio::spawn(async move { axum::serve(bare, echo).await });

    println!("askfirst load benchmark: {CONNECTIONS} connections, {secs} s per run, loopback");
    let bare_fig = load(
        "bare axum JSON endpoint",
        bare_url,
        None,
        |c, i| json!({ "session": format!("s{c}"), "tool": "read_logs", "i": i }),
        secs,
    )
    .await;
    let calls = format!("{base}/api/v1/calls");
    let allowed = load(
        "allowed path (POST /api/v1/calls, recorded durably)",
        calls.clone(),
        Some(key.clone()),
        |c, _| json!({ "session": format!("s{c}"), "tool": "read_logs" }),
        secs,
    )
    .await;
    let gated = load("gated path (creates a pending call)", calls, Some(key.clone()),
        |c, _| json!({ "session": format!("s{c}"), "tool": "deploy", "args": { "env": "production" } }), secs).await;
    let raw = raw_sqlite_inserts(dir.path(), secs.min(5)).await;

    let mut out = String::new();
    out += "| run | requests/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|\n";
    for f in [&bare_fig, &allowed, &gated] {
        out += &format!(
            "| {} | {:.0} | {:.2} | {:.2} | {} |\n",
            f.name,
            f.rate(),
            f.p50_ms,
            f.p99_ms,
            f.errors
        );
    }
    out += &format!(
        "| raw SQLite insert, one transaction each (WAL, synchronous=FULL) | {raw:.0} | | | |\n\n"
    );
    out += &format!(
        "- allowed path / bare endpoint: **{:.2}** (target ≥ 0.6)\n",
        allowed.rate() / bare_fig.rate()
    );
    out += &format!(
        "- gated path / raw single-insert rate: **{:.1}×** (group commit)\n",
        gated.rate() / raw
    );
    println!("\n{out}");
    running.stop().await.unwrap();
}
