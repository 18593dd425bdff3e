//! Sessions across processes: `tok refresh` from the shell, 8 OS processes racing on one
//! SQLite file, and a rotating process SIGKILLed at random moments.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command as Std, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

const SECRET_B64: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc"; // 32 bytes of 7

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> String {
        self.dir.path().join("tok.db").display().to_string()
    }
    fn store(&self) -> String {
        format!("sqlite:{}", self.db())
    }
    fn tok(&self) -> Command {
        let mut c = Command::cargo_bin("tok").unwrap();
        c.env("TOK_KEY", SECRET_B64)
            .env("TOK_STORE", self.store())
            .env("NO_COLOR", "1");
        c
    }
    /// Runs `tok ARGS` with the test key and store.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.tok().args(args).output().unwrap()
    }

    fn issue(&self, sub: &str) -> Value {
        let out = self
            .tok()
            .args(["refresh", "issue", "--sub", sub])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", err(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The stderr of a finished `tok`, as text.
fn err(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_owned()
}

#[test]
fn refresh_commands_from_the_shell() {
    let env = Env::new();
    let pair = env.issue("alice");
    assert_eq!(pair["token_type"], "Bearer");
    let r1 = field(&pair, "refresh_token");
    let a1 = field(&pair, "access_token");

    let out = env.run(&["verify", "--store", &env.store(), &a1]);
    assert_eq!(out.status.code(), Some(0));
    let out = env
        .tok()
        .args(["refresh", "rotate"])
        .write_stdin(r1.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r2 = field(
        &serde_json::from_slice(&out.stdout).unwrap(),
        "refresh_token",
    );

    // Replay: refresh-reused, and the whole session is gone, online checks included.
    let out = env.run(&["refresh", "rotate", &r1]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).starts_with("tok: rejected: refresh-reused: "));
    let out = env.run(&["refresh", "rotate", &r2]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    let out = env.run(&["verify", "--store", &env.store(), &a1]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    // Offline, the signature alone still verifies: revocation needs --store.
    let out = env.run(&["verify", &a1]);
    assert_eq!(out.status.code(), Some(0));

    // Access-token revocation by jti.
    let bob = env.issue("bob");
    let out = env.run(&["revoke", &field(&bob, "access_token")]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let out = env.run(&[
        "verify",
        "--store",
        &env.store(),
        &field(&bob, "access_token"),
    ]);
    assert!(err(&out).starts_with("tok: rejected: revoked: the access token"));
    let out = env.run(&["refresh", "rotate", &field(&bob, "refresh_token")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "revoking one access token leaves the session"
    );

    // Revoke by token and by subject; purge.
    let carol = env.issue("carol");
    let out = env
        .tok()
        .args(["refresh", "revoke"])
        .write_stdin(field(&carol, "refresh_token"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = env.run(&["refresh", "rotate", &field(&carol, "refresh_token")]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    env.issue("dave");
    env.issue("dave");
    let out = env.run(&["refresh", "revoke", "--subject", "dave"]);
    assert!(err(&out).contains("revoked 2 live session(s)"));
    assert_eq!(env.run(&["refresh", "purge"]).status.code(), Some(0));

    // Bad input: malformed token (1), unknown token (1), unreachable store (3), bad grace (2).
    let out = env.run(&["refresh", "rotate", "nonsense"]);
    assert!(err(&out).starts_with("tok: rejected: malformed: "));
    let unknown = format!(
        "{}.{}",
        field(&pair, "refresh_token").split('.').next().unwrap(),
        SECRET_B64
    );
    let out = env.run(&["refresh", "rotate", &unknown]);
    assert!(err(&out).starts_with("tok: rejected: refresh-unknown: "));
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        "sqlite:/nonexistent/dir/x.db",
        &r2,
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = env.run(&["refresh", "rotate", "--store", "bogus:x", &r2]);
    assert_eq!(out.status.code(), Some(3));
    let out = env.run(&["refresh", "rotate", "--grace", "10m", &r2]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fingerprint_and_privilege_change_from_the_shell() {
    let env = Env::new();
    let out = env
        .tok()
        .args(["refresh", "issue", "--sub", "a", "--fingerprint-env", "FP"])
        .env("FP", "cookie-1")
        .output()
        .unwrap();
    let pair: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = env
        .tok()
        .args([
            "refresh",
            "rotate",
            "--fingerprint-env",
            "FP",
            "--claim",
            "role=admin",
            &field(&pair, "refresh_token"),
        ])
        .env("FP", "cookie-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let next: Value = serde_json::from_slice(&out.stdout).unwrap();
    let claims = tok::insecure::decode_unverified(&field(&next, "access_token"), 8192)
        .unwrap()
        .claims;
    assert_eq!(claims["role"], "admin");
    let out = env
        .tok()
        .args([
            "refresh",
            "rotate",
            "--fingerprint-env",
            "FP",
            &field(&next, "refresh_token"),
        ])
        .env("FP", "cookie-2")
        .output()
        .unwrap();
    assert!(err(&out).starts_with("tok: rejected: fingerprint-mismatch: "));
}

/// Refresh tokens are base64url and one in 64 begins with `-`: such a token is a token on
/// the command line, never a flag (this once made the 8-process test flaky).
#[test]
fn refresh_tokens_beginning_with_a_dash() {
    let env = Env::new();
    let mut pair = env.issue("alice");
    while !field(&pair, "refresh_token").starts_with('-') {
        pair = env.issue("alice");
    }
    let token = field(&pair, "refresh_token");
    let out = env.run(&["refresh", "rotate", &token]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let next = field(
        &serde_json::from_slice(&out.stdout).unwrap(),
        "refresh_token",
    );
    let out = env.run(&["refresh", "revoke", &token]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let out = env.run(&["refresh", "rotate", &next]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
}

/// 8 OS processes rotate the same token on one SQLite file: exactly one wins each round.
#[test]
fn eight_processes_one_winner() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("tok");
    for round in 0..12 {
        let token = field(&env.issue("alice"), "refresh_token");
        let children: Vec<_> = (0..8)
            .map(|_| {
                Std::new(&bin)
                    .args(["refresh", "rotate", &token])
                    .env("TOK_KEY", SECRET_B64)
                    .env("TOK_STORE", env.store())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut winners = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            match out.status.code() {
                Some(0) => winners += 1,
                Some(1) => {
                    let err = err(&out);
                    assert!(
                        err.contains("refresh-reused") || err.contains("rejected: revoked"),
                        "round {round}: {err}"
                    );
                }
                other => panic!("round {round}: exit {other:?}: {}", err(&out)),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

fn rotate_loop_bin() -> std::path::PathBuf {
    // target/debug/deps/cli_refresh-… → target/debug/examples/rotate_loop
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("rotate_loop")
}

/// A child rotating in a loop is SIGKILLed at random moments, many times. After each kill
/// the file is intact, every rotation the child reported is stored, and at most one
/// unreported rotation committed after the last reported one.
#[cfg(unix)]
#[test]
fn sigkill_during_rotation_loses_nothing_reported() {
    let env = Env::new();
    let bin = rotate_loop_bin();
    assert!(
        bin.exists(),
        "{} is missing: the full `cargo test --all-features` builds examples (or run `cargo build --examples --all-features`)",
        bin.display()
    );
    let mut token = field(&env.issue("alice"), "refresh_token");
    let mut seed = 0x9e37_79b9_u64;
    let mut kills = 0;
    let mut total_reported = 0;
    while kills < 25 {
        let family = token.split('.').next().unwrap().to_owned();
        let before = family_state(&env.db(), &family).0;
        let mut child = Std::new(&bin)
            .arg(env.db())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
        let stdout = child.stdout.take().unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(5 + (seed >> 33) % 120);
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        let start = Instant::now();
        while start.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let reported = reader.join().unwrap();
        total_reported += reported.len();

        let conn = rusqlite::Connection::open(env.db()).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "kill {kills}");
        let (generation, current) = family_state(&env.db(), &family);
        let n = reported.len() as u64;
        assert!(
            generation == before + n || generation == before + n + 1,
            "kill {kills}: generation {generation}, before {before}, reported {n}"
        );
        for t in &reported {
            let hash = tok::refresh::token::hash(t.split_once('.').unwrap().1.as_bytes());
            let stored: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM tok_tokens WHERE hash = ?1)",
                    [&hash[..]],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(stored, "kill {kills}: a reported rotation is missing");
        }
        let last = reported.last().cloned().unwrap_or(token.clone());
        let last_hash = tok::refresh::token::hash(last.split_once('.').unwrap().1.as_bytes());
        if generation == before + n {
            assert_eq!(
                current, last_hash,
                "kill {kills}: the last reported token must be the live one"
            );
            token = last;
        } else {
            // Killed between commit and print: the chain's newest secret died with the
            // child. Start a new family.
            token = field(&env.issue("alice"), "refresh_token");
        }
    }
    assert!(
        total_reported > 25,
        "the child rotated only {total_reported} times in all"
    );
}

fn family_state(db: &str, family: &str) -> (u64, [u8; 32]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT generation, current_hash FROM tok_families WHERE id = ?1",
        [family],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, Vec<u8>>(1)?.try_into().unwrap(),
            ))
        },
    )
    .unwrap()
}

/// The CLI pointed at a real Redis: a session round trip, and a clear exit 3 when Redis is
/// unreachable.
#[test]
fn cli_with_redis() {
    let redis = common::redis_server::RedisServer::start();
    let url = format!("{}?prefix=cli", redis.url());
    let env = Env::new();
    let out = env.run(&["refresh", "issue", "--store", &url, "--sub", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let pair: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        &url,
        &field(&pair, "refresh_token"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        &url,
        &field(&pair, "refresh_token"),
    ]);
    assert!(err(&out).starts_with("tok: rejected: refresh-reused: "));
    let out = env.run(&["verify", "--store", &url, &field(&pair, "access_token")]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    assert!(
        redis.cli(&["KEYS", "cli:*"]).contains("cli:{"),
        "keys carry the prefix and hash tag"
    );

    drop(redis);
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        &format!("{url}&timeout_ms=200"),
        &field(&pair, "refresh_token"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", err(&out));
    assert_eq!(err(&out).lines().count(), 1);
}
