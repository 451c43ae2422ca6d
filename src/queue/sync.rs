//! `sparkq sync`: one safe round of sharing the spool with another
//! machine while workers run, through git or rsync.
//!
//! **git.** Adopt the settled dropped files; commit the spool alone (the
//! drops still being written are left out, see `spool::GitRepo`); fetch the branch's upstream and merge it;
//! settle what the merge left (`doctor --fix`, which reads both sides and
//! the working tree, see `settle`); commit; push. A merge that git refuses
//! because workers changed spool files since the commit, and a push the
//! upstream rejected because another machine pushed first, both go round
//! again. A merge that stops on files outside the spool is aborted and
//! reported: the user's own work is never merged by hand here, and never
//! committed (every add and commit is limited to the spool's paths).
//!
//! **rsync.** Adopt; pull with the safe flags (see `spool::rsync`);
//! settle; push the settled spool back. The other machine settles what it
//! received at its own next sync.
//!
//! While git merges or rsync copies into the spool, every stream's lock
//! is held: workers' claims and reports wait for it instead of racing it.
//!
//! Every round, good or bad, is recorded in `spool/.sync-status.json`
//! (never synced) for `sparkq status`.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{Queue, Result};
use crate::model::{StreamStatus, Timestamp};
use crate::spool::{self, GitRepo, MergeOutcome, PushOutcome, SYNC_STATUS_FILE};

/// How many times one sync goes round on a busy working tree or a moving
/// upstream before it gives up (and the next sync tries again).
const MAX_ROUNDS: usize = 8;

/// Where to sync with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncWith {
    /// The git repository holding the spool, with its branch's upstream.
    Git,
    /// Another spool folder, `PATH` or `HOST:PATH`.
    Rsync(String),
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// `git` or `rsync`.
    pub method: String,
    /// The upstream (`origin refs/heads/main`) or the rsync destination.
    pub with: String,
    pub started_at: Option<Timestamp>,
    pub took_ms: u64,
    pub ok: bool,
    pub dry_run: bool,
    /// Commits made of the spool (git).
    pub commits: usize,
    /// Whether the other side's changes were merged in (git), or how
    /// many files came in (rsync).
    pub merged: bool,
    pub received: usize,
    /// Commits (git) or files (rsync) sent.
    pub sent: usize,
    /// Uncommitted spool paths (git, `--dry-run`).
    pub local_changes: usize,
    /// Problems settled by `doctor --fix`.
    pub settled: usize,
    /// Rounds repeated: a busy working tree, or a push another machine
    /// beat.
    pub retries: usize,
    /// What doctor found and could not fix (needs a person).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Queue {
    /// Runs one sync (see the module doc) and records how it went.
    pub fn sync(&self, with: &SyncWith, dry_run: bool) -> Result<SyncReport> {
        let clock = Instant::now();
        let mut report = SyncReport {
            started_at: Some(Timestamp::now()),
            dry_run,
            ..SyncReport::default()
        };
        let outcome = match with {
            SyncWith::Git => self.sync_git(dry_run, &mut report),
            SyncWith::Rsync(dest) => self.sync_rsync(dest, dry_run, &mut report),
        };
        report.took_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.ok = outcome.is_ok();
        report.error = outcome.as_ref().err().map(ToString::to_string);
        if !dry_run {
            // The record is a convenience: failing to write it fails nothing.
            let path = self.spool.root().join(SYNC_STATUS_FILE);
            let _ = spool::write_atomic(&path, &spool::file_bytes(&report), false);
        }
        outcome.map(|()| report)
    }

    /// The last sync's record, if any.
    pub fn last_sync(&self) -> Option<SyncReport> {
        let bytes = self
            .spool
            .read_bytes(&self.spool.root().join(SYNC_STATUS_FILE))
            .ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn sync_git(&self, dry_run: bool, report: &mut SyncReport) -> Result<()> {
        let repo = GitRepo::open(self.spool.root())?;
        report.method = "git".into();
        report.with = repo.upstream();
        if dry_run {
            repo.fetch()?;
            report.local_changes = repo.changed_paths()?;
            (report.received, report.sent) = repo.divergence()?;
            return Ok(());
        }
        if repo.is_merging() {
            // A sync stopped half-way (killed): settle and conclude it.
            if !repo.merge_is_ours()? {
                return Err(sync_error(
                    "a git merge of your own is in progress".into(),
                    "Finish it (or git merge --abort), then sync again.",
                ));
            }
            self.settle_merge(&repo, report)?;
        }
        for _ in 0..MAX_ROUNDS {
            self.adopt_everywhere()?;
            report.commits += usize::from(repo.commit_spool("sparkq sync: work")?);
            repo.fetch()?;
            let merged = {
                let _locks = self.lock_every_stream()?;
                repo.merge_fetched("sparkq sync: merge")?
            };
            match merged {
                MergeOutcome::UpToDate => {}
                MergeOutcome::Busy => {
                    report.retries += 1;
                    continue;
                }
                MergeOutcome::Clean | MergeOutcome::Conflicted => {
                    report.merged = true;
                    self.settle_merge(&repo, report)?;
                }
            }
            let ahead = repo.divergence()?.1;
            if ahead == 0 {
                return Ok(());
            }
            match repo.push()? {
                PushOutcome::Pushed => {
                    report.sent += ahead;
                    return Ok(());
                }
                PushOutcome::Rejected => report.retries += 1,
            }
        }
        Err(sync_error(
            format!("gave up after {MAX_ROUNDS} rounds: the upstream or the spool kept changing"),
            "Nothing is half-done; the next sync picks up from here.",
        ))
    }

    /// Settles what a merge left and commits it (concluding the merge).
    /// A merge that stopped on paths outside the spool is aborted.
    fn settle_merge(&self, repo: &GitRepo, report: &mut SyncReport) -> Result<()> {
        let prefix = repo.spool_prefix()?;
        let outside: Vec<String> = repo
            .unmerged()?
            .into_iter()
            .filter(|p| !p.starts_with(&prefix))
            .collect();
        if !outside.is_empty() {
            repo.abort_merge()?;
            return Err(sync_error(
                format!(
                    "the merge of {} conflicts outside the spool: {}",
                    repo.upstream(),
                    outside.join(", ")
                ),
                "The merge was aborted. Merge your branch by hand (git pull), then sync again.",
            ));
        }
        // Before anything is staged: which index entries are git's (see
        // `spool::git`); kept if the merge recorded them already.
        repo.record_merge()?;
        let doctor = self.doctor(true)?;
        report.settled += doctor.findings.iter().filter(|f| f.fixed).count();
        report.needs_attention = doctor
            .findings
            .iter()
            .filter(|f| !f.fixed)
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect();
        report.commits += usize::from(repo.commit_spool("sparkq sync: settle")?);
        Ok(())
    }

    fn sync_rsync(&self, dest: &str, dry_run: bool, report: &mut SyncReport) -> Result<()> {
        report.method = "rsync".into();
        report.with = dest.to_owned();
        let local = spool::local_arg(self.spool.root());
        if !dry_run {
            self.adopt_everywhere()?;
        }
        report.received = {
            let _locks = self.lock_every_stream()?;
            spool::rsync(dest, &local, dry_run)?
        };
        if !dry_run {
            let doctor = self.doctor(true)?;
            report.settled = doctor.findings.iter().filter(|f| f.fixed).count();
            report.needs_attention = doctor
                .findings
                .iter()
                .filter(|f| !f.fixed)
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
        }
        report.sent = spool::rsync(&local, dest, dry_run)?;
        report.merged = report.received > 0;
        Ok(())
    }

    /// Holds every stream's lock, so that no worker moves or writes a task
    /// file while git or rsync writes into the spool: a file written in
    /// between could be overwritten unseen (a finish lost). Workers wait
    /// for the merge or the copy, not longer. Locks are taken in name order.
    fn lock_every_stream(&self) -> Result<Vec<spool::StreamLock>> {
        let mut names = self.spool.stream_names()?;
        names.sort();
        names.iter().map(|n| Ok(self.spool.lock_stream(n)?)).collect()
    }

    /// Adopts the settled dropped files of every active stream.
    fn adopt_everywhere(&self) -> Result<()> {
        for stream in self.all_streams()? {
            if stream.status == StreamStatus::Active {
                let lock = self.spool.lock_stream(&stream.name)?;
                self.touch(&stream, &lock)?;
            }
        }
        Ok(())
    }
}

fn sync_error(message: String, hint: &str) -> super::Error {
    super::Error::Spool(spool::Error::Sync {
        message,
        hint: hint.to_owned(),
    })
}
