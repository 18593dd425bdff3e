//! What a family records of its user's login: when they last proved who they are
//! (`auth_time`), how (`amr`) and at what level (`acr`), and whether the login is
//! remembered beyond the browser's session. No I/O here.
//!
//! Stores keep a [`Login`] as one opaque text field ([`Login::to_stored`]) beside the
//! claims, never inside them: a privilege change replaces the claims, a
//! reauthentication replaces the login, and neither can carry back the other's old value
//! when they race.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::numeric_date::NumericDate;

/// The most authentication methods one login records (`amr`): a password, a second
/// factor and a few more; a login with more names is refused, so a family's stored size
/// stays small and constant.
pub const MAX_METHODS: usize = 8;

/// The longest authentication method or level name, in bytes (`amr` entries and `acr`).
pub const MAX_METHOD_BYTES: usize = 64;

/// A session's login: what the application said at login (or at the latest
/// reauthentication) about how its user proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// When the user last proved who they are (OpenID Connect `auth_time`): the login,
    /// or the latest [`reauthenticate`](crate::refresh::Sessions::reauthenticate).
    /// Rotations, grace and privilege changes never move it.
    pub auth_time: NumericDate,
    /// How (`amr`, RFC 8176 values such as `pwd`, `otp`, `hwk`); empty when the
    /// application said nothing.
    pub amr: Vec<String>,
    /// At what level (`acr`), when the application names levels.
    pub acr: Option<String>,
    /// Whether the login outlives the browser's session (a "remember me" box): a
    /// remembered login gets persistent cookies and the policy's full session lifetime;
    /// another gets session cookies and the shorter lifetime for unremembered logins.
    pub remember: bool,
}

/// The stored form: compact names, the instant in whole milliseconds.
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(rename = "t")]
    auth_ms: u64,
    #[serde(rename = "m", default, skip_serializing_if = "Vec::is_empty", borrow)]
    amr: Vec<std::borrow::Cow<'a, str>>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none", borrow)]
    acr: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "r")]
    remember: bool,
}

impl Login {
    /// A login at `auth_time` that says nothing of its method or level, remembered.
    pub fn at(auth_time: NumericDate) -> Self {
        Self {
            auth_time,
            amr: Vec::new(),
            acr: None,
            remember: true,
        }
    }

    /// The text a store keeps (and gives back to [`from_stored`](Self::from_stored)).
    pub fn to_stored(&self) -> String {
        let stored = Stored {
            auth_ms: self.auth_time.as_millis(),
            amr: self.amr.iter().map(|m| m.as_str().into()).collect(),
            acr: self.acr.as_deref().map(Into::into),
            remember: self.remember,
        };
        // Serializing a struct of integers, strings and a bool cannot fail.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The login a store kept as `stored` for a family created at `created_at`. An empty
    /// text is a family stored before logins were recorded: its user logged in when it
    /// was created, and it was remembered (as every login was then).
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store) when the text is not a stored login.
    pub fn from_stored(stored: &str, created_at: NumericDate) -> Result<Self, Error> {
        if stored.is_empty() {
            return Ok(Self::at(created_at));
        }
        let corrupt = |detail: String| {
            Error::new(
                ErrorKind::Store,
                format!("a stored login is not readable: {detail}"),
            )
        };
        let s: Stored<'_> = serde_json::from_str(stored).map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            auth_time: NumericDate::from_millis(s.auth_ms).map_err(|e| corrupt(e.to_string()))?,
            amr: s.amr.into_iter().map(String::from).collect(),
            acr: s.acr.map(String::from),
            remember: s.remember,
        })
    }

    /// Checks what the application gave: at most [`MAX_METHODS`] methods, each method and
    /// the level at most [`MAX_METHOD_BYTES`] of printable ASCII without spaces or
    /// quotes (they travel in tokens and in an RFC 9470 challenge).
    ///
    /// # Errors
    /// [`TooLarge`](ErrorKind::TooLarge) for too many or too long names,
    /// [`Malformed`](ErrorKind::Malformed) for an empty name or another character.
    pub fn check(&self) -> Result<(), Error> {
        if self.amr.len() > MAX_METHODS {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "a login may name at most {MAX_METHODS} authentication methods, not {}",
                    self.amr.len()
                ),
            ));
        }
        for name in self.amr.iter().chain(self.acr.as_ref()) {
            check_name(name)?;
        }
        Ok(())
    }
}

/// An `amr` or `acr` value: short, printable ASCII, no space, quote or backslash.
fn check_name(name: &str) -> Result<(), Error> {
    if name.len() > MAX_METHOD_BYTES {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "an authentication method or level of {} bytes is longer than {MAX_METHOD_BYTES}",
                name.len()
            ),
        ));
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(Error::malformed(
            "an authentication method or level must be printable ASCII without spaces, \
             quotes or backslashes (e.g. \"pwd\", \"otp\", \"urn:example:loa:2\")",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> NumericDate {
        NumericDate::from_millis(ms).unwrap()
    }

    #[test]
    fn stored_logins_read_back_exactly() {
        let full = Login {
            auth_time: at(1_800_000_000_123),
            amr: vec!["pwd".into(), "otp".into()],
            acr: Some("urn:example:loa:2".into()),
            remember: false,
        };
        let bare = Login::at(at(5));
        for login in [full, bare] {
            let text = login.to_stored();
            assert_eq!(Login::from_stored(&text, at(1)).unwrap(), login, "{text}");
        }
        assert_eq!(
            Login::at(at(7)).to_stored(),
            r#"{"t":7,"r":true}"#,
            "nothing said, nothing stored"
        );
    }

    #[test]
    fn a_family_from_before_logged_in_at_creation_and_was_remembered() {
        let login = Login::from_stored("", at(42_000)).unwrap();
        assert_eq!(login, Login::at(at(42_000)));
        assert!(login.remember);
    }

    #[test]
    fn unreadable_stored_logins_are_store_errors() {
        for bad in ["{", "[]", r#"{"t":-1,"r":true}"#, r#"{"r":true}"#] {
            let e = Login::from_stored(bad, at(1)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Store, "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        let mut login = Login::at(at(1));
        login.amr = vec!["pwd".into(); MAX_METHODS];
        login.acr = Some("a".repeat(MAX_METHOD_BYTES));
        login.check().unwrap();
        login.amr.push("otp".into());
        assert_eq!(login.check().unwrap_err().kind(), ErrorKind::TooLarge);
        login.amr.pop();
        login.acr = Some("a".repeat(MAX_METHOD_BYTES + 1));
        assert_eq!(login.check().unwrap_err().kind(), ErrorKind::TooLarge);
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\nb"] {
            login.acr = Some(bad.into());
            assert_eq!(
                login.check().unwrap_err().kind(),
                ErrorKind::Malformed,
                "{bad:?}"
            );
        }
    }
}
