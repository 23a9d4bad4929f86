//! Fixed one-minute windows per client (an API key, or an address for the demo).
//! A window opens at a client's first request and lasts 60 seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};

const WINDOW_SECS: u64 = 60;

/// The outcome of one request's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds at which the window resets.
    pub reset: u64,
    /// Seconds until then (at least 1).
    pub retry_after: u64,
}

impl Decision {
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (and
    /// `Retry-After` when refused).
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
        if !self.allowed {
            headers.insert("retry-after", HeaderValue::from(self.retry_after));
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    count: u32,
}

/// Counters of every client seen in the current windows.
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request of `client` against `limit` per minute.
    pub fn check(&self, client: &str, limit: u32) -> Decision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.check_at(client, limit, now)
    }

    pub fn check_at(&self, client: &str, limit: u32, now: u64) -> Decision {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, w| now < w.start + WINDOW_SECS);
        }
        let w = windows.entry(client.to_string()).or_insert(Window {
            start: now,
            count: 0,
        });
        if now >= w.start + WINDOW_SECS {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        let reset = w.start + WINDOW_SECS;
        let allowed = w.count < limit;
        if allowed {
            w.count += 1;
        }
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(w.count),
            reset,
            retry_after: reset.saturating_sub(now).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_and_reset() {
        let rl = RateLimiter::new();
        let a = rl.check_at("k", 2, 1000);
        assert!(a.allowed && a.remaining == 1 && a.reset == 1060);
        assert!(rl.check_at("k", 2, 1001).allowed);
        let refused = rl.check_at("k", 2, 1010);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 50);
        assert!(rl.check_at("other", 2, 1010).allowed);
        let fresh = rl.check_at("k", 2, 1060);
        assert!(fresh.allowed && fresh.remaining == 1 && fresh.reset == 1120);
    }
}
