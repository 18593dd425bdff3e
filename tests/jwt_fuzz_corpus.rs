//! The fuzz corpus on stable Rust: the committed seeds (valid tokens, RFC vectors, every
//! attack) and every recorded crash input are replayed through the same property checks
//! the fuzz targets run, so CI keeps findings fixed without nightly.
//!
//! Regenerate the seeds after changing the attack table: `TOK_WRITE_CORPUS=1 cargo test
//! --test jwt_fuzz_corpus`.

mod common;

use common::attacks;

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;

fn dir(kind: &str, target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "seed-{}",
        s.split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    )
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let key = common::key();
    let valid = [
        (
            "valid minimal",
            tok::sign(
                &key,
                &tok::Claims::default()
                    .with_expiry(tok::NumericDate::from_secs(1_900_000_000).unwrap()),
            )
            .unwrap(),
        ),
        (
            "valid full",
            common::forge_claims(
                &key,
                r#"{"iss":"i","sub":"s","aud":["a","b"],"exp":1900000000,"nbf":1700000000,"iat":1700000000,"jti":"j","role":"admin","n":{"x":[1,2.5,null]}}"#,
            ),
        ),
        (
            "valid with kid",
            tok::sign(
                &key.clone().with_kid("k1"),
                &tok::Claims::default()
                    .with_subject("s")
                    .with_expiry(tok::NumericDate::from_secs(1_900_000_000).unwrap()),
            )
            .unwrap(),
        ),
        (
            "rfc7515 a1",
            serde_json::from_str::<serde_json::Value>(
                &std::fs::read_to_string(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc7515_a1.json"),
                )
                .unwrap(),
            )
            .unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
    ];
    let tokens = valid.iter().cloned().chain(
        common::attacks::table()
            .into_iter()
            .map(|a| (a.name, a.token)),
    );
    for (i, (name, token)) in tokens.enumerate() {
        // Numbered, since names differing only in case ("alg None", "alg NONE") must not
        // share a file on case-insensitive file systems.
        let file = format!("{}-{i:03}", slug(name));
        for target in ["verify", "verify_keyset", "inspect"] {
            seeds.push((target, file.clone(), token.clone().into_bytes()));
        }
    }
    for (name, json) in [
        (
            "standard",
            "{\"alg\":\"HS256\",\"typ\":\"JWT\"}\n{\"sub\":\"s\",\"exp\":1900000000}",
        ),
        ("crit", "{\"alg\":\"HS256\",\"crit\":[\"b64\"]}\n{}"),
        (
            "duplicates",
            "{\"alg\":\"HS256\"}\n{\"exp\":1900000000,\"exp\":1}",
        ),
        (
            "numbers",
            "{\"alg\":\"HS256\"}\n{\"exp\":1e400,\"nbf\":-0.0,\"iat\":18446744073709551616}",
        ),
        (
            "nested",
            "{\"alg\":\"HS256\",\"x\":[[[{}]]]}\n{\"exp\":1900000000,\"a\":{\"b\":{\"c\":[1,{\"d\":2}]}}}",
        ),
        (
            "aud",
            "{\"alg\":\"HS256\"}\n{\"exp\":1900000000,\"aud\":[\"a\",1]}",
        ),
        (
            "escapes",
            "{\"\\u0061lg\":\"HS256\"}\n{\"\\u0065xp\":1900000000,\"s\":\"\\ud83d\\ude00\"}",
        ),
    ] {
        seeds.push(("verify_json", slug(name), json.as_bytes().to_vec()));
    }
    let k = tok::base64url::encode(&common::SECRET);
    for (name, jwk) in [
        ("oct", format!(r#"{{"kty":"oct","k":"{k}"}}"#)),
        (
            "oct full",
            format!(
                r#"{{"kty":"oct","kid":"a","alg":"HS256","use":"sig","key_ops":["sign","verify"],"k":"{k}"}}"#
            ),
        ),
        (
            "set",
            format!(
                r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k}"}},{{"kty":"oct","kid":"b","k":"{k}"}}]}}"#
            ),
        ),
        (
            "set duplicate kid",
            format!(
                r#"{{"keys":[{{"kty":"oct","kid":"a","k":"{k}"}},{{"kty":"oct","kid":"a","k":"{k}"}}]}}"#
            ),
        ),
        ("short", r#"{"kty":"oct","k":"AAAA"}"#.to_owned()),
        ("rsa", r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned()),
        ("padded", format!(r#"{{"kty":"oct","k":"{k}="}}"#)),
    ] {
        seeds.push(("jwk", slug(name), jwk.into_bytes()));
    }
    for (name, bytes) in [
        ("zeros", vec![0u8; 64]),
        ("ones", vec![0xff; 64]),
        ("ramp", (0..=255).collect()),
    ] {
        seeds.push(("roundtrip", slug(name), bytes));
    }
    let family = tok::base64url::encode(&[5; 16]);
    let tag = tok::base64url::encode(&[6; 32]);
    for (name, token) in [
        ("well formed unknown", format!("{family}.0.{tag}")),
        ("later generation", format!("{family}.41.{tag}")),
        ("leading zero", format!("{family}.01.{tag}")),
        (
            "huge generation",
            format!("{family}.18446744073709551616.{tag}"),
        ),
        ("padded", format!("{family}.0.{tag}=")),
        ("no generation", format!("{family}.{tag}")),
        ("two dots", format!("{family}..{tag}")),
        ("short family", format!("{}.0.{tag}", &family[1..])),
        ("dash first", format!("-{}.0.{tag}", &family[1..])),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA".to_owned()),
        ("empty", String::new()),
    ] {
        seeds.push(("refresh_token", slug(name), token.into_bytes()));
    }
    let live = format!("__Host-refresh={family}.0.{tag}");
    for (name, header) in [
        ("one cookie", live.clone()),
        ("nameless cookie first", format!("planted; {live}")),
        ("nameless cookie last", format!("{live}; planted")),
        ("empty name", format!("=bare; {live}")),
        ("stray semicolons", format!(";;{live};;")),
        (
            "other apps",
            format!("theme=dark; a=\"b\"; {live}; lang=en"),
        ),
        ("duplicate", format!("{live}; __Host-refresh=x")),
        (
            "duplicate across headers",
            format!("{live}\n__Host-refresh=x"),
        ),
        ("unprefixed", format!("refresh={family}.0.{tag}")),
        ("quoted", "__Host-refresh=\"abc\"".to_owned()),
        ("spaces", "  __Host-refresh  =  abc  ".to_owned()),
        ("no cookie", "a=1; b=2".to_owned()),
        ("empty", String::new()),
    ] {
        seeds.push(("cookie_header", slug(name), header.into_bytes()));
    }
    let bearer = format!("Bearer {}", valid[0].1);
    for (name, values) in [
        ("valid", bearer.clone()),
        ("several spaces", format!("Bearer    {}", valid[0].1)),
        ("lower case", format!("bearer {}", valid[0].1)),
        ("padding", "Bearer abc==".to_owned()),
        ("two values", format!("{bearer}\n{bearer}")),
        ("no space", format!("Bearer{}", valid[0].1)),
        ("space inside", "Bearer a b".to_owned()),
        ("only spaces", "Bearer   ".to_owned()),
        ("tab", "Bearer\ta".to_owned()),
        ("other scheme", "Basic dXNlcjpwdw==".to_owned()),
        ("not utf8", "Bearer \u{fffd}".to_owned()),
        ("no header", String::new()),
    ] {
        seeds.push(("authorization_header", slug(name), values.into_bytes()));
    }
    for (name, body) in [
        ("valid", r#"{"id":"AAAAAAAAAAAAAAAAAAAAAA"}"#),
        ("other members", r#"{"x":[1,{"y":2}],"id":"a"}"#),
        ("repeated id", r#"{"id":"a","id":"b"}"#),
        ("escaped repeat", r#"{"id":"a","\u0069d":"b"}"#),
        ("nested repeat", r#"{"id":"a","x":{"k":1,"k":2}}"#),
        ("id not a string", r#"{"id":7}"#),
        ("no id", r#"{"other":"a"}"#),
        ("array", r#"["id"]"#),
        ("trailing", r#"{"id":"a"} {}"#),
        ("huge number", r#"{"id":"a","n":1e400}"#),
        ("empty", ""),
    ] {
        seeds.push(("end_body", slug(name), body.as_bytes().to_vec()));
    }
    seeds
}

#[test]
fn seed_corpus_holds_every_seed() {
    let write = std::env::var_os("TOK_WRITE_CORPUS").is_some();
    let mut stale = Vec::new();
    for (target, name, bytes) in seeds() {
        let path = dir("corpus", target).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(format!("{target}/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "seed corpus is stale (TOK_WRITE_CORPUS=1 rewrites it): {stale:?}"
    );
}

#[test]
fn replay_corpus_and_regressions() {
    let mut replayed = 0;
    for target in checks::TARGETS {
        for kind in ["corpus", "regressions"] {
            let entries = std::fs::read_dir(dir(kind, target))
                .unwrap_or_else(|e| panic!("fuzz/{kind}/{target}: {e}"));
            for entry in entries {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == "README.md") {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| checks::run(target, &bytes));
                assert!(
                    outcome.is_ok(),
                    "{target}: property broken by {}",
                    path.display()
                );
                replayed += 1;
            }
        }
    }
    let expected = seeds()
        .iter()
        .filter(|(target, ..)| checks::TARGETS.contains(target))
        .count();
    assert!(
        replayed >= expected,
        "replayed only {replayed} of {expected} seeds"
    );
}

/// The committed seeds mean what their names say, so the replay above proves something:
/// the valid tokens verify (with the fuzz targets' key, at their instant), and every
/// attack seed, read back from its file, is rejected with the attack table's kind. A
/// replay whose seeds were all rejected for the wrong reason would otherwise pass.
#[test]
fn committed_seeds_have_their_expected_outcomes() {
    let lenient = tok::Validation::new().allow_unchecked_audience();
    let read = |name: &str, i: usize| {
        let file = dir("corpus", "verify").join(format!("{}-{i:03}", slug(name)));
        String::from_utf8(
            std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())),
        )
        .unwrap()
    };
    for (i, name) in ["valid minimal", "valid full", "valid with kid"]
        .iter()
        .enumerate()
    {
        let token = read(name, i);
        tok::verify_at::<serde_json::Value>(&common::key(), &token, &lenient, attacks::now())
            .unwrap_or_else(|e| panic!("seed {name:?} must verify: {e}"));
    }
    let rfc = read("rfc7515 a1", 3);
    assert_eq!(
        tok::verify_at::<serde_json::Value>(&common::key(), &rfc, &lenient, attacks::now())
            .unwrap_err()
            .kind(),
        tok::ErrorKind::BadSignature,
        "the RFC's token is signed with the RFC's key, not the fuzz key"
    );
    let mut checked = 0;
    for (i, attack) in attacks::table().into_iter().enumerate() {
        let from_file = attacks::Attack {
            token: read(attack.name, i + 4),
            ..attack
        };
        let err = attacks::run(&from_file)
            .unwrap_or_else(|| panic!("attack seed {:?} verified", from_file.name));
        assert_eq!(
            err.kind(),
            from_file.expected,
            "attack seed {:?}",
            from_file.name
        );
        checked += 1;
    }
    assert!(checked > 50, "only {checked} attack seeds");
}

/// Every target has a corpus folder and a regressions folder: a missing one would
/// silently replay nothing.
#[test]
fn every_target_has_its_folders() {
    for target in checks::TARGETS {
        for kind in ["corpus", "regressions"] {
            let d = dir(kind, target);
            assert!(d.is_dir(), "{} is missing", d.display());
        }
        let seeds = std::fs::read_dir(dir("corpus", target)).unwrap().count();
        assert!(seeds > 0, "fuzz/corpus/{target} is empty");
    }
}
