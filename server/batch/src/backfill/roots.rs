//! Archive roots: server-side jobs may read only below configured folders.
//! Paths are canonicalised (symlinks resolved, `..` folded) before the
//! prefix check, so neither `..` nor a symlink can lead outside a root.

use std::path::{Path, PathBuf};

use crate::BatchError;

/// Configured roots, canonicalised once.
#[derive(Debug, Clone, Default)]
pub struct ArchiveRoots {
    roots: Vec<PathBuf>,
}

impl ArchiveRoots {
    pub fn new(roots: &[PathBuf]) -> Result<Self, BatchError> {
        let roots = roots
            .iter()
            .map(|r| std::fs::canonicalize(r).map_err(|e| BatchError::io(r, e)))
            .collect::<Result<_, _>>()?;
        Ok(ArchiveRoots { roots })
    }

    /// No roots: server-side jobs are off.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// `path` canonicalised, when it exists and lies inside a root (relative
    /// paths are taken relative to the first root).
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, BatchError> {
        let refuse = || {
            BatchError::Invalid(format!(
                "{}: not inside a configured archive root",
                path.display()
            ))
        };
        let joined = match (path.is_absolute(), self.roots.first()) {
            (true, _) => path.to_path_buf(),
            (false, Some(root)) => root.join(path),
            (false, None) => return Err(refuse()),
        };
        // A path that does not exist cannot be canonicalised; it is refused the
        // same way, so the answer does not reveal what exists outside the roots.
        let real = std::fs::canonicalize(&joined).map_err(|_| refuse())?;
        if self.roots.iter().any(|r| real.starts_with(r)) {
            Ok(real)
        } else {
            Err(refuse())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_by_dotdot_and_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("date=2025-01-01")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let roots = ArchiveRoots::new(std::slice::from_ref(&root)).unwrap();
        assert!(roots.resolve(Path::new("date=2025-01-01")).is_ok());
        assert!(roots.resolve(&root.join("date=2025-01-01")).is_ok());
        assert!(roots.resolve(Path::new("../outside")).is_err());
        assert!(
            roots
                .resolve(&root.join("date=2025-01-01/../../outside"))
                .is_err()
        );
        assert!(roots.resolve(Path::new("link")).is_err());
        assert!(roots.resolve(&outside).is_err());
        assert!(roots.resolve(Path::new("/etc/passwd")).is_err());
        assert!(ArchiveRoots::default().resolve(Path::new("x")).is_err());
    }
}
