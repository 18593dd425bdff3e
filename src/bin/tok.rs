//! `tok`: sign, verify and inspect HS256 JWTs from the shell.
//!
//! Exit codes: 0 success, 1 token rejected, 2 usage error, 3 key, file or I/O error.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
