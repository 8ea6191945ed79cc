//! FastAPI Users' flow (register, login with bearer and cookie, profile, superusers, reset,
//! verify), served on SQLite with the wire behaviour of `docs/contract/users-http.md`.
//!
//! ```text
//! cargo run --release -p users-example                     # serves 127.0.0.1:8000, users.db
//! cargo run --release -p users-example -- create-user --email admin@example.com \
//!     --superuser --verified                              # asks for the password
//! ```
//! `PORT` sets the port, `DATABASE_URL` the store (`sqlite://users.db`, created if missing, or
//! `postgres://…`),
//! `SECRET` the HS256 secret (at least 32 bytes; unset: a random one, so tokens die with the
//! process), `COOKIE_NAME` the cookie (`__Host-fastapiusersauth` in production),
//! `HEADER_READ_TIMEOUT` and `IDLE_TIMEOUT` the connection timeouts (seconds; 10 and 60). Reset and
//! verify tokens are "mailed" to stdout. Without `--password`, `create-user` reads the password
//! from a prompt (no echo) or, when stdin is not a terminal, its first line.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use login_runtime::ConfigError;
use login_runtime::protected;
use login_users::{
    AccessTokenStore, DatabaseStrategy, PostgresRefreshStore, PostgresStore, REFRESH_TOKEN_LIFETIME,
    RedisRefreshStore, RedisStore, RedisStrategy, RefreshStore, RevocationStore, SqliteRefreshStore,
    SqliteStore, Throttle, TokenStrategy, User, UserHooks, UserStore, Users, method_not_allowed, not_found,
};
use serde_json::{Value, json};

/// The example's mail: one line per token on stdout.
pub struct StdoutMail;

impl UserHooks for StdoutMail {
    async fn on_after_register(&self, user: &User) {
        tracing::info!(user = %user.id, "user registered");
    }

    async fn on_after_forgot_password(&self, user: &User, token: &str) {
        println!("reset-password token for {}: {token}", user.email);
    }

    async fn on_after_request_verify(&self, user: &User, token: &str) {
        println!("verify token for {}: {token}", user.email);
    }
}

/// FastAPI Users' `current_active_user` on a route of the app's own.
#[protected(active)]
async fn authenticated_route(user: User) -> Json<Value> {
    Json(json!({ "message": format!("Hello {}!", user.email) }))
}

/// The whole app, for `main` and for the tests.
pub fn app(users: Users) -> Router {
    Router::new()
        .route("/authenticated-route", get(authenticated_route))
        .with_state(users.clone())
        .merge(users.router())
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async { method_not_allowed() })
}

/// The user system the environment describes, with the secret from `SECRET` (or a random one,
/// with a warning):
/// - `DATABASE_URL`: `sqlite://users.db` (the default, created if missing) or `postgres://…`,
///   migrated on start; it keeps the users, the database strategy's tokens and, without Redis,
///   the JWT revocations.
/// - `BEARER_STRATEGY`, `COOKIE_STRATEGY`: `jwt` (the default), `database` or `redis`.
/// - `JWT_REVOCATION`: `on` (the default) or `off` (FastAPI Users' behaviour: a JWT lives until
///   it expires).
/// - `REDIS_URL`: needed by the `redis` strategy; when set, JWT revocations are kept there.
/// - `TRUSTED_PROXIES`: how many proxies of yours in front append to `X-Forwarded-For` (default
///   0: the header is ignored, and the login throttle keys on the connection's peer address).
/// - `CSRF_TRUSTED_ORIGINS`: comma-separated origins (`https://app.example.com`) whose pages may
///   send cookie-authenticated, state-changing requests besides the server's own host.
/// - `JWT_PRIVATE_KEYS`: comma-separated PEM private key files (Ed25519, P-256, RSA of 2048
///   bits or more) instead of `SECRET`: the first signs, every one verifies, the public keys are
///   served at `/.well-known/jwks.json` (README, "Rotating keys").
/// - `COOKIE_NAME`: the cookie backend's cookie (default `fastapiusersauth`, FastAPI Users'
///   own); `__Host-fastapiusersauth` is the recommended setting in production (see SECURITY.md).
/// - `REFRESH_TOKENS`: `off` (the default, FastAPI Users' behaviour) or `on`: logins also answer
///   a refresh token, kept in Redis when `REDIS_URL` is set, else in the database; needs JWT
///   revocation and the JWT strategy on both backends. `REFRESH_TOKEN_LIFETIME`: a family's
///   absolute lifetime in seconds (default 30 days).
pub async fn users_from_env() -> Result<Users, ConfigError> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://users.db".into());
    let database;
    let (store, revocations, tokens): (
        Arc<dyn UserStore>,
        Arc<dyn RevocationStore>,
        Arc<dyn AccessTokenStore>,
    ) = if url.starts_with("sqlite:") {
        let store = Arc::new(SqliteStore::connect(&url).await?);
        database = Database::Sqlite((*store).clone());
        (store.clone(), store.clone(), store)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = Arc::new(PostgresStore::connect(&url).await?);
        database = Database::Postgres((*store).clone());
        (store.clone(), store.clone(), store)
    } else {
        return Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "the scheme `{}` is neither sqlite:// nor postgres://",
                url.split_once(':').map_or(url.as_str(), |(scheme, _)| scheme)
            ),
        ));
    };
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => Some(RedisStore::connect(&url).await?),
        Err(_) => None,
    };
    let mut builder = Users::builder(store).hooks(StdoutMail);
    if let Ok(hops) = std::env::var("TRUSTED_PROXIES") {
        let hops = hops.trim().parse::<usize>().map_err(|_| {
            ConfigError::new("TRUSTED_PROXIES", format!("`{hops}` is not a number of proxies"))
        })?;
        builder = builder.throttle(Throttle::default().trusted_proxies(hops));
    }
    for origin in std::env::var("CSRF_TRUSTED_ORIGINS")
        .unwrap_or_default()
        .split(',')
    {
        if !origin.trim().is_empty() {
            builder = builder.csrf_trusted_origin(origin.trim());
        }
    }
    if let Ok(name) = std::env::var("COOKIE_NAME") {
        builder = builder.cookie_name(name);
    }
    match env_choice("JWT_REVOCATION", &["on", "off"])?.as_str() {
        "off" => {}
        _ => {
            let store: Arc<dyn RevocationStore> = match &redis {
                Some(redis) => Arc::new(redis.clone()),
                None => revocations,
            };
            builder = builder.revocation(store);
        }
    }
    if env_choice("REFRESH_TOKENS", &["off", "on"])? == "on" {
        let lifetime = match std::env::var("REFRESH_TOKEN_LIFETIME") {
            Ok(secs) => std::time::Duration::from_secs(secs.trim().parse().map_err(|_| {
                ConfigError::new(
                    "REFRESH_TOKEN_LIFETIME",
                    format!("`{secs}` is not a number of seconds"),
                )
            })?),
            Err(_) => REFRESH_TOKEN_LIFETIME,
        };
        let store: Arc<dyn RefreshStore> = match (&redis, &database) {
            (Some(redis), _) => Arc::new(RedisRefreshStore::new(redis)),
            (None, Database::Sqlite(db)) => Arc::new(SqliteRefreshStore::new(db).await?),
            (None, Database::Postgres(db)) => Arc::new(PostgresRefreshStore::new(db).await?),
        };
        builder = builder.refresh_tokens(store, lifetime);
    }
    for var in ["BEARER_STRATEGY", "COOKIE_STRATEGY"] {
        let strategy: Arc<dyn TokenStrategy> = match env_choice(var, &["jwt", "database", "redis"])?.as_str()
        {
            "database" => {
                let strategy = DatabaseStrategy::new(tokens.clone()).await.map_err(|e| {
                    ConfigError::new(
                        "DATABASE_URL",
                        format!("cannot create the accesstoken table: {e}"),
                    )
                })?;
                Arc::new(strategy)
            }
            "redis" => {
                let redis = redis.clone().ok_or_else(|| {
                    ConfigError::new(
                        "REDIS_URL",
                        format!("{var}=redis needs REDIS_URL, e.g. redis://127.0.0.1:6379"),
                    )
                })?;
                Arc::new(RedisStrategy::new(redis))
            }
            _ => continue,
        };
        builder = if var == "BEARER_STRATEGY" {
            builder.bearer_strategy(strategy)
        } else {
            builder.cookie_strategy(strategy)
        };
    }
    let built = if std::env::var_os("JWT_PRIVATE_KEYS").is_some() {
        // Asymmetric access tokens with `kid`, served at /.well-known/jwks.json.
        builder.private_keys_from_env("JWT_PRIVATE_KEYS").build()
    } else if std::env::var_os("SECRET").is_some() {
        builder.secret_from_env("SECRET").build()
    } else {
        tracing::warn!("SECRET is not set: using a random secret, so tokens die with this process");
        builder.secret(rand::random::<[u8; 32]>()).build()
    };
    // Name the variable the operator set rather than the builder's method.
    built.map_err(|e| match e.setting() {
        "csrf_trusted_origin" => ConfigError::new("CSRF_TRUSTED_ORIGINS", e.to_string()),
        "cookie" => ConfigError::new("COOKIE_NAME", e.to_string()),
        "refresh_tokens" => ConfigError::new("REFRESH_TOKENS", e.to_string()),
        "refresh_token_lifetime" => ConfigError::new("REFRESH_TOKEN_LIFETIME", e.to_string()),
        "private_keys" => ConfigError::new("JWT_PRIVATE_KEYS", e.to_string()),
        _ => e,
    })
}

/// The users' database, for the stores that live beside the users.
enum Database {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// The value of `var`, one of `choices` (the first when unset); the error names `var`.
fn env_choice(var: &'static str, choices: &[&str]) -> Result<String, ConfigError> {
    let value = std::env::var(var).unwrap_or_else(|_| choices[0].to_owned());
    if choices.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            var,
            format!("`{value}` is not one of {}", choices.join(", ")),
        ))
    }
}
