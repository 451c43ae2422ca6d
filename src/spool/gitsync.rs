//! The git side of `sparkq sync`: committing the spool alone, fetching and
//! merging the branch's upstream, pushing. Only the spool's own paths are
//! ever added or committed (a pathspec, `git commit -- <spool>`); the
//! user's other changes, staged or not, stay as they are. Deciding what to
//! do with each outcome is `queue::sync`'s job.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::Error;

/// The file, in the spool folder, that records the last sync; never synced.
pub(crate) const SYNC_STATUS_FILE: &str = ".sync-status.json";

/// What `git merge` of the fetched upstream did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeOutcome {
    /// The upstream had nothing new.
    UpToDate,
    /// Merged (or fast-forwarded) without a conflict.
    Clean,
    /// Stopped with conflicts; the merge is in progress.
    Conflicted,
    /// Refused before starting because these spool files changed in the
    /// working tree since they were committed (workers at work): commit
    /// again and retry.
    Busy,
}

/// What `git push` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    Pushed,
    /// The upstream moved on since the fetch: fetch, merge, settle, retry.
    Rejected,
}

/// The repository holding a spool, on a branch with an upstream.
#[derive(Debug, Clone)]
pub(crate) struct GitRepo {
    /// The spool folder; every git command runs here, `.` is the spool.
    spool: PathBuf,
    /// The remote and the branch there (`origin`, `refs/heads/main`).
    remote: String,
    merge_ref: String,
    /// Whether the spool's `.gitignore` already leaves out the sync
    /// status file (git refuses an exclude pathspec naming an ignored one).
    status_ignored: bool,
}

impl GitRepo {
    /// The repository `spool` is in, with its current branch's upstream.
    pub(crate) fn open(spool: &Path) -> Result<GitRepo, Error> {
        let sync_error = |message: String, hint: &str| Error::Sync {
            message,
            hint: hint.to_owned(),
        };
        let run = |args: &[&str]| git(spool, args).ok().filter(|o| o.status.success());
        if run(&["rev-parse", "--is-inside-work-tree"]).is_none() {
            return Err(sync_error(
                format!("{} is not in a git work tree", spool.display()),
                "Commit the spool to a git repository with a remote, or sync with rsync: sparkq sync --rsync HOST:PATH/spool",
            ));
        }
        let branch = run(&["symbolic-ref", "-q", "--short", "HEAD"])
            .map(|o| text(&o.stdout))
            .ok_or_else(|| {
                sync_error(
                    "HEAD is detached".into(),
                    "Check out a branch with an upstream first.",
                )
            })?;
        let config = |key: String| run(&["config", "--get", &key]).map(|o| text(&o.stdout));
        let (Some(remote), Some(merge_ref)) = (
            config(format!("branch.{branch}.remote")),
            config(format!("branch.{branch}.merge")),
        ) else {
            return Err(sync_error(
                format!("branch '{branch}' has no upstream to sync with"),
                &format!("Set one: git branch --set-upstream-to=origin/{branch}"),
            ));
        };
        Ok(GitRepo {
            spool: spool.to_owned(),
            remote,
            merge_ref,
            status_ignored: run(&["check-ignore", "-q", "--no-index", SYNC_STATUS_FILE]).is_some(),
        })
    }

    /// The upstream, for messages (`origin refs/heads/main`).
    pub(crate) fn upstream(&self) -> String {
        format!("{} {}", self.remote, self.merge_ref)
    }

    /// Whether a merge is in progress in the repository.
    pub(crate) fn is_merging(&self) -> bool {
        self.ok(&["rev-parse", "-q", "--verify", "MERGE_HEAD"])
    }

    /// Whether the merge in progress is one `sparkq sync` started.
    pub(crate) fn merge_is_ours(&self) -> Result<bool, Error> {
        let path = text(&self.run(&["rev-parse", "--git-path", "MERGE_MSG"])?.stdout);
        let message = std::fs::read_to_string(self.spool.join(path)).unwrap_or_default();
        Ok(message.starts_with("sparkq sync:"))
    }

    /// The unmerged paths, relative to the repository's top.
    pub(crate) fn unmerged(&self) -> Result<Vec<String>, Error> {
        let out = self.run(&["diff", "--name-only", "--diff-filter=U", "-z"])?;
        Ok(out
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect())
    }

    /// The spool's prefix in the repository (`spool/`, or empty when the
    /// spool is the repository).
    pub(crate) fn spool_prefix(&self) -> Result<String, Error> {
        Ok(text(&self.run(&["rev-parse", "--show-prefix"])?.stdout))
    }

    /// How many spool paths differ from `HEAD` (uncommitted work).
    pub(crate) fn changed_paths(&self) -> Result<usize, Error> {
        let mut args = vec!["status", "--porcelain", "-z", "--untracked-files=all", "--", "."];
        let excluded = self.excludes();
        args.extend(excluded.iter().map(String::as_str));
        let out = self.run(&args)?;
        Ok(out.stdout.split(|b| *b == 0).filter(|p| p.len() > 3).count())
    }

    /// Stages every spool change and commits the spool alone with
    /// `message`; during a merge, concludes it (a merge commit takes the
    /// whole index, which the merge filled). Returns whether a commit was
    /// made.
    ///
    /// A dropped file that is not adopted yet (still being written) is
    /// never added: it travels only as the task its own machine makes of
    /// it, so two machines never adopt it twice. Tracked files are staged
    /// first (`add -u`, so that the deletion of a drop someone committed by
    /// hand goes in), then new ones but new drops; `commit -- .` takes only
    /// tracked paths, so a drop that appears in between stays out too.
    pub(crate) fn commit_spool(&self, message: &str) -> Result<bool, Error> {
        self.run(&["add", "-u", "--", "."])?;
        let excluded = self.excludes();
        let mut add = vec!["add", "-A", "--", "."];
        add.extend(excluded.iter().map(String::as_str));
        self.run(&add)?;
        let merging = self.is_merging();
        if !merging && self.ok(&["diff", "--cached", "--quiet", "--", "."]) {
            return Ok(false);
        }
        let mut commit = vec!["commit", "-q", "--no-verify", "-m", message];
        if !merging {
            commit.extend(["--", "."]);
        }
        let out = git(&self.spool, &commit).map_err(|e| self.failed("commit", &e.to_string()))?;
        if out.status.success() {
            if merging {
                super::forget_merge(&self.spool);
            }
            return Ok(true);
        }
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        // A worker moved the staged files on between add and commit.
        if said.contains("nothing to commit") || said.contains("no changes added") {
            return Ok(false);
        }
        Err(self.failed("commit", &said))
    }

    /// Fetches the upstream branch.
    pub(crate) fn fetch(&self) -> Result<(), Error> {
        self.run(&["fetch", "-q", &self.remote, &self.merge_ref])
            .map(|_| ())
    }

    /// How many commits `FETCH_HEAD` has that `HEAD` lacks, and the reverse.
    pub(crate) fn divergence(&self) -> Result<(usize, usize), Error> {
        let out = self.run(&["rev-list", "--left-right", "--count", "FETCH_HEAD...HEAD"])?;
        let counts: Vec<usize> = text(&out.stdout)
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        Ok((
            counts.first().copied().unwrap_or(0),
            counts.get(1).copied().unwrap_or(0),
        ))
    }

    /// Merges the fetched upstream into the current branch.
    pub(crate) fn merge_fetched(&self, message: &str) -> Result<MergeOutcome, Error> {
        if self.divergence()?.0 == 0 {
            return Ok(MergeOutcome::UpToDate);
        }
        let out = git(
            &self.spool,
            &[
                "merge",
                "-q",
                // Task files move between state folders and look alike:
                // rename detection pairs one task's moved or purged file
                // with another's and blends them, cleanly at times (then
                // no side is left to read). Without it, two sides that
                // moved a task differently conflict on its paths, and
                // doctor reads both. Note: git's default strategy, `ort`,
                // does not know this option and ignores it (git 2.47:
                // `-X no-renames` still reports rename/rename conflicts);
                // only `recursive` honours it, and newer gits make that
                // `ort` too. So renames are detected anyway, and doctor's
                // reading of both sides from git (`spool::git`) is what
                // keeps the blends harmless, not this flag.
                "-X",
                "no-renames",
                "--no-edit",
                "--no-verify",
                "-m",
                message,
                "FETCH_HEAD",
            ],
        )
        .map_err(|e| self.failed("merge", &e.to_string()))?;
        if out.status.success() {
            return Ok(MergeOutcome::Clean);
        }
        if self.is_merging() {
            // What git wrote, before anything is staged (see `spool::git`).
            self.record_merge()?;
            return Ok(MergeOutcome::Conflicted);
        }
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let prefix = self.spool_prefix()?;
        // "Your local changes to the following files would be overwritten"
        // or "untracked working tree files would be overwritten", then one
        // indented path a line.
        let listed: Vec<&str> = said
            .lines()
            .filter(|l| l.starts_with(['\t', ' ']))
            .map(str::trim)
            .collect();
        if said.contains("would be overwritten")
            && !listed.is_empty()
            && listed.iter().all(|p| p.starts_with(&prefix))
        {
            return Ok(MergeOutcome::Busy);
        }
        Err(Error::Sync {
            message: format!("git merge of {} refused: {}", self.upstream(), said.trim()),
            hint: "Your own changes outside the spool are in the way (sync commits only the spool): commit or stash them, then sync again.".into(),
        })
    }

    /// Records what the merge in progress wrote, unless it is recorded
    /// already (see `spool::git`); `settle` calls it again before its first
    /// look, for a merge whose sync stopped before recording it.
    pub(crate) fn record_merge(&self) -> Result<(), Error> {
        super::record_merge(&self.spool).map_err(|e| self.failed("merge", &e.to_string()))
    }

    /// Abandons a merge that touched more than the spool.
    pub(crate) fn abort_merge(&self) -> Result<(), Error> {
        self.run(&["merge", "--abort"]).map(|_| ())
    }

    /// Pushes the current branch to its upstream.
    pub(crate) fn push(&self) -> Result<PushOutcome, Error> {
        let refspec = format!("HEAD:{}", self.merge_ref);
        let out = git(
            &self.spool,
            &["push", "-q", "--no-verify", &self.remote, &refspec],
        )
        .map_err(|e| self.failed("push", &e.to_string()))?;
        if out.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        let said = text(&out.stderr);
        if [
            "rejected",
            "fetch first",
            "non-fast-forward",
            "stale info",
            "cannot lock ref",
        ]
        .iter()
        .any(|w| said.contains(w))
        {
            return Ok(PushOutcome::Rejected);
        }
        Err(self.failed("push", &said))
    }

    /// Pathspecs that leave out new dropped files (any name in a
    /// `pending/` folder that does not start with `tsk_`) and the sync
    /// status file.
    fn excludes(&self) -> Vec<String> {
        let mut excludes: Vec<String> = ["[!t]*", "t[!s]*", "ts[!k]*", "tsk[!_]*"]
            .iter()
            .map(|name| format!(":(exclude,glob)streams/*/pending/{name}"))
            .collect();
        if !self.status_ignored {
            excludes.push(format!(":(exclude,literal){SYNC_STATUS_FILE}"));
        }
        excludes
    }

    fn ok(&self, args: &[&str]) -> bool {
        git(&self.spool, args).is_ok_and(|o| o.status.success())
    }

    fn run(&self, args: &[&str]) -> Result<Output, Error> {
        let out = git(&self.spool, args).map_err(|e| self.failed(args[0], &e.to_string()))?;
        if !out.status.success() {
            return Err(self.failed(args[0], &format!("{}{}", text(&out.stdout), text(&out.stderr))));
        }
        Ok(out)
    }

    fn failed(&self, what: &str, said: &str) -> Error {
        Error::Sync {
            message: format!("git {what} failed in {}: {}", self.spool.display(), said.trim()),
            hint: "Nothing was left half-done; fix what git says and sync again.".into(),
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_MERGE_AUTOEDIT", "no")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_owned()
}
