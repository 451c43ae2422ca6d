//! The oracle of `sync_live`: what the scenario's threads saw happen (the
//! ledger) and the counts of issue 14's table, taken over both machines
//! after the final sync.

use std::collections::{BTreeMap, BTreeSet};

use crate::sync_support::{Machine, finishes};

/// What happened during a run, as the threads saw it.
#[derive(Default)]
pub struct Ledger {
    /// Ids of accepted enqueues.
    pub enqueued: BTreeSet<String>,
    /// Drop markers (the payload's script_path) of files dropped in.
    pub dropped: BTreeSet<String>,
    /// (id, summary) of every completion that returned success.
    pub completed: Vec<(String, String)>,
    /// Purged ids, with the finish notes the purged copy held.
    pub purged: BTreeMap<String, BTreeSet<String>>,
    /// Drop markers of purged tasks (they are gone on purpose).
    pub purged_markers: BTreeSet<String>,
    /// Hand procedure: pulls git refused before merging.
    pub pull_refusals: usize,
}

/// The counts of the table (see `tally`).
#[derive(Debug, Default)]
pub struct Counts {
    pub lost_results: usize,
    pub purged_back: usize,
    pub double_adoptions: usize,
    pub blended_drops: usize,
    /// Accepted enqueues or drops that are not there exactly once.
    pub missing: usize,
    /// Purged tasks that came back holding a finish the purge never saw.
    pub returned_with_news: usize,
    pub identical: bool,
    pub doctor_clean: bool,
}

/// Counts, over both machines, everything the table counts.
pub fn tally(ledger: &Ledger, machines: [&Machine; 2]) -> Counts {
    let mut c = Counts {
        identical: spool_files(machines[0]) == spool_files(machines[1]),
        doctor_clean: machines
            .iter()
            .all(|m| m.queue.doctor(false).is_ok_and(|r| r.clean)),
        ..Counts::default()
    };
    for m in machines {
        let tasks = m.tasks_in_every_stream();
        let mut copies: BTreeMap<String, usize> = BTreeMap::new();
        for path in spool_files(m).keys() {
            if let Some(id) = path
                .rsplit('/')
                .next()
                .and_then(|n| n.strip_suffix(".json"))
                .filter(|n| n.starts_with("tsk_") && !path.contains("/purged/"))
            {
                *copies.entry(id.to_owned()).or_default() += 1;
            }
        }
        for id in ledger
            .enqueued
            .iter()
            .filter(|id| !ledger.purged.contains_key(*id))
        {
            c.missing += usize::from(copies.get(id) != Some(&1));
        }
        let mut by_marker: BTreeMap<&str, usize> = BTreeMap::new();
        for t in tasks.values() {
            if let Some(marker) = t.payload.get("script_path").and_then(|v| v.as_str()) {
                *by_marker.entry(marker).or_default() += 1;
            }
            let blended = t.error.as_deref().is_some_and(|e| e.contains("not valid JSON"));
            c.blended_drops += usize::from(blended);
            if blended && std::env::var("SPARKQ_SYNC_DEBUG").is_ok() {
                eprintln!(
                    "blended on {}: {:?}\n{}",
                    m.name,
                    t.error,
                    t.original.as_deref().unwrap_or_default()
                );
            }
        }
        for marker in ledger
            .dropped
            .iter()
            .filter(|d| !ledger.purged_markers.contains(*d))
        {
            match by_marker.get(marker.as_str()) {
                Some(1) => {}
                Some(_) => {
                    c.double_adoptions += 1;
                    if std::env::var("SPARKQ_SYNC_DEBUG").is_ok() {
                        for t in tasks
                            .values()
                            .filter(|t| t.payload.get("script_path").and_then(|v| v.as_str()) == Some(marker))
                        {
                            eprintln!(
                                "double on {}: {} {:?} created {:?} error {:?}",
                                m.name, t.id, t.status, t.created_at, t.error
                            );
                        }
                    }
                }
                None => c.missing += 1,
            }
        }
        // A completion of a purged task is kept if the purged copy held it
        // (it was purged on purpose) or the task came back holding it.
        for (id, summary) in &ledger.completed {
            let purged = ledger.purged.get(id).is_some_and(|notes| notes.contains(summary));
            let kept = purged
                || tasks
                    .get(id)
                    .is_some_and(|t| finishes(t).iter().any(|f| &f.3 == summary));
            c.lost_results += usize::from(!kept);
            if !kept && std::env::var("SPARKQ_SYNC_DEBUG").is_ok() {
                let t = tasks.get(id);
                eprintln!(
                    "lost on {}: {id} {summary:?} purged={:?} now {:?}",
                    m.name,
                    ledger.purged.get(id),
                    t.map(|t| (t.status, t.attempts, finishes(t)))
                );
            }
        }
        // A purged task is back if it returned with nothing the purge had
        // not seen; one that returns holding a finish reported elsewhere
        // after (or unseen by) the purge keeps that result, as it must.
        for (id, notes) in &ledger.purged {
            if let Some(t) = tasks.get(id) {
                let new = finishes(t).iter().any(|f| !notes.contains(&f.3));
                c.purged_back += usize::from(!new);
                c.returned_with_news += usize::from(new);
            }
        }
        if std::env::var("SPARKQ_SYNC_DEBUG").is_ok() {
            for id in ledger.purged.keys().filter(|id| tasks.contains_key(*id)).take(3) {
                let t = &tasks[id];
                eprintln!(
                    "back on {}: {id} {:?} attempts {} token {:?} conflicts {:?}",
                    m.name,
                    t.status,
                    t.attempts,
                    t.claim_token,
                    t.conflicts
                        .iter()
                        .map(|c| (c.attempt, c.status, c.claim_token.clone()))
                        .collect::<Vec<_>>()
                );
                let t = &tasks[id];
                let stone = m
                    .spool()
                    .join("streams")
                    .join(t.stream.as_str())
                    .join("purged")
                    .join(format!("{id}.json"));
                eprintln!("tombstone: {:?}", std::fs::read_to_string(stone));
            }
        }
    }
    c
}

/// The spool's synced files (not locks, temp files or the sync record).
pub fn spool_files(m: &Machine) -> BTreeMap<String, Vec<u8>> {
    m.files()
        .into_iter()
        .filter(|(p, _)| {
            !p.ends_with(".sync-status.json")
                && !p
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".") && n != ".keep" && n != ".gitignore")
        })
        .collect()
}

/// Listing every task of every stream, ended or not.
pub trait EveryStream {
    fn tasks_in_every_stream(&self) -> BTreeMap<String, sparkq::model::Task>;
}

impl EveryStream for Machine {
    /// Every task of every stream, ended or not, by id.
    fn tasks_in_every_stream(&self) -> BTreeMap<String, sparkq::model::Task> {
        let mut filter = sparkq::queue::TaskFilter {
            limit: Some(sparkq::queue::MAX_PAGE),
            ..Default::default()
        };
        let mut all = BTreeMap::new();
        loop {
            let page = self.queue.list_tasks(&filter).expect("list");
            all.extend(page.tasks.into_iter().map(|t| (t.id.to_string(), t)));
            match page.next_cursor {
                Some(next) => filter.before = Some(next.to_string()),
                None => break,
            }
        }
        all
    }
}
