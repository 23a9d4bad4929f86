//! Arrow record batches to events, following a [`ColumnMapping`].

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::EventBatch;
use super::column::{Col, TextHint};
use super::mapping::{ColumnMapping, Role};
use crate::error::{EngineError, Result};
use crate::event::{Event, EventKind};

/// Why a row was refused: the column and the reason.
pub(crate) type RowError = (String, String);

/// A mapping resolved against one file's schema: column indexes per role.
#[derive(Debug)]
pub(crate) struct Plan {
    file: String,
    names: Vec<String>,
    stream: Option<usize>,
    timestamp: Option<usize>,
    kind: Option<usize>,
    body: Option<usize>,
    attributes: Option<usize>,
    idempotency_key: Option<usize>,
    sequence: Option<usize>,
    /// Columns that make up a synthesized body (when there is no body column).
    body_columns: Vec<(String, usize)>,
    /// The synthesized body's keys (values null), cloned per row: cloning
    /// copies the hash table instead of hashing every key again, which was a
    /// tenth of the conversion time. `None` with duplicate column names.
    body_template: Option<Map<String, Value>>,
    default_stream: String,
    default_kind: EventKind,
    hints: Option<Vec<TextHint>>,
    /// See [`super::ReadOptions::defer_attributes`].
    defer_attributes: bool,
    /// See [`super::ReadOptions::keep_body_text`].
    keep_body_text: bool,
}

/// A converted row: the event, and the texts the reading options keep.
struct Row {
    event: Event,
    attributes_text: Option<String>,
    body_text: Option<String>,
}

impl Plan {
    /// Resolves `mapping` against `schema`; an explicitly named column the
    /// schema lacks is an error naming the file and the column.
    pub fn new(
        file: &str,
        schema: &Schema,
        mapping: &ColumnMapping,
        default_stream: String,
        hints: Option<Vec<TextHint>>,
    ) -> Result<Plan> {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut found = [None; 7];
        for (slot, role) in found.iter_mut().zip(Role::ALL) {
            let name = mapping.column(role);
            *slot = names.iter().position(|n| n == name);
            if slot.is_none() && mapping.explicit(role).is_some() {
                return Err(missing_column(file, name, &names));
            }
        }
        let [
            stream,
            timestamp,
            kind,
            body,
            attributes,
            idempotency_key,
            sequence,
        ] = found;
        let body_columns: Vec<(String, usize)> = names
            .iter()
            .enumerate()
            .filter(|(i, n)| !found.contains(&Some(*i)) && !mapping.is_ignored(n))
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let template: Map<String, Value> = body_columns
            .iter()
            .map(|(n, _)| (n.clone(), Value::Null))
            .collect();
        let body_template = (template.len() == body_columns.len()).then_some(template);
        Ok(Plan {
            file: file.to_owned(),
            names,
            stream,
            timestamp,
            kind,
            body,
            attributes,
            idempotency_key,
            sequence,
            body_columns,
            body_template,
            default_stream,
            default_kind: mapping.default_kind.unwrap_or_default(),
            hints,
            defer_attributes: false,
            keep_body_text: false,
        })
    }

    /// Keeps a text body's JSON text (see
    /// [`super::ReadOptions::keep_body_text`]).
    pub fn keeping_body_text(mut self, keep: bool) -> Self {
        self.keep_body_text = keep;
        self
    }

    /// Keeps a text attributes column as text (see
    /// [`super::ReadOptions::defer_attributes`]).
    pub fn deferring_attributes(mut self, defer: bool) -> Self {
        self.defer_attributes = defer;
        self
    }

    /// Converts `batch`, whose first row is file row `first_row` (0-based).
    /// With `skip_bad_rows`, refused rows are counted instead of failing.
    pub fn convert(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        skip_bad_rows: bool,
    ) -> Result<EventBatch> {
        let cols: Vec<Col> = batch
            .columns()
            .iter()
            .enumerate()
            .map(|(i, a)| Col::new(a, self.hints.as_ref().map(|h| h[i])))
            .collect();
        let mut events = Vec::with_capacity(batch.num_rows());
        let mut attributes_text = Vec::new();
        if self.defer_attributes {
            attributes_text.reserve(batch.num_rows());
        }
        let mut body_text = Vec::new();
        if self.keep_body_text {
            body_text.reserve(batch.num_rows());
        }
        let mut skipped_rows = 0;
        for row in 0..batch.num_rows() {
            match self.row(&cols, row) {
                Ok(r) => {
                    events.push(r.event);
                    if self.defer_attributes {
                        attributes_text.push(r.attributes_text);
                    }
                    if self.keep_body_text {
                        body_text.push(r.body_text);
                    }
                }
                Err(_) if skip_bad_rows => skipped_rows += 1,
                Err((column, reason)) => {
                    return Err(EngineError::BadRow {
                        file: self.file.clone(),
                        row: first_row + row as u64 + 1,
                        column,
                        reason,
                    });
                }
            }
        }
        Ok(EventBatch {
            events,
            first_row,
            skipped_rows,
            attributes_text,
            body_text,
        })
    }

    /// The body made of every unmapped, unignored column; nulls left out.
    fn synthesized_body(&self, cols: &[Col], row: usize) -> Map<String, Value> {
        let Some(template) = &self.body_template else {
            let mut map = Map::with_capacity(self.body_columns.len());
            for (name, i) in &self.body_columns {
                if let Some(v) = cols[*i].json(row) {
                    map.insert(name.clone(), v);
                }
            }
            return map;
        };
        let mut map = template.clone();
        let mut has_null = false;
        for (slot, (_, i)) in map.values_mut().zip(&self.body_columns) {
            match cols[*i].json(row) {
                Some(v) => *slot = v,
                None => has_null = true,
            }
        }
        if has_null {
            map.retain(|_, v| !v.is_null());
        }
        map
    }

    fn row(&self, cols: &[Col], row: usize) -> Result<Row, RowError> {
        let stream_id = match self.stream.and_then(|i| cols[i].text(row)) {
            Some(s) => s.into_owned(),
            None => self.default_stream.clone(),
        };
        let timestamp = self.timestamp.and_then(|i| cols[i].timestamp(row));
        let kind = match self.kind.and_then(|i| Some((i, cols[i].text(row)?))) {
            Some((i, s)) => parse_kind(&s).map_err(|e| (self.names[i].clone(), e))?,
            None => self.default_kind,
        };
        let (body, body_text) = match self.body {
            Some(i) => match cols[i].json_document(row) {
                Ok(Some(v)) => {
                    let text = self
                        .keep_body_text
                        .then(|| cols[i].text_cell(row))
                        .flatten();
                    (v, text.map(str::to_owned))
                }
                Ok(None) => return Err((self.names[i].clone(), "body is null".into())),
                Err(e) => return Err((self.names[i].clone(), e)),
            },
            None => (Value::Object(self.synthesized_body(cols, row)), None),
        };
        let (attributes, attributes_text) = match self.attributes {
            Some(i) => self
                .attributes(&cols[i], row)
                .map_err(|e| (self.names[i].clone(), e))?,
            None => (Value::Null, None),
        };
        let idempotency_key = self
            .idempotency_key
            .and_then(|i| cols[i].text(row))
            .map(|s| s.into_owned());
        let sequence = match self.sequence {
            Some(i) => cols[i].int(row).map_err(|e| (self.names[i].clone(), e))?,
            None => None,
        };
        let event = Event {
            stream_id,
            timestamp,
            kind,
            body,
            attributes,
            idempotency_key,
            sequence,
        };
        Ok(Row {
            event,
            attributes_text,
            body_text,
        })
    }

    /// The attributes cell, parsed; or, deferring, its text when the column
    /// holds text.
    fn attributes(&self, col: &Col, row: usize) -> Result<(Value, Option<String>), String> {
        if self.defer_attributes
            && let Some(text) = col.json_text(row)?
        {
            return Ok((Value::Null, Some(text.to_owned())));
        }
        Ok((col.json_document(row)?.unwrap_or(Value::Null), None))
    }
}

/// Parses an event kind cell, saying which kinds exist when it is not one.
pub(crate) fn parse_kind(s: &str) -> Result<EventKind, String> {
    // The exact spellings first: `EventKind::parse` allocates to lowercase.
    match s {
        "log" => return Ok(EventKind::Log),
        "metric" => return Ok(EventKind::Metric),
        "trace" => return Ok(EventKind::Trace),
        "llm" => return Ok(EventKind::Llm),
        _ => {}
    }
    EventKind::parse(s)
        .ok_or_else(|| format!("unknown event type `{s}` (expected log, metric, trace or llm)"))
}

/// The error for an explicitly mapped column the file lacks.
pub(crate) fn missing_column(file: &str, column: &str, names: &[String]) -> EngineError {
    EngineError::BadFile {
        file: file.to_owned(),
        reason: format!(
            "column `{column}` not found (the file has: {})",
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, StringArray};

    use super::*;

    fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    /// The default mapping over `b`'s columns, as for `f.parquet`.
    fn default_plan(b: &RecordBatch) -> Plan {
        Plan::new(
            "f.parquet",
            &b.schema(),
            &Default::default(),
            "f".into(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn other_columns_become_the_body() {
        let b = batch(vec![
            (
                "timestamp",
                Arc::new(StringArray::from(vec!["2014-04-01 00:00:00"])) as ArrayRef,
            ),
            ("value", Arc::new(Float64Array::from(vec![12.3]))),
        ]);
        let mapping = ColumnMapping::default().with_default_kind(EventKind::Metric);
        let plan = Plan::new("nab.csv", &b.schema(), &mapping, "nab".into(), None).unwrap();
        let out = plan.convert(&b, 0, false).unwrap();
        let e = &out.events[0];
        assert_eq!(e.stream_id, "nab");
        assert_eq!(e.kind, EventKind::Metric);
        assert_eq!(e.timestamp.as_deref(), Some("2014-04-01 00:00:00"));
        assert_eq!(e.body, serde_json::json!({"value": 12.3}));
    }

    #[test]
    fn bad_kind_names_row_and_column() {
        let b = batch(vec![
            (
                "type",
                Arc::new(StringArray::from(vec!["log", "bogus"])) as ArrayRef,
            ),
            ("msg", Arc::new(StringArray::from(vec!["a", "b"]))),
        ]);
        let plan = default_plan(&b);
        let err = plan.convert(&b, 10, false).unwrap_err().to_string();
        assert!(err.contains("f.parquet: row 12: column `type`"), "{err}");
        let skipped = plan.convert(&b, 10, true).unwrap();
        assert_eq!((skipped.events.len(), skipped.skipped_rows), (1, 1));
    }

    #[test]
    fn deferred_attributes_stay_text_but_are_checked() {
        let b = batch(vec![
            (
                "attributes",
                Arc::new(StringArray::from(vec![
                    Some(r#"{"env": "prod"}"#),
                    None,
                    Some("{oops"),
                ])) as ArrayRef,
            ),
            ("msg", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
        ]);
        let plan = default_plan(&b).deferring_attributes(true);
        let err = plan.convert(&b, 0, false).unwrap_err().to_string();
        assert!(
            err.contains("row 3: column `attributes`: invalid JSON"),
            "{err}"
        );
        let out = plan.convert(&b.slice(0, 2), 0, false).unwrap();
        assert!(out.events.iter().all(|e| e.attributes.is_null()));
        let text = out.attributes_text[0].as_deref().unwrap();
        assert_eq!(text, r#"{"env": "prod"}"#);
        assert_eq!(
            crate::read::parse_attributes(text).unwrap(),
            serde_json::json!({"env": "prod"})
        );
        assert_eq!(out.attributes_text[1], None);

        // Not deferring: parsed into the event, and no texts.
        let plan = plan.deferring_attributes(false);
        let out = plan.convert(&b.slice(0, 2), 0, false).unwrap();
        assert_eq!(out.events[0].attributes, serde_json::json!({"env": "prod"}));
        assert!(out.attributes_text.is_empty());
    }

    #[test]
    fn a_text_body_can_keep_its_text() {
        let text = r#"{"msg": "a",  "n": 1.50}"#;
        let b = batch(vec![(
            "body",
            Arc::new(StringArray::from(vec![text])) as ArrayRef,
        )]);
        let plan = default_plan(&b).keeping_body_text(true);
        let out = plan.convert(&b, 0, false).unwrap();
        assert_eq!(
            out.events[0].body,
            serde_json::json!({"msg": "a", "n": 1.5})
        );
        assert_eq!(out.body_text, vec![Some(text.to_owned())]);
        let out = plan.keeping_body_text(false).convert(&b, 0, false).unwrap();
        assert!(out.body_text.is_empty());
    }
}
