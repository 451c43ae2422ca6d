//! Stale and dead claims (SPEC 4.6).
//!
//! A running task is stale once `now − max(started_at, heartbeat_at)`
//! exceeds its timeout, and dead at twice that: its worker is presumed gone.
//! A dead claim goes back to `pending/` (same id, the claim recorded in
//! `history`) while `attempts < max_attempts`, else the task fails with the
//! auto-fail message. Sweeps run holding the stream lock, so a sweep and a
//! late `complete` never both move the task; the loser sees it gone.

use serde::Serialize;
#[cfg(test)]
use std::collections::BTreeSet;

use super::sweep_hint::{Known, Listed, SweepHint};
use super::{Queue, Result};
pub use crate::model::auto_fail_message;
use crate::model::{AttemptEnd, Name, Stream, Task, TaskId, TaskStatus, Timestamp};

/// From how many claims a sweep without an index keeps a hint (see
/// `sweep_hint`): below it, reading every claim costs less than reading
/// and writing the hint.
const HINT_FROM: usize = 16;

/// When a waiter looks again at a claim the sweep found in flight.
const IN_FLIGHT_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// What one sweep of a stream's claims did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// Dead claims put back in the queue.
    pub requeued: Vec<TaskId>,
    /// Dead claims that had no attempts left.
    pub failed: Vec<TaskId>,
    /// When the next claim the sweep left running turns dead, so a waiter
    /// sets its timer without reading the claims again.
    #[serde(skip)]
    pub next_dead: Option<Timestamp>,
}

impl SweepReport {
    /// Whether the sweep changed anything.
    pub fn is_empty(&self) -> bool {
        self.requeued.is_empty() && self.failed.is_empty()
    }

    /// Notes a claim that turns dead at `at`, if that is the earliest yet.
    fn note_next_dead(&mut self, at: Timestamp) {
        self.next_dead = Some(self.next_dead.map_or(at, |next| next.min(at)));
    }
}

impl Queue {
    /// Takes back the dead claims of the stream named `stream`. With an
    /// index (a long-lived process), only when one can be due, reading
    /// only the claims that changed since the index last read them.
    pub fn sweep_dead(&self, stream: &str) -> Result<SweepReport> {
        let stream = self.stream(stream)?;
        let _lock = self.spool.lock_stream(&stream.name)?;
        if let Some(report) = self.sweep_indexed(&stream) {
            return report;
        }
        self.sweep_dead_locked(&stream, Timestamp::now())
    }

    /// The sweep itself, reading every claim; the caller holds the stream
    /// lock.
    pub(super) fn sweep_dead_locked(&self, stream: &Stream, now: Timestamp) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let (claims, markers) = self.spool.list_claims(&stream.name)?;
        for claim in &claims {
            self.sweep_claim(stream, &claim.id, &markers, now, &mut report)?;
        }
        Ok(report)
    }

    /// The sweep of a process without an index before every `claim`,
    /// `peek` and list (see `touch_one_shot`): as
    /// [`Queue::sweep_dead_locked`], but a claim that the stream's hint
    /// (see `sweep_hint`) knows unchanged and alive is not read again, and
    /// within a second of the listing that wrote the hint, before any claim
    /// it saw can be dead, `claimed/` is not even listed. With an index, or
    /// few claims, it reads every claim. The caller holds the stream lock.
    pub(super) fn sweep_dead_hinted(&self, stream: &Stream, now: Timestamp) -> Result<SweepReport> {
        if self.index.is_some() {
            return self.sweep_dead_locked(stream, now);
        }
        let runtime = self.runtime_dir();
        if let Some(listed) = SweepHint::listed_of(&runtime, &stream.name)
            && listed.spares(now)
        {
            return Ok(SweepReport {
                next_dead: listed.next_dead,
                ..SweepReport::default()
            });
        }
        let (claims, markers) = self.spool.list_claims(&stream.name)?;
        let mut report = SweepReport::default();
        if claims.len() < HINT_FROM {
            for claim in &claims {
                self.sweep_claim(stream, &claim.id, &markers, now, &mut report)?;
            }
            return Ok(report);
        }
        let hint = SweepHint::load(&runtime, &stream.name);
        let mut known = Vec::with_capacity(claims.len());
        for claim in &claims {
            if let Some(k) = hint.trusted(claim, now) {
                report.note_next_dead(k.dead_at);
                known.push((&claim.id, k));
                continue;
            }
            if let Some(task) = self.sweep_claim(stream, &claim.id, &markers, now, &mut report)?
                && let (Some(stale_at), Some(dead_at)) = (task.stale_at(), task.dead_at())
            {
                let k = Known {
                    ino: claim.ino,
                    stale_at,
                    dead_at,
                    read_at: now,
                };
                known.push((&claim.id, k));
            }
        }
        // Written after every listing, so the looks of the next second
        // need not list (at most one write a second, against a listing
        // of every claim on every look).
        let listed = Listed {
            at: now,
            next_dead: report.next_dead,
        };
        hint.save(&runtime, listed, &known);
        Ok(report)
    }

    /// How many claims `stream` has running, and how many of them are
    /// stale at `now`: a claim that the stream's hint (see `sweep_hint`)
    /// knows unchanged is not read. Counts follow a sweep, which has just
    /// brought the hint up to date.
    pub(super) fn count_claims(&self, stream: &Name, now: Timestamp) -> Result<(usize, usize)> {
        let (claims, _) = self.spool.list_claims(stream)?;
        let runtime = self.runtime_dir();
        let hint = if claims.len() < HINT_FROM {
            SweepHint::empty()
        } else {
            SweepHint::load(&runtime, stream)
        };
        let stale = claims
            .iter()
            .filter(|claim| match hint.trusted(claim, now) {
                Some(k) => now > k.stale_at,
                None => matches!(
                    self.spool.read_task(stream, TaskStatus::Running, &claim.id),
                    Ok(Some(t)) if t.is_stale_at(now)
                ),
            })
            .count();
        Ok((claims.len(), stale))
    }

    /// Sweeps the claim of `id`: takes it back if it is dead, repairs it if
    /// its content lags its folder, and notes when it turns dead in
    /// `report`. Returns the claim when it was read, is alive and agrees
    /// with its folder: what a hint may remember. The caller holds the
    /// stream lock.
    fn sweep_claim(
        &self,
        stream: &Stream,
        id: &TaskId,
        markers: &[String],
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<Option<Task>> {
        // One read per claimed file, and nothing else for a live claim
        // whose content agrees with its folder: this runs on every claim.
        let Ok(Some((task, lagged))) = self
            .spool
            .read_task_lagging(&stream.name, TaskStatus::Running, id)
        else {
            return Ok(None);
        };
        // Content that lags with a fresh marker beside it is a claim in
        // flight, between its rename and its rewrite (see `claim` and
        // `spool::claiming`): neither repaired nor taken back. With only
        // stale markers (a claimer that died), they are removed and the
        // file is repaired below like any crash between those steps.
        // A waiter that sets its timer from this sweep looks again soon:
        // by then the claim is written and says when it turns dead.
        if lagged && !markers.is_empty() && self.spool.claim_in_flight(&stream.name, id, markers) {
            report.note_next_dead(now.saturating_add(IN_FLIGHT_RECHECK));
            return Ok(None);
        }
        let dead = task.is_dead_at(now);
        if !dead && let Some(at) = task.dead_at() {
            report.note_next_dead(at);
        }
        if !dead && !lagged {
            return Ok(Some(task));
        }
        // A newer copy by the lattice (a crash between writing the result
        // or re-queueing and removing the claim, or a merge): never sweep
        // or rewrite a claim that lost. Settling removes it, or records
        // it if it was a rival.
        if self.is_copy_superseded(&stream.name, &task, TaskStatus::Running)? {
            return Ok(None);
        }
        // Any other copy (an older finish a sync brought into
        // `failed/` or `pending/`) would be written over by the move:
        // settle it first and look again at the next sweep.
        if dead && self.settle_before_moving(&stream.name, id, TaskStatus::Running)? {
            return Ok(None);
        }
        if lagged {
            self.spool.write_task(&task)?;
        }
        if !dead {
            return Ok(None);
        }
        let mut next = task;
        match next.take_back(now) {
            AttemptEnd::Requeued => report.requeued.push(id.clone()),
            _ => report.failed.push(id.clone()),
        }
        // Write the new copy, then remove the claimed one: a crash in
        // between leaves two copies, and the newer one wins. A failed
        // removal is the same as that crash: the sweep is done, and the
        // superseded claim is skipped above and settled later.
        self.spool.write_task(&next)?;
        let _ = self.spool.remove_task(&stream.name, TaskStatus::Running, id);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_support::{new_task, queue_in, report_of};
    use super::*;
    use crate::model::Task;

    /// A small seeded generator: the seed is printed, so a failure can be
    /// run again.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Every claimed file as a sweep would read it.
    fn claimed_tasks(queue: &Queue, stream: &Stream) -> Vec<Task> {
        let (claims, _) = queue.spool.list_claims(&stream.name).unwrap();
        claims
            .iter()
            .filter_map(|c| {
                let read = queue
                    .spool
                    .read_task_lagging(&stream.name, TaskStatus::Running, &c.id);
                read.unwrap().map(|(task, _)| task)
            })
            .collect()
    }

    /// Rewrites a claimed file as an outside tool would (a new file renamed
    /// over it): its claim started `back` earlier, so it turns dead sooner.
    fn move_start_back(queue: &Queue, stream: &Stream, task: &Task, back: Duration, in_place: bool) {
        let path = queue
            .spool
            .state_path(&stream.name, TaskStatus::Running)
            .join(task.id.file_name());
        let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let start = task.last_alive().to_system() - back;
        value["started_at"] = serde_json::json!(Timestamp::from_system(start));
        value["heartbeat_at"] = serde_json::Value::Null;
        let bytes = serde_json::to_vec_pretty(&value).unwrap();
        if in_place {
            std::fs::write(&path, bytes).unwrap();
        } else {
            let temp = path.with_extension("edit");
            std::fs::write(&temp, bytes).unwrap();
            std::fs::rename(&temp, &path).unwrap();
        }
    }

    /// The invariant of the hint (see `sweep_hint`): a sweep that lists
    /// `claimed/` and trusts the hint takes back exactly the claims that
    /// are dead by their files, and reports the same next death, and the
    /// counts after it find the same stale claims, whatever happened since
    /// the hint was written: claims, heartbeats, reports, sweeps at other
    /// times, and outside rewrites that move a claim's death earlier. A
    /// sweep that the last listing spares takes nothing back, and leaves
    /// only claims dead that changed since that listing.
    #[test]
    fn a_hinted_sweep_takes_back_exactly_the_dead_claims_and_counts_the_stale() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        println!("seed {seed}");
        let mut rng = Rng(seed);
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let stream = queue.stream("a").unwrap();
        let start = Timestamp::now();
        let mut offset = Duration::ZERO;
        let mut held = Vec::new();
        let (mut hinted_sweeps, mut spared_sweeps) = (0, 0);
        // Claims made or rewritten since the test's last sweep that listed.
        let mut changed: BTreeSet<TaskId> = BTreeSet::new();
        let steps = if std::env::var_os("SPARKQ_FULL_TESTS").is_some() {
            600
        } else {
            200
        };
        for _ in 0..steps {
            if queue
                .spool
                .list_ids(&stream.name, TaskStatus::Queued)
                .unwrap()
                .len()
                < 4
            {
                for _ in 0..8 {
                    // A third die within the test's time, the rest live on
                    // unless rewritten, so the running set grows past
                    // where the hint is used.
                    let timeout = if rng.below(3) == 0 {
                        2 + rng.below(10)
                    } else {
                        60 + rng.below(240)
                    };
                    queue.enqueue("a", new_task(Some(timeout))).unwrap();
                }
            }
            match rng.below(10) {
                0..=3 => {
                    let claimed = queue.claim("a", "w").unwrap();
                    changed.extend(claimed.iter().map(|c| c.task.id.clone()));
                    held.extend(claimed);
                }
                4 if !held.is_empty() => {
                    let claim = &held[rng.below(held.len() as u64) as usize];
                    let _ = queue.heartbeat(claim.task.id.as_str(), claim.task.claim_token.as_deref());
                }
                5 if !held.is_empty() => {
                    let claim = held.swap_remove(rng.below(held.len() as u64) as usize);
                    let _ = queue.complete(
                        claim.task.id.as_str(),
                        serde_json::json!({"summary": "ok"}),
                        report_of(&claim),
                    );
                }
                6 => {
                    let tasks = claimed_tasks(&queue, &stream);
                    if !tasks.is_empty() {
                        let task = &tasks[rng.below(tasks.len() as u64) as usize];
                        changed.insert(task.id.clone());
                        move_start_back(
                            &queue,
                            &stream,
                            task,
                            Duration::from_millis(rng.below(200_000)),
                            false,
                        );
                    }
                }
                _ => offset += Duration::from_millis(rng.below(300)),
            }
            // Half the sweeps come a second or more after the last: those
            // list `claimed/`.
            if rng.below(2) == 0 {
                offset += super::super::sweep_hint::RELIST_AFTER;
            }
            // Sweep at the test's time, which runs ahead of the clock, and
            // compare with the files read just before.
            let now = start.saturating_add(offset);
            let runtime = queue.runtime_dir();
            let spared = SweepHint::listed_of(&runtime, &stream.name).filter(|l| l.spares(now));
            let tasks = claimed_tasks(&queue, &stream);
            let dead: BTreeSet<TaskId> = tasks
                .iter()
                .filter(|t| t.is_dead_at(now))
                .map(|t| t.id.clone())
                .collect();
            let next_dead = tasks
                .iter()
                .filter(|t| !t.is_dead_at(now))
                .filter_map(Task::dead_at)
                .min();
            hinted_sweeps += usize::from(tasks.len() >= HINT_FROM);
            let lock = queue.spool.lock_stream(&stream.name).unwrap();
            let report = queue.sweep_dead_hinted(&stream, now).unwrap();
            drop(lock);
            let taken: BTreeSet<TaskId> = report.requeued.iter().chain(&report.failed).cloned().collect();
            if let Some(listed) = spared {
                spared_sweeps += 1;
                assert!(taken.is_empty(), "seed {seed}: a spared sweep takes nothing back");
                assert_eq!(report.next_dead, listed.next_dead, "seed {seed}: the listing's");
                assert!(
                    dead.is_subset(&changed),
                    "seed {seed}: dead {dead:?}, but only {changed:?} changed since the listing"
                );
                assert_eq!(
                    queue.count_claims(&stream.name, now).unwrap(),
                    (tasks.len(), tasks.iter().filter(|t| t.is_stale_at(now)).count()),
                    "seed {seed}: running and stale, none taken back"
                );
                continue;
            }
            // The hint keeps microseconds.
            if SweepHint::listed_of(&runtime, &stream.name)
                .is_some_and(|l| l.at.unix_micros() == now.unix_micros())
            {
                changed.clear();
            }
            assert_eq!(taken, dead, "seed {seed}: the dead claims, and no other");
            assert_eq!(report.next_dead, next_dead, "seed {seed}: the next death");
            // Counts come right after a sweep, and read the same hint.
            let alive: Vec<&Task> = tasks.iter().filter(|t| !t.is_dead_at(now)).collect();
            let stale = alive.iter().filter(|t| t.is_stale_at(now)).count();
            assert_eq!(
                queue.count_claims(&stream.name, now).unwrap(),
                (alive.len(), stale),
                "seed {seed}: running and stale"
            );
        }
        println!(
            "seed {seed}: {hinted_sweeps} sweeps used the hint, {spared_sweeps} were spared the listing"
        );
        assert!(
            hinted_sweeps > steps / 4,
            "the hint was in use ({hinted_sweeps} sweeps)"
        );
        assert!(
            spared_sweeps > steps / 20,
            "the listing was spared ({spared_sweeps} sweeps)"
        );
    }

    /// Within a second of a listing the next sweep lists nothing, but not
    /// past the first death that listing saw coming: that claim is taken
    /// back on time. A claim made since, though dead by an outside edit,
    /// waits for the next listing, a second after the last at most.
    #[test]
    fn a_spared_sweep_never_passes_a_death_the_listing_saw() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let stream = queue.stream("a").unwrap();
        for _ in 0..HINT_FROM {
            queue.enqueue("a", new_task(Some(3600))).unwrap();
            queue.claim("a", "w").unwrap().unwrap();
        }
        queue.enqueue("a", new_task(Some(1))).unwrap();
        let id = queue.claim("a", "w").unwrap().unwrap().task.id;
        // As its file holds it (to the microsecond).
        let short = claimed_tasks(&queue, &stream)
            .into_iter()
            .find(|t| t.id == id)
            .unwrap();
        let sweep = |now| {
            let _lock = queue.spool.lock_stream(&stream.name).unwrap();
            queue.sweep_dead_hinted(&stream, now).unwrap()
        };
        let from_start = |millis| short.last_alive().saturating_add(Duration::from_millis(millis));
        let dead_at = short.dead_at().unwrap();
        assert_eq!(dead_at, from_start(2000));
        // Listed at 1.5 s: the short claim dies at 2 s, inside the window.
        let report = sweep(from_start(1500));
        assert!(report.is_empty());
        assert_eq!(report.next_dead, Some(dead_at));
        assert!(sweep(from_start(1900)).is_empty(), "spared, nothing is dead");
        let report = sweep(from_start(2100));
        assert_eq!(report.failed, vec![short.id.clone()], "taken back at its death");
        // A claim made after the listing that its own claim's look made,
        // killed by an outside rewrite: unseen until a second after that
        // listing.
        queue.enqueue("a", new_task(Some(3600))).unwrap();
        let late = queue.claim("a", "w").unwrap().unwrap().task;
        let listed = SweepHint::listed_of(&queue.runtime_dir(), &stream.name).unwrap();
        move_start_back(&queue, &stream, &late, Duration::from_secs(3 * 3600), false);
        let in_window = listed.at.saturating_add(Duration::from_millis(900));
        assert!(sweep(in_window).is_empty(), "spared: it changed since");
        let report = sweep(listed.at.saturating_add(Duration::from_millis(1000)));
        assert_eq!(report.failed, vec![late.id], "listed a second on");
    }

    /// An edit in place keeps the file's inode, so the hint cannot see it:
    /// it is trusted for at most [`super::super::sweep_hint::TRUST_FOR`],
    /// and the claim is taken back then.
    #[test]
    fn an_edit_in_place_is_seen_once_the_hint_is_no_longer_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue_in(dir.path());
        let stream = queue.stream("a").unwrap();
        for _ in 0..HINT_FROM + 4 {
            queue.enqueue("a", new_task(Some(3600))).unwrap();
            queue.claim("a", "w").unwrap().unwrap();
        }
        let sweep = |now| {
            let _lock = queue.spool.lock_stream(&stream.name).unwrap();
            queue.sweep_dead_hinted(&stream, now).unwrap()
        };
        let now = Timestamp::now();
        assert!(sweep(now).is_empty());
        let hint = dir
            .path()
            .join("runtime")
            .join(queue.runtime_dir().dir().file_name().unwrap())
            .join("a.claims");
        assert!(hint.is_file(), "{} holds the hint", hint.display());
        let task = claimed_tasks(&queue, &stream).remove(0);
        move_start_back(&queue, &stream, &task, Duration::from_secs(3 * 3600), true);
        let soon = now.saturating_add(Duration::from_secs(1));
        assert!(sweep(soon).is_empty(), "unseen while the hint is trusted");
        let later = now.saturating_add(super::super::sweep_hint::TRUST_FOR);
        let report = sweep(later);
        let taken: Vec<&TaskId> = report.requeued.iter().chain(&report.failed).collect();
        assert_eq!(taken, vec![&task.id], "taken back once it is not");
    }
}
