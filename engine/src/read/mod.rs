//! Event readers for Parquet, Arrow IPC, CSV and NDJSON files.
//!
//! [`open`] picks the format from the file extension and returns an
//! [`EventReader`], an iterator of [`EventBatch`]es. Files are streamed: memory
//! is bounded by `batch_rows`, never by the file size. Each row becomes an
//! [`Event`] through a [`ColumnMapping`]; see its docs for how
//! absent columns fall back to defaults.

mod column;
mod convert;
mod csv;
mod guard;
mod ipc;
mod mapping;
mod ndjson;
mod parquet;
mod time;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;

pub use mapping::{ColumnMapping, Role};

use crate::error::{EngineError, Result};
use crate::event::Event;
use convert::Plan;
use ndjson::NdjsonSource;

/// Rows per batch when the caller does not say.
pub const DEFAULT_BATCH_ROWS: usize = 8192;

/// An input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputFormat {
    Parquet,
    /// Arrow IPC, file or stream format (told apart by the file's magic bytes).
    ArrowIpc,
    Csv,
    /// Tab-separated values (CSV with a tab delimiter).
    Tsv,
    Ndjson,
}

impl InputFormat {
    /// The format for a path's extension (case-insensitive), if known.
    pub fn from_path(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" | "pq" => InputFormat::Parquet,
            "arrow" | "ipc" | "feather" | "arrows" => InputFormat::ArrowIpc,
            "csv" => InputFormat::Csv,
            "tsv" => InputFormat::Tsv,
            "ndjson" | "jsonl" | "json" => InputFormat::Ndjson,
            _ => return None,
        })
    }
}

/// How to read a file. Serialisable so a cluster's executors read the
/// files the way the client was told to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadOptions {
    pub mapping: ColumnMapping,
    /// Most rows per [`EventBatch`] (at least 1).
    pub batch_rows: usize,
    /// Skip and count rows that cannot become events instead of failing.
    pub skip_bad_rows: bool,
    /// Overrides the format the extension implies.
    pub format: Option<InputFormat>,
    /// Keep a text attributes column as text, in
    /// [`EventBatch::attributes_text`] (checked to be JSON), and leave
    /// `Event::attributes` null: for callers that need the attributes of a
    /// few events only (the backfill stores them with anomalies), since
    /// parsing every row's was a fifth of the decoding time. NDJSON lines
    /// are parsed whole, so their attributes are never deferred.
    pub defer_attributes: bool,
    /// Keep the JSON text of a text body column, in
    /// [`EventBatch::body_text`], beside the parsed body: a detector keeps
    /// each body as text ([`crate::StreamDetector::push_parsed`]), and a copy
    /// costs less than writing the body out again.
    pub keep_body_text: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            mapping: ColumnMapping::default(),
            batch_rows: DEFAULT_BATCH_ROWS,
            skip_bad_rows: false,
            format: None,
            defer_attributes: false,
            keep_body_text: false,
        }
    }
}

/// Consecutive events from one file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventBatch {
    /// The events, in file order.
    pub events: Vec<Event>,
    /// 0-based data row (NDJSON: non-blank line) where this batch starts;
    /// with no skipped rows, `events[i]` is row `first_row + i`.
    pub first_row: u64,
    /// Rows in this batch refused under `skip_bad_rows`.
    pub skipped_rows: u64,
    /// Empty, or with [`ReadOptions::defer_attributes`] one entry per event:
    /// its attributes' JSON text where they were deferred (see
    /// [`parse_attributes`]).
    pub attributes_text: Vec<Option<String>>,
    /// Empty, or with [`ReadOptions::keep_body_text`] one entry per event:
    /// the JSON text its body was parsed from, where it was text.
    pub body_text: Vec<Option<String>>,
}

/// Record batches that are not a file's (a query's result) to events, their
/// columns mapped as a file's would be: for scoring rows from elsewhere.
#[derive(Debug)]
pub struct BatchConverter {
    plan: Plan,
    skip_bad_rows: bool,
}

impl BatchConverter {
    /// `name` stands for the file in errors and is the default stream id
    /// when the mapping names none.
    pub fn new(name: &str, schema: &arrow::datatypes::Schema, opts: &ReadOptions) -> Result<Self> {
        let default_stream = opts
            .mapping
            .default_stream
            .clone()
            .unwrap_or_else(|| name.to_owned());
        let plan = Plan::new(name, schema, &opts.mapping, default_stream, None)?
            .keeping_body_text(opts.keep_body_text);
        Ok(BatchConverter {
            plan,
            skip_bad_rows: opts.skip_bad_rows,
        })
    }

    /// Converts `batch`, whose first row is row `first_row` of the rows converted.
    pub fn convert(&self, batch: &RecordBatch, first_row: u64) -> Result<EventBatch> {
        self.plan.convert(batch, first_row, self.skip_bad_rows)
    }
}

/// Attributes kept as text by [`ReadOptions::defer_attributes`], parsed.
/// The reader checked the text is JSON, so this fails only on text that did
/// not come from it.
pub fn parse_attributes(text: &str) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str(text)
}

/// Streams a file's events in batches; see [`open`].
///
/// After an error the iterator ends: a reader cannot resynchronize reliably
/// inside a damaged file.
pub struct EventReader {
    source: Source,
    batch_rows: usize,
    skip_bad_rows: bool,
    next_row: u64,
    total_bytes: u64,
    total_rows: Option<u64>,
    finished: bool,
}

enum Source {
    Arrow {
        batches: Box<dyn BatchSource>,
        plan: Plan,
        /// A batch larger than `batch_rows` (IPC files keep the writer's
        /// batch size) and the offset of its unconverted rest.
        pending: Option<(RecordBatch, usize)>,
        /// The path, for errors.
        file: String,
    },
    Ndjson(NdjsonSource),
}

/// A file's record batches, with a progress estimate.
pub(crate) trait BatchSource: Send {
    fn next_batch(&mut self) -> Option<Result<RecordBatch>>;
    fn bytes_read(&self) -> u64;
}

/// Opens `path` for reading events, choosing the format from its extension
/// (`.parquet`/`.pq`, `.arrow`/`.ipc`/`.feather`, `.csv`, `.tsv`,
/// `.ndjson`/`.jsonl`/`.json`) unless `opts.format` says otherwise.
///
/// Fails with [`EngineError::Io`] when the file cannot be opened and
/// [`EngineError::BadFile`] for an unknown extension, a file that is not in its
/// format, or an explicitly mapped column the file lacks.
pub fn open(path: &Path, opts: &ReadOptions) -> Result<EventReader> {
    let file = path.display().to_string();
    let format = match opts.format.or_else(|| InputFormat::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(bad_file(
                &file,
                "unknown file extension; expected .parquet, .pq, .arrow, .ipc, .feather, \
                 .csv, .tsv, .ndjson, .jsonl or .json",
            ));
        }
    };
    let handle = File::open(path).map_err(|source| EngineError::Io {
        file: file.clone(),
        source,
    })?;
    let meta = handle.metadata().map_err(|source| EngineError::Io {
        file: file.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(bad_file(&file, "not a regular file"));
    }
    let total_bytes = meta.len();
    let batch_rows = opts.batch_rows.max(1);
    let mapping = &opts.mapping;
    let default_stream = mapping.default_stream.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut total_rows = None;
    let (batches, schema, hints): (Box<dyn BatchSource>, _, _) = match format {
        InputFormat::Ndjson => {
            let source = NdjsonSource::new(&file, handle, mapping, default_stream);
            return Ok(EventReader::new(
                Source::Ndjson(source),
                opts,
                total_bytes,
                None,
            ));
        }
        InputFormat::Parquet => {
            let (source, schema, rows) = guard::decoder(&file, || {
                parquet::ParquetSource::open(&file, handle, batch_rows)
            })?;
            total_rows = Some(rows);
            (Box::new(source), schema, None)
        }
        InputFormat::ArrowIpc => {
            let (source, schema) = guard::decoder(&file, || ipc::open(&file, handle, total_bytes))?;
            (source, schema, None)
        }
        InputFormat::Csv | InputFormat::Tsv => {
            let delimiter = if format == InputFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            let (source, schema, hints) = guard::decoder(&file, || {
                csv::CsvSource::open(&file, handle, delimiter, batch_rows)
            })?;
            (Box::new(source), schema, Some(hints))
        }
    };
    let plan = Plan::new(&file, &schema, mapping, default_stream, hints)?
        .deferring_attributes(opts.defer_attributes)
        .keeping_body_text(opts.keep_body_text);
    let source = Source::Arrow {
        batches,
        plan,
        pending: None,
        file,
    };
    Ok(EventReader::new(source, opts, total_bytes, total_rows))
}

impl EventReader {
    fn new(
        source: Source,
        opts: &ReadOptions,
        total_bytes: u64,
        total_rows: Option<u64>,
    ) -> EventReader {
        EventReader {
            source,
            batch_rows: opts.batch_rows.max(1),
            skip_bad_rows: opts.skip_bad_rows,
            next_row: 0,
            total_bytes,
            total_rows,
            finished: false,
        }
    }

    /// The file's size in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// An estimate of the bytes consumed so far, for progress bars: Parquet
    /// counts the compressed size of row groups started, IPC files the share
    /// of batches read, text formats the byte offset reached.
    pub fn bytes_read(&self) -> u64 {
        if self.finished {
            return self.total_bytes;
        }
        let read = match &self.source {
            Source::Arrow { batches, .. } => batches.bytes_read(),
            Source::Ndjson(source) => source.bytes_read(),
        };
        read.min(self.total_bytes)
    }

    /// The number of data rows, when the format records it (Parquet).
    pub fn total_rows(&self) -> Option<u64> {
        self.total_rows
    }

    fn next_arrow(&mut self) -> Option<Result<EventBatch>> {
        let Source::Arrow {
            batches,
            plan,
            pending,
            file,
        } = &mut self.source
        else {
            unreachable!("next_arrow on a non-Arrow source");
        };
        loop {
            let (batch, offset) = match pending.take() {
                Some(p) => p,
                None => {
                    let next = guard::decoder(file, || Ok(batches.next_batch()));
                    match next {
                        Ok(None) => return None,
                        Ok(Some(Ok(b))) => (b, 0),
                        Ok(Some(Err(e))) | Err(e) => return Some(Err(e)),
                    }
                }
            };
            let len = (batch.num_rows() - offset).min(self.batch_rows);
            if len == 0 {
                continue;
            }
            let part = if offset == 0 && len == batch.num_rows() {
                batch
            } else {
                let part = batch.slice(offset, len);
                if offset + len < batch.num_rows() {
                    *pending = Some((batch, offset + len));
                }
                part
            };
            let first_row = self.next_row;
            self.next_row += len as u64;
            return Some(plan.convert(&part, first_row, self.skip_bad_rows));
        }
    }
}

impl Iterator for EventReader {
    type Item = Result<EventBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let next = match &mut self.source {
            Source::Arrow { .. } => self.next_arrow(),
            Source::Ndjson(source) => source.next_batch(self.batch_rows, self.skip_bad_rows),
        };
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        next
    }
}

impl std::fmt::Debug for EventReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReader")
            .field("next_row", &self.next_row)
            .field("total_bytes", &self.total_bytes)
            .field("total_rows", &self.total_rows)
            .finish_non_exhaustive()
    }
}

pub(crate) fn bad_file(file: &str, reason: impl Into<String>) -> EngineError {
    EngineError::BadFile {
        file: file.to_owned(),
        reason: reason.into(),
    }
}

/// Counts the bytes pulled through a reader, for progress on text formats
/// whose parsers own the reader.
pub(crate) struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> CountingReader<R> {
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<EventReader>();
    }

    #[test]
    fn formats_from_extensions() {
        let f = |p: &str| InputFormat::from_path(Path::new(p));
        assert_eq!(f("a/b.PARQUET"), Some(InputFormat::Parquet));
        assert_eq!(f("x.feather"), Some(InputFormat::ArrowIpc));
        assert_eq!(f("x.jsonl"), Some(InputFormat::Ndjson));
        assert_eq!(f("x.tsv"), Some(InputFormat::Tsv));
        assert_eq!(f("x.txt"), None);
        assert_eq!(f("noext"), None);
    }
}
