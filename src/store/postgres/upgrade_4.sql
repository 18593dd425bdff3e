-- Schema version 4: a family's login (when its user last proved who they are, how, and
-- whether the login is remembered; `Login::to_stored`, src/model/login.rs). Run after
-- upgrade_3.sql on a new database, and on its own to upgrade a version 3 schema (see
-- schema.rs), in the same locked transaction either way.

-- Empty for families from before: read as a remembered login at their creation. Not
-- indexed: rotations stay heap-only updates.
ALTER TABLE tok_families ADD COLUMN IF NOT EXISTS login text NOT NULL DEFAULT '';

-- tok_create and tok_rotate take the login: their signatures change, so they are replaced.
DROP FUNCTION IF EXISTS tok_create(text, text, text, bigint, bigint, bigint, bigint, bigint,
                                   text, bytea, bigint, bytea, bigint, bigint, text);
DROP FUNCTION IF EXISTS tok_rotate(text, bigint, bytea, text, bigint, bigint, text);

-- Stores a new family unless its id is taken; answers whether it was stored. Logout
-- everywhere must end every family whose creation reached the server before it did
-- (Store::revoke_subject): a creation holds the subject's lock shared until it commits, so
-- tok_revoke_subject, which takes it exclusively, waits for creations in flight and then
-- sees them; one that reached the server before the revocation but had to wait for its
-- lock stores its family revoked.
CREATE OR REPLACE FUNCTION tok_create(p_id text, p_subject text, p_claims text, p_created bigint,
                           p_expires bigint, p_last_used bigint, p_idle bigint,
                           p_generation bigint, p_key_id text, p_nonce bytea,
                           p_previous_rotated bigint, p_fingerprint bytea, p_revoked bigint,
                           p_claims_gen bigint, p_label text, p_login text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    revoked bigint := p_revoked;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7630699, hashtext(p_subject)); -- 7630699: "tok"
    IF revoked IS NULL AND EXISTS (SELECT 1 FROM tok_subject_revocations
                                    WHERE subject = p_subject AND at >= statement_timestamp()) THEN
        revoked := p_created;
    END IF;
    INSERT INTO tok_families (id, subject, claims, created_ms, expires_ms, last_used_ms,
                              idle_ms, generation, key_id, nonce, previous_rotated_ms,
                              fingerprint, revoked_ms, claims_gen, label, login)
    VALUES (p_id, p_subject, p_claims, p_created, p_expires, p_last_used, p_idle,
            p_generation, p_key_id, p_nonce, p_previous_rotated, p_fingerprint, revoked,
            p_claims_gen, p_label, p_login)
    ON CONFLICT (id) DO NOTHING;
    RETURN FOUND;
END
$$;

-- A rotation, decided and applied under the family's row lock: mirrors decide() and
-- apply() (src/model/family.rs). Answers the outcome and, for 'rotated' and 'grace', the
-- family as stored. A rotation moves the family to the refresh key p_signing when its key
-- is another (FamilySecret::rotated_to). A new login (p_login, a reauthentication)
-- rotates as new claims do: no grace answer, grace ended, earlier access tokens outdated.
CREATE OR REPLACE FUNCTION tok_rotate(p_id text, p_gen bigint, p_fingerprint bytea, p_claims text,
                           p_now bigint, p_grace bigint, p_signing text, p_login text)
RETURNS TABLE (outcome text, family tok_families) LANGUAGE plpgsql AS $$
DECLARE
    f tok_families;
    at bigint;
    changes boolean;
BEGIN
    SELECT * INTO f FROM tok_families WHERE id = p_id FOR UPDATE;
    -- A generation the store has not reached was never handed out by it.
    IF NOT FOUND OR p_gen > f.generation THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::tok_families; RETURN;
    END IF;
    IF f.revoked_ms IS NOT NULL THEN
        RETURN QUERY SELECT 'revoked'::text, NULL::tok_families; RETURN;
    END IF;
    IF tok_expired(p_now, f.last_used_ms, f.expires_ms, f.idle_ms) THEN
        RETURN QUERY SELECT 'expired'::text, NULL::tok_families; RETURN;
    END IF;
    IF f.fingerprint IS NOT NULL AND p_fingerprint IS DISTINCT FROM f.fingerprint THEN
        UPDATE tok_families SET revoked_ms = p_now WHERE id = p_id;
        PERFORM tok_announce('f:' || p_id);
        RETURN QUERY SELECT 'fingerprint'::text, NULL::tok_families; RETURN;
    END IF;
    -- The live token rotates; so does the previous one inside grace when the caller
    -- changes claims or the login (a privilege change never hands out a token another
    -- holder may share).
    changes := p_claims IS NOT NULL OR p_login IS NOT NULL;
    IF p_gen = f.generation
       OR (p_gen + 1 = f.generation AND changes AND tok_in_grace(f, p_now, p_grace)) THEN
        IF f.generation = 9223372036854775807 THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::tok_families; RETURN;
        END IF;
        at := greatest(p_now, f.last_used_ms);
        UPDATE tok_families
           SET generation = generation + 1,
               last_used_ms = at,
               -- A privilege change (or a new login) ends grace for every earlier
               -- generation.
               previous_rotated_ms = CASE WHEN changes THEN NULL ELSE at END,
               claims = coalesce(p_claims, claims),
               login = coalesce(p_login, login),
               claims_gen = CASE WHEN changes THEN generation + 1 ELSE claims_gen END,
               -- Right-hand sides read the row as it was: the move's origin is the old key.
               moved_from_key = CASE WHEN key_id <> p_signing THEN key_id ELSE moved_from_key END,
               moved_at_gen = CASE WHEN key_id <> p_signing THEN generation + 1 ELSE moved_at_gen END,
               key_id = p_signing
         WHERE id = p_id
        RETURNING * INTO f;
        IF changes THEN
            PERFORM tok_announce('f:' || p_id);
        END IF;
        RETURN QUERY SELECT 'rotated'::text, f; RETURN;
    END IF;
    IF p_gen + 1 = f.generation AND tok_in_grace(f, p_now, p_grace) THEN
        RETURN QUERY SELECT 'grace'::text, f; RETURN;
    END IF;
    UPDATE tok_families SET revoked_ms = p_now WHERE id = p_id;
    PERFORM tok_announce('f:' || p_id);
    RETURN QUERY SELECT 'reuse'::text, NULL::tok_families;
END
$$;
