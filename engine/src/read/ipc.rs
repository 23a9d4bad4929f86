//! Arrow IPC files (random-access "file" format) and streams.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::{FileReader, StreamReader};
use arrow::record_batch::RecordBatch;

use super::{BatchSource, CountingReader, bad_file};
use crate::error::Result;

/// Both IPC flavours share extensions (.arrow, .ipc, .feather), so the file's
/// magic decides: the file format starts with `ARROW1`.
pub(crate) fn open(
    file: &str,
    mut handle: File,
    total_bytes: u64,
) -> Result<(Box<dyn BatchSource>, SchemaRef)> {
    let mut magic = [0u8; 6];
    let is_file_format = handle.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
    handle
        .seek(SeekFrom::Start(0))
        .map_err(|e| bad_file(file, e.to_string()))?;
    if is_file_format {
        let reader = FileReader::try_new_buffered(handle, None)
            .map_err(|e| bad_file(file, format!("not a readable Arrow IPC file: {e}")))?;
        let schema = reader.schema();
        let batches = reader.num_batches();
        let source = IpcFileSource {
            file: file.to_owned(),
            reader,
            batches,
            done: 0,
            total_bytes,
        };
        Ok((Box::new(source), schema))
    } else {
        let counter = Arc::new(AtomicU64::new(0));
        let counting = CountingReader::new(handle, counter.clone());
        let reader = StreamReader::try_new_buffered(counting, None).map_err(|e| {
            bad_file(
                file,
                format!("not a readable Arrow IPC file or stream: {e}"),
            )
        })?;
        let schema = reader.schema();
        let source = IpcStreamSource {
            file: file.to_owned(),
            reader,
            counter,
        };
        Ok((Box::new(source), schema))
    }
}

struct IpcFileSource {
    file: String,
    reader: FileReader<std::io::BufReader<File>>,
    batches: usize,
    done: usize,
    total_bytes: u64,
}

impl BatchSource for IpcFileSource {
    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let batch = self.reader.next()?;
        self.done += 1;
        Some(batch.map_err(|e| bad_file(&self.file, e.to_string())))
    }

    /// The footer gives batch offsets but not sizes; batches are usually of
    /// similar size, so the share of batches read is a fair estimate.
    fn bytes_read(&self) -> u64 {
        if self.batches == 0 {
            return self.total_bytes;
        }
        self.total_bytes * self.done as u64 / self.batches as u64
    }
}

struct IpcStreamSource {
    file: String,
    reader: StreamReader<std::io::BufReader<CountingReader<File>>>,
    counter: Arc<AtomicU64>,
}

impl BatchSource for IpcStreamSource {
    fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        let batch = self.reader.next()?;
        Some(batch.map_err(|e| bad_file(&self.file, e.to_string())))
    }

    fn bytes_read(&self) -> u64 {
        self.counter.load(std::sync::atomic::Ordering::Relaxed)
    }
}
