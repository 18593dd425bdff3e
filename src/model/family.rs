//! The family model: what a store keeps per session, and the rules that decide a
//! presented refresh token, as pure functions of that state.
//!
//! Every backend runs these inside its own atomic step (a transaction, a mutex, a Lua
//! script that mirrors them), so the rules are written once. Generation numbers, not
//! timestamps, order rotations: two rotations in one second are still ordered.
//!
//! A family's stored size is constant: no token and no token hash is kept. The presented
//! token's tag is checked against the family's [`FamilySecret`] before these rules run
//! (see [`crate::refresh::token`]); the rules then need only its generation.

use std::time::Duration;

use crate::model::token::{FamilySecret, TokenHash};
use crate::numeric_date::NumericDate;

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
    /// The refresh key and nonce every token of the family is derived from.
    pub secret: FamilySecret,
    /// When the previous generation was rotated: the start of its grace window.
    pub previous_rotated_at: Option<NumericDate>,
    /// The hash of the client fingerprint the family is bound to, if any.
    pub fingerprint: Option<TokenHash>,
    /// The generation whose rotation set the current claims (0: the family's first):
    /// access tokens minted before it carry claims that no longer hold, and online
    /// checks refuse them.
    pub claims_generation: u64,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<NumericDate>,
    /// What the application said of the session at login, for a devices page (a device
    /// name, a coarse location); empty when nothing. Never a secret, at most
    /// [`MAX_LABEL_BYTES`]: see [`check_label`].
    pub label: String,
    /// The family's login ([`Login`](crate::refresh::login::Login), as
    /// [`Login::to_stored`](crate::refresh::login::Login::to_stored) writes it): set at
    /// creation and by a reauthentication only. Empty for a family stored before logins
    /// were recorded (read by [`login`](Self::login) as a remembered login at creation).
    pub login: String,
}

/// The longest [`FamilyRecord::label`], in bytes: enough for a device name and a place,
/// small enough that a session's storage stays constant and small.
pub const MAX_LABEL_BYTES: usize = 200;

/// Whether `c` may stand in a label: not a control character (Unicode category Cc) nor
/// a format character (Cf: bidi overrides and isolates, zero-width joiners and spaces,
/// soft hyphens), which can make a label show as something it is not in a devices list
/// or a terminal.
pub fn label_may_hold(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    !c.is_control() && c.general_category() != GeneralCategory::Format
}

/// Whether `label` may be stored as a session's label: at most [`MAX_LABEL_BYTES`] bytes
/// and only characters [`label_may_hold`] (a label is shown on pages and in terminals).
///
/// # Errors
/// [`TooLarge`](crate::ErrorKind::TooLarge) for a longer label,
/// [`Malformed`](crate::ErrorKind::Malformed) for one with a control or format character.
pub fn check_label(label: &str) -> Result<(), crate::error::Error> {
    use crate::error::{Error, ErrorKind};
    if label.len() > MAX_LABEL_BYTES {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "a session label of {} bytes is longer than {MAX_LABEL_BYTES}",
                label.len()
            ),
        ));
    }
    if let Some(c) = label.chars().find(|&c| !label_may_hold(c)) {
        return Err(Error::new(
            ErrorKind::Malformed,
            format!(
                "a session label may not hold control or format characters (it holds U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

impl FamilyRecord {
    /// The instant at which the family stops being usable (absolute or idle, whichever
    /// comes first).
    pub fn usable_until(&self) -> NumericDate {
        self.expires_at
            .min(self.last_used_at.saturating_add(self.idle_timeout))
    }

    /// Whether the family has passed its absolute or idle end at `now`: the lifetime rule
    /// `max(now, last_used) >= min(expires, last_used + idle)`. Mirrors: the SQLite
    /// store's purge SQL, `rotate.lua` and `logout.lua` (Redis), `tok_expired` and the
    /// fast rotation `UPDATE` (PostgreSQL); the conformance suite's lifetime cases and
    /// the generated sequences (`tests/store_sequences.rs`) run through every one.
    pub fn is_expired(&self, now: NumericDate) -> bool {
        ended_by_lifetime(self.last_used_at, self.expires_at, self.idle_timeout, now)
    }

    /// The family's login, read from [`login`](Self::login).
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store) when the stored text is not a login.
    pub fn login(&self) -> Result<crate::model::login::Login, crate::error::Error> {
        crate::model::login::Login::from_stored(&self.login, self.created_at)
    }

    /// Whether the family is live at `now` (not revoked, not expired).
    pub fn is_live(&self, now: NumericDate) -> bool {
        self.revoked_at.is_none() && !self.is_expired(now)
    }

    /// Whether the previous generation's grace window is open at `now`.
    fn in_grace(&self, now: NumericDate, grace: Duration) -> bool {
        self.previous_rotated_at
            .is_some_and(|start| effective_now(self, now) < start.saturating_add(grace))
    }
}

/// Why a presented refresh token got no new pair. Only the two that revoke change the
/// store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No family minted this token (unknown family, wrong tag, a retired key, or a
    /// generation the store has not reached). Nothing changes.
    Unknown,
    /// The family was revoked before.
    Revoked,
    /// The family has passed its absolute or idle lifetime.
    Expired,
    /// A retired token: the family is now revoked.
    Reused,
    /// The fingerprint does not match: the family is now revoked.
    FingerprintMismatch,
}

impl Refusal {
    /// Whether this refusal revokes the family.
    pub fn revokes(self) -> bool {
        matches!(self, Self::Reused | Self::FingerprintMismatch)
    }

    /// The stable code of the error this refusal becomes (as
    /// [`ErrorKind::code`](crate::ErrorKind::code)).
    pub fn code(self) -> &'static str {
        match self {
            Self::Unknown => "refresh-unknown",
            Self::Revoked => "revoked",
            Self::Expired => "refresh-expired",
            Self::Reused => "refresh-reused",
            Self::FingerprintMismatch => "fingerprint-mismatch",
        }
    }
}

/// What to do with a token the family minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The live token: generation + 1.
    Rotate,
    /// The immediately previous token inside its grace window: hand out the live token
    /// again (it is derived, so every caller gets the same one). Nothing changes.
    Grace,
    /// No new pair.
    Refuse(Refusal),
}

/// The lifetime rule of [`FamilyRecord::is_expired`] on the fields it reads, for a store
/// that reads only those (counting families per key).
pub fn ended_by_lifetime(
    last_used_at: NumericDate,
    expires_at: NumericDate,
    idle_timeout: Duration,
    now: NumericDate,
) -> bool {
    now.max(last_used_at) >= expires_at.min(last_used_at.saturating_add(idle_timeout))
}

/// "Now" for lifetime checks: never earlier than the last use, so setting the clock back
/// cannot extend a family.
pub fn effective_now(family: &FamilyRecord, now: NumericDate) -> NumericDate {
    now.max(family.last_used_at)
}

/// Decides a presented token that `family` minted (its tag already checked) for
/// `generation`. `fingerprint` is the hash of the presented fingerprint;
/// `changes_claims` says whether the caller asks for new access claims or a new login
/// (a reauthentication), which rotate alike. Mirrors (with
/// [`apply`]): `rotate.lua` (Redis), `tok_rotate`, `tok_in_grace` and, for the live
/// token of a live family, the fast rotation `UPDATE` (PostgreSQL); the generated
/// sequences of `tests/store_sequences.rs` run each against this function.
pub fn decide(
    family: &FamilyRecord,
    generation: u64,
    fingerprint: Option<&TokenHash>,
    now: NumericDate,
    grace: Duration,
    changes_claims: bool,
) -> Decision {
    // A generation the store has not reached was never handed out by it (the store lost
    // a write, or key and nonce leaked): refuse, and revoke nothing on its word.
    if generation > family.generation {
        return Decision::Refuse(Refusal::Unknown);
    }
    if family.revoked_at.is_some() {
        return Decision::Refuse(Refusal::Revoked);
    }
    if family.is_expired(now) {
        return Decision::Refuse(Refusal::Expired);
    }
    if let Some(bound) = &family.fingerprint {
        let matches = fingerprint
            .is_some_and(|f| bool::from(subtle::ConstantTimeEq::ct_eq(&f[..], &bound[..])));
        if !matches {
            return Decision::Refuse(Refusal::FingerprintMismatch);
        }
    }
    if generation == family.generation {
        return Decision::Rotate;
    }
    if generation + 1 == family.generation && family.in_grace(now, grace) {
        // A privilege change must not hand out the token its caller may already share:
        // it rotates on from the live generation instead.
        return if changes_claims {
            Decision::Rotate
        } else {
            Decision::Grace
        };
    }
    Decision::Refuse(Refusal::Reused)
}

/// The family after `decision`, as the store must persist it (`None` when nothing
/// changes). Shared by the backends that run Rust inside their atomic step. A rotation
/// moves the family to the refresh key `signing_key_id` (the key set's signing key's)
/// when its key is another ([`FamilySecret::rotated_to`](crate::model::token::FamilySecret::rotated_to)).
/// `new_login` (a reauthentication) replaces the family's login and, as new claims do,
/// ends grace and outdates earlier access tokens: they carry the old `auth_time`.
///
/// Mirrored by `src/store/redis/rotate.lua` and by `tok_rotate` and the fast rotation
/// `UPDATE` of the PostgreSQL store.
pub fn apply(
    family: &FamilyRecord,
    decision: Decision,
    new_claims: Option<&str>,
    new_login: Option<&str>,
    signing_key_id: &str,
    now: NumericDate,
) -> Option<FamilyRecord> {
    let mut next = family.clone();
    match decision {
        Decision::Rotate => {
            let at = effective_now(family, now);
            next.generation = family.generation.checked_add(1)?;
            next.secret = family.secret.rotated_to(next.generation, signing_key_id);
            next.last_used_at = at;
            next.previous_rotated_at = Some(at);
            if let Some(claims) = new_claims {
                next.claims = claims.to_owned();
            }
            if let Some(login) = new_login {
                next.login = login.to_owned();
            }
            if new_claims.is_some() || new_login.is_some() {
                // A privilege change (or a fresh login) ends grace for every earlier
                // generation: the token it retired (which another tab or a thief may
                // hold) must not be handed what it grants, so presenting it afterwards
                // is reuse.
                next.previous_rotated_at = None;
                next.claims_generation = next.generation;
            }
        }
        Decision::Refuse(refusal) if refusal.revokes() => next.revoked_at = Some(now),
        Decision::Grace | Decision::Refuse(_) => return None,
    }
    Some(next)
}

/// What logging out with a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logout {
    /// The family was live and is now revoked.
    Revoked,
    /// The family had already ended (revoked or expired); nothing changed.
    AlreadyEnded,
    /// The token was a retired one (outside any grace): reuse, so the family is now
    /// revoked and the caller is told so.
    Reused,
    /// No family minted this token: nothing changed.
    Unknown,
}

/// Decides a logout with a token that `family` minted for `generation`. Logging out
/// needs no fingerprint: ending a session is never an escalation. Mirrors: `logout.lua`
/// (Redis), `tok_logout` (PostgreSQL); checked as [`decide`] is.
pub fn decide_logout(
    family: &FamilyRecord,
    generation: u64,
    now: NumericDate,
    grace: Duration,
) -> Logout {
    if generation > family.generation {
        Logout::Unknown
    } else if !family.is_live(now) {
        Logout::AlreadyEnded
    } else if generation == family.generation
        || (generation + 1 == family.generation && family.in_grace(now, grace))
    {
        Logout::Revoked
    } else {
        Logout::Reused
    }
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
            secret: FamilySecret {
                key_id: "k".into(),
                nonce: [3; 32],
                moved: None,
            },
            previous_rotated_at: Some(at(2000)),
            fingerprint: None,
            claims_generation: 0,
            revoked_at: None,
            label: String::new(),
            login: String::new(),
        }
    }

    const G: Duration = Duration::from_secs(60);
    const REUSED: Decision = Decision::Refuse(Refusal::Reused);

    #[test]
    fn rules() {
        let f = family();
        assert_eq!(decide(&f, 5, None, at(2001), G, false), Decision::Rotate);
        assert_eq!(decide(&f, 4, None, at(2001), G, false), Decision::Grace);
        assert_eq!(decide(&f, 4, None, at(2001), G, true), Decision::Rotate);
        assert_eq!(
            decide(&f, 4, None, at(2060), G, false),
            REUSED,
            "window is half-open"
        );
        assert_eq!(decide(&f, 4, None, at(2001), Duration::ZERO, false), REUSED);
        assert_eq!(decide(&f, 3, None, at(2001), G, false), REUSED);
        assert_eq!(decide(&f, 0, None, at(2001), G, false), REUSED);
        assert_eq!(
            decide(&f, 6, None, at(2001), G, false),
            Decision::Refuse(Refusal::Unknown)
        );
        let mut first = family();
        first.generation = 0;
        first.previous_rotated_at = None;
        assert_eq!(
            decide(&first, 0, None, at(2001), G, false),
            Decision::Rotate
        );
    }

    #[test]
    fn lifetimes_and_clock_jumps() {
        let f = family();
        let expired = Decision::Refuse(Refusal::Expired);
        assert_eq!(decide(&f, 5, None, at(2000 + 7 * 86400), G, false), expired);
        assert_eq!(
            decide(&f, 5, None, at(2000 + 7 * 86400 - 1), G, false),
            Decision::Rotate
        );
        let mut busy = f.clone();
        busy.last_used_at = at(1000 + 30 * 86400 - 10);
        assert_eq!(
            decide(&busy, 5, None, at(1000 + 30 * 86400), G, false),
            expired
        );
        // A clock set back before the last use does not make an idle family young again.
        let mut idle = f.clone();
        idle.last_used_at = at(2000 + 7 * 86400);
        idle.idle_timeout = Duration::ZERO;
        assert_eq!(decide(&idle, 5, None, at(10), G, false), expired);
        // Expiry wins inside the grace window too.
        let mut old = f.clone();
        old.expires_at = at(2010);
        assert_eq!(decide(&old, 4, None, at(2010), G, false), expired);
    }

    #[test]
    fn fingerprints_and_revocation() {
        let mut f = family();
        f.fingerprint = Some([1; 32]);
        let mismatch = Decision::Refuse(Refusal::FingerprintMismatch);
        assert_eq!(
            decide(&f, 5, Some(&[1; 32]), at(2001), G, false),
            Decision::Rotate
        );
        assert_eq!(decide(&f, 5, Some(&[2; 32]), at(2001), G, false), mismatch);
        assert_eq!(decide(&f, 5, None, at(2001), G, false), mismatch);
        f.revoked_at = Some(at(2000));
        assert_eq!(
            decide(&f, 5, Some(&[1; 32]), at(2001), G, false),
            Decision::Refuse(Refusal::Revoked)
        );
    }

    #[test]
    fn apply_moves_only_what_the_decision_says() {
        let f = family();
        let rotated = apply(&f, Decision::Rotate, Some("{\"a\":1}"), None, "k", at(2100)).unwrap();
        assert_eq!(rotated.generation, 6);
        // New claims: no grace for the token this rotation retired.
        assert_eq!(rotated.previous_rotated_at, None);
        assert_eq!(rotated.last_used_at, at(2100));
        assert_eq!(rotated.claims, "{\"a\":1}");
        assert_eq!(rotated.claims_generation, 6);
        assert_eq!(rotated.secret, f.secret);
        // A clock behind the last use moves nothing backwards.
        let behind = apply(&f, Decision::Rotate, None, None, "k", at(1500)).unwrap();
        assert_eq!(behind.last_used_at, at(2000));
        assert_eq!(behind.previous_rotated_at, Some(at(2000)));
        assert_eq!(
            behind.claims_generation, 0,
            "a plain rotation keeps the claims"
        );
        assert_eq!(behind.claims, "{}");
        assert_eq!(apply(&f, Decision::Grace, None, None, "k", at(2001)), None);
        for refusal in [Refusal::Unknown, Refusal::Revoked, Refusal::Expired] {
            assert_eq!(
                apply(&f, Decision::Refuse(refusal), None, None, "k", at(2001)),
                None
            );
        }
        for refusal in [Refusal::Reused, Refusal::FingerprintMismatch] {
            let next = apply(&f, Decision::Refuse(refusal), None, None, "k", at(2001)).unwrap();
            assert_eq!(next.revoked_at, Some(at(2001)));
            assert_eq!(next.generation, 5);
        }
        let mut last = family();
        last.generation = u64::MAX;
        assert_eq!(
            apply(&last, Decision::Rotate, None, None, "k", at(2001)),
            None
        );
        // Another signing key: the rotation moves the family to it, from its generation on;
        // a refusal that revokes does not.
        let moved = apply(&f, Decision::Rotate, None, None, "k2", at(2001)).unwrap();
        assert_eq!(moved.secret, f.secret.rotated_to(6, "k2"));
        assert_eq!(moved.secret.key_id_for(5), "k");
        assert_eq!(moved.secret.key_id_for(6), "k2");
        let reused = apply(&f, REUSED, None, None, "k2", at(2001)).unwrap();
        assert_eq!(reused.secret, f.secret);
    }

    /// A new login rotates as new claims do, keeps the claims, and moves only the login;
    /// a plain rotation and a privilege change keep the login.
    #[test]
    fn apply_moves_the_login_only_when_asked() {
        let mut f = family();
        f.login = "old".into();
        let reauthenticated =
            apply(&f, Decision::Rotate, None, Some("new"), "k", at(2100)).unwrap();
        assert_eq!(reauthenticated.login, "new");
        assert_eq!(reauthenticated.claims, f.claims);
        assert_eq!(
            reauthenticated.previous_rotated_at, None,
            "no grace after it"
        );
        assert_eq!(
            reauthenticated.claims_generation, 6,
            "earlier tokens outdated"
        );
        let plain = apply(&f, Decision::Rotate, None, None, "k", at(2100)).unwrap();
        let promoted = apply(&f, Decision::Rotate, Some("{}"), None, "k", at(2100)).unwrap();
        assert_eq!(
            (plain.login.as_str(), promoted.login.as_str()),
            ("old", "old")
        );
        let reused = apply(&f, REUSED, None, Some("new"), "k", at(2100)).unwrap();
        assert_eq!(reused.login, "old");
    }

    /// A refusal's code is the code of the error kind it becomes.
    #[test]
    fn refusal_codes_are_the_error_codes() {
        use crate::error::ErrorKind;
        for (refusal, kind) in [
            (Refusal::Unknown, ErrorKind::RefreshUnknown),
            (Refusal::Revoked, ErrorKind::Revoked),
            (Refusal::Expired, ErrorKind::RefreshExpired),
            (Refusal::Reused, ErrorKind::RefreshReused),
            (Refusal::FingerprintMismatch, ErrorKind::FingerprintMismatch),
        ] {
            assert_eq!(refusal.code(), kind.code());
        }
    }

    #[test]
    fn logout_rules() {
        let f = family();
        assert_eq!(decide_logout(&f, 5, at(2001), G), Logout::Revoked);
        assert_eq!(decide_logout(&f, 4, at(2001), G), Logout::Revoked);
        assert_eq!(decide_logout(&f, 4, at(2060), G), Logout::Reused);
        assert_eq!(decide_logout(&f, 3, at(2001), G), Logout::Reused);
        assert_eq!(decide_logout(&f, 6, at(2001), G), Logout::Unknown);
        let mut ended = family();
        ended.revoked_at = Some(at(2000));
        assert_eq!(decide_logout(&ended, 5, at(2001), G), Logout::AlreadyEnded);
        assert_eq!(
            decide_logout(&f, 5, at(2000 + 7 * 86400), G),
            Logout::AlreadyEnded
        );
    }

    #[test]
    fn labels_refuse_control_and_format_characters() {
        use crate::error::ErrorKind;
        check_label("Firefox 140 on Linux · café").unwrap();
        for bad in [
            "a\nb",
            "a\u{7f}",
            "x\u{202E}fdp.exe",
            "a\u{200B}b",
            "\u{2066}a",
            "a\u{AD}b",
        ] {
            let e = check_label(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{bad:?}");
            assert!(e.detail().contains("U+"), "{e}");
        }
        let long = "a".repeat(MAX_LABEL_BYTES + 1);
        assert_eq!(check_label(&long).unwrap_err().kind(), ErrorKind::TooLarge);
        check_label(&long[1..]).unwrap();
    }
}
