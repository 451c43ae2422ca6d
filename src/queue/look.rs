//! One look at a stream for a waiter (a watcher, `claim --wait`): all it
//! decides on, from one read of the stream's file, one sweep of its claims
//! and one scan of `pending/`, under one hold of the stream lock.

use std::time::SystemTime;

use super::{Queue, Result, SweepReport};
use crate::model::{Name, Stream, StreamStatus, Timestamp};

/// What one look at a stream saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// The stream as its file says. When it has ended, nothing else was
    /// done and the rest is empty: a waiter stops.
    pub stream: Stream,
    /// The dead claims the look took back, and when the next one turns dead.
    pub swept: SweepReport,
    /// Whether a claim would take a task now.
    pub has_work: bool,
    /// How many tasks wait in `pending/`.
    pub queued: usize,
    /// When the youngest file dropped into `pending/` settles and can be
    /// adopted (it is left alone until then).
    pub next_settle: Option<SystemTime>,
}

impl Look {
    /// When the next running claim turns dead and must be taken back.
    pub fn next_dead(&self) -> Option<Timestamp> {
        self.swept.next_dead
    }
}

impl Queue {
    /// Looks at the stream named `stream` once: finishes interrupted
    /// batches, sweeps dead claims, adopts settled dropped files, and says
    /// whether work is pending and when to look again without an event.
    pub fn look(&self, stream: &str) -> Result<Look> {
        let stream = self.stream(stream)?;
        if stream.status == StreamStatus::Ended {
            return Ok(Look {
                stream,
                swept: SweepReport::default(),
                has_work: false,
                queued: 0,
                next_settle: None,
            });
        }
        let lock = self.spool.lock_stream(&stream.name)?;
        // A waiter sets its timer from this look: its index must know of
        // every claim first, even one whose event is late.
        self.index_catch_up_claims(&stream.name);
        // From the index when this process keeps one (see `index`).
        let (scan, swept) = self.touch_indexed(&stream, &lock)?;
        let next_settle = self.spool.next_settle(&stream.name, &scan);
        let queued = scan.total;
        let has_work = self.first_pending(&stream, scan, &lock)?.is_some();
        Ok(Look {
            stream,
            swept,
            has_work,
            queued,
            next_settle,
        })
    }

    /// When the youngest file dropped into `stream`'s `pending/` settles
    /// and a look would adopt it; `None` if none is waiting to settle. For a
    /// waiter whose claim found nothing: it takes no lock and changes
    /// nothing.
    pub fn next_settle(&self, stream: &Name) -> Result<Option<SystemTime>> {
        let scan = self.spool.scan_pending(stream)?;
        Ok(self.spool.next_settle(stream, &scan))
    }
}
