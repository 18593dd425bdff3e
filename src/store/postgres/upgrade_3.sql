-- Schema version 3: a family's last move to another refresh key (a key rotation). Run
-- after schema.sql and upgrade_2.sql on a new database, and on its own to upgrade a
-- version 2 schema (see schema.rs), in the same locked transaction either way.

-- The key the family left and the first generation of its new key (`KeyMove`); NULL
-- until the family first moves. Neither is indexed: rotations stay heap-only updates.
ALTER TABLE tok_families ADD COLUMN IF NOT EXISTS moved_from_key text,
    ADD COLUMN IF NOT EXISTS moved_at_gen bigint;

-- tok_rotate takes the signing key's public id: its signature changes, so it is replaced.
DROP FUNCTION IF EXISTS tok_rotate(text, bigint, bytea, text, bigint, bigint);

-- A rotation, decided and applied under the family's row lock: mirrors decide() and
-- apply() (src/model/family.rs). Answers the outcome and, for 'rotated' and 'grace', the
-- family as stored. A rotation moves the family to the refresh key p_signing when its key
-- is another (FamilySecret::rotated_to).
CREATE OR REPLACE FUNCTION tok_rotate(p_id text, p_gen bigint, p_fingerprint bytea, p_claims text,
                           p_now bigint, p_grace bigint, p_signing text)
RETURNS TABLE (outcome text, family tok_families) LANGUAGE plpgsql AS $$
DECLARE
    f tok_families;
    at bigint;
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
    -- changes claims (a privilege change never hands out a token another holder may share).
    IF p_gen = f.generation
       OR (p_gen + 1 = f.generation AND p_claims IS NOT NULL AND tok_in_grace(f, p_now, p_grace)) THEN
        IF f.generation = 9223372036854775807 THEN
            RETURN QUERY SELECT 'unknown'::text, NULL::tok_families; RETURN;
        END IF;
        at := greatest(p_now, f.last_used_ms);
        UPDATE tok_families
           SET generation = generation + 1,
               last_used_ms = at,
               -- A privilege change ends grace for every earlier generation.
               previous_rotated_ms = CASE WHEN p_claims IS NULL THEN at END,
               claims = coalesce(p_claims, claims),
               claims_gen = CASE WHEN p_claims IS NULL THEN claims_gen ELSE generation + 1 END,
               -- Right-hand sides read the row as it was: the move's origin is the old key.
               moved_from_key = CASE WHEN key_id <> p_signing THEN key_id ELSE moved_from_key END,
               moved_at_gen = CASE WHEN key_id <> p_signing THEN generation + 1 ELSE moved_at_gen END,
               key_id = p_signing
         WHERE id = p_id
        RETURNING * INTO f;
        IF p_claims IS NOT NULL THEN
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
