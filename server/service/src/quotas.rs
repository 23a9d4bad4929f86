//! Per-key quotas on what a request can make the server hold: the detector
//! sizes a `config_override` may ask for, the size of one event, and the bytes
//! of a stream's saved detector state. An admin key has the `admin` quota,
//! a stream key its plan's.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::event_input::InputEvent;
use crate::error::ApiError;
use driftlock_store::keys::{KeyRecord, Plan, Role};

/// The limits of one role or plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    /// `config_override.baseline_size` (and `min_baseline_size`).
    pub max_baseline_size: u64,
    /// `config_override.window_size`.
    pub max_window_size: u64,
    /// One event's `body` and `attributes`, as compact JSON.
    pub max_event_bytes: u64,
    /// A stream's saved detector (its snapshot and the events logged since).
    pub max_state_bytes: u64,
}

impl Quota {
    const fn of(baseline: u64, window: u64, event_kib: u64, state_mib: u64) -> Self {
        Quota {
            max_baseline_size: baseline,
            max_window_size: window,
            max_event_bytes: event_kib * 1024,
            max_state_bytes: state_mib * 1024 * 1024,
        }
    }
}

impl Default for Quota {
    fn default() -> Self {
        Quota::of(2_000, 500, 64, 64)
    }
}

/// `[quotas]` of the service's configuration: one table per plan, and one for
/// admin keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    pub admin: Quota,
    pub free: Quota,
    pub standard: Quota,
    pub pro: Quota,
    pub enterprise: Quota,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            admin: Quota::of(50_000, 10_000, 1024, 2048),
            free: Quota::default(),
            standard: Quota::of(5_000, 1_000, 128, 256),
            pro: Quota::of(10_000, 2_000, 256, 512),
            enterprise: Quota::of(20_000, 5_000, 512, 1024),
        }
    }
}

impl Quotas {
    pub fn for_key(&self, key: &KeyRecord) -> &Quota {
        match (key.role, key.plan) {
            (Role::Admin, _) => &self.admin,
            (Role::Stream, Plan::Free) => &self.free,
            (Role::Stream, Plan::Standard) => &self.standard,
            (Role::Stream, Plan::Pro) => &self.pro,
            (Role::Stream, Plan::Enterprise) => &self.enterprise,
        }
    }
}

fn over(field: impl Into<String>, value: u64, limit: u64) -> Result<(), ApiError> {
    if value > limit {
        return Err(ApiError::OverQuota {
            field: field.into(),
            value,
            limit,
        });
    }
    Ok(())
}

/// A request's override sizes and events against `quota` (before any work).
pub fn check_request(
    quota: &Quota,
    config_override: Option<&Map<String, Value>>,
    events: &[InputEvent],
) -> Result<(), ApiError> {
    if let Some(fields) = config_override {
        let size = |k: &str| fields.get(k).and_then(Value::as_f64);
        for (name, limit) in [
            ("baseline_size", quota.max_baseline_size),
            ("min_baseline_size", quota.max_baseline_size),
            ("window_size", quota.max_window_size),
        ] {
            if let Some(v) = size(name) {
                over(format!("config_override.{name}"), v.max(0.0) as u64, limit)?;
            }
        }
    }
    for (i, e) in events.iter().enumerate() {
        let bytes = json_len(&e.body) + json_len(&e.attributes);
        over(format!("events[{i}]"), bytes, quota.max_event_bytes)?;
    }
    Ok(())
}

/// Bytes of `v` as compact JSON, counted without building the text.
fn json_len(v: &impl Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len() as u64;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// A stream's saved state against the quota.
pub fn check_state_bytes(quota: &Quota, bytes: u64) -> Result<(), ApiError> {
    over("state_bytes", bytes, quota.max_state_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, plan: Plan) -> KeyRecord {
        KeyRecord {
            id: "k".into(),
            name: "k".into(),
            role,
            stream_id: None,
            plan,
            rate_limit_per_minute: None,
            created_at: String::new(),
            revoked_at: None,
        }
    }

    #[test]
    fn admin_keys_have_the_admin_quota_and_stream_keys_their_plan_s() {
        let q = Quotas::default();
        assert_eq!(q.for_key(&key(Role::Admin, Plan::Free)), &q.admin);
        assert_eq!(q.for_key(&key(Role::Stream, Plan::Free)), &q.free);
        assert_eq!(q.for_key(&key(Role::Stream, Plan::Pro)), &q.pro);
        assert!(q.free.max_baseline_size < q.enterprise.max_baseline_size);
    }

    #[test]
    fn min_baseline_size_is_held_to_the_baseline_limit() {
        let q = Quota::default();
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"baseline_size": 100, "min_baseline_size": 5000}"#).unwrap();
        match check_request(&q, Some(&fields), &[]) {
            Err(ApiError::OverQuota {
                field,
                value,
                limit,
            }) => {
                assert_eq!(field, "config_override.min_baseline_size");
                assert_eq!((value, limit), (5000, q.max_baseline_size));
            }
            other => panic!("{other:?}"),
        }
        check_request(&q, None, &[]).unwrap();
    }
}
