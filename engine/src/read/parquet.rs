//! Parquet files, streamed with parquet's Arrow reader.

use std::fs::File;

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{BatchSource, bad_file};
use crate::error::Result;

/// Row-group-granular progress: bytes are the compressed sizes of the row
/// groups the reader has started, which is what it actually had to read.
pub(crate) struct ParquetSource {
    file: String,
    reader: ParquetRecordBatchReader,
    /// (first row, compressed bytes) per row group, in file order.
    row_groups: Vec<(u64, u64)>,
    rows_read: u64,
}

impl ParquetSource {
    /// Opens the file; returns the source, its schema and its row count.
    pub fn open(
        file: &str,
        handle: File,
        batch_rows: usize,
    ) -> Result<(ParquetSource, arrow::datatypes::SchemaRef, u64)> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
            .map_err(|e| bad_file(file, format!("not a readable Parquet file: {e}")))?;
        let metadata = builder.metadata().clone();
        let schema = builder.schema().clone();
        let mut first = 0u64;
        let row_groups = metadata
            .row_groups()
            .iter()
            .map(|rg| {
                let entry = (first, rg.compressed_size().max(0) as u64);
                first += rg.num_rows().max(0) as u64;
                entry
            })
            .collect();
        let total_rows = metadata.file_metadata().num_rows().max(0) as u64;
        let reader = builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| bad_file(file, e.to_string()))?;
        let source = ParquetSource {
            file: file.to_owned(),
            reader,
            row_groups,
            rows_read: 0,
        };
        Ok((source, schema, total_rows))
    }
}

impl BatchSource for ParquetSource {
    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let batch = self.reader.next()?;
        Some(match batch {
            Ok(batch) => {
                self.rows_read += batch.num_rows() as u64;
                Ok(batch)
            }
            Err(e) => Err(bad_file(&self.file, e.to_string())),
        })
    }

    fn bytes_read(&self) -> u64 {
        self.row_groups
            .iter()
            .take_while(|(first, _)| *first < self.rows_read)
            .map(|(_, bytes)| bytes)
            .sum()
    }
}
