//! The rotation decision, as a pure function of a family's stored state.
//!
//! Every backend runs this inside its own atomic step (a transaction, a mutex, a Lua
//! script that mirrors it), so the rules are written once. Generation numbers, not
//! timestamps, order rotations: two rotations in one second are still ordered.

use std::time::Duration;

use crate::numeric_date::NumericDate;
use crate::refresh::token::TokenHash;

/// A family as a store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRecord {
    /// The family id (also the access tokens' `sid`).
    pub family_id: String,
    /// Whom the family's tokens are for.
    pub subject: String,
    /// The access-token claims (a JSON object) minted on each rotation.
    pub claims: String,
    /// When the family began.
    pub created_at: NumericDate,
    /// The absolute end of the family; rotation never extends it.
    pub expires_at: NumericDate,
    /// The latest rotation (or creation); never moves backwards.
    pub last_used_at: NumericDate,
    /// How long the family may go unused.
    pub idle_timeout: Duration,
    /// The generation of the one live refresh token.
    pub generation: u64,
    /// The hash of the one live refresh token.
    pub current_hash: TokenHash,
    /// When the previous generation was rotated: the start of its grace window.
    pub previous_rotated_at: Option<NumericDate>,
    /// The hash of the client fingerprint the family is bound to, if any.
    pub fingerprint: Option<TokenHash>,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<NumericDate>,
}

impl FamilyRecord {
    /// The instant at which the family stops being usable (absolute or idle, whichever
    /// comes first).
    pub fn usable_until(&self) -> NumericDate {
        self.expires_at
            .min(self.last_used_at.saturating_add(self.idle_timeout))
    }

    /// Whether the family is live at `now` (not revoked, not expired).
    pub fn is_live(&self, now: NumericDate) -> bool {
        self.revoked_at.is_none() && effective_now(self, now) < self.usable_until()
    }
}

/// The presented token's stored row, if the store knows its hash in this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRecord {
    /// The generation the token was minted for.
    pub generation: u64,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The live token: retire it, mint generation + 1.
    Rotate,
    /// The immediately previous token inside its grace window: replace the live token of
    /// the current generation with a new one (only one is ever live).
    GraceReplace,
    /// A retired token: revoke the whole family.
    Reuse,
    /// The fingerprint does not match: revoke the whole family.
    FingerprintMismatch,
    /// The family is revoked.
    Revoked,
    /// The family has passed its absolute or idle lifetime.
    Expired,
    /// No such token in this family.
    Unknown,
}

/// "Now" for lifetime checks: never earlier than the last use, so setting the clock back
/// cannot extend a family.
pub fn effective_now(family: &FamilyRecord, now: NumericDate) -> NumericDate {
    now.max(family.last_used_at)
}

/// Decides what a presented token means. `presented_hash` is the token's hash,
/// `token` its stored row (if any), `fingerprint` the hash of the presented fingerprint.
pub fn decide(
    family: &FamilyRecord,
    presented_hash: &TokenHash,
    token: Option<TokenRecord>,
    fingerprint: Option<&TokenHash>,
    now: NumericDate,
    grace: Duration,
) -> Decision {
    let Some(token) = token else {
        // Unknown secrets must not revoke anything: the family id is not secret (it is
        // the access tokens' `sid`), so anyone could otherwise log a user out.
        return Decision::Unknown;
    };
    if family.revoked_at.is_some() {
        return Decision::Revoked;
    }
    if effective_now(family, now) >= family.usable_until() {
        return Decision::Expired;
    }
    if let Some(bound) = &family.fingerprint {
        let matches = fingerprint
            .is_some_and(|f| bool::from(subtle::ConstantTimeEq::ct_eq(&f[..], &bound[..])));
        if !matches {
            return Decision::FingerprintMismatch;
        }
    }
    let is_current = bool::from(subtle::ConstantTimeEq::ct_eq(
        &presented_hash[..],
        &family.current_hash[..],
    ));
    if is_current && token.generation == family.generation {
        return Decision::Rotate;
    }
    let in_grace = token.generation + 1 == family.generation
        && family
            .previous_rotated_at
            .is_some_and(|start| effective_now(family, now) < start.saturating_add(grace));
    if in_grace {
        Decision::GraceReplace
    } else {
        Decision::Reuse
    }
}

/// The family after a successful decision, as the store must persist it (`None` when
/// nothing changes). Shared by the backends that run Rust inside their atomic step.
pub fn apply(
    family: &FamilyRecord,
    decision: Decision,
    new_hash: &TokenHash,
    new_claims: Option<&str>,
    now: NumericDate,
) -> Option<FamilyRecord> {
    let at = effective_now(family, now);
    let mut next = family.clone();
    match decision {
        Decision::Rotate => {
            next.generation += 1;
            next.current_hash = *new_hash;
            next.previous_rotated_at = Some(at);
            next.last_used_at = at;
        }
        Decision::GraceReplace => {
            // Same generation, new secret: the window's start stays where it was.
            next.current_hash = *new_hash;
            next.last_used_at = at;
        }
        Decision::Reuse | Decision::FingerprintMismatch => {
            next.revoked_at = Some(now);
            return Some(next);
        }
        Decision::Revoked | Decision::Expired | Decision::Unknown => return None,
    }
    if let Some(claims) = new_claims {
        next.claims = claims.to_owned();
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> NumericDate {
        NumericDate::from_secs(s).unwrap()
    }

    fn family() -> FamilyRecord {
        FamilyRecord {
            family_id: "f".into(),
            subject: "s".into(),
            claims: "{}".into(),
            created_at: at(1000),
            expires_at: at(1000 + 30 * 86400),
            last_used_at: at(2000),
            idle_timeout: Duration::from_secs(7 * 86400),
            generation: 5,
            current_hash: [5; 32],
            previous_rotated_at: Some(at(2000)),
            fingerprint: None,
            revoked_at: None,
        }
    }

    const G: Duration = Duration::from_secs(60);

    #[test]
    fn rules() {
        let f = family();
        let cur = Some(TokenRecord { generation: 5 });
        let prev = Some(TokenRecord { generation: 4 });
        let grand = Some(TokenRecord { generation: 3 });
        assert_eq!(
            decide(&f, &[5; 32], cur, None, at(2001), G),
            Decision::Rotate
        );
        assert_eq!(
            decide(&f, &[4; 32], prev, None, at(2001), G),
            Decision::GraceReplace
        );
        assert_eq!(
            decide(&f, &[4; 32], prev, None, at(2060), G),
            Decision::Reuse,
            "window is half-open"
        );
        assert_eq!(
            decide(&f, &[4; 32], prev, None, at(2001), Duration::ZERO),
            Decision::Reuse
        );
        assert_eq!(
            decide(&f, &[3; 32], grand, None, at(2001), G),
            Decision::Reuse
        );
        // A replaced token of the current generation is not the live one.
        assert_eq!(
            decide(&f, &[9; 32], cur, None, at(2001), G),
            Decision::Reuse
        );
        assert_eq!(
            decide(&f, &[7; 32], None, None, at(2001), G),
            Decision::Unknown
        );
    }

    #[test]
    fn lifetimes_and_clock_jumps() {
        let f = family();
        let cur = Some(TokenRecord { generation: 5 });
        assert_eq!(
            decide(&f, &[5; 32], cur, None, at(2000 + 7 * 86400), G),
            Decision::Expired,
            "idle"
        );
        let mut busy = f.clone();
        busy.last_used_at = at(1000 + 30 * 86400 - 10);
        assert_eq!(
            decide(&busy, &[5; 32], cur, None, at(1000 + 30 * 86400), G),
            Decision::Expired,
            "absolute"
        );
        // A clock set back before the last use does not make an idle family young again.
        let mut idle = f.clone();
        idle.last_used_at = at(2000 + 7 * 86400);
        idle.idle_timeout = Duration::ZERO;
        assert_eq!(
            decide(&idle, &[5; 32], cur, None, at(10), G),
            Decision::Expired
        );
        // Expiry wins inside the grace window too.
        let mut old = f.clone();
        old.expires_at = at(2010);
        let prev = Some(TokenRecord { generation: 4 });
        assert_eq!(
            decide(&old, &[4; 32], prev, None, at(2010), G),
            Decision::Expired
        );
    }

    #[test]
    fn fingerprints_and_revocation() {
        let mut f = family();
        f.fingerprint = Some([1; 32]);
        let cur = Some(TokenRecord { generation: 5 });
        assert_eq!(
            decide(&f, &[5; 32], cur, Some(&[1; 32]), at(2001), G),
            Decision::Rotate
        );
        assert_eq!(
            decide(&f, &[5; 32], cur, Some(&[2; 32]), at(2001), G),
            Decision::FingerprintMismatch
        );
        assert_eq!(
            decide(&f, &[5; 32], cur, None, at(2001), G),
            Decision::FingerprintMismatch
        );
        f.revoked_at = Some(at(2000));
        assert_eq!(
            decide(&f, &[5; 32], cur, Some(&[1; 32]), at(2001), G),
            Decision::Revoked
        );
    }
}
