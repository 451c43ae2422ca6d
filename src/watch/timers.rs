//! The moments a stream can change without a file-system event, so that a
//! waiter sets its one timer to the nearest of them instead of polling.

use std::time::{Instant, SystemTime};

use crate::model::{Name, TaskStatus, deadline_after};
use crate::queue::{Queue, TaskFilter};
use crate::spool::settles_at;

/// Converts a wall-clock time to the monotonic clock, for timers.
fn instant_of(at: SystemTime) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => deadline_after(now, ahead),
        Err(_) => now,
    }
}

/// When the youngest file dropped into `pending/` settles and can be
/// adopted (a file changed in the last [`ADOPT_SETTLE`](crate::spool::ADOPT_SETTLE) is left alone).
/// Files that are already settled are not counted: a look just happened.
pub(crate) fn next_settle(queue: &Queue, stream: &Name) -> Option<Instant> {
    let scan = queue.spool().scan_pending(stream).ok()?;
    let dir = queue.spool().state_path(stream, TaskStatus::Queued);
    let now = SystemTime::now();
    // Entries that are not regular files are adopted (set aside) too; the
    // entry's own time counts, never a link target's.
    let names = scan.drops.iter().map(std::ffi::OsStr::new);
    names
        .chain(scan.foreign.iter().map(|n| n.as_os_str()))
        .filter_map(|name| std::fs::symlink_metadata(dir.join(name)).ok())
        .filter_map(|meta| meta.modified().ok())
        .filter_map(|modified| settles_at(modified, now))
        .min()
        .map(instant_of)
}

/// When the next running task of `stream` turns dead (SPEC 4.6: twice its
/// timeout after it last showed life) and must be taken back.
pub(crate) fn next_dead(queue: &Queue, stream: &Name) -> Option<Instant> {
    let filter = TaskFilter {
        status: Some(TaskStatus::Running),
        stream: Some(stream.to_string()),
        limit: Some(crate::queue::MAX_PAGE),
        ..TaskFilter::default()
    };
    let page = queue.list_tasks(&filter).ok()?;
    page.tasks
        .iter()
        .filter_map(|task| {
            // `is_dead_at` is strict (`>`): look just after the boundary.
            let dead = instant_of(task.dead_at()?.to_system());
            Some(deadline_after(dead, std::time::Duration::from_millis(50)))
        })
        .min()
}

/// The earliest of several optional moments.
pub(crate) fn earliest(moments: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    moments.into_iter().flatten().min()
}
