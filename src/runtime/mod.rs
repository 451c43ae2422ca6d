//! The processes SparkQ runs for a project and the small files that name
//! them: the project's private runtime folder (watcher locks, FIFOs, done
//! flags), lock files held with the OS file lock, pid files, whether a
//! process lives, stopping one with SIGTERM, and making a FIFO.
//!
//! This is the one place that knows these things; the watcher, the server
//! and the CLI ask here. It sits beside [`crate::model`] at the bottom of
//! the layers and touches no task, stream or spool rule.
//!
//! Invariants kept here:
//! - A process is "running" for a project only while it holds that
//!   project's lock file (an OS lock, released by the kernel when the
//!   process dies), so a pid reused by an unrelated process is never
//!   reported, and never signalled.
//! - Every runtime folder is private (mode 0700, owned by the user) and
//!   every lock or FIFO in it is owned by the user: anything else is
//!   refused, never used.

mod dir;
mod error;
mod files;
mod lockfile;
mod pidfile;
mod process;

pub(crate) use dir::fnv1a;
pub use dir::{RUNTIME_DIR_ENV, RuntimeBase, RuntimeDir};
pub use error::Error;
pub(crate) use files::my_uid;
pub use files::{check_fifo, make_fifo};
pub use lockfile::{Acquired, LockFile, Probe, pid_in, probe};
pub use pidfile::PidFile;
pub use process::{pid_alive, signal_reload, terminate};

/// A `Result` whose error is this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
