//! The `askfirst` command line: every flag also reads an `ASKFIRST_*` variable.

pub mod db;
pub mod gate;
pub mod limits;
pub mod mcp;
pub mod notify;
pub mod receipts;
pub mod signoff;
pub mod user;

use crate::server::{run, state::Settings, ConnectionLimits, ServeConfig};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

/// askfirst: a self-hosted approval gate for AI agents.
#[derive(Debug, Parser)]
#[command(name = "askfirst", version, about)]
pub struct Cli {
    /// The database: an SQLite file (created on first start), or `postgres://user@host/db`
    /// for PostgreSQL, which several instances can share.
    #[arg(
        long,
        global = true,
        env = "ASKFIRST_DB",
        default_value = "data/askfirst.db"
    )]
    pub db: crate::store::Location,

    /// A file holding the audit log's key (at least 32 bytes, kept outside the database):
    /// the chain is then HMAC-linked, so whoever can write the database cannot rebuild it.
    /// Every askfirst process writing to the database needs it.
    #[arg(long, global = true, env = "ASKFIRST_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,

    /// The key file notification secrets (Slack URLs, SMTP passwords, webhook secrets) are
    /// encrypted with: 64 hex characters, kept outside the database. Default: beside the
    /// database (`askfirst.secrets-key`), created readable by its owner only on first use.
    #[arg(long, global = true, env = "ASKFIRST_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do. Without a command, `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the inbox, the agent API).
    Serve(ServeArgs),
    /// Manage the people who sign in.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage agents and their API keys.
    #[command(subcommand)]
    Agent(gate::AgentCommand),
    /// See and decide gated calls without a browser.
    #[command(subcommand)]
    Calls(gate::CallsCommand),
    /// Import or export the gate policy (TOML).
    #[command(subcommand)]
    Policy(gate::PolicyCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(gate::AuditCommand),
    /// Ask for, review and revoke bypasses (managers sign them off).
    #[command(subcommand)]
    Bypass(signoff::BypassCommand),
    /// The sign-off settings: how many managers, how long windows and requests last.
    #[command(subcommand)]
    Signoff(signoff::SignoffCommand),
    /// Limits on what one agent may leave waiting (pending calls per agent).
    #[command(subcommand)]
    Limits(limits::LimitsCommand),
    /// Notification channels (Slack, e-mail, signed webhooks), routes and the delivery log.
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The keys that sign approval receipts: list them, rotate the signing key.
    #[command(subcommand)]
    Receipts(receipts::ReceiptsCommand),
    /// Whole-database operations: copy one database into a new, empty one (SQLite into
    /// PostgreSQL).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Play a small agent loop against a running server (sync or async gates).
    DemoAgent(DemoArgs),
    /// Put askfirst between an agent and its MCP tools (gating proxy, Claude Code's
    /// permission prompt).
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
}

/// Options of `askfirst demo-agent`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The server's address.
    #[arg(long, env = "ASKFIRST_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The agent's API key (from `askfirst agent create`).
    #[arg(long, env = "ASKFIRST_AGENT_KEY")]
    pub key: String,
    /// `sync` blocks on each gate; `async` checkpoints and resumes on an event or webhook.
    #[arg(long, default_value = "sync", value_parser = ["sync", "async"])]
    pub mode: String,
    /// The agent's webhook secret: async mode then resumes from signed webhooks.
    #[arg(long, env = "ASKFIRST_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
    /// The port of the demo's webhook receiver on 127.0.0.1. Callbacks inside the network
    /// need their origin allowed: `askfirst agent set-callbacks NAME http://127.0.0.1:PORT`.
    #[arg(long, env = "ASKFIRST_WEBHOOK_PORT", default_value_t = 8788)]
    pub webhook_port: u16,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Options of `askfirst serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Falls back to LEPTOS_SITE_ADDR (set by `cargo leptos watch`).
    #[arg(long, env = "ASKFIRST_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Directory of the built site (wasm bundle, styles, assets). Falls back to
    /// LEPTOS_SITE_ROOT, then `target/site`.
    #[arg(long, env = "ASKFIRST_SITE_ROOT")]
    pub site_root: Option<PathBuf>,

    /// How long a sign-in lasts, in minutes.
    #[arg(long, env = "ASKFIRST_SESSION_TTL_MINUTES", default_value_t = 720,
          value_parser = clap::value_parser!(i64).range(1..=60 * 24 * 90))]
    pub session_ttl_minutes: i64,

    /// Mark cookies `Secure` (set when serving behind HTTPS).
    #[arg(long, env = "ASKFIRST_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Reverse proxies (addresses or networks, comma-separated) whose `X-Forwarded-For`
    /// names the client for the sign-in rate limit; from anyone else it is ignored.
    #[arg(long, env = "ASKFIRST_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = crate::auth::client_addr::parse_trusted)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// URLs people and agents reach this server at (comma-separated), e.g.
    /// `https://askfirst.example.com`: requests naming any other host than these,
    /// `localhost` and the listen address are refused (this closes DNS rebinding).
    #[arg(long, env = "ASKFIRST_PUBLIC_URL", value_delimiter = ',', value_parser = parse_public_url)]
    pub public_url: Vec<String>,

    /// The one-time token of the first-run setup link (default: a random one, printed at
    /// start while nobody has an account).
    #[arg(long, env = "ASKFIRST_SETUP_TOKEN")]
    pub setup_token: Option<String>,

    /// The bearer token `GET /metrics` requires (`Authorization: Bearer <token>`). Without
    /// one, `/metrics` answers anyone who can reach the server.
    #[arg(long, env = "ASKFIRST_METRICS_TOKEN", value_parser = parse_metrics_token)]
    pub metrics_token: Option<String>,

    /// Log format.
    #[arg(long, env = "ASKFIRST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds a client has to send a request's headers (and, times three, its body)
    /// before the connection is closed; also how long a kept-alive connection may idle
    /// between requests.
    #[arg(long, env = "ASKFIRST_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout_secs: u64,

    #[command(flatten)]
    pub oidc: OidcArgs,
}

/// Signing in with an OpenID Connect provider (`askfirst serve`).
#[derive(Debug, Args)]
pub struct OidcArgs {
    /// The provider's issuer URL (discovery at `<issuer>/.well-known/openid-configuration`).
    /// The provider's endpoints may be on the internal network: they are admin
    /// configuration, so askfirst reaches them (and only them) there.
    #[arg(long, env = "ASKFIRST_OIDC_ISSUER", value_parser = parse_issuer)]
    pub oidc_issuer: Option<String>,
    /// The client ID askfirst is registered under at the provider.
    #[arg(long, env = "ASKFIRST_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// A file holding the client secret, or `env:NAME` to read it from that variable.
    #[arg(long, env = "ASKFIRST_OIDC_CLIENT_SECRET_FILE")]
    pub oidc_client_secret_file: Option<String>,
    /// Scopes to ask for (space- or comma-separated; `openid` is always asked).
    #[arg(
        long,
        env = "ASKFIRST_OIDC_SCOPES",
        default_value = "openid profile email"
    )]
    pub oidc_scopes: String,
    /// The provider's name on the sign-in button: "Sign in with <label>".
    #[arg(long, env = "ASKFIRST_OIDC_LABEL", default_value = "single sign-on")]
    pub oidc_label: String,
    /// The ID token claim holding the person's groups: a name, or a dotted path
    /// (`realm_access.roles`).
    #[arg(long, env = "ASKFIRST_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,
    /// `ROLE=VALUE`: people whose claim holds VALUE get ROLE (viewer, approver, manager,
    /// admin); repeatable, the highest wins.
    #[arg(long = "oidc-role", env = "ASKFIRST_OIDC_ROLES", value_delimiter = ',',
          value_parser = crate::auth::oidc::config::parse_role_mapping)]
    pub oidc_roles: Vec<(crate::domain::Role, String)>,
    /// Refuse people none of whose values maps to a role (otherwise they are viewers).
    #[arg(long, env = "ASKFIRST_OIDC_STRICT")]
    pub oidc_strict: bool,
    /// The claim usernames come from (default: `preferred_username`, then `email`).
    #[arg(long, env = "ASKFIRST_OIDC_USERNAME_CLAIM")]
    pub oidc_username_claim: Option<String>,
    /// Turn password sign-in off, except for the `--break-glass` accounts.
    #[arg(long, env = "ASKFIRST_OIDC_ONLY")]
    pub oidc_only: bool,
    /// A local account that may still sign in with its password under `--oidc-only`
    /// (repeatable); each such sign-in is an audit event and shown on People.
    #[arg(
        long = "break-glass",
        env = "ASKFIRST_BREAK_GLASS",
        value_delimiter = ','
    )]
    pub break_glass: Vec<String>,
}

impl OidcArgs {
    /// The provider configuration these flags describe (`None` without `--oidc-issuer`),
    /// and who may still use a password.
    pub fn config(
        &self,
    ) -> anyhow::Result<(
        Option<crate::auth::oidc::OidcConfig>,
        crate::auth::service::Passwords,
    )> {
        use crate::auth::service::Passwords;
        let Some(issuer) = self.oidc_issuer.clone() else {
            if self.oidc_only || self.oidc_client_id.is_some() || !self.oidc_roles.is_empty() {
                anyhow::bail!("--oidc-only, --oidc-client-id and --oidc-role need --oidc-issuer");
            }
            return Ok((None, Passwords::Everyone));
        };
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .context("--oidc-issuer needs --oidc-client-id")?;
        let source = self
            .oidc_client_secret_file
            .as_deref()
            .context("--oidc-issuer needs --oidc-client-secret-file (a file, or env:NAME)")?;
        let client_secret = match source.strip_prefix("env:") {
            Some(var) => std::env::var(var)
                .with_context(|| format!("reading the OpenID client secret from ${var}"))?,
            None => std::fs::read_to_string(source)
                .with_context(|| format!("reading the OpenID client secret from {source}"))?,
        }
        .trim()
        .to_string();
        if client_secret.is_empty() {
            anyhow::bail!("the OpenID client secret ({source}) is empty");
        }
        let mut scopes: Vec<String> = vec!["openid".into()];
        for s in self.oidc_scopes.split([' ', ',']).filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
        let mut break_glass = Vec::new();
        for name in &self.break_glass {
            let name = crate::domain::user::normalize_username(name)
                .map_err(|e| anyhow::anyhow!("--break-glass {name}: {e}"))?;
            break_glass.push(name);
        }
        if self.oidc_only && break_glass.is_empty() {
            tracing::warn!(
                "--oidc-only without --break-glass: nobody can sign in if the provider is down"
            );
        }
        let passwords = if self.oidc_only {
            Passwords::BreakGlassOnly(break_glass)
        } else {
            Passwords::Everyone
        };
        Ok((
            Some(crate::auth::oidc::OidcConfig {
                issuer,
                client_id,
                client_secret,
                scopes,
                label: self.oidc_label.trim().to_string(),
                role_claim: self.oidc_role_claim.clone(),
                roles: crate::auth::oidc::RoleMap(self.oidc_roles.clone()),
                strict: self.oidc_strict,
                username_claim: self.oidc_username_claim.clone(),
                redirect_url: String::new(),
                after_logout_url: String::new(),
            }),
            passwords,
        ))
    }
}

/// A `--public-url`: an absolute http(s) URL with a host.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("`{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{text}` is not an http(s) URL with a host"));
    }
    Ok(url.to_string())
}

/// A `--metrics-token`: 16 to 256 visible ASCII characters (what fits a bearer header).
fn parse_metrics_token(text: &str) -> Result<String, String> {
    let ok = (16..=256).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err("the metrics token must be 16 to 256 visible ASCII characters".into());
    }
    Ok(text.to_string())
}

/// An `--oidc-issuer`: an http(s) URL, kept exactly as written (the provider's ID tokens
/// must name the very same string).
fn parse_issuer(text: &str) -> Result<String, String> {
    parse_public_url(text)?;
    Ok(text.trim().to_string())
}

/// The host name of a `--public-url`, lower-case.
fn public_host(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    Some(host.to_ascii_lowercase())
}

impl ServeArgs {
    /// The server configuration these options describe.
    pub fn config(
        &self,
        db: crate::store::Location,
        secrets_key_file: Option<PathBuf>,
    ) -> anyhow::Result<ServeConfig> {
        let (oidc, passwords) = self.oidc.config()?;
        let addr = self
            .addr
            .or_else(|| std::env::var("LEPTOS_SITE_ADDR").ok()?.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
        let site_root = self
            .site_root
            .clone()
            .or_else(|| std::env::var_os("LEPTOS_SITE_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/site"));
        Ok(ServeConfig {
            addr,
            db,
            site_root,
            settings: Settings {
                session_ttl: chrono::Duration::minutes(self.session_ttl_minutes),
                secure_cookies: self.secure_cookies,
                trusted_proxies: self.trusted_proxies.clone(),
                setup_token: self.setup_token.clone(),
                public_hosts: self
                    .public_url
                    .iter()
                    .filter_map(|u| public_host(u))
                    .collect(),
                metrics_token: self.metrics_token.clone(),
                public_base_url: self.public_url.first().cloned(),
                secrets_key_file,
                passwords,
                oidc,
            },
            gate: crate::gate::GateConfig::default(),
            limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(self.header_timeout_secs),
                body_read_timeout: Duration::from_secs(3 * self.header_timeout_secs),
                ..ConnectionLimits::default()
            },
        })
    }
}

impl Cli {
    /// Whether the command runs best on one thread: the MCP commands relay one client's
    /// messages, and every hand-off between threads would add to each tool call.
    pub fn one_thread(&self) -> bool {
        matches!(self.command, Some(Command::Mcp(_)))
    }
}

/// Runs the command line; returns the process exit code.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    if let Some(file) = &cli.audit_key_file {
        let key = std::fs::read(file)
            .with_context(|| format!("reading the audit key {}", file.display()))?;
        let key = String::from_utf8(key.clone())
            .map(|text| text.trim().as_bytes().to_vec())
            .unwrap_or(key);
        crate::store::audit::set_key(key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    }
    // Commands that may write what a running server keeps in memory.
    let writes = matches!(
        cli.command,
        Some(
            Command::User(_)
                | Command::Agent(_)
                | Command::Calls(_)
                | Command::Policy(_)
                | Command::Bypass(_)
                | Command::Signoff(_)
                | Command::Limits(_)
                | Command::Notify(_)
                | Command::Receipts(_)
        )
    );
    let db = cli.db.clone();
    let done = run(cli).await;
    if done.is_ok() && writes {
        tell_server(&db).await;
    }
    done
}

/// On SQLite, makes a running server act on what the command wrote before the command
/// returns (see `gate::local_notice`); says so when it could not confirm that.
async fn tell_server(db: &crate::store::Location) {
    use crate::gate::local_notice::{tell, Told, CATCH_UP};
    let Some(path) = db.sqlite_path() else {
        return;
    };
    let Ok(pool) = crate::store::open(db).await else {
        return;
    };
    let upto = crate::store::audit::last_id(&pool).await.unwrap_or(0);
    pool.close().await;
    if tell(path, upto).await == Told::Late {
        eprintln!(
            "askfirst: the running server did not confirm it caught up within {} s; it acts \
             on this within its watch interval (250 ms) once it does",
            CATCH_UP.as_secs()
        );
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => {
            let args = ServeArgs::parse_from_env();
            serve(args, cli.db, cli.secrets_key_file).await
        }
        Some(Command::Serve(args)) => serve(args, cli.db, cli.secrets_key_file).await,
        Some(Command::User(cmd)) => user::run(cmd, &cli.db).await,
        Some(Command::Agent(cmd)) => gate::agent(cmd, &cli.db).await,
        Some(Command::Calls(cmd)) => gate::calls(cmd, &cli.db).await,
        Some(Command::Policy(cmd)) => gate::policy(cmd, &cli.db).await,
        Some(Command::Audit(cmd)) => gate::audit(cmd, &cli.db).await,
        Some(Command::Bypass(cmd)) => signoff::bypass(cmd, &cli.db).await,
        Some(Command::Signoff(cmd)) => signoff::settings(cmd, &cli.db).await,
        Some(Command::Limits(cmd)) => limits::run(cmd, &cli.db).await,
        Some(Command::Notify(cmd)) => notify::run(cmd, &cli.db, cli.secrets_key_file).await,
        Some(Command::Receipts(cmd)) => receipts::run(cmd, &cli.db, cli.secrets_key_file).await,
        Some(Command::Db(cmd)) => db::run(cmd, cli.secrets_key_file.as_deref()).await,
        Some(Command::DemoAgent(args)) => demo(args).await,
        Some(Command::Mcp(cmd)) => mcp::run(cmd).await,
    }
}

impl ServeArgs {
    /// Serve options from the environment alone (for a bare `askfirst`).
    fn parse_from_env() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(["askfirst"]).args
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    use askfirst_sdk::demo::{run, DemoConfig, Mode};
    let config = DemoConfig {
        url: args.url,
        key: args.key,
        mode: if args.mode == "async" {
            Mode::Async
        } else {
            Mode::Sync
        },
        webhook_secret: args.webhook_secret,
        webhook_port: args.webhook_port,
        session: format!("demo-{}", uuid::Uuid::new_v4()),
    };
    let reports = run(config).await?;
    println!();
    for r in reports {
        println!("step {}: {} → {}", r.step, r.tool, r.outcome);
    }
    Ok(())
}

async fn serve(
    args: ServeArgs,
    db: crate::store::Location,
    secrets_key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    init_tracing(args.log_format);
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    run::serve(args.config(db, secrets_key_file)?, clock).await
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ASKFIRST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::service::Passwords;

    /// The OpenID flags of `serve`, parsed and turned into configuration.
    fn oidc(flags: &[&str]) -> anyhow::Result<(Option<crate::auth::oidc::OidcConfig>, Passwords)> {
        let mut argv = vec!["askfirst", "serve"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{e}"))?;
        match cli.command {
            Some(Command::Serve(args)) => args.oidc.config(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_oidc_flags_make_a_configuration_or_say_what_is_missing() {
        std::env::set_var("ASKFIRST_TEST_OIDC_SECRET", " s3cret \n");
        let base = [
            "--oidc-issuer",
            "https://idp.example/realms/corp",
            "--oidc-client-id",
            "askfirst",
            "--oidc-client-secret-file",
            "env:ASKFIRST_TEST_OIDC_SECRET",
        ];
        let (config, passwords) = oidc(&base).unwrap();
        let config = config.unwrap();
        // The issuer is kept exactly as written (no trailing slash added).
        assert_eq!(config.issuer, "https://idp.example/realms/corp");
        assert_eq!(config.client_secret, "s3cret");
        assert_eq!(config.scopes, ["openid", "profile", "email"]);
        assert_eq!(passwords, Passwords::Everyone);
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "the secret is never printed"
        );

        let mut more = base.to_vec();
        more.extend([
            "--oidc-role",
            "approver=g1",
            "--oidc-role",
            "admin=g2",
            "--oidc-only",
            "--break-glass",
            "Keeper",
            "--oidc-scopes",
            "openid,groups email",
        ]);
        let (config, passwords) = oidc(&more).unwrap();
        let config = config.unwrap();
        assert_eq!(config.roles.0.len(), 2);
        assert_eq!(config.scopes, ["openid", "groups", "email"]);
        assert_eq!(passwords, Passwords::BreakGlassOnly(vec!["keeper".into()]));

        let cases: &[(&[&str], &str)] = &[
            (&["--oidc-only"], "need --oidc-issuer"),
            (
                &["--oidc-issuer", "https://idp.example"],
                "--oidc-client-id",
            ),
            (
                &[
                    "--oidc-issuer",
                    "https://idp.example",
                    "--oidc-client-id",
                    "c",
                ],
                "--oidc-client-secret-file",
            ),
            (
                &[
                    "--oidc-issuer",
                    "https://idp.example",
                    "--oidc-client-id",
                    "c",
                    "--oidc-client-secret-file",
                    "env:ASKFIRST_TEST_OIDC_NO_SUCH_VAR",
                ],
                "ASKFIRST_TEST_OIDC_NO_SUCH_VAR",
            ),
            (&["--oidc-issuer", "ftp://idp.example"], "http(s)"),
            (&["--oidc-role", "boss=x"], "not a role"),
        ];
        for (flags, says) in cases {
            let err = oidc(flags)
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap_or_default();
            assert!(err.contains(says), "{flags:?}: {err}");
        }
    }
}
