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

use crate::pipeline;
use crate::state::AppState;
use crate::store::queue;

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
        beat > 0 && crate::time::now_ms() - beat < 5_000 && !*self.stop.borrow()
    }

    pub(crate) fn start(&self, state: AppState) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        self.heartbeat_ms
            .store(crate::time::now_ms(), Ordering::Relaxed);
        let handle = tokio::spawn(dispatch(
            state,
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

/// stream -> "more events arrived while draining".
type Active = Arc<std::sync::Mutex<HashMap<String, bool>>>;

async fn dispatch(
    state: AppState,
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
                heartbeat.store(crate::time::now_ms(), Ordering::Relaxed);
                match state.store.call(|c| queue::pending_streams(c)).await {
                    Ok(ids) => for id in ids { schedule(&state, &active, &mut tasks, id, &stop) },
                    Err(e) => tracing::error!("worker: scanning the queue: {e}"),
                }
                if let Err(e) = state.usage.flush(&state.store).await {
                    tracing::warn!("worker: flushing usage: {e}");
                }
                while tasks.try_join_next().is_some() {}
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

fn schedule(
    state: &AppState,
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
async fn drain(state: &AppState, stream_id: &str, stop: &watch::Receiver<bool>) -> bool {
    loop {
        if *stop.borrow() {
            return true;
        }
        let mut slot = state.streams.lock(stream_id).await;
        let (st, id) = (state.clone(), stream_id.to_string());
        let result = tokio::task::spawn_blocking(move || {
            let r = st.store.with_conn(
                |conn| -> Result<Result<usize, crate::error::ApiError>, crate::store::StoreError> {
                    let batch = queue::peek(conn, &id, st.config.worker_batch_size)?;
                    let Some(&(last, _)) = batch.last() else {
                        return Ok(Ok(0));
                    };
                    let events: Vec<_> = batch.into_iter().map(|(_, e)| e).collect();
                    let mut loaded = match pipeline::take_loaded(
                        conn,
                        st.factory.as_ref(),
                        &mut slot,
                        &id,
                        None,
                    ) {
                        Ok(l) => l,
                        Err(e) => return Ok(Err(e)),
                    };
                    let batch_id = format!("batch_{}", crate::auth::random_hex(8));
                    let outcome = pipeline::process_batch(
                        conn,
                        &mut loaded,
                        &id,
                        &events,
                        &batch_id,
                        Some(last),
                        &st.metrics,
                    );
                    if outcome.is_ok() {
                        *slot = Some(loaded);
                    }
                    Ok(outcome.map(|o| o.scored + o.duplicates))
                },
            );
            match r {
                Ok(Ok(n)) => Ok(n),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        match result {
            Ok(Ok(0)) => return true,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => {
                tracing::error!(
                    stream = stream_id,
                    "worker: batch failed, retrying later: {e}"
                );
                return false;
            }
            Err(e) => {
                tracing::error!(
                    stream = stream_id,
                    "worker: batch panicked, retrying later: {e}"
                );
                return false;
            }
        }
    }
}
