//! An event as the API accepts it: the spec's fields only (others refused,
//! named with their index), an RFC 3339 `timestamp`, a JSON-object `body`.
//! The engine's [`Event`] is laxer because readers of files need it to be.

use driftlock_engine::{Event, EventKind};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Map, Value};

use super::map_only::MapOnly;

/// One event of a request body: a JSON object (see [`MapOnly`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, remote = "Self")]
pub struct InputEvent {
    #[serde(default, deserialize_with = "rfc3339")]
    pub timestamp: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: EventKind,
    #[serde(deserialize_with = "object")]
    pub body: Map<String, Value>,
    #[serde(default)]
    pub attributes: Value,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default, deserialize_with = "super::integers::optional")]
    pub sequence: Option<i64>,
}

impl<'de> Deserialize<'de> for InputEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The derived reader (`remote = "Self"`), given only a map.
        InputEvent::deserialize(MapOnly(d))
    }
}

fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    if driftlock_store::time::parse_ms(&s).is_none() {
        return Err(de::Error::custom(format!(
            "`{s}` is not an ISO-8601 (RFC 3339) timestamp such as 2025-01-01T10:00:00Z"
        )));
    }
    Ok(Some(s))
}

fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Object(m) => Ok(m),
        other => Err(de::Error::custom(format!(
            "must be a JSON object, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => unreachable!(),
            }
        ))),
    }
}

impl From<InputEvent> for Event {
    fn from(e: InputEvent) -> Event {
        Event {
            stream_id: String::new(),
            timestamp: e.timestamp,
            kind: e.kind,
            body: Value::Object(e.body),
            attributes: e.attributes,
            idempotency_key: e.idempotency_key,
            sequence: e.sequence,
        }
    }
}

/// The events of a request, checked.
pub fn into_events(input: Vec<InputEvent>) -> Vec<Event> {
    input.into_iter().map(Event::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;
    use crate::error::ApiError;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Req {
        events: Vec<InputEvent>,
    }

    fn field_of(body: &str) -> (String, String) {
        match parse_json::<Req>(body.as_bytes()) {
            Err(ApiError::InvalidField { field, message }) => (field, message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_field_and_its_index() {
        let ok = r#"{"events":[{"body":{"a":1},"timestamp":"2025-01-01T10:00:00Z"},"#;
        let (f, m) = field_of(&format!(
            r#"{ok}{{"body":{{}},"timestamp":"yesterday"}}]}}"#
        ));
        assert_eq!(f, "events[1].timestamp");
        assert!(m.contains("RFC 3339"), "{m}");
        for body in ["null", "\"text\"", "3", "[1]"] {
            let (f, _) = field_of(&format!(r#"{ok}{{"body":{body}}}]}}"#));
            assert_eq!(f, "events[1].body", "{body}");
        }
        let (f, m) = field_of(&format!(r#"{ok}{{"body":{{}},"stream_id":"x"}}]}}"#));
        assert_eq!(f, "events[1].stream_id");
        assert!(m.contains("unknown field"), "{m}");
        let good: Req =
            parse_json(format!(r#"{ok}{{"body":{{}},"type":"metric"}}]}}"#).as_bytes()).unwrap();
        let events = into_events(good.events);
        assert_eq!(events[1].kind, EventKind::Metric);
        assert_eq!(
            serde_json::to_value(&events[0]).unwrap(),
            serde_json::json!({"timestamp":"2025-01-01T10:00:00Z","type":"log","body":{"a":1}}),
            "no stream_id is added"
        );
    }
}
