//! The SQL stores' versioned migrations (`login-users/migrations/{sqlite,postgres}/`), on real
//! databases:
//!
//! - a database FastAPI Users made (no history table) is adopted as it is: its tables, indexes
//!   and rows unchanged, only ours added, and the optional tables left out;
//! - a database an earlier version of this crate made (before the history table: every table of
//!   its, `token_not_before`, PostgreSQL's `lower(email)` index) upgrades to the schema a new
//!   database gets, keeping its rows;
//! - starting again is a no-op (the history and the schema stay as they are), and the history
//!   is apart from an app's own sqlx migrations on the same database;
//! - instances starting together all start: on SQLite, two processes migrating one new file at
//!   once (this test binary run twice); on PostgreSQL, several stores connecting to one new
//!   schema at once.
//!
//! The PostgreSQL half needs `DATABASE_URL=postgres://…` and is `#[ignore]`d without it (run with
//! `--include-ignored`; run so without the variable, it fails saying so).

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::str::FromStr;

use login_users::{PostgresRefreshStore, PostgresStore, SqliteRefreshStore, SqliteStore, User, UserStore};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::SqlitePool;
use support::TempDir;
use support::users_db::{FASTAPI_USERS_DB, PgSchema};
use uuid::Uuid;

/// The versions of the three sets: the users', the access tokens', the refresh tokens'.
const USERS: i64 = 1;
const ACCESS_TOKENS: i64 = 2;
const REFRESH_TOKENS: i64 = 3;

// ---------------------------------------------------------------------------------------------
// SQLite

/// The schema as SQLite keeps it: every table and index but SQLite's own, `(type, name, sql)`.
async fn sqlite_schema(pool: &SqlitePool) -> BTreeSet<(String, String, Option<String>)> {
    sqlx::query_as("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

fn names(schema: &BTreeSet<(String, String, Option<String>)>) -> BTreeSet<&str> {
    schema.iter().map(|(_, name, _)| name.as_str()).collect()
}

/// The history: `(version, description, success, checksum)` in version order.
type History = Vec<(i64, String, bool, Vec<u8>)>;

async fn sqlite_history(pool: &SqlitePool) -> History {
    sqlx::query_as(
        "SELECT version, description, success, checksum FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn versions(history: &History) -> Vec<i64> {
    history.iter().map(|(version, ..)| *version).collect()
}

/// Every row of `user`, as stored, in id order.
async fn sqlite_users(pool: &SqlitePool) -> Vec<(String, String, String, bool, bool, bool)> {
    sqlx::query_as(
        "SELECT id, email, hashed_password, is_active, is_superuser, is_verified FROM user ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A plain pool on a SQLite file, bypassing the store (and its migrations).
async fn raw_sqlite(url: &str) -> SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true);
    SqlitePool::connect_with(options).await.unwrap()
}

/// The store with every set applied: users, access tokens, refresh tokens.
async fn sqlite_all_sets(url: &str) -> SqliteStore {
    let store = SqliteStore::connect(url).await.unwrap();
    store.migrate_access_tokens().await.unwrap();
    SqliteRefreshStore::new(&store).await.unwrap();
    store
}

#[tokio::test]
async fn sqlite_adopts_a_fastapi_users_database_unchanged() {
    let dir = TempDir::new();
    std::fs::copy(FASTAPI_USERS_DB, dir.0.join("users.db")).unwrap();
    let raw = raw_sqlite(&dir.db_url()).await;
    let schema_before = sqlite_schema(&raw).await;
    let users_before = sqlite_users(&raw).await;
    raw.close().await;
    assert!(users_before.len() >= 5, "the fixture's users: {users_before:?}");
    assert_eq!(names(&schema_before), BTreeSet::from(["user", "ix_user_email"]));

    let store = SqliteStore::connect(&dir.db_url()).await.unwrap();
    let schema_after = sqlite_schema(store.pool()).await;
    assert!(
        schema_before.is_subset(&schema_after),
        "FastAPI Users' table and index are kept as they are: {schema_after:#?}"
    );
    let added: BTreeSet<&str> = names(&schema_after)
        .difference(&names(&schema_before))
        .copied()
        .collect();
    assert_eq!(
        added,
        BTreeSet::from([
            "_login_users_migrations",
            "ix_token_denylist_expires_at",
            "ix_user_email_lower",
            "token_denylist",
            "token_generation",
        ]),
        "only ours is added; no `accesstoken` or refresh tables until they are used"
    );
    assert_eq!(
        sqlite_users(store.pool()).await,
        users_before,
        "every row as it was"
    );
    let history = sqlite_history(store.pool()).await;
    assert_eq!(versions(&history), [USERS]);
    assert_eq!(history[0].1, "users");
    assert!(history[0].2, "recorded as a success");

    // The optional sets, when used, add their version and tables only.
    store.migrate_access_tokens().await.unwrap();
    SqliteRefreshStore::new(&store).await.unwrap();
    assert_eq!(
        versions(&sqlite_history(store.pool()).await),
        [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
    );
    assert_eq!(
        sqlite_users(store.pool()).await,
        users_before,
        "every row as it was"
    );
}

#[tokio::test]
async fn sqlite_new_user_table_is_the_one_fastapi_users_makes() {
    let fixture = TempDir::new();
    std::fs::copy(FASTAPI_USERS_DB, fixture.0.join("users.db")).unwrap();
    let raw = raw_sqlite(&fixture.db_url()).await;
    let fastapi_users = sqlite_schema(&raw).await;
    raw.close().await;

    let dir = TempDir::new();
    let store = SqliteStore::connect(&dir.db_url()).await.unwrap();
    let ours = sqlite_schema(store.pool()).await;
    assert!(
        fastapi_users.is_subset(&ours),
        "SQLAlchemy's `CREATE TABLE user` and `ix_user_email`, byte for byte: {ours:#?}"
    );
}

/// The statements an earlier version of this crate (before the history table) ran at connect,
/// with the `token_not_before` table of the version before that, and the optional tables.
const SQLITE_PREVIOUS_VERSION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS user (\n\tid CHAR(36) NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON user (email)",
    "CREATE TABLE IF NOT EXISTS token_denylist (token_id CHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_token_denylist_expires_at ON token_denylist (expires_at)",
    "CREATE TABLE IF NOT EXISTS token_generation (user_id CHAR(36) NOT NULL PRIMARY KEY, generation BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON user (lower(email))",
    "CREATE TABLE IF NOT EXISTS token_not_before (user_id CHAR(36) NOT NULL PRIMARY KEY, not_before BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS accesstoken (\n\tuser_id CHAR(36) NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \n\tcreated_at TIMESTAMP NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) REFERENCES user (id) ON DELETE cascade\n)",
    "CREATE INDEX IF NOT EXISTS ix_accesstoken_created_at ON accesstoken (created_at)",
    "CREATE TABLE IF NOT EXISTS refresh_family (id CHAR(43) NOT NULL PRIMARY KEY, user_id CHAR(36) NOT NULL, \
     generation BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_refresh_family_expires_at ON refresh_family (expires_at)",
    "CREATE TABLE IF NOT EXISTS refresh_token (token_hash CHAR(64) NOT NULL PRIMARY KEY, family_id CHAR(43) NOT NULL, \
     spent BOOLEAN NOT NULL, access_id CHAR(64) NOT NULL, access_expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_refresh_token_family_id ON refresh_token (family_id)",
    "CREATE INDEX IF NOT EXISTS ix_refresh_token_access_id ON refresh_token (access_id)",
];

#[tokio::test]
async fn sqlite_upgrades_a_previous_version_database() {
    let dir = TempDir::new();
    let raw = raw_sqlite(&dir.db_url()).await;
    for statement in SQLITE_PREVIOUS_VERSION {
        sqlx::query(*statement).execute(&raw).await.unwrap();
    }
    let (ann, bob) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, email) in [(ann, "ann@example.com"), (bob, "bob@example.com")] {
        sqlx::query(
            "INSERT INTO user (id, email, hashed_password, is_active, is_superuser, is_verified) \
             VALUES (?, ?, '$argon2id$x', 1, 0, 0)",
        )
        .bind(id.to_string())
        .bind(email)
        .execute(&raw)
        .await
        .unwrap();
    }
    // Ann's sessions were ended under the `token_not_before` scheme; Bob has a generation.
    sqlx::query("INSERT INTO token_not_before (user_id, not_before) VALUES (?, 1700000000)")
        .bind(ann.to_string())
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("INSERT INTO token_generation (user_id, generation) VALUES (?, 4)")
        .bind(bob.to_string())
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO refresh_family (id, user_id, generation, expires_at, revoked) VALUES ('f', ?, 4, 1, 0)",
    )
    .bind(bob.to_string())
    .execute(&raw)
    .await
    .unwrap();
    let users_before = sqlite_users(&raw).await;
    raw.close().await;

    let store = sqlite_all_sets(&dir.db_url()).await;
    assert_eq!(
        sqlite_users(store.pool()).await,
        users_before,
        "every row as it was"
    );
    let generations: Vec<(String, i64)> =
        sqlx::query_as("SELECT user_id, generation FROM token_generation ORDER BY generation")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        generations,
        [(ann.to_string(), 1), (bob.to_string(), 4)],
        "`token_not_before` adopted as generation 1; existing generations kept"
    );
    let families: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_family")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(families, 1, "the refresh tables are adopted with their rows");
    assert_eq!(
        versions(&sqlite_history(store.pool()).await),
        [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
    );

    // The same schema as a database this version made from nothing.
    let fresh_dir = TempDir::new();
    let fresh = sqlite_all_sets(&fresh_dir.db_url()).await;
    assert_eq!(
        sqlite_schema(store.pool()).await,
        sqlite_schema(fresh.pool()).await,
        "`token_not_before` gone, nothing else different"
    );
    assert_eq!(
        sqlite_history(store.pool()).await,
        sqlite_history(fresh.pool()).await,
        "the same versions and checksums"
    );
}

#[tokio::test]
async fn sqlite_starting_again_is_a_no_op() {
    let dir = TempDir::new();
    let first = sqlite_all_sets(&dir.db_url()).await;
    first
        .create(User::new("ann@example.com", "$argon2id$x"))
        .await
        .unwrap();
    let schema = sqlite_schema(first.pool()).await;
    let full_history: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT version, installed_on, execution_time FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(first.pool())
    .await
    .unwrap();
    let users = sqlite_users(first.pool()).await;
    first.pool().close().await;

    let again = sqlite_all_sets(&dir.db_url()).await;
    assert_eq!(sqlite_schema(again.pool()).await, schema);
    let full_history_again: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT version, installed_on, execution_time FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(again.pool())
    .await
    .unwrap();
    assert_eq!(full_history_again, full_history, "no version applied twice");
    assert_eq!(sqlite_users(again.pool()).await, users);
}

#[tokio::test]
async fn sqlite_history_is_apart_from_the_apps_own_sqlx_migrations() {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};

    // An app migrating its own table with sqlx, version 1 like ours, in sqlx's default history.
    let app = Migrator::with_migrations(vec![Migration::new(
        1,
        "app".into(),
        MigrationType::Simple,
        "CREATE TABLE app_note (id INTEGER PRIMARY KEY, body TEXT NOT NULL)".into_sql_str(),
        false,
    )]);
    let dir = TempDir::new();
    let raw = raw_sqlite(&dir.db_url()).await;
    app.run(&raw).await.unwrap();
    let store = sqlite_all_sets(&dir.db_url()).await;
    app.run(&raw)
        .await
        .expect("the app's migrator still finds its own history only");
    let apps: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(apps, [1]);
    assert_eq!(
        versions(&sqlite_history(store.pool()).await),
        [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
    );
}

/// Set by [`sqlite_two_processes_migrate_one_file_at_once`] for the processes it starts.
const WORKER_DB: &str = "LOGIN_USERS_MIGRATION_TEST_DB";

/// Connects to a new SQLite file with every set, and checks the history. Run on its own, on a
/// file of its own; run by [`sqlite_two_processes_migrate_one_file_at_once`] as a separate
/// process, on the file `LOGIN_USERS_MIGRATION_TEST_DB` names, at the same moment as another.
#[tokio::test]
async fn sqlite_connect_migrates_a_new_file() {
    let own = TempDir::new();
    let url = std::env::var(WORKER_DB).unwrap_or_else(|_| own.db_url());
    let store = sqlite_all_sets(&url).await;
    assert_eq!(
        versions(&sqlite_history(store.pool()).await),
        [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
    );
}

#[test]
fn sqlite_two_processes_migrate_one_file_at_once() {
    let exe = std::env::current_exe().unwrap();
    for round in 0..5 {
        let dir = TempDir::new();
        let url = dir.db_url();
        let spawn = || {
            Command::new(&exe)
                .args([
                    "--exact",
                    "sqlite_connect_migrates_a_new_file",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WORKER_DB, &url)
                .output()
                .unwrap()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap(), b.join().unwrap())
        });
        for (name, out) in [("first", &a), ("second", &b)] {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "round {round}: the {name} process did not start:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_stores_connecting_at_once_all_start() {
    for _ in 0..5 {
        let dir = TempDir::new();
        let url = dir.db_url();
        let starts: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { sqlite_all_sets(&url).await.pool().close().await })
            })
            .collect();
        for start in starts {
            start.await.unwrap();
        }
        let raw = raw_sqlite(&url).await;
        assert_eq!(
            versions(&sqlite_history(&raw).await),
            [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => panic!("DATABASE_URL=postgres://… is needed by this test (it is #[ignore]d without it)"),
    }
}

/// A plain pool on the schema, bypassing the store.
async fn raw_postgres(schema: &PgSchema) -> PgPool {
    PgPool::connect_with(
        PgConnectOptions::from_str(&database_url())
            .unwrap()
            .options([("search_path", schema.name())]),
    )
    .await
    .unwrap()
}

/// The schema's tables, columns and indexes, as `pg_catalog` shows them.
async fn postgres_schema(pool: &PgPool) -> BTreeSet<String> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            .fetch_all(pool)
            .await
            .unwrap();
    // The schema's name appears in `indexdef`; the comparisons are across schemas.
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await
        .unwrap();
    columns
        .into_iter()
        .chain(indexes.into_iter().map(|i| i.replace(&format!("{schema}."), "")))
        .collect()
}

async fn postgres_history(pool: &PgPool) -> History {
    sqlx::query_as(
        "SELECT version, description, success, checksum FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn postgres_users(pool: &PgPool) -> Vec<(Uuid, String, String, bool, bool, bool)> {
    sqlx::query_as(
        "SELECT id, email, hashed_password, is_active, is_superuser, is_verified FROM \"user\" ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn postgres_store(schema: &PgSchema) -> PostgresStore {
    let url = database_url();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.name())]);
    PostgresStore::connect_with(options, &url).await.unwrap()
}

async fn postgres_all_sets(schema: &PgSchema) -> PostgresStore {
    let store = postgres_store(schema).await;
    store.migrate_access_tokens().await.unwrap();
    PostgresRefreshStore::new(&store).await.unwrap();
    store
}

/// The tables as SQLAlchemy creates them for FastAPI Users on PostgreSQL (no `IF NOT EXISTS`).
const FASTAPI_USERS_POSTGRES: &[&str] = &[
    "CREATE TABLE \"user\" (\n\tid UUID NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)",
    "CREATE UNIQUE INDEX ix_user_email ON \"user\" (email)",
    "CREATE TABLE accesstoken (\n\tuser_id UUID NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \n\tcreated_at TIMESTAMP WITH TIME ZONE NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) REFERENCES \"user\" (id) ON DELETE cascade\n)",
    "CREATE INDEX ix_accesstoken_created_at ON accesstoken (created_at)",
];

/// A few users as FastAPI Users stores them (mixed-case local parts, a superuser).
async fn insert_postgres_users(pool: &PgPool) {
    for (email, superuser) in [("King.Arthur@camelot.bt", true), ("lancelot@camelot.bt", false)] {
        sqlx::query(
            "INSERT INTO \"user\" (id, email, hashed_password, is_active, is_superuser, is_verified) \
             VALUES ($1, $2, '$argon2id$x', true, $3, false)",
        )
        .bind(Uuid::new_v4())
        .bind(email)
        .bind(superuser)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_adopts_a_fastapi_users_database_unchanged() {
    let schema = PgSchema::create(&database_url()).await;
    let raw = raw_postgres(&schema).await;
    for statement in FASTAPI_USERS_POSTGRES {
        sqlx::query(*statement).execute(&raw).await.unwrap();
    }
    insert_postgres_users(&raw).await;
    let user = postgres_users(&raw).await[0].0;
    sqlx::query("INSERT INTO accesstoken (user_id, token, created_at) VALUES ($1, 'tok', now())")
        .bind(user)
        .execute(&raw)
        .await
        .unwrap();
    let schema_before = postgres_schema(&raw).await;
    let users_before = postgres_users(&raw).await;

    let store = postgres_store(&schema).await;
    let schema_after = postgres_schema(store.pool()).await;
    assert!(
        schema_before.is_subset(&schema_after),
        "FastAPI Users' tables and indexes are kept as they are: {schema_after:#?}"
    );
    assert_eq!(
        postgres_users(store.pool()).await,
        users_before,
        "every row as it was"
    );
    assert_eq!(versions(&postgres_history(store.pool()).await), [USERS]);

    store.migrate_access_tokens().await.unwrap();
    assert_eq!(
        versions(&postgres_history(store.pool()).await),
        [USERS, ACCESS_TOKENS],
        "the refresh tables stay out until a refresh store is made"
    );
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accesstoken")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(tokens, 1, "FastAPI Users' `accesstoken` is adopted with its rows");
    store.pool().close().await;
    raw.close().await;
}

#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_upgrades_a_previous_version_database() {
    let schema = PgSchema::create(&database_url()).await;
    let raw = raw_postgres(&schema).await;
    let previous = [
        "CREATE TABLE IF NOT EXISTS \"user\" (\n\tid UUID NOT NULL, \n\temail VARCHAR(320) NOT NULL, \n\thashed_password VARCHAR(1024) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tis_superuser BOOLEAN NOT NULL, \n\tis_verified BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)",
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email ON \"user\" (email)",
        "CREATE TABLE IF NOT EXISTS token_denylist (token_id CHAR(64) NOT NULL PRIMARY KEY, expires_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ix_token_denylist_expires_at ON token_denylist (expires_at)",
        "CREATE TABLE IF NOT EXISTS token_generation (user_id UUID NOT NULL PRIMARY KEY, generation BIGINT NOT NULL)",
        // The index of the version before the key index.
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_user_email_lower ON \"user\" (lower(email))",
        "CREATE TABLE IF NOT EXISTS token_not_before (user_id UUID NOT NULL PRIMARY KEY, not_before BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS accesstoken (\n\tuser_id UUID NOT NULL, \n\ttoken VARCHAR(43) NOT NULL, \n\tcreated_at TIMESTAMP WITH TIME ZONE NOT NULL, \n\tPRIMARY KEY (token), \n\tFOREIGN KEY(user_id) REFERENCES \"user\" (id) ON DELETE cascade\n)",
        "CREATE INDEX IF NOT EXISTS ix_accesstoken_created_at ON accesstoken (created_at)",
        "CREATE TABLE IF NOT EXISTS refresh_family (id CHAR(43) NOT NULL PRIMARY KEY, user_id UUID NOT NULL, \
         generation BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ix_refresh_family_expires_at ON refresh_family (expires_at)",
        "CREATE TABLE IF NOT EXISTS refresh_token (token_hash CHAR(64) NOT NULL PRIMARY KEY, family_id CHAR(43) NOT NULL, \
         spent BOOLEAN NOT NULL, access_id CHAR(64) NOT NULL, access_expires_at BIGINT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS ix_refresh_token_family_id ON refresh_token (family_id)",
        "CREATE INDEX IF NOT EXISTS ix_refresh_token_access_id ON refresh_token (access_id)",
    ];
    for statement in previous {
        sqlx::query(statement).execute(&raw).await.unwrap();
    }
    insert_postgres_users(&raw).await;
    let users_before = postgres_users(&raw).await;
    let ann = users_before[0].0;
    sqlx::query("INSERT INTO token_not_before (user_id, not_before) VALUES ($1, 1700000000)")
        .bind(ann)
        .execute(&raw)
        .await
        .unwrap();

    let store = postgres_all_sets(&schema).await;
    assert_eq!(
        postgres_users(store.pool()).await,
        users_before,
        "every row as it was"
    );
    let generations: Vec<(Uuid, i64)> = sqlx::query_as("SELECT user_id, generation FROM token_generation")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(
        generations,
        [(ann, 1)],
        "`token_not_before` adopted as generation 1"
    );
    assert_eq!(
        versions(&postgres_history(store.pool()).await),
        [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
    );

    // The same schema and history as a database this version made from nothing.
    let fresh_schema = PgSchema::create(&database_url()).await;
    let fresh = postgres_all_sets(&fresh_schema).await;
    assert_eq!(
        postgres_schema(store.pool()).await,
        postgres_schema(fresh.pool()).await,
        "`token_not_before` and `ix_user_email_lower` gone, `ix_user_email_key` made"
    );
    assert_eq!(
        postgres_history(store.pool()).await,
        postgres_history(fresh.pool()).await
    );
    for pool in [store.pool(), fresh.pool(), &raw] {
        pool.close().await;
    }
}

#[tokio::test]
#[ignore = "needs DATABASE_URL"]
async fn postgres_starting_again_is_a_no_op() {
    let schema = PgSchema::create(&database_url()).await;
    let first = postgres_all_sets(&schema).await;
    let tables = postgres_schema(first.pool()).await;
    let history: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT version, installed_on::text, execution_time FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(first.pool())
    .await
    .unwrap();
    first.pool().close().await;

    let again = postgres_all_sets(&schema).await;
    assert_eq!(postgres_schema(again.pool()).await, tables);
    let history_again: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT version, installed_on::text, execution_time FROM _login_users_migrations ORDER BY version",
    )
    .fetch_all(again.pool())
    .await
    .unwrap();
    assert_eq!(history_again, history, "no version applied twice");
    again.pool().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs DATABASE_URL"]
async fn postgres_instances_starting_together_all_start() {
    for _ in 0..3 {
        let schema = std::sync::Arc::new(PgSchema::create(&database_url()).await);
        let starts: Vec<_> = (0..6)
            .map(|_| {
                let schema = schema.clone();
                tokio::spawn(async move { postgres_all_sets(&schema).await.pool().close().await })
            })
            .collect();
        for start in starts {
            start.await.unwrap();
        }
        let raw = raw_postgres(&schema).await;
        assert_eq!(
            versions(&postgres_history(&raw).await),
            [USERS, ACCESS_TOKENS, REFRESH_TOKENS]
        );
        raw.close().await;
    }
}
