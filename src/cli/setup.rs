//! `sparkq setup` and `sparkq teardown`: creating and removing a project.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::ask::{self, Prompter};
use super::output::print;
use super::watch::{STOP_WAIT_SECS, running_processes, stop_processes};
use crate::config::{
    CONFIG_FILE_NAME, Config, SetupAnswers, find_config_file, render_config, render_config_keeping,
};
use crate::queue::{Queue, write_atomic};
use crate::runtime::RuntimeDir;

/// The worker playbook, copied into every project by setup.
const PLAYBOOK: &str = include_str!("../../WORKER_PLAYBOOK.md");
/// Where setup puts the playbook, from the project folder.
const PLAYBOOK_PATH: &str = "WORKER_PLAYBOOK.md";
/// The watcher wrapper the playbook tells workers to run.
const WATCHER_SCRIPT: &str = include_str!("../../scripts/sparkq-watcher.sh");
/// Where setup puts it, from the project folder.
const WATCHER_SCRIPT_PATH: &str = "scripts/sparkq-watcher.sh";

/// Create sparkq.yml, the spool, the worker playbook and the watcher script
/// here (asks, offering defaults); run again to reconfigure.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq setup          # asks, Enter keeps each default\n  sparkq setup --yes    # takes every default, for scripts\n\nRe-running setup asks again, offering the current values, and rewrites sparkq.yml\nwith your answers (tools, spool and limits stay; comments are not kept). A bad\nanswer is asked again. With --yes a re-run changes nothing in sparkq.yml. Tasks\nare never touched."
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
        let current = Config::load(&config_path)?;
        super::project::warn_about(&current);
        let was = SetupAnswers::from_config(&current);
        let answers = if args.yes { was.clone() } else { ask(was.clone())? };
        let changed = describe_changes(&was, &answers);
        if changed.is_empty() {
            changes.push(format!("kept      {} (no changes)", config_path.display()));
        } else {
            let text = render_config_keeping(&answers, &current);
            Config::from_yaml(&text, &config_path).context("the answers do not make a valid sparkq.yml")?;
            write_atomic(&config_path, text.as_bytes(), true)?;
            changes.push(format!(
                "updated   {}: {}",
                config_path.display(),
                changed.join(", ")
            ));
        }
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
    for path in Queue::new(config.clone()).ensure_layout()? {
        changes.push(format!("created   {}", path.display()));
    }
    changes.extend(install(
        &config.root.join(PLAYBOOK_PATH),
        PLAYBOOK,
        "this version's playbook",
        false,
    )?);
    changes.extend(install(
        &config.root.join(WATCHER_SCRIPT_PATH),
        WATCHER_SCRIPT,
        "this version's watcher",
        true,
    )?);
    if args.claude {
        changes.push(super::mcp::write_claude_command(&config.root)?);
    }
    let mut out = changes.join("\n") + "\n";
    out.push_str("\nNext:\n  sparkq session create my-session\n  sparkq stream create my-stream --session my-session --instructions \"...\"\n  sparkq enqueue run-bash '{\"script_path\": \"scripts/hello.sh\"}' --stream my-stream\n");
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to `path` unless it is there already; returns what it did.
fn install(path: &Path, text: &str, what: &str, executable: bool) -> anyhow::Result<Option<String>> {
    // A capped read: the file may be anything a user left there.
    let verb = match super::input::read_prefix(path, text.len()) {
        Ok(old) if old == text => return Ok(None),
        Ok(_) => format!("updated   {} to {what}", path.display()),
        Err(_) => format!("created   {}", path.display()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    write_atomic(path, text.as_bytes(), true)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("could not make {} executable", path.display()))?;
    }
    Ok(Some(verb))
}

/// What differs between two sets of answers, as `key: old → new`.
fn describe_changes(was: &SetupAnswers, now: &SetupAnswers) -> Vec<String> {
    let mut changes = Vec::new();
    let mut diff = |key: &str, a: String, b: String| {
        if a != b {
            changes.push(format!("{key} {a} → {b}"));
        }
    };
    diff("project name", was.project_name.clone(), now.project_name.clone());
    diff("repo path", was.repo_path.clone(), now.repo_path.clone());
    diff("PRD path", was.prd_path.clone(), now.prd_path.clone());
    diff(
        "script folders",
        was.script_dirs.join(","),
        now.script_dirs.join(","),
    );
    for ((class, a), (_, b)) in was.class_timeouts.iter().zip(&now.class_timeouts) {
        diff(&format!("{class} timeout"), a.to_string(), b.to_string());
    }
    diff("port", was.port.to_string(), now.port.to_string());
    changes
}

/// Asks each question, offering `defaults` (the current values on a
/// re-run); a bad answer is asked again.
fn ask(defaults: SetupAnswers) -> anyhow::Result<SetupAnswers> {
    let mut p = Prompter::stdin();
    let project_name = p.ask("Project name", &defaults.project_name, ask::text)?;
    let repo_path = p.ask("Repository path", &defaults.repo_path, ask::text)?;
    let prd_path = p.ask("PRD path", &defaults.prd_path, ask::text)?;
    let script_dirs = p.ask(
        "Script folders (comma-separated)",
        &defaults.script_dirs.join(","),
        |answer| {
            Ok(answer
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>())
        },
    )?;
    let mut class_timeouts = Vec::new();
    for (class, timeout) in &defaults.class_timeouts {
        let secs = p.ask(
            &format!("Timeout of {class} tasks, seconds"),
            &timeout.to_string(),
            ask::seconds,
        )?;
        class_timeouts.push((class.clone(), secs));
    }
    let port = p.ask("Server port", &defaults.port.to_string(), ask::port)?;
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
    after_help = "Example:\n  sparkq teardown --yes\n\nStops the server and the watchers of this project's streams (like 'sparkq stop'),\nthen removes only sparkq.yml, the spool folder and those streams' watcher lock,\nFIFO and done flag (in this project's own runtime folder); prints each path. It also\nasks about WORKER_PLAYBOOK.md, .claude/commands/sparkq-worker.md and\nscripts/sparkq-watcher.sh, which setup wrote; --yes removes them too."
)]
pub(super) struct TeardownArgs {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
}

pub(super) fn teardown(explicit: Option<&Path>, args: TeardownArgs) -> anyhow::Result<ExitCode> {
    let config_path = find_config_file(explicit)?;
    let config = Config::load(&config_path)?;
    let queue = Queue::new(config.clone());
    let spool_root = queue.spool_root().to_owned();
    let streams: Vec<String> = queue
        .stream_names()
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let runtime = RuntimeDir::for_project(&config.root, &config.project_name);
    let server = queue.server();

    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "teardown deletes the spool and needs confirmation\n  Run it in a terminal, or pass --yes."
            );
        }
        eprint!(
            "This stops SparkQ's server and watchers here and deletes {} and {} (all tasks). Continue? [y/N] ",
            config_path.display(),
            spool_root.display()
        );
        std::io::stderr().flush()?;
        if !confirmed()? {
            eprintln!("Nothing removed.");
            return Ok(ExitCode::FAILURE);
        }
    }
    // The files setup wrote beside the config: removed with --yes, else
    // only when the user says so.
    let written: Vec<PathBuf> = [
        PLAYBOOK_PATH,
        super::mcp::CLAUDE_COMMAND_PATH,
        WATCHER_SCRIPT_PATH,
    ]
    .iter()
    .map(|rel| config.root.join(rel))
    .filter(|p| p.is_file())
    .collect();
    let remove_written = args.yes || written.is_empty() || {
        let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        eprint!("Also remove what setup wrote: {}? [y/N] ", names.join(", "));
        std::io::stderr().flush()?;
        confirmed()?
    };

    let (mut out, stuck) = stop_processes(running_processes(&runtime, server, &streams)?);
    if !stuck.is_empty() {
        print(&out)?;
        bail!(
            "{} did not stop within {STOP_WAIT_SECS} s, so nothing was removed\n  Stop it with 'kill PID', then run teardown again.",
            stuck.join(", ")
        );
    }
    // What a stopped watcher leaves behind (a worker's done flag, or the
    // lock and FIFO of one killed with -9) and the one-shot sweeps' hints,
    // in this project's own runtime folder only, and then that folder if
    // nothing else is left in it.
    if runtime.check()? {
        for stream in &streams {
            for path in [
                runtime.lock(stream),
                runtime.fifo(stream),
                runtime.done_flag(stream),
                runtime.claims_hint(stream),
                runtime.claims_hint_temp(stream),
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
    let root = config.root.clone();
    let removal = queue
        .remove_spool()
        .with_context(|| format!("could not remove {}", spool_root.display()))?;
    if removal.root_removed {
        out.push_str(&format!("removed   {}/\n", spool_root.display()));
    } else if removal.files > 0 {
        out.push_str(&format!(
            "removed   {} files SparkQ wrote in {}/\n",
            removal.files,
            spool_root.display()
        ));
    }
    for kept in &removal.kept {
        out.push_str(&format!("kept      {} (not created by SparkQ)\n", kept.display()));
    }
    std::fs::remove_file(&config_path)
        .with_context(|| format!("could not remove {}", config_path.display()))?;
    out.push_str(&format!("removed   {}\n", config_path.display()));
    // Its entry in the config cache: a private cache, not the user's file,
    // so not listed, and harmless if it stays (served only for this text).
    let _ = Config::forget_cached(&config_path);
    for path in written.iter().filter(|_| remove_written) {
        std::fs::remove_file(path).with_context(|| format!("could not remove {}", path.display()))?;
        out.push_str(&format!("removed   {}\n", path.display()));
        // Folders setup made for them go too, if nothing else is in them.
        for dir in path.ancestors().skip(1).take_while(|d| *d != root) {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
            out.push_str(&format!("removed   {}/\n", dir.display()));
        }
    }
    if !remove_written {
        for path in &written {
            out.push_str(&format!("kept      {}\n", path.display()));
        }
    }
    print(&out)?;
    if !removal.kept.is_empty() {
        eprintln!(
            "Kept {} entries in {} that SparkQ did not create; move or delete them yourself.",
            removal.kept.len(),
            spool_root.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a yes/no answer from stdin; only `y` or `yes` is yes.
fn confirmed() -> anyhow::Result<bool> {
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
