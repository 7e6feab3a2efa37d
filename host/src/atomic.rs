//! Atomic file writes: write a temporary file beside the target, then rename it over the
//! target, so a reader never sees a partial file and an interrupted write leaves none behind.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary path beside `target` (same directory, so the rename stays on one file system),
/// unique within this process and across processes.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Removes its path when dropped, unless [`TempFile::persist`] renamed it into place.
#[derive(Debug)]
pub struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    /// Creates (truncates) a temporary file beside `target`.
    pub fn create_for(target: &Path) -> std::io::Result<(Self, File)> {
        let path = temp_path_for(target);
        let file = File::create(&path)?;
        Ok((Self { path: Some(path) }, file))
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        self.path
            .as_deref()
            .expect("path is present until persisted")
    }

    /// Renames the temporary file to `target`.
    pub fn persist(mut self, target: &Path) -> std::io::Result<()> {
        let path = self.path.take().expect("path is present until persisted");
        match std::fs::rename(&path, target) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `target` atomically (temporary file, fsync, rename).
pub fn write_atomic(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, mut file) = TempFile::create_for(target)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    tmp.persist(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn dropped_temp_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("b.bin");
        let (tmp, _f) = TempFile::create_for(&target).unwrap();
        let p = tmp.path().to_path_buf();
        assert!(p.exists());
        drop(tmp);
        assert!(!p.exists());
        assert!(!target.exists());
    }
}
