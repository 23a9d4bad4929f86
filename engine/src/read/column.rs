//! Typed, per-batch views of Arrow columns, read cell by cell.
//!
//! Each column is downcast (or cast to a wider type) once per batch so the
//! per-row loop never matches on `DataType` or allocates beyond the values it
//! produces.

use std::borrow::Cow;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Date64Array, Float64Array, Int64Array,
    LargeStringArray, StringArray, StringViewArray, UInt64Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Float64Type, Int64Type, TimeUnit, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Value};

use super::time::{format_date, format_epoch, format_float_epoch, format_int_epoch};

/// The type a CSV column was inferred as; cells are kept as text by the CSV
/// reader and parsed here so one odd cell does not fail a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextHint {
    Int,
    Float,
    Bool,
    Text,
}

/// One column of a batch, ready for per-row access.
pub enum Col {
    Null,
    Bool(BooleanArray),
    Int(Int64Array),
    UInt(UInt64Array),
    Float(Float64Array),
    Str(StringArray),
    LargeStr(LargeStringArray),
    View(StringViewArray),
    Text(StringArray, TextHint),
    Timestamp(Int64Array, TimeUnit),
    Date32(Date32Array),
    Date64(Date64Array),
    Struct(Option<NullBuffer>, Vec<(String, Col)>),
    List(Option<NullBuffer>, OffsetBuffer<i32>, Box<Col>),
    Other(ArrayRef),
}

impl Col {
    /// Views `array`; CSV text columns pass the inferred type as `hint`.
    pub fn new(array: &ArrayRef, hint: Option<TextHint>) -> Col {
        if let (Some(hint), DataType::Utf8) = (hint, array.data_type()) {
            return Col::Text(array.as_string::<i32>().clone(), hint);
        }
        let cast_to = |to: &DataType| cast(array, to).ok();
        match array.data_type() {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Bool(array.as_boolean().clone()),
            DataType::Int64 => Col::Int(array.as_primitive::<Int64Type>().clone()),
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => match cast_to(&DataType::Int64) {
                Some(a) => Col::Int(a.as_primitive::<Int64Type>().clone()),
                None => Col::Other(array.clone()),
            },
            DataType::UInt64 => Col::UInt(array.as_primitive::<UInt64Type>().clone()),
            DataType::Float64 => Col::Float(array.as_primitive::<Float64Type>().clone()),
            DataType::Float16
            | DataType::Float32
            | DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => match cast_to(&DataType::Float64) {
                Some(a) => Col::Float(a.as_primitive::<Float64Type>().clone()),
                None => Col::Other(array.clone()),
            },
            DataType::Utf8 => Col::Str(array.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Col::LargeStr(array.as_string::<i64>().clone()),
            DataType::Utf8View => Col::View(array.as_string_view().clone()),
            DataType::Timestamp(unit, _) => match cast_to(&DataType::Int64) {
                Some(a) => Col::Timestamp(a.as_primitive::<Int64Type>().clone(), *unit),
                None => Col::Other(array.clone()),
            },
            DataType::Date32 => Col::Date32(array.as_primitive::<Date32Type>().clone()),
            DataType::Date64 => Col::Date64(array.as_primitive::<Date64Type>().clone()),
            DataType::Struct(fields) => {
                let s = array.as_struct();
                let children = fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), Col::new(c, None)))
                    .collect();
                Col::Struct(s.nulls().cloned(), children)
            }
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                let values = Col::new(l.values(), None);
                Col::List(l.nulls().cloned(), l.offsets().clone(), Box::new(values))
            }
            DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                match cast_to(&DataType::List(f.clone())) {
                    Some(a) => Col::new(&a, None),
                    None => Col::Other(array.clone()),
                }
            }
            DataType::Dictionary(_, value) => match cast_to(value) {
                Some(a) => Col::new(&a, None),
                None => Col::Other(array.clone()),
            },
            _ => Col::Other(array.clone()),
        }
    }

    pub fn is_null(&self, row: usize) -> bool {
        match self {
            Col::Null => true,
            Col::Bool(a) => a.is_null(row),
            Col::Int(a) | Col::Timestamp(a, _) => a.is_null(row),
            Col::UInt(a) => a.is_null(row),
            Col::Float(a) => a.is_null(row),
            Col::Str(a) | Col::Text(a, _) => a.is_null(row),
            Col::LargeStr(a) => a.is_null(row),
            Col::View(a) => a.is_null(row),
            Col::Date32(a) => a.is_null(row),
            Col::Date64(a) => a.is_null(row),
            Col::Struct(n, _) | Col::List(n, _, _) => n.as_ref().is_some_and(|n| n.is_null(row)),
            Col::Other(a) => a.is_null(row),
        }
    }

    /// The cell as text when the column holds text, without copying.
    fn str(&self, row: usize) -> Option<&str> {
        match self {
            Col::Str(a) | Col::Text(a, _) => Some(a.value(row)),
            Col::LargeStr(a) => Some(a.value(row)),
            Col::View(a) => Some(a.value(row)),
            _ => None,
        }
    }

    /// The cell as a typed JSON value; `None` for null.
    pub fn json(&self, row: usize) -> Option<Value> {
        if self.is_null(row) {
            return None;
        }
        Some(match self {
            Col::Null => return None,
            Col::Bool(a) => Value::Bool(a.value(row)),
            Col::Int(a) => Value::from(a.value(row)),
            Col::UInt(a) => Value::from(a.value(row)),
            Col::Float(a) => float_json(a.value(row)),
            Col::Str(_) | Col::LargeStr(_) | Col::View(_) => {
                Value::String(self.str(row)?.to_owned())
            }
            Col::Text(a, hint) => text_json(a.value(row), *hint),
            Col::Timestamp(a, unit) => Value::String(format_epoch(a.value(row), *unit)),
            Col::Date32(a) => Value::String(format_date(i64::from(a.value(row)))),
            Col::Date64(a) => {
                let ms = a.value(row);
                if ms % 86_400_000 == 0 {
                    Value::String(format_date(ms / 86_400_000))
                } else {
                    Value::String(format_epoch(ms, TimeUnit::Millisecond))
                }
            }
            Col::Struct(_, children) => {
                let mut map = Map::with_capacity(children.len());
                for (name, child) in children {
                    if let Some(v) = child.json(row) {
                        map.insert(name.clone(), v);
                    }
                }
                Value::Object(map)
            }
            Col::List(_, offsets, values) => {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                Value::Array(
                    (start..end)
                        .map(|i| values.json(i).unwrap_or(Value::Null))
                        .collect(),
                )
            }
            Col::Other(a) => Value::String(display(a, row)),
        })
    }

    /// The cell as text (numbers rendered); `None` for null or empty.
    pub fn text(&self, row: usize) -> Option<Cow<'_, str>> {
        if self.is_null(row) {
            return None;
        }
        let text = match self {
            Col::Str(_) | Col::LargeStr(_) | Col::View(_) | Col::Text(..) => {
                Cow::Borrowed(self.str(row)?)
            }
            Col::Bool(a) => Cow::Borrowed(if a.value(row) { "true" } else { "false" }),
            Col::Int(a) => Cow::Owned(a.value(row).to_string()),
            Col::UInt(a) => Cow::Owned(a.value(row).to_string()),
            Col::Float(a) => Cow::Owned(a.value(row).to_string()),
            Col::Other(a) => Cow::Owned(display(a, row)),
            _ => match self.json(row)? {
                Value::String(s) => Cow::Owned(s),
                v => Cow::Owned(v.to_string()),
            },
        };
        (!text.is_empty()).then_some(text)
    }

    /// The cell as an event timestamp: numbers and Arrow temporal types as
    /// RFC 3339 (see [`super::time`]), text kept as it is.
    pub fn timestamp(&self, row: usize) -> Option<String> {
        if self.is_null(row) {
            return None;
        }
        match self {
            Col::Timestamp(a, unit) => Some(format_epoch(a.value(row), *unit)),
            Col::Int(a) => Some(format_int_epoch(a.value(row))),
            Col::UInt(a) => Some(match i64::try_from(a.value(row)) {
                Ok(v) => format_int_epoch(v),
                Err(_) => a.value(row).to_string(),
            }),
            Col::Float(a) => format_float_epoch(a.value(row)),
            Col::Date32(a) => Some(format_epoch(
                i64::from(a.value(row)) * 86_400,
                TimeUnit::Second,
            )),
            Col::Date64(a) => Some(format_epoch(a.value(row), TimeUnit::Millisecond)),
            Col::Text(a, TextHint::Int | TextHint::Float) => {
                let s = a.value(row).trim();
                let parsed = match s.parse::<i64>() {
                    Ok(v) => Some(format_int_epoch(v)),
                    Err(_) => s.parse::<f64>().ok().and_then(format_float_epoch),
                };
                parsed
                    .or_else(|| Some(s.to_owned()))
                    .filter(|s| !s.is_empty())
            }
            _ => self.text(row).map(Cow::into_owned),
        }
    }

    /// The cell as an integer; `Err` says why it is not one.
    pub fn int(&self, row: usize) -> Result<Option<i64>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        match self {
            Col::Int(a) => Ok(Some(a.value(row))),
            Col::UInt(a) => i64::try_from(a.value(row))
                .map(Some)
                .map_err(|_| format!("{} does not fit in a 64-bit integer", a.value(row))),
            Col::Float(a) => {
                let v = a.value(row);
                if v.fract() == 0.0 && v.abs() < 9.2e18 {
                    Ok(Some(v as i64))
                } else {
                    Err(format!("{v} is not an integer"))
                }
            }
            _ => match self.str(row) {
                Some(s) if s.trim().is_empty() => Ok(None),
                Some(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("`{s}` is not an integer")),
                None => Err(format!(
                    "expected an integer, found {}",
                    self.json(row).unwrap_or(Value::Null)
                )),
            },
        }
    }

    /// The cell's text when the column holds text; `None` for null or a
    /// column of another type.
    pub fn text_cell(&self, row: usize) -> Option<&str> {
        if self.is_null(row) {
            return None;
        }
        self.str(row)
    }

    /// The cell's text when the column holds text, checked to be JSON
    /// without building it; `None` for null or a column of another type.
    pub fn json_text(&self, row: usize) -> Result<Option<&str>, String> {
        let Some(s) = self.text_cell(row) else {
            return Ok(None);
        };
        serde_json::from_str::<serde::de::IgnoredAny>(s)
            .map_err(|e| format!("invalid JSON: {e}"))?;
        Ok(Some(s))
    }

    /// The cell as a JSON document: text is parsed, structs become objects.
    pub fn json_document(&self, row: usize) -> Result<Option<Value>, String> {
        if self.is_null(row) {
            return Ok(None);
        }
        match self.str(row) {
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| format!("invalid JSON: {e}")),
            None => Ok(self.json(row)),
        }
    }
}

/// Non-finite floats have no JSON number; keep them visible as text rather
/// than dropping the field, since a NaN reading is itself a signal.
fn float_json(v: f64) -> Value {
    if v.is_finite() {
        Value::from(v)
    } else if v.is_nan() {
        Value::String("NaN".into())
    } else if v > 0.0 {
        Value::String("inf".into())
    } else {
        Value::String("-inf".into())
    }
}

/// A CSV cell in its column's inferred type, falling back to text.
fn text_json(s: &str, hint: TextHint) -> Value {
    match hint {
        TextHint::Int => match s.parse::<i64>() {
            Ok(v) => Value::from(v),
            Err(_) => text_json(s, TextHint::Float),
        },
        TextHint::Float => match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Value::from(v),
            _ => Value::String(s.to_owned()),
        },
        TextHint::Bool => {
            if s.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if s.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                Value::String(s.to_owned())
            }
        }
        TextHint::Text => Value::String(s.to_owned()),
    }
}

/// Arrow's own rendering, for types without a natural JSON form.
fn display(array: &ArrayRef, row: usize) -> String {
    match ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()) {
        Ok(f) => f.value(row).to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StructArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Fields};

    use super::*;

    #[test]
    fn typed_cells() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), None]));
        let col = Col::new(&ints, None);
        assert_eq!(col.json(0), Some(Value::from(7)));
        assert_eq!(col.json(1), None);
        assert_eq!(col.int(0), Ok(Some(7)));

        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_000]));
        let col = Col::new(&ts, None);
        assert_eq!(col.timestamp(0).unwrap(), "2023-11-14T22:13:20Z");

        let text: ArrayRef = Arc::new(StringArray::from(vec!["12.5", "n/a"]));
        let col = Col::new(&text, Some(TextHint::Float));
        assert_eq!(col.json(0), Some(Value::from(12.5)));
        assert_eq!(col.json(1), Some(Value::from("n/a")));
    }

    #[test]
    fn struct_cells_become_objects() {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
        let b: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        let fields = Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        let s: ArrayRef = Arc::new(StructArray::new(fields, vec![a, b], None));
        let col = Col::new(&s, None);
        assert_eq!(
            col.json_document(1).unwrap().unwrap(),
            serde_json::json!({"b": "y"})
        );
    }
}
