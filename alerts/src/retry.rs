//! When to try a webhook delivery again: the Standard Webhooks / Svix schedule by default
//! (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), with ±20 % jitter so that
//! endpoints coming back are not hit by every sender at once, and the receiver's `Retry-After`
//! honoured when it asks for longer.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Seconds to wait before each retry; its length is the number of retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RetrySchedule(pub Vec<u64>);

impl Default for RetrySchedule {
    fn default() -> Self {
        Self(vec![5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600])
    }
}

/// The longest `Retry-After` honoured: a day.
const MAX_RETRY_AFTER_S: u64 = 24 * 3600;

impl RetrySchedule {
    /// When to retry after `attempts` failed attempts (the first attempt is immediate), or
    /// `None` when the schedule is spent: a dead letter. `jitter` in [-1, 1] scales ±20 %.
    pub fn next(&self, attempts: u32, now: DateTime<Utc>, retry_after_s: Option<u64>, jitter: f64) -> Option<DateTime<Utc>> {
        let base = *self.0.get(attempts.checked_sub(1)? as usize)?;
        let jittered = (base as f64 * (1.0 + 0.2 * jitter.clamp(-1.0, 1.0))).round() as i64;
        let asked = retry_after_s.map_or(0, |s| s.min(MAX_RETRY_AFTER_S)) as i64;
        Some(now + Duration::seconds(jittered.max(asked)))
    }
}

/// A `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3), in seconds from `now`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).num_seconds().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_schedule_is_svixs_then_a_dead_letter() {
        let now = Utc.with_ymd_and_hms(2026, 7, 14, 12, 0, 0).unwrap();
        let delays: Vec<i64> = (1..=8).map_while(|n| RetrySchedule::default().next(n, now, None, 0.0)).map(|at| (at - now).num_seconds()).collect();
        assert_eq!(delays, [5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(RetrySchedule::default().next(8, now, None, 0.0), None);
        assert_eq!(RetrySchedule::default().next(0, now, None, 0.0), None, "attempt 0 has not failed");
        // Jitter stays within ±20 %; Retry-After wins when longer, up to a day.
        assert_eq!(RetrySchedule::default().next(2, now, None, 1.0), Some(now + Duration::seconds(360)));
        assert_eq!(RetrySchedule::default().next(2, now, None, -1.0), Some(now + Duration::seconds(240)));
        assert_eq!(RetrySchedule::default().next(1, now, Some(120), 0.0), Some(now + Duration::seconds(120)));
        assert_eq!(RetrySchedule::default().next(1, now, Some(1), 0.0), Some(now + Duration::seconds(5)));
        assert_eq!(RetrySchedule::default().next(1, now, Some(10_000_000), 0.0), Some(now + Duration::days(1)));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(parse_retry_after("120", now), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(60));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
