//! Opening the project a command works on, and facts about the caller.

use std::path::Path;

use crate::config::Config;
use crate::queue::Queue;

/// The queue of the project found from `config` (see `config::discover`),
/// its config read through the config cache (`Config::load_cached`).
pub(super) fn open(config: Option<&Path>) -> anyhow::Result<Queue> {
    let config = Config::discover_cached(config)?;
    warn_about(&config);
    Ok(Queue::new(config))
}

/// Prints the config's warnings (keys accepted but ignored) on stderr.
pub(super) fn warn_about(config: &Config) {
    for warning in &config.warnings {
        eprintln!("Warning: {}: {warning}", config.path.display());
    }
}

/// The default worker name: `<hostname>:<pid of the caller's parent
/// shell>`, so every claim from one agent session carries the same name.
pub(super) fn default_worker() -> String {
    format!("{}:{}", hostname(), std::os::unix::process::parent_id())
}

/// This machine's host name.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}
