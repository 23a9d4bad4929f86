//! One process per data directory: an exclusive lock on `driftlock.lock` in
//! it, held for the holder's life (the OS releases it when the process ends,
//! SIGKILL included), with the holder's PID written in the file so that a
//! second process can say who holds it. Taken by the processes that write
//! (`serve`, `backfill --store`), not per [`crate::Store`] open, so a server's
//! own jobs and a test's restarts within one process are not refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

pub const LOCK_FILE: &str = "driftlock.lock";

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DirLock {
    /// Takes the lock on `dir` (created if missing) or fails at once with
    /// [`StoreError::Locked`] naming the holder.
    pub fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // The holder may not have written its PID yet: then it is unknown.
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::Locked {
                    dir: dir.display().to_string(),
                    holder: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()))
            .and_then(|()| file.flush())
            .map_err(io_error(&path))?;
        Ok(DirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_one_s_pid() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let held = DirLock::acquire(&data).unwrap();
        assert_eq!(
            std::fs::read_to_string(held.path()).unwrap().trim(),
            std::process::id().to_string()
        );
        match DirLock::acquire(&data) {
            Err(StoreError::Locked { holder, dir }) => {
                assert_eq!(holder, Some(std::process::id()));
                assert!(dir.ends_with("data"));
            }
            other => panic!("{other:?}"),
        }
        drop(held);
        DirLock::acquire(&data).expect("free again once dropped");
    }
}
