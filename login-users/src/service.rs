//! [`Users`]: the store, the hooks, the hasher and the token keys of one user system, with the
//! operations of FastAPI Users' `BaseUserManager`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use jsonwebtoken::Validation;
use uuid::Uuid;

use crate::claims::{self, AUTH_AUDIENCE, RESET_AUDIENCE, VERIFY_AUDIENCE};
use crate::email::normalize_email;
use crate::hooks::{DefaultHooks, DynHooks, InvalidPassword, UserHooks};
use crate::model::{User, UserPatch};
use crate::password::{Hasher, Verified};
use crate::refresh::{RefreshSettings, RefreshStore};
use crate::responses;
use crate::store::revocation::RevocationStore;
use crate::store::{StoreError, UserStore, email_key};
use crate::strategy::{Backends, JwtStrategy, TokenStrategy};
use crate::throttle::Throttle;
use login_runtime::BoxError;
use login_runtime::LoginManager;
use login_runtime::Transport;
use login_runtime::{ConfigError, LoginManagerBuilder};

/// The cookie of the cookie backend, FastAPI Users' name (the default; see
/// [`UsersBuilder::cookie_name`]).
pub const COOKIE_NAME: &str = "fastapiusersauth";
/// The lifetime of access, reset and verify tokens, and of the cookie: one hour.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Why an operation of [`Users`] failed. The routes turn each into FastAPI Users' error code.
#[derive(Debug)]
#[non_exhaustive]
pub enum UserError {
    /// The email is in use (compared case-insensitively).
    AlreadyExists,
    /// The password policy refused the password.
    InvalidPassword(InvalidPassword),
    /// The email is not a valid address.
    InvalidEmail(String),
    /// A reset or verify token that is bad, expired, of another kind, used, or for a user who is
    /// gone (or, for reset, inactive).
    BadToken,
    /// The user is verified already.
    AlreadyVerified,
    /// The operation would leave no active superuser (demoting, deactivating or deleting the
    /// last one).
    LastSuperuser,
    /// The store or the hasher failed: 500.
    Internal(BoxError),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyExists => f.write_str("a user with this email already exists"),
            Self::InvalidPassword(e) => write!(f, "invalid password: {e}"),
            Self::InvalidEmail(reason) => write!(f, "invalid email: {reason}"),
            Self::BadToken => f.write_str("bad token"),
            Self::AlreadyVerified => f.write_str("the user is already verified"),
            Self::LastSuperuser => f.write_str("the last active superuser cannot be removed"),
            Self::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for UserError {}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => Self::AlreadyExists,
            StoreError::LastSuperuser => Self::LastSuperuser,
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// A user to create: what `POST /auth/register` (flags ignored) and `create-user` take.
#[derive(Clone)]
pub struct CreateUser {
    /// The email; validated and normalised (domain in lower case).
    pub email: String,
    /// The password; checked by the hooks' policy, then hashed.
    pub password: String,
    /// Default `true`.
    pub is_active: bool,
    /// Default `false`.
    pub is_superuser: bool,
    /// Default `false`.
    pub is_verified: bool,
}

impl CreateUser {
    /// An active, ordinary, unverified user.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
        }
    }
}

impl fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A partial update (FastAPI Users' `UserUpdate`); `None` leaves a field alone.
#[derive(Clone, Default)]
pub struct UpdateUser {
    /// New password (checked by the policy, then hashed).
    pub password: Option<String>,
    /// New email; a change sets `is_verified` to false.
    pub email: Option<String>,
    /// Only applied by superusers (`safe = false`).
    pub is_active: Option<bool>,
    /// Only applied by superusers.
    pub is_superuser: Option<bool>,
    /// Only applied by superusers.
    pub is_verified: Option<bool>,
}

impl fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateUser")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// The user system: store, hooks, password hasher, and the keys of the three token kinds.
/// Cheap to clone; use it (or a state it can be taken from with `FromRef`) as the router state.
///
/// ```
/// use std::sync::Arc;
/// use login_users::{MemoryStore, Users};
///
/// let users = Users::builder(Arc::new(MemoryStore::default()))
///     .secret("a secret of at least thirty-two bytes!")
///     .build()?;
/// let app: axum::Router = users.router();
/// # Ok::<(), login_runtime::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Users {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn UserStore>,
    backends: Arc<Backends>,
    /// The JWT revocation store, when revocation is on: [`Users::access_token`] reads the user's
    /// session generation from it.
    revocations: Option<Arc<dyn RevocationStore>>,
    hooks: Box<dyn DynHooks>,
    hasher: Hasher,
    throttle: Throttle,
    manager: LoginManager,
    reset: Validation,
    verify: Validation,
    lifetime: u64,
    /// Refresh tokens, when on.
    refresh: Option<RefreshSettings>,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Users")
            .field("manager", &self.inner.manager)
            .field("lifetime", &self.inner.lifetime)
            .finish_non_exhaustive()
    }
}

impl FromRef<Users> for LoginManager {
    fn from_ref(users: &Users) -> Self {
        users.inner.manager.clone()
    }
}

/// Builds [`Users`]; the secret is required.
#[must_use]
pub struct UsersBuilder {
    store: Arc<dyn UserStore>,
    revocations: Option<Arc<dyn RevocationStore>>,
    bearer: Option<Arc<dyn TokenStrategy>>,
    cookie: Option<Arc<dyn TokenStrategy>>,
    hooks: Box<dyn DynHooks>,
    hasher: Hasher,
    throttle: Throttle,
    login: LoginManagerBuilder,
    lifetime: Duration,
    cookie_name: Option<String>,
    refresh: Option<RefreshSettings>,
}

impl fmt::Debug for UsersBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsersBuilder").finish_non_exhaustive()
    }
}

impl UsersBuilder {
    /// The HS256 secret of all three token kinds (at least 32 bytes): FastAPI Users' `SECRET`.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.login = self.login.secret(secret);
        self
    }

    /// The secret, read from this environment variable at [`build`](Self::build).
    pub fn secret_from_env(mut self, var: impl Into<String>) -> Self {
        self.login = self.login.secret_from_env(var);
        self
    }

    /// Signs access tokens with a [`KeySet`](login_runtime::KeySet) instead of the HMAC secret: the first
    /// key signs and writes its `kid`, every key verifies, `GET /.well-known/jwks.json` serves
    /// their public halves. Reset and verify tokens are signed with it too.
    pub fn key_set(mut self, keys: login_runtime::KeySet) -> Self {
        self.login = self.login.key_set(keys);
        self
    }

    /// A key set read at [`build`](Self::build) from the comma-separated PEM files this
    /// environment variable lists (`JWT_PRIVATE_KEYS=new.pem,old.pem`); see
    /// [`LoginManagerBuilder::private_keys_from_env`](login_runtime::LoginManagerBuilder::private_keys_from_env).
    pub fn private_keys_from_env(mut self, var: impl Into<String>) -> Self {
        self.login = self.login.private_keys_from_env(var);
        self
    }

    /// Turns JWT revocation on, kept in `store` (share it between instances): a logout kills its
    /// token, a password change or reset kills every token issued before it. Costs one lookup in
    /// `store` per authenticated request; off, tokens live until they expire, as in FastAPI Users.
    pub fn revocation(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// The bearer backend's (`/auth/jwt`) strategy instead of JWT: a database or Redis strategy.
    pub fn bearer_strategy(mut self, strategy: Arc<dyn TokenStrategy>) -> Self {
        self.bearer = Some(strategy);
        self
    }

    /// The cookie backend's (`/auth/cookie`) strategy instead of JWT.
    pub fn cookie_strategy(mut self, strategy: Arc<dyn TokenStrategy>) -> Self {
        self.cookie = Some(strategy);
        self
    }

    /// Your hooks instead of the defaults.
    pub fn hooks(mut self, hooks: impl UserHooks) -> Self {
        self.hooks = Box::new(hooks);
        self
    }

    /// The hasher (to bound concurrent hashing differently).
    pub fn hasher(mut self, hasher: Hasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// The throttling of the login, forgot-password and request-verify-token routes (default
    /// [`Throttle::default`]: on; [`Throttle::disabled`] turns it off). See
    /// [`throttle`](super::throttle) for what is counted.
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// The lifetime of tokens and the cookie (default one hour).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The cookie backend's cookie name instead of [`COOKIE_NAME`] (`fastapiusersauth`, FastAPI
    /// Users' own, kept as the default for wire compatibility).
    ///
    /// In production prefer a `__Host-` name (`__Host-fastapiusersauth`): browsers then keep the
    /// cookie only when it is `Secure`, has `Path=/` and no `Domain`, so a sibling subdomain
    /// cannot plant one beside it (cookie tossing). A front end that reads the cookie by name
    /// must use the same name. [`build`](Self::build) refuses a `__Host-` or `__Secure-` name with
    /// [`secure_cookies(false)`](Self::secure_cookies) (setting `secure_cookies`), and an invalid
    /// name (setting `cookie`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use login_users::{MemoryStore, Users};
    ///
    /// let users = Users::builder(Arc::new(MemoryStore::default()))
    ///     .secret([7u8; 32])
    ///     .cookie_name("__Host-fastapiusersauth")
    ///     .build()?;
    /// assert_eq!(users.manager().cookie_name(), Some("__Host-fastapiusersauth"));
    /// # Ok::<(), login_runtime::ConfigError>(())
    /// ```
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// Whether the cookie carries `Secure` (default true; browsers keep Secure cookies on
    /// `http://localhost` too). Turn off only for plain-http development on other hosts.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.login = self.login.secure_cookies(secure);
        self
    }

    /// An origin whose pages may send cookie-authenticated, state-changing requests (and the
    /// cookie login) besides the server's own host; see
    /// [`LoginManagerBuilder::csrf_trusted_origin`](login_runtime::LoginManagerBuilder::csrf_trusted_origin).
    pub fn csrf_trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.login = self.login.csrf_trusted_origin(origin);
        self
    }

    /// Whether cookie-authenticated, state-changing requests from other sites are refused
    /// (default true); see [`LoginManager::csrf_allows`](login_runtime::LoginManager::csrf_allows).
    pub fn csrf_check(mut self, on: bool) -> Self {
        self.login = self.login.csrf_check(on);
        self
    }

    /// Turns refresh tokens on (off by default: FastAPI Users' wire behaviour), kept in `store`
    /// (share it between instances); a family lives `lifetime` from its login (default
    /// [`REFRESH_TOKEN_LIFETIME`](super::REFRESH_TOKEN_LIFETIME), 30 days). Logins then answer
    /// with a refresh token too, and `POST /auth/jwt/refresh` and `/auth/cookie/refresh` are
    /// served; see [`refresh`](super::refresh) for rotation and reuse detection. Needs JWT
    /// [`revocation`](Self::revocation) and the JWT strategy on both backends:
    /// [`build`](Self::build) names the setting `refresh_tokens` otherwise (and
    /// `refresh_token_lifetime` for a lifetime of zero or over
    /// [`MAX_REFRESH_TOKEN_LIFETIME`](super::MAX_REFRESH_TOKEN_LIFETIME)).
    pub fn refresh_tokens(mut self, store: Arc<dyn RefreshStore>, lifetime: Duration) -> Self {
        self.refresh = Some(RefreshSettings {
            store,
            lifetime: lifetime.as_secs(),
        });
        self
    }

    /// Checks the settings; the error names the one that is wrong.
    pub fn build(self) -> Result<Users, ConfigError> {
        if let Some(refresh) = &self.refresh {
            super::refresh::check_settings(
                refresh,
                self.revocations.is_some(),
                self.bearer.is_none() && self.cookie.is_none(),
            )?;
        }
        let jwt: Arc<dyn TokenStrategy> = Arc::new(match &self.revocations {
            Some(store) => JwtStrategy::revocable(store.clone()),
            None => JwtStrategy::stateless(),
        });
        // Plain JWTs on both backends need no reader: the manager's own check is the whole story,
        // with nothing boxed or looked up per request.
        let plain = self.revocations.is_none() && self.bearer.is_none() && self.cookie.is_none();
        let backends = Arc::new(Backends {
            bearer: self.bearer.unwrap_or_else(|| jwt.clone()),
            cookie: self.cookie.unwrap_or(jwt),
        });
        let mut login = self.login;
        if !plain {
            login = login.token_reader(backends.clone());
        }
        let manager = login
            .token_url("/auth/jwt/login")
            .cookie(self.cookie_name.as_deref().unwrap_or(COOKIE_NAME))
            .audience(AUTH_AUDIENCE)
            .expiry(self.lifetime)
            .on_unauthenticated(responses::unauthorized)
            .on_forbidden(responses::forbidden)
            .build()?;
        Ok(Users {
            inner: Arc::new(Inner {
                store: self.store,
                backends,
                revocations: self.revocations,
                hooks: self.hooks,
                hasher: self.hasher,
                throttle: self.throttle,
                reset: manager.validation_for(RESET_AUDIENCE),
                verify: manager.validation_for(VERIFY_AUDIENCE),
                manager,
                lifetime: self.lifetime.as_secs(),
                refresh: self.refresh,
            }),
        })
    }
}

impl Users {
    /// A builder over this store, with the default hooks and hasher.
    pub fn builder(store: Arc<dyn UserStore>) -> UsersBuilder {
        UsersBuilder {
            store,
            revocations: None,
            bearer: None,
            cookie: None,
            hooks: Box::new(DefaultHooks),
            hasher: Hasher::default(),
            throttle: Throttle::default(),
            login: LoginManager::builder(),
            lifetime: TOKEN_LIFETIME,
            cookie_name: None,
            refresh: None,
        }
    }

    pub(crate) fn refresh_settings(&self) -> Option<&RefreshSettings> {
        self.inner.refresh.as_ref()
    }

    pub(crate) fn revocations(&self) -> Option<&Arc<dyn RevocationStore>> {
        self.inner.revocations.as_ref()
    }

    /// The user's session generation on the backend that reads `from`.
    pub(crate) async fn session_generation(
        &self,
        from: Transport,
        user: Uuid,
    ) -> Result<Option<u64>, StoreError> {
        self.inner.backends.of(from).generation(user).await
    }

    /// The access-token manager (audience `fastapi-users:auth`, bearer header and cookie).
    pub fn manager(&self) -> &LoginManager {
        &self.inner.manager
    }

    /// The store.
    pub fn store(&self) -> &dyn UserStore {
        self.inner.store.as_ref()
    }

    /// The throttling policy of the routes.
    pub fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }

    pub(crate) fn hooks(&self) -> &dyn DynHooks {
        self.inner.hooks.as_ref()
    }

    /// The user with this id.
    pub async fn get(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.inner.store.get(id).await
    }

    /// Creates a user: validates the email and password, refuses a taken email, hashes, then calls
    /// `on_after_register`.
    pub async fn create(&self, new: CreateUser) -> Result<User, UserError> {
        let email = normalize_email(&new.email).map_err(UserError::InvalidEmail)?;
        self.hooks()
            .validate_password(&new.password, &email)
            .await
            .map_err(UserError::InvalidPassword)?;
        if self.inner.store.get_by_email(&email).await?.is_some() {
            return Err(UserError::AlreadyExists);
        }
        let hashed = self
            .inner
            .hasher
            .hash(&new.password)
            .await
            .map_err(UserError::Internal)?;
        let mut row = User::new(email, hashed);
        row.is_active = new.is_active;
        row.is_superuser = new.is_superuser;
        row.is_verified = new.is_verified;
        // The store's unique index decides between concurrent registrations of one email.
        let user = self.inner.store.create(row).await?;
        self.hooks().on_after_register(&user).await;
        Ok(user)
    }

    /// The user these credentials belong to, or `None`; active or not (the login routes refuse
    /// inactive users with the same answer). An unknown email costs the same hashing work as a
    /// wrong password. A right password of an active user stored as bcrypt or with other argon2
    /// parameters is re-hashed with ours. Not throttled: the login routes are.
    ///
    /// The email is canonicalised first ([`normalize_email`]); a string that is no address (a NUL
    /// byte, a control character) matches no user, with the same hashing work.
    ///
    /// While the store holds hashes of other kinds (users migrated from FastAPI Users), every
    /// outcome the routes answer as a failure (unknown email, wrong password, inactive user) is
    /// returned no sooner than the most expensive of those kinds takes to verify, so that timing
    /// does not tell which accounts exist; see [`password`](super::password). Successes are
    /// not held back.
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<Option<User>, UserError> {
        let user = self.find_by_login(email).await?;
        self.check_login(user, password).await
    }

    /// Logs in through the backend that reads `from`: the active user these credentials belong
    /// to and a new token of that backend's strategy, or `None` (unknown email, wrong password,
    /// inactive user), with [`authenticate`](Self::authenticate)'s costs and timing. Not
    /// throttled: the login routes are.
    ///
    /// The token belongs to the session generation read *before* the password is checked, so a
    /// login racing a password change, a reset or a deactivation keeps no session: if the change
    /// came first, the password is checked against the new row; if it came after, the token is of
    /// the old generation and refused from the change's answer on.
    pub async fn log_in(
        &self,
        from: Transport,
        email: &str,
        password: &str,
    ) -> Result<Option<(User, String)>, UserError> {
        let strategy = self.inner.backends.of(from);
        let (user, generation) = match self.find_by_login(email).await? {
            Some(found) => {
                let generation = strategy.generation(found.id).await?;
                // The row as it is now that the generation is read (a stateless strategy needs
                // no re-read).
                let user = match generation {
                    Some(_) => self.inner.store.get(found.id).await?,
                    None => Some(found),
                };
                (user, generation)
            }
            None => (None, None),
        };
        let Some(user) = self.check_login(user, password).await? else {
            return Ok(None);
        };
        if !user.is_active {
            return Ok(None);
        }
        let token = strategy
            .write_token(&self.inner.manager, &user, generation)
            .await?;
        Ok(token.map(|token| (user, token)))
    }

    /// The user a login name (an email in any spelling) belongs to; `None` for one that is no
    /// address (a NUL byte, a control character), which no user can have.
    async fn find_by_login(&self, email: &str) -> Result<Option<User>, UserError> {
        match normalize_email(email) {
            Ok(email) => Ok(self.inner.store.get_by_email(&email).await?),
            Err(_) => Ok(None),
        }
    }

    /// `user` (`None`: no such user) if `password` is theirs, active or not, re-hashing an
    /// outdated hash of an active user; failures are held back as
    /// [`authenticate`](Self::authenticate) says.
    async fn check_login(&self, user: Option<User>, password: &str) -> Result<Option<User>, UserError> {
        let stored = user.as_ref().map(|u| u.hashed_password.as_str());
        let store = self.inner.store.as_ref();
        let (verified, hold) = self
            .inner
            .hasher
            .verify_login(|| store.hash_census(), password, stored)
            .await
            .map_err(UserError::Internal)?;
        let Some(mut user) = user else {
            hold.wait().await;
            return Ok(None);
        };
        match verified {
            Verified::No => {
                hold.wait().await;
                Ok(None)
            }
            // Refused like a wrong password, and as late. No re-hash: the extra hashing would
            // tell that the password was right.
            _ if !user.is_active => {
                hold.wait().await;
                Ok(Some(user))
            }
            Verified::Yes => Ok(Some(user)),
            Verified::Outdated => {
                let patch = UserPatch {
                    hashed_password: Some(
                        self.inner
                            .hasher
                            .hash(password)
                            .await
                            .map_err(UserError::Internal)?,
                    ),
                    ..UserPatch::default()
                };
                match self.inner.store.update(user.id, &patch).await {
                    Ok(Some(updated)) => {
                        self.inner.hasher.upgraded(&user.hashed_password);
                        user = updated;
                    }
                    Ok(None) => return Ok(None),
                    Err(error) => tracing::warn!(%error, "storing an upgraded password hash failed"),
                }
                Ok(Some(user))
            }
        }
    }

    /// Applies an update. With `safe` (a user editing themselves) the flags are ignored. A new
    /// password is checked by the policy; a new email must be free and clears `is_verified`
    /// (unless only its case changed).
    pub async fn update(&self, user: &User, update: UpdateUser, safe: bool) -> Result<User, UserError> {
        let (updated, fields) = self.apply(user, update, safe).await?;
        if !fields.is_empty() {
            self.hooks().on_after_update(&updated, &fields).await;
        }
        Ok(updated)
    }

    /// [`update`](Self::update) without the hook (FastAPI Users' `_update`); the changed fields.
    async fn apply(
        &self,
        user: &User,
        update: UpdateUser,
        safe: bool,
    ) -> Result<(User, Vec<&'static str>), UserError> {
        let mut patch = UserPatch::default();
        let mut fields = Vec::new();
        if let Some(password) = &update.password {
            let email = update.email.as_deref().unwrap_or(&user.email);
            self.hooks()
                .validate_password(password, email)
                .await
                .map_err(UserError::InvalidPassword)?;
            patch.hashed_password = Some(
                self.inner
                    .hasher
                    .hash(password)
                    .await
                    .map_err(UserError::Internal)?,
            );
            fields.push("password");
        }
        if let Some(email) = &update.email {
            let email = normalize_email(email).map_err(UserError::InvalidEmail)?;
            if email != user.email {
                if let Some(other) = self.inner.store.get_by_email(&email).await?
                    && other.id != user.id
                {
                    return Err(UserError::AlreadyExists);
                }
                // A change of case only is the same mailbox: it stays verified.
                if email_key(&email) != email_key(&user.email) {
                    patch.is_verified = Some(false);
                }
                patch.email = Some(email);
                fields.push("email");
            }
        }
        if !safe {
            for (value, slot, name) in [
                (update.is_active, &mut patch.is_active, "is_active"),
                (update.is_superuser, &mut patch.is_superuser, "is_superuser"),
                (update.is_verified, &mut patch.is_verified, "is_verified"),
            ] {
                if let Some(value) = value {
                    *slot = Some(value);
                    fields.push(name);
                }
            }
        }
        if patch.is_empty() {
            return Ok((user.clone(), fields));
        }
        // Never leaves the users without an active superuser (`UserError::LastSuperuser`).
        let updated = self
            .inner
            .store
            .update_unless_last_superuser(user.id, &patch)
            .await?
            .ok_or_else(|| UserError::Internal("the user was deleted during the update".into()))?;
        // A new password (a change or a reset) and a deactivation end every session there was.
        if patch.hashed_password.is_some() || patch.is_active == Some(false) {
            self.end_sessions(&updated).await?;
        }
        Ok((updated, fields))
    }

    /// Ends every session of `user` on both backends, at once (see [`TokenStrategy::destroy_all`]).
    pub async fn end_sessions(&self, user: &User) -> Result<(), UserError> {
        let Backends { bearer, cookie } = self.inner.backends.as_ref();
        bearer.destroy_all(user).await?;
        if !Arc::ptr_eq(bearer, cookie) {
            cookie.destroy_all(user).await?;
        }
        Ok(())
    }

    /// Deletes a user, with the delete hooks around it; [`UserError::LastSuperuser`] (after
    /// `on_before_delete`, atomically with the delete) for the last active superuser.
    pub async fn delete(&self, user: &User) -> Result<(), UserError> {
        self.hooks().on_before_delete(user).await;
        self.inner.store.delete_unless_last_superuser(user.id).await?;
        self.hooks().on_after_delete(user).await;
        Ok(())
    }

    /// A new token for `user` from the strategy of the backend that reads `from` (the bearer
    /// backend for the header, the cookie backend for the cookie), in the user's current session
    /// generation. A login should use [`log_in`](Self::log_in), which reads the generation before
    /// it checks the password.
    pub async fn write_token(&self, from: Transport, user: &User) -> Result<String, UserError> {
        let strategy = self.inner.backends.of(from);
        // Only a concurrent end of the user's sessions makes a write fail; then the new
        // generation is read and the token is written in it.
        for _ in 0..3 {
            let generation = strategy.generation(user.id).await?;
            if let Some(token) = strategy
                .write_token(&self.inner.manager, user, generation)
                .await?
            {
                return Ok(token);
            }
        }
        Err(UserError::Internal(
            "the user's sessions kept being ended while a token was written".into(),
        ))
    }

    /// Logs out `token`, presented through `from`, if it belongs to `user`: a database or Redis
    /// token is deleted, a JWT deny-listed (with revocation on; without, a no-op, as in FastAPI
    /// Users).
    pub async fn logout(&self, from: Transport, token: &str, user: &User) -> Result<(), UserError> {
        let strategy = self.inner.backends.of(from);
        let claims = strategy.read_token(&self.inner.manager, token).await?;
        if claims.is_some_and(|c| c.sub == user.id.to_string()) {
            strategy.destroy_token(&self.inner.manager, token).await?;
        }
        Ok(())
    }

    /// A JWT access token for this user, whatever the backends' strategies: FastAPI Users' claims
    /// (`sub`, `aud: ["fastapi-users:auth"]`, `exp`) with `iat`, `jti` and, when revocation is on,
    /// the user's current session generation.
    pub async fn access_token(&self, user: &User) -> Result<String, UserError> {
        let generation = match &self.inner.revocations {
            Some(revocations) => Some(revocations.generation(user.id).await?),
            None => None,
        };
        claims::access_token(&self.inner.manager, user, generation)
            .map_err(|e| UserError::Internal(Box::new(e)))
    }

    fn sign(&self, claims: &impl serde::Serialize) -> Result<String, UserError> {
        self.inner
            .manager
            .encode_claims(claims)
            .map_err(|e| UserError::Internal(Box::new(e)))
    }

    /// Starts a password reset: for an existing, active user, makes a reset token and hands it to
    /// `on_after_forgot_password`. Says nothing about whether the email is known; an unknown
    /// email costs the same hashing work.
    pub async fn forgot_password(&self, email: &str) -> Result<(), UserError> {
        let user = self.inner.store.get_by_email(email).await?;
        let Some(user) = user.filter(|u| u.is_active) else {
            self.inner
                .hasher
                .verify_nothing(email)
                .await
                .map_err(UserError::Internal)?;
            return Ok(());
        };
        let fingerprint = self
            .inner
            .hasher
            .hash(&user.hashed_password)
            .await
            .map_err(UserError::Internal)?;
        let claims = claims::ResetOut {
            sub: user.id.to_string(),
            password_fgpt: &fingerprint,
            email: &user.email,
            aud: RESET_AUDIENCE,
            exp: claims::expires(self.inner.lifetime),
        };
        let token = self.sign(&claims)?;
        self.hooks().on_after_forgot_password(&user, &token).await;
        Ok(())
    }

    /// Sets a new password with a reset token. The token stops working once the password has
    /// changed: its fingerprint is of the old hash.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<User, UserError> {
        let claims: claims::ResetIn = self
            .inner
            .manager
            .decode_with(token, &self.inner.reset)
            .map_err(|_| UserError::BadToken)?;
        let id = claims::subject_id(&claims.sub).map_err(|_| UserError::BadToken)?;
        let user = self.inner.store.get(id).await?.ok_or(UserError::BadToken)?;
        let fingerprint_ok = self
            .inner
            .hasher
            .verify(&user.hashed_password, &claims.password_fgpt)
            .await
            .map_err(UserError::Internal)?
            .is_ok();
        // Ours name the address they were mailed to: an email change ends them. FastAPI Users'
        // name none.
        let same_address = claims
            .email
            .as_deref()
            .is_none_or(|email| email_key(email) == email_key(&user.email));
        if !fingerprint_ok || !user.is_active || !same_address {
            return Err(UserError::BadToken);
        }
        let update = UpdateUser {
            password: Some(password.to_owned()),
            ..UpdateUser::default()
        };
        let (user, _) = self.apply(&user, update, true).await?;
        self.hooks().on_after_reset_password(&user).await;
        Ok(user)
    }

    /// Starts an email verification: for an existing, active, unverified user, makes a verify
    /// token and hands it to `on_after_request_verify`.
    pub async fn request_verify(&self, email: &str) -> Result<(), UserError> {
        let user = self.inner.store.get_by_email(email).await?;
        let Some(user) = user.filter(|u| u.is_active && !u.is_verified) else {
            return Ok(());
        };
        let claims = claims::VerifyOut {
            sub: user.id.to_string(),
            email: &user.email,
            aud: VERIFY_AUDIENCE,
            exp: claims::expires(self.inner.lifetime),
        };
        let token = self.sign(&claims)?;
        self.hooks().on_after_request_verify(&user, &token).await;
        Ok(())
    }

    /// Marks the user of a verify token as verified.
    pub async fn verify(&self, token: &str) -> Result<User, UserError> {
        let claims: claims::VerifyIn = self
            .inner
            .manager
            .decode_with(token, &self.inner.verify)
            .map_err(|_| UserError::BadToken)?;
        let user = self
            .inner
            .store
            .get_by_email(&claims.email)
            .await?
            .ok_or(UserError::BadToken)?;
        let id = claims::subject_id(&claims.sub).map_err(|_| UserError::BadToken)?;
        if id != user.id {
            return Err(UserError::BadToken);
        }
        if user.is_verified {
            return Err(UserError::AlreadyVerified);
        }
        let patch = UserPatch {
            is_verified: Some(true),
            ..UserPatch::default()
        };
        let user = self
            .inner
            .store
            .update(user.id, &patch)
            .await?
            .ok_or(UserError::BadToken)?;
        self.hooks().on_after_verify(&user).await;
        Ok(user)
    }
}
