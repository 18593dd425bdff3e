//! The online-check cache as a layer around any store: [`Cached`].

use std::sync::{Arc, Weak};

use crate::error::{Error, ErrorKind};
use crate::layer::online_cache::{DEFAULT_CACHE_CAPACITY, OnlineCache};
use crate::model::change::{Change, ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout};
use crate::model::store::{
    Created, FamiliesByKey, LogoutRequest, OnlineQuery, OnlineState, RotationOutcome,
    RotationRequest, Store, Verdict, deny_until,
};
use crate::numeric_date::NumericDate;
use crate::store::AnyStore;

/// A store whose online checks are answered from memory when the answer is known: a
/// verified access token's check costs no round trip, and a revocation anywhere still
/// takes effect at once.
///
/// The layer forgets what a write made through it may have changed, before the write
/// returns (the invalidation rule, written once here for every backend: a family on any
/// logout, revocation, refused or failed rotation and privilege change; a subject's
/// families on logout everywhere; a `jti` on a denial), and learns of other processes'
/// writes from the store's change feed ([`Store::follow_changes`]). It answers only while
/// that feed is proven; meanwhile every check reads the store. A store without a feed
/// cannot be cached (a cache would go on accepting what another process revoked); the
/// in-process [`MemoryStore`](crate::store::MemoryStore) has no other writer, as long as
/// every handle to it is this layer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tok::Error> {
/// use tok::refresh::{RefreshPolicy, Sessions};
/// let store = tok::layer::Cached::new(tok::store::MemoryStore::new()).await?;
/// let keys = tok::KeySet::new(tok::HmacKey::generate()?);
/// let sessions = Sessions::new(store, keys, RefreshPolicy::default());
/// let pair = sessions.issue("alice", &serde_json::json!({}), None).await?;
/// let validation = tok::Validation::new();
/// let check = || sessions.verify_access::<serde_json::Value>(&pair.access_token, &validation);
/// check().await?; // read, then remembered
/// check().await?; // from memory
/// sessions.revoke_refresh(&pair.refresh_token).await?; // logout: forgotten before it returns
/// assert_eq!(check().await.unwrap_err().kind(), tok::ErrorKind::Revoked);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Cached<S> {
    store: S,
    /// Dropped before `_feed`: its end is what ends the store's follower.
    cache: Arc<OnlineCache>,
    /// What the store's follower needs kept while the layer lives.
    _feed: Arc<Keep>,
}

/// What [`Feed::Following`] handed over, kept until the last clone of the layer goes.
struct Keep {
    _follower: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keep")
    }
}

impl<S: Store> Cached<S> {
    /// `store` with a cache of [`DEFAULT_CACHE_CAPACITY`] families and as many `jti`s;
    /// returns once the store's change feed is proven or the store's own bound has passed
    /// (the cache then answers from the moment it is proven).
    ///
    /// # Errors
    /// [`Config`](ErrorKind::Config) for a store that has no change feed;
    /// [`Store`](ErrorKind::Store) when its feed cannot be started.
    pub async fn new(store: S) -> Result<Self, Error> {
        Self::with_capacity(store, DEFAULT_CACHE_CAPACITY).await
    }

    /// `store` with a cache of at most about `capacity` families and as many `jti`s.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub async fn with_capacity(store: S, capacity: usize) -> Result<Self, Error> {
        let cache = Arc::new(OnlineCache::new(capacity));
        // Deaf until the feed says otherwise: nothing is answered from memory before the
        // first change of another process could arrive.
        cache.set_serving(false);
        let listener: Weak<dyn ChangeListener> = Arc::downgrade(&cache) as Weak<OnlineCache>;
        let keep = match store.follow_changes(listener).await? {
            Feed::OnlyThisHandle => {
                cache.set_serving(true);
                None
            }
            Feed::Following(keep) => Some(keep),
            Feed::Unavailable => {
                return Err(Error::new(
                    ErrorKind::Config,
                    "this store has no change feed: a cache of its online checks would go \
                     on accepting what other processes revoke",
                ));
            }
        };
        Ok(Self {
            store,
            cache,
            _feed: Arc::new(Keep { _follower: keep }),
        })
    }

    /// `store` behind a layer that remembers nothing: every online check reads the store
    /// (a configuration switch such as the example app's `--no-online-cache`, or a
    /// benchmark of the store itself), with the same type as a caching layer.
    pub fn pass_through(store: S) -> Self {
        let cache = Arc::new(OnlineCache::new(1));
        cache.set_serving(false);
        Self {
            store,
            cache,
            _feed: Arc::new(Keep { _follower: None }),
        }
    }

    /// The store inside.
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// The cache (its size, and whether it answers now).
    pub fn cache(&self) -> &OnlineCache {
        &self.cache
    }

    fn forget(&self, change: Change) {
        self.cache.invalidate(&change);
    }
}

impl Cached<AnyStore> {
    /// The store a URL names (see [`store::open`](crate::store::open)), cached.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// let store = tok::layer::Cached::open("memory:").await?;
    /// assert!(store.cache().is_serving());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`store::open`](crate::store::open) and [`new`](Self::new).
    pub async fn open(url: &str) -> Result<Self, Error> {
        Self::new(crate::store::open(url).await?).await
    }
}

impl<S: Store> Store for Cached<S> {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> Result<Created, Error> {
        self.store.create_family(family, now).await
    }

    async fn rotate(&self, request: &RotationRequest) -> Result<RotationOutcome, Error> {
        let outcome = self.store.rotate(request).await;
        // A rotation only moves a family's end later, which a cached answer notices by
        // itself; a refusal may have revoked the family, a privilege change (or a new
        // login) outdates its tokens, and a failure may have done either before it failed.
        let answered = matches!(
            outcome,
            Ok(RotationOutcome::Rotated(_) | RotationOutcome::Grace(_))
        );
        if !answered || request.changes_access() {
            self.forget(Change::Family(request.presented.family_id().to_owned()));
        }
        outcome
    }

    async fn logout(&self, request: &LogoutRequest) -> Result<Logout, Error> {
        let outcome = self.store.logout(request).await;
        self.forget(Change::Family(request.presented.family_id().to_owned()));
        outcome
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let outcome = self.store.revoke_family(family_id, now).await;
        self.forget(Change::Family(family_id.to_owned()));
        outcome
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let outcome = self.store.revoke_subject(subject, now).await;
        self.forget(Change::Subject(subject.to_owned()));
        outcome
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, now: NumericDate) -> Result<(), Error> {
        let outcome = self.store.deny_jti(jti, exp, now).await;
        self.forget(Change::Jti(jti.to_owned()));
        outcome
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        self.store.is_jti_denied(jti, now).await
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        self.store.family(family_id).await
    }

    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        // Purging removes only what has ended, which cached answers already say.
        self.store.purge_expired(now).await
    }

    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        self.store.sessions_of(subject, now).await
    }

    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        self.store.families_by_key(now).await
    }

    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, Error> {
        let outcome = self.store.end_session(subject, family_id, now).await;
        self.forget(Change::Family(family_id.to_owned()));
        outcome
    }

    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        self.store.online_state(sid, jti, now).await
    }

    fn remembered(&self, query: &OnlineQuery<'_>) -> Option<Verdict> {
        self.cache
            .verdict(query.sid, query.minted_at, query.jti, query.now)
    }

    async fn online_check(&self, query: &OnlineQuery<'_>) -> Result<Verdict, Error> {
        let OnlineQuery {
            sid,
            jti,
            minted_at,
            exp,
            now,
        } = *query;
        let ticket = self.cache.ticket();
        let state = self.store.online_state(sid, jti, now).await?;
        // A jti's answer is cached until its denylist entry would end, which needs the
        // token's exp; without one, nothing is cached.
        if jti.is_none() || exp.is_some() {
            let until = exp.map_or(now, deny_until);
            self.cache.fill(ticket, sid, jti, until, &state);
        }
        Ok(state.verdict(sid, minted_at, now))
    }

    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        self.store.follow_changes(listener).await
    }

    fn expires_by_itself(&self) -> bool {
        self.store.expires_by_itself()
    }

    fn backend(&self) -> &'static str {
        self.store.backend()
    }
}
