//! Scoring files into one writer (`driftlock score`): a backfill without
//! checkpoints. The same machinery runs: a thread reads and decodes each file
//! ahead of the caller, events are queued per stream, and a full queue is
//! scored on another thread (streams in parallel) while the next one fills.
//! Anomalies are written in the order of the rows that reported them, as a
//! backfill writes them, whatever the buffer size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use driftlock_engine::read::ReadOptions;
use driftlock_engine::{Anomaly, AnomalyKind, DetectorConfig, StreamDetector, StreamStatus};
use driftlock_kernels::PermutationBackend;

use crate::BatchError;
use crate::backfill::detectors::{InFlight, Pending};
use crate::backfill::{READ_AHEAD, SpentTx, read_ahead};
use crate::output::AnomalySink;

/// What to score and how.
#[derive(Debug, Clone)]
pub struct ScoreConfig {
    pub inputs: Vec<PathBuf>,
    pub read: ReadOptions,
    pub detector: DetectorConfig,
    /// Events queued across streams before they are scored together (see
    /// [`crate::backfill::BUFFER_EVENTS`]).
    pub buffer_events: usize,
    /// Keep only the event anomalies that pass Benjamini–Hochberg at this
    /// false-discovery rate over every event of the run (see
    /// [`driftlock_engine::fdr`]); the anomalies are then held until the end.
    pub fdr: Option<f64>,
}

/// Where a run stands, after every read batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreProgress {
    pub bytes_total: u64,
    pub bytes_done: u64,
    pub events: u64,
    /// Anomalies written so far (they lag the events read by a queue or two).
    pub anomalies: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    pub events: u64,
    pub anomalies: u64,
    pub skipped_rows: u64,
    pub streams: usize,
    /// Streams whose baseline never filled.
    pub calibrating: usize,
    pub bytes_total: u64,
    pub secs: f64,
}

/// Scores `cfg.inputs` in order, writing every anomaly to `sink` (and
/// finishing it); `observe` sees progress after every read batch.
pub fn run(
    cfg: &ScoreConfig,
    backend: &dyn PermutationBackend,
    mut sink: Box<dyn AnomalySink>,
    observe: &mut dyn FnMut(&ScoreProgress),
) -> Result<ScoreSummary, BatchError> {
    let start = Instant::now();
    // Anomalies' events are not written, so attributes stay unparsed and the
    // reader keeps each body's text for the encoder.
    let read = ReadOptions {
        defer_attributes: true,
        keep_body_text: true,
        ..cfg.read.clone()
    };
    let mut progress = ScoreProgress {
        bytes_total: cfg
            .inputs
            .iter()
            .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum(),
        ..ScoreProgress::default()
    };
    let mut run = Run {
        detector: &cfg.detector,
        backend,
        detectors: BTreeMap::new(),
        queued: Pending::default(),
        sink: sink.as_mut(),
        written: 0,
        held: cfg.fdr.map(|_| Vec::new()),
    };
    let (mut seq, mut skipped, mut bytes_before) = (0u64, 0u64, 0u64);
    for path in &cfg.inputs {
        std::thread::scope(|scope| -> Result<(), BatchError> {
            let (batches, spent) = read_ahead(scope, path, &read, READ_AHEAD);
            let mut inflight = None;
            for item in batches {
                let (batch, bytes_read) = item?;
                let n = batch.events.len() as u64;
                skipped += batch.skipped_rows;
                run.queued.add(seq, batch);
                seq += n;
                if run.queued.len() >= cfg.buffer_events.max(1) {
                    run.land(inflight.take(), &spent)?;
                    inflight = Some(run.start(scope));
                }
                progress.events = seq;
                progress.anomalies = run.written;
                progress.bytes_done = bytes_before + bytes_read;
                observe(&progress);
            }
            run.land(inflight.take(), &spent)?;
            if !run.queued.is_empty() {
                let last = run.start(scope);
                run.land(Some(last), &spent)?;
            }
            Ok(())
        })?;
        bytes_before += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    run.settle()?;
    if let (Some(q), Some(held)) = (cfg.fdr, run.held.take()) {
        let ps: Vec<f64> = held
            .iter()
            .filter(|a| a.kind == AnomalyKind::Event)
            .map(|a| a.metrics.p_value)
            .collect();
        let cutoff = driftlock_engine::fdr::bh_cutoff(&ps, seq, q);
        let kept: Vec<Anomaly> = held
            .into_iter()
            .filter(|a| {
                a.kind != AnomalyKind::Event || cutoff.is_some_and(|c| a.metrics.p_value <= c)
            })
            .collect();
        run.sink.write(&kept)?;
        run.written = kept.len() as u64;
    }
    let anomalies = run.written;
    let streams = run.detectors.len();
    let calibrating = run
        .detectors
        .values()
        .filter(|d| d.status() != StreamStatus::Ready)
        .count();
    sink.finish()?;
    progress.anomalies = anomalies;
    progress.bytes_done = progress.bytes_total;
    observe(&progress);
    Ok(ScoreSummary {
        events: seq,
        anomalies,
        skipped_rows: skipped,
        streams,
        calibrating,
        bytes_total: progress.bytes_total,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// The detectors and the queue between read batches.
struct Run<'a> {
    detector: &'a DetectorConfig,
    backend: &'a dyn PermutationBackend,
    /// Away (owned by the queue in flight) while a queue is scored.
    detectors: BTreeMap<String, StreamDetector>,
    queued: Pending,
    sink: &'a mut dyn AnomalySink,
    written: u64,
    /// With a false-discovery rate, every anomaly until the run ends.
    held: Option<Vec<Anomaly>>,
}

impl<'a> Run<'a> {
    /// Starts scoring the queue on a thread of `scope`.
    fn start<'scope, 'env>(
        &mut self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
    ) -> InFlight<'scope>
    where
        'a: 'env,
    {
        std::mem::take(&mut self.queued).score_on(
            scope,
            std::mem::take(&mut self.detectors),
            self.detector,
            self.backend,
            false,
        )
    }

    /// Waits for the queue in flight, takes its detectors back and writes its
    /// anomalies; its events go back to be freed where they were decoded.
    fn land(&mut self, inflight: Option<InFlight<'_>>, spent: &SpentTx) -> Result<(), BatchError> {
        let Some(f) = inflight else { return Ok(()) };
        let landed = f.land()?;
        self.detectors = landed.detectors;
        let anomalies: Vec<_> = landed.found.into_iter().map(|(a, _)| a).collect();
        match self.held.as_mut() {
            Some(held) => held.extend(anomalies),
            None => {
                self.sink.write(&anomalies)?;
                self.written += anomalies.len() as u64;
            }
        }
        let _ = spent.send(landed.spent);
        Ok(())
    }

    /// The input has ended: each stream's held flags are reported, stream by
    /// stream, as a backfill's last queue reports them.
    fn settle(&mut self) -> Result<(), BatchError> {
        let settled: Vec<Anomaly> = self
            .detectors
            .values_mut()
            .flat_map(StreamDetector::settle)
            .collect();
        match self.held.as_mut() {
            Some(held) => held.extend(settled),
            None => {
                self.sink.write(&settled)?;
                self.written += settled.len() as u64;
            }
        }
        Ok(())
    }
}
