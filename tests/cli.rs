//! The `tok` command: every command, flag, exit code and error code, key sources, key
//! rotation, and interoperability with PyJWT.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;

/// A 32-byte secret as a JWK, and the same secret base64url-encoded.
const SECRET_B64: &str = "dG9rIHRlc3Qga2V5OiAzMiBieXRlcyBleGFjdGx5ISE";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(
            env.path("key.json"),
            format!(r#"{{"kty":"oct","kid":"test","k":"{SECRET_B64}"}}"#),
        )
        .unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self) -> String {
        self.path("key.json").display().to_string()
    }

    /// `tok` with no inherited key variable and no colour.
    fn tok(&self) -> Command {
        let mut cmd = Command::cargo_bin("tok").unwrap();
        cmd.current_dir(self.dir.path())
            .env_remove("TOK_KEY")
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.tok().args(args).output().unwrap()
    }

    fn sign(&self, args: &[&str]) -> String {
        let key = self.key();
        let mut all = vec!["sign", "--key", key.as_str()];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "one line: {text:?}"
        );
        text.trim().to_owned()
    }

    /// Runs `tok verify --key key.json ARGS`, returning (exit code, stdout, stderr).
    fn verify(&self, args: &[&str]) -> (i32, String, String) {
        let key = self.key();
        let mut all = vec!["verify", "--key", key.as_str()];
        all.extend_from_slice(args);
        let out = self.run(&all);
        (out.status.code().unwrap(), stdout(&out), stderr(&out))
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&tok::base64url::decode(payload.as_bytes()).unwrap()).unwrap()
}

/// Asserts a rejection: exit 1 and `tok: rejected: CODE: ...` on stderr.
fn assert_rejected((code, _, err): (i32, String, String), expected: &str) {
    assert_eq!(code, 1, "stderr: {err}");
    assert!(
        err.starts_with(&format!("tok: rejected: {expected}: ")),
        "expected {expected}, got {err}"
    );
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
}

#[test]
fn keygen_prints_a_jwk_or_writes_a_private_file() {
    let env = Env::new();
    let out = env.run(&["keygen"]);
    assert_eq!(out.status.code(), Some(0));
    let jwk: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jwk["kty"], "oct");
    assert_eq!(jwk["alg"], "HS256");
    let key = tok::HmacKey::from_jwk(&jwk.to_string()).unwrap();
    assert_eq!(jwk["kid"].as_str(), Some(key.thumbprint().as_str()));

    let out = env.run(&["keygen", "--kid", "k2026", "--out", "new.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "k2026",
        "prints the kid, never the secret"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("new.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read_to_string(env.path("new.json")).unwrap();
    let out = env.run(&["keygen", "--out", "new.json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(env.path("new.json")).unwrap(),
        before,
        "untouched"
    );
    let out = env.run(&["keygen", "--out", "new.json", "--force"]);
    assert_eq!(out.status.code(), Some(0));
    assert_ne!(
        std::fs::read_to_string(env.path("new.json")).unwrap(),
        before
    );
}

#[test]
fn key_rotation_with_add_to() {
    let env = Env::new();
    let out = env.run(&["keygen", "--kid", "old", "--add-to", "set.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let old_token = {
        let out = env.run(&["sign", "--key", "set.json", "--sub", "a"]);
        stdout(&out).trim().to_owned()
    };
    let out = env.run(&["keygen", "--kid", "new", "--add-to", "set.json"]);
    assert_eq!(stdout(&out).trim(), "new");
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("set.json")).unwrap()).unwrap();
    assert_eq!(set["keys"].as_array().unwrap().len(), 2);

    let out = env.run(&["verify", "--key", "set.json", &old_token]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "old tokens still verify: {}",
        stderr(&out)
    );
    let out = env.run(&["sign", "--key", "set.json", "--sub", "a"]);
    let new_token = stdout(&out).trim().to_owned();
    let header = tok::insecure::decode_unverified(&new_token, 8192)
        .unwrap()
        .header;
    assert_eq!(header["kid"], "new", "new tokens carry the new kid");
    let out = env.run(&["sign", "--key", "set.json", "--kid", "old", "--sub", "a"]);
    let token = stdout(&out).trim().to_owned();
    assert_eq!(
        tok::insecure::decode_unverified(&token, 8192)
            .unwrap()
            .header["kid"],
        "old"
    );
    let out = env.run(&["sign", "--key", "set.json", "--kid", "gone"]);
    assert_eq!(out.status.code(), Some(3));
}

/// The runbook's steps: add b on standby (a still signs), put b first, read usage as sessions move, refuse to remove the last key; each step keeps the
/// file's mode, and unknown kids change nothing.
#[test]
fn key_rotation_steps_and_usage() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let store = format!("sqlite:{}", env.path("tok.db").display());
    let ok = |args: &[&str]| {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    ok(&["keygen", "--kid", "a", "--add-to", "set.json"]);
    std::fs::set_permissions(env.path("set.json"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let pair: Value = serde_json::from_str(&ok(&[
        "refresh", "issue", "--key", "set.json", "--store", &store, "--sub", "alice",
    ]))
    .unwrap();
    ok(&["keygen", "--kid", "b", "--add-to", "set.json", "--standby"]);
    assert_eq!(ok(&["keys", "list", "--key", "set.json"]), "a\nb\n");
    ok(&["keys", "first", "a", "--key", "set.json"]);
    assert_eq!(ok(&["keys", "list", "--key", "set.json"]), "a\nb\n");
    let usage = || -> Value {
        serde_json::from_str(&ok(&[
            "keys", "usage", "--key", "set.json", "--store", &store, "--json",
        ]))
        .unwrap()
    };
    assert_eq!(
        usage(),
        serde_json::json!({"keys": [
            {"kid": "a", "signing": true, "sessions": 1},
            {"kid": "b", "signing": false, "sessions": 0}], "not_in_set": 0})
    );
    ok(&["keys", "first", "b", "--key", "set.json"]);
    assert_eq!(ok(&["keys", "list", "--key", "set.json"]), "b\na\n");
    let rotated = env
        .tok()
        .args(["refresh", "rotate", "--key", "set.json", "--store", &store])
        .write_stdin(pair["refresh_token"].as_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(rotated.status.code(), Some(0), "{}", stderr(&rotated));
    assert_eq!(
        usage()["keys"],
        serde_json::json!([
            {"kid": "b", "signing": true, "sessions": 1},
            {"kid": "a", "signing": false, "sessions": 0}])
    );
    let text = ok(&["keys", "usage", "--key", "set.json", "--store", &store]);
    assert!(text.contains("b\tyes\t1\na\tno\t0\n"), "{text}");
    ok(&["keys", "remove", "a", "--key", "set.json"]);
    assert_eq!(ok(&["keys", "list", "--key", "set.json"]), "b\n");
    let mode = std::fs::metadata(env.path("set.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640, "each change keeps the file's mode");
    let before = std::fs::read(env.path("set.json")).unwrap();
    for args in [
        ["keys", "remove", "b", "--key", "set.json"],
        ["keys", "remove", "a", "--key", "set.json"],
        ["keys", "first", "zz", "--key", "set.json"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    assert!(stderr(&env.run(&["keys", "remove", "b", "--key", "set.json"])).contains("last key"));
    assert_eq!(
        std::fs::read(env.path("set.json")).unwrap(),
        before,
        "refusals change nothing"
    );
}

#[test]
fn sign_defaults_and_flags() {
    let env = Env::new();
    let token = env.sign(&["--sub", "alice"]);
    let c = claims_of(&token);
    assert_eq!(c["sub"], "alice");
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        900,
        "15m default"
    );
    assert_eq!(c["jti"].as_str().unwrap().len(), 22, "128-bit random jti");
    assert_ne!(claims_of(&env.sign(&[]))["jti"], c["jti"]);

    let c = claims_of(&env.sign(&[
        "--iss",
        "me",
        "--aud",
        "a",
        "--aud",
        "b",
        "--ttl",
        "2h",
        "--nbf",
        "90s",
        "--jti",
        "j1",
        "--claim",
        "role=admin",
        "--claim",
        "n=42",
        "--claim",
        "obj={\"x\":[1]}",
        "--claim",
        "s=not json",
    ]));
    assert_eq!(c["iss"], "me");
    assert_eq!(c["aud"], serde_json::json!(["a", "b"]));
    assert_eq!(
        c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
        7200
    );
    assert_eq!(c["nbf"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 90);
    assert_eq!(c["jti"], "j1");
    assert_eq!(c["role"], "admin");
    assert_eq!(c["n"], 42);
    assert_eq!(c["obj"]["x"][0], 1);
    assert_eq!(c["s"], "not json");

    let c = claims_of(&env.sign(&["--no-exp", "--no-jti"]));
    assert!(c.get("exp").is_none() && c.get("jti").is_none());

    let token = env.sign(&["--typ", "at+jwt"]);
    assert_eq!(
        tok::insecure::decode_unverified(&token, 8192)
            .unwrap()
            .header["typ"],
        "at+jwt"
    );
}

#[test]
fn sign_claims_from_file_and_stdin() {
    let env = Env::new();
    std::fs::write(env.path("claims.json"), r#"{"tenant":"acme","level":3}"#).unwrap();
    let c = claims_of(&env.sign(&["--claims", "claims.json"]));
    assert_eq!(
        (c["tenant"].as_str(), c["level"].as_u64()),
        (Some("acme"), Some(3))
    );

    let out = env
        .tok()
        .args(["sign", "--key", &env.key(), "--claims", "-"])
        .write_stdin(r#"{"from":"stdin"}"#)
        .output()
        .unwrap();
    assert_eq!(claims_of(stdout(&out).trim())["from"], "stdin");
}

#[test]
fn sign_usage_errors_exit_2() {
    let env = Env::new();
    let key = env.key();
    for args in [
        vec!["sign", "--key", &key, "--sub", "a", "--claim", "sub=b"],
        vec!["sign", "--key", &key, "--claim", "x=1", "--claim", "x=2"],
        vec!["sign", "--key", &key, "--claim", "novalue"],
        vec!["sign", "--key", &key, "--claim", "exp=\"soon\""],
        vec!["sign", "--key", &key, "--claim", "nbf=-5"],
        vec!["sign", "--key", &key, "--ttl", "forever"],
        vec!["sign", "--key", &key, "--ttl", "1h", "--no-exp"],
        vec!["sign", "--key", &key, "--no-exp", "--claim", "exp=5"],
        vec!["sign", "--key", &key, "--jti", "a", "--no-jti"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    std::fs::write(env.path("c.json"), r#"{"sub":"x"}"#).unwrap();
    let out = env.run(&["sign", "--key", &key, "--sub", "y", "--claims", "c.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn key_sources_file_env_and_tok_key() {
    let env = Env::new();
    let jwk = std::fs::read_to_string(env.path("key.json")).unwrap();
    let token = env.sign(&["--sub", "k"]);

    let out = env
        .tok()
        .args(["verify", "--key-env", "MY_KEY", &token])
        .env("MY_KEY", &jwk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env
        .tok()
        .args(["verify", &token])
        .env("TOK_KEY", &jwk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A raw base64url secret: no kid, so the token's kid "test" is simply not checked.
    let out = env
        .tok()
        .args(["verify", &token])
        .env("TOK_KEY", SECRET_B64)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let out = env.run(&["verify", &token]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("--key FILE") && err.contains("--key-env NAME") && err.contains("TOK_KEY"),
        "{err}"
    );

    let out = env
        .tok()
        .args(["verify", "--key-env", "UNSET_VAR", &token])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));

    let short = tok::base64url::encode(&[7u8; 16]);
    let out = env
        .tok()
        .args(["sign"])
        .env("TOK_KEY", &short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("at least 32 bytes"),
        "{}",
        stderr(&out)
    );

    let out = env.run(&["verify", "--key", "missing.json", &token]);
    assert_eq!(out.status.code(), Some(3));
    std::fs::write(env.path("bad.json"), "{not json").unwrap();
    let out = env.run(&["verify", "--key", "bad.json", &token]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out).lines().count(), 1);
}

#[test]
fn verify_valid_prints_claims_as_one_line() {
    let env = Env::new();
    let token = env.sign(&["--sub", "alice", "--aud", "api"]);
    let (code, out, _) = env.verify(&["--aud", "api", &token]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["sub"], "alice");

    // From stdin, absent or "-", with whitespace around.
    for arg in [None, Some("-")] {
        let mut cmd = env.tok();
        cmd.args(["verify", "--key", &env.key(), "--aud", "api"]);
        if let Some(a) = arg {
            cmd.arg(a);
        }
        let out = cmd
            .write_stdin(format!("  \n{token}\n\n"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
}

#[test]
fn verify_json_output() {
    let env = Env::new();
    let token = env.sign(&["--sub", "alice"]);
    let (code, out, _) = env.verify(&["--json", &token]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["header"]["alg"], "HS256");
    assert_eq!(v["header"]["kid"], "test");
    assert_eq!(v["claims"]["sub"], "alice");

    let (code, out, err) = env.verify(&["--json", "--sub", "bob", &token]);
    assert_eq!(code, 1);
    assert_eq!(err, "", "--json says the verdict on stdout only");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["error"], "wrong-subject");
    assert!(v["detail"].as_str().unwrap().contains("alice"));
}

#[test]
fn verify_rejections_carry_their_codes() {
    let env = Env::new();
    let plain = env.sign(&["--sub", "alice", "--iss", "me"]);
    assert_rejected(
        env.verify(&["--aud", "api", &env.sign(&["--aud", "web"])]),
        "wrong-audience",
    );
    let (_, _, wrong_aud) = env.verify(&["--aud", "api", &env.sign(&["--aud", "web"])]);
    assert!(
        wrong_aud.contains(r#"["web"]"#),
        "the audience is named: {wrong_aud}"
    );
    assert_rejected(env.verify(&["--iss", "you", &plain]), "wrong-issuer");
    assert_rejected(env.verify(&["--sub", "bob", &plain]), "wrong-subject");
    assert_rejected(env.verify(&["--require", "role", &plain]), "missing-claim");
    assert_rejected(env.verify(&[&env.sign(&["--no-exp"])]), "missing-claim");
    assert_eq!(
        env.verify(&["--allow-no-exp", &env.sign(&["--no-exp"])]).0,
        0
    );
    assert_rejected(env.verify(&[&env.sign(&["--nbf", "1h"])]), "not-yet-valid");
    assert_rejected(env.verify(&[&env.sign(&["--typ", "at+jwt"])]), "wrong-type");
    assert_eq!(
        env.verify(&["--typ", "at+jwt", &env.sign(&["--typ", "at+jwt"])])
            .0,
        0
    );
    assert_rejected(env.verify(&["not.a-token"]), "malformed");
    assert_rejected(env.verify(&["a.b.c.d.e"]), "malformed");

    let mut forged = plain.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert_rejected(
        env.verify(&[std::str::from_utf8(&forged).unwrap()]),
        "bad-signature",
    );

    let other = env.sign(&[]);
    let set = format!(
        r#"{{"keys":[{{"kty":"oct","kid":"other","k":"{}"}}]}}"#,
        tok::base64url::encode(&[9; 32])
    );
    std::fs::write(env.path("other.json"), set).unwrap();
    let out = env.run(&["verify", "--key", "other.json", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("tok: rejected: unknown-key: "));

    let none = format!(
        "{}.{}.",
        tok::base64url::encode(br#"{"alg":"none"}"#),
        tok::base64url::encode(br#"{"sub":"x"}"#)
    );
    assert_rejected(env.verify(&[&none]), "alg-not-allowed");
}

#[test]
fn verify_times_at_leeway_and_max_age() {
    let env = Env::new();
    let token = env.sign(&["--ttl", "10m"]);
    let exp = claims_of(&token)["exp"].as_u64().unwrap();
    let later = (exp + 7380).to_string();
    let (code, _, err) = env.verify(&["--at", &later, &token]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("tok: rejected: expired: expired 2h 3m ago ("),
        "{err}"
    );
    assert!(err.trim_end().ends_with("Z)"), "{err}");
    // exp == now is expired; a leeway of a second lets it pass.
    assert_rejected(env.verify(&["--at", &exp.to_string(), &token]), "expired");
    assert_eq!(
        env.verify(&["--at", &exp.to_string(), "--leeway", "1s", &token])
            .0,
        0
    );
    assert_eq!(env.verify(&["--at", &(exp - 1).to_string(), &token]).0, 0);
    assert_eq!(
        env.verify(&["--at", "yesterday", &token]).0,
        2,
        "a bad time is a usage error"
    );
    let iat = claims_of(&token)["iat"].as_u64().unwrap();
    let (code, _, err) = env.verify(&["--max-age", "1m", "--at", &(iat + 120).to_string(), &token]);
    assert_eq!(code, 1);
    assert!(err.starts_with("tok: rejected: too-old: "), "{err}");
}

#[test]
fn rfc7515_a1_token_with_and_without_at() {
    let env = Env::new();
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc7515_a1.json"),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::write(env.path("a1.json"), v["jwk"].to_string()).unwrap();
    let token = v["token"].as_str().unwrap();
    let out = env.run(&[
        "verify",
        "--key",
        "a1.json",
        "--at",
        "2011-03-22T18:42:59Z",
        token,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["iss"],
        "joe"
    );
    let out = env.run(&["verify", "--key", "a1.json", token]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("tok: rejected: expired: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn oversized_stdin_is_rejected_unread() {
    let env = Env::new();
    let big = "a".repeat(2_000_000);
    let out = env
        .tok()
        .args(["verify", "--key", &env.key()])
        .write_stdin(big.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("tok: rejected: too-large: "));
    let out = env
        .tok()
        .args(["inspect"])
        .write_stdin(big)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn inspect_says_unverified_and_warns() {
    let env = Env::new();
    let token = env.sign(&["--sub", "alice", "--ttl", "3d", "--nbf", "1h"]);
    let out = env.run(&["inspect", &token]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("NOT verified"));
    assert!(
        text.contains("expires in 2days 23h") || text.contains("expires in 3days"),
        "{text}"
    );
    assert!(
        text.contains("over a day") && text.contains("nbf is in the future"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when not a terminal");

    let out = env.run(&["inspect", "--json", &token]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["claims"]["sub"], "alice");
    assert!(v["times"]["exp"]["utc"].as_str().unwrap().ends_with('Z'));

    let none = format!(
        "{}.{}.",
        tok::base64url::encode(br#"{"alg":"none","crit":["x"]}"#),
        tok::base64url::encode(br#"{"exp":"tomorrow"}"#)
    );
    let out = env.run(&["inspect", "--json", &none]);
    assert_eq!(out.status.code(), Some(0));
    let warnings = serde_json::from_str::<Value>(&stdout(&out)).unwrap()["warnings"].to_string();
    for w in [
        "not HS256",
        "crit",
        "exp is not a valid NumericDate",
        "signature is 0 bytes",
    ] {
        assert!(warnings.contains(w), "{w} missing from {warnings}");
    }
    let out = env
        .tok()
        .args(["inspect", "--json"])
        .write_stdin(env.sign(&["--no-exp"]))
        .output()
        .unwrap();
    assert!(stdout(&out).contains("never expires"));

    let out = env.run(&["inspect", "garbage"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("tok: rejected: malformed: "));
}

#[test]
fn help_shows_examples_and_usage_errors_exit_2() {
    let env = Env::new();
    for cmd in ["keygen", "sign", "verify", "inspect"] {
        let out = env.run(&[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains("Example"),
            "{cmd} --help has an example"
        );
    }
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        env.run(&["verify", "--no-such-flag"]).status.code(),
        Some(2)
    );
    assert_eq!(env.run(&[]).status.code(), Some(2));
}

/// Tokens from `tok sign` verify in PyJWT, and PyJWT's verify with `tok verify`.
/// scripts/setup.sh installs PyJWT; without it this test fails (it is never skipped).
#[test]
fn interoperates_with_pyjwt() {
    let env = Env::new();
    let secret = tok::base64url::decode(SECRET_B64.as_bytes()).unwrap();
    let secret_hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let token = env.sign(&["--sub", "alice", "--aud", "api", "--claim", "role=admin"]);
    let script = format!(
        r#"
import jwt, sys, time
key = bytes.fromhex("{secret_hex}")
claims = jwt.decode(sys.argv[1], key, algorithms=["HS256"], audience="api")
assert claims["sub"] == "alice" and claims["role"] == "admin", claims
print(jwt.encode({{"sub": "bob", "aud": "api", "exp": int(time.time()) + 600, "n": [1, 2]}}, key, algorithm="HS256"))
"#
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(&token)
        .output();
    let out = out.expect("python3 is needed for the interop test (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "PyJWT rejected tok's token: {}",
        stderr(&out)
    );
    let theirs = stdout(&out).trim().to_owned();
    let (code, claims, err) = env.verify(&["--aud", "api", &theirs]);
    assert_eq!(code, 0, "tok rejected PyJWT's token: {err}");
    let claims: Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["n"][1], 2);
}

/// `--add-to` through a symlink writes through to the real set (the link stays a link),
/// keeps the set's mode, and 8 concurrent runs lose no key.
#[cfg(unix)]
#[test]
fn add_to_follows_links_keeps_mode_and_serialises() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    std::fs::create_dir(env.path("real")).unwrap();
    let out = env.run(&["keygen", "--kid", "first", "--add-to", "real/set.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::set_permissions(
        env.path("real/set.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("real/set.json", env.path("link.json")).unwrap();

    let children: Vec<_> = (0..8)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("tok"))
                .args(["keygen", "--kid", &format!("k{i}"), "--add-to", "link.json"])
                .current_dir(env.dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let link = std::fs::symlink_metadata(env.path("link.json")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    let real = env.path("real/set.json");
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let set: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    let mut kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    kids.sort_unstable();
    assert_eq!(
        kids,
        ["first", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"],
        "a concurrent run lost a key"
    );
    let leftovers: Vec<_> = std::fs::read_dir(env.path("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tok-key-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The CLI says what went wrong, in one line, and how to fix it.
#[test]
fn cli_says_what_went_wrong() {
    let env = Env::new();
    std::fs::write(env.path("raw.key"), format!("{SECRET_B64}\n")).unwrap();
    let out = env.run(&["sign", "--key", "raw.key", "--sub", "a"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("not a JWK or JWK Set"),
        "{}",
        stderr(&out)
    );

    let out = env
        .tok()
        .args(["sign", "--sub", "a"])
        .env("TOK_KEY", "")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("TOK_KEY is empty"),
        "{}",
        stderr(&out)
    );

    for (claim, flag) in [
        ("exp=5", "--ttl"),
        ("sub=x", "--sub"),
        ("aud=y", "--aud"),
        ("jti=z", "--jti"),
    ] {
        let out = env.run(&["sign", "--key", "key.json", "--claim", claim]);
        assert_eq!(out.status.code(), Some(2), "{claim}");
        assert!(stderr(&out).contains(flag), "{claim}: {}", stderr(&out));
    }
    let out = env
        .tok()
        .args([
            "refresh",
            "issue",
            "--key",
            "key.json",
            "--sub",
            "a",
            "--store",
            "sqlite:t.db",
            "--claim",
            "sid=x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    for args in [
        &["--help"][..],
        &["refresh", "--help"],
        &["sign", "--help"],
        &["inspect", "--help"],
    ] {
        let out = env.run(args);
        let help = stdout(&out);
        assert!(help.contains("Examples:"), "{args:?}");
        assert!(!help.contains("\\\""), "{args:?}: a literal \\\" in help");
    }

    // Something that is not Redis on the port: one clear line.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let _ = std::io::Write::write_all(&mut stream, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let out = env.run(&[
        "refresh",
        "issue",
        "--key",
        "key.json",
        "--sub",
        "a",
        "--store",
        &format!("redis://user:S3cret@127.0.0.1:{port}?timeout_ms=500"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("not a Redis server at 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("S3cret"));
}

/// A negative duration is named as such, not read as another flag.
#[test]
fn negative_ttl_says_durations_are_positive() {
    let out = Command::cargo_bin("tok")
        .unwrap()
        .env("TOK_KEY", "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc")
        .args(["sign", "--sub", "a", "--ttl", "-5m"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("durations are positive"), "{err}");
}
