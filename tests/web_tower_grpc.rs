//! The tower layer in front of a gRPC service (tonic), over real sockets: the example
//! `grpc` runs as its own process on a real Redis, and a tonic client calls it. A valid
//! token passes with its claims; a missing, forged or malformed one is UNAUTHENTICATED; a
//! session ended by "logout everywhere" in another process is UNAUTHENTICATED at once (as
//! fast as the store's change feed: bounded here); a store outage is UNAVAILABLE, never a
//! token accepted unchecked. Plain HTTP requests through the same layer get RFC 6750's
//! answers.
#![cfg(all(feature = "tower", feature = "sqlite", feature = "redis"))]

mod common;

#[path = "../examples/grpc/who.rs"]
#[allow(dead_code)]
mod who;

use std::process::Command;
use std::time::{Duration, Instant};

use common::listening::Listening;
use common::redis_server::RedisServer;
use serde_json::Map;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::{HmacKey, KeySet};
use tonic::Code;
use tonic::transport::Channel;

const SECRET: [u8; 32] = [42; 32];

fn keys() -> KeySet {
    KeySet::new(HmacKey::from_bytes(&SECRET).unwrap())
}

/// The example server as a process, stopped when dropped.
struct Grpc {
    url: String,
    _server: Listening,
}

impl Grpc {
    fn start(store: &str) -> Self {
        let key = HmacKey::from_bytes(&SECRET).unwrap().export_jwk();
        let server = Listening::start(
            Command::new(common::example_bin("grpc"))
                .arg("127.0.0.1:0")
                .env("TOK_KEY", key)
                .env("TOK_STORE", store),
        )
        .unwrap_or_else(|said| panic!("the example said {said:?}"));
        Self {
            url: format!("http://{}", server.at),
            _server: server,
        }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

/// Calls until the answer is `want` (a gRPC code), within `bound`; the last answer
/// otherwise.
async fn until(channel: &Channel, token: &str, want: Code, bound: Duration) -> Code {
    let start = Instant::now();
    loop {
        let code = match who::who_am_i(channel.clone(), Some(token)).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        if code == want || start.elapsed() > bound {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_service_admits_live_sessions_only() {
    let mut redis = RedisServer::start();
    let server = Grpc::start(&redis.url());
    let channel = server.channel().await;
    // Another process of the fleet: it logs users in and out on the same store.
    let sessions = Sessions::new(
        tok::store::open(&redis.url()).await.unwrap(),
        keys(),
        RefreshPolicy::default(),
    );
    let alice = sessions.issue("alice", &Map::new(), None).await.unwrap();
    let bob = sessions.issue("bob", &Map::new(), None).await.unwrap();

    // A live session's token passes, and the service reads its claims.
    let reply = who::who_am_i(channel.clone(), Some(&alice.access_token))
        .await
        .unwrap();
    assert_eq!(
        (reply.subject.as_str(), reply.session.as_str()),
        ("alice", alice.session_id.as_str())
    );

    // No token, a malformed one, one signed with another key: UNAUTHENTICATED, with
    // tok's code; the service never runs.
    let other = HmacKey::from_bytes(&[7; 32]).unwrap();
    let forged = common::forge_claims(
        &other,
        &format!(
            r#"{{"sub":"alice","sid":"{}","exp":4000000000}}"#,
            alice.session_id
        ),
    );
    for (token, code) in [
        (None, "no-credentials"),
        (Some("not a token"), "invalid_request"),
        (Some("a.b.c"), "malformed"),
        (Some(forged.as_str()), "bad-signature"),
    ] {
        let status = who::who_am_i(channel.clone(), token).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        assert_eq!(status.message(), code, "{token:?}");
    }

    // Logout everywhere, from the other process: alice's unexpired access token is
    // refused at once; bob is untouched.
    assert_eq!(sessions.revoke_subject("alice").await.unwrap(), 1);
    assert_eq!(
        until(
            &channel,
            &alice.access_token,
            Code::Unauthenticated,
            Duration::from_secs(2)
        )
        .await,
        Code::Unauthenticated
    );
    let status = who::who_am_i(channel.clone(), Some(&alice.access_token))
        .await
        .unwrap_err();
    assert_eq!(status.message(), "revoked");
    assert!(
        who::who_am_i(channel.clone(), Some(&bob.access_token))
            .await
            .is_ok()
    );

    // The store goes away: bob's call is UNAVAILABLE (retry later), never admitted on a
    // check that could not be made.
    redis.kill();
    assert_eq!(
        until(
            &channel,
            &bob.access_token,
            Code::Unavailable,
            Duration::from_secs(5)
        )
        .await,
        Code::Unavailable
    );
    let status = who::who_am_i(channel.clone(), Some(&bob.access_token))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, "unavailable")
    );
}

/// The same requests through the tower layer and through the axum extractor answer
/// alike (status and challenge): one verification path. The layer's route reads the
/// claims the layer put in the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_through_the_layer_answers_as_the_extractor_does() {
    use std::sync::Arc;

    use axum::routing::get;
    use axum::{Extension, Router};
    use serde_json::Value;
    use tok::tower::BearerLayer;
    use tok::web::{OnlineBearer, WebSessions};

    type Claims = Map<String, Value>;
    let mut redis = RedisServer::start();
    let open = || async {
        Sessions::new(
            tok::store::open(&redis.url()).await.unwrap(),
            keys(),
            RefreshPolicy::default(),
        )
    };
    let sessions = Arc::new(open().await);
    let web = Arc::new(WebSessions::from_sessions(open().await));
    let layered = Router::new()
        .route(
            "/layer",
            get(
                |Extension(v): Extension<tok::Verified<Claims>>| async move {
                    v.claims.sub.as_deref().unwrap_or_default().to_owned()
                },
            ),
        )
        .layer(BearerLayer::<Claims, _>::online(
            Arc::clone(&sessions),
            tok::Validation::new(),
        ));
    let app = Router::new()
        .route(
            "/extractor",
            get(
                |user: OnlineBearer<Claims, tok::store::AnyStore>| async move {
                    user.claims.sub.as_deref().unwrap_or_default().to_owned()
                },
            ),
        )
        .with_state(web)
        .merge(layered);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let alice = sessions.issue("alice", &Map::new(), None).await.unwrap();
    let http = reqwest::Client::new();
    let ask = |path: &'static str, auth: Option<String>| {
        let mut request = http.get(format!("{base}{path}"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move {
            let r = request.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let retry = r.headers().contains_key("retry-after");
            (
                r.status().as_u16(),
                challenge,
                retry,
                r.text().await.unwrap(),
            )
        }
    };
    let cases = [
        None,
        Some("Basic dXNlcjpwdw==".to_owned()),
        Some("Bearer a b".to_owned()),
        Some("Bearer a.b.c".to_owned()),
        Some(format!("Bearer {}", alice.access_token)),
    ];
    let mut statuses = Vec::new();
    for auth in &cases {
        let layer = ask("/layer", auth.clone()).await;
        let extractor = ask("/extractor", auth.clone()).await;
        assert_eq!(
            (layer.0, &layer.1),
            (extractor.0, &extractor.1),
            "{auth:?}: the layer and the extractor disagree"
        );
        statuses.push(layer.0);
        if layer.0 == 200 {
            assert_eq!((layer.3.as_str(), extractor.3.as_str()), ("alice", "alice"));
        }
    }
    assert_eq!(statuses, [401, 401, 400, 401, 200]);

    // Revoked, then an outage: both refuse alike, with Retry-After on the 503.
    sessions.revoke_subject("alice").await.unwrap();
    let token = Some(format!("Bearer {}", alice.access_token));
    let (status, challenge, ..) = ask("/layer", token.clone()).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    redis.kill();
    let layer = ask("/layer", token.clone()).await;
    let extractor = ask("/extractor", token).await;
    assert_eq!((layer.0, layer.2), (503, true));
    assert_eq!((extractor.0, extractor.2), (503, true));
    assert_eq!(layer.1, None);
}
