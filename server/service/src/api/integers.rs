//! JSON Schema's `integer` includes numbers written with a zero fraction
//! (`587.0`), and clients that hold every number as a double send them so;
//! serde's integer types refuse them. Integer fields of request bodies read
//! through these instead, which take such a number as the integer it is.

use serde::de::{self, Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

/// The largest magnitude below which every integer is exactly a double.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// `n` as an integer Number, when it is one written as a float.
fn integral(n: &Number) -> Option<Number> {
    if n.is_f64() {
        let f = n.as_f64()?;
        if f.fract() == 0.0 && f.abs() <= EXACT {
            return Some(Number::from(f as i64));
        }
    }
    None
}

/// An optional integer field.
pub fn optional<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    let Some(n) = Option::<Number>::deserialize(d)? else {
        return Ok(None);
    };
    let n = integral(&n).unwrap_or(n);
    let out = if let Some(u) = n.as_u64() {
        T::try_from(u).ok()
    } else if let Some(i) = n.as_i64() {
        T::try_from(i).ok()
    } else {
        return Err(de::Error::custom(format!("expected an integer, got {n}")));
    };
    out.map(Some)
        .ok_or_else(|| de::Error::custom(format!("{n} is out of range")))
}

/// A detector config object (`config_override`, a job's `config`), with its
/// integral floats made integers before `DetectorConfig` reads it.
pub fn config<'de, D>(d: D) -> Result<Option<Map<String, Value>>, D::Error>
where
    D: Deserializer<'de>,
{
    let mut map = Option::<Map<String, Value>>::deserialize(d)?;
    for v in map.iter_mut().flat_map(|m| m.values_mut()) {
        if let Value::Number(n) = v
            && let Some(i) = integral(n)
        {
            *n = i;
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "optional")]
        n: Option<u32>,
        #[serde(default, deserialize_with = "config")]
        c: Option<Map<String, Value>>,
    }

    fn n(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<T>(json).map(|t| t.n)
    }

    #[test]
    fn integral_floats_are_integers_and_nothing_else_is() {
        assert_eq!(n(r#"{"n": 587}"#).unwrap(), Some(587));
        assert_eq!(n(r#"{"n": 587.0}"#).unwrap(), Some(587));
        assert_eq!(n(r#"{"n": 5.87e2}"#).unwrap(), Some(587));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n("{}").unwrap(), None);
        for bad in ["587.5", "-1", "4294967296", "1e300", "\"5\"", "true"] {
            assert!(n(&format!(r#"{{"n": {bad}}}"#)).is_err(), "{bad}");
        }
        let t: T = serde_json::from_str(r#"{"c": {"baseline_size": 40.0, "ncd_threshold": 0.5}}"#)
            .unwrap();
        let c = t.c.unwrap();
        assert_eq!(c["baseline_size"], serde_json::json!(40));
        assert!(c["baseline_size"].is_u64());
        assert_eq!(c["ncd_threshold"], serde_json::json!(0.5));
    }
}
