//! What an application says of a login: [`LoginDetails`], which
//! [`Sessions::issue_with`](crate::refresh::Sessions::issue_with) records and
//! [`Sessions::reauthenticate`](crate::refresh::Sessions::reauthenticate) renews.

use crate::error::Error;
use crate::model::login::Login;
use crate::numeric_date::NumericDate;

/// What the application says of a login beyond who logged in: how the user proved who
/// they are (`amr`) and at what level (`acr`), whether the login is remembered, and a
/// label for a devices page. The default: nothing said, remembered, no label.
///
/// ```
/// let details = tok::refresh::LoginDetails::new()
///     .with_methods(["pwd", "otp"])
///     .with_level("urn:example:loa:2")
///     .not_remembered()
///     .with_label("Firefox on Linux");
/// assert!(!details.remembered());
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoginDetails {
    pub(crate) amr: Vec<String>,
    pub(crate) acr: Option<String>,
    pub(crate) remember: bool,
    pub(crate) label: String,
}

impl Default for LoginDetails {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginDetails {
    /// Nothing said of the login; remembered; no label.
    pub fn new() -> Self {
        Self {
            amr: Vec::new(),
            acr: None,
            remember: true,
            label: String::new(),
        }
    }

    /// How the user proved who they are (`amr`, RFC 8176 values: `pwd`, `otp`, `hwk`,
    /// `mfa`...), at most [`MAX_METHODS`](crate::refresh::login::MAX_METHODS).
    pub fn with_methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, amr: I) -> Self {
        self.amr = amr.into_iter().map(Into::into).collect();
        self
    }

    /// At what level (`acr`): whatever names the application gives its levels.
    pub fn with_level(mut self, acr: impl Into<String>) -> Self {
        self.acr = Some(acr.into());
        self
    }

    /// A login not remembered (a "remember me" box left unticked): the session lasts the
    /// policy's [`unremembered lifetime`](crate::refresh::RefreshPolicy::with_unremembered_lifetime)
    /// and its pairs say [`remembered`](crate::refresh::TokenPair::remembered)` == false`, so the web
    /// layer sets session cookies (no `Max-Age`, no `Expires`).
    pub fn not_remembered(mut self) -> Self {
        self.remember = false;
        self
    }

    /// Whether the login is remembered (the default), as a flag.
    pub fn remembered_if(mut self, remember: bool) -> Self {
        self.remember = remember;
        self
    }

    /// A label the session keeps for a devices page (see
    /// [`Sessions::issue_labelled`](crate::refresh::Sessions::issue_labelled)).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Whether the login is remembered.
    pub fn remembered(&self) -> bool {
        self.remember
    }

    /// Checks the methods, level and label: what
    /// [`Sessions::issue_with`](crate::refresh::Sessions::issue_with) and
    /// [`Sessions::reauthenticate`](crate::refresh::Sessions::reauthenticate) refuse.
    ///
    /// # Errors
    /// [`TooLarge`](crate::ErrorKind::TooLarge) or [`Malformed`](crate::ErrorKind::Malformed).
    pub fn check(&self) -> Result<(), Error> {
        crate::model::family::check_label(&self.label)?;
        self.login_at(NumericDate::EPOCH).map(drop)
    }

    /// The login these details record at `now`.
    pub(crate) fn login_at(&self, now: NumericDate) -> Result<Login, Error> {
        let login = Login {
            auth_time: now,
            amr: self.amr.clone(),
            acr: self.acr.clone(),
            remember: self.remember,
        };
        login.check()?;
        Ok(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_say_what_was_given() {
        assert!(LoginDetails::new().remembered());
        assert!(!LoginDetails::new().remembered_if(false).remembered());
        assert!(
            LoginDetails::new()
                .not_remembered()
                .remembered_if(true)
                .remembered()
        );
        let login = LoginDetails::new()
            .with_methods(["pwd"])
            .with_level("loa2")
            .not_remembered()
            .login_at(NumericDate::EPOCH)
            .unwrap();
        assert_eq!(
            (login.amr, login.acr.as_deref(), login.remember),
            (vec!["pwd".to_owned()], Some("loa2"), false)
        );
        assert!(LoginDetails::new().with_label("a\nb").check().is_err());
        assert!(LoginDetails::new().with_methods([""]).check().is_err());
        LoginDetails::default().with_label("phone").check().unwrap();
    }
}
