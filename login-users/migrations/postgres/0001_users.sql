-- Version 1 of the users' schema. FastAPI Users' `user` table exactly as SQLAlchemy creates it
-- for SQLAlchemyBaseUserTableUUID, and ours beside it: revoked tokens (until their `exp`) and
-- per-user session generations. `IF NOT EXISTS` throughout, so that this first version adopts as
-- it is a database FastAPI Users made (no history table) or one an earlier version of this crate
-- made (before it kept a history). Later versions are plain statements in files of their own.

-- As SQLAlchemy creates it on PostgreSQL (`id` a native UUID).
CREATE TABLE IF NOT EXISTS "user" (
	id UUID NOT NULL, 
	email VARCHAR(320) NOT NULL, 
	hashed_password VARCHAR(1024) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	is_superuser BOOLEAN NOT NULL, 
	is_verified BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON "user" (email);

CREATE TABLE IF NOT EXISTS token_denylist (token_id CHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL);

CREATE INDEX IF NOT EXISTS ix_token_denylist_expires_at ON token_denylist (expires_at);

CREATE TABLE IF NOT EXISTS token_generation (user_id UUID NOT NULL PRIMARY KEY, generation BIGINT NOT NULL);
