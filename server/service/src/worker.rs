//! The background worker: scores queued events in order, per stream, streams in
//! parallel. Ingestion notifies it; a one-second tick also rescans the queue
//! (so events queued before a restart, or after a failed batch, are picked up),
//! records a heartbeat for `/readyz` and flushes usage counters.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};
use tokio::task::JoinSet;

use driftlock_store::queue;

use crate::scorer::Scorer;
use crate::usage::UsageTracker;

const TICK: Duration = Duration::from_secs(1);

/// Handle on the worker.
pub struct Worker {
    tx: mpsc::UnboundedSender<String>,
    rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    stop: watch::Sender<bool>,
    heartbeat_ms: Arc<AtomicI64>,
    task: AsyncMutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for Worker {
    fn default() -> Self {
        Self::new()
    }
}

impl Worker {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Worker {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            stop: watch::channel(false).0,
            heartbeat_ms: Arc::new(AtomicI64::new(0)),
            task: AsyncMutex::new(None),
        }
    }

    /// Tells the worker a stream has new queued events.
    pub fn notify(&self, stream_id: &str) {
        let _ = self.tx.send(stream_id.to_string());
    }

    /// Whether the worker ticked recently.
    pub fn alive(&self) -> bool {
        let beat = self.heartbeat_ms.load(Ordering::Relaxed);
        beat > 0 && driftlock_store::time::now_ms() - beat < 5_000 && !*self.stop.borrow()
    }

    /// Starts draining queues through `scorer`, `batch_size` events a transaction.
    pub(crate) fn start(&self, scorer: Arc<Scorer>, usage: Arc<UsageTracker>, batch_size: usize) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        self.heartbeat_ms
            .store(driftlock_store::time::now_ms(), Ordering::Relaxed);
        let ctx = Ctx {
            scorer,
            usage,
            batch_size,
        };
        let handle = tokio::spawn(dispatch(
            ctx,
            rx,
            self.stop.subscribe(),
            self.heartbeat_ms.clone(),
        ));
        if let Ok(mut slot) = self.task.try_lock() {
            *slot = Some(handle);
        }
    }

    /// Stops after the batches in progress.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        if let Some(h) = self.task.lock().await.take() {
            let _ = h.await;
        }
    }
}

/// What the worker's tasks share.
#[derive(Clone)]
struct Ctx {
    scorer: Arc<Scorer>,
    usage: Arc<UsageTracker>,
    batch_size: usize,
}

/// stream -> "more events arrived while draining".
type Active = Arc<std::sync::Mutex<HashMap<String, bool>>>;

async fn dispatch(
    state: Ctx,
    mut rx: mpsc::UnboundedReceiver<String>,
    mut stop: watch::Receiver<bool>,
    heartbeat: Arc<AtomicI64>,
) {
    let active: Active = Arc::default();
    let mut tasks = JoinSet::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = rx.recv() => match msg {
                Some(id) => schedule(&state, &active, &mut tasks, id, &stop),
                None => break,
            },
            _ = tick.tick() => {
                heartbeat.store(driftlock_store::time::now_ms(), Ordering::Relaxed);
                match state.scorer.store().call(|c| queue::pending_streams(c)).await {
                    Ok(ids) => for id in ids { schedule(&state, &active, &mut tasks, id, &stop) },
                    Err(e) => tracing::error!("worker: scanning the queue: {e}"),
                }
                if let Err(e) = state.usage.flush(state.scorer.store()).await {
                    tracing::warn!("worker: flushing usage: {e}");
                }
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn schedule(
    state: &Ctx,
    active: &Active,
    tasks: &mut JoinSet<()>,
    id: String,
    stop: &watch::Receiver<bool>,
) {
    {
        let mut a = active.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dirty) = a.get_mut(&id) {
            *dirty = true;
            return;
        }
        a.insert(id.clone(), false);
    }
    let (state, active, stop) = (state.clone(), active.clone(), stop.clone());
    tasks.spawn(async move {
        loop {
            let ok = drain(&state, &id, &stop).await;
            let mut a = active.lock().unwrap_or_else(|e| e.into_inner());
            match a.get_mut(&id) {
                Some(dirty) if *dirty && ok && !*stop.borrow() => *dirty = false,
                _ => {
                    a.remove(&id);
                    break;
                }
            }
        }
    });
}

/// Scores a stream's queue until it is empty; false after a failure (the next
/// tick retries).
async fn drain(state: &Ctx, stream_id: &str, stop: &watch::Receiver<bool>) -> bool {
    loop {
        if *stop.borrow() {
            return true;
        }
        match state.scorer.score_queued(stream_id, state.batch_size).await {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(
                    stream = stream_id,
                    "worker: batch failed, retrying later: {e}"
                );
                return false;
            }
        }
    }
}
