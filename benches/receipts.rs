//! Receipts: what signing one costs an approved call's view, and what verifying one costs a
//! tool server — median and p99 per operation, over 20,000 of each.
//!
//! `cargo bench --no-default-features --features ssr --bench receipts`

use askfirst_sdk::receipt::{self, AuditRef, Claims, DecidedBy, Decision, JwkSet};
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use ring::signature::KeyPair as _;
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

const N: usize = 20_000;

fn percentiles(mut ns: Vec<u128>) -> (f64, f64) {
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

fn time(mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..2_000 {
        f();
    }
    let mut ns = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        f();
        ns.push(t.elapsed().as_nanos());
    }
    percentiles(ns)
}

fn main() {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let jwks = JwkSet {
        keys: vec![Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some("k1".into()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(pair.public_key().as_ref()),
            }),
        }],
    };
    // About 1 KiB of arguments, as a deploy or a query might carry.
    let args = json!({
        "service": "payments-api", "env": "production", "replicas": 6,
        "image": "registry.example/payments-api@sha256:".to_string() + &"ab".repeat(32),
        "notes": "x".repeat(800), "flags": ["canary", "drain"], "timeout_secs": 300.5,
    });
    let now = 1_800_000_000;
    let claims = Claims {
        iss: "https://askfirst.example".into(),
        sub: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        aud: "deploy".into(),
        jti: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.4242".into(),
        iat: now,
        nbf: now,
        exp: now + 600,
        agent: "ci-bot".into(),
        tool: "deploy".into(),
        args_sha256: receipt::args_sha256(&args),
        decision: Decision {
            by: DecidedBy::People,
            rule: Some("gate-deploy".into()),
            approvers: vec![receipt::Approver {
                username: "ann".into(),
                at: now,
            }],
            bypass: None,
            grant: None,
        },
        policy_version: 12,
        audit: AuditRef {
            id: 4242,
            hash: "ab".repeat(32),
        },
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("k1".into());
    header.typ = Some(receipt::TYPE.into());
    let sign = || jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let token = sign();

    println!("receipts: {N} of each, after 2,000 untimed; 1 KiB of arguments");
    println!("                                         p50 µs    p99 µs");
    let rows = [
        (
            "args_sha256 (RFC 8785 + SHA-256)",
            time(|| {
                black_box(receipt::args_sha256(black_box(&args)));
            }),
        ),
        (
            "sign (claims to compact JWS, EdDSA)",
            time(|| {
                black_box(sign());
            }),
        ),
        (
            "verify (signature, claims, args hash)",
            time(|| {
                let claims = receipt::verify_signature(&jwks, black_box(&token)).unwrap();
                receipt::check_claims(&claims, "deploy", &args, now).unwrap();
            }),
        ),
    ];
    for (what, (p50, p99)) in rows {
        println!("  {what:<38} {p50:>7.1}   {p99:>7.1}");
    }
}
