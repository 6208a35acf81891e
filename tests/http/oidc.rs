//! Sign-in with an OpenID provider: the callback's paths, good and bad, against a provider
//! this test plays on 127.0.0.1 with its own RSA keys (discovery, keys, a token endpoint
//! that checks PKCE and hands out the ID token the test wrote). The browser flow against a
//! real provider (npm `oidc-provider`) is in `end2end/tests/oidc.spec.ts`.

use crate::support::{error_of, on_postgres, TestApp};
use askfirst::auth::oidc::{OidcConfig, RoleMap};
use askfirst::auth::service::Passwords;
use askfirst::domain::Role;
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Form, Json, Router,
};
use base64::Engine as _;
use reqwest::Client;
use ring::signature::RsaKeyPair;
use serde_json::{json, Value};
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "askfirst";
const SECRET: &str = "test client secret";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The provider the tests play.
struct Fake {
    base: String,
    /// Signing keys (`kid`, key); the last one signs, the published ones are `published`.
    keys: Vec<(String, RsaKeyPair)>,
    signing: Mutex<usize>,
    published: Mutex<Vec<usize>>,
    /// Codes handed out: the ID token each one is exchanged for, the PKCE challenge, used.
    codes: Mutex<HashMap<String, (String, String, bool)>>,
    jwks_fetches: Mutex<usize>,
}

impl Fake {
    async fn start() -> Arc<Fake> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let keys = [
            include_bytes!("fixtures/oidc-key-1.der").as_slice(),
            include_bytes!("fixtures/oidc-key-2.der").as_slice(),
        ]
        .iter()
        .enumerate()
        .map(|(i, der)| (format!("key-{}", i + 1), RsaKeyPair::from_der(der).unwrap()))
        .collect();
        let fake = Arc::new(Fake {
            base,
            keys,
            signing: Mutex::new(0),
            published: Mutex::new(vec![0]),
            codes: Mutex::new(HashMap::new()),
            jwks_fetches: Mutex::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// A signed ID token with these claims (by the current signing key).
    fn id_token(&self, claims: &Value) -> String {
        let i = *self.signing.lock().unwrap();
        let (kid, key) = &self.keys[i];
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", b64(&sig))
    }

    /// A code the token endpoint exchanges for `id_token` (given the right verifier).
    fn code(&self, id_token: String, challenge: &str) -> String {
        let code = format!("code-{}", uuid::Uuid::new_v4().simple());
        self.codes
            .lock()
            .unwrap()
            .insert(code.clone(), (id_token, challenge.to_string(), false));
        code
    }

    /// Signs with the second key from now on, publishing both.
    fn rotate(&self) {
        *self.signing.lock().unwrap() = 1;
        *self.published.lock().unwrap() = vec![0, 1];
    }
}

async fn discovery(State(fake): State<Arc<Fake>>) -> impl IntoResponse {
    let b = &fake.base;
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "jwks_uri": format!("{b}/jwks"),
        "end_session_endpoint": format!("{b}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(fake): State<Arc<Fake>>) -> impl IntoResponse {
    *fake.jwks_fetches.lock().unwrap() += 1;
    let published = fake.published.lock().unwrap().clone();
    let keys: Vec<Value> = published
        .iter()
        .map(|&i| {
            let (kid, key) = &fake.keys[i];
            let public = key.public();
            let components: ring::rsa::PublicKeyComponents<Vec<u8>> = public.into();
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": b64(&components.n), "e": b64(&components.e),
            })
        })
        .collect();
    Json(json!({ "keys": keys }))
}

async fn token(
    State(fake): State<Arc<Fake>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let refuse =
        |error: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{}", SECRET.replace(' ', "+")))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&basic)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let mut codes = fake.codes.lock().unwrap();
    let Some((id_token, challenge, used)) = codes.get_mut(&code) else {
        return refuse("invalid_grant");
    };
    if *used {
        return refuse("invalid_grant");
    }
    *used = true;
    if b64(&sha2::Sha256::digest(verifier.as_bytes())) != *challenge {
        return refuse("invalid_grant");
    }
    Json(json!({
        "access_token": "at", "token_type": "Bearer", "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

fn config(fake: &Fake, strict: bool) -> OidcConfig {
    OidcConfig {
        issuer: fake.base.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        scopes: vec!["openid".into(), "profile".into()],
        label: "Test IdP".into(),
        role_claim: "groups".into(),
        roles: RoleMap(vec![
            (Role::Approver, "askfirst-approvers".into()),
            (Role::Manager, "askfirst-managers".into()),
            (Role::Admin, "askfirst-admins".into()),
        ]),
        strict,
        username_claim: None,
        redirect_url: String::new(),
        after_logout_url: String::new(),
    }
}

async fn setup(strict: bool, passwords: Passwords) -> (TestApp, Arc<Fake>) {
    let fake = Fake::start().await;
    let oidc = config(&fake, strict);
    let app = TestApp::spawn_with(move |s| {
        s.oidc = Some(oidc);
        s.passwords = passwords;
    })
    .await;
    (app, fake)
}

/// A sign-in started by `client`: the `state`, `nonce` and PKCE challenge it sent.
struct Started {
    state: String,
    nonce: String,
    challenge: String,
}

async fn start(app: &TestApp, client: &Client) -> Started {
    let res = client
        .get(app.url("/auth/oidc/start?next=/inbox"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "start redirects to the provider");
    let location = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let url = reqwest::Url::parse(&location).unwrap();
    assert!(location.starts_with(&format!(
        "{}/authorize?",
        url.origin().ascii_serialization()
    )));
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], app.url("/auth/oidc/callback"));
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
    }
}

/// The claims of a good ID token for `started`, on the test clock.
fn claims(app: &TestApp, fake: &Fake, started: &Started, sub: &str, groups: &[&str]) -> Value {
    let now = app.now().timestamp();
    json!({
        "iss": fake.base, "aud": CLIENT_ID, "sub": sub,
        "iat": now, "exp": now + 300, "nonce": started.nonce,
        "preferred_username": sub.trim_start_matches("sub-"),
        "groups": groups,
    })
}

async fn callback(app: &TestApp, client: &Client, query: &[(&str, &str)]) -> reqwest::Response {
    client
        .get(app.url("/auth/oidc/callback"))
        .query(query)
        .send()
        .await
        .unwrap()
}

/// Where a response redirects.
fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Signs `client` in as `sub` with `groups`; returns the callback's answer.
async fn sign_in(
    app: &TestApp,
    fake: &Fake,
    client: &Client,
    sub: &str,
    groups: &[&str],
) -> reqwest::Response {
    let started = start(app, client).await;
    let token = fake.id_token(&claims(app, fake, &started, sub, groups));
    let code = fake.code(token, &started.challenge);
    callback(app, client, &[("code", &code), ("state", &started.state)]).await
}

async fn me(app: &TestApp, client: &Client) -> Value {
    app.rpc(client, "current_user", &[])
        .await
        .json::<Value>()
        .await
        .unwrap()
}

/// The reason words of the refusals recorded so far.
async fn refusals(app: &TestApp) -> Vec<(String, String)> {
    app.audit_details("auth.oidc_refused")
        .await
        .into_iter()
        .map(|(_, d)| {
            (
                d["reason"].as_str().unwrap().to_string(),
                d["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_first_sign_in_creates_the_account_with_its_groups_role() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let client = app.client();
    let res = sign_in(
        &app,
        &fake,
        &client,
        "sub-alice",
        &["askfirst-approvers", "staff"],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/auth/continue?next=%2Finbox");
    let user = me(&app, &client).await;
    assert_eq!(user["username"], "alice");
    assert_eq!(user["role"], "approver");
    assert_eq!(user["oidc_subject"], "sub-alice");
    let created = app.audit_details("user.created").await;
    assert_eq!(created.last().unwrap().1["via"], "oidc");

    // The continue page sends the browser on (same-site), and only to this site.
    let page = app
        .page(&client, "/auth/continue?next=%2Finbox")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"content="0;url=/inbox""#), "{page}");
    let page = app
        .page(&client, "/auth/continue?next=https%3A%2F%2Fevil.example%2F")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"content="0;url=/""#));

    // The account has no password here: a password never signs it in, and nobody sets one.
    let other = app.client();
    let res = app
        .rpc(
            &other,
            "sign_in",
            &[("username", "alice"), ("password", "!oidc")],
        )
        .await;
    assert_eq!(res.status(), 401);
    let admin = app.signed_in("root", Role::Admin).await;
    let res = app
        .rpc(
            &admin,
            "reset_user_password",
            &[("username", "alice"), ("password", "long enough 1")],
        )
        .await;
    assert_eq!(error_of(res).await.0, 409);
    let res = app
        .rpc(
            &admin,
            "set_user_role",
            &[("username", "alice"), ("role", "admin")],
        )
        .await;
    assert_eq!(
        error_of(res).await.0,
        409,
        "the role comes from the provider"
    );

    // Someone else whose name is taken gets a suffix; the identity is the subject.
    let bob = app.client();
    let res = sign_in(&app, &fake, &bob, "sub-root", &[]).await;
    assert_eq!(res.status(), 303);
    let user = me(&app, &bob).await;
    assert_eq!(user["username"], "root-2");
    assert_eq!(
        user["role"], "viewer",
        "no mapped group: a viewer when not strict"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_role_is_read_again_at_every_sign_in_and_a_demotion_ends_other_sessions() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let laptop = app.client();
    sign_in(&app, &fake, &laptop, "sub-carol", &["askfirst-approvers"]).await;
    assert_eq!(me(&app, &laptop).await["role"], "approver");

    // Raised: the sign-off clock restarts.
    let phone = app.client();
    app.clock.advance(chrono::Duration::minutes(5));
    sign_in(&app, &fake, &phone, "sub-carol", &["askfirst-managers"]).await;
    let user = me(&app, &phone).await;
    assert_eq!(user["role"], "manager");
    assert_eq!(user["standing"]["by"], "role_raised");
    assert_eq!(
        me(&app, &laptop).await["role"],
        "manager",
        "a raise keeps other sessions"
    );

    // Lowered: every other session ends at once.
    let tablet = app.client();
    sign_in(&app, &fake, &tablet, "sub-carol", &["askfirst-approvers"]).await;
    assert_eq!(me(&app, &tablet).await["role"], "approver");
    assert!(
        me(&app, &laptop).await.is_null(),
        "the laptop's session ended"
    );
    assert!(
        me(&app, &phone).await.is_null(),
        "the phone's session ended"
    );
    let changes = app.audit_details("user.role_changed").await;
    let (_, last) = changes.last().unwrap();
    assert_eq!(
        (last["from"].as_str(), last["to"].as_str()),
        (Some("manager"), Some("approver"))
    );
    app.stop().await;
}

#[tokio::test]
async fn strict_mode_refuses_people_without_a_mapped_group_and_ends_their_sessions() {
    let (app, fake) = setup(true, Passwords::Everyone).await;
    // Someone exists, so the sign-in page is not first-run setup.
    app.add_user("root", Role::Admin, "root password 1").await;
    let client = app.client();
    let res = sign_in(&app, &fake, &client, "sub-dave", &["engineering"]).await;
    assert_eq!(location(&res), "/login?oidc_error=no_role");
    assert!(me(&app, &client).await.is_null());
    let page = app
        .page(&client, "/login?oidc_error=no_role")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("none of the groups that give a role"),
        "{page}"
    );

    // In a group, then out of it: the next sign-in is refused and the session ends.
    let first = app.client();
    sign_in(&app, &fake, &first, "sub-erin", &["askfirst-approvers"]).await;
    assert_eq!(me(&app, &first).await["role"], "approver");
    let again = app.client();
    let res = sign_in(&app, &fake, &again, "sub-erin", &[]).await;
    assert_eq!(location(&res), "/login?oidc_error=no_role");
    assert!(me(&app, &first).await.is_null());
    assert_eq!(refusals(&app).await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_state_a_replayed_callback_or_another_browser_is_refused() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let client = app.client();
    let started = start(&app, &client).await;
    let token = fake.id_token(&claims(&app, &fake, &started, "sub-frank", &[]));
    let code = fake.code(token, &started.challenge);

    // No state, an unknown one, and the right one from a browser that did not start it.
    for query in [
        vec![("code", code.as_str())],
        vec![("code", code.as_str()), ("state", "forged")],
    ] {
        let res = callback(&app, &client, &query).await;
        assert_eq!(location(&res), "/login?oidc_error=state");
    }
    let stranger = app.client();
    let res = callback(
        &app,
        &stranger,
        &[("code", &code), ("state", &started.state)],
    )
    .await;
    assert_eq!(location(&res), "/login?oidc_error=state");
    assert!(me(&app, &stranger).await.is_null());

    // None of that used up or cancelled the sign-in of the browser that started it.
    let query = [("code", code.as_str()), ("state", started.state.as_str())];
    assert!(location(&callback(&app, &client, &query).await).starts_with("/auth/continue"));
    assert_eq!(me(&app, &client).await["username"], "frank");

    // Replayed, it finds nothing (and the flow cookie went with the success).
    assert_eq!(
        location(&callback(&app, &client, &query).await),
        "/login?oidc_error=state"
    );
    let reasons: Vec<String> = refusals(&app).await.into_iter().map(|r| r.0).collect();
    assert_eq!(reasons, ["state"; 4]);
    app.stop().await;
}

#[tokio::test]
async fn an_id_token_with_the_wrong_nonce_audience_issuer_expiry_or_key_is_refused() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let now = app.now().timestamp();
    type Spoil = fn(&mut Value, i64);
    let cases: [(&str, Spoil); 6] = [
        ("nonce", |c, _| {
            c["nonce"] = json!("another sign-in's nonce")
        }),
        ("audience", |c, _| c["aud"] = json!("another-client")),
        ("issuer", |c, _| c["iss"] = json!("http://127.0.0.1:1")),
        ("expired", |c, now| {
            c["iat"] = json!(now - 600);
            c["exp"] = json!(now - 120);
        }),
        ("issued_at", |c, now| c["iat"] = json!(now + 3600)),
        ("issued_at", |c, now| {
            c["iat"] = json!(now - 3600);
            c["exp"] = json!(now + 3600);
        }),
    ];
    for (want, spoil) in cases {
        let client = app.client();
        let started = start(&app, &client).await;
        let mut c = claims(&app, &fake, &started, "sub-gina", &[]);
        spoil(&mut c, now);
        let code = fake.code(fake.id_token(&c), &started.challenge);
        let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
        assert_eq!(location(&res), "/login?oidc_error=id_token", "{want}");
        let (reason, detail) = refusals(&app).await.pop().unwrap();
        assert_eq!(reason, "id_token");
        assert!(detail.starts_with(want), "{want}: {detail}");
        assert!(me(&app, &client).await.is_null());
    }

    // Within a minute's skew, an expiry just past still counts.
    let client = app.client();
    let started = start(&app, &client).await;
    let mut c = claims(&app, &fake, &started, "sub-gina", &[]);
    c["exp"] = json!(now - 30);
    let code = fake.code(fake.id_token(&c), &started.challenge);
    let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
    assert!(location(&res).starts_with("/auth/continue"));

    // A token signed by a key the provider never published.
    let client = app.client();
    let started = start(&app, &client).await;
    *fake.signing.lock().unwrap() = 1;
    let code = fake.code(
        fake.id_token(&claims(&app, &fake, &started, "sub-gina", &[])),
        &started.challenge,
    );
    let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
    assert_eq!(location(&res), "/login?oidc_error=id_token");
    assert!(refusals(&app)
        .await
        .pop()
        .unwrap()
        .1
        .starts_with("signature"));
    app.stop().await;
}

#[tokio::test]
async fn rotated_keys_are_fetched_again_for_an_unknown_kid() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let client = app.client();
    sign_in(&app, &fake, &client, "sub-hank", &[]).await;
    assert_eq!(*fake.jwks_fetches.lock().unwrap(), 1);
    fake.rotate();
    // The keys were fetched at discovery: wait out the refetch gap of the guard.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let res = sign_in(&app, &fake, &app.client(), "sub-hank", &[]).await;
    assert!(
        location(&res).starts_with("/auth/continue"),
        "{}",
        location(&res)
    );
    assert_eq!(*fake.jwks_fetches.lock().unwrap(), 2);
    app.stop().await;
}

#[tokio::test]
async fn provider_errors_used_codes_slow_sign_ins_and_an_unreachable_provider_are_refused() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    app.add_user("root", Role::Admin, "root password 1").await;

    // The person declined at the provider; the provider's words stay in the audit log.
    let client = app.client();
    let started = start(&app, &client).await;
    let res = callback(
        &app,
        &client,
        &[
            ("error", "access_denied"),
            ("error_description", "<script>alert(1)</script>"),
            ("state", &started.state),
        ],
    )
    .await;
    assert_eq!(location(&res), "/login?oidc_error=denied");
    let page = app
        .page(&client, "/login?oidc_error=denied")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Test IdP did not sign you in."));
    assert!(!page.contains("<script>alert"));
    assert!(refusals(&app).await.pop().unwrap().1.contains("<script>"));

    // Another error from the provider.
    let started = start(&app, &client).await;
    let res = callback(
        &app,
        &client,
        &[("error", "server_error"), ("state", &started.state)],
    )
    .await;
    assert_eq!(location(&res), "/login?oidc_error=provider");

    // A code the token endpoint already exchanged.
    let started = start(&app, &client).await;
    let token = fake.id_token(&claims(&app, &fake, &started, "sub-ivy", &[]));
    let code = fake.code(token, &started.challenge);
    fake.codes.lock().unwrap().get_mut(&code).unwrap().2 = true;
    let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
    assert_eq!(location(&res), "/login?oidc_error=code");

    // A PKCE verifier that does not match (the code was issued for another challenge).
    let started = start(&app, &client).await;
    let token = fake.id_token(&claims(&app, &fake, &started, "sub-ivy", &[]));
    let code = fake.code(token, "another-challenge");
    let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
    assert_eq!(location(&res), "/login?oidc_error=code");

    // Eleven minutes between the redirect and the callback.
    let started = start(&app, &client).await;
    let token = fake.id_token(&claims(&app, &fake, &started, "sub-ivy", &[]));
    let code = fake.code(token, &started.challenge);
    app.clock.advance(chrono::Duration::minutes(11));
    let res = callback(&app, &client, &[("code", &code), ("state", &started.state)]).await;
    assert_eq!(location(&res), "/login?oidc_error=expired");
    app.stop().await;

    // A provider nobody answers for.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut oidc = config(&fake, false);
    oidc.issuer = issuer;
    let app = TestApp::spawn_with(move |s| s.oidc = Some(oidc)).await;
    let res = app
        .client()
        .get(app.url("/auth/oidc/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?oidc_error=unreachable");
    let (reason, detail) = refusals(&app).await.pop().unwrap();
    assert_eq!(reason, "unreachable");
    assert!(detail.contains("discovery"), "{detail}");
    app.stop().await;
}

#[tokio::test]
async fn with_oidc_only_just_the_break_glass_accounts_use_a_password() {
    let (app, _fake) = setup(false, Passwords::BreakGlassOnly(vec!["keeper".into()])).await;
    app.add_user("keeper", Role::Admin, "break glass pass 1")
        .await;
    app.add_user("local", Role::Admin, "local password 1").await;

    let options: Value = app
        .rpc(&app.client(), "sign_in_options", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        options,
        json!({ "provider": "Test IdP", "passwords_for_all": false })
    );

    // Refused like a wrong password: a right one is confirmed to nobody.
    for password in ["local password 1", "wrong password 1"] {
        let res = app
            .rpc(
                &app.client(),
                "sign_in",
                &[("username", "local"), ("password", password)],
            )
            .await;
        assert_eq!(error_of(res).await.1, "invalid_credentials");
    }

    let keeper = app.client();
    let res = app
        .rpc(
            &keeper,
            "sign_in",
            &[("username", "keeper"), ("password", "break glass pass 1")],
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let used = app.audit_details("user.break_glass_sign_in").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].1["user"], "keeper");

    // People shows it.
    let facts: Value = app
        .rpc(&keeper, "people_sign_in", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(facts["provider"], "Test IdP");
    assert_eq!(facts["break_glass"][0][0], "keeper");
    assert!(facts["break_glass"][0][1].is_string());
    app.stop().await;
}

#[tokio::test]
async fn signing_out_an_account_of_the_provider_ends_its_session_there_too() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let client = app.client();
    sign_in(&app, &fake, &client, "sub-jo", &[]).await;
    let res = client
        .post(app.url("/rpc/sign_out"))
        .header(header::ACCEPT, "text/html")
        .header(header::ORIGIN, app.url(""))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "/signed-out");
    assert!(me(&app, &client).await.is_null());
    let page = app.page(&client, "/signed-out").await.text().await.unwrap();
    let end = format!(
        "{}/logout?client_id=askfirst&amp;post_logout_redirect_uri={}",
        fake.base,
        url_encode(&app.url("/login"))
    );
    assert!(page.contains(&end), "{page}");
    // Once: a link to `/signed-out` from anywhere signs nobody out at the provider.
    let page = app.page(&client, "/signed-out").await.text().await.unwrap();
    assert!(!page.contains("/logout?"), "{page}");
    let page = app
        .page(&app.client(), "/signed-out")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("/logout?"), "{page}");
    app.stop().await;
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_sign_in_started_on_one_instance_finishes_on_another() {
    if !on_postgres() {
        eprintln!("skipped: several instances need PostgreSQL (ASKFIRST_TEST_PG)");
        return;
    }
    let fake = Fake::start().await;
    let public = "http://askfirst.example".to_string();
    let (oidc, url) = (config(&fake, false), public.clone());
    let a = TestApp::spawn_with(move |s| {
        s.oidc = Some(oidc);
        s.public_base_url = Some(url);
    })
    .await;
    let oidc = config(&fake, false);
    let b = a
        .another_instance_with(move |s| {
            s.oidc = Some(oidc);
            s.public_base_url = Some(public);
        })
        .await;
    // One browser (cookies do not depend on the port): started on A, back on B.
    let client = a.client();
    let res = client.get(a.url("/auth/oidc/start")).send().await.unwrap();
    let url = reqwest::Url::parse(&location(&res)).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        q["redirect_uri"],
        "http://askfirst.example/auth/oidc/callback"
    );
    let started = Started {
        state: q["state"].clone(),
        nonce: q["nonce"].clone(),
        challenge: q["code_challenge"].clone(),
    };
    let token = fake.id_token(&claims(
        &a,
        &fake,
        &started,
        "sub-kim",
        &["askfirst-approvers"],
    ));
    let code = fake.code(token, &started.challenge);
    let res = callback(&b, &client, &[("code", &code), ("state", &started.state)]).await;
    assert!(
        location(&res).starts_with("/auth/continue"),
        "{}",
        location(&res)
    );
    assert_eq!(me(&a, &client).await["role"], "approver");
    // …and the flow is gone for both.
    let res = callback(&a, &client, &[("code", &code), ("state", &started.state)]).await;
    assert_eq!(location(&res), "/login?oidc_error=state");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn sign_ins_started_from_one_address_are_limited() {
    let (app, _fake) = setup(false, Passwords::Everyone).await;
    let client = app.client();
    for _ in 0..20 {
        start(&app, &client).await;
    }
    let res = client
        .get(app.url("/auth/oidc/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/login?oidc_error=too_many");
    app.stop().await;
}

#[tokio::test]
async fn turning_passwords_off_ends_password_sessions_and_setup_needs_a_break_glass_name() {
    let (app, fake) = setup(false, Passwords::Everyone).await;
    let local = app.signed_in("lou", Role::Admin).await;
    let keeper = app.signed_in("keeper", Role::Admin).await;
    let sso = app.client();
    sign_in(&app, &fake, &sso, "sub-sam", &["askfirst-approvers"]).await;
    // The same database served again with `--oidc-only --break-glass keeper`.
    let oidc = config(&fake, false);
    let again = app
        .another_instance_with(move |s| {
            s.oidc = Some(oidc);
            s.passwords = Passwords::BreakGlassOnly(vec!["keeper".into()]);
        })
        .await;
    assert!(
        me(&again, &local).await.is_null(),
        "lou's password session ended"
    );
    assert_eq!(me(&again, &keeper).await["username"], "keeper");
    assert_eq!(me(&again, &sso).await["username"], "sam");
    again.stop().await;
    app.stop().await;

    // First-run setup under `--oidc-only`: only a break-glass name.
    let (app, _fake) = setup(false, Passwords::BreakGlassOnly(vec!["keeper".into()])).await;
    for (name, ok) in [("someone", false), ("keeper", true)] {
        let res = app
            .rpc(
                &app.client(),
                "create_first_admin",
                &[
                    ("username", name),
                    ("password", "long enough 1"),
                    ("password_confirm", "long enough 1"),
                    ("token", crate::support::SETUP_TOKEN),
                ],
            )
            .await;
        if ok {
            assert!(res.status().is_success(), "{}", res.status());
        } else {
            let (status, _, message) = error_of(res).await;
            assert_eq!(status, 422);
            assert!(
                message.contains("break-glass account (keeper)"),
                "{message}"
            );
        }
    }
    assert_eq!(app.audit_details("user.break_glass_sign_in").await.len(), 1);
    app.stop().await;
}
