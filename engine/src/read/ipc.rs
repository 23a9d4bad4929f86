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
    // arrow allocates each block or message body at the length the file
    // states before reading it, so a damaged length aborted the process
    // (a 256 GiB allocation, found by tests/fuzz_readers.rs): the lengths are
    // checked against the file's size first.
    let framing = if is_file_format {
        check_footer(&mut handle, total_bytes)
    } else {
        check_messages(&mut handle, total_bytes)
    };
    framing.map_err(|why| bad_file(file, format!("not a readable Arrow IPC file: {why}")))?;
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

fn read_at(handle: &mut File, at: u64, len: usize) -> std::result::Result<Vec<u8>, String> {
    let mut buf = vec![0; len];
    handle
        .seek(SeekFrom::Start(at))
        .and_then(|_| handle.read_exact(&mut buf))
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Whether `offset + lengths` stays inside a file of `size` bytes.
fn inside(offset: i64, lengths: &[i64], size: u64) -> bool {
    let mut end = i128::from(offset);
    for &l in lengths {
        if l < 0 {
            return false;
        }
        end += i128::from(l);
    }
    offset >= 0 && end <= i128::from(size)
}

/// The file format: every block the footer lists lies inside the file.
fn check_footer(handle: &mut File, size: u64) -> std::result::Result<(), String> {
    if size < 10 {
        return Err("shorter than the format's footer".into());
    }
    let tail = read_at(handle, size - 10, 10)?;
    let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if !inside(i64::from(footer_len), &[10], size) {
        return Err(format!("footer length {footer_len} does not fit the file"));
    }
    let footer_len = footer_len as u64;
    let bytes = read_at(handle, size - 10 - footer_len, footer_len as usize)?;
    let footer = arrow::ipc::root_as_footer(&bytes).map_err(|e| format!("footer: {e}"))?;
    let blocks = footer
        .recordBatches()
        .into_iter()
        .chain(footer.dictionaries())
        .flat_map(|v| v.iter());
    for b in blocks {
        if !inside(
            b.offset(),
            &[i64::from(b.metaDataLength()), b.bodyLength()],
            size,
        ) {
            return Err(format!(
                "a block at offset {} runs past the end",
                b.offset()
            ));
        }
    }
    Ok(())
}

/// The stream format: every message's metadata and body lie inside the file.
fn check_messages(handle: &mut File, size: u64) -> std::result::Result<(), String> {
    let mut at: u64 = 0;
    while at + 4 <= size {
        let word = read_at(handle, at, 4)?;
        let (header, len) = if word == [0xff; 4] {
            if at + 8 > size {
                return Err("a message header runs past the end".into());
            }
            let len = read_at(handle, at + 4, 4)?;
            (8, i32::from_le_bytes([len[0], len[1], len[2], len[3]]))
        } else {
            (4, i32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        };
        if len == 0 {
            return Ok(());
        }
        if !inside((at + header) as i64, &[i64::from(len)], size) {
            return Err(format!("a message at offset {at} runs past the end"));
        }
        let meta = read_at(handle, at + header, len as usize)?;
        let message = arrow::ipc::root_as_message(&meta).map_err(|e| format!("message: {e}"))?;
        let body = message.bodyLength();
        if !inside((at + header) as i64, &[i64::from(len), body], size) {
            return Err(format!(
                "the body of a message at offset {at} runs past the end"
            ));
        }
        at += header + len as u64 + body as u64;
    }
    Ok(())
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
