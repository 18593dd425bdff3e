//! Changing a key set file in place: one atomic replacement that keeps the file's mode
//! and owner, serialised against other runs, so that a process watching the file reads
//! the old set or the new one, never half a file.

use std::io::Write;
use std::path::Path;

use tok::KeySet;

use super::input;
use super::output::Failure;

/// Replaces the key set at `path` by `change(the set it holds)` (`None`: no file yet).
///
/// A symlink is followed and the file it points to is replaced, so the link and every
/// other name of the set see the change. The replacement keeps the file's mode and
/// owner. Concurrent runs are serialised by an exclusive lock on the set's folder, taken
/// before the set is read, so no run can lose another's change.
pub fn update(
    path: &str,
    change: impl FnOnce(Option<KeySet>) -> Result<KeySet, Failure>,
) -> Result<(), Failure> {
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
            Some(
                KeySet::from_jwk_or_jwks(&text)
                    .map_err(|e| Failure::io(format!("{path}: {}", e.detail())))?,
            )
        }
        None => None,
    };
    let set = change(set)?;
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
pub fn private_temp(
    dir: &Path,
    bytes: &[u8],
    name: &str,
) -> Result<tempfile::NamedTempFile, Failure> {
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
