//! Properties every fuzz target asserts, shared with the stable corpus replay
//! (`tests/jwt_fuzz_corpus.rs`). Each function takes raw fuzzer bytes and panics only when a
//! property is broken: a panic inside tok is a finding, and so is a wrong answer.
#![allow(dead_code)]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value};
use tok::{Claims, HmacKey, KeySet, NumericDate, Validation};

/// The same secret as the integration tests' key, so attack tokens verify here too.
const SECRET: [u8; 32] = *b"tok test key: 32 bytes exactly!!";
const NOW: u64 = 1_800_000_000;

fn key() -> HmacKey {
    HmacKey::from_bytes(&SECRET).expect("a 32-byte key is valid")
}

fn now() -> NumericDate {
    NumericDate::from_secs(NOW).expect("in range")
}

fn validations() -> [Validation; 2] {
    [
        Validation::new(),
        Validation::new()
            .allow_missing_expiry()
            .allow_unchecked_audience()
            .with_not_before_leeway(std::time::Duration::from_secs(u64::from(u32::MAX)))
            .with_max_token_len(64 * 1024),
    ]
}

/// Checks one verification outcome: a rejection has a kind and a message; an acceptance
/// re-signs and re-verifies to the same claims, and decodes unverified to the same JSON.
fn check_outcome(keys: &impl tok::VerifyingKeys, signer: &HmacKey, token: &str, v: &Validation) {
    match tok::verify_at::<Map<String, Value>>(keys, token, v, now()) {
        Err(e) => {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
        }
        Ok(verified) => {
            let again = tok::sign(signer, &verified.claims).expect("accepted claims re-sign");
            let back = tok::verify_at::<Map<String, Value>>(signer, &again, v, now())
                .expect("re-signed claims verify");
            assert_eq!(
                back.claims, verified.claims,
                "claims changed through sign/verify"
            );
            let raw = tok::insecure::decode_unverified(token, usize::MAX)
                .expect("accepted tokens decode");
            let Value::Object(reparsed) =
                serde_json::to_value(&verified.claims).expect("claims serialize")
            else {
                panic!("claims serialize to an object");
            };
            same_claims(raw.claims, reparsed);
            canonical(token);
        }
    }
}

/// The verified and unverified views of one payload agree. NumericDates are the one thing
/// tok normalizes (`1e9`, `1000000000.0` and `1000000000` are one instant, as are `-0.0`
/// and `0`, and fractions keep milliseconds; both found by fuzzing), so those compare as
/// tok's instants and all else exactly.
fn same_claims(mut unverified: Map<String, Value>, mut verified: Map<String, Value>) {
    for name in ["exp", "nbf", "iat"] {
        let (a, b) = (unverified.remove(name), verified.remove(name));
        let instant = |v: &Value| {
            let secs = v.as_f64().expect("a verified NumericDate is a number");
            NumericDate::from_f64(secs).expect("a verified NumericDate is in range")
        };
        match (&a, &b) {
            (Some(a), Some(b)) => assert_eq!(instant(a), instant(b), "{name} changed"),
            (None, None) => {}
            _ => panic!("{name} present in only one view"),
        }
    }
    assert_eq!(unverified, verified, "verified and unverified views differ");
}

/// Decoding then re-encoding each segment of a token that decodes gives the same bytes:
/// tok accepts one spelling only.
fn canonical(token: &str) {
    for segment in token.split('.') {
        if let Ok(bytes) = tok::base64url::decode(segment.as_bytes()) {
            assert_eq!(
                tok::base64url::encode(&bytes),
                segment,
                "non-canonical base64url accepted"
            );
        }
    }
}

/// Arbitrary bytes as a token, against one key.
pub fn verify(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for v in validations() {
        check_outcome(&key(), &key(), token, &v);
    }
}

/// Arbitrary bytes as a token, against a key set, with and without trying every key.
pub fn verify_keyset(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let set = KeySet::from_keys(vec![
        key().with_kid("k1"),
        HmacKey::from_bytes(&[0x42; 32])
            .expect("valid")
            .with_kid("k2"),
        HmacKey::from_bytes(&[0x43; 40]).expect("valid"),
    ])
    .expect("distinct kids");
    for v in validations() {
        check_outcome(&set, &key(), token, &v);
        check_outcome(&set, &key(), token, &v.try_all_keys_without_kid());
    }
}

/// Arbitrary header and payload JSON (split at the first newline), correctly signed: the
/// code after the MAC check (header rules, claim parsing, validation) sees hostile input.
pub fn verify_json(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, payload) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let input = format!(
        "{}.{}",
        tok::base64url::encode(header),
        tok::base64url::encode(payload)
    );
    let token = format!(
        "{input}.{}",
        tok::base64url::encode(&key().mac(input.as_bytes()))
    );
    for v in validations() {
        check_outcome(&key(), &key(), &token, &v);
    }
}

/// Arbitrary bytes through the unverified decoder.
pub fn inspect(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    match tok::insecure::decode_unverified(token, 64 * 1024) {
        Ok(decoded) => {
            canonical(token);
            assert_eq!(token.split('.').count(), 3);
            assert_eq!(decoded.len, token.len());
        }
        Err(e) => assert!(!e.code().is_empty()),
    }
}

/// Arbitrary bytes as a JWK or JWK Set: accepted keys export and re-import unchanged.
pub fn jwk(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = HmacKey::from_jwk(text) {
        let again = HmacKey::from_jwk(&key.export_jwk()).expect("exported JWKs re-import");
        assert_eq!(again.thumbprint(), key.thumbprint());
        assert_eq!(again.kid(), key.kid());
        assert!(
            !format!("{key:?}").contains(&*key.export_jwk()),
            "Debug leaks the key"
        );
    }
    if let Ok(set) = KeySet::from_jwks(text) {
        let again = KeySet::from_jwks(&set.export_jwks()).expect("exported sets re-import");
        assert_eq!(again.keys().len(), set.keys().len());
    }
    let _ = KeySet::from_jwk_or_jwks(text);
}

/// A JSON value built from fuzzer bytes, depth-bounded.
#[derive(Debug, Arbitrary)]
enum ArbValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<ArbLeaf>),
    Object(BTreeMap<String, ArbLeaf>),
}

#[derive(Debug, Arbitrary)]
enum ArbLeaf {
    Int(u32),
    Text(String),
    Bool(bool),
}

impl ArbLeaf {
    fn json(self) -> Value {
        match self {
            Self::Int(i) => i.into(),
            Self::Text(s) => s.into(),
            Self::Bool(b) => b.into(),
        }
    }
}

impl ArbValue {
    fn json(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => b.into(),
            Self::Int(i) => i.into(),
            Self::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Self::Text(s) => s.into(),
            Self::List(l) => l.into_iter().map(ArbLeaf::json).collect(),
            Self::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, v.json())).collect()),
        }
    }
}

/// Structured claims from fuzzer bytes.
#[derive(Debug, Arbitrary)]
struct ArbClaims {
    sub: Option<String>,
    iss: Option<String>,
    jti: Option<String>,
    aud: Vec<String>,
    ttl: u32,
    iat_back: Option<u32>,
    nbf_back: Option<u32>,
    custom: BTreeMap<String, ArbValue>,
    typ: Option<String>,
}

/// Structured claims → sign → verify must give back exactly the same claims; signing
/// fails exactly when a custom name reuses a registered one.
pub fn roundtrip(data: &[u8]) {
    let Ok(arb) = ArbClaims::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let now = now();
    let custom: Map<String, Value> = arb.custom.into_iter().map(|(k, v)| (k, v.json())).collect();
    let reuses_registered = custom.keys().any(|k| tok::REGISTERED.contains(&k.as_str()));
    let mut claims = Claims::new(custom)
        .with_audiences(arb.aud)
        .with_expiry(now.saturating_add(std::time::Duration::from_secs(u64::from(arb.ttl) + 1)));
    claims.sub = arb.sub.map(Into::into);
    claims.iss = arb.iss.map(Into::into);
    claims.jti = arb.jti.map(Into::into);
    claims.iat = arb
        .iat_back
        .map(|b| now.saturating_sub(std::time::Duration::from_secs(b.into())));
    claims.nbf = arb
        .nbf_back
        .map(|b| now.saturating_sub(std::time::Duration::from_secs(b.into())));

    let typ = arb.typ.unwrap_or_else(|| tok::DEFAULT_TYPE.to_owned());
    let signed = tok::sign_with_type(&key(), &typ, &claims);
    if reuses_registered {
        assert!(
            signed.is_err(),
            "a custom claim reusing a registered name was signed"
        );
        return;
    }
    let token = signed.expect("claims without registered custom names sign");
    let v = Validation::new()
        .allow_unchecked_audience()
        .with_type(typ)
        .with_max_token_len(usize::MAX);
    let verified = tok::verify_at::<Map<String, Value>>(&key(), &token, &v, now)
        .unwrap_or_else(|e| panic!("a token tok signed was rejected: {e}"));
    assert_eq!(verified.claims, claims);
    canonical(&token);
}

/// Drives a future that never waits (the memory store's) to completion, without a
/// runtime.
#[cfg(feature = "refresh")]
fn ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the memory store never waits"),
    }
}

/// Arbitrary bytes as a presented refresh token, against a store holding one live family:
/// as given, and with the live family's id spliced in (a forged tag or generation for a
/// real family), both rotating and logging out answer `malformed` or `refresh-unknown`
/// (never a panic, never a new pair), and the real family stays live: a made-up token
/// must never log anyone out. Tokens tok mints have the documented shape.
#[cfg(feature = "refresh")]
pub fn refresh_token(data: &[u8]) {
    use tok::refresh::{RefreshPolicy, Sessions};
    use tok::store::Store as _;
    let Ok(presented) = std::str::from_utf8(data) else {
        return;
    };
    let sessions = Sessions::new(
        tok::store::MemoryStore::new(),
        KeySet::new(key()),
        RefreshPolicy::default(),
    )
    .with_clock(now);
    let live = ready(sessions.issue("alice", &Map::new(), None)).expect("issue");
    let parts: Vec<&str> = live.refresh_token.split('.').collect();
    assert_eq!(parts.len(), 3, "FAMILY.GENERATION.TAG");
    assert_eq!((parts[0], parts[1]), (live.session_id.as_str(), "0"));
    assert!(parts[0].len() == 22 && canonical_segment(parts[0]));
    assert!(parts[2].len() == 43 && canonical_segment(parts[2]));
    let spliced = presented
        .split_once('.')
        .map(|(_, rest)| format!("{}.{rest}", live.session_id));
    for candidate in std::iter::once(presented.to_owned()).chain(spliced) {
        let kinds = [
            ready(sessions.rotate(&candidate, None)).map(|_| ()),
            ready(sessions.revoke_refresh(&candidate)).map(|_| ()),
        ];
        for result in kinds {
            match result {
                Ok(()) => panic!("a token nobody minted was accepted: {candidate:?}"),
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        tok::ErrorKind::Malformed | tok::ErrorKind::RefreshUnknown
                    ),
                    "unexpected {e} for {candidate:?}"
                ),
            }
        }
    }
    let family = ready(sessions.store().family(&live.session_id))
        .expect("read")
        .expect("exists");
    assert!(
        family.revoked_at.is_none(),
        "a made-up token revoked a live family"
    );
    assert_eq!(
        family.generation, 0,
        "a made-up token rotated a live family"
    );
}

#[cfg(feature = "refresh")]
fn canonical_segment(s: &str) -> bool {
    tok::base64url::decode(s.as_bytes()).is_ok_and(|b| tok::base64url::encode(&b) == s)
}

/// Arbitrary bytes as `Cookie` request headers (one per line, read as the web layer reads
/// them: lossily, so other applications' bytes cannot break it): never a panic, and tok's
/// cookie is found exactly when one pair carries its name (its value as sent, trimmed),
/// refused when two do, and absent otherwise, whatever else the headers hold (nameless
/// pairs, empty names, stray `;`).
#[cfg(feature = "axum")]
pub fn cookie_header(data: &[u8]) {
    const NAME: &str = "__Host-refresh";
    let text = String::from_utf8_lossy(data);
    let headers: Vec<&str> = text.split('\n').collect();
    let got = tok::web::cookie::read(headers.iter().copied(), NAME);
    let ours: Vec<&str> = headers
        .iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| name.trim() == NAME)
        .map(|(_, value)| value.trim())
        .collect();
    match ours.as_slice() {
        [] => assert_eq!(got.expect("no cookie of ours is no error"), None),
        [value] => assert_eq!(
            got.expect("one cookie of ours is read").as_deref(),
            Some(*value)
        ),
        _ => assert!(
            got.is_err(),
            "a duplicate of tok's cookie was resolved: {got:?}"
        ),
    }
}

/// Arbitrary bytes as `Authorization` header values (one per line): never a panic, and a
/// token is found exactly when there is one value, its scheme is `Bearer` in any case,
/// one or more spaces follow, and the rest is one RFC 6750 `b64token`; no value or
/// another scheme is no credentials; anything else is refused.
#[cfg(feature = "axum")]
pub fn authorization_header(data: &[u8]) {
    let values: Vec<&[u8]> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == b'\n').collect()
    };
    let got = tok::web::bearer_token(&values);
    // The model, written from the RFC's grammar rather than from tok's code.
    let b64token = |t: &[u8]| {
        let body_len = t.len() - t.iter().rev().take_while(|&&b| b == b'=').count();
        body_len > 0
            && t[..body_len]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    };
    let expected: Result<Option<&[u8]>, ()> = match values.as_slice() {
        [] => Ok(None),
        [one] => {
            let scheme_len = one.iter().position(|&b| b == b' ').unwrap_or(one.len());
            if !one[..scheme_len].eq_ignore_ascii_case(b"bearer") {
                Ok(None)
            } else {
                let rest = &one[scheme_len..];
                let spaces = rest.iter().take_while(|&&b| b == b' ').count();
                let token = &rest[spaces..];
                if spaces > 0 && b64token(token) {
                    Ok(Some(token))
                } else {
                    Err(())
                }
            }
        }
        _ => Err(()),
    };
    match (got, expected) {
        (Ok(got), Ok(expected)) => assert_eq!(got.map(str::as_bytes), expected, "{values:?}"),
        (Err(reason), Err(())) => assert!(!reason.is_empty()),
        (got, expected) => panic!("{values:?}: got {got:?}, the grammar says {expected:?}"),
    }
}

/// Arbitrary bytes as the body of `POST /session/end`: never a panic, and a session id is
/// read exactly when the body is one JSON object whose `id` member is a string, with no
/// object anywhere repeating a member name (tok's JSON rule); its value is that string.
#[cfg(feature = "axum")]
pub fn end_body(data: &[u8]) {
    let got = tok::web::end_body_id(data);
    let expected = std::str::from_utf8(data)
        .ok()
        .and_then(|text| {
            let mut de = serde_json::Deserializer::from_str(text);
            let tree = <Tree as serde::Deserialize>::deserialize(&mut de).ok()?;
            de.end().ok()?;
            Some(tree)
        })
        .filter(Tree::no_repeats)
        .and_then(|tree| match tree {
            Tree::Object(members) => {
                members
                    .into_iter()
                    .find_map(|(name, value)| match (name.as_str(), value) {
                        ("id", Tree::Scalar(Value::String(id))) => Some(Some(id)),
                        ("id", _) => Some(None),
                        _ => None,
                    })?
            }
            _ => None,
        });
    assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(data));
}

/// A JSON value that keeps every member of an object, repeats included, in order.
#[cfg(feature = "axum")]
enum Tree {
    Object(Vec<(String, Tree)>),
    Array(Vec<Tree>),
    Scalar(Value),
}

#[cfg(feature = "axum")]
impl Tree {
    fn no_repeats(&self) -> bool {
        match self {
            Tree::Object(members) => {
                let mut names = std::collections::HashSet::new();
                members
                    .iter()
                    .all(|(n, v)| names.insert(n.as_str()) && v.no_repeats())
            }
            Tree::Array(items) => items.iter().all(Tree::no_repeats),
            Tree::Scalar(_) => true,
        }
    }
}

#[cfg(feature = "axum")]
impl<'de> serde::Deserialize<'de> for Tree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Tree, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Tree>()? {
                    members.push((k, v));
                }
                Ok(Tree::Object(members))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = s.next_element::<Tree>()? {
                    items.push(v);
                }
                Ok(Tree::Array(items))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Scalar(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Scalar(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// Runs the check of the target named `target` (for corpus replay).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "verify" => verify(data),
        "verify_keyset" => verify_keyset(data),
        "verify_json" => verify_json(data),
        "inspect" => inspect(data),
        "jwk" => jwk(data),
        "roundtrip" => roundtrip(data),
        #[cfg(feature = "refresh")]
        "refresh_token" => refresh_token(data),
        #[cfg(feature = "axum")]
        "cookie_header" => cookie_header(data),
        #[cfg(feature = "axum")]
        "authorization_header" => authorization_header(data),
        #[cfg(feature = "axum")]
        "end_body" => end_body(data),
        other => panic!("no fuzz target named {other}"),
    }
}

/// The names of all targets.
pub const TARGETS: &[&str] = &[
    "verify",
    "verify_keyset",
    "verify_json",
    "inspect",
    "jwk",
    "roundtrip",
    #[cfg(feature = "refresh")]
    "refresh_token",
    #[cfg(feature = "axum")]
    "cookie_header",
    #[cfg(feature = "axum")]
    "authorization_header",
    #[cfg(feature = "axum")]
    "end_body",
];
