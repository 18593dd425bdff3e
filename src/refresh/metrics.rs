//! The counters an operator alerts on, through the `metrics` facade (the application
//! installs an exporter, e.g. Prometheus). Names follow Prometheus conventions; labels
//! take a handful of fixed values and never a subject, token, session id or secret.
//!
//! | name | labels | counts |
//! |---|---|---|
//! | `tok_sessions_issued_total` | | sessions started |
//! | `tok_rotations_total` | `outcome`: `rotated`, `grace`, or the refusal's code (`refresh-reused`, `fingerprint-mismatch`, `revoked`, `refresh-expired`, `refresh-unknown`), `store-error` | refreshes |
//! | `tok_logouts_total` | `outcome`: `revoked`, `already-ended`, `reused`, `unknown` | logouts with a refresh token |
//! | `tok_subject_logouts_total` | | "logout everywhere" calls |
//! | `tok_sessions_ended_total` | `by`: `operator`, `subject` | sessions ended by id (an operator, or the user's devices page) |
//! | `tok_online_checks_total` | `result`: `accepted`, `denied`, `ended`, `outdated`; `answered_by`: `cache`, `store` | online checks that reached a verdict |
//! | `tok_store_operation_seconds` (histogram) | `backend`: `memory`, `sqlite`, `redis`, `postgres`, `custom`; `operation`: `create`, `rotate`, `logout`, `revoke_family`, `revoke_subject`, `deny`, `online_state` (reads only: an answer from a [`Cached`](crate::layer::Cached) layer's memory is none), `list`, `end_session`, `count_by_key` | each store call a session flow makes, failed ones included (timed by one layer, `crate::layer::timed`) |
//! | `tok_sessions_by_key` (gauge) | `kid`: a key's id, `(no kid)`, `(not in set)` | live sessions per key, as of the last [`Sessions::key_usage`](crate::refresh::Sessions::key_usage) |
//! | `tok_key_file_reloads_total` | `outcome`: `loaded`, `rejected` | changes of a [`KeyFile`](crate::refresh::KeyFile) read |
//! | `tok_key_file_rejected` (gauge) | | 1 while the key file on disk is rejected (the last good set is in use) |
//! | `tok_sqlite_write_batch_size` (histogram) | | requests per SQLite group commit |
//! | `tok_change_feed_losses_total` | `backend`: `redis`, `postgres`; `store`: the Redis prefix or PostgreSQL's `host:port/database` | deaf episodes: a proven change feed lost (the store's online cache reads the store until the feed is proven again) |
//! | `tok_change_feed_hearing` (gauge) | as above | 1 while the store's change feed is proven, 0 while deaf |
//! | `tok_change_feed_heartbeat_seconds` (histogram) | as above | each heartbeat's round trip through the feed |
//!
//! Theft shows as `tok_rotations_total{outcome="refresh-reused"}` and
//! `{outcome="fingerprint-mismatch"}` (each also a warn-level event with the family id).

use crate::model::store::Verdict;

pub(crate) const ISSUED: &str = "tok_sessions_issued_total";
pub(crate) const ROTATIONS: &str = "tok_rotations_total";
pub(crate) const LOGOUTS: &str = "tok_logouts_total";
pub(crate) const SUBJECT_LOGOUTS: &str = "tok_subject_logouts_total";
pub(crate) const ENDED: &str = "tok_sessions_ended_total";
pub(crate) const ONLINE_CHECKS: &str = "tok_online_checks_total";

/// Counts an online check's verdict, and whether the cache or the store gave it.
pub(crate) fn online_check(verdict: Verdict, cached: bool) {
    let result = match verdict {
        Verdict::Accepted => "accepted",
        Verdict::Denied => "denied",
        Verdict::Ended => "ended",
        Verdict::Outdated => "outdated",
    };
    let answered_by = if cached { "cache" } else { "store" };
    metrics::counter!(ONLINE_CHECKS, "result" => result, "answered_by" => answered_by).increment(1);
}
