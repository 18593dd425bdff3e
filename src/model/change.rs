//! What a store tells about its writes, as far as online checks care: the [`Change`]s
//! that end a family or denylist a `jti`, their one message format on a change feed (a
//! Redis channel, a PostgreSQL NOTIFY, SQLite's change log), and the two sides of a feed:
//! a backend follows other processes' writes for a [`ChangeListener`] (what a cache layered
//! on the store implements) and says in a [`Feed`] how it does. No I/O here.

use std::any::Any;

/// What another process (or this one) changed, as far as online checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The family with this id ended (or changed in a way a check must see).
    Family(String),
    /// Every family of this subject ended.
    Subject(String),
    /// Every family of the subject with this [`subject_digest`] ended: how a change feed
    /// names a subject, in a message of fixed size whatever the subject's length.
    SubjectDigest(SubjectDigest),
    /// This `jti` was denylisted.
    Jti(String),
    /// Anything may have changed (a feed that lost messages): drop every entry.
    Everything,
}

impl Change {
    /// The change as a message on a store's change feed (a Redis channel, a PostgreSQL
    /// NOTIFY): `f:FAMILY`, `h:SUBJECT_DIGEST` (32 hex digits, see [`subject_digest`]),
    /// `j:JTI` or `*`. A subject is sent as its digest, so no subject is too long for a
    /// feed's message limit (which would turn the change into "drop everything" on every
    /// process). The SQL that announces changes writes the same format
    /// (`tok_revoke_subject` in the PostgreSQL schema).
    pub fn to_message(&self) -> String {
        match self {
            Change::Family(id) => format!("f:{id}"),
            Change::Subject(subject) => format!("h:{}", subject_digest(subject).to_hex()),
            Change::SubjectDigest(digest) => format!("h:{}", digest.to_hex()),
            Change::Jti(jti) => format!("j:{jti}"),
            Change::Everything => "*".to_owned(),
        }
    }

    /// The change a feed message announces. Anything else (a newer tok's message) is read
    /// as the safest answer, [`Change::Everything`]. (An older tok announced a subject as
    /// `s:SUBJECT`, which is still read; an older tok reads `h:` as "drop everything".)
    pub fn from_message(message: &str) -> Change {
        match message.split_at_checked(2) {
            Some(("f:", id)) => Change::Family(id.to_owned()),
            Some(("h:", hex)) => {
                SubjectDigest::from_hex(hex).map_or(Change::Everything, Change::SubjectDigest)
            }
            Some(("s:", subject)) => Change::Subject(subject.to_owned()),
            Some(("j:", jti)) => Change::Jti(jti.to_owned()),
            _ => Change::Everything,
        }
    }
}

/// A subject's name in change messages: the first 16 bytes of its SHA-256. Two subjects
/// sharing a digest would only drop each other's cached answers, never keep one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubjectDigest([u8; 16]);

impl SubjectDigest {
    /// The 32 lower-case hex digits of the digest (what PostgreSQL's `encode(…, 'hex')`
    /// writes).
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads 32 hex digits (either case); anything else is `None`.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Self(bytes))
    }
}

/// The digest that names `subject` in change messages.
pub fn subject_digest(subject: &str) -> SubjectDigest {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(subject.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    SubjectDigest(first)
}

/// Who hears a store's change feed: told each change, and whether the feed is proven
/// (connected and known to carry every write) at this moment. A listener must not answer
/// anything from what it remembers while the feed is not proven.
pub trait ChangeListener: Send + Sync {
    /// Another process (or this one) made `change`.
    fn changed(&self, change: &Change);

    /// The feed is proven (`true`: from now on every write reaches [`changed`](Self::changed))
    /// or lost (`false`: writes may be missed until it is proven again). Either way the
    /// listener forgets what it remembered.
    fn set_hearing(&self, hearing: bool);

    /// Whether the feed is proven now.
    fn is_hearing(&self) -> bool;
}

/// How a store follows other writers' changes for a listener (see
/// [`Store::follow_changes`](crate::store::Store::follow_changes)).
#[non_exhaustive]
pub enum Feed {
    /// No other writer exists: every write goes through the handle the listener's layer
    /// wraps (an in-process store). The layer alone keeps the listener current.
    OnlyThisHandle,
    /// The store follows other writers' changes, until the listener is dropped; this
    /// value holds what the follower needs kept (dropping it may wait for the follower to
    /// end). The store sets the listener hearing once the feed is proven.
    Following(Box<dyn Any + Send + Sync>),
    /// The store cannot learn of other writers' changes: a listener would remember what
    /// they ended.
    Unavailable,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Feed::OnlyThisHandle => "OnlyThisHandle",
            Feed::Following(_) => "Following",
            Feed::Unavailable => "Unavailable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_messages_round_trip() {
        for change in [
            Change::Family("abc".into()),
            Change::SubjectDigest(subject_digest("a:b c")),
            Change::Jti("j".into()),
            Change::Everything,
        ] {
            assert_eq!(Change::from_message(&change.to_message()), change);
        }
        // A subject travels as its digest, of fixed size however long the subject.
        let long = "s".repeat(10 * 1024);
        let message = Change::Subject(long.clone()).to_message();
        assert_eq!(message.len(), 2 + 32);
        assert_eq!(
            Change::from_message(&message),
            Change::SubjectDigest(subject_digest(&long))
        );
        // Known digest (python3 -c "import hashlib; print(hashlib.sha256(b'alice').hexdigest()[:32])").
        assert_eq!(
            subject_digest("alice").to_hex(),
            "2bd806c97f0e00af1a1fc3328fa763a9"
        );
        assert_eq!(
            Change::from_message("s:alice"),
            Change::Subject("alice".into())
        );
        assert_eq!(Change::from_message("h:xyz"), Change::Everything);
        assert_eq!(
            Change::from_message(&format!("h:{}", "g".repeat(32))),
            Change::Everything
        );
        assert_eq!(Change::from_message("x:1"), Change::Everything);
        assert_eq!(Change::from_message(""), Change::Everything);
        assert_eq!(Change::from_message("f:"), Change::Family(String::new()));
    }
}
