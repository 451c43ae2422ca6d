//! The moments a stream can change without a file-system event, so that a
//! waiter sets its one timer to the nearest of them instead of polling.
//! The moments themselves come from a look ([`crate::queue::Look`]).

use std::time::{Duration, Instant, SystemTime};

use crate::model::deadline_after;

/// Converts a wall-clock time to the monotonic clock, for timers.
pub(crate) fn instant_of(at: SystemTime) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => deadline_after(now, ahead),
        Err(_) => now,
    }
}

/// Just after the wall-clock time `at`, on the monotonic clock: for a
/// boundary a strict comparison (`>`) only passes once it is behind.
pub(crate) fn instant_after(at: SystemTime) -> Instant {
    deadline_after(instant_of(at), Duration::from_millis(50))
}

/// The earliest of several optional moments.
pub(crate) fn earliest(moments: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    moments.into_iter().flatten().min()
}
