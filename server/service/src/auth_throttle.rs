//! Failed-key throttling per client address: after N failed authentications
//! in a minute, the address is answered 429 until the minute is over, without
//! its keys being looked at, so guessing keys gets nowhere fast. A fixed
//! window, not GCRA: the check must look without counting (governor cannot).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rate_limit::Decision;

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before the expired ones are dropped.
const PRUNE_AFTER: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failures per client address (`None`: the address is unknown).
pub struct AuthThrottle {
    per_minute: u32,
    windows: Mutex<HashMap<Option<IpAddr>, Window>>,
}

impl AuthThrottle {
    pub fn new(per_minute: u32) -> Self {
        AuthThrottle {
            per_minute,
            windows: Mutex::default(),
        }
    }

    fn decision(&self, window: Option<Window>, now: Instant) -> Decision {
        let live = window.filter(|w| now.duration_since(w.started) < WINDOW);
        let failures = live.map_or(0, |w| w.failures);
        let left = live.map_or(WINDOW, |w| WINDOW - now.duration_since(w.started));
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Decision {
            allowed: failures < self.per_minute,
            limit: self.per_minute,
            remaining: self.per_minute.saturating_sub(failures),
            reset: epoch + left.as_secs_f64().ceil() as u64,
            retry_after: left.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// Where `client` stands, counting nothing: refused once its failures
    /// this minute reached the limit.
    pub fn check(&self, client: Option<IpAddr>) -> Decision {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: Option<IpAddr>, now: Instant) -> Decision {
        let w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        self.decision(w.get(&client).copied(), now)
    }

    /// Counts one failed authentication of `client`; where it stands after.
    pub fn fail(&self, client: Option<IpAddr>) -> Decision {
        self.fail_at(client, Instant::now())
    }

    fn fail_at(&self, client: Option<IpAddr>, now: Instant) -> Decision {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > PRUNE_AFTER {
            w.retain(|_, v| now.duration_since(v.started) < WINDOW);
        }
        let entry = w.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(entry.started) >= WINDOW {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        let after = *entry;
        drop(w);
        // The failure just counted was itself allowed; the next is not.
        Decision {
            allowed: true,
            ..self.decision(Some(after), now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_n_failures_until_the_minute_ends() {
        let t = AuthThrottle::new(3);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        let left: Vec<u32> = (0..3).map(|_| t.fail_at(a, start).remaining).collect();
        assert_eq!(left, [2, 1, 0]);
        let refused = t.check_at(a, start + Duration::from_secs(20));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 40);
        assert!(t.check_at(b, start).allowed, "addresses are separate");
        let later = t.check_at(a, start + WINDOW);
        assert!(later.allowed && later.remaining == 3, "{later:?}");
    }
}
