//! Times and durations as people type and read them.

use std::time::Duration;

use tok::NumericDate;

use super::output::Failure;

/// Parses a humantime duration (`90s`, `15m`, `2h`, `30d`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    // A minus sign would otherwise read as another flag ("unexpected argument '-5'").
    if s.trim_start().starts_with('-') {
        return Err(format!(
            "{s:?} is negative: durations are positive, like 90s, 15m, 2h or 30d"
        ));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration like 90s, 15m, 2h or 30d: {e}"))
}

/// Parses an instant: RFC 3339 (`2026-11-25T14:02:11Z`) or Unix seconds.
pub fn parse_time(s: &str) -> Result<NumericDate, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return NumericDate::from_secs(secs).map_err(|e| e.detail().to_owned());
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            format!("{s:?} is neither RFC 3339 (2026-11-25T14:02:11Z) nor Unix seconds")
        })?;
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| format!("{s:?} is before 1970"))?;
    let date = NumericDate::from_secs(secs).map_err(|e| e.detail().to_owned())?;
    Ok(date.saturating_add(Duration::from_nanos(u64::from(t.nanosecond()))))
}

/// The instant a claim value denotes, if it is a valid NumericDate.
pub fn claim_time(value: &serde_json::Value) -> Option<NumericDate> {
    match value {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(secs) => NumericDate::from_secs(secs).ok(),
            None => n.as_f64().and_then(|f| NumericDate::from_f64(f).ok()),
        },
        _ => None,
    }
}

/// A duration in its two largest units: `2h 3m`, `14m 58s`, `3d`.
pub fn short(d: Duration) -> String {
    let secs = Duration::from_secs(d.as_secs());
    if secs.is_zero() {
        return "0s".to_owned();
    }
    let full = humantime::format_duration(secs).to_string();
    full.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// `expires in 14m 58s` / `expired 3d ago` style phrase for `t` relative to `now`.
pub fn relative(t: NumericDate, now: NumericDate, future: &str, past: &str) -> String {
    if t > now {
        format!("{future} in {}", short(t.duration_since(now)))
    } else {
        format!("{past} {} ago", short(now.duration_since(t)))
    }
}

/// The human detail for a rejection: time errors say when, relative to `now`.
pub fn rejection(e: &tok::Error, now: NumericDate) -> Failure {
    let detail = match (e.kind(), e.instant()) {
        (tok::ErrorKind::Expired, Some(exp)) => {
            format!("expired {} ago ({exp})", short(now.duration_since(exp)))
        }
        (tok::ErrorKind::NotYetValid, Some(t)) => {
            format!(
                "not valid for another {} ({t}); {}",
                short(t.duration_since(now)),
                e.detail()
            )
        }
        (tok::ErrorKind::InsufficientUserAuthentication, Some(auth_time)) => {
            format!(
                "the user logged in {} ago ({auth_time}), beyond the maximum login age",
                short(now.duration_since(auth_time))
            )
        }
        (tok::ErrorKind::TooOld, Some(iat)) => {
            format!(
                "issued {} ago ({iat}), beyond the maximum age",
                short(now.duration_since(iat))
            )
        }
        _ => e.detail().to_owned(),
    };
    Failure::Rejected {
        code: e.code(),
        detail,
    }
}
