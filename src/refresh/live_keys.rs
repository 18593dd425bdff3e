//! [`LiveKeys`]: the key set a running process signs and verifies with, replaceable while
//! it runs (a key added, put first or removed without a restart).

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::keyset::KeySet;
use crate::model::token::RefreshKeys;

/// A key set that can be replaced while the process runs: every clone shares it, and
/// [`Sessions`](crate::refresh::Sessions) (so the web and tower layers) read the current
/// set on each call. Reading takes no lock that requests contend on (`arc-swap`);
/// replacing is rare and atomic: a call sees the old set or the new one, never a mix.
///
/// ```
/// use tok::refresh::LiveKeys;
/// use tok::{HmacKey, KeySet};
///
/// let a = HmacKey::generate()?.with_kid("a");
/// let live = LiveKeys::new(KeySet::new(a.clone()));
/// // Routine rotation, step 2: b signs from now on, a still verifies.
/// live.replace(KeySet::from_keys(vec![HmacKey::generate()?.with_kid("b"), a])?);
/// assert_eq!(live.current().signing_key().kid(), Some("b"));
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Clone)]
pub struct LiveKeys {
    shared: Arc<ArcSwap<Keys>>,
}

/// One version of the set, with the refresh keys derived from it (derived once per
/// version, not per call).
pub(crate) struct Keys {
    pub(crate) set: KeySet,
    pub(crate) refresh: Arc<RefreshKeys>,
}

impl Keys {
    fn of(set: KeySet) -> Self {
        Self {
            refresh: Arc::new(RefreshKeys::from_key_set(&set)),
            set,
        }
    }
}

impl LiveKeys {
    /// Live keys starting with `set`.
    pub fn new(set: KeySet) -> Self {
        Self {
            shared: Arc::new(ArcSwap::from_pointee(Keys::of(set))),
        }
    }

    /// Puts `set` in place for every clone: calls that start after this one returns use
    /// it. A key left out ends, at once, every access token it signed and every session
    /// family still using its refresh key (the answer to a leaked key).
    pub fn replace(&self, set: KeySet) {
        self.shared.store(Arc::new(Keys::of(set)));
    }

    /// The set now (a copy; it does not follow later replacements).
    pub fn current(&self) -> KeySet {
        self.shared.load().set.clone()
    }
}

impl fmt::Debug for LiveKeys {
    /// Key ids only, as [`KeySet`]'s `Debug` shows them: never a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LiveKeys")
            .field(&self.shared.load().set)
            .finish()
    }
}

/// What [`Sessions::new`](crate::refresh::Sessions::new), `WebSessions::new` and
/// `BearerLayer::offline` take: a [`KeySet`], fixed for good and read directly, or
/// [`LiveKeys`], read through `arc-swap` (a few atomic operations per call) so that a
/// replacement reaches them.
pub trait SessionKeys: sealed::Sealed {
    #[doc(hidden)]
    /// Where calls read the keys.
    fn into_source(self) -> KeySource;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::keyset::KeySet {}
    impl Sealed for super::LiveKeys {}
}

impl SessionKeys for KeySet {
    fn into_source(self) -> KeySource {
        KeySource(Source::Fixed(Arc::new(Keys::of(self))))
    }
}

impl SessionKeys for LiveKeys {
    fn into_source(self) -> KeySource {
        KeySource(Source::Live(self.shared))
    }
}

/// Where calls read the keys. Public only in name: this module is private and the type
/// is not re-exported.
#[doc(hidden)]
#[derive(Clone)]
pub struct KeySource(Source);

#[derive(Clone)]
enum Source {
    /// A set nothing can replace.
    Fixed(Arc<Keys>),
    /// A set [`LiveKeys::replace`] changes.
    Live(Arc<ArcSwap<Keys>>),
}

impl KeySource {
    /// The set now, with its refresh keys, for one call.
    pub(crate) fn load(&self) -> Loaded<'_> {
        match &self.0 {
            Source::Fixed(keys) => Loaded::Fixed(keys),
            Source::Live(shared) => Loaded::Live(shared.load()),
        }
    }
}

/// The keys one call reads: borrowed from a fixed set, or a guard of the live one.
pub(crate) enum Loaded<'a> {
    Fixed(&'a Keys),
    Live(Guard<Arc<Keys>>),
}

impl std::ops::Deref for Loaded<'_> {
    type Target = Keys;

    fn deref(&self) -> &Keys {
        match self {
            Self::Fixed(keys) => keys,
            Self::Live(guard) => guard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HmacKey;

    /// A replacement reaches every clone, with refresh keys derived from the new set.
    #[test]
    fn a_replacement_reaches_every_clone() {
        let a = HmacKey::from_bytes(&[1; 32]).unwrap().with_kid("a");
        let b = HmacKey::from_bytes(&[2; 32]).unwrap().with_kid("b");
        let live = LiveKeys::new(KeySet::new(a.clone()));
        let other = live.clone();
        let before = other.shared.load().refresh.signing_key_id().to_owned();
        live.replace(KeySet::from_keys(vec![b, a]).unwrap());
        assert_eq!(other.current().signing_key().kid(), Some("b"));
        assert_ne!(other.shared.load().refresh.signing_key_id(), before);
        let shown = format!("{other:?}");
        assert!(
            shown.starts_with("LiveKeys(") && shown.contains("\"b\""),
            "{shown}"
        );
        assert!(
            !shown.contains("AQEB") && !shown.contains("AgIC"),
            "{shown}"
        );
    }
}
