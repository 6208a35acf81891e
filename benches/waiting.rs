//! What waiting costs: many agents long-polling at once (the server's extra resident memory,
//! and the time from a person's decision to the agent's answer), webhook delivery latency
//! after a decision, the inbox page with 10,000 pending and 1,000,000 historical calls, and
//! the audit page and exports over as many audit events.
//!
//! `cargo bench --features ssr --bench waiting [-- AGENTS [HISTORY]]` (defaults 10000, 1000000;
//! `AGENTS` 0 measures only the inbox)
//!
//! The server is the real `askfirst` binary in its own process (so its memory is its own);
//! this process is the agents, the approver and the webhook receiver. Prints figures; never
//! fails on slowness.

use axum::{extract::State, routing::post, Router};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

const BIN: &str = env!("CARGO_BIN_EXE_askfirst");
const POLICY: &str = r#"
default_effect = "allow"
[[rules]]
name = "gate-deploys"
[rules.match]
tool = "deploy"
[rules.effect]
kind = "gate"
deadline_secs = 3600
"#;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(dir: &Path, port: u16) -> Server {
        let child = Command::new(BIN)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .env("ASKFIRST_DB", dir.join("askfirst.db"))
            .env("ASKFIRST_SITE_ROOT", dir.join("site"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("server starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return Server { child, base };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not come up");
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Established connections to the server's port (from the kernel's table).
    fn established(&self) -> usize {
        let port = self
            .base
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        let local = format!("0100007F:{port:04X}");
        std::fs::read_to_string("/proc/net/tcp")
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1] == local && cols[3] == "01"
            })
            .count()
    }

    async fn stop(mut self) {
        // SIGTERM: graceful shutdown, so the database is checkpointed cleanly.
        let _ = std::process::Command::new("kill")
            .arg(self.pid().to_string())
            .status();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .args(args)
        .env("ASKFIRST_DB", dir.join("askfirst.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "askfirst {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    )
}

/// Proposes `n` gated calls; their ids and the hashes of the arguments a review names.
async fn propose_many(
    server: &Server,
    key: &str,
    n: usize,
    callback: Option<&str>,
) -> Vec<(String, String)> {
    let client = Client::new();
    let limit = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, limit, key) = (client.clone(), limit.clone(), key.to_string());
        let url = format!("{}/api/v1/calls", server.base);
        let body = json!({
            "session": format!("s{i}"), "tool": "deploy", "args": { "n": i },
            "callback_url": callback,
        });
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let res = client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["status"], "pending");
            (
                v["id"].as_str().unwrap().to_string(),
                askfirst::store::json::hash(&json!({ "n": i })),
            )
        }));
    }
    let mut ids = Vec::with_capacity(n);
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids
}

/// Approves every call (32 at a time); returns when each decision was sent.
async fn decide_all(
    server: &Server,
    approver: &Client,
    ids: &[(String, String)],
) -> HashMap<String, Instant> {
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for (id, hash) in ids {
        let (client, limit, sent) = (approver.clone(), limit.clone(), sent.clone());
        let (id, hash) = (id.clone(), hash.clone());
        let url = format!("{}/rpc/decide", server.base);
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            sent.lock().unwrap().insert(id.clone(), Instant::now());
            let res = client
                .post(url)
                .header("accept", "application/json")
                .form(&[
                    ("id", id.as_str()),
                    ("decision", "approve"),
                    ("hash", hash.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                200,
                "{}",
                res.text().await.unwrap_or_default()
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(sent).unwrap().into_inner().unwrap()
}

async fn sign_in(server: &Server) -> Client {
    sign_in_as(server, "bench").await
}

async fn sign_in_as(server: &Server, username: &str) -> Client {
    let client = Client::builder().cookie_store(true).build().unwrap();
    let res = client
        .post(format!("{}/rpc/sign_in", server.base))
        .header("accept", "application/json")
        .form(&[("username", username), ("password", "bench password 123")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-in: {}", res.status());
    client
}

async fn long_polls(server: &Server, key: &str, approver: &Client, agents: usize) {
    println!("\n## {agents} agents long-polling at once");
    let ids = propose_many(server, key, agents, None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = server.rss_kib();

    let answered = Arc::new(Mutex::new(HashMap::<String, Instant>::new()));
    // Concurrent requests each get their own connection, as separate agents would have.
    let client = Client::new();
    let mut tasks = Vec::new();
    for (id, _) in &ids {
        let (key, answered, id, client) = (
            key.to_string(),
            answered.clone(),
            id.clone(),
            client.clone(),
        );
        let url = format!("{}/api/v1/calls/{id}?wait=60", server.base);
        tasks.push(tokio::spawn(async move {
            loop {
                let v: Value = client
                    .get(&url)
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if v["status"] != "pending" {
                    answered.lock().unwrap().insert(id, Instant::now());
                    return;
                }
            }
        }));
    }
    // Wait until the server holds (nearly) every connection.
    let connect_start = Instant::now();
    while server.established() < agents && connect_start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting_rss = server.rss_kib();
    let waiting_fds = server.established();
    let extra_mib = (waiting_rss.saturating_sub(idle_rss)) as f64 / 1024.0;
    println!("- connections held: {waiting_fds} (took {connect_secs:.1} s to open)");
    println!(
        "- server resident memory: {:.1} MiB idle → {:.1} MiB with everyone waiting: **+{extra_mib:.1} MiB** ({:.1} KiB per waiting agent; target ≤ 150 MB for 10,000)",
        idle_rss as f64 / 1024.0,
        waiting_rss as f64 / 1024.0,
        (waiting_rss.saturating_sub(idle_rss)) as f64 / agents as f64
    );

    let started = Instant::now();
    let sent = decide_all(server, approver, &ids).await;
    let decide_secs = started.elapsed().as_secs_f64();
    for t in tasks {
        t.await.unwrap();
    }
    let answered = answered.lock().unwrap();
    let latencies: Vec<f64> = ids
        .iter()
        .map(|(id, _)| (answered[id] - sent[id]).as_secs_f64() * 1000.0)
        .collect();
    println!(
        "- {agents} decisions in {decide_secs:.1} s ({:.0}/s, 32 at a time)",
        agents as f64 / decide_secs
    );
    println!(
        "- decision sent → agent's answer: {} (target p99 ≤ 50 ms)",
        summary(latencies)
    );
}

#[derive(Clone, Default)]
struct Receiver {
    arrived: Arc<Mutex<HashMap<String, Instant>>>,
}

async fn hook(State(r): State<Receiver>, body: String) -> &'static str {
    let at = Instant::now();
    if let Ok(v) = serde_json::from_str::<Value>(&body) {
        let id = v["call"]["id"]
            .as_str()
            .or(v["id"].as_str())
            .unwrap_or_default();
        r.arrived.lock().unwrap().insert(id.to_string(), at);
    }
    "ok"
}

async fn webhooks(dir: &Path, server: &Server, key: &str, approver: &Client, n: usize) {
    println!("\n## Webhook delivery after a decision ({n} calls)");
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });
    // The receiver is on 127.0.0.1: allowed as a callback origin for the bench agent (the
    // server picks the change up within its watch interval).
    let origin = url.trim_end_matches("/hook").to_string();
    cli(dir, &["agent", "set-callbacks", "bench-bot", &origin], None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ids = propose_many(server, key, n, Some(&url)).await;
    // One decision at a time, as people make them; each webhook is timed from its decision.
    let mut sent = HashMap::new();
    for chunk in ids.chunks(1) {
        sent.extend(decide_all(server, approver, chunk).await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.arrived.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = receiver.arrived.lock().unwrap().clone();
    let latencies: Vec<f64> = ids
        .iter()
        .filter_map(|(id, _)| Some((*arrived.get(id)? - sent[id]).as_secs_f64() * 1000.0))
        .collect();
    println!(
        "- delivered {}/{n}; decision sent → webhook received: {} (target p99 ≤ 50 ms)",
        latencies.len(),
        summary(latencies)
    );
    serving.abort();
}

/// Fills the database directly: `history` decided calls and `pending` pending ones.
async fn seed(db: &Path, agent: &str, history: usize, pending: usize) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .connect()
        .await
        .unwrap();
    let agent_id: String = sqlx::query_scalar("SELECT id FROM agents WHERE name = ?")
        .bind(agent)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let insert = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO calls (id, agent_id, session, tool, args, reason, risk, alternatives, status,
            rule, approvals_required, deadline, response, created_at, decided_at)
        SELECT ? || i, ?, 'session-' || (i % 5000), ? || (i % 40),
            json_object('host', 'db-' || (i % 97), 'env', 'production', 'n', i),
            'seeded for the benchmark', ?, '[]', ?, 'seed', 1, ?, '{}', ? - i * 10, ?
        FROM n";
    let t = Instant::now();
    sqlx::query(insert)
        .bind(history as i64)
        .bind("h-")
        .bind(&agent_id)
        .bind("tool_")
        .bind(r#"["production"]"#)
        .bind("executed")
        .bind(None::<i64>)
        .bind(now)
        .bind(Some(now))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(insert)
        .bind(pending as i64)
        .bind("p-")
        .bind(&agent_id)
        .bind("deploy_")
        .bind(r#"["production","destructive"]"#)
        .bind("pending")
        .bind(Some(now + 3_600_000))
        .bind(now)
        .bind(None::<i64>)
        .execute(&mut conn)
        .await
        .unwrap();
    println!(
        "- seeded {history} historical and {pending} pending calls in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// Appends `n` audit events about the seeded calls, chained as the server chains them (the
/// log's triggers allow inserts), in one transaction of 10,000-event batches.
async fn seed_audit(db: &Path, agent: &str, n: usize) {
    use askfirst::store::audit::{append_many, OwnedEvent};
    // Through the store's pool, whose connections `append_many` takes.
    let pool = askfirst::store::open(&askfirst::store::Location::Sqlite(db.to_path_buf()))
        .await
        .unwrap();
    let agent_id: String = askfirst::on!(&pool, |c| {
        sqlx::query_scalar("SELECT id FROM agents WHERE name = ?")
            .bind(agent)
            .fetch_one(c)
            .await
    })
    .unwrap();
    let start = chrono::Utc::now() - chrono::Duration::milliseconds(n as i64 * 10);
    let t = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    for batch in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let events: Vec<OwnedEvent> = batch
            .iter()
            .map(|&i| {
                // Every 1,000th a bypass request by a person (a rare kind and actor).
                let (kind, actor, from, to) = match i % 1000 {
                    999 => ("bypass.requested", "user:bench", None, None),
                    r if r % 2 == 0 => ("call.proposed", "agent:bench-bot", None, Some("pending")),
                    _ => (
                        "call.approved",
                        "user:bench",
                        Some("pending"),
                        Some("approved"),
                    ),
                };
                OwnedEvent {
                    at: start + chrono::Duration::milliseconds(i as i64 * 10),
                    actor: actor.into(),
                    kind: kind.into(),
                    agent_id: Some(agent_id.clone()),
                    call_id: Some(format!("h-{}", i / 2 + 1)),
                    from_status: from.map(Into::into),
                    to_status: to.map(Into::into),
                    detail: json!({ "reason": "seeded for the benchmark", "n": i }),
                }
            })
            .collect();
        append_many(&mut tx, &events).await.unwrap();
    }
    tx.commit().await.unwrap();
    println!(
        "- seeded {n} chained audit events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

async fn page_times(client: &Client, url: &str, n: usize) -> (Vec<f64>, usize) {
    let mut ms = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let res = client
            .get(url)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        bytes = res.bytes().await.unwrap().len();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (ms, bytes)
}

async fn inbox_render(dir: &Path, history: usize, pending: usize) {
    println!("\n## Inbox with {pending} pending and {history} historical calls");
    seed(&dir.join("askfirst.db"), "bench-bot", history, pending).await;
    // A position halfway down the history, as a visitor paging that far would hold.
    let middle: Option<(i64, String)> = {
        let pool =
            sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("askfirst.db").display()))
                .await
                .unwrap();
        let row = sqlx::query_as(
            "SELECT created_at, id FROM calls WHERE status != 'pending'
             ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
        )
        .bind((history / 2) as i64)
        .fetch_optional(&pool)
        .await
        .unwrap();
        pool.close().await;
        row
    };
    let deep = match &middle {
        Some((at, id)) => format!("/history?before={at}.{id}"),
        None => "/history".to_string(),
    };
    seed_audit(&dir.join("askfirst.db"), "bench-bot", history).await;
    let server = Server::start(dir, free_port()).await;
    let approver = sign_in(&server).await;
    for (name, path) in [
        ("inbox (first 100 by deadline, counts per filter)", "/inbox"),
        ("inbox filtered by tool", "/inbox?tool=deploy_7"),
        ("history, first page", "/history"),
        ("history, a page halfway down (by position)", deep.as_str()),
    ] {
        let url = format!("{}{path}", server.base);
        page_times(&approver, &url, 5).await; // warm up
        let (ms, bytes) = page_times(&approver, &url, 50).await;
        println!(
            "- {name}: {} ({} KiB of HTML; loopback request time, an upper bound on server time; target p50 ≤ 20 ms)",
            summary(ms),
            bytes / 1024
        );
    }
    // The admin pages over the same history: every call is from the last 24 hours, the
    // worst case for the agents page's per-outcome counts.
    let admin = sign_in_as(&server, "bench-admin").await;
    for (name, path) in [
        (
            "agents page (calls in the last 24 h per outcome)",
            "/agents",
        ),
        ("policy page", "/policy"),
    ] {
        let url = format!("{}{path}", server.base);
        page_times(&admin, &url, 2).await;
        let (ms, bytes) = page_times(&admin, &url, 10).await;
        println!("- {name}: {} ({} KiB of HTML)", summary(ms), bytes / 1024);
    }
    audit_pages(&server, &admin, history).await;
    for limit in [10_000, 100_000] {
        let mut ms = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let res = admin
                .post(format!("{}/rpc/policy_replay", server.base))
                .header("accept", "application/json")
                .form(&[("limit", limit.to_string())])
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "replay: {}", res.status());
            res.bytes().await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "- policy replay over the newest {limit} calls: {}",
            summary(ms)
        );
    }
    // Sign-off over the same history: a pending bypass request, whose page and the review
    // queue preview the newest 5,000 gated calls its scope would have approved.
    let res = admin
        .post(format!("{}/rpc/bypass_request", server.base))
        .header("accept", "application/json")
        .form(&[
            ("tool", "tool_7"),
            ("agent", ""),
            ("conditions", "/host=db-1*"),
            ("window", "1h"),
            ("reason", "benchmark"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "bypass request: {}",
        res.status()
    );
    for (name, path) in [
        ("bypasses page", "/bypasses"),
        (
            "reviews page (one pending bypass previewing the newest 5,000 gated calls)",
            "/reviews",
        ),
        ("bypass page (pending: the same preview)", "/bypasses/1"),
    ] {
        let url = format!("{}{path}", server.base);
        page_times(&admin, &url, 2).await;
        let (ms, bytes) = page_times(&admin, &url, 10).await;
        println!("- {name}: {} ({} KiB of HTML)", summary(ms), bytes / 1024);
    }
    let mut ms = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let res = admin
            .post(format!("{}/rpc/bypass_preview", server.base))
            .header("accept", "application/json")
            .form(&[
                ("tool", "tool_*"),
                ("agent", ""),
                ("conditions", "/env=prod*"),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "preview: {}", res.status());
        res.bytes().await.unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "- bypass scope preview over the newest 5,000 gated calls: {}",
        summary(ms)
    );
    insights(dir, &server, &admin).await;
    server.stop().await;
}

/// The insights page over the rollups (hourly, and per day) of a month of a million-call history at its most
/// scattered: 40 tools with 20 patterns each, every hour of 30 days (576,000 rollup rows,
/// more than a million calls can fill in practice), seeded straight into SQLite, measured
/// once the server's background roll-up of the seeded audit log has caught up.
async fn insights(dir: &Path, server: &Server, admin: &Client) {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join("askfirst.db"))
        .connect()
        .await
        .unwrap();
    let t = Instant::now();
    let hour = 3_600_000i64;
    let now = chrono::Utc::now().timestamp_millis() / hour * hour;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 575999)
         INSERT OR REPLACE INTO insight_rollups (hour, agent_id, tool, pattern, proposed, allowed, gated,
             approved, denied_people, executed, d2, d5)
         SELECT ? - (i / 800) * ?, (SELECT id FROM agents LIMIT 1), 'tool_' || (i % 40),
             'tool_' || (i % 40) || ' host=db-' || ((i / 40) % 20),
             3, 1, 2, 1, 1, 2, 1, 1
         FROM n",
    )
    .bind(now)
    .bind(hour)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT OR REPLACE INTO insight_daily (day, agent_id, tool, pattern, proposed, allowed, gated,
             approved, denied_people, executed, d2, d5)
         SELECT hour / 86400000 * 86400000, agent_id, tool, pattern, SUM(proposed),
             SUM(allowed), SUM(gated), SUM(approved), SUM(denied_people), SUM(executed),
             SUM(d2), SUM(d5)
         FROM insight_rollups GROUP BY 1, 2, 3, 4",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT OR IGNORE INTO insight_patterns (tool, pattern, rule, args, approvals_in_row)
         SELECT DISTINCT tool, pattern, 'seed', '{}', 3 FROM insight_rollups",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    println!(
        "\n## Insights over 576,000 rollup rows (30 days x 40 tools x 20 patterns, hourly)\n- seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // The server rolls the seeded audit log up in the background: how long it takes, and
    // the page measured once it has caught up (as it is in steady state).
    let t = Instant::now();
    loop {
        let (done, newest): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT last_event_id FROM insight_state), (SELECT MAX(id) FROM audit_events)",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if done >= newest {
            println!(
                "- the audit log ({newest} events) rolled up {:.1} s after this point",
                t.elapsed().as_secs_f64()
            );
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            println!("- the roll-up had reached event {done} of {newest} after 600 s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (name, path) in [
        ("insights, 24 h", "/insights?period=24h"),
        ("insights, 7 d", "/insights?period=7d"),
        ("insights, 30 d", "/insights?period=30d"),
    ] {
        let url = format!("{}{path}", server.base);
        page_times(admin, &url, 2).await;
        let (ms, bytes) = page_times(admin, &url, 10).await;
        println!(
            "- {name}: {} ({} KiB of HTML; target p50 ≤ 200 ms)",
            summary(ms),
            bytes / 1024
        );
    }
}

/// The audit page over the seeded log: while the server verifies the chain in the
/// background after its start, and once it has caught up.
async fn audit_pages(server: &Server, admin: &Client, events: usize) {
    println!("\n## Audit page with {events} seeded audit events");
    let deep = format!("/audit?before={}", events / 2);
    let pages = [
        ("audit, first page", "/audit"),
        (
            "audit filtered by a rare kind (index)",
            "/audit?kind=bypass.requested",
        ),
        (
            "audit filtered by a rare actor (index)",
            "/audit?actor=user%3Abench&kind=bypass.",
        ),
        ("audit filtered by kind prefix `call.`", "/audit?kind=call."),
        (
            "audit filtered by a time range matching nothing (worst case: every event read)",
            "/audit?to=2000-01-01T00:00",
        ),
        ("audit, a page halfway down (by id)", deep.as_str()),
    ];
    let url = format!("{}/audit", server.base);
    let (ms, _) = page_times(admin, &url, 5).await;
    println!(
        "- audit first page while the chain is verified in the background: {}",
        summary(ms)
    );
    let t = Instant::now();
    let verified = loop {
        let res = admin
            .post(format!("{}/rpc/audit", server.base))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "audit: {}", res.status());
        let page: Value = res.json().await.unwrap();
        let chain = &page["chain"];
        if !chain["broken"].is_null() {
            panic!("the seeded chain is broken: {chain}");
        }
        if chain["verified_up_to"] == chain["newest"] || t.elapsed() > Duration::from_secs(600) {
            break chain["verified_up_to"].clone();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "- chain verified up to event {verified} within {:.1} s of the first page (background, 5,000 events a step)",
        t.elapsed().as_secs_f64()
    );
    for (name, path) in pages {
        let url = format!("{}{path}", server.base);
        page_times(admin, &url, 2).await;
        let (ms, bytes) = page_times(admin, &url, 10).await;
        println!("- {name}: {} ({} KiB of HTML)", summary(ms), bytes / 1024);
    }
    for ext in ["csv", "jsonl"] {
        let t = Instant::now();
        let res = admin
            .get(format!(
                "{}/audit/export.{ext}?kind=call.approved",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "export");
        let mut bytes = 0usize;
        let mut body = res;
        while let Some(chunk) = body.chunk().await.unwrap() {
            bytes += chunk.len();
        }
        println!(
            "- export of every `call.approved` event as {ext}: {:.1} s, {} MiB",
            t.elapsed().as_secs_f64(),
            bytes / (1024 * 1024)
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let agents: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let history: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let dir: PathBuf = dir.path().to_path_buf();
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let db = dir.join("askfirst.db").display().to_string();
    cli(
        &dir,
        &[
            "policy",
            "import",
            &dir.join("policy.toml").display().to_string(),
        ],
        None,
    );
    let created: Value = serde_json::from_str(&cli(
        &dir,
        &["agent", "create", "bench-bot", "--json"],
        None,
    ))
    .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    // 10,000 agents' pending calls come from one agent key here: over the default cap.
    cli(
        &dir,
        &["limits", "set", "--max-pending-per-agent", "none"],
        None,
    );
    cli(
        &dir,
        &[
            "user",
            "add",
            "bench",
            "--role",
            "approver",
            "--password-stdin",
        ],
        Some("bench password 123\n"),
    );
    cli(
        &dir,
        &[
            "user",
            "add",
            "bench-admin",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("bench password 123\n"),
    );
    println!("# askfirst waiting benchmark ({db})");

    if agents > 0 {
        let server = Server::start(&dir, free_port()).await;
        let approver = sign_in(&server).await;
        long_polls(&server, &key, &approver, agents).await;
        webhooks(&dir, &server, &key, &approver, 1000).await;
        server.stop().await;
    }

    inbox_render(&dir, history, 10_000).await;
}
