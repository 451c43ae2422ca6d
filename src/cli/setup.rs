//! `sparkq setup` and `sparkq teardown`: creating and removing a project.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::output::print;
use super::watch::{STOP_WAIT_SECS, running_processes, stop_processes};
use crate::config::{CONFIG_FILE_NAME, Config, SetupAnswers, find_config_file, render_config};
use crate::queue::Queue;
use crate::runtime::RuntimeDir;
use crate::spool::{Spool, write_atomic};

/// The worker playbook, copied into every project by setup.
const PLAYBOOK: &str = include_str!("../../WORKER_PLAYBOOK.md");

/// Create sparkq.yml, the spool and the worker playbook here (asks, offering defaults).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq setup          # asks, Enter keeps each default\n  sparkq setup --yes    # takes every default, for scripts\n\nRe-running setup on a project keeps its sparkq.yml and data and says what it changed."
)]
pub(super) struct SetupArgs {
    /// Take every default without asking.
    #[arg(long, short)]
    yes: bool,
    /// Also write the Claude Code slash command /sparkq-worker (.claude/commands/).
    #[arg(long)]
    claude: bool,
}

pub(super) fn setup(explicit: Option<&Path>, args: SetupArgs) -> anyhow::Result<ExitCode> {
    let config_path = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_dir()?.join(CONFIG_FILE_NAME),
    };
    let root = config_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut changes = Vec::new();
    if config_path.exists() {
        changes.push(format!(
            "kept      {} (already there; edit it by hand)",
            config_path.display()
        ));
    } else {
        let name = root
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "my-project".to_owned());
        let defaults = SetupAnswers::defaults(&name);
        let answers = if args.yes { defaults } else { ask(defaults)? };
        let text = render_config(&answers);
        Config::from_yaml(&text, &config_path).context("the answers do not make a valid sparkq.yml")?;
        write_atomic(&config_path, text.as_bytes(), true)?;
        changes.push(format!("created   {}", config_path.display()));
    }
    let config = Config::load(&config_path)?;
    let spool = Spool::new(config.spool_path.clone(), config.fsync);
    for path in spool.ensure_layout()? {
        changes.push(format!("created   {}", path.display()));
    }
    let playbook = config.root.join("WORKER_PLAYBOOK.md");
    match super::input::read_prefix(&playbook, PLAYBOOK.len()) {
        Ok(text) if text == PLAYBOOK => {}
        Ok(_) => {
            write_atomic(&playbook, PLAYBOOK.as_bytes(), true)?;
            changes.push(format!(
                "updated   {} to this version's playbook",
                playbook.display()
            ));
        }
        Err(_) => {
            write_atomic(&playbook, PLAYBOOK.as_bytes(), true)?;
            changes.push(format!("created   {}", playbook.display()));
        }
    }
    if args.claude {
        changes.push(super::mcp::write_claude_command(&config.root)?);
    }
    let mut out = changes.join("\n") + "\n";
    out.push_str("\nNext:\n  sparkq session create my-session\n  sparkq stream create my-stream --session my-session --instructions \"...\"\n  sparkq enqueue run-bash '{\"script_path\": \"scripts/hello.sh\"}' --stream my-stream\n");
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Asks each question on stderr, reading answers from stdin; an empty
/// answer (or end of input) keeps the default.
fn ask(defaults: SetupAnswers) -> anyhow::Result<SetupAnswers> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut prompt = |question: &str, default: &str| -> anyhow::Result<String> {
        eprint!("{question} [{default}]: ");
        std::io::stderr().flush()?;
        match lines.next() {
            Some(line) => {
                let line = line?;
                let line = line.trim();
                Ok(if line.is_empty() {
                    default.to_owned()
                } else {
                    line.to_owned()
                })
            }
            None => {
                eprintln!();
                Ok(default.to_owned())
            }
        }
    };
    let project_name = prompt("Project name", &defaults.project_name)?;
    let repo_path = prompt("Repository path", &defaults.repo_path)?;
    let prd_path = prompt("PRD path", &defaults.prd_path)?;
    let dirs = prompt(
        "Script folders (comma-separated)",
        &defaults.script_dirs.join(","),
    )?;
    let script_dirs = dirs
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    let mut class_timeouts = Vec::new();
    for (class, timeout) in &defaults.class_timeouts {
        let answer = prompt(
            &format!("Timeout of {class} tasks, seconds"),
            &timeout.to_string(),
        )?;
        let secs: u64 = answer
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .with_context(|| format!("'{answer}' is not a number of seconds (1 or more)"))?;
        class_timeouts.push((class.clone(), secs));
    }
    let port = prompt("Server port", &defaults.port.to_string())?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| format!("'{port}' is not a port (1-65535)"))?;
    Ok(SetupAnswers {
        project_name,
        repo_path,
        prd_path,
        script_dirs,
        class_timeouts,
        port,
    })
}

/// Stop what SparkQ runs here and remove sparkq.yml, the spool and lock files.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  sparkq teardown --yes\n\nStops the server and the watchers of this project's streams (like 'sparkq stop'),\nthen removes only sparkq.yml, the spool folder and those streams' watcher lock,\nFIFO and done flag (in this project's own runtime folder); prints each path."
)]
pub(super) struct TeardownArgs {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
}

pub(super) fn teardown(explicit: Option<&Path>, args: TeardownArgs) -> anyhow::Result<ExitCode> {
    let config_path = find_config_file(explicit)?;
    let config = Config::load(&config_path)?;
    let spool = Spool::new(config.spool_path.clone(), config.fsync);
    let streams: Vec<String> = spool
        .stream_names()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let runtime = RuntimeDir::for_project(&config.root, &config.project_name);
    let server = Queue::new(config.clone()).server();

    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "teardown deletes the spool and needs confirmation\n  Run it in a terminal, or pass --yes."
            );
        }
        eprint!(
            "This stops SparkQ's server and watchers here and deletes {} and {} (all tasks). Continue? [y/N] ",
            config_path.display(),
            spool.root().display()
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing removed.");
            return Ok(ExitCode::FAILURE);
        }
    }

    let (mut out, stuck) = stop_processes(running_processes(&runtime, server, &streams)?);
    if !stuck.is_empty() {
        print(&out)?;
        bail!(
            "{} did not stop within {STOP_WAIT_SECS} s, so nothing was removed\n  Stop it with 'kill PID', then run teardown again.",
            stuck.join(", ")
        );
    }
    // What a stopped watcher leaves behind (a worker's done flag, or the
    // lock and FIFO of one killed with -9), in this project's own runtime
    // folder only, and then that folder if nothing else is left in it.
    if runtime.check()? {
        for stream in &streams {
            for path in [
                runtime.lock(stream),
                runtime.fifo(stream),
                runtime.done_flag(stream),
            ] {
                match std::fs::remove_file(&path) {
                    Ok(()) => out.push_str(&format!("removed   {}\n", path.display())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("could not remove {}", path.display())),
                }
            }
        }
        if std::fs::remove_dir(runtime.dir()).is_ok() {
            out.push_str(&format!("removed   {}/\n", runtime.dir().display()));
        }
    }
    let removal = Queue::new(config)
        .remove_spool()
        .with_context(|| format!("could not remove {}", spool.root().display()))?;
    if removal.root_removed {
        out.push_str(&format!("removed   {}/\n", spool.root().display()));
    } else if removal.files > 0 {
        out.push_str(&format!(
            "removed   {} files SparkQ wrote in {}/\n",
            removal.files,
            spool.root().display()
        ));
    }
    for kept in &removal.kept {
        out.push_str(&format!("kept      {} (not created by SparkQ)\n", kept.display()));
    }
    std::fs::remove_file(&config_path)
        .with_context(|| format!("could not remove {}", config_path.display()))?;
    out.push_str(&format!("removed   {}\n", config_path.display()));
    print(&out)?;
    if !removal.kept.is_empty() {
        eprintln!(
            "Kept {} entries in {} that SparkQ did not create; move or delete them yourself.",
            removal.kept.len(),
            spool.root().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
