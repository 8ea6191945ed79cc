//! Login timing does not tell an unknown email from a wrong password: `POST /auth/jwt/login` of
//! the `users` example, over a real socket, with the real argon2id parameters. An unknown email
//! is verified against a dummy hash of the same parameters (`Hasher::verify_nothing`), so the
//! medians of the two kinds must be within 0.8–1.25 of each other.
//!
//! 200 tries of each kind, interleaved (alternating which kind goes first), from two concurrent
//! clients; the throttle is off for this app, since it is not what is measured (and would answer
//! the repeated failures with 429 before any hashing). Prints the medians and their ratio.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use login_users::{CreateUser, MemoryStore, Throttle, Users};

const SECRET: &str = "timing-test-secret-0123456789abcdef012345";
const KNOWN: &str = "arthur@camelot.bt";
const UNKNOWN: &str = "mordred@camelot.bt";
const PASSWORD: &str = "guinevere-1";
/// Tries of each kind.
const TRIES: usize = 200;
const CLIENTS: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    UnknownEmail,
    WrongPassword,
}

/// One failed login; how long it took, answer read whole.
async fn time_login(client: &reqwest::Client, url: &str, kind: Kind) -> Duration {
    let email = match kind {
        Kind::UnknownEmail => UNKNOWN,
        Kind::WrongPassword => KNOWN,
    };
    let started = Instant::now();
    let res = client
        .post(url)
        .form(&[("username", email), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.bytes().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{kind:?}: {body:?}");
    assert_eq!(&body[..], br#"{"detail":"LOGIN_BAD_CREDENTIALS"}"#, "{kind:?}");
    took
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
async fn unknown_email_and_wrong_password_take_the_same_time() {
    let users = Users::builder(Arc::new(MemoryStore::default()))
        .secret(SECRET)
        .throttle(Throttle::disabled())
        .build()
        .unwrap();
    users.create(CreateUser::new(KNOWN, PASSWORD)).await.unwrap();
    let addr = support::serve_with_peers(users_example::app(users)).await;
    let url = format!("http://{addr}/auth/jwt/login");

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    // Warm-up: connections, the dummy hash (made on first use), caches.
    for _ in 0..4 {
        for kind in [Kind::UnknownEmail, Kind::WrongPassword] {
            time_login(&client, &url, kind).await;
        }
    }

    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut unknown = Vec::new();
                let mut wrong = Vec::new();
                for i in 0..TRIES / CLIENTS {
                    // Alternate the order (and between the clients) so that neither kind always
                    // follows the other.
                    let order = if (i + c) % 2 == 0 {
                        [Kind::UnknownEmail, Kind::WrongPassword]
                    } else {
                        [Kind::WrongPassword, Kind::UnknownEmail]
                    };
                    for kind in order {
                        let took = time_login(&client, &url, kind).await;
                        match kind {
                            Kind::UnknownEmail => unknown.push(took),
                            Kind::WrongPassword => wrong.push(took),
                        }
                    }
                }
                (unknown, wrong)
            })
        })
        .collect();
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for task in tasks {
        let (u, w) = task.await.unwrap();
        unknown.extend(u);
        wrong.extend(w);
    }
    assert_eq!((unknown.len(), wrong.len()), (TRIES, TRIES));

    let (u, w) = (median(&mut unknown), median(&mut wrong));
    let ratio = u.as_secs_f64() / w.as_secs_f64();
    eprintln!(
        "login timing, {TRIES} tries each from {CLIENTS} clients in {:.1?}: median unknown email \
         {u:.2?}, median wrong password {w:.2?}, ratio {ratio:.3}",
        started.elapsed()
    );
    assert!(
        (0.8..=1.25).contains(&ratio),
        "an unknown email ({u:?}) and a wrong password ({w:?}) are told apart by timing: \
         ratio {ratio:.3} outside 0.8–1.25"
    );
}
