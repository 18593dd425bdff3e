//! Reading tokens, files and standard input with bounds.

use std::ffi::OsStr;
use std::io::Read;

use zeroize::Zeroizing;

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

/// Reads a small file (keys, claims) fully, capped at 1 MiB, into a buffer wiped when
/// dropped. The buffer is sized from the file's length up front: a buffer that grows
/// while reading leaves copies of a key in memory it frees without wiping. (A file that
/// grows between the size check and the read can still cause one reallocation.)
pub fn small_file(path: &str) -> Result<Zeroizing<String>, Failure> {
    const CAP: u64 = 1 << 20;
    let fail = |e: std::io::Error| Failure::io(format!("{path}: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let size = file.metadata().map_err(fail)?.len();
    if size > CAP {
        return Err(Failure::io(format!("{path}: larger than 1 MiB")));
    }
    // One spare byte, so that reading to the end never needs to grow a full buffer.
    let mut bytes = Zeroizing::new(Vec::with_capacity(size as usize + 1));
    file.take(CAP + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > CAP {
        return Err(Failure::io(format!("{path}: larger than 1 MiB")));
    }
    match std::str::from_utf8(&bytes) {
        // Moving the vector into the string copies nothing.
        Ok(_) => Ok(Zeroizing::new(
            String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default(),
        )),
        Err(_) => Err(Failure::io(format!("{path}: not UTF-8 text"))),
    }
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
