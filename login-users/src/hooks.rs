//! Lifecycle hooks (FastAPI Users' `UserManager` overrides), all no-ops by default, and the default
//! password policy.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::model::User;

/// The shortest password the default policy accepts (OWASP ASVS 6.2.1).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password the default policy accepts (OWASP ASVS 6.2.9 asks for at least 64).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password the policy refuses; `reason` is sent to the client in the 400's `detail.reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPassword {
    /// Why, in words for the user.
    pub reason: String,
}

impl InvalidPassword {
    /// A refusal with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for InvalidPassword {}

/// The default policy: 8 to 128 characters (counted as Unicode scalar values), nothing else.
///
/// ```
/// use login_users::default_password_policy;
///
/// assert!(default_password_policy("guinevere").is_ok());
/// assert_eq!(
///     default_password_policy("short").unwrap_err().reason,
///     "Password should be at least 8 characters"
/// );
/// ```
pub fn default_password_policy(password: &str) -> Result<(), InvalidPassword> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(InvalidPassword::new(format!(
            "Password should be at least {MIN_PASSWORD_CHARS} characters"
        )))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(InvalidPassword::new(format!(
            "Password should be at most {MAX_PASSWORD_CHARS} characters"
        )))
    } else {
        Ok(())
    }
}

/// What happens around each step of the flow. Every method has a default (a no-op, or
/// [`default_password_policy`]); override the ones you need, with `async fn`.
///
/// ```
/// use login_users::{InvalidPassword, User, UserHooks, default_password_policy};
///
/// struct Mailer;
///
/// impl UserHooks for Mailer {
///     async fn validate_password(&self, password: &str, email: &str) -> Result<(), InvalidPassword> {
///         default_password_policy(password)?;
///         if password.contains(email) {
///             return Err(InvalidPassword::new("Password should not contain e-mail"));
///         }
///         Ok(())
///     }
///
///     async fn on_after_forgot_password(&self, user: &User, token: &str) {
///         println!("reset-password token for {}: {token}", user.email);
///     }
/// }
/// ```
pub trait UserHooks: Send + Sync + 'static {
    /// Checks a new password (registration, update, reset) for the account with this email.
    fn validate_password(
        &self,
        password: &str,
        email: &str,
    ) -> impl Future<Output = Result<(), InvalidPassword>> + Send {
        let _ = email;
        std::future::ready(default_password_policy(password))
    }

    /// After a user registered.
    fn on_after_register(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After a successful login on any backend.
    fn on_after_login(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After a refresh token was exchanged for a new access token and its successor.
    fn on_after_refresh(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After a spent refresh token of `user` was presented again (a stolen token, or a client
    /// that refreshed one token twice at once): its family is ended. Log or alert here. Called
    /// for each presentation that finds the token spent while its family was live, so possibly
    /// several times for one family (each loser of a concurrent refresh).
    fn on_refresh_reuse(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After an update; `fields` names what changed (`email`, `password`, `is_active`, …).
    fn on_after_update(&self, user: &User, fields: &[&'static str]) -> impl Future<Output = ()> + Send {
        let _ = (user, fields);
        std::future::ready(())
    }

    /// After a reset was asked for an active user: send `token` to them.
    fn on_after_forgot_password(&self, user: &User, token: &str) -> impl Future<Output = ()> + Send {
        let _ = (user, token);
        std::future::ready(())
    }

    /// After a password was reset.
    fn on_after_reset_password(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After a verification was asked for an active, unverified user: send `token` to them.
    fn on_after_request_verify(&self, user: &User, token: &str) -> impl Future<Output = ()> + Send {
        let _ = (user, token);
        std::future::ready(())
    }

    /// After a user verified their email.
    fn on_after_verify(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// Before a superuser deletes a user.
    fn on_before_delete(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }

    /// After a user was deleted.
    fn on_after_delete(&self, user: &User) -> impl Future<Output = ()> + Send {
        let _ = user;
        std::future::ready(())
    }
}

/// No hooks: the default policy and no-ops.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHooks;

impl UserHooks for DefaultHooks {}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`UserHooks`] with boxed futures, so the service can hold any hooks as `Arc<dyn DynHooks>`.
pub(crate) trait DynHooks: Send + Sync + 'static {
    fn validate_password<'a>(
        &'a self,
        password: &'a str,
        email: &'a str,
    ) -> Boxed<'a, Result<(), InvalidPassword>>;
    fn on_after_register<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_after_login<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_after_update<'a>(&'a self, user: &'a User, fields: &'a [&'static str]) -> Boxed<'a, ()>;
    fn on_after_refresh<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_refresh_reuse<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_after_forgot_password<'a>(&'a self, user: &'a User, token: &'a str) -> Boxed<'a, ()>;
    fn on_after_reset_password<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_after_request_verify<'a>(&'a self, user: &'a User, token: &'a str) -> Boxed<'a, ()>;
    fn on_after_verify<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_before_delete<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
    fn on_after_delete<'a>(&'a self, user: &'a User) -> Boxed<'a, ()>;
}

impl<H: UserHooks> DynHooks for H {
    fn validate_password<'a>(
        &'a self,
        password: &'a str,
        email: &'a str,
    ) -> Boxed<'a, Result<(), InvalidPassword>> {
        Box::pin(UserHooks::validate_password(self, password, email))
    }
    fn on_after_register<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_register(self, user))
    }
    fn on_after_login<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_login(self, user))
    }
    fn on_after_update<'a>(&'a self, user: &'a User, fields: &'a [&'static str]) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_update(self, user, fields))
    }
    fn on_after_refresh<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_refresh(self, user))
    }
    fn on_refresh_reuse<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_refresh_reuse(self, user))
    }
    fn on_after_forgot_password<'a>(&'a self, user: &'a User, token: &'a str) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_forgot_password(self, user, token))
    }
    fn on_after_reset_password<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_reset_password(self, user))
    }
    fn on_after_request_verify<'a>(&'a self, user: &'a User, token: &'a str) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_request_verify(self, user, token))
    }
    fn on_after_verify<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_verify(self, user))
    }
    fn on_before_delete<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_before_delete(self, user))
    }
    fn on_after_delete<'a>(&'a self, user: &'a User) -> Boxed<'a, ()> {
        Box::pin(UserHooks::on_after_delete(self, user))
    }
}
