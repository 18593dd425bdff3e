//! The claim set (RFC 7519 §4): registered claims typed by tok, custom claims by the caller.
//!
//! Parsing is one pass: the registered members are read into their own typed fields (so a
//! string `exp` is an error even when the caller's type never mentions `exp`), every other
//! member is handed to the caller's serde type, and every top-level name is tracked so a
//! duplicate is rejected without a second parse.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

mod ser;
mod string;

use crate::error::Error;
use crate::header::truncate;
use crate::json::{self, MemberNames, NameSeed};
use crate::numeric_date::NumericDate;

pub use string::ClaimString;

/// The claim names RFC 7519 §4.1 registers; tok reads these itself.
pub const REGISTERED: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

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

/// Parses a decoded payload: the registered claims into `registered`, the custom top-level
/// member names into `names` (for required-claim checks), and returns the custom claims.
/// The large parts are filled in place rather than returned, since moving them through
/// each layer of `Result` was a measurable share of verification time.
pub(crate) fn parse<'de, T: Deserialize<'de>>(
    json: &'de [u8],
    registered: &mut Claims<()>,
    names: &mut MemberNames<'de>,
) -> Result<T, Error> {
    // Nested values are the caller type's to read: most types would silently keep one of
    // two duplicate members, and ignored values skip the depth limit. A separate walk
    // checks both, run only when nesting is possible.
    if json::may_nest(json) {
        json::check_no_duplicates(json)?;
    }
    let mut slot = None;
    let mut de = serde_json::Deserializer::from_str(json::utf8(json, "claims")?);
    let parsed = de
        .deserialize_map(ClaimsVisitor::<T> {
            registered,
            names,
            error: &mut slot,
            marker: PhantomData,
        })
        .and_then(|c| de.end().map(|()| c));
    parsed.map_err(|e| {
        slot.take()
            .unwrap_or_else(|| json::malformed_json(e, "claims"))
    })
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Claims<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut registered = Claims::new(());
        let mut names = MemberNames::new();
        let mut slot = None;
        let custom = d.deserialize_map(ClaimsVisitor::<T> {
            registered: &mut registered,
            names: &mut names,
            error: &mut slot,
            marker: PhantomData,
        })?;
        Ok(registered.with_custom(custom))
    }
}

struct ClaimsVisitor<'a, 'de, T> {
    registered: &'a mut Claims<()>,
    names: &'a mut MemberNames<'de>,
    error: &'a mut Option<Error>,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ClaimsVisitor<'_, 'de, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let mut access = ClaimsAccess {
            inner: map,
            registered: self.registered,
            seen: 0,
            names: self.names,
            error: self.error,
        };
        let custom = T::deserialize(CustomDeserializer {
            access: &mut access,
        })?;
        // The caller's type may stop early; the rest must still be read and checked.
        while access.next_key::<IgnoredAny>()?.is_some() {
            access.next_value::<IgnoredAny>()?;
        }
        Ok(custom)
    }
}

/// A map access that takes the registered claims out of the stream and passes the rest on.
struct ClaimsAccess<'a, 'de, A> {
    inner: A,
    registered: &'a mut Claims<()>,
    /// Which registered claims were seen, one bit each: cheaper than a name set.
    seen: u8,
    /// The custom member names seen.
    names: &'a mut MemberNames<'de>,
    error: &'a mut Option<Error>,
}

impl<'de, A: MapAccess<'de>> ClaimsAccess<'_, 'de, A> {
    /// Reads the value of registered claim `name`, recording a typed error on failure.
    /// `index` is the claim's position in [`REGISTERED`].
    fn read<V: Deserialize<'de>>(&mut self, index: u8) -> Result<V, A::Error> {
        self.first_sight(index)?;
        self.inner
            .next_value::<V>()
            .map_err(|e| self.invalid(index, e))
    }

    /// Reads string claim `index` (`iss`, `sub` or `jti`) straight into its field:
    /// returning the string through `Result`, as [`read`](Self::read) does, makes the
    /// caller copy it again on the verification's hot path.
    fn read_string(&mut self, index: u8) -> Result<(), A::Error> {
        self.first_sight(index)?;
        let slot = match index {
            0 => &mut self.registered.iss,
            1 => &mut self.registered.sub,
            _ => &mut self.registered.jti,
        };
        self.inner
            .next_value_seed(StringSlot(slot))
            .map_err(|e| self.invalid(index, e))
    }

    /// Fails if registered claim `index` was seen before; marks it seen.
    fn first_sight(&mut self, index: u8) -> Result<(), A::Error> {
        let bit = 1u8 << index;
        if self.seen & bit != 0 {
            return Err(self.duplicate(REGISTERED[usize::from(index)]));
        }
        self.seen |= bit;
        Ok(())
    }

    /// Records the typed error for an invalid value of registered claim `index`.
    fn invalid(&mut self, index: u8, e: A::Error) -> A::Error {
        let name = REGISTERED[usize::from(index)];
        *self.error = Some(Error::malformed(format!(
            "claim {name:?} is not valid: {e}"
        )));
        e
    }
}

/// Deserializes a JSON string into the claim field it borrows.
struct StringSlot<'a>(&'a mut Option<ClaimString>);

impl<'de> DeserializeSeed<'de> for StringSlot<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StringSlot<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        *self.0 = Some(ClaimString::from(v));
        Ok(())
    }
}

impl<'de, A: MapAccess<'de>> ClaimsAccess<'_, 'de, A> {
    fn duplicate(&mut self, name: &str) -> A::Error {
        *self.error = Some(Error::malformed(format!(
            "claims repeat the member {:?}",
            truncate(name)
        )));
        de::Error::custom(json::DUPLICATE)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ClaimsAccess<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(name) = self.inner.next_key_seed(NameSeed)? else {
                return Ok(None);
            };
            match &*name {
                "iss" => self.read_string(0)?,
                "sub" => self.read_string(1)?,
                "jti" => self.read_string(6)?,
                "aud" => self.registered.aud = Some(self.read(2)?),
                "exp" => self.registered.exp = Some(self.read(3)?),
                "nbf" => self.registered.nbf = Some(self.read(4)?),
                "iat" => self.registered.iat = Some(self.read(5)?),
                _ => {
                    if !self.names.insert(name.clone()) {
                        return Err(self.duplicate(&name));
                    }
                    return match name {
                        Cow::Borrowed(s) => seed.deserialize(BorrowedStrDeserializer::new(s)),
                        Cow::Owned(s) => seed.deserialize(StringDeserializer::new(s)),
                    }
                    .map(Some);
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// Presents the non-registered members to the caller's type as a map.
struct CustomDeserializer<'b, 'a, 'de, A> {
    access: &'b mut ClaimsAccess<'a, 'de, A>,
}

impl<'de, A: MapAccess<'de>> CustomDeserializer<'_, '_, 'de, A> {
    /// For types that take no members (`()`, unit structs): read and check them all.
    fn drain(self) -> Result<(), A::Error> {
        while self.access.next_key::<IgnoredAny>()?.is_some() {
            self.access.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for CustomDeserializer<'_, '_, 'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.access)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.drain()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom(
            "custom claims must be a map or struct type",
        ))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf tuple tuple_struct map struct enum identifier
    }
}

// `Audience` parses by hand so that an array holding a non-string is an error naming the
// claim, and an empty string is kept as the (never matching) value it is.
impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.into()))
            }

            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Audience, S::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(aud) = seq.next_element::<ClaimString>()? {
                    list.push(aud);
                }
                Ok(Audience::Many(list))
            }
        }
        d.deserialize_any(AudienceVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
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
