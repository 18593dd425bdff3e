//! The attack table: hostile tokens, each with the one error kind it must produce.
//! Shared by `tests/jwt_attacks.rs`, the CLI attack test and the fuzz seed corpus.
#![allow(dead_code)]

use tok::ErrorKind::{self, *};
use tok::{HmacKey, KeySet, NumericDate, Validation};

use super::{forge, forge_claims, key};

/// What an attack is verified against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    /// The test key alone.
    Key,
    /// A key set of the test key (kid "k1") and another key (kid "k2").
    Set,
}

/// One hostile token.
pub struct Attack {
    pub name: &'static str,
    pub token: String,
    pub expected: ErrorKind,
    pub against: Against,
}

/// The instant every attack is verified at.
pub fn now() -> NumericDate {
    NumericDate::from_secs(1_800_000_000).unwrap()
}

/// The set used by [`Against::Set`].
pub fn key_set() -> KeySet {
    KeySet::from_keys(vec![
        key().with_kid("k1"),
        HmacKey::from_bytes(&[0x42; 32]).unwrap().with_kid("k2"),
    ])
    .unwrap()
}

/// Verifies `attack` as the table says, returning the error (or `None` if it passed).
pub fn run(attack: &Attack) -> Option<tok::Error> {
    let v = Validation::new();
    let result = match attack.against {
        Against::Key => tok::verify_at::<serde_json::Value>(&key(), &attack.token, &v, now()),
        Against::Set => tok::verify_at::<serde_json::Value>(&key_set(), &attack.token, &v, now()),
    };
    result.err()
}

const OK_CLAIMS: &str = r#"{"sub":"u","exp":1900000000}"#;
const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn b64(s: &str) -> String {
    tok::base64url::encode(s.as_bytes())
}

fn header(alg_json: &str) -> String {
    forge(&key(), &format!(r#"{{"alg":{alg_json}}}"#), OK_CLAIMS)
}

fn claims(json: &str) -> String {
    forge_claims(&key(), json)
}

/// A valid token's first two segments with another signature segment.
fn with_signature(sig: &str) -> String {
    let good = claims(OK_CLAIMS);
    let cut = good.rfind('.').unwrap();
    format!("{}.{sig}", &good[..cut])
}

/// A token whose signing input is `header.payload` exactly as given, correctly MACed.
fn signed_raw(header_b64: &str, payload_b64: &str) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    format!(
        "{input}.{}",
        tok::base64url::encode(&key().mac(input.as_bytes()))
    )
}

/// Every attack. Tokens that need a valid MAC to reach the check they target are signed
/// with the test key, so each fails for exactly the reason named.
pub fn table() -> Vec<Attack> {
    let mut t = Vec::new();
    let mut add = |name: &'static str, token: String, expected: ErrorKind| {
        t.push(Attack {
            name,
            token,
            expected,
            against: Against::Key,
        });
    };

    // The algorithm comes from the key, never from the token.
    for (name, alg) in [
        ("alg none", r#""none""#),
        ("alg None", r#""None""#),
        ("alg NONE", r#""NONE""#),
        ("alg nOnE", r#""nOnE""#),
        ("alg empty", r#""""#),
        ("alg hs256 lower case", r#""hs256""#),
        ("alg HS256 with space", r#""HS256 ""#),
        ("alg HS384", r#""HS384""#),
        ("alg HS512", r#""HS512""#),
        ("alg RS256", r#""RS256""#),
        ("alg ES256", r#""ES256""#),
        ("alg PS256", r#""PS256""#),
        ("alg EdDSA", r#""EdDSA""#),
        ("alg number", "256"),
        ("alg null", "null"),
        ("alg true", "true"),
        ("alg array", r#"["HS256"]"#),
        ("alg object", r#"{"name":"HS256"}"#),
    ] {
        add(name, header(alg), AlgNotAllowed);
    }
    add(
        "alg missing",
        forge(&key(), r#"{"typ":"JWT"}"#, OK_CLAIMS),
        AlgNotAllowed,
    );
    add(
        "alg none, empty signature",
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(OK_CLAIMS)),
        AlgNotAllowed,
    );

    // Signatures.
    let other = HmacKey::from_bytes(&[0x42; 32]).unwrap();
    add(
        "forged signature (other key)",
        forge_claims(&other, OK_CLAIMS),
        BadSignature,
    );
    add("empty signature", with_signature(""), BadSignature);
    let good = claims(OK_CLAIMS);
    let sig = tok::base64url::decode(good.rsplit('.').next().unwrap().as_bytes()).unwrap();
    add(
        "128-bit truncated tag",
        with_signature(&tok::base64url::encode(&sig[..16])),
        BadSignature,
    );
    add(
        "31-byte tag",
        with_signature(&tok::base64url::encode(&sig[..31])),
        BadSignature,
    );
    add(
        "33-byte tag",
        with_signature(&tok::base64url::encode(&[&sig[..], &[0]].concat())),
        BadSignature,
    );
    add(
        "zero tag",
        with_signature(&tok::base64url::encode(&[0; 32])),
        BadSignature,
    );
    let mut flipped = sig.clone();
    flipped[31] ^= 1;
    add(
        "last tag bit flipped",
        with_signature(&tok::base64url::encode(&flipped)),
        BadSignature,
    );

    // base64url spelling: one token, one spelling.
    let sig_b64 = good.rsplit('.').next().unwrap().to_owned();
    add(
        "signature with = padding",
        with_signature(&format!("{sig_b64}=")),
        Malformed,
    );
    let mut non_canonical = sig_b64.clone().into_bytes();
    // The last of 43 characters carries 4 bits of data and 2 unused ones; set one unused.
    let last = non_canonical.len() - 1;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet
        .iter()
        .position(|&c| c == non_canonical[last])
        .unwrap();
    non_canonical[last] = alphabet[idx | 1];
    add(
        "signature with non-zero trailing bits",
        with_signature(std::str::from_utf8(&non_canonical).unwrap()),
        Malformed,
    );
    add(
        "signature in standard alphabet",
        with_signature(&format!("+{}", &sig_b64[1..])),
        Malformed,
    );
    let payload = b64(OK_CLAIMS);
    add(
        "payload with = padding",
        signed_raw(&b64(HS256), &format!("{payload}==")),
        Malformed,
    );
    add(
        "payload with non-zero trailing bits",
        signed_raw(&b64(HS256), "eyJzdWIiOiJ1In1"),
        Malformed,
    );
    add(
        "header with padding",
        signed_raw(&format!("{}=", b64(HS256)), &payload),
        Malformed,
    );
    add(
        "space inside payload",
        signed_raw(&b64(HS256), &format!("{} {}", &payload[..8], &payload[8..])),
        Malformed,
    );
    add(
        "newline inside signature",
        with_signature(&format!("{}\n{}", &sig_b64[..20], &sig_b64[20..])),
        Malformed,
    );
    add("leading whitespace", format!(" {good}"), Malformed);
    add("trailing newline", format!("{good}\n"), Malformed);
    add("NUL byte", format!("{good}\0"), Malformed);

    // Segment counts.
    let parts: Vec<&str> = good.split('.').collect();
    add(
        "2 segments",
        format!("{}.{}", parts[0], parts[1]),
        Malformed,
    );
    add("1 segment", parts[0].to_owned(), Malformed);
    add("4 segments", format!("{good}.{}", parts[2]), Malformed);
    add(
        "5 segments (JWE-shaped)",
        format!(
            "{}.{}.{}.{}.{}",
            b64(r#"{"alg":"dir","enc":"A256GCM"}"#),
            "",
            "AAAA",
            "AAAA",
            "AAAA"
        ),
        Malformed,
    );
    add("empty token", String::new(), Malformed);
    add("only dots", "..".into(), Malformed);

    // Not JSON objects.
    for (name, h) in [
        ("header array", "[]"),
        ("header string", r#""HS256""#),
        ("header number", "1"),
        ("header null", "null"),
        ("header invalid JSON", "{alg:HS256}"),
        ("header with trailing data", r#"{"alg":"HS256"}x"#),
    ] {
        add(name, forge(&key(), h, OK_CLAIMS), Malformed);
    }
    for (name, p) in [
        ("payload array", "[]"),
        ("payload string", r#""sub""#),
        ("payload number", "1"),
        ("payload null", "null"),
        ("payload invalid JSON", "{sub:1}"),
        ("payload trailing comma", r#"{"exp":1900000000,}"#),
        ("payload with BOM", "\u{feff}{\"exp\":1900000000}"),
        (
            "payload lone surrogate",
            r#"{"exp":1900000000,"x":"\ud800"}"#,
        ),
    ] {
        add(name, claims(p), Malformed);
    }
    add(
        "payload not UTF-8",
        signed_raw(&b64(HS256), &tok::base64url::encode(b"{\"x\":\"\xff\"}")),
        Malformed,
    );

    // Duplicate members: one token, one meaning.
    add(
        "duplicate alg",
        forge(&key(), r#"{"alg":"HS256","alg":"none"}"#, OK_CLAIMS),
        Malformed,
    );
    add(
        "duplicate alg, escaped",
        forge(&key(), r#"{"alg":"HS256","\u0061lg":"HS256"}"#, OK_CLAIMS),
        Malformed,
    );
    add(
        "duplicate exp",
        claims(r#"{"exp":1900000000,"exp":1}"#),
        Malformed,
    );
    add(
        "duplicate aud",
        claims(r#"{"exp":1900000000,"aud":"a","aud":"b"}"#),
        Malformed,
    );
    add(
        "duplicate custom",
        claims(r#"{"exp":1900000000,"role":"user","role":"admin"}"#),
        Malformed,
    );
    add(
        "duplicate nested",
        claims(r#"{"exp":1900000000,"x":{"r":1,"r":2}}"#),
        Malformed,
    );

    // NumericDates.
    for (name, p) in [
        ("exp string", r#"{"exp":"1900000000"}"#),
        ("nbf string", r#"{"exp":1900000000,"nbf":"0"}"#),
        ("iat string", r#"{"exp":1900000000,"iat":"0"}"#),
        ("exp negative", r#"{"exp":-1}"#),
        ("exp negative fraction", r#"{"exp":-0.5}"#),
        ("nbf negative", r#"{"exp":1900000000,"nbf":-1}"#),
        ("exp 1e400", r#"{"exp":1e400}"#),
        ("iat 1e400", r#"{"exp":1900000000,"iat":1e400}"#),
        ("exp u64::MAX", r#"{"exp":18446744073709551615}"#),
        ("exp beyond u64::MAX", r#"{"exp":18446744073709551616}"#),
        ("exp i64::MIN", r#"{"exp":-9223372036854775808}"#),
        ("exp year 10000", r#"{"exp":253402300800}"#),
        ("exp NaN", r#"{"exp":NaN}"#),
        ("exp Infinity", r#"{"exp":Infinity}"#),
        ("exp null", r#"{"exp":null}"#),
        ("exp bool", r#"{"exp":true}"#),
        ("exp array", r#"{"exp":[1900000000]}"#),
    ] {
        add(name, claims(p), Malformed);
    }
    add("exp float in the past", claims(r#"{"exp":1.5}"#), Expired);
    add("exp equals now", claims(r#"{"exp":1800000000}"#), Expired);
    add("exp missing", claims(r#"{"sub":"u"}"#), MissingClaim);
    add(
        "nbf in the future",
        claims(r#"{"exp":1900000000,"nbf":1800003600}"#),
        NotYetValid,
    );

    // Audience of the wrong type, and aud the verifier did not ask for.
    for (name, p) in [
        ("aud number", r#"{"exp":1900000000,"aud":1}"#),
        ("aud object", r#"{"exp":1900000000,"aud":{}}"#),
        ("aud array of numbers", r#"{"exp":1900000000,"aud":[1]}"#),
        (
            "aud array with null",
            r#"{"exp":1900000000,"aud":["a",null]}"#,
        ),
        ("aud bool", r#"{"exp":1900000000,"aud":true}"#),
    ] {
        add(name, claims(p), Malformed);
    }
    add(
        "aud not expected",
        claims(r#"{"exp":1900000000,"aud":"api"}"#),
        WrongAudience,
    );

    // Header extensions and types.
    add(
        "unknown crit",
        forge(&key(), r#"{"alg":"HS256","crit":["x"],"x":1}"#, OK_CLAIMS),
        UnsupportedHeader,
    );
    add(
        "crit b64 (RFC 7797)",
        forge(
            &key(),
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            OK_CLAIMS,
        ),
        UnsupportedHeader,
    );
    add(
        "crit empty",
        forge(&key(), r#"{"alg":"HS256","crit":[]}"#, OK_CLAIMS),
        UnsupportedHeader,
    );
    add(
        "typ JWE",
        forge(&key(), r#"{"alg":"HS256","typ":"JOSE+JSON"}"#, OK_CLAIMS),
        WrongType,
    );
    add(
        "kid not a string",
        forge(&key(), r#"{"alg":"HS256","kid":1}"#, OK_CLAIMS),
        Malformed,
    );

    // Deep nesting must hit the parser's depth limit, not the stack.
    let deep = format!(
        r#"{{"exp":1900000000,"x":{}1{}}}"#,
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    add("deeply nested array", claims(&deep), Malformed);
    let deep_obj = format!(
        r#"{{"exp":1900000000,"x":{}1{}}}"#,
        r#"{"a":"#.repeat(500),
        "}".repeat(500)
    );
    add("deeply nested objects", claims(&deep_obj), Malformed);
    add(
        "deeply nested header",
        forge(
            &key(),
            &format!(
                r#"{{"alg":"HS256","x":{}1{}}}"#,
                "[".repeat(2000),
                "]".repeat(2000)
            ),
            OK_CLAIMS,
        ),
        Malformed,
    );

    // Size caps are checked before anything is decoded.
    let big = claims(&format!(
        r#"{{"exp":1900000000,"pad":"{}"}}"#,
        "a".repeat(7000)
    ));
    assert!(big.len() > 8 * 1024 + 1);
    let just_over = format!("{}{}", "a".repeat(8 * 1024 - 2), ".a.");
    assert_eq!(just_over.len(), 8 * 1024 + 1);
    add("token of 8 KiB + 1", just_over, TooLarge);
    add("large valid-looking token", big, TooLarge);

    // kid lookups with hostile text against a key set.
    for (name, kid) in [
        ("kid path traversal", "../../../../etc/passwd"),
        ("kid SQL injection", "' OR '1'='1' --"),
        ("kid NUL", "k1\u{0}"),
        ("kid shell", "$(rm -rf /)"),
        ("kid URL", "https://attacker.example/jwks.json"),
        ("kid very long", &"k".repeat(4000)),
    ] {
        t.push(Attack {
            name,
            token: forge(
                &key(),
                &format!(
                    r#"{{"alg":"HS256","kid":{}}}"#,
                    serde_json::Value::from(kid)
                ),
                OK_CLAIMS,
            ),
            expected: UnknownKey,
            against: Against::Set,
        });
    }
    t.push(Attack {
        name: "no kid against a set of two keys",
        token: claims(OK_CLAIMS),
        expected: UnknownKey,
        against: Against::Set,
    });
    t
}

/// 100 MB of token-shaped text.
pub fn hundred_megabytes() -> String {
    let mut s = "eyJhbGciOiJIUzI1NiJ9.".to_owned();
    s.push_str(&"A".repeat(100 * 1024 * 1024));
    s.push_str(".AAAA");
    s
}
