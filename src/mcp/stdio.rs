//! Our stdio, with JSON-RPC 2.0 checked before the MCP SDK sees a message. The SDK ignores
//! a line that is not JSON (no answer: the client waits forever) and answers a malformed
//! message with "invalid request" and no id; JSON-RPC asks for more. Every line the client
//! sends is read here first and either passed on or answered at once:
//!
//! | the line | answer |
//! | --- | --- |
//! | not JSON | `-32700` parse error, `id: null` |
//! | JSON but not one JSON-RPC 2.0 object (a batch, `jsonrpc` not `"2.0"`, a bad `id`, a `method` that is not a string, `params` that are not an object or array, a response without a result or error) | `-32600` invalid request, with the message's `id` when it has a usable one |
//! | a request whose params do not fit its method | `-32602` invalid params, with its `id` |
//! | a malformed notification | nothing (notifications get no answer) |
//!
//! Unknown methods pass on, and the SDK answers `-32601`. The SDK's own answers and ours go
//! out through one writer, a whole line at a time.

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde_json::{json, Value};
use std::pin::Pin;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Longest line read (the SDK's own limit).
const MAX_LINE: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
/// Room in the pipes between this layer and the SDK.
const PIPE: usize = 1 << 20;

/// The MCP requests a client sends a server.
const STANDARD_REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "completion/complete",
    "logging/setLevel",
    "prompts/get",
    "prompts/list",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "resources/templates/list",
    "tools/call",
    "tools/list",
];

/// What to do with one line from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// A well-formed message: the SDK handles it.
    Pass,
    /// Answer with this error response.
    Reply(Value),
    /// Nothing to pass on and nothing to answer (an empty line, a malformed notification).
    Drop,
}

/// A JSON-RPC error response.
fn error(code: i64, message: String, id: Value) -> Checked {
    Checked::Reply(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    }))
}

/// Checks one line from the client.
pub fn check(line: &[u8]) -> Checked {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Checked::Drop;
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return error(-32700, format!("Parse error: {e}"), Value::Null),
    };
    let invalid = |why: &str, id: Value| error(-32600, format!("Invalid Request: {why}"), id);
    let Value::Object(message) = &value else {
        return invalid(
            "send one JSON-RPC object per line (batches are not supported)",
            Value::Null,
        );
    };
    // An id is a string or an integer (MCP does not allow null).
    let id = match message.get("id") {
        None => None,
        Some(id @ Value::String(_)) => Some(id.clone()),
        Some(id @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(id.clone()),
        Some(_) => return invalid("`id` must be a string or an integer", Value::Null),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if message.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid("`jsonrpc` must be \"2.0\"", reply_id);
    }
    match message.get("method") {
        Some(Value::String(method)) => {
            let method = method.clone();
            if message
                .get("params")
                .is_some_and(|p| !p.is_object() && !p.is_array())
            {
                return match id {
                    Some(id) => invalid("`params` must be an object or an array", id),
                    None => Checked::Drop,
                };
            }
            match serde_json::from_value::<ClientJsonRpcMessage>(value) {
                // The SDK takes a standard method whose params do not fit for a custom one
                // (and would answer "method not found").
                Ok(JsonRpcMessage::Request(r))
                    if matches!(r.request, ClientRequest::CustomRequest(_))
                        && STANDARD_REQUESTS.contains(&method.as_str()) =>
                {
                    error(
                        -32602,
                        format!("Invalid params for `{method}`: they do not fit its schema"),
                        reply_id,
                    )
                }
                Ok(_) => Checked::Pass,
                Err(e) => match id {
                    Some(id) => error(-32602, format!("Invalid params for `{method}`: {e}"), id),
                    None => Checked::Drop,
                },
            }
        }
        Some(_) => invalid("`method` must be a string", reply_id),
        // A response to one of our requests.
        None => {
            let answers =
                message.contains_key("result") as u8 + message.contains_key("error") as u8;
            if id.is_none() || answers != 1 {
                return invalid(
                    "a message needs a `method`, or an `id` and one of `result` and `error`",
                    reply_id,
                );
            }
            match serde_json::from_value::<ClientJsonRpcMessage>(value) {
                Ok(_) => Checked::Pass,
                Err(e) => invalid(&format!("malformed response: {e}"), reply_id),
            }
        }
    }
}

/// The SDK's end of our stdio: what it reads, what it writes, and a task that ends once
/// everything it wrote is on stdout (await it before the process exits).
pub struct Stdio {
    pub read: DuplexStream,
    pub write: DuplexStream,
    pub flushed: JoinHandle<()>,
}

fn reply_line(reply: &Value) -> Vec<u8> {
    let mut text = reply.to_string().into_bytes();
    text.push(b'\n');
    text
}

/// Standard input. A pipe (how MCP clients start servers) is read on the runtime's own
/// event loop; anything else (a terminal, a file) through tokio's blocking-pool reader,
/// which costs two thread hand-offs per line.
fn input() -> Pin<Box<dyn AsyncRead + Send>> {
    use std::os::fd::AsFd;
    let pipe = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok());
    match pipe {
        Some(pipe) => Box::pin(pipe),
        None => Box::pin(tokio::io::stdin()),
    }
}

/// Standard output, as [`input`]: a pipe is written on the event loop — unless standard
/// error is the same pipe, which must stay blocking for whoever writes logs to it.
fn output() -> Pin<Box<dyn AsyncWrite + Send>> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let same_file = |a: std::os::fd::BorrowedFd, b: std::os::fd::BorrowedFd| {
        let meta = |fd: std::os::fd::BorrowedFd| {
            fd.try_clone_to_owned().map(|fd| {
                std::fs::File::from(fd)
                    .metadata()
                    .map(|m| (m.dev(), m.ino()))
            })
        };
        matches!((meta(a), meta(b)), (Ok(Ok(a)), Ok(Ok(b))) if a == b)
    };
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    let pipe = (!same_file(stdout.as_fd(), stderr.as_fd()))
        .then(|| stdout.as_fd().try_clone_to_owned().ok())
        .flatten()
        .and_then(|fd| tokio::net::unix::pipe::Sender::from_owned_fd(fd).ok());
    match pipe {
        Some(pipe) => Box::pin(pipe),
        None => Box::pin(tokio::io::stdout()),
    }
}

/// Starts reading stdin and writing stdout.
pub fn stdio() -> Stdio {
    let (mut to_sdk, sdk_reads) = tokio::io::duplex(PIPE);
    let (sdk_writes, from_sdk) = tokio::io::duplex(PIPE);
    let (replies, mut our_replies) = mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut stdin = BufReader::new(input());
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut stdin)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if line.len() > MAX_LINE && !line.ends_with(b"\n") {
                // Too long: skip the rest of it, and say so.
                let mut rest = Vec::new();
                let _ = stdin.read_until(b'\n', &mut rest).await;
                if let Checked::Reply(reply) = error(
                    -32600,
                    format!("Invalid Request: a message over {MAX_LINE} bytes"),
                    Value::Null,
                ) {
                    let _ = replies.send(reply);
                }
                continue;
            }
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            match check(body) {
                Checked::Pass => {
                    if to_sdk.write_all(body).await.is_err()
                        || to_sdk.write_all(b"\n").await.is_err()
                    {
                        break;
                    }
                }
                Checked::Reply(reply) => {
                    let _ = replies.send(reply);
                }
                Checked::Drop => {}
            }
        }
        // End of input: the SDK sees it and the service ends.
        let _ = to_sdk.shutdown().await;
    });
    let flushed = tokio::spawn(async move {
        let mut stdout = output();
        let mut from_sdk = BufReader::new(from_sdk);
        let mut line = Vec::new();
        loop {
            let out = tokio::select! {
                // Cancel-safe: a partly read line stays in `line`.
                read = from_sdk.read_until(b'\n', &mut line) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => std::mem::take(&mut line),
                },
                Some(reply) = our_replies.recv() => reply_line(&reply),
            };
            if stdout.write_all(&out).await.is_err() || stdout.flush().await.is_err() {
                return;
            }
        }
        // The SDK is done: what we still owe goes out, then we are.
        while let Ok(reply) = our_replies.try_recv() {
            let _ = stdout.write_all(&reply_line(&reply)).await;
        }
        let _ = stdout.flush().await;
    });
    Stdio {
        read: sdk_reads,
        write: sdk_writes,
        flushed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &Checked) -> (i64, Value) {
        match c {
            Checked::Reply(r) => (r["error"]["code"].as_i64().unwrap(), r["id"].clone()),
            other => panic!("no reply: {other:?}"),
        }
    }

    #[test]
    fn lines_are_checked_before_the_sdk_sees_them() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<(i64, Value)>)] = &[
            // (line, None: passed on | Some((code, id)))
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None),
            (r#"{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{}}"#, None),
            (r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x","arguments":{}}}"#, None),
            (r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, None),
            (r#"{"jsonrpc":"2.0","id":7,"result":{}}"#, None),
            // Unknown methods pass on: the SDK answers -32601.
            (r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#, None),
            ("not json", Some((-32700, Value::Null))),
            (r#"{"jsonrpc":"2.0","id":4,"method":"ping""#, Some((-32700, Value::Null))),
            ("[]", Some((-32600, Value::Null))),
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, Some((-32600, Value::Null))),
            ("42", Some((-32600, Value::Null))),
            (r#"{"jsonrpc":"1.0","id":5,"method":"ping"}"#, Some((-32600, json!(5)))),
            (r#"{"id":6,"method":"ping"}"#, Some((-32600, json!(6)))),
            (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, Some((-32600, Value::Null))),
            (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, Some((-32600, Value::Null))),
            (r#"{"jsonrpc":"2.0","id":8,"method":5}"#, Some((-32600, json!(8)))),
            (r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":"x"}"#, Some((-32600, json!(9)))),
            (r#"{"jsonrpc":"2.0","id":10}"#, Some((-32600, json!(10)))),
            (r#"{"jsonrpc":"2.0","id":11,"result":{},"error":{"code":1,"message":"m"}}"#, Some((-32600, json!(11)))),
            (r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"arguments":{}}}"#, Some((-32602, json!(12)))),
            (r#"{"jsonrpc":"2.0","id":"r","method":"tools/call","params":{"name":5}}"#, Some((-32602, json!("r")))),
        ];
        for (line, want) in cases {
            let got = check(line.as_bytes());
            match want {
                None => assert_eq!(got, Checked::Pass, "{line}"),
                Some(want) => assert_eq!(&code(&got), want, "{line}"),
            }
        }
        // Nothing to answer.
        for quiet in [
            "",
            "  \r",
            r#"{"jsonrpc":"2.0","method":"tools/call","params":"x"}"#,
        ] {
            assert_eq!(check(quiet.as_bytes()), Checked::Drop, "{quiet:?}");
        }
    }
}
