//! Load benchmark on loopback: the allowed path and the gated path of `POST /api/v1/calls`
//! against a bare axum JSON endpoint in the same process, and group commit against a raw
//! SQLite insert rate measured in the same run. Prints figures; never fails on slowness.
//!
//! `cargo bench --features ssr --bench load [-- SECONDS]` (needs `wrk` and `taskset`;
//! `scripts/bench.sh` installs them)
//!
//! This process is the server, pinned to core 0. The load comes from another process
//! pinned to core 1: `wrk` (64 connections, closed loop) for throughput, and this binary
//! re-run in generator mode for latency at a fixed rate (open loop, so a slow answer
//! cannot hide the requests that would have queued behind it). Server CPU per request is
//! this process's CPU time over the run divided by the requests served.

use askfirst::clock::SystemClock;
use askfirst::server::{start, state::Settings, ServeConfig};
use axum::{routing::post, Json, Router};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const SERVER_CORE: &str = "0";
const LOAD_CORE: &str = "1";

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct Figures {
    requests: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    cpu_us_per_request: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// This process's CPU time (user + system), in microseconds.
fn cpu_us() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    (ticks(11) + ticks(12)) * 1_000_000.0 / 100.0
}

/// A POST request description shared by `wrk` and the generator.
#[derive(Clone)]
struct Target {
    url: String,
    key: Option<String>,
    body: Value,
}

/// Closed-loop throughput with `wrk` on the load core.
fn wrk(dir: &Path, target: &Target, secs: u64) -> Figures {
    let auth = target
        .key
        .as_ref()
        .map(|k| format!("wrk.headers[\"Authorization\"] = \"Bearer {k}\"\n"))
        .unwrap_or_default();
    let script = format!(
        r#"wrk.method = "POST"
wrk.body = [[{}]]
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.0f %.0f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
        target.body
    );
    let script_path = dir.join("load.lua");
    std::fs::write(&script_path, script).unwrap();
    let cpu = cpu_us();
    let out = Command::new("taskset")
        .args(["-c", LOAD_CORE, "wrk", "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{secs}s"))
        .arg("-s")
        .arg(&script_path)
        .arg(&target.url)
        .output()
        .expect("wrk runs (install it with scripts/bench.sh)");
    let cpu = cpu_us() - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result: {text}"));
    let n: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Figures {
        requests: n[0] as u64,
        secs: n[1] / 1e6,
        p50_ms: n[2] / 1000.0,
        p99_ms: n[3] / 1000.0,
        errors: n[4] as u64,
        cpu_us_per_request: cpu / n[0].max(1.0),
    }
}

/// Open-loop latency at `rate` requests/s: this binary in generator mode on the load core.
fn at_rate(target: &Target, rate: u64, secs: u64) -> Figures {
    let cpu = cpu_us();
    let out = Command::new("taskset")
        .args(["-c", LOAD_CORE])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--generate",
            &target.url,
            target.key.as_deref().unwrap_or("-"),
        ])
        .arg(target.body.to_string())
        .arg(rate.to_string())
        .arg(secs.to_string())
        .output()
        .expect("generator runs");
    let cpu = cpu_us() - cpu;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("generator printed no result: {text}"));
    let n: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Figures {
        requests: n[0] as u64,
        secs: n[1],
        p50_ms: n[2],
        p99_ms: n[3],
        errors: n[4] as u64,
        cpu_us_per_request: cpu / n[0].max(1.0),
    }
}

/// Generator mode: sends `rate` requests per second for `secs`, each timed from when it was
/// due (not when it was sent), and prints `RESULT requests secs p50_ms p99_ms errors`.
fn generate(args: &[String]) {
    let (url, key, body) = (args[0].clone(), args[1].clone(), args[2].clone());
    let rate: u64 = args[3].parse().unwrap();
    let secs: u64 = args[4].parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<f64>>();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let start = tokio::time::Instant::now();
        let total = rate * secs;
        for i in 0..total {
            let due = start + interval * i as u32;
            tokio::time::sleep_until(due).await;
            let (client, url, key, body, tx) = (
                client.clone(),
                url.clone(),
                key.clone(),
                body.clone(),
                tx.clone(),
            );
            tokio::spawn(async move {
                let mut req = client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body);
                if key != "-" {
                    req = req.bearer_auth(key);
                }
                let ok = match req.send().await {
                    Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                    _ => false,
                };
                let _ = tx.send(ok.then(|| due.elapsed().as_secs_f64() * 1000.0));
            });
        }
        drop(tx);
        let mut latencies = Vec::new();
        let mut errors = 0;
        while let Some(result) = rx.recv().await {
            match result {
                Some(ms) => latencies.push(ms),
                None => errors += 1,
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "RESULT {} {elapsed:.3} {:.3} {:.3} {errors}",
            latencies.len(),
            pct(0.5),
            pct(0.99)
        );
    });
}

/// Single-row inserts, each its own transaction, WAL + synchronous=FULL: the fsync-bound rate.
async fn raw_sqlite_inserts(dir: &Path, secs: u64) -> f64 {
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

/// Pins every thread of this process (and threads they start later) to `core`.
fn pin_self(core: &str) {
    let pid = std::process::id().to_string();
    let ok = Command::new("taskset")
        .args(["-a", "-c", "-p", core, &pid])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("warning: could not pin the server to core {core}");
    }
}

fn row(name: &str, f: &Figures) -> String {
    format!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {} |\n",
        f.rate(),
        f.p50_ms,
        f.p99_ms,
        f.cpu_us_per_request,
        f.errors
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        return generate(&args[i + 1..]);
    }
    let secs: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10);
    // The server gets one core, so its runtime gets one worker thread (two workers on one
    // core only add context switches); `wrk` and SQLite's own threads run beside it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(secs));
}

async fn bench(secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            db: dir.path().join("askfirst.db"),
            site_root: dir.path().join("site"),
            settings: Settings {
                session_ttl: chrono::Duration::hours(1),
                secure_cookies: false,
                trusted_proxies: Vec::new(),
                setup_token: None,
                public_hosts: Vec::new(),
                metrics_token: None,
                public_base_url: None,
                secrets_key_file: None,
            },
            gate: Default::default(),
            limits: Default::default(),
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    pin_self(SERVER_CORE);
    let key = running
        .state
        .gate
        .create_agent("bench", "bench")
        .await
        .unwrap()
        .key;
    // The gated run leaves tens of thousands of calls pending from one agent: far over the
    // default cap of 1,000 pending calls per agent, which would refuse them (429).
    running
        .state
        .gate
        .set_limits(
            "bench",
            askfirst::domain::limits::Limits {
                max_pending_per_agent: None,
            },
        )
        .await
        .unwrap();
    let calls = format!("http://{}/api/v1/calls", running.addr);

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/echo", bare.local_addr().unwrap());
    let echo = Router::new().route(
        "/echo",
        post(|Json(v): Json<Value>| async move { Json(json!({ "ok": true, "tool": v["tool"] })) }),
    );
    tokio::spawn(async move { axum::serve(bare, echo).await });

    let allowed_body = json!({ "session": "s1", "tool": "read_logs", "args": { "lines": 100 } });
    let gated_body = json!({ "session": "s1", "tool": "deploy", "args": { "env": "production" } });

    println!(
        "# askfirst load benchmark: {CONNECTIONS} connections, {secs} s per run, loopback; \
         server on core {SERVER_CORE}, load on core {LOAD_CORE}"
    );
    // The load generators are other processes; waiting for them happens on a blocking
    // thread so the server keeps its runtime.
    let dir_path = dir.path().to_path_buf();
    let closed_loop = |target: &Target| {
        let (target, dir) = (target.clone(), dir_path.clone());
        tokio::task::spawn_blocking(move || wrk(&dir, &target, secs))
    };
    let open_loop = |target: &Target, rate: u64| {
        let target = target.clone();
        tokio::task::spawn_blocking(move || at_rate(&target, rate, secs))
    };
    let bare_target = Target {
        url: bare_url,
        key: None,
        body: allowed_body.clone(),
    };
    let allowed_target = Target {
        url: calls.clone(),
        key: Some(key.clone()),
        body: allowed_body,
    };
    let gated_target = Target {
        url: calls,
        key: Some(key),
        body: gated_body,
    };

    let bare_fig = closed_loop(&bare_target).await.unwrap();
    let allowed = closed_loop(&allowed_target).await.unwrap();
    let gated = closed_loop(&gated_target).await.unwrap();
    let half_rate = (allowed.rate() / 2.0).max(1.0) as u64;
    let half = open_loop(&allowed_target, half_rate).await.unwrap();
    let bare_half = open_loop(&bare_target, half_rate).await.unwrap();
    let raw = raw_sqlite_inserts(dir.path(), secs.min(5)).await;

    let mut out = String::new();
    out += "| run | requests/s | p50 ms | p99 ms | server CPU µs/request | errors |\n";
    out += "|---|---:|---:|---:|---:|---:|\n";
    out += &row("bare axum JSON endpoint, 64 connections (wrk)", &bare_fig);
    out += &row(
        "allowed path: `POST /api/v1/calls`, recorded durably, 64 connections (wrk)",
        &allowed,
    );
    out += &row(
        "gated path: creates a pending call, wakes the inbox stream (wrk)",
        &gated,
    );
    out += &row(
        &format!("allowed path at half its maximum ({half_rate}/s, open loop)"),
        &half,
    );
    out += &row(
        &format!("bare endpoint at the same rate ({half_rate}/s, open loop)"),
        &bare_half,
    );
    out += &format!(
        "| raw SQLite insert, one transaction each (WAL, synchronous=FULL) | {raw:.0} | | | | |\n\n"
    );
    out += &format!(
        "- allowed path / bare endpoint: **{:.2}** (target ≥ 0.6)\n",
        allowed.rate() / bare_fig.rate()
    );
    out += &format!(
        "- allowed path: **{:.0} checks/s** (target ≥ 15,000); p99 at half load **{:.2} ms** (target ≤ 5 ms)\n",
        allowed.rate(),
        half.p99_ms
    );
    out += &format!(
        "- gated path: **{:.0}/s** (target ≥ 3,000), **{:.1}×** the raw single-insert rate (group commit)\n",
        gated.rate(),
        gated.rate() / raw
    );
    println!("\n{out}");
    running.stop().await.unwrap();
}
