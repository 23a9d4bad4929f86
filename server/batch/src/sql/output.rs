//! Query results out: a printed table, a file (by extension), or JSON rows.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::BatchError;

/// Result files: `.parquet`, `.csv`, `.ndjson`/`.jsonl`.
pub enum ResultWriter {
    Parquet(parquet::arrow::ArrowWriter<File>),
    Csv(arrow::csv::Writer<File>),
    Ndjson(arrow::json::LineDelimitedWriter<File>),
}

fn io(path: &Path, e: impl std::fmt::Display) -> BatchError {
    BatchError::QueryData(format!("{}: {e}", path.display()))
}

impl ResultWriter {
    pub fn create(path: &Path, schema: arrow::datatypes::SchemaRef) -> Result<Self, BatchError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !matches!(ext.as_str(), "parquet" | "csv" | "ndjson" | "jsonl") {
            return Err(BatchError::Query(format!(
                "{}: unknown output extension (use .parquet, .csv or .ndjson)",
                path.display()
            )));
        }
        let file = File::create(path).map_err(|e| io(path, e))?;
        Ok(match ext.as_str() {
            "parquet" => ResultWriter::Parquet(
                parquet::arrow::ArrowWriter::try_new(file, schema, None)
                    .map_err(|e| io(path, e))?,
            ),
            "csv" => ResultWriter::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(file),
            ),
            _ => ResultWriter::Ndjson(arrow::json::LineDelimitedWriter::new(file)),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), BatchError> {
        let r = match self {
            ResultWriter::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
            ResultWriter::Csv(w) => w.write(batch).map_err(|e| e.to_string()),
            ResultWriter::Ndjson(w) => w.write(batch).map_err(|e| e.to_string()),
        };
        r.map_err(BatchError::QueryData)
    }

    pub fn finish(self) -> Result<(), BatchError> {
        let r = match self {
            ResultWriter::Parquet(w) => w.close().map(|_| ()).map_err(|e| e.to_string()),
            ResultWriter::Csv(w) => {
                drop(w); // the CSV writer has no footer; dropping flushes it
                Ok(())
            }
            ResultWriter::Ndjson(mut w) => w.finish().map_err(|e| e.to_string()),
        };
        r.map_err(BatchError::QueryData)
    }
}

/// Rows as JSON objects (column order kept; nulls kept as `null`).
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>, BatchError> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::JsonArray>(&mut buf);
        for b in batches {
            w.write(b)
                .map_err(|e| BatchError::QueryData(e.to_string()))?;
        }
        w.finish()
            .map_err(|e| BatchError::QueryData(e.to_string()))?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| BatchError::QueryData(e.to_string()))
}

/// The result as an aligned text table.
pub fn pretty(batches: &[RecordBatch]) -> Result<String, BatchError> {
    arrow::util::pretty::pretty_format_batches(batches)
        .map(|t| t.to_string())
        .map_err(|e| BatchError::QueryData(e.to_string()))
}
