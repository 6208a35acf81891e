//! Crash safety: the real binary is killed with SIGKILL again and again during mixed load
//! (proposals, decisions, executions). After every restart, everything that was
//! acknowledged is there, nothing ran twice, and the database and audit chain are intact.
//! `ASKFIRST_CRASH_CYCLES` sets the number of cycles (default 8; the long variant: 50).

use crate::process::{cli, serve as start};
use reqwest::Client;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Acknowledged {
    proposed: HashSet<String>,
    approved: HashSet<String>,
    executed: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_and_nothing_runs_twice() {
    let cycles: usize = std::env::var("ASKFIRST_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
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
        serde_json::from_str(&cli(&db, &["agent", "create", "crash-bot", "--json"], None).await)
            .unwrap();
    let key = agent["key"].as_str().unwrap().to_string();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut seq = 0usize;

    for cycle in 0..cycles {
        let (mut server, base) = start(&db, &key_file).await;
        let browser = Client::builder().cookie_store(true).build().unwrap();
        let res = browser
            .post(format!("{base}/rpc/sign_in"))
            .header("accept", "application/json")
            .form(&[("username", "ann"), ("password", "a long enough password")])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());

        let stop_at = Instant::now() + Duration::from_millis(300 + (cycle as u64 * 97) % 400);
        let mut tasks = Vec::new();
        for worker in 0..6 {
            let (base, key, browser, acked) =
                (base.clone(), key.clone(), browser.clone(), acked.clone());
            let first = seq + worker * 10_000;
            tasks.push(tokio::spawn(async move {
                let agent = Client::new();
                let mut n = first;
                while Instant::now() < stop_at {
                    n += 1;
                    // Propose (gated: production deploys), then approve, then execute.
                    let Ok(res) = agent
                        .post(format!("{base}/api/v1/calls"))
                        .bearer_auth(&key)
                        .header("Idempotency-Key", format!("c{cycle}-{n}"))
                        .json(&json!({ "session": "crash", "tool": "deploy", "args": { "env": "production", "n": n } }))
                        .send()
                        .await
                    else {
                        break;
                    };
                    let Ok(body) = res.json::<Value>().await else { break };
                    let id = body["id"].as_str().unwrap_or_default().to_string();
                    // What the person is shown: the proposed arguments.
                    let hash = askfirst::store::json::hash(&json!({ "env": "production", "n": n }));
                    acked.lock().unwrap().proposed.insert(id.clone());
                    let Ok(res) = browser
                        .post(format!("{base}/rpc/decide"))
                        .header("accept", "application/json")
                        .form(&[("id", id.as_str()), ("decision", "approve"), ("hash", hash.as_str())])
                        .send()
                        .await
                    else {
                        break;
                    };
                    if res.status().is_success() {
                        acked.lock().unwrap().approved.insert(id.clone());
                    }
                    let Ok(res) = agent.post(format!("{base}/api/v1/calls/{id}/execute")).bearer_auth(&key).send().await else {
                        break;
                    };
                    if res.status().is_success() {
                        acked.lock().unwrap().executed.push(id.clone());
                    }
                }
            }));
        }
        tokio::time::sleep_until(stop_at.into()).await;
        server.kill().await.unwrap(); // SIGKILL, mid-flight
        for t in tasks {
            let _ = t.await;
        }
        seq += 100_000;
    }

    // Restart once more and check everything through a fresh process.
    let (mut server, base) = start(&db, &key_file).await;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        !acked.proposed.is_empty() && !acked.executed.is_empty(),
        "the load did something"
    );
    let pool = askfirst::store::open(&db.parse().unwrap()).await.unwrap();
    if !crate::support::on_postgres() {
        let check: String = askfirst::on!(&pool, |cn| sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(cn)
            .await)
        .unwrap();
        assert_eq!(check, "ok");
    }
    for id in &acked.proposed {
        let exists: Option<String> = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT status FROM calls WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(cn)
        .await)
        .unwrap();
        assert!(exists.is_some(), "acknowledged proposal {id} lost");
    }
    for id in &acked.approved {
        let decisions: i64 = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT COUNT(*) FROM reviews WHERE call_id = $1 AND decision = 'approve'",
        )
        .bind(id)
        .fetch_one(cn)
        .await)
        .unwrap();
        assert_eq!(decisions, 1, "acknowledged approval of {id} lost");
    }
    let mut seen = HashMap::new();
    for id in &acked.executed {
        *seen.entry(id).or_insert(0) += 1;
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "an execute was acknowledged twice"
    );
    let twice: i64 = askfirst::on!(&pool, |cn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT call_id FROM audit_events WHERE to_status = 'executed' GROUP BY call_id HAVING COUNT(*) > 1) AS twice",
    )
    .fetch_one(cn)
    .await)
    .unwrap();
    assert_eq!(twice, 0, "a call was executed twice");
    for id in &acked.executed {
        let status: String = askfirst::on!(&pool, |cn| sqlx::query_scalar(
            "SELECT status FROM calls WHERE id = $1"
        )
        .bind(id)
        .fetch_one(cn)
        .await)
        .unwrap();
        assert_eq!(status, "executed");
    }
    crate::support::assert_chain_intact(&pool).await;
    // The restarted server still answers correctly about executed calls.
    if let Some(id) = acked.executed.first() {
        let res = Client::new()
            .post(format!("{base}/api/v1/calls/{id}/execute"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 409);
    }
    server.kill().await.unwrap();
}
