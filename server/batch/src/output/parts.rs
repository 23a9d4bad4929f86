//! Parquet parts of flat anomaly rows (a cluster run's, one per scoring
//! partition) written into one sink of any format, stream by stream.
//!
//! Each part holds whole streams in `stream_id` order (the scoring
//! partitions are hashed and sorted by stream), so merging the parts by
//! stream needs one stream's rows in memory at a time. The flat rows lack
//! one field of the NDJSON form, an incident's `first_index`; it is the
//! `index` of the stream's row that opened the incident, found among the
//! stream's rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use driftlock_engine::{Anomaly, AnomalyKind, IncidentTag, Metrics};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{AnomalySink, FlatRow, for_each_row};
use crate::BatchError;

/// Writes every row of `parts` into `sink` and finishes it; returns the
/// rows written. Streams come in `stream_id` order, each stream's
/// anomalies in the order of the events that reported them (`reported_at`;
/// those reported by one event keep their order in the part).
pub fn write_by_stream(parts: &[PathBuf], mut sink: Box<dyn AnomalySink>) -> crate::Result<u64> {
    let mut open = parts
        .iter()
        .map(|p| Part::open(p))
        .collect::<crate::Result<Vec<_>>>()?;
    let mut written = 0u64;
    let mut stream = Vec::new();
    loop {
        let mut next: Option<(usize, String)> = None;
        for (i, part) in open.iter_mut().enumerate() {
            if let Some(s) = part.head()?
                && next.as_ref().is_none_or(|(_, n)| s < n.as_str())
            {
                next = Some((i, s.to_owned()));
            }
        }
        let Some((i, id)) = next else { break };
        stream.clear();
        open[i].take_stream(&id, &mut stream)?;
        link_incidents(&id, &mut stream)?;
        stream.sort_by_key(|a| a.reported_at);
        sink.write(&stream)?;
        written += stream.len() as u64;
    }
    sink.finish()?;
    Ok(written)
}

/// One part being read: its current batch and the next row in it.
struct Part {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    row: usize,
}

impl Part {
    fn open(path: &Path) -> crate::Result<Part> {
        let file = std::fs::File::open(path).map_err(|e| BatchError::io(path, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| BatchError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(Part {
            path: path.to_path_buf(),
            reader,
            batch: None,
            row: 0,
        })
    }

    /// The stream of the next row, `None` at the end.
    fn head(&mut self) -> crate::Result<Option<&str>> {
        while self.batch.as_ref().is_none_or(|b| self.row >= b.num_rows()) {
            match self.reader.next() {
                None => {
                    self.batch = None;
                    return Ok(None);
                }
                Some(b) => {
                    self.batch = Some(b.map_err(|e| {
                        BatchError::Invalid(format!("{}: {e}", self.path.display()))
                    })?);
                    self.row = 0;
                }
            }
        }
        let batch = self.batch.as_ref().expect("a batch with rows left");
        Ok(Some(batch.column(0).as_string::<i32>().value(self.row)))
    }

    /// Moves the rows of stream `id`, from the next row on, into `into`.
    fn take_stream(&mut self, id: &str, into: &mut Vec<Anomaly>) -> crate::Result<()> {
        while self.head()? == Some(id) {
            let batch = self.batch.as_ref().expect("head loaded a batch");
            let streams = batch.column(0).as_string::<i32>();
            let end = (self.row..batch.num_rows())
                .find(|&r| streams.value(r) != id)
                .unwrap_or(batch.num_rows());
            for_each_row(&batch.slice(self.row, end - self.row), |r| {
                into.push(anomaly_of(r)?);
                Ok(())
            })?;
            self.row = end;
        }
        Ok(())
    }
}

/// The anomaly a flat row was written from, but for what flat rows do not
/// hold: `recurs` and `record` (never written in any format) and the
/// incident's `first_index` (0 here; see [`link_incidents`]).
fn anomaly_of(r: &FlatRow<'_>) -> crate::Result<Anomaly> {
    let incident = match (r.incident_id, r.incident_opens, r.incident_rank) {
        (Some(id), Some(opens), Some(rank)) => Some(IncidentTag {
            id,
            opens,
            rank,
            first_index: 0,
        }),
        _ => None,
    };
    Ok(Anomaly {
        stream_id: r.stream_id.to_owned(),
        index: r.index,
        timestamp: r.timestamp.map(str::to_owned),
        kind: r.kind.parse::<AnomalyKind>()?,
        metrics: Metrics {
            ncd: r.ncd,
            compression_ratio: r.compression_ratio,
            entropy_change: r.entropy_change,
            p_value: r.p_value,
            confidence: r.confidence,
        },
        window_p_value: r.window_p_value,
        why: r.why.to_owned(),
        compressor: r.compressor.to_owned(),
        encoded: r.encoded.to_owned(),
        nearest: serde_json::from_str(r.nearest)?,
        baseline_digest: r.baseline_digest.to_owned(),
        reported_at: r.reported_at,
        recurs: None,
        record: None,
        incident,
        held_event: None,
    })
}

/// Sets each incident's `first_index` to the `index` of the anomaly of
/// `stream` that opened it; every incident has one (the detector tags its
/// opener first, and a cluster run drops none).
fn link_incidents(stream: &str, anomalies: &mut [Anomaly]) -> crate::Result<()> {
    let openers: BTreeMap<u64, u64> = anomalies
        .iter()
        .filter_map(|a| a.incident.filter(|t| t.opens).map(|t| (t.id, a.index)))
        .collect();
    for a in anomalies.iter_mut() {
        if let Some(tag) = a.incident.as_mut() {
            tag.first_index = *openers.get(&tag.id).ok_or_else(|| {
                BatchError::Invalid(format!(
                    "stream {stream}: incident {} has no anomaly that opened it",
                    tag.id
                ))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::sample;
    use crate::output::{NdjsonSink, ParquetSink};

    /// `sample()`'s anomalies moved into one stream `id` with consistent
    /// incidents (its own sample mixes two streams' incidents).
    fn one_stream(id: &str) -> Vec<Anomaly> {
        sample()
            .into_iter()
            .map(|mut a| {
                a.stream_id = id.to_owned();
                a
            })
            .collect()
    }

    fn part(path: &Path, anomalies: &[Anomaly]) {
        let mut sink = ParquetSink::new(std::fs::File::create(path).unwrap()).unwrap();
        sink.write(anomalies).unwrap();
        sink.into_inner().unwrap();
    }

    /// An NDJSON sink whose bytes can be read after `finish` takes it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn ndjson(anomalies: &[Anomaly]) -> String {
        let mut sink = NdjsonSink::new(Vec::new());
        sink.write(anomalies).unwrap();
        String::from_utf8(sink.into_inner().unwrap()).unwrap()
    }

    /// Streams split over two parts come out in stream order, each by
    /// `reported_at`, and as NDJSON equal to the anomalies they were
    /// written from, `first_index` included.
    #[test]
    fn parts_merge_by_stream_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (one_stream("a"), one_stream("b"), one_stream("c"));
        // A part holds streams in order, each in the order it was scored.
        let first: Vec<_> = a.iter().chain(&c).cloned().collect();
        let (p0, p1) = (dir.path().join("p0.parquet"), dir.path().join("p1.parquet"));
        part(&p0, &first);
        part(&p1, &b);

        let out = Shared::default();
        let n = write_by_stream(&[p0, p1], Box::new(NdjsonSink::new(out.clone()))).unwrap();
        assert_eq!(n, 15);
        let mut expected = Vec::new();
        for mut s in [a, b, c] {
            s.sort_by_key(|x| x.reported_at);
            expected.extend(s);
        }
        // The sample's change point is reported after a later event anomaly.
        assert_ne!(expected[3].index, 103);
        let got = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(got, ndjson(&expected));
    }

    #[test]
    fn an_incident_without_its_opener_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = one_stream("a");
        a.remove(0);
        let p = dir.path().join("p.parquet");
        part(&p, &a);
        let sink = Box::new(NdjsonSink::new(Vec::new()));
        let err = write_by_stream(&[p], sink).unwrap_err().to_string();
        assert!(err.contains("stream a: incident 1"), "{err}");
    }
}
