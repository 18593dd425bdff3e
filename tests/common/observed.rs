//! A real store, observed: it counts the online reads that reach it and, on demand, fails
//! chosen operations as a dropped connection would. Every call goes to the real store
//! otherwise, so the tests see real behaviour, never a mock's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tok::NumericDate;
use tok::refresh::family::{FamilyRecord, Logout};
use tok::store::{
    ChangeListener, Created, Feed, LogoutRequest, OnlineState, RotationOutcome, RotationRequest,
    Store,
};

/// `inner`, with its online reads counted and operations failed on demand.
pub struct Observed<S> {
    pub inner: S,
    /// Online reads that reached the store (`is_jti_denied`, `family`, `online_state`).
    pub reads: AtomicUsize,
    /// While set, the operations named in `fails` answer a `store` error.
    pub failing: Arc<AtomicBool>,
    fails: &'static [&'static str],
}

impl<S> Observed<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
            failing: Arc::default(),
            fails: &[],
        }
    }

    /// Fails the operations named (the `Store` method names) while `failing` is set.
    pub fn failing_on(mut self, operations: &'static [&'static str]) -> Self {
        self.fails = operations;
        self
    }

    fn call(&self, operation: &str) -> Result<(), tok::Error> {
        if matches!(operation, "is_jti_denied" | "family" | "online_state") {
            self.reads.fetch_add(1, Ordering::SeqCst);
        }
        if self.failing.load(Ordering::SeqCst) && self.fails.contains(&operation) {
            let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected");
            return Err(tok::Error::store(operation, cause));
        }
        Ok(())
    }
}

impl<S: Store> Store for Observed<S> {
    async fn create_family(
        &self,
        f: &FamilyRecord,
        now: NumericDate,
    ) -> Result<Created, tok::Error> {
        self.call("create_family")?;
        self.inner.create_family(f, now).await
    }
    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, tok::Error> {
        self.call("rotate")?;
        self.inner.rotate(r).await
    }
    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, tok::Error> {
        self.call("logout")?;
        self.inner.logout(r).await
    }
    async fn revoke_family(&self, id: &str, now: NumericDate) -> Result<bool, tok::Error> {
        self.call("revoke_family")?;
        self.inner.revoke_family(id, now).await
    }
    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, tok::Error> {
        self.call("revoke_subject")?;
        self.inner.revoke_subject(subject, now).await
    }
    async fn deny_jti(
        &self,
        jti: &str,
        exp: NumericDate,
        now: NumericDate,
    ) -> Result<(), tok::Error> {
        self.call("deny_jti")?;
        self.inner.deny_jti(jti, exp, now).await
    }
    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, tok::Error> {
        self.call("is_jti_denied")?;
        self.inner.is_jti_denied(jti, now).await
    }
    async fn family(&self, id: &str) -> Result<Option<FamilyRecord>, tok::Error> {
        self.call("family")?;
        self.inner.family(id).await
    }
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, tok::Error> {
        self.call("purge_expired")?;
        self.inner.purge_expired(now).await
    }
    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, tok::Error> {
        self.call("sessions_of")?;
        self.inner.sessions_of(subject, now).await
    }
    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, tok::Error> {
        self.call("end_session")?;
        self.inner.end_session(subject, family_id, now).await
    }
    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, tok::Error> {
        self.call("online_state")?;
        self.inner.online_state(sid, jti, now).await
    }
    fn expires_by_itself(&self) -> bool {
        self.inner.expires_by_itself()
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn follow_changes(
        &self,
        listener: std::sync::Weak<dyn ChangeListener>,
    ) -> Result<Feed, tok::Error> {
        self.inner.follow_changes(listener).await
    }
}
