//! Waking workers: waiting on a stream's `pending/` folder for file-system
//! events, the watcher protocol of SPEC 5, and the sweeps of dead claims
//! that go with it (SPEC 4.6).
//!
//! Nothing here polls while idle. A waiter blocks on notify events for the
//! stream's folders (and, for a watcher, for its done flag and lock in the
//! runtime folder), with one timer for the next thing that can change
//! without an event: a safety-net re-check, a dropped file settling, a
//! claim turning dead. Every decision about tasks is a call into
//! [`crate::queue::Queue`]; this module only decides *when* to look.
//!
//! - [`wait_for_claim`]: `sparkq claim --wait`.
//! - [`run_watchers`]: one protocol watcher per stream, each in a thread,
//!   until a [`Shutdown`] fires; `sparkq watch` and `sparkq run` call it,
//!   and so can a server that hosts watchers.
//! - [`stop_watcher`]: what `sparkq stop` does to one stream's watcher.

mod error;
mod events;
mod fifo;
mod lock;
mod run;
mod shutdown;
mod timers;
mod wait;
mod watcher;

use std::time::Duration;

use crate::runtime::RuntimeDir;

pub(crate) use error::Error;
pub(crate) use run::{StopOutcome, run_watchers, stop_watcher, wait_command, watcher_pid};
pub(crate) use shutdown::Shutdown;
pub(crate) use wait::{WaitOutcome, wait_for_claim};

/// A `Result` whose error is this module's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// How often a watcher re-checks its stream without any event, by default
/// (SPEC 5: at least every 60 s).
pub(crate) const WATCHER_RECHECK_SECS: u64 = 60;

/// How often `claim --wait` re-checks without any event, by default.
pub(crate) const CLAIM_RECHECK_SECS: u64 = 10;

/// How waiting behaves; the defaults suit people, tests shorten them.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The project's runtime folder: where locks, FIFOs and done flags live.
    pub runtime: RuntimeDir,
    /// The safety-net interval: look even if no event came.
    pub recheck: Duration,
    /// Drop every file-system event about `pending/`, so that only the
    /// safety net finds work. For testing that net; never useful otherwise.
    pub ignore_pending_events: bool,
}

impl Settings {
    /// Settings with the given runtime folder and re-check interval, and
    /// events on.
    pub(crate) fn new(runtime: RuntimeDir, recheck: Duration) -> Settings {
        Settings {
            runtime,
            recheck,
            ignore_pending_events: false,
        }
    }
}
