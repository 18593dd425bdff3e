//! What an online check asks a store about one token and what it answers: the state a
//! store reads ([`OnlineState`]), the verdict it gives ([`Verdict`]), and the query and
//! of [`Store::remembered`](crate::store::Store::remembered) and
//! [`Store::online_check`](crate::store::Store::online_check). No I/O here.

use crate::model::family::FamilyRecord;
use crate::numeric_date::NumericDate;

/// What a store read for one online check, in one round trip where it can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineState {
    /// Whether the token's `jti` is on the denylist (false when the token has none).
    pub jti_denied: bool,
    /// The session family the token's `sid` names (`None` without `sid`, or when the
    /// store has no such family).
    pub family: Option<FamilyRecord>,
}

/// The answer to an online check, from the cache or from a store's [`OnlineState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Not denylisted, and the session (if any) is live.
    Accepted,
    /// The `jti` is denylisted.
    Denied,
    /// The session has ended (or never existed).
    Ended,
    /// The session lives, but its claims changed after this token was minted.
    Outdated,
}

impl OnlineState {
    /// The verdict this state gives at `now`.
    pub fn verdict(&self, sid: Option<&str>, minted_at: u64, now: NumericDate) -> Verdict {
        if self.jti_denied {
            return Verdict::Denied;
        }
        if sid.is_none() {
            return Verdict::Accepted;
        }
        match &self.family {
            Some(f) if f.is_live(now) && minted_at < f.claims_generation => Verdict::Outdated,
            Some(f) if f.is_live(now) => Verdict::Accepted,
            _ => Verdict::Ended,
        }
    }
}

/// What an online check asks of a store about one token whose signature and claims
/// checked out.
#[derive(Debug, Clone, Copy)]
pub struct OnlineQuery<'a> {
    /// The token's session family (`sid`), if it names one.
    pub sid: Option<&'a str>,
    /// The token's `jti`, if it has one.
    pub jti: Option<&'a str>,
    /// The family generation the token was minted at (its `sgen`).
    pub minted_at: u64,
    /// The token's `exp`, if it has one (how long an answer about its `jti` holds).
    pub exp: Option<NumericDate>,
    /// The time of the check.
    pub now: NumericDate,
}
