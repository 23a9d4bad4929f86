//! Commits on their own thread: an interval's anomalies go to the sink, then
//! its checkpoint replaces the last one, while the next interval is scored.
//!
//! One thread applies the commits in the order they were sent, so "output
//! first, then checkpoint" (see [`super::sink`]) holds across intervals: a
//! crash leaves some saved checkpoint and, at worst, parts numbered at or
//! after its `next_part`, which a resume deletes and writes again.

use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use super::checkpoint::{Checkpoint, DetectorState};
use super::detectors::Found;
use super::sink::Sink;
use crate::BatchError;

/// One interval, ready to be made durable.
pub struct Commit {
    /// The output part its anomalies go to.
    pub part: u64,
    pub found: Vec<Found>,
    /// The checkpoint at the interval's end, without detectors.
    pub checkpoint: Checkpoint,
    /// The detectors' states at the interval's end.
    pub states: Vec<DetectorState>,
}

/// The thread that applies [`Commit`]s.
pub struct Committer<'scope> {
    tx: Option<SyncSender<Commit>>,
    handle: Option<ScopedJoinHandle<'scope, Result<(), BatchError>>>,
}

impl<'scope> Committer<'scope> {
    /// Starts the thread on `scope`; it writes to `sink` and saves
    /// checkpoints at `path`.
    pub fn spawn<'env>(
        scope: &'scope Scope<'scope, 'env>,
        sink: &'env Sink,
        path: &'env Path,
    ) -> Self {
        // Each commit holds every detector's state: the sender waits for the
        // thread to take one rather than queue it.
        let (tx, rx) = sync_channel::<Commit>(0);
        let handle = scope.spawn(move || {
            for c in rx {
                sink.commit(c.part, &c.found)?;
                c.checkpoint.save_states(path, &c.states)?;
            }
            Ok(())
        });
        Committer {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands `commit` over; fails with the thread's error if an earlier
    /// commit failed.
    pub fn send(&mut self, commit: Commit) -> Result<(), BatchError> {
        if self.tx.as_ref().is_some_and(|tx| tx.send(commit).is_ok()) {
            return Ok(());
        }
        self.finish()?;
        Err(BatchError::Checkpoint(
            "the commit thread had stopped".into(),
        ))
    }

    /// Waits until every commit sent is durable; the first error if one
    /// failed.
    pub fn finish(&mut self) -> Result<(), BatchError> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(part: u64) -> Commit {
        let mut checkpoint = Checkpoint::new("h".into());
        checkpoint.next_part = part + 1;
        Commit {
            part,
            found: Vec::new(),
            checkpoint,
            states: Vec::new(),
        }
    }

    #[test]
    fn commits_land_in_order_and_a_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::parts(dir.path()).unwrap();
        let path = dir.path().join("_checkpoint.json");
        std::thread::scope(|scope| {
            let mut c = Committer::spawn(scope, &sink, &path);
            for part in 0..5 {
                c.send(commit(part)).unwrap();
            }
            c.finish().unwrap();
        });
        let saved = Checkpoint::load(&path).unwrap().unwrap();
        assert_eq!(saved.next_part, 5, "the last commit sent is the one saved");

        let missing = dir.path().join("gone").join("_checkpoint.json");
        std::thread::scope(|scope| {
            let mut c = Committer::spawn(scope, &sink, &missing);
            // The first failure stops the thread: a later send or the finish
            // reports it, and nothing after it is applied.
            let first = c.send(commit(0)).and_then(|()| c.send(commit(1)));
            let err = first.and_then(|()| c.finish()).unwrap_err();
            assert!(err.to_string().contains("gone"), "{err}");
        });
    }
}
