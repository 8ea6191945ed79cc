//! The throttling of the users routes (`login_users::throttle`), through the `users`
//! example's app: the login backoff per (email, client address) and its `Retry-After`, the
//! per-account ceiling across addresses (ASVS: 100 failures an hour) and the addresses exempt
//! from it, the reset on success, unknown emails throttled exactly like known ones, concurrent
//! guesses, the per-email limit of `forgot-password` and `request-verify-token`, the client
//! address from `ConnectInfo` over a real socket and from `X-Forwarded-For` when opted in, and
//! never a 5xx.
//!
//! Time is a manual clock handed to the throttle, so nothing sleeps; passwords are hashed with the
//! real argon2id parameters (the ceiling test checks 100 of them).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use login_users::{Clock, CreateUser, MemoryStore, Throttle, User, UserHooks, Users};
use serde_json::{Value, json};
use support::Res;
use tower::ServiceExt;

const SECRET: &str = "throttling-test-secret-0123456789abcdef";
const PASSWORD: &str = "guinevere-1";
const USER: &str = "arthur@camelot.bt";
const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

/// A clock that moves only when told to.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }

    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    fn advance_secs(&self, secs: u64) {
        self.advance(Duration::from_secs(secs));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

/// Counts the mails the hooks would send, per kind and address.
#[derive(Clone, Default)]
struct Mailbox(Arc<Mutex<Vec<(&'static str, String)>>>);

impl Mailbox {
    fn count(&self, kind: &str, email: &str) -> usize {
        let mails = self.0.lock().unwrap();
        mails.iter().filter(|(k, e)| *k == kind && e == email).count()
    }
}

impl UserHooks for Mailbox {
    async fn on_after_forgot_password(&self, user: &User, _token: &str) {
        self.0.lock().unwrap().push(("reset", user.email.clone()));
    }

    async fn on_after_request_verify(&self, user: &User, _token: &str) {
        self.0.lock().unwrap().push(("verify", user.email.clone()));
    }
}

/// The throttle's checks on a response.
trait ThrottleAnswers {
    fn retry_after(&self) -> Option<u64>;
    fn assert_throttled(&self, code: &str, retry_after: u64, context: &str);
    fn assert_bad_credentials(&self, context: &str);
}

impl ThrottleAnswers for Res {
    fn retry_after(&self) -> Option<u64> {
        self.headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap())
    }

    /// Asserts the throttled answer: 429, `Retry-After: <seconds>`, `{"detail": code}`.
    fn assert_throttled(&self, code: &str, retry_after: u64, context: &str) {
        assert_eq!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{context}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.json(), json!({ "detail": code }), "{context}");
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json",
            "{context}"
        );
        assert_eq!(self.retry_after(), Some(retry_after), "{context}: Retry-After");
    }

    fn assert_bad_credentials(&self, context: &str) {
        assert_eq!(
            self.status,
            StatusCode::BAD_REQUEST,
            "{context}: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.json(),
            json!({"detail": "LOGIN_BAD_CREDENTIALS"}),
            "{context}"
        );
        assert!(self.retry_after().is_none(), "{context}: no Retry-After");
    }
}

/// The example's app over a memory store, with `throttle` on a manual clock, and one active user
/// ([`USER`], [`PASSWORD`]).
struct App {
    router: Router,
    clock: ManualClock,
    mail: Mailbox,
    users: Users,
}

impl App {
    async fn new(throttle: Throttle) -> Self {
        let clock = ManualClock::new();
        let mail = Mailbox::default();
        let users = Users::builder(Arc::new(MemoryStore::default()))
            .secret(SECRET)
            .hooks(mail.clone())
            .throttle(throttle.clock(clock.clone()))
            .build()
            .unwrap();
        users.create(CreateUser::new(USER, PASSWORD)).await.unwrap();
        Self {
            router: users_example::app(users.clone()),
            clock,
            mail,
            users,
        }
    }

    async fn default() -> Self {
        Self::new(Throttle::default()).await
    }

    /// Sends `req` as if it came from `from` (an IP address; `None`: no `ConnectInfo`).
    async fn send(&self, mut req: Request<Body>, from: Option<&str>) -> Res {
        if let Some(ip) = from {
            let addr = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 40_000);
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        Res::read(self.router.clone().oneshot(req).await.unwrap()).await
    }

    async fn login(&self, email: &str, password: &str, from: &str) -> Res {
        self.send(login_request("/auth/jwt/login", email, password), Some(from))
            .await
    }

    async fn post_email(&self, path: &str, email: &str) -> Res {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(json!({ "email": email }).to_string()))
            .unwrap();
        self.send(req, Some(OWNER)).await
    }
}

fn login_request(path: &str, email: &str, password: &str) -> Request<Body> {
    let enc = |s: &str| s.replace('%', "%25").replace('@', "%40").replace('+', "%2B");
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username={}&password={}",
            enc(email),
            enc(password)
        )))
        .unwrap()
}

/// Fails the free failures and the one that starts the backoff: the pair is locked for 1 s.
async fn fail_until_backed_off(app: &App, email: &str, from: &str) {
    for i in 0..6 {
        app.login(email, "wrong-password", from)
            .await
            .assert_bad_credentials(&format!("failure {}", i + 1));
    }
}

#[tokio::test]
async fn backoff_starts_after_five_failures_doubles_and_retry_after_matches() {
    let app = App::default().await;
    fail_until_backed_off(&app, USER, ATTACKER).await;
    let mut delay = 1;
    for round in 0..6 {
        let context = format!("round {round}, delay {delay} s");
        // Throttled at once, with the whole delay, even with the right password.
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", delay, &context);
        app.login(USER, PASSWORD, ATTACKER).await.assert_throttled(
            "LOGIN_TOO_MANY_ATTEMPTS",
            delay,
            &context,
        );
        // The cookie login shares the count.
        app.send(
            login_request("/auth/cookie/login", USER, PASSWORD),
            Some(ATTACKER),
        )
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", delay, &context);
        if delay > 1 {
            // Retry-After is what is left, rounded up.
            app.clock.advance(Duration::from_millis(delay * 1000 - 1500));
            app.login(USER, "wrong-password", ATTACKER)
                .await
                .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 2, &context);
            app.clock.advance(Duration::from_millis(1500));
        } else {
            app.clock.advance_secs(delay);
        }
        // Once it has passed, one more guess is checked, and doubles the delay.
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_bad_credentials(&context);
        delay *= 2;
    }
    app.login(USER, "wrong-password", ATTACKER)
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 64, "after six rounds");
}

#[tokio::test]
async fn backoff_is_capped_at_fifteen_minutes_and_forgotten_after_a_quiet_hour() {
    let app = App::default().await;
    fail_until_backed_off(&app, USER, ATTACKER).await;
    // Failures 7 to 16: 1, 2, … 512 s, then the cap.
    for delay in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900] {
        let res = app.login(USER, "wrong-password", ATTACKER).await;
        res.assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", delay, "capped");
        app.clock.advance_secs(delay);
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_bad_credentials(&format!("after {delay} s"));
    }
    app.login(USER, "wrong-password", ATTACKER)
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 900, "still capped");
    // An hour without a failure: the count starts over, five free failures again.
    app.clock.advance_secs(3600);
    for _ in 0..6 {
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_bad_credentials("forgotten");
    }
    app.login(USER, "wrong-password", ATTACKER)
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 1, "counted anew");
}

#[tokio::test]
async fn the_real_user_logs_in_from_their_address_while_the_attackers_is_backed_off() {
    let app = App::default().await;
    fail_until_backed_off(&app, USER, ATTACKER).await;
    // Push the attacker's delay up.
    for delay in [1, 2, 4, 8] {
        app.clock.advance_secs(delay);
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_bad_credentials("attacker");
    }
    app.login(USER, PASSWORD, ATTACKER).await.assert_throttled(
        "LOGIN_TOO_MANY_ATTEMPTS",
        16,
        "attacker, even with the password",
    );
    // The owner mistypes once, then logs in; both backends.
    app.login(USER, "typo", OWNER)
        .await
        .assert_bad_credentials("owner's typo");
    let res = app.login(USER, PASSWORD, OWNER).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res);
    assert!(res.json()["access_token"].is_string());
    let res = app
        .send(login_request("/auth/cookie/login", USER, PASSWORD), Some(OWNER))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{:?}", res);
    // The attacker is still where it was.
    app.login(USER, PASSWORD, ATTACKER).await.assert_throttled(
        "LOGIN_TOO_MANY_ATTEMPTS",
        16,
        "attacker afterwards",
    );
    // IPv6: one /64 is one address.
    fail_until_backed_off(&app, USER, "2001:db8:1:2::1").await;
    app.login(USER, PASSWORD, "2001:db8:1:2:ffff:1:2:3")
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 1, "same /64");
    let res = app.login(USER, PASSWORD, "2001:db8:1:3::1").await;
    assert_eq!(res.status, StatusCode::OK, "another /64: {res:?}");
}

#[tokio::test]
async fn a_hundred_failures_an_hour_from_all_addresses_lock_the_account_for_what_is_left_of_the_hour() {
    let app = App::default().await;
    // The owner has logged in from home before the attack.
    let res = app.login(USER, PASSWORD, OWNER).await;
    assert_eq!(res.status, StatusCode::OK, "{res:?}");
    // 100 failures from 25 addresses (4 each: none of them backed off), one every 30 s.
    for i in 0..100 {
        let from = format!("203.0.113.{}", i % 25);
        app.login(USER, "wrong-password", &from)
            .await
            .assert_bad_credentials(&format!("failure {i}"));
        app.clock.advance_secs(30);
    }
    // 50 minutes after the first failure: ten minutes left for everyone, a fresh address, the
    // right password, an address without failures, the cookie backend included…
    for from in ["203.0.113.200", "192.0.2.1"] {
        app.login(USER, "wrong-password", from)
            .await
            .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 600, from);
        app.login(USER, PASSWORD, from)
            .await
            .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 600, from);
    }
    app.send(
        login_request("/auth/cookie/login", USER, PASSWORD),
        Some("192.0.2.1"),
    )
    .await
    .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 600, "cookie");
    // …but for the address the owner logged in from, still under its own backoff.
    let res = app.login(USER, PASSWORD, OWNER).await;
    assert_eq!(res.status, StatusCode::OK, "trusted address: {res:?}");
    // Other accounts are not affected.
    let res = app.login("nobody@camelot.bt", "x", "203.0.113.200").await;
    res.assert_bad_credentials("another account");
    // Refused attempts are not counted: the lock ends as announced.
    app.clock.advance_secs(599);
    app.login(USER, PASSWORD, "192.0.2.1").await.assert_throttled(
        "LOGIN_TOO_MANY_ATTEMPTS",
        1,
        "a second left",
    );
    app.clock.advance_secs(1);
    let res = app.login(USER, PASSWORD, "192.0.2.1").await;
    assert_eq!(res.status, StatusCode::OK, "lifted: {res:?}");
    // The window slides: one failure frees as each ages out.
    app.login(USER, "wrong-password", "192.0.2.2")
        .await
        .assert_bad_credentials("the slot that opened");
    app.login(USER, "wrong-password", "192.0.2.3")
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 30, "full again");
}

#[tokio::test]
async fn a_successful_login_resets_the_count_of_its_address() {
    let app = App::default().await;
    for round in 0..3 {
        for i in 0..5 {
            app.login(USER, "wrong-password", OWNER)
                .await
                .assert_bad_credentials(&format!("round {round}, failure {i}"));
        }
        let res = app.login(USER, PASSWORD, OWNER).await;
        assert_eq!(res.status, StatusCode::OK, "round {round}: {res:?}");
    }
    fail_until_backed_off(&app, USER, OWNER).await;
    app.login(USER, PASSWORD, OWNER).await.assert_throttled(
        "LOGIN_TOO_MANY_ATTEMPTS",
        1,
        "counted from the last success",
    );
}

#[tokio::test]
async fn unknown_emails_and_inactive_users_are_throttled_exactly_like_wrong_passwords() {
    let app = App::default().await;
    let mut inactive = CreateUser::new("sleeper@camelot.bt", PASSWORD);
    inactive.is_active = false;
    app.users.create(inactive).await.unwrap();
    let kinds = [
        ("wrong password", USER, "wrong-password"),
        ("unknown email", "nobody@camelot.bt", "wrong-password"),
        ("inactive user", "sleeper@camelot.bt", PASSWORD),
    ];
    let mut transcripts = Vec::new();
    for (i, (kind, email, password)) in kinds.into_iter().enumerate() {
        let from = format!("192.0.2.{}", i + 1);
        let mut transcript = Vec::new();
        for step in 0..12 {
            let res = app.login(email, password, &from).await;
            assert!(
                matches!(res.status.as_u16(), 400 | 429),
                "{kind}, step {step}: {res:?}"
            );
            transcript.push((res.status, res.retry_after(), res.body));
            if step % 3 == 2 {
                app.clock.advance_secs(1);
            }
        }
        // Each kind has an email and an address of its own; the same steps at the same pace.
        app.clock.advance_secs(3600);
        transcripts.push((kind, transcript));
    }
    let (first_kind, first) = &transcripts[0];
    assert!(
        first
            .iter()
            .any(|(status, _, _)| *status == StatusCode::TOO_MANY_REQUESTS),
        "throttled at some point: {first:?}"
    );
    for (kind, transcript) in &transcripts[1..] {
        assert_eq!(transcript, first, "{kind} vs {first_kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_no_further_than_sequential_ones_and_right_passwords_all_pass() {
    let app = Arc::new(App::default().await);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login(USER, "wrong-password", ATTACKER).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status.as_u16());
    }
    statuses.sort_unstable();
    let checked = statuses.iter().filter(|&&s| s == 400).count();
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((checked, throttled), (6, 14), "{statuses:?}");

    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login(USER, PASSWORD, OWNER).await })
        })
        .collect();
    for task in tasks {
        let res = task.await.unwrap();
        assert_eq!(res.status, StatusCode::OK, "{res:?}");
    }
}

#[tokio::test]
async fn forgot_password_and_request_verify_are_limited_per_email_not_across_emails() {
    let app = App::default().await;
    for (path, kind) in [
        ("/auth/forgot-password", "reset"),
        ("/auth/request-verify-token", "verify"),
    ] {
        // Three a quarter of an hour per email, known or not, in any case.
        for (i, email) in [USER, "ARTHUR@Camelot.bt", USER].iter().enumerate() {
            let res = app.post_email(path, email).await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{path} #{i}: {res:?}");
            assert_eq!(res.json(), Value::Null);
            app.clock.advance_secs(60);
        }
        assert_eq!(app.mail.count(kind, USER), 3, "{path}");
        for _ in 0..3 {
            app.post_email(path, USER)
                .await
                .assert_throttled("TOO_MANY_REQUESTS", 720, path);
        }
        assert_eq!(app.mail.count(kind, USER), 3, "{path}: no mail when throttled");
        // Other emails are not affected; unknown emails are limited the same way.
        for i in 0..3 {
            let res = app.post_email(path, "nobody@camelot.bt").await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{path} unknown #{i}");
        }
        app.post_email(path, "nobody@camelot.bt")
            .await
            .assert_throttled("TOO_MANY_REQUESTS", 900, path);
        // Validation still comes first.
        let res = app.post_email(path, "not-an-email").await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        // The window slides: the first request ages out after 15 minutes.
        app.clock.advance_secs(719);
        app.post_email(path, USER)
            .await
            .assert_throttled("TOO_MANY_REQUESTS", 1, path);
        app.clock.advance_secs(1);
        let res = app.post_email(path, USER).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{path} after the window");
        assert_eq!(app.mail.count(kind, USER), 4, "{path}");
        app.clock.advance_secs(3600);
    }
    // The two routes count apart.
    for _ in 0..3 {
        let res = app
            .post_email("/auth/forgot-password", "lancelot@camelot.bt")
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED);
    }
    let res = app
        .post_email("/auth/request-verify-token", "lancelot@camelot.bt")
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_disabled_throttle_never_answers_429() {
    let app = App::new(Throttle::disabled()).await;
    for i in 0..12 {
        app.login(USER, "wrong-password", ATTACKER)
            .await
            .assert_bad_credentials(&format!("failure {i}"));
    }
    let res = app.login(USER, PASSWORD, ATTACKER).await;
    assert_eq!(res.status, StatusCode::OK);
    for _ in 0..6 {
        let res = app.post_email("/auth/forgot-password", USER).await;
        assert_eq!(res.status, StatusCode::ACCEPTED);
    }
    assert_eq!(app.mail.count("reset", USER), 6);
}

#[tokio::test]
async fn without_connect_info_all_clients_share_one_address() {
    let app = App::default().await;
    for _ in 0..6 {
        let res = app
            .send(login_request("/auth/jwt/login", USER, "wrong-password"), None)
            .await;
        res.assert_bad_credentials("no ConnectInfo");
    }
    app.send(login_request("/auth/jwt/login", USER, PASSWORD), None)
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 1, "shared bucket");
    // Clients whose address is known are apart.
    let res = app.login(USER, PASSWORD, OWNER).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_unless_proxies_are_trusted() {
    let forwarded = |ip: &str| {
        let mut req = login_request("/auth/jwt/login", USER, "wrong-password");
        let value = format!("{ip}, 10.0.0.2").parse().unwrap();
        req.headers_mut().insert("x-forwarded-for", value);
        req
    };
    // Default: a client cannot escape its backoff by making up addresses.
    let app = App::default().await;
    for i in 0..6 {
        let res = app.send(forwarded(&format!("192.0.2.{i}")), Some(ATTACKER)).await;
        res.assert_bad_credentials("spoofed");
    }
    app.send(forwarded("192.0.2.99"), Some(ATTACKER))
        .await
        .assert_throttled("LOGIN_TOO_MANY_ATTEMPTS", 1, "header ignored");

    // Behind two proxies of ours, the client is the second entry from the right.
    let app = App::new(Throttle::default().trusted_proxies(2)).await;
    let proxy = Some("10.0.0.1");
    for _ in 0..6 {
        app.send(forwarded(ATTACKER), proxy)
            .await
            .assert_bad_credentials("behind proxies");
    }
    app.send(forwarded(ATTACKER), proxy).await.assert_throttled(
        "LOGIN_TOO_MANY_ATTEMPTS",
        1,
        "the attacker, through the proxies",
    );
    app.send(forwarded(OWNER), proxy)
        .await
        .assert_bad_credentials("another client through the same proxies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_real_socket_the_peer_address_is_the_key() {
    let app = App::default().await;
    let base = format!("http://{}", support::serve_with_peers(app.router.clone()).await);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |password: &'static str| {
        client
            .post(format!("{base}/auth/jwt/login"))
            .form(&[("username", USER), ("password", password)])
            .send()
    };
    for i in 0..6 {
        let res = post("wrong-password").await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "failure {i}");
    }
    let res = post(PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"detail": "LOGIN_TOO_MANY_ATTEMPTS"})
    );
    // 127.0.0.1 is backed off; another address (in-process, same throttle) is not, and neither
    // is a client without ConnectInfo.
    let res = app.login(USER, PASSWORD, OWNER).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .send(login_request("/auth/jwt/login", USER, PASSWORD), None)
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app.login(USER, PASSWORD, "127.0.0.1").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_mixed_requests_never_gets_a_5xx() {
    let app = Arc::new(App::default().await);
    let mut tasks = Vec::new();
    for i in 0..240u32 {
        let app_ = app.clone();
        tasks.push(tokio::spawn(async move {
            let app = app_;
            let from = format!("192.0.2.{}", i % 4);
            let email = if i % 2 == 0 { USER } else { "nobody@camelot.bt" };
            let req = match i % 6 {
                0 => login_request("/auth/jwt/login", email, "wrong-password"),
                1 => login_request("/auth/cookie/login", email, "wrong-password"),
                2 => login_request("/auth/jwt/login", email, PASSWORD),
                3 => Request::post("/auth/forgot-password")
                    .header("content-type", "application/json")
                    .body(Body::from(json!({ "email": email }).to_string()))
                    .unwrap(),
                4 => Request::post("/auth/request-verify-token")
                    .header("content-type", "application/json")
                    .body(Body::from(json!({ "email": email }).to_string()))
                    .unwrap(),
                _ => Request::post("/auth/jwt/login")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("username=&password=%ZZ"))
                    .unwrap(),
            };
            let res = app.send(req, Some(from.as_str())).await;
            (i, res)
        }));
        if i % 40 == 39 {
            app.clock.advance_secs(1);
        }
    }
    let mut by_status = std::collections::BTreeMap::new();
    for task in tasks {
        let (i, res) = task.await.unwrap();
        assert!(res.status.as_u16() < 500, "request {i}: {res:?}");
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.retry_after().is_some_and(|s| s >= 1), "request {i}: {res:?}");
        }
        *by_status.entry(res.status.as_u16()).or_insert(0) += 1;
    }
    eprintln!("statuses: {by_status:?}");
    assert!(by_status.contains_key(&429), "{by_status:?}");
}
