//! `UserStore::hash_census` of the SQL stores (issue 11, item 5): the stored password hashes per
//! kind (algorithm and parameters, up to the salt), computed by the query exactly as
//! `password::hash_prefix` computes it, on FastAPI Users' own database and on odd rows; and the
//! memory store's. The login timing (`tests/timing_migrated.rs`) relies on it to know which kinds
//! of hash a failed login must take as long as.

mod support;
use std::collections::BTreeMap;
use support::users_db;

use login_users::password::{self, hash_prefix};
use login_users::{MemoryStore, User, UserStore};
use users_db::{StoreKind, TestDb, on_both_stores};

/// Hashes of every shape the census must sort: ours, pwdlib's argon2id, argon2i without a
/// version, the three bcrypt prefixes, and what no hasher reads.
fn odd_hashes() -> Vec<String> {
    vec![
        password::hash("pw").unwrap(),
        "$argon2id$v=19$m=65536,t=3,p=4$hGmhwilI+fZrcEzTCdZlBQ$tlobEqhrd52rsp284wnxrpyHxmKJot2sAVKGdUT0FKI"
            .into(),
        "$argon2i$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
        "$2a$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
        "$2y$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
        "!disabled".into(),
        "$argon2id$v=19$".into(),
        String::new(),
    ]
}

/// The census as a sorted map.
async fn census(store: &dyn UserStore) -> BTreeMap<String, u64> {
    store
        .hash_census()
        .await
        .unwrap()
        .expect("the store takes a census")
        .into_iter()
        .collect()
}

/// What the census must say about these hashes.
fn expected(hashes: &[String]) -> BTreeMap<String, u64> {
    let mut map = BTreeMap::new();
    for hash in hashes {
        *map.entry(hash_prefix(hash).to_owned()).or_insert(0) += 1;
    }
    map
}

async fn fastapi_users_database(kind: StoreKind) {
    let db = TestDb::fastapi_users(&kind).await;
    let got = census(db.store.as_ref()).await;
    // Four users on pwdlib's argon2id, one on bcrypt-12 (tests/fixtures/fastapi_users).
    let want = BTreeMap::from([
        ("$2b$12$".to_owned(), 1),
        ("$argon2id$v=19$m=65536,t=3,p=4$".to_owned(), 4),
    ]);
    assert_eq!(got, want, "{}", kind.store_name());
}

async fn odd_rows(kind: StoreKind) {
    let db = TestDb::empty(&kind).await;
    assert_eq!(census(db.store.as_ref()).await, BTreeMap::new());
    let hashes = odd_hashes();
    for (i, hash) in hashes.iter().enumerate() {
        let email = format!("user{i}-{}@example.com", uuid::Uuid::new_v4().simple());
        db.store.create(User::new(email, hash.clone())).await.unwrap();
    }
    assert_eq!(
        census(db.store.as_ref()).await,
        expected(&hashes),
        "{}",
        kind.store_name()
    );
}

on_both_stores! {
    fastapi_users_database,
    odd_rows,
}

#[tokio::test]
async fn the_memory_store_counts_alike() {
    let store = MemoryStore::default();
    let hashes = odd_hashes();
    for (i, hash) in hashes.iter().enumerate() {
        store
            .create(User::new(format!("user{i}@example.com"), hash.clone()))
            .await
            .unwrap();
    }
    let got = census(&store).await;
    assert_eq!(got, expected(&hashes));
    assert_eq!(got["$argon2id$v=19$m=19456,t=2,p=1$"], 1);
    assert_eq!(got[""], 3);
}
