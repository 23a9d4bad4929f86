//! NDJSON files, read line by line so errors carry exact line numbers and
//! memory holds one batch of events, whatever the file size.

use std::fs::File;
use std::io::{BufRead, BufReader};

use serde_json::{Map, Value};

use super::EventBatch;
use super::convert::{RowError, parse_kind};
use super::mapping::{ColumnMapping, Role};
use super::time::{format_float_epoch, format_int_epoch};
use crate::error::{EngineError, Result};
use crate::event::{Event, EventKind};

/// The `column` reported for a line that is not a JSON object at all.
const WHOLE_LINE: &str = "(line)";

pub(crate) struct NdjsonSource {
    file: String,
    reader: BufReader<File>,
    line_buf: Vec<u8>,
    bytes_read: u64,
    line: u64,
    records: u64,
    /// (key, explicit) per role, in [`Role::ALL`] order, which is declaration
    /// order, so `role as usize` indexes it.
    keys: Vec<(String, bool)>,
    ignore: Vec<String>,
    default_stream: String,
    default_kind: EventKind,
}

impl NdjsonSource {
    pub fn new(
        file: &str,
        handle: File,
        mapping: &ColumnMapping,
        default_stream: String,
    ) -> NdjsonSource {
        NdjsonSource {
            file: file.to_owned(),
            reader: BufReader::with_capacity(256 * 1024, handle),
            line_buf: Vec::new(),
            bytes_read: 0,
            line: 0,
            records: 0,
            keys: Role::ALL
                .iter()
                .map(|r| {
                    let explicit = mapping.explicit(*r).is_some();
                    (mapping.column(*r).to_owned(), explicit)
                })
                .collect(),
            ignore: mapping.ignore.clone(),
            default_stream,
            default_kind: mapping.default_kind.unwrap_or_default(),
        }
    }

    /// Byte offset of the next unread line.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Reads up to `batch_rows` records (blank lines are not records).
    /// `BadRow::row` is the 1-based line number.
    pub fn next_batch(
        &mut self,
        batch_rows: usize,
        skip_bad_rows: bool,
    ) -> Option<Result<EventBatch>> {
        let first_row = self.records;
        let mut events = Vec::with_capacity(batch_rows.min(65_536));
        let mut skipped_rows = 0u64;
        while events.len() + (skipped_rows as usize) < batch_rows {
            self.line_buf.clear();
            let n = match self.reader.read_until(b'\n', &mut self.line_buf) {
                Ok(n) => n,
                Err(source) => {
                    return Some(Err(EngineError::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
            };
            if n == 0 {
                break;
            }
            self.bytes_read += n as u64;
            self.line += 1;
            if self.line_buf.trim_ascii().is_empty() {
                continue;
            }
            self.records += 1;
            let line = match self.line {
                1 => self
                    .line_buf
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(&self.line_buf),
                _ => &self.line_buf,
            };
            let parsed = serde_json::from_slice::<Value>(line);
            let event = match parsed {
                Ok(Value::Object(map)) => self.event(map),
                Ok(_) => Err((
                    WHOLE_LINE.to_owned(),
                    "expected one JSON object per line (NDJSON)".to_owned(),
                )),
                Err(e) => Err((WHOLE_LINE.to_owned(), format!("invalid JSON: {e}"))),
            };
            match event {
                Ok(event) => events.push(event),
                Err(_) if skip_bad_rows => skipped_rows += 1,
                Err((column, reason)) => {
                    return Some(Err(EngineError::BadRow {
                        file: self.file.clone(),
                        row: self.line,
                        column,
                        reason,
                    }));
                }
            }
        }
        if events.is_empty() && skipped_rows == 0 {
            return None;
        }
        Some(Ok(EventBatch {
            events,
            first_row,
            skipped_rows,
            attributes_text: Vec::new(),
            body_text: Vec::new(),
        }))
    }

    /// Removes the role's key from `map`; an explicit key that is absent is an error.
    fn take(
        &self,
        map: &mut Map<String, Value>,
        role: Role,
    ) -> Result<Option<(&str, Value)>, RowError> {
        let (key, explicit) = &self.keys[role as usize];
        match map.shift_remove(key.as_str()) {
            Some(v) => Ok(Some((key.as_str(), v))),
            None if *explicit => Err((key.clone(), "missing".to_owned())),
            None => Ok(None),
        }
    }

    fn event(&self, mut map: Map<String, Value>) -> Result<Event, RowError> {
        let stream_id = match self.take(&mut map, Role::Stream)? {
            Some((key, v)) => text(key, v)?,
            None => None,
        }
        .unwrap_or_else(|| self.default_stream.clone());
        let timestamp = match self.take(&mut map, Role::Timestamp)? {
            Some((key, v)) => timestamp(key, v)?,
            None => None,
        };
        let kind = match self.take(&mut map, Role::Kind)? {
            Some((key, v)) => match text(key, v)? {
                Some(s) => parse_kind(&s).map_err(|e| (key.to_owned(), e))?,
                None => self.default_kind,
            },
            None => self.default_kind,
        };
        let attributes = match self.take(&mut map, Role::Attributes)? {
            Some((_, v)) => v,
            None => Value::Null,
        };
        let idempotency_key = match self.take(&mut map, Role::IdempotencyKey)? {
            Some((key, v)) => text(key, v)?,
            None => None,
        };
        let sequence = match self.take(&mut map, Role::Sequence)? {
            Some((key, v)) => sequence(key, v)?,
            None => None,
        };
        let body = match self.take(&mut map, Role::Body)? {
            Some((key, Value::Null)) => return Err((key.to_owned(), "body is null".to_owned())),
            Some((_, v)) => v,
            None => {
                map.retain(|k, v| !v.is_null() && !self.ignore.iter().any(|i| i == k));
                Value::Object(map)
            }
        };
        Ok(Event {
            stream_id,
            timestamp,
            kind,
            body,
            attributes,
            idempotency_key,
            sequence,
        })
    }
}

fn text(key: &str, v: Value) -> Result<Option<String>, RowError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err((key.to_owned(), format!("expected text, found {other}"))),
    }
}

fn timestamp(key: &str, v: Value) -> Result<Option<String>, RowError> {
    match v {
        Value::Number(n) => Ok(match n.as_i64() {
            Some(i) => Some(format_int_epoch(i)),
            None => n.as_f64().and_then(format_float_epoch),
        }),
        other => text(key, other),
    }
}

fn sequence(key: &str, v: Value) -> Result<Option<i64>, RowError> {
    match &v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| (key.to_owned(), format!("{n} is not a 64-bit integer"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| (key.to_owned(), format!("`{s}` is not an integer"))),
        other => Err((
            key.to_owned(),
            format!("expected an integer, found {other}"),
        )),
    }
}
