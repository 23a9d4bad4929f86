//! Streaming writers (Parquet with zstd, NDJSON) and a streaming Parquet reader
//! for labelled events. Memory stays bounded by one batch plus one row group.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanBuilder, RecordBatch, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::generate::{AnomalyKind, EventKind, LabelledEvent};

/// Counts of what a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub rows: u64,
    /// Rows with `label = true` (a burst of 10 counts 10).
    pub anomalous_rows: u64,
}

/// The Parquet/Arrow schema of a labelled event archive.
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stream_id", DataType::Utf8, false),
        Field::new("timestamp", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("body", DataType::Utf8, false),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("label", DataType::Boolean, false),
        Field::new("anomaly_kind", DataType::Utf8, true),
    ]))
}

/// Column builders for one batch; JSON is serialised through a reused buffer.
struct Batcher {
    stream_id: StringBuilder,
    timestamp: StringBuilder,
    kind: StringBuilder,
    body: StringBuilder,
    attributes: StringBuilder,
    label: BooleanBuilder,
    anomaly_kind: StringBuilder,
    json: Vec<u8>,
    rows: usize,
}

impl Batcher {
    fn new(rows: usize) -> Self {
        Batcher {
            stream_id: StringBuilder::with_capacity(rows, rows * 8),
            timestamp: StringBuilder::with_capacity(rows, rows * 24),
            kind: StringBuilder::with_capacity(rows, rows * 6),
            body: StringBuilder::with_capacity(rows, rows * 200),
            attributes: StringBuilder::with_capacity(rows, rows * 64),
            label: BooleanBuilder::with_capacity(rows),
            anomaly_kind: StringBuilder::with_capacity(rows, rows),
            json: Vec::with_capacity(512),
            rows: 0,
        }
    }

    fn push(&mut self, e: &LabelledEvent) -> Result<()> {
        self.stream_id.append_value(&e.stream_id);
        self.timestamp.append_value(&e.timestamp);
        self.kind.append_value(e.kind.as_str());
        for (value, builder) in [
            (&e.body, &mut self.body),
            (&e.attributes, &mut self.attributes),
        ] {
            self.json.clear();
            serde_json::to_writer(&mut self.json, value).map_err(|source| Error::Json {
                path: PathBuf::from("<event>"),
                source,
            })?;
            // serde_json only ever writes UTF-8.
            builder.append_value(std::str::from_utf8(&self.json).expect("serde_json emits UTF-8"));
        }
        self.label.append_value(e.label.is_some());
        self.anomaly_kind
            .append_option(e.label.map(AnomalyKind::name));
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        self.rows = 0;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.stream_id.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.label.finish()),
            Arc::new(self.anomaly_kind.finish()),
        ];
        Ok(RecordBatch::try_new(event_schema(), cols)?)
    }
}

/// Converts events to one Arrow batch with [`event_schema`].
pub fn to_record_batch(events: &[LabelledEvent]) -> Result<RecordBatch> {
    let mut b = Batcher::new(events.len());
    for e in events {
        b.push(e)?;
    }
    b.finish()
}

/// Writes events to a zstd-compressed Parquet file in batches of `batch_rows`.
pub fn write_parquet(
    path: impl AsRef<Path>,
    events: impl IntoIterator<Item = LabelledEvent>,
    batch_rows: usize,
) -> Result<WriteStats> {
    let path = path.as_ref();
    let batch_rows = batch_rows.max(1);
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    // Bodies and timestamps are nearly unique: dictionaries would only cost time.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(256 * 1024))
        .set_max_row_group_bytes(Some(128 << 20))
        .set_column_dictionary_enabled(ColumnPath::from("body"), false)
        .set_column_dictionary_enabled(ColumnPath::from("timestamp"), false)
        .build();
    let mut writer = ArrowWriter::try_new(file, event_schema(), Some(props))?;
    let mut b = Batcher::new(batch_rows);
    let mut stats = WriteStats::default();
    for e in events {
        stats.rows += 1;
        stats.anomalous_rows += u64::from(e.label.is_some());
        b.push(&e)?;
        if b.rows >= batch_rows {
            writer.write(&b.finish()?)?;
        }
    }
    if b.rows > 0 {
        writer.write(&b.finish()?)?;
    }
    writer.close()?;
    Ok(stats)
}

/// Writes one JSON object per line: the engine's event fields plus `label` and
/// `anomaly_kind` (see [`LabelledEvent::to_json`]).
pub fn write_ndjson(
    path: impl AsRef<Path>,
    events: impl IntoIterator<Item = LabelledEvent>,
) -> Result<WriteStats> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut stats = WriteStats::default();
    for e in events {
        stats.rows += 1;
        stats.anomalous_rows += u64::from(e.label.is_some());
        serde_json::to_writer(&mut w, &e.to_json()).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))?;
    Ok(stats)
}

/// Streaming reader of a file written by [`write_parquet`].
pub struct ParquetEvents {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    row: usize,
}

/// Opens a Parquet archive for reading, `batch_rows` rows decoded at a time.
pub fn read_parquet(path: impl AsRef<Path>, batch_rows: usize) -> Result<ParquetEvents> {
    let path = path.as_ref().to_path_buf();
    let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(batch_rows.max(1))
        .build()?;
    Ok(ParquetEvents {
        path,
        reader,
        batch: None,
        row: 0,
    })
}

fn col<'a>(batch: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| Error::parse(path, 0, format!("missing utf8 column {name}")))
}

impl ParquetEvents {
    fn event_at(&self, batch: &RecordBatch, i: usize) -> Result<LabelledEvent> {
        let p = &self.path;
        let json = |name: &str| -> Result<serde_json::Value> {
            serde_json::from_str(col(batch, name, p)?.value(i)).map_err(|source| Error::Json {
                path: p.clone(),
                source,
            })
        };
        let timestamp = col(batch, "timestamp", p)?.value(i).to_string();
        let kind_text = col(batch, "type", p)?.value(i);
        let kinds = col(batch, "anomaly_kind", p)?;
        let label = if kinds.is_null(i) {
            None
        } else {
            let name = kinds.value(i);
            Some(
                AnomalyKind::parse(name)
                    .ok_or_else(|| Error::parse(p, 0, format!("unknown anomaly kind {name}")))?,
            )
        };
        Ok(LabelledEvent {
            stream_id: col(batch, "stream_id", p)?.value(i).to_string(),
            timestamp_ms: crate::time::parse_datetime_micros(&timestamp)
                .map_or(0, |us| us.div_euclid(1000)),
            timestamp,
            kind: EventKind::parse(kind_text)
                .ok_or_else(|| Error::parse(p, 0, format!("unknown event type {kind_text}")))?,
            body: json("body")?,
            attributes: json("attributes")?,
            label,
        })
    }
}

impl Iterator for ParquetEvents {
    type Item = Result<LabelledEvent>;

    fn next(&mut self) -> Option<Result<LabelledEvent>> {
        loop {
            if let Some(batch) = &self.batch
                && self.row < batch.num_rows()
            {
                let r = self.event_at(batch, self.row);
                self.row += 1;
                return Some(r);
            }
            match self.reader.next()? {
                Ok(b) => {
                    self.batch = Some(b);
                    self.row = 0;
                }
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}
