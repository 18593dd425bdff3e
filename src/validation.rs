//! The validation policy: what a verified token must also satisfy.

use std::time::Duration;

use crate::claims::Claims;
use crate::error::{Error, ErrorKind};
use crate::header::{DEFAULT_TYPE, truncate};
use crate::json::MemberNames;
use crate::numeric_date::NumericDate;

/// The default maximum token length: 8 KiB. Longer input is rejected before decoding.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// The default leeway for `nbf` and a future `iat`: 30 seconds, because a token minted by
/// a server whose clock runs slightly ahead should not bounce off one slightly behind.
pub const DEFAULT_NOT_BEFORE_LEEWAY: Duration = Duration::from_secs(30);

/// What a token must satisfy beyond a good signature. Strict by default; every loosening is
/// an explicit, named call.
///
/// Defaults: `exp` required, expired when `now >= exp` (no leeway, so `exp == now` is
/// expired); `nbf` and `iat` may lie at most 30 s in the future; a token carrying `aud` is
/// rejected unless an accepted audience is named; `typ`, when present, must be `JWT`
/// (case-insensitive); tokens longer than 8 KiB are rejected unread; a token without `kid`
/// does not verify against a set of several keys.
///
/// ```
/// use std::time::Duration;
/// let validation = tok::Validation::new()
///     .with_audience("api")
///     .with_issuer("https://auth.example")
///     .with_expiry_leeway(Duration::from_secs(5))
///     .with_max_age(Duration::from_secs(3600));
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Validation {
    pub(crate) require_expiry: bool,
    pub(crate) expiry_leeway: Duration,
    pub(crate) not_before_leeway: Duration,
    pub(crate) audiences: Vec<String>,
    pub(crate) allow_unchecked_audience: bool,
    pub(crate) issuers: Vec<String>,
    pub(crate) subject: Option<String>,
    pub(crate) required: Vec<String>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) typ: String,
    pub(crate) require_type: bool,
    pub(crate) max_token_len: usize,
    pub(crate) try_all_keys: bool,
    pub(crate) max_auth_age: Option<Duration>,
    pub(crate) acr_values: Vec<String>,
}

impl Default for Validation {
    fn default() -> Self {
        Self::new()
    }
}

impl Validation {
    /// The strict defaults described on [`Validation`].
    pub fn new() -> Self {
        Self {
            require_expiry: true,
            expiry_leeway: Duration::ZERO,
            not_before_leeway: DEFAULT_NOT_BEFORE_LEEWAY,
            audiences: Vec::new(),
            allow_unchecked_audience: false,
            issuers: Vec::new(),
            subject: None,
            required: Vec::new(),
            max_age: None,
            typ: DEFAULT_TYPE.to_owned(),
            require_type: false,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            try_all_keys: false,
            max_auth_age: None,
            acr_values: Vec::new(),
        }
    }

    /// Accepts tokens without `exp`. Such tokens live until their key is retired.
    pub fn allow_missing_expiry(mut self) -> Self {
        self.require_expiry = false;
        self
    }

    /// Tolerates this much clock skew on `exp` (and on [`with_max_age`](Self::with_max_age)).
    pub fn with_expiry_leeway(mut self, leeway: Duration) -> Self {
        self.expiry_leeway = leeway;
        self
    }

    /// Tolerates this much clock skew on `nbf` and a future `iat` (default 30 s).
    pub fn with_not_before_leeway(mut self, leeway: Duration) -> Self {
        self.not_before_leeway = leeway;
        self
    }

    /// Accepts tokens whose `aud` contains `aud`. May be called several times: any one
    /// accepted audience matching is enough. Once any is named, `aud` is required.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Accepts tokens that carry an `aud` although no audience is named here. RFC 7519
    /// §4.1.3 says such tokens must be rejected; use this only for tools that inspect.
    pub fn allow_unchecked_audience(mut self) -> Self {
        self.allow_unchecked_audience = true;
        self
    }

    /// Accepts tokens whose `iss` is `iss`. May be called several times; once any is named,
    /// `iss` is required.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuers.push(iss.into());
        self
    }

    /// Requires `sub` to be exactly `sub`.
    pub fn with_subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = Some(sub.into());
        self
    }

    /// Requires the claim `name` (registered or custom) to be present.
    pub fn require_claim(mut self, name: impl Into<String>) -> Self {
        self.required.push(name.into());
        self
    }

    /// Rejects tokens issued more than `age` ago; requires `iat`.
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Expects `typ` to be `typ` (e.g. `at+jwt`, RFC 9068) instead of `JWT`, compared
    /// case-insensitively with or without `application/`. A token without `typ` still
    /// passes unless [`require_type`](Self::require_type) is set.
    pub fn with_type(mut self, typ: impl Into<String>) -> Self {
        self.typ = typ.into();
        self
    }

    /// Rejects tokens without `typ` (RFC 9068 §4 requires it for access tokens).
    pub fn require_type(mut self) -> Self {
        self.require_type = true;
        self
    }

    /// Caps the token length (default 8 KiB); longer input is rejected before decoding.
    pub fn with_max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Lets a token without `kid` be tried against every key of a set. Costs one MAC per
    /// key and hides which key signed; prefer tokens with `kid`.
    pub fn try_all_keys_without_kid(mut self) -> Self {
        self.try_all_keys = true;
        self
    }

    /// Rejects tokens whose user proved who they are (`auth_time`) `age` ago or more, or
    /// that carry no `auth_time`, as
    /// [`InsufficientUserAuthentication`](ErrorKind::InsufficientUserAuthentication): a
    /// sensitive action (a new password, a payment) asks for a recent login, and the
    /// client asks the user to log in again (RFC 9470). The expiry leeway applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// let key = tok::HmacKey::generate()?;
    /// let now = tok::NumericDate::now();
    /// let logged_in = now.saturating_sub(Duration::from_secs(600));
    /// let claims = tok::Claims::new(serde_json::json!({"auth_time": logged_in.as_secs()}))
    ///     .expires_after(now, Duration::from_secs(60));
    /// let token = tok::sign(&key, &claims)?;
    /// let recent = tok::Validation::new().with_max_auth_age(Duration::from_secs(300));
    /// let err = tok::verify::<serde_json::Value>(&key, &token, &recent).unwrap_err();
    /// assert_eq!(err.kind(), tok::ErrorKind::InsufficientUserAuthentication);
    /// # Ok::<(), tok::Error>(())
    /// ```
    pub fn with_max_auth_age(mut self, age: Duration) -> Self {
        self.max_auth_age = Some(age);
        self
    }

    /// Accepts tokens whose authentication level (`acr`) is `acr`. May be called several
    /// times; once any is named, `acr` is required, and a token without it or with
    /// another is [`InsufficientUserAuthentication`](ErrorKind::InsufficientUserAuthentication).
    pub fn with_acr_values<I: IntoIterator<Item = S>, S: Into<String>>(mut self, acr: I) -> Self {
        self.acr_values.extend(acr.into_iter().map(Into::into));
        self
    }

    /// The maximum login age this validation asks for, if any (for an RFC 9470
    /// challenge's `max_age`).
    pub fn max_auth_age(&self) -> Option<Duration> {
        self.max_auth_age
    }

    /// The authentication levels this validation accepts (empty: any).
    pub fn acr_values(&self) -> &[String] {
        &self.acr_values
    }

    /// The longest token accepted.
    pub fn max_token_len(&self) -> usize {
        self.max_token_len
    }

    /// Checks verified claims against this policy at `now`.
    pub(crate) fn check<T>(
        &self,
        claims: &Claims<T>,
        names: &MemberNames<'_>,
        now: NumericDate,
    ) -> Result<(), Error> {
        for name in &self.required {
            let present = match name.as_str() {
                "iss" => claims.iss.is_some(),
                "sub" => claims.sub.is_some(),
                "aud" => claims.aud.is_some(),
                "exp" => claims.exp.is_some(),
                "nbf" => claims.nbf.is_some(),
                "iat" => claims.iat.is_some(),
                "jti" => claims.jti.is_some(),
                custom => names.contains(custom),
            };
            if !present {
                return Err(missing(name));
            }
        }
        match claims.exp {
            Some(exp) if now >= exp.saturating_add(self.expiry_leeway) => {
                return Err(
                    Error::new(ErrorKind::Expired, format!("token expired at {exp}")).at(exp),
                );
            }
            None if self.require_expiry => return Err(missing("exp")),
            _ => {}
        }
        let not_before_limit = now.saturating_add(self.not_before_leeway);
        if let Some(nbf) = claims.nbf
            && nbf > not_before_limit
        {
            return Err(Error::new(
                ErrorKind::NotYetValid,
                format!("token is not valid before {nbf}"),
            )
            .at(nbf));
        }
        if let Some(iat) = claims.iat
            && iat > not_before_limit
        {
            return Err(Error::new(
                ErrorKind::NotYetValid,
                format!("token is issued in the future, at {iat}"),
            )
            .at(iat));
        }
        if let Some(max_age) = self.max_age {
            let iat = claims.iat.ok_or_else(|| missing("iat"))?;
            if now
                >= iat
                    .saturating_add(max_age)
                    .saturating_add(self.expiry_leeway)
            {
                return Err(Error::new(
                    ErrorKind::TooOld,
                    format!(
                        "token was issued at {iat}, more than {}s ago",
                        max_age.as_secs()
                    ),
                )
                .at(iat));
            }
        }
        if !self.issuers.is_empty() {
            let iss = claims.iss.as_deref().ok_or_else(|| missing("iss"))?;
            if !self.issuers.iter().any(|i| i == iss) {
                return Err(Error::new(
                    ErrorKind::WrongIssuer,
                    format!("issuer {:?} is not accepted", truncate(iss)),
                ));
            }
        }
        match &claims.aud {
            None if !self.audiences.is_empty() => return Err(missing("aud")),
            Some(aud)
                if !self.audiences.is_empty()
                    && !self.audiences.iter().any(|a| aud.contains(a)) =>
            {
                // Named as the issuer is: the first few audiences, each cut short, so a
                // hostile token cannot make the message long.
                let named: Vec<String> = aud
                    .iter()
                    .take(3)
                    .map(|a| format!("{:?}", truncate(a)))
                    .collect();
                let more = if aud.iter().count() > 3 { ", ..." } else { "" };
                return Err(Error::new(
                    ErrorKind::WrongAudience,
                    format!(
                        "token's audience [{}{more}] is not an accepted one",
                        named.join(", ")
                    ),
                ));
            }
            Some(_) if !self.audiences.is_empty() => {}
            Some(_) if !self.allow_unchecked_audience => {
                return Err(Error::new(
                    ErrorKind::WrongAudience,
                    "token names an audience but the verifier accepts none (RFC 7519 section 4.1.3)",
                ));
            }
            _ => {}
        }
        if let Some(expected) = &self.subject {
            let sub = claims.sub.as_deref().ok_or_else(|| missing("sub"))?;
            if sub != expected {
                return Err(Error::new(
                    ErrorKind::WrongSubject,
                    format!("subject {:?} is not the expected one", truncate(sub)),
                ));
            }
        }
        Ok(())
    }
}

/// The login claims, read from a verified payload only when a validation asks for them
/// (a second, small parse, so that every other verification pays nothing).
#[derive(serde::Deserialize)]
struct LoginClaims {
    auth_time: Option<NumericDate>,
    acr: Option<String>,
}

impl Validation {
    /// Whether this validation reads the login claims.
    pub(crate) fn checks_login(&self) -> bool {
        self.max_auth_age.is_some() || !self.acr_values.is_empty()
    }

    /// Checks the login claims of a verified `payload` (whose claims passed
    /// [`check`](Self::check), duplicates included) at `now`.
    pub(crate) fn check_login(&self, payload: &[u8], now: NumericDate) -> Result<(), Error> {
        let login: LoginClaims = serde_json::from_slice(payload).map_err(|e| {
            Error::malformed(format!(
                "claim \"auth_time\" or \"acr\" is not valid: {}",
                crate::json::shorten_quotes(&e.to_string())
            ))
        })?;
        let insufficient =
            |detail: String| Error::new(ErrorKind::InsufficientUserAuthentication, detail);
        if let Some(max) = self.max_auth_age {
            let Some(auth_time) = login.auth_time else {
                return Err(insufficient(
                    "the token does not say when its user logged in (no auth_time)".into(),
                ));
            };
            if now
                >= auth_time
                    .saturating_add(max)
                    .saturating_add(self.expiry_leeway)
            {
                return Err(insufficient(format!(
                    "the user logged in at {auth_time}, more than {}s ago: log in again",
                    max.as_secs()
                ))
                .at(auth_time));
            }
        }
        if !self.acr_values.is_empty() {
            let acr = login.acr.as_deref().unwrap_or_default();
            if !self.acr_values.iter().any(|a| a == acr) {
                return Err(insufficient(match login.acr {
                    None => "the token does not say its authentication level (no acr)".into(),
                    Some(acr) => format!(
                        "authentication level {:?} is not an accepted one",
                        truncate(&acr)
                    ),
                }));
            }
        }
        Ok(())
    }
}

fn missing(name: &str) -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        format!("required claim {:?} is missing", truncate(name)),
    )
}
