//! Property tests: round trips, and rejection of every mutation of a valid token.

mod common;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tok::{Claims, NumericDate, Validation};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Custom {
    role: String,
    level: u32,
    tags: Vec<String>,
    flag: Option<bool>,
}

const NOW: u64 = 1_800_000_000;

fn arb_claims() -> impl Strategy<Value = Claims<Custom>> {
    (
        (
            any::<String>(),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<String>()),
        ),
        (
            1u64..=1_000_000,
            proptest::option::of(0u64..NOW),
            proptest::collection::vec(any::<String>(), 0..3),
        ),
        (
            any::<String>(),
            any::<u32>(),
            proptest::collection::vec(any::<String>(), 0..3),
            any::<Option<bool>>(),
        ),
    )
        .prop_map(
            |((sub, iss, jti), (ttl, iat, aud), (role, level, tags, flag))| {
                let mut c = Claims::new(Custom {
                    role,
                    level,
                    tags,
                    flag,
                })
                .with_subject(sub)
                .with_audiences(aud)
                .with_expiry(NumericDate::from_secs(NOW + ttl).unwrap());
                c.iss = iss.map(Into::into);
                c.jti = jti.map(Into::into);
                c.iat = iat.map(|t| NumericDate::from_secs(t).unwrap());
                c
            },
        )
}

fn lenient() -> Validation {
    Validation::new().allow_unchecked_audience()
}

fn now() -> NumericDate {
    NumericDate::from_secs(NOW).unwrap()
}

proptest! {
    #[test]
    fn sign_then_verify_gives_back_the_claims(claims in arb_claims()) {
        let token = tok::sign(&common::key(), &claims).unwrap();
        let got = tok::verify_at::<Custom>(&common::key(), &token, &lenient(), now()).unwrap();
        prop_assert_eq!(got.claims, claims);
    }

    #[test]
    fn encode_decode_is_identity(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let encoded = tok::base64url::encode(&bytes);
        prop_assert_eq!(tok::base64url::decode(encoded.as_bytes()).unwrap(), bytes);
    }

    #[test]
    fn any_single_byte_change_is_rejected(claims in arb_claims(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let token = tok::sign(&common::key(), &claims).unwrap();
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        let mutated = String::from_utf8_lossy(&bytes);
        prop_assert!(tok::verify_at::<Custom>(&common::key(), &mutated, &lenient(), now()).is_err());
    }

    #[test]
    fn truncation_and_extension_are_rejected(claims in arb_claims(), cut in any::<prop::sample::Index>(), tail in "[A-Za-z0-9_.=-]{1,8}") {
        let token = tok::sign(&common::key(), &claims).unwrap();
        let short = &token[..cut.index(token.len())];
        prop_assert!(tok::verify_at::<Custom>(&common::key(), short, &lenient(), now()).is_err());
        let long = format!("{token}{tail}");
        prop_assert!(tok::verify_at::<Custom>(&common::key(), &long, &lenient(), now()).is_err());
    }
}
