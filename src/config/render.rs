//! Writing a `sparkq.yml` from the answers `sparkq setup` collected: a
//! fresh one with the default tools, or, when setup runs again, one that
//! keeps everything the questions do not cover (tools, spool, limits).

use std::fmt::Write as _;
use std::path::Path;

use super::raw::{DEFAULT_CLASSES, DEFAULT_TOOLS};
use super::{Config, DEFAULT_PORT, Limits};

/// What `sparkq setup` asks for; [`SetupAnswers::defaults`] gives the
/// documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupAnswers {
    pub project_name: String,
    pub repo_path: String,
    pub prd_path: String,
    pub script_dirs: Vec<String>,
    /// Class name and timeout in seconds, in the order written.
    pub class_timeouts: Vec<(String, u64)>,
    pub port: u16,
}

impl SetupAnswers {
    /// The defaults, with the project named `project_name`.
    pub fn defaults(project_name: &str) -> SetupAnswers {
        SetupAnswers {
            project_name: project_name.to_owned(),
            repo_path: ".".to_owned(),
            prd_path: "docs/PRD.md".to_owned(),
            script_dirs: vec!["scripts".to_owned(), "tools".to_owned()],
            class_timeouts: DEFAULT_CLASSES.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            port: DEFAULT_PORT,
        }
    }

    /// The answers `config` already holds, paths relative to its folder,
    /// classes in the default order first: the defaults a re-run offers.
    pub fn from_config(config: &Config) -> SetupAnswers {
        let rel = |p: &Path| relative(p, &config.root);
        let mut class_timeouts: Vec<(String, u64)> = DEFAULT_CLASSES
            .iter()
            .filter_map(|(n, _)| config.task_classes.get(*n).map(|t| (n.to_string(), *t)))
            .collect();
        for (name, timeout) in &config.task_classes {
            if !class_timeouts.iter().any(|(n, _)| n == name) {
                class_timeouts.push((name.clone(), *timeout));
            }
        }
        SetupAnswers {
            project_name: config.project_name.clone(),
            repo_path: rel(&config.repo_path),
            prd_path: config.prd_path.as_deref().map(rel).unwrap_or_default(),
            script_dirs: config.script_dirs.iter().map(|d| rel(d)).collect(),
            class_timeouts,
            port: config.port,
        }
    }
}

/// One tool line: name, description, class, own timeout, payload template.
struct ToolLine {
    name: String,
    description: String,
    class: String,
    timeout: Option<u64>,
    template: Option<String>,
}

/// What a file keeps besides the answers.
struct Kept {
    spool_path: String,
    fsync: bool,
    purge_days: f64,
    max_attempts: u32,
    limits: Limits,
    /// `sync:` as written: the interval, and the rsync target if any.
    sync: Option<(String, Option<String>)>,
    tools: Vec<ToolLine>,
}

/// The text of a fresh `sparkq.yml` holding `answers` and the default tools.
pub fn render_config(answers: &SetupAnswers) -> String {
    let tools = DEFAULT_TOOLS
        .iter()
        .map(|(name, description, class, timeout, template)| ToolLine {
            name: name.to_string(),
            description: description.to_string(),
            class: class.to_string(),
            timeout: *timeout,
            template: Some(template.to_string()),
        })
        .collect();
    let kept = Kept {
        spool_path: "spool".to_owned(),
        fsync: true,
        purge_days: 3.0,
        max_attempts: 1,
        limits: Limits::default(),
        sync: None,
        tools,
    };
    render(answers, &kept)
}

/// The text of `current`'s `sparkq.yml` with `answers` put in: tools,
/// spool, purge, stale, limits and sync stay as they are. (Comments are not
/// kept: the file is written anew.)
pub fn render_config_keeping(answers: &SetupAnswers, current: &Config) -> String {
    let tools = current
        .tools
        .values()
        .map(|tool| {
            let class_timeout = current.task_classes.get(&tool.task_class).copied();
            ToolLine {
                name: tool.name.clone(),
                description: tool.description.clone(),
                class: tool.task_class.clone(),
                timeout: (Some(tool.timeout) != class_timeout).then_some(tool.timeout),
                template: tool.payload_template.as_ref().map(|t| t.to_string()),
            }
        })
        .collect();
    let kept = Kept {
        spool_path: relative(&current.spool_path, &current.root),
        fsync: current.fsync,
        purge_days: current.purge_older_than.as_secs_f64() / 86_400.0,
        max_attempts: current.max_attempts,
        limits: current.limits,
        sync: current.sync.as_ref().map(|s| {
            let every = humantime::format_duration(s.every).to_string().replace(' ', "");
            (every, s.rsync.clone())
        }),
        tools,
    };
    render(answers, &kept)
}

fn render(answers: &SetupAnswers, kept: &Kept) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# SparkQ project configuration. Reference: the README, section 'sparkq.yml'."
    );
    let _ = writeln!(
        out,
        "project:   {{ name: {}, repo_path: {}, prd_path: {} }}",
        q(&answers.project_name),
        q(&answers.repo_path),
        q(&answers.prd_path)
    );
    let _ = writeln!(
        out,
        "server:    {{ port: {} }}              # always binds 127.0.0.1",
        answers.port
    );
    let _ = writeln!(
        out,
        "spool:     {{ path: {}, fsync: {} }}  # fsync: flush each task write before renaming it in",
        plain(&kept.spool_path),
        kept.fsync
    );
    let _ = writeln!(out, "purge:     {{ older_than_days: {} }}", kept.purge_days);
    let _ = writeln!(
        out,
        "stale:     {{ max_attempts: {} }}         # claims a task gets; 1: a dead claim (no report at 2x timeout) fails the task",
        kept.max_attempts
    );
    if kept.limits != Limits::default() {
        let _ = writeln!(
            out,
            "limits:    {{ payload_bytes: {}, output_bytes: {} }}",
            kept.limits.payload_bytes, kept.limits.output_bytes
        );
    }
    if let Some((every, rsync)) = &kept.sync {
        let rsync = rsync
            .as_deref()
            .map(|r| format!(", rsync: {}", q(r)))
            .unwrap_or_default();
        let _ = writeln!(out, "sync:      {{ every: {}{rsync} }}", q(every));
    }
    let dirs: Vec<String> = answers.script_dirs.iter().map(|d| q(d)).collect();
    let _ = writeln!(out, "script_dirs: [{}]", dirs.join(", "));
    let _ = writeln!(out, "task_classes:");
    for (name, timeout) in &answers.class_timeouts {
        let _ = writeln!(out, "  {}: {{ timeout: {timeout} }}", plain(name));
    }
    let _ = writeln!(out, "tools:");
    for tool in &kept.tools {
        let timeout = tool
            .timeout
            .map(|t| format!(", timeout: {t}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {}:", plain(&tool.name));
        let _ = write!(
            out,
            "    {{ description: {}, task_class: {}{timeout}",
            q(&tool.description),
            plain(&tool.class)
        );
        match &tool.template {
            Some(template) => {
                let _ = writeln!(out, ",\n      payload_template: {template} }}");
            }
            None => {
                let _ = writeln!(out, " }}");
            }
        }
    }
    out
}

/// `s` as a YAML scalar: bare when it is a plain word (`run-bash`), else
/// quoted.
fn plain(s: &str) -> String {
    let bare = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if bare {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
    }
}

/// `path` relative to `root` when it is inside it, else as it is.
fn relative(path: &Path, root: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}
