//! CSV (and TSV) files, streamed with arrow's CSV reader.
//!
//! Cells are read as text and typed per cell from the type arrow infers over
//! the first rows ([`TextHint`]): reading with the inferred types directly
//! would fail a whole batch on the first cell that does not fit, which
//! `skip_bad_rows` could not recover from.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::csv::reader::{Format, Reader, ReaderBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::column::TextHint;
use super::{BatchSource, CountingReader, bad_file};
use crate::error::Result;

/// Rows read to infer column types.
const INFER_ROWS: usize = 1000;

pub(crate) struct CsvSource {
    file: String,
    reader: Reader<CountingReader<File>>,
    counter: Arc<AtomicU64>,
}

impl CsvSource {
    /// Opens the file; returns the source, its all-text schema and the
    /// inferred type of each column.
    pub fn open(
        file: &str,
        mut handle: File,
        delimiter: u8,
        batch_rows: usize,
    ) -> Result<(CsvSource, SchemaRef, Vec<TextHint>)> {
        let format = Format::default()
            .with_header(true)
            .with_delimiter(delimiter)
            .with_truncated_rows(true);
        let (inferred, _) = format
            .infer_schema(BufReader::new(&mut handle), Some(INFER_ROWS))
            .map_err(|e| bad_file(file, format!("not a readable CSV file: {e}")))?;
        handle
            .seek(SeekFrom::Start(0))
            .map_err(|e| bad_file(file, e.to_string()))?;
        let hints = inferred
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int64 => TextHint::Int,
                DataType::Float64 => TextHint::Float,
                DataType::Boolean => TextHint::Bool,
                _ => TextHint::Text,
            })
            .collect();
        let schema = Arc::new(Schema::new(
            inferred
                .fields()
                .iter()
                // Spreadsheet exports often start with a byte-order mark, which
                // would otherwise hide the first column from the mapping.
                .map(|f| {
                    Field::new(
                        f.name().trim_start_matches('\u{feff}'),
                        DataType::Utf8,
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        ));
        let counter = Arc::new(AtomicU64::new(0));
        let reader = ReaderBuilder::new(schema.clone())
            .with_format(format)
            .with_batch_size(batch_rows)
            .build(CountingReader::new(handle, counter.clone()))
            .map_err(|e| bad_file(file, e.to_string()))?;
        let source = CsvSource {
            file: file.to_owned(),
            reader,
            counter,
        };
        Ok((source, schema, hints))
    }
}

impl BatchSource for CsvSource {
    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let batch = self.reader.next()?;
        Some(batch.map_err(|e| bad_file(&self.file, e.to_string())))
    }

    /// Bytes handed to the CSV parser, which runs at most a buffer ahead.
    fn bytes_read(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }
}
