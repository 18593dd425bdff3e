//! The web layer at its edges, over real sockets with a real HTTP client: cookie
//! lifetimes kept together, other applications' cookies, who may log out everywhere, and
//! the headers that stop framing.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use std::time::Duration;

use common::web::{Answer, App, Client};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue};

const REFRESH: &str = "__Host-refresh";
const FINGERPRINT: &str = "__Host-fingerprint";

fn max_age(answer: &Answer, name: &str) -> Option<i64> {
    answer
        .set_cookies()
        .into_iter()
        .find(|c| c.name() == name)
        .and_then(|c| c.max_age())
        .map(|age| age.whole_seconds())
}

/// Every token response sets both cookies with one `Max-Age`; a browser that honours
/// `Max-Age` stays logged in for as long as it keeps refreshing inside the idle timeout.
#[tokio::test]
async fn refresh_and_fingerprint_cookies_live_together() {
    let app = App::start(
        "memory:",
        &[
            "--idle-timeout",
            "2s",
            "--lifetime",
            "1h",
            "--access-ttl",
            "1s",
        ],
    );
    let mut alice = Client::new();
    let login = alice.login(&app.url, "alice").await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(max_age(&login, REFRESH), Some(2));
    assert_eq!(max_age(&login, FINGERPRINT), Some(2));
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let refreshed = alice.refresh(&app.url).await;
        assert_eq!(
            (refreshed.status, refreshed.error()),
            (200, ""),
            "round {round}: the fingerprint cookie must not run out before the refresh cookie"
        );
        assert_eq!(
            max_age(&refreshed, FINGERPRINT),
            max_age(&refreshed, REFRESH),
            "round {round}"
        );
    }
    assert_eq!(alice.me(&app.url).await.status, 200);
}

/// Sends `POST path` with exactly this `Cookie` header (bytes a client library would
/// not build itself) and the client's access token, if any.
async fn post_with_cookie(client: &Client, url: &str, cookie: &[u8]) -> Answer {
    let mut request = client
        .http
        .post(url)
        .header(COOKIE, HeaderValue::from_bytes(cookie).unwrap());
    if let Some(access) = &client.access {
        request = request.header(AUTHORIZATION, format!("Bearer {access}"));
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        json: response.json().await.unwrap_or(serde_json::Value::Null),
    }
}

fn jar_header(client: &Client) -> String {
    client
        .jar
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A nameless cookie (sent as a bare value), an empty name or another application's
/// non-ASCII cookie beside tok's: refresh and logout work, and logout really ends the
/// session.
#[tokio::test]
async fn other_applications_cookies_break_nothing() {
    let app = App::start("memory:", &[]);
    for neighbour in [
        b"planted".as_slice(),
        b"=bare",
        b"theme=\xc3\xa9t\xc3\xa9",
        b"a",
    ] {
        let mut alice = Client::new();
        alice.login(&app.url, "alice").await;
        let with_neighbour = |client: &Client| {
            let mut header = neighbour.to_vec();
            header.extend_from_slice(b"; ");
            header.extend_from_slice(jar_header(client).as_bytes());
            header
        };
        let shown = String::from_utf8_lossy(neighbour).into_owned();
        let refreshed = post_with_cookie(
            &alice,
            &format!("{}/session/refresh", app.url),
            &with_neighbour(&alice),
        )
        .await;
        assert_eq!(refreshed.status, 200, "{shown}: {refreshed:?}");
        alice.apply(&refreshed);
        alice.access = refreshed.json["access_token"].as_str().map(str::to_owned);
        let before = alice.clone();

        let out = post_with_cookie(
            &alice,
            &format!("{}/session/logout", app.url),
            &with_neighbour(&alice),
        )
        .await;
        assert_eq!(out.status, 204, "{shown}: {out:?}");
        // The session is over for the access token and the refresh cookie alike.
        let mut before = before;
        assert_eq!(before.me(&app.url).await.status, 401, "{shown}");
        assert_eq!(before.refresh(&app.url).await.error(), "revoked", "{shown}");
    }
    // tok's own cookie twice is still refused: a planted duplicate is never guessed at.
    let mut bob = Client::new();
    bob.login(&app.url, "bob").await;
    let twice = format!("{}; {REFRESH}=x.0.y", jar_header(&bob));
    let refused = post_with_cookie(
        &bob,
        &format!("{}/session/refresh", app.url),
        twice.as_bytes(),
    )
    .await;
    assert_eq!(refused.status, 400);
}

/// Logout everywhere is the session holder's act: a leaked access token alone, or with
/// the refresh cookie of another session, ends nothing.
#[tokio::test]
async fn logout_everywhere_needs_the_sessions_own_cookie() {
    let app = App::start("memory:", &[]);
    let mut laptop = Client::new();
    let mut phone = Client::new();
    laptop.login(&app.url, "alice").await;
    phone.login(&app.url, "alice").await;
    let url = format!("{}/session/logout-all", app.url);

    // The laptop's access token, leaked, without any cookie.
    let mut thief = Client::new();
    thief.access = laptop.access.clone();
    let no_cookie = thief.send("POST", &url, &[], None).await;
    assert_eq!((no_cookie.status, no_cookie.error()), (401, "no-session"));
    // The laptop's access token with the phone's cookies: not one holder.
    let mut mixed = phone.clone();
    mixed.access = laptop.access.clone();
    let crossed = mixed.send("POST", &url, &[], None).await;
    assert_eq!(
        (crossed.status, crossed.error()),
        (403, "not-session-holder")
    );
    assert_eq!(laptop.me(&app.url).await.status, 200, "nothing was ended");
    assert_eq!(
        phone.refresh(&app.url).await.status,
        200,
        "nothing was ended"
    );

    // The holder, with the session's access token and cookies, ends both.
    let all = laptop.send("POST", &url, &[], None).await;
    assert_eq!(
        (all.status, &all.json["revoked"]),
        (200, &serde_json::json!(2))
    );
    assert_eq!(phone.me(&app.url).await.status, 401);
}

/// The page and the session routes send the headers that stop framing and sniffing.
#[tokio::test]
async fn responses_refuse_framing() {
    let app = App::start("memory:", &[]);
    let http = reqwest::Client::new();
    for (path, post, policy) in [
        ("/", false, "default-src 'self'"),
        ("/app.js", false, "default-src 'self'"),
        ("/session/refresh", true, "default-src 'none'"),
        ("/session/logout", true, "default-src 'none'"),
    ] {
        let url = format!("{}{path}", app.url);
        let response = if post {
            http.post(&url)
        } else {
            http.get(&url)
        }
        .send()
        .await
        .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let csp = header("content-security-policy");
        assert!(csp.starts_with(policy), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}

/// Every asset the page names is served with its type, and the page names its icon: a
/// browser otherwise asks for `/favicon.ico` on every visit and logs a 404.
#[tokio::test]
async fn the_page_names_only_assets_it_serves_and_its_icon() {
    let app = App::start("memory:", &[]);
    let http = reqwest::Client::new();
    let page = http
        .get(&app.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"rel="icon""#), "the page names no icon");
    let mut named = Vec::new();
    for attribute in [r#"href=""#, r#"src=""#] {
        for (at, _) in page.match_indices(attribute) {
            let rest = &page[at + attribute.len()..];
            named.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    assert!(named.len() >= 3, "{named:?}");
    for path in named {
        let response = http.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let want = match path.rsplit('.').next() {
            Some("css") => "text/css",
            Some("js") => "text/javascript",
            Some("svg") => "image/svg+xml",
            other => panic!("{path}: an asset of unknown kind {other:?}"),
        };
        assert_eq!(kind, want, "{path}");
    }
}

/// A devices page over HTTP: the caller lists its sessions (its own marked current) and
/// ends another one of its own; the ended one is refused at once; a leaked access token
/// alone ends nothing; another user's session cannot be ended.
#[tokio::test]
async fn devices_are_listed_and_ended_by_their_holder() {
    let app = App::start("memory:", &[]);
    let mut laptop = Client::new();
    let mut phone = Client::new();
    let mut bob = Client::new();
    laptop.login(&app.url, "alice").await;
    // The phone's browser names itself; its session is listed with that label.
    let body = serde_json::json!({"username": "alice", "password": "demo"});
    let login = phone
        .send(
            "POST",
            &format!("{}/login", app.url),
            &[("user-agent", "Phone\tBrowser\u{200B}/2.0\u{202E}")],
            Some(body),
        )
        .await;
    assert_eq!(login.status, 200, "{login:?}");
    bob.login(&app.url, "bob").await;
    let list_url = format!("{}/session/sessions", app.url);
    let end_url = format!("{}/session/end", app.url);

    let listed = laptop.send("GET", &list_url, &[], None).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let sessions = listed.json["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    let current: Vec<bool> = sessions.iter().map(|s| s["current"] == true).collect();
    assert_eq!(current.iter().filter(|c| **c).count(), 1);
    let phone_session = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(
        phone_session["label"], "PhoneBrowser/2.0",
        "the User-Agent, without control or format characters (zero-width, bidi override)"
    );
    let phone_id = phone_session["id"].as_str().unwrap().to_owned();
    for field in [
        "created_at",
        "last_used_at",
        "expires_at",
        "idle_expires_at",
    ] {
        assert!(sessions[0][field].is_number(), "{field}");
    }

    // The laptop's access token alone (no cookie) ends nothing.
    let mut thief = Client::new();
    thief.access = laptop.access.clone();
    let body = serde_json::json!({"id": phone_id});
    let refused = thief.send("POST", &end_url, &[], Some(body.clone())).await;
    assert_eq!((refused.status, refused.error()), (401, "no-session"));
    assert_eq!(phone.me(&app.url).await.status, 200);
    // Bob cannot end Alice's phone: nothing changes.
    let other = bob.send("POST", &end_url, &[], Some(body.clone())).await;
    assert_eq!(
        (other.status, &other.json["ended"]),
        (200, &serde_json::json!(false))
    );
    assert_eq!(phone.me(&app.url).await.status, 200);
    // Malformed bodies are a 400, never a 5xx.
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"id": 5}),
        serde_json::json!([1]),
    ] {
        let out = laptop.send("POST", &end_url, &[], Some(bad)).await;
        assert_eq!(out.status, 400);
    }
    // The laptop ends the phone: refused at once; the laptop keeps working.
    let ended = laptop.send("POST", &end_url, &[], Some(body)).await;
    assert_eq!(
        (ended.status, &ended.json["ended"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(phone.me(&app.url).await.status, 401);
    assert_eq!(phone.refresh(&app.url).await.error(), "revoked");
    assert_eq!(laptop.me(&app.url).await.status, 200);
    assert_eq!(laptop.refresh(&app.url).await.status, 200);
    let listed = laptop.send("GET", &list_url, &[], None).await;
    assert_eq!(listed.json["sessions"].as_array().unwrap().len(), 1);
    // Ending its own session is a logout: its cookies cleared, the answer JSON.
    let own = listed.json["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = serde_json::json!({"id": own});
    let out = laptop.send("POST", &end_url, &[], Some(body)).await;
    assert_eq!(
        (out.status, &out.json["ended"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(laptop.me(&app.url).await.status, 401);
    // Every JSON answer of these routes says so and is never cached.
    for answer in [&listed, &ended, &other, &refused, &out] {
        assert_eq!(
            (
                answer.header("content-type"),
                answer.header("cache-control")
            ),
            (Some("application/json"), Some("no-store")),
            "{answer:?}"
        );
    }
}

/// An operator's view: a scripted session (two logins, two refreshes, a replayed cookie,
/// a logout) and the counters scraped from the app's Prometheus listener show exactly
/// those counts; no label carries a subject, a session id or a token.
#[tokio::test]
async fn metrics_count_a_scripted_session_and_leak_nothing() {
    let (app, metrics) = App::start_with_metrics("memory:", &["--grace", "0s"]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let sid = alice.cookie(REFRESH).unwrap();
    let sid = sid.split('.').next().unwrap().to_owned();
    assert_eq!(alice.refresh(&app.url).await.status, 200);
    let stolen = alice.clone();
    assert_eq!(alice.refresh(&app.url).await.status, 200);
    let mut thief = stolen;
    assert_eq!(thief.refresh(&app.url).await.error(), "refresh-reused");
    let mut bob = Client::new();
    bob.login(&app.url, "bob").await;
    assert_eq!(bob.me(&app.url).await.status, 200);
    let out = bob
        .send("POST", &format!("{}/session/logout", app.url), &[], None)
        .await;
    assert_eq!(out.status, 204);

    let text = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |series: &str| common::web::metric(&text, series);
    assert_eq!(value("tok_sessions_issued_total"), Some(2.0), "{text}");
    assert_eq!(
        value("tok_rotations_total{outcome=\"rotated\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value("tok_rotations_total{outcome=\"refresh-reused\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value("tok_logouts_total{outcome=\"revoked\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        value("tok_online_checks_total{result=\"accepted\",answered_by=\"store\"}").is_some()
            || value("tok_online_checks_total{answered_by=\"store\",result=\"accepted\"}")
                .is_some(),
        "{text}"
    );
    // Store latency: one observation per store call of the script, by backend and
    // operation (labels in any order).
    let observations = |operation: &str| -> Option<f64> {
        text.lines()
            .find(|l| {
                l.starts_with("tok_store_operation_seconds_count{")
                    && l.contains("backend=\"memory\"")
                    && l.contains(&format!("operation=\"{operation}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(observations("create"), Some(2.0), "{text}");
    assert_eq!(observations("rotate"), Some(3.0), "{text}");
    assert_eq!(observations("logout"), Some(1.0), "{text}");
    assert!(observations("online_state").is_some(), "{text}");
    for secret in [
        "alice".to_owned(),
        "bob".to_owned(),
        alice.cookie(REFRESH).unwrap_or_default(),
        alice.access.clone().unwrap_or_default(),
    ] {
        for line in text.lines().filter(|l| l.starts_with("tok_")) {
            assert!(!line.contains(&secret), "{line}");
        }
    }
    // Session ids (the family part of a refresh token) appear in no label either.
    assert!(!text.contains(&sid));
}

/// The example app refuses to start on a store it cannot open, and says why: a mistyped
/// SQLite folder is named (and not created); a PostgreSQL password, as userinfo or as a
/// parameter, is in no start-up message.
#[test]
fn start_up_errors_name_the_folder_and_hide_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let start = |store: &str| {
        let mut child = std::process::Command::new(common::example_bin("web"))
            .args(["--listen", "127.0.0.1:0", "--store", store])
            .env("TOK_KEY", common::web::KEY)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // An app that started instead of failing is killed, so the test fails, not hangs.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let typo = dir.path().join("nonexistent-dir");
    let (code, said) = start(&format!("sqlite:{}/x/tok.db", typo.display()));
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains(&typo.display().to_string()), "{said}");
    assert!(!typo.exists(), "no folder is created for a mistyped path");
    for store in [
        "postgres://tok:S3cretPw@127.0.0.1:1/x?connect_timeout=1",
        "postgres://tok@127.0.0.1:1/x?password=S3cretPw&sslmode=bogus",
        "postgres://tok@127.0.0.1:1/x?Password=S3cretPw",
    ] {
        let (code, said) = start(store);
        assert_eq!(code, Some(2), "{store}: {said}");
        assert!(said.starts_with("web: "), "{said}");
        assert!(!said.contains("S3cretPw"), "{said}");
    }
}
