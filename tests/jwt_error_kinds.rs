//! At least one test per error kind, and hostile input that must never panic.

mod common;

use std::time::Duration;

use common::{forge, forge_claims, key};
use serde_json::{Map, Value};
use tok::{Claims, ErrorKind, HmacKey, KeySet, NumericDate, Validation};

const NOW: u64 = 1_800_000_000;

fn now() -> NumericDate {
    NumericDate::from_secs(NOW).unwrap()
}

fn verify_with(token: &str, validation: &Validation) -> Result<(), tok::Error> {
    tok::verify_at::<Map<String, Value>>(&key(), token, validation, now()).map(|_| ())
}

fn kind(token: &str, validation: &Validation) -> ErrorKind {
    verify_with(token, validation).unwrap_err().kind()
}

fn claims(json: &str) -> String {
    forge_claims(&key(), json)
}

#[test]
fn malformed() {
    let v = Validation::new();
    assert_eq!(kind("a.b", &v), ErrorKind::Malformed);
    assert_eq!(kind("not a token at all", &v), ErrorKind::Malformed);
    assert_eq!(
        kind(&claims(r#"{"exp":"1900000000"}"#), &v),
        ErrorKind::Malformed
    );
}

#[test]
fn too_large() {
    let big = "a".repeat(8 * 1024 + 1);
    assert_eq!(kind(&big, &Validation::new()), ErrorKind::TooLarge);
    assert_eq!(
        kind(
            &claims(r#"{"exp":1900000000}"#),
            &Validation::new().with_max_token_len(20)
        ),
        ErrorKind::TooLarge
    );
}

#[test]
fn alg_not_allowed() {
    let token = forge(&key(), r#"{"alg":"none"}"#, r#"{"exp":1900000000}"#);
    assert_eq!(kind(&token, &Validation::new()), ErrorKind::AlgNotAllowed);
}

#[test]
fn unsupported_header() {
    let token = forge(
        &key(),
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        "{}",
    );
    assert_eq!(
        kind(&token, &Validation::new()),
        ErrorKind::UnsupportedHeader
    );
}

#[test]
fn wrong_type() {
    let token = forge(
        &key(),
        r#"{"alg":"HS256","typ":"at+jwt"}"#,
        r#"{"exp":1900000000}"#,
    );
    assert_eq!(kind(&token, &Validation::new()), ErrorKind::WrongType);
    assert!(
        verify_with(
            &token,
            &Validation::new().with_type("at+jwt").require_type()
        )
        .is_ok()
    );
}

#[test]
fn unknown_key() {
    let token = forge(
        &key(),
        r#"{"alg":"HS256","kid":"nope"}"#,
        r#"{"exp":1900000000}"#,
    );
    let set = KeySet::new(key().with_kid("k1"));
    let e = tok::verify_at::<()>(&set, &token, &Validation::new(), now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
}

#[test]
fn bad_signature() {
    let other = HmacKey::from_bytes(&[1; 32]).unwrap();
    let token = forge_claims(&other, r#"{"exp":1900000000}"#);
    let e = verify_with(&token, &Validation::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadSignature);
    assert_eq!(
        e.to_string(),
        "bad-signature: bad signature",
        "no hint of where it differed"
    );
}

#[test]
fn expired_exactly_at_exp_and_with_leeway() {
    let token = claims(&format!(r#"{{"exp":{NOW}}}"#));
    let e = verify_with(&token, &Validation::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired);
    assert_eq!(e.instant(), Some(now()));
    assert!(
        verify_with(
            &token,
            &Validation::new().with_expiry_leeway(Duration::from_secs(1))
        )
        .is_ok()
    );
    let fractional = claims(&format!(r#"{{"exp":{NOW}.5}}"#));
    assert!(
        verify_with(&fractional, &Validation::new()).is_ok(),
        "half a second left"
    );
}

#[test]
fn not_yet_valid() {
    let v = Validation::new();
    let nbf = claims(&format!(r#"{{"exp":1900000000,"nbf":{}}}"#, NOW + 31));
    assert_eq!(kind(&nbf, &v), ErrorKind::NotYetValid);
    let within_leeway = claims(&format!(r#"{{"exp":1900000000,"nbf":{}}}"#, NOW + 30));
    assert!(verify_with(&within_leeway, &v).is_ok());
    assert_eq!(
        kind(
            &within_leeway,
            &v.clone().with_not_before_leeway(Duration::ZERO)
        ),
        ErrorKind::NotYetValid
    );
    let iat = claims(&format!(r#"{{"exp":1900000000,"iat":{}}}"#, NOW + 3600));
    assert_eq!(kind(&iat, &v), ErrorKind::NotYetValid);
}

/// `iat` at exactly now + leeway is still accepted, one second later is not: the boundary
/// is pinned from both sides, with the default leeway and with none.
#[test]
fn issued_at_boundary() {
    let v = Validation::new();
    let iat = |at: u64| claims(&format!(r#"{{"exp":1900000000,"iat":{at}}}"#));
    assert!(verify_with(&iat(NOW + 30), &v).is_ok());
    let e = verify_with(&iat(NOW + 31), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotYetValid);
    assert_eq!(e.instant().map(|i| i.as_secs()), Some(NOW + 31));
    let strict = v.with_not_before_leeway(Duration::ZERO);
    assert!(verify_with(&iat(NOW), &strict).is_ok());
    assert_eq!(kind(&iat(NOW + 1), &strict), ErrorKind::NotYetValid);
}

/// A login exactly `max` old is too old (the window is half-open, as `exp` is); the
/// leeway widens it; a token that does not say when is refused; levels must match
/// exactly; a validation that asks for neither reads neither.
#[test]
fn insufficient_user_authentication() {
    let at = |auth: u64| {
        claims(&format!(
            r#"{{"exp":1900000000,"auth_time":{auth},"acr":"loa2"}}"#
        ))
    };
    let v = Validation::new().with_max_auth_age(Duration::from_secs(300));
    let e = verify_with(&at(NOW - 300), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InsufficientUserAuthentication);
    assert_eq!(e.code(), "insufficient-user-authentication");
    assert_eq!(e.instant().map(|i| i.as_secs()), Some(NOW - 300));
    assert!(verify_with(&at(NOW - 299), &v).is_ok());
    let lenient = v.clone().with_expiry_leeway(Duration::from_secs(1));
    assert!(verify_with(&at(NOW - 300), &lenient).is_ok());
    assert_eq!(
        kind(&claims(r#"{"exp":1900000000}"#), &v),
        ErrorKind::InsufficientUserAuthentication
    );
    // A login in the future is not refused as old (nbf/iat rules govern the token).
    assert!(verify_with(&at(NOW + 10), &v).is_ok());
    let levels = Validation::new().with_acr_values(["loa2", "loa3"]);
    assert!(verify_with(&at(NOW), &levels).is_ok());
    let higher = Validation::new().with_acr_values(["loa3"]);
    assert_eq!(
        kind(&at(NOW), &higher),
        ErrorKind::InsufficientUserAuthentication
    );
    assert_eq!(
        kind(&claims(r#"{"exp":1900000000}"#), &higher),
        ErrorKind::InsufficientUserAuthentication
    );
    // Asked for, the claims must have their types; not asked for, they are the caller's.
    let odd = claims(r#"{"exp":1900000000,"auth_time":"yesterday","acr":7}"#);
    assert_eq!(kind(&odd, &v), ErrorKind::Malformed);
    assert!(verify_with(&odd, &Validation::new()).is_ok());
    assert_eq!(v.max_auth_age(), Some(Duration::from_secs(300)));
    assert_eq!(levels.acr_values(), ["loa2", "loa3"]);
}

#[test]
fn too_old() {
    let token = claims(&format!(r#"{{"exp":1900000000,"iat":{}}}"#, NOW - 3600));
    let v = Validation::new().with_max_age(Duration::from_secs(3600));
    assert_eq!(kind(&token, &v), ErrorKind::TooOld);
    assert!(
        verify_with(
            &token,
            &Validation::new().with_max_age(Duration::from_secs(3601))
        )
        .is_ok()
    );
}

#[test]
fn wrong_audience() {
    let token = claims(r#"{"exp":1900000000,"aud":["a","b"]}"#);
    assert_eq!(
        kind(&token, &Validation::new().with_audience("c")),
        ErrorKind::WrongAudience
    );
    assert!(
        verify_with(
            &token,
            &Validation::new().with_audience("c").with_audience("b")
        )
        .is_ok()
    );
    // RFC 7519 §4.1.3: an aud the verifier does not check is a rejection.
    assert_eq!(kind(&token, &Validation::new()), ErrorKind::WrongAudience);
    assert!(verify_with(&token, &Validation::new().allow_unchecked_audience()).is_ok());
}

/// A refused audience is named: up to three values, and "..." only when there are more.
#[test]
fn wrong_audience_names_three_values_at_most() {
    let v = Validation::new().with_audience("mine");
    let detail = |aud: &str| {
        let token = claims(&format!(r#"{{"exp":1900000000,"aud":{aud}}}"#));
        verify_with(&token, &v).unwrap_err().detail().to_owned()
    };
    let three = detail(r#"["a","b","c"]"#);
    assert!(three.contains(r#"["a", "b", "c"]"#), "{three}");
    let four = detail(r#"["a","b","c","d"]"#);
    assert!(four.contains(r#"["a", "b", "c", ...]"#), "{four}");
    assert!(!four.contains("\"d\""), "{four}");
}

#[test]
fn wrong_issuer() {
    let token = claims(r#"{"exp":1900000000,"iss":"evil"}"#);
    assert_eq!(
        kind(&token, &Validation::new().with_issuer("good")),
        ErrorKind::WrongIssuer
    );
}

#[test]
fn wrong_subject() {
    let token = claims(r#"{"exp":1900000000,"sub":"mallory"}"#);
    assert_eq!(
        kind(&token, &Validation::new().with_subject("alice")),
        ErrorKind::WrongSubject
    );
}

#[test]
fn missing_claim() {
    let v = Validation::new();
    assert_eq!(kind(&claims("{}"), &v), ErrorKind::MissingClaim);
    assert!(verify_with(&claims("{}"), &v.clone().allow_missing_expiry()).is_ok());
    let token = claims(r#"{"exp":1900000000}"#);
    assert_eq!(
        kind(&token, &v.clone().require_claim("role")),
        ErrorKind::MissingClaim
    );
    assert_eq!(
        kind(&token, &v.clone().with_audience("a")),
        ErrorKind::MissingClaim
    );
    assert_eq!(
        kind(&token, &v.clone().with_issuer("i")),
        ErrorKind::MissingClaim
    );
    assert_eq!(
        kind(&token, &v.clone().with_max_age(Duration::from_secs(1))),
        ErrorKind::MissingClaim
    );
    let with_role = claims(r#"{"exp":1900000000,"role":"x"}"#);
    assert!(verify_with(&with_role, &v.require_claim("role")).is_ok());
}

#[test]
fn weak_and_invalid_keys() {
    assert_eq!(
        HmacKey::from_bytes(&[0; 16]).unwrap_err().kind(),
        ErrorKind::WeakKey
    );
    assert_eq!(
        HmacKey::from_jwk(r#"{"kty":"EC","crv":"P-256"}"#)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidKey
    );
    let verify_only = HmacKey::from_jwk(&format!(
        r#"{{"kty":"oct","key_ops":["verify"],"k":"{}"}}"#,
        tok::base64url::encode(&common::SECRET)
    ))
    .unwrap();
    assert_eq!(
        tok::sign(&verify_only, &Claims::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidKey
    );
}

#[test]
fn key_set_without_kid_needs_opt_in() {
    let a = key().with_kid("a");
    let b = HmacKey::from_bytes(&[5; 32]).unwrap().with_kid("b");
    let set = KeySet::from_keys(vec![b, a]).unwrap();
    let token = claims(r#"{"exp":1900000000}"#);
    let e = tok::verify_at::<()>(&set, &token, &Validation::new(), now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownKey);
    let v = Validation::new().try_all_keys_without_kid();
    assert!(tok::verify_at::<()>(&set, &token, &v, now()).is_ok());
}

/// Trying every key, one whose `key_ops` forbid verifying is skipped: it must not stop
/// another key from verifying a good token (it once aborted the loop). A set where no
/// key may verify says so.
#[test]
fn try_all_skips_keys_that_may_not_verify() {
    let sign_only = |secret: &[u8], kid: &str| {
        HmacKey::from_jwk(&format!(
            r#"{{"kty":"oct","kid":"{kid}","key_ops":["sign"],"k":"{}"}}"#,
            tok::base64url::encode(secret)
        ))
        .unwrap()
    };
    let token = claims(r#"{"exp":1900000000}"#);
    let v = Validation::new().try_all_keys_without_kid();
    for order in [
        vec![sign_only(&[5; 32], "s"), key().with_kid("a")],
        vec![key().with_kid("a"), sign_only(&[5; 32], "s")],
    ] {
        let set = KeySet::from_keys(order).unwrap();
        assert!(tok::verify_at::<()>(&set, &token, &v, now()).is_ok());
    }
    let none = KeySet::from_keys(vec![sign_only(&[5; 32], "s"), sign_only(&[6; 32], "t")]).unwrap();
    assert_eq!(
        tok::verify_at::<()>(&none, &token, &v, now())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidKey
    );
}

/// Broad sample of hostile inputs: every one is an error with a kind, none panics.
#[test]
fn malformed_input_never_panics() {
    let key = key();
    let v = Validation::new();
    let seeds = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "eyJ.eyJ.eyJ",
        "\u{0}.\u{0}.\u{0}",
        "é.é.é",
        "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "=.=.=",
    ];
    let mut inputs: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    let good = tok::sign(
        &key,
        &Claims::default().with_expiry(NumericDate::from_secs(1_900_000_000).unwrap()),
    )
    .unwrap();
    // Every truncation and every single-byte replacement of a valid token.
    for i in 0..good.len() {
        inputs.push(good[..i].to_string());
        for b in [b'.', b'=', b'A', b' ', b'-', b'_', 0x7f] {
            let mut bytes = good.clone().into_bytes();
            bytes[i] = b;
            inputs.push(String::from_utf8(bytes).unwrap());
        }
    }
    // Hostile JSON under a valid signature.
    for payload in [
        "null",
        "[]",
        "1",
        "\"s\"",
        "{",
        "{\"exp\":1e400}",
        "{\"exp\":-1}",
        "{\"exp\":NaN}",
        "{\"exp\":18446744073709551616}",
        "{\"aud\":{}}",
        "{\"a\":1,\"a\":2}",
        &format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
        &format!("{{\"x\":{}1{}}}", "{\"y\":".repeat(200), "}".repeat(200)),
        "{\"\\ud800\":1}",
        "\u{feff}{}",
    ] {
        inputs.push(forge_claims(&key, payload));
    }
    const ALPHABET: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.-_=+/ \n{}\"'\\";
    let mut pseudo = 0x9e37_79b9_7f4a_7c15_u64;
    for len in 0..300 {
        let s: String = (0..len)
            .map(|_| {
                pseudo ^= pseudo << 13;
                pseudo ^= pseudo >> 7;
                pseudo ^= pseudo << 17;
                ALPHABET[(pseudo % ALPHABET.len() as u64) as usize] as char
            })
            .collect();
        inputs.push(s);
    }
    for input in &inputs {
        let result = std::panic::catch_unwind(|| {
            tok::verify_at::<Map<String, Value>>(&key, input, &v, now()).map(|_| ())
        });
        match result {
            Ok(Ok(())) => assert_eq!(input, &good, "only the valid token may pass"),
            Ok(Err(e)) => assert!(!e.code().is_empty()),
            Err(_) => panic!("verify panicked on {input:?}"),
        }
        let _ = tok::insecure::decode_unverified(input, 8192);
    }
}

/// Other issuers' spellings of the header (member order, no `typ`, with `kid`) take the
/// fast path; their outcomes are exactly those of the full parse: accepted, typed, type
/// rules applied, keys chosen by `kid`.
#[test]
fn foreign_header_spellings_verify_as_parsed() {
    let payload = r#"{"sub":"u","exp":1900000000}"#;
    let a = key().with_kid("a");
    let b = HmacKey::from_bytes(&[5; 32]).unwrap().with_kid("b");
    let set = KeySet::from_keys(vec![b.clone(), a.clone()]).unwrap();
    for (header, signer, typ) in [
        (r#"{"typ":"JWT","alg":"HS256"}"#, &a, Some("JWT")),
        (r#"{"alg":"HS256"}"#, &a, None),
        (r#"{"kid":"a","alg":"HS256","typ":"JWT"}"#, &a, Some("JWT")),
        (r#"{"typ":"JWT","kid":"b","alg":"HS256"}"#, &b, Some("JWT")),
        (r#"{"alg":"HS256","kid":"a"}"#, &a, None),
    ] {
        let token = common::forge(signer, header, payload);
        let v = Validation::new().try_all_keys_without_kid();
        let verified = tok::verify_at::<()>(&set, &token, &v, now())
            .unwrap_or_else(|e| panic!("{header}: {e}"));
        assert_eq!(verified.header.typ(), typ, "{header}");
        let required = Validation::new().try_all_keys_without_kid().require_type();
        let result = tok::verify_at::<()>(&set, &token, &required, now()).map(|_| ());
        assert_eq!(
            result.map_err(|e| e.kind()),
            if typ.is_some() {
                Ok(())
            } else {
                Err(ErrorKind::WrongType)
            },
            "{header}"
        );
    }
    // A kid the set does not hold is refused, whatever the spelling.
    let token = common::forge(&a, r#"{"typ":"JWT","alg":"HS256","kid":"zz"}"#, payload);
    assert_eq!(
        tok::verify_at::<()>(&set, &token, &Validation::new(), now())
            .unwrap_err()
            .kind(),
        ErrorKind::UnknownKey
    );
    // Signed by b but naming a: the spelling is a's, the signature is not.
    let token = common::forge(&b, r#"{"typ":"JWT","alg":"HS256","kid":"a"}"#, payload);
    assert_eq!(
        tok::verify_at::<()>(&set, &token, &Validation::new(), now())
            .unwrap_err()
            .kind(),
        ErrorKind::BadSignature
    );
}

/// A wrong audience is named, as a wrong issuer is: at most three values, each cut short,
/// so a hostile token cannot make the message long.
#[test]
fn wrong_audience_names_the_tokens_audience() {
    let v = Validation::new().with_audience("api");
    let one = verify_with(&claims(r#"{"exp":1900000000,"aud":"web"}"#), &v).unwrap_err();
    assert_eq!(one.kind(), ErrorKind::WrongAudience);
    assert!(one.detail().contains(r#"["web"]"#), "{one}");
    let long = "x".repeat(5000);
    let many = claims(&format!(
        r#"{{"exp":1900000000,"aud":["a","b","{long}","d","e"]}}"#
    ));
    let err = verify_with(&many, &v).unwrap_err();
    assert!(err.detail().contains(r#""a", "b", "xxx"#), "{err}");
    assert!(
        err.detail().ends_with(", ...] is not an accepted one"),
        "{err}"
    );
    assert!(err.detail().len() < 200, "{}", err.detail().len());
}
