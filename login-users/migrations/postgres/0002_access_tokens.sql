-- FastAPI Users' `accesstoken` table (SQLAlchemyBaseAccessTokenTableUUID), as SQLAlchemy creates
-- it, for DatabaseStrategy: applied only when that strategy is used (its own version, beside the
-- users' in the one history table). `IF NOT EXISTS` adopts the table FastAPI Users or an earlier
-- version of this crate made.
CREATE TABLE IF NOT EXISTS accesstoken (
	user_id UUID NOT NULL, 
	token VARCHAR(43) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	PRIMARY KEY (token), 
	FOREIGN KEY(user_id) REFERENCES "user" (id) ON DELETE cascade
);

CREATE INDEX IF NOT EXISTS ix_accesstoken_created_at ON accesstoken (created_at);
