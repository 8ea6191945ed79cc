//! The throttle's rules, on a manual clock.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use super::attempt::LoginAttempt;
use super::state::digest;
use super::*;

#[derive(Clone)]
struct Manual(Arc<Mutex<Instant>>);

impl Manual {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

fn throttle() -> (Throttle, Manual) {
    let clock = Manual::new();
    (Throttle::default().clock(clock.clone()), clock)
}

fn ip(n: u8) -> Client {
    Client::Ip(IpAddr::from([192, 0, 2, n]))
}

/// The output of `future` if it is ready at its first poll.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// An attempt that does not have to wait for others.
fn begin<'a>(t: &'a Throttle, email: &str, client: Client) -> Result<LoginAttempt<'a>, Duration> {
    now_or_never(t.login(email, client)).expect("the attempt waits")
}

/// A failed attempt (the attempt dropped as it is); the wait when throttled.
fn fail(t: &Throttle, email: &str, client: Client) -> Result<(), Duration> {
    begin(t, email, client).map(drop)
}

#[test]
fn backoff_starts_after_the_free_failures_and_doubles_up_to_the_cap() {
    let (t, clock) = throttle();
    for _ in 0..DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
    // The sixth failure is counted, and locks for 1 s, then 2 s, 4 s, …
    fail(&t, "a@example.com", ip(1)).unwrap();
    let mut expected = Duration::from_secs(1);
    for _ in 0..15 {
        assert_eq!(fail(&t, "a@example.com", ip(1)), Err(expected));
        clock.advance(expected - Duration::from_millis(1));
        assert_eq!(fail(&t, "a@example.com", ip(1)), Err(Duration::from_millis(1)));
        clock.advance(Duration::from_millis(1));
        fail(&t, "a@example.com", ip(1)).unwrap();
        expected = (expected * 2).min(DEFAULT_MAX_DELAY);
    }
    assert_eq!(expected, DEFAULT_MAX_DELAY);
}

#[test]
fn the_backoff_is_per_address_and_case_insensitive() {
    let (t, _) = throttle();
    for _ in 0..=DEFAULT_FREE_FAILURES {
        fail(&t, "Victim@Example.com", ip(1)).unwrap();
    }
    assert!(fail(&t, "victim@example.com", ip(1)).is_err());
    assert!(fail(&t, "VICTIM@EXAMPLE.COM", ip(1)).is_err());
    // The victim's address and other emails are unaffected.
    begin(&t, "victim@example.com", ip(2)).unwrap().succeeded();
    fail(&t, "other@example.com", ip(1)).unwrap();
}

#[test]
fn success_clears_the_pair() {
    let (t, _) = throttle();
    for _ in 0..DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
    begin(&t, "a@example.com", ip(1)).unwrap().succeeded();
    for _ in 0..=DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
    assert!(fail(&t, "a@example.com", ip(1)).is_err());
}

#[test]
fn cancelled_attempts_do_not_count() {
    let (t, _) = throttle();
    for _ in 0..20 {
        begin(&t, "a@example.com", ip(1)).unwrap().cancel();
    }
    for _ in 0..=DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
    assert!(fail(&t, "a@example.com", ip(1)).is_err());
}

#[test]
fn concurrent_guesses_wait_for_those_in_flight() {
    let (t, _) = throttle();
    // The pair's rule alone: the address budget checks only `ADDRESS_IN_FLIGHT` at once.
    let t = t.address_limit(0, DEFAULT_ADDRESS_WINDOW);
    let held: Vec<_> = (0..=DEFAULT_FREE_FAILURES)
        .map(|_| begin(&t, "a@example.com", ip(1)).unwrap())
        .collect();
    let mut next = std::pin::pin!(t.login("a@example.com", ip(1)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    // Another address is not held up.
    begin(&t, "a@example.com", ip(2)).unwrap().succeeded();
    assert!(next.as_mut().poll(&mut cx).is_pending());
    // The six in flight fail: the waiting one is throttled.
    drop(held);
    match next.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(wait)) => assert_eq!(wait, DEFAULT_FIRST_DELAY),
        _ => panic!("the waiting attempt is not throttled"),
    }
}

#[test]
fn concurrent_right_passwords_all_go_through() {
    let (t, _) = throttle();
    // The pair's rule alone: the address budget checks only `ADDRESS_IN_FLIGHT` at once.
    let t = t.address_limit(0, DEFAULT_ADDRESS_WINDOW);
    let held: Vec<_> = (0..=DEFAULT_FREE_FAILURES)
        .map(|_| begin(&t, "a@example.com", ip(1)).unwrap())
        .collect();
    let mut next = std::pin::pin!(t.login("a@example.com", ip(1)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    for attempt in held {
        attempt.succeeded();
    }
    match next.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(attempt)) => attempt.succeeded(),
        _ => panic!("the waiting attempt does not go"),
    }
    assert!(t.state.lock().unwrap().pairs.is_empty());
}

#[test]
fn concurrent_guesses_at_the_account_ceiling_wait_too() {
    let (t, _) = throttle();
    for i in 0..DEFAULT_ACCOUNT_LIMIT - 1 {
        fail(&t, "a@example.com", ip((i % 50) as u8)).unwrap();
    }
    let last = begin(&t, "a@example.com", ip(100)).unwrap();
    let mut next = std::pin::pin!(t.login("a@example.com", ip(101)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(next.as_mut().poll(&mut cx).is_pending());
    drop(last);
    assert!(matches!(
        next.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Err(_))
    ));
}

#[test]
fn a_quiet_pair_is_forgotten_after_the_window() {
    let (t, clock) = throttle();
    for _ in 0..=DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
    clock.advance(DEFAULT_ACCOUNT_WINDOW);
    for _ in 0..=DEFAULT_FREE_FAILURES {
        fail(&t, "a@example.com", ip(1)).unwrap();
    }
}

#[test]
fn the_account_ceiling_spans_addresses_and_lifts_as_failures_age() {
    let (t, clock) = throttle();
    // 100 failures from 25 addresses, one a minute… of which the first at t = 0.
    for i in 0..DEFAULT_ACCOUNT_LIMIT {
        fail(&t, "a@example.com", ip((i % 25) as u8)).unwrap();
        clock.advance(Duration::from_secs(30));
    }
    // Now t = 50 min: locked from everywhere until the first failure is an hour old, an
    // address without failures of its own included.
    assert_eq!(fail(&t, "a@example.com", ip(200)), Err(Duration::from_secs(600)));
    assert_eq!(
        fail(&t, "A@example.com", Client::Unknown),
        Err(Duration::from_secs(600))
    );
    fail(&t, "b@example.com", ip(200)).unwrap();
    clock.advance(Duration::from_secs(600));
    fail(&t, "a@example.com", ip(200)).unwrap();
    // The window is full again: the next slot opens when the second failure is an hour old.
    assert_eq!(fail(&t, "a@example.com", ip(201)), Err(Duration::from_secs(30)));
}

#[test]
fn trusted_addresses_pass_the_ceiling_but_not_their_own_backoff() {
    let (t, clock) = throttle();
    begin(&t, "a@example.com", ip(7)).unwrap().succeeded();
    clock.advance(Duration::from_secs(3600 * 24));
    for i in 0..DEFAULT_ACCOUNT_LIMIT {
        fail(&t, "a@example.com", ip(100 + (i % 50) as u8)).unwrap();
    }
    assert!(fail(&t, "a@example.com", ip(8)).is_err());
    begin(&t, "a@example.com", ip(7)).unwrap().succeeded();
    // …until the trust expires.
    clock.advance(DEFAULT_TRUST_FOR);
    for i in 0..DEFAULT_ACCOUNT_LIMIT {
        fail(&t, "a@example.com", ip(100 + (i % 50) as u8)).unwrap();
    }
    assert!(fail(&t, "a@example.com", ip(7)).is_err());
}

#[test]
fn the_unknown_address_is_never_trusted() {
    let (t, _) = throttle();
    begin(&t, "a@example.com", Client::Unknown).unwrap().succeeded();
    for i in 0..DEFAULT_ACCOUNT_LIMIT {
        fail(&t, "a@example.com", ip(i as u8)).unwrap();
    }
    assert!(fail(&t, "a@example.com", Client::Unknown).is_err());
}

#[test]
fn email_requests_are_limited_per_email_and_route() {
    let (t, clock) = throttle();
    for _ in 0..DEFAULT_EMAIL_LIMIT {
        t.email_request(MailRoute::ForgotPassword, "a@example.com")
            .unwrap();
        clock.advance(Duration::from_secs(60));
    }
    assert_eq!(
        t.email_request(MailRoute::ForgotPassword, "A@EXAMPLE.COM"),
        Err(Duration::from_secs(12 * 60))
    );
    t.email_request(MailRoute::RequestVerify, "a@example.com")
        .unwrap();
    t.email_request(MailRoute::ForgotPassword, "b@example.com")
        .unwrap();
    clock.advance(Duration::from_secs(12 * 60));
    t.email_request(MailRoute::ForgotPassword, "a@example.com")
        .unwrap();
    assert!(
        t.email_request(MailRoute::ForgotPassword, "a@example.com")
            .is_err()
    );
}

#[test]
fn disabled_throttles_nothing() {
    let t = Throttle::disabled();
    for _ in 0..1000 {
        fail(&t, "a@example.com", ip(1)).unwrap();
        t.email_request(MailRoute::ForgotPassword, "a@example.com")
            .unwrap();
    }
    let (t, _) = throttle();
    let t = t
        .account_limit(0, DEFAULT_ACCOUNT_WINDOW)
        .email_limit(0, DEFAULT_EMAIL_WINDOW);
    for i in 0..1000 {
        fail(&t, "a@example.com", ip((i % 200) as u8)).unwrap();
        t.email_request(MailRoute::ForgotPassword, "a@example.com")
            .unwrap();
    }
}

#[test]
fn memory_stays_bounded_under_many_emails() {
    let (t, clock) = throttle();
    let t = t.max_tracked(1000);
    // One failure per email, each from an address of its own.
    let from = |i: u32| Client::Ip(IpAddr::V4(std::net::Ipv4Addr::from_bits((10 << 24) | i)));
    for i in 0..10_000 {
        let email = format!("user{i}@example.com");
        fail(&t, &email, from(i)).unwrap();
        t.email_request(MailRoute::ForgotPassword, &email).unwrap();
        clock.advance(Duration::from_millis(1));
    }
    let s = t.state.lock().unwrap();
    for len in [s.pairs.len(), s.accounts.len(), s.addresses.len(), s.forgot.len()] {
        assert!(len <= 1000, "{len} entries");
    }
    // The most recent survive.
    assert!(
        s.pairs
            .contains_key(&(digest("user9999@example.com"), from(9999)))
    );
    assert!(s.addresses.contains_key(&from(9999)));
    drop(s);
    // Expired entries are swept.
    clock.advance(DEFAULT_ACCOUNT_WINDOW + Duration::from_secs(61));
    fail(&t, "late@example.com", ip(1)).unwrap();
    let s = t.state.lock().unwrap();
    assert_eq!(
        (s.pairs.len(), s.accounts.len(), s.addresses.len(), s.forgot.len()),
        (1, 1, 1, 0)
    );
}

#[test]
fn the_address_budget_spans_accounts_and_lifts_as_failures_age() {
    let (t, clock) = throttle();
    // One failure on each of 20 accounts, one every 10 s.
    for i in 0..DEFAULT_ADDRESS_LIMIT {
        fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
        clock.advance(Duration::from_secs(10));
    }
    // Now t = 200 s: every account is refused from that address until the first failure is
    // 10 minutes old; other addresses are not.
    for email in ["new@example.com", "user0@example.com"] {
        assert_eq!(fail(&t, email, ip(1)), Err(Duration::from_secs(400)));
    }
    assert!(fail(&t, "new@example.com", Client::Ip("192.0.2.1".parse().unwrap())).is_err());
    fail(&t, "new@example.com", ip(2)).unwrap();
    // A refused attempt is not counted: the window slides on the counted ones.
    clock.advance(Duration::from_secs(400));
    fail(&t, "new@example.com", ip(1)).unwrap();
    assert_eq!(fail(&t, "newer@example.com", ip(1)), Err(Duration::from_secs(10)));
}

#[test]
fn the_address_budget_spares_the_accounts_that_trust_the_address() {
    let (t, _) = throttle();
    begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
    for i in 0..DEFAULT_ADDRESS_LIMIT {
        fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
    }
    assert!(fail(&t, "user0@example.com", ip(1)).is_err());
    begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
    // Their own failures do not count against the address either.
    let (t, _) = throttle();
    begin(&t, "owner@example.com", ip(1)).unwrap().succeeded();
    for _ in 0..DEFAULT_FREE_FAILURES {
        fail(&t, "owner@example.com", ip(1)).unwrap();
    }
    for i in 0..DEFAULT_ADDRESS_LIMIT {
        fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
    }
}

#[test]
fn the_address_budget_leaves_the_unknown_address_alone() {
    // Without client addresses every client shares one: a budget there would lock everyone.
    let (t, _) = throttle();
    for i in 0..10 * DEFAULT_ADDRESS_LIMIT {
        fail(&t, &format!("user{i}@example.com"), Client::Unknown).unwrap();
    }
}

#[test]
fn concurrent_guesses_from_one_address_wait_their_turn_and_for_the_budget() {
    let (t, _) = throttle();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let held: Vec<_> = (0..ADDRESS_IN_FLIGHT)
        .map(|i| begin(&t, &format!("user{i}@example.com"), ip(1)).unwrap())
        .collect();
    // A third account from that address waits for a slot; another address does not.
    let mut next = std::pin::pin!(t.login("another@example.com", ip(1)));
    assert!(next.as_mut().poll(&mut cx).is_pending());
    begin(&t, "another@example.com", ip(2)).unwrap().succeeded();
    let mut held = held.into_iter();
    drop(held.next());
    match next.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(attempt)) => drop(attempt),
        _ => panic!("the waiting attempt does not go"),
    }
    drop(held);
    // 3 failures so far; 16 more, then one in flight: if it fails the budget is spent, so
    // the next waits for it (below the slots' limit), then is throttled.
    for i in 0..16 {
        fail(&t, &format!("more{i}@example.com"), ip(1)).unwrap();
    }
    let last = begin(&t, "last@example.com", ip(1)).unwrap();
    let mut after = std::pin::pin!(t.login("after@example.com", ip(1)));
    assert!(after.as_mut().poll(&mut cx).is_pending());
    drop(last);
    match after.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(wait)) => assert_eq!(wait, DEFAULT_ADDRESS_WINDOW),
        _ => panic!("the waiting attempt is not throttled"),
    }
}

#[test]
fn the_address_budget_is_tunable() {
    let (t, clock) = throttle();
    let t = t.address_limit(2, Duration::from_secs(60));
    fail(&t, "a@example.com", ip(1)).unwrap();
    fail(&t, "b@example.com", ip(1)).unwrap();
    assert_eq!(fail(&t, "c@example.com", ip(1)), Err(Duration::from_secs(60)));
    clock.advance(Duration::from_secs(60));
    fail(&t, "c@example.com", ip(1)).unwrap();
    let t = t.address_limit(0, Duration::from_secs(60));
    for i in 0..100 {
        fail(&t, &format!("user{i}@example.com"), ip(1)).unwrap();
    }
}

#[test]
fn addresses_are_bucketed() {
    let t = Throttle::default();
    let peer = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
    let none = HeaderMap::new();
    assert_eq!(t.client(peer("192.0.2.1:5000"), &none), ip(1));
    assert_eq!(t.client(peer("[::ffff:192.0.2.1]:5000"), &none), ip(1));
    assert_eq!(
        t.client(peer("[2001:db8:1:2:3:4:5:6]:1"), &none),
        t.client(peer("[2001:db8:1:2:ffff::]:2"), &none)
    );
    assert_ne!(
        t.client(peer("[2001:db8:1:2::]:1"), &none),
        t.client(peer("[2001:db8:1:3::]:1"), &none)
    );
    assert_eq!(t.client(None, &none), Client::Unknown);

    let mut forwarded = HeaderMap::new();
    forwarded.append("x-forwarded-for", "203.0.113.9, 192.0.2.50".parse().unwrap());
    forwarded.append("x-forwarded-for", "192.0.2.60".parse().unwrap());
    // Ignored by default.
    assert_eq!(t.client(peer("192.0.2.1:1"), &forwarded), ip(1));
    let one = Throttle::default().trusted_proxies(1);
    assert_eq!(one.client(peer("192.0.2.1:1"), &forwarded), ip(60));
    let two = Throttle::default().trusted_proxies(2);
    assert_eq!(two.client(peer("192.0.2.1:1"), &forwarded), ip(50));
    let four = Throttle::default().trusted_proxies(4);
    assert_eq!(four.client(peer("192.0.2.1:1"), &forwarded), ip(1));
    assert_eq!(one.client(peer("192.0.2.1:1"), &none), ip(1));
}
