//! The `tok` command at its edges: one rule for duplicate members in what it signs, key
//! rotation of a kid-less key file, a JSON verdict for every rejection under `--json`, no
//! secret in any message about a key file, exit codes a token cannot choose, and details
//! that do not grow with the attacker's text.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;

const SECRET: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).unwrap();
        self.path(name).display().to_string()
    }

    fn tok(&self) -> Command {
        let mut cmd = Command::cargo_bin("tok").unwrap();
        cmd.current_dir(self.dir.path())
            .env_remove("TOK_KEY")
            .env_remove("TOK_STORE")
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.tok().args(args).write_stdin(stdin).output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited")
}

/// A token whose header and payload are exactly these, signed with `secret_b64`.
fn forge(secret_b64: &str, header: &str, payload: &str) -> String {
    let key =
        tok::HmacKey::from_bytes(&tok::base64url::decode(secret_b64.as_bytes()).unwrap()).unwrap();
    let input = format!(
        "{}.{}",
        tok::base64url::encode(header.as_bytes()),
        tok::base64url::encode(payload.as_bytes())
    );
    let tag = key.mac(input.as_bytes());
    format!("{input}.{}", tok::base64url::encode(&tag))
}

/// `tok sign` refuses a repeated member, from a file, stdin or a `--claim` value, at any
/// depth, where it used to sign the last of the two.
#[test]
fn sign_refuses_duplicate_members() {
    let env = Env::new();
    let key = env.write("key.json", &format!(r#"{{"kty":"oct","k":"{SECRET}"}}"#));
    let file = env.write("claims.json", r#"{"role":"user","role":"admin"}"#);
    let cases: [(Vec<&str>, &[u8]); 4] = [
        (vec!["--claims", &file], b""),
        (vec!["--claims", "-"], br#"{"role":"user","role":"admin"}"#),
        (vec!["--claim", r#"perm={"admin":false,"admin":true}"#], b""),
        (vec!["--claim", r#"perm=[{"a":1,"\u0061":2}]"#], b""),
    ];
    for (args, stdin) in cases {
        let mut all = vec!["sign", "--key", &key];
        all.extend(&args);
        let out = env.run(&all, stdin);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).is_empty(), "{args:?}: nothing signed");
        assert!(
            text(&out.stderr).contains("duplicate member name"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // Without a repeat, nested JSON values are still signed as JSON.
    let out = env.run(
        &["sign", "--key", &key, "--claim", r#"perm={"admin":false}"#],
        b"",
    );
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
}

/// A key file without `kid`, a token signed with it, then `tok keygen --add-to`: the old
/// token still verifies (README: older keys still verify), and so does a new one.
#[test]
fn adding_a_key_to_a_kid_less_file_keeps_its_tokens() {
    let env = Env::new();
    let key = env.write("key.json", &format!(r#"{{"kty":"oct","k":"{SECRET}"}}"#));
    let out = env.run(&["sign", "--key", &key, "--sub", "old"], b"");
    let old = text(&out.stdout).trim().to_owned();
    assert_eq!(code(&env.run(&["keygen", "--add-to", &key], b"")), 0);
    let out = env.run(&["sign", "--key", &key, "--sub", "new"], b"");
    let new = text(&out.stdout).trim().to_owned();
    for (token, sub) in [(&old, "old"), (&new, "new")] {
        let out = env.run(&["verify", "--key", &key, token], b"");
        assert_eq!(code(&out), 0, "{sub}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(&format!(r#""sub":"{sub}""#)));
    }
}

/// Under `--json`, every rejection is a JSON verdict on stdout and nothing on stderr,
/// including input refused before it is parsed (too long, not UTF-8) on stdin.
#[test]
fn verify_json_gives_a_verdict_for_every_rejection() {
    let env = Env::new();
    let key = env.write("key.json", &format!(r#"{{"kty":"oct","k":"{SECRET}"}}"#));
    let inputs: [(&[u8], &str); 3] = [
        (&[b'a'; 20_000], "too-large"),
        (b"\xff\xfe.a.b", "malformed"),
        (b"a.b", "malformed"),
    ];
    for (stdin, expected) in inputs {
        let out = env.run(&["verify", "--key", &key, "--json"], stdin);
        assert_eq!(code(&out), 1, "{expected}");
        assert!(out.stderr.is_empty(), "{expected}: {}", text(&out.stderr));
        let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(verdict["valid"], false);
        assert_eq!(verdict["error"], expected);
    }
}

/// A malformed key file or `TOK_KEY` says what is wrong without the secret, for
/// `verify`, `sign` and `keygen --add-to` alike.
#[test]
fn key_errors_never_print_the_secret() {
    let env = Env::new();
    let documents = [
        format!(r#"{{"keys":["{SECRET}"]}}"#),
        format!(r#"{{"kty":"oct","k":["{SECRET}"]}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","key_ops":"{SECRET}"}}"#),
        format!(r#"{{"kty":"oct","k":"{SECRET}","key_ops":[{{"{SECRET}":1}}]}}"#),
    ];
    let fragment = &SECRET[..12];
    for doc in &documents {
        let file = env.write("bad.json", doc);
        let runs = [
            env.tok().args(["verify", "--key", &file, "a.b.c"]).output(),
            env.tok().args(["sign", "--key", &file]).output(),
            env.tok().args(["keygen", "--add-to", &file]).output(),
            env.tok()
                .env("TOK_KEY", doc)
                .args(["verify", "a.b.c"])
                .output(),
            env.tok().env("TOK_KEY", doc).args(["sign"]).output(),
        ];
        for out in runs.map(Result::unwrap) {
            let said = text(&out.stdout) + &text(&out.stderr);
            assert_eq!(code(&out), 3, "{doc}: {said}");
            assert!(!said.contains(fragment), "{doc}: {said}");
            assert!(said.contains("not valid"), "{doc}: {said}");
        }
    }
}

/// A forged token naming a key that may only sign is rejected (exit 1, a JSON verdict),
/// like one naming no key; a set in which no key may verify is a key error (exit 3)
/// before any token is read, whatever the token.
#[test]
fn a_token_cannot_choose_the_exit_code() {
    let env = Env::new();
    let out = env.run(&["keygen"], b"");
    let verifier = text(&out.stdout);
    let sign_only = format!(r#"{{"kty":"oct","kid":"s","k":"{SECRET}","key_ops":["sign"]}}"#);
    let set = env.write(
        "set.json",
        &format!(r#"{{"keys":[{sign_only},{}]}}"#, verifier.trim()),
    );
    let forged = forge(
        SECRET,
        r#"{"alg":"HS256","kid":"s"}"#,
        r#"{"exp":1999999999}"#,
    );
    let out = env.run(&["verify", "--key", &set, "--json", &forged], b"");
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["error"], "unknown-key");

    let useless = env.write("sign-only.json", &sign_only);
    for token in [forged.as_str(), "not a token", "a.b.c"] {
        let out = env.run(&["verify", "--key", &useless, "--json", token], b"");
        assert_eq!(code(&out), 3, "{token}");
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).contains("forbid verifying"));
    }
}

/// An attacker's 6,000-character claim value is cut in the rejection, on stderr and in
/// the JSON verdict.
#[test]
fn long_attacker_text_is_cut_in_rejections() {
    let env = Env::new();
    let key = env.write("key.json", &format!(r#"{{"kty":"oct","k":"{SECRET}"}}"#));
    let token = forge(
        SECRET,
        r#"{"alg":"HS256"}"#,
        &format!(r#"{{"exp":"{}"}}"#, "x".repeat(6000)),
    );
    let out = env.run(&["verify", "--key", &key, &token], b"");
    assert_eq!(code(&out), 1);
    assert!(out.stderr.len() < 300, "{} bytes", out.stderr.len());
    let out = env.run(&["verify", "--key", &key, "--json", &token], b"");
    assert_eq!(code(&out), 1);
    assert!(out.stdout.len() < 300, "{} bytes", out.stdout.len());
}
