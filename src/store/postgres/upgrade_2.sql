-- Schema version 2: run after schema.sql on a new database, and on its own to upgrade a
-- version 1 schema (see schema.rs), in the same locked transaction either way.

-- Revokes every family of a subject; answers how many were unrevoked. The subject's lock,
-- taken exclusively first, waits for creations in flight (see tok_create); the UPDATE,
-- a statement of its own, then sees every family they committed (at read committed,
-- which every connection of tok's sets, whatever the database's default).
CREATE OR REPLACE FUNCTION tok_revoke_subject(p_subject text, p_now bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7630699, hashtext(p_subject));
    INSERT INTO tok_subject_revocations (subject, at) VALUES (p_subject, clock_timestamp())
    ON CONFLICT (subject) DO UPDATE SET at = excluded.at;
    UPDATE tok_families SET revoked_ms = p_now WHERE subject = p_subject AND revoked_ms IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        -- The subject by its digest (Change::to_message, src/model/cache.rs): a message of
        -- fixed size, so a long subject never turns into '*' (drop everything) elsewhere.
        PERFORM tok_announce('h:' || left(encode(sha256(convert_to(p_subject, 'UTF8')), 'hex'), 32));
    END IF;
    RETURN n;
END
$$;
