//! Atomic file replacement: a reader sees the old file or the new one, never a partial
//! write, and after a crash the new file is either complete or absent.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A filesystem call failed on `path`.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}", path = path.display())]
pub struct FsError {
    /// The file (or directory) the failing call was about.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// A closure wrapping an [`io::Error`] about `path` (for `map_err`).
    pub fn at(path: &Path) -> impl FnOnce(io::Error) -> FsError + '_ {
        move |source| FsError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The sha256 of a file's bytes, as lowercase hex (how dimua names the exact file a result
/// came from: dataset shards, the encoder a probe scored).
pub fn sha256_file(path: &Path) -> Result<String, FsError> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path).map_err(FsError::at(path))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher).map_err(FsError::at(path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Whether two paths name the same existing file or directory (after resolving links and
/// `..`); `false` when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Replaces `path` with `bytes` atomically: see [`replace_with`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    replace_with(path, |tmp| write_synced(tmp, bytes))
}

/// Replaces `path` with the file `write` creates at the temporary path it is given: a
/// fresh hidden name in the same directory (`.{name}.{pid}.{n}.tmp`, so concurrent
/// writers never share one). The temporary file is fsynced, renamed over `path`, and the
/// directory fsynced; on any error the temporary file is removed and `path` is untouched.
pub fn replace_with<E: From<FsError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = temp_sibling(path);
    let result = write(&tmp).and_then(|()| {
        sync_file(&tmp)?;
        rename_synced(&tmp, path)?;
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates (or truncates) `path`, writes `bytes` and fsyncs the file (not the directory:
/// the name becomes durable with a later [`rename_synced`]).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    let mut f = File::create(path).map_err(FsError::at(path))?;
    f.write_all(bytes).map_err(FsError::at(path))?;
    f.sync_all().map_err(FsError::at(path))
}

/// Renames `from` to `to` (replacing it) and fsyncs `to`'s directory so the rename
/// survives a crash.
pub fn rename_synced(from: &Path, to: &Path) -> Result<(), FsError> {
    fs::rename(from, to).map_err(FsError::at(to))?;
    sync_dir(&parent_dir(to))
}

/// fsyncs an existing file's data and metadata.
fn sync_file(path: &Path) -> Result<(), FsError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(FsError::at(path))
}

/// fsyncs a directory (its entries). A no-op where directories cannot be opened as files.
fn sync_dir(dir: &Path) -> Result<(), FsError> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(FsError::at(dir))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A fresh temporary name next to `path`: `.{file name}.{pid}.{counter}.tmp`.
fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent_dir(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(entries(dir.path()), ["a.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"old").unwrap();
        let r: Result<(), FsError> = replace_with(&p, |tmp| {
            fs::write(tmp, b"partial").unwrap();
            Err(FsError {
                path: tmp.to_path_buf(),
                source: io::Error::other("disk full"),
            })
        });
        assert!(r.unwrap_err().to_string().contains("disk full"));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["a.bin"]);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing").join("a.txt");
        let e = write_atomic(&p, b"x").unwrap_err();
        assert!(e.path.starts_with(dir.path().join("missing")), "{e}");
    }
}
