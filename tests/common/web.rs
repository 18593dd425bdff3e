//! The example web app as a real server process, and a real HTTP client with a cookie
//! jar (the `cookie` crate's), for the web tests.

use std::process::Command;
use std::time::Duration;

use cookie::{Cookie, CookieJar};
use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};

use super::listening::Listening;

/// The key every test app signs with (32 bytes of 7, base64url).
pub const KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";

/// One `examples/web` process on a free loopback port.
pub struct App {
    pub url: String,
    // Killed when the app is dropped.
    server: Listening,
}

impl App {
    /// Starts the app on `store` with extra arguments; waits until it listens.
    pub fn start(store: &str, extra: &[&str]) -> Self {
        Self::try_start(store, extra).unwrap_or_else(|said| panic!("the app said {said:?}"))
    }

    /// Starts the app; what it printed instead of its address if it did not listen
    /// (e.g. a port given to it was taken).
    pub fn try_start(store: &str, extra: &[&str]) -> Result<Self, String> {
        let server = Listening::start(
            Command::new(super::example_bin("web"))
                .args(["--listen", "127.0.0.1:0", "--store", store])
                .args(extra)
                .env("TOK_KEY", KEY),
        )?;
        Ok(Self {
            url: server.at.clone(),
            server,
        })
    }

    /// Starts the app with `--metrics` on a free port: its address for `GET /metrics`.
    /// The exporter binds the port it is given, which may be taken between choosing and
    /// binding (the app then exits): another is tried, five at most.
    pub fn start_with_metrics(store: &str, extra: &[&str]) -> (Self, String) {
        (0..5)
            .find_map(|_| {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let metrics = format!("127.0.0.1:{port}");
                let mut args = extra.to_vec();
                args.extend(["--metrics", &metrics]);
                Self::try_start(store, &args).ok().map(|app| (app, metrics))
            })
            .expect("the app with metrics did not start on five free ports")
    }

    /// The app's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

/// A browser stand-in: an HTTP client that keeps cookies as a browser would for this
/// host (set by `Set-Cookie`, dropped when their `Max-Age` runs out), and an access
/// token in memory.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub jar: CookieJar,
    pub access: Option<String>,
    /// When each cookie with a `Max-Age` expires.
    expiries: std::collections::HashMap<String, std::time::Instant>,
}

/// One answer: status, headers, and the body as JSON (or `Null`).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<Cookie<'static>> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
            .collect()
    }

    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            jar: CookieJar::new(),
            access: None,
            expiries: Default::default(),
        }
    }

    /// The value of cookie `name` in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.get(name).map(|c| c.value().to_owned())
    }

    /// Applies an answer's `Set-Cookie` headers to the jar, in order.
    pub fn apply(&mut self, answer: &Answer) {
        for cookie in answer.set_cookies() {
            if cookie.max_age() == Some(cookie::time::Duration::ZERO) {
                self.jar.force_remove(cookie.name());
                self.expiries.remove(cookie.name());
            } else {
                if let Some(age) = cookie.max_age() {
                    let age = Duration::from_secs(age.whole_seconds().max(0) as u64);
                    self.expiries
                        .insert(cookie.name().to_owned(), std::time::Instant::now() + age);
                }
                self.jar.add_original(cookie);
            }
        }
    }

    /// Drops the cookies whose `Max-Age` has run out, as a browser does.
    fn expire(&mut self) {
        let now = std::time::Instant::now();
        let gone: Vec<String> = self
            .expiries
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            self.jar.force_remove(name.clone());
            self.expiries.remove(&name);
        }
    }

    /// Sends a request with the jar's cookies and `extra` headers (no cookie handling).
    pub async fn send_raw(
        &self,
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut request = self.http.request(method.parse().unwrap(), url);
        let cookies: Vec<String> = self
            .jar
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        if !cookies.is_empty() {
            request = request.header(COOKIE, cookies.join("; "));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    /// Sends a request as the page would (cookies, bearer token if any) and keeps what
    /// comes back (cookies, a new access token).
    pub async fn send(
        &mut self,
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Answer {
        self.expire();
        let bearer = self.access.as_ref().map(|a| format!("Bearer {a}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(b) = &bearer
            && !extra
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        {
            headers.push(("authorization", b));
        }
        let answer = self.send_raw(method, url, &headers, body).await;
        self.apply(&answer);
        if let Some(token) = answer.json["access_token"].as_str() {
            self.access = Some(token.to_owned());
        }
        answer
    }

    pub async fn login(&mut self, base: &str, user: &str) -> Answer {
        let body = serde_json::json!({"username": user, "password": "demo"});
        self.send("POST", &format!("{base}/login"), &[], Some(body))
            .await
    }

    pub async fn me(&mut self, base: &str) -> Answer {
        self.send("GET", &format!("{base}/api/me"), &[], None).await
    }

    pub async fn refresh(&mut self, base: &str) -> Answer {
        self.send("POST", &format!("{base}/session/refresh"), &[], None)
            .await
    }
}

/// The value of one series (name and labels exactly as served) in Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Sends `request` (raw bytes) to the app over a plain socket and returns the status
/// code of the answer.
pub fn raw_status(url: &str, request: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let addr = url.strip_prefix("http://").unwrap();
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket.write_all(request).unwrap();
    let mut buf = vec![0u8; 64];
    let n = socket.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:?}"))
}
