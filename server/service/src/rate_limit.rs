//! Per-client rate limits (an API key, or an address for the demo): governor's
//! GCRA, a limit of N a minute allowing a burst of N and then one request every
//! 60/N seconds, so a client is never locked out for the rest of a fixed window.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter as Gcra};

use crate::error::ApiError;
use crate::state::AppState;

/// The outcome of one request's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds at which the client's full burst is available again.
    pub reset: u64,
    /// Seconds until the next request would be allowed (at least 1).
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

type Keyed<C> = Gcra<String, DashMapStateStore<String>, C, StateInformationMiddleware>;

/// Clients' states, one limiter per distinct limit (keys on different plans
/// share nothing).
pub struct RateLimiter<C: Clock = DefaultClock> {
    clock: C,
    by_limit: Mutex<HashMap<NonZeroU32, Arc<Keyed<C>>>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Clients remembered per limiter before the idle ones are dropped.
const RETAIN_AFTER: usize = 100_000;

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        RateLimiter {
            clock,
            by_limit: Mutex::default(),
        }
    }

    /// Counts one request of `client` against `limit` a minute.
    pub fn check(&self, client: &str, limit: u32) -> Decision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let Some(per_minute) = NonZeroU32::new(limit) else {
            return Decision {
                allowed: false,
                limit,
                remaining: 0,
                reset: now + 60,
                retry_after: 60,
            };
        };
        let limiter = self
            .by_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(per_minute)
            .or_insert_with(|| {
                Arc::new(
                    Gcra::dashmap_with_clock(Quota::per_minute(per_minute), self.clock.clone())
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone();
        if limiter.len() > RETAIN_AFTER {
            limiter.retain_recent();
        }
        // Seconds for `cells` requests' worth of capacity to come back.
        let refill = |cells: u32| (u64::from(cells) * 60).div_ceil(u64::from(limit));
        match limiter.check_key(&client.to_string()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit,
                    remaining,
                    reset: now + refill(limit - remaining),
                    retry_after: 1,
                }
            }
            Err(refused) => {
                let wait = refused.wait_time_from(self.clock.now());
                Decision {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset: now + refill(limit),
                    retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }
}

/// Middleware: a response that no key or demo limit has put rate-limit
/// headers on (`/healthz`, `/v1/openapi.json`, unknown routes, refusals
/// before authentication) counts against its address's anonymous limit and
/// carries that limit's headers; over the limit it is a 429.
pub async fn anonymous(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = crate::auth::client_ip(&req, &state.config.trusted_proxies);
    let resp = next.run(req).await;
    if resp.headers().contains_key("x-ratelimit-limit") {
        return resp;
    }
    let client = ip.map_or_else(|| "anon:unknown".to_string(), |i| format!("anon:{i}"));
    let decision = state
        .anonymous_limiter
        .check(&client, state.config.anonymous_rate_limit);
    let mut resp = if decision.allowed {
        resp
    } else {
        ApiError::RateLimited {
            retry_after_seconds: decision.retry_after,
        }
        .into_response()
    };
    decision.apply(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn a_burst_then_one_request_per_share_of_the_minute() {
        let clock = FakeRelativeClock::default();
        let rl = RateLimiter::with_clock(clock.clone());
        let remaining: Vec<u32> = (0..3).map(|_| rl.check("k", 3).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = rl.check("k", 3);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 20, "one request comes back every 20 s");
        assert!(rl.check("other", 3).allowed, "clients are separate");
        clock.advance(Duration::from_secs(20));
        let again = rl.check("k", 3);
        assert!(again.allowed && again.remaining == 0);
        assert!(!rl.check("k", 3).allowed);
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            rl.check("k", 3).remaining,
            2,
            "a quiet minute refills the burst"
        );
        assert!(!rl.check("zero", 0).allowed);
    }
}
