//! Writing a fresh `sparkq.yml` from the answers `sparkq setup` collected.

use std::fmt::Write as _;

use super::DEFAULT_PORT;
use super::raw::{DEFAULT_CLASSES, DEFAULT_TOOLS};

/// What `sparkq setup` asks for; [`Default`] gives the SPEC 2 defaults.
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
}

/// The text of a `sparkq.yml` holding `answers` and the default tools.
pub fn render_config(answers: &SetupAnswers) -> String {
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
        "spool:     {{ path: spool, fsync: true }}  # fsync: flush each task write before renaming it in"
    );
    let _ = writeln!(out, "purge:     {{ older_than_days: 3 }}");
    let _ = writeln!(
        out,
        "stale:     {{ max_attempts: 1 }}         # claims a task gets; 1: a dead claim (no report at 2x timeout) fails the task"
    );
    let dirs: Vec<String> = answers.script_dirs.iter().map(|d| q(d)).collect();
    let _ = writeln!(out, "script_dirs: [{}]", dirs.join(", "));
    let _ = writeln!(out, "task_classes:");
    for (name, timeout) in &answers.class_timeouts {
        let _ = writeln!(out, "  {name}: {{ timeout: {timeout} }}");
    }
    let _ = writeln!(out, "tools:");
    for (name, description, class, timeout, template) in DEFAULT_TOOLS {
        let timeout = timeout.map(|t| format!(", timeout: {t}")).unwrap_or_default();
        let _ = writeln!(out, "  {name}:");
        let _ = writeln!(
            out,
            "    {{ description: {}, task_class: {class}{timeout},",
            q(description)
        );
        let _ = writeln!(out, "      payload_template: {template} }}");
    }
    out
}
