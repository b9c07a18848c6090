//! The per-client rate limit on SQL (`query.per_client_per_minute`): one quota per client
//! address, shared by `POST /api/sql` and the PostgreSQL endpoint, so a client cannot double
//! its share by switching surface. Behind a reverse proxy every client has the proxy's
//! address: limit there, or raise this.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Clients tracked before the idle ones are forgotten.
const TRACKED_CLIENTS: usize = 10_000;

pub struct SqlRateLimit {
    /// `None`: no limit (`per_client_per_minute = 0`).
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_minute: u32,
}

impl SqlRateLimit {
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        SqlRateLimit { limiter, per_minute }
    }

    /// May `client` run a query now? If not, how long until it may.
    pub fn check(&self, client: IpAddr) -> Result<(), RateLimited> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if limiter.len() > TRACKED_CLIENTS {
            limiter.retain_recent();
        }
        limiter.check_key(&client).map_err(|not_until| {
            metrics::counter!("ilot_sql_rate_limited_total").increment(1);
            let retry_after = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            RateLimited { per_minute: self.per_minute, retry_after }
        })
    }
}

/// A query refused by [`SqlRateLimit`].
#[derive(Debug, thiserror::Error)]
#[error("too many queries from this client: at most {per_minute} a minute (query.per_client_per_minute); retry in {} s", retry_after.as_secs().max(1))]
pub struct RateLimited {
    pub per_minute: u32,
    pub retry_after: Duration,
}
