//! Warnings that one message, or one reading, can cause thousands of times in a burst (a
//! conflicting duplicate kept aside, …): the first few of each minute are logged in full, the
//! rest are counted and summarised in one line per minute with the first keys, so a replayed
//! backlog cannot flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Occurrences of a minute logged in full before the rest are only counted.
const LOGGED_IN_FULL: u64 = 3;
/// Keys named in a minute's summary.
const KEYS_IN_SUMMARY: usize = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// One kind of warning, rate-limited.
#[derive(Debug)]
pub struct RepeatedWarning {
    /// What happened, once ("conflicting duplicate kept aside") and in the plural.
    one: &'static str,
    many: &'static str,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    count: u64,
    first_keys: Vec<String>,
}

impl RepeatedWarning {
    pub const fn new(one: &'static str, many: &'static str) -> RepeatedWarning {
        RepeatedWarning { one, many, window: Mutex::new(Window { started: None, count: 0, first_keys: Vec::new() }) }
    }

    /// One occurrence, named by `key` (built only when it is logged or kept for the summary).
    pub fn record(&self, key: impl FnOnce() -> String) {
        let mut window = self.window.lock().expect("repeated warning lock");
        let now = Instant::now();
        if window.started.is_some_and(|s| now.duration_since(s) >= WINDOW) {
            self.summarise(&mut window);
        }
        window.started.get_or_insert(now);
        window.count += 1;
        if window.count <= LOGGED_IN_FULL {
            let key = key();
            tracing::warn!(key = %key, "{}", self.one);
            window.first_keys.push(key);
        } else if window.first_keys.len() < KEYS_IN_SUMMARY {
            window.first_keys.push(key());
        }
    }

    /// Log the summary of a minute that is over (call it every few seconds), or of whatever was
    /// counted when `now` is true (at shutdown).
    pub fn flush(&self, now: bool) {
        let mut window = self.window.lock().expect("repeated warning lock");
        if window.started.is_some_and(|s| now || s.elapsed() >= WINDOW) {
            self.summarise(&mut window);
        }
    }

    fn summarise(&self, window: &mut Window) {
        let seconds = window.started.map_or(0, |s| s.elapsed().as_secs().min(WINDOW.as_secs()));
        if window.count > LOGGED_IN_FULL {
            tracing::warn!(
                count = window.count,
                first = %window.first_keys.join(", "),
                "{} {} in {seconds} s ({} logged one by one, the rest counted here)",
                window.count,
                self.many,
                LOGGED_IN_FULL
            );
        }
        *window = Window::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_counted_not_logged_line_by_line() {
        let warning = RepeatedWarning::new("conflicting duplicate kept aside", "conflicting duplicates kept aside");
        let mut built = 0;
        for i in 0..1000 {
            warning.record(|| {
                built += 1;
                format!("tls-{i}")
            });
        }
        assert_eq!(built, KEYS_IN_SUMMARY, "keys are only built when kept");
        {
            let window = warning.window.lock().unwrap();
            assert_eq!(window.count, 1000);
            assert_eq!(window.first_keys, ["tls-0", "tls-1", "tls-2", "tls-3", "tls-4"]);
        }
        warning.flush(false);
        assert_eq!(warning.window.lock().unwrap().count, 1000, "the minute is not over");
        warning.flush(true);
        assert_eq!(warning.window.lock().unwrap().count, 0);
    }
}
