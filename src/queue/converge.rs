//! Convergence: given every copy of one task id that a merge or a copy
//! left in a spool, which copy wins, how it must be stored, and what the
//! losers carried that must be kept (SPEC 9). Pure: no I/O, no clock.
//!
//! The rules, in order:
//! 1. **The lattice decides.** [`Task::lattice_key`] orders copies by
//!    (attempt, state within the attempt); the highest wins and every other
//!    copy is removed. A re-queued attempt therefore beats a late finish of
//!    the attempt before it.
//! 2. **Ties are broken the same way everywhere.** Among copies of equal
//!    key, a finish with a `finished_at` beats a blend without one (git can
//!    merge a heartbeat into a finish), the earlier finish or claim wins,
//!    then the later heartbeat or update, then the smaller file. The result
//!    depends only on the set of copies, never on their order, on the clock
//!    or on the machine, so two machines that settle the same union write
//!    byte-identical files and their next merge is clean.
//! 3. **Nothing reported is hidden.** A losing copy that finished (another
//!    finish of the same attempt, or a late finish of an earlier one) or
//!    that is a second claim of the same attempt is recorded in the
//!    winner's `conflicts`, together with every conflict any copy already
//!    carried. Recording is idempotent: settling a settled task changes
//!    nothing.
//! 4. **The folder wins** over the content's `status`; fields that must
//!    follow the state are repaired without touching results or history.

use std::cmp::Ordering;
use std::time::Duration;

use crate::model::{Conflict, Phase, Task, TaskStatus, Timestamp};

/// One copy of a task and the state it stands for: its folder for a plain
/// file, its own `status` for a version recovered from a merge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub state: TaskStatus,
    pub task: Task,
}

/// What settling a set of copies decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolution {
    /// The index of the winning candidate; every other one is removed.
    pub winner: usize,
    /// The winner as it must be stored: in `state`'s folder, its content
    /// agreeing with it, every conflict recorded.
    pub task: Task,
    pub state: TaskStatus,
    /// Conflicts the winner did not carry before.
    pub recorded: Vec<Conflict>,
}

impl Resolution {
    /// Whether the winner's file must be rewritten (not only others removed).
    pub(crate) fn rewrites(&self, candidates: &[Candidate]) -> bool {
        let chosen = &candidates[self.winner];
        chosen.state != self.state || chosen.task != self.task
    }
}

/// Settles the copies of one task; `None` if there are none.
pub(crate) fn converge(candidates: &[Candidate]) -> Option<Resolution> {
    let winner = (0..candidates.len()).max_by(|a, b| compare(&candidates[*a], &candidates[*b]))?;
    let best = &candidates[winner];
    let mut task = best.task.clone();
    task.agree_with_state(best.state);
    let before = task.conflicts.clone();

    let mut entries: Vec<Conflict> = candidates.iter().flat_map(|c| c.task.conflicts.clone()).collect();
    for (i, loser) in candidates.iter().enumerate() {
        if i != winner && is_worth_keeping(loser, best) {
            entries.push(Conflict::of(&loser.task, loser.state));
        }
    }
    task.conflicts = normalize(entries, &task, best.state);
    if task != best.task {
        // A rewrite is a change like any other: it moves `updated_at` on (by
        // the same amount everywhere), so that git sees it collide with a
        // concurrent change of the same file instead of blending the two.
        let latest = candidates
            .iter()
            .map(|c| c.task.updated_at)
            .max()
            .unwrap_or(task.updated_at);
        task.updated_at = Timestamp::from_system(latest.to_system() + Duration::from_micros(1));
    }
    let recorded = task
        .conflicts
        .iter()
        .filter(|c| !before.iter().any(|b| b.event_key() == c.event_key()))
        .cloned()
        .collect();
    Some(Resolution {
        winner,
        state: best.state,
        task,
        recorded,
    })
}

/// `Greater` when `a` should win over `b` (rule 2).
fn compare(a: &Candidate, b: &Candidate) -> Ordering {
    let (ka, kb) = (a.task.lattice_key(a.state), b.task.lattice_key(b.state));
    let (ta, tb) = (&a.task, &b.task);
    let earlier = |x: Option<Timestamp>, y: Option<Timestamp>| match (x, y) {
        (Some(x), Some(y)) => y.cmp(&x),
        (x, y) => x.is_some().cmp(&y.is_some()),
    };
    ka.cmp(&kb)
        .then_with(|| match ka.1 {
            Phase::Finished => earlier(ta.finished_at, tb.finished_at)
                .then_with(|| (a.state == TaskStatus::Succeeded).cmp(&(b.state == TaskStatus::Succeeded))),
            Phase::Running => {
                earlier(ta.started_at, tb.started_at).then_with(|| ta.heartbeat_at.cmp(&tb.heartbeat_at))
            }
            Phase::Queued => ta.history.len().cmp(&tb.history.len()),
        })
        .then_with(|| ta.updated_at.cmp(&tb.updated_at))
        .then_with(|| canonical(b).cmp(&canonical(a)))
}

/// The bytes a candidate is compared by in the last resort.
fn canonical(c: &Candidate) -> Vec<u8> {
    let mut task = c.task.clone();
    task.conflicts.clear();
    task.agree_with_state(c.state);
    serde_json::to_vec(&task).unwrap_or_default()
}

/// Whether a losing copy carries something the winner must keep (rule 3).
fn is_worth_keeping(loser: &Candidate, winner: &Candidate) -> bool {
    let (l, w) = (&loser.task, &winner.task);
    match Phase::of(loser.state) {
        Phase::Finished => !is_same_finish(loser, winner),
        Phase::Running => {
            Phase::of(winner.state) >= Phase::Running
                && l.attempts == w.attempts
                && l.claim_token != w.claim_token
        }
        Phase::Queued => false,
    }
}

/// Two finishes are one when they belong to the same claim and either
/// agree on the outcome or one is a blend git made without a `finished_at`.
fn is_same_finish(a: &Candidate, b: &Candidate) -> bool {
    let (x, y) = (&a.task, &b.task);
    b.state.is_finished()
        && x.attempts == y.attempts
        && x.claim_token == y.claim_token
        && (x.finished_at.is_none()
            || y.finished_at.is_none()
            || a.state == b.state && x.result == y.result && x.error == y.error)
}

/// Sorts and de-duplicates conflict entries; drops the winner's own event
/// and claims that a recorded finish (or the winner) has since concluded.
fn normalize(mut entries: Vec<Conflict>, task: &Task, state: TaskStatus) -> Vec<Conflict> {
    let own = Conflict::of(task, state);
    entries.retain(|c| c.event_key() != own.event_key());
    let concluded: Vec<(u32, Option<String>)> = entries
        .iter()
        .filter(|c| c.status.is_finished())
        .map(|c| (c.attempt, c.claim_token.clone()))
        .chain((state != TaskStatus::Queued).then(|| (task.attempts, task.claim_token.clone())))
        .collect();
    entries.retain(|c| c.status.is_finished() || !concluded.contains(&(c.attempt, c.claim_token.clone())));
    entries.sort_by(|a, b| {
        a.event_key().cmp(&b.event_key()).then_with(|| {
            serde_json::to_vec(a)
                .unwrap_or_default()
                .cmp(&serde_json::to_vec(b).unwrap_or_default())
        })
    });
    entries.dedup_by(|a, b| a.event_key() == b.event_key());
    entries
}

#[cfg(test)]
#[path = "converge_tests.rs"]
mod tests;
