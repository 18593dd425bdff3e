//! The `tok` command line: argument parsing and dispatch. Each command lives in its own
//! module and uses only the library's public API.

mod clock;
mod input;
mod inspect;
mod keyfile;
mod keygen;
mod keys;
mod keyset;
mod output;
mod refresh;
mod revoke;
mod sign;
mod store;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Strict HS256 JWTs: make keys, sign, verify and inspect tokens.
///
/// Keys never go on the command line: pass --key FILE, --key-env NAME, or set TOK_KEY.
#[derive(Parser, Debug)]
#[command(name = "tok", version, propagate_version = true)]
#[command(after_help = "Examples:\n  \
    tok keygen --out key.json\n  \
    TOKEN=$(tok sign --key key.json --sub alice --ttl 1h)\n  \
    tok verify --key key.json \"$TOKEN\"\n  \
    tok refresh issue --key key.json --sub alice > pair.json\n\n\
    Exit codes: 0 success, 1 token rejected, 2 usage error, 3 key, file or I/O error.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a new 256-bit key as a JWK.
    Keygen(keygen::KeygenArgs),
    /// A key set file's rotation steps: list, put a key first, remove one, sessions per key.
    Keys(keyset::KeysArgs),
    /// Sign claims into a token.
    Sign(sign::SignArgs),
    /// Verify a token and print its claims.
    Verify(verify::VerifyArgs),
    /// Decode a token without verifying it.
    Inspect(inspect::InspectArgs),
    /// Sessions: issue, rotate and revoke refresh tokens kept in a store.
    Refresh(refresh::RefreshArgs),
    /// Revoke one access token (by its jti) until it expires.
    Revoke(revoke::RevokeAccessArgs),
}

pub fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2, help and version with 0.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Keys(args) => keyset::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Refresh(args) => refresh::run(args),
        Command::Revoke(args) => revoke::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            failure.exit_code()
        }
    }
}
