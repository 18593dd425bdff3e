//! `tok keygen`: a new 256-bit key, printed or written atomically with mode 0600, or
//! prepended to a key set file (rotation in one command).

use std::io::Write;
use std::path::Path;

use clap::Args;
use tok::{HmacKey, KeySet};

use super::input;
use super::output::Failure;

/// Arguments of `tok keygen`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    tok keygen --out key.json              # a new key in a file only you can read\n  \
    tok keygen --add-to keys.json          # rotate: the new key signs, old ones still verify\n  \
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
}

pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let mut key = HmacKey::generate().map_err(|e| Failure::io(e.detail().to_owned()))?;
    if let Some(kid) = &args.kid {
        key = key.with_kid(kid.clone());
    }
    let kid = key.kid().unwrap_or_default().to_owned();

    if let Some(set_path) = &args.add_to {
        add_to_set(set_path, key)?;
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

/// Prepends `key` to the key set at `path` (created if missing).
///
/// A symlink is followed and the file it points to is replaced, so the link and every
/// other name of the set see the new key. The replacement keeps the file's mode and
/// owner. Concurrent runs are serialised by an exclusive lock on the set's folder, taken
/// before the set is read, so no run can lose another's key.
fn add_to_set(path: &str, key: HmacKey) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::io(format!("{path}: {e}"));
    let target = match std::fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(Failure::io(format!("{path} is a link to nothing")));
            }
            Path::new(path).to_owned()
        }
        Err(e) => return Err(io(e)),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => Path::new(".").to_owned(),
    };
    let lock = std::fs::File::open(&dir).map_err(io)?;
    lock.lock().map_err(io)?;
    let existing = std::fs::metadata(&target).ok();
    let set = match &existing {
        Some(_) => {
            let text = input::small_file(&target.to_string_lossy())?;
            let mut set = KeySet::from_jwk_or_jwks(&text)
                .map_err(|e| Failure::io(format!("{path}: {}", e.detail())))?;
            set.prepend(key).map_err(|e| Failure::key(&e))?;
            set
        }
        None => KeySet::new(key),
    };
    let tmp = private_temp(&dir, set.export_jwks().as_bytes(), path)?;
    #[cfg(unix)]
    if let Some(meta) = &existing {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let file = tmp.as_file();
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io)?;
        std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())).map_err(io)?;
    }
    tmp.persist(&target).map_err(|e| io(e.error))?;
    // The lock is released when `lock` is dropped, after the rename.
    drop(lock);
    Ok(())
}

/// A temporary file in `dir`, mode 0600, holding `bytes`, flushed to disk.
fn private_temp(dir: &Path, bytes: &[u8], name: &str) -> Result<tempfile::NamedTempFile, Failure> {
    let io = |e: std::io::Error| Failure::io(format!("{name}: {e}"));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tok-key-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    Ok(tmp)
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
