//! Per-route requirements: the scopes a token must grant, what the user must be (active, verified,
//! superuser), and the response for anonymous requests.

use axum::response::Response;

/// What a route asks of a request for a user `U` beyond a valid token and a known user.
/// `#[protected(scopes(..), active, superuser, redirect = ..)]` writes one hidden type per handler;
/// without the macros implement it on a unit struct.
///
/// ```
/// use login_runtime::{Admission, Guard};
///
/// # struct User { admin: bool }
/// struct AdminOnly;
/// impl Guard<User> for AdminOnly {
///     const SCOPES: &'static [&'static str] = &["admin"];
///
///     fn admit(user: &User) -> Admission {
///         if user.admin { Admission::Admit } else { Admission::Forbidden }
///     }
/// }
/// // async fn admin(auth: login_runtime::Authenticated<User, AdminOnly>) { … }
/// ```
pub trait Guard<U>: Send + Sync + 'static {
    /// Scopes the token must all grant; otherwise 403. Checked before the user is loaded.
    const SCOPES: &'static [&'static str] = &[];

    /// This route's own answer to an unauthenticated request, instead of the manager's.
    fn unauthenticated() -> Option<Response> {
        None
    }

    /// Whether the loaded user may use the route (every user, by default).
    fn admit(user: &U) -> Admission {
        let _ = user;
        Admission::Admit
    }
}

/// A guard's verdict on a loaded user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The user may use the route.
    Admit,
    /// Treat the request as anonymous: 401 (or the route's answer); `None` on optional routes.
    Unauthenticated,
    /// 403 (the manager's forbidden answer); `None` on optional routes.
    Forbidden,
}

/// No requirement beyond a valid token and a known user.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGuard;

impl<U> Guard<U> for NoGuard {}

/// The account flags of a user, for `#[protected(active)]`, `#[protected(verified)]` and
/// `#[protected(superuser)]` (FastAPI Users' `current_user(active=, verified=, superuser=)`).
///
/// ```
/// use login_runtime::AccountStatus;
///
/// struct User { active: bool, admin: bool }
///
/// impl AccountStatus for User {
///     fn is_active(&self) -> bool { self.active }
///     fn is_verified(&self) -> bool { true }
///     fn is_superuser(&self) -> bool { self.admin }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`#[protected(active | verified | superuser)]` needs the account flags of `{Self}`",
    label = "`{Self}` does not implement `AccountStatus`",
    note = "implement `login_runtime::AccountStatus` for `{Self}` (is_active, is_verified, is_superuser)"
)]
pub trait AccountStatus {
    /// An inactive user is treated as anonymous by `active` routes (401).
    fn is_active(&self) -> bool;
    /// `verified` routes answer 403 to a user who has not verified their email.
    fn is_verified(&self) -> bool;
    /// `superuser` routes answer 403 to everybody else.
    fn is_superuser(&self) -> bool;
}

/// What a route requires of an account; [`admit`](Self::admit) applies FastAPI Users' rules:
/// an inactive user is unauthenticated (401), an unverified or non-superuser one is forbidden (403).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requirements {
    /// The user must be active.
    pub active: bool,
    /// The user must be verified.
    pub verified: bool,
    /// The user must be a superuser.
    pub superuser: bool,
}

impl Requirements {
    /// The verdict for `user`.
    ///
    /// ```
    /// # use login_runtime::{AccountStatus, Admission, Requirements};
    /// # struct U(bool, bool, bool);
    /// # impl AccountStatus for U {
    /// #     fn is_active(&self) -> bool { self.0 }
    /// #     fn is_verified(&self) -> bool { self.1 }
    /// #     fn is_superuser(&self) -> bool { self.2 }
    /// # }
    /// let admin_only = Requirements { active: true, superuser: true, ..Requirements::default() };
    /// assert_eq!(admin_only.admit(&U(true, false, true)), Admission::Admit);
    /// assert_eq!(admin_only.admit(&U(false, false, true)), Admission::Unauthenticated);
    /// assert_eq!(admin_only.admit(&U(true, true, false)), Admission::Forbidden);
    /// ```
    pub fn admit<U: AccountStatus + ?Sized>(self, user: &U) -> Admission {
        if self.active && !user.is_active() {
            Admission::Unauthenticated
        } else if (self.verified && !user.is_verified()) || (self.superuser && !user.is_superuser()) {
            Admission::Forbidden
        } else {
            Admission::Admit
        }
    }
}
