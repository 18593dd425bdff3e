//! `tok keys list|first|remove|usage`: the steps of a key rotation on a key set file that
//! running processes watch (see docs/operations.md, "Keys").

use clap::{Args, Subcommand};
use tok::refresh::{RefreshPolicy, Sessions};
use tok::{HmacKey, KeySet};

use super::input;
use super::keyfile;
use super::output::Failure;
use super::store::{StoreArgs, block_on, failure};

/// `tok keys ...`
#[derive(Args, Debug)]
#[command(
    after_help = "A routine rotation, with every process watching keys.json:\n  \
    tok keygen --kid b --add-to keys.json --standby  # b verifies; a still signs\n  \
    tok keys first b --key keys.json        # b signs; sessions move to b as they refresh\n  \
    tok keys usage --key keys.json          # wait until a carries 0 sessions\n  \
    tok keys remove a --key keys.json       # a's access tokens and sessions end\n\n\
    Each change replaces the file atomically, keeping its mode and owner."
)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// List the set's keys, the signing key first: one kid a line.
    List(FileArgs),
    /// Make the key KID the signing key (new access tokens and sessions use it; each
    /// session moves to it at its next refresh).
    First(NamedArgs),
    /// Remove the key KID: every access token it signed and every session still using it
    /// ends (refused as unknown). The last key is never removed.
    Remove(NamedArgs),
    /// Live sessions per key of the set, in a store: a key that carries 0 can go.
    #[command(
        after_help = "Example:\n  tok keys usage --key keys.json --store redis://127.0.0.1:6379\n\n\
        Reads every session in the store: an operator's command, not a request's."
    )]
    Usage(UsageArgs),
}

#[derive(Args, Debug)]
struct FileArgs {
    /// The JWK Set file.
    #[arg(long, value_name = "FILE")]
    key: String,
}

#[derive(Args, Debug)]
struct NamedArgs {
    /// The key's kid.
    kid: String,
    /// The JWK Set file, changed in place.
    #[arg(long, value_name = "FILE")]
    key: String,
}

#[derive(Args, Debug)]
struct UsageArgs {
    /// The JWK Set file.
    #[arg(long, value_name = "FILE")]
    key: String,
    #[command(flatten)]
    store: StoreArgs,
    /// Print the usage as JSON (`{"keys":[{"kid","signing","sessions"}],"not_in_set"}`).
    #[arg(long)]
    json: bool,
}

pub fn run(args: &KeysArgs) -> Result<(), Failure> {
    match &args.command {
        KeysCommand::List(a) => {
            for key in read(&a.key)?.keys() {
                println!("{}", key.kid().unwrap_or("(no kid)"));
            }
            Ok(())
        }
        KeysCommand::First(a) => keyfile::update(&a.key, |set| {
            let keys = existing(&a.key, set)?.keys().to_vec();
            let (named, others): (Vec<HmacKey>, Vec<HmacKey>) = keys
                .into_iter()
                .partition(|k| k.kid() == Some(a.kid.as_str()));
            if named.is_empty() {
                return Err(no_such_key(&a.key, &a.kid));
            }
            KeySet::from_keys(named.into_iter().chain(others).collect())
                .map_err(|e| Failure::key(&e))
        }),
        KeysCommand::Remove(a) => keyfile::update(&a.key, |set| {
            let keys = existing(&a.key, set)?.keys().to_vec();
            let before = keys.len();
            let kept: Vec<HmacKey> = keys
                .into_iter()
                .filter(|k| k.kid() != Some(a.kid.as_str()))
                .collect();
            if kept.len() == before {
                return Err(no_such_key(&a.key, &a.kid));
            }
            if kept.is_empty() {
                return Err(Failure::usage(format!(
                    "{} is the last key of {}: a set without keys would end every session; \
                     add its successor first (tok keygen --add-to {})",
                    a.kid, a.key, a.key
                )));
            }
            KeySet::from_keys(kept).map_err(|e| Failure::key(&e))
        }),
        KeysCommand::Usage(a) => usage(a),
    }
}

fn usage(args: &UsageArgs) -> Result<(), Failure> {
    let keys = read(&args.key)?;
    let usage = block_on(async {
        let store = args.store.open().await?;
        let sessions = Sessions::new(store, keys, RefreshPolicy::default());
        sessions.key_usage().await.map_err(|e| failure(&e))
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&usage).map_err(|e| Failure::io(e.to_string()))?
        );
        return Ok(());
    }
    println!("kid\tsigning\tsessions");
    for key in &usage.keys {
        let signing = if key.signing { "yes" } else { "no" };
        println!(
            "{}\t{signing}\t{}",
            key.kid.as_deref().unwrap_or("(no kid)"),
            key.sessions
        );
    }
    println!("(not in set)\t-\t{}", usage.not_in_set);
    Ok(())
}

fn read(path: &str) -> Result<KeySet, Failure> {
    let text = input::small_file(path).map_err(|f| f.context("key file"))?;
    KeySet::from_jwk_or_jwks(text.trim())
        .map_err(|e| Failure::io(format!("key file {path}: {}", e.detail())))
}

fn existing(path: &str, set: Option<KeySet>) -> Result<KeySet, Failure> {
    set.ok_or_else(|| Failure::io(format!("key file {path}: no such file")))
}

fn no_such_key(path: &str, kid: &str) -> Failure {
    Failure::usage(format!(
        "{path} has no key with kid {kid:?} (tok keys list --key {path})"
    ))
}
