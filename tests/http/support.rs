//! Starting a server for a test, and speaking to it.

use askfirst::auth::service;
use askfirst::clock::{Clock, ManualClock};
use askfirst::domain::Role;
use askfirst::gate::GateConfig;
use askfirst::server::{start, state::Settings, ConnectionLimits, Running, ServeConfig};
use chrono::{DateTime, Duration, Utc};
use reqwest::{header, Client, Response};
use std::sync::Arc;
use tempfile::TempDir;

/// The first-run setup token of the test servers.
pub const SETUP_TOKEN: &str = "test-setup-token";

/// Session lifetime the test servers use.
pub const TTL: Duration = Duration::hours(1);

/// A running server with its own database and clock.
pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    /// The database, as `--db` takes it (a file path, or a PostgreSQL URL).
    pub db: String,
    /// The notification secrets key (every instance on one database shares it).
    pub key_file: std::path::PathBuf,
    pub running: Running,
    _dir: TempDir,
}

/// The PostgreSQL server the suite runs against, if any: `ASKFIRST_TEST_PG` holds a URL
/// of it that may create databases (the suite then runs on PostgreSQL, else on SQLite).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("ASKFIRST_TEST_PG")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether this run of the suite is on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_admin_url().is_some()
}

/// Sends every decider's decision on call `id` at the same instant (each a `(decide URL,
/// signed-in client)`; even ones approve, odd ones deny) and asserts exactly one wins while
/// the rest hear `409 not_pending`.
pub async fn race_decisions(deciders: Vec<(String, Client)>, id: &str, hash: &str) {
    // Everyone is ready before anyone sends, so the requests really overlap.
    let start = Arc::new(tokio::sync::Barrier::new(deciders.len()));
    let mut tasks = Vec::new();
    for (i, (url, client)) in deciders.into_iter().enumerate() {
        let (id, hash, start) = (id.to_string(), hash.to_string(), start.clone());
        tasks.push(tokio::spawn(async move {
            let decision = if i % 2 == 0 { "approve" } else { "deny" };
            start.wait().await;
            let res = client
                .post(url)
                .header(header::ACCEPT, "application/json")
                .form(&[
                    ("id", id.as_str()),
                    ("decision", decision),
                    ("feedback", "no"),
                    ("hash", hash.as_str()),
                ])
                .send()
                .await
                .expect("request");
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.expect("JSON answer");
            (status, body)
        }));
    }
    let mut winners = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => winners += 1,
            409 => assert_eq!(body["error"]["code"], "not_pending", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        winners, 1,
        "one decision wins; the rest see the call decided"
    );
}

/// Drops one of the audit log's append-only triggers, as an attacker who can write the
/// database could (to test that tampering is caught).
pub async fn drop_audit_trigger(pool: &askfirst::store::Pool, name: &str) {
    let on = if on_postgres() {
        " ON audit_events"
    } else {
        ""
    };
    askfirst::on!(pool, |cn| sqlx::query(&format!("DROP TRIGGER {name}{on}"))
        .execute(cn)
        .await
        .map(askfirst::store::Done::from))
    .expect("the trigger is dropped");
}

/// A new, empty database for one test: a file in `dir`, or a fresh PostgreSQL database.
pub async fn fresh_database(dir: &std::path::Path) -> String {
    match postgres_admin_url() {
        None => dir.join("askfirst.db").to_string_lossy().into_owned(),
        Some(admin) => {
            use sqlx::Connection as _;
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("the test PostgreSQL server answers");
            askfirst::on!(&mut conn, |cn| sqlx::query(&format!(
                "CREATE DATABASE \"{name}\""
            ))
            .execute(cn)
            .await
            .map(askfirst::store::Done::from))
            .expect("a test database is created");
            let _ = conn.close().await;
            let (base, _) = admin
                .rsplit_once('/')
                .expect("the admin URL names a database");
            format!("{base}/{name}")
        }
    }
}

/// A test server's connection limits: the server's own defaults. (hyper's header-read
/// timeout also closes a kept-alive connection that idles that long; far shorter than a
/// client's pool keeps idle connections, a reused connection races the close and fails.)
fn test_limits() -> ConnectionLimits {
    ConnectionLimits::default()
}

/// How often a test server's audit watcher polls.
const WATCH: std::time::Duration = std::time::Duration::from_millis(50);

impl TestApp {
    /// Starts a server on a free port with an empty database.
    pub async fn spawn() -> Self {
        Self::spawn_trusting(Vec::new()).await
    }

    /// [`TestApp::spawn`], believing `X-Forwarded-For` from these proxies.
    pub async fn spawn_trusting(trusted_proxies: Vec<ipnet::IpNet>) -> Self {
        Self::spawn_with(|settings| settings.trusted_proxies = trusted_proxies).await
    }

    /// [`TestApp::spawn`], with the test settings changed by `change`.
    pub async fn spawn_with(change: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = fresh_database(dir.path()).await;
        let start_time: DateTime<Utc> = "2026-01-01T09:00:00Z".parse().unwrap();
        let clock = Arc::new(ManualClock::new(start_time));
        let key_file = dir.path().join("askfirst.secrets-key");
        Self::spawn_on(db, clock, key_file, dir, change, WATCH, test_limits()).await
    }

    /// [`TestApp::spawn`] on an SQLite file whichever backend the suite runs on (e.g. a
    /// database to copy into PostgreSQL).
    pub async fn spawn_sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir
            .path()
            .join("askfirst.db")
            .to_string_lossy()
            .into_owned();
        let start_time: DateTime<Utc> = "2026-01-01T09:00:00Z".parse().unwrap();
        let clock = Arc::new(ManualClock::new(start_time));
        let key_file = dir.path().join("askfirst.secrets-key");
        Self::spawn_on(db, clock, key_file, dir, |_| {}, WATCH, test_limits()).await
    }

    /// A server on a fresh database whose clock starts at the real time (so the CLI, which
    /// runs on the real clock, acts in the same present) and whose audit watcher polls only
    /// every `watch` — longer than a test waits, to show what reaches it without polling.
    pub async fn spawn_now(watch: std::time::Duration) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = fresh_database(dir.path()).await;
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let key_file = dir.path().join("askfirst.secrets-key");
        Self::spawn_on(db, clock, key_file, dir, |_| {}, watch, test_limits()).await
    }

    /// A server on an existing database `db` (as `--db` takes it), its clock starting at
    /// `now`, its secrets key `key_file`.
    pub async fn spawn_at(db: String, now: DateTime<Utc>, key_file: std::path::PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(now));
        Self::spawn_on(db, clock, key_file, dir, |_| {}, WATCH, test_limits()).await
    }

    /// Another instance on this one's database, sharing its clock (several instances on
    /// PostgreSQL).
    pub async fn another_instance(&self) -> Self {
        self.another_instance_with(|_| {}).await
    }

    /// [`TestApp::another_instance`], with its settings changed by `change`.
    pub async fn another_instance_with(&self, change: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_on(
            self.db.clone(),
            self.clock.clone(),
            self.key_file.clone(),
            dir,
            change,
            WATCH,
            test_limits(),
        )
        .await
    }

    /// [`TestApp::spawn`], cutting off slow clients after `header_read` (headers, and the
    /// idle wait between requests on a kept-alive connection) and `body_read`.
    pub async fn spawn_impatient(
        header_read: std::time::Duration,
        body_read: std::time::Duration,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = fresh_database(dir.path()).await;
        let start_time: DateTime<Utc> = "2026-01-01T09:00:00Z".parse().unwrap();
        let clock = Arc::new(ManualClock::new(start_time));
        let key_file = dir.path().join("askfirst.secrets-key");
        let limits = ConnectionLimits {
            header_read_timeout: header_read,
            body_read_timeout: body_read,
            ..ConnectionLimits::default()
        };
        Self::spawn_on(db, clock, key_file, dir, |_| {}, WATCH, limits).await
    }

    async fn spawn_on(
        db: String,
        clock: Arc<ManualClock>,
        key_file: std::path::PathBuf,
        dir: TempDir,
        change: impl FnOnce(&mut Settings),
        watch: std::time::Duration,
        limits: ConnectionLimits,
    ) -> Self {
        let mut settings = Settings {
            session_ttl: TTL,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
            setup_token: Some(SETUP_TOKEN.into()),
            public_hosts: Vec::new(),
            metrics_token: None,
            public_base_url: None,
            secrets_key_file: Some(key_file.clone()),
            passwords: Default::default(),
            oidc: None,
        };
        change(&mut settings);
        let config = ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            db: db.parse().expect("a database location"),
            site_root: dir.path().join("site"),
            settings,
            gate: GateConfig {
                webhook_retry_base: std::time::Duration::from_millis(200),
                webhook_retry_max: std::time::Duration::from_secs(1),
                webhook_max_attempts: 4,
                watch_interval: watch,
            },
            limits,
        };
        let running = start(config, clock.clone()).await.expect("server starts");
        Self {
            base: format!("http://{}", running.addr),
            clock,
            db,
            key_file,
            running,
            _dir: dir,
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(self) {
        self.running.stop().await.expect("clean shutdown");
    }

    /// Stops the server gracefully, handing back its directory (which holds an SQLite
    /// database and the secrets key) for the test to go on using.
    pub async fn stop_keeping_files(self) -> TempDir {
        self.running.stop().await.expect("clean shutdown");
        self._dir
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Calls a server function the way the hydrated app does (form-encoded, JSON back).
    pub async fn rpc(&self, client: &Client, name: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(self.url(&format!("/rpc/{name}")))
            .header(header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// Loads a page the way a browser navigates to it.
    pub async fn page(&self, client: &Client, path: &str) -> Response {
        client
            .get(self.url(path))
            .header(header::ACCEPT, "text/html,application/xhtml+xml")
            .send()
            .await
            .expect("request")
    }

    /// Creates a person directly through the service layer.
    pub async fn add_user(&self, username: &str, role: Role, password: &str) {
        service::create_user(
            &self.running.state.pool,
            self.clock.as_ref(),
            service::Actor::Cli,
            username,
            password,
            role,
        )
        .await
        .expect("user created");
    }

    /// A client signed in as a new person with `role`.
    pub async fn signed_in(&self, username: &str, role: Role) -> Client {
        let password = "a long enough password";
        self.add_user(username, role, password).await;
        let client = self.client();
        let res = self
            .rpc(
                &client,
                "sign_in",
                &[("username", username), ("password", password)],
            )
            .await;
        assert!(
            res.status().is_success(),
            "sign-in as {username}: {}",
            res.status()
        );
        client
    }

    /// A client with a live session for a new person with `role`, made directly in the
    /// database (no password hashing: for tests that need many people).
    pub async fn session_for(&self, username: &str, role: Role) -> Client {
        let now = self.now();
        let user = askfirst::store::users::insert(
            self.pool(),
            &askfirst::store::users::NewUser {
                username,
                password_hash: "not-a-password-hash",
                role,
                now,
            },
        )
        .await
        .expect("user inserted");
        let token = askfirst::auth::token::generate();
        askfirst::store::sessions::insert(
            self.pool(),
            &askfirst::auth::token::hash(&token),
            &user.id,
            now,
            now + TTL,
        )
        .await
        .expect("session inserted");
        let mut headers = header::HeaderMap::new();
        let cookie = format!("{}={token}", askfirst::auth::token::COOKIE);
        headers.insert(header::COOKIE, cookie.parse().unwrap());
        Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `SELECT COUNT(*) …` with one bound id, for direct checks in the database.
    pub async fn count(&self, sql: &str, id: &str) -> i64 {
        askfirst::on!(self.pool(), |cn| sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(cn)
            .await)
        .expect("count query")
    }

    /// The details of every audit event of `kind`, oldest first, with its call.
    pub async fn audit_details(&self, kind: &str) -> Vec<(Option<String>, serde_json::Value)> {
        let rows: Vec<(Option<String>, String)> = askfirst::on!(self.pool(), |cn| sqlx::query_as(
            "SELECT call_id, detail FROM audit_events WHERE kind = $1 ORDER BY id"
        )
        .bind(kind)
        .fetch_all(cn)
        .await)
        .expect("audit query");
        rows.into_iter()
            .map(|(call, detail)| (call, serde_json::from_str(&detail).expect("JSON detail")))
            .collect()
    }

    /// `POST /api/v1/calls` with a raw JSON body (for malformed or hostile input).
    pub async fn propose_raw(&self, key: &str, body: impl Into<reqwest::Body>) -> Response {
        Client::new()
            .post(self.url("/api/v1/calls"))
            .bearer_auth(key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// The state the server runs with (for direct checks in the database).
    pub fn pool(&self) -> &askfirst::store::Pool {
        &self.running.state.pool
    }

    /// The gate service of the running server.
    pub fn gate(&self) -> &std::sync::Arc<askfirst::gate::Gate> {
        &self.running.state.gate
    }

    /// Creates an agent; returns its API key and webhook secret.
    pub async fn agent(&self, name: &str) -> (String, String) {
        let created = self
            .gate()
            .create_agent(name, "test")
            .await
            .expect("agent created");
        (created.key, created.webhook_secret)
    }

    /// Puts a policy given as JSON (the domain types' serde shape) in force as test setup:
    /// written straight into the database, as provisioning would, without the sign-off a
    /// loosening change needs once people exist (tests of that go through the service).
    pub async fn policy(&self, policy: serde_json::Value) {
        let policy: askfirst::domain::policy::Policy =
            serde_json::from_value(policy).expect("policy JSON");
        install_policy(self.gate(), &policy).await;
    }

    /// Allows the origin of `url` as a callback origin of agent `name` (receivers in tests
    /// listen on 127.0.0.1, which is refused otherwise).
    pub async fn allow_callbacks(&self, name: &str, url: &str) {
        let origin = reqwest::Url::parse(url)
            .unwrap()
            .origin()
            .ascii_serialization();
        self.gate()
            .set_callback_origins(name, &[origin], "test")
            .await
            .expect("callback origin allowed");
    }

    /// A person, as the service layer sees them.
    pub async fn person(&self, username: &str, role: Role) -> askfirst::domain::UserView {
        self.add_user(username, role, "a long enough password")
            .await;
        askfirst::store::users::find_by_username(self.pool(), username)
            .await
            .unwrap()
            .unwrap()
            .view()
    }

    /// `POST /api/v1/calls` as the agent with `key`.
    pub async fn propose(&self, key: &str, body: serde_json::Value) -> Response {
        Client::new()
            .post(self.url("/api/v1/calls"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Proposes and returns the JSON answer, asserting `201`.
    pub async fn propose_ok(&self, key: &str, body: serde_json::Value) -> serde_json::Value {
        let res = self.propose(key, body).await;
        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// `POST /api/v1/calls/{id}/{action}` as the agent with `key`.
    pub async fn call_action(&self, key: &str, id: &str, action: &str) -> Response {
        Client::new()
            .post(self.url(&format!("/api/v1/calls/{id}/{action}")))
            .bearer_auth(key)
            .send()
            .await
            .expect("request")
    }

    /// `GET /api/v1/calls/{id}` (with `?wait=` when given).
    pub async fn get_call(&self, key: &str, id: &str, wait: Option<u64>) -> serde_json::Value {
        let mut url = self.url(&format!("/api/v1/calls/{id}"));
        if let Some(w) = wait {
            url += &format!("?wait={w}");
        }
        let res = Client::new()
            .get(url)
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        res.json().await.unwrap()
    }

    /// Starts a long-poll (`?wait=secs`) in the background; yields the view and when it came.
    pub fn long_poll(
        &self,
        key: &str,
        id: &str,
        secs: u64,
    ) -> tokio::task::JoinHandle<(serde_json::Value, std::time::Instant)> {
        let (url, key) = (
            self.url(&format!("/api/v1/calls/{id}?wait={secs}")),
            key.to_string(),
        );
        tokio::spawn(async move {
            let res = Client::new()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("request");
            let view = res.json().await.expect("JSON view");
            (view, std::time::Instant::now())
        })
    }

    /// A person's review of the call's current candidate (the hash they were shown is
    /// filled in when the input names none), through the gate service.
    pub async fn decide(
        &self,
        id: &str,
        user: &askfirst::domain::UserView,
        input: askfirst::gate::decide::DecisionInput,
    ) -> Result<askfirst::domain::call::CallView, askfirst::domain::AppError> {
        decide_seen(self.gate(), id, user, input).await
    }

    /// The hash of the arguments a pending call's reviewers are shown now.
    pub async fn candidate_hash(&self, id: &str) -> String {
        candidate_hash(self.gate(), id).await
    }

    /// The time on the test clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Reads an error response: its status, `error.code` and `error.message`.
pub async fn error_of(res: Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.expect("JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_string();
    let message = body["error"]["message"]
        .as_str()
        .expect("error.message")
        .to_string();
    (status, code, message)
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The hash of the arguments a call's reviewers are shown now (read without applying a
/// due expiry, so a test can decide at the deadline instant).
pub async fn candidate_hash(gate: &askfirst::gate::Gate, id: &str) -> String {
    match gate.call_row(id, None).await {
        Ok(row) => row.view(&[]).candidate.map(|c| c.hash).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// [`TestApp::decide`] for a gate held elsewhere (e.g. in a spawned task).
pub async fn decide_seen(
    gate: &askfirst::gate::Gate,
    id: &str,
    user: &askfirst::domain::UserView,
    mut input: askfirst::gate::decide::DecisionInput,
) -> Result<askfirst::domain::call::CallView, askfirst::domain::AppError> {
    if input.shown_hash.is_empty() {
        input.shown_hash = candidate_hash(gate, id).await;
    }
    gate.decide(id, user, input).await
}

/// Stores `policy` as the newest version and puts it in force (test setup only).
pub async fn install_policy(
    gate: &askfirst::gate::Gate,
    policy: &askfirst::domain::policy::Policy,
) {
    askfirst::policy::CompiledPolicy::compile(policy).expect("a valid policy");
    askfirst::store::policy::insert(
        &gate.pool,
        &askfirst::store::policy::NewVersion {
            document: &serde_json::to_string(policy).unwrap(),
            author: "test",
            comment: "test setup",
            loosening: false,
            now: gate.clock.now(),
        },
    )
    .await
    .expect("policy stored");
    gate.reload_policy().await.expect("policy reloaded");
}

/// Asserts that the audit chain verifies from its first event to its last.
pub async fn assert_chain_intact(pool: &askfirst::store::Pool) {
    let mut conn = pool.acquire().await.unwrap();
    let verdict = askfirst::store::audit::verify(&mut conn, None, None)
        .await
        .unwrap();
    assert!(
        matches!(verdict, askfirst::store::audit::Verification::Intact { .. }),
        "{verdict:?}"
    );
}
