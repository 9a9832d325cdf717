//! Output directories that never lose a user's data: an exclusive lock per directory, and
//! `--force` that replaces only what dimua wrote, only once the new result is complete.
//!
//! [`OutputDir::prepare`] validates and locks the target before any work:
//! - absent or empty: the work is written straight into it;
//! - non-empty without `force`: refused;
//! - non-empty with `force`: refused if it holds anything the caller's `is_ours` does not
//!   recognise; else the work goes into a hidden sibling (`.NAME.dimua-partial-PID`), and
//!   [`OutputDir::commit`] swaps it in and only then removes the old result. A failure (or a
//!   drop without commit) removes the sibling and leaves the old result as it was.
//!
//! The lock is the file `.dimua.lock` inside the target, created exclusively and holding the
//! holder's pid and command line. A lock whose process is gone (a `kill -9`) is taken over.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file inside a locked directory.
pub const LOCK_FILE: &str = ".dimua.lock";

/// Why an output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputDirError {
    /// Another live dimua process holds the lock.
    #[error("{dir} is in use by another dimua process (pid {pid}: {command}); wait for it to finish or choose another --out")]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The holder's pid.
        pid: u32,
        /// The holder's command line.
        command: String,
    },
    /// Non-empty and no `--force`.
    #[error("output directory {dir} is not empty: choose another --out{resume}, or pass --force to replace it once the new result is complete")]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
        /// `", or continue it with --resume"` when it holds a resumable run.
        resume: String,
    },
    /// `--force` on a directory with files dimua did not write.
    #[error("--out {dir} holds {name}, which dimua did not write: --force only replaces dimua's own results, so choose another --out (nothing was changed)")]
    Foreign {
        /// The directory.
        dir: PathBuf,
        /// The first foreign entry.
        name: String,
    },
    /// The path exists and is not a directory.
    #[error("--out {dir} exists and is not a directory: choose another --out")]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// A filesystem call failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> OutputDirError + 'a {
    move |source| OutputDirError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// An exclusive lock on a directory, released (the file removed) on drop.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Locks `dir` (which must exist): creates `dir/.dimua.lock` exclusively with this
    /// process's pid and command line. A lock left by a process that no longer runs is
    /// taken over (reported through `tracing`).
    pub fn acquire(dir: &Path) -> Result<Self, OutputDirError> {
        let path = dir.join(LOCK_FILE);
        let me = format!(
            "{}\n{}\n",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        // The lock appears with its content in one step (a hard link of a complete temporary
        // file), so no reader ever sees an empty lock and takes it for a stale one.
        let tmp = dir.join(format!("{LOCK_FILE}.{}.tmp", std::process::id()));
        for _ in 0..3 {
            let written = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .and_then(|mut f| f.write_all(me.as_bytes()));
            if let Err(e) = written {
                // A full disk can fail the write after the create: leave nothing behind.
                let _ = fs::remove_file(&tmp);
                return Err(io_err("write lock file", &tmp)(e));
            }
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => return Ok(DirLock { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let text = fs::read_to_string(&path).unwrap_or_default();
                    let mut lines = text.lines();
                    let pid: Option<u32> = lines.next().and_then(|l| l.trim().parse().ok());
                    let command = lines.next().unwrap_or("").to_string();
                    match pid {
                        Some(pid) if process_alive(pid) && pid != std::process::id() => {
                            return Err(OutputDirError::Locked {
                                dir: dir.to_path_buf(),
                                pid,
                                command,
                            })
                        }
                        _ => {
                            tracing::warn!(
                                "taking over the stale lock of {} (pid {:?} no longer runs)",
                                dir.display(),
                                pid
                            );
                            let _ = fs::remove_file(&path);
                        }
                    }
                }
                Err(e) => return Err(io_err("create lock file", &path)(e)),
            }
        }
        Err(io_err("create lock file", &path)(io::Error::other(
            "another process keeps re-creating it",
        )))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn process_alive(pid: u32) -> bool {
    // Linux: a running (or zombie) process has /proc/PID; elsewhere assume it runs.
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// An output directory prepared for new work (see the module docs).
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    work: PathBuf,
    lock: Option<DirLock>,
    committed: bool,
    /// Whether `prepare` created the target (removed again if the work leaves it empty).
    created: bool,
}

impl OutputDir {
    /// Validates, creates and locks `dir` for new work (see the module docs). `is_ours`
    /// says whether an entry name is one dimua writes there; `resumable` adds "--resume" to
    /// the not-empty message.
    pub fn prepare(
        dir: &Path,
        force: bool,
        is_ours: impl Fn(&str) -> bool,
        resumable: bool,
    ) -> Result<Self, OutputDirError> {
        if dir.exists() && !dir.is_dir() {
            return Err(OutputDirError::NotADirectory {
                dir: dir.to_path_buf(),
            });
        }
        if !dir.exists() {
            recover_replaced(dir)?;
        }
        let created = !dir.exists();
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let lock = DirLock::acquire(dir).inspect_err(|_| {
            if created {
                let _ = fs::remove_dir(dir);
            }
        })?;
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
            let entry = entry.map_err(io_err("read directory", dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != LOCK_FILE {
                names.push(name);
            }
        }
        names.sort();
        if names.is_empty() {
            return Ok(OutputDir {
                target: dir.to_path_buf(),
                work: dir.to_path_buf(),
                lock: Some(lock),
                committed: false,
                created,
            });
        }
        if !force {
            return Err(OutputDirError::NotEmpty {
                dir: dir.to_path_buf(),
                resume: if resumable {
                    ", or continue the interrupted run there with --resume".into()
                } else {
                    String::new()
                },
            });
        }
        if let Some(name) = names.iter().find(|n| !is_ours(n)) {
            return Err(OutputDirError::Foreign {
                dir: dir.to_path_buf(),
                name: name.clone(),
            });
        }
        remove_stale_siblings(dir);
        let work = sibling(dir, "partial");
        if work.exists() {
            fs::remove_dir_all(&work).map_err(io_err("remove", &work))?;
        }
        fs::create_dir_all(&work).map_err(io_err("create directory", &work))?;
        Ok(OutputDir {
            target: dir.to_path_buf(),
            work,
            lock: Some(lock),
            committed: false,
            created,
        })
    }

    /// Where the new work is written.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The directory the result ends up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes the work the result: when it was staged beside the target, the old result is
    /// moved aside, the work renamed into place, and only then is the old result removed.
    pub fn commit(mut self) -> Result<(), OutputDirError> {
        self.committed = true;
        if self.work == self.target {
            return Ok(());
        }
        let old = sibling(&self.target, "replaced");
        fs::rename(&self.target, &old).map_err(io_err("move aside", &self.target))?;
        // The lock file moved with the old directory: release it there, never in the new one.
        if let Some(lock) = &mut self.lock {
            lock.path = old.join(LOCK_FILE);
        }
        if let Err(e) = fs::rename(&self.work, &self.target) {
            let _ = fs::rename(&old, &self.target);
            return Err(io_err("move into place", &self.work)(e));
        }
        drop(self.lock.take());
        fs::remove_dir_all(&old).map_err(io_err("remove the replaced result", &old))
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed && self.work == self.target && self.created {
            // A failure before anything was written (a full disk, a bad request found late)
            // leaves no empty directory behind; a partial run (resumable) is kept.
            drop(self.lock.take());
            let _ = fs::remove_dir(&self.target);
        }
        if !self.committed && self.work != self.target {
            // Retried: a file being closed by a finishing writer can make one pass fail.
            for _ in 0..5 {
                if fs::remove_dir_all(&self.work).is_ok() || !self.work.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// Removes the `.NAME.dimua-partial-PID` / `.NAME.dimua-replaced-PID` siblings of `dir` left
/// by a process that no longer runs (a `kill -9` during a `--force` run): they are dimua's own,
/// never a result.
fn remove_stale_siblings(dir: &Path) {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        for kind in ["partial", "replaced"] {
            let prefix = format!(".{name}.dimua-{kind}-");
            let pid = entry_name
                .strip_prefix(&prefix)
                .and_then(|p| p.parse().ok());
            if let Some(pid) = pid {
                if !process_alive(pid) {
                    tracing::warn!("removing {} left by an interrupted dimua", entry_name);
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }
}

/// A `kill -9` between the two renames of [`OutputDir::commit`] leaves no `dir`, and the
/// old result in `.NAME.dimua-replaced-PID`: moves it back (before anything else uses the
/// name), so the result is never lost.
fn recover_replaced(dir: &Path) -> Result<(), OutputDirError> {
    let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return Ok(());
    };
    let prefix = format!(".{name}.dimua-replaced-");
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let pid = entry_name
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            tracing::warn!(
                "{} was being replaced when its dimua process died: restoring the old result",
                dir.display()
            );
            fs::rename(entry.path(), dir).map_err(io_err("restore", dir))?;
            // The lock the dead process held moved with it.
            let _ = fs::remove_file(dir.join(LOCK_FILE));
            return Ok(());
        }
    }
    Ok(())
}

/// `PARENT/.NAME.dimua-KIND-PID`: a hidden sibling of `dir` on the same filesystem.
fn sibling(dir: &Path, kind: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let parent = dir.parent().unwrap_or(Path::new("."));
    parent.join(format!(".{name}.dimua-{kind}-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(name: &str) -> bool {
        name.ends_with(".json")
    }

    #[test]
    fn force_keeps_the_old_result_until_commit_and_refuses_foreign_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("old.json"), "old").unwrap();
        assert!(matches!(
            OutputDir::prepare(&dir, false, ours, true),
            Err(OutputDirError::NotEmpty { .. })
        ));
        let out = OutputDir::prepare(&dir, true, ours, false).unwrap();
        assert_ne!(out.work(), dir.as_path());
        fs::write(out.work().join("new.json"), "new").unwrap();
        // Another process would find it locked.
        assert!(dir.join(LOCK_FILE).exists());
        drop(out); // a failure: the old result stays, the partial work goes
        assert_eq!(fs::read_to_string(dir.join("old.json")).unwrap(), "old");
        assert!(!dir.join("new.json").exists());
        assert!(!dir.join(LOCK_FILE).exists());

        let out = OutputDir::prepare(&dir, true, ours, false).unwrap();
        fs::write(out.work().join("new.json"), "new").unwrap();
        out.commit().unwrap();
        assert!(!dir.join("old.json").exists());
        assert_eq!(fs::read_to_string(dir.join("new.json")).unwrap(), "new");
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "no sibling left"
        );

        fs::write(dir.join("thesis.tex"), "mine").unwrap();
        assert!(matches!(
            OutputDir::prepare(&dir, true, ours, false),
            Err(OutputDirError::Foreign { .. })
        ));
        assert_eq!(fs::read_to_string(dir.join("thesis.tex")).unwrap(), "mine");
    }

    #[test]
    fn partial_work_of_a_killed_process_is_removed_by_the_next_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("old.json"), "old").unwrap();
        let stale = tmp.path().join(".out.dimua-partial-4294967295");
        fs::create_dir_all(&stale).unwrap();
        let mine = tmp.path().join(".out.keep");
        fs::create_dir_all(&mine).unwrap();
        let out = OutputDir::prepare(&dir, true, ours, false).unwrap();
        assert!(!stale.exists());
        assert!(mine.exists(), "not dimua's: kept");
        out.commit().unwrap();
    }

    #[test]
    fn a_result_moved_aside_by_a_killed_commit_is_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        // What a kill -9 between commit's two renames leaves: no `out`, the old result aside.
        let aside = tmp.path().join(".out.dimua-replaced-4294967295");
        fs::create_dir_all(&aside).unwrap();
        fs::write(aside.join("old.json"), "old").unwrap();
        fs::write(aside.join(LOCK_FILE), "4294967295\ngone\n").unwrap();
        assert!(matches!(
            OutputDir::prepare(&dir, false, ours, false),
            Err(OutputDirError::NotEmpty { .. })
        ));
        assert_eq!(fs::read_to_string(dir.join("old.json")).unwrap(), "old");
        assert!(!aside.exists());
        assert!(!dir.join(LOCK_FILE).exists());
    }

    #[test]
    fn a_live_lock_refuses_and_a_stale_one_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(tmp.path()).unwrap();
        // pid 1 always runs: a lock held by it is live.
        fs::write(tmp.path().join(LOCK_FILE), "1\ninit\n").unwrap();
        assert!(matches!(
            DirLock::acquire(tmp.path()),
            Err(OutputDirError::Locked { pid: 1, .. })
        ));
        // A pid that cannot exist: stale, taken over.
        fs::write(tmp.path().join(LOCK_FILE), "4294967295\ngone\n").unwrap();
        let second = DirLock::acquire(tmp.path()).unwrap();
        drop(first);
        drop(second);
    }
}
