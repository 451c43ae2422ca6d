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
//! **It spares reads, and for a second the listing; never a sweep.** A
//! sweep lists `claimed/`, and it skips reading a claim only when the hint
//! knows that id with the same inode number (the listing gives it with the
//! name, for free), read less than [`TRUST_FOR`] ago, and not yet dead.
//! Anything else is read as without a hint.
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
//!
//! Listing `claimed/` costs as much as listing `pending/` (ext4 hashes
//! every name on each read), so with a thousand claims running it was a
//! third of a one-shot claim. The hint also records its sweep's listing:
//! when it began, and when the first claim it left running turns dead. A
//! sweep less than [`RELIST_AFTER`] after that listing, before that first
//! death, lists nothing and takes nothing back (see [`Listed::spares`]):
//! - every claim the listing saw is alive until that first death, unless
//!   an outside edit moved its death earlier since;
//! - a claim made since turns dead twice its timeout after it began, at
//!   least two seconds (timeouts are 1 s or more), so after the window;
//! - a claim the listing saw in flight counts as a death one second away,
//!   so it is looked at again then.
//!
//! What a spared sweep leaves for the next listing, at most [`RELIST_AFTER`]
//! later: a claimed file an outside tool renamed in already dead, and the
//! repair of one that a claimer killed after the listing left half-made
//! (its content still says queued; readers correct that in memory).
//!
//! So the worst a wrong or hostile hint can do is delay taking back a dead
//! claim by [`TRUST_FOR`] (by [`RELIST_AFTER`] for an edit that renames a
//! file in); it cannot hand a task out twice or lose one, since the sweep
//! and the claim's rename decide as without it, and a sweep that is spared
//! changes nothing.
//!
//! The hint is read and written under the stream lock, like the sweep.
//! It is written whole to a temporary file and renamed into place, never
//! flushed (a crash loses a hint, not a task), and read only from a
//! runtime folder that is private to the user. Anything unexpected in it
//! (a torn or foreign file, someone else's) makes it empty.

use std::io::{Read, Write};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::time::{Duration, UNIX_EPOCH};

use crate::model::{Name, TaskId, Timestamp};
use crate::runtime::RuntimeDir;
use crate::spool::ClaimedFile;

/// How long a remembered claim is trusted without reading it again: the
/// longest an edit that SparkQ cannot see from the listing (in place, or
/// a removal and a new file that got the same inode number) goes unseen.
pub(super) const TRUST_FOR: Duration = Duration::from_secs(60);

/// How long after a sweep listed `claimed/` the next sweep may trust that
/// listing instead of making one (see [`Listed::spares`]): less than the
/// shortest life of a claim made since, twice the 1-second minimum timeout.
pub(super) const RELIST_AFTER: Duration = Duration::from_secs(1);

/// The first line of a hint file: what it is and its format's version.
const HEADER: &str = "sparkq-claims 3";

/// How much of a hint file holds its header and its listing line, at most.
const HEAD_BYTES: usize = 96;

/// The listing of `claimed/` that the sweep which wrote a hint made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Listed {
    /// When the sweep began: a claim made or changed since may be missing
    /// from what the hint knows.
    pub(super) at: Timestamp,
    /// When the first claim that sweep left running turns dead (or must be
    /// looked at again), if any.
    pub(super) next_dead: Option<Timestamp>,
}

impl Listed {
    /// Whether a sweep at `now` may stand on this listing instead of
    /// listing `claimed/` again: less than [`RELIST_AFTER`] after it, and
    /// before any claim it saw turns dead. A clock set back lists again.
    pub(super) fn spares(&self, now: Timestamp) -> bool {
        self.at <= now && now.since(self.at) < RELIST_AFTER && self.next_dead.is_none_or(|dead| now < dead)
    }
}

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

/// One claim a hint knows: where its id is in the hint's text, and what
/// was learned of it.
type Entry = (Range<usize>, Known);

/// The claims of one stream that a sweep read, as the last sweep in a
/// process without an index left them.
#[derive(Debug)]
pub(super) struct SweepHint {
    /// The stream whose hint file this is; `None` for a hint of nothing.
    stream: Option<Name>,
    /// The file's text: each entry's id is a slice of it, so loading a
    /// hint of a thousand claims allocates nothing per claim.
    text: String,
    /// In id order, as the sweep lists `claimed/` and writes the hint.
    known: Vec<Entry>,
}

impl SweepHint {
    /// The hint of `stream` in the project's `runtime` folder; empty if
    /// there is none or it cannot be trusted.
    pub(super) fn load(runtime: &RuntimeDir, stream: &Name) -> SweepHint {
        let text = match runtime.check() {
            Ok(true) => read_text(&runtime.claims_hint(stream.as_str())).unwrap_or_default(),
            _ => String::new(),
        };
        let known = parse(&text).map(|(_, known)| known).unwrap_or_default();
        SweepHint {
            stream: Some(stream.clone()),
            text,
            known,
        }
    }

    /// The listing that the hint of `stream` was written after, read from
    /// the first line or two of the file alone: what a sweep asks first,
    /// so that one the listing spares reads nothing more.
    pub(super) fn listed_of(runtime: &RuntimeDir, stream: &Name) -> Option<Listed> {
        if !runtime.check().ok()? {
            return None;
        }
        let (file, _) = open_own(&runtime.claims_hint(stream.as_str()))?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        file.take(HEAD_BYTES as u64).read_to_end(&mut head).ok()?;
        let head = std::str::from_utf8(&head).ok()?;
        let mut lines = head.split('\n');
        if lines.next()? != HEADER {
            return None;
        }
        // The line must be whole: followed by another, or the file's end.
        let line = lines.next().filter(|_| lines.next().is_some())?;
        parse_listed(line)
    }

    /// A hint that knows nothing.
    pub(super) fn empty() -> SweepHint {
        SweepHint {
            stream: None,
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
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.known.len()
    }

    /// Replaces the hint with `known`, learned by a sweep whose listing is
    /// `listed`, in `runtime` (made if missing). A hint that cannot be
    /// written is left as it was: the next sweep reads more, nothing else.
    pub(super) fn save(&self, runtime: &RuntimeDir, listed: Listed, known: &[(&TaskId, Known)]) {
        let Some(stream) = &self.stream else {
            return;
        };
        let text = render(listed, known);
        // Past what a load reads, a hint would be written on every sweep
        // and never used: with that many claims, every claim is read.
        if text.len() as u64 > MAX_HINT_BYTES || runtime.create().is_err() {
            return;
        }
        // The stream lock is held: no other writer uses this temp name. A
        // link or FIFO planted there is neither followed nor waited on.
        let temp = runtime.claims_hint_temp(stream.as_str());
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&temp)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        if written.is_ok() {
            let _ = std::fs::rename(&temp, runtime.claims_hint(stream.as_str()));
        }
    }
}

/// The text of a hint written after `listed`, holding `known`, in the
/// order given.
fn render(listed: Listed, known: &[(&TaskId, Known)]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(HEAD_BYTES + 16 + known.len() * 88);
    text.push_str(HEADER);
    text.push('\n');
    let next_dead = listed
        .next_dead
        .map_or_else(|| "-".to_owned(), |t| t.unix_micros().to_string());
    let _ = writeln!(text, "listed {} {next_dead}", listed.at.unix_micros());
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

/// The hint file at `path`, open, and its size; `None` if it is missing,
/// too big, or not the user's own regular file.
fn open_own(path: &std::path::Path) -> Option<(std::fs::File, u64)> {
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
    Some((file, meta.len()))
}

/// The text of a hint file (see [`open_own`]).
fn read_text(path: &std::path::Path) -> Option<String> {
    let (file, len) = open_own(path)?;
    let mut text = String::with_capacity(len as usize);
    file.take(MAX_HINT_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Parses a hint file's text into the listing it was written after, and
/// each claim's id (where it is in `text`) and what is known of it: `None`
/// unless the text is whole (its header, its listing, then well-formed
/// lines in strict id order, then `end <count>` matching them).
fn parse(text: &str) -> Option<(Listed, Vec<Entry>)> {
    let body = text.strip_suffix('\n')?;
    let (body, count) = body.rsplit_once("\nend ")?;
    let mut lines = body.split('\n');
    if lines.next()? != HEADER {
        return None;
    }
    let listed_line = lines.next()?;
    let listed = parse_listed(listed_line)?;
    let mut known: Vec<Entry> = Vec::new();
    let mut last = "";
    let mut line_start = HEADER.len() + 1 + listed_line.len() + 1;
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
    (count.parse::<usize>().ok()? == known.len()).then_some((listed, known))
}

/// Parses the listing line: `listed <micros> <micros, or - if none>`.
fn parse_listed(line: &str) -> Option<Listed> {
    let mut fields = line.strip_prefix("listed ")?.split(' ');
    let at = micros(fields.next()?)?;
    let next_dead = match fields.next()? {
        "-" => None,
        field => Some(micros(field)?),
    };
    fields.next().is_none().then_some(Listed { at, next_dead })
}

/// A time written as microseconds since the epoch.
fn micros(field: &str) -> Option<Timestamp> {
    let micros: u64 = field.parse().ok()?;
    Some(Timestamp::from_system(UNIX_EPOCH + Duration::from_micros(micros)))
}

#[cfg(test)]
#[path = "sweep_hint_tests.rs"]
mod tests;
