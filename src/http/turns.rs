//! Fair turns between the claims and the enqueues of a stream.
//!
//! Enqueues take no stream lock (a new id collides with nothing), while
//! claims take it one at a time; on a busy machine a flood of enqueues then
//! starves the claimers, and the backlog only grows. Here every claim waits
//! for a turn of its own and every enqueue for a shared one, on a lock that
//! serves waiters in arrival order (tokio's `RwLock` is fair): an enqueue
//! that comes after a waiting claim waits for it, so each claimer gets one
//! turn per round however many enqueues arrive, and enqueues still run side
//! by side with each other. Only this server's requests take turns; it
//! decides nothing about tasks (the stream lock and the rename still do).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// How many turn locks streams share: a fixed number, so no request can
/// make the table grow; two streams in one slot just take turns together.
const SLOTS: usize = 64;

/// The turn locks, one per slot.
pub(crate) struct Turns {
    slots: Vec<Arc<RwLock<()>>>,
}

impl Default for Turns {
    fn default() -> Turns {
        Turns {
            slots: (0..SLOTS).map(|_| Arc::new(RwLock::new(()))).collect(),
        }
    }
}

impl Turns {
    fn slot(&self, stream: &str) -> Arc<RwLock<()>> {
        let mut hasher = DefaultHasher::new();
        stream.hash(&mut hasher);
        self.slots[(hasher.finish() % SLOTS as u64) as usize].clone()
    }

    /// A turn of its own for a claim of `stream`.
    pub(crate) async fn claim(&self, stream: &str) -> OwnedRwLockWriteGuard<()> {
        self.slot(stream).write_owned().await
    }

    /// A shared turn for an enqueue into `stream`.
    pub(crate) async fn enqueue(&self, stream: &str) -> OwnedRwLockReadGuard<()> {
        self.slot(stream).read_owned().await
    }
}
