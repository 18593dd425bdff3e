-- tok's PostgreSQL schema, version 1: created in one transaction by the first store that
-- opens an empty database (see schema.rs). Times are Unix milliseconds.
--
-- The functions below are the store's atomic steps: each runs in one statement (one
-- round trip), holding the family's row lock from its read to its write, so that any
-- number of hosts rotating one token get exactly one winner. They mirror the Rust rules
-- they name (src/model/family.rs); the conformance suite (tests/store_conformance.rs) runs
-- every rule's cases through them.

CREATE TABLE tok_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    schema_version integer NOT NULL
);

-- One row per session family, of constant size however often it rotates: no token and no
-- token hash is stored. Only `id` and `subject` are indexed, and neither changes, so a
-- rotation is a heap-only update (fillfactor leaves room on the page for it).
CREATE TABLE tok_families (
    id text PRIMARY KEY,
    subject text NOT NULL,
    claims text NOT NULL,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    last_used_ms bigint NOT NULL,
    idle_ms bigint NOT NULL,
    generation bigint NOT NULL CHECK (generation >= 0),
    key_id text NOT NULL,
    nonce bytea NOT NULL,
    previous_rotated_ms bigint,
    fingerprint bytea,
    revoked_ms bigint,
    claims_gen bigint NOT NULL,
    -- What the application said of the session at login (MAX_LABEL_BYTES at most).
    label text NOT NULL
) WITH (fillfactor = 80);

CREATE INDEX tok_families_subject ON tok_families (subject);

-- Denylisted access tokens, each until its `exp` plus the retention (DENYLIST_RETENTION).
CREATE TABLE tok_denylist (
    jti text PRIMARY KEY,
    until_ms bigint NOT NULL
);

CREATE INDEX tok_denylist_until ON tok_denylist (until_ms);

-- When each subject's families were last all revoked, on the server's clock: a creation
-- that reached the server before that moment but commits after it stores its family
-- revoked (see tok_create). Rows older than any creation can be are purged.
CREATE TABLE tok_subject_revocations (
    subject text PRIMARY KEY,
    at timestamptz NOT NULL
);

-- Tells other processes' online-check caches what ended (see changes.rs), in the same
-- transaction as the change: a message longer than NOTIFY carries becomes '*' (drop
-- everything), never an error that would undo the revocation.
CREATE FUNCTION tok_announce(message text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('tok_changes',
                     CASE WHEN octet_length(message) < 7000 THEN message ELSE '*' END);
$$;

-- Mirrors FamilyRecord::is_expired: the family has passed its absolute or idle end at
-- `now`, with "now" never earlier than its last use (effective_now). Scalar arguments, so
-- that the planner inlines it into the statements that use it.
CREATE FUNCTION tok_expired(now_ms bigint, last_used_ms bigint, expires_ms bigint,
                            idle_ms bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT greatest(now_ms, last_used_ms) >= least(expires_ms, last_used_ms + idle_ms);
$$;

-- Mirrors FamilyRecord::in_grace: the previous generation's grace window is open.
CREATE FUNCTION tok_in_grace(f tok_families, now_ms bigint, grace_ms bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT f.previous_rotated_ms IS NOT NULL
       AND greatest(now_ms, f.last_used_ms) < f.previous_rotated_ms + grace_ms;
$$;

-- tok_rotate, the rotation under the family's row lock, is defined by upgrade_4.sql,
-- which always runs after this file (see schema.rs).

-- A logout with a refresh token: mirrors decide_logout(). Answers 'revoked', 'ended',
-- 'reused' or 'unknown'.
CREATE FUNCTION tok_logout(p_id text, p_gen bigint, p_now bigint, p_grace bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    f tok_families;
BEGIN
    SELECT * INTO f FROM tok_families WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR p_gen > f.generation THEN
        RETURN 'unknown';
    END IF;
    IF f.revoked_ms IS NOT NULL OR tok_expired(p_now, f.last_used_ms, f.expires_ms, f.idle_ms) THEN
        RETURN 'ended';
    END IF;
    UPDATE tok_families SET revoked_ms = p_now WHERE id = p_id;
    PERFORM tok_announce('f:' || p_id);
    IF p_gen = f.generation OR (p_gen + 1 = f.generation AND tok_in_grace(f, p_now, p_grace)) THEN
        RETURN 'revoked';
    END IF;
    RETURN 'reused';
END
$$;

-- Revokes one family by id (and, when p_subject is not null, only if it is that
-- subject's); answers whether an unrevoked family was revoked.
CREATE FUNCTION tok_revoke(p_id text, p_subject text, p_now bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tok_families SET revoked_ms = p_now
     WHERE id = p_id AND revoked_ms IS NULL AND (p_subject IS NULL OR subject = p_subject);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM tok_announce('f:' || p_id);
    RETURN true;
END
$$;

-- tok_create: see upgrade_4.sql, which every schema runs.


-- tok_revoke_subject: see upgrade_2.sql, which every schema runs.

-- Denylists a jti until p_until (never shortening an entry).
CREATE FUNCTION tok_deny(p_jti text, p_until bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tok_denylist (jti, until_ms) VALUES (p_jti, p_until)
    ON CONFLICT (jti) DO UPDATE SET until_ms = greatest(tok_denylist.until_ms, excluded.until_ms);
    PERFORM tok_announce('j:' || p_jti);
END
$$;
