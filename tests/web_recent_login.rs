//! Recent login and remember-me over real sockets: the example app as a server process,
//! a real HTTP client with a cookie jar. A sensitive route refuses an old login with RFC
//! 9470's challenge; only the session's own holder can refresh its login; a login not
//! remembered gets session cookies.
#![cfg(all(feature = "axum", feature = "cli"))]

mod common;

use std::time::Duration;

use common::web::{Answer, App, Client};
use serde_json::json;

/// Waits until a login made now is more than `limit` old (`auth_time` is in whole
/// seconds, rounded down: one second more is enough).
async fn wait_past(limit: Duration) {
    tokio::time::sleep(limit + Duration::from_millis(1_100)).await;
}

/// A JSON `POST` to the app's `path`, as the page sends it.
async fn post(client: &mut Client, app: &App, path: &str, body: serde_json::Value) -> Answer {
    client
        .send("POST", &format!("{}{path}", app.url), &[], Some(body))
        .await
}

async fn change_password(client: &mut Client, app: &App, new: &str) -> Answer {
    post(client, app, "/api/password", json!({ "new_password": new })).await
}

async fn reauthenticate(client: &mut Client, app: &App, password: &str) -> Answer {
    post(
        client,
        app,
        "/reauthenticate",
        json!({ "password": password }),
    )
    .await
}

async fn login_with(client: &mut Client, app: &App, password: &str) -> Answer {
    post(
        client,
        app,
        "/login",
        json!({ "username": "alice", "password": password }),
    )
    .await
}

#[tokio::test]
async fn a_sensitive_action_asks_for_a_recent_login_and_gets_it_after_reauthentication() {
    let app = App::start("memory:", &["--recent-login", "2s"]);
    let mut alice = Client::new();
    assert_eq!(alice.login(&app.url, "alice").await.status, 200);
    // Just logged in: the sensitive action goes through.
    let changed = change_password(&mut alice, &app, "hunter22").await;
    assert_eq!(
        (changed.status, &changed.json),
        (200, &json!({"changed": true}))
    );

    wait_past(Duration::from_secs(2)).await;
    // The session still works for everything else...
    assert_eq!(alice.me(&app.url).await.status, 200);
    // ...but the sensitive action is refused with RFC 9470's challenge, and does nothing.
    let refused = change_password(&mut alice, &app, "stolen").await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(
        refused.header("www-authenticate"),
        Some(
            "Bearer realm=\"tok\", error=\"insufficient_user_authentication\", \
             error_description=\"A more recent login is required\", max_age=\"2\""
        )
    );
    assert_eq!(
        refused.json,
        json!({"error": "insufficient-user-authentication", "max_age": 2})
    );
    assert!(refused.set_cookies().is_empty(), "the session is not ended");
    assert_eq!(
        login_with(&mut Client::new(), &app, "stolen").await.status,
        401
    );

    // A wrong password proves nothing and renews nothing.
    let before = alice.cookie("__Host-refresh");
    let wrong = reauthenticate(&mut alice, &app, "demo").await;
    assert_eq!((wrong.status, wrong.error()), (401, "bad-credentials"));
    assert_eq!(alice.cookie("__Host-refresh"), before);

    // The right one: a new access token whose login is now, renewed cookies.
    let old_access = alice.access.clone();
    let proved = reauthenticate(&mut alice, &app, "hunter22").await;
    assert_eq!(proved.status, 200, "{proved:?}");
    assert!(proved.json["access_token"].is_string());
    assert_ne!(alice.cookie("__Host-refresh"), before);
    let changed = change_password(&mut alice, &app, "correct horse").await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(
        login_with(&mut Client::new(), &app, "correct horse")
            .await
            .status,
        200
    );
    // The access token from before the reauthentication is outdated at once.
    let mut stale = alice.clone();
    stale.access = old_access;
    let me = stale.me(&app.url).await;
    assert_eq!((me.status, me.error()), (401, "revoked"));
}

#[tokio::test]
async fn only_the_sessions_own_holder_can_refresh_its_login() {
    let app = App::start("memory:", &["--recent-login", "1s"]);
    let mut laptop = Client::new();
    let mut phone = Client::new();
    let mut bob = Client::new();
    assert_eq!(laptop.login(&app.url, "alice").await.status, 200);
    assert_eq!(phone.login(&app.url, "alice").await.status, 200);
    assert_eq!(bob.login(&app.url, "bob").await.status, 200);
    wait_past(Duration::from_secs(1)).await;

    // A leaked access token alone (no cookies) refreshes no login.
    let mut thief = Client::new();
    thief.access = laptop.access.clone();
    let alone = reauthenticate(&mut thief, &app, "demo").await;
    assert_eq!((alone.status, alone.error()), (401, "no-session"));
    // The laptop's access token with the phone's cookies: another session.
    let mut mixed = phone.clone();
    mixed.access = laptop.access.clone();
    let other = reauthenticate(&mut mixed, &app, "demo").await;
    assert_eq!((other.status, other.error()), (403, "not-session-holder"));
    // Bob's password and token with alice's cookies: another session too.
    let mut bobs = laptop.clone();
    bobs.access = bob.access.clone();
    let crossed = reauthenticate(&mut bobs, &app, "demo").await;
    assert_eq!(
        (crossed.status, crossed.error()),
        (403, "not-session-holder")
    );
    // Another site's page cannot make the browser do it.
    let body = Some(json!({"password": "demo"}));
    let csrf = laptop
        .send_raw(
            "POST",
            &format!("{}/reauthenticate", app.url),
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
                (
                    "authorization",
                    &format!("Bearer {}", laptop.access.clone().unwrap()),
                ),
            ],
            body,
        )
        .await;
    assert_eq!((csrf.status, csrf.error()), (403, "csrf"));

    // The laptop's own proof moves the laptop's login only.
    assert_eq!(reauthenticate(&mut laptop, &app, "demo").await.status, 200);
    assert_eq!(
        change_password(&mut laptop, &app, "hunter22").await.status,
        200
    );
    let phone_try = change_password(&mut phone, &app, "phone's");
    assert_eq!(phone_try.await.error(), "insufficient-user-authentication");
    assert_eq!(
        change_password(&mut bob, &app, "bob's").await.error(),
        "insufficient-user-authentication"
    );
}

#[tokio::test]
async fn a_login_not_remembered_gets_session_cookies() {
    let app = App::start("memory:", &[]);
    let mut forgetful = Client::new();
    let body = json!({"username": "alice", "password": "demo", "remember": false});
    let login = post(&mut forgetful, &app, "/login", body).await;
    assert_eq!(login.status, 200, "{login:?}");
    let session_cookies = |answer: &Answer| {
        let cookies = answer.set_cookies();
        assert_eq!(cookies.len(), 2, "{answer:?}");
        for cookie in &cookies {
            // The hardening stays; only the lifetime goes.
            assert!(cookie.name().starts_with("__Host-"), "{cookie}");
            assert_eq!(cookie.http_only(), Some(true), "{cookie}");
            assert_eq!(cookie.max_age(), None, "{cookie}");
            assert_eq!(cookie.expires(), None, "{cookie}");
            let raw = cookie.to_string();
            assert!(
                !raw.contains("Max-Age") && !raw.contains("Expires"),
                "{raw}"
            );
        }
    };
    session_cookies(&login);
    // Every refresh keeps them session cookies.
    let refreshed = forgetful.refresh(&app.url).await;
    assert_eq!(refreshed.status, 200);
    session_cookies(&refreshed);
    // A remembered login (the default) gets both cookies for the session's lifetime.
    let mut remembered = Client::new();
    let login = remembered.login(&app.url, "alice").await;
    for cookie in login.set_cookies() {
        let age = cookie
            .max_age()
            .expect("a remembered login's cookies persist");
        assert_eq!(age.whole_seconds(), 7 * 86_400, "{cookie}");
    }
    let body = json!({"username": "alice", "password": "demo", "remember": true});
    let login = post(&mut remembered, &app, "/login", body).await;
    assert!(login.set_cookies().iter().all(|c| c.max_age().is_some()));
}
