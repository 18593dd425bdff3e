//! The JOSE header (RFC 7515 §4): parsing with tok's rules, and the header tok writes.
//!
//! Every header rule is checked before any MAC work, so a hostile header costs a parse and
//! nothing more, and the algorithm comes from the key, never from the token.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, ErrorKind};
use crate::json::{self, MemberNames, NameSeed};

/// The only algorithm tok accepts or writes.
pub const ALGORITHM: &str = "HS256";

/// The `typ` tok writes and, by default, expects.
pub const DEFAULT_TYPE: &str = "JWT";

/// The header of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    // The usual `typ` is kept without allocating.
    typ: Option<Cow<'static, str>>,
    kid: Option<String>,
    cty: Option<String>,
}

impl Header {
    /// `alg`: always [`ALGORITHM`], since tok rejects every other.
    pub fn alg(&self) -> &'static str {
        ALGORITHM
    }

    /// `typ`, the media type of the whole token, when present.
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// `kid`, the identifier of the key that signed the token, when present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// `cty`, the media type of the payload, when present.
    pub fn cty(&self) -> Option<&str> {
        self.cty.as_deref()
    }
}

/// A header as parsed, borrowing from the decoded bytes.
#[derive(Debug, Default)]
#[doc(hidden)]
pub struct RawHeader<'de> {
    alg: Option<Alg<'de>>,
    pub(crate) typ: Option<Cow<'de, str>>,
    pub(crate) kid: Option<Cow<'de, str>>,
    cty: Option<Cow<'de, str>>,
    crit: bool,
}

/// The `alg` member: a string, or anything else (which is never allowed).
#[derive(Debug)]
enum Alg<'de> {
    Name(Cow<'de, str>),
    NotAString,
}

impl<'de> RawHeader<'de> {
    /// Parses a decoded header segment: one JSON object, no duplicate members.
    pub(crate) fn parse(json: &'de [u8]) -> Result<Self, Error> {
        if json::may_nest(json) {
            json::check_no_duplicates(json)?;
        }
        let mut slot = None;
        let mut de = serde_json::Deserializer::from_str(json::utf8(json, "header")?);
        let parsed = de
            .deserialize_map(HeaderVisitor { error: &mut slot })
            .and_then(|h| de.end().map(|()| h));
        parsed.map_err(|e| {
            slot.take()
                .unwrap_or_else(|| json::malformed_json(e, "header"))
        })
    }

    /// The parse of a header whose members are exactly `alg` HS256, `typ` JWT (when
    /// `typ`) and `kid` (when given), in any order: used when a token's header segment is
    /// byte-identical to one of the [`known_spellings`] a key precomputed.
    pub(crate) fn known(typ: bool, kid: Option<&'de str>) -> Self {
        Self {
            alg: Some(Alg::Name(Cow::Borrowed(ALGORITHM))),
            typ: typ.then_some(Cow::Borrowed(DEFAULT_TYPE)),
            kid: kid.map(Cow::Borrowed),
            cty: None,
            crit: false,
        }
    }

    /// Applies the header rules: `alg` exactly HS256, no `crit`, `typ` as expected.
    pub(crate) fn check(&self, expected_type: &str, type_required: bool) -> Result<(), Error> {
        match &self.alg {
            Some(Alg::Name(name)) if name == ALGORITHM => {}
            Some(Alg::Name(name)) => {
                return Err(Error::new(
                    ErrorKind::AlgNotAllowed,
                    format!(
                        "algorithm {:?} is not allowed; only HS256 is",
                        truncate(name)
                    ),
                ));
            }
            Some(Alg::NotAString) => {
                return Err(Error::new(ErrorKind::AlgNotAllowed, "alg is not a string"));
            }
            None => return Err(Error::new(ErrorKind::AlgNotAllowed, "header has no alg")),
        }
        // tok implements no JWS extensions, so any critical one must be refused
        // (RFC 7515 §4.1.11): ignoring `crit` would accept tokens whose meaning depends on
        // rules we do not apply (e.g. RFC 7797's unencoded payloads).
        if self.crit {
            return Err(Error::new(
                ErrorKind::UnsupportedHeader,
                "header marks extensions as critical (crit); tok supports none",
            ));
        }
        match &self.typ {
            Some(typ) if !type_matches(typ, expected_type) => Err(Error::new(
                ErrorKind::WrongType,
                format!("typ {:?} is not {expected_type:?}", truncate(typ)),
            )),
            None if type_required => Err(Error::new(
                ErrorKind::WrongType,
                format!("header has no typ; {expected_type:?} is required"),
            )),
            _ => Ok(()),
        }
    }

    /// The owned header handed to callers.
    pub(crate) fn into_header(self) -> Header {
        Header {
            typ: self.typ.map(|t| match t {
                t if t == DEFAULT_TYPE => Cow::Borrowed(DEFAULT_TYPE),
                t => Cow::Owned(t.into_owned()),
            }),
            kid: self.kid.map(Cow::into_owned),
            cty: self.cty.map(Cow::into_owned),
        }
    }
}

/// Media types compare case-insensitively and may omit `application/` (RFC 7515 §4.1.9).
fn type_matches(actual: &str, expected: &str) -> bool {
    fn strip(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    }
    strip(actual).eq_ignore_ascii_case(strip(expected))
}

/// Keeps attacker-chosen text in error messages short.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

struct HeaderVisitor<'a> {
    /// A typed error found inside the visitor, which serde can only report as text.
    error: &'a mut Option<Error>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = RawHeader<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = RawHeader::default();
        let mut names = MemberNames::new();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if !names.insert(name.clone()) {
                *self.error = Some(Error::malformed(format!(
                    "header repeats the member {:?}",
                    truncate(&name)
                )));
                return Err(de::Error::custom(json::DUPLICATE));
            }
            match &*name {
                "alg" => header.alg = Some(map.next_value_seed(AlgSeed)?),
                "typ" => header.typ = Some(map.next_value_seed(NameSeed)?),
                "kid" => header.kid = Some(map.next_value_seed(NameSeed)?),
                "cty" => header.cty = Some(map.next_value_seed(NameSeed)?),
                // Values tok does not use are still read in full (`DeepCheck`), so their
                // verdict is the same whether or not a nested neighbour made the
                // duplicate walk read them already.
                "crit" => {
                    map.next_value_seed(json::DeepCheck)?;
                    header.crit = true;
                }
                _ => map.next_value_seed(json::DeepCheck)?,
            }
        }
        Ok(header)
    }
}

struct AlgSeed;

impl<'de> DeserializeSeed<'de> for AlgSeed {
    type Value = Alg<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(AlgSeed)
    }
}

impl<'de> Visitor<'de> for AlgSeed {
    type Value = Alg<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Alg::Name(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Alg::Name(Cow::Owned(v.to_owned())))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Alg::NotAString)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Alg::NotAString)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Alg::NotAString)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Alg::NotAString)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Alg::NotAString)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Alg::NotAString)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Alg::NotAString)
    }
}

/// A header spelling whose parse is known without parsing: its compact JSON has exactly
/// these members.
#[derive(Clone, Debug)]
pub(crate) struct KnownSpelling {
    /// The base64url of the compact JSON.
    pub(crate) b64: String,
    /// Whether it has `typ` (JWT).
    pub(crate) typ: bool,
    /// Whether it has the key's `kid`.
    pub(crate) kid: bool,
}

/// Every compact spelling, in every member order, of the headers other issuers write for
/// an HS256 key: `alg` alone, with `typ` JWT, with the key's `kid`, with both (jsonwebtoken
/// writes `{"typ":"JWT","alg":"HS256"}`). A token whose header segment is byte-identical to
/// one of these has the parse [`RawHeader::known`] gives, so it skips decoding and
/// parsing; any other spelling takes the full parse. Strictness is unchanged: each
/// spelling is a header the parser accepts with exactly that result (tested).
pub(crate) fn known_spellings(kid: Option<&str>) -> Vec<KnownSpelling> {
    let alg = format!("\"alg\":\"{ALGORITHM}\"");
    let typ = format!("\"typ\":\"{DEFAULT_TYPE}\"");
    let kid_member = kid.map(|k| format!("\"kid\":{}", serde_json::Value::from(k)));
    let mut out = Vec::new();
    for (with_typ, with_kid) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut members = vec![alg.as_str()];
        if with_typ {
            members.push(&typ);
        }
        match (&kid_member, with_kid) {
            (Some(k), true) => members.push(k),
            (None, true) => continue,
            _ => {}
        }
        for order in permutations(members.len()) {
            let json: Vec<&str> = order.iter().map(|&i| members[i]).collect();
            out.push(KnownSpelling {
                b64: crate::base64url::encode(format!("{{{}}}", json.join(",")).as_bytes()),
                typ: with_typ,
                kid: with_kid,
            });
        }
    }
    out
}

/// Every order of `0..n` (n ≤ 3 here).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut out = Vec::new();
    for first in 0..n {
        for rest in permutations(n - 1) {
            let mut order = vec![first];
            order.extend(rest.into_iter().map(|i| if i >= first { i + 1 } else { i }));
            out.push(order);
        }
    }
    out
}

/// The compact JSON of the header tok writes: `alg`, `typ` and, when given, `kid`.
pub(crate) fn header_json(typ: &str, kid: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        alg: &'static str,
        typ: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        kid: Option<&'a str>,
    }
    // Serializing a struct of strings into a String cannot fail.
    serde_json::to_string(&Out {
        alg: ALGORITHM,
        typ,
        kid,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every precomputed spelling parses, with the full parser, to exactly the header the
    /// fast path assumes, and passes and fails the same checks.
    #[test]
    fn known_spellings_parse_as_assumed() {
        for kid in [None, Some("k1"), Some("q\"uote\\ \u{e9}")] {
            let spellings = known_spellings(kid);
            assert_eq!(
                spellings.len(),
                if kid.is_some() { 1 + 2 + 2 + 6 } else { 1 + 2 }
            );
            let distinct: std::collections::HashSet<_> = spellings.iter().map(|s| &s.b64).collect();
            assert_eq!(distinct.len(), spellings.len());
            for s in &spellings {
                let json = crate::base64url::decode(s.b64.as_bytes()).unwrap();
                let parsed = RawHeader::parse(&json).unwrap();
                let known = RawHeader::known(s.typ, if s.kid { kid } else { None });
                assert_eq!(
                    format!("{parsed:?}"),
                    format!("{known:?}"),
                    "{}",
                    String::from_utf8_lossy(&json)
                );
                for (expected, required) in [("JWT", false), ("JWT", true), ("at+jwt", false)] {
                    assert_eq!(
                        parsed.check(expected, required).map_err(|e| e.kind()),
                        known.check(expected, required).map_err(|e| e.kind())
                    );
                }
            }
        }
        let jsonwebtoken = crate::base64url::encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        assert!(known_spellings(None).iter().any(|s| s.b64 == jsonwebtoken));
    }

    fn check(json: &str) -> Result<(), ErrorKind> {
        RawHeader::parse(json.as_bytes())
            .and_then(|h| h.check(DEFAULT_TYPE, false))
            .map_err(|e| e.kind())
    }

    #[test]
    fn accepts_the_header_tok_writes() {
        assert_eq!(header_json("JWT", None), r#"{"alg":"HS256","typ":"JWT"}"#);
        assert_eq!(check(&header_json("JWT", Some("k1"))), Ok(()));
        assert_eq!(check(r#"{"alg":"HS256"}"#), Ok(()));
        assert_eq!(check(r#"{"alg":"HS256","typ":"jwt"}"#), Ok(()));
        assert_eq!(check(r#"{"alg":"HS256","typ":"application/JWT"}"#), Ok(()));
        assert_eq!(check(r#"{"alg":"HS256","x5t":{"a":1}}"#), Ok(()));
    }

    #[test]
    fn header_rules() {
        use ErrorKind::*;
        for (json, kind) in [
            (r#"{"alg":"none"}"#, AlgNotAllowed),
            (r#"{"alg":"hs256"}"#, AlgNotAllowed),
            (r#"{"alg":"HS512"}"#, AlgNotAllowed),
            (r#"{"alg":null}"#, AlgNotAllowed),
            (r#"{"alg":["HS256"]}"#, AlgNotAllowed),
            (r#"{"typ":"JWT"}"#, AlgNotAllowed),
            (
                r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
                UnsupportedHeader,
            ),
            (r#"{"alg":"HS256","typ":"at+jwt"}"#, WrongType),
            (r#"{"alg":"HS256","alg":"HS256"}"#, Malformed),
            (r#"{"alg":"HS256","x":{"a":1,"a":2}}"#, Malformed),
            (r#"["HS256"]"#, Malformed),
            (r#"{"alg":"HS256"} x"#, Malformed),
            (r#"{"alg":"HS256","typ":1}"#, Malformed),
        ] {
            assert_eq!(check(json), Err(kind), "{json}");
        }
    }

    #[test]
    fn configured_type() {
        let h = RawHeader::parse(br#"{"alg":"HS256","typ":"at+JWT"}"#).unwrap();
        assert!(h.check("at+jwt", true).is_ok());
        assert!(h.check("application/at+jwt", true).is_ok());
        let h = RawHeader::parse(br#"{"alg":"HS256"}"#).unwrap();
        assert_eq!(
            h.check("at+jwt", true).unwrap_err().kind(),
            ErrorKind::WrongType
        );
    }
}
