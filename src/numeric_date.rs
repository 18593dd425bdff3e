//! NumericDate (RFC 7519 §2): seconds since the Unix epoch, integer or fractional.
//!
//! Parsing is strict because lenient parsers have shipped auth bypasses: a string `exp`
//! must not read as "no exp", and a hostile number must neither panic nor wrap into the
//! past or future. Only finite, non-negative JSON numbers up to the end of year 9999 are
//! accepted (later instants cannot be written as RFC 3339, and nothing legitimate needs
//! them); everything else is [`Malformed`](crate::ErrorKind::Malformed).
//!
//! Fractions are kept to the millisecond: a JSON double near today's timestamps resolves
//! about a quarter of a microsecond, and near the year 9999 only some 30 µs, so finer
//! fractions could not survive a sign/verify round trip. Milliseconds
//! round-trip exactly across the whole range.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

use crate::error::Error;

/// The largest accepted value: 9999-12-31T23:59:59Z.
const MAX_SECS: u64 = 253_402_300_799;
const NANOS_PER_SEC: u32 = 1_000_000_000;

/// An instant as a JWT carries it: whole seconds since the Unix epoch plus a fraction.
///
/// Ordered, copyable and always within `0 ..= 9999-12-31T23:59:59Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumericDate {
    secs: u64,
    nanos: u32,
}

impl NumericDate {
    /// The Unix epoch.
    pub const EPOCH: Self = Self { secs: 0, nanos: 0 };

    /// The instant `secs` whole seconds after the epoch.
    ///
    /// # Errors
    /// [`Malformed`](crate::ErrorKind::Malformed) beyond the year 9999.
    pub fn from_secs(secs: u64) -> Result<Self, Error> {
        if secs > MAX_SECS {
            return Err(Error::malformed("time is after the year 9999"));
        }
        Ok(Self { secs, nanos: 0 })
    }

    /// The instant for a fractional number of seconds, as JSON carries it.
    ///
    /// # Errors
    /// [`Malformed`](crate::ErrorKind::Malformed) for NaN, infinities, negative values
    /// and values beyond the year 9999.
    pub fn from_f64(value: f64) -> Result<Self, Error> {
        // The comparisons are written so NaN fails them.
        if !(value >= 0.0 && value <= MAX_SECS as f64) {
            return Err(Error::malformed(
                "time must be a finite number of seconds from 1970 to 9999",
            ));
        }
        // At most 2.5e14 milliseconds: exact in a double, and `as` cannot wrap.
        let millis = (value * 1000.0).round() as u64;
        Self::from_millis(millis.min(MAX_SECS * 1000))
    }

    /// This instant without its fraction (rounded down).
    pub fn floor_secs(self) -> Self {
        Self {
            secs: self.secs,
            nanos: 0,
        }
    }

    /// This instant rounded up to a whole second.
    pub fn ceil_secs(self) -> Self {
        if self.nanos == 0 || self.secs == MAX_SECS {
            self.floor_secs()
        } else {
            Self {
                secs: self.secs + 1,
                nanos: 0,
            }
        }
    }

    /// The current time from the system clock.
    ///
    /// A clock set before 1970 reads as the epoch; one beyond 9999 as the maximum.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a [`SystemTime`], clamping to the representable range.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) if d.as_secs() <= MAX_SECS => Self {
                secs: d.as_secs(),
                nanos: d.subsec_nanos(),
            },
            Ok(_) => Self {
                secs: MAX_SECS,
                nanos: 0,
            },
            Err(_) => Self::EPOCH,
        }
    }

    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.secs
    }

    /// The fractional part, in nanoseconds.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Milliseconds since the epoch, rounded to the nearest (for writing fractions).
    fn as_millis_rounded(self) -> u64 {
        self.secs * 1000 + u64::from((self.nanos + 500_000) / 1_000_000)
    }

    /// Whole milliseconds since the epoch (how stores keep instants).
    pub fn as_millis(self) -> u64 {
        self.secs * 1000 + u64::from(self.nanos / 1_000_000)
    }

    /// The instant `millis` milliseconds after the epoch.
    ///
    /// # Errors
    /// [`Malformed`](crate::ErrorKind::Malformed) beyond the year 9999.
    pub fn from_millis(millis: u64) -> Result<Self, Error> {
        let secs = millis / 1000;
        if secs > MAX_SECS {
            return Err(Error::malformed("time is after the year 9999"));
        }
        // Below one second, so at most 999_000_000 nanoseconds.
        let nanos = u32::try_from(millis % 1000).unwrap_or(0) * 1_000_000;
        Ok(Self { secs, nanos })
    }

    /// This instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.secs, self.nanos)
    }

    /// This instant plus `d`, saturating at the maximum representable instant.
    pub fn saturating_add(self, d: Duration) -> Self {
        let max = Self {
            secs: MAX_SECS,
            nanos: 0,
        };
        let mut nanos = self.nanos + d.subsec_nanos();
        let mut secs = self.secs.saturating_add(d.as_secs());
        if nanos >= NANOS_PER_SEC {
            nanos -= NANOS_PER_SEC;
            secs = secs.saturating_add(1);
        }
        if secs > MAX_SECS {
            max
        } else {
            Self { secs, nanos }
        }
    }

    /// This instant minus `d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Self {
        let total = Duration::new(self.secs, self.nanos).saturating_sub(d);
        Self {
            secs: total.as_secs(),
            nanos: total.subsec_nanos(),
        }
    }

    /// How long after `earlier` this instant lies, or zero if it does not.
    pub fn duration_since(self, earlier: Self) -> Duration {
        Duration::new(self.secs, self.nanos)
            .saturating_sub(Duration::new(earlier.secs, earlier.nanos))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-25T14:02:11Z` (fractions only when present).
    pub fn to_rfc3339(self) -> String {
        let secs = i64::try_from(self.secs).unwrap_or(i64::MAX);
        match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(t) => {
                let t = t + time::Duration::nanoseconds(i64::from(self.nanos));
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| self.secs.to_string())
            }
            // Unreachable for values within MAX_SECS; print the raw number rather than panic.
            Err(_) => self.secs.to_string(),
        }
    }
}

impl From<SystemTime> for NumericDate {
    /// Clamps to the representable range (1970 to 9999), as
    /// [`from_system_time`](NumericDate::from_system_time) does: a clock cannot be
    /// malformed, only early or late.
    fn from(t: SystemTime) -> Self {
        Self::from_system_time(t)
    }
}

impl TryFrom<u64> for NumericDate {
    type Error = Error;

    /// Whole seconds since the epoch, as [`from_secs`](NumericDate::from_secs).
    ///
    /// ```
    /// let t = tok::NumericDate::try_from(1_800_000_000u64)?;
    /// assert_eq!(t.as_secs(), 1_800_000_000);
    /// assert!(tok::NumericDate::try_from(u64::MAX).is_err());
    /// # Ok::<(), tok::Error>(())
    /// ```
    fn try_from(secs: u64) -> Result<Self, Error> {
        Self::from_secs(secs)
    }
}

impl TryFrom<i64> for NumericDate {
    type Error = Error;

    /// Whole seconds since the epoch; a negative number (before 1970) is an error.
    ///
    /// ```
    /// assert!(tok::NumericDate::try_from(-1i64).is_err());
    /// assert_eq!(tok::NumericDate::try_from(60i64)?.as_secs(), 60);
    /// # Ok::<(), tok::Error>(())
    /// ```
    fn try_from(secs: i64) -> Result<Self, Error> {
        let secs = u64::try_from(secs).map_err(|_| Error::malformed("time is before 1970"))?;
        Self::from_secs(secs)
    }
}

impl fmt::Display for NumericDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for NumericDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.nanos == 0 {
            s.serialize_u64(self.secs)
        } else {
            // Milliseconds, the precision JSON numbers keep across the whole range.
            s.serialize_f64(self.as_millis_rounded() as f64 / 1000.0)
        }
    }
}

struct NumericDateVisitor;

impl Visitor<'_> for NumericDateVisitor {
    type Value = NumericDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate (non-negative number of seconds)")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
        NumericDate::from_secs(v).map_err(|e| E::custom(e.detail()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom("time must not be negative")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
        NumericDate::from_f64(v).map_err(|e| E::custom(e.detail()))
    }
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only numbers reach the visitor's methods; a string, bool or null is a type error.
        d.deserialize_any(NumericDateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<NumericDate, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn accepts_integers_and_fractions() {
        assert_eq!(parse("1300819380").unwrap().as_secs(), 1_300_819_380);
        let f = parse("1300819380.5").unwrap();
        assert_eq!(
            (f.as_secs(), f.subsec_nanos()),
            (1_300_819_380, 500_000_000)
        );
        assert_eq!(parse("0").unwrap(), NumericDate::EPOCH);
        assert_eq!(parse("-0.0").unwrap(), NumericDate::EPOCH);
        assert_eq!(parse("253402300799").unwrap().as_secs(), MAX_SECS);
    }

    #[test]
    fn rejects_hostile_values() {
        for bad in [
            "\"1300819380\"",
            "-1",
            "-0.5",
            "1e400",
            "18446744073709551615",
            "18446744073709551616",
            "253402300800",
            "true",
            "null",
            "[1]",
            "{}",
            "1e19",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn saturating_arithmetic_never_wraps() {
        let max = NumericDate::from_secs(MAX_SECS).unwrap();
        assert_eq!(max.saturating_add(Duration::from_secs(u64::MAX)), max);
        assert_eq!(
            NumericDate::EPOCH.saturating_sub(Duration::from_secs(5)),
            NumericDate::EPOCH
        );
        let t = NumericDate::from_f64(10.75).unwrap();
        assert_eq!(t.saturating_add(Duration::from_millis(250)).as_secs(), 11);
    }

    #[test]
    fn rfc3339() {
        assert_eq!(
            NumericDate::from_secs(1_300_819_380).unwrap().to_rfc3339(),
            "2011-03-22T18:43:00Z"
        );
        assert_eq!(
            NumericDate::from_secs(MAX_SECS).unwrap().to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn fractions_keep_milliseconds_and_round_trip() {
        for v in [
            0.001,
            1.5,
            1844674.0737095512,
            1_800_000_000.123_456,
            253_402_300_798.999,
        ] {
            let t = NumericDate::from_f64(v).unwrap();
            assert_eq!(t.subsec_nanos() % 1_000_000, 0, "{v}");
            let again: NumericDate =
                serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            assert_eq!(again, t, "{v}");
        }
        assert_eq!(
            NumericDate::from_f64(1.0004).unwrap(),
            NumericDate::from_secs(1).unwrap()
        );
        assert_eq!(
            NumericDate::from_f64(1.9996).unwrap(),
            NumericDate::from_secs(2).unwrap()
        );
    }

    #[test]
    fn serializes_whole_seconds_as_integers() {
        let t = NumericDate::from_secs(42).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "42");
    }
}
