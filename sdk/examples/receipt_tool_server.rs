//! A tool server that runs a call only with a valid askfirst receipt: it does not take
//! the agent's word that a person approved.
//!
//! ```text
//! cargo run -p askfirst-sdk --example receipt_tool_server -- \
//!     --jwks http://127.0.0.1:3000/.well-known/jwks.json --addr 127.0.0.1:4000
//!
//! curl -X POST http://127.0.0.1:4000/tools/deploy \
//!     -H "Askfirst-Receipt: $RECEIPT" -d '{"args": {"service": "api"}}'
//! ```
//!
//! `POST /tools/{tool}` with the arguments as `{"args": {…}}` and the call's receipt (the
//! `receipt` of its askfirst view) in the `Askfirst-Receipt` header. Without one: `401
//! receipt_required`. One that does not hold — another tool, other arguments, expired,
//! forged, used before: `403 receipt_refused`, and the tool does not run. Otherwise the
//! (simulated) tool runs, once per receipt.

use askfirst_sdk::receipt::{ReceiptError, Verifier};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
usage: receipt_tool_server [--jwks URL] [--addr HOST:PORT]

  --jwks  askfirst's keys (default http://127.0.0.1:3000/.well-known/jwks.json)
  --addr  where to listen (default 127.0.0.1:4000)";

/// The header that carries the receipt.
const RECEIPT_HEADER: &str = "askfirst-receipt";

/// The tool server's routes.
fn app(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/tools/{tool}", post(run_tool))
        .with_state(verifier)
}

fn refusal(status: StatusCode, code: &str, message: String) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
}

async fn run_tool(
    State(verifier): State<Arc<Verifier>>,
    Path(tool): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let args = body.get("args").cloned().unwrap_or_else(|| json!({}));
    let Some(token) = headers.get(RECEIPT_HEADER).and_then(|v| v.to_str().ok()) else {
        return refusal(
            StatusCode::UNAUTHORIZED,
            "receipt_required",
            "this tool runs only with an askfirst receipt (header Askfirst-Receipt)".into(),
        );
    };
    match verifier.verify_once(token.trim(), &tool, &args).await {
        Ok(claims) => (
            StatusCode::OK,
            // The real tool would run here, with exactly `args`.
            Json(json!({
                "ran": tool,
                "args": args,
                "call": claims.sub,
                "decided_by": claims.decision.by,
                "approvers": claims.decision.approvers.iter().map(|a| &a.username).collect::<Vec<_>>(),
            })),
        ),
        Err(e @ ReceiptError::KeysUnavailable(_)) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "keys_unavailable",
            e.to_string(),
        ),
        Err(e) => refusal(StatusCode::FORBIDDEN, "receipt_refused", e.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut jwks = "http://127.0.0.1:3000/.well-known/jwks.json".to_string();
    let mut addr = "127.0.0.1:4000".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let target = match flag.as_str() {
            "--jwks" => &mut jwks,
            "--addr" => &mut addr,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("unknown argument {flag}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        match args.next() {
            Some(value) => *target = value,
            None => {
                eprintln!("{flag} needs a value\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let verifier = match Verifier::new(&jwks).await {
        Ok(v) => Arc::new(v),
        Err(e) => {
            eprintln!("receipt_tool_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("receipt_tool_server: listening on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("receipt_tool_server: listening on http://{addr}, keys from {jwks}");
    match axum::serve(listener, app(verifier)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("receipt_tool_server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    //! The server against a stand-in askfirst: a JWKS served on 127.0.0.1 and receipts
    //! signed with its key, as askfirst signs them.
    use super::*;
    use askfirst_sdk::receipt::{args_sha256, AuditRef, Claims, DecidedBy, Decision, JwkSet, TYPE};
    use jsonwebtoken::jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, OctetKeyPairParameters,
        OctetKeyPairType,
    };
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    fn key(kid: &str) -> (EncodingKey, Jwk) {
        use base64::Engine as _;
        use ring::signature::KeyPair as _;
        let pkcs8 =
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = Jwk {
            common: CommonParameters {
                key_id: Some(kid.into()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(pair.public_key().as_ref()),
            }),
        };
        (EncodingKey::from_ed_der(pkcs8.as_ref()), jwk)
    }

    fn receipt(key: &EncodingKey, kid: &str, tool: &str, args: &Value, jti: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims = Claims {
            iss: "http://askfirst.test".into(),
            sub: "call-1".into(),
            aud: tool.into(),
            jti: jti.into(),
            iat: now,
            nbf: now,
            exp: now + 600,
            agent: "ci-bot".into(),
            tool: tool.into(),
            args_sha256: args_sha256(args),
            decision: Decision {
                by: DecidedBy::People,
                rule: Some("gate-deploy".into()),
                approvers: vec![askfirst_sdk::receipt::Approver {
                    username: "ann".into(),
                    at: now,
                }],
                bypass: None,
                grant: None,
            },
            policy_version: 3,
            audit: AuditRef {
                id: 7,
                hash: "00".repeat(32),
            },
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        header.typ = Some(TYPE.into());
        encode(&header, &claims, key).unwrap()
    }

    /// A refused call: what, the tool, the receipt, the arguments, the status, the message.
    type Refused<'a> = (&'a str, &'a str, Option<String>, Value, u16, &'a str);

    /// Serves `router` on 127.0.0.1; its base URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    }

    #[tokio::test]
    async fn runs_a_tool_only_with_a_receipt_for_this_call_once() {
        let (signing, jwk) = key("k1");
        let (forger, _) = key("k1");
        let jwks = JwkSet { keys: vec![jwk] };
        let askfirst = serve(Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { Json(jwks) }
            }),
        ))
        .await;
        let verifier = Verifier::new(format!("{askfirst}/.well-known/jwks.json"))
            .await
            .unwrap();
        let tools = serve(app(Arc::new(verifier))).await;
        let args = json!({ "service": "api", "replicas": 3 });
        let call = |tool: &str, token: Option<String>, args: Value| {
            let url = format!("{tools}/tools/{tool}");
            async move {
                let mut req = reqwest::Client::new()
                    .post(url)
                    .json(&json!({ "args": args }));
                if let Some(token) = token {
                    req = req.header("Askfirst-Receipt", token);
                }
                let res = req.send().await.unwrap();
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap())
            }
        };
        let good = receipt(&signing, "k1", "deploy", &args, "r-1");
        let (status, body) = call("deploy", Some(good.clone()), args.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["approvers"], json!(["ann"]));
        #[rustfmt::skip]
        let refused: Vec<Refused> = vec![
            ("no receipt", "deploy", None, args.clone(), 401, "header Askfirst-Receipt"),
            ("the same receipt again", "deploy", Some(good.clone()), args.clone(), 403, "used already"),
            ("another tool", "delete", Some(receipt(&signing, "k1", "deploy", &args, "r-2")), args.clone(), 403, "not `delete`"),
            ("other arguments", "deploy", Some(receipt(&signing, "k1", "deploy", &args, "r-3")), json!({ "service": "api", "replicas": 30 }), 403, "arguments differ"),
            ("a forged signature", "deploy", Some(receipt(&forger, "k1", "deploy", &args, "r-4")), args.clone(), 403, "signature"),
            ("an unknown key", "deploy", Some(receipt(&signing, "k9", "deploy", &args, "r-5")), args.clone(), 403, "does not publish"),
        ];
        for (what, tool, token, args, want, says) in refused {
            let (status, body) = call(tool, token, args).await;
            assert_eq!(status, want, "{what}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{what}: {message}");
        }
    }
}
