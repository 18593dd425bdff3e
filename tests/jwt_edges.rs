//! The JWT core at its edges: one rule for duplicates and for values tok ignores, key sets
//! that keep kid-less tokens verifiable through a rotation, keys whose `key_ops` a token
//! cannot turn into a key error, JWK import that is strict about `null` and repeated
//! operations, and rejection details that neither echo a secret nor grow with the
//! attacker's text.

mod common;

use common::{forge, forge_claims, key};
use serde_json::{Map, Value};
use tok::{Claims, ErrorKind, HmacKey, KeySet, NumericDate, Validation};

/// The RFC 7515 A.1 secret: long enough, and recognisable in any message that leaks it.
const SECRET: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

fn now() -> NumericDate {
    NumericDate::from_secs(1_800_000_000).unwrap()
}

fn verdict(keys: &impl tok::VerifyingKeys, token: &str) -> Result<(), ErrorKind> {
    tok::verify_at::<Map<String, Value>>(keys, token, &Validation::new(), now())
        .map(|_| ())
        .map_err(|e| e.kind())
}

/// A header member tok ignores gets the same verdict whatever stands beside it: a number
/// out of range or a lone surrogate is refused alone and next to a nested member alike.
#[test]
fn ignored_header_members_have_one_verdict() {
    let key = key();
    let payload = r#"{"exp":1900000000}"#;
    for odd in [r#""x":1e400"#, r#""x":"\ud800""#, r#""x":-1e999"#] {
        let alone = forge(&key, &format!(r#"{{"alg":"HS256",{odd}}}"#), payload);
        let nested = forge(&key, &format!(r#"{{"alg":"HS256",{odd},"y":[]}}"#), payload);
        let before = forge(
            &key,
            &format!(r#"{{"y":{{}},{odd},"alg":"HS256"}}"#),
            payload,
        );
        for token in [&alone, &nested, &before] {
            assert_eq!(verdict(&key, token), Err(ErrorKind::Malformed), "{odd}");
        }
    }
    // An ordinary ignored member is still ignored, alone or nested.
    for header in [
        r#"{"alg":"HS256","x":1e300}"#,
        r#"{"alg":"HS256","x":1e300,"y":[]}"#,
    ] {
        assert_eq!(verdict(&key, &forge(&key, header, payload)), Ok(()));
    }
}

/// Claims the caller's type does not read (`()` reads none) are held to the same rule.
#[test]
fn ignored_claims_have_one_verdict() {
    let key = key();
    for payload in [
        r#"{"exp":1900000000,"x":1e400}"#,
        r#"{"exp":1900000000,"x":1e400,"y":[]}"#,
        r#"{"exp":1900000000,"x":"\ud800"}"#,
    ] {
        let token = forge_claims(&key, payload);
        let kind = tok::verify_at::<()>(&key, &token, &Validation::new(), now())
            .unwrap_err()
            .kind();
        assert_eq!(kind, ErrorKind::Malformed, "{payload}");
        assert_eq!(
            verdict(&key, &token),
            Err(ErrorKind::Malformed),
            "{payload}"
        );
    }
}

/// A kid-less key file, then a rotation that adds a named key: tokens of the old key (no
/// `kid` in their header) still verify, the new key's too, and no other key is tried for
/// a kid-less token.
#[test]
fn a_kid_less_key_keeps_its_tokens_through_a_rotation() {
    let old = HmacKey::from_bytes(&[1; 32]).unwrap();
    let claims = Claims::default().with_expiry(NumericDate::from_secs(1_900_000_000).unwrap());
    let old_token = tok::sign(&old, &claims).unwrap();
    let mut set = KeySet::new(old);
    set.prepend(HmacKey::generate().unwrap()).unwrap();
    let new_token = tok::sign(set.signing_key(), &claims).unwrap();
    assert_eq!(verdict(&set, &old_token), Ok(()));
    assert_eq!(verdict(&set, &new_token), Ok(()));
    // A kid-less token signed by another key is a bad signature against the kid-less key,
    // not a search through the named ones.
    let stranger = tok::sign(&HmacKey::from_bytes(&[9; 32]).unwrap(), &claims).unwrap();
    assert_eq!(verdict(&set, &stranger), Err(ErrorKind::BadSignature));
    // Two kid-less keys: which one is meant cannot be said.
    let two = KeySet::from_keys(vec![
        HmacKey::from_bytes(&[1; 32]).unwrap(),
        HmacKey::from_bytes(&[2; 32]).unwrap(),
    ])
    .unwrap();
    assert_eq!(verdict(&two, &old_token), Err(ErrorKind::UnknownKey));
    // Through a JWK Set file, as `tok keygen --add-to` writes it.
    let reread = KeySet::from_jwks(&set.export_jwks()).unwrap();
    assert_eq!(verdict(&reread, &old_token), Ok(()));
}

/// A token naming a key whose `key_ops` forbid verifying is rejected as naming no key it
/// may use (`unknown-key`), never answered with a key error of the verifier's own.
#[test]
fn a_token_cannot_turn_its_rejection_into_a_key_error() {
    let sign_only = HmacKey::from_jwk(&format!(
        r#"{{"kty":"oct","kid":"s","k":"{SECRET}","key_ops":["sign"]}}"#
    ))
    .unwrap();
    let verifier = HmacKey::generate().unwrap();
    let set = KeySet::from_keys(vec![sign_only.clone(), verifier.clone()]).unwrap();
    let forged = forge(
        &HmacKey::from_bytes(&[3; 32]).unwrap(),
        r#"{"alg":"HS256","kid":"s"}"#,
        r#"{"exp":1900000000}"#,
    );
    assert_eq!(verdict(&set, &forged), Err(ErrorKind::UnknownKey));
    // Even a token really signed with that key's secret: the key may not verify it.
    let by_secret = tok::sign(
        &HmacKey::from_jwk(&format!(r#"{{"kty":"oct","kid":"s","k":"{SECRET}"}}"#)).unwrap(),
        &Claims::default().with_expiry(NumericDate::from_secs(1_900_000_000).unwrap()),
    )
    .unwrap();
    assert_eq!(verdict(&set, &by_secret), Err(ErrorKind::UnknownKey));
    // A set in which no key may verify is a key error for every token alike.
    let useless = KeySet::new(sign_only);
    for token in [&forged, &by_secret] {
        assert_eq!(verdict(&useless, token), Err(ErrorKind::InvalidKey));
    }
}

/// RFC 7517 §4.3: `key_ops` values are not repeated; a member that is present has its
/// type (`null` is not "absent", so `"key_ops": null` is no unrestricted key).
#[test]
fn jwk_import_is_strict_about_null_and_repeats() {
    let jwk = |extra: &str| format!(r#"{{"kty":"oct","k":"{SECRET}"{extra}}}"#);
    for extra in [
        r#","key_ops":["verify","verify"]"#,
        r#","key_ops":["sign","verify","sign"]"#,
    ] {
        let e = HmacKey::from_jwk(&jwk(extra)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidKey, "{extra}");
        assert!(e.detail().contains("twice"), "{e}");
    }
    for extra in [
        r#","alg":null"#,
        r#","use":null"#,
        r#","key_ops":null"#,
        r#","kid":null"#,
        r#","kty":null"#,
        r#","alg":256"#,
    ] {
        assert_eq!(
            HmacKey::from_jwk(&jwk(extra)).unwrap_err().kind(),
            ErrorKind::Malformed,
            "{extra}"
        );
    }
    assert!(HmacKey::from_jwk(&jwk(r#","key_ops":["sign","verify"]"#)).is_ok());
    // A set holding a key tok cannot use is refused whole (README says why): ignoring it
    // could silently change which key signs.
    let mixed = format!(
        r#"{{"keys":[{{"kty":"RSA","n":"x","e":"AQAB"}},{}]}}"#,
        jwk("")
    );
    let e = KeySet::from_jwks(&mixed).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
    assert!(e.detail().starts_with("key 0 of the set"), "{e}");
}

/// A malformed key document never quotes what it holds: not in the detail, the display,
/// the debug form or the source chain, whichever reader and whichever member is wrong.
#[test]
fn malformed_key_documents_never_echo_the_secret() {
    let documents = [
        format!(r#"{{"keys":["{SECRET}"]}}"#),
        format!(r#"{{"keys":[{{"kty":"oct","k":["{SECRET}"]}}]}}"#),
        format!(r#"{{"kty":"oct","k":{{"v":"{SECRET}"}}}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","key_ops":"{SECRET}"}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","kid":["{SECRET}"]}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","alg":{{"{SECRET}":1}}}}"#),
        format!(r#"["{SECRET}"]"#),
        format!(r#""{SECRET}""#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","x":1,"x":2}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}""#),
    ];
    let fragment = &SECRET[..12];
    for doc in &documents {
        let errors = [
            HmacKey::from_jwk(doc).map(|_| ()),
            KeySet::from_jwks(doc).map(|_| ()),
            KeySet::from_jwk_or_jwks(doc).map(|_| ()),
        ];
        for e in errors.into_iter().filter_map(Result::err) {
            let mut said = format!("{e} {e:?}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                said.push_str(&s.to_string());
                source = s.source();
            }
            assert!(!said.contains(fragment), "{doc}: {said}");
        }
    }
}

/// An attacker's string in a rejection is cut, as every other attacker string is: a
/// 6,000-character `exp` gives a detail of bounded size, by verify and by inspect.
#[test]
fn attacker_text_in_details_is_cut_short() {
    let key = key();
    let long = "x".repeat(6000);
    for payload in [
        format!(r#"{{"exp":"{long}"}}"#),
        format!(r#"{{"exp":1900000000,"aud":{{"{long}":1}}}}"#),
        format!(
            r#"{{"exp":1900000000,"sub":[{}]}}"#,
            "1,".repeat(3000) + "1"
        ),
        format!(r#"{{"exp":1900000000,"iat":"{long}"}}"#),
    ] {
        let token = forge_claims(&key, &payload);
        let e = tok::verify_at::<Map<String, Value>>(&key, &token, &Validation::new(), now())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        assert!(
            e.detail().len() < 300,
            "{} bytes: {}",
            e.detail().len(),
            e.detail()
        );
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Typed {
            exp: u64,
        }
        if let Err(e) = tok::insecure::decode_unverified_as::<Typed>(&token, 1 << 20) {
            assert!(e.detail().len() < 300, "{}", e.detail());
        }
    }
}

/// `from_json_strict`: tok's JSON rule for callers building claims from JSON.
#[test]
fn strict_json_for_callers() {
    let ok: Map<String, Value> = tok::from_json_strict(r#"{"a":{"b":[1,{"c":2}]}}"#).unwrap();
    assert_eq!(ok["a"]["b"][1]["c"], 2);
    for twice in [
        r#"{"role":"user","role":"admin"}"#,
        r#"{"perm":{"admin":false,"admin":true}}"#,
        r#"{"a":[{"x":1,"\u0078":2}]}"#,
    ] {
        assert_eq!(
            tok::from_json_strict::<Value>(twice).unwrap_err().kind(),
            ErrorKind::Malformed,
            "{twice}"
        );
    }
    assert!(tok::from_json_strict::<Value>("{} {}").is_err());
}
