//! Short-lived access tokens plus rotating refresh tokens kept (hashed) in a shared store.
//!
//! Follows RFC 9700 §2.2.2 and §4.14 and RFC 6749 §6, §10.4: every refresh rotates the
//! token; presenting a retired token revokes the whole family (a stolen token dies with the
//! legitimate one); families have an absolute and an idle lifetime; a family may be bound
//! to a client fingerprint; logins can be revoked per family, per subject, and per access
//! token (`jti`). The rules live in [`decide`]; each [`Store`] applies them atomically.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tok::Error> {
//! use tok::refresh::{RefreshPolicy, Sessions};
//! use tok::store::MemoryStore;
//!
//! let sessions = Sessions::new(MemoryStore::new(), tok::KeySet::new(tok::HmacKey::generate()?)?, RefreshPolicy::default());
//! let first = sessions.issue("user-42", serde_json::Map::new(), None).await?;
//! let second = sessions.rotate(&first.refresh_token, None).await?;
//! // The first refresh token is now retired: presenting it again revokes the family.
//! let err = sessions.rotate(&first.refresh_token, None).await.unwrap_err();
//! assert_eq!(err.kind(), tok::ErrorKind::RefreshReused);
//! let err = sessions.rotate(&second.refresh_token, None).await.unwrap_err();
//! assert_eq!(err.kind(), tok::ErrorKind::Revoked);
//! # Ok(())
//! # }
//! ```

pub mod decide;
pub mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::claims::{Claims, REGISTERED};
use crate::error::{Error, ErrorKind};
use crate::jws::Verified;
use crate::keyset::KeySet;
use crate::numeric_date::NumericDate;
use crate::store::{RotationOutcome, RotationRequest, Store};
use crate::validation::Validation;
use decide::{Decision, FamilyRecord};

/// The longest grace window tok allows: a lost response can be retried, but a stolen
/// token cannot be used for long beside the legitimate one.
pub const MAX_GRACE: Duration = Duration::from_secs(5 * 60);

/// The claim that carries the family id in access tokens.
pub const SESSION_CLAIM: &str = "sid";

/// Lifetimes and rules of a session family.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    access_ttl: Duration,
    family_lifetime: Duration,
    idle_timeout: Duration,
    grace: Duration,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Default for RefreshPolicy {
    /// Access tokens 15 minutes, families 30 days, idle timeout 7 days, no grace window.
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            family_lifetime: Duration::from_secs(30 * 86400),
            idle_timeout: Duration::from_secs(7 * 86400),
            grace: Duration::ZERO,
            issuer: None,
            audience: None,
        }
    }
}

impl RefreshPolicy {
    /// Access-token lifetime (default 15 minutes).
    pub fn with_access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Absolute family lifetime, which rotation never extends (default 30 days).
    pub fn with_family_lifetime(mut self, lifetime: Duration) -> Self {
        self.family_lifetime = lifetime;
        self
    }

    /// How long a family may go unrotated (default 7 days).
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Grace window for the immediately previous refresh token (default 0: strict).
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) for a window over [`MAX_GRACE`].
    pub fn with_grace(mut self, grace: Duration) -> Result<Self, Error> {
        if grace > MAX_GRACE {
            return Err(Error::malformed(format!(
                "grace window {}s exceeds the maximum of {}s",
                grace.as_secs(),
                MAX_GRACE.as_secs()
            )));
        }
        self.grace = grace;
        Ok(self)
    }

    /// `iss` of the access tokens.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// `aud` of the access tokens.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// The access-token lifetime.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }
}

/// An access token and a refresh token, serializable as the OAuth 2.0 token response
/// (RFC 6749 §5.1). `Debug` redacts both tokens.
#[derive(Clone, Serialize)]
pub struct TokenPair {
    /// The signed access token (a tok JWT).
    pub access_token: String,
    /// Always `"Bearer"`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The opaque refresh token. Wiped from memory when dropped.
    pub refresh_token: Zeroizing<String>,
    /// Seconds until the refresh token's family can no longer be used (absolute or idle).
    pub refresh_expires_in: u64,
    /// The family (session) id, also the access token's `sid`.
    #[serde(skip)]
    pub family_id: String,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("family_id", &self.family_id)
            .finish()
    }
}

/// The source of "now": the system clock by default, anything in tests.
pub type Clock = Arc<dyn Fn() -> NumericDate + Send + Sync>;

/// Issues, rotates, revokes and checks sessions against a [`Store`].
pub struct Sessions<S> {
    store: S,
    keys: KeySet,
    policy: RefreshPolicy,
    clock: Clock,
}

impl<S: Store> Sessions<S> {
    /// Sessions over `store`, signing access tokens with `keys`' signing key.
    pub fn new(store: S, keys: KeySet, policy: RefreshPolicy) -> Self {
        Self {
            store,
            keys,
            policy,
            clock: Arc::new(NumericDate::now),
        }
    }

    /// Uses `clock` instead of the system clock (tests, replays).
    pub fn with_clock(mut self, clock: impl Fn() -> NumericDate + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    fn now(&self) -> NumericDate {
        (self.clock)()
    }

    /// Starts a family for `subject`: an access token carrying `claims` and a refresh
    /// token, optionally bound to a client fingerprint (any bytes; only their SHA-256 is
    /// stored).
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) when `claims` use a registered name or `sid`;
    /// [`Store`](ErrorKind::Store) when the store fails (no token is returned then).
    pub async fn issue(
        &self,
        subject: &str,
        claims: Map<String, Value>,
        fingerprint: Option<&[u8]>,
    ) -> Result<TokenPair, Error> {
        check_claims(&claims)?;
        let now = self.now();
        let claims_json = Value::Object(claims).to_string();
        // A 128-bit id colliding is all but impossible; if a store ever reports one, a
        // fresh id is drawn rather than the insert overwriting anything.
        let mut attempts = 0;
        loop {
            let family_id = token::new_family_id()?;
            let minted = token::mint(&family_id)?;
            let record = FamilyRecord {
                family_id,
                subject: subject.to_owned(),
                claims: claims_json.clone(),
                created_at: now,
                expires_at: now.saturating_add(self.policy.family_lifetime),
                last_used_at: now,
                idle_timeout: self.policy.idle_timeout,
                generation: 0,
                current_hash: minted.hash,
                previous_rotated_at: None,
                fingerprint: fingerprint.map(token::hash),
                revoked_at: None,
            };
            match self.store.create_family(&record).await {
                Ok(()) => {
                    tracing::info!(target: "tok::refresh", event = "issue", family = %record.family_id, subject = %record.subject, bound = record.fingerprint.is_some());
                    return self.pair(&record, minted.token, now);
                }
                Err(e)
                    if attempts < 2
                        && e.kind() == ErrorKind::Store
                        && e.detail().contains("exists") =>
                {
                    attempts += 1
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Rotates a refresh token: returns a new pair and retires the presented token.
    ///
    /// # Errors
    /// [`RefreshReused`](ErrorKind::RefreshReused) for a retired token (the family is now
    /// revoked), [`FingerprintMismatch`](ErrorKind::FingerprintMismatch) (family revoked),
    /// [`Revoked`](ErrorKind::Revoked), [`RefreshExpired`](ErrorKind::RefreshExpired),
    /// [`RefreshUnknown`](ErrorKind::RefreshUnknown), [`Malformed`](ErrorKind::Malformed)
    /// for a string tok did not mint, [`Store`](ErrorKind::Store).
    pub async fn rotate(
        &self,
        refresh_token: &str,
        fingerprint: Option<&[u8]>,
    ) -> Result<TokenPair, Error> {
        self.rotate_inner(refresh_token, fingerprint, None).await
    }

    /// Rotates with new access claims, for a privilege change (new role, new scopes): the
    /// old refresh token cannot outlive the change.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate), plus [`Malformed`](ErrorKind::Malformed) for claims
    /// using a registered name or `sid`.
    pub async fn rotate_with_claims(
        &self,
        refresh_token: &str,
        fingerprint: Option<&[u8]>,
        claims: Map<String, Value>,
    ) -> Result<TokenPair, Error> {
        check_claims(&claims)?;
        self.rotate_inner(
            refresh_token,
            fingerprint,
            Some(Value::Object(claims).to_string()),
        )
        .await
    }

    async fn rotate_inner(
        &self,
        refresh_token: &str,
        fingerprint: Option<&[u8]>,
        new_claims: Option<String>,
    ) -> Result<TokenPair, Error> {
        let presented = token::parse(refresh_token)?;
        let minted = token::mint(presented.family_id)?;
        let now = self.now();
        let request = RotationRequest {
            family_id: presented.family_id.to_owned(),
            presented_hash: presented.hash,
            fingerprint: fingerprint.map(token::hash),
            new_hash: minted.hash,
            new_claims,
            now,
            grace: self.policy.grace,
        };
        let family = request.family_id.as_str();
        match self.store.rotate(&request).await? {
            RotationOutcome::Rotated(record) => {
                tracing::info!(target: "tok::refresh", event = "rotate", family, generation = record.generation, subject = %record.subject);
                self.pair(&record, minted.token, now)
            }
            RotationOutcome::Refused(decision) => Err(self.refusal(decision, family)),
        }
    }

    fn refusal(&self, decision: Decision, family: &str) -> Error {
        match decision {
            Decision::Reuse => {
                tracing::warn!(target: "tok::refresh", event = "reuse_detected", family, "a retired refresh token was presented; family revoked");
                Error::new(
                    ErrorKind::RefreshReused,
                    "refresh token was already used; its session is now revoked",
                )
            }
            Decision::FingerprintMismatch => {
                tracing::warn!(target: "tok::refresh", event = "fingerprint_mismatch", family, "family revoked");
                Error::new(
                    ErrorKind::FingerprintMismatch,
                    "client fingerprint does not match; the session is now revoked",
                )
            }
            Decision::Revoked => Error::new(ErrorKind::Revoked, "the session was revoked"),
            Decision::Expired => Error::new(ErrorKind::RefreshExpired, "the session has expired"),
            Decision::Unknown | Decision::Rotate | Decision::GraceReplace => {
                Error::new(ErrorKind::RefreshUnknown, "refresh token is not known")
            }
        }
    }

    fn pair(
        &self,
        record: &FamilyRecord,
        refresh_token: Zeroizing<String>,
        now: NumericDate,
    ) -> Result<TokenPair, Error> {
        let custom: Map<String, Value> = serde_json::from_str(&record.claims).map_err(|e| {
            Error::new(
                ErrorKind::Store,
                format!("stored claims are not a JSON object: {e}"),
            )
            .with_source(e)
        })?;
        let mut custom = custom;
        custom.insert(SESSION_CLAIM.into(), record.family_id.as_str().into());
        let mut claims = Claims::new(custom)
            .with_subject(record.subject.as_str())
            .issued_at(now)
            .expires_after(now, self.policy.access_ttl)
            .with_id(crate::random::token(16)?);
        claims.iss = self.policy.issuer.as_deref().map(Into::into);
        if let Some(aud) = &self.policy.audience {
            claims = claims.with_audience(aud.as_str());
        }
        let access_token = crate::jws::sign(self.keys.signing_key(), &claims)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token,
            refresh_expires_in: record.usable_until().duration_since(now).as_secs(),
            family_id: record.family_id.clone(),
        })
    }

    /// Revokes a family (logout). Returns whether it was live.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store).
    pub async fn revoke_family(&self, family_id: &str) -> Result<bool, Error> {
        let revoked = self.store.revoke_family(family_id, self.now()).await?;
        tracing::info!(target: "tok::refresh", event = "revoke", family = family_id, revoked);
        Ok(revoked)
    }

    /// Revokes the family of a refresh token (logout with the token in hand).
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) for a string tok did not mint;
    /// [`Store`](ErrorKind::Store).
    pub async fn revoke_refresh(&self, refresh_token: &str) -> Result<bool, Error> {
        self.revoke_family(token::family_of(refresh_token)?).await
    }

    /// Revokes every family of `subject` (logout everywhere). Returns how many were live.
    ///
    /// # Errors
    /// [`Store`](ErrorKind::Store).
    pub async fn revoke_subject(&self, subject: &str) -> Result<u64, Error> {
        let count = self.store.revoke_subject(subject, self.now()).await?;
        tracing::info!(target: "tok::refresh", event = "revoke_subject", subject, families = count);
        Ok(count)
    }

    /// Denylists one access token by `jti` until its `exp`. The token must verify (with
    /// `validation`), so nobody can denylist arbitrary ids.
    ///
    /// # Errors
    /// The verification error, [`MissingClaim`](ErrorKind::MissingClaim) without `jti` or
    /// `exp`, [`Store`](ErrorKind::Store).
    pub async fn revoke_access(
        &self,
        access_token: &str,
        validation: &Validation,
    ) -> Result<(), Error> {
        let verified = crate::jws::verify_at::<Map<String, Value>>(
            &self.keys,
            access_token,
            validation,
            self.now(),
        )?;
        let jti = verified
            .claims
            .jti
            .ok_or_else(|| Error::new(ErrorKind::MissingClaim, "token has no jti to revoke"))?;
        let exp = verified
            .claims
            .exp
            .ok_or_else(|| Error::new(ErrorKind::MissingClaim, "token has no exp"))?;
        self.store.deny_jti(&jti, exp).await?;
        tracing::info!(target: "tok::refresh", event = "revoke_access", jti = %jti);
        Ok(())
    }

    /// Online verification: signature and claims as [`crate::verify`], then the `jti`
    /// denylist and the state of the session family (`sid`).
    ///
    /// # Errors
    /// The verification error, [`Revoked`](ErrorKind::Revoked) for a denylisted token or
    /// a revoked or expired family, [`Store`](ErrorKind::Store).
    pub async fn verify_access<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        validation: &Validation,
    ) -> Result<Verified<T>, Error> {
        let now = self.now();
        let verified = crate::jws::verify_at::<T>(&self.keys, access_token, validation, now)?;
        check_online(
            &self.store,
            access_token,
            verified.claims.jti.as_deref(),
            now,
        )
        .await?;
        Ok(verified)
    }
}

/// The online part of verification for a token whose signature already checked out:
/// denylisted `jti`, revoked or expired family.
///
/// # Errors
/// [`Revoked`](ErrorKind::Revoked), [`Store`](ErrorKind::Store).
pub async fn check_online(
    store: &impl Store,
    verified_token: &str,
    jti: Option<&str>,
    now: NumericDate,
) -> Result<(), Error> {
    if let Some(jti) = jti
        && store.is_jti_denied(jti, now).await?
    {
        return Err(Error::new(
            ErrorKind::Revoked,
            "the access token was revoked",
        ));
    }
    // The signature is good, so reading `sid` without a typed parse is safe.
    let claims = crate::insecure::decode_unverified(verified_token, usize::MAX)?.claims;
    if let Some(Value::String(sid)) = claims.get(SESSION_CLAIM) {
        match store.family(sid).await? {
            Some(family) if family.is_live(now) => {}
            Some(_) | None => {
                return Err(Error::new(
                    ErrorKind::Revoked,
                    "the session of this access token has ended",
                ));
            }
        }
    }
    Ok(())
}

fn check_claims(claims: &Map<String, Value>) -> Result<(), Error> {
    match claims
        .keys()
        .find(|k| REGISTERED.contains(&k.as_str()) || *k == SESSION_CLAIM)
    {
        Some(name) => Err(Error::malformed(format!(
            "access claims may not set {name:?}; tok sets it"
        ))),
        None => Ok(()),
    }
}
