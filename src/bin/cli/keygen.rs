//! `tok keygen`: a new 256-bit key, printed or written atomically with mode 0600, or
//! prepended to a key set file (rotation in one command).

use std::io::Write;
use std::path::Path;

use clap::Args;
use tok::{HmacKey, KeySet};

use super::keyfile::{self, private_temp};
use super::output::Failure;

/// Arguments of `tok keygen`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok keygen --out key.json              # a new key in a file only you can read\n  \
    tok keygen --add-to keys.json          # rotate: the new key signs, old ones still verify\n  \
    tok keygen --add-to keys.json --standby  # add a key that verifies, to sign later\n  \
    export TOK_KEY=\"$(tok keygen)\"         # a key for this shell session")]
pub struct KeygenArgs {
    /// The key identifier (default: the key's RFC 7638 thumbprint).
    #[arg(long)]
    kid: Option<String>,
    /// Write the JWK to FILE (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "add_to")]
    out: Option<String>,
    /// Overwrite FILE if it exists.
    #[arg(long, requires = "out")]
    force: bool,
    /// Prepend the new key to the JWK Set in SET (created if missing); it becomes the
    /// signing key while older keys still verify. Prints the new kid.
    #[arg(long, value_name = "SET")]
    add_to: Option<String>,
    /// With --add-to: add the key second, behind the signing key. It verifies at once
    /// and signs only once `tok keys first KID` puts it first: the first step of a
    /// rotation across processes, so that no process signs with a key another has not
    /// read yet.
    #[arg(long, requires = "add_to")]
    standby: bool,
}

pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let mut key = HmacKey::generate().map_err(|e| Failure::io(e.detail().to_owned()))?;
    if let Some(kid) = &args.kid {
        key = key.with_kid(kid.clone());
    }
    let kid = key.kid().unwrap_or_default().to_owned();

    if let Some(set_path) = &args.add_to {
        add_to_set(set_path, key, args.standby)?;
        println!("{kid}");
        return Ok(());
    }

    let mut jwk = key.export_jwk();
    jwk.push('\n');
    match &args.out {
        Some(path) => {
            write_private(path, jwk.as_bytes(), args.force)?;
            println!("{kid}");
        }
        None => std::io::stdout()
            .write_all(jwk.as_bytes())
            .map_err(|e| Failure::io(format!("writing stdout: {e}")))?,
    }
    Ok(())
}

/// Prepends `key` to the key set at `path` (created if missing), or puts it second
/// (`standby`).
fn add_to_set(path: &str, key: HmacKey, standby: bool) -> Result<(), Failure> {
    keyfile::update(path, |existing| match existing {
        Some(set) if standby => {
            let mut keys = set.keys().to_vec();
            keys.insert(1, key);
            KeySet::from_keys(keys).map_err(|e| Failure::key(&e))
        }
        Some(mut set) => {
            set.prepend(key).map_err(|e| Failure::key(&e))?;
            Ok(set)
        }
        None => Ok(KeySet::new(key)),
    })
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder, then a
/// rename) with mode 0600, so no reader ever sees half a key or a world-readable one.
fn write_private(path: &str, bytes: &[u8], overwrite: bool) -> Result<(), Failure> {
    let target = Path::new(path);
    if !overwrite && target.exists() {
        return Err(Failure::io(format!(
            "{path} exists; use --force to replace it"
        )));
    }
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e: std::io::Error| Failure::io(format!("{path}: {e}"));
    let tmp = private_temp(dir, bytes, path)?;
    if overwrite {
        tmp.persist(target).map_err(|e| io(e.error))?;
    } else {
        // Refuse to replace a file that appeared meanwhile.
        tmp.persist_noclobber(target).map_err(|e| io(e.error))?;
    }
    Ok(())
}
