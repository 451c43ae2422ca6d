//! What every look at a stream does first, holding its lock: finish or
//! discard interrupted batches, take back dead claims, and adopt files
//! dropped into `pending/`.
//!
//! It does not settle the copies a merge left behind: a claim or peek skips
//! a copy that a newer one supersedes, and a listing that meets a duplicate
//! settles the safe part (see `settle`); the rest is `doctor --fix`'s.

use super::{Queue, Result, SweepReport};
use crate::model::{Stream, TaskId, TaskStatus, Timestamp};
use crate::spool::{NewestAsk, PendingScan, StreamLock};

impl Queue {
    /// Adopts dropped files and sweeps dead claims of `stream`, reading
    /// every claim; returns the pending folder as it is afterwards. The
    /// caller holds `lock`.
    pub(super) fn touch(&self, stream: &Stream, lock: &StreamLock) -> Result<(PendingScan, SweepReport)> {
        self.touch_sweeping(stream, lock, false, None)
    }

    /// [`Queue::touch`] as a process without an index looks before every
    /// claim, peek and list: its sweep reads only the claims that changed
    /// since the last such look (see `sweep_hint`).
    pub(super) fn touch_one_shot(
        &self,
        stream: &Stream,
        lock: &StreamLock,
    ) -> Result<(PendingScan, SweepReport)> {
        self.touch_sweeping(stream, lock, true, None)
    }

    /// [`Queue::touch_one_shot`] for a list: its read of `pending/` also
    /// keeps the page `newest` asks for (see [`PendingScan::newest`]), so
    /// the list's counts and page need no second read of the folder.
    pub(super) fn touch_one_shot_for(
        &self,
        stream: &Stream,
        lock: &StreamLock,
        newest: Option<NewestAsk<'_>>,
    ) -> Result<PendingScan> {
        Ok(self.touch_sweeping(stream, lock, true, newest)?.0)
    }

    fn touch_sweeping(
        &self,
        stream: &Stream,
        _lock: &StreamLock,
        hinted: bool,
        newest: Option<NewestAsk<'_>>,
    ) -> Result<(PendingScan, SweepReport)> {
        // A batch whose writer died is published or discarded before
        // anything is listed, so no look sees part of one. One that cannot
        // be finished now (a full disk) must not stop the stream: the next
        // look tries again, and `doctor --fix` reports why.
        let _ = self.spool.recover_batches(&stream.name);
        // Sweep first: a dead claim it re-queues must be in the listing.
        let report = if hinted {
            self.sweep_dead_hinted(stream, Timestamp::now())?
        } else {
            self.sweep_dead_locked(stream, Timestamp::now())?
        };
        let mut scan = self.spool.scan_pending_for(&stream.name, newest)?;
        if !scan.drops.is_empty() || !scan.adopting.is_empty() || !scan.foreign.is_empty() {
            let build = |drop: crate::spool::DroppedFile<'_>| self.task_from_drop(stream, drop);
            let adopted = self.spool.adopt_drops(&stream.name, &scan, &build)?;
            if !adopted.is_empty() || !scan.adopting.is_empty() {
                scan = self.spool.scan_pending_for(&stream.name, newest)?;
            }
        }
        Ok((scan, report))
    }

    /// Re-adopts a `pending/` task file that cannot be parsed: it is renamed
    /// to an `.adopt` file under its own id and goes through adoption, which
    /// either repairs it or fails it with the reason. The caller holds the
    /// stream lock.
    pub(super) fn readopt_corrupt(&self, stream: &Stream, id: &TaskId, lock: &StreamLock) -> Result<()> {
        let dir = self.spool.state_path(&stream.name, TaskStatus::Queued);
        let from = dir.join(id.file_name());
        // A file git left with conflict markers holds two readable versions:
        // settle them (SPEC 9) rather than failing the task.
        let bytes = self.spool.read_bytes(&from)?.unwrap_or_default();
        if crate::spool::has_markers(&String::from_utf8_lossy(&bytes))
            && self.settle_task(&stream.name, id)?
            && self.spool.read_task(&stream.name, TaskStatus::Queued, id).is_ok()
        {
            return Ok(());
        }
        self.spool.readopt(&stream.name, id)?;
        self.touch(stream, lock)?;
        Ok(())
    }
}
