//! The config cache: a one-shot command (`sparkq claim`, `peek`, ...)
//! reads the config another call already parsed instead of parsing the
//! YAML again, which was about a ninth of a `sparkq peek`.
//!
//! One file per config file, `<runtime base>/config-<hash>.json` (the base
//! of the runtime folders, see `runtime::RuntimeBase`; `<hash>`: 16 hex
//! digits of the config's absolute path), holding the config's text, the
//! [`Config`] it resolved to, and the executable that resolved it.
//!
//! Invariants kept here:
//! - **Never stale.** An entry is served only if its text equals the file's
//!   text just read, byte for byte (not size and time, which an edit within
//!   the same tick can leave unchanged), for the same absolute path, and it
//!   was written by the same executable file (device, inode, size,
//!   modification and change times of `/proc/self/exe`; the change time
//!   moves on any write to the file and cannot be set back, so even a copy
//!   over it that keeps size and modification time is told apart), since
//!   another build may resolve a file differently. A config is a function of exactly these:
//!   resolving reads no other file and no environment.
//! - **Only a hint.** Anything unexpected (no `/proc`, a missing,
//!   unreadable, malformed or someone else's file, a base folder that is
//!   SparkQ's but not private) is a miss, and a miss parses the YAML as
//!   without a cache. Only configs that resolved are cached, and a failed
//!   write is ignored.
//! - **Whole or nothing.** An entry is written to a temporary file and
//!   renamed over the old one, so a reader sees one or the other.
//! - **A bounded trail.** Projects come and go (every test suite and bench
//!   makes hundreds in temp folders), and nothing says when an entry's
//!   config is gone for good: past [`MAX_ENTRIES`], a write removes the
//!   oldest entries. An entry still in use that goes costs one parse. A
//!   temp file that a writer killed midway left (its name holds the
//!   writer's pid, so each kill leaves another) is removed by the next
//!   write once it is [`STALE_TEMP_AGE`] old.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Config, MAX_CONFIG_BYTES};
use crate::runtime::{RuntimeBase, fnv1a};

/// The largest entry read: its text is at most [`MAX_CONFIG_BYTES`], and
/// its config no more than a few times that.
const MAX_ENTRY_BYTES: u64 = 8 * MAX_CONFIG_BYTES;

/// The most entries kept in the base folder; past it, a write removes the
/// oldest (by when written) down to half as many.
const MAX_ENTRIES: usize = 64;

/// How old a temp file of the cache must be to count as left by a writer
/// that was killed: a write takes well under a millisecond.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Which executable file wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ExeId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
}

impl ExeId {
    /// This process's executable, if `/proc` says.
    fn current() -> Option<ExeId> {
        let meta = std::fs::metadata("/proc/self/exe").ok()?;
        Some(ExeId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        })
    }
}

/// An entry as written, borrowing what it holds.
#[derive(Serialize)]
struct EntryRef<'a> {
    exe: ExeId,
    path: &'a Path,
    text: &'a str,
    config: &'a Config,
}

/// An entry as read.
#[derive(Deserialize)]
struct Entry {
    exe: ExeId,
    path: PathBuf,
    text: String,
    config: Config,
}

/// The cache entry of one config file, for this executable.
#[derive(Debug)]
pub(super) struct Cache {
    base: RuntimeBase,
    file: PathBuf,
    exe: ExeId,
}

impl Cache {
    /// The entry of the config file at `path` (absolute), under the runtime
    /// base the environment chooses; `None` where the executable cannot
    /// be told (no `/proc`).
    pub(super) fn for_config(path: &Path) -> Option<Cache> {
        Some(Cache::in_base(RuntimeBase::from_env(), path, ExeId::current()?))
    }

    fn in_base(base: RuntimeBase, path: &Path, exe: ExeId) -> Cache {
        let file = base.path().join(file_name(path));
        Cache { base, file, exe }
    }

    /// The config cached for `text` read from `path`, if this executable
    /// cached one for exactly that (see the module docs).
    pub(super) fn get(&self, path: &Path, text: &str) -> Option<Config> {
        self.base.check().ok()?;
        let file = std::fs::File::open(&self.file).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(MAX_ENTRY_BYTES)).ok()? + 1);
        file.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut bytes).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.exe == self.exe && entry.path == path && entry.text == text).then_some(entry.config)
    }

    /// Caches `config`, resolved from `text` read from `path`; a failure
    /// leaves the cache as it was, or without this entry.
    pub(super) fn put(&self, path: &Path, text: &str, config: &Config) {
        let entry = EntryRef {
            exe: self.exe,
            path,
            text,
            config,
        };
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        if self.base.create().is_err() {
            return;
        }
        let tmp = self.file.with_extension(format!("{}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes));
        if written.and_then(|()| std::fs::rename(&tmp, &self.file)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        self.trim(MAX_ENTRIES);
    }

    /// Past `most` entries in the base, removes the oldest but this one
    /// down to `most / 2`.
    fn trim(&self, most: usize) {
        let Ok(listing) = std::fs::read_dir(self.base.path()) else {
            return;
        };
        let mut entries: Vec<PathBuf> = Vec::new();
        for e in listing.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str().filter(|n| n.starts_with("config-")) else {
                continue;
            };
            if !e.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if name.ends_with(".json") {
                entries.push(e.path());
            } else if name.ends_with(".tmp")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_TEMP_AGE))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        if entries.len() <= most {
            return;
        }
        let mut dated: Vec<(std::time::SystemTime, PathBuf)> = entries
            .into_iter()
            .filter(|p| *p != self.file)
            .filter_map(|p| Some((std::fs::symlink_metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        dated.sort();
        let keep = (most / 2).saturating_sub(1);
        for (_, old) in dated.iter().take(dated.len().saturating_sub(keep)) {
            let _ = std::fs::remove_file(old);
        }
    }

    /// Removes the entry (teardown), if there is one.
    pub(super) fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// `config-<hash>.json`: see the module docs.
fn file_name(path: &Path) -> String {
    format!("config-{:016x}.json", fnv1a(path.as_os_str().as_encoded_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "project: { name: p }\ntools:\n  run-bash: { description: Run, task_class: FAST_SCRIPT }\n";

    fn exe(mtime: i64) -> ExeId {
        ExeId {
            dev: 1,
            ino: 2,
            size: 3,
            mtime,
            mtime_nsec: 0,
            ctime: 4,
            ctime_nsec: 0,
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p/sparkq.yml");
        let cache = Cache::in_base(RuntimeBase::new(dir.path().join("base"), true), &path, exe(1));
        (dir, path, cache)
    }

    #[test]
    fn a_cached_config_is_the_parsed_one() {
        let (_dir, path, cache) = setup();
        assert!(cache.get(&path, TEXT).is_none(), "nothing cached yet");
        let parsed = Config::from_yaml(TEXT, &path).unwrap();
        cache.put(&path, TEXT, &parsed);
        let cached = cache.get(&path, TEXT).expect("a hit after the put");
        assert_eq!(format!("{cached:?}"), format!("{parsed:?}"));
    }

    #[test]
    fn every_config_field_comes_back_as_it_went_in() {
        let (_dir, path, cache) = setup();
        let answers = super::super::SetupAnswers {
            port: 8421,
            ..super::super::SetupAnswers::defaults("shop")
        };
        let text = format!(
            "{}sync: {{ every: 90s, rsync: 'host:/srv/spool' }}\nlimits: {{ payload_bytes: 2048 }}\ndatabase: {{ path: x.db }}\n",
            super::super::render_config(&answers)
        );
        let parsed = Config::from_yaml(&text, &path).unwrap();
        assert!(parsed.sync.is_some() && !parsed.warnings.is_empty() && !parsed.tools.is_empty());
        cache.put(&path, &text, &parsed);
        let cached = cache.get(&path, &text).expect("a hit");
        assert_eq!(format!("{cached:?}"), format!("{parsed:?}"));
    }

    #[test]
    fn another_text_path_or_executable_is_a_miss() {
        let (_dir, path, cache) = setup();
        cache.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
        // Same length, one byte changed.
        let edited = TEXT.replace("Run", "Ran");
        assert_eq!(edited.len(), TEXT.len());
        assert!(cache.get(&path, &edited).is_none());
        assert!(cache.get(&path.with_file_name("other.yml"), TEXT).is_none());
        let rebuilt = Cache::in_base(cache.base.clone(), &path, exe(2));
        assert!(rebuilt.get(&path, TEXT).is_none());
        // A newer entry replaces the old one.
        cache.put(&path, &edited, &Config::from_yaml(&edited, &path).unwrap());
        let cached = cache.get(&path, &edited).expect("the new entry");
        assert_eq!(cached.tools["run-bash"].description, "Ran");
        assert!(cache.get(&path, TEXT).is_none());
    }

    #[test]
    fn past_the_most_entries_a_write_removes_the_oldest() {
        let (dir, _path, cache) = setup();
        let config_at = |n: usize| dir.path().join(format!("p{n}/sparkq.yml"));
        let cache_at = |n: usize| Cache::in_base(cache.base.clone(), &config_at(n), exe(1));
        let put = |n: usize| {
            let path = config_at(n);
            let entry = cache_at(n);
            entry.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
            // Written n seconds apart, whatever the clock's grain.
            let written = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + n as u64);
            let file = std::fs::File::options().write(true).open(&entry.file).unwrap();
            file.set_modified(written).unwrap();
        };
        for n in 0..MAX_ENTRIES {
            put(n);
        }
        let count = || std::fs::read_dir(cache.base.path()).unwrap().count();
        assert_eq!(count(), MAX_ENTRIES);
        put(MAX_ENTRIES);
        assert_eq!(count(), MAX_ENTRIES / 2, "trimmed to half");
        let newest = config_at(MAX_ENTRIES);
        assert!(
            cache_at(MAX_ENTRIES).get(&newest, TEXT).is_some(),
            "the new entry stays"
        );
        let oldest = config_at(0);
        assert!(cache_at(0).get(&oldest, TEXT).is_none(), "the oldest went");
    }

    #[test]
    fn a_write_removes_the_temp_files_killed_writers_left() {
        let (_dir, path, cache) = setup();
        cache.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
        let base = cache.base.path().to_owned();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let left = base.join("config-0123456789abcdef.4242.tmp");
        std::fs::write(&left, "{\"exe\"").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&left)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        // One being written now, by another process: left alone.
        let writing = base.join("config-0123456789abcdef.4343.tmp");
        std::fs::write(&writing, "{").unwrap();
        cache.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
        assert!(!left.exists(), "a killed writer's temp file went");
        assert!(writing.exists(), "a fresh one stays");
        assert!(cache.get(&path, TEXT).is_some());
    }

    #[test]
    fn junk_an_open_base_or_a_removed_entry_is_a_miss() {
        let (_dir, path, cache) = setup();
        cache.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
        assert!(cache.get(&path, TEXT).is_some());
        std::fs::write(&cache.file, b"{\"exe\":").unwrap();
        assert!(cache.get(&path, TEXT).is_none());
        cache.put(&path, TEXT, &Config::from_yaml(TEXT, &path).unwrap());
        use std::os::unix::fs::PermissionsExt;
        let base = cache.base.path();
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            cache.get(&path, TEXT).is_none(),
            "a base open to others is not trusted"
        );
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(cache.get(&path, TEXT).is_some());
        cache.remove().unwrap();
        assert!(cache.get(&path, TEXT).is_none());
        cache.remove().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(base).unwrap().collect();
        assert!(leftovers.is_empty(), "no temp file left: {leftovers:?}");
    }
}
