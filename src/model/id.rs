//! Task ids: `tsk_` + 11 characters of time + 8 random characters.
//!
//! Ids sort, as plain strings, in enqueue order: the time part is the
//! enqueue time in microseconds, written in fixed-width lowercase Crockford
//! base32 (whose alphabet is in ASCII order). Within one process the time
//! part never repeats or goes back, so a batch keeps its order; the random
//! tail keeps two machines from ever minting the same id.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize};

use super::Timestamp;

const PREFIX: &str = "tsk_";
const TIME_CHARS: usize = 11;
const RANDOM_CHARS: usize = 8;
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The last time part handed out by this process, for monotonic ids.
static LAST_MICROS: AtomicU64 = AtomicU64::new(0);

/// A validated task id; safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// A fresh id for a task enqueued now.
    pub fn generate() -> TaskId {
        Self::generate_at(Timestamp::now())
    }

    /// A fresh id whose time part is `at` (or just after the last id this
    /// process made, if that is later), used to keep a dropped file's
    /// arrival order. A time in the future counts as now: a file's
    /// modification time is anyone's to set, and a far one would push every
    /// later id of this process past what the time part can hold.
    pub fn generate_at(at: Timestamp) -> TaskId {
        let wanted = at.unix_micros().min(Timestamp::now().unix_micros());
        let mut last = LAST_MICROS.load(Ordering::Relaxed);
        let micros = loop {
            let next = wanted.max(last.saturating_add(1));
            match LAST_MICROS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break next,
                Err(actual) => last = actual,
            }
        };
        let mut id = String::with_capacity(PREFIX.len() + TIME_CHARS + RANDOM_CHARS);
        id.push_str(PREFIX);
        for i in (0..TIME_CHARS).rev() {
            id.push(ALPHABET[((micros >> (5 * i)) & 31) as usize] as char);
        }
        for _ in 0..RANDOM_CHARS {
            id.push(ALPHABET[fastrand::usize(..32)] as char);
        }
        TaskId(id)
    }

    /// The id of a dropped file: the same on every machine that adopts
    /// the same file, so that a drop synced before it was adopted becomes
    /// one task however many machines adopt it. The time part is `at` to
    /// the whole second (the file's arrival, as `rsync -a` keeps it); the
    /// tail is a hash of `key` (the stream, the file name and its bytes)
    /// instead of random, and orders drops of the same second. A time in
    /// the future counts as now, as in [`TaskId::generate_at`].
    pub fn for_drop(at: Timestamp, key: &[&[u8]]) -> TaskId {
        let micros = at.unix_micros().min(Timestamp::now().unix_micros()) / 1_000_000 * 1_000_000;
        // FNV-1a, 64 bits: stable across builds and machines, unlike std's
        // hasher; a separator keeps ("ab", "c") and ("a", "bc") apart.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in key {
            for byte in part.iter().chain(&[0xff]) {
                hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        let mut id = String::with_capacity(PREFIX.len() + TIME_CHARS + RANDOM_CHARS);
        id.push_str(PREFIX);
        for i in (0..TIME_CHARS).rev() {
            id.push(ALPHABET[((micros >> (5 * i)) & 31) as usize] as char);
        }
        for i in (0..RANDOM_CHARS).rev() {
            id.push(ALPHABET[((hash >> (5 * i)) & 31) as usize] as char);
        }
        TaskId(id)
    }

    /// The smallest id string a task enqueued at or after `at` can have:
    /// the prefix and the time part, without a random tail. Every such id
    /// sorts at or above it; it is not a valid id itself.
    pub fn floor_at(at: Timestamp) -> String {
        let micros = at.unix_micros();
        let mut floor = String::with_capacity(PREFIX.len() + TIME_CHARS);
        floor.push_str(PREFIX);
        for i in (0..TIME_CHARS).rev() {
            floor.push(ALPHABET[((micros >> (5 * i)) & 31) as usize] as char);
        }
        floor
    }

    /// Validates an id given by a user or found as a file name.
    pub fn parse(s: &str) -> Option<TaskId> {
        Self::is_valid(s).then(|| TaskId(s.to_owned()))
    }

    /// Whether `s` is a valid id; [`TaskId::parse`] without the allocation,
    /// for scanning large folders.
    pub fn is_valid(s: &str) -> bool {
        s.strip_prefix(PREFIX).is_some_and(|body| {
            (1..=64).contains(&body.len())
                && body
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
    }

    /// The id of the task whose file is named `file_name` (`<id>.json`).
    pub fn from_file_name(file_name: &str) -> Option<TaskId> {
        Self::parse(file_name.strip_suffix(".json")?)
    }

    /// The file name a task with this id is stored under.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.0)
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid task id {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_generation_order() {
        let ids: Vec<TaskId> = (0..1000).map(|_| TaskId::generate()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids.iter().all(|id| id.as_str().len() == 23));
    }

    #[test]
    fn a_drop_gets_the_same_id_everywhere_and_keeps_its_second() {
        let at = Timestamp::from_system(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_250_000),
        );
        let later = Timestamp::from_system(
            std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_001_000_000),
        );
        let id = TaskId::for_drop(at, &[b"q", b"job.json", b"{}"]);
        assert_eq!(id, TaskId::for_drop(at, &[b"q", b"job.json", b"{}"]));
        assert_ne!(id, TaskId::for_drop(at, &[b"q", b"job.json", b"{ }"]));
        assert_ne!(id, TaskId::for_drop(at, &[b"q", b"job.jso", b"n{}"]));
        assert_ne!(id, TaskId::for_drop(at, &[b"r", b"job.json", b"{}"]));
        assert!(id < TaskId::for_drop(later, &[b"q", b"a.json", b"{}"]));
        assert_eq!(TaskId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.as_str().len(), 23);
    }

    #[test]
    fn a_far_future_arrival_counts_as_now_and_keeps_later_ids_in_order() {
        let far = Timestamp::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1 << 60));
        let dropped = TaskId::generate_at(far);
        let next = TaskId::generate();
        assert!(dropped < next, "{dropped} < {next}");
        let soon = TaskId::floor_at(Timestamp::now().saturating_add(std::time::Duration::from_secs(1)));
        assert!(dropped.as_str() < soon.as_str(), "{dropped} is not in the future");
    }

    #[test]
    fn floor_sorts_between_earlier_and_later_ids() {
        let before = TaskId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let at = Timestamp::now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let after = TaskId::generate();
        let floor = TaskId::floor_at(at);
        assert!(before.as_str() < floor.as_str(), "{before} < {floor}");
        assert!(after.as_str() >= floor.as_str(), "{after} >= {floor}");
    }

    #[test]
    fn parse_accepts_ids_and_rejects_paths() {
        let id = TaskId::generate();
        assert_eq!(TaskId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(TaskId::from_file_name(&id.file_name()), Some(id));
        for bad in [
            "",
            "tsk_",
            "task_1",
            "tsk_../x",
            "tsk_a/b",
            "tsk_A",
            "../tsk_a",
            "tsk_a.json",
        ] {
            assert_eq!(TaskId::parse(bad), None, "{bad:?}");
        }
    }
}
