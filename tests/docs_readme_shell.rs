//! The shell snippets, run as written: README's "In the shell", then every command of
//! `docs/cli.md` ("tok in the shell", "Sessions from the shell", "Keys from the shell"),
//! then README's "Rotating keys" (which goes on from the last), in order, in a fresh
//! temporary HOME with the built `tok` on PATH. A command whose comment says `exit 1` (or shows `tok: rejected:`) must exit 1,
//! one whose comment says `exit 2` must exit 2; every other command must exit 0.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::Command;

/// The first `sh` block under `heading` in a document, as (command, expected exit code), with
/// a trailing-comment-only line attached to the command before it.
fn commands(document: &str, heading: &str) -> Vec<(String, i32)> {
    let section = document
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let mut out: Vec<(String, i32)> = Vec::new();
    for line in block.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let (command, comment) = match line.find(" #") {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        let rejects = comment.contains("exit 1") || comment.contains("tok: rejected:");
        let usage = comment.contains("exit 2");
        if trimmed.starts_with('#') {
            // A comment on its own line describes the command above it.
            if rejects && let Some(last) = out.last_mut() {
                last.1 = 1;
            }
            continue;
        }
        let want = if usage { 2 } else { i32::from(rejects) };
        out.push((command.trim_end().to_owned(), want));
    }
    out
}

#[test]
fn shell_snippets_run_as_written() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let guide = std::fs::read_to_string(root.join("docs/cli.md")).unwrap();
    let mut all = commands(&readme, "### In the shell\n");
    assert!(all.len() >= 4, "{all:?}");
    all.extend(commands(&guide, "# tok in the shell\n"));
    all.extend(commands(&guide, "## Sessions from the shell\n"));
    all.extend(commands(&guide, "## Keys from the shell\n"));
    all.extend(commands(&readme, "## Rotating keys\n"));
    assert!(all.len() > 28, "{all:?}");
    assert!(
        all.iter().filter(|(_, want)| *want == 1).count() >= 4,
        "{all:?}"
    );
    // One bash runs them in order (variables carry over), checking each exit code.
    let mut script = String::from("set -u\n");
    for (i, (command, want)) in all.iter().enumerate() {
        script.push_str(&format!(
            "{command}\ngot=$?\nif [ $got -ne {want} ]; then echo \"step {i}: exit $got, the docs say {want}: {}\" >&2; exit 100; fi\n",
            command.replace('"', "'").replace('$', "\\$")
        ));
    }
    let home = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("tok");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(home.path())
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n--- script ---\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}
