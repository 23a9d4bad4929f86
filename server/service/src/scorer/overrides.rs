//! A request's `config_override`: parsed into a detector config, or checked
//! against the config of the stream it names.

use driftlock_engine::DetectorConfig;
use serde_json::{Map, Value};

use super::error::{ScoreError, internal};

/// A `config_override` object: DetectorConfig fields, unknown ones refused.
pub fn config_from_override(
    fields: Option<&Map<String, Value>>,
) -> Result<DetectorConfig, ScoreError> {
    let config: DetectorConfig = match fields {
        None => DetectorConfig::default(),
        Some(map) => serde_path_to_error::deserialize(Value::Object(map.clone())).map_err(|e| {
            let path = e.path().to_string();
            ScoreError::InvalidOverride {
                field: match path.as_str() {
                    "" | "." => "config_override".into(),
                    p => format!("config_override.{p}"),
                },
                reason: e.into_inner().to_string(),
            }
        })?,
    };
    config.validate()?;
    Ok(config)
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `config` (serialised) with `k` set to `v`, if that is a valid config.
fn with_field(config: &Value, k: &str, v: &Value) -> Option<DetectorConfig> {
    let mut fields = config.as_object()?.clone();
    fields.insert(k.to_owned(), v.clone());
    serde_json::from_value(Value::Object(fields)).ok()
}

/// 409 when `fields` asks for values that differ from the stream's config.
pub fn check_override(
    stream_id: &str,
    config: &DetectorConfig,
    fields: Option<&Map<String, Value>>,
) -> Result<(), ScoreError> {
    let Some(fields) = fields else { return Ok(()) };
    let current = serde_json::to_value(config).map_err(internal)?;
    let mut differ = Vec::new();
    for (k, v) in fields {
        match current.get(k) {
            Some(have) if !same_value(have, v) => {
                differ.push(format!("{k} is {have} (requested {v})"));
            }
            Some(_) => {}
            // A field the config leaves out of its serialised form (at its
            // default, so that older configs hash the same) matches when
            // setting it changes nothing.
            None if with_field(&current, k, v).is_some_and(|c| c == *config) => {}
            None => differ.push(format!("{k} is at its default (requested {v})")),
        }
    }
    if differ.is_empty() {
        Ok(())
    } else {
        Err(ScoreError::Conflict(format!(
            "stream `{stream_id}` already exists with a different config: {}; use a new stream_id for another config",
            differ.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_conflict_only_when_they_differ() {
        let c = DetectorConfig::default();
        let same: Map<String, Value> = serde_json::from_str(
            r#"{"ncd_threshold": 0.3, "compressor": "zstd", "baseline_size": 400.0, "min_baseline_size": 0}"#,
        )
        .unwrap();
        check_override("s", &c, Some(&same)).unwrap();
        let other: Map<String, Value> = serde_json::from_str(r#"{"ncd_threshold": 0.35}"#).unwrap();
        assert!(matches!(
            check_override("s", &c, Some(&other)),
            Err(ScoreError::Conflict(_))
        ));
        let grow: Map<String, Value> =
            serde_json::from_str(r#"{"min_baseline_size": 100}"#).unwrap();
        assert!(matches!(
            check_override("s", &c, Some(&grow)),
            Err(ScoreError::Conflict(_))
        ));
    }

    #[test]
    fn override_errors_name_the_field() {
        let bad: Map<String, Value> = serde_json::from_str(r#"{"ncd_threshold": 2}"#).unwrap();
        match config_from_override(Some(&bad)) {
            Err(ScoreError::InvalidOverride { field, .. }) => {
                assert_eq!(field, "config_override.ncd_threshold")
            }
            other => panic!("{other:?}"),
        }
        let unknown: Map<String, Value> = serde_json::from_str(r#"{"nope": 1}"#).unwrap();
        match config_from_override(Some(&unknown)) {
            Err(ScoreError::InvalidOverride { field, reason }) => {
                assert_eq!(field, "config_override.nope");
                assert!(reason.contains("unknown field"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let wide: Map<String, Value> =
            serde_json::from_str(r#"{"baseline_size": 40, "window_size": 50}"#).unwrap();
        match config_from_override(Some(&wide)) {
            Err(ScoreError::InvalidOverride { field, .. }) => {
                assert_eq!(field, "config_override.window_size")
            }
            other => panic!("{other:?}"),
        }
    }
}
