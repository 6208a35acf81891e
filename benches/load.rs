//! Load benchmark on loopback: the allowed path and the gated path of `POST /api/v1/calls`
//! against a bare axum JSON endpoint in the same process, and group commit against a raw
//! SQLite insert rate measured in the same run. Then, when `ASKFIRST_BENCH_PG` holds a
//! PostgreSQL URL that may create databases, the same two paths on PostgreSQL with one
//! instance and with two instances on one database (both in this process, load split over
//! them by one `wrk` with a thread per instance), and raw PostgreSQL inserts with and
//! without the advisory write lock, each on a fresh database. Prints figures; never fails
//! on slowness.
//!
//! `cargo bench --features ssr --bench load [-- SECONDS]` (needs `wrk` and `taskset`;
//! `scripts/bench.sh` installs them, and PostgreSQL for a throwaway server)
//!
//! This process is the server, pinned to core 0. The load comes from another process
//! pinned to core 1: `wrk` (64 connections, closed loop) for throughput, and this binary
//! re-run in generator mode for latency at a fixed rate (open loop, so a slow answer
//! cannot hide the requests that would have queued behind it). Server CPU per request is
//! this process's CPU time over the run divided by the requests served.

use askfirst::clock::SystemClock;
use askfirst::server::{start, state::Settings, Running, ServeConfig};
use askfirst::store::Location;
use axum::{routing::post, Json, Router};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The server's allocator, as in the `askfirst` binary (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// PostgreSQL's CPU time (every process of its server) over the run per request, when
    /// the server runs on this machine.
    db_cpu_us_per_request: Option<f64>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// The fields of `/proc/PID/stat` after the command name (which is in parentheses and may
/// hold spaces): index 1 is the parent's pid, 11 and 12 user and system time, 13 and 14
/// those of reaped children, in clock ticks.
fn proc_stat(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Sums clock ticks at `fields` of a stat line, in microseconds.
fn ticks_us(stat: &[String], fields: &[usize]) -> f64 {
    let ticks: f64 = fields
        .iter()
        .map(|&i| {
            stat.get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum();
    ticks * 1_000_000.0 / 100.0
}

/// This process's CPU time (user + system), in microseconds.
fn cpu_us() -> f64 {
    proc_stat("self").map_or(0.0, |s| ticks_us(&s, &[11, 12]))
}

/// CPU time of a PostgreSQL server, in microseconds: its postmaster and every process it
/// started, with the time of those that already exited (reaped into the postmaster's
/// children's time).
fn pg_cpu_us(postmaster: &str) -> f64 {
    let mut total = proc_stat(postmaster).map_or(0.0, |s| ticks_us(&s, &[11, 12, 13, 14]));
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(stat) =
            proc_stat(&pid).filter(|s| s.get(1).map(String::as_str) == Some(postmaster))
        {
            total += ticks_us(&stat, &[11, 12, 13, 14]);
        }
    }
    total
}

/// A POST request description shared by `wrk` and the generator.
#[derive(Clone)]
struct Target {
    url: String,
    key: Option<String>,
    body: Value,
}

/// Closed-loop throughput with one `wrk` process on the load core, [`CONNECTIONS`] in all.
/// With several targets (instances of one server, same request), `wrk` runs one thread per
/// target, each with its share of the connections and its own address: one process, so its
/// request count is the sum over the instances and its latency percentiles are over every
/// request to any of them (one histogram), not an average of per-instance percentiles.
fn wrk(dir: &Path, targets: &[Target], secs: u64) -> Figures {
    let target = &targets[0];
    let auth = target
        .key
        .as_ref()
        .map(|k| format!("wrk.headers[\"Authorization\"] = \"Bearer {k}\"\n"))
        .unwrap_or_default();
    // One address per thread (`setup` runs once per thread, in order).
    let spread = if targets.len() > 1 {
        let addrs: Vec<String> = targets
            .iter()
            .map(|t| {
                let url = reqwest::Url::parse(&t.url).unwrap();
                format!(
                    "wrk.lookup(\"{}\", \"{}\")[1]",
                    url.host_str().unwrap(),
                    url.port().unwrap()
                )
            })
            .collect();
        format!(
            r#"local addrs = {{ {} }}
local started = 0
function setup(thread)
  started = started + 1
  thread.addr = addrs[(started - 1) % #addrs + 1]
end
"#,
            addrs.join(", ")
        )
    } else {
        String::new()
    };
    let script = format!(
        r#"wrk.method = "POST"
wrk.body = [[{}]]
wrk.headers["Content-Type"] = "application/json"
{auth}
{spread}
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
        .args(["-c", LOAD_CORE, "wrk"])
        .arg(format!("-t{}", targets.len()))
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
        .unwrap_or_else(|| {
            panic!(
                "wrk printed no result: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
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
        db_cpu_us_per_request: None,
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
    // The run second by second (by when each request was due): a stall or a collapse shows
    // as the second it began in.
    println!("\n{} at {rate}/s, second by second:\n", target.url);
    println!("| second | answered | p50 ms | p99 ms | errors |\n|---:|---:|---:|---:|---:|");
    for l in text.lines().filter_map(|l| l.strip_prefix("SECOND ")) {
        println!(
            "| {} |",
            l.split_whitespace().collect::<Vec<_>>().join(" | ")
        );
    }
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
        db_cpu_us_per_request: None,
    }
}

/// Generator mode: sends `rate` requests per second for `secs`, each timed from when it was
/// due (not when it was sent), and prints `SECOND n answered p50_ms p99_ms errors` for each
/// second of the schedule, then `RESULT requests secs p50_ms p99_ms errors`.
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
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Option<f64>)>();
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
                let second = i / rate;
                let _ = tx.send((second, ok.then(|| due.elapsed().as_secs_f64() * 1000.0)));
            });
        }
        drop(tx);
        let mut latencies = Vec::new();
        let mut errors = 0;
        // Per second of the schedule (by when each request was due): its latencies, errors.
        let mut seconds = vec![(Vec::new(), 0u64); secs as usize];
        while let Some((second, result)) = rx.recv().await {
            let slot = &mut seconds[(second as usize).min(secs as usize - 1)];
            match result {
                Some(ms) => {
                    latencies.push(ms);
                    slot.0.push(ms);
                }
                None => {
                    errors += 1;
                    slot.1 += 1;
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let pct = |sorted: &mut Vec<f64>, p: f64| {
            sorted.sort_by(f64::total_cmp);
            sorted
                .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        for (second, (mut ms, errors)) in seconds.into_iter().enumerate() {
            let (p50, p99) = (pct(&mut ms, 0.5), pct(&mut ms, 0.99));
            println!("SECOND {second} {} {p50:.3} {p99:.3} {errors}", ms.len());
        }
        println!(
            "RESULT {} {elapsed:.3} {:.3} {:.3} {errors}",
            latencies.len(),
            pct(&mut latencies, 0.5),
            pct(&mut latencies, 0.99)
        );
    });
}

/// A single-row insert, one transaction each, WAL + synchronous=FULL: the fsync-bound rate.
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
    askfirst::on!(&mut conn, |cn| sqlx::query(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
    )
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut n = 0;
    while Instant::now() < end {
        askfirst::on!(&mut conn, |cn| sqlx::query(
            "INSERT INTO t (body) VALUES (?)"
        )
        .bind("{\"tool\":\"deploy\"}")
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
        .unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// The key the raw PostgreSQL inserts lock with (any constant: the server's own write lock
/// is another database's business here).
const RAW_LOCK: i64 = 0x6265_6e63_685f_6c6b; // "bench_lk"

/// Audit-like rows (the columns of `audit_events`, its primary key, no other index)
/// inserted by `connections` connections at once for `secs`, each row its own transaction
/// — `BEGIN; [SELECT pg_advisory_xact_lock(…);] INSERT …; COMMIT` — with the server's
/// default durability (`synchronous_commit = on`): the rate over all connections.
async fn raw_pg_inserts(url: &str, connections: usize, locked: bool, secs: u64) -> f64 {
    use sqlx::{Connection, PgConnection};
    let mut setup = PgConnection::connect(url).await.unwrap();
    askfirst::on!(&mut setup, |cn| sqlx::query(
        "DROP TABLE IF EXISTS raw_audit"
    )
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    askfirst::on!(&mut setup, |cn| sqlx::query(
        "CREATE TABLE raw_audit (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL,
            actor TEXT NOT NULL, kind TEXT NOT NULL, agent_id TEXT, call_id TEXT,
            from_status TEXT, to_status TEXT, detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    )
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let _ = setup.close().await;
    let end = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..connections {
        let url = url.to_string();
        workers.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.unwrap();
            let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
            let mut n = 0u64;
            while Instant::now() < end {
                let mut tx = conn.begin().await.unwrap();
                if locked {
                    askfirst::on!(&mut *tx, |cn| sqlx::query(
                        "SELECT pg_advisory_xact_lock($1)"
                    )
                    .bind(RAW_LOCK)
                    .execute(cn)
                    .await
                    .map(askfirst::store::Done::from))
                    .unwrap();
                }
                askfirst::on!(&mut *tx, |cn| sqlx::query(
                    "INSERT INTO raw_audit (at, actor, kind, agent_id, call_id, from_status,
                        to_status, detail, prev_hash, hash)
                     VALUES ($1, 'agent:bench', 'call.proposed', $2, $3, NULL, 'pending',
                        $4, $5, $5)",
                )
                .bind(chrono::Utc::now().timestamp_millis())
                .bind(format!("agent-{worker}"))
                .bind(format!("call-{worker}-{n}"))
                .bind(r#"{"tool":"deploy","args":{"env":"production"},"rule":"deploy"}"#)
                .bind(hash)
                .execute(cn)
                .await
                .map(askfirst::store::Done::from))
                .unwrap();
                tx.commit().await.unwrap();
                n += 1;
            }
            let _ = conn.close().await;
            n
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
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

/// A row of the SQLite-beside-PostgreSQL table (with the database's CPU when known).
fn db_row(name: &str, f: &Figures) -> String {
    let db_cpu = f
        .db_cpu_us_per_request
        .map_or_else(|| "—".to_string(), |us| format!("{us:.0}"));
    format!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.0} | {db_cpu} | {} |\n",
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

/// A server on `db`, its files (the notification secrets key, shared by every instance on
/// one database) in `dir`.
async fn serve(db: Location, dir: &Path) -> Running {
    start(
        ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            db,
            site_root: dir.join("site"),
            settings: Settings {
                session_ttl: chrono::Duration::hours(1),
                secure_cookies: false,
                trusted_proxies: Vec::new(),
                setup_token: None,
                public_hosts: Vec::new(),
                metrics_token: None,
                public_base_url: None,
                secrets_key_file: Some(dir.join("askfirst.secrets-key")),
                passwords: Default::default(),
                oidc: None,
            },
            gate: Default::default(),
            limits: Default::default(),
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

/// The benchmark's agent on a fresh server, and no cap on pending calls: the gated run
/// leaves tens of thousands of calls pending from one agent, far over the default cap of
/// 1,000 per agent, which would refuse them (429). Returns the agent's key.
async fn prepare(running: &Running) -> String {
    let key = running
        .state
        .gate
        .create_agent("bench", "bench")
        .await
        .unwrap()
        .key;
    running
        .state
        .gate
        .set_limits(
            "bench",
            askfirst::domain::limits::Limits {
                max_pending_per_agent: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    key
}

/// Closed-loop load (see [`wrk`]), waited for on a blocking thread so the servers in this
/// process keep their runtime; with `postmaster`, PostgreSQL's CPU time over it too.
async fn closed_loop(
    dir: &Path,
    targets: Vec<Target>,
    secs: u64,
    postmaster: Option<&str>,
) -> Figures {
    let dir = dir.to_path_buf();
    let db_cpu = postmaster.map(pg_cpu_us);
    let mut figures = tokio::task::spawn_blocking(move || wrk(&dir, &targets, secs))
        .await
        .unwrap();
    if let (Some(before), Some(postmaster)) = (db_cpu, postmaster) {
        figures.db_cpu_us_per_request =
            Some((pg_cpu_us(postmaster) - before) / (figures.requests.max(1) as f64));
    }
    figures
}

fn allowed_body() -> Value {
    json!({ "session": "s1", "tool": "read_logs", "args": { "lines": 100 } })
}

fn gated_body() -> Value {
    json!({ "session": "s1", "tool": "deploy", "args": { "env": "production" } })
}

/// The allowed and the gated path against `servers` (instances of one database), load
/// spread evenly over them.
async fn allowed_and_gated(
    dir: &Path,
    servers: &[&Running],
    key: &str,
    secs: u64,
    postmaster: Option<&str>,
) -> (Figures, Figures) {
    let targets = |body: Value| -> Vec<Target> {
        servers
            .iter()
            .map(|s| Target {
                url: format!("http://{}/api/v1/calls", s.addr),
                key: Some(key.to_string()),
                body: body.clone(),
            })
            .collect()
    };
    let allowed = closed_loop(dir, targets(allowed_body()), secs, postmaster).await;
    let gated = closed_loop(dir, targets(gated_body()), secs, postmaster).await;
    (allowed, gated)
}

async fn bench(secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let running = serve(Location::Sqlite(dir.path().join("askfirst.db")), dir.path()).await;
    pin_self(SERVER_CORE);
    let key = prepare(&running).await;
    let calls = format!("http://{}/api/v1/calls", running.addr);

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}/echo", bare.local_addr().unwrap());
    let echo = Router::new().route(
        "/echo",
        post(|Json(v): Json<Value>| async move { Json(json!({ "ok": true, "tool": v["tool"] })) }),
    );
    tokio::spawn(async move { axum::serve(bare, echo).await });

    println!(
        "# askfirst load benchmark: {CONNECTIONS} connections, {secs} s per run, loopback; \
         server on core {SERVER_CORE}, load on core {LOAD_CORE}"
    );
    let open_loop = |target: &Target, rate: u64| {
        let target = target.clone();
        tokio::task::spawn_blocking(move || at_rate(&target, rate, secs))
    };
    let bare_target = Target {
        url: bare_url,
        key: None,
        body: allowed_body(),
    };
    let allowed_target = Target {
        url: calls.clone(),
        key: Some(key.clone()),
        body: allowed_body(),
    };

    let bare_fig = closed_loop(dir.path(), vec![bare_target.clone()], secs, None).await;
    let (allowed, gated) = allowed_and_gated(dir.path(), &[&running], &key, secs, None).await;
    let half_rate = (allowed.rate() / 2.0).max(1.0) as u64;
    if let Some(settle) = std::env::var("ASKFIRST_BENCH_SETTLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        tokio::time::sleep(Duration::from_secs(settle)).await;
    }
    let half = open_loop(&allowed_target, half_rate).await.unwrap();
    let bare_half = open_loop(&bare_target, half_rate).await.unwrap();
    running.stop().await.unwrap();
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

    match std::env::var("ASKFIRST_BENCH_PG")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin) => {
            let pg = postgres(&admin, dir.path(), secs).await;
            let mut out = String::new();
            out += "## SQLite and PostgreSQL, one and two instances\n\n";
            out += "| run | requests/s | p50 ms | p99 ms | server CPU µs/request | PostgreSQL CPU µs/request | errors |\n";
            out += "|---|---:|---:|---:|---:|---:|---:|\n";
            out += &db_row("SQLite, allowed path (wrk, 64 connections)", &allowed);
            out += &db_row("SQLite, gated path (wrk, 64 connections)", &gated);
            out += &db_row(
                "PostgreSQL, one instance, allowed path (wrk, 64 connections)",
                &pg.one.0,
            );
            out += &db_row(
                "PostgreSQL, one instance, gated path (wrk, 64 connections)",
                &pg.one.1,
            );
            out += &db_row(
                "PostgreSQL, two instances on one database, allowed path (wrk, 2 × 32 connections)",
                &pg.two.0,
            );
            out += &db_row(
                "PostgreSQL, two instances on one database, gated path (wrk, 2 × 32 connections)",
                &pg.two.1,
            );
            out += &format!(
                "\n- audit chain after the two-instance runs: {}\n",
                pg.chain
            );
            out += "\n| raw insert of one row, one transaction each | inserts/s |\n";
            out += "|---|---:|\n";
            out += &format!("| SQLite (WAL, synchronous=FULL), 1 connection | {raw:.0} |\n");
            for (connections, unlocked, locked) in &pg.raw {
                out += &format!(
                    "| PostgreSQL, audit-like row, {connections} connection{s} | {unlocked:.0} |\n\
                     | PostgreSQL, audit-like row, {connections} connection{s}, `pg_advisory_xact_lock` first | {locked:.0} |\n",
                    s = if *connections == 1 { "" } else { "s" }
                );
            }
            out += "\n";
            for (connections, unlocked, locked) in &pg.raw {
                out += &format!(
                    "- advisory lock, {connections} connection{}: **{:.2}×** the rate without it\n",
                    if *connections == 1 { "" } else { "s" },
                    locked / unlocked
                );
            }
            out += &format!(
                "- two instances / one instance on PostgreSQL: allowed **{:.2}×**, gated **{:.2}×**\n",
                pg.two.0.rate() / pg.one.0.rate(),
                pg.two.1.rate() / pg.one.1.rate()
            );
            println!("{out}");
        }
        None => println!(
            "PostgreSQL rows skipped: set ASKFIRST_BENCH_PG to a PostgreSQL URL that may create \
             databases (scripts/bench.sh starts a throwaway server for it)\n"
        ),
    }
}

/// What the PostgreSQL part measured.
struct PgFigures {
    /// Allowed and gated path, one instance.
    one: (Figures, Figures),
    /// Allowed and gated path, two instances on one database.
    two: (Figures, Figures),
    /// How the audit chain verified after the two-instance runs.
    chain: String,
    /// Raw inserts: connections, rate without and with the advisory lock.
    raw: Vec<(usize, f64, f64)>,
}

/// A fresh, empty database on the server of `admin` (a URL that may create databases);
/// returns its URL.
async fn fresh_pg_database(admin: &str, databases: &mut Vec<String>) -> String {
    use sqlx::{Connection, PgConnection};
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(admin)
        .await
        .expect("ASKFIRST_BENCH_PG answers");
    askfirst::on!(&mut conn, |cn| sqlx::query(&format!(
        "CREATE DATABASE \"{name}\""
    ))
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .expect("a benchmark database is created");
    let _ = conn.close().await;
    databases.push(name.clone());
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

/// The pid of the PostgreSQL server's postmaster (the parent of a backend), when it runs
/// on this machine.
async fn postmaster_pid(admin: &str) -> Option<String> {
    use sqlx::{Connection, PgConnection};
    let mut conn = PgConnection::connect(admin).await.ok()?;
    let backend: i32 = askfirst::on!(&mut conn, |cn| sqlx::query_scalar(
        "SELECT pg_backend_pid()"
    )
    .fetch_one(cn)
    .await)
    .ok()?;
    let stat = proc_stat(&backend.to_string())?;
    let _ = conn.close().await;
    let parent = stat.get(1)?.clone();
    let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
    comm.starts_with("postgres").then_some(parent)
}

/// How many calls were proposed through this instance (its `/metrics` counter).
async fn proposed(running: &Running) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", running.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("askfirst_calls_proposed_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// The PostgreSQL rows: one instance, then two on another fresh database, then raw inserts
/// on a third. Every instance runs in this process (pinned to the server core, on its one
/// runtime thread) with its own pool, group-commit writer and change listener.
async fn postgres(admin: &str, dir: &Path, secs: u64) -> PgFigures {
    let mut databases = Vec::new();
    let postmaster = postmaster_pid(admin).await;
    if postmaster.is_none() {
        eprintln!("note: PostgreSQL does not run on this machine (or is not visible in /proc): its CPU is not measured");
    }
    let pm = postmaster.as_deref();

    let db = fresh_pg_database(admin, &mut databases).await;
    let one_dir = dir.join("pg-one");
    let a = serve(db.parse().unwrap(), &one_dir).await;
    let key = prepare(&a).await;
    let one = allowed_and_gated(dir, &[&a], &key, secs, pm).await;
    a.stop().await.unwrap();

    let db = fresh_pg_database(admin, &mut databases).await;
    let two_dir = dir.join("pg-two");
    let a = serve(db.parse().unwrap(), &two_dir).await;
    let key = prepare(&a).await;
    // Started after the agent and the limits exist (an instance reads the limits at start).
    let b = serve(db.parse().unwrap(), &two_dir).await;
    let two = allowed_and_gated(dir, &[&a, &b], &key, secs, pm).await;
    let chain = {
        let mut conn = a.state.pool.acquire().await.unwrap();
        match askfirst::store::audit::verify(&mut conn, askfirst::store::audit::key(), None)
            .await
            .unwrap()
        {
            askfirst::store::audit::Verification::Intact { events } => {
                format!("{events} events, one intact chain")
            }
            broken => format!("BROKEN: {broken:?}"),
        }
    };
    let chain = format!(
        "{chain}; calls proposed through the first instance {}, through the second {}",
        proposed(&a).await,
        proposed(&b).await
    );
    b.stop().await.unwrap();
    a.stop().await.unwrap();

    let db = fresh_pg_database(admin, &mut databases).await;
    let raw_secs = secs.min(5);
    let mut raw = Vec::new();
    for connections in [1, 8] {
        let unlocked = raw_pg_inserts(&db, connections, false, raw_secs).await;
        let locked = raw_pg_inserts(&db, connections, true, raw_secs).await;
        raw.push((connections, unlocked, locked));
    }

    // Dropped when done, in case the server is not a throwaway one.
    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await {
        for name in databases {
            let _ = askfirst::on!(&mut conn, |cn| sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            ))
            .execute(cn)
            .await
            .map(askfirst::store::Done::from));
        }
    }
    PgFigures {
        one,
        two,
        chain,
        raw,
    }
}
