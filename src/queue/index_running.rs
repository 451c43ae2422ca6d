//! The running claims of one stream's index, with what a claim asks of
//! them kept ready: which claims' times are not read yet, and when the
//! earliest of the others turns dead. Every look through the index (each
//! claim, each peek) asks both before it proposes an id; answered by
//! going over every claim, that cost grew with the running set, which the
//! index is there to keep out of a claim's cost (issue 12). Here each
//! costs a look at a set's first entry, and each change of a claim a few
//! set updates.

use std::collections::{BTreeMap, BTreeSet};

use super::Alive;
use crate::model::{TaskId, Timestamp};

/// The ids in `claimed/`, each with the moments its claim turns stale and
/// dead (`None` until the file is read), and the same ids by those
/// moments. Read through `Deref`; changed only through its methods, which
/// keep the orders in line with the claims.
#[derive(Debug, Default)]
pub(super) struct Running {
    claims: BTreeMap<TaskId, Option<Alive>>,
    /// The ids whose claim times are not read yet.
    unknown: BTreeSet<TaskId>,
    /// The read claims by the moment each turns dead.
    by_dead: BTreeSet<(Timestamp, TaskId)>,
    /// The read claims by the moment each turns stale.
    by_stale: BTreeSet<(Timestamp, TaskId)>,
}

impl std::ops::Deref for Running {
    type Target = BTreeMap<TaskId, Option<Alive>>;

    fn deref(&self) -> &BTreeMap<TaskId, Option<Alive>> {
        &self.claims
    }
}

impl FromIterator<(TaskId, Option<Alive>)> for Running {
    fn from_iter<I: IntoIterator<Item = (TaskId, Option<Alive>)>>(claims: I) -> Running {
        let mut running = Running::default();
        for (id, alive) in claims {
            running.set(id, alive);
        }
        running
    }
}

impl Running {
    /// `id` is claimed, its times `alive` (`None`: to be read).
    pub(super) fn set(&mut self, id: TaskId, alive: Option<Alive>) {
        self.forget_times(&id);
        match alive {
            Some(a) => {
                self.by_dead.insert((a.dead_at, id.clone()));
                self.by_stale.insert((a.stale_at, id.clone()));
            }
            None => {
                self.unknown.insert(id.clone());
            }
        }
        self.claims.insert(id, alive);
    }

    /// `id` is claimed; its times, if known, are kept.
    pub(super) fn add(&mut self, id: TaskId) {
        if !self.claims.contains_key(&id) {
            self.set(id, None);
        }
    }

    /// `id` is no longer claimed.
    pub(super) fn remove(&mut self, id: &TaskId) {
        self.forget_times(id);
        self.claims.remove(id);
    }

    /// Keeps only the claims whose ids `keep` accepts.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&TaskId) -> bool) {
        let gone: Vec<TaskId> = self.claims.keys().filter(|id| !keep(id)).cloned().collect();
        for id in &gone {
            self.remove(id);
        }
    }

    /// The ids whose claim times are not read yet.
    pub(super) fn unknown(&self) -> Vec<TaskId> {
        self.unknown.iter().cloned().collect()
    }

    /// When the earliest read claim turns dead.
    pub(super) fn next_dead(&self) -> Option<Timestamp> {
        self.by_dead.first().map(|(at, _)| *at)
    }

    /// How many read claims are stale at `now`.
    pub(super) fn stale_at(&self, now: Timestamp) -> usize {
        self.by_stale.iter().take_while(|(at, _)| *at < now).count()
    }

    /// Claims dead at `now` that a sweep left (a heartbeat came, a newer
    /// copy supersedes them) turn dead at `retry` instead, so that they are
    /// looked at again on their next event or then, not on every look.
    pub(super) fn postpone_dead(&mut self, now: Timestamp, retry: Timestamp) {
        let due: Vec<TaskId> = self
            .by_dead
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| id.clone())
            .collect();
        for id in due {
            if let Some(Some(alive)) = self.claims.get(&id).copied() {
                self.set(
                    id,
                    Some(Alive {
                        dead_at: retry,
                        ..alive
                    }),
                );
            }
        }
    }

    /// Takes the read times of `old` for the claims here whose times are
    /// not read (a listing that did not read them, swapped in for a
    /// current index).
    pub(super) fn keep_times_of(&mut self, old: &Running) {
        for id in self.unknown() {
            if let Some(Some(alive)) = old.get(&id).copied() {
                self.set(id, Some(alive));
            }
        }
    }

    fn forget_times(&mut self, id: &TaskId) {
        match self.claims.get(id) {
            Some(Some(a)) => {
                self.by_dead.remove(&(a.dead_at, id.clone()));
                self.by_stale.remove(&(a.stale_at, id.clone()));
            }
            Some(None) => {
                self.unknown.remove(id);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(stale: u64, dead: u64) -> Option<Alive> {
        let at = |s: u64| Timestamp::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        Some(Alive {
            stale_at: at(stale),
            dead_at: at(dead),
        })
    }

    /// Every order agrees with the claims, whatever changed them.
    fn check(running: &Running) {
        let unknown: BTreeSet<TaskId> = running
            .claims
            .iter()
            .filter(|(_, a)| a.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(running.unknown, unknown);
        let by = |f: fn(&Alive) -> Timestamp| -> BTreeSet<(Timestamp, TaskId)> {
            running
                .claims
                .iter()
                .filter_map(|(id, a)| a.as_ref().map(|a| (f(a), id.clone())))
                .collect()
        };
        assert_eq!(running.by_dead, by(|a| a.dead_at));
        assert_eq!(running.by_stale, by(|a| a.stale_at));
    }

    #[test]
    fn the_orders_follow_every_change_of_the_claims() {
        let ids: Vec<TaskId> = (0..5).map(|_| TaskId::generate()).collect();
        let mut running: Running = [(ids[0].clone(), None), (ids[1].clone(), alive(10, 20))]
            .into_iter()
            .collect();
        check(&running);
        let secs = |s: u64| Timestamp::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(running.next_dead(), Some(secs(20)));
        running.set(ids[0].clone(), alive(5, 8));
        running.set(ids[2].clone(), alive(30, 40));
        running.add(ids[3].clone());
        running.add(ids[2].clone());
        check(&running);
        assert_eq!(running.unknown(), vec![ids[3].clone()], "add keeps known times");
        assert_eq!(running.next_dead(), Some(secs(8)));
        assert_eq!(running.stale_at(secs(11)), 2);
        running.postpone_dead(secs(20), secs(100));
        check(&running);
        assert_eq!(
            running.next_dead(),
            Some(secs(40)),
            "the due ones wait for the retry"
        );
        running.remove(&ids[2]);
        running.retain(|id| *id != ids[3]);
        check(&running);
        assert_eq!(running.next_dead(), Some(secs(100)));
        assert!(running.unknown().is_empty());
        let mut listed: Running = [(ids[1].clone(), None), (ids[4].clone(), None)]
            .into_iter()
            .collect();
        listed.keep_times_of(&running);
        check(&listed);
        assert_eq!(listed.unknown(), vec![ids[4].clone()]);
        assert_eq!(
            listed.get(&ids[1]).copied().flatten().map(|a| a.dead_at),
            Some(secs(100))
        );
    }
}
