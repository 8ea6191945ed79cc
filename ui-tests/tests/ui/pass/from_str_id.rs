//! A loader's id may be any `FromStr` type (a uuid, a number): a subject that does not parse loads
//! no user. Taken by value or by reference.

use std::str::FromStr;

use login_runtime::{LoginManager, protected, user_loader};

/// A uuid-like id, parsed from its 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Uuid(u128);

impl FromStr for Uuid {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u128::from_str_radix(&s.replace('-', ""), 16).map(Uuid)
    }
}

struct User {
    id: Uuid,
}

#[user_loader]
async fn load_user(id: Uuid) -> Option<User> {
    Some(User { id })
}

struct Account {
    number: u64,
}

#[user_loader]
async fn load_account(number: &u64) -> Option<Account> {
    Some(Account { number: *number })
}

#[protected]
async fn me(user: User) -> String {
    format!("{:x}", user.id.0)
}

#[protected]
async fn account(account: Account) -> String {
    account.number.to_string()
}

fn main() {
    let manager = LoginManager::builder()
        .secret([7u8; 32])
        .build()
        .expect("a valid configuration");
    let _app: axum::Router = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .route("/account", axum::routing::get(account))
        .with_state(manager);
}
