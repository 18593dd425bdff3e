-- Schema version 3: a family's last move to another refresh key (a key rotation). Run
-- after schema.sql and upgrade_2.sql on a new database, and on its own to upgrade a
-- version 2 schema (see schema.rs), in the same locked transaction either way.

-- The key the family left and the first generation of its new key (`KeyMove`); NULL
-- until the family first moves. Neither is indexed: rotations stay heap-only updates.
ALTER TABLE tok_families ADD COLUMN IF NOT EXISTS moved_from_key text,
    ADD COLUMN IF NOT EXISTS moved_at_gen bigint;

-- tok_rotate takes the signing key's public id: its signature changes, so the old one goes.
DROP FUNCTION IF EXISTS tok_rotate(text, bigint, bytea, text, bigint, bigint);

-- tok_rotate itself is defined by upgrade_4.sql, which always runs after this file (see
-- schema.rs) and takes the login besides.

