//! The last active superuser stays: `PATCH /users/{id}` cannot take `is_superuser` or
//! `is_active` from them and `DELETE /users/{id}` cannot delete them (400
//! `UPDATE_USER_LAST_SUPERUSER` / `DELETE_USER_LAST_SUPERUSER`), also when two superusers demote,
//! deactivate or delete each other at the same moment: one wins, the other is refused.
//!
//! Over a real socket, on every store: `memory::<name>`, `sqlite::<name>` (a fresh file) and
//! `postgres::<name>` (a schema of its own in the PostgreSQL of `DATABASE_URL`; ignored unless
//! run with `-- --include-ignored`, and failing, naming the variable, without it).

mod support;
use support::users_db;

use std::sync::Arc;

use axum::http::StatusCode;
use login_users::{CreateUser, MemoryStore, StoreError, User, UserPatch, UserStore, Users};
use serde_json::{Value, json};
use support::{Req, Res, Via};
use users_db::{StoreKind, TestDb};

const SECRET: &str = "last-superuser-secret-0123456789abcdefghij";
const PASSWORD: &str = "excalibur!";

/// `#[tokio::test]` entry points `memory::<name>`, `sqlite::<name>`, `postgres::<name>` for each
/// `async fn <name>(store: Store)`.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        /// On a `MemoryStore`.
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Store::Memory).await;
                }
            )*
        }

        /// On a fresh SQLite file per test.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Store::Database(crate::users_db::StoreKind::Sqlite)).await;
                }
            )*
        }

        /// On the PostgreSQL of `DATABASE_URL`, in a schema per test.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "needs DATABASE_URL"]
                async fn $name() {
                    let kind = crate::users_db::StoreKind::postgres();
                    super::$name(super::Store::Database(kind)).await;
                }
            )*
        }
    };
}

on_every_store![
    the_last_superuser_cannot_be_demoted_deactivated_or_deleted,
    superusers_acting_on_each_other_at_once_leave_one,
    the_store_guard_is_atomic,
    guarded_writes_around_a_new_superuser_all_land,
];

/// Which store a test runs on.
enum Store {
    Memory,
    Database(StoreKind),
}

/// The `users` example's app on a test's store, over a bound socket.
struct Served {
    users: Users,
    http: Arc<Via>,
    _db: Option<TestDb>,
}

impl Store {
    /// The bare store (and its database, removed on drop).
    async fn open(&self) -> (Arc<dyn UserStore>, Option<TestDb>) {
        match self {
            Self::Memory => (Arc::new(MemoryStore::default()), None),
            Self::Database(kind) => {
                let db = TestDb::empty(kind).await;
                (Arc::clone(&db.store), Some(db))
            }
        }
    }

    async fn serve(&self) -> Served {
        let (store, db) = self.open().await;
        let users = Users::builder(store).secret(SECRET).build().unwrap();
        let http = Arc::new(Via::http(users_example::app(users.clone())).await);
        Served { users, http, _db: db }
    }
}

impl Served {
    /// A new active user (a superuser if `superuser`), made through the library as
    /// `create-user` does.
    async fn create(&self, tag: &str, superuser: bool) -> User {
        let email = format!("{tag}-{}@camelot.bt", uuid::Uuid::new_v4().simple());
        let mut new = CreateUser::new(email, PASSWORD);
        new.is_superuser = superuser;
        self.users.create(new).await.unwrap()
    }

    async fn login(&self, user: &User) -> String {
        let form = [("username", user.email.as_str()), ("password", PASSWORD)];
        let res = self.http.send(Req::post("/auth/jwt/login").form(&form)).await;
        assert_eq!(res.status, StatusCode::OK, "login {}: {}", user.email, res.text());
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn patch(&self, token: &str, target: &User, body: Value) -> Res {
        let req = Req::patch(&format!("/users/{}", target.id))
            .bearer(token)
            .json(&body);
        self.http.send(req).await
    }

    async fn delete(&self, token: &str, target: &User) -> Res {
        let req = Req::delete(&format!("/users/{}", target.id)).bearer(token);
        self.http.send(req).await
    }

    /// The user as the store has them now.
    async fn now(&self, user: &User) -> Option<User> {
        self.users.get(user.id).await.unwrap()
    }
}

fn assert_refused(res: &Res, code: &str, what: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{what}: {}", res.text());
    assert_eq!(res.json(), json!({ "detail": code }), "{what}");
}

async fn the_last_superuser_cannot_be_demoted_deactivated_or_deleted(store: Store) {
    let s = store.serve().await;
    let arthur = s.create("arthur", true).await;
    let token = s.login(&arthur).await;

    // Alone: every way of ending the last superuser is refused, and changes nothing.
    for body in [
        json!({ "is_superuser": false }),
        json!({ "is_active": false }),
        json!({ "is_superuser": false, "is_active": false }),
        json!({ "is_superuser": false, "is_verified": true }),
    ] {
        let res = s.patch(&token, &arthur, body.clone()).await;
        assert_refused(&res, "UPDATE_USER_LAST_SUPERUSER", &format!("PATCH {body}"));
    }
    let res = s.delete(&token, &arthur).await;
    assert_refused(&res, "DELETE_USER_LAST_SUPERUSER", "DELETE the last superuser");
    assert_eq!(s.now(&arthur).await.as_ref(), Some(&arthur), "untouched");

    // What keeps them a superuser still works.
    let res = s
        .patch(
            &token,
            &arthur,
            json!({ "is_superuser": true, "is_verified": true }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // An inactive superuser does not count as another one.
    let sleeping = s.create("sleeping", true).await;
    let res = s.patch(&token, &sleeping, json!({ "is_active": false })).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "deactivating another superuser: {}",
        res.text()
    );
    let res = s.patch(&token, &arthur, json!({ "is_superuser": false })).await;
    assert_refused(&res, "UPDATE_USER_LAST_SUPERUSER", "with only an inactive other");

    // With another active superuser, either may go.
    let lancelot = s.create("lancelot", true).await;
    let res = s.patch(&token, &arthur, json!({ "is_superuser": false })).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "demoting oneself beside another: {}",
        res.text()
    );
    assert!(!s.now(&arthur).await.unwrap().is_superuser);
    let lancelot_token = s.login(&lancelot).await;
    let res = s.delete(&lancelot_token, &lancelot).await;
    assert_refused(&res, "DELETE_USER_LAST_SUPERUSER", "now lancelot is the last");
    let res = s.delete(&lancelot_token, &arthur).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "deleting a non-superuser");

    // Non-superusers come and go as before.
    let page = s.create("page", false).await;
    let res = s
        .patch(&lancelot_token, &page, json!({ "is_active": false }))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = s.delete(&lancelot_token, &page).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text());
}

/// Rounds of two superusers, the only active ones, each acting on the other at the same moment
/// (demote, deactivate or delete): exactly one request succeeds, the other is refused (400 with
/// the code, or 401/403 when its sender was already deactivated or demoted), and one active superuser remains.
async fn superusers_acting_on_each_other_at_once_leave_one(store: Store) {
    const ROUNDS: usize = 12;
    let s = Arc::new(store.serve().await);
    let mut keeper = s.create("keeper", true).await;
    for round in 0..ROUNDS {
        let other = s.create("other", true).await;
        let (keeper_token, other_token) = (s.login(&keeper).await, s.login(&other).await);
        let act = |token: String, target: User, how: usize| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                match how {
                    0 => s.patch(&token, &target, json!({ "is_superuser": false })).await,
                    1 => s.patch(&token, &target, json!({ "is_active": false })).await,
                    _ => s.delete(&token, &target).await,
                }
            })
        };
        let (a, b) = (
            act(keeper_token, other.clone(), round % 3),
            act(other_token, keeper.clone(), (round + 1) % 3),
        );
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let won = |r: &Res| r.status.is_success();
        assert!(
            won(&a) != won(&b),
            "round {round}: exactly one of the two must succeed: keeper→other {} {}, \
             other→keeper {} {}",
            a.status,
            a.text(),
            b.status,
            b.text()
        );
        for res in [&a, &b].into_iter().filter(|r| !won(r)) {
            assert!(
                // 401: its sender was deactivated or deleted first; 403: demoted first.
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&res.status)
                    || [
                        json!({ "detail": "UPDATE_USER_LAST_SUPERUSER" }),
                        json!({ "detail": "DELETE_USER_LAST_SUPERUSER" }),
                    ]
                    .contains(&res.json()),
                "round {round}: the loser's answer: {} {}",
                res.status,
                res.text()
            );
        }
        let active_superuser = |u: &Option<User>| u.as_ref().is_some_and(|u| u.is_superuser && u.is_active);
        let (k, o) = (s.now(&keeper).await, s.now(&other).await);
        assert!(
            active_superuser(&k) != active_superuser(&o),
            "round {round}: one active superuser must remain: keeper {k:?}, other {o:?}"
        );
        if active_superuser(&o) {
            keeper = o.unwrap();
        }
    }
}

/// Straight through the `UserStore` trait, many rounds of two tasks released together, each
/// demoting, deactivating or deleting one of the only two active superusers: exactly one
/// succeeds and the other gets `StoreError::LastSuperuser`, on every store.
async fn the_store_guard_is_atomic(store: Store) {
    const ROUNDS: usize = 60;
    let (store, _db) = store.open().await;
    let superuser = |tag: &str| {
        let mut user = User::new(
            format!("{tag}-{}@camelot.bt", uuid::Uuid::new_v4().simple()),
            "$argon2id$…",
        );
        user.is_superuser = true;
        user
    };
    let mut keeper = store.create(superuser("keeper")).await.unwrap();
    for round in 0..ROUNDS {
        let other = store.create(superuser("other")).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let task = |target: User, how: usize| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                let patch = UserPatch {
                    is_superuser: (how == 0).then_some(false),
                    is_active: (how == 1).then_some(false),
                    ..UserPatch::default()
                };
                match how {
                    0 | 1 => store
                        .update_unless_last_superuser(target.id, &patch)
                        .await
                        .map(|u| u.is_some()),
                    _ => store.delete_unless_last_superuser(target.id).await,
                }
            })
        };
        let (a, b) = (
            task(other.clone(), round % 3),
            task(keeper.clone(), (round / 3) % 3),
        );
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        let outcome = format!("round {round}: other: {a:?}, keeper: {b:?}");
        match (&a, &b) {
            (Ok(true), Err(StoreError::LastSuperuser)) | (Err(StoreError::LastSuperuser), Ok(true)) => {}
            _ => panic!("exactly one must succeed and the other be refused; {outcome}"),
        }
        let other_now = store.get(other.id).await.unwrap();
        let keeper_now = store.get(keeper.id).await.unwrap();
        let active = |u: &Option<User>| u.as_ref().is_some_and(|u| u.is_superuser && u.is_active);
        assert!(active(&other_now) != active(&keeper_now), "{outcome}");
        if active(&other_now) {
            keeper = other_now.unwrap();
        }
    }
}

/// Rounds of concurrent guarded writes of users who are being made superusers (each promoted,
/// deactivated and given a new email at once): every write lands, none fails. On PostgreSQL, a
/// lock order that depends on who is a superuser when each transaction looks deadlocks here.
async fn guarded_writes_around_a_new_superuser_all_land(store: Store) {
    const ROUNDS: usize = 20;
    const KNIGHTS: usize = 6;
    let (store, _db) = store.open().await;
    let mut keeper = User::new(
        format!("keeper-{}@camelot.bt", uuid::Uuid::new_v4().simple()),
        "$argon2id$…",
    );
    keeper.is_superuser = true;
    store.create(keeper).await.unwrap();
    for round in 0..ROUNDS {
        let mut patches = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..KNIGHTS {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let knight = store
                .create(User::new(format!("knight-{tag}@camelot.bt"), "$argon2id$…"))
                .await
                .unwrap();
            let email = format!("sir-{tag}@camelot.bt");
            patches.extend([
                (
                    knight.id,
                    UserPatch {
                        is_superuser: Some(true),
                        ..UserPatch::default()
                    },
                ),
                (
                    knight.id,
                    UserPatch {
                        is_active: Some(false),
                        ..UserPatch::default()
                    },
                ),
                (
                    knight.id,
                    UserPatch {
                        email: Some(email.clone()),
                        ..UserPatch::default()
                    },
                ),
            ]);
            expected.push((knight.id, email));
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(patches.len()));
        let tasks: Vec<_> = patches
            .into_iter()
            .map(|(id, patch)| {
                let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.update_unless_last_superuser(id, &patch).await
                })
            })
            .collect();
        for task in tasks {
            let result = task.await.unwrap();
            assert!(
                matches!(result, Ok(Some(_))),
                "round {round}: every write lands: {result:?}"
            );
        }
        for (id, email) in expected {
            let now = store.get(id).await.unwrap().unwrap();
            assert_eq!(
                (now.is_superuser, now.is_active, now.email.as_str()),
                (true, false, email.as_str()),
                "round {round}"
            );
        }
    }
}
