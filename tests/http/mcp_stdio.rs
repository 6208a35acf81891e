//! `askfirst mcp permission-prompt` and `askfirst mcp proxy` as JSON-RPC 2.0 peers, spoken
//! to with raw bytes on stdio: every malformed line gets the right error code and id, and
//! the server keeps answering afterwards.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const KEY_ENV: &str = "MCP_STDIO_TEST_KEY";

/// The answers to `lines`, by id (`null` ids in order under "null#0", "null#1", …), read
/// until `want` answers arrived.
async fn exchange(args: &[&str], lines: &[&str], want: usize) -> HashMap<String, Value> {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_askfirst"))
        .args(args)
        .env(KEY_ENV, "af_not_a_real_key")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("askfirst starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
    }
    stdin.flush().await.unwrap();
    let mut answers = HashMap::new();
    let mut nulls = 0;
    while answers.len() < want {
        let line = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("no answer after {answers:?}"))
            .unwrap()
            .expect("stdout open");
        let v: Value = serde_json::from_str(&line).expect("every line out is JSON");
        let id = match &v["id"] {
            Value::Null => {
                nulls += 1;
                format!("null#{}", nulls - 1)
            }
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        answers.insert(id, v);
    }
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    answers
}

fn code(answers: &HashMap<String, Value>, id: &str) -> i64 {
    answers[id]["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("{id}: {}", answers[id]))
}

const LINES: &[&str] = &[
    "this is not JSON",
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    "[]",
    r#"{"jsonrpc":"1.0","id":2,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{}}}"#,
    r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":"x"}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"no/such/method"}"#,
    r#"{"jsonrpc":"2.0","id":6,"method":"ping""#,
    r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
];

fn check(answers: &HashMap<String, Value>) {
    assert!(
        answers["1"]["result"]["serverInfo"].is_object(),
        "{answers:?}"
    );
    // Two lines that are not JSON: parse errors with a null id. One batch: invalid request.
    let mut null_codes: Vec<i64> = (0..3)
        .map(|i| code(answers, &format!("null#{i}")))
        .collect();
    null_codes.sort();
    assert_eq!(null_codes, vec![-32700, -32700, -32600]);
    assert_eq!(code(answers, "2"), -32600);
    assert_eq!(code(answers, "3"), -32602);
    assert_eq!(code(answers, "4"), -32600);
    assert_eq!(code(answers, "5"), -32601);
    // And it still answers.
    assert_eq!(answers["7"]["result"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_permission_prompt_answers_malformed_json_rpc_with_the_right_codes() {
    let args = [
        "mcp",
        "permission-prompt",
        "--url",
        "http://127.0.0.1:9",
        "--key-env",
        KEY_ENV,
    ];
    check(&exchange(&args, LINES, 9).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_malformed_json_rpc_with_the_right_codes() {
    let bin = env!("CARGO_BIN_EXE_askfirst");
    // The upstream is a permission-prompt server; it needs a key variable of its own,
    // since the proxy passes its key on to nobody.
    let args = [
        "mcp",
        "proxy",
        "--url",
        "http://127.0.0.1:9",
        "--key-env",
        KEY_ENV,
        "--name",
        "p",
        "--upstream-env",
        "UPSTREAM_KEY=unused",
        "--",
        bin,
        "mcp",
        "permission-prompt",
        "--url",
        "http://127.0.0.1:9",
        "--key-env",
        "UPSTREAM_KEY",
    ];
    check(&exchange(&args, LINES, 9).await);
}
