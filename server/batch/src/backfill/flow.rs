//! One file's scoring flow: a full queue is scored on its own thread while
//! the next fills, and the queue that ends a checkpoint interval carries the
//! checkpoint, which is committed once it lands.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::thread::Scope;

use driftlock_engine::DetectorConfig;
use driftlock_kernels::PermutationBackend;

use super::checkpoint::Checkpoint;
use super::commit::{Commit, Committer};
use super::detectors::{Found, InFlight, Pending, Spent};
use crate::BatchError;

pub struct Flow<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    detector: &'env DetectorConfig,
    backend: &'env dyn PermutationBackend,
    /// Scored events go back to the thread that decoded them.
    spent: Sender<Spent>,
    /// The queue being scored, and the checkpoint it ends, if it ends one.
    inflight: Option<(InFlight<'scope>, Option<Checkpoint>)>,
    /// Anomalies landed since the last checkpoint's: a file's last
    /// checkpoint takes them all.
    found: Vec<Found>,
}

impl<'scope, 'env> Flow<'scope, 'env> {
    pub fn new(
        scope: &'scope Scope<'scope, 'env>,
        detector: &'env DetectorConfig,
        backend: &'env dyn PermutationBackend,
        spent: Sender<Spent>,
    ) -> Self {
        Flow {
            scope,
            detector,
            backend,
            spent,
            inflight: None,
            found: Vec::new(),
        }
    }

    /// Waits for the queue in flight, if any: its detectors return to
    /// `ckpt`, and if it ends a checkpoint interval, the interval's anomalies
    /// and the checkpoint go to `committer`.
    pub fn land(
        &mut self,
        ckpt: &mut Checkpoint,
        committer: &mut Committer,
    ) -> Result<(), BatchError> {
        let Some((f, boundary)) = self.inflight.take() else {
            return Ok(());
        };
        let landed = f.land()?;
        ckpt.detectors = landed.detectors;
        ckpt.anomalies += landed.found.len() as u64;
        self.found.extend(landed.found);
        let _ = self.spent.send(landed.spent);
        if let (Some(mut checkpoint), Some(states)) = (boundary, landed.states) {
            // Queues land in order: every anomaly up to the boundary has
            // landed, and none after it.
            checkpoint.anomalies = ckpt.anomalies;
            committer.send(Commit {
                part: checkpoint.next_part - 1,
                found: std::mem::take(&mut self.found),
                checkpoint,
                states,
            })?;
        }
        Ok(())
    }

    /// Lands the queue in flight and starts scoring `queued`.
    pub fn flush(
        &mut self,
        queued: &mut Pending,
        ckpt: &mut Checkpoint,
        committer: &mut Committer,
    ) -> Result<(), BatchError> {
        self.land(ckpt, committer)?;
        self.start(queued, ckpt, None);
        Ok(())
    }

    /// Ends a checkpoint interval at the last queued batch: [`flush`]
    /// (Self::flush), with `ckpt` as it stands now riding on the queue. Every
    /// queued event is scored before the states are taken, so they cover
    /// exactly the batches the checkpoint counts as done; nothing waits.
    pub fn checkpoint(
        &mut self,
        queued: &mut Pending,
        ckpt: &mut Checkpoint,
        committer: &mut Committer,
    ) -> Result<(), BatchError> {
        self.land(ckpt, committer)?;
        ckpt.next_part += 1;
        let boundary = ckpt.without_detectors();
        self.start(queued, ckpt, Some(boundary));
        Ok(())
    }

    fn start(&mut self, queued: &mut Pending, ckpt: &mut Checkpoint, boundary: Option<Checkpoint>) {
        let detectors: BTreeMap<_, _> = std::mem::take(&mut ckpt.detectors);
        let f = std::mem::take(queued).score_on(
            self.scope,
            detectors,
            self.detector,
            self.backend,
            boundary.is_some(),
        );
        self.inflight = Some((f, boundary));
    }
}
