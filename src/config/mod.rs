//! `sparkq.yml`: finding it, reading it, and validating it.
//!
//! The file is parsed into [`raw::RawConfig`], a serde mirror that refuses
//! unknown keys, then resolved into a [`Config`] whose every value has been
//! checked; all problems are reported at once, each with its YAML path.
//! Sections left out take the documented defaults of SPEC 2.

mod cache;
mod discover;
mod raw;
mod render;
mod spool_path;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use discover::{CONFIG_ENV, CONFIG_FILE_NAME, find_config_file};
pub use render::{SetupAnswers, render_config, render_config_keeping};

/// The default server port.
pub const DEFAULT_PORT: u16 = 8420;

/// Something wrong with finding or reading `sparkq.yml`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no sparkq.yml in {start} or any folder above it\n  Run 'sparkq setup' here to create a project, or pass --config PATH."
    )]
    NotFound { start: PathBuf },
    #[error("could not read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid { path: PathBuf, problems: Vec<String> },
}

/// A registered tool: what a task's `tool_name` may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub task_class: String,
    /// Seconds: the tool's own timeout, else its class's.
    pub timeout: u64,
    /// A JSON object the enqueue page pre-fills.
    pub payload_template: Option<Value>,
}

/// `sync:` in sparkq.yml: `sparkq run` keeps the spool synced in the
/// background, like `sparkq sync --every EVERY [--rsync DEST]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConfig {
    pub every: Duration,
    /// Mirror with this spool by rsync; `None` syncs through git.
    pub rsync: Option<String>,
}

/// Size limits for what a task may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest payload or result, in bytes of JSON.
    pub payload_bytes: usize,
    /// Largest stdout or stderr, in bytes.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            payload_bytes: 1024 * 1024,
            output_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A validated `sparkq.yml`, paths resolved from the file's own folder.
/// (Serialized only for the config cache, see [`Config::load_cached`].)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The `sparkq.yml` this came from.
    pub path: PathBuf,
    /// The project folder (where `sparkq.yml` is).
    pub root: PathBuf,
    pub project_name: String,
    pub repo_path: PathBuf,
    pub prd_path: Option<PathBuf>,
    pub port: u16,
    pub spool_path: PathBuf,
    /// Flush every task write to disk before renaming it into place.
    pub fsync: bool,
    pub purge_older_than: Duration,
    /// How many claims a task gets before a dead claim fails it.
    pub max_attempts: u32,
    pub script_dirs: Vec<PathBuf>,
    /// Class name → timeout in seconds.
    pub task_classes: BTreeMap<String, u64>,
    pub tools: BTreeMap<String, Tool>,
    pub limits: Limits,
    /// Keys that were accepted but do nothing, each with what to do; shown
    /// once per command on stderr.
    pub warnings: Vec<String>,
    /// Background sync for `sparkq run`, if configured.
    pub sync: Option<SyncConfig>,
}

impl Config {
    /// Finds `sparkq.yml` (see [`find_config_file`]) and loads it.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, Error> {
        let path = find_config_file(explicit)?;
        Config::load(&path)
    }

    /// [`Config::discover`], through the config cache.
    pub fn discover_cached(explicit: Option<&Path>) -> Result<Config, Error> {
        let path = find_config_file(explicit)?;
        Config::load_cached(&path)
    }

    /// Reads and validates the config file at `path`; the spool must lie
    /// strictly inside the project folder (see `spool_path`).
    pub fn load(path: &Path) -> Result<Config, Error> {
        Config::load_with(path, false)
    }

    /// [`Config::load`] for a one-shot command: the YAML is parsed only if
    /// the config cache (see `cache`) holds no config resolved from the very
    /// same text by this very executable, and the result is cached. The
    /// spool's place is checked on every call, as the folders may change.
    pub fn load_cached(path: &Path) -> Result<Config, Error> {
        Config::load_with(path, true)
    }

    /// Removes the config cache's entry for the config file at `path`, if
    /// any (teardown: the entry is of no further use).
    pub fn forget_cached(path: &Path) -> std::io::Result<()> {
        let path = std::path::absolute(path)?;
        cache::Cache::for_config(&path).map_or(Ok(()), |cache| cache.remove())
    }

    fn load_with(path: &Path, cached: bool) -> Result<Config, Error> {
        let text = read_capped(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let cache = if cached {
            cache::Cache::for_config(&path)
        } else {
            None
        };
        let config = match cache.as_ref().and_then(|c| c.get(&path, &text)) {
            Some(config) => config,
            None => {
                let config = Config::from_yaml(&text, &path)?;
                if let Some(cache) = &cache {
                    cache.put(&path, &text, &config);
                }
                config
            }
        };
        spool_path::check_inside(&config.root, &config.spool_path).map_err(|problem| Error::Invalid {
            path: path.clone(),
            problems: vec![problem],
        })?;
        Ok(config)
    }

    /// Parses and validates YAML text as if read from `path`.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Config, Error> {
        let raw: raw::RawConfig = serde_saphyr::from_str(text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        raw.resolve(path, &root).map_err(|problems| Error::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// The tool named `name`, if registered.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.get(name)
    }

    /// The names of all registered tools, for error messages.
    pub fn tool_names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }
}

/// The largest `sparkq.yml` read: 1 MiB, far more than any real one.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads the config file, refusing one past [`MAX_CONFIG_BYTES`] after
/// reading no more than that (`--config /dev/zero` ends at once).
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    // Sized from the file's length (one read instead of doubling reads
    // from 32 bytes: 9 syscalls for the default file); still capped, as
    // the file may grow, or be /dev/zero with a length of 0.
    let size = file.metadata().map_or(0, |m| m.len().min(MAX_CONFIG_BYTES));
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it is over {MAX_CONFIG_BYTES} bytes, too large for a sparkq.yml"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

#[cfg(test)]
mod tests;
