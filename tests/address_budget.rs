//! The login throttle's budget per client address across accounts (issue 11, item 8a: credential
//! stuffing). Before it, one address could guess 25 accounts once each without a 429 (each
//! (email, address) pair stayed under its own backoff), and 100 concurrent bad logins from one
//! address queued 100 hashes ahead of everyone else's logins.
//!
//! Over a real socket, with the client's address from `ConnectInfo`: the clients bind distinct
//! loopback addresses (127.0.0.0/8), picked at random per test so that runs do not meet. The
//! throttle is the default one on the system clock (its window is minutes long; nothing here
//! waits for it).

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use login_users::throttle::DEFAULT_ADDRESS_LIMIT;
use login_users::{CreateUser, MemoryStore, Throttle, Users};

const SECRET: &str = "address-budget-secret-0123456789abcdef0123";
const PASSWORD: &str = "guinevere-1";

/// A fresh email no other run uses.
fn fresh_email(tag: &str) -> String {
    format!("{tag}-{}@camelot.bt", uuid::Uuid::new_v4().simple())
}

/// Two distinct random loopback addresses (neither 127.0.0.1).
fn two_addresses() -> (IpAddr, IpAddr) {
    let a: [u8; 3] = rand::random();
    let mut b: [u8; 3] = rand::random();
    if b == a {
        b[0] = b[0].wrapping_add(1);
    }
    let ip = |x: [u8; 3]| IpAddr::V4(Ipv4Addr::new(127, x[0], x[1], x[2].clamp(2, 254)));
    (ip(a), ip(b))
}

/// A client whose connections come from `from`.
fn client_from(from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(from)
        .pool_max_idle_per_host(200)
        .build()
        .unwrap()
}

/// The `users` example with `throttle`, served with the client's address; the login URL.
async fn serve(users: &Users) -> String {
    let addr = support::serve_with_peers(users_example::app(users.clone())).await;
    format!("http://{addr}/auth/jwt/login")
}

async fn users_with(throttle: Throttle, emails: &[&str]) -> Users {
    let users = Users::builder(Arc::new(MemoryStore::default()))
        .secret(SECRET)
        .throttle(throttle)
        .build()
        .unwrap();
    for email in emails {
        users.create(CreateUser::new(*email, PASSWORD)).await.unwrap();
    }
    users
}

/// A login's status, `Retry-After` and body.
async fn login(
    client: &reqwest::Client,
    url: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Option<u64>, String) {
    let res = client
        .post(url)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry_after, res.text().await.unwrap())
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_refused_on_every_account() {
    let (victim, other) = (fresh_email("victim"), fresh_email("other"));
    let users = users_with(Throttle::default(), &[&victim, &other]).await;
    let url = serve(&users).await;
    let (attacker_ip, owner_ip) = two_addresses();
    let (attacker, owner) = (client_from(attacker_ip), client_from(owner_ip));

    // One guess at each of 20 accounts, some real, most not: each is the first failure of its
    // (email, address) pair, far from its backoff.
    for i in 0..DEFAULT_ADDRESS_LIMIT {
        let email = if i == 0 {
            victim.clone()
        } else {
            fresh_email("guess")
        };
        let (status, retry, body) = login(&attacker, &url, &email, "password123").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "guess {i}: {body}");
        assert_eq!(body, r#"{"detail":"LOGIN_BAD_CREDENTIALS"}"#);
        assert_eq!(retry, None);
    }
    // The 21st account from that address: refused before any hashing, like every other account
    // from there, the right password included.
    for (email, password) in [
        (fresh_email("guess"), "password123"),
        (other.clone(), "password123"),
        (other.clone(), PASSWORD),
    ] {
        let (status, retry, body) = login(&attacker, &url, &email, password).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {body}");
        assert_eq!(body, r#"{"detail":"LOGIN_TOO_MANY_ATTEMPTS"}"#);
        let retry = retry.expect("Retry-After");
        assert!((590..=600).contains(&retry), "Retry-After {retry}");
    }
    // Other addresses are not affected: the owners log in, and a typo is a typo.
    let (status, _, body) = login(&owner, &url, &other, "typo-typo").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for email in [&victim, &other] {
        let (status, _, body) = login(&owner, &url, email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{email}: {body}");
    }
}

#[tokio::test]
async fn an_address_the_account_logged_in_from_is_not_held_by_the_address_budget() {
    let owner_email = fresh_email("owner");
    let users = users_with(Throttle::default(), &[&owner_email]).await;
    let url = serve(&users).await;
    // An office behind one NAT address: the owner logs in, then others there mistype a lot.
    let (office_ip, _) = two_addresses();
    let office = client_from(office_ip);
    let (status, _, body) = login(&office, &url, &owner_email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..DEFAULT_ADDRESS_LIMIT {
        let (status, ..) = login(&office, &url, &fresh_email("colleague"), "typo").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let (status, ..) = login(&office, &url, &fresh_email("colleague"), "typo").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The owner, trusted from there by their account, still logs in.
    let (status, _, body) = login(&office, &url, &owner_email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_budget_is_tunable_and_off_when_disabled() {
    let (a, b) = two_addresses();
    // 3 per minute.
    let users = users_with(Throttle::default().address_limit(3, Duration::from_secs(60)), &[]).await;
    let url = serve(&users).await;
    let client = client_from(a);
    for _ in 0..3 {
        assert_eq!(
            login(&client, &url, &fresh_email("x"), "p").await.0,
            StatusCode::BAD_REQUEST
        );
    }
    let (status, retry, _) = login(&client, &url, &fresh_email("x"), "p").await;
    assert_eq!(
        (status, retry.map(|r| r <= 60)),
        (StatusCode::TOO_MANY_REQUESTS, Some(true))
    );
    // Off: with a limit of 0, and with the whole throttle disabled.
    for throttle in [
        Throttle::default().address_limit(0, Duration::from_secs(60)),
        Throttle::disabled(),
    ] {
        let users = users_with(throttle, &[]).await;
        let url = serve(&users).await;
        let client = client_from(b);
        for _ in 0..DEFAULT_ADDRESS_LIMIT + 5 {
            assert_eq!(
                login(&client, &url, &fresh_email("y"), "p").await.0,
                StatusCode::BAD_REQUEST
            );
        }
    }
}

fn p50(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Logs `email` in from `client` `n` times in turn; the durations.
async fn real_logins(client: &reqwest::Client, url: &str, email: &str, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let (status, _, body) = login(client, url, email, PASSWORD).await;
        took.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    took
}

/// Connects from `from` to the server of `url`.
async fn connect_from(from: IpAddr, url: &str) -> tokio::net::TcpStream {
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Writes a login request on `stream` (the connection closes after the answer).
async fn send_login(stream: &mut tokio::net::TcpStream, email: &str, password: &str) {
    use tokio::io::AsyncWriteExt;
    let body = format!("username={}&password={password}", email.replace('@', "%40"));
    let request = format!(
        "POST /auth/jwt/login HTTP/1.1\r\nhost: localhost\r\ncontent-type: \
         application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
}

/// The status code of the answer on `stream`.
async fn read_status(mut stream: tokio::net::TcpStream) -> u16 {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"))
}

/// 100 concurrent bad logins from one address, on 100 accounts: at most the budget are checked
/// (the others wait for them, then get 429), so a real user's login from elsewhere stays fast.
/// The 100 connections are opened first, then the 100 requests written at once, so that all are
/// in flight together. Prints the real login's median before and during the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_guesses_from_one_address_hash_at_most_the_budget() {
    let owner_email = fresh_email("owner");
    let users = users_with(Throttle::default(), &[&owner_email]).await;
    let url = serve(&users).await;
    let (attacker_ip, owner_ip) = two_addresses();
    let owner = client_from(owner_ip);
    real_logins(&owner, &url, &owner_email, 2).await;
    let mut before = real_logins(&owner, &url, &owner_email, 10).await;

    let mut streams = Vec::new();
    for _ in 0..100 {
        streams.push(connect_from(attacker_ip, &url).await);
    }
    let burst_started = Instant::now();
    for stream in &mut streams {
        send_login(stream, &fresh_email("burst"), "password123").await;
    }
    let burst: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(read_status(stream)))
        .collect();
    // Real logins from another address while the burst is in flight: one every 50 ms, each on
    // its own connection (measured on their own: one waiting does not delay the next).
    let real: Vec<_> = (0..8u64)
        .map(|i| {
            let (owner, url, email) = (owner.clone(), url.clone(), owner_email.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10 + 50 * i)).await;
                real_logins(&owner, &url, &email, 1).await[0]
            })
        })
        .collect();
    let mut during = Vec::new();
    for task in real {
        during.push(task.await.unwrap());
    }
    let (mut checked, mut refused) = (0, 0);
    for task in burst {
        match task.await.unwrap() {
            400 => checked += 1,
            429 => refused += 1,
            other => panic!("a burst login answered {other}"),
        }
    }
    eprintln!(
        "100 concurrent bad logins from one address (over in {:.2?}): {checked} checked, {refused} \
         refused with 429; real login from another address: p50 {:.2?} before, {:.2?} during",
        burst_started.elapsed(),
        p50(&mut before),
        p50(&mut during),
    );
    assert_eq!(checked + refused, 100);
    assert!(
        checked <= DEFAULT_ADDRESS_LIMIT as usize,
        "{checked} bad logins from one address were checked (hashed)"
    );
}
