//! tok as a tower layer (feature `tower`): bearer tokens checked in front of any tower
//! service, gRPC (tonic) included, with no axum.
//!
//! [`BearerLayer`] reads `Authorization: Bearer` on the path the axum extractors take
//! (RFC 6750 §2.1), verifies the token offline ([`BearerLayer::offline`]: signature and
//! claims) or online as well ([`BearerLayer::online`]: the `jti` denylist and the session
//! in the store, so a logout anywhere ends the token at once), and hands the request on
//! with the [`Verified`] claims in its extensions. A refused request never reaches the
//! service; its answer is in the words its client understands (see [`answer`]):
//!
//! - gRPC (`content-type: application/grpc…`): `grpc-status` 16 `UNAUTHENTICATED` for a
//!   missing, malformed, bad or revoked token, 14 `UNAVAILABLE` when the store is down,
//!   with tok's code as `grpc-message`;
//! - any other request: RFC 6750's 401 / 400 with a `WWW-Authenticate` challenge, or 503
//!   with `Retry-After` when the store is down. The body is empty (the layer builds the
//!   service's own body type, which need only have a `Default`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tok::refresh::{RefreshPolicy, Sessions};
//! use tok::tower::BearerLayer;
//!
//! let store = tok::layer::Cached::open("sqlite:tok.db").await?;
//! let keys = tok::KeySet::new(tok::HmacKey::generate()?);
//! let sessions = Arc::new(Sessions::new(store, keys, RefreshPolicy::default()));
//! // Each request's claims, as a JSON object, in its extensions for the service to read.
//! let layer = BearerLayer::<serde_json::Map<String, serde_json::Value>, _>::online(
//!     sessions,
//!     tok::Validation::new(),
//! );
//! # let _ = layer;
//! // tonic: Server::builder().layer(layer).add_service(...)
//! # Ok(()) }
//! ```

pub mod answer;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use crate::bearer::Refusal;
use crate::jws::Verified;
use crate::layer::Cached;
use crate::refresh::live_keys::KeySource;
use crate::refresh::{SessionKeys, Sessions};
use crate::store::{AnyStore, Store};
use crate::validation::Validation;

/// How a token is checked.
enum Check<St> {
    Offline(KeySource),
    Online(Arc<Sessions<St>>),
}

impl<St> Clone for Check<St> {
    fn clone(&self) -> Self {
        match self {
            Self::Offline(keys) => Self::Offline(keys.clone()),
            Self::Online(sessions) => Self::Online(Arc::clone(sessions)),
        }
    }
}

struct Config<St> {
    check: Check<St>,
    validation: Validation,
    realm: String,
}

impl<St> Clone for Config<St> {
    fn clone(&self) -> Self {
        Self {
            check: self.check.clone(),
            validation: self.validation.clone(),
            realm: self.realm.clone(),
        }
    }
}

/// A tower [`Layer`] that admits a request only with a valid bearer token, and puts its
/// [`Verified<T>`] claims in the request's extensions. See the [module](self).
pub struct BearerLayer<T, St = Cached<AnyStore>> {
    config: Arc<Config<St>>,
    _claims: PhantomData<fn() -> T>,
}

impl<T, St> Clone for BearerLayer<T, St> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            _claims: PhantomData,
        }
    }
}

impl<T, St: Store> BearerLayer<T, St> {
    /// Tokens checked offline: signature under `keys` and claims under `validation`, no
    /// store round trip (a revoked session's tokens live until they expire).
    /// `keys`: a fixed [`KeySet`](crate::KeySet) or
    /// [`LiveKeys`](crate::refresh::LiveKeys) that change while it runs.
    pub fn offline(keys: impl SessionKeys, validation: Validation) -> Self {
        Self::with(Check::Offline(keys.into_source()), validation)
    }

    /// Tokens checked online: as [`Sessions::verify_access`] checks them (signature,
    /// claims, the `jti` denylist and the session), so a logout, a "logout everywhere"
    /// or a revoked session on any server ends the token at once.
    pub fn online(sessions: Arc<Sessions<St>>, validation: Validation) -> Self {
        Self::with(Check::Online(sessions), validation)
    }

    fn with(check: Check<St>, validation: Validation) -> Self {
        Self {
            config: Arc::new(Config {
                check,
                validation,
                realm: "tok".into(),
            }),
            _claims: PhantomData,
        }
    }

    /// The realm of HTTP challenges (default `tok`). Characters a quoted string cannot
    /// carry are dropped.
    pub fn with_realm(mut self, realm: &str) -> Self {
        Arc::make_mut(&mut self.config).realm = crate::bearer::realm(realm);
        self
    }
}

impl<St: Store> Config<St> {
    async fn verify<T: DeserializeOwned>(
        &self,
        headers: &HeaderMap,
    ) -> Result<Verified<T>, Refusal> {
        crate::bearer::check(headers, |token| async move {
            match &self.check {
                Check::Offline(keys) => {
                    crate::jws::verify(&keys.load().set, token, &self.validation)
                }
                Check::Online(sessions) => sessions.verify_access(token, &self.validation).await,
            }
        })
        .await
    }
}

impl<S, T, St> Layer<S> for BearerLayer<T, St> {
    type Service = BearerService<S, T, St>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`BearerLayer`] wraps around another.
pub struct BearerService<S, T, St = Cached<AnyStore>> {
    inner: S,
    layer: BearerLayer<T, St>,
}

impl<S: Clone, T, St> Clone for BearerService<S, T, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, T, St, ReqBody, ResBody> Service<Request<ReqBody>> for BearerService<S, T, St>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
    T: DeserializeOwned + Clone + Send + Sync + 'static,
    St: Store + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The service polled ready goes with this request; its clone waits for the next
        // (tower's pattern for a service called from inside a future).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let config = Arc::clone(&self.layer.config);
        Box::pin(async move {
            match config.verify::<T>(request.headers()).await {
                Ok(verified) => {
                    request.extensions_mut().insert(verified);
                    inner.call(request).await
                }
                Err(refusal) => Ok(answer::refusal(request.headers(), &refusal, &config.realm)),
            }
        })
    }
}
