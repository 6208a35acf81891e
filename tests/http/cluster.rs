//! Several instances on one PostgreSQL database behave as one: a decision made through
//! either wakes what waits on the other, concurrent deciders spread across both make one
//! transition, a policy change on one governs the next call on the other, and killing one
//! with SIGKILL under load loses nothing acknowledged and runs nothing twice. Skipped when
//! the suite runs on SQLite (`ASKFIRST_TEST_PG` unset).

use crate::process::{cli, serve};
use crate::support::{on_postgres, TestApp};
use askfirst::domain::Role;
use askfirst::gate::decide::DecisionInput;
use axum::{extract::State, routing::post, Router};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn gated_policy() -> Value {
    json!({
        "default_effect": { "kind": "allow" },
        "rules": [
            { "name": "deploy", "match": { "tool": "deploy" },
              "effect": { "kind": "gate", "deadline_secs": 3600, "approval_ttl_secs": 600 } }
        ]
    })
}

fn approve() -> DecisionInput {
    DecisionInput {
        approve: true,
        ..Default::default()
    }
}

/// Two instances on one fresh database, or `None` on SQLite.
async fn pair() -> Option<(TestApp, TestApp)> {
    if !on_postgres() {
        eprintln!("skipped: several instances need PostgreSQL (ASKFIRST_TEST_PG)");
        return None;
    }
    let a = TestApp::spawn().await;
    a.policy(gated_policy()).await;
    let b = a.another_instance().await;
    Some((a, b))
}

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<String>>>);

async fn hook(State(hits): State<Hits>, body: String) -> axum::http::StatusCode {
    hits.0.lock().unwrap().push(body);
    axum::http::StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_on_b_wakes_the_long_poll_on_a_and_its_webhook_once() {
    let Some((a, b)) = pair().await else { return };
    let (key, _) = a.agent("bot").await;
    let hits = Hits::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/hook", post(hook))
        .with_state(hits.clone());
    let receiver = tokio::spawn(async move { axum::serve(listener, router).await });
    a.allow_callbacks("bot", &url).await;

    let p = a
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": {}, "callback_url": url }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let waiting = a.long_poll(&key, &id, 30);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let decided_at = Instant::now();
    b.decide(&id, &b.person("bea", Role::Approver).await, approve())
        .await
        .unwrap();
    let (view, woke_at) = waiting.await.unwrap();
    assert_eq!(view["status"], "approved", "{view}");
    let waited = woke_at.duration_since(decided_at);
    assert!(
        waited < Duration::from_secs(1),
        "the long-poll on A woke {waited:?} after the decision on B"
    );

    // Both instances deliver webhooks; the one attempt is claimed by one of them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while hits.0.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bodies = hits.0.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "delivered exactly once: {bodies:?}");
    let delivered: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(delivered["id"], id.as_str());
    assert_eq!(delivered["status"], "approved");
    receiver.abort();
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_deciders_across_both_instances_make_one_transition() {
    let Some((a, b)) = pair().await else { return };
    let (key, _) = a.agent("bot").await;
    let p = a
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": {} }),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let hash = a.candidate_hash(&id).await;
    let mut clients = Vec::new();
    for i in 0..100 {
        let app = if i % 2 == 0 { &a } else { &b };
        let client = app.session_for(&format!("p{i}"), Role::Approver).await;
        clients.push((app.url("/rpc/decide"), client));
    }
    crate::support::race_decisions(clients, &id, &hash).await;
    let left_pending = a
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE call_id = $1 AND from_status = 'pending'",
            &id,
        )
        .await;
    assert_eq!(left_pending, 1, "one transition, one audit event");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_on_a_governs_the_next_call_on_b_within_a_second() {
    let Some((a, b)) = pair().await else { return };
    let (key, _) = a.agent("bot").await;
    let before = b
        .propose_ok(&key, json!({ "session": "s", "tool": "wipe", "args": {} }))
        .await;
    assert_eq!(before["status"], "allowed");

    let mut tighter: askfirst::domain::policy::Policy =
        serde_json::from_value(gated_policy()).unwrap();
    let deny: askfirst::domain::policy::Rule = serde_json::from_value(json!({
        "name": "no-wipe", "match": { "tool": "wipe" },
        "effect": { "kind": "deny", "message": "wiping is out of scope" }
    }))
    .unwrap();
    tighter.rules.insert(0, deny);
    let changed_at = Instant::now();
    a.gate()
        .replace_policy(tighter, "user:ada", None)
        .await
        .expect("a tightening change applies at once");
    loop {
        let now = b
            .propose_ok(&key, json!({ "session": "s", "tool": "wipe", "args": {} }))
            .await;
        if now["status"] == "denied" {
            assert_eq!(now["rule"], "no-wipe", "{now}");
            break;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "B still follows the old policy a second after A changed it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_failures_count_across_instances() {
    let Some((a, b)) = pair().await else { return };
    a.add_user("ada", Role::Admin, "correct horse 1").await;
    // Five wrong guesses, spread over both instances (each alone would allow five).
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .rpc(
                &app.client(),
                "sign_in",
                &[("username", "ada"), ("password", "guess")],
            )
            .await;
        assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    for app in [&a, &b] {
        let res = app
            .rpc(
                &app.client(),
                "sign_in",
                &[("username", "ada"), ("password", "correct horse 1")],
            )
            .await;
        assert_eq!(res.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    }
    a.clock
        .advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let res = b
        .rpc(
            &b.client(),
            "sign_in",
            &[("username", "ada"), ("password", "correct horse 1")],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    b.stop().await;
    a.stop().await;
}

/// A load balancer in miniature: forwards every new connection to the current target;
/// [`Balancer::fail_over`] switches the target and resets every open connection, as the
/// death of the instance behind them would.
struct Balancer {
    addr: std::net::SocketAddr,
    target: Arc<Mutex<String>>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Balancer {
    async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target.to_string()));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (t, o) = (target.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = t.lock().unwrap().clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                o.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, target, open }
    }

    fn fail_over(&self, to: &str) {
        *self.target.lock().unwrap() = to.to_string();
        for conn in self.open.lock().unwrap().drain(..) {
            conn.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sync_gate_rides_out_an_instance_lost_behind_the_balancer() {
    let Some((a, b)) = pair().await else { return };
    // The SDK computes waits from deadlines on the real clock.
    a.clock.advance(chrono::Utc::now() - a.now());
    let (key, _) = a.agent("bot").await;
    let balancer = Balancer::start(&a.base.replace("http://", "")).await;
    let client = askfirst_sdk::Client::new(format!("http://{}", balancer.addr), &key).unwrap();
    let gated = tokio::spawn(async move {
        let call = askfirst_sdk::ProposedCall::new("s", "deploy").args(json!({ "n": 1 }));
        client
            .execute_with_gate(call, |args| async move { args })
            .await
    });
    // Once the call waits, the instance the agent reached "dies".
    let mut id = None;
    for _ in 0..200 {
        let rows = askfirst::store::calls::pending(b.pool(), 10).await.unwrap();
        if let Some(row) = rows.first() {
            id = Some(row.id.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let id = id.expect("the SDK proposed the call");
    tokio::time::sleep(Duration::from_millis(300)).await;
    balancer.fail_over(&b.base.replace("http://", ""));
    b.decide(&id, &b.person("bea", Role::Approver).await, approve())
        .await
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), gated)
        .await
        .expect("the gate finished")
        .unwrap()
        .expect("no error reached the agent");
    match outcome {
        askfirst_sdk::GateOutcome::Executed { id: ran, args, .. } => {
            assert_eq!(ran, id);
            assert_eq!(args, json!({ "n": 1 }));
        }
        other => panic!("{other:?}"),
    }
    b.stop().await;
    a.stop().await;
}

/// Holds the write lock from outside askfirst (as an instance in the middle of a write
/// would) until the returned sender is dropped or fired.
async fn hold_write_lock(db: &str) -> tokio::sync::oneshot::Sender<()> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(db).await.unwrap();
    askfirst::on!(&mut conn, |cn| sqlx::query("BEGIN")
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
    .unwrap();
    askfirst::on!(&mut conn, |cn| sqlx::query(
        "SELECT pg_advisory_xact_lock(7022074331600679796)"
    )
    .execute(cn)
    .await
    .map(askfirst::store::Done::from))
    .unwrap();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = released.await;
        let _ = askfirst::on!(&mut conn, |cn| sqlx::query("COMMIT")
            .execute(cn)
            .await
            .map(askfirst::store::Done::from));
    });
    release
}

/// The last statement of every session holding the write lock while idle in its
/// transaction.
async fn lock_left_idle(pool: &askfirst::store::Pool) -> Vec<String> {
    askfirst::on!(pool, |cn| sqlx::query_scalar(
        "SELECT a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND a.state = 'idle in transaction'
           AND a.datname = current_database()",
    )
    .fetch_all(cn)
    .await)
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_giving_up_while_its_write_waits_leaves_no_lock_behind() {
    let Some((a, b)) = pair().await else { return };
    let (key, _) = a.agent("bot").await;
    a.add_user("ada", Role::Admin, "correct horse 1").await;
    let release = hold_write_lock(&a.db).await;
    // Sign-ins write (the shared failure count); these clients give up while they wait.
    for app in [&a, &b] {
        let gave_up = Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap()
            .post(app.url("/rpc/sign_in"))
            .header("accept", "application/json")
            .form(&[("username", "nobody"), ("password", "a long password 1")])
            .send()
            .await;
        assert!(gave_up.is_err(), "the write waited for the lock");
    }
    release.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = lock_left_idle(a.pool()).await;
    assert!(
        idle.is_empty(),
        "a cancelled wait left the lock held: {idle:?}"
    );
    for app in [&a, &b] {
        let started = Instant::now();
        let p = app
            .propose_ok(
                &key,
                json!({ "session": "s", "tool": "deploy", "args": {} }),
            )
            .await;
        assert_eq!(p["status"], "pending");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "writes flow again"
        );
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_frozen_while_holding_the_write_lock_is_cut_off() {
    let Some((a, b)) = pair().await else { return };
    let (key, _) = a.agent("bot").await;
    // A third "instance" opens a write and then stops answering, lock held.
    let frozen = askfirst::store::open(&a.db.parse().unwrap()).await.unwrap();
    let tx = askfirst::store::write_tx(&frozen).await.unwrap();
    let started = Instant::now();
    let p = b
        .propose_ok(
            &key,
            json!({ "session": "s", "tool": "deploy", "args": {} }),
        )
        .await;
    assert_eq!(p["status"], "pending");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(25),
        "the server ended the idle transaction after 15 s: waited {waited:?}"
    );
    drop(tx);
    frozen.close().await;
    b.stop().await;
    a.stop().await;
}

// --- SIGKILL of one of two real processes under mixed load -------------------------------

async fn signed_in(base: &str) -> Client {
    let browser = Client::builder().cookie_store(true).build().unwrap();
    let res = browser
        .post(format!("{base}/rpc/sign_in"))
        .header("accept", "application/json")
        .form(&[("username", "ann"), ("password", "a long enough password")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    browser
}

#[derive(Default)]
struct Ledger {
    proposed: HashSet<String>,
    approved: HashSet<String>,
    executed: Vec<String>,
    /// Agents whose long-poll on the killed instance broke, then got the decision from
    /// the other instance.
    recovered: usize,
}

/// Waits for `id`'s decision, first on `first`, then (if that instance is gone) on `other`.
async fn wait_for_decision(
    agent: &Client,
    key: &str,
    id: &str,
    first: &str,
    other: &str,
) -> Option<(Value, bool)> {
    for (n, base) in [first, other].into_iter().enumerate() {
        for _ in 0..3 {
            let res = agent
                .get(format!("{base}/api/v1/calls/{id}?wait=5"))
                .bearer_auth(key)
                .send()
                .await;
            match res {
                Ok(res) if res.status().is_success() => {
                    let view: Value = res.json().await.ok()?;
                    if view["status"] != "pending" {
                        return Some((view, n == 1));
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_instance_under_load_loses_nothing_and_runs_nothing_twice() {
    if !on_postgres() {
        eprintln!("skipped: several instances need PostgreSQL (ASKFIRST_TEST_PG)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::fresh_database(dir.path()).await;
    let key_file = dir.path().join("askfirst.secrets-key");
    cli(
        &db,
        &[
            "user",
            "add",
            "ann",
            "--role",
            "approver",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    )
    .await;
    let agent: Value =
        serde_json::from_str(&cli(&db, &["agent", "create", "pair-bot", "--json"], None).await)
            .unwrap();
    let key = agent["key"].as_str().unwrap().to_string();
    let (mut doomed, base_a) = serve(&db, &key_file).await;
    let (mut survivor, base_b) = serve(&db, &key_file).await;
    let (browser_a, browser_b) = (signed_in(&base_a).await, signed_in(&base_b).await);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for worker in 0..6usize {
        let (base_a, base_b, key, ledger) =
            (base_a.clone(), base_b.clone(), key.clone(), ledger.clone());
        let (browser_a, browser_b) = (browser_a.clone(), browser_b.clone());
        tasks.push(tokio::spawn(async move {
            let agent = Client::new();
            let mut n = worker * 100_000;
            while Instant::now() < stop_at {
                n += 1;
                // Propose on one instance, wait there, decide through the other.
                let (home, away) = if n % 2 == 0 {
                    (&base_a, &base_b)
                } else {
                    (&base_b, &base_a)
                };
                let args = json!({ "env": "production", "n": n });
                let body = json!({ "session": "pair", "tool": "deploy", "args": args });
                let mut proposed = None;
                for base in [home, away] {
                    let res = agent
                        .post(format!("{base}/api/v1/calls"))
                        .bearer_auth(&key)
                        .header("Idempotency-Key", format!("w{worker}-{n}"))
                        .json(&body)
                        .send()
                        .await;
                    if let Ok(res) = res {
                        if let Ok(view) = res.json::<Value>().await {
                            proposed = Some((view, base.clone()));
                            break;
                        }
                    }
                }
                let Some((view, home)) = proposed else {
                    continue;
                };
                let id = view["id"].as_str().unwrap_or_default().to_string();
                if id.is_empty() {
                    continue;
                }
                ledger.lock().unwrap().proposed.insert(id.clone());
                let other = if home == base_a { &base_b } else { &base_a };
                let poll = {
                    let (agent, key, id, home, other) = (
                        agent.clone(),
                        key.clone(),
                        id.clone(),
                        home.clone(),
                        other.clone(),
                    );
                    tokio::spawn(async move {
                        wait_for_decision(&agent, &key, &id, &home, &other).await
                    })
                };
                let hash = askfirst::store::json::hash(&args);
                let mut decided = false;
                for decider in [other, &home] {
                    let browser = if decider == &base_a {
                        &browser_a
                    } else {
                        &browser_b
                    };
                    let res = browser
                        .post(format!("{decider}/rpc/decide"))
                        .header("accept", "application/json")
                        .form(&[
                            ("id", id.as_str()),
                            ("decision", "approve"),
                            ("hash", hash.as_str()),
                        ])
                        .send()
                        .await;
                    match res {
                        Ok(res) if res.status().is_success() => {
                            ledger.lock().unwrap().approved.insert(id.clone());
                            decided = true;
                            break;
                        }
                        Ok(res) if res.status().as_u16() == 409 => {
                            decided = true;
                            break;
                        }
                        _ => {}
                    }
                }
                if !decided {
                    continue;
                }
                let Ok(Some((view, retried))) = poll.await else {
                    continue;
                };
                if retried {
                    ledger.lock().unwrap().recovered += 1;
                }
                assert_eq!(view["status"], "approved", "{view}");
                for base in [&home, other] {
                    let res = agent
                        .post(format!("{base}/api/v1/calls/{id}/execute"))
                        .bearer_auth(&key)
                        .send()
                        .await;
                    match res {
                        Ok(res) if res.status().is_success() => {
                            ledger.lock().unwrap().executed.push(id.clone());
                            break;
                        }
                        Ok(_) => break,
                        Err(_) => {}
                    }
                }
            }
        }));
    }
    // Agents waiting on A when it dies, whose decisions are made only afterwards.
    let agent = Client::new();
    let mut stranded = Vec::new();
    for n in 0..10 {
        let args = json!({ "env": "production", "stranded": n });
        let res = agent
            .post(format!("{base_a}/api/v1/calls"))
            .bearer_auth(&key)
            .json(&json!({ "session": "pair", "tool": "deploy", "args": args }))
            .send()
            .await
            .unwrap();
        let view: Value = res.json().await.unwrap();
        let id = view["id"].as_str().unwrap().to_string();
        ledger.lock().unwrap().proposed.insert(id.clone());
        let (agent, key, a, b, id2) = (
            agent.clone(),
            key.clone(),
            base_a.clone(),
            base_b.clone(),
            id.clone(),
        );
        let poll = tokio::spawn(async move { wait_for_decision(&agent, &key, &id2, &a, &b).await });
        stranded.push((id, askfirst::store::json::hash(&args), poll));
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    doomed.kill().await.unwrap(); // SIGKILL, mid-flight
    for (id, hash, _) in &stranded {
        let res = browser_b
            .post(format!("{base_b}/rpc/decide"))
            .header("accept", "application/json")
            .form(&[
                ("id", id.as_str()),
                ("decision", "approve"),
                ("hash", hash.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "deciding {id} on the survivor");
        ledger.lock().unwrap().approved.insert(id.clone());
    }
    for (id, _, poll) in stranded {
        let (view, retried) = poll
            .await
            .unwrap()
            .expect("the waiting agent got its answer");
        assert_eq!(view["status"], "approved", "{id}: {view}");
        assert!(retried, "{id} was answered by the survivor after A died");
        ledger.lock().unwrap().recovered += 1;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(ledger.recovered >= 10, "every stranded agent recovered");
    assert!(
        ledger.proposed.len() > 20 && !ledger.executed.is_empty(),
        "the load did something: {} proposed, {} executed",
        ledger.proposed.len(),
        ledger.executed.len()
    );

    let pool = askfirst::store::open(&db.parse().unwrap()).await.unwrap();
    for id in &ledger.proposed {
        let status: Option<String> = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT status FROM calls WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(cn)
        .await)
        .unwrap();
        assert!(status.is_some(), "acknowledged proposal {id} was lost");
    }
    for id in &ledger.approved {
        let status: String = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT status FROM calls WHERE id = $1"
        )
        .bind(id)
        .fetch_one(cn)
        .await)
        .unwrap();
        assert!(
            status == "approved" || status == "executed",
            "acknowledged approval of {id} was lost: {status}"
        );
    }
    let unique: HashSet<&String> = ledger.executed.iter().collect();
    assert_eq!(
        unique.len(),
        ledger.executed.len(),
        "an execute was acknowledged twice"
    );
    let twice: i64 = askfirst::on!(&pool, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT call_id FROM audit_events WHERE to_status = 'executed'
         GROUP BY call_id HAVING COUNT(*) > 1) AS twice",
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(twice, 0, "a call was executed twice");
    for id in &ledger.executed {
        let status: String = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT status FROM calls WHERE id = $1"
        )
        .bind(id)
        .fetch_one(cn)
        .await)
        .unwrap();
        assert_eq!(status, "executed", "acknowledged execute of {id} was lost");
    }
    pool.close().await;
    eprintln!(
        "{} proposed, {} approved, {} executed; {} waiting agents recovered on the survivor",
        ledger.proposed.len(),
        ledger.approved.len(),
        ledger.executed.len(),
        ledger.recovered
    );
    let verified: Value =
        serde_json::from_str(&cli(&db, &["audit", "verify", "--json"], None).await).unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
    survivor.kill().await.unwrap();
}
