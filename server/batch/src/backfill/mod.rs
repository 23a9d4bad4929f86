//! Backfills: score a whole archive of Parquet files (Hive `date=` partitions
//! included) with checkpoints, so a killed run resumes where it stopped and
//! never writes an anomaly twice, and a finished one re-run changes nothing.
//!
//! Files run in sorted relative-path order, four things at once: a thread
//! reads and decodes a file's batches, the caller queues their events per
//! stream, once `buffer_events` are queued they are scored on another thread,
//! streams in parallel (rayon), while the next queue fills (`flow`), and a
//! last thread makes finished intervals durable ([`commit`]). So each
//! detector gets pushes of a useful size and nothing waits on decoding or on
//! disks. Every `checkpoint_every` batches and at the end of each file, the
//! queue is scored with its detectors' states serialised after it; then the
//! interval's anomalies are committed to the sink and the checkpoint
//! (detector states, files/batches done, next output part) is replaced
//! atomically; see [`sink`] for why that order is safe. Anomalies are written
//! in the order of the rows they came from, whatever the buffer size.

pub mod archive;
pub mod checkpoint;
pub mod commit;
pub mod detectors;
mod flow;
pub mod order;
pub mod roots;
pub mod sink;
mod sorted;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use driftlock_engine::DetectorConfig;
use driftlock_engine::read::{self, ReadOptions};
use driftlock_kernels::PermutationBackend;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use archive::{ArchiveFile, DateRange};
pub use checkpoint::Checkpoint;
use commit::Committer;
use flow::Flow;
use sink::Sink;

use crate::BatchError;

/// Where anomalies go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Output {
    /// A folder of `part-NNNNNN.parquet` files (checkpoint: `_checkpoint.json` in it).
    Parts(PathBuf),
    /// The server's data directory (its SQLite store).
    Store(PathBuf),
}

/// Read batches between checkpoints by default: 2M rows at 8192 a batch,
/// about 20 s of work at 100k events/s. Each checkpoint serialises every
/// detector's state (~1 MB of JSON a stream), which costs CPU even though
/// the writing is off the scoring path: every 64 batches, with scoring
/// waiting for the save, that was about 5% of a 64-stream backfill's time.
pub const CHECKPOINT_EVERY: u64 = 256;

/// Events queued before they are scored, by default: about 1024 a push for
/// each of 64 streams (`--batch-rows 65536` pushes of that size took a
/// 64-stream partition from 91k to 118k events/s).
pub const BUFFER_EVENTS: usize = 65_536;

/// What to backfill and how.
#[derive(Debug, Clone)]
pub struct BackfillConfig {
    pub archive: PathBuf,
    pub range: DateRange,
    pub detector: DetectorConfig,
    pub read: ReadOptions,
    pub output: Output,
    /// Batches between checkpoints (a checkpoint also ends every file).
    pub checkpoint_every: u64,
    /// Events queued, across streams, before they are scored together (see
    /// [`detectors`]); one queue is scored while the next fills, so more is
    /// faster and uses twice as much more memory. Results do not depend on it.
    pub buffer_events: usize,
    /// Overrides the default checkpoint path.
    pub checkpoint: Option<PathBuf>,
}

impl BackfillConfig {
    /// A hash of everything that decides which anomalies come out and how the
    /// checkpoint's batch counts are read back: resuming under another
    /// configuration is refused rather than silently mixing two.
    pub fn hash(&self) -> String {
        let archive = std::fs::canonicalize(&self.archive).unwrap_or_else(|_| self.archive.clone());
        let key = serde_json::json!({
            "archive": archive,
            "range": self.range,
            "detector": self.detector,
            "mapping": format!("{:?}", self.read.mapping),
            "batch_rows": self.read.batch_rows,
            "skip_bad_rows": self.read.skip_bad_rows,
        });
        hex::encode(Sha256::digest(key.to_string().as_bytes()))
    }

    pub fn checkpoint_path(&self, hash: &str) -> PathBuf {
        if let Some(p) = &self.checkpoint {
            return p.clone();
        }
        match &self.output {
            Output::Parts(dir) => dir.join("_checkpoint.json"),
            Output::Store(dir) => dir.join(format!("backfill-{}.checkpoint.json", &hash[..16])),
        }
    }
}

/// Where a backfill stands; `*_total` are known up front (Parquet footers).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub files_total: u64,
    pub files_done: u64,
    pub rows_total: u64,
    /// False when an input's format records no row count (a CSV or NDJSON
    /// file given as the archive): `rows_total` then counts only the others.
    pub rows_total_known: bool,
    pub rows_done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    /// What the checkpoint had already done when this run started, so a
    /// resumed run's throughput counts only its own work.
    pub rows_resumed: u64,
    pub bytes_resumed: u64,
    pub events: u64,
    pub anomalies: u64,
    pub skipped_rows: u64,
    pub streams: u64,
    /// Set when the archive's events were found out of time order (the
    /// first such event) and are being scored from a sort of the archive.
    pub went_back: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub progress: Progress,
    /// It found a finished checkpoint and did nothing.
    pub already_complete: bool,
    /// It continued from a checkpoint.
    pub resumed: bool,
    pub cancelled: bool,
    pub secs: f64,
    /// Rows and bytes read by this run (for throughput).
    pub rows_this_run: u64,
    pub bytes_this_run: u64,
}

/// The row count a Parquet footer records; `None` for other formats.
pub fn parquet_rows(path: &Path) -> Result<Option<u64>, BatchError> {
    if read::InputFormat::from_path(path) != Some(read::InputFormat::Parquet) {
        return Ok(None);
    }
    let file = std::fs::File::open(path).map_err(|e| BatchError::io(path, e))?;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(file)
        .map_err(|e| BatchError::Invalid(format!("{}: not a Parquet file: {e}", path.display())))?;
    use parquet::file::reader::FileReader;
    Ok(Some(
        reader.metadata().file_metadata().num_rows().max(0) as u64
    ))
}

/// Read batches decoded ahead of the loop that queues them.
pub(crate) const READ_AHEAD: usize = 2;

pub(crate) type Batches = std::sync::mpsc::IntoIter<Result<(read::EventBatch, u64), BatchError>>;
pub(crate) type SpentTx = std::sync::mpsc::Sender<detectors::Spent>;

/// A file's event batches, each with the bytes read so far, read and decoded
/// on a thread of `scope` up to `ahead` batches ahead of the caller, and a
/// way to hand scored events back to that thread to be freed where they were
/// allocated. Dropping the iterator stops the thread at its next batch.
pub(crate) fn read_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    path: &'scope Path,
    opts: &'scope ReadOptions,
    ahead: usize,
) -> (Batches, SpentTx) {
    let (tx, rx) = std::sync::mpsc::sync_channel(ahead);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<detectors::Spent>();
    scope.spawn(move || {
        let free = || while spent_rx.try_recv().is_ok() {};
        let mut reader = match read::open(path, opts) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e.into()));
                return;
            }
        };
        while let Some(batch) = reader.next() {
            free();
            let item = batch
                .map(|b| (b, reader.bytes_read()))
                .map_err(BatchError::from);
            if tx.send(item).is_err() {
                return;
            }
        }
        drop(tx);
        // Until the caller is done with the file, what it scores is freed here.
        while spent_rx.recv().is_ok() {}
    });
    (rx.into_iter(), spent_tx)
}

/// What a pass reads: one file of the archive, or the whole archive sorted.
enum Source<'a> {
    File(&'a ArchiveFile),
    Sorted,
}

/// Runs (or resumes) a backfill. `observe` sees progress after every batch;
/// setting `cancel` stops it at the next batch, after a checkpoint.
///
/// Files are read in order while every stream's time goes forward; at the
/// first event that goes back, what was written is deleted and the archive
/// is scored again from a sort (see [`order`]), so the anomalies are those
/// of the defined order either way.
pub fn run(
    cfg: &BackfillConfig,
    backend: &dyn PermutationBackend,
    cancel: &AtomicBool,
    observe: &mut dyn FnMut(&Progress),
) -> Result<Summary, BatchError> {
    match run_pass(cfg, backend, cancel, observe, None) {
        Err(BatchError::WentBack(went_back)) => {
            run_pass(cfg, backend, cancel, observe, Some(*went_back))
        }
        other => other,
    }
}

fn run_pass(
    cfg: &BackfillConfig,
    backend: &dyn PermutationBackend,
    cancel: &AtomicBool,
    observe: &mut dyn FnMut(&Progress),
    restart: Option<order::WentBack>,
) -> Result<Summary, BatchError> {
    let start = Instant::now();
    let hash = cfg.hash();
    let files = archive::list(&cfg.archive, &cfg.range)?;
    let sink = match &cfg.output {
        Output::Parts(dir) => Sink::parts(dir)?,
        Output::Store(dir) => Sink::store(dir, &hash, &cfg.detector)?,
    };
    let ckpt_path = cfg.checkpoint_path(&hash);
    let loaded = match restart {
        Some(_) => None,
        None => Checkpoint::load(&ckpt_path)?,
    };
    let (mut ckpt, resumed) = match loaded {
        Some(c) if c.config_hash != hash => {
            return Err(BatchError::Checkpoint(format!(
                "{} belongs to a backfill with another configuration (archive, dates, detector or \
                 reading options differ); use another output or delete the checkpoint to start over",
                ckpt_path.display()
            )));
        }
        Some(c) => (c, true),
        None if restart.is_some() => {
            let mut c = Checkpoint::new(hash.clone());
            c.sorted = true;
            c.files_done = files.iter().map(|f| f.rel.clone()).collect();
            c.save(&ckpt_path)?;
            (c, false)
        }
        None => {
            if sink.foreign_parts()? > 0 {
                return Err(BatchError::Invalid(
                    "the output folder holds part files but no backfill checkpoint; use an empty folder".into(),
                ));
            }
            let c = Checkpoint::new(hash.clone());
            // Saved before any part exists, so a part is never without a checkpoint.
            c.save(&ckpt_path)?;
            (c, false)
        }
    };
    // Files run in sorted order, so the done ones must still be a prefix; a
    // sorted pass lists every file up front and needs them all unchanged.
    let done = if ckpt.sorted {
        0
    } else {
        ckpt.files_done.len()
    };
    let listed = if ckpt.sorted {
        ckpt.files_done.len()
    } else {
        done
    };
    if files.len() < listed
        || (ckpt.sorted && files.len() != listed)
        || files[..listed]
            .iter()
            .zip(&ckpt.files_done)
            .any(|(f, d)| &f.rel != d)
    {
        return Err(BatchError::Checkpoint(
            "the archive changed under the checkpoint: files already backfilled are missing or a new \
             file sorts before them"
                .into(),
        ));
    }

    let mut progress = Progress {
        files_total: files.len() as u64,
        files_done: done as u64,
        bytes_total: files.iter().map(|f| f.bytes).sum(),
        bytes_done: files[..done].iter().map(|f| f.bytes).sum(),
        rows_total_known: true,
        went_back: ckpt.sorted.then(|| match &restart {
            Some(w) => w.to_string(),
            None => "an earlier pass found events out of time order".into(),
        }),
        ..Progress::default()
    };
    for f in &files {
        match parquet_rows(&f.path)? {
            Some(n) => progress.rows_total += n,
            None => progress.rows_total_known = false,
        }
    }
    let bytes_at_start = progress.bytes_done;
    let rows_at_start = ckpt.rows_done;
    progress.rows_resumed = rows_at_start;
    progress.bytes_resumed = bytes_at_start;
    let sync = |p: &mut Progress, c: &Checkpoint| {
        p.rows_done = c.rows_done;
        p.events = c.events_done;
        p.anomalies = c.anomalies;
        p.skipped_rows = c.skipped_rows;
        // The detectors are away while a queue is scored on its own thread.
        p.streams = p.streams.max(c.detectors.len() as u64);
        if c.sorted && p.rows_total > 0 {
            // The sort reads everything first; its output is counted in rows.
            p.bytes_done = (p.bytes_total as f64 * c.rows_done as f64 / p.rows_total as f64) as u64;
        }
    };
    sync(&mut progress, &ckpt);
    let summary = |progress: Progress, already_complete, cancelled, bytes_done| Summary {
        rows_this_run: progress.rows_done - rows_at_start,
        bytes_this_run: bytes_done - bytes_at_start,
        progress,
        already_complete,
        resumed,
        cancelled,
        secs: start.elapsed().as_secs_f64(),
    };
    if ckpt.finished && ckpt.files_done.len() == files.len() {
        observe(&progress);
        let b = progress.bytes_done;
        return Ok(summary(progress, true, false, b));
    }
    ckpt.finished = false;
    if ckpt.sorted && ckpt.next_part == 0 {
        // Nothing of the sorted pass is committed: whatever is there came
        // from the pass that found the order wrong.
        sink.discard_all()?;
    }
    sink.discard_uncommitted(ckpt.next_part)?;

    // Anomalies' events are parsed whole again when found (`detectors::Queue`).
    let read = ReadOptions {
        defer_attributes: true,
        keep_body_text: true,
        ..cfg.read.clone()
    };
    let sources: Vec<Source> = if ckpt.sorted {
        vec![Source::Sorted]
    } else {
        files[done..].iter().map(Source::File).collect()
    };
    observe(&progress);
    let every = cfg.checkpoint_every.max(1);
    let mut queued = detectors::Pending::default();
    let mut since_ckpt = 0u64;
    let stopped = std::thread::scope(|outer| -> Result<bool, BatchError> {
        let mut committer = Committer::spawn(outer, &sink, &ckpt_path);
        for (k, source) in sources.iter().enumerate() {
            let last = k + 1 == sources.len();
            let rel = match source {
                Source::File(f) => f.rel.as_str(),
                Source::Sorted => sorted::SORTED,
            };
            let skip = if ckpt.current.as_deref() == Some(rel) {
                ckpt.batches_done
            } else {
                0
            };
            ckpt.current = Some(rel.to_owned());
            ckpt.batches_done = skip;
            let bytes_before: u64 = match source {
                Source::File(_) => files[..ckpt.files_done.len()].iter().map(|f| f.bytes).sum(),
                Source::Sorted => 0,
            };
            let stopped = std::thread::scope(|scope| -> Result<bool, BatchError> {
                let (batches, spent) = match source {
                    Source::File(f) => read_ahead(scope, &f.path, &read, READ_AHEAD),
                    Source::Sorted => sorted::sorted_ahead(scope, &files, &read, READ_AHEAD),
                };
                let mut flow = Flow::new(scope, &cfg.detector, backend, spent);
                let mut batch_no = 0u64;
                for item in batches {
                    let (batch, bytes_read) = item?;
                    batch_no += 1;
                    // Batches the checkpoint already covers: their effect is
                    // in the saved detector state and their anomalies are
                    // committed.
                    if batch_no <= skip {
                        continue;
                    }
                    if let Source::File(f) = source {
                        order::advance(&mut ckpt.clocks, &f.rel, &batch)
                            .map_err(|w| BatchError::WentBack(Box::new(w)))?;
                    }
                    ckpt.rows_done += batch.events.len() as u64 + batch.skipped_rows;
                    ckpt.skipped_rows += batch.skipped_rows;
                    let n = batch.events.len() as u64;
                    queued.add(ckpt.events_done, batch);
                    ckpt.events_done += n;
                    ckpt.batches_done = batch_no;
                    since_ckpt += 1;
                    let cancelled = cancel.load(Ordering::Relaxed);
                    if since_ckpt >= every || cancelled {
                        flow.checkpoint(&mut queued, &mut ckpt, &mut committer)?;
                        since_ckpt = 0;
                    } else if queued.len() >= cfg.buffer_events.max(1) {
                        flow.flush(&mut queued, &mut ckpt, &mut committer)?;
                    }
                    sync(&mut progress, &ckpt);
                    progress.bytes_done = progress.bytes_done.max(bytes_before + bytes_read);
                    observe(&progress);
                    if cancelled {
                        flow.land(&mut ckpt, &mut committer)?;
                        return Ok(true);
                    }
                }
                if let Source::File(f) = source {
                    ckpt.files_done.push(f.rel.clone());
                }
                ckpt.current = None;
                ckpt.batches_done = 0;
                if last {
                    queued.end_input();
                }
                flow.checkpoint(&mut queued, &mut ckpt, &mut committer)?;
                flow.land(&mut ckpt, &mut committer)?;
                Ok(false)
            })?;
            if stopped {
                committer.finish()?;
                return Ok(true);
            }
            progress.files_done = match source {
                Source::File(_) => ckpt.files_done.len() as u64,
                Source::Sorted => files.len() as u64,
            };
            progress.bytes_done = match source {
                Source::File(_) => files[..ckpt.files_done.len()].iter().map(|f| f.bytes).sum(),
                Source::Sorted => progress.bytes_total,
            };
            sync(&mut progress, &ckpt);
            since_ckpt = 0;
            observe(&progress);
        }
        committer.finish()?;
        Ok(false)
    })?;
    if stopped {
        let b = progress.bytes_done;
        return Ok(summary(progress, false, true, b));
    }
    ckpt.finished = true;
    ckpt.save(&ckpt_path)?;
    let b = progress.bytes_done;
    Ok(summary(progress, false, false, b))
}
