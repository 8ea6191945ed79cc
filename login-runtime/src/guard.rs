//! Per-route requirements: the scopes a token must grant, what the user must be (active, verified,
//! superuser), and the response for anonymous requests.

use std::marker::PhantomData;

use axum::response::{IntoResponse, Redirect, Response};

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

/// Up to 64 bytes of UTF-8 text as a type: the first `LEN` bytes of the words `W0`..`W3`, each
/// big-endian. `#[protected]` writes a handler's scopes and redirect path so, in the guard type
/// [`Require`], since it cannot define a type beside a handler in an `impl` block. Not a public API.
pub struct Text<const LEN: usize, const W0: u128, const W1: u128, const W2: u128, const W3: u128>;

/// The text of a [`Text`] type.
pub trait TextType {
    /// The text.
    const STR: &'static str;
}

impl<const LEN: usize, const W0: u128, const W1: u128, const W2: u128, const W3: u128> TextType
    for Text<LEN, W0, W1, W2, W3>
{
    const STR: &'static str = {
        let bytes: &'static [u8; 64] = &text_bytes([W0, W1, W2, W3]);
        match core::str::from_utf8(bytes.split_at(LEN).0) {
            Ok(text) => text,
            Err(_) => panic!("a `Text` type holds UTF-8"),
        }
    };
}

const fn text_bytes(words: [u128; 4]) -> [u8; 64] {
    let mut bytes = [0; 64];
    let mut i = 0;
    while i < 64 {
        bytes[i] = words[i / 16].to_be_bytes()[i % 16];
        i += 1;
    }
    bytes
}

/// The scopes of a [`Require`] guard: a tuple of [`Text`] types.
pub trait ScopeList {
    /// The scopes, in order.
    const ALL: &'static [&'static str];
}

macro_rules! scope_lists {
    ($($t:ident)*) => {
        impl<$($t: TextType),*> ScopeList for ($($t,)*) {
            const ALL: &'static [&'static str] = &[$($t::STR),*];
        }
    };
}
scope_lists!();
scope_lists!(A);
scope_lists!(A B);
scope_lists!(A B C);
scope_lists!(A B C D);
scope_lists!(A B C D E);
scope_lists!(A B C D E F);
scope_lists!(A B C D E F G);
scope_lists!(A B C D E F G H);

/// Where a [`Require`] guard sends anonymous requests: `()` for the manager's answer, a [`Text`]
/// path for a redirect (303) there.
pub trait RedirectTo {
    /// The route's answer to an anonymous request, if it has its own.
    fn response() -> Option<Response>;
}

impl RedirectTo for () {
    fn response() -> Option<Response> {
        None
    }
}

impl<T: TextType> RedirectTo for T {
    fn response() -> Option<Response> {
        Some(IntoResponse::into_response(Redirect::to(T::STR)))
    }
}

/// A guard written as types, the one `#[protected(scopes(..), redirect = ..)]` names: the token
/// must grant the scopes `S` (a `ScopeList`), and anonymous requests go to `R` (a
/// `RedirectTo`). It needs no item beside the handler, so it works in an `impl` block too. Not a
/// public API.
pub struct Require<S, R = ()>(PhantomData<fn() -> (S, R)>);

impl<U, S: ScopeList + 'static, R: RedirectTo + 'static> Guard<U> for Require<S, R> {
    const SCOPES: &'static [&'static str] = S::ALL;

    fn unauthenticated() -> Option<Response> {
        R::response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use super::*;

    /// `text` as `#[protected]` encodes it.
    type T<const LEN: usize, const W0: u128, const W1: u128 = 0, const W2: u128 = 0, const W3: u128 = 0> =
        Text<LEN, W0, W1, W2, W3>;

    const fn word(text: &str, i: usize) -> u128 {
        let bytes = text.as_bytes();
        let mut word = [0u8; 16];
        let mut j = 0;
        while j < 16 && i * 16 + j < bytes.len() {
            word[j] = bytes[i * 16 + j];
            j += 1;
        }
        u128::from_be_bytes(word)
    }

    const ITEMS: &str = "https://example.com/auth/items.read-and-write.all-of-them";
    type Admin = T<5, { word("admin", 0) }>;
    type Items = T<57, { word(ITEMS, 0) }, { word(ITEMS, 1) }, { word(ITEMS, 2) }, { word(ITEMS, 3) }>;
    type Login = T<6, { word("/login", 0) }>;

    #[test]
    fn a_text_type_holds_its_text() {
        assert_eq!(Admin::STR, "admin");
        assert_eq!(Items::STR, ITEMS);
        assert_eq!(T::<0, 0>::STR, "");
    }

    #[test]
    fn a_require_guard_has_its_scopes_and_redirect() {
        assert_eq!(<Require<(Admin, Items)> as Guard<()>>::SCOPES, ["admin", ITEMS]);
        assert!(<Require<()> as Guard<()>>::SCOPES.is_empty());
        assert!(<Require<(Admin,)> as Guard<()>>::unauthenticated().is_none());
        let response = <Require<(), Login> as Guard<()>>::unauthenticated().expect("a redirect");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/login");
    }
}
