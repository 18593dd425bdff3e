//! Reading a claim set in one pass: the registered members into their typed fields, every
//! other member to the caller's serde type, each top-level name tracked so that a
//! duplicate is refused without a second parse.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Audience, ClaimString, Claims, REGISTERED};
use crate::error::Error;
use crate::header::truncate;
use crate::json::{self, MemberNames, NameSeed};

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
        // The caller's type may stop early; the rest must still be read and checked, in
        // full, as the duplicate walk reads them when the claims nest.
        while access.next_key::<IgnoredAny>()?.is_some() {
            access.next_value_seed(json::DeepCheck)?;
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
            "claim {name:?} is not valid: {}",
            json::shorten_quotes(&e.to_string())
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
            self.access.next_value_seed(json::DeepCheck)?;
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
