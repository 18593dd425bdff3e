//! The attack corpus and random bytes thrown at `tok verify` and `tok inspect`, as an
//! argument and on stdin: every answer is an exit code with one error line, never a panic
//! (exit 101).

mod common;

use std::process::Output;

use assert_cmd::Command;
use common::attacks::{self, Against};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let k = tok::base64url::encode(&common::SECRET);
        std::fs::write(
            dir.path().join("key.json"),
            format!(r#"{{"kty":"oct","k":"{k}"}}"#),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("set.json"),
            &*attacks::key_set().export_jwks(),
        )
        .unwrap();
        Self { dir }
    }

    fn tok(&self) -> Command {
        let mut cmd = Command::cargo_bin("tok").unwrap();
        cmd.current_dir(self.dir.path())
            .env_remove("TOK_KEY")
            .env("NO_COLOR", "1");
        cmd
    }
}

/// No panic, a known exit code, and on failure exactly one `tok: ...` line.
fn assert_clean(out: &Output, what: &str) -> i32 {
    let code = out.status.code().expect("exited, not killed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(code, 101, "{what}: panicked: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    if code != 0 {
        assert_eq!(
            err.lines().count(),
            1,
            "{what}: one error line, got {err:?}"
        );
        assert!(err.starts_with("tok: "), "{what}: {err:?}");
    }
    code
}

#[test]
fn verify_gives_each_attack_its_code_by_argument_and_stdin() {
    let files = Files::new();
    let now = attacks::now().as_secs().to_string();
    for attack in attacks::table() {
        let key = match attack.against {
            Against::Key => "key.json",
            Against::Set => "set.json",
        };
        let expected = format!("tok: rejected: {}: ", attack.expected.code());
        let args = ["verify", "--key", key, "--at", &now];
        // The CLI trims whitespace around the token (from argv or stdin), by design, so the
        // library's whitespace attacks verify there; everything else must be rejected with
        // exactly the library's code.
        // Nothing left after trimming is no token at all: a usage error, not a rejection.
        let trimmed = attack.token.trim() != attack.token;
        let nothing = attack.token.trim().is_empty();
        let check = |out: &Output, how: &str| {
            let code = assert_clean(out, attack.name);
            let err = String::from_utf8_lossy(&out.stderr);
            if nothing {
                assert_eq!(code, 2, "{} ({how})", attack.name);
                assert!(
                    err.contains("no token given"),
                    "{} ({how}): {err}",
                    attack.name
                );
            } else if !trimmed {
                assert_eq!(code, 1, "{} ({how})", attack.name);
                assert!(err.starts_with(&expected), "{} ({how}): {err}", attack.name);
            }
        };
        // argv cannot carry NUL bytes; those attacks go through stdin only.
        if !attack.token.contains('\0') && !attack.token.is_empty() {
            check(
                &files.tok().args(args).arg(&attack.token).output().unwrap(),
                "argv",
            );
        }
        check(
            &files
                .tok()
                .args(args)
                .write_stdin(attack.token.clone())
                .output()
                .unwrap(),
            "stdin",
        );
    }
}

#[test]
fn inspect_survives_every_attack() {
    let files = Files::new();
    for attack in attacks::table() {
        if !attack.token.contains('\0') && !attack.token.is_empty() {
            let out = files
                .tok()
                .args(["inspect", &attack.token])
                .output()
                .unwrap();
            assert!(
                matches!(assert_clean(&out, attack.name), 0 | 1),
                "{}",
                attack.name
            );
        }
        let out = files
            .tok()
            .args(["inspect", "--json"])
            .write_stdin(attack.token.clone())
            .output()
            .unwrap();
        let no_token = attack.token.trim().is_empty();
        assert!(
            matches!(
                (assert_clean(&out, attack.name), no_token),
                (0 | 1, false) | (2, true)
            ),
            "{}",
            attack.name
        );
    }
}

#[test]
fn random_bytes_are_rejected_cleanly() {
    let files = Files::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..60 {
        let len = (next() % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        for cmd in ["verify", "inspect"] {
            let mut c = files.tok();
            c.arg(cmd);
            if cmd == "verify" {
                c.args(["--key", "key.json"]);
            }
            let out = c.write_stdin(bytes.clone()).output().unwrap();
            let code = assert_clean(&out, &format!("{cmd} stdin round {round}"));
            assert!(
                code == 1 || (cmd == "inspect" && code == 0),
                "{cmd} round {round}: exit {code}"
            );

            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                let arg: Vec<u8> = bytes
                    .iter()
                    .copied()
                    .filter(|&b| b != 0 && b != b'-')
                    .collect();
                if arg.is_empty() {
                    continue;
                }
                let mut c = files.tok();
                c.arg(cmd);
                if cmd == "verify" {
                    c.args(["--key", "key.json"]);
                }
                let out = c.arg(std::ffi::OsStr::from_bytes(&arg)).output().unwrap();
                let code = assert_clean(&out, &format!("{cmd} argv round {round}"));
                assert!(
                    code == 1 || (cmd == "inspect" && code == 0),
                    "{cmd} argv round {round}: exit {code}"
                );
            }
        }
    }
}
