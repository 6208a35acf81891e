//! The real binary in its own process: CLI commands and servers, for the tests that kill
//! a server with SIGKILL.

use std::time::Duration;
use tokio::process::{Child, Command};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_askfirst")
}

/// Runs `askfirst --db <db> <args>` (with `stdin` written to it); its stdout, after
/// asserting it succeeded.
pub async fn cli(db: &str, args: &[&str], stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(bin())
        .args(["--db", db])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "askfirst {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `askfirst serve` on a free port of 127.0.0.1; the process (killed when dropped)
/// and its base URL, once `/healthz` answers.
pub async fn serve(db: &str, key_file: &std::path::Path) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin())
        .args(["serve", "--addr", &addr, "--db", db, "--secrets-key-file"])
        .arg(key_file)
        .env("ASKFIRST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    for _ in 0..400 {
        if reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, base);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not come up");
}
