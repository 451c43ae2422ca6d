//! What an unfinished `git merge` knows about spool files: which paths it
//! could not merge, and the exact version of each side at any path.
//!
//! Why ask git rather than read the files: git's merge always detects
//! renames (the `ort` strategy ignores `merge.renames=false`). A task that
//! moved folders on one side and was rewritten in place on the other (a
//! claim re-queued into `pending/` while the other side claimed it from
//! there) is merged *into* the moved file, and task files of different
//! tasks look alike enough to be paired too. The working-tree file is then
//! a blend, with or without conflict markers; the two commits being merged
//! hold the pure versions. Outside a git work tree, or with git not
//! installed, there is nothing to ask and the caller reads the files.
//!
//! **What git wrote, and what was staged since.** A path whose index blob
//! is neither side's is git's blend, unless something staged the working
//! tree's own file there after the merge: `sparkq sync` stages the spool
//! before it concludes a merge, and one that was killed (or failed) in
//! between leaves a worker's finish staged in the index of a merge still in
//! progress. Taking that finish for a blend drops it (a result `sync_live` lost). So `sync`
//! records, right after its merge and before anything is staged, the blob
//! git left at every path ([`record_merge`]); while that merge is in
//! progress, only a path whose index still holds the recorded blob can be
//! git's work. A merge made by hand has no record, and the index is read
//! as git's, as before.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::model::TaskId;

/// The state of a merge in the work tree holding the spool.
#[derive(Debug, Default)]
pub(crate) struct GitMerge {
    root: PathBuf,
    /// Whether a merge is in progress (`MERGE_HEAD` exists).
    merging: bool,
    /// Unmerged paths, with their index stages 2 and 3.
    unmerged: BTreeMap<PathBuf, Vec<Vec<u8>>>,
    /// During a merge, the blob of every path in `HEAD` and `MERGE_HEAD`.
    sides: [BTreeMap<PathBuf, String>; 2],
    /// When the merge started (`MERGE_HEAD` was written).
    started: Option<SystemTime>,
    /// During a merge, the blob the index holds at every merged path.
    index: BTreeMap<PathBuf, String>,
    /// During a merge, the files changed in the working tree since git
    /// wrote them (or never added): a worker's work, not git's.
    local: BTreeSet<PathBuf>,
    /// During a merge `sparkq sync` made, the blob git left at every path
    /// (its record, see [`record_merge`]); `None` for a merge made by hand.
    written: Option<BTreeMap<PathBuf, String>>,
}

impl GitMerge {
    /// Asks git about the work tree `root` is in; empty if none.
    pub(crate) fn detect(root: &Path) -> GitMerge {
        let mut merge = GitMerge {
            root: root.to_owned(),
            ..GitMerge::default()
        };
        merge.merging = git(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"]).is_some();
        // Outside a merge only the unmerged paths matter (a rebase, a
        // cherry-pick); during one, every index entry.
        let which = if merge.merging { "--stage" } else { "--unmerged" };
        let Some(listing) = git(root, &["ls-files", which, "-z", "--", "."]) else {
            return merge;
        };
        if merge.merging {
            for (i, side) in ["HEAD", "MERGE_HEAD"].iter().enumerate() {
                merge.sides[i] = tree(root, side);
            }
            let marker = git(root, &["rev-parse", "--git-path", "MERGE_HEAD"]).unwrap_or_default();
            let marker = root.join(String::from_utf8_lossy(&marker).trim());
            merge.started = std::fs::metadata(marker).and_then(|m| m.modified()).ok();
            let untracked = git(root, &["ls-files", "--others", "-z", "--", "."]).unwrap_or_default();
            let changed =
                git(root, &["diff", "--name-only", "--relative", "-z", "--", "."]).unwrap_or_default();
            merge.written = read_record(root);
            merge.local = [untracked, changed]
                .iter()
                .flat_map(|l| l.split(|b| *b == 0))
                .filter(|p| !p.is_empty())
                .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
                .collect();
        }
        for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            // "<mode> <object> <stage>\t<path>", the path relative to `root`.
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split(' ').collect();
            let Some((object, stage)) = fields.get(1).zip(fields.get(2)) else {
                continue;
            };
            if *stage == "0" {
                merge.index.insert(root.join(path), (*object).to_owned());
                continue;
            }
            let stages = merge.unmerged.entry(root.join(path)).or_default();
            if *stage != "1"
                && let Some(bytes) = git(root, &["cat-file", "blob", object])
            {
                stages.push(bytes);
            }
        }
        merge
    }

    /// Whether a merge is in progress.
    pub(crate) fn is_merging(&self) -> bool {
        self.merging
    }

    /// Whether a merge is in progress in the work tree `root` is in; one
    /// cheap question, for callers that need nothing else.
    pub(crate) fn in_progress(root: &Path) -> bool {
        git(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"]).is_some()
    }

    /// Whether git left `path` unmerged.
    pub(crate) fn is_unmerged(&self, path: &Path) -> bool {
        self.unmerged.contains_key(path)
    }

    /// Whether the two sides being merged differ at any of `paths`: the
    /// files there changed since the merge base on at least one side, so
    /// the working tree may hold what git made of them rather than either.
    pub(crate) fn differs(&self, paths: &[PathBuf]) -> bool {
        self.merging && paths.iter().any(|p| self.sides[0].get(p) != self.sides[1].get(p))
    }

    /// Whether the working-tree file at `path` may be git's work, a blend
    /// that neither side wrote, rather than a version to read:
    /// - an unmerged path written no later than the merge began;
    /// - a merged path whose index blob is neither side's (git combined
    ///   them), unless the file changed since git wrote it.
    ///
    /// Everything else is read as a copy like any other: a file git took
    /// whole from one side, and the working tree's own state, a third side
    /// that may be newer than both commits (a worker that finished after
    /// the last commit, or during the merge). Its file is untracked or
    /// differs from the index, which git never leaves behind itself.
    pub(crate) fn may_be_merged(&self, path: &Path) -> bool {
        if self.is_unmerged(path) {
            let written = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            return !matches!((written, self.started), (Some(w), Some(s)) if w > s);
        }
        if !self.merging || self.local.contains(path) {
            return false;
        }
        let Some(blob) = self.index.get(path) else {
            return false;
        };
        // Staged after git wrote it (see the module doc): the working
        // tree's own, read like any copy.
        if self.written.as_ref().is_some_and(|w| w.get(path) != Some(blob)) {
            return false;
        }
        self.sides.iter().all(|side| side.get(path) != Some(blob))
    }

    /// The ids of the task files either side holds under `stream_dir`, so
    /// that a task git removed from the working tree altogether (its file
    /// paired with another task's) is still settled.
    pub(crate) fn task_ids(&self, stream_dir: &Path) -> BTreeSet<TaskId> {
        self.sides
            .iter()
            .flat_map(|side| side.keys())
            .filter(|p| p.parent().and_then(Path::parent) == Some(stream_dir))
            .filter_map(|p| TaskId::from_file_name(p.file_name()?.to_str()?))
            .collect()
    }

    /// The versions of both sides at `path`: from `HEAD` and `MERGE_HEAD`
    /// during a merge, else the index stages (a rebase, a cherry-pick).
    pub(crate) fn sides_at(&self, path: &Path) -> Vec<Vec<u8>> {
        if !self.merging {
            return self.unmerged.get(path).cloned().unwrap_or_default();
        }
        self.sides
            .iter()
            .filter_map(|side| side.get(path))
            .filter_map(|object| git(&self.root, &["cat-file", "blob", object]))
            .collect()
    }
}

/// Where, in the git folder, `sparkq sync` records what its merge wrote.
const MERGE_RECORD: &str = "sparkq-merge-written";

/// Records, for the merge in progress in the work tree `root` is in, the
/// blob git left at every path under `root`: the index's merged entries,
/// and for a path git could not merge the file it wrote there. Call it
/// right after `git merge` stopped, before anything is staged; a record
/// already there for this merge is kept (it is the earlier, truer one).
/// The record names the merge (`MERGE_HEAD`), so a stale one is ignored.
/// With no merge in progress (it was clean) there is nothing to record.
pub(crate) fn record_merge(root: &Path) -> std::io::Result<()> {
    let fail = |what: &str| std::io::Error::other(format!("git {what} failed"));
    let Some(head) = git(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"]) else {
        return Ok(());
    };
    let head = String::from_utf8_lossy(&head).trim().to_owned();
    if read_record_for(root, &head).is_some() {
        return Ok(());
    }
    let listing = git(root, &["ls-files", "--stage", "-z", "--", "."]).ok_or_else(|| fail("ls-files"))?;
    let mut record = format!("{head}\0");
    let mut unmerged = BTreeSet::new();
    for entry in listing.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let fields: Vec<&str> = meta.split(' ').collect();
        match (fields.get(1), fields.get(2)) {
            (Some(object), Some(&"0")) => record.push_str(&format!("{object}\t{path}\0")),
            (Some(_), Some(_)) => {
                unmerged.insert(path.to_owned());
            }
            _ => {}
        }
    }
    for path in unmerged.iter().filter(|p| root.join(p).is_file()) {
        if let Some(object) = git(root, &["hash-object", "--", path]) {
            let object = String::from_utf8_lossy(&object).trim().to_owned();
            record.push_str(&format!("{object}\t{path}\0"));
        }
    }
    let at = record_path(root).ok_or_else(|| fail("rev-parse --git-path"))?;
    crate::spool::write_atomic(&at, record.as_bytes(), false)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Removes the record of a merge once it is committed: it names that
/// merge, so it would only be ignored from then on, and `.git` keeps no
/// dead files of ours. Best effort: a record left behind is harmless.
pub(crate) fn forget_merge(root: &Path) {
    if let Some(at) = record_path(root) {
        let _ = std::fs::remove_file(at);
    }
}

fn record_path(root: &Path) -> Option<PathBuf> {
    let at = git(root, &["rev-parse", "--git-path", MERGE_RECORD])?;
    Some(root.join(String::from_utf8_lossy(&at).trim()))
}

/// The record of the merge in progress, if `sync` made one for it.
fn read_record(root: &Path) -> Option<BTreeMap<PathBuf, String>> {
    let head = git(root, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])?;
    read_record_for(root, String::from_utf8_lossy(&head).trim())
}

fn read_record_for(root: &Path, head: &str) -> Option<BTreeMap<PathBuf, String>> {
    let bytes = std::fs::read(record_path(root)?).ok()?;
    let mut parts = bytes.split(|b| *b == 0);
    if parts.next()? != head.as_bytes() {
        return None;
    }
    Some(
        parts
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (object, path) = entry.split_once('\t')?;
                Some((root.join(path), object.to_owned()))
            })
            .collect(),
    )
}

/// Every file of commit `rev` under `root`: absolute path → blob id.
fn tree(root: &Path, rev: &str) -> BTreeMap<PathBuf, String> {
    let listing = git(root, &["ls-tree", "-r", "-z", rev, "--", "."]).unwrap_or_default();
    listing
        .split(|b| *b == 0)
        .filter_map(|entry| {
            // "<mode> blob <object>\t<path>"
            let entry = String::from_utf8_lossy(entry);
            let (meta, path) = entry.split_once('\t')?;
            let object = meta.split(' ').nth(2)?;
            Some((root.join(path), object.to_owned()))
        })
        .collect()
}

fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}
