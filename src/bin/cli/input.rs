//! Reading tokens, files and standard input with bounds.

use std::ffi::OsStr;
use std::io::Read;

use super::output::Failure;

/// Reads the token from `arg`, or from stdin when it is absent or `-`, trimming
/// surrounding whitespace. Stdin is read only up to `cap` bytes plus slack for whitespace,
/// so a 100 MB stream costs no more than that.
pub fn token(arg: Option<&OsStr>, cap: usize) -> Result<String, Failure> {
    let raw = match arg {
        Some(t) if t != "-" => t.to_str().map(str::to_owned).ok_or_else(not_utf8)?,
        _ => {
            let limit = cap.saturating_add(4096);
            let mut buf = Vec::new();
            std::io::stdin()
                .lock()
                .take(limit as u64 + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Failure::io(format!("reading stdin: {e}")))?;
            if buf.len() > limit {
                return Err(Failure::Rejected {
                    code: tok::ErrorKind::TooLarge.code(),
                    detail: format!("input is over {limit} bytes; the token limit is {cap}"),
                });
            }
            String::from_utf8(buf).map_err(|_| not_utf8())?
        }
    };
    let token = raw.trim();
    if token.is_empty() {
        return Err(Failure::usage(
            "no token given: pass it on standard input (or as an argument)",
        ));
    }
    Ok(token.to_owned())
}

/// A token that is not text is malformed, whether it came from argv or stdin.
fn not_utf8() -> Failure {
    Failure::Rejected {
        code: tok::ErrorKind::Malformed.code(),
        detail: "the token is not UTF-8 text".to_owned(),
    }
}

/// Reads a small file (keys, claims) fully, capped at 1 MiB.
pub fn small_file(path: &str) -> Result<String, Failure> {
    const CAP: u64 = 1 << 20;
    let file = std::fs::File::open(path).map_err(|e| Failure::io(format!("{path}: {e}")))?;
    let mut text = String::new();
    file.take(CAP + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::io(format!("{path}: {e}")))?;
    if text.len() as u64 > CAP {
        return Err(Failure::io(format!("{path}: larger than 1 MiB")));
    }
    Ok(text)
}

/// Reads stdin fully, capped at 1 MiB (for `--claims -`).
pub fn small_stdin() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take((1 << 20) + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::io(format!("reading stdin: {e}")))?;
    Ok(text)
}
