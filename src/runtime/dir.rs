//! Where a project's runtime files live: one private folder per project,
//! so that two projects with the same stream names never see, wake or stop
//! each other.
//!
//! ```text
//! <base>/<project-name>-<hash>/     mode 0700, the user's own
//!     <stream>.lock                 the stream's watcher: its pid, held with the OS lock
//!     <stream>.pipe                 the FIFO a waiting worker reads (mode 0600)
//!     <stream>.done                 the worker's "I am idle" flag
//!     <stream>.claims               one-shot sweeps' hint of the claims they read
//! ```
//!
//! `<base>` is `$SPARKQ_RUNTIME_DIR` when set, else `$XDG_RUNTIME_DIR/sparkq`
//! when that is set, else `<temp>/sparkq-<uid>` (`/tmp/sparkq-1000`).
//! `<hash>` is 16 hex digits of a 64-bit FNV-1a hash of the project's
//! canonical path (stable across SparkQ versions, so an older watcher and
//! a newer `stop` agree); the name is only there for people.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::Result;
use super::files::{check_private_dir, my_uid};

/// The variable that chooses the folder holding each project's runtime folder.
pub const RUNTIME_DIR_ENV: &str = "SPARKQ_RUNTIME_DIR";

/// The most characters of the project name kept in the folder's name.
const MAX_NAME_CHARS: usize = 40;

/// The folder holding every project's runtime folder (and the config
/// cache, see `config::cache`), as the environment chooses (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeBase {
    path: PathBuf,
    /// Whether SparkQ owns the folder (and so makes it private and checks
    /// it), rather than the user having named it in `$SPARKQ_RUNTIME_DIR`.
    is_ours: bool,
}

impl RuntimeBase {
    /// The base the environment chooses.
    pub fn from_env() -> RuntimeBase {
        let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        match env(RUNTIME_DIR_ENV) {
            Some(path) => RuntimeBase { path, is_ours: false },
            None => match env("XDG_RUNTIME_DIR").filter(|d| d.is_absolute()) {
                Some(xdg) => RuntimeBase {
                    path: xdg.join("sparkq"),
                    is_ours: true,
                },
                None => RuntimeBase {
                    path: std::env::temp_dir().join(format!("sparkq-{}", my_uid())),
                    is_ours: true,
                },
            },
        }
    }

    /// `path`, as SparkQ's own folder if `is_ours`.
    pub fn new(path: PathBuf, is_ours: bool) -> RuntimeBase {
        RuntimeBase { path, is_ours }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the folder (private, if SparkQ's own) if missing, and refuses
    /// it if it is SparkQ's but someone else's or open to others.
    pub fn create(&self) -> Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        let made = if self.is_ours {
            builder.create(&self.path)
        } else {
            builder.recursive(true).create(&self.path)
        };
        match made {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(super::Error::io(&self.path, "create", e));
            }
            _ => {}
        }
        self.check()
    }

    /// Refuses the folder if it is SparkQ's own but someone else's or open
    /// to others (a folder the user named is the user's business).
    pub fn check(&self) -> Result<()> {
        if self.is_ours {
            check_private_dir(&self.path)?;
        }
        Ok(())
    }
}

/// One project's runtime folder and the files in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeDir {
    base: RuntimeBase,
    dir: PathBuf,
}

impl RuntimeDir {
    /// The runtime folder of the project at `root` named `name`, under the
    /// base the environment chooses (see the module docs).
    pub fn for_project(root: &Path, name: &str) -> RuntimeDir {
        let base = RuntimeBase::from_env();
        RuntimeDir::under(&base.path, base.is_ours, root, name)
    }

    /// The runtime folder of the project at `root` named `name`, in `base`.
    pub fn under(base: &Path, base_is_ours: bool, root: &Path, name: &str) -> RuntimeDir {
        RuntimeDir {
            base: RuntimeBase::new(base.to_owned(), base_is_ours),
            dir: base.join(folder_name(root, name)),
        }
    }

    /// The project's runtime folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<stream>.lock`: the pid of the stream's watcher, held with the OS lock.
    pub fn lock(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("{stream}.lock"))
    }

    /// `<stream>.pipe`: the FIFO the watcher writes `wake` to.
    pub fn fifo(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("{stream}.pipe"))
    }

    /// `<stream>.done`: created by an idle worker, removed by the watcher
    /// when it wakes that worker.
    pub fn done_flag(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("{stream}.done"))
    }

    /// `<stream>.claims`: what the last sweep of a process without an index
    /// read of the stream's claims (see `queue::sweep_hint`).
    pub fn claims_hint(&self, stream: &str) -> PathBuf {
        self.dir.join(format!("{stream}.claims"))
    }

    /// `.<stream>.claims.tmp`: where the hint is written before it is
    /// renamed into place. One name per stream, not a fresh one per write:
    /// hints are written under the stream lock, and a writer killed midway
    /// leaves one file that the next write reuses, not one more each time.
    pub fn claims_hint_temp(&self, stream: &str) -> PathBuf {
        self.dir.join(format!(".{stream}.claims.tmp"))
    }

    /// Makes the folder (and SparkQ's base folder) private to the user if
    /// missing, and refuses either if it is someone else's or open to others.
    pub fn create(&self) -> Result<()> {
        self.base.create()?;
        match std::fs::DirBuilder::new().mode(0o700).create(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(super::Error::io(&self.dir, "create", e));
            }
            _ => {}
        }
        check_private_dir(&self.dir)
    }

    /// Whether the folder exists and may be trusted: `Ok(false)` if it is
    /// missing (nothing runs), an error if it is someone else's.
    pub fn check(&self) -> Result<bool> {
        if std::fs::symlink_metadata(&self.dir).is_err() {
            return Ok(false);
        }
        self.base.check()?;
        check_private_dir(&self.dir)?;
        Ok(true)
    }
}

/// `<name>-<hash>`: see the module docs.
fn folder_name(root: &Path, name: &str) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if readable.trim_matches('.').is_empty() {
        readable = "project".to_owned();
    }
    format!(
        "{readable}-{:016x}",
        fnv1a(canonical.as_os_str().as_encoded_bytes())
    )
}

/// The 64-bit FNV-1a hash: tiny, and the same in every build.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_project_has_its_own_folder_with_the_files_named_by_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        std::fs::create_dir(&one).unwrap();
        std::fs::create_dir(&two).unwrap();
        let a = RuntimeDir::under(Path::new("/run/x"), false, &one, "shop");
        let b = RuntimeDir::under(Path::new("/run/x"), false, &two, "shop");
        assert_ne!(a.dir(), b.dir());
        // The same folder however the path is spelled.
        let spelled = RuntimeDir::under(Path::new("/run/x"), false, &one.join("../one"), "shop");
        assert_eq!(a, spelled);
        let folder = a.dir().file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            folder.starts_with("shop-") && folder.len() == "shop-".len() + 16,
            "{folder}"
        );
        assert_eq!(a.lock("auth"), a.dir().join("auth.lock"));
        assert_eq!(a.fifo("auth"), a.dir().join("auth.pipe"));
        assert_eq!(a.done_flag("auth"), a.dir().join("auth.done"));
    }

    #[test]
    fn odd_names_stay_one_path_component() {
        assert!(folder_name(Path::new("/p"), "../../etc").starts_with(".._.._etc-"));
        assert!(folder_name(Path::new("/p"), "..").starts_with("project-"));
        assert!(folder_name(Path::new("/p"), "").starts_with("project-"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn the_folders_are_made_private_and_a_foreign_base_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("sparkq-test");
        let runtime = RuntimeDir::under(&base, true, tmp.path(), "p");
        assert!(!runtime.check().unwrap());
        runtime.create().unwrap();
        assert!(runtime.check().unwrap());
        runtime.create().unwrap();
        if my_uid() != 0 {
            // A base SparkQ owns must be the user's: "/" is root's.
            let foreign = RuntimeDir::under(Path::new("/"), true, tmp.path(), "p");
            assert!(matches!(
                foreign.create(),
                Err(super::super::Error::NotOwned { .. }) | Err(super::super::Error::Io { .. })
            ));
        }
    }
}
