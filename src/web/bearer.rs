//! The bearer extractors: verified claims from `Authorization: Bearer` (RFC 6750), on
//! the one path every bearer token takes ([`crate::bearer`]).

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::jws::Verified;
use crate::layer::Cached;
use crate::store::{AnyStore, Store};
use crate::web::{WebError, WebSessions};

macro_rules! extractor {
    ($(#[$doc:meta])* $name:ident, $verify:ident, $validation:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<T, St = Cached<AnyStore>> {
            /// The verified token.
            pub verified: Verified<T>,
            _store: PhantomData<fn() -> St>,
        }

        impl<T, St> Deref for $name<T, St> {
            type Target = Verified<T>;
            fn deref(&self) -> &Verified<T> {
                &self.verified
            }
        }

        impl<S, T, St> FromRequestParts<S> for $name<T, St>
        where
            Arc<WebSessions<St>>: FromRef<S>,
            S: Send + Sync,
            T: DeserializeOwned,
            St: Store + 'static,
        {
            type Rejection = WebError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
                let web = Arc::<WebSessions<St>>::from_ref(state);
                crate::bearer::check(&parts.headers, |token| web.$verify::<T>(token))
                    .await
                    .map(|verified| Self { verified, _store: PhantomData })
                    .map_err(|refusal| web.refused(refusal, &web.$validation))
            }
        }
    };
}

extractor!(
    /// Verified claims from `Authorization: Bearer`, checked offline: signature and
    /// claims under the [`WebSessions`]' key set and validation, no store round trip.
    /// Rejections follow RFC 6750 §3 (see [`WebError`]). The token is never echoed.
    Bearer,
    verify_offline,
    validation
);

extractor!(
    /// Verified claims from `Authorization: Bearer`, checked online as well: the `jti`
    /// denylist and the session (`sid`) in the store, so a logout or a "logout
    /// everywhere" on any server ends the token at once. A store outage is a 503.
    OnlineBearer,
    verify_online,
    validation
);

extractor!(
    /// Verified claims from `Authorization: Bearer` for a sensitive route (a new
    /// password, a payment): checked online as [`OnlineBearer`], and its user must have
    /// logged in (or [reauthenticated](WebSessions::reauthenticate)) within
    /// [`WebSessions::with_recent_login`] (default 5 minutes). An older login is a 401
    /// with RFC 9470's challenge, `WWW-Authenticate: Bearer realm="tok",
    /// error="insufficient_user_authentication", error_description="...", max_age="300"`
    /// and `{"error": "insufficient-user-authentication", "max_age": 300}`: the client asks
    /// for the password again, calls the application's reauthentication route, and
    /// retries.
    RecentLogin,
    verify_recent,
    recent_validation
);
