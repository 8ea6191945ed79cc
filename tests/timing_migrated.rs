//! Login timing does not tell which accounts exist when some users still have the hashes of the
//! FastAPI Users database they came from (issue 11, item 5): pwdlib's argon2id (m=65536, t=3,
//! p=4) and bcrypt-12 cost several times our argon2id (m=19456, t=2, p=1), so before the fix a
//! wrong password for such a user took 5–14 times as long as an unknown email.
//!
//! `POST /auth/jwt/login` of the `users` example, over a real socket, on a store holding the
//! fixtures' pwdlib argon2 and bcrypt-12 hashes (`tests/fixtures/fastapi_users/tokens.json`), a
//! user on our hash and an inactive one. Failed logins of every kind, interleaved from four
//! concurrent clients: unknown email, wrong password on each kind of hash, the right password of
//! the inactive user (refused with the same answer). Each kind's median must be within 0.8–1.25
//! of the unknown emails'. The throttle is off (it is not what is measured).
//!
//! A second test checks that the right password of a migrated user is not held back.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use login_users::password::Hasher;
use login_users::{CreateUser, MemoryStore, Throttle, User, UserStore, Users};
use rand::seq::SliceRandom;
use serde_json::Value;

const SECRET: &str = "timing-migrated-secret-0123456789abcdef01";
const UNKNOWN: &str = "mordred@camelot.bt";
const OURS: &str = "arthur@camelot.bt";
const INACTIVE: &str = "uther@camelot.bt";
const PASSWORD: &str = "guinevere-1";
/// Tries of each kind.
const TRIES: usize = 24;
/// Concurrent clients: failures are mostly waiting (a sleep), so four keep the run short.
const CLIENTS: usize = 4;

/// The email, password and stored hash of a fixture user (`argon` or `bcrypt`).
fn fixture(label: &str) -> (String, String, String) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fastapi_users/tokens.json"
    );
    let tokens: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let user = &tokens["users"][label];
    let field = |name: &str| user[name].as_str().unwrap().to_owned();
    (field("email"), field("password"), field("hashed_password"))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    UnknownEmail,
    WrongOurs,
    WrongPwdlibArgon2,
    WrongBcrypt12,
    InactiveRightPassword,
}

const KINDS: [Kind; 5] = [
    Kind::UnknownEmail,
    Kind::WrongOurs,
    Kind::WrongPwdlibArgon2,
    Kind::WrongBcrypt12,
    Kind::InactiveRightPassword,
];

struct Server {
    url: String,
    users: Users,
    argon: (String, String, String),
    bcrypt: (String, String, String),
}

/// The example's app over a memory store with the two fixture users, one user on our hash and an
/// inactive one, served with the client's address.
async fn server() -> Server {
    let store = Arc::new(MemoryStore::default());
    let (argon, bcrypt) = (fixture("argon"), fixture("bcrypt"));
    assert!(argon.2.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
    assert!(bcrypt.2.starts_with("$2b$12$"));
    for (email, _, hash) in [&argon, &bcrypt] {
        store
            .create(User::new(email.clone(), hash.clone()))
            .await
            .unwrap();
    }
    // One hashing slot per client: no queueing for a slot, whose wait depends on what else is
    // queued (the same for every kind, but noise in a short run).
    let users = Users::builder(store)
        .secret(SECRET)
        .hasher(Hasher::with_limit(CLIENTS))
        .throttle(Throttle::disabled())
        .build()
        .unwrap();
    users.create(CreateUser::new(OURS, PASSWORD)).await.unwrap();
    let mut inactive = CreateUser::new(INACTIVE, PASSWORD);
    inactive.is_active = false;
    users.create(inactive).await.unwrap();
    let addr = support::serve_with_peers(users_example::app(users.clone())).await;
    let url = format!("http://{addr}/auth/jwt/login");
    Server {
        url,
        users,
        argon,
        bcrypt,
    }
}

impl Server {
    fn credentials(&self, kind: Kind) -> (&str, &str) {
        match kind {
            Kind::UnknownEmail => (UNKNOWN, "not-the-password"),
            Kind::WrongOurs => (OURS, "not-the-password"),
            Kind::WrongPwdlibArgon2 => (&self.argon.0, "not-the-password"),
            Kind::WrongBcrypt12 => (&self.bcrypt.0, "not-the-password"),
            Kind::InactiveRightPassword => (INACTIVE, PASSWORD),
        }
    }
}

/// One login; its status and how long it took, answer read whole.
async fn time_login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Duration) {
    let started = Instant::now();
    let res = client
        .post(url)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.bytes().await.unwrap();
    let took = started.elapsed();
    if status == StatusCode::BAD_REQUEST {
        assert_eq!(&body[..], br#"{"detail":"LOGIN_BAD_CREDENTIALS"}"#, "{email}");
    }
    (status, took)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_migrated_hashes_take_what_an_unknown_email_takes() {
    let server = Arc::new(server().await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // Warm-up: connections, the dummy hash, what the server learns before its first answer.
    for kind in KINDS {
        let (email, password) = server.credentials(kind);
        let (status, _) = time_login(&client, &server.url, email, password).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind:?}");
    }

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, server) = (client.clone(), server.clone());
            tokio::spawn(async move {
                let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
                let mut order: Vec<usize> = (0..KINDS.len()).collect();
                for _ in 0..TRIES / CLIENTS {
                    // A fresh random order each round and client, so that no kind always follows
                    // (or queues behind) another.
                    order.shuffle(&mut rand::rng());
                    for &index in &order {
                        let (email, password) = server.credentials(KINDS[index]);
                        let (status, took) = time_login(&client, &server.url, email, password).await;
                        assert_eq!(status, StatusCode::BAD_REQUEST, "{:?}", KINDS[index]);
                        samples[index].push(took);
                    }
                }
                samples
            })
        })
        .collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    for task in tasks {
        for (all, more) in samples.iter_mut().zip(task.await.unwrap()) {
            all.extend(more);
        }
    }
    let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
    let unknown = medians[0];
    let mut outside = Vec::new();
    eprintln!(
        "failed-login timing, {TRIES} tries of each kind from {CLIENTS} clients in {:.1?}:",
        started.elapsed()
    );
    for (kind, m) in KINDS.iter().zip(&medians) {
        let ratio = m.as_secs_f64() / unknown.as_secs_f64();
        eprintln!("  {kind:?}: median {m:.2?}, ratio to unknown email {ratio:.3}");
        if !(0.8..=1.25).contains(&ratio) {
            outside.push(format!("{kind:?} {m:?} (ratio {ratio:.3})"));
        }
    }
    assert!(
        outside.is_empty(),
        "told apart from an unknown email ({unknown:?}) by timing: {}",
        outside.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_users_right_password_is_not_held_back() {
    let server = server().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // The failure time the server holds answers to, with migrated hashes present.
    let mut failures = Vec::new();
    for _ in 0..5 {
        let (status, took) = time_login(&client, &server.url, UNKNOWN, "not-the-password").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        failures.push(took);
    }
    let failure = median(&mut failures);
    // Our hash's right password: a verification of ours, no waiting for the expensive kinds.
    let mut successes = Vec::new();
    for _ in 0..5 {
        let (status, took) = time_login(&client, &server.url, OURS, PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        successes.push(took);
    }
    let success = median(&mut successes);
    eprintln!("median failure {failure:.2?}, median success on our hash {success:.2?}");
    assert!(
        success * 2 < failure,
        "a right password ({success:?}) waits like a failure ({failure:?})"
    );
    // The migrated user's right password: upgraded to our hash on the way.
    let (email, password, old) = &server.argon;
    let (status, _) = time_login(&client, &server.url, email, password).await;
    assert_eq!(status, StatusCode::OK);
    let upgraded = server.users.store().get_by_email(email).await.unwrap().unwrap();
    assert_ne!(&upgraded.hashed_password, old);
    assert!(
        upgraded
            .hashed_password
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
}
