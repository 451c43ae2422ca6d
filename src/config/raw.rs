//! The serde mirror of `sparkq.yml` and its resolution into a [`Config`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::{Config, DEFAULT_PORT, Limits, SyncConfig, Tool};
use crate::model::{MAX_PURGE_DAYS, MAX_SYNC_EVERY_SECS, MAX_TIMEOUT_SECS, SpanError};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    project: RawProject,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    spool: RawSpool,
    #[serde(default)]
    purge: RawPurge,
    #[serde(default)]
    stale: RawStale,
    #[serde(default)]
    limits: RawLimits,
    sync: Option<RawSync>,
    script_dirs: Option<Vec<String>>,
    task_classes: Option<BTreeMap<String, RawClass>>,
    tools: Option<BTreeMap<String, RawTool>>,
    /// The FRD's `database:` block, from the prototype that kept tasks in a
    /// database: accepted so such a file still loads, and reported as
    /// ignored (see [`Config::warnings`]).
    database: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Option<String>,
    repo_path: Option<String>,
    prd_path: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    port: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    path: Option<String>,
    fsync: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPurge {
    older_than_days: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStale {
    max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    payload_bytes: Option<usize>,
    output_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    every: Option<String>,
    rsync: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    timeout: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTool {
    #[serde(default)]
    description: String,
    task_class: String,
    timeout: Option<u64>,
    payload_template: Option<Value>,
}

/// The task classes used when `task_classes` is left out.
pub(super) const DEFAULT_CLASSES: [(&str, u64); 4] = [
    ("FAST_SCRIPT", 30),
    ("MEDIUM_SCRIPT", 300),
    ("LLM_LITE", 300),
    ("LLM_HEAVY", 900),
];

/// The tools used when `tools` is left out: name, description, class,
/// timeout override, payload template.
pub(super) const DEFAULT_TOOLS: [(&str, &str, &str, Option<u64>, &str); 10] = [
    (
        "run-bash",
        "Execute a bash script",
        "MEDIUM_SCRIPT",
        None,
        r#"{"script_path": "", "args": []}"#,
    ),
    (
        "run-bash-fast",
        "Quick bash utility",
        "FAST_SCRIPT",
        None,
        r#"{"script_path": "", "args": []}"#,
    ),
    (
        "run-python",
        "Execute a python script",
        "MEDIUM_SCRIPT",
        None,
        r#"{"script_path": "", "args": []}"#,
    ),
    (
        "llm-haiku",
        "Delegate a focused task to Haiku",
        "LLM_LITE",
        None,
        r#"{"prompt": "", "context_files": [], "output_path": ""}"#,
    ),
    (
        "llm-sonnet",
        "Complex reasoning task",
        "LLM_HEAVY",
        None,
        r#"{"prompt": "", "context_files": [], "output_path": ""}"#,
    ),
    (
        "delegate-codex",
        "Delegate code generation to Codex CLI",
        "LLM_LITE",
        None,
        r#"{"prompt": "", "context_files": [], "model": ""}"#,
    ),
    (
        "validate-outputs",
        "Syntax-check generated code",
        "FAST_SCRIPT",
        Some(60),
        r#"{"directory": ""}"#,
    ),
    (
        "run-migrations",
        "Run database migrations",
        "MEDIUM_SCRIPT",
        Some(1800),
        r#"{"script_path": "", "args": ["--dry-run"]}"#,
    ),
    (
        "validate-integration",
        "Run integration checks against the running system",
        "MEDIUM_SCRIPT",
        Some(120),
        r#"{"script_path": "", "args": []}"#,
    ),
    (
        "summarize",
        "Summarize files or results into a short report",
        "FAST_SCRIPT",
        Some(30),
        r#"{"files": [], "output_path": ""}"#,
    ),
];

impl RawConfig {
    /// Checks every value and resolves paths against `root`; returns every
    /// problem found, each prefixed with its YAML path.
    pub(super) fn resolve(self, path: &Path, root: &Path) -> Result<Config, Vec<String>> {
        let mut problems = Vec::new();
        let resolve_path = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_owned()
            } else {
                root.join(p)
            }
        };

        let port = match self.server.port {
            None => DEFAULT_PORT,
            Some(p) => match u16::try_from(p) {
                Ok(p) if p > 0 => p,
                _ => {
                    problems.push(format!("server.port: {p} is not a port (1-65535)"));
                    DEFAULT_PORT
                }
            },
        };
        let days = self.purge.older_than_days.unwrap_or(3.0);
        if !(days.is_finite() && (0.0..=MAX_PURGE_DAYS).contains(&days)) {
            problems.push(format!(
                "purge.older_than_days: {days} must be a number of days from 0 to {MAX_PURGE_DAYS}"
            ));
        }
        let max_attempts = self.stale.max_attempts.unwrap_or(1);
        if max_attempts == 0 {
            problems.push("stale.max_attempts: must be at least 1".to_owned());
        }
        let sync = self.sync.map(|raw| {
            let text = raw.every.unwrap_or_else(|| "30s".to_owned());
            let ceiling = Duration::from_secs(MAX_SYNC_EVERY_SECS);
            let every = crate::model::parse_span(&text, ceiling).unwrap_or_else(|e| {
                problems.push(match e {
                    SpanError::TooLarge => {
                        format!("sync.every: '{text}' is too long; sync at least once a day (at most 24h)")
                    }
                    SpanError::Malformed(why) => {
                        format!("sync.every: '{text}' is not an interval ({why}); use e.g. 5s or 1m")
                    }
                });
                Duration::from_secs(30)
            });
            if every < Duration::from_millis(100) {
                problems.push(format!("sync.every: '{text}' is too short; at least 100ms"));
            }
            if raw.rsync.as_deref().is_some_and(|d| d.trim().is_empty()) {
                problems.push("sync.rsync: give the other spool, PATH or HOST:PATH".to_owned());
            }
            SyncConfig {
                every,
                rsync: raw.rsync,
            }
        });
        let defaults = Limits::default();
        let limits = Limits {
            payload_bytes: self.limits.payload_bytes.unwrap_or(defaults.payload_bytes),
            output_bytes: self.limits.output_bytes.unwrap_or(defaults.output_bytes),
        };

        let task_classes: BTreeMap<String, u64> = match self.task_classes {
            None => DEFAULT_CLASSES.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            Some(classes) => classes.into_iter().map(|(n, c)| (n, c.timeout)).collect(),
        };
        for (name, timeout) in &task_classes {
            if !(1..=MAX_TIMEOUT_SECS).contains(timeout) {
                problems.push(format!(
                    "task_classes.{name}.timeout: {timeout} must be from 1 to {MAX_TIMEOUT_SECS} seconds (30 days)"
                ));
            }
        }

        let raw_tools = self.tools.unwrap_or_else(default_tools);
        let mut tools = BTreeMap::new();
        for (name, tool) in raw_tools {
            let key = format!("tools.{name}");
            let class_timeout = task_classes.get(&tool.task_class).copied();
            if class_timeout.is_none() {
                let known: Vec<&str> = task_classes.keys().map(String::as_str).collect();
                problems.push(format!(
                    "{key}.task_class: unknown class '{}' (known: {})",
                    tool.task_class,
                    known.join(", ")
                ));
            }
            if let Some(t) = tool.timeout
                && !(1..=MAX_TIMEOUT_SECS).contains(&t)
            {
                problems.push(format!(
                    "{key}.timeout: {t} must be from 1 to {MAX_TIMEOUT_SECS} seconds (30 days)"
                ));
            }
            if let Some(t) = &tool.payload_template
                && !t.is_object()
            {
                problems.push(format!(
                    "{key}.payload_template: must be a mapping (a JSON object)"
                ));
            }
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                problems.push(format!("{key}: a tool name must be non-empty with no spaces"));
            }
            let timeout = tool.timeout.or(class_timeout).unwrap_or(1);
            tools.insert(
                name.clone(),
                Tool {
                    name,
                    description: tool.description,
                    task_class: tool.task_class,
                    timeout,
                    payload_template: tool.payload_template,
                },
            );
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        let mut warnings = Vec::new();
        if self.database.is_some() {
            warnings.push(
                "database: is ignored: SparkQ keeps every task as a file in the spool (spool.path)\n  Remove the database: block from sparkq.yml to silence this."
                    .to_owned(),
            );
        }
        let project_name = self.project.name.unwrap_or_else(|| {
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sparkq".to_owned())
        });
        Ok(Config {
            path: path.to_owned(),
            root: root.to_owned(),
            project_name,
            repo_path: resolve_path(self.project.repo_path.as_deref().unwrap_or(".")),
            prd_path: self.project.prd_path.as_deref().map(resolve_path),
            port,
            spool_path: resolve_path(self.spool.path.as_deref().unwrap_or("spool")),
            fsync: self.spool.fsync.unwrap_or(true),
            purge_older_than: Duration::try_from_secs_f64(days * 86_400.0).unwrap_or_default(),
            max_attempts,
            script_dirs: self
                .script_dirs
                .unwrap_or_else(|| vec!["scripts".to_owned()])
                .iter()
                .map(|d| resolve_path(d))
                .collect(),
            task_classes,
            tools,
            limits,
            warnings,
            sync,
        })
    }
}

fn default_tools() -> BTreeMap<String, RawTool> {
    DEFAULT_TOOLS
        .iter()
        .map(|(name, description, class, timeout, template)| {
            let tool = RawTool {
                description: description.to_string(),
                task_class: class.to_string(),
                timeout: *timeout,
                payload_template: serde_json::from_str(template).ok(),
            };
            (name.to_string(), tool)
        })
        .collect()
}
