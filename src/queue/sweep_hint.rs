//! What a process without an index remembers of a stream's claims between
//! runs, so that a one-shot `claim`, `peek` or list need not read every
//! claimed file to learn that none is dead yet, nor `status` to count the
//! stale ones.
//!
//! Every look at a stream sweeps its dead claims first (see `touch`), and
//! a sweep must know when each claim turns dead: without a hint that is
//! one read and one JSON parse per running task, on every call. The hint
//! is one file per stream in the project's runtime folder (see
//! `runtime::dir`), `<stream>.claims`, holding for each claim the sweep
//! read: its file's inode number, when it turns stale and dead, and when
//! it was read. Counts of stale claims (`status`, `stream list`) use it
//! the same way, right after the sweep that wrote it.
//!
//! **It can only spare a read, never a sweep.** A sweep still lists
//! `claimed/`, and it skips reading a claim only when the hint knows that
//! id with the same inode number (the listing gives it with the name, for
//! free), read less than [`TRUST_FOR`] ago, and not yet dead. Anything
//! else is read as without a hint.
//! - Every SparkQ write of a claimed file renames a new file in (a claim,
//!   a heartbeat, a repair, a sync's copy), and a rename onto a name that
//!   still exists gets a new inode: the changed file is read again.
//! - For one id, SparkQ only ever moves the time it turns dead later (a
//!   heartbeat, a new claim after a requeue). So even a writer that
//!   removes a file and creates another that gets the same inode number
//!   back is harmless unless it moves the time earlier: only an outside
//!   edit can, and [`TRUST_FOR`] bounds how long it goes unseen. An edit in
//!   place (same inode) is bounded the same way.
//! - A claim that lags its folder (in flight, or left by a claimer that
//!   died) is never remembered: every sweep reads it.
//!
//! So the worst a wrong or hostile hint can do is delay taking back a dead
//! claim by [`TRUST_FOR`]; it cannot hand a task out twice or lose one,
//! since the sweep and the claim's rename decide as without it.
//!
//! The hint is read and written under the stream lock, like the sweep.
//! It is written whole to a temporary file and renamed into place, never
//! flushed (a crash loses a hint, not a task), and read only from a
//! runtime folder that is private to the user. Anything unexpected in it
//! (a torn or foreign file, someone else's) makes it empty.

use std::io::{Read, Write};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use crate::model::{Name, TaskId, Timestamp};
use crate::runtime::RuntimeDir;
use crate::spool::ClaimedFile;

/// How long a remembered claim is trusted without reading it again: the
/// longest an edit that SparkQ cannot see from the listing (in place, or
/// a removal and a new file that got the same inode number) goes unseen.
pub(super) const TRUST_FOR: Duration = Duration::from_secs(60);

/// The first line of a hint file: what it is and its format's version.
const HEADER: &str = "sparkq-claims 2";

/// The largest hint file read: about 85 bytes a claim, so room for about
/// a hundred thousand claims; a bigger file is not ours.
const MAX_HINT_BYTES: u64 = 8 << 20;

/// What a sweep learned from reading one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Known {
    /// The inode number of the file it read.
    pub(super) ino: u64,
    /// When the claim turns stale unless a heartbeat comes (counts show
    /// stale claims).
    pub(super) stale_at: Timestamp,
    /// When the claim turns dead unless a heartbeat comes.
    pub(super) dead_at: Timestamp,
    /// When it was read.
    pub(super) read_at: Timestamp,
}

/// The claims of one stream that a sweep read, as the last sweep in a
/// process without an index left them.
#[derive(Debug)]
pub(super) struct SweepHint {
    path: Option<PathBuf>,
    /// The file's text: each entry's id is a slice of it, so loading a
    /// hint of a thousand claims allocates nothing per claim.
    text: String,
    /// In id order, as the sweep lists `claimed/` and writes the hint.
    known: Vec<(Range<usize>, Known)>,
}

impl SweepHint {
    /// The hint of `stream` in the project's `runtime` folder; empty if
    /// there is none or it cannot be trusted.
    pub(super) fn load(runtime: &RuntimeDir, stream: &Name) -> SweepHint {
        let path = runtime.claims_hint(stream.as_str());
        let text = match runtime.check() {
            Ok(true) => read_text(&path).unwrap_or_default(),
            _ => String::new(),
        };
        let known = parse(&text).unwrap_or_default();
        SweepHint {
            path: Some(path),
            text,
            known,
        }
    }

    /// A hint that knows nothing.
    pub(super) fn empty() -> SweepHint {
        SweepHint {
            path: None,
            text: String::new(),
            known: Vec::new(),
        }
    }

    /// What the hint knows of `claim`, if it may be trusted `now`: the same
    /// file, read less than [`TRUST_FOR`] ago, and not dead yet.
    pub(super) fn trusted(&self, claim: &ClaimedFile, now: Timestamp) -> Option<Known> {
        let id = claim.id.as_str();
        let at = self
            .known
            .binary_search_by(|(range, _)| self.text[range.clone()].cmp(id))
            .ok()?;
        let known = self.known[at].1;
        let fresh = known.read_at <= now && now.since(known.read_at) < TRUST_FOR;
        (known.ino == claim.ino && fresh && now <= known.dead_at).then_some(known)
    }

    /// How many claims the hint knows.
    pub(super) fn len(&self) -> usize {
        self.known.len()
    }

    /// Replaces the hint with `known`, in `runtime` (made if missing). A
    /// hint that cannot be written is left as it was: the next sweep reads
    /// more, nothing else.
    pub(super) fn save(&self, runtime: &RuntimeDir, known: &[(&TaskId, Known)]) {
        let Some(path) = &self.path else {
            return;
        };
        let text = render(known);
        // Past what a load reads, a hint would be written on every sweep
        // and never used: with that many claims, every claim is read.
        if text.len() as u64 > MAX_HINT_BYTES || runtime.create().is_err() {
            return;
        }
        let Ok(mut temp) = tempfile::Builder::new()
            .prefix(".claims-")
            .tempfile_in(runtime.dir())
        else {
            return;
        };
        if temp.write_all(text.as_bytes()).is_ok() {
            let _ = temp.persist(path);
        }
    }
}

/// The text of a hint holding `known`, in the order given.
fn render(known: &[(&TaskId, Known)]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(HEADER.len() + 16 + known.len() * 88);
    text.push_str(HEADER);
    text.push('\n');
    for (id, k) in known {
        let _ = writeln!(
            text,
            "{} {} {} {} {id}",
            k.ino,
            k.stale_at.unix_micros(),
            k.dead_at.unix_micros(),
            k.read_at.unix_micros()
        );
    }
    let _ = writeln!(text, "end {}", known.len());
    text
}

/// The text of a hint file, or `None` if it is missing, too big, or not
/// the user's own regular file.
fn read_text(path: &std::path::Path) -> Option<String> {
    // A link where the hint should be is not followed, nor a FIFO waited on.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != crate::runtime::my_uid() || meta.len() > MAX_HINT_BYTES {
        return None;
    }
    let mut text = String::with_capacity(meta.len() as usize);
    file.take(MAX_HINT_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Parses a hint file's text into each claim's id (where it is in `text`)
/// and what is known of it: `None` unless the text is whole (its header,
/// then well-formed lines in strict id order, then `end <count>` matching
/// them).
fn parse(text: &str) -> Option<Vec<(Range<usize>, Known)>> {
    let body = text.strip_suffix('\n')?;
    let (body, count) = body.rsplit_once("\nend ")?;
    let mut lines = body.split('\n');
    if lines.next()? != HEADER {
        return None;
    }
    let mut known: Vec<(Range<usize>, Known)> = Vec::new();
    let mut last = "";
    let mut line_start = HEADER.len() + 1;
    for line in lines {
        let line_end = line_start + line.len();
        let mut fields = line.splitn(5, ' ');
        let ino = fields.next()?.parse().ok()?;
        let stale_at = micros(fields.next()?)?;
        let dead_at = micros(fields.next()?)?;
        let read_at = micros(fields.next()?)?;
        let id = fields.next()?;
        if !TaskId::is_valid(id) || id <= last {
            return None;
        }
        last = id;
        // The id is the line's last field.
        known.push((
            line_end - id.len()..line_end,
            Known {
                ino,
                stale_at,
                dead_at,
                read_at,
            },
        ));
        line_start = line_end + 1;
    }
    (count.parse::<usize>().ok()? == known.len()).then_some(known)
}

/// A time written as microseconds since the epoch.
fn micros(field: &str) -> Option<Timestamp> {
    let micros: u64 = field.parse().ok()?;
    Some(Timestamp::from_system(UNIX_EPOCH + Duration::from_micros(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: u64) -> Timestamp {
        Timestamp::from_system(UNIX_EPOCH + Duration::from_micros(micros))
    }

    fn runtime_in(dir: &tempfile::TempDir) -> RuntimeDir {
        RuntimeDir::under(dir.path(), false, dir.path(), "project")
    }

    /// `known` as `save` takes it.
    fn refs(known: &[(TaskId, Known)]) -> Vec<(&TaskId, Known)> {
        known.iter().map(|(id, k)| (id, *k)).collect()
    }

    /// What `hint` knows, with owned ids.
    fn entries(hint: &SweepHint) -> Vec<(TaskId, Known)> {
        hint.known
            .iter()
            .map(|(range, k)| (TaskId::parse(&hint.text[range.clone()]).unwrap(), *k))
            .collect()
    }

    /// A hint holding `known`, as a load of its file would make it.
    fn hint_of(known: &[(TaskId, Known)]) -> SweepHint {
        let text = render(&refs(known));
        SweepHint {
            path: None,
            known: parse(&text).unwrap(),
            text,
        }
    }

    #[test]
    fn a_saved_hint_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = runtime_in(&dir);
        let stream = Name::parse("a").unwrap();
        let mut known: Vec<(TaskId, Known)> = (0..40u64)
            .map(|n| {
                let k = Known {
                    ino: 1000 + n,
                    stale_at: at(1_789_999_999_500_000 + n),
                    dead_at: at(1_790_000_000_000_000 + n),
                    read_at: at(1_789_999_999_000_000),
                };
                (TaskId::generate(), k)
            })
            .collect();
        known.sort_by(|a, b| a.0.cmp(&b.0));
        SweepHint::load(&runtime, &stream).save(&runtime, &refs(&known));
        let back = SweepHint::load(&runtime, &stream);
        assert_eq!(entries(&back), known);
        for (id, k) in &known {
            let claim = ClaimedFile {
                id: id.clone(),
                ino: k.ino,
            };
            assert_eq!(back.trusted(&claim, k.read_at), Some(*k), "found by its id");
        }
        // Out of order is not what a sweep writes.
        known.swap(0, 1);
        SweepHint::load(&runtime, &stream).save(&runtime, &refs(&known));
        assert_eq!(SweepHint::load(&runtime, &stream).len(), 0);
    }

    #[test]
    fn a_hint_too_big_to_load_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = runtime_in(&dir);
        let stream = Name::parse("a").unwrap();
        let k = Known {
            ino: u64::MAX,
            stale_at: at(1_790_000_000_000_000),
            dead_at: at(1_790_000_000_000_000),
            read_at: at(1_790_000_000_000_000),
        };
        let mut known: Vec<(TaskId, Known)> = (0..120_000).map(|_| (TaskId::generate(), k)).collect();
        known.sort_by(|a, b| a.0.cmp(&b.0));
        known.dedup_by(|a, b| a.0 == b.0);
        SweepHint::load(&runtime, &stream).save(&runtime, &refs(&known));
        assert!(!runtime.claims_hint("a").exists(), "never written, never read");
        known.truncate(1_000);
        SweepHint::load(&runtime, &stream).save(&runtime, &refs(&known));
        assert_eq!(SweepHint::load(&runtime, &stream).len(), 1_000);
    }

    #[test]
    fn a_torn_or_foreign_hint_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = runtime_in(&dir);
        let stream = Name::parse("a").unwrap();
        let known = vec![(
            TaskId::generate(),
            Known {
                ino: 7,
                stale_at: at(1_500_000),
                dead_at: at(2_000_000),
                read_at: at(1_000_000),
            },
        )];
        SweepHint::load(&runtime, &stream).save(&runtime, &refs(&known));
        let path = runtime.dir().join("a.claims");
        let whole = std::fs::read_to_string(&path).unwrap();
        assert!(parse(&whole).is_some());
        // Cut anywhere short of the end: never taken as a hint.
        for cut in 0..whole.len() {
            assert!(
                parse(&whole[..cut]).is_none(),
                "cut at {cut}: {:?}",
                &whole[..cut]
            );
        }
        for bad in [
            whole.replace(HEADER, "sparkq-claims 1"),
            whole.replace("end 1", "end 2"),
            whole.replace(" 2000000 ", " -5 "),
            format!("{whole}extra\n"),
        ] {
            assert!(parse(&bad).is_none(), "{bad:?}");
        }
        // A link in its place is not followed.
        std::fs::remove_file(&path).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, &whole).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert_eq!(SweepHint::load(&runtime, &stream).len(), 0);
    }

    #[test]
    fn a_claim_is_trusted_only_unchanged_fresh_and_alive() {
        let claim = ClaimedFile {
            id: TaskId::generate(),
            ino: 42,
        };
        let read_at = at(10_000_000_000);
        let dead_at = read_at.saturating_add(Duration::from_secs(30));
        let hint = hint_of(&[(
            claim.id.clone(),
            Known {
                ino: 42,
                stale_at: read_at,
                dead_at,
                read_at,
            },
        )]);
        let later = |secs| read_at.saturating_add(Duration::from_secs(secs));
        assert!(hint.trusted(&claim, later(0)).is_some());
        assert!(
            hint.trusted(&claim, dead_at).is_some(),
            "dead only after its time"
        );
        assert!(hint.trusted(&claim, later(31)).is_none(), "dead: read again");
        let renamed = ClaimedFile {
            id: claim.id.clone(),
            ino: 43,
        };
        assert!(
            hint.trusted(&renamed, later(1)).is_none(),
            "a new file: read again"
        );
        let other = ClaimedFile {
            id: TaskId::generate(),
            ino: 42,
        };
        assert!(hint.trusted(&other, later(1)).is_none(), "another task");
        let long = hint_of(&[(
            claim.id.clone(),
            Known {
                ino: 42,
                stale_at: later(1800),
                dead_at: later(3600),
                read_at,
            },
        )]);
        assert!(long.trusted(&claim, later(59)).is_some());
        assert!(
            long.trusted(&claim, later(60)).is_none(),
            "trusted for a minute at most"
        );
        let before = Timestamp::from_system(read_at.to_system() - Duration::from_secs(1));
        assert!(
            long.trusted(&claim, before).is_none(),
            "a clock set back: read again"
        );
    }
}
