//! Which input column feeds which `Event` field.

use crate::event::EventKind;

/// The `Event` field a column feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Stream,
    Timestamp,
    Kind,
    Body,
    Attributes,
    IdempotencyKey,
    Sequence,
}

impl Role {
    /// Every role, in the order conversions resolve them.
    pub const ALL: [Role; 7] = [
        Role::Stream,
        Role::Timestamp,
        Role::Kind,
        Role::Body,
        Role::Attributes,
        Role::IdempotencyKey,
        Role::Sequence,
    ];

    /// The column name used when the mapping leaves the role unset.
    pub fn default_column(self) -> &'static str {
        match self {
            Role::Stream => "stream_id",
            Role::Timestamp => "timestamp",
            Role::Kind => "type",
            Role::Body => "body",
            Role::Attributes => "attributes",
            Role::IdempotencyKey => "idempotency_key",
            Role::Sequence => "sequence",
        }
    }
}

/// Maps input columns (or NDJSON keys) to `Event` fields.
///
/// Each role field is `None` to use the conventional column name
/// ([`Role::default_column`]) if the file has it, and fall back to a default
/// when it does not. `Some(name)` means the user named the column explicitly:
/// a file without it is an error rather than a silent fallback, because a
/// typo in a column flag would otherwise score every event with defaults.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnMapping {
    /// Stream id column (default `stream_id`); absent → `default_stream`, else the file stem.
    pub stream: Option<String>,
    /// Timestamp column (default `timestamp`); absent → no timestamp.
    pub timestamp: Option<String>,
    /// Event kind column (default `type`); absent → `default_kind`, else `log`.
    pub kind: Option<String>,
    /// Body column (default `body`), a JSON object as text or an Arrow struct;
    /// absent → every column not mapped and not ignored goes into the body.
    pub body: Option<String>,
    /// Attributes column (default `attributes`), JSON as text or a struct.
    pub attributes: Option<String>,
    /// Idempotency key column (default `idempotency_key`).
    pub idempotency_key: Option<String>,
    /// Sequence number column (default `sequence`), an integer.
    pub sequence: Option<String>,
    /// Columns never copied into a synthesized body.
    pub ignore: Vec<String>,
    /// Stream id for rows without one (before the file stem).
    pub default_stream: Option<String>,
    /// Kind for rows without one (before `log`).
    pub default_kind: Option<EventKind>,
}

impl ColumnMapping {
    /// The explicit column for `role`, if the user named one.
    pub fn explicit(&self, role: Role) -> Option<&str> {
        match role {
            Role::Stream => self.stream.as_deref(),
            Role::Timestamp => self.timestamp.as_deref(),
            Role::Kind => self.kind.as_deref(),
            Role::Body => self.body.as_deref(),
            Role::Attributes => self.attributes.as_deref(),
            Role::IdempotencyKey => self.idempotency_key.as_deref(),
            Role::Sequence => self.sequence.as_deref(),
        }
    }

    /// The column name that feeds `role`: the explicit one, else the default.
    pub fn column(&self, role: Role) -> &str {
        self.explicit(role).unwrap_or(role.default_column())
    }

    /// Whether `name` is listed in `ignore`.
    pub fn is_ignored(&self, name: &str) -> bool {
        self.ignore.iter().any(|i| i == name)
    }

    /// Names the stream id column explicitly.
    pub fn with_stream(mut self, column: impl Into<String>) -> Self {
        self.stream = Some(column.into());
        self
    }

    /// Names the timestamp column explicitly.
    pub fn with_timestamp(mut self, column: impl Into<String>) -> Self {
        self.timestamp = Some(column.into());
        self
    }

    /// Names the kind column explicitly.
    pub fn with_kind(mut self, column: impl Into<String>) -> Self {
        self.kind = Some(column.into());
        self
    }

    /// Names the body column explicitly.
    pub fn with_body(mut self, column: impl Into<String>) -> Self {
        self.body = Some(column.into());
        self
    }

    /// Names the attributes column explicitly.
    pub fn with_attributes(mut self, column: impl Into<String>) -> Self {
        self.attributes = Some(column.into());
        self
    }

    /// Names the idempotency key column explicitly.
    pub fn with_idempotency_key(mut self, column: impl Into<String>) -> Self {
        self.idempotency_key = Some(column.into());
        self
    }

    /// Names the sequence column explicitly.
    pub fn with_sequence(mut self, column: impl Into<String>) -> Self {
        self.sequence = Some(column.into());
        self
    }

    /// Adds a column to keep out of synthesized bodies.
    pub fn with_ignored(mut self, column: impl Into<String>) -> Self {
        self.ignore.push(column.into());
        self
    }

    /// Sets the stream id for rows without one.
    pub fn with_default_stream(mut self, stream: impl Into<String>) -> Self {
        self.default_stream = Some(stream.into());
        self
    }

    /// Sets the kind for rows without one.
    pub fn with_default_kind(mut self, kind: EventKind) -> Self {
        self.default_kind = Some(kind);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_explicit_names() {
        let m = ColumnMapping::default().with_timestamp("ts");
        assert_eq!(m.column(Role::Stream), "stream_id");
        assert_eq!(m.explicit(Role::Stream), None);
        assert_eq!(m.column(Role::Timestamp), "ts");
        assert_eq!(m.explicit(Role::Timestamp), Some("ts"));
        assert_eq!(m.column(Role::Kind), "type");
    }
}
