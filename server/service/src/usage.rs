//! Per-key usage counters, kept in memory and flushed to the `usage` table by
//! the worker every few seconds (and at shutdown), so that counting a request
//! costs no database write. A crash loses at most the last few seconds.

use std::collections::HashMap;
use std::sync::Mutex;

use driftlock_store::{Store, StoreError, usage};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    requests: u64,
    events: u64,
}

/// Unflushed counts by (key, day).
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<(String, String), Counts>>,
}

impl UsageTracker {
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&self, key_id: &str, requests: u64, events: u64) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let c = p
            .entry((key_id.to_string(), driftlock_store::time::today()))
            .or_default();
        c.requests += requests;
        c.events += events;
    }

    pub fn record_request(&self, key_id: &str) {
        self.add(key_id, 1, 0);
    }

    pub fn record_events(&self, key_id: &str, events: u64) {
        self.add(key_id, 0, events);
    }

    /// Writes the pending counts in one transaction.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let batch: Vec<_> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        store
            .call(move |c| {
                let tx = c.transaction()?;
                for ((key, day), n) in &batch {
                    usage::add(&tx, key, day, n.requests, n.events)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    /// A key's days including unflushed counts, newest first.
    pub async fn for_key(
        &self,
        store: &Store,
        key_id: &str,
        days: usize,
    ) -> Result<Vec<usage::UsageDay>, StoreError> {
        self.flush(store).await?;
        let key = key_id.to_string();
        store.call(move |c| usage::for_key(c, &key, days)).await
    }
}
