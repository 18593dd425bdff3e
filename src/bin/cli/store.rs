//! Which store the CLI uses: `--store URL`, else `TOK_STORE`, else an SQLite file in the
//! user's data directory.

use std::path::PathBuf;

use clap::Args;
use tok::store::AnyStore;

use super::output::Failure;

/// Store options for every command that keeps state.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Store URL: sqlite:PATH, redis://[user:pass@]HOST:PORT[/DB],
    /// redis+cluster://HOST:PORT,HOST:PORT or postgres://USER[:PASS]@HOST[:PORT]/DATABASE
    /// (a password belongs in TOK_STORE, not on the command line) (default: $TOK_STORE, else
    /// sqlite:$XDG_DATA_HOME/tok/tok.db or sqlite:~/.local/share/tok/tok.db).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The URL in force.
    pub fn url(&self) -> Result<String, Failure> {
        if let Some(url) = configured(self.store.as_deref())? {
            return Ok(url);
        }
        let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(
                std::env::var_os("HOME")
                    .ok_or_else(|| Failure::io("neither --store, TOK_STORE nor HOME is set"))?,
            )
            .join(".local/share"),
        };
        let dir = base.join("tok");
        create_private_dir(&dir)?;
        Ok(format!("sqlite:{}", dir.join("tok.db").display()))
    }

    /// Opens the store.
    pub async fn open(&self) -> Result<AnyStore, Failure> {
        let url = self.url()?;
        tok::store::open_shared(&url).await.map_err(|e| failure(&e))
    }
}

/// The store a command was given: `--store URL`, else `TOK_STORE`, if either. `memory:`
/// is refused: every `tok` command is a process of its own, so a session issued in one
/// would be unknown to the next.
pub fn configured(flag: Option<&str>) -> Result<Option<String>, Failure> {
    let url = match flag {
        Some(url) => url.to_owned(),
        None => match std::env::var_os("TOK_STORE") {
            Some(url) => url
                .into_string()
                .map_err(|_| Failure::io("TOK_STORE is not UTF-8"))?,
            None => return Ok(None),
        },
    };
    if url.trim().eq_ignore_ascii_case("memory:") {
        return Err(Failure::usage(
            "memory: keeps sessions inside one process, and every tok command is a new \
             process: use sqlite:PATH, redis://HOST:PORT or postgres://USER@HOST/DATABASE",
        ));
    }
    Ok(Some(url))
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Failure::io(format!("{}: {e}", dir.display())))
}

/// Runs `future` on a single-threaded runtime (the CLI does one thing at a time).
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("starting the runtime: {e}")))?
        .block_on(future)
}

/// A library error from a stateful command: store trouble is exit 3, the rest a rejection.
pub fn failure(e: &tok::Error) -> Failure {
    match e.kind() {
        tok::ErrorKind::Store | tok::ErrorKind::Random => Failure::io(e.detail().to_owned()),
        tok::ErrorKind::Config => Failure::usage(e.detail().to_owned()),
        tok::ErrorKind::InvalidKey | tok::ErrorKind::WeakKey => Failure::key(e),
        _ => Failure::Rejected {
            code: e.code(),
            detail: e.detail().to_owned(),
        },
    }
}
