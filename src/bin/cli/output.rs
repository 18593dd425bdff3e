//! How the CLI ends: exit codes, one-line errors, and colour only where it belongs.

use std::io::IsTerminal;
use std::process::ExitCode;

/// Why a command failed; each maps to one exit code.
#[derive(Debug)]
pub enum Failure {
    /// The token was checked and rejected (exit 1).
    Rejected { code: &'static str, detail: String },
    /// A rejection already said on stdout in the `--json` verdict (exit 1, nothing on
    /// stderr: one channel per mode).
    RejectedInJson,
    /// The command line or its inputs do not make sense (exit 2).
    Usage(String),
    /// A key, file or I/O problem (exit 3).
    Io(String),
}

impl Failure {
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::Usage(msg.into())
    }

    pub fn io(msg: impl Into<String>) -> Self {
        Self::Io(msg.into())
    }

    /// The same failure, its message prefixed with what was being read (`key file`).
    pub fn context(self, what: &str) -> Self {
        match self {
            Self::Usage(m) => Self::Usage(format!("{what} {m}")),
            Self::Io(m) => Self::Io(format!("{what} {m}")),
            rejected => rejected,
        }
    }

    /// A key problem from the library: always exit 3, with the library's words.
    pub fn key(e: &tok::Error) -> Self {
        Self::Io(format!("key: {}", e.detail()))
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Rejected { .. } | Self::RejectedInJson => 1,
            Self::Usage(_) => 2,
            Self::Io(_) => 3,
        })
    }

    /// Prints the one error line to stderr.
    pub fn report(&self) {
        let line = match self {
            Self::Rejected { code, detail } => {
                format!("tok: {}: {code}: {detail}", paint("rejected", RED))
            }
            Self::Usage(msg) => format!("tok: {}: {msg}", paint("usage", RED)),
            Self::Io(msg) => format!("tok: {}: {msg}", paint("error", RED)),
            Self::RejectedInJson => return,
        };
        eprintln!("{line}");
    }
}

const RED: &str = "31";
pub const YELLOW: &str = "33";
pub const BOLD: &str = "1";

/// Colour for stderr, only on a terminal and never with `NO_COLOR`.
fn colour_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Colour for stdout, under the same rules.
pub fn colour_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn paint(text: &str, code: &str) -> String {
    if colour_stderr() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Paints `text` for stdout when `on`.
pub fn paint_if(on: bool, text: &str, code: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}
