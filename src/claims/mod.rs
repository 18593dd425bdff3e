//! The claim set (RFC 7519 §4): registered claims typed by tok, custom claims by the caller.
//!
//! Parsing is one pass: the registered members are read into their own typed fields (so a
//! string `exp` is an error even when the caller's type never mentions `exp`), every other
//! member is handed to the caller's serde type, and every top-level name is tracked so a
//! duplicate is rejected without a second parse.

use std::time::Duration;

use serde::Serialize;

mod de;
mod ser;
mod string;

use crate::numeric_date::NumericDate;

pub(crate) use de::parse;
pub use string::ClaimString;

/// The claim names RFC 7519 §4.1 registers; tok reads these itself.
pub const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// The claims that say how the user logged in (OpenID Connect Core §2, registered with
/// IANA): `auth_time`, when they last proved who they are; `amr`, how; `acr`, at what
/// level. tok reads them only for a [`Validation`](crate::Validation) that asks
/// ([`with_max_auth_age`](crate::Validation::with_max_auth_age),
/// [`with_acr_values`](crate::Validation::with_acr_values)); sessions set them.
pub const LOGIN_CLAIMS: [&str; 3] = ["auth_time", "amr", "acr"];

/// No custom claims: the default for [`Claims`].
pub type NoCustomClaims = ();

/// A claim set: the registered claims plus the caller's custom claims `T`.
///
/// The builder methods store instants in whole seconds, as nearly every JWT consumer
/// expects integers: `exp` and `iat` round down and `nbf` rounds up, so rounding never
/// makes a token valid for longer. Fields set directly keep their fraction.
///
/// `T` is any serde type whose fields do not reuse a registered name; for tools that want
/// everything untyped, use `serde_json::Map<String, serde_json::Value>`.
///
/// ```
/// use std::time::Duration;
/// use tok::{Claims, NumericDate};
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Custom { role: String }
///
/// let now = NumericDate::now();
/// let claims = Claims::new(Custom { role: "admin".into() })
///     .with_subject("user-42")
///     .with_issuer("https://auth.example")
///     .with_audience("api")
///     .issued_at(now)
///     .expires_after(now, Duration::from_secs(900));
/// assert_eq!(claims.sub.as_deref(), Some("user-42"));
/// # Ok::<(), tok::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Claims<T = NoCustomClaims> {
    /// `iss`: who issued the token.
    pub iss: Option<ClaimString>,
    /// `sub`: whom the token is about.
    pub sub: Option<ClaimString>,
    /// `aud`: for whom the token is meant.
    pub aud: Option<Audience>,
    /// `exp`: the token is invalid from this instant on.
    pub exp: Option<NumericDate>,
    /// `nbf`: the token is invalid before this instant.
    pub nbf: Option<NumericDate>,
    /// `iat`: when the token was issued.
    pub iat: Option<NumericDate>,
    /// `jti`: a unique identifier of the token.
    pub jti: Option<ClaimString>,
    /// The caller's own claims, written beside the registered ones. Their names must
    /// not be registered names.
    pub custom: T,
}

impl<T> Claims<T> {
    /// A claim set with no registered claims and the given custom claims.
    pub fn new(custom: T) -> Self {
        Self {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            custom,
        }
    }

    /// Sets `iss`.
    pub fn with_issuer(mut self, iss: impl Into<ClaimString>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets `sub`.
    pub fn with_subject(mut self, sub: impl Into<ClaimString>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    /// Sets `aud` to one audience.
    pub fn with_audience(mut self, aud: impl Into<ClaimString>) -> Self {
        self.aud = Some(Audience::One(aud.into()));
        self
    }

    /// Sets `aud` to several audiences (one is written as a plain string).
    pub fn with_audiences<I: IntoIterator<Item = S>, S: Into<ClaimString>>(
        mut self,
        auds: I,
    ) -> Self {
        let mut list: Vec<ClaimString> = auds.into_iter().map(Into::into).collect();
        self.aud = match list.len() {
            0 => None,
            1 => list.pop().map(Audience::One),
            _ => Some(Audience::Many(list)),
        };
        self
    }

    /// Sets `exp` (rounded down to a whole second).
    pub fn with_expiry(mut self, exp: NumericDate) -> Self {
        self.exp = Some(exp.floor_secs());
        self
    }

    /// Sets `exp` to `now + ttl` (rounded down to a whole second).
    pub fn expires_after(self, now: NumericDate, ttl: Duration) -> Self {
        self.with_expiry(now.saturating_add(ttl))
    }

    /// Sets `nbf` (rounded up to a whole second).
    pub fn with_not_before(mut self, nbf: NumericDate) -> Self {
        self.nbf = Some(nbf.ceil_secs());
        self
    }

    /// Sets `iat` (rounded down to a whole second).
    pub fn issued_at(mut self, iat: NumericDate) -> Self {
        self.iat = Some(iat.floor_secs());
        self
    }

    /// Sets `jti`.
    pub fn with_id(mut self, jti: impl Into<ClaimString>) -> Self {
        self.jti = Some(jti.into());
        self
    }
}

impl Claims<NoCustomClaims> {
    /// These registered claims with `custom` beside them.
    pub fn with_custom<T>(self, custom: T) -> Claims<T> {
        Claims {
            iss: self.iss,
            sub: self.sub,
            aud: self.aud,
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: self.jti,
            custom,
        }
    }
}

impl Default for Claims<NoCustomClaims> {
    fn default() -> Self {
        Self::new(())
    }
}

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, written as a string.
    One(ClaimString),
    /// Several audiences, written as an array.
    Many(Vec<ClaimString>),
}

impl Audience {
    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many.as_slice(),
        };
        slice.iter().map(ClaimString::as_str)
    }

    /// Whether `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::json::MemberNames;
    use serde::Deserialize;
    use serde_json::{Map, Value};

    #[derive(Debug, Deserialize, PartialEq)]
    struct Role {
        role: String,
    }

    #[test]
    fn splits_registered_from_custom() {
        let json = br#"{"sub":"u1","aud":["a","b"],"exp":10,"role":"admin","x":[1,{"y":2}]}"#;
        let mut names = MemberNames::new();
        let mut c = Claims::new(());
        let role = parse::<Role>(json, &mut c, &mut names).unwrap();
        let c = c.with_custom(role);
        assert_eq!(c.sub.as_deref(), Some("u1"));
        assert!(c.aud.as_ref().unwrap().contains("b"));
        assert_eq!(c.exp.unwrap().as_secs(), 10);
        assert_eq!(c.custom.role, "admin");
        assert!(names.contains("x") && !names.contains("nbf"));

        let mut c = Claims::new(());
        let map = parse::<Map<String, Value>>(json, &mut c, &mut MemberNames::new()).unwrap();
        assert_eq!(
            map.len(),
            2,
            "registered claims are not repeated in the map"
        );
        let mut c = Claims::new(());
        parse::<()>(json, &mut c, &mut MemberNames::new()).unwrap();
        assert_eq!(c.sub.as_deref(), Some("u1"));
    }

    #[test]
    fn registered_claims_are_typed() {
        for bad in [
            r#"{"exp":"10"}"#,
            r#"{"nbf":-1}"#,
            r#"{"iat":1e400}"#,
            r#"{"aud":1}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"sub":null}"#,
            r#"{"iss":{}}"#,
            r#"{"exp":1,"exp":1}"#,
            r#"{"aud":"a","x":{"q":1,"q":2}}"#,
            r#"[]"#,
            r#"{"sub":"a"}{}"#,
        ] {
            let e = parse::<Map<String, Value>>(
                bad.as_bytes(),
                &mut Claims::new(()),
                &mut MemberNames::new(),
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{bad}");
        }
        let e = parse::<()>(
            br#"{"exp":"10"}"#,
            &mut Claims::new(()),
            &mut MemberNames::new(),
        )
        .unwrap_err();
        assert!(e.detail().contains("\"exp\""), "{e}");
    }

    #[test]
    fn serializes_flat() {
        let c = Claims::new(serde_json::json!({"role": "admin"}))
            .with_subject("u")
            .with_audiences(["a"]);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"sub":"u","aud":"a","role":"admin"}"#
        );
        let c = Claims::default().with_audiences(["a", "b"]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"aud":["a","b"]}"#);
    }

    #[test]
    fn serializing_refuses_registered_and_repeated_names() {
        let c = Claims::new(serde_json::json!({"sub": "again"}));
        let e = serde_json::to_string(&c).unwrap_err();
        assert!(e.to_string().contains("registered"), "{e}");

        #[derive(Serialize)]
        struct Twice {
            role: String,
            #[serde(flatten)]
            extra: std::collections::BTreeMap<String, u8>,
        }
        let c = Claims::new(Twice {
            role: "a".into(),
            extra: [("role".to_string(), 1)].into(),
        });
        assert!(serde_json::to_string(&c).is_err());
        let c = Claims::new(std::collections::BTreeMap::from([(7u32, true)]));
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"7":true}"#);
        assert!(serde_json::to_string(&Claims::new(5)).is_err());
        assert!(serde_json::to_string(&Claims::new(Some(()))).is_ok());
    }

    #[test]
    fn deserialize_impl_round_trips() {
        let c: Claims<Map<String, Value>> =
            serde_json::from_str(r#"{"sub":"u","exp":5,"k":true}"#).unwrap();
        let back: Claims<Map<String, Value>> =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(c, back);
    }
}
