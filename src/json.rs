//! JSON helpers shared by header, claims and key parsing: member-name tracking and the
//! duplicate-member check.
//!
//! RFC 7515 §5.2 lets a parser either reject duplicate member names or keep the last one;
//! parsers that disagree have been turned into signature bypasses, so tok rejects them
//! everywhere: one token, one meaning.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::Error;

/// How many names are kept inline before spilling into a hash set. JWT headers and claim
/// sets rarely have more members, so the verify path allocates nothing for them, while a
/// hostile object with thousands of members still costs linear time, not quadratic.
const INLINE_NAMES: usize = 8;

/// The member names of one JSON object, borrowed from the input where possible.
#[derive(Debug)]
pub(crate) struct MemberNames<'de> {
    inline: [Cow<'de, str>; INLINE_NAMES],
    len: usize,
    spilled: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> MemberNames<'de> {
    pub(crate) fn new() -> Self {
        Self {
            inline: std::array::from_fn(|_| Cow::Borrowed("")),
            len: 0,
            spilled: None,
        }
    }

    /// Records `name`; returns `false` if it was already present.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.spilled {
            return set.insert(name);
        }
        if self.inline[..self.len].contains(&name) {
            return false;
        }
        if self.len < INLINE_NAMES {
            self.inline[self.len] = name;
            self.len += 1;
            return true;
        }
        let mut set: HashSet<Cow<'de, str>> = self.inline.iter_mut().map(std::mem::take).collect();
        set.insert(name);
        self.spilled = Some(set);
        true
    }

    /// Whether `name` was recorded.
    pub(crate) fn contains(&self, name: &str) -> bool {
        match &self.spilled {
            Some(set) => set.contains(name),
            None => self.inline[..self.len].iter().any(|n| n == name),
        }
    }
}

/// A seed that reads one member name, borrowing it when it has no escapes.
pub(crate) struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(NameSeed)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Walks any JSON value and fails on a duplicate member name at any depth. It reads every
/// scalar as fully as a typed read would (numbers converted, strings decoded), so a value
/// that tok ignores is held to the same rule as one it keeps: a number out of range or a
/// lone surrogate is refused wherever it stands, whatever its neighbours.
pub(crate) struct DeepCheck;

impl<'de> DeserializeSeed<'de> for DeepCheck {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(DeepCheck)
    }
}

impl<'de> Visitor<'de> for DeepCheck {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut names = MemberNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if !names.insert(name) {
                return Err(de::Error::custom(DUPLICATE));
            }
            map.next_value_seed(DeepCheck)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(DeepCheck)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The message of a duplicate-member error.
pub(crate) const DUPLICATE: &str = "duplicate member name";

/// Rejects `json` if any object in it, at any depth, repeats a member name.
///
/// # Errors
/// [`Malformed`](crate::ErrorKind::Malformed) for invalid JSON or a duplicate name.
pub(crate) fn check_no_duplicates(json: &[u8]) -> Result<(), Error> {
    deep_check(utf8(json, "JSON")?).map_err(|e| malformed_json(e, "JSON"))
}

/// The walk of [`check_no_duplicates`], with the parser's own error.
pub(crate) fn deep_check(json: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    DeepCheck.deserialize(&mut de).and_then(|()| de.end())
}

/// Whether `json` may nest anything inside its top-level object: more than one `{` or
/// `[` in all (the object's own `{` is one). Nested values get the full walk of
/// [`check_no_duplicates`], which also enforces the parser's depth limit; without it a
/// deeply nested value that the caller's type ignores would be skipped unchecked, so
/// acceptance would depend on the type. Counting bytes over-approximates (a brace inside
/// a string counts too), which only costs an extra check, never a missed one; a lone `[`
/// with no `{` is not an object and fails the parse anyway.
pub(crate) fn may_nest(json: &[u8]) -> bool {
    // Per-chunk byte counters (at most 64 hits fit a u8) let the loop vectorise: half the
    // time of two `memchr` scans on a typical 130-byte claim set.
    let mut openers = 0usize;
    for chunk in json.chunks(64) {
        let mut hits = 0u8;
        for &b in chunk {
            hits += u8::from(b == b'{') | u8::from(b == b'[');
        }
        openers += usize::from(hits);
        if openers > 1 {
            return true;
        }
    }
    false
}

/// Checks that `json` is UTF-8 once, up front: `serde_json`'s `str` reader then skips the
/// per-string check its byte reader makes, which is a quarter of the parse time for a
/// typical claim set.
pub(crate) fn utf8<'a>(json: &'a [u8], what: &str) -> Result<&'a str, Error> {
    std::str::from_utf8(json)
        .map_err(|e| Error::malformed(format!("{what} is not valid UTF-8")).with_source(e))
}

/// Turns a `serde_json` error into a typed malformed error naming `what` was parsed. Text
/// quoted from the input (an attacker's string inside "invalid type: string ...") is cut
/// to 64 characters, as every other attacker string in a detail is.
pub(crate) fn malformed_json(e: serde_json::Error, what: &str) -> Error {
    Error::malformed(format!(
        "{what} is not valid: {}",
        shorten_quotes(&e.to_string())
    ))
    .with_source(e)
}

/// Like [`malformed_json`] for documents that hold secrets (keys): the detail says where and
/// what was expected but quotes nothing from the input, and the parser's own error, which
/// does, is not kept as the source.
pub(crate) fn malformed_secret_json(e: &serde_json::Error, what: &str) -> Error {
    let message = e.to_string();
    let reason = match e.classify() {
        // "invalid type: string \"<secret>\", expected a sequence at line 1 column 9":
        // keep the kind of problem and what was expected, drop what was found.
        serde_json::error::Category::Data => {
            match (message.split_once(':'), message.split_once(", expected ")) {
                (Some((problem, _)), Some((_, expected))) => {
                    format!("{problem}, expected {expected}")
                }
                _ if !message.contains('"') => message,
                _ => format!(
                    "a member has an invalid value at line {} column {}",
                    e.line(),
                    e.column()
                ),
            }
        }
        // Syntax and end-of-input messages name a position, never input text.
        _ => message,
    };
    Error::malformed(format!("{what} is not valid: {reason}"))
}

/// Cuts every double-quoted run in `message` (as serde writes a value it found, with `\"`
/// escapes) to 64 characters.
pub(crate) fn shorten_quotes(message: &str) -> String {
    const KEEP: usize = 64;
    let mut out = String::with_capacity(message.len().min(512));
    let mut inside = false;
    let mut kept = 0usize;
    let mut cut = false;
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if !inside {
            out.push(c);
            if c == '"' {
                (inside, kept, cut) = (true, 0, false);
            }
            continue;
        }
        // An escape is one unit: its backslash and the character it escapes.
        let escaped = if c == '\\' { chars.next() } else { None };
        if c == '"' {
            if cut {
                out.push('…');
            }
            out.push('"');
            inside = false;
        } else if kept < KEEP {
            out.push(c);
            out.extend(escaped);
            kept += 1;
        } else {
            cut = true;
        }
    }
    out
}

/// Parses `json` into `T` with the rules tok applies to tokens and keys: one JSON document,
/// no object repeating a member name at any depth (JSON parsers disagree on which of two
/// duplicates wins, so tok refuses them), every value read in full. For callers that build
/// claims from JSON they were given, so what they sign means one thing.
///
/// ```
/// let claims: serde_json::Map<String, serde_json::Value> =
///     tok::from_json_strict(r#"{"role":"user","tenant":{"id":7}}"#)?;
/// assert_eq!(claims["role"], "user");
/// let twice = tok::from_json_strict::<serde_json::Value>(r#"{"role":"user","role":"admin"}"#);
/// assert_eq!(twice.unwrap_err().kind(), tok::ErrorKind::Malformed);
/// # Ok::<(), tok::Error>(())
/// ```
///
/// # Errors
/// [`Malformed`](crate::ErrorKind::Malformed) when it is not valid JSON, repeats a member
/// name, or does not fit `T`.
pub fn from_json_strict<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Error> {
    check_no_duplicates(json.as_bytes())?;
    serde_json::from_str(json).map_err(|e| malformed_json(e, "JSON"))
}

/// Parses `json` as an untyped object, rejecting duplicate member names at any depth.
///
/// # Errors
/// [`Malformed`](crate::ErrorKind::Malformed) when it is not one JSON object or repeats a
/// member name.
pub(crate) fn parse_object(
    json: &[u8],
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    check_no_duplicates(json)?;
    serde_json::from_str(utf8(json, what)?).map_err(|e| malformed_json(e, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_at_any_depth() {
        assert!(check_no_duplicates(br#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#).is_ok());
        assert!(check_no_duplicates(br#"{"a":1,"a":2}"#).is_err());
        assert!(check_no_duplicates(br#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(check_no_duplicates(br#"{"a":[{"b":1,"b":1}]}"#).is_err());
        // An escaped spelling is the same name.
        assert!(check_no_duplicates(br#"{"alg":1,"\u0061lg":2}"#).is_err());
    }

    #[test]
    fn many_members_spill_and_still_detect() {
        let mut json = String::from("{");
        for i in 0..100 {
            json.push_str(&format!("\"m{i}\":{i},"));
        }
        json.push_str("\"m7\":0}");
        assert!(check_no_duplicates(json.as_bytes()).is_err());
        let mut names = MemberNames::new();
        for i in 0..40 {
            assert!(names.insert(Cow::Owned(format!("n{i}"))));
        }
        assert!(names.contains("n3") && names.contains("n39") && !names.contains("n40"));
        assert!(!names.insert(Cow::Borrowed("n0")));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let json = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(check_no_duplicates(json.as_bytes()).is_err());
    }

    #[test]
    fn quoted_input_is_cut_short() {
        let long = "x".repeat(6000);
        let e = serde_json::from_str::<u32>(&format!("\"{long}\"")).unwrap_err();
        let detail = malformed_json(e, "claims").detail().to_owned();
        assert!(detail.len() < 200, "{detail}");
        assert!(
            detail.contains(&format!("\"{}…\"", "x".repeat(64))),
            "{detail}"
        );
        // Escapes count as one character and are never split.
        let escaped = format!("\"{}\"", "\\\"".repeat(100));
        let e = serde_json::from_str::<u32>(&escaped).unwrap_err();
        let detail = malformed_json(e, "claims").detail().to_owned();
        assert!(
            detail.contains(&format!("{}…\"", "\\\"".repeat(64))),
            "{detail}"
        );
        // Short quotes are kept whole.
        let e = serde_json::from_str::<u32>("\"abc\"").unwrap_err();
        assert!(malformed_json(e, "claims").detail().contains("\"abc\","));
    }

    #[test]
    fn secret_documents_quote_nothing() {
        for json in [
            r#"["SECRETSECRET"]"#,
            r#""SECRETSECRET""#,
            r#"{"a":"SECRETSECRET"}"#,
        ] {
            let e = serde_json::from_str::<Vec<u32>>(json).unwrap_err();
            let error = malformed_secret_json(&e, "key");
            assert!(!error.detail().contains("SECRET"), "{}", error.detail());
            assert!(error.detail().contains("line 1"), "{}", error.detail());
            assert!(std::error::Error::source(&error).is_none());
        }
    }

    #[test]
    fn nesting_hint() {
        assert!(!may_nest(br#"{"a":1}"#));
        assert!(may_nest(br#"{"a":{}}"#));
        assert!(may_nest(br#"{"a":[1]}"#));
        assert!(may_nest(br#"{"a":"{"}"#));
        // Past the first 64-byte chunk too.
        let late = format!(r#"{{"a":"{}","b":[]}}"#, "x".repeat(100));
        assert!(may_nest(late.as_bytes()));
        assert!(!may_nest(
            format!(r#"{{"a":"{}"}}"#, "x".repeat(100)).as_bytes()
        ));
    }
}
