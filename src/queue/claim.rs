//! Peek and claim: handing out the oldest pending task.
//!
//! **Exactly once.** A claim renames `pending/<id>.json` to
//! `claimed/<id>.json`; a rename succeeds for one caller only, so however
//! many processes race, each task is handed to one of them. The stream lock
//! is held from the listing to the rewrite of the claimed copy, so on one
//! machine claimers also take tasks strictly in id (FIFO) order and the
//! claimed copy's token is written before anyone else looks at it.

use serde::Serialize;

use super::Queue;
use super::Result;
use crate::model::{StreamRef, Task, TaskStatus, Timestamp};
use crate::spool;

/// A claimed task, with the stream brief the worker needs.
///
/// It serializes as the task's own fields, except that `stream` is the
/// object `{"id", "name", "instructions"}` instead of the stream's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub task: Task,
    pub stream: StreamRef,
}

impl Serialize for Claimed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.task).map_err(serde::ser::Error::custom)?;
        let stream = serde_json::to_value(&self.stream).map_err(serde::ser::Error::custom)?;
        if let Some(fields) = value.as_object_mut() {
            fields.insert("stream".to_owned(), stream);
        }
        value.serialize(s)
    }
}

impl Queue {
    /// The next task a claim would take, changing nothing but adopting
    /// dropped files and sweeping dead claims.
    pub fn peek(&self, stream: &str) -> Result<Option<Task>> {
        let stream = self.stream(stream)?;
        let lock = self.spool.lock_stream(&stream.name)?;
        let (scan, _) = self.touch(&stream, &lock)?;
        for id in &scan.ids {
            match self.spool.read_task(&stream.name, TaskStatus::Queued, id) {
                Ok(Some(_)) if self.is_superseded(&stream.name, id, TaskStatus::Queued)? => continue,
                Ok(Some(task)) => return Ok(Some(task)),
                Ok(None) => continue,
                Err(spool::Error::Corrupt { .. }) => self.readopt_corrupt(&stream, id, &lock)?,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Claims the oldest pending task of an active stream for `worker`, or
    /// returns `None` if nothing is pending.
    pub fn claim(&self, stream: &str, worker: &str) -> Result<Option<Claimed>> {
        let stream = self.active_stream(stream)?;
        let lock = self.spool.lock_stream(&stream.name)?;
        let (scan, _) = self.touch(&stream, &lock)?;
        for id in &scan.ids {
            let task = match self.spool.read_task(&stream.name, TaskStatus::Queued, id) {
                Ok(Some(task)) => task,
                Ok(None) => continue,
                Err(spool::Error::Corrupt { .. }) => {
                    self.readopt_corrupt(&stream, id, &lock)?;
                    return self.claim_after_repair(stream.name.as_str(), worker, lock);
                }
                Err(e) => return Err(e.into()),
            };
            // A newer copy of this id by the lattice (SPEC 9): never run the
            // task twice. Settling (in `touch`, or `doctor --fix`) removes
            // the stale pending copy.
            if self.is_superseded(&stream.name, id, TaskStatus::Queued)? {
                continue;
            }
            if !self
                .spool
                .rename_task(&stream.name, id, TaskStatus::Queued, TaskStatus::Running)?
            {
                continue;
            }
            let now = Timestamp::now();
            let mut task = task;
            task.status = TaskStatus::Running;
            task.attempts += 1;
            task.claimed_by = Some(worker.to_owned());
            task.claim_token = Some(new_token());
            task.started_at = Some(now);
            task.heartbeat_at = None;
            task.updated_at = now;
            self.spool.write_task(&task)?;
            return Ok(Some(Claimed {
                stream: StreamRef::from(&stream),
                task,
            }));
        }
        Ok(None)
    }

    fn claim_after_repair(
        &self,
        stream: &str,
        worker: &str,
        lock: spool::StreamLock,
    ) -> Result<Option<Claimed>> {
        drop(lock);
        self.claim(stream, worker)
    }
}

/// A fresh claim token: 16 random hex digits.
fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}
