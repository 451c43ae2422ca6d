//! The use cases: every rule of the queue is decided here, once.
//!
//! The CLI, the HTTP API and the MCP server call [`Queue`] and nothing
//! below it, so they behave the same. `Queue` holds no state of its own
//! beyond the config and hints: every call reads the spool afresh, so any
//! number of processes can use one spool at once. A long-lived process may
//! add an in-memory [`Index`] (see `index`): a cache of which ids to try,
//! which the folders always overrule, and of each `stream.json` as last
//! read, handed out only while a `stat` proves the file unchanged; and a
//! queue remembers in which stream it claimed each task, where its reports
//! look first.

mod aside;
mod brief;
mod budget;
mod claim;
mod converge;
mod doctor;
mod doctor_drops;
mod doctor_meta;
mod doctor_purged;
mod enqueue;
mod error;
mod fence;
mod filter;
mod finish;
mod index;
mod list;
mod look;
mod marked;
mod processes;
mod purge;
mod requeue;
mod rival;
mod sessions;
mod settle;
mod since;
mod stale;
mod stats;
mod status;
mod streams;
mod sweep_hint;
mod sync;
mod temp;
mod touch;

use std::sync::Arc;

use crate::config::Config;
use crate::model::{Name, Stream, StreamStatus, TaskId};
use crate::spool::{self, Spool};

pub use crate::spool::{Change, GITIGNORE, KEEP_FILE, Removal, StreamPaths, has_markers, write_atomic};

pub use brief::TaskBrief;
pub use doctor::{ConflictedTask, DoctorReport, Finding, FindingKind};
pub use enqueue::{MAX_BATCH_BYTES, NewTask, parse_batch, parse_payload};
pub use error::{Error, ErrorKind};
pub use filter::{check_window, parse_moment};
pub use finish::Report;
pub use index::{INDEX_RECHECK, Index, Listening, Serving};
pub use list::{Counts, ListingPage, MAX_PAGE, StreamInfo, TaskFilter, TaskPage};
pub use look::Look;
pub use purge::PurgeReport;
pub use requeue::{RequeueOptions, Requeued};
pub use since::{FinishedCounts, MAX_SINCE_TASKS, SinceReport, StreamSince};
pub use stale::{SweepReport, auto_fail_message};
pub use stats::{DepthPoint, HourCount, MAX_STATS_HOURS, Stats, StreamDepth, ToolDurations};
pub use status::Status;
pub use sync::{SyncReport, SyncWith};

/// A `Result` whose error is the queue's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The queue of one project: its config and its spool.
#[derive(Debug, Clone)]
pub struct Queue {
    config: Config,
    spool: Spool,
    /// The live index of a long-lived process (see `index`), if it keeps one.
    index: Option<Arc<Index>>,
    /// The streams of the tasks this queue (and its clones) claimed, so a
    /// report from the same process finds its task without listing every
    /// stream (see `finish`). A hint the folders always overrule.
    claimed_in: Arc<finish::ClaimedIn>,
    /// The project's runtime folder, when it is not the one the environment
    /// chooses (see [`Queue::with_runtime_dir`]).
    runtime: Option<crate::runtime::RuntimeDir>,
}

impl Queue {
    /// The queue of the project `config` describes.
    pub fn new(config: Config) -> Queue {
        let spool = spool_of(&config);
        Queue {
            config,
            spool,
            index: None,
            claimed_in: Arc::default(),
            runtime: None,
        }
    }

    /// The project's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The spool's root folder: what a watcher of every change watches
    /// (changed paths are read with [`Change::of_path`]).
    pub fn spool_root(&self) -> &std::path::Path {
        self.spool.root()
    }

    /// Creates the spool's top-level folders if they are missing; returns
    /// what it created.
    pub fn ensure_layout(&self) -> Result<Vec<std::path::PathBuf>> {
        Ok(self.spool.ensure_layout()?)
    }

    /// The paths a waiter on stream `stream` watches.
    pub fn stream_paths(&self, stream: &Name) -> StreamPaths {
        self.spool.stream_paths(stream)
    }

    /// The names of the stream folders in the spool, readable or not (for
    /// stopping and removing what runs for them).
    pub fn stream_names(&self) -> Result<Vec<Name>> {
        Ok(self.spool.stream_names()?)
    }

    /// Deletes the spool for `teardown`: only the files and folders SparkQ
    /// creates; anything else is kept and listed.
    pub fn remove_spool(&self) -> Result<Removal> {
        Ok(self.spool.remove_own_files()?)
    }

    /// Replaces the configuration (tools, classes, limits) without touching
    /// the spool; used by `reload`.
    pub fn set_config(&mut self, config: Config) {
        self.spool = spool_of(&config);
        // An index of another spool would propose ids that are not there:
        // a new one watches the new spool, as warm as the old one was (a
        // server's dashboard is answered from memory after a reload too).
        if let Some(index) = self.index.take() {
            if index.spool_root() == Some(self.spool.root()) {
                self.attach(index);
            } else if self.start(index.is_warm()).is_err() {
                self.index = None;
            }
        }
        self.config = config;
        self.refresh_with_this_config();
    }

    /// The stream named `name`, or a not-found error listing the known ones.
    pub fn stream(&self, name: &str) -> Result<Stream> {
        let name = Name::parse(name)?;
        let read = match &self.index {
            Some(index) => self.spool.read_stream_cached(&name, &index.stream_files)?,
            None => self.spool.read_stream(&name)?,
        };
        match read {
            Some(stream) => Ok(stream),
            None => Err(Error::UnknownStream {
                name: name.to_string(),
                known: self.spool.stream_names()?.iter().map(Name::to_string).collect(),
            }),
        }
    }

    /// Like [`Queue::stream`], but the stream must also be active.
    fn active_stream(&self, name: &str) -> Result<Stream> {
        let stream = self.stream(name)?;
        if stream.status == StreamStatus::Ended {
            return Err(Error::StreamEnded {
                name: stream.name.to_string(),
            });
        }
        Ok(stream)
    }
}

/// The spool `config` describes; files are read up to the size a task
/// within the configured limits can reach.
fn spool_of(config: &Config) -> Spool {
    let limits = &config.limits;
    let cap = spool::file_cap_for(limits.payload_bytes as u64, limits.output_bytes as u64);
    Spool::new(config.spool_path.clone(), config.fsync).with_file_cap(cap)
}

/// Validates a task id given by a user.
pub fn parse_task_id(s: &str) -> Result<TaskId> {
    TaskId::parse(s).ok_or_else(|| Error::InvalidId { given: s.to_owned() })
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
