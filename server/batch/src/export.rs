//! Bulk export of stored anomalies into any writer (a file, stdout, the API's
//! streaming response body): readers take SQLite a range of `seq` at a time
//! (NDJSON: keyset pages), so memory does not grow with the number of rows and
//! a slow writer slows the export instead of buffering it.
//!
//! NDJSON rows are the API's anomaly detail (id, status, event, evidence);
//! CSV, Parquet and Arrow IPC use the flat schema of [`crate::output`], the
//! same as `driftlock score` writes. Flat rows go from SQLite's row buffers
//! straight into the sink's column builders (8192 rows, one Parquet row group
//! per page), with no per-row `AnomalyRecord` or JSON parsing in Rust.

use std::io::{self, Write};

use crate::output::{self, OutputFormat};
use driftlock_store::anomalies::{self, AnomalyFilter};
use driftlock_store::flat_rows;
use driftlock_store::{Store, StoreError};

use crate::BatchError;

/// Rows read from SQLite per query for NDJSON (whose rows are large).
pub const PAGE: usize = 500;

fn write_err(e: impl std::fmt::Display) -> BatchError {
    BatchError::Output(format!("{e:#}"))
}

/// Writes every anomaly matching `filter` (as of the call: rows added during
/// the export are left out) to `out` in `format`, newest first; returns the
/// number of rows. Memory stays flat: rows are read [`PAGE`] (NDJSON) or a
/// range of [`output::BATCH_ROWS`] `seq` values per reader (flat formats, one
/// Parquet row group per [`output::BATCH_ROWS`] rows) at a time.
pub fn write<W: Write + Send + 'static>(
    store: &Store,
    filter: &AnomalyFilter,
    format: OutputFormat,
    out: W,
) -> Result<u64, BatchError> {
    let before = store.with_conn(|c| anomalies::max_seq(c))? + 1;
    if format == OutputFormat::Ndjson {
        return write_details(store, filter, io::BufWriter::new(out), before);
    }
    let sink = output::flat_sink_for(format, out).map_err(write_err)?;
    write_flat(store, filter, sink, before)
}

/// Readers of one flat export. Reading SQLite into columns costs about twice
/// what encoding them does (a profile of 1M rows: 66% of the CPU time in the
/// reader, 34% in the writer), so two readers keep one writer busy.
const READERS: i64 = 2;

/// Each reader's part: ranges of `seq` this wide, taken in turn (reader `r`
/// reads ranges `r`, `r + READERS`, ...). Without deletions or a filter a range
/// holds exactly one batch of rows, one Parquet row group.
const RANGE: i64 = output::BATCH_ROWS as i64;

fn write_flat(
    store: &Store,
    filter: &AnomalyFilter,
    mut sink: Box<dyn output::FlatSink>,
    before: i64,
) -> Result<u64, BatchError> {
    let oldest = store.with_conn(|c| anomalies::min_seq(c))?;
    let ranges = ((before - oldest).max(0) as u64).div_ceil(RANGE as u64) as i64;
    std::thread::scope(|s| {
        // One bounded channel per reader: memory is a batch or two per reader
        // whatever the row count, and the writer takes the batches in order.
        let (readers, channels): (Vec<_>, Vec<_>) = (0..READERS)
            .map(|r| {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let reader = s.spawn(move || read_ranges(store, filter, before, r, ranges, tx));
                (reader, rx)
            })
            .unzip();
        let mut written = Ok(());
        let mut pending = Pending::default();
        for k in 0..ranges {
            // A reader that stopped early returns its error from `join` below.
            let Ok(batch) = channels[(k % READERS) as usize].recv() else {
                break;
            };
            if let Err(e) = pending.push(batch, k + 1 == ranges, sink.as_mut()) {
                written = Err(e);
                break;
            }
        }
        // Stops the readers at their next range if writing failed.
        drop(channels);
        let mut rows = 0;
        for reader in readers {
            rows += reader
                .join()
                .map_err(|_| BatchError::Output("the export's reader panicked".into()))??;
        }
        written?;
        sink.close().map_err(write_err)?;
        Ok(rows)
    })
}

/// Batches on their way to the sink: a filtered export's ranges hold only
/// some rows each, so they are joined up to at least a full batch (one Parquet
/// row group, one IPC record batch) instead of written as many small ones.
#[derive(Default)]
struct Pending {
    batches: Vec<arrow::record_batch::RecordBatch>,
    rows: usize,
}

impl Pending {
    fn push(
        &mut self,
        batch: Option<arrow::record_batch::RecordBatch>,
        last: bool,
        sink: &mut dyn output::FlatSink,
    ) -> Result<(), BatchError> {
        if let Some(batch) = batch {
            self.rows += batch.num_rows();
            self.batches.push(batch);
        }
        if self.batches.is_empty() || (self.rows < output::BATCH_ROWS && !last) {
            return Ok(());
        }
        let batch = if self.batches.len() == 1 {
            self.batches.pop().expect("one batch")
        } else {
            let schema = self.batches[0].schema();
            let joined =
                arrow::compute::concat_batches(&schema, &self.batches).map_err(write_err)?;
            self.batches.clear();
            joined
        };
        self.rows = 0;
        sink.write_batch(&batch).map_err(write_err)
    }
}

/// Reads ranges `r`, `r + READERS`, ... below `before` (the newest range
/// first), sending one message per range, its rows newest first (`None` when
/// it held no matching row).
fn read_ranges(
    store: &Store,
    filter: &AnomalyFilter,
    before: i64,
    r: i64,
    ranges: i64,
    tx: std::sync::mpsc::SyncSender<Option<arrow::record_batch::RecordBatch>>,
) -> Result<u64, BatchError> {
    let mut columns = output::FlatColumns::default();
    let mut rows = 0u64;
    for k in (r..ranges).step_by(READERS as usize) {
        let end = before - k * RANGE;
        let n = store.with_conn(|c| {
            flat_rows::for_each_flat(c, filter, end - RANGE..end, |row| {
                columns.push(row);
                Ok::<_, StoreError>(())
            })
        })?;
        rows += n as u64;
        let batch = if columns.is_empty() {
            None
        } else {
            // Read oldest first (see `for_each_flat`), exported newest first.
            let batch = columns.take_batch().map_err(write_err)?;
            let newest_first = arrow::array::UInt32Array::from_iter_values((0..n as u32).rev());
            Some(arrow::compute::take_record_batch(&batch, &newest_first).map_err(write_err)?)
        };
        if tx.send(batch).is_err() {
            // The writer stopped; its error is the one reported.
            break;
        }
    }
    Ok(rows)
}

/// NDJSON rows are the API's anomaly detail.
fn write_details<W: Write>(
    store: &Store,
    filter: &AnomalyFilter,
    mut out: io::BufWriter<W>,
    before: i64,
) -> Result<u64, BatchError> {
    let mut before = Some(before);
    let mut rows = 0u64;
    loop {
        let page = store.with_conn(|c| anomalies::list(c, filter, before, PAGE))?;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        rows += page.len() as u64;
        for a in page {
            let d = driftlock_store::view::detail(a, Vec::new());
            serde_json::to_writer(&mut out, &d).map_err(write_err)?;
            out.write_all(b"\n").map_err(write_err)?;
        }
    }
    out.into_inner()
        .map_err(write_err)?
        .flush()
        .map_err(write_err)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use driftlock_engine::{Anomaly, AnomalyKind, Metrics};
    use driftlock_store::anomalies::AnomalyRecord;
    use serde_json::json;

    use super::*;
    use crate::output::sink_for;

    /// Records whose text needs JSON escapes, with floats that print in
    /// exponent form, a change point, and one without evidence.
    fn records() -> Vec<AnomalyRecord> {
        (0..7u64)
            .map(|i| {
                let nearest = json!([
                    {"index": i, "ncd": 1e-7 * i as f64, "encoded": format!("a\"b\\c\n\u{1}é😀 {i}")},
                    {"index": i + 1, "ncd": 0.1 + 0.2, "encoded": "</x> \t"},
                ]);
                AnomalyRecord {
                    seq: 0,
                    id: format!("anom_{i}"),
                    stream_id: format!("s-{}", i % 2),
                    position: 10 + i,
                    kind: if i == 3 { AnomalyKind::ChangePoint } else { AnomalyKind::Event },
                    timestamp: format!("2025-01-01T00:00:0{i}.000Z"),
                    ts_ms: i as i64,
                    detected_at: "2025-01-01T00:00:00.000Z".into(),
                    metrics: Metrics {
                        ncd: 0.5 + i as f64,
                        p_value: 1.0 / (i as f64 + 3.0),
                        confidence: 0.9,
                        compression_ratio: 2.5e-9,
                        entropy_change: -1.0,
                    },
                    window_p_value: (i % 2 == 0).then_some(0.01),
                    why: format!("why, \"{i}\"\nnext"),
                    compressor: "zstd".into(),
                    status: driftlock_store::record::AnomalyStatus::New,
                    event: json!({"body": {"i": i}}),
                    evidence: (i != 5).then(|| {
                        json!({
                            "config": {"seed": 1},
                            "baseline_digest": format!("{i:064}"),
                            "encoded": format!("msg=\"x,{i}\" ü"),
                            "nearest": nearest,
                        })
                    }),
                    has_evidence: i != 5,
                    batch_id: "b".into(),
                    reported_at: 10 + i + u64::from(i == 3),
                }
            })
            .collect()
    }

    #[test]
    fn flat_rows_from_sqlite_equal_the_engine_path_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), Default::default()).unwrap();
        store
            .with_conn(|c| {
                for r in records() {
                    anomalies::insert(c, &r)?;
                    // Evidence split into columns on write reads back whole, keys in order.
                    let back = anomalies::get(c, &r.id)?.unwrap();
                    assert_eq!(
                        serde_json::to_string(&back.evidence)?,
                        serde_json::to_string(&r.evidence)?
                    );
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let filter = AnomalyFilter::default();
        for format in [
            OutputFormat::Parquet,
            OutputFormat::Csv,
            OutputFormat::ArrowIpc,
        ] {
            let fast = dir.path().join(format!("fast.{}", format.extension()));
            let rows = write(
                &store,
                &filter,
                format,
                std::fs::File::create(&fast).unwrap(),
            )
            .unwrap();
            assert_eq!(rows, 7);
            let reference = dir.path().join(format!("ref.{}", format.extension()));
            let listed = store
                .with_conn(|c| anomalies::list(c, &filter, None, 100))
                .unwrap();
            let engine: Vec<Anomaly> = listed.iter().map(AnomalyRecord::to_anomaly).collect();
            let mut sink = sink_for(format, std::fs::File::create(&reference).unwrap()).unwrap();
            sink.write(&engine).unwrap();
            sink.finish().unwrap();
            assert_eq!(
                std::fs::read(&fast).unwrap(),
                std::fs::read(&reference).unwrap(),
                "{format:?}"
            );
        }
    }

    #[test]
    fn pages_cover_every_matching_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), Default::default()).unwrap();
        let n = 2 * output::BATCH_ROWS; // ends exactly on a page boundary
        let one = records().remove(0);
        store
            .with_conn(|c| {
                let tx = c.transaction()?;
                for i in 0..n {
                    let mut r = one.clone();
                    r.id = format!("anom_{i}");
                    r.position = i as u64;
                    r.stream_id = if i % 4 == 0 { "a" } else { "b" }.into();
                    anomalies::insert(&tx, &r)?;
                }
                tx.commit()?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let read = |filter: AnomalyFilter| {
            let path = dir.path().join("out.parquet");
            let rows = write(
                &store,
                &filter,
                OutputFormat::Parquet,
                std::fs::File::create(&path).unwrap(),
            )
            .unwrap();
            let file = std::fs::File::open(&path).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap();
            assert_eq!(
                reader.metadata().num_row_groups(),
                (rows as usize).div_ceil(output::BATCH_ROWS)
            );
            let mut order = Vec::new();
            for b in reader.build().unwrap() {
                let b = b.unwrap();
                let index = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<arrow::array::UInt64Array>()
                    .unwrap();
                order.extend(index.values().iter().copied());
            }
            // Positions were inserted in order: newest first is descending.
            assert!(order.windows(2).all(|w| w[0] > w[1]), "not newest first");
            let seen: std::collections::BTreeSet<u64> = order.into_iter().collect();
            assert_eq!(seen.len() as u64, rows, "a row came twice");
            seen
        };
        let all = read(AnomalyFilter::default());
        assert_eq!(all.len(), n);
        let some = read(AnomalyFilter {
            stream_id: Some("a".into()),
            ..AnomalyFilter::default()
        });
        assert_eq!(some.len(), n / 4);
        assert!(some.iter().all(|i| i % 4 == 0));

        // Gaps in `seq` (deleted rows), one of them a whole reader's range:
        // the rest still comes once each, in full row groups.
        let gone = 100..(100 + output::BATCH_ROWS as u64 + 50);
        store
            .with_conn(|c| {
                c.execute(
                    "DELETE FROM anomalies WHERE position >= ?1 AND position < ?2",
                    [gone.start as i64, gone.end as i64],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let left = read(AnomalyFilter::default());
        assert_eq!(left.len(), n - (gone.end - gone.start) as usize);
        assert!(left.iter().all(|i| !gone.contains(i)));

        // A writer that fails mid-export ends it with that error (the reader,
        // blocked on a full channel, is released rather than left hanging).
        struct Failing(usize);
        impl Write for Failing {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.len();
                if self.0 > 10_000 {
                    return Err(io::Error::other("disk full"));
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        for format in [OutputFormat::Parquet, OutputFormat::Csv] {
            let err = write(&store, &AnomalyFilter::default(), format, Failing(0)).unwrap_err();
            assert!(err.to_string().contains("disk full"), "{format:?}: {err}");
        }
    }
}
