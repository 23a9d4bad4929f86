//! Driftlock's `/v1` HTTP service: an axum application over the embedded store.
//! [`app`] builds the router; [`AppState::open`] opens the store and starts the
//! background worker that scores queued events and the jobs' dispatcher.
//!
//! Layout: `api/` holds one router per resource and converts every domain error
//! into [`ApiError`] at the edge; [`scorer`] is the one place where events are
//! pushed into a stream's detector and the result committed (for `/v1/detect`
//! and the [`worker`] alike); [`detectors`] are what it pushes into; [`jobs`]
//! runs server-side backfills and their schedules.

pub mod api;
pub mod auth;
pub mod auth_throttle;
pub mod config;
pub mod detectors;
pub mod error;
pub mod header_limits;
pub mod jobs;
pub mod metrics;
pub mod quotas;
pub mod rate_limit;
pub mod request_id;
pub mod scorer;
pub mod server;
pub mod sql_pool;
pub mod state;
pub mod usage;
pub mod worker;

pub use api::app;
pub use config::ServeConfig;
pub use error::ApiError;
pub use state::AppState;
