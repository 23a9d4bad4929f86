//! Parquet and Arrow IPC sinks, sharing one flat Arrow schema.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;
use driftlock_engine::Anomaly;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::{AnomalySink, BATCH_ROWS, COLUMNS, FlatRow, FlatSink, nearest_json};

/// Written as Parquet's `created_by` instead of the library's version
/// string, so output bytes do not change with a dependency upgrade.
const CREATED_BY: &str = "driftlock";

/// The flat anomaly schema (see [`super::COLUMNS`]).
pub fn anomaly_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let fields = COLUMNS.iter().map(|&name| {
                let (ty, nullable) = match name {
                    "index" | "reported_at" => (DataType::UInt64, false),
                    "timestamp" => (DataType::Utf8, true),
                    "window_p_value" | "incident_rank" => (DataType::Float64, true),
                    "incident_id" => (DataType::UInt64, true),
                    "incident_opens" => (DataType::Boolean, true),
                    "ncd" | "compression_ratio" | "entropy_change" | "p_value" | "confidence" => {
                        (DataType::Float64, false)
                    }
                    _ => (DataType::Utf8, false),
                };
                Field::new(name, ty, nullable)
            });
            Arc::new(Schema::new(fields.collect::<Vec<_>>()))
        })
        .clone()
}

/// Column builders for flat rows, turned into record batches of the flat
/// schema (the bulk export builds batches on one thread and encodes them on
/// another).
#[derive(Default)]
pub struct FlatColumns {
    len: usize,
    stream_id: StringBuilder,
    index: UInt64Builder,
    timestamp: StringBuilder,
    kind: StringBuilder,
    ncd: Float64Builder,
    compression_ratio: Float64Builder,
    entropy_change: Float64Builder,
    p_value: Float64Builder,
    confidence: Float64Builder,
    window_p_value: Float64Builder,
    why: StringBuilder,
    compressor: StringBuilder,
    encoded: StringBuilder,
    nearest: StringBuilder,
    baseline_digest: StringBuilder,
    reported_at: UInt64Builder,
    incident_id: UInt64Builder,
    incident_opens: BooleanBuilder,
    incident_rank: Float64Builder,
}

impl FlatColumns {
    pub fn push(&mut self, r: &FlatRow<'_>) {
        self.len += 1;
        self.stream_id.append_value(r.stream_id);
        self.index.append_value(r.index);
        self.timestamp.append_option(r.timestamp);
        self.kind.append_value(r.kind);
        self.ncd.append_value(r.ncd);
        self.compression_ratio.append_value(r.compression_ratio);
        self.entropy_change.append_value(r.entropy_change);
        self.p_value.append_value(r.p_value);
        self.confidence.append_value(r.confidence);
        self.window_p_value.append_option(r.window_p_value);
        self.why.append_value(r.why);
        self.compressor.append_value(r.compressor);
        self.encoded.append_value(r.encoded);
        self.nearest.append_value(r.nearest);
        self.baseline_digest.append_value(r.baseline_digest);
        self.reported_at.append_value(r.reported_at);
        self.incident_id.append_option(r.incident_id);
        self.incident_opens.append_option(r.incident_opens);
        self.incident_rank.append_option(r.incident_rank);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffered rows as a batch; the builders start over empty.
    pub fn take_batch(&mut self) -> crate::Result<RecordBatch> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.stream_id.finish()),
            Arc::new(self.index.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.ncd.finish()),
            Arc::new(self.compression_ratio.finish()),
            Arc::new(self.entropy_change.finish()),
            Arc::new(self.p_value.finish()),
            Arc::new(self.confidence.finish()),
            Arc::new(self.window_p_value.finish()),
            Arc::new(self.why.finish()),
            Arc::new(self.compressor.finish()),
            Arc::new(self.encoded.finish()),
            Arc::new(self.nearest.finish()),
            Arc::new(self.baseline_digest.finish()),
            Arc::new(self.reported_at.finish()),
            Arc::new(self.incident_id.finish()),
            Arc::new(self.incident_opens.finish()),
            Arc::new(self.incident_rank.finish()),
        ];
        Ok(RecordBatch::try_new(anomaly_schema(), columns)?)
    }
}

/// Calls `f` with each row of a batch of the flat schema.
pub fn for_each_row(
    batch: &RecordBatch,
    mut f: impl FnMut(&FlatRow<'_>) -> crate::Result<()>,
) -> crate::Result<()> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, UInt64Type};
    if batch.schema() != anomaly_schema() {
        return Err(crate::BatchError::Invalid(
            "not a batch of the flat anomaly schema".into(),
        ));
    }
    let text = |i: usize| batch.column(i).as_string::<i32>();
    let float = |i: usize| batch.column(i).as_primitive::<Float64Type>();
    let (stream_id, timestamp, kind) = (text(0), text(2), text(3));
    let index = batch.column(1).as_primitive::<UInt64Type>();
    let reported_at = batch.column(15).as_primitive::<UInt64Type>();
    let incident_id = batch.column(16).as_primitive::<UInt64Type>();
    let incident_opens = batch.column(17).as_boolean();
    let incident_rank = float(18);
    let (ncd, ratio, entropy, p, confidence, window) =
        (float(4), float(5), float(6), float(7), float(8), float(9));
    let (why, compressor, encoded, nearest, digest) =
        (text(10), text(11), text(12), text(13), text(14));
    for r in 0..batch.num_rows() {
        f(&FlatRow {
            stream_id: stream_id.value(r),
            index: index.value(r),
            timestamp: timestamp.is_valid(r).then(|| timestamp.value(r)),
            kind: kind.value(r),
            ncd: ncd.value(r),
            compression_ratio: ratio.value(r),
            entropy_change: entropy.value(r),
            p_value: p.value(r),
            confidence: confidence.value(r),
            window_p_value: window.is_valid(r).then(|| window.value(r)),
            why: why.value(r),
            compressor: compressor.value(r),
            encoded: encoded.value(r),
            nearest: nearest.value(r),
            baseline_digest: digest.value(r),
            reported_at: reported_at.value(r),
            incident_id: incident_id.is_valid(r).then(|| incident_id.value(r)),
            incident_opens: incident_opens.is_valid(r).then(|| incident_opens.value(r)),
            incident_rank: incident_rank.is_valid(r).then(|| incident_rank.value(r)),
        })?;
    }
    Ok(())
}

/// Writes anomalies as Parquet (zstd), one row group per [`BATCH_ROWS`] rows.
pub struct ParquetSink<W: Write + Send> {
    rows: FlatColumns,
    writer: ArrowWriter<W>,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(writer: W) -> crate::Result<Self> {
        let mut props = WriterProperties::builder()
            .set_created_by(CREATED_BY.to_owned())
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(BATCH_ROWS));
        // Nearly every value of these is distinct: a dictionary would be
        // built only to be abandoned, and min/max of free text prune nothing.
        // Skipping both was a third of the Parquet encoding time.
        for name in ["timestamp", "why", "encoded", "nearest"] {
            props = props
                .set_column_dictionary_enabled(ColumnPath::from(name), false)
                .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
        }
        let props = props.build();
        let writer = ArrowWriter::try_new(writer, anomaly_schema(), Some(props))?;
        Ok(ParquetSink {
            rows: FlatColumns::default(),
            writer,
        })
    }

    fn flush_rows(&mut self) -> crate::Result<()> {
        if self.rows.len > 0 {
            let batch = self.rows.take_batch()?;
            self.writer.write(&batch)?;
            // Closes the row group now, so encoded pages never pile up in memory.
            self.writer.flush()?;
        }
        Ok(())
    }

    /// Writes buffered rows and the footer, and returns the writer.
    pub fn into_inner(mut self) -> crate::Result<W> {
        self.flush_rows()?;
        Ok(self.writer.into_inner()?)
    }
}

impl<W: Write + Send> FlatSink for ParquetSink<W> {
    fn write_row(&mut self, row: &FlatRow<'_>) -> crate::Result<()> {
        self.rows.push(row);
        if self.rows.len >= BATCH_ROWS {
            self.flush_rows()?;
        }
        Ok(())
    }

    /// Row groups are cut by the writer at [`BATCH_ROWS`] rows whatever the
    /// batches' sizes, so memory holds at most one row group's encoded pages.
    fn write_batch(&mut self, batch: &RecordBatch) -> crate::Result<()> {
        self.flush_rows()?;
        self.writer.write(batch)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> crate::Result<()> {
        self.into_inner()?.flush()?;
        Ok(())
    }
}

impl<W: Write + Send> AnomalySink for ParquetSink<W> {
    fn write(&mut self, anomalies: &[Anomaly]) -> crate::Result<()> {
        for a in anomalies {
            self.write_row(&FlatRow::of(a, &nearest_json(a)))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> crate::Result<()> {
        FlatSink::close(self)
    }
}

/// Writes anomalies in the Arrow IPC file format, one record batch per
/// [`BATCH_ROWS`] rows.
pub struct IpcSink<W: Write> {
    rows: FlatColumns,
    writer: FileWriter<W>,
}

impl<W: Write> IpcSink<W> {
    pub fn new(writer: W) -> crate::Result<Self> {
        let writer = FileWriter::try_new(writer, &anomaly_schema())?;
        Ok(IpcSink {
            rows: FlatColumns::default(),
            writer,
        })
    }

    fn flush_rows(&mut self) -> crate::Result<()> {
        if self.rows.len > 0 {
            let batch = self.rows.take_batch()?;
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Writes buffered rows and the footer, and returns the writer.
    pub fn into_inner(mut self) -> crate::Result<W> {
        self.flush_rows()?;
        self.writer.finish()?;
        Ok(self.writer.into_inner()?)
    }
}

impl<W: Write + Send> FlatSink for IpcSink<W> {
    fn write_row(&mut self, row: &FlatRow<'_>) -> crate::Result<()> {
        self.rows.push(row);
        if self.rows.len >= BATCH_ROWS {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> crate::Result<()> {
        self.flush_rows()?;
        self.writer.write(batch)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> crate::Result<()> {
        self.into_inner()?.flush()?;
        Ok(())
    }
}

impl<W: Write + Send> AnomalySink for IpcSink<W> {
    fn write(&mut self, anomalies: &[Anomaly]) -> crate::Result<()> {
        for a in anomalies {
            self.write_row(&FlatRow::of(a, &nearest_json(a)))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> crate::Result<()> {
        FlatSink::close(self)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, UInt64Type};
    use arrow::ipc::reader::FileReader;
    use driftlock_engine::{AnomalyKind, Neighbour};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::output::tests::sample;

    /// Checks every column of `batches` against `anomalies`.
    fn check(batches: &[RecordBatch], anomalies: &[Anomaly]) {
        let batch = arrow::compute::concat_batches(&anomaly_schema(), batches).unwrap();
        assert_eq!(batch.schema(), anomaly_schema());
        assert_eq!(batch.num_rows(), anomalies.len());
        let text = |i: usize| batch.column(i).as_string::<i32>().clone();
        let float = |i: usize| batch.column(i).as_primitive::<Float64Type>().clone();
        let index = batch.column(1).as_primitive::<UInt64Type>();
        let reported_at = batch.column(15).as_primitive::<UInt64Type>();
        let incident_id = batch.column(16).as_primitive::<UInt64Type>();
        let incident_opens = batch.column(17).as_boolean();
        let incident_rank = float(18);
        for (r, a) in anomalies.iter().enumerate() {
            assert_eq!(text(0).value(r), a.stream_id);
            assert_eq!(index.value(r), a.index);
            let ts = text(2);
            assert_eq!(ts.is_valid(r).then(|| ts.value(r).to_owned()), a.timestamp);
            let kind = if a.kind == AnomalyKind::Event {
                "event"
            } else {
                "change_point"
            };
            assert_eq!(text(3).value(r), kind);
            assert_eq!(float(4).value(r), a.metrics.ncd);
            assert_eq!(float(5).value(r), a.metrics.compression_ratio);
            assert_eq!(float(6).value(r), a.metrics.entropy_change);
            assert_eq!(float(7).value(r), a.metrics.p_value);
            assert_eq!(float(8).value(r), a.metrics.confidence);
            let w = float(9);
            assert_eq!(w.is_valid(r).then(|| w.value(r)), a.window_p_value);
            assert_eq!(text(10).value(r), a.why);
            assert_eq!(text(11).value(r), a.compressor);
            assert_eq!(text(12).value(r), a.encoded);
            let nearest: Vec<Neighbour> = serde_json::from_str(text(13).value(r)).unwrap();
            assert_eq!(nearest, a.nearest);
            assert_eq!(text(14).value(r), a.baseline_digest);
            assert_eq!(reported_at.value(r), a.reported_at);
            let tag = a.incident;
            let id = incident_id.is_valid(r).then(|| incident_id.value(r));
            assert_eq!(id, tag.map(|t| t.id));
            let opens = incident_opens.is_valid(r).then(|| incident_opens.value(r));
            assert_eq!(opens, tag.map(|t| t.opens));
            let rank = incident_rank.is_valid(r).then(|| incident_rank.value(r));
            assert_eq!(rank, tag.map(|t| t.rank));
        }
    }

    /// More than one batch, so row-group and batch boundaries are exercised.
    fn many() -> Vec<Anomaly> {
        let one = sample();
        (0..BATCH_ROWS + 7)
            .map(|i| {
                let mut a = one[i % one.len()].clone();
                a.index = i as u64;
                a
            })
            .collect()
    }

    fn parquet_bytes(anomalies: &[Anomaly]) -> Vec<u8> {
        let mut sink = ParquetSink::new(Vec::new()).unwrap();
        sink.write(anomalies).unwrap();
        sink.into_inner().unwrap()
    }

    #[test]
    fn parquet_reads_back_the_same_values() {
        let anomalies = many();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.parquet");
        std::fs::write(&path, parquet_bytes(&anomalies)).unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        assert_eq!(
            reader.metadata().file_metadata().created_by(),
            Some(CREATED_BY)
        );
        let batches: Vec<_> = reader.build().unwrap().map(Result::unwrap).collect();
        check(&batches, &anomalies);
    }

    #[test]
    fn ipc_reads_back_the_same_values() {
        let anomalies = many();
        let mut sink = IpcSink::new(Vec::new()).unwrap();
        sink.write(&anomalies).unwrap();
        let bytes = sink.into_inner().unwrap();
        let reader = FileReader::try_new(Cursor::new(bytes), None).unwrap();
        assert_eq!(reader.num_batches(), 2);
        let batches: Vec<_> = reader.map(Result::unwrap).collect();
        check(&batches, &anomalies);
    }

    #[test]
    fn output_is_deterministic() {
        let anomalies = sample();
        assert_eq!(parquet_bytes(&anomalies), parquet_bytes(&anomalies));
        let ipc = || {
            let mut sink = IpcSink::new(Vec::new()).unwrap();
            sink.write(&anomalies).unwrap();
            sink.into_inner().unwrap()
        };
        assert_eq!(ipc(), ipc());
    }

    #[test]
    fn empty_outputs_are_readable() {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(bytes_file(&parquet_bytes(&[]))).unwrap();
        assert_eq!(reader.schema().fields().len(), COLUMNS.len());
        let bytes = IpcSink::new(Vec::new()).unwrap().into_inner().unwrap();
        assert_eq!(
            FileReader::try_new(Cursor::new(bytes), None)
                .unwrap()
                .num_batches(),
            0
        );
    }

    fn bytes_file(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }
}
