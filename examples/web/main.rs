//! The example web app: tok sessions in an axum service, with a page to try them in a
//! browser.
//!
//! ```sh
//! cargo run --release --example web --features axum,sqlite -- [--listen 127.0.0.1:8080] \
//!     [--store URL] [--key FILE] [--access-ttl 15m] [--grace 5s] [--idle-timeout 7days] \
//!     [--lifetime 30days] [--origin URL]... [--check online|offline|none] \
//!     [--no-online-cache] [--metrics ADDR] [--recent-login 5m] \
//!     [--unremembered-lifetime 12h]
//! ```
//!
//! `--features redis` or `postgres` adds those stores' URLs. Defaults: the CLI's default store (an SQLite file in the user's data folder; `TOK_STORE`
//! overrides it), the key in `TOK_KEY` or else a key file created next to that store,
//! origin `http://` plus the listen address, online checks answered from memory by the
//! [`Cached`](tok::layer::Cached) layer (`--no-online-cache`: every check reads the
//! store), no metrics listener. Prints `listening on http://ADDR` once it accepts
//! connections.
//!
//! Routes:
//! - `GET /`, `GET /app.js`, `GET /app.css`, `GET /icon.svg`: the page;
//! - `POST /login`: `{"username","password","remember"}` (the demo accepts password
//!   `demo` for any username until it is changed; `remember` defaults to true, and a
//!   login not remembered gets session cookies), answers a token response and sets the
//!   session cookies;
//! - `GET /api/me`: the caller's claims, checked as `--check` says;
//! - `POST /api/promote`: a privilege change to admin;
//! - `POST /api/password`: `{"new_password"}`, a sensitive action: it needs a login
//!   within `--recent-login` (else 401 `insufficient-user-authentication` with RFC 9470's
//!   challenge);
//! - `POST /reauthenticate`: `{"password"}` with the access token and the session's
//!   cookies: the user proves who they are again, and the session's login is now;
//! - under `/session` ([`session_router`]): `POST /refresh`, `POST /logout`, `POST
//!   /logout-all`, `GET /sessions` (the caller's devices), `POST /end` (`{"id"}`: end one).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tok::refresh::{KeyFile, LoginDetails, RefreshPolicy, Sessions};
use tok::web::{
    Bearer, OnlineBearer, PAGE_POLICY, RecentLogin, WebError, WebSessions, harden, session_router,
};
use tok::{HmacKey, KeySet};

/// The page: a login form and the session buttons; its script (a file of its own, so that
/// the content security policy can refuse every inline script) keeps the access token in
/// memory only.
const PAGE: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");
const ICON: &str = include_str!("icon.svg");

#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Store URL (default: TOK_STORE, where a URL with a password belongs, else the tok
    /// CLI's default SQLite store).
    #[arg(long, env = "TOK_STORE", hide_env_values = true)]
    store: Option<String>,
    /// A JWK or JWK Set file, read again every 250 ms and on SIGHUP: a key added, put
    /// first or removed takes effect without a restart; a bad file keeps the last good
    /// set (default: TOK_KEY, fixed, else a key file beside the default store).
    #[arg(long)]
    key: Option<PathBuf>,
    /// How often the key file is read again (SIGHUP reads it at once).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    key_poll: Duration,
    /// Access-token lifetime.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15m")]
    access_ttl: Duration,
    /// Grace window for concurrent refreshes (0s allowed).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    grace: Duration,
    /// How long a session may go unused before it ends.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "7days")]
    idle_timeout: Duration,
    /// The absolute lifetime of a session, however active.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30days")]
    lifetime: Duration,
    /// Origins allowed to send cookie-authenticated requests (default: http://LISTEN).
    #[arg(long)]
    origin: Vec<String>,
    /// How `GET /api/me` checks its caller: `online` (signature, claims, denylist and
    /// session in the store), `offline` (signature and claims only), or `none` (no auth
    /// at all: the ceiling a load run compares with).
    #[arg(long, value_enum, default_value = "online")]
    check: Check,
    /// Online checks always read the store, without the cache layer that answers them
    /// from memory (for comparison runs).
    #[arg(long)]
    no_online_cache: bool,
    /// Serve tok's counters in Prometheus text format on this address (a listener of its
    /// own, so it is never exposed with the app): `GET http://ADDR/metrics`. Off by default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// How recent a login a sensitive action (`POST /api/password`) needs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5m")]
    recent_login: Duration,
    /// The absolute lifetime of a session whose login is not remembered.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "12h")]
    unremembered_lifetime: Duration,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Check {
    Online,
    Offline,
    None,
}

#[derive(Clone)]
struct App {
    web: Arc<WebSessions>,
    passwords: Arc<Passwords>,
}

/// The demo's passwords: `demo` for every user until they change theirs. In this
/// process's memory only (another process of the app, or a restart, knows only `demo`);
/// a real application keeps a slow password hash (argon2) in its database instead of
/// this SHA-256.
#[derive(Default)]
struct Passwords(std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>);

impl Passwords {
    fn digest(password: &str) -> [u8; 32] {
        <sha2::Sha256 as sha2::Digest>::digest(password.as_bytes()).into()
    }

    /// Whether `password` is `user`'s, compared in constant time.
    fn check(&self, user: &str, password: &str) -> bool {
        let expected = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(user)
            .copied()
            .unwrap_or_else(|| Self::digest("demo"));
        subtle::ConstantTimeEq::ct_eq(&expected[..], &Self::digest(password)[..]).into()
    }

    fn set(&self, user: &str, password: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user.to_owned(), Self::digest(password));
    }
}

impl FromRef<App> for Arc<WebSessions> {
    fn from_ref(app: &App) -> Self {
        Arc::clone(&app.web)
    }
}

/// The application's own access claims: tok adds `sub`, `sid`, `iat`, `exp`, `jti`.
#[derive(Serialize)]
struct Role {
    role: &'static str,
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    /// "Remember me": a login not remembered gets session cookies.
    #[serde(default = "remembered")]
    remember: bool,
}

fn remembered() -> bool {
    true
}

fn refusal(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

async fn login(State(app): State<App>, headers: HeaderMap, body: Json<Login>) -> Response {
    // The application's own authentication; tok starts the session after it. A name
    // that is blank, too long or has control characters is not a user name.
    let name = body.username.as_str();
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return refusal(StatusCode::BAD_REQUEST, "bad-username");
    }
    if !app.passwords.check(name, &body.password) {
        return refusal(StatusCode::UNAUTHORIZED, "bad-credentials");
    }
    let details = LoginDetails::new()
        .with_methods(["pwd"])
        .remembered_if(body.remember);
    app.web
        .login_with(&headers, &body.username, &Role { role: "user" }, details)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
struct NewPassword {
    new_password: String,
}

/// A sensitive action: it needs a recent login ([`RecentLogin`]), which answers 401 with
/// RFC 9470's challenge when the login is older than `--recent-login`.
async fn change_password(
    State(app): State<App>,
    user: RecentLogin<Map<String, Value>>,
    body: Json<NewPassword>,
) -> Response {
    let Some(name) = user.claims.sub.as_deref() else {
        return refusal(StatusCode::FORBIDDEN, "no-subject");
    };
    if body.new_password.len() < 4 || body.new_password.len() > 128 {
        return refusal(StatusCode::BAD_REQUEST, "bad-password");
    }
    app.passwords.set(name, &body.new_password);
    Json(json!({"changed": true})).into_response()
}

#[derive(Deserialize)]
struct Reauthenticate {
    password: String,
}

/// The user proves who they are again: the password of the access token's user, and the
/// refresh cookie of its session (`sid`), which tok checks and rotates.
async fn reauthenticate(
    State(app): State<App>,
    user: OnlineBearer<Map<String, Value>>,
    headers: HeaderMap,
    body: Json<Reauthenticate>,
) -> Response {
    let (Some(name), Some(Value::String(sid))) =
        (user.claims.sub.as_deref(), user.claims.custom.get("sid"))
    else {
        return refusal(StatusCode::FORBIDDEN, "no-subject");
    };
    if !app.passwords.check(name, &body.password) {
        return refusal(StatusCode::UNAUTHORIZED, "bad-credentials");
    }
    app.web
        .reauthenticate(&headers, sid, &LoginDetails::new().with_methods(["pwd"]))
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn whoami(claims: &tok::Claims<Map<String, Value>>) -> Json<Value> {
    Json(json!({
        "sub": claims.sub.as_deref(),
        "sid": claims.custom.get("sid"),
        "role": claims.custom.get("role"),
        "auth_time": claims.custom.get("auth_time"),
    }))
}

async fn me(user: OnlineBearer<Map<String, Value>>) -> Json<Value> {
    whoami(&user.claims)
}

async fn me_offline(user: Bearer<Map<String, Value>>) -> Json<Value> {
    whoami(&user.claims)
}

async fn me_unchecked() -> Json<Value> {
    Json(json!({"sub": null, "sid": null, "role": null, "auth_time": null}))
}

async fn promote(
    State(app): State<App>,
    _user: OnlineBearer<Map<String, Value>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    // A real app decides here whether this user may become an admin.
    app.web
        .change_privileges(&headers, &Role { role: "admin" })
        .await
}

/// Every answer of the app gets the hardening headers (the session routes keep their
/// stricter policy).
async fn hardened(mut response: Response) -> Response {
    harden(
        response.headers_mut(),
        HeaderValue::from_static(PAGE_POLICY),
    );
    response
}

fn default_dir() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?).join(".local/share")
        }
    };
    let dir = base.join("tok");
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Where the app's keys come from.
enum Keys {
    /// `TOK_KEY`: fixed for the life of the process.
    Fixed(KeySet),
    /// A key file, read again while the process runs.
    Watched(Arc<KeyFile>),
}

/// The keys: `--key FILE` (watched), else `TOK_KEY` (fixed), else a key file beside the
/// default store (created, mode 0600, on first start, and watched), so that sessions
/// survive a restart.
fn load_key(args: &Args) -> Result<Keys, String> {
    let watched = |path: &std::path::Path| {
        let file = Arc::new(KeyFile::open(path).map_err(|e| e.to_string())?);
        Ok::<_, String>(Keys::Watched(file))
    };
    if let Some(path) = &args.key {
        return watched(path);
    }
    if let Ok(text) = std::env::var("TOK_KEY") {
        let set = KeySet::from_jwk_or_jwks(text.trim())
            .or_else(|_| {
                let secret = tok::base64url::decode(text.trim().as_bytes())?;
                Ok::<_, tok::Error>(KeySet::new(HmacKey::from_bytes(&secret)?))
            })
            .map_err(|e| format!("TOK_KEY: {e}"))?;
        return Ok(Keys::Fixed(set));
    }
    let path = default_dir()?.join("web-example-key.json");
    if !path.exists() {
        let key = HmacKey::generate().map_err(|e| e.to_string())?;
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        let mut file = file
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::io::Write::write_all(&mut file, key.export_jwk().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("web: no key given; created {}", path.display());
    }
    watched(&path)
}

/// Keeps the key file read: every `every` (`--key-poll`, 250 ms by default, as
/// `tok::refresh::KEY_FILE_POLL`), and at once on SIGHUP. A rejected
/// file is reported by tok (a warn event and metrics) and on stderr here.
fn watch_keys(file: Arc<KeyFile>, every: Duration) -> Result<tok::refresh::Watching, String> {
    let watching = file.watch(every);
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let file = Arc::clone(&file);
            match tokio::task::spawn_blocking(move || file.reload()).await {
                Ok(Ok(true)) => eprintln!("web: SIGHUP: key set replaced"),
                Ok(Ok(false)) => eprintln!("web: SIGHUP: key file unchanged"),
                Ok(Err(e)) => eprintln!("web: SIGHUP: {e}; the last good key set stays"),
                Err(e) => eprintln!("web: SIGHUP: {e}"),
            }
        }
    });
    Ok(watching)
}

async fn run(args: Args) -> Result<(), String> {
    if let Some(addr) = args.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|e| format!("--metrics {addr}: {e}"))?;
    }
    let keys = load_key(&args)?;
    let url = match &args.store {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", default_dir()?.join("tok.db").display()),
    };
    let store = tok::store::open(&url).await.map_err(|e| e.to_string())?;
    let store = if args.no_online_cache {
        tok::layer::Cached::pass_through(store)
    } else {
        tok::layer::Cached::new(store)
            .await
            .map_err(|e| e.to_string())?
    };
    let policy = RefreshPolicy::default()
        .with_access_ttl(args.access_ttl)
        .with_idle_timeout(args.idle_timeout)
        .with_session_lifetime(args.lifetime)
        .with_unremembered_lifetime(args.unremembered_lifetime)
        .with_grace(args.grace)
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("{}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (sessions, _watching) = match keys {
        Keys::Fixed(set) => (Sessions::new(store, set, policy), None),
        Keys::Watched(file) => (
            Sessions::new(store, file.keys(), policy),
            Some(watch_keys(file, args.key_poll)?),
        ),
    };
    let mut web = WebSessions::from_sessions(sessions).with_recent_login(args.recent_login);
    let origins = if args.origin.is_empty() {
        vec![format!("http://{addr}")]
    } else {
        args.origin.clone()
    };
    for origin in origins {
        web = web.with_origin(origin);
    }
    let app = App {
        web: Arc::new(web),
        passwords: Arc::default(),
    };
    if args.metrics.is_some() {
        // tok_sessions_by_key: what an operator watches before removing a key. It reads
        // every session, so once a minute, not per request.
        let web = Arc::clone(&app.web);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                if let Err(e) = web.sessions().key_usage().await {
                    eprintln!("web: counting sessions per key: {e}");
                }
            }
        });
    }
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/app.js",
            get(|| async { ([(CONTENT_TYPE, "text/javascript")], SCRIPT) }),
        )
        .route(
            "/app.css",
            get(|| async { ([(CONTENT_TYPE, "text/css")], STYLE) }),
        )
        .route(
            "/icon.svg",
            get(|| async { ([(CONTENT_TYPE, "image/svg+xml")], ICON) }),
        )
        .route("/login", post(login))
        .route(
            "/api/me",
            match args.check {
                Check::Online => get(me),
                Check::Offline => get(me_offline),
                Check::None => get(me_unchecked),
            },
        )
        .route("/api/promote", post(promote))
        .route("/api/password", post(change_password))
        .route("/reauthenticate", post(reauthenticate))
        .nest("/session", session_router())
        .layer(axum::middleware::map_response(hardened))
        .with_state(app);
    println!("listening on http://{addr}");
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
