//! Writing a claim set: registered claims, then the custom claims flattened beside them.
//!
//! The custom part goes through [`FlatCustom`], which checks every member name as it is
//! written: a custom name that reuses a registered one, or repeats another, is an error
//! here rather than a token with two meanings (and costs a comparison, not a re-parse).

use std::borrow::Cow;

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

use super::{Claims, REGISTERED};
use crate::json::MemberNames;

impl<T: Serialize> Serialize for Claims<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(v) = &self.iss {
            map.serialize_entry("iss", v)?;
        }
        if let Some(v) = &self.sub {
            map.serialize_entry("sub", v)?;
        }
        if let Some(v) = &self.aud {
            map.serialize_entry("aud", v)?;
        }
        if let Some(v) = &self.exp {
            map.serialize_entry("exp", v)?;
        }
        if let Some(v) = &self.nbf {
            map.serialize_entry("nbf", v)?;
        }
        if let Some(v) = &self.iat {
            map.serialize_entry("iat", v)?;
        }
        if let Some(v) = &self.jti {
            map.serialize_entry("jti", v)?;
        }
        let mut names = MemberNames::new();
        self.custom.serialize(FlatCustom {
            map: &mut map,
            names: &mut names,
        })?;
        map.end()
    }
}

/// Records a custom member name, refusing registered and repeated ones.
fn admit<E: ser::Error>(
    names: &mut MemberNames<'static>,
    name: Cow<'static, str>,
) -> Result<(), E> {
    if REGISTERED.contains(&&*name) {
        return Err(E::custom(format_args!(
            "custom claim {name:?} reuses a registered claim name; set the registered field instead"
        )));
    }
    if !names.insert(name.clone()) {
        return Err(E::custom(format_args!(
            "custom claims repeat the member {name:?}"
        )));
    }
    Ok(())
}

fn not_a_map<E: ser::Error>() -> E {
    E::custom("custom claims must serialize as a struct or a map")
}

/// Serializes the caller's type into the claims map, member by member.
struct FlatCustom<'a, M> {
    map: &'a mut M,
    names: &'a mut MemberNames<'static>,
}

/// Serializer methods that refuse their input with `$err`.
macro_rules! reject {
    ($err:expr; $($method:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, Self::Error> { Err($err) })*
    };
}

impl<'a, M: SerializeMap> Serializer for FlatCustom<'a, M> {
    type Ok = ();
    type Error = M::Error;
    type SerializeSeq = Impossible<(), M::Error>;
    type SerializeTuple = Impossible<(), M::Error>;
    type SerializeTupleStruct = Impossible<(), M::Error>;
    type SerializeTupleVariant = Impossible<(), M::Error>;
    type SerializeMap = FlatMap<'a, M>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), M::Error>;

    fn serialize_unit(self) -> Result<(), M::Error> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), M::Error> {
        Ok(())
    }
    fn serialize_none(self) -> Result<(), M::Error> {
        Ok(())
    }
    fn serialize_some<V: Serialize + ?Sized>(self, v: &V) -> Result<(), M::Error> {
        v.serialize(self)
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &V,
    ) -> Result<(), M::Error> {
        v.serialize(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<FlatMap<'a, M>, M::Error> {
        Ok(FlatMap {
            map: self.map,
            names: self.names,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, M::Error> {
        Ok(self)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<(), M::Error> {
        Err(not_a_map())
    }

    reject! { not_a_map();
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

impl<M: SerializeMap> SerializeStruct for FlatCustom<'_, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_field<V: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &V,
    ) -> Result<(), M::Error> {
        admit(self.names, Cow::Borrowed(key))?;
        self.map.serialize_entry(key, value)
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

/// A custom map (e.g. `serde_json::Map`) flattened into the claims.
struct FlatMap<'a, M> {
    map: &'a mut M,
    names: &'a mut MemberNames<'static>,
}

impl<M: SerializeMap> SerializeMap for FlatMap<'_, M> {
    type Ok = ();
    type Error = M::Error;

    fn serialize_key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), M::Error> {
        let name = key.serialize(KeyName).map_err(ser::Error::custom)?;
        admit(self.names, Cow::Owned(name.clone()))?;
        self.map.serialize_key(&name)
    }

    fn serialize_value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), M::Error> {
        self.map.serialize_value(value)
    }

    fn end(self) -> Result<(), M::Error> {
        Ok(())
    }
}

/// Reads a map key as the string JSON will write it.
struct KeyName;

impl Serializer for KeyName {
    type Ok = String;
    type Error = KeyError;
    type SerializeSeq = Impossible<String, KeyError>;
    type SerializeTuple = Impossible<String, KeyError>;
    type SerializeTupleStruct = Impossible<String, KeyError>;
    type SerializeTupleVariant = Impossible<String, KeyError>;
    type SerializeMap = Impossible<String, KeyError>;
    type SerializeStruct = Impossible<String, KeyError>;
    type SerializeStructVariant = Impossible<String, KeyError>;

    fn serialize_str(self, v: &str) -> Result<String, KeyError> {
        Ok(v.to_owned())
    }
    fn serialize_char(self, v: char) -> Result<String, KeyError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, KeyError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, KeyError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, KeyError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, KeyError> {
        Ok(v.to_string())
    }
    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &V,
    ) -> Result<String, KeyError> {
        v.serialize(self)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<String, KeyError> {
        Ok(variant.to_owned())
    }
    fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<String, KeyError> {
        Err(KeyError)
    }
    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &V,
    ) -> Result<String, KeyError> {
        Err(KeyError)
    }

    reject! { KeyError;
        serialize_bool(bool) -> String;
        serialize_i8(i8) -> String;
        serialize_i16(i16) -> String;
        serialize_u8(u8) -> String;
        serialize_u16(u16) -> String;
        serialize_f32(f32) -> String;
        serialize_f64(f64) -> String;
        serialize_bytes(&[u8]) -> String;
        serialize_unit_struct(&'static str) -> String;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_none(self) -> Result<String, KeyError> {
        Err(KeyError)
    }
    fn serialize_unit(self) -> Result<String, KeyError> {
        Err(KeyError)
    }
}

/// A map key that JSON cannot write as a member name.
#[derive(Debug)]
struct KeyError;

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a custom claims map key must be a string or a number")
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<D: std::fmt::Display>(_: D) -> Self {
        KeyError
    }
}
