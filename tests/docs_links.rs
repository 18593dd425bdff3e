//! The guides hold together: every relative link between README, `docs/` and the other
//! READMEs names a file of this repository and, with `#anchor`, a heading of it; README
//! links every guide; the HTTP reference lists every route the code mounts; and nothing in
//! the repository points outside it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files readers navigate: README, the guides, the folders' READMEs.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("CHANGELOG.md"),
        root().join("CONTRIBUTING.md"),
        root().join("FUZZING.md"),
        root().join("tests/README.md"),
        root().join("benches/README.md"),
    ];
    files.extend(guides());
    files
}

/// `docs/*.md`.
fn guides() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    found.sort();
    found
}

/// Lines outside code fences.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_` kept, spaces
/// made `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter_map(|line| {
            let hashes = line.len() - line.trim_start_matches('#').len();
            (hashes > 0 && line[hashes..].starts_with(' ')).then(|| slug(&line[hashes..]))
        })
        .collect()
}

/// The targets of inline links `[text](target)` in prose, without `http(s):` ones.
fn relative_links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.starts_with("http://") && !target.starts_with("https://") {
                found.push(target.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found
}

/// Why `target`, linked from `from`, does not resolve, if it does not.
fn broken(from: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap().join(path)
    };
    let Ok(file) = file.canonicalize() else {
        return Some(format!("{target}: no such file"));
    };
    if !file.starts_with(root().canonicalize().unwrap()) {
        return Some(format!("{target}: outside the repository"));
    }
    let anchor = anchor?;
    let text = std::fs::read_to_string(&file).ok()?;
    (!anchors(&text).contains(anchor)).then(|| format!("{target}: no heading #{anchor}"))
}

#[test]
fn every_link_between_the_documents_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in relative_links(&text) {
            checked += 1;
            if let Some(why) = broken(&file, &target) {
                problems.push(format!("{}: {why}", file.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} links found");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn readme_links_every_guide() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let links = relative_links(&readme);
    let guides = guides();
    assert!(guides.len() >= 7, "{guides:?}");
    for guide in guides {
        let name = format!("docs/{}", guide.file_name().unwrap().to_string_lossy());
        assert!(
            links
                .iter()
                .any(|l| l.split('#').next() == Some(name.as_str())),
            "README does not link {name}"
        );
    }
}

/// The paths of `.route("PATH", …)` calls in a source file.
fn routes(source: &str) -> Vec<String> {
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_http_reference_lists_every_route() {
    let reference = std::fs::read_to_string(root().join("docs/http.md")).unwrap();
    let headings: Vec<&str> = prose(&reference)
        .into_iter()
        .filter(|l| l.starts_with('#'))
        .collect();
    let listed = |path: &str| headings.iter().any(|h| h.contains(&format!(" {path}`")));
    let session = routes(&std::fs::read_to_string(root().join("src/web/router.rs")).unwrap());
    let example = routes(&std::fs::read_to_string(root().join("examples/web/main.rs")).unwrap());
    assert!(
        session.len() >= 5 && example.len() >= 5,
        "{session:?} {example:?}"
    );
    let missing: Vec<String> = session
        .iter()
        .map(|p| format!("/session{p}"))
        .chain(example.iter().cloned())
        .filter(|p| !listed(p))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/http.md has no heading for {missing:?}"
    );
}

#[test]
fn nothing_points_outside_the_repository() {
    // Built, so that this file does not name what it looks for.
    let outside = ["..", "/shared/"].concat();
    let mut found = Vec::new();
    let mut stack = vec![root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "corpus" | "artifacts") {
                    stack.push(path);
                }
            } else if let Ok(text) = std::fs::read_to_string(&path)
                && text.contains(&outside)
            {
                found.push(path.display().to_string());
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn slugs_and_links_are_read_as_github_does() {
    assert_eq!(
        slug(" gRPC and any tower service (feature `tower`)"),
        "grpc-and-any-tower-service-feature-tower"
    );
    assert_eq!(slug(" What is strict, and why"), "what-is-strict-and-why");
    let text = "# A b\n```sh\n# not a heading\n[x](nope.md)\n```\nsee [a](docs/x.md#y) and [b](https://e.x)\n";
    assert_eq!(relative_links(text), ["docs/x.md#y"]);
    assert_eq!(anchors(text), BTreeSet::from(["a-b".to_owned()]));
}
