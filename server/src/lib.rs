//! Driftlock's `/v1` HTTP service: an axum application over an embedded SQLite
//! store. [`app`] builds the router; [`AppState::open`] opens the store and starts
//! the background worker that scores queued events.
//!
//! Layout: `api/` holds one router per resource, `store/` the SQLite tables (one
//! file per table family), [`pipeline`] the one place where events are pushed into
//! a stream's detector and the result committed, [`worker`] the queue consumer,
//! [`jobs`] the server-side backfills and their schedules.

pub mod api;
pub mod auth;
pub mod backfill;
pub mod config;
pub mod error;
pub mod eval;
pub mod export;
pub mod jobs;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod rate_limit;
pub mod report;
pub mod request_id;
pub mod scoring;
pub mod sql;
pub mod state;
pub mod store;
pub mod time;
pub mod usage;
pub mod worker;

pub use api::app;
pub use config::ServeConfig;
pub use error::ApiError;
pub use state::AppState;
