//! [`KeyFile`]: a JWK Set file that a running process keeps reading, so that a key added,
//! put first or removed in the file reaches every process within a bound, without a
//! restart. A bad file keeps the last good set.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};
use crate::keyset::KeySet;
use crate::refresh::live_keys::LiveKeys;

/// How often [`KeyFile::watch`] reads the file by default: a change is in place within
/// this bound (plus one read and parse, well under a millisecond for a key file).
pub const KEY_FILE_POLL: Duration = Duration::from_millis(250);

/// Counter: reads of a key file that found it changed, by `outcome` (`loaded`,
/// `rejected`).
pub(crate) const RELOADS: &str = "tok_key_file_reloads_total";
/// Gauge: 1 while the key file on disk is rejected (the last good set is in use), else 0.
pub(crate) const REJECTED: &str = "tok_key_file_rejected";

/// A JWK Set (or single JWK) file behind [`LiveKeys`]: [`reload`](Self::reload) reads it
/// again, [`watch`](Self::watch) does so on a timer. Reading follows symbolic links each
/// time, so both an atomic rename over the file and a Kubernetes-style swap of a symbolic
/// link are seen at the next read. A file that is unreadable, truncated, not JSON, holds
/// a key under 256 bits, no key, or two keys with one `kid` is rejected: the last good set
/// stays in place, and the rejection is reported once per version of the file (a warn
/// event, target `tok::keys`, and the metrics `tok_key_file_reloads_total{outcome=
/// "rejected"}` and `tok_key_file_rejected`), never quoting the file.
///
/// ```no_run
/// # fn main() -> Result<(), tok::Error> {
/// let file = std::sync::Arc::new(tok::refresh::KeyFile::open("/run/secrets/tok-keys.json")?);
/// let _watching = file.watch(tok::refresh::KEY_FILE_POLL); // reads until dropped
/// let keys = file.keys(); // give these to Sessions::new / WebSessions::new
/// # let _ = keys; Ok(()) }
/// ```
pub struct KeyFile {
    path: PathBuf,
    keys: LiveKeys,
    /// What the last read saw, so that one version of the file is loaded or reported
    /// once. A digest, not the bytes: no second copy of the secrets stays in memory.
    seen: Mutex<Seen>,
}

#[derive(PartialEq)]
enum Seen {
    Bytes([u8; 32]),
    Unreadable(std::io::ErrorKind),
}

impl KeyFile {
    /// Reads the key file at `path`, which must hold a good set now.
    ///
    /// # Errors
    /// [`Config`](ErrorKind::Config) when it cannot be read; the errors of
    /// [`KeySet::from_jwk_or_jwks`] when it is no good set.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        let bytes = read(&path)?;
        let set = parse(&path, &bytes)?;
        Ok(Self {
            keys: LiveKeys::new(set),
            seen: Mutex::new(Seen::Bytes(Sha256::digest(&bytes[..]).into())),
            path,
        })
    }

    /// The live keys the file feeds (clones share them).
    pub fn keys(&self) -> LiveKeys {
        self.keys.clone()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file now (a timer, or a signal such as SIGHUP): `Ok(true)` when a new set
    /// is in place, `Ok(false)` when the file has not changed since the last read.
    ///
    /// # Errors
    /// The reason a changed file was rejected (the last good set stays in place); a
    /// rejected file that has not changed since is `Ok(false)`, reported once.
    pub fn reload(&self) -> Result<bool, Error> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (now, result) = match read(&self.path) {
            Ok(bytes) => {
                let now = Seen::Bytes(Sha256::digest(&bytes[..]).into());
                if now == *seen {
                    return Ok(false);
                }
                (now, parse(&self.path, &bytes))
            }
            Err(e) => {
                let now = Seen::Unreadable(e.io_kind);
                if now == *seen {
                    return Ok(false);
                }
                (now, Err(e.error))
            }
        };
        *seen = now;
        match result {
            Ok(set) => {
                self.keys.replace(set);
                metrics::counter!(RELOADS, "outcome" => "loaded").increment(1);
                metrics::gauge!(REJECTED).set(0.0);
                tracing::info!(target: "tok::keys", event = "key_file_loaded", path = %self.path.display(), "key set replaced");
                Ok(true)
            }
            Err(error) => {
                metrics::counter!(RELOADS, "outcome" => "rejected").increment(1);
                metrics::gauge!(REJECTED).set(1.0);
                tracing::warn!(target: "tok::keys", event = "key_file_rejected", path = %self.path.display(), error = %error, "key file rejected; the last good key set stays in use");
                Err(error)
            }
        }
    }

    /// Reads the file every `every` on a thread of its own until the returned handle is
    /// dropped. Rejections are reported as [`reload`](Self::reload) says.
    pub fn watch(self: &Arc<Self>, every: Duration) -> Watching {
        let (stop, stopped) = mpsc::channel::<()>();
        let file = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("tok-key-file".into())
            .spawn(move || {
                // The channel is the timer: a drop of the sender ends the loop at once.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let _ = file.reload();
                }
            })
            .ok();
        Watching {
            stop: Some(stop),
            thread,
        }
    }
}

/// A running [`KeyFile::watch`]: dropping it stops the reads (and waits for the thread).
pub struct Watching {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watching {
    /// Whether the watching thread started (an OS that refuses a thread leaves the file
    /// read only by [`KeyFile::reload`]).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct ReadError {
    io_kind: std::io::ErrorKind,
    error: Error,
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        e.error
    }
}

fn read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, ReadError> {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| ReadError {
            io_kind: e.kind(),
            error: Error::new(ErrorKind::Config, format!("{}: {e}", path.display())).with_source(e),
        })
}

fn parse(path: &Path, bytes: &[u8]) -> Result<KeySet, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::new(
            ErrorKind::InvalidKey,
            format!("{}: not UTF-8 text", path.display()),
        )
    })?;
    KeySet::from_jwk_or_jwks(text.trim())
        .map_err(|e| Error::new(e.kind(), format!("{}: {}", path.display(), e.detail())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HmacKey;

    fn set(ids: &[(&str, u8)]) -> String {
        let keys = ids
            .iter()
            .map(|(kid, b)| HmacKey::from_bytes(&[*b; 32]).unwrap().with_kid(*kid))
            .collect();
        KeySet::from_keys(keys).unwrap().export_jwks().to_string()
    }

    fn signer(file: &KeyFile) -> Option<String> {
        file.keys().current().signing_key().kid().map(str::to_owned)
    }

    /// Changes load once; every kind of bad file keeps the last good set and is an error
    /// once; an unchanged file is no work.
    #[test]
    fn bad_files_keep_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        std::fs::write(&path, set(&[("a", 1)])).unwrap();
        let file = KeyFile::open(&path).unwrap();
        assert!(!file.reload().unwrap());
        std::fs::write(&path, set(&[("b", 2), ("a", 1)])).unwrap();
        assert!(file.reload().unwrap());
        assert_eq!(signer(&file).as_deref(), Some("b"));
        let good = set(&[("a", 1)]);
        let bad = [
            good[..good.len() / 2].to_owned(),
            "not json".to_owned(),
            r#"{"keys":[]}"#.to_owned(),
            r#"{"kty":"oct","k":"c2hvcnQ"}"#.to_owned(),
        ];
        let dup = format!(
            "{{\"keys\":[{},{}]}}",
            HmacKey::from_bytes(&[1; 32])
                .unwrap()
                .with_kid("a")
                .export_jwk()
                .as_str(),
            HmacKey::from_bytes(&[2; 32])
                .unwrap()
                .with_kid("a")
                .export_jwk()
                .as_str()
        );
        for text in bad.iter().chain([&dup]) {
            if *text == good {
                continue;
            }
            std::fs::write(&path, text).unwrap();
            let err = file.reload().unwrap_err();
            assert!(!err.to_string().contains("AQEB"), "{err}");
            assert!(!file.reload().unwrap(), "reported once");
            assert_eq!(signer(&file).as_deref(), Some("b"), "{text}");
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.reload().unwrap_err().kind(), ErrorKind::Config);
        assert!(!file.reload().unwrap());
        assert_eq!(signer(&file).as_deref(), Some("b"));
        std::fs::write(&path, set(&[("a", 1)])).unwrap();
        assert!(file.reload().unwrap());
        assert_eq!(signer(&file).as_deref(), Some("a"));
    }

    /// The watching thread sees an atomic rename and a swap of a symbolic link, and stops
    /// when dropped.
    #[test]
    fn the_watch_sees_renames_and_link_swaps() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("v1");
        let v2 = dir.path().join("v2");
        std::fs::create_dir(&v1).unwrap();
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v1.join("keys.json"), set(&[("a", 1)])).unwrap();
        std::fs::write(v2.join("keys.json"), set(&[("b", 2), ("a", 1)])).unwrap();
        // Kubernetes: keys.json -> ..data/keys.json, ..data -> v1; a swap relinks ..data.
        std::os::unix::fs::symlink("v1", dir.path().join("..data")).unwrap();
        let path = dir.path().join("keys.json");
        std::os::unix::fs::symlink("..data/keys.json", &path).unwrap();
        let file = Arc::new(KeyFile::open(&path).unwrap());
        let watching = file.watch(Duration::from_millis(20));
        assert!(watching.is_running());
        let wait_for = |kid: &str| {
            for _ in 0..200 {
                if signer(&file).as_deref() == Some(kid) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("the watch never loaded {kid}");
        };
        std::os::unix::fs::symlink("v2", dir.path().join("..data_tmp")).unwrap();
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
        wait_for("b");
        let tmp = dir.path().join("next");
        std::fs::write(&tmp, set(&[("c", 3)])).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        wait_for("c");
        // The end of the timer channel stops the thread, as a drop does.
        let mut watching = watching;
        drop(watching.stop.take());
        for _ in 0..200 {
            if !watching.is_running() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!watching.is_running());
        drop(watching);
        std::fs::write(&path, set(&[("a", 1)])).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            signer(&file).as_deref(),
            Some("c"),
            "a dropped watch reads no more"
        );
    }
}
