//! [`ClaimString`]: tok's own string type for registered claims.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The string type of registered claims (`iss`, `sub`, `aud`, `jti`): a `str` that keeps
/// values of up to 24 bytes inline (nearly every one of them), so verification does not
/// allocate for them. It derefs to `str`, converts from `&str` and `String`, and compares
/// with both.
///
/// A type of tok's own: what stores the bytes is an implementation detail that can change
/// without changing tok's API.
///
/// ```
/// let sub = tok::ClaimString::from("user-42");
/// assert_eq!(sub, "user-42");
/// assert_eq!(sub.len(), 7);
/// let owned: String = sub.into();
/// # let _ = owned;
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimString(CompactString);

impl ClaimString {
    /// The string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for ClaimString {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for ClaimString {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for ClaimString {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for ClaimString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for ClaimString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl From<&str> for ClaimString {
    fn from(s: &str) -> Self {
        Self(CompactString::from(s))
    }
}

impl From<&String> for ClaimString {
    fn from(s: &String) -> Self {
        Self(CompactString::from(s.as_str()))
    }
}

impl From<String> for ClaimString {
    fn from(s: String) -> Self {
        Self(CompactString::from(s))
    }
}

impl From<ClaimString> for String {
    fn from(s: ClaimString) -> Self {
        s.0.into()
    }
}

impl PartialEq<str> for ClaimString {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for ClaimString {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for ClaimString {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl Serialize for ClaimString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for ClaimString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        CompactString::deserialize(d).map(Self)
    }
}
