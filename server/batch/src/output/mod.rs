//! Anomaly writers: NDJSON, CSV, Parquet and Arrow IPC, streaming.
//!
//! Every sink writes rows as they come (columnar sinks buffer at most
//! [`BATCH_ROWS`] rows), so memory stays flat however many anomalies a run
//! reports, and output is byte-for-byte the same for the same anomalies.
//!
//! Columnar and CSV outputs are flat, one column per field in this order:
//! `stream_id, index, timestamp, kind, ncd, compression_ratio, entropy_change,
//! p_value, confidence, window_p_value, why, compressor, encoded, nearest,
//! baseline_digest, reported_at`; `nearest` holds the neighbours as a JSON
//! array, and `reported_at` is the stream position of the event whose arrival
//! reported the anomaly (its own `index` for an event anomaly, a later one for
//! a change point), so a backfill's output can be joined with its input.

mod columnar;
mod csv;
mod ndjson;
pub mod parts;

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use crate::BatchError;
use driftlock_engine::Anomaly;

pub use columnar::{FlatColumns, IpcSink, ParquetSink, anomaly_schema, for_each_row};
pub use csv::CsvSink;
pub use ndjson::NdjsonSink;

/// Rows a columnar sink buffers before writing them out as one record batch
/// (one Parquet row group).
pub const BATCH_ROWS: usize = 8192;

pub use driftlock_store::flat_row::{COLUMNS, FlatRow, nearest_json};

/// A destination for flat rows (CSV, Parquet, Arrow IPC).
pub trait FlatSink: Send {
    fn write_row(&mut self, row: &FlatRow<'_>) -> crate::Result<()>;
    /// Rows built by [`FlatColumns`], after any rows given one by one.
    fn write_batch(&mut self, batch: &arrow::record_batch::RecordBatch) -> crate::Result<()>;
    /// As [`AnomalySink::finish`].
    fn close(self: Box<Self>) -> crate::Result<()>;
}

/// A flat sink writing `format` to `writer` (an error for NDJSON, which is not flat).
pub fn flat_sink_for<W: Write + Send + 'static>(
    format: OutputFormat,
    writer: W,
) -> crate::Result<Box<dyn FlatSink>> {
    Ok(match format {
        OutputFormat::Ndjson => {
            return Err(BatchError::Invalid("NDJSON is not a flat format".into()));
        }
        OutputFormat::Csv => Box::new(CsvSink::new(writer)),
        OutputFormat::Parquet => Box::new(ParquetSink::new(writer)?),
        OutputFormat::ArrowIpc => Box::new(IpcSink::new(writer)?),
    })
}

/// A destination for anomalies.
pub trait AnomalySink: Send {
    /// Writes (or buffers) `anomalies`, in order.
    fn write(&mut self, anomalies: &[Anomaly]) -> crate::Result<()>;
    /// Writes whatever is buffered, any footer, and flushes; the output is
    /// incomplete (for Parquet and IPC, unreadable) without it.
    fn finish(self: Box<Self>) -> crate::Result<()>;
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Ndjson,
    Csv,
    Parquet,
    /// The Arrow IPC file format.
    ArrowIpc,
}

impl FromStr for OutputFormat {
    type Err = BatchError;

    /// Accepts format names and file extensions, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => OutputFormat::Ndjson,
            "csv" => OutputFormat::Csv,
            "parquet" | "pq" => OutputFormat::Parquet,
            "arrow" | "ipc" | "arrow-ipc" | "arrow_ipc" | "feather" => OutputFormat::ArrowIpc,
            _ => return Err(BatchError::UnknownFormat(s.to_owned())),
        })
    }
}

impl OutputFormat {
    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> crate::Result<OutputFormat> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        ext.parse()
            .map_err(|_| BatchError::UnknownFormat(path.display().to_string()))
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
            OutputFormat::ArrowIpc => "arrow",
        }
    }

    /// The HTTP `Content-Type` for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Ndjson => "application/x-ndjson",
            OutputFormat::Csv => "text/csv; charset=utf-8",
            OutputFormat::Parquet => "application/vnd.apache.parquet",
            OutputFormat::ArrowIpc => "application/vnd.apache.arrow.file",
        }
    }
}

/// A sink writing `format` to `writer` (e.g. an HTTP response body).
pub fn sink_for<W: Write + Send + 'static>(
    format: OutputFormat,
    writer: W,
) -> crate::Result<Box<dyn AnomalySink>> {
    Ok(match format {
        OutputFormat::Ndjson => Box::new(NdjsonSink::new(writer)),
        OutputFormat::Csv => Box::new(CsvSink::new(writer)),
        OutputFormat::Parquet => Box::new(ParquetSink::new(writer)?),
        OutputFormat::ArrowIpc => Box::new(IpcSink::new(writer)?),
    })
}

/// A sink writing to `path` in the format its extension names, or NDJSON to
/// stdout when `path` is `None`.
pub fn create_file_sink(path: Option<&Path>) -> crate::Result<Box<dyn AnomalySink>> {
    let Some(path) = path else {
        return sink_for(OutputFormat::Ndjson, std::io::stdout());
    };
    let format = OutputFormat::from_path(path)?;
    let file = File::create(path).map_err(|e| BatchError::io(path, e))?;
    sink_for(format, file)
        .map_err(|e| BatchError::Output(format!("{}: cannot write: {e}", path.display())))
}

#[cfg(test)]
pub(crate) mod tests {
    use driftlock_engine::{AnomalyKind, Metrics, Neighbour};

    use super::*;

    /// Anomalies covering nulls, quoting and both kinds.
    pub fn sample() -> Vec<Anomaly> {
        (0..5u64)
            .map(|i| Anomaly {
                stream_id: format!("svc-{}", i % 2),
                index: 100 + i,
                timestamp: (i % 2 == 0).then(|| format!("2024-01-01T00:00:0{i}Z")),
                kind: if i == 3 {
                    AnomalyKind::ChangePoint
                } else {
                    AnomalyKind::Event
                },
                metrics: Metrics {
                    ncd: 0.5 + i as f64 / 10.0,
                    compression_ratio: 2.25,
                    entropy_change: -0.125 * i as f64,
                    p_value: 0.001,
                    confidence: 0.999,
                },
                window_p_value: (i % 2 == 1).then_some(0.01),
                why: format!("unusual, \"new\" token\nline {i}"),
                compressor: "zstd".to_owned(),
                encoded: format!("level=error msg=\"x,{i}\""),
                nearest: vec![Neighbour {
                    index: i,
                    ncd: 0.25,
                    encoded: "level=info".to_owned(),
                }],
                baseline_digest: "ab".repeat(32),
                // A change point is reported by a later event.
                reported_at: 100 + i + 2 * u64::from(i == 3),
                recurs: None,
                record: None,
                incident: (i != 4).then_some(driftlock_engine::IncidentTag {
                    id: 1 + i / 2,
                    opens: i % 2 == 0,
                    rank: 0.25 * i as f64,
                    first_index: 100 + i - i % 2,
                }),
                held_event: None,
            })
            .collect()
    }

    #[test]
    fn formats_parse_from_names_and_paths() {
        assert_eq!(
            "Parquet".parse::<OutputFormat>().unwrap(),
            OutputFormat::Parquet
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("out/a.jsonl")).unwrap(),
            OutputFormat::Ndjson
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("a.ipc")).unwrap(),
            OutputFormat::ArrowIpc
        );
        assert!(OutputFormat::from_path(Path::new("a.xlsx")).is_err());
        assert!("yaml".parse::<OutputFormat>().is_err());
    }

    #[test]
    fn file_sink_picks_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.ndjson", "a.csv", "a.parquet", "a.arrow"] {
            let path = dir.path().join(name);
            let mut sink = create_file_sink(Some(&path)).unwrap();
            sink.write(&sample()).unwrap();
            sink.finish().unwrap();
            assert!(std::fs::metadata(&path).unwrap().len() > 0, "{name}");
        }
        assert!(create_file_sink(Some(&dir.path().join("a.txt"))).is_err());
    }

    /// Every anomaly row of `batches`, printed and sorted: two runs' outputs
    /// compared row for row whatever their order.
    pub(crate) fn sorted_rows(batches: &[arrow::record_batch::RecordBatch]) -> Vec<String> {
        let mut out = Vec::new();
        for b in batches {
            for_each_row(b, |r| {
                out.push(format!("{r:?}"));
                Ok(())
            })
            .unwrap();
        }
        out.sort();
        out
    }
}
