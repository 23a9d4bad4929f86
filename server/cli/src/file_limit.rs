//! The open-file limit: `serve` raises its soft limit to the hard one at
//! start-up (each client connection is a file descriptor; the common soft
//! limit of 1024 is far below what a server needs), and fits the connection
//! cap under what it got.

/// Descriptors kept for what is not a client connection: the database and
/// its WAL, the listener, job archives, logs.
const RESERVED: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit
/// now in force (`None` when unlimited or unknown).
#[cfg(unix)]
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            Err(e) => tracing::warn!("raising the open-file limit to {:?}: {e}", limit.maximum),
        }
    }
    limit.current
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// The most client connections that fit under an open-file limit.
pub fn connections_within(open_files: Option<u64>, wanted: usize) -> usize {
    match open_files {
        Some(n) => {
            let fits = n.saturating_sub(RESERVED).max(1);
            wanted.min(usize::try_from(fits).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_leave_room_for_the_store() {
        assert_eq!(connections_within(Some(1024), 4096), 960);
        assert_eq!(connections_within(Some(1_048_576), 4096), 4096);
        assert_eq!(connections_within(None, 4096), 4096);
        assert_eq!(connections_within(Some(10), 4096), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let got = raise_open_file_limit();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(now.current, now.maximum);
        assert_eq!(got, now.current);
    }
}
