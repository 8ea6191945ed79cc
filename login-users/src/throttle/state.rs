//! The counters behind a [`Throttle`](super::Throttle): the tables of pairs, accounts, client
//! addresses, trusted addresses and mail requests, what starting and ending an attempt does to
//! them, and their sweeping.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::Client;
use super::account::{Account, Pair};
use super::address::Address;
use super::attempt::{Begin, Outcome};
use super::config::Config;
use crate::email::email_key;

/// Expired entries are swept at most this often (and whenever a table is full).
const PRUNE_EVERY_MS: u64 = 60_000;

/// The key of an email: 128 bits of the SHA-256 of its ASCII lower case (fixed size, and no
/// addresses kept in memory).
pub(super) fn digest(email: &str) -> u128 {
    let hash = Sha256::digest(email_key(email).as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

/// Drops the times that have left the `window` ending now.
pub(super) fn forget_older(times: &mut VecDeque<u64>, now: u64, window: u64) {
    while times.front().is_some_and(|&t| t.saturating_add(window) <= now) {
        times.pop_front();
    }
}

pub(super) struct State {
    pub(super) epoch: Instant,
    pub(super) last_prune: u64,
    pub(super) pairs: HashMap<(u128, Client), Pair>,
    pub(super) accounts: HashMap<u128, Account>,
    /// Failures per client address, on all accounts.
    pub(super) addresses: HashMap<Client, Address>,
    /// When an account last logged in from an address.
    pub(super) trusted: HashMap<(u128, Client), u64>,
    pub(super) forgot: HashMap<u128, VecDeque<u64>>,
    pub(super) verify: HashMap<u128, VecDeque<u64>>,
}

impl State {
    pub(super) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            last_prune: 0,
            pairs: HashMap::new(),
            accounts: HashMap::new(),
            addresses: HashMap::new(),
            trusted: HashMap::new(),
            forgot: HashMap::new(),
            verify: HashMap::new(),
        }
    }

    pub(super) fn begin(&mut self, key: (u128, Client), now: u64, c: &Config) -> Begin {
        let (account, client) = key;
        if self.pairs.get(&key).is_some_and(|p| p.expired(now, c)) {
            self.pairs.remove(&key);
        }
        let (mut until, pair_busy) = self.pairs.get(&key).map_or((0, false), |p| {
            // If the attempts in flight all fail, would the next one be throttled?
            let busy = p.in_flight > 0 && p.failures.saturating_add(p.in_flight) > c.free_failures;
            (p.until(c), busy)
        });
        let trusted = client != Client::Unknown
            && self
                .trusted
                .get(&key)
                .is_some_and(|&t| t.saturating_add(c.trust_for_ms) > now);
        let mut account_busy = false;
        if c.account_limit > 0
            && !trusted
            && let Some(acct) = self.accounts.get_mut(&account)
        {
            forget_older(&mut acct.failures, now, c.account_window_ms);
            if acct.failures.len() >= c.account_limit {
                until = until.max(acct.failures[0].saturating_add(c.account_window_ms));
            }
            account_busy =
                acct.in_flight > 0 && acct.failures.len() + acct.in_flight as usize >= c.account_limit;
        }
        let budgeted = c.address_limit > 0 && client != Client::Unknown && !trusted;
        let mut address_busy = false;
        if budgeted && let Some(address) = self.addresses.get_mut(&client) {
            let check = address.check(now, c);
            until = until.max(check.until);
            address_busy = check.busy;
        }
        if until > now {
            return Begin::Throttled(until - now);
        }
        if pair_busy && let Some(pair) = self.pairs.get_mut(&key) {
            return Begin::Wait(pair.waiters.get());
        }
        if account_busy && let Some(acct) = self.accounts.get_mut(&account) {
            return Begin::Wait(acct.waiters.get());
        }
        if address_busy && let Some(address) = self.addresses.get_mut(&client) {
            return Begin::Wait(address.waiters.get());
        }
        self.pairs.entry(key).or_default().in_flight += 1;
        if c.account_limit > 0 {
            self.accounts.entry(account).or_default().in_flight += 1;
        }
        if budgeted {
            self.addresses.entry(client).or_default().start(now);
        }
        Begin::Go { budgeted }
    }

    /// Ends an attempt; `budgeted`: whether it was counted in flight by its address's budget.
    pub(super) fn end(
        &mut self,
        key: (u128, Client),
        budgeted: bool,
        outcome: Outcome,
        now: u64,
        c: &Config,
    ) {
        let pair = self.pairs.entry(key).or_default();
        pair.in_flight = pair.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failure => {
                pair.failures = pair.failures.saturating_add(1);
                pair.last = now;
            }
            Outcome::Success => pair.failures = 0,
            Outcome::Cancelled => {}
        }
        pair.waiters.wake();
        if pair.failures == 0 && pair.in_flight == 0 {
            self.pairs.remove(&key);
        }
        if c.account_limit > 0 {
            let acct = self.accounts.entry(key.0).or_default();
            acct.in_flight = acct.in_flight.saturating_sub(1);
            if outcome == Outcome::Failure {
                acct.failures.push_back(now);
                while acct.failures.len() > c.account_limit {
                    acct.failures.pop_front();
                }
            }
            acct.waiters.wake();
            if acct.failures.is_empty() && acct.in_flight == 0 {
                self.accounts.remove(&key.0);
            }
        }
        if budgeted && let Some(address) = self.addresses.get_mut(&key.1) {
            address.end(outcome == Outcome::Failure, now, c);
            if address.is_empty() {
                self.addresses.remove(&key.1);
            }
        }
        if outcome == Outcome::Success && c.trust_for_ms > 0 && key.1 != Client::Unknown {
            self.trusted.insert(key, now);
        }
    }

    pub(super) fn maybe_prune(&mut self, now: u64, c: &Config) {
        let full = [
            self.pairs.len(),
            self.accounts.len(),
            self.addresses.len(),
            self.trusted.len(),
            self.forgot.len(),
            self.verify.len(),
        ]
        .into_iter()
        .any(|len| len >= c.max_tracked);
        if !full && now < self.last_prune.saturating_add(PRUNE_EVERY_MS) {
            return;
        }
        self.last_prune = now;
        let cap = c.max_tracked;
        prune(&mut self.pairs, cap, |p| p.expired(now, c), |p| p.last);
        prune(
            &mut self.accounts,
            cap,
            |a| a.expired(now, c),
            |a| latest(&a.failures),
        );
        prune(&mut self.addresses, cap, |a| a.expired(now, c), Address::last);
        let trust = c.trust_for_ms;
        prune(
            &mut self.trusted,
            cap,
            |&t| t.saturating_add(trust) <= now,
            |&t| t,
        );
        let window = c.email_window_ms;
        for table in [&mut self.forgot, &mut self.verify] {
            prune(table, cap, |f| latest(f).saturating_add(window) <= now, latest);
        }
    }
}

pub(super) fn latest(times: &VecDeque<u64>) -> u64 {
    times.back().copied().unwrap_or(0)
}

/// Removes the expired entries; if more than `cap` remain, the least recently active down to 90%
/// of `cap`, so that the next sweep is some inserts away.
pub(super) fn prune<K: Hash + Eq + Copy, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    expired: impl Fn(&V) -> bool,
    last: impl Fn(&V) -> u64,
) {
    map.retain(|_, v| !expired(v));
    if map.len() < cap {
        return;
    }
    let keep = (cap - cap / 10).min(cap.saturating_sub(1)).max(1);
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (last(v), *k)).collect();
    let drop = ages.len() - keep.min(ages.len());
    if drop == 0 {
        return;
    }
    ages.select_nth_unstable_by_key(drop - 1, |(t, _)| *t);
    for (_, k) in &ages[..drop] {
        map.remove(k);
    }
}
