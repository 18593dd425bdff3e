//! A whole rotation or logout on a loaded family, as a store's atomic step runs it: the
//! tag check, then the rules of [`family`](crate::refresh::family). Pure: the store persists
//! what these return.

use crate::model::family::{Decision, FamilyRecord, Logout, Refusal, apply, decide, decide_logout};
use crate::model::store::{LogoutRequest, RotationOutcome, RotationRequest};

/// What a rotation decided: the answer, and the family as the store must write it.
///
/// A store that runs Rust inside its atomic step (a transaction, a lock) loads the family,
/// calls [`resolve_rotation`], writes [`to_write`](Self::to_write) when it is `Some`, and
/// answers [`outcome`](Self::outcome): the whole rotation rule set in three lines.
#[derive(Debug)]
pub struct Resolved {
    /// The answer to give the caller.
    pub outcome: RotationOutcome,
    /// A family revoked by the refusal (reuse, fingerprint mismatch), to write.
    revoked: Option<FamilyRecord>,
}

impl Resolved {
    /// The family to write, if anything changed: the rotated one (held once, in the
    /// answer) or the revoked one.
    pub fn to_write(&self) -> Option<&FamilyRecord> {
        match &self.outcome {
            RotationOutcome::Rotated(next) => Some(next),
            _ => self.revoked.as_ref(),
        }
    }
}

/// A whole rotation on a loaded family (or `None` when the id is unknown): the tag check
/// ([`PresentedToken::is_minted_by`](crate::refresh::token::PresentedToken::is_minted_by)),
/// [`decide`], [`apply`]. Pure: the store persists [`Resolved::to_write`].
pub fn resolve_rotation(family: Option<&FamilyRecord>, r: &RotationRequest) -> Resolved {
    let resolved = |outcome, revoked| Resolved { outcome, revoked };
    let refused = |refusal| resolved(RotationOutcome::Refused(refusal), None);
    if !r.presented.is_minted_by(family.map(|f| &f.secret)) {
        return refused(Refusal::Unknown);
    }
    let Some(family) = family else {
        return refused(Refusal::Unknown);
    };
    let decision = decide(
        family,
        r.presented.generation(),
        r.fingerprint.as_ref(),
        r.now,
        r.grace,
        r.changes_access(),
    );
    let next = apply(
        family,
        decision,
        r.new_claims.as_deref(),
        r.new_login.as_deref(),
        &r.signing_key_id,
        r.now,
    );
    match (decision, next) {
        (Decision::Rotate, Some(next)) => resolved(RotationOutcome::Rotated(Box::new(next)), None),
        // Only after 2^64 rotations: nothing more can be minted.
        (Decision::Rotate, None) => refused(Refusal::Unknown),
        (Decision::Grace, _) => resolved(RotationOutcome::Grace(Box::new(family.clone())), None),
        (Decision::Refuse(refusal), next) => resolved(RotationOutcome::Refused(refusal), next),
    }
}

/// A logout on a loaded family (or `None`): the tag check and [`decide_logout`]; returns
/// whether the store must mark the family revoked, and the answer.
pub fn resolve_logout(family: Option<&FamilyRecord>, r: &LogoutRequest) -> (bool, Logout) {
    if !r.presented.is_minted_by(family.map(|f| &f.secret)) {
        return (false, Logout::Unknown);
    }
    let Some(family) = family else {
        return (false, Logout::Unknown);
    };
    let outcome = decide_logout(family, r.presented.generation(), r.now, r.grace);
    (matches!(outcome, Logout::Revoked | Logout::Reused), outcome)
}
