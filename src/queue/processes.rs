//! Who runs for this project: the server, named by its lock file in the
//! spool (`spool/.sparkq.lock`), and the project's runtime folder, where
//! its watchers keep their locks, FIFOs and done flags. How the files are
//! held and checked is [`crate::runtime`]'s business; which files belong
//! to this project is decided here.

use super::Queue;
use crate::runtime::{self, Acquired, PidFile, Probe, RuntimeDir};

impl Queue {
    /// This project's runtime folder (see [`RuntimeDir::for_project`]).
    pub fn runtime_dir(&self) -> RuntimeDir {
        match &self.runtime {
            Some(dir) => dir.clone(),
            None => RuntimeDir::for_project(&self.config.root, &self.config.project_name),
        }
    }

    /// This queue with `dir` as the project's runtime folder, in place of
    /// the one the environment chooses: for a caller that keeps its own
    /// (a test, which must never touch the user's).
    pub fn with_runtime_dir(mut self, dir: RuntimeDir) -> Queue {
        self.runtime = Some(dir);
        self
    }

    /// The server running for this project, if one holds its lock. A pid
    /// file left by a server that died names no one.
    pub fn server(&self) -> Option<PidFile> {
        let path = self.spool.server_pid_path();
        // A server writes its pid right after taking the lock: a held lock
        // with no readable content is one caught in between.
        for _ in 0..50 {
            match runtime::probe(&path) {
                Ok(Probe::Held { content }) => match PidFile::parse(&content) {
                    Some(server) => return Some(server),
                    None => std::thread::sleep(std::time::Duration::from_millis(2)),
                },
                _ => return None,
            }
        }
        None
    }

    /// Takes the project's server lock for this process, or says which
    /// live server holds it. Held until the returned lock is dropped.
    pub fn take_server_lock(&self) -> runtime::Result<Acquired> {
        runtime::LockFile::try_take(&self.spool.server_pid_path())
    }
}
