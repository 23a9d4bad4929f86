//! Driftlock backfills and scoring on an Apache DataFusion Ballista cluster. The
//! operators live in `driftlock_batch::plan`; this crate holds what only a
//! cluster needs, so Ballista stays out of every other crate:
//!
//! - [`codec`]: logical and physical extension codecs that carry the
//!   backfill's nodes to the scheduler and executors, and hand everything
//!   else (Ballista's shuffle nodes, file formats) to Ballista's own codecs.
//! - [`session`]: the session states of the client and of the servers.
//! - [`scheduler`], [`executor`]: Ballista's processes with those registered.
//! - [`progress`]: the scheduler's task counts for the client's bar.
//! - [`in_process`]: a scheduler and executors in this process, on loopback.
//! - [`backfill`]: a backfill run on a cluster, written like a local one.
//! - [`score`]: `score` on a cluster: that backfill over given files, its
//!   parts then written into one output file.
//!
//! Every failure is a [`ClusterError`].

pub mod backfill;
pub mod codec;
mod error;
pub mod executor;
pub mod in_process;
pub mod progress;
pub mod scheduler;
pub mod score;
pub mod session;

pub use error::{ClusterError, Result};
