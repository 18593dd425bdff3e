//! Timing as a layer: [`Timed`] records how long each store call a session flow makes
//! takes, by backend and operation (`tok_store_operation_seconds`, see
//! [`refresh::metrics`](crate::refresh::metrics)), failed calls included. Written once
//! here, so that no flow times its own calls.

use std::future::Future;
use std::sync::Weak;

use crate::error::Error;
use crate::model::change::{ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout};
use crate::model::store::{
    Created, FamiliesByKey, LogoutRequest, OnlineQuery, OnlineState, RotationOutcome,
    RotationRequest, Store, Verdict,
};
use crate::numeric_date::NumericDate;

/// The histogram every store call is recorded in.
pub(crate) const STORE_SECONDS: &str = "tok_store_operation_seconds";

/// A store whose every call is timed (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Timed<S>(pub(crate) S);

impl<S: Store> Timed<S> {
    async fn timed<T>(&self, operation: &'static str, call: impl Future<Output = T>) -> T {
        let start = std::time::Instant::now();
        let out = call.await;
        self.record(operation, start);
        out
    }

    fn record(&self, operation: &'static str, start: std::time::Instant) {
        metrics::histogram!(STORE_SECONDS, "backend" => self.0.backend(), "operation" => operation)
            .record(start.elapsed().as_secs_f64());
    }
}

impl<S: Store> Store for Timed<S> {
    async fn create_family(
        &self,
        family: &FamilyRecord,
        now: NumericDate,
    ) -> Result<Created, Error> {
        self.timed("create", self.0.create_family(family, now))
            .await
    }

    async fn rotate(&self, request: &RotationRequest) -> Result<RotationOutcome, Error> {
        self.timed("rotate", self.0.rotate(request)).await
    }

    async fn logout(&self, request: &LogoutRequest) -> Result<Logout, Error> {
        self.timed("logout", self.0.logout(request)).await
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        self.timed("revoke_family", self.0.revoke_family(family_id, now))
            .await
    }

    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        self.timed("revoke_subject", self.0.revoke_subject(subject, now))
            .await
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, now: NumericDate) -> Result<(), Error> {
        self.timed("deny", self.0.deny_jti(jti, exp, now)).await
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        self.timed("is_jti_denied", self.0.is_jti_denied(jti, now))
            .await
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        self.timed("family", self.0.family(family_id)).await
    }

    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        self.timed("purge", self.0.purge_expired(now)).await
    }

    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        self.timed("list", self.0.sessions_of(subject, now)).await
    }

    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        self.timed("count_by_key", self.0.families_by_key(now))
            .await
    }

    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, Error> {
        self.timed("end_session", self.0.end_session(subject, family_id, now))
            .await
    }

    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        self.timed("online_state", self.0.online_state(sid, jti, now))
            .await
    }

    /// Untimed: an answer from memory is no store call (the hot path pays no clock).
    fn remembered(&self, query: &OnlineQuery<'_>) -> Option<Verdict> {
        self.0.remembered(query)
    }

    async fn online_check(&self, query: &OnlineQuery<'_>) -> Result<Verdict, Error> {
        self.timed("online_state", self.0.online_check(query)).await
    }

    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        self.0.follow_changes(listener).await
    }

    fn expires_by_itself(&self) -> bool {
        self.0.expires_by_itself()
    }

    fn backend(&self) -> &'static str {
        self.0.backend()
    }
}
