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

    /// Runs `tok ARGS` with `input` on stdin (how refresh tokens are given).
    fn stdin(&self, args: &[&str], input: impl Into<String>) -> std::process::Output {
        self.tok()
            .args(args)
            .write_stdin(input.into())
            .output()
            .unwrap()
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
    let out = env.stdin(&["refresh", "rotate"], r1.clone());
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
    // TOK_STORE is in force for verify as for every command: revoked.
    let out = env.run(&["verify", &a1]);
    assert_eq!(out.status.code(), Some(1));
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    // Offline, on request, the signature alone still verifies.
    let out = env.run(&["verify", "--offline", &a1]);
    assert_eq!(out.status.code(), Some(0));
    let out = env
        .tok()
        .env_remove("TOK_STORE")
        .args(["verify", &a1])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A devices page from the shell: list a subject's sessions, end one of them.
    let laptop = env.issue("erin");
    let phone = env.issue("erin");
    let out = env.run(&["refresh", "list", "--subject", "erin"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let listed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = listed.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let (laptop_id, phone_id) = (
        field(&laptop, "access_token"),
        field(&phone, "access_token"),
    );
    let sid = |access: &str| -> String {
        let claims = tok::insecure::decode_unverified(access, 8192)
            .unwrap()
            .claims;
        claims["sid"].as_str().unwrap().to_owned()
    };
    assert_eq!(ids, [sid(&laptop_id), sid(&phone_id)]);
    let end = |subject: &str, id: &str| {
        env.run(&["refresh", "end", "--subject", subject, "--session", id])
    };
    assert_eq!(
        end("alice", &sid(&phone_id)).status.code(),
        Some(1),
        "another subject"
    );
    assert_eq!(end("erin", &sid(&phone_id)).status.code(), Some(0));
    assert_eq!(
        end("erin", &sid(&phone_id)).status.code(),
        Some(1),
        "already ended"
    );
    let out = env.run(&["verify", &phone_id]);
    assert!(
        err(&out).starts_with("tok: rejected: revoked: "),
        "{}",
        err(&out)
    );
    let out = env.run(&["refresh", "list", "--subject", "erin"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    // A token no family of this store minted: the message says where tok looked.
    let other = Env::new();
    let out = other.stdin(&["refresh", "rotate"], r2.clone());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err(&out).contains(&format!("looked in {}", other.store()))
            && err(&out).contains("another key"),
        "{}",
        err(&out)
    );
    // A missing key file is named as the key file.
    let out = env.run(&["refresh", "rotate", "--key", "nope.json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(err(&out).contains("key file nope.json"), "{}", err(&out));
    // memory: is refused by every command: each tok is a process of its own.
    for args in [
        &["verify", "--store", "memory:", &a1][..],
        &["refresh", "issue", "--store", "MEMORY:", "--sub", "a"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", err(&out));
        assert!(err(&out).contains("sqlite:PATH"), "{}", err(&out));
    }
    let out = env
        .tok()
        .env("TOK_STORE", "memory:")
        .args(["refresh", "issue", "--sub", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

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
    let out = env.stdin(&["refresh", "revoke"], field(&carol, "refresh_token"));
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert_eq!(
        err(&out).trim(),
        "tok: ended 1 live session (the token's session)"
    );
    let out = env.run(&["refresh", "rotate", &field(&carol, "refresh_token")]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    env.issue("dave");
    env.issue("dave");
    let out = env.run(&["refresh", "revoke", "--subject", "dave"]);
    assert_eq!(
        err(&out).trim(),
        "tok: ended 2 live sessions of subject \"dave\""
    );
    let out = env.run(&["refresh", "revoke", "--subject", "dave"]);
    assert_eq!(
        err(&out).trim(),
        "tok: ended no live session of subject \"dave\""
    );
    // An operator ends one session by id (`--session`, or its former name `--family`):
    // that session only, the subject's other session lives on.
    let (erin_phone, erin_laptop) = (env.issue("erin"), env.issue("erin"));
    let id = field(&erin_phone, "refresh_token")
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let out = env.run(&["refresh", "revoke", "--session", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert_eq!(
        err(&out).trim(),
        format!("tok: ended 1 live session (session {id})")
    );
    let out = env.run(&["refresh", "revoke", "--family", &id]);
    assert_eq!(
        err(&out).trim(),
        format!("tok: ended no live session (session {id})")
    );
    let out = env.run(&["refresh", "rotate", &field(&erin_phone, "refresh_token")]);
    assert!(err(&out).starts_with("tok: rejected: revoked: "));
    let out = env.run(&["refresh", "rotate", &field(&erin_laptop, "refresh_token")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the other session lives: {}",
        err(&out)
    );
    let out = env.run(&["refresh", "purge"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        err(&out).starts_with("tok: purged ") && err(&out).trim_end().ends_with("expired records")
    );

    // Bad input: malformed token (1), unknown token (1), unusable store (3), unknown store
    // scheme (2), bad grace (2), no token at all (2).
    let out = env.run(&["refresh", "rotate", "nonsense"]);
    assert!(err(&out).starts_with("tok: rejected: malformed: "));
    let unknown = format!(
        "{}.0.{}",
        field(&pair, "refresh_token").split('.').next().unwrap(),
        SECRET_B64
    );
    let out = env.run(&["refresh", "rotate", &unknown]);
    assert!(err(&out).starts_with("tok: rejected: refresh-unknown: "));
    let blocker = env.dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        &format!("sqlite:{}/x.db", blocker.display()),
        &r2,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("a-file"), "{}", err(&out));
    let out = env.run(&["refresh", "rotate", "--store", "bogus:x", &r2]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    let out = env.run(&["refresh", "rotate", "--store", "mysql://x", &r2]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    // The hint names what the CLI takes: not memory:, which it refuses.
    assert!(err(&out).contains("sqlite:PATH"), "{}", err(&out));
    assert!(!err(&out).contains("memory"), "{}", err(&out));
    // A PostgreSQL server that is not there: a store error saying why.
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        "postgres://tok@127.0.0.1:1/x?timeout_ms=500",
        &r2,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", err(&out));
    assert!(err(&out).contains("127.0.0.1:1/x"), "{}", err(&out));
    assert!(err(&out).contains("refused"), "{}", err(&out));
    let out = env.run(&["refresh", "rotate", "--grace", "10m", &r2]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.stdin(&["refresh", "rotate"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("no token given"), "{}", err(&out));
}

/// The family id is public (every access token's `sid`): a token made up around it must
/// not log anyone out. Only a token the family minted revokes it.
#[test]
fn logout_with_a_made_up_token_changes_nothing() {
    let env = Env::new();
    let victim = env.issue("victim");
    let sid = tok::insecure::decode_unverified(&field(&victim, "access_token"), 8192)
        .unwrap()
        .claims["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let random_tag = tok::base64url::encode(&[0x5a; 32]);
    for forged in [
        format!("{sid}.0.{random_tag}"),
        format!("{sid}.1.{random_tag}"),
    ] {
        let out = env.stdin(&["refresh", "revoke"], forged.clone());
        assert_eq!(out.status.code(), Some(1), "{forged}: {}", err(&out));
        assert!(
            err(&out).starts_with("tok: rejected: refresh-unknown: "),
            "{}",
            err(&out)
        );
    }
    // The victim's session is untouched: its token still rotates.
    let out = env.stdin(&["refresh", "rotate"], field(&victim, "refresh_token"));
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    // The retired token now logs out as reuse: exit 1, and the session is gone.
    let out = env.stdin(&["refresh", "revoke"], field(&victim, "refresh_token"));
    assert!(
        err(&out).starts_with("tok: rejected: refresh-reused: "),
        "{}",
        err(&out)
    );
    let out = env.run(&[
        "verify",
        "--store",
        &env.store(),
        &field(&victim, "access_token"),
    ]);
    assert!(
        err(&out).starts_with("tok: rejected: revoked: "),
        "{}",
        err(&out)
    );
}

/// `tok revoke` then an online check with a generous leeway after `exp`: never accepted.
#[test]
fn a_revoked_access_token_stays_refused_inside_the_leeway() {
    let env = Env::new();
    let out = env.run(&["refresh", "issue", "--sub", "a", "--access-ttl", "60s"]);
    let pair: Value = serde_json::from_slice(&out.stdout).unwrap();
    let access = field(&pair, "access_token");
    assert_eq!(env.run(&["revoke", &access]).status.code(), Some(0));
    let exp = tok::insecure::decode_unverified(&access, 8192)
        .unwrap()
        .claims["exp"]
        .as_u64()
        .unwrap();
    for (at, leeway, code) in [
        (exp + 5, "60s", "revoked"),
        (exp + 59, "1h", "revoked"),
        (exp + 3600, "2h", "expired"),
    ] {
        let at = tok::NumericDate::from_secs(at).unwrap().to_rfc3339();
        let out = env.run(&[
            "verify",
            "--store",
            &env.store(),
            "--leeway",
            leeway,
            "--at",
            &at,
            &access,
        ]);
        assert_eq!(out.status.code(), Some(1), "at {at}: {}", err(&out));
        assert!(
            err(&out).starts_with(&format!("tok: rejected: {code}: ")),
            "at {at}: {}",
            err(&out)
        );
    }
}

/// Store files: an explicit path whose folder is missing is a usage error naming the
/// folder, and creates nothing (a typo must not grow a tree of folders); tok's default
/// location is created 0700; the database and its -wal/-shm are 0600; `sqlite::memory:`
/// and `sqlite:` are refused (each connection would get its own database); credentials
/// in a store URL never reach stderr.
#[cfg(unix)]
#[test]
fn store_files_are_private_and_urls_redacted() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let typo = env.dir.path().join("nonexistent-dir/x");
    let store = format!("sqlite:{}/tok.db", typo.display());
    let out = env.run(&["refresh", "issue", "--store", &store, "--sub", "a"]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(
        err(&out).contains(&typo.display().to_string()),
        "{}",
        err(&out)
    );
    assert!(
        !err(&out).contains("  "),
        "one line, plainly spaced: {}",
        err(&out)
    );
    assert!(!env.dir.path().join("nonexistent-dir").exists());
    // The default location: created, private.
    let data = env.dir.path().join("data");
    let out = env
        .tok()
        .env_remove("TOK_STORE")
        .env("XDG_DATA_HOME", &data)
        .args(["refresh", "issue", "--sub", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let dir = data.join("tok");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["tok.db", "tok.db-wal", "tok.db-shm"] {
        let path = dir.join(name);
        if name == "tok.db" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
    for url in [
        "sqlite::memory:",
        "sqlite:",
        "sqlite:file::memory:?cache=shared",
    ] {
        let out = env.run(&["refresh", "issue", "--store", url, "--sub", "a"]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", err(&out));
        assert!(err(&out).contains("private database"), "{}", err(&out));
    }
    for url in [
        "REDIS://default:S3cretPass@127.0.0.1:1?timeout_ms=200",
        "redis://:S3cretPass@127.0.0.1:1/0?timeout_ms=200",
        "postgres://admin:S3cretPass@db/x",
        // A password with an @, and as a parameter the client cannot parse the URL with.
        "postgres://admin:S3cretPass@x@127.0.0.1:1/x?connect_timeout=1",
        "postgres://tok@127.0.0.1:1/x?password=S3cretPass&sslmode=bogus",
        "postgres://tok@127.0.0.1:1/x?sslmode=disable&PASSWORD=S3cretPass",
        "postgresql://tok@127.0.0.1:1/x?pass%77ord=S3cretPass",
    ] {
        let out = env.run(&["refresh", "issue", "--store", url, "--sub", "a"]);
        assert_ne!(out.status.code(), Some(0), "{url}");
        assert!(!err(&out).contains("S3cretPass"), "{}", err(&out));
        assert_eq!(err(&out).lines().count(), 1, "{}", err(&out));
    }
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
    assert!(
        next.starts_with('-'),
        "the family id leads every token of the family"
    );
    let out = env.run(&["refresh", "revoke", &next]);
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

/// Runs `rotate_loop` on `tokens` (one chain each) for `delay`, then SIGKILLs it, and
/// returns the lines it reported. The child must have been running until the kill, with
/// nothing on stderr: one that stopped on an error would make every later check pass
/// vacuously.
#[cfg(unix)]
fn run_and_kill(env: &Env, tokens: &[String], delay: Duration, kill: usize) -> Vec<String> {
    let mut child = Std::new(common::example_bin("rotate_loop"))
        .arg(env.db())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for t in tokens {
            writeln!(stdin, "{t}").unwrap();
        }
    }
    let stdout = child.stdout.take().unwrap();
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
    let status = child.wait().unwrap();
    let mut complaint = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut complaint).unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "kill {kill}: the child ended by itself ({status}): {complaint}"
    );
    assert_eq!(complaint, "", "kill {kill}");
    reader.join().unwrap()
}

/// A child rotating in a loop is SIGKILLed at random moments, many times. After each kill
/// the file is intact, every rotation the child reported is stored, and at most one
/// unreported rotation committed after the last reported one.
#[cfg(unix)]
#[test]
fn sigkill_during_rotation_loses_nothing_reported() {
    let env = Env::new();
    let mut token = field(&env.issue("alice"), "refresh_token");
    let mut seed = 0x9e37_79b9_u64;
    let mut kills = 0;
    let mut total_reported = 0;
    while kills < 25 {
        let family = token.split('.').next().unwrap().to_owned();
        let before = family_state(&env.db(), &family).0;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(5 + (seed >> 33) % 120);
        kills += 1;
        let reported: Vec<String> = run_and_kill(&env, std::slice::from_ref(&token), delay, kills)
            .into_iter()
            .map(|line| line.split_once(' ').unwrap().1.to_owned())
            .collect();
        total_reported += reported.len();

        let conn = rusqlite::Connection::open(env.db()).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "kill {kills}");
        let (generation, revoked) = family_state(&env.db(), &family);
        assert!(!revoked, "kill {kills}: a crash revoked the family");
        let n = reported.len() as u64;
        assert!(
            generation == before + n || generation == before + n + 1,
            "kill {kills}: generation {generation}, before {before}, reported {n}"
        );
        // Every reported token is of a generation the store reached, in order.
        for (i, t) in reported.iter().enumerate() {
            let g: u64 = t.split('.').nth(1).unwrap().parse().unwrap();
            assert_eq!(g, before + i as u64 + 1, "kill {kills}: reported token {i}");
        }
        if generation == before + n {
            // The last reported token is the live one: continue the chain with it.
            token = reported.last().cloned().unwrap_or(token);
        } else {
            // Killed between commit and print: the chain's newest token died with the
            // child. Start a new family.
            token = field(&env.issue("alice"), "refresh_token");
        }
    }
    assert!(
        total_reported > 25,
        "the child rotated only {total_reported} times in all"
    );
    // The file is in WAL mode (persistent in the file). A process kill cannot tell
    // synchronous=FULL from NORMAL: the store's unit tests assert the level each
    // connection runs with.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

/// Sixteen chains rotate at once in one process, so the store's group commit puts their
/// rotations in shared transactions; the process is SIGKILLed mid-batch, many times.
/// After each kill: the file is intact, every reported rotation is stored, no family is
/// ahead of its last report by more than the one batch that committed unreported, and
/// none is revoked or half-applied.
#[cfg(unix)]
#[test]
fn sigkill_mid_batch_keeps_every_reported_rotation() {
    let env = Env::new();
    let mut tokens: Vec<String> = (0..16)
        .map(|_| field(&env.issue("alice"), "refresh_token"))
        .collect();
    let mut seed = 0x2545_f491_u64;
    let mut total = 0;
    for kill in 0..12 {
        let families: Vec<String> = tokens
            .iter()
            .map(|t| t.split('.').next().unwrap().to_owned())
            .collect();
        let before: Vec<u64> = families
            .iter()
            .map(|f| family_state(&env.db(), f).0)
            .collect();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis(40 + (seed >> 33) % 150);
        let lines = run_and_kill(&env, &tokens, delay, kill);
        let mut last: Vec<Option<String>> = vec![None; 16];
        let mut reported = [0u64; 16];
        for line in lines {
            let (index, token) = line.split_once(' ').unwrap();
            let i: usize = index.parse().unwrap();
            reported[i] += 1;
            last[i] = Some(token.to_owned());
        }
        total += reported.iter().sum::<u64>();
        let conn = rusqlite::Connection::open(env.db()).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "kill {kill}");
        for i in 0..16 {
            let (generation, revoked) = family_state(&env.db(), &families[i]);
            assert!(!revoked, "kill {kill}: family {i} revoked");
            let want = before[i] + reported[i];
            assert!(
                generation == want || generation == want + 1,
                "kill {kill}: family {i} at {generation}, reported up to {want}"
            );
            if generation == want {
                if let Some(t) = last[i].take() {
                    tokens[i] = t;
                }
            } else {
                // Committed after the last report: that token died with the child.
                tokens[i] = field(&env.issue("alice"), "refresh_token");
            }
        }
    }
    assert!(total > 100, "only {total} rotations reported in all");
}

fn family_state(db: &str, family: &str) -> (u64, bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT generation, revoked_ms IS NOT NULL FROM tok_families WHERE id = ?1",
        [family],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?)),
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

/// The CLI pointed at a real PostgreSQL: a session round trip (issue, rotate, reuse,
/// verify, list, revoke, purge), and a clear exit 3 when the server is unreachable, with
/// the URL's password in no message.
#[cfg(feature = "postgres")]
#[test]
fn cli_with_postgres() {
    let mut server = common::postgres_server::PostgresServer::start(&[]);
    let url = server.url("postgres");
    let env = Env::new();
    let out = env.run(&[
        "refresh",
        "issue",
        "--store",
        &url,
        "--sub",
        "alice",
        "--label",
        "Work laptop",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let pair: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refresh = field(&pair, "refresh_token");
    let out = env.run(&["refresh", "rotate", "--store", &url, &refresh]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = env.run(&["verify", "--store", &url, &field(&rotated, "access_token")]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let out = env.run(&["refresh", "list", "--store", &url, "--subject", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let sid = tok::insecure::decode_unverified(&field(&pair, "access_token"), 8192)
        .unwrap()
        .claims["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["id"], sid.as_str(), "the session is listed");
    assert_eq!(listed["label"], "Work laptop", "with its label");
    let out = env.run(&["refresh", "rotate", "--store", &url, &refresh]);
    assert!(
        err(&out).starts_with("tok: rejected: refresh-reused: "),
        "{}",
        err(&out)
    );
    let out = env.run(&["verify", "--store", &url, &field(&rotated, "access_token")]);
    assert!(
        err(&out).starts_with("tok: rejected: revoked: "),
        "{}",
        err(&out)
    );
    assert_eq!(
        server
            .psql(
                "postgres",
                "SELECT count(*) FROM tok_families WHERE revoked_ms IS NOT NULL"
            )
            .trim(),
        "1",
        "the reuse revoked the family in the database"
    );
    let out = env.run(&["refresh", "purge", "--store", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    // A token of another store: the refresh-unknown hint names where tok looked, without a
    // password given as a parameter (this server trusts local connections and ignores it).
    let elsewhere = field(&env.issue("bob"), "refresh_token");
    let sep = if url.contains('?') { '&' } else { '?' };
    let with_param = format!("{url}{sep}password=S3cretPw");
    let out = env.run(&["refresh", "rotate", "--store", &with_param, &elsewhere]);
    assert!(
        err(&out).starts_with("tok: rejected: refresh-unknown: ")
            && err(&out).contains("looked in"),
        "{}",
        err(&out)
    );
    assert!(!err(&out).contains("S3cretPw"), "{}", err(&out));

    server.kill();
    let port = server.port;
    let out = env.run(&[
        "refresh",
        "rotate",
        "--store",
        &format!("postgres://tok:S3cretPw@127.0.0.1:{port}/postgres?timeout_ms=300"),
        &field(&rotated, "refresh_token"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", err(&out));
    assert_eq!(err(&out).lines().count(), 1, "{}", err(&out));
    assert!(!err(&out).contains("S3cretPw"), "{}", err(&out));
}

/// `tok verify --store` is the same online check as `Sessions::verify_access`: a token
/// without `sid` (which no logout can end) is refused unless `--allow-no-sid` says so.
#[test]
fn verify_with_a_store_refuses_tokens_without_a_session() {
    let env = Env::new();
    env.issue("alice"); // creates the store
    let out = env.run(&["sign", "--sub", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = env.run(&["verify", &token]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "TOK_STORE makes it online: {}",
        err(&out)
    );
    assert!(
        err(&out).starts_with("tok: rejected: missing-claim: ") && err(&out).contains("sid"),
        "{}",
        err(&out)
    );
    let out = env.run(&["verify", "--allow-no-sid", &token]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    // Revoking the subject does not reach a sid-less token: that is what the flag accepts.
    let out = env.run(&["refresh", "revoke", "--subject", "alice"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let out = env.run(&["verify", &token]);
    assert_eq!(out.status.code(), Some(1), "{}", err(&out));
    let out = env.run(&["verify", "--offline", &token]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "offline checks the signature only"
    );
    let out = env.run(&["verify", "--offline", "--allow-no-sid", &token]);
    assert_eq!(out.status.code(), Some(2), "the flag means nothing offline");
}

/// A label with a bidi override or a zero-width character is refused by the CLI, as by
/// the library; nothing is stored.
#[test]
fn labels_with_format_characters_are_refused() {
    let env = Env::new();
    env.issue("alice");
    for label in ["invoice\u{202E}fdp.exe", "Work\u{200B}laptop", "a\u{7}"] {
        let out = env.run(&["refresh", "issue", "--sub", "bob", "--label", label]);
        assert_eq!(out.status.code(), Some(1), "{label:?}: {}", err(&out));
        assert!(err(&out).contains("U+"), "{}", err(&out));
    }
    let out = env.run(&["refresh", "list", "--subject", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A login's method, level and remember-me from the shell: `tok refresh issue` records
/// them, `tok inspect` shows when the user logged in, `tok verify` refuses a login older
/// than `--max-auth-age` or of another level.
#[test]
fn recent_login_from_the_shell() {
    let env = Env::new();
    let out = env.run(&[
        "refresh",
        "issue",
        "--sub",
        "alice",
        "--amr",
        "pwd",
        "--amr",
        "otp",
        "--acr",
        "loa2",
        "--not-remembered",
        "--unremembered-lifetime",
        "1h",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let pair: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        pair["refresh_expires_in"], 3600,
        "not remembered: the shorter life"
    );
    let access = field(&pair, "access_token");

    let out = env.run(&["inspect", "--json", &access]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["claims"]["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(shown["claims"]["acr"], "loa2");
    assert!(
        shown["times"]["auth_time"]["relative"]
            .as_str()
            .unwrap()
            .starts_with("logged in "),
        "{shown}"
    );
    let out = env.run(&["inspect", &access]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\n  auth_time "), "{text}");

    let ok = env.run(&["verify", "--max-auth-age", "1h", "--acr", "loa2", &access]);
    assert_eq!(ok.status.code(), Some(0), "{}", err(&ok));
    let later = (tok::NumericDate::now().as_secs() + 120).to_string();
    let old = env.run(&["verify", "--max-auth-age", "1m", "--at", &later, &access]);
    assert_eq!(old.status.code(), Some(1));
    assert!(
        err(&old)
            .starts_with("tok: rejected: insufficient-user-authentication: the user logged in 2m"),
        "{}",
        err(&old)
    );
    let level = env.run(&["verify", "--acr", "loa3", &access]);
    assert_eq!(level.status.code(), Some(1));
    assert!(
        err(&level).starts_with("tok: rejected: insufficient-user-authentication: "),
        "{}",
        err(&level)
    );
    // A name a token cannot carry is a usage error, and nothing is stored.
    let bad = env.run(&["refresh", "issue", "--sub", "bob", "--amr", "two words"]);
    assert_ne!(bad.status.code(), Some(0));
    let listed = env.run(&["refresh", "list", "--subject", "bob"]);
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains("bob"),
        "{listed:?}"
    );
}
