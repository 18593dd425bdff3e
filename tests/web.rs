//! The web layer over real sockets: the example app as a server process, a real HTTP
//! client with a cookie jar. No mocks.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use common::web::{App, Client};

const REFRESH: &str = "__Host-refresh";
const FINGERPRINT: &str = "__Host-fingerprint";

fn cleared(answer: &common::web::Answer) -> Vec<String> {
    answer
        .set_cookies()
        .into_iter()
        .filter(|c| c.max_age() == Some(cookie::time::Duration::ZERO) && c.value().is_empty())
        .map(|c| c.name().to_owned())
        .collect()
}

#[tokio::test]
async fn login_me_refresh_and_replay_kills_the_family() {
    // No grace window: an immediate replay is reuse (the grace case is tested apart).
    let app = App::start("memory:", &["--grace", "0s"]);
    let mut alice = Client::new();
    let login = alice.login(&app.url, "alice").await;
    assert_eq!(login.status, 200, "{login:?}");
    // RFC 6749 §5.1 without the refresh token, which is only in its cookie.
    assert_eq!(login.json["token_type"], "Bearer");
    assert!(login.json["access_token"].is_string());
    assert!(login.json.get("refresh_token").is_none());
    assert_eq!(login.header("cache-control"), Some("no-store"));
    assert_eq!(login.header("pragma"), Some("no-cache"));
    for cookie in login.set_cookies() {
        assert!(cookie.name().starts_with("__Host-"), "{cookie}");
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        assert_eq!(cookie.secure(), Some(true), "{cookie}");
        assert_eq!(
            cookie.same_site(),
            Some(cookie::SameSite::Strict),
            "{cookie}"
        );
        assert_eq!(cookie.path(), Some("/"), "{cookie}");
        assert_eq!(cookie.domain(), None, "{cookie}");
    }
    assert!(alice.cookie(REFRESH).is_some() && alice.cookie(FINGERPRINT).is_some());

    let me = alice.me(&app.url).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["sub"], "alice");
    assert_eq!(me.json["role"], "user");
    let sid = me.json["sid"].as_str().unwrap().to_owned();
    assert!(alice.cookie(REFRESH).unwrap().starts_with(&sid));

    let stolen = alice.clone();
    let refreshed = alice.refresh(&app.url).await;
    assert_eq!(refreshed.status, 200);
    assert_ne!(alice.cookie(REFRESH), stolen.cookie(REFRESH));
    assert_eq!(alice.me(&app.url).await.status, 200);

    // The old cookie, replayed: reuse. Both cookies are cleared and the family is dead.
    let mut thief = stolen;
    let replay = thief.refresh(&app.url).await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.error(), "refresh-reused");
    let mut gone = cleared(&replay);
    gone.sort();
    assert_eq!(gone, [FINGERPRINT, REFRESH]);
    let after = alice.refresh(&app.url).await;
    assert_eq!((after.status, after.error()), (401, "revoked"));
    let me = alice.me(&app.url).await;
    assert_eq!(me.status, 401);
    assert_eq!(
        me.header("www-authenticate"),
        Some(r#"Bearer realm="tok", error="invalid_token", error_description="revoked""#)
    );
}

#[tokio::test]
async fn logout_and_logout_everywhere() {
    let app = App::start("memory:", &[]);
    let mut a = Client::new();
    a.login(&app.url, "alice").await;
    let kept = a.clone();
    let out = a
        .send("POST", &format!("{}/session/logout", app.url), &[], None)
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(out.header("cache-control"), Some("no-store"));
    assert_eq!(cleared(&out).len(), 2);
    assert!(a.cookie(REFRESH).is_none());
    let mut kept = kept;
    assert_eq!(kept.refresh(&app.url).await.error(), "revoked");
    assert_eq!(
        kept.me(&app.url).await.status,
        401,
        "online check sees the logout"
    );

    // Two logins of one user; "log out everywhere" from the first ends the second.
    let mut first = Client::new();
    let mut second = Client::new();
    first.login(&app.url, "bob").await;
    second.login(&app.url, "bob").await;
    let mut carol = Client::new();
    carol.login(&app.url, "carol").await;
    let all = first
        .send(
            "POST",
            &format!("{}/session/logout-all", app.url),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (all.status, &all.json["revoked"]),
        (200, &serde_json::json!(2))
    );
    assert_eq!(second.me(&app.url).await.status, 401);
    assert_eq!(second.refresh(&app.url).await.error(), "revoked");
    assert_eq!(carol.me(&app.url).await.status, 200, "other users stay");
    // logout-all needs a bearer token.
    let anon = Client::new()
        .send_raw(
            "POST",
            &format!("{}/session/logout-all", app.url),
            &[],
            None,
        )
        .await;
    assert_eq!(anon.status, 401);
}

#[tokio::test]
async fn a_cookie_planted_before_login_dies_at_login() {
    let app = App::start("memory:", &[]);
    // The attacker's own session cookie, planted in the victim's browser.
    let mut attacker = Client::new();
    attacker.login(&app.url, "mallory").await;
    let mut victim = Client::new();
    victim.jar = attacker.jar.clone();
    let planted = victim.cookie(REFRESH).unwrap();
    let login = victim.login(&app.url, "victim").await;
    assert_eq!(login.status, 200);
    assert_ne!(
        victim.cookie(REFRESH).unwrap(),
        planted,
        "a new family at login"
    );
    assert_eq!(victim.me(&app.url).await.json["sub"], "victim");
    // The planted family is revoked: the attacker's copy is dead.
    assert_eq!(attacker.refresh(&app.url).await.error(), "revoked");
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_change_nothing() {
    let app = App::start("memory:", &[]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let before = alice.cookie(REFRESH).unwrap();
    let bearer = format!("Bearer {}", alice.access.clone().unwrap());
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "http://evil.example")],
        vec![("origin", "http://127.0.0.1:1")],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", app.url.as_str()),
        ],
    ] {
        for path in [
            "/session/refresh",
            "/session/logout",
            "/api/promote",
            "/login",
        ] {
            // With the page's bearer token too: CSRF is refused even when the rest of
            // the request would pass.
            let mut headers = headers.clone();
            headers.push(("authorization", bearer.as_str()));
            let body = (path == "/login")
                .then(|| serde_json::json!({"username": "x", "password": "demo"}));
            let answer = alice
                .send_raw("POST", &format!("{}{path}", app.url), &headers, body)
                .await;
            assert_eq!(
                (answer.status, answer.error()),
                (403, "csrf"),
                "{path} {headers:?}"
            );
            assert!(answer.set_cookies().is_empty());
        }
    }
    // Nothing rotated: the same cookie is still the live one, and the page's own
    // same-origin requests pass.
    assert_eq!(alice.cookie(REFRESH).unwrap(), before);
    let ok = alice
        .send(
            "POST",
            &format!("{}/session/refresh", app.url),
            &[("sec-fetch-site", "same-origin")],
            None,
        )
        .await;
    assert_eq!(ok.status, 200);
    let ok = alice
        .send(
            "POST",
            &format!("{}/session/refresh", app.url),
            &[("origin", app.url.as_str())],
            None,
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn privilege_change_rotates_the_cookie() {
    let app = App::start("memory:", &["--grace", "0s"]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let before = alice.clone();
    let promoted = alice
        .send("POST", &format!("{}/api/promote", app.url), &[], None)
        .await;
    assert_eq!(promoted.status, 200, "{promoted:?}");
    assert_eq!(alice.me(&app.url).await.json["role"], "admin");
    assert_ne!(alice.cookie(REFRESH), before.cookie(REFRESH));
    // The fingerprint cookie stays; the privilege change did not need a new one.
    assert_eq!(alice.cookie(FINGERPRINT), before.cookie(FINGERPRINT));
    let mut old = before;
    assert_eq!(old.refresh(&app.url).await.error(), "refresh-reused");
}

#[tokio::test]
async fn exact_challenges_and_no_token_echoed() {
    let app = App::start("memory:", &[]);
    let me = format!("{}/api/me", app.url);
    let c = Client::new();
    let none = c.send_raw("GET", &me, &[], None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some(r#"Bearer realm="tok""#)
    );
    let basic = c
        .send_raw("GET", &me, &[("authorization", "Basic YTpi")], None)
        .await;
    assert_eq!(
        basic.header("www-authenticate"),
        Some(r#"Bearer realm="tok""#)
    );
    let secret_looking = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ";
    let bad = c
        .send_raw(
            "GET",
            &me,
            &[("authorization", &format!("Bearer {secret_looking}"))],
            None,
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.header("www-authenticate"),
        Some(r#"Bearer realm="tok", error="invalid_token", error_description="bad-signature""#)
    );
    assert_eq!(bad.json, serde_json::json!({"error": "bad-signature"}));
    assert!(!format!("{:?}", bad.headers).contains("c2VjcmV0"));
    let two = c
        .send_raw(
            "GET",
            &me,
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
            None,
        )
        .await;
    assert_eq!(two.status, 400);
    assert_eq!(
        two.header("www-authenticate"),
        Some(
            r#"Bearer realm="tok", error="invalid_request", error_description="more than one Authorization header""#
        )
    );
    assert_eq!(two.error(), "invalid_request");
    let no_cookie = c
        .send_raw("POST", &format!("{}/session/refresh", app.url), &[], None)
        .await;
    assert_eq!((no_cookie.status, no_cookie.error()), (401, "no-session"));
}

/// RFC 6750 §2.1 is `"Bearer" 1*SP b64token`: a client that parts scheme and token with
/// several spaces sends one valid credential, answered as with one space.
#[tokio::test]
async fn bearer_scheme_and_token_may_be_parted_by_several_spaces() {
    let app = App::start("memory:", &[]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let access = alice.access.clone().unwrap();
    let me = format!("{}/api/me", app.url);
    for spaces in [" ", "  ", "     "] {
        let answer = Client::new()
            .send_raw(
                "GET",
                &me,
                &[("authorization", &format!("Bearer{spaces}{access}"))],
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{spaces:?}: {:?}", answer.json);
        assert_eq!(answer.json["sub"], "alice");
    }
    // Still one token: a space inside the credential is no b64token.
    let split = Client::new()
        .send_raw(
            "GET",
            &me,
            &[("authorization", &format!("Bearer  {access} x"))],
            None,
        )
        .await;
    assert_eq!((split.status, split.error()), (400, "invalid_request"));
}

/// Malformed headers and cookies: every one gets a 4xx with a code, never a 5xx.
#[tokio::test]
async fn malformed_headers_and_cookies_never_5xx() {
    let app = App::start("memory:", &[]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let live = alice.cookie(REFRESH).unwrap();
    let family = live.split('.').next().unwrap().to_owned();
    let long = "A".repeat(9000);
    /// A request: method, path, headers.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        ("GET", "/api/me", vec![("authorization", "Bearer".into())]),
        (
            "GET",
            "/api/me",
            vec![("authorization", "Bearer  x".into())],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", "Bearer x y".into())],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", "Bearer a.b".into())],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", "Bearer a.b.c".into())],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", format!("Bearer {long}"))],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", "Bearer ====".into())],
        ),
        (
            "GET",
            "/api/me",
            vec![("authorization", "bearer eyJ.eyJ.".into())],
        ),
        ("GET", "/api/me", vec![("authorization", "Digest x".into())]),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", "__Host-refresh=".into())],
        ),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", "__Host-refresh=x".into())],
        ),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", "__Host-refresh=a.b.c".into())],
        ),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", format!("__Host-refresh={family}.0.x"))],
        ),
        (
            "POST",
            "/session/refresh",
            vec![(
                "cookie",
                format!("__Host-refresh={family}.99.{}", "A".repeat(43)),
            )],
        ),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", format!("__Host-refresh={long}"))],
        ),
        (
            "POST",
            "/session/refresh",
            vec![(
                "cookie",
                format!("__Host-refresh={live}; __Host-refresh={live}"),
            )],
        ),
        ("POST", "/session/refresh", vec![("cookie", "=; ;;".into())]),
        (
            "POST",
            "/session/refresh",
            vec![("cookie", format!("__Host-fingerprint={live}"))],
        ),
        (
            "POST",
            "/session/logout",
            vec![("cookie", "__Host-refresh=a; __Host-refresh=b".into())],
        ),
        (
            "POST",
            "/session/logout-all",
            vec![("authorization", "Bearer x".into())],
        ),
        (
            "POST",
            "/api/promote",
            vec![("cookie", "__Host-refresh=x".into())],
        ),
        (
            "POST",
            "/login",
            vec![("content-type", "application/json".into())],
        ),
        (
            "POST",
            "/session/refresh",
            vec![("sec-fetch-site", "same-origin, cross-site".into())],
        ),
    ];
    let c = Client::new();
    for (method, path, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = c
            .send_raw(method, &format!("{}{path}", app.url), &headers, None)
            .await;
        assert!(
            (400..500).contains(&answer.status),
            "{method} {path} {headers:?}: {}",
            answer.status
        );
    }
    assert!(cases.len() >= 20);
    // Logging out with a cookie no family minted still logs this client out: 204, and
    // the garbage is cleared.
    let out = c
        .send_raw(
            "POST",
            &format!("{}/session/logout", app.url),
            &[("cookie", "__Host-refresh=%%%")],
            None,
        )
        .await;
    assert_eq!((out.status, cleared(&out).len()), (204, 2));
    // Bytes no HTTP client library will send, over a raw socket.
    for raw in [
        b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\r\n\r\n".as_slice(),
        b"POST /session/refresh HTTP/1.1\r\nHost: x\r\nCookie: \x01\r\nContent-Length: 0\r\n\r\n".as_slice(),
        b"POST /session/refresh HTTP/1.1\r\nHost: x\r\nCookie: __Host-refresh=\xff\xfe\r\nContent-Length: 0\r\n\r\n".as_slice(),
        b"GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xc3\xa9\r\n\r\n".as_slice(),
        b"POST /session/refresh HTTP/1.1\r\nHost: x\r\nSec-Fetch-Site: \xff\r\nContent-Length: 0\r\n\r\n".as_slice(),
    ] {
        let status = common::web::raw_status(&app.url, raw);
        let shown = String::from_utf8_lossy(raw);
        assert!((400..500).contains(&status), "{shown:?}: {status}");
    }
    // None of it touched alice's family.
    let live_again = alice.refresh(&app.url).await;
    assert_eq!(live_again.status, 200);
    // Her live cookie with a wrong fingerprint cookie is a hijack: 401, the family
    // revoked, both cookies cleared.
    let live = alice.cookie(REFRESH).unwrap();
    let hijack = c
        .send_raw(
            "POST",
            &format!("{}/session/refresh", app.url),
            &[(
                "cookie",
                &format!("__Host-refresh={live}; __Host-fingerprint=wrong"),
            )],
            None,
        )
        .await;
    assert_eq!(
        (hijack.status, hijack.error()),
        (401, "fingerprint-mismatch")
    );
    assert_eq!(cleared(&hijack).len(), 2);
    assert_eq!(alice.refresh(&app.url).await.error(), "revoked");
}

/// Two tabs send the same refresh cookie at once. Both get a new access token and the
/// same refresh cookie, so whichever order the browser applies the two `Set-Cookie`
/// headers in, it holds the one live token, and it keeps refreshing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_refreshing_at_once_stay_logged_in() {
    let app = App::start("memory:", &[]);
    for round in 0..10 {
        // Each order of applying the two answers gets its own session.
        for flip in [false, true] {
            let mut browser = Client::new();
            browser.login(&app.url, "alice").await;
            let url = format!("{}/session/refresh", app.url);
            let (a, b) = tokio::join!(
                browser.send_raw("POST", &url, &[], None),
                browser.send_raw("POST", &url, &[], None)
            );
            assert_eq!(
                (a.status, b.status),
                (200, 200),
                "round {round}: {a:?} {b:?}"
            );
            let cookie_of = |x: &common::web::Answer| {
                x.set_cookies()
                    .into_iter()
                    .find(|c| c.name() == REFRESH)
                    .map(|c| c.value().to_owned())
            };
            assert_eq!(
                cookie_of(&a),
                cookie_of(&b),
                "round {round}: one live token"
            );
            let (first, second) = if flip { (&b, &a) } else { (&a, &b) };
            browser.apply(first);
            browser.apply(second);
            browser.access = second.json["access_token"].as_str().map(str::to_owned);
            assert_eq!(browser.me(&app.url).await.status, 200, "round {round}");
            for _ in 0..3 {
                assert_eq!(browser.refresh(&app.url).await.status, 200, "round {round}");
            }
        }
    }
}

/// Inside the grace window the previous cookie gets the live token again; after it, the
/// previous cookie is reuse, and a thief replaying it kills the session.
#[tokio::test]
async fn grace_window_over_http() {
    let app = App::start("memory:", &["--grace", "1s"]);
    let mut alice = Client::new();
    alice.login(&app.url, "alice").await;
    let previous = alice.clone();
    alice.refresh(&app.url).await;
    let mut retry = previous.clone();
    assert_eq!(retry.refresh(&app.url).await.status, 200);
    assert_eq!(
        retry.cookie(REFRESH),
        alice.cookie(REFRESH),
        "the same live token"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut thief = previous;
    assert_eq!(thief.refresh(&app.url).await.error(), "refresh-reused");
    assert_eq!(alice.refresh(&app.url).await.error(), "revoked");
}
