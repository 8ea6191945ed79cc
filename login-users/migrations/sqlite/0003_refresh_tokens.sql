-- Ours, beside FastAPI Users' tables: refresh-token families, and their tokens by hash with the
-- access token each rotation issued. Applied only when a refresh store is made on this database
-- (its own version, beside the users' in the one history table). `IF NOT EXISTS` adopts the
-- tables an earlier version of this crate made.
CREATE TABLE IF NOT EXISTS refresh_family (id CHAR(43) NOT NULL PRIMARY KEY, user_id CHAR(36) NOT NULL, generation BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL);

CREATE INDEX IF NOT EXISTS ix_refresh_family_expires_at ON refresh_family (expires_at);

CREATE TABLE IF NOT EXISTS refresh_token (token_hash CHAR(64) NOT NULL PRIMARY KEY, family_id CHAR(43) NOT NULL, spent BOOLEAN NOT NULL, access_id CHAR(64) NOT NULL, access_expires_at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS ix_refresh_token_family_id ON refresh_token (family_id);

CREATE INDEX IF NOT EXISTS ix_refresh_token_access_id ON refresh_token (access_id);
