//! [`Sessions`]: issuing, rotating, revoking and checking sessions against a [`Store`].

use std::sync::Arc;

use serde_json::{Map, Value};

use serde::Serialize;

use crate::claims::Claims;
use crate::error::{Error, ErrorKind};
use crate::jws::Verified;
use crate::keyset::KeySet;
use crate::layer::timed::Timed;
use crate::model::family::{FamilyRecord, Refusal};
use crate::model::store::{Created, RotationOutcome, RotationRequest, Store};
use crate::model::token::{self, PresentedToken};
use crate::numeric_date::NumericDate;
use crate::refresh::claims::claims_json;
use crate::refresh::live_keys::{KeySource, SessionKeys};
use crate::refresh::login_details::LoginDetails;
use crate::refresh::online::{
    GENERATION_CLAIM, SESSION_CLAIM, check_online, minted_at, session_id,
};
use crate::refresh::pair::TokenPair;
use crate::refresh::policy::RefreshPolicy;
use crate::refresh::refusal::refusal_error;
use crate::validation::Validation;

/// A client fingerprint: any bytes (a cookie's value, a string, a byte array), of which
/// only the SHA-256 is stored. `None` leaves a family unbound; `Some(b"...")`,
/// `Some(&string)` and `Some(&bytes)` all fit.
pub type Fingerprint<'a> = &'a (dyn AsRef<[u8]> + Sync);

/// The source of "now": the system clock by default, anything in tests.
pub type Clock = Arc<dyn Fn() -> NumericDate + Send + Sync>;

/// How often [`Sessions::issue`] draws a new family id when the store reports the id
/// taken (128 random bits: it never happens, but it must never overwrite either).
const ISSUE_ATTEMPTS: usize = 3;

/// Issues, rotates, revokes and checks sessions against a [`Store`].
pub struct Sessions<S> {
    /// Timed: every call a flow makes is recorded (see [`crate::layer`]).
    pub(super) store: Timed<S>,
    pub(super) keys: KeySource,
    pub(super) policy: RefreshPolicy,
    clock: Clock,
    sessionless: bool,
}

impl<S: Store> Sessions<S> {
    /// Sessions over `store`, signing access tokens with `keys`' signing key and deriving
    /// refresh tokens from refresh keys derived from `keys` (see [`crate::refresh::token`]).
    /// `keys` is a [`KeySet`] fixed for the life of these sessions, or
    /// [`LiveKeys`](crate::refresh::LiveKeys) that can change while they run (see
    /// [`KeyFile`](crate::refresh::KeyFile)).
    pub fn new(store: S, keys: impl SessionKeys, policy: RefreshPolicy) -> Self {
        Self {
            store: Timed(store),
            keys: keys.into_source(),
            policy,
            clock: Arc::new(NumericDate::now),
            sessionless: false,
        }
    }

    /// Lets [`verify_access`](Self::verify_access) accept tokens without `sid`, which no
    /// logout can end (only a `jti` denylist entry, or their `exp`). Off by default: an
    /// online check exists to make revocation work, so by default it refuses a token
    /// signed with the session key that no session vouches for (one minted by
    /// `tok::sign` or another service sharing the key).
    pub fn accepting_tokens_without_session(mut self) -> Self {
        self.sessionless = true;
        self
    }

    /// Uses `clock` instead of the system clock (tests, replays). Every store call gets
    /// its time from here.
    pub fn with_clock(mut self, clock: impl Fn() -> NumericDate + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store.0
    }

    /// The policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.policy
    }

    /// The key set access tokens are signed and verified with now (a copy: it does not
    /// follow a replacement of [`LiveKeys`](crate::refresh::LiveKeys)).
    pub fn keys(&self) -> KeySet {
        self.keys.load().set.clone()
    }

    /// Where these sessions read their keys, for the web layer's offline checks.
    #[cfg(feature = "axum")]
    pub(crate) fn key_source(&self) -> &KeySource {
        &self.keys
    }

    pub(crate) fn now(&self) -> NumericDate {
        (self.clock)()
    }

    /// An access token's signature and claims at `now`, under the keys in use now: the
    /// offline half of every online check.
    pub(super) fn verify_signed(
        &self,
        access_token: &str,
        validation: &Validation,
        now: NumericDate,
    ) -> Result<Verified<Map<String, Value>>, Error> {
        crate::jws::verify_at(&self.keys.load().set, access_token, validation, now)
    }

    pub(super) fn parse(&self, refresh_token: &str) -> Result<PresentedToken, Error> {
        PresentedToken::parse(refresh_token, Arc::clone(&self.keys.load().refresh))
    }

    /// Starts a family for `subject`: an access token carrying `claims` (any type that
    /// serializes to a JSON object, without registered names or `sid`) and a refresh
    /// token, optionally bound to a client fingerprint (any bytes; only their SHA-256 is
    /// stored).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// #[derive(serde::Serialize)]
    /// struct Access { role: &'static str }
    ///
    /// let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let pair = sessions.issue("alice", &Access { role: "user" }, Some(b"cookie-value")).await?;
    /// assert_eq!(pair.token_type, "Bearer");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Malformed`](ErrorKind::Malformed) when `claims` do not serialize to a JSON object
    /// or use a registered name or `sid` (the message says which setting to use instead);
    /// [`Store`](ErrorKind::Store) when the store fails (no token is returned then).
    pub async fn issue(
        &self,
        subject: &str,
        claims: &impl Serialize,
        fingerprint: Option<Fingerprint<'_>>,
    ) -> Result<TokenPair, Error> {
        self.issue_labelled(subject, claims, fingerprint, "").await
    }

    /// [`issue`](Self::issue), with a label the session keeps for a devices page (see
    /// [`list`](Self::list)): a device name, a coarse location; never a secret, at most
    /// [`MAX_LABEL_BYTES`](crate::refresh::family::MAX_LABEL_BYTES) bytes.
    ///
    /// # Errors
    /// As [`issue`](Self::issue); [`TooLarge`](ErrorKind::TooLarge) or
    /// [`Malformed`](ErrorKind::Malformed) for a label that is too long or holds a
    /// control character.
    pub async fn issue_labelled(
        &self,
        subject: &str,
        claims: &impl Serialize,
        fingerprint: Option<Fingerprint<'_>>,
        label: &str,
    ) -> Result<TokenPair, Error> {
        let details = LoginDetails::new().with_label(label);
        self.issue_with(subject, claims, fingerprint, &details)
            .await
    }

    /// [`issue`](Self::issue), with what the application says of the login: how the user
    /// proved who they are (`amr`, `acr`: access tokens carry them, with `auth_time` =
    /// now), whether the login is remembered, a label (see [`LoginDetails`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// use tok::refresh::{LoginDetails, Sessions};
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let details = LoginDetails::new().with_methods(["pwd"]).not_remembered();
    /// let pair = sessions.issue_with("alice", &serde_json::json!({}), None, &details).await?;
    /// assert!(!pair.remembered);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`issue_labelled`](Self::issue_labelled); [`TooLarge`](ErrorKind::TooLarge) or
    /// [`Malformed`](ErrorKind::Malformed) for `amr`/`acr` names too many, too long, or
    /// not printable ASCII.
    #[tracing::instrument(
        name = "issue", target = "tok::refresh", skip_all,
        fields(subject = %subject, bound = fingerprint.is_some(), family, outcome),
    )]
    pub async fn issue_with(
        &self,
        subject: &str,
        claims: &impl Serialize,
        fingerprint: Option<Fingerprint<'_>>,
        details: &LoginDetails,
    ) -> Result<TokenPair, Error> {
        crate::model::family::check_label(&details.label)?;
        let claims_json = claims_json(claims)?;
        let fingerprint = fingerprint.map(AsRef::as_ref);
        let now = self.now();
        let login = details.login_at(now)?.to_stored();
        let lifetime = self.policy.lifetime(details.remember);
        for _ in 0..ISSUE_ATTEMPTS {
            let record = FamilyRecord {
                family_id: token::new_family_id()?,
                subject: subject.to_owned(),
                claims: claims_json.clone(),
                created_at: now,
                expires_at: now.saturating_add(lifetime),
                last_used_at: now,
                idle_timeout: self.policy.idle_timeout,
                generation: 0,
                secret: self.keys.load().refresh.new_family_secret()?,
                previous_rotated_at: None,
                fingerprint: fingerprint.map(token::hash),
                claims_generation: 0,
                revoked_at: None,
                label: details.label.clone(),
                login: login.clone(),
            };
            match self.store.create_family(&record, now).await? {
                Created::Stored => {
                    let span = tracing::Span::current();
                    span.record("family", record.family_id.as_str());
                    span.record("outcome", "issued");
                    metrics::counter!(crate::refresh::metrics::ISSUED).increment(1);
                    return self.pair(&record, now);
                }
                Created::IdTaken => {
                    tracing::warn!(target: "tok::refresh", event = "id_collision", "a new family id was taken already; drawing another");
                }
            }
        }
        Err(Error::new(
            ErrorKind::Store,
            "the store reported every new family id as taken",
        ))
    }

    /// Rotates a refresh token: returns a new pair and retires the presented token.
    /// Inside the grace window, the previous token gets the live refresh token again (the
    /// same one for every caller) with a fresh access token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let first = sessions.issue("alice", &serde_json::json!({}), Some(b"fp")).await?;
    /// let next = sessions.rotate(&first.refresh_token, Some(b"fp")).await?;
    /// assert_eq!(next.session_id, first.session_id);
    /// // Another client fingerprint: a hijack; the session is revoked.
    /// let err = sessions.rotate(&next.refresh_token, Some(b"other")).await.unwrap_err();
    /// assert_eq!(err.kind(), tok::ErrorKind::FingerprintMismatch);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`RefreshReused`](ErrorKind::RefreshReused) for a retired token (the family is now
    /// revoked), [`FingerprintMismatch`](ErrorKind::FingerprintMismatch) (family revoked),
    /// [`Revoked`](ErrorKind::Revoked), [`RefreshExpired`](ErrorKind::RefreshExpired),
    /// [`RefreshUnknown`](ErrorKind::RefreshUnknown) for a token no family minted
    /// (nothing changes), [`Malformed`](ErrorKind::Malformed) for a string that is not a
    /// refresh token, [`Store`](ErrorKind::Store).
    pub async fn rotate(
        &self,
        refresh_token: &str,
        fingerprint: Option<Fingerprint<'_>>,
    ) -> Result<TokenPair, Error> {
        self.rotate_inner(refresh_token, fingerprint.map(AsRef::as_ref), None, None)
            .await
    }

    /// Rotates with new access claims, for a privilege change (new role, new scopes): the
    /// old refresh token cannot outlive the change. Never answered from the grace window:
    /// the previous token inside it rotates on from the live one.
    ///
    /// # Errors
    /// As [`rotate`](Self::rotate), plus [`Malformed`](ErrorKind::Malformed) for claims
    /// using a registered name or `sid`.
    pub async fn rotate_with_claims(
        &self,
        refresh_token: &str,
        fingerprint: Option<Fingerprint<'_>>,
        claims: &impl Serialize,
    ) -> Result<TokenPair, Error> {
        let claims = claims_json(claims)?;
        self.rotate_inner(
            refresh_token,
            fingerprint.map(AsRef::as_ref),
            Some(claims),
            None,
        )
        .await
    }

    #[tracing::instrument(
        name = "rotate", target = "tok::refresh", skip_all,
        fields(
            family,
            privilege_change = new_claims.is_some(),
            reauthentication = new_login.is_some(),
            generation,
            outcome,
        ),
    )]
    pub(super) async fn rotate_inner(
        &self,
        refresh_token: &str,
        fingerprint: Option<&[u8]>,
        new_claims: Option<String>,
        new_login: Option<String>,
    ) -> Result<TokenPair, Error> {
        let now = self.now();
        // One version of the keys parses the token and names the signing key; the guard
        // is not held across the store call.
        let request = {
            let keys = self.keys.load();
            RotationRequest {
                presented: PresentedToken::parse(refresh_token, Arc::clone(&keys.refresh))?,
                fingerprint: fingerprint.map(token::hash),
                new_claims,
                new_login,
                now,
                grace: self.policy.grace,
                signing_key_id: keys.refresh.signing_key_id().to_owned(),
            }
        };
        let family = request.presented.family_id();
        let span = tracing::Span::current();
        span.record("family", family);
        let outcome = self.store.rotate(&request).await;
        let code = match &outcome {
            Ok(RotationOutcome::Rotated(_)) => "rotated",
            Ok(RotationOutcome::Grace(_)) => "grace",
            Ok(RotationOutcome::Refused(r)) => r.code(),
            Err(_) => "store-error",
        };
        span.record("outcome", code);
        metrics::counter!(crate::refresh::metrics::ROTATIONS, "outcome" => code).increment(1);
        match outcome? {
            RotationOutcome::Rotated(record) | RotationOutcome::Grace(record) => {
                span.record("generation", record.generation);
                self.pair(&record, now)
            }
            RotationOutcome::Refused(refusal) => Err(refusal_error(refusal, family)),
        }
    }

    fn pair(&self, record: &FamilyRecord, now: NumericDate) -> Result<TokenPair, Error> {
        // The family's key passed the tag check (or just signed it), so it is in the set
        // (unless the set was replaced since: then the family's key may be gone).
        let keys = self.keys.load();
        let refresh_token = keys
            .refresh
            .mint(&record.family_id, record.generation, &record.secret)
            .ok_or_else(|| refusal_error(Refusal::Unknown, &record.family_id))?;
        let mut custom: Map<String, Value> = serde_json::from_str(&record.claims).map_err(|e| {
            Error::new(
                ErrorKind::Store,
                format!("stored claims are not a JSON object: {e}"),
            )
            .with_source(e)
        })?;
        custom.insert(SESSION_CLAIM.into(), record.family_id.as_str().into());
        custom.insert(GENERATION_CLAIM.into(), record.generation.into());
        let login = record.login()?;
        // Whole seconds, rounded down, as every OpenID Connect consumer reads auth_time:
        // rounding never makes a login look more recent.
        custom.insert("auth_time".into(), login.auth_time.as_secs().into());
        if !login.amr.is_empty() {
            custom.insert("amr".into(), login.amr.into());
        }
        if let Some(acr) = login.acr {
            custom.insert("acr".into(), acr.into());
        }
        let mut claims = Claims::new(custom)
            .with_subject(record.subject.as_str())
            .issued_at(now)
            .expires_after(now, self.policy.access_ttl)
            .with_id(crate::random::token(16)?);
        claims.iss = self.policy.issuer.as_deref().map(Into::into);
        if let Some(aud) = &self.policy.audience {
            claims = claims.with_audience(aud.as_str());
        }
        let access_token = crate::jws::sign(keys.set.signing_key(), &claims)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.policy.access_ttl.as_secs(),
            refresh_token,
            refresh_expires_in: record.usable_until().duration_since(now).as_secs(),
            session_id: record.family_id.clone(),
            remembered: login.remember,
        })
    }

    /// Online verification: signature and claims as [`crate::verify`], then the `jti`
    /// denylist and the state of the session family (`sid`), all from one parse.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let pair = sessions.issue("alice", &serde_json::json!({"role": "user"}), None).await?;
    /// let validation = tok::Validation::new();
    /// let ok = sessions.verify_access::<serde_json::Value>(&pair.access_token, &validation).await?;
    /// assert_eq!(ok.claims.sub.as_deref(), Some("alice"));
    /// sessions.revoke_access(&pair.access_token, &validation).await?;
    /// let err = sessions.verify_access::<serde_json::Value>(&pair.access_token, &validation).await.unwrap_err();
    /// assert_eq!(err.kind(), tok::ErrorKind::Revoked);
    /// # Ok(()) }
    /// ```
    ///
    /// A token more than [`DENYLIST_RETENTION`](crate::store::DENYLIST_RETENTION) past its
    /// `exp` is refused here whatever leeway `validation` allows, since its denylist entry
    /// may be gone: an online check never accepts a denylisted token.
    ///
    /// A token without `sid` is refused unless
    /// [`accepting_tokens_without_session`](Self::accepting_tokens_without_session).
    ///
    /// # Errors
    /// The verification error, [`MissingClaim`](ErrorKind::MissingClaim) without `sid`,
    /// [`Expired`](ErrorKind::Expired) past the retention,
    /// [`Revoked`](ErrorKind::Revoked) for a denylisted token or a revoked or expired
    /// family, [`Store`](ErrorKind::Store).
    pub async fn verify_access<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        validation: &Validation,
    ) -> Result<Verified<T>, Error> {
        let now = self.now();
        let verified = self.verify_signed(access_token, validation, now)?;
        let claims = verified.claims;
        let sid = session_id(&claims.custom)?;
        if sid.is_none() && !self.sessionless {
            return Err(Error::new(
                ErrorKind::MissingClaim,
                "the token has no sid: no logout can end it, so an online check refuses it \
                 (Sessions::accepting_tokens_without_session allows it)",
            ));
        }
        let minted = minted_at(&claims.custom)?;
        check_online(
            &self.store,
            claims.exp,
            sid,
            minted,
            claims.jti.as_deref(),
            now,
        )
        .await?;
        let custom = T::deserialize(Value::Object(claims.custom))
            .map_err(|e| Error::malformed(format!("claims: {e}")))?;
        Ok(Verified {
            header: verified.header,
            claims: Claims {
                iss: claims.iss,
                sub: claims.sub,
                aud: claims.aud,
                exp: claims.exp,
                nbf: claims.nbf,
                iat: claims.iat,
                jti: claims.jti,
                custom,
            },
        })
    }
}
