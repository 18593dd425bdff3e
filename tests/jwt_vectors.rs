//! Published test vectors: RFC 7515 A.1, Wycheproof HMAC-SHA256, RFC 4231 (RFC 4648 lives
//! with the base64url module's unit tests).

use serde_json::{Map, Value};
use tok::{ErrorKind, HmacKey, NumericDate, Validation};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rfc7515_a1_valid_before_exp_expired_now() {
    let v = load("rfc7515_a1.json");
    let key = HmacKey::from_jwk(&v["jwk"].to_string()).unwrap();
    let token = v["token"].as_str().unwrap();
    let valid_before = v["valid_before"].as_u64().unwrap();
    let validation = Validation::new();

    let before = NumericDate::from_secs(valid_before - 1).unwrap();
    let got = tok::verify_at::<Map<String, Value>>(&key, token, &validation, before).unwrap();
    assert_eq!(got.claims.iss.as_deref(), Some("joe"));
    assert_eq!(got.claims.custom["http://example.com/is_root"], true);

    // Segments are MACed as received: the CR LF inside the JSON must survive.
    let payload = tok::base64url::decode(token.split('.').nth(1).unwrap().as_bytes()).unwrap();
    assert_eq!(payload, v["payload_json"].as_str().unwrap().as_bytes());

    // At exp exactly, and now, the token is expired, never a bad signature.
    let at_exp = NumericDate::from_secs(valid_before).unwrap();
    let e = tok::verify_at::<()>(&key, token, &validation, at_exp).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired);
    assert_eq!(e.instant(), Some(at_exp));
    let e = tok::verify::<()>(&key, token, &validation).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Expired);
}

#[test]
fn wycheproof_hmac_sha256() {
    let v = load("wycheproof_hmac_sha256_test.json");
    let (mut checked, mut refused_keys, mut truncated) = (0, 0, 0);
    for group in v["testGroups"].as_array().unwrap() {
        let key_bits = group["keySize"].as_u64().unwrap();
        let tag_bits = group["tagSize"].as_u64().unwrap();
        for case in group["tests"].as_array().unwrap() {
            let id = &case["tcId"];
            let key = HmacKey::from_bytes(&hex(case["key"].as_str().unwrap()));
            if key_bits < 256 {
                assert_eq!(key.unwrap_err().kind(), ErrorKind::WeakKey, "case {id}");
                refused_keys += 1;
                continue;
            }
            let key = key.unwrap();
            let msg = hex(case["msg"].as_str().unwrap());
            let tag = hex(case["tag"].as_str().unwrap());
            let ok = key.verify_mac(&msg, &tag).is_ok();
            if tag_bits == 256 {
                let expected = case["result"].as_str().unwrap() == "valid";
                assert_eq!(ok, expected, "case {id}");
                if expected {
                    assert_eq!(key.mac(&msg).to_vec(), tag, "case {id}");
                }
                checked += 1;
            } else {
                assert!(!ok, "a {tag_bits}-bit tag verified in case {id}");
                truncated += 1;
            }
        }
    }
    assert!(checked > 0 && refused_keys > 0 && truncated > 0);
    assert_eq!(
        checked + refused_keys + truncated,
        v["numberOfTests"].as_u64().unwrap()
    );
}

/// RFC 4231 §4.2–4.8. Keys under 256 bits must be refused; the 131-byte-key cases
/// (§4.7, §4.8) exercise the key-hashing path.
#[test]
fn rfc4231() {
    let short = [
        (vec![0x0b; 20], "4.2"),
        (b"Jefe".to_vec(), "4.3"),
        (vec![0xaa; 20], "4.4"),
        ((1..=25).collect::<Vec<u8>>(), "4.5"),
        (vec![0x0c; 20], "4.6"),
    ];
    for (key, section) in short {
        assert_eq!(
            HmacKey::from_bytes(&key).unwrap_err().kind(),
            ErrorKind::WeakKey,
            "RFC 4231 {section}"
        );
    }
    let key = HmacKey::from_bytes(&[0xaa; 131]).unwrap();
    let cases = [
        (
            &b"Test Using Larger Than Block-Size Key - Hash Key First"[..],
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        (
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ];
    for (msg, tag) in cases {
        assert_eq!(key.mac(msg).to_vec(), hex(tag));
        assert!(key.verify_mac(msg, &hex(tag)).is_ok());
        assert!(key.verify_mac(msg, &hex(tag)[..16]).is_err());
    }
}
