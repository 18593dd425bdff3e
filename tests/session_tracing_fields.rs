//! What tok tells a tracing subscriber: one span per session flow with its outcome
//! recorded, warnings for the signs of theft, and never a token, a tag or a fingerprint
//! in any span or event field.
#![cfg(feature = "refresh")]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, json};
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::MemoryStore;
use tok::{HmacKey, KeySet, Validation};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span or event: its name, level, and fields (name, value as text).
type Sighting = (String, String, Vec<(String, String)>);

/// Every span and event seen.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<Sighting>>>);

struct Capture {
    seen: Seen,
    next: AtomicU64,
    /// Each span's metadata, and the spans entered on this thread (innermost last), so
    /// that `Span::current()` works as under a real subscriber.
    spans: Mutex<std::collections::HashMap<u64, &'static Metadata<'static>>>,
    stack: Mutex<Vec<Id>>,
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl Capture {
    fn push(&self, name: &str, level: &tracing::Level, fields: Fields) {
        self.seen
            .0
            .lock()
            .unwrap()
            .push((name.to_owned(), level.to_string(), fields.0));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(Vec::new());
        span.record(&mut fields);
        self.push(span.metadata().name(), span.metadata().level(), fields);
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.spans.lock().unwrap().insert(id, span.metadata());
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut fields = Fields(Vec::new());
        values.record(&mut fields);
        self.push("(record)", &tracing::Level::TRACE, fields);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.push(event.metadata().name(), event.metadata().level(), fields);
    }
    fn enter(&self, id: &Id) {
        self.stack.lock().unwrap().push(id.clone());
    }
    fn exit(&self, id: &Id) {
        let mut stack = self.stack.lock().unwrap();
        if let Some(at) = stack.iter().rposition(|s| s == id) {
            stack.remove(at);
        }
    }
    fn current_span(&self) -> tracing_core::span::Current {
        match self.stack.lock().unwrap().last() {
            Some(id) => match self.spans.lock().unwrap().get(&id.into_u64()) {
                Some(meta) => tracing_core::span::Current::new(id.clone(), meta),
                None => tracing_core::span::Current::none(),
            },
            None => tracing_core::span::Current::none(),
        }
    }
}

#[test]
fn flows_are_spans_with_outcomes_and_no_secret_is_ever_recorded() {
    let seen = Seen::default();
    let subscriber = Capture {
        seen: seen.clone(),
        next: AtomicU64::new(0),
        spans: Mutex::default(),
        stack: Mutex::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let fingerprint = b"fingerprint-cookie-value";
    let secrets = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let s = Sessions::new(
                MemoryStore::new(),
                KeySet::new(HmacKey::from_bytes(&[7; 32]).unwrap()),
                RefreshPolicy::default(),
            );
            let claims: Map<_, _> = json!({"role": "user"}).as_object().unwrap().clone();
            let first = s.issue("alice", &claims, Some(fingerprint)).await.unwrap();
            let next = s
                .rotate(&first.refresh_token, Some(fingerprint))
                .await
                .unwrap();
            // A replayed token (theft), a mismatched fingerprint on another session.
            s.rotate(&first.refresh_token, Some(fingerprint))
                .await
                .unwrap_err();
            let other = s.issue("bob", &claims, Some(fingerprint)).await.unwrap();
            s.rotate(&other.refresh_token, Some(b"stolen"))
                .await
                .unwrap_err();
            let third = s.issue("carol", &claims, None).await.unwrap();
            s.revoke_access(&third.access_token, &Validation::new())
                .await
                .unwrap();
            s.revoke_refresh(&third.refresh_token).await.unwrap();
            s.revoke_subject("carol").await.unwrap();
            let mut secrets: Vec<String> = Vec::new();
            for pair in [&first, &next, &other, &third] {
                secrets.push(pair.access_token.to_string());
                secrets.push(pair.refresh_token.to_string());
                // The tag alone, and the access token's signature alone.
                secrets.push(pair.refresh_token.rsplit('.').next().unwrap().to_owned());
                secrets.push(pair.access_token.rsplit('.').next().unwrap().to_owned());
            }
            secrets.push(String::from_utf8(fingerprint.to_vec()).unwrap());
            secrets.push(tok::base64url::encode(&tok::refresh::token::hash(
                fingerprint,
            )));
            secrets
        })
    });
    let seen = seen.0.lock().unwrap();
    for (name, _, fields) in seen.iter() {
        for (field, value) in fields {
            for secret in &secrets {
                assert!(
                    !value.contains(secret.as_str()),
                    "{name}: field {field} holds a secret: {value}"
                );
            }
        }
    }
    let span = |name: &str| seen.iter().any(|(n, ..)| n == name);
    for name in [
        "issue",
        "rotate",
        "logout",
        "revoke_subject",
        "revoke_access",
    ] {
        assert!(span(name), "no {name} span");
    }
    let recorded: Vec<&String> = seen
        .iter()
        .flat_map(|(_, _, f)| f)
        .filter(|(field, _)| field == "outcome")
        .map(|(_, v)| v)
        .collect();
    for outcome in [
        "issued",
        "rotated",
        "refresh-reused",
        "fingerprint-mismatch",
        "revoked",
    ] {
        assert!(
            recorded.iter().any(|v| v.contains(outcome)),
            "no outcome {outcome}: {recorded:?}"
        );
    }
    let warned = |what: &str| {
        seen.iter().any(|(_, level, fields)| {
            level == "WARN" && fields.iter().any(|(f, v)| f == "event" && v.contains(what))
        })
    };
    assert!(warned("reuse_detected") && warned("fingerprint_mismatch"));
}
