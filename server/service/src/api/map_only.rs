//! A struct read only from a JSON object: serde also reads a struct from an
//! array of its fields in order, which a request body must not be.

use serde::de;

/// A deserializer that reads a struct only from a map.
pub struct MapOnly<D>(pub D);

impl<'de, D: de::Deserializer<'de>> de::Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(v)
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}
