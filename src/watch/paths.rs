//! The runtime files of the watcher protocol (SPEC 5), per stream:
//! `<dir>/sparkq-<stream>.lock` (the watcher's pid),
//! `<dir>/sparkq-<stream>-pipe` (the FIFO a worker blocks on) and
//! `<dir>/sparkq-<stream>-done` (the worker's "I am idle" flag).
//!
//! `<dir>` is `/tmp`, the folder every existing worker playbook names; tests
//! point it elsewhere with `$SPARKQ_RUNTIME_DIR` so they never collide.

use std::path::{Path, PathBuf};

/// The variable that moves the runtime folder away from `/tmp`.
pub const RUNTIME_DIR_ENV: &str = "SPARKQ_RUNTIME_DIR";

/// The folder holding watcher locks, FIFOs and done flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePaths {
    dir: PathBuf,
}

impl RuntimePaths {
    /// `$SPARKQ_RUNTIME_DIR` if set and not empty, else `/tmp`.
    pub fn from_env() -> RuntimePaths {
        let dir = std::env::var_os(RUNTIME_DIR_ENV)
            .filter(|d| !d.is_empty())
            .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        RuntimePaths { dir }
    }

    /// Runtime files kept in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> RuntimePaths {
        RuntimePaths { dir: dir.into() }
    }

    /// The runtime folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `sparkq-<stream>.lock`: the pid of the stream's watcher.
    pub fn lock(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("sparkq-{stream}.lock"))
    }

    /// `sparkq-<stream>-pipe`: the FIFO the watcher writes `wake` to.
    pub fn fifo(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("sparkq-{stream}-pipe"))
    }

    /// `sparkq-<stream>-done`: created by an idle worker, removed by the
    /// watcher when it wakes that worker.
    pub fn done_flag(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("sparkq-{stream}-done"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_protocol() {
        let paths = RuntimePaths::new("/tmp");
        assert_eq!(paths.lock("auth"), Path::new("/tmp/sparkq-auth.lock"));
        assert_eq!(paths.fifo("auth"), Path::new("/tmp/sparkq-auth-pipe"));
        assert_eq!(paths.done_flag("auth"), Path::new("/tmp/sparkq-auth-done"));
    }
}
