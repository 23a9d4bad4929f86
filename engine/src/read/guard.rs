//! arrow's and parquet's decoders assert on some damaged input instead of
//! returning an error (a validity bitmap shorter than its array, a bit width
//! past the end of a page, a schema field of an unknown type), which the
//! fuzz tests (`tests/fuzz_readers.rs`) found. A panic inside them becomes
//! [`EngineError::BadFile`] naming the file, as any other damage does; the
//! reader that panicked is not used again (an error ends [`super::EventReader`]).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::bad_file;
use crate::error::Result;

/// Runs one call into a third-party decoder of `file`.
pub(crate) fn decoder<T>(file: &str, call: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the decoder failed");
        Err(bad_file(file, format!("damaged data: {why}")))
    })
}
