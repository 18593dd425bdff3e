//! The [`Store`] operations on PostgreSQL: each decision one function call (`schema.sql`),
//! each read one indexed statement, each a single round trip on a pooled connection.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::Error;
use std::sync::Weak;

use crate::model::change::{ChangeListener, Feed};
use crate::model::family::{FamilyRecord, Logout, Refusal};
use crate::model::store::{
    Created, LogoutRequest, MAX_LISTED, RotationOutcome, RotationRequest, Store, deny_until, listed,
};
use crate::model::store::{FamiliesByKey, OnlineState};
use crate::model::token::{FamilySecret, PresentedToken};
use crate::numeric_date::NumericDate;
use crate::store::postgres::rows::{
    columns, corrupt, duration_ms, family_from, generation, key_move, ms,
};
use crate::store::postgres::{PostgresStore, pg_error};

impl PostgresStore {
    /// Runs one statement (prepared once per connection) and returns its rows.
    async fn rows(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.timed(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(sql)
                .await
                .map_err(|e| pg_error(what, e))?;
            client
                .query(&statement, params)
                .await
                .map_err(|e| pg_error(what, e))
        })
        .await
    }

    /// [`rows`](Self::rows) for a statement that answers exactly one row.
    async fn row(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        self.rows(what, sql, params)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| corrupt("a statement answered no row"))
    }

    /// The key id, nonce and last key move of a family (the nonce never changes, the key
    /// only when a rotation moves the family to another); `None` when no family has that
    /// id.
    async fn read_secret(&self, family_id: &str) -> Result<Option<FamilySecret>, Error> {
        let rows = self
            .rows(
                "reading a family",
                "SELECT key_id, nonce, moved_from_key, moved_at_gen FROM tok_families WHERE id = $1",
                &[&family_id],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let nonce: Vec<u8> = row.get(1);
        Ok(Some(FamilySecret {
            key_id: row.get(0),
            nonce: nonce
                .try_into()
                .map_err(|_| corrupt("a nonce that is not 32 bytes"))?,
            moved: key_move(row.get(2), row.get(3))?,
        }))
    }

    /// The common rotation, the live token of a live family, as one UPDATE that mirrors
    /// the `Rotate` branch of [`decide`](crate::refresh::family::decide) in its WHERE and
    /// [`apply`](crate::refresh::family::apply) in its SET (as `tok_rotate` does); `None`
    /// when the family is in any other state, which `tok_rotate` then decides. A
    /// concurrent rotation of the same token makes this match nothing (PostgreSQL
    /// re-checks the WHERE on the row it waited for), so there is still one winner.
    async fn rotate_live(&self, r: &RotationRequest) -> Result<Option<FamilyRecord>, Error> {
        let rows = self
            .rows(
                "rotating a refresh token",
                concat!(
                    "UPDATE tok_families f SET generation = generation + 1, \
                     last_used_ms = greatest($3, last_used_ms), \
                     previous_rotated_ms = greatest($3, last_used_ms), \
                     moved_from_key = CASE WHEN key_id <> $5 THEN key_id ELSE moved_from_key END, \
                     moved_at_gen = CASE WHEN key_id <> $5 THEN generation + 1 ELSE moved_at_gen END, \
                     key_id = $5 \
                     WHERE id = $1 AND generation = $2 AND generation < 9223372036854775807 \
                     AND revoked_ms IS NULL AND NOT tok_expired($3, last_used_ms, expires_ms, idle_ms) \
                     AND (fingerprint IS NULL OR fingerprint = $4) RETURNING ",
                    columns!()
                ),
                &[
                    &r.presented.family_id(),
                    &generation(r.presented.generation()),
                    &ms(r.now),
                    &r.fingerprint.as_ref().map(|h| &h[..]),
                    &r.signing_key_id,
                ],
            )
            .await?;
        match rows.first() {
            Some(row) => family_from(row, 0),
            None => Ok(None),
        }
    }

    /// Whether the family named by `presented` minted it (its secret remembered, or read).
    async fn minted(&self, presented: &PresentedToken) -> Result<bool, Error> {
        let read = self.read_secret(presented.family_id());
        Ok(self.secrets.minted(presented, read).await?.is_some())
    }
}

impl Store for PostgresStore {
    async fn create_family(&self, f: &FamilyRecord, _now: NumericDate) -> Result<Created, Error> {
        let row = self
            .row(
                "creating a family",
                "SELECT tok_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                &[
                    &f.family_id,
                    &f.subject,
                    &f.claims,
                    &ms(f.created_at),
                    &ms(f.expires_at),
                    &ms(f.last_used_at),
                    &duration_ms(f.idle_timeout),
                    &generation(f.generation),
                    &f.secret.key_id,
                    &&f.secret.nonce[..],
                    &f.previous_rotated_at.map(ms),
                    &f.fingerprint.as_ref().map(|h| &h[..]),
                    &f.revoked_at.map(ms),
                    &generation(f.claims_generation),
                    &f.label,
                    &f.login,
                ],
            )
            .await?;
        let stored: bool = row
            .try_get(0)
            .map_err(|e| pg_error("creating a family", e))?;
        // An id that collided is reported so the caller draws a new one; never
        // overwritten.
        if !stored {
            return Ok(Created::IdTaken);
        }
        self.replicated_write("creating a family").await?;
        // Its first rotation here needs no read of the secret.
        self.secrets.insert(&f.family_id, f.secret.clone());
        Ok(Created::Stored)
    }

    async fn rotate(&self, r: &RotationRequest) -> Result<RotationOutcome, Error> {
        let read = self.read_secret(r.presented.family_id());
        let Some(known) = self.secrets.minted(&r.presented, read).await? else {
            return Ok(RotationOutcome::Refused(Refusal::Unknown));
        };
        let family_id = r.presented.family_id();
        // A family moved to another key: remembered with its new secret.
        let remembered = |record: FamilyRecord| {
            if record.secret != known {
                self.secrets.insert(family_id, record.secret.clone());
            }
            Box::new(record)
        };
        self.standbys_ready("rotating a refresh token").await?;
        if !r.changes_access()
            && let Some(rotated) = self.rotate_live(r).await?
        {
            self.replicated_write("rotating a refresh token").await?;
            return Ok(RotationOutcome::Rotated(remembered(rotated)));
        }
        let row = self
            .row(
                "rotating a refresh token",
                "SELECT r.outcome, (r.family).* FROM tok_rotate($1, $2, $3, $4, $5, $6, $7, $8) AS r",
                &[
                    &family_id,
                    &generation(r.presented.generation()),
                    &r.fingerprint.as_ref().map(|h| &h[..]),
                    &r.new_claims.as_deref(),
                    &ms(r.now),
                    &duration_ms(r.grace),
                    &r.signing_key_id,
                    &r.new_login.as_deref(),
                ],
            )
            .await?;
        let family = || family_from(&row, 1)?.ok_or_else(|| corrupt("a rotation without family"));
        let outcome: String = row.try_get(0).map_err(|e| pg_error("rotating", e))?;
        // A reuse revokes: it must reach the standbys as any revocation does.
        match outcome.as_str() {
            "fingerprint" | "reuse" => self.replicated("rotating a refresh token").await?,
            _ => self.replicated_write("rotating a refresh token").await?,
        }
        Ok(match outcome.as_str() {
            "rotated" => RotationOutcome::Rotated(remembered(family()?)),
            "grace" => RotationOutcome::Grace(remembered(family()?)),
            "unknown" => RotationOutcome::Refused(Refusal::Unknown),
            "revoked" => RotationOutcome::Refused(Refusal::Revoked),
            "expired" => RotationOutcome::Refused(Refusal::Expired),
            "reuse" => RotationOutcome::Refused(Refusal::Reused),
            "fingerprint" => RotationOutcome::Refused(Refusal::FingerprintMismatch),
            _ => return Err(corrupt("the rotation's outcome")),
        })
    }

    async fn logout(&self, r: &LogoutRequest) -> Result<Logout, Error> {
        if !self.minted(&r.presented).await? {
            return Ok(Logout::Unknown);
        }
        let family_id = r.presented.family_id();
        let row = self
            .row(
                "logging out",
                "SELECT tok_logout($1, $2, $3, $4)",
                &[
                    &family_id,
                    &generation(r.presented.generation()),
                    &ms(r.now),
                    &duration_ms(r.grace),
                ],
            )
            .await?;
        let outcome: String = row.try_get(0).map_err(|e| pg_error("logging out", e))?;
        self.replicated("logging out").await?;
        match outcome.as_str() {
            "revoked" => Ok(Logout::Revoked),
            "ended" => Ok(Logout::AlreadyEnded),
            "reused" => Ok(Logout::Reused),
            "unknown" => Ok(Logout::Unknown),
            _ => Err(corrupt("the logout's outcome")),
        }
    }

    async fn revoke_family(&self, family_id: &str, now: NumericDate) -> Result<bool, Error> {
        let row = self
            .row(
                "revoking a family",
                "SELECT tok_revoke($1, NULL, $2)",
                &[&family_id, &ms(now)],
            )
            .await?;
        let revoked = row.get(0);
        self.replicated("revoking a family").await?;
        Ok(revoked)
    }

    /// Passes of `tok_revoke_subject` until one finds nothing left to revoke: a login that
    /// waited for one pass's lock commits right after it, possibly live (it reached the
    /// server after the revocation), and its answer can reach its caller before this
    /// one's; the next pass ends it, as the Redis store re-reads its subject index.
    async fn revoke_subject(&self, subject: &str, now: NumericDate) -> Result<u64, Error> {
        let mut total = 0u64;
        for _ in 0..SUBJECT_PASSES {
            let row = self
                .row(
                    "revoking a subject",
                    "SELECT tok_revoke_subject($1, $2)",
                    &[&subject, &ms(now)],
                )
                .await?;
            let n: i64 = row.get(0);
            total += u64::try_from(n).unwrap_or(0);
            if n == 0 {
                break;
            }
        }
        self.replicated("revoking a subject").await?;
        Ok(total)
    }

    async fn deny_jti(&self, jti: &str, exp: NumericDate, _now: NumericDate) -> Result<(), Error> {
        self.rows(
            "denylisting a jti",
            "SELECT tok_deny($1, $2)",
            &[&jti, &ms(deny_until(exp))],
        )
        .await?;
        self.replicated("denylisting a jti").await
    }

    async fn is_jti_denied(&self, jti: &str, now: NumericDate) -> Result<bool, Error> {
        let row = self
            .row(
                "reading the denylist",
                "SELECT EXISTS (SELECT 1 FROM tok_denylist WHERE jti = $1 AND until_ms > $2)",
                &[&jti, &ms(now)],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn family(&self, family_id: &str) -> Result<Option<FamilyRecord>, Error> {
        let rows = self
            .rows(
                "reading a family",
                concat!("SELECT ", columns!(), " FROM tok_families WHERE id = $1"),
                &[&family_id],
            )
            .await?;
        match rows.first() {
            Some(row) => family_from(row, 0),
            None => Ok(None),
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn follow_changes(&self, listener: Weak<dyn ChangeListener>) -> Result<Feed, Error> {
        self.follow(listener).await
    }

    /// The live families of `subject` by the subject index, the lifetime rule applied in
    /// SQL (as `tok_expired`) so that the bound counts live ones only.
    async fn sessions_of(
        &self,
        subject: &str,
        now: NumericDate,
    ) -> Result<Vec<FamilyRecord>, Error> {
        let rows = self
            .rows(
                "listing a subject's sessions",
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM tok_families f WHERE subject = $1 \
                     AND revoked_ms IS NULL AND NOT tok_expired($2, last_used_ms, expires_ms, idle_ms) \
                     ORDER BY created_ms LIMIT $3"
                ),
                &[&subject, &ms(now), &(MAX_LISTED as i64)],
            )
            .await?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            found.extend(family_from(row, 0)?);
        }
        Ok(listed(found, subject, now))
    }

    /// Counted in SQL, the lifetime rule as `tok_expired`.
    async fn families_by_key(&self, now: NumericDate) -> Result<FamiliesByKey, Error> {
        let rows = self
            .rows(
                "counting sessions by key",
                "SELECT key_id, count(*) FROM tok_families WHERE revoked_ms IS NULL \
                 AND NOT tok_expired($1, last_used_ms, expires_ms, idle_ms) GROUP BY key_id",
                &[&ms(now)],
            )
            .await?;
        let mut counts = FamiliesByKey::new();
        for row in &rows {
            let key: String = row
                .try_get(0)
                .map_err(|e| Error::store("counting sessions by key", e))?;
            let n: i64 = row
                .try_get(1)
                .map_err(|e| Error::store("counting sessions by key", e))?;
            counts.insert(key, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    /// The subject is checked in the statement that revokes.
    async fn end_session(
        &self,
        subject: &str,
        family_id: &str,
        now: NumericDate,
    ) -> Result<bool, Error> {
        let row = self
            .row(
                "ending a session",
                "SELECT tok_revoke($1, $2, $3)",
                &[&family_id, &subject, &ms(now)],
            )
            .await?;
        let ended = row.get(0);
        self.replicated("ending a session").await?;
        Ok(ended)
    }

    /// The denylist entry and the family in one statement.
    async fn online_state(
        &self,
        sid: Option<&str>,
        jti: Option<&str>,
        now: NumericDate,
    ) -> Result<OnlineState, Error> {
        let row = self
            .row(
                "reading a session's state",
                concat!(
                    "SELECT EXISTS (SELECT 1 FROM tok_denylist WHERE jti = $1 AND until_ms > $2), \
                     f.* FROM (SELECT 1) AS one LEFT JOIN (SELECT ",
                    columns!(),
                    " FROM tok_families WHERE id = $3) AS f ON true"
                ),
                &[&jti, &ms(now), &sid],
            )
            .await?;
        Ok(OnlineState {
            jti_denied: row.get(0),
            family: family_from(&row, 1)?,
        })
    }

    /// Deletes in batches of 1,000 rows, each its own short statement, so that a
    /// purge of millions never holds locks long; run it from a cron job or a background
    /// task (`tok refresh purge`).
    async fn purge_expired(&self, now: NumericDate) -> Result<u64, Error> {
        let now = crate::model::store::purge_horizon(now);
        let mut removed = 0u64;
        // Families: walk the primary key a page at a time, deleting the page's dead ones
        // (the lifetime rule as `tok_expired`): no index on a time that every rotation
        // changes, so rotations stay heap-only updates.
        let mut after = String::new();
        loop {
            let row = self
                .row(
                    "purging expired families",
                    "WITH page AS (SELECT id FROM tok_families WHERE id > $2 ORDER BY id LIMIT $3), \
                     gone AS (DELETE FROM tok_families f USING page \
                              WHERE f.id = page.id \
                              AND tok_expired($1, f.last_used_ms, f.expires_ms, f.idle_ms) RETURNING 1) \
                     SELECT (SELECT max(id) FROM page), (SELECT count(*) FROM gone)",
                    &[&ms(now), &after, &PURGE_BATCH],
                )
                .await?;
            let gone: i64 = row.get(1);
            removed += u64::try_from(gone).unwrap_or(0);
            match row.get::<_, Option<String>>(0) {
                Some(last) => after = last,
                None => break,
            }
        }
        // Subject revocations matter only to creations in flight when they happened.
        let row = self
            .row(
                "purging subject revocations",
                "WITH gone AS (DELETE FROM tok_subject_revocations \
                 WHERE at < now() - interval '1 hour' RETURNING 1) SELECT count(*) FROM gone",
                &[],
            )
            .await?;
        let _: i64 = row.get(0);
        loop {
            let row = self
                .row(
                    "purging the denylist",
                    "WITH gone AS (DELETE FROM tok_denylist WHERE jti IN \
                     (SELECT jti FROM tok_denylist WHERE until_ms <= $1 LIMIT $2) RETURNING 1) \
                     SELECT count(*) FROM gone",
                    &[&ms(now), &PURGE_BATCH],
                )
                .await?;
            let gone: i64 = row.get(0);
            removed += u64::try_from(gone).unwrap_or(0);
            if gone < PURGE_BATCH {
                break;
            }
        }
        Ok(removed)
    }
}

/// How many rows one purge statement looks at.
const PURGE_BATCH: i64 = 1000;

/// The most passes one logout everywhere makes (each ends what logins committed during the
/// one before; a pass that ends nothing stops it).
const SUBJECT_PASSES: usize = 8;
