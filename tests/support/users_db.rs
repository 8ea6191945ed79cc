//! The databases the users suites run on: a fresh SQLite file, or a schema of the test's own in
//! the PostgreSQL of `DATABASE_URL` (`postgres://…`), each removed when the test ends. The
//! PostgreSQL half of a suite is `#[ignore = "needs DATABASE_URL"]` (run it with
//! `-- --include-ignored`; without the variable it fails, naming it). And the token strategies the
//! contract suite runs on: plain JWT, JWT with revocation in the same database, the database
//! strategy, and the Redis strategy on the Redis of `REDIS_URL` (ignored likewise).

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use login_users::{
    AccessTokenStore, DatabaseStrategy, PostgresStore, RedisStore, RedisStrategy, RevocationStore,
    SqliteStore, TokenStrategy, User, UserStore, UsersBuilder,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

use super::TempDir;

/// The database FastAPI Users 15 made (`make_fixtures.py`).
pub const FASTAPI_USERS_DB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fastapi_users/users.sqlite"
);

/// `#[tokio::test]` entry points `sqlite::<name>` and `postgres::<name>` for each
/// `async fn <name>(kind: StoreKind)` of the suite, with the `#[tokio::test(…)]` arguments given in
/// parentheses after the name. A suite's function left out of the list is dead code, which
/// `clippy -D warnings` refuses.
#[allow(unused_macros)] // each suite uses one of the two
macro_rules! on_both_stores {
    ($($name:ident $(($($tokio:tt)*))?),* $(,)?) => {
        /// The suite on a fresh SQLite database per test.
        mod sqlite {
            $(
                #[tokio::test$(($($tokio)*))?]
                async fn $name() {
                    super::$name($crate::support::users_db::StoreKind::Sqlite).await;
                }
            )*
        }

        /// The suite on the PostgreSQL of `DATABASE_URL`, in a schema per test.
        mod postgres {
            $(
                #[tokio::test$(($($tokio)*))?]
                #[ignore = "needs DATABASE_URL"]
                async fn $name() {
                    super::$name($crate::support::users_db::StoreKind::postgres()).await;
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_stores;

/// `#[tokio::test]` entry points `<store>::<strategy>::<name>` for each
/// `async fn <name>(kind: Setup)` of the contract suite: the stores `sqlite` and `postgres` (as
/// [`on_both_stores!`]) times the token strategies of both login backends, `jwt` (stateless),
/// `jwt_revocable` (revocation in the same database), `database` (the `accesstoken` table of the
/// same database) and `redis` (the Redis of `REDIS_URL`). The PostgreSQL and Redis entries are
/// `#[ignore = "needs …"]`. The tests under `all` run on every strategy; those under `jwt_only`,
/// which can only mean something when the access token is a JWT, on `jwt` and `jwt_revocable`
/// only. The
/// `#[tokio::test(…)]` arguments go in parentheses after a name.
///
/// The last argument, `postgres: [strategy, …]`, lists the strategies PostgreSQL runs (all four
/// unless the suite leaves some out to keep its time down).
#[allow(unused_macros)] // each suite uses one of the two
macro_rules! on_each_store_and_strategy {
    (all: $all:tt, jwt_only: $jwt:tt, postgres: [$($pg_strategy:ident),* $(,)?] $(,)?) => {
        /// The suite on a fresh SQLite database per test.
        mod sqlite {
            /// Stateless JWTs on both backends (FastAPI Users' default).
            mod jwt {
                $crate::support::users_db::strategy_entries! { sqlite jwt []: $all $jwt }
            }
            /// JWTs revocable through the same SQLite database.
            mod jwt_revocable {
                $crate::support::users_db::strategy_entries! { sqlite jwt_revocable []: $all $jwt }
            }
            /// Opaque tokens in the database's `accesstoken` table.
            mod database {
                $crate::support::users_db::strategy_entries! { sqlite database []: $all }
            }
            /// Opaque tokens in the Redis of `REDIS_URL`.
            mod redis {
                $crate::support::users_db::strategy_entries! { sqlite redis [ignore = "needs REDIS_URL"]: $all }
            }
        }

        /// The suite on the PostgreSQL of `DATABASE_URL`, in a schema per test.
        mod postgres {
            $(
                $crate::support::users_db::postgres_strategy! { $pg_strategy: $all $jwt }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_each_store_and_strategy;

/// One strategy's module under `postgres`, for [`on_each_store_and_strategy!`].
#[allow(unused_macros)]
macro_rules! postgres_strategy {
    (jwt: $all:tt $jwt:tt) => {
        /// Stateless JWTs on both backends (FastAPI Users' default).
        mod jwt {
            $crate::support::users_db::strategy_entries! { postgres jwt [ignore = "needs DATABASE_URL"]: $all $jwt }
        }
    };
    (jwt_revocable: $all:tt $jwt:tt) => {
        /// JWTs revocable through the same PostgreSQL schema.
        mod jwt_revocable {
            $crate::support::users_db::strategy_entries! { postgres jwt_revocable [ignore = "needs DATABASE_URL"]: $all $jwt }
        }
    };
    (database: $all:tt $jwt:tt) => {
        /// Opaque tokens in the schema's `accesstoken` table.
        mod database {
            $crate::support::users_db::strategy_entries! { postgres database [ignore = "needs DATABASE_URL"]: $all }
        }
    };
    (redis: $all:tt $jwt:tt) => {
        /// Opaque tokens in the Redis of `REDIS_URL`.
        mod redis {
            $crate::support::users_db::strategy_entries! { postgres redis [ignore = "needs DATABASE_URL and REDIS_URL"]: $all }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use postgres_strategy;

/// The `#[tokio::test]` functions of one store and strategy, for
/// [`on_each_store_and_strategy!`]: each calls the suite's function of its name (two modules up)
/// with its [`Setup`]. The bracket after the strategy holds the entries' `ignore` attribute, if
/// their services need one.
#[allow(unused_macros)]
macro_rules! strategy_entries {
    ($store:ident $strategy:ident $ignore:tt: $list:tt $($more:tt)+) => {
        $crate::support::users_db::strategy_entries! { $store $strategy $ignore: $list }
        $crate::support::users_db::strategy_entries! { $store $strategy $ignore: $($more)+ }
    };
    ($store:ident $strategy:ident []: [$($name:ident $(($($tokio:tt)*))?),* $(,)?]) => {
        $(
            #[tokio::test$(($($tokio)*))?]
            async fn $name() {
                let setup =
                    $crate::support::users_db::Setup::new(stringify!($store), stringify!($strategy));
                super::super::$name(setup).await;
            }
        )*
    };
    ($store:ident $strategy:ident [$ignore:meta]: [$($name:ident $(($($tokio:tt)*))?),* $(,)?]) => {
        $(
            #[tokio::test$(($($tokio)*))?]
            #[$ignore]
            async fn $name() {
                let setup =
                    $crate::support::users_db::Setup::new(stringify!($store), stringify!($strategy));
                super::super::$name(setup).await;
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use strategy_entries;

/// Which database a test runs on.
#[derive(Clone, Debug)]
pub enum StoreKind {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema in the PostgreSQL at this `postgres://` URL.
    Postgres { url: String },
}

impl StoreKind {
    /// PostgreSQL at `DATABASE_URL`, for a test marked `#[ignore = "needs DATABASE_URL"]`; panics,
    /// naming the variable, when it is not a `postgres://` (or `postgresql://`) URL, so such a
    /// test run without its database fails instead of passing.
    pub fn postgres() -> Self {
        Self::Postgres {
            url: crate::support::postgres_url(),
        }
    }

    /// The store's type, for messages.
    pub fn store_name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SqliteStore",
            Self::Postgres { .. } => "PostgresStore",
        }
    }
}

/// The token strategy of both login backends (`/auth/jwt` and `/auth/cookie`) in a run of the
/// contract suite.
#[derive(Clone, Debug)]
pub enum TokenKind {
    /// Stateless JWTs: FastAPI Users' `JWTStrategy`, and `Users`' default.
    Jwt,
    /// JWTs with revocation kept in the users' own database (`UsersBuilder::revocation`).
    JwtRevocable,
    /// FastAPI Users' `DatabaseStrategy`: opaque tokens in the database's `accesstoken` table.
    Database,
    /// FastAPI Users' `RedisStrategy`: opaque tokens in the Redis at this URL.
    Redis { url: String },
}

impl TokenKind {
    /// The Redis strategy on `REDIS_URL`, for a test marked `#[ignore = "needs REDIS_URL"]`;
    /// panics, naming the variable, when it is unset.
    pub fn redis() -> Self {
        Self::Redis {
            url: crate::support::needs("REDIS_URL"),
        }
    }

    /// Whether the access tokens are JWTs (rather than opaque database or Redis tokens).
    pub fn is_jwt(&self) -> bool {
        matches!(self, Self::Jwt | Self::JwtRevocable)
    }

    /// `builder` with this strategy on both backends, kept in `db` (or in Redis).
    pub async fn configure(&self, db: &TestDb, builder: UsersBuilder) -> UsersBuilder {
        let strategy: Arc<dyn TokenStrategy> = match self {
            Self::Jwt => return builder,
            Self::JwtRevocable => return builder.revocation(db.revocations()),
            Self::Database => Arc::new(
                DatabaseStrategy::new(db.access_tokens())
                    .await
                    .expect("the accesstoken table"),
            ),
            Self::Redis { url } => {
                let redis = RedisStore::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("REDIS_URL={url}: {e}"));
                Arc::new(RedisStrategy::new(redis))
            }
        };
        builder
            .bearer_strategy(Arc::clone(&strategy))
            .cookie_strategy(strategy)
    }
}

/// What one run of a contract test is on: a database and a token strategy.
#[derive(Clone, Debug)]
pub struct Setup {
    pub store: StoreKind,
    pub tokens: TokenKind,
}

impl Setup {
    /// The store (`sqlite`, `postgres`) and strategy (`jwt`, `jwt_revocable`, `database`, `redis`)
    /// named by an entry point's modules; panics, naming the variable, when `DATABASE_URL` or
    /// `REDIS_URL` is missing for them (those entries are `#[ignore = "needs …"]`).
    pub fn new(store: &str, strategy: &str) -> Self {
        let store = match store {
            "sqlite" => StoreKind::Sqlite,
            "postgres" => StoreKind::postgres(),
            other => panic!("no store `{other}`"),
        };
        let tokens = match strategy {
            "jwt" => TokenKind::Jwt,
            "jwt_revocable" => TokenKind::JwtRevocable,
            "database" => TokenKind::Database,
            "redis" => TokenKind::redis(),
            other => panic!("no token strategy `{other}`"),
        };
        Self { store, tokens }
    }
}

/// A test's own database and its store; removed on drop (also when the test panics).
pub struct TestDb {
    pub store: Arc<dyn UserStore>,
    backend: Backend,
}

/// The store's concrete type (for the row counts) and what removes the database. Fields drop in
/// order: the store before its directory or schema.
enum Backend {
    Sqlite { store: SqliteStore, _dir: TempDir },
    Postgres { store: PostgresStore, _schema: PgSchema },
}

impl TestDb {
    /// A new, empty database, migrated.
    pub async fn empty(kind: &StoreKind) -> Self {
        match kind {
            StoreKind::Sqlite => Self::sqlite(TempDir::new()).await,
            StoreKind::Postgres { url } => {
                let schema = PgSchema::create(url).await;
                let store = schema.store().await;
                Self {
                    store: Arc::new(store.clone()),
                    backend: Backend::Postgres {
                        store,
                        _schema: schema,
                    },
                }
            }
        }
    }

    /// The users of the database FastAPI Users made: a copy of the file on SQLite; on PostgreSQL,
    /// its rows (ids, emails, hashes and flags as they are) inserted into a fresh schema.
    pub async fn fastapi_users(kind: &StoreKind) -> Self {
        match kind {
            StoreKind::Sqlite => {
                let dir = TempDir::new();
                std::fs::copy(FASTAPI_USERS_DB, dir.0.join("users.db")).unwrap();
                Self::sqlite(dir).await
            }
            StoreKind::Postgres { .. } => {
                let db = Self::empty(kind).await;
                let users = fastapi_users_rows().await;
                assert!(users.len() >= 5, "the fixture's users: {users:?}");
                for user in users {
                    let created = db.store.create(user.clone()).await.unwrap();
                    assert_eq!(created, user, "PostgresStore::create keeps the row");
                    assert_eq!(
                        db.store.get(user.id).await.unwrap(),
                        Some(user),
                        "the fixture user reads back as it was"
                    );
                }
                db
            }
        }
    }

    async fn sqlite(dir: TempDir) -> Self {
        let store = SqliteStore::connect(&dir.db_url()).await.unwrap();
        Self {
            store: Arc::new(store.clone()),
            backend: Backend::Sqlite { store, _dir: dir },
        }
    }

    /// The same store as a JWT revocation store (its `token_denylist` and `token_not_before`).
    pub fn revocations(&self) -> Arc<dyn RevocationStore> {
        match &self.backend {
            Backend::Sqlite { store, .. } => Arc::new(store.clone()),
            Backend::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// A refresh-token store in the same database (its `refresh_family` and `refresh_token`
    /// tables, created here).
    pub async fn refresh_tokens(&self) -> Arc<dyn login_users::RefreshStore> {
        match &self.backend {
            Backend::Sqlite { store, .. } => {
                Arc::new(login_users::SqliteRefreshStore::new(store).await.unwrap())
            }
            Backend::Postgres { store, .. } => {
                Arc::new(login_users::PostgresRefreshStore::new(store).await.unwrap())
            }
        }
    }

    /// The same store as the database strategy's token store (its `accesstoken` table).
    pub fn access_tokens(&self) -> Arc<dyn AccessTokenStore> {
        match &self.backend {
            Backend::Sqlite { store, .. } => Arc::new(store.clone()),
            Backend::Postgres { store, .. } => Arc::new(store.clone()),
        }
    }

    /// `SELECT COUNT(*)` of the user table, bypassing the store's trait.
    pub async fn count_users(&self) -> i64 {
        match &self.backend {
            Backend::Sqlite { store, .. } => sqlx::query_scalar("SELECT COUNT(*) FROM user")
                .fetch_one(store.pool())
                .await
                .unwrap(),
            Backend::Postgres { store, .. } => sqlx::query_scalar("SELECT COUNT(*) FROM \"user\"")
                .fetch_one(store.pool())
                .await
                .unwrap(),
        }
    }
}

/// Every row of the FastAPI Users database, read with `SqliteStore` from a copy of it (the store
/// migrates what it opens, and the fixture stays untouched).
async fn fastapi_users_rows() -> Vec<User> {
    let dir = TempDir::new();
    std::fs::copy(FASTAPI_USERS_DB, dir.0.join("users.db")).unwrap();
    let sqlite = SqliteStore::connect(&dir.db_url()).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM user ORDER BY rowid")
        .fetch_all(sqlite.pool())
        .await
        .unwrap();
    let mut users = Vec::with_capacity(ids.len());
    for id in ids {
        let id = Uuid::parse_str(&id).unwrap();
        users.push(sqlite.get(id).await.unwrap().unwrap());
    }
    sqlite.pool().close().await;
    users
}

/// A schema `t_<uuid>` of one test, made through a plain pool on `DATABASE_URL` and dropped
/// (`CASCADE`) on drop, best-effort, panicking tests included.
pub struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    pub async fn create(url: &str) -> Self {
        let name = format!("t_{}", Uuid::new_v4().simple());
        let admin = PgPool::connect(url)
            .await
            .unwrap_or_else(|e| panic!("DATABASE_URL={url}: PostgreSQL does not answer: {e}"));
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        Self {
            url: url.to_owned(),
            name,
        }
    }

    /// A `PostgresStore` whose connections see this schema only (`search_path`), migrated.
    pub async fn store(&self) -> PostgresStore {
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", &self.name)]);
        let store = PostgresStore::connect_with(options, &self.url).await.unwrap();
        // The isolation the parallel tests rely on: nothing of theirs lands in another schema.
        let current: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(current.as_deref(), Some(self.name.as_str()), "the store's schema");
        store
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // `Drop` cannot await, and the test's runtime may be single-threaded: a thread of its own,
        // with its own runtime and connection. Never panics (that would abort an unwinding test).
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::query("SET lock_timeout = '10s'").execute(&mut conn).await?;
                sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok(())
            })
        })
        .join();
        let problem = match dropped {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the dropping thread panicked".to_owned(),
        };
        let _ = writeln!(
            std::io::stderr(),
            "warning: schema {} was not dropped: {problem}",
            self.name
        );
    }
}
