//! The user record, its public view, and the changes a store applies.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use login_runtime::AccountStatus;

/// A user as FastAPI Users stores it (table `user`).
///
/// `Debug` never shows the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key, a random UUID (`CHAR(36)`).
    pub id: Uuid,
    /// Unique, compared case-insensitively; stored with its domain in lower case.
    pub email: String,
    /// A PHC string (`$argon2id$…`) or a bcrypt hash (`$2b$…`).
    pub hashed_password: String,
    /// Inactive users cannot log in and are anonymous to `active` routes.
    pub is_active: bool,
    /// Superusers may use the `/users/{id}` routes.
    pub is_superuser: bool,
    /// Set by `/auth/verify`; cleared when the email changes.
    pub is_verified: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("hashed_password", &"<redacted>")
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .finish()
    }
}

impl User {
    /// A new active, unverified, ordinary user with a fresh random id, to insert with
    /// [`UserStore::create`](crate::UserStore::create).
    pub fn new(email: impl Into<String>, hashed_password: impl Into<String>) -> Self {
        Self {
            id: Uuid::new_v4(),
            email: email.into(),
            hashed_password: hashed_password.into(),
            is_active: true,
            is_superuser: false,
            is_verified: false,
        }
    }
}

impl AccountStatus for User {
    fn is_active(&self) -> bool {
        self.is_active
    }
    fn is_verified(&self) -> bool {
        self.is_verified
    }
    fn is_superuser(&self) -> bool {
        self.is_superuser
    }
}

/// What the API shows of a user (FastAPI Users' `UserRead`): never the password hash.
///
/// ```
/// # use login_users::{User, UserRead};
/// let user = User {
///     id: uuid::Uuid::nil(),
///     email: "king.arthur@camelot.bt".into(),
///     hashed_password: "$argon2id$…".into(),
///     is_active: true,
///     is_superuser: false,
///     is_verified: false,
/// };
/// let json = serde_json::to_string(&UserRead::from(&user)).unwrap();
/// assert_eq!(
///     json,
///     r#"{"id":"00000000-0000-0000-0000-000000000000","email":"king.arthur@camelot.bt","is_active":true,"is_superuser":false,"is_verified":false}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRead {
    /// The user's id.
    pub id: Uuid,
    /// The user's email.
    pub email: String,
    /// Whether the user may log in.
    pub is_active: bool,
    /// Whether the user is a superuser.
    pub is_superuser: bool,
    /// Whether the email is verified.
    pub is_verified: bool,
}

impl From<&User> for UserRead {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            is_verified: user.is_verified,
        }
    }
}

/// The columns an update sets; `None` leaves a column as it is, so two concurrent updates of
/// different fields both land.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New email (normalised).
    pub email: Option<String>,
    /// New password hash.
    pub hashed_password: Option<String>,
    /// New flag.
    pub is_active: Option<bool>,
    /// New flag.
    pub is_superuser: Option<bool>,
    /// New flag.
    pub is_verified: Option<bool>,
}

impl UserPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the patch to an in-memory user.
    pub fn apply(&self, user: &mut User) {
        if let Some(email) = &self.email {
            user.email.clone_from(email);
        }
        if let Some(hash) = &self.hashed_password {
            user.hashed_password.clone_from(hash);
        }
        if let Some(v) = self.is_active {
            user.is_active = v;
        }
        if let Some(v) = self.is_superuser {
            user.is_superuser = v;
        }
        if let Some(v) = self.is_verified {
            user.is_verified = v;
        }
    }
}

impl fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPatch")
            .field("email", &self.email)
            .field(
                "hashed_password",
                &self.hashed_password.as_ref().map(|_| "<redacted>"),
            )
            .field("is_active", &self.is_active)
            .field("is_superuser", &self.is_superuser)
            .field("is_verified", &self.is_verified)
            .finish()
    }
}
