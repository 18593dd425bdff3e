//! The Rust snippets of README and of every guide in `docs/`, as a reader uses them: each
//! pasted as the whole `src/main.rs` of a new crate whose `[dependencies]` are the TOML
//! block above it in the same document (only the path to this checkout filled in), built
//! with cargo and run. A snippet that needs a dependency or a feature its document does
//! not list, or that is not a whole program, fails here, even when it compiles as a
//! doctest (which sees every feature and dev-dependency of this crate).
//!
//! The crates share one target directory under `target/readme-snippets` and start from
//! this repository's `Cargo.lock`, so each builds only what is new to it.
#![cfg(all(feature = "axum", feature = "sqlite"))]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One snippet: its fence's info string, its code and the dependencies above it.
struct Snippet {
    /// `FILE:LINE` of its fence.
    place: String,
    info: String,
    code: String,
    dependencies: String,
}

/// Every ```` ```rust ```` block that is not `ignore`, with the nearest `[dependencies]`
/// TOML block before it.
fn snippets(file: &str, document: &str) -> Vec<Snippet> {
    let (mut found, mut dependencies) = (Vec::new(), None::<String>);
    let mut lines = document.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let info = info.trim().to_owned();
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let body = body.join("\n") + "\n";
        if info == "toml" && body.trim_start().starts_with("[dependencies]") {
            dependencies = Some(body);
        } else if info.starts_with("rust") && !info.contains("ignore") {
            found.push(Snippet {
                place: format!("{file}:{}", n + 1),
                info,
                code: body,
                dependencies: dependencies
                    .clone()
                    .unwrap_or_else(|| panic!("{file}:{}: no [dependencies] above", n + 1)),
            });
        }
    }
    found
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A new crate for `snippet` under `base`; returns its folder.
fn scratch_crate(base: &Path, index: usize, snippet: &Snippet) -> PathBuf {
    let dir = base.join(format!("snippet{index}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let checkout = root().display().to_string();
    let dependencies = snippet
        .dependencies
        .replace("path = \"../tok\"", &format!("path = {checkout:?}"));
    assert_ne!(
        dependencies, snippet.dependencies,
        "{}: the dependencies name no path = \"../tok\"",
        snippet.place
    );
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"snippet{index}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
             [workspace]\n\n{dependencies}"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), &snippet.code).unwrap();
    std::fs::copy(root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        // Only this crate's own settings, not the outer test run's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap()
}

/// A snippet that serves on 127.0.0.1:8080: it answers an unauthenticated request as
/// README's web section says (401 with a Bearer challenge), then is stopped.
fn check_server(binary: &Path, dir: &Path, place: &str) {
    if TcpListener::bind("127.0.0.1:8080").is_err() {
        eprintln!("{place}: port 8080 is taken here; built, not run");
        return;
    }
    let mut child = Command::new(binary)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let stream = loop {
        if let Ok(stream) = TcpStream::connect("127.0.0.1:8080") {
            break stream;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("{place}: the server exited ({status}): {err}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{place}: never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stream);
    let ask = |request: String| {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect("127.0.0.1:8080").unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let unauthenticated =
        ask("GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".into());
    // A login from the page the snippet serves (its own origin), then the claims it set,
    // read back through the snippet's typed claims.
    let body = r#"{"username":"alice","password":"demo"}"#;
    let login = ask(format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nOrigin: http://127.0.0.1:8080\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let me = login
        .split_once("\r\n\r\n")
        .and_then(|(_, json)| serde_json::from_str::<serde_json::Value>(json).ok())
        .and_then(|json| json["access_token"].as_str().map(str::to_owned))
        .map(|token| {
            ask(format!(
                "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
                 Connection: close\r\n\r\n"
            ))
        });
    child.kill().unwrap();
    child.wait().unwrap();
    let answer = unauthenticated;
    assert!(answer.starts_with("HTTP/1.1 401"), "{place}: {answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{place}: {answer}"
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{place}: {login}");
    let me = me.unwrap_or_else(|| panic!("{place}: no access token in {login}"));
    assert!(me.starts_with("HTTP/1.1 200"), "{place}: {me}");
    assert!(
        me.contains(r#""role":"user""#) && me.contains(r#""sub":"alice""#),
        "{place}: {me}"
    );
}

#[test]
fn readme_snippets_build_and_run_as_pasted() {
    let mut documents = vec![root().join("README.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    documents.extend(guides);
    let mut all = Vec::new();
    for path in &documents {
        let name = path.strip_prefix(root()).unwrap().display().to_string();
        all.extend(snippets(&name, &std::fs::read_to_string(path).unwrap()));
    }
    assert!(all.len() >= 5, "the snippets were not found: {}", all.len());
    let base = root().join("target/readme-snippets");
    let target = base.join("target");
    for (index, snippet) in all.iter().enumerate() {
        let dir = scratch_crate(&base, index, snippet);
        let built = cargo(&dir, &target, &["build", "--quiet"]);
        assert!(
            built.status.success(),
            "{}: the snippet does not build as pasted:\n{}",
            snippet.place,
            String::from_utf8_lossy(&built.stderr)
        );
        let binary = target.join("debug").join(format!("snippet{index}"));
        if snippet.info.contains("no_run") {
            check_server(&binary, &dir, &snippet.place);
            continue;
        }
        let ran = Command::new(&binary).current_dir(&dir).output().unwrap();
        assert!(
            ran.status.success(),
            "{}: the snippet failed:\n{}",
            snippet.place,
            String::from_utf8_lossy(&ran.stderr)
        );
        assert!(
            !ran.stdout.is_empty(),
            "{}: the snippet prints nothing of what it did",
            snippet.place
        );
    }
}

#[test]
fn snippets_are_found_with_their_dependencies() {
    let readme = "```toml\n[dependencies]\na = 1\n```\n\n```rust\nfn main() {}\n```\n\n\
                  ```rust,ignore\nx\n```\n```toml\n[dependencies]\nb = 2\n```\n```rust,no_run\ny\n```\n";
    let found = snippets("x.md", readme);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].dependencies, "[dependencies]\na = 1\n");
    assert_eq!(found[0].code, "fn main() {}\n");
    assert_eq!(found[1].info, "rust,no_run");
    assert_eq!(found[1].dependencies, "[dependencies]\nb = 2\n");
}
