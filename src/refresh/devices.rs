//! A subject's sessions, listed and ended one by one: what a "your devices" page needs.

use serde::Serialize;

use crate::error::Error;
use crate::model::family::FamilyRecord;
use crate::model::store::Store;
use crate::numeric_date::NumericDate;
use crate::refresh::Sessions;

/// One live session of a subject, as a devices page shows it. Holds nothing secret: the
/// id is the session's `sid`, which its own access tokens carry anyway, and which alone
/// lets nobody rotate, log out or end the session (ending takes the subject's own
/// authority, see [`Sessions::end`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// The session id (the family id; its access tokens' `sid`).
    pub id: String,
    /// When the session began (login).
    pub created_at: NumericDate,
    /// Its last refresh (or the login).
    pub last_used_at: NumericDate,
    /// When it ends however active it stays.
    pub expires_at: NumericDate,
    /// When it ends if it is not used before.
    pub idle_expires_at: NumericDate,
    /// What the application said of it at login (a device name), empty when nothing:
    /// see [`Sessions::issue_labelled`].
    pub label: String,
}

impl From<&FamilyRecord> for SessionInfo {
    fn from(f: &FamilyRecord) -> Self {
        Self {
            id: f.family_id.clone(),
            created_at: f.created_at,
            last_used_at: f.last_used_at,
            expires_at: f.expires_at,
            idle_expires_at: f.usable_until(),
            label: f.label.clone(),
        }
    }
}

impl<S: Store> Sessions<S> {
    /// The live sessions of `subject`, oldest first (at most
    /// [`MAX_LISTED`](crate::store::MAX_LISTED)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tok::Error> {
    /// # let keys = tok::KeySet::new(tok::HmacKey::generate()?);
    /// let sessions = tok::refresh::Sessions::new(tok::store::MemoryStore::new(), keys, Default::default());
    /// let laptop = sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// let phone = sessions.issue("alice", &serde_json::json!({}), None).await?;
    /// let listed = sessions.list("alice").await?;
    /// assert_eq!(listed.len(), 2);
    /// // The laptop ends the phone's session, and only that one.
    /// assert!(sessions.end("alice", &phone.session_id).await?);
    /// assert_eq!(sessions.list("alice").await?[0].id, laptop.session_id);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store); [`Config`](crate::ErrorKind::Config) for a
    /// store that cannot list.
    pub async fn list(&self, subject: &str) -> Result<Vec<SessionInfo>, Error> {
        let now = self.now();
        let families = self.store.sessions_of(subject, now).await?;
        Ok(families.iter().map(SessionInfo::from).collect())
    }

    /// Ends session `session_id` of `subject` and nothing else: another subject's id,
    /// an unknown id or an ended session changes nothing and answers `false`. Online
    /// checks refuse the session's access tokens at once (in other processes within
    /// the online cache's bound), as after a logout.
    ///
    /// # Errors
    /// [`Store`](crate::ErrorKind::Store).
    #[tracing::instrument(
        name = "end_session", target = "tok::refresh", skip_all,
        fields(subject = subject, family = session_id, ended),
    )]
    pub async fn end(&self, subject: &str, session_id: &str) -> Result<bool, Error> {
        let ended = self
            .store
            .end_session(subject, session_id, self.now())
            .await?;
        tracing::Span::current().record("ended", ended);
        if ended {
            metrics::counter!(crate::refresh::metrics::ENDED, "by" => "subject").increment(1);
        }
        Ok(ended)
    }
}
