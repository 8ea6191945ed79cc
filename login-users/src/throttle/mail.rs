//! The mail quota: `forgot-password` and `request-verify-token` requests per email and route
//! within a sliding window.

use std::time::Duration;

use super::Throttle;
use super::state::{digest, forget_older};

/// The two mail routes, throttled apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MailRoute {
    ForgotPassword,
    RequestVerify,
}

impl Throttle {
    /// Counts a `forgot-password` or `request-verify-token` request for `email`, or tells how long
    /// to wait (and does not count it).
    pub(crate) fn email_request(&self, route: MailRoute, email: &str) -> Result<(), Duration> {
        let c = self.config;
        if !c.enabled || c.email_limit == 0 {
            return Ok(());
        }
        let key = digest(email);
        self.with_state(|s, now| {
            let table = match route {
                MailRoute::ForgotPassword => &mut s.forgot,
                MailRoute::RequestVerify => &mut s.verify,
            };
            let times = table.entry(key).or_default();
            forget_older(times, now, c.email_window_ms);
            if times.len() >= c.email_limit {
                let until = times[0].saturating_add(c.email_window_ms);
                return Err(Duration::from_millis(until.saturating_sub(now).max(1)));
            }
            times.push_back(now);
            Ok(())
        })
    }
}
