//! Cron schedules of jobs. The schedule and its next time live in the `jobs`
//! table, so a restart loses nothing: the timer reloads the earliest next time
//! from SQLite. [`Scheduler::tick`] does all the work for a given instant; the
//! background timer only decides when to call it, so tests call it directly
//! with the time they want instead of waiting for a clock.
//!
//! Times are UTC. A schedule whose times passed while the server was down fires
//! once when it comes back, not once per missed time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use rusqlite::TransactionBehavior;
use tokio::sync::watch;

use super::Signals;
use driftlock_store::ids::random_hex;
use driftlock_store::jobs::{self, JobRow, JobStatus};
use driftlock_store::time;
use driftlock_store::{Store, StoreError};

/// The timer wakes at least this often, so a clock change is noticed.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// And at most this often, so a failing tick cannot spin.
const MIN_WAIT: Duration = Duration::from_millis(200);

/// A 5-field cron expression (minute hour day-of-month month day-of-week;
/// 0 and 7 are Sunday), or an `@daily`-style nickname.
pub fn parse(schedule: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|e| format!("not a 5-field cron expression: {e}"))
}

/// The first time strictly after `after`; `None` when it never fires.
pub fn next_after(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false).ok()
}

/// Fires due schedules.
pub struct Scheduler {
    store: Store,
    signals: Arc<Signals>,
}

impl Scheduler {
    pub(crate) fn new(store: Store, signals: Arc<Signals>) -> Self {
        Scheduler { store, signals }
    }

    /// Queues a run of every schedule due at `now` and moves each schedule to
    /// its first time after `now`. Returns the new runs' ids.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let now_ms = now.timestamp_millis();
        let started = self
            .store
            .call(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut started = Vec::new();
                for def in jobs::due(&tx, now_ms)? {
                    let run = JobRow {
                        seq: 0,
                        id: format!("job_{}", random_hex(8)),
                        kind: def.kind.clone(),
                        status: JobStatus::Queued,
                        parent_id: Some(def.id.clone()),
                        spec: def.spec.clone(),
                        schedule: None,
                        next_run_ms: None,
                        last_run_id: None,
                        created_by: def.created_by.clone(),
                        created_at: time::now_rfc3339(),
                        started_at: None,
                        finished_at: None,
                        progress: Default::default(),
                        error: None,
                        cancel_requested: false,
                    };
                    jobs::insert(&tx, &run)?;
                    // A schedule that no longer parses or never fires again
                    // stops (NULL next time) rather than firing every tick.
                    let next = def
                        .schedule
                        .as_deref()
                        .and_then(|s| parse(s).ok())
                        .and_then(|cron| next_after(&cron, now))
                        .map(|t| t.timestamp_millis());
                    jobs::set_next_run(&tx, &def.id, next, &run.id)?;
                    started.push(run.id);
                }
                tx.commit()?;
                Ok::<_, StoreError>(started)
            })
            .await?;
        if !started.is_empty() {
            tracing::info!(runs = ?started, "scheduled jobs fired");
            self.signals.changed();
            self.signals.wake.notify_one();
        }
        Ok(started)
    }

    /// Ticks at each schedule's time until `stop` turns true.
    pub(crate) async fn timer(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(e) = self.tick(Utc::now()).await {
                tracing::warn!("scheduler tick: {e}");
            }
            let next = self
                .store
                .call(|c| jobs::earliest_next_run(c))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!("scheduler: reading the next run time: {e}");
                    None
                });
            let wait = next.map_or(MAX_WAIT, |ms| {
                Duration::from_millis((ms - time::now_ms()).max(0) as u64).clamp(MIN_WAIT, MAX_WAIT)
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.signals.schedules.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn five_field_expressions_and_their_next_times() {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 12, 30, 0).unwrap();
        let daily = parse("0 2 * * *").unwrap();
        assert_eq!(
            next_after(&daily, at),
            Some(Utc.with_ymd_and_hms(2025, 3, 2, 2, 0, 0).unwrap())
        );
        // Strictly after: a tick at the exact time moves to the next day.
        let two = Utc.with_ymd_and_hms(2025, 3, 2, 2, 0, 0).unwrap();
        assert_eq!(
            next_after(&daily, two),
            Some(Utc.with_ymd_and_hms(2025, 3, 3, 2, 0, 0).unwrap())
        );
        // 2025-03-02 is a Sunday: 0 and 7 both name it.
        let sunday = parse("15 4 * * 0").unwrap();
        assert_eq!(
            next_after(&sunday, at),
            Some(Utc.with_ymd_and_hms(2025, 3, 2, 4, 15, 0).unwrap())
        );
        assert_eq!(
            next_after(&parse("15 4 * * 7").unwrap(), at),
            next_after(&sunday, at)
        );
        for bad in [
            "",
            "* * * *",
            "0 0 2 * * *",
            "61 * * * *",
            "0 25 * * *",
            "nope",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
