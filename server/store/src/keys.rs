//! `api_keys`: API keys, stored only as SHA-256 hashes of the full key.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::StoreError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'stream')),
    stream_id    TEXT,
    plan         TEXT NOT NULL,
    rate_limit   INTEGER,
    key_hash     BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including managing keys.
    Admin,
    /// Detect, ingest and read within one stream.
    Stream,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Stream => "stream",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "stream" => Some(Role::Stream),
            _ => None,
        }
    }
}

/// A billing plan of the hosted service, here only a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    #[default]
    Free,
    Standard,
    Pro,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Standard => "standard",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Plan::Free),
            "standard" => Some(Plan::Standard),
            "pro" => Some(Plan::Pro),
            "enterprise" => Some(Plan::Enterprise),
            _ => None,
        }
    }
}

/// A key as stored (without its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The stream a `stream` key is bound to.
    pub stream_id: Option<String>,
    pub plan: Plan,
    /// Requests per minute overriding the plan's.
    pub rate_limit_per_minute: Option<u32>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const COLUMNS: &str = "id, name, role, stream_id, plan, rate_limit, created_at, revoked_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let role: String = r.get(2)?;
    let plan: String = r.get(4)?;
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Stream),
        stream_id: r.get(3)?,
        plan: Plan::parse(&plan).unwrap_or_default(),
        rate_limit_per_minute: r.get(5)?,
        created_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

pub fn insert(conn: &Connection, key: &KeyRecord, hash: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, name, role, stream_id, plan, rate_limit, key_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id,
            key.name,
            key.role.as_str(),
            key.stream_id,
            key.plan.as_str(),
            key.rate_limit_per_minute,
            hash,
            key.created_at
        ],
    )?;
    Ok(())
}

/// The key with this id and its hash, revoked or not.
pub fn get_with_hash(
    conn: &Connection,
    id: &str,
) -> Result<Option<(KeyRecord, Vec<u8>)>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS}, key_hash FROM api_keys WHERE id = ?1"),
            [id],
            |r| Ok((from_row(r)?, r.get::<_, Vec<u8>>(8)?)),
        )
        .optional()?)
}

/// The key whose hash this is, revoked or not.
pub fn find_by_hash(
    conn: &Connection,
    hash: &[u8],
) -> Result<Option<(KeyRecord, Vec<u8>)>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, key_hash FROM api_keys WHERE key_hash = ?1"
        ))?
        .query_row([hash], |r| Ok((from_row(r)?, r.get::<_, Vec<u8>>(8)?)))
        .optional()?)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<KeyRecord>, StoreError> {
    Ok(get_with_hash(conn, id)?.map(|(k, _)| k))
}

/// Every key, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<KeyRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Active (not revoked) admin keys.
pub fn active_admins(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL",
        [],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Marks the key revoked; false when it does not exist or already was.
pub fn revoke(conn: &Connection, id: &str, at: &str) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, at],
    )?;
    Ok(n == 1)
}
