//! Raw event bodies kept as JSON text. Every scored event is kept in `recent`
//! until `baseline_size` newer ones arrived, but read only at a change point:
//! one compact string is cheaper to make and to free than a copy of the
//! `Value` tree (a clone and a drop were a tenth of the scoring profile).
//! Serialised as the JSON value itself, so the persisted state is unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de, ser};
use serde_json::Value;

pub fn of(body: &Value) -> String {
    serde_json::to_string(body).expect("a JSON value serialises")
}

/// The body as a `Value` again: text that [`of`] wrote (or [`deserialize`]
/// read from a `Value`) parses to the same `Value`, numbers included
/// (`float_roundtrip`).
pub fn parse(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str(text)
}

pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    parse(text).map_err(ser::Error::custom)?.serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    serde_json::to_string(&v).map_err(de::Error::custom)
}
