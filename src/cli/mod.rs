//! The command line: clap definitions and dispatch, one file per command
//! group, output formatting in [`output`]. Every command is a thin call into
//! [`crate::queue`].

mod ask;
mod choose;
mod doctor;
mod input;
mod mcp;
mod numbers;
mod output;
mod project;
mod run;
mod server;
mod sessions;
mod setup;
mod sync;
mod tasks;
mod views;
mod watch;
mod worker;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, FromArgMatches, Parser, Subcommand};

pub use output::{error_message, is_broken_pipe};

/// SparkQ: queue work for AI coding agents, walk away, review results later.
#[derive(Debug, Parser)]
#[command(name = "sparkq", version, about, long_about = None)]
#[command(
    after_help = "Example:\n  sparkq setup --yes\n  sparkq session create api-v2\n  sparkq stream create auth --session api-v2 --instructions \"Add OAuth login\"\n  sparkq enqueue run-bash '{\"script_path\": \"scripts/migrate.sh\"}' --stream auth\n  sparkq claim --stream auth"
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// The options every command takes.
#[derive(Debug, Args)]
struct Global {
    /// The sparkq.yml to use (default: $SPARKQ_CONFIG, else the nearest
    /// sparkq.yml in this folder or above).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    Setup(setup::SetupArgs),
    Teardown(setup::TeardownArgs),
    #[command(subcommand)]
    Session(sessions::SessionCommand),
    #[command(subcommand)]
    Stream(sessions::StreamCommand),
    Enqueue(worker::EnqueueArgs),
    Peek(worker::PeekArgs),
    Claim(worker::ClaimArgs),
    Complete(worker::CompleteArgs),
    Fail(worker::FailArgs),
    Heartbeat(worker::HeartbeatArgs),
    Mcp(mcp::McpArgs),
    InstallClaude(mcp::InstallClaudeArgs),
    Requeue(tasks::RequeueArgs),
    Tasks(tasks::TasksArgs),
    Task(tasks::TaskArgs),
    Purge(tasks::PurgeArgs),
    Status(views::StatusArgs),
    Completions(views::CompletionsArgs),
    Watch(watch::WatchArgs),
    Run(run::RunArgs),
    Stop(watch::StopArgs),
    Reload(server::ReloadArgs),
    #[command(subcommand)]
    Scripts(server::ScriptsCommand),
    Doctor(doctor::DoctorArgs),
    Sync(sync::SyncArgs),
}

/// Parses the process's arguments, exiting with clap's usage error (exit 2)
/// on a bad command line, told in words that say what to type instead (see
/// [`usage_tip`]).
pub fn parse_args() -> Cli {
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(cli) = parse_worker_call(&args) {
        return cli;
    }
    let parsed = command()
        .try_get_matches_from(&args)
        .and_then(|mut matches| Cli::from_arg_matches_mut(&mut matches));
    parsed.unwrap_or_else(|err| {
        let Some(text) = usage_tip(&err, &args) else {
            err.exit();
        };
        eprint!("{text}");
        std::process::exit(2);
    })
}

/// clap's message for an unknown argument, made to say what to type, or
/// `None` to print clap's own:
/// - clap's tip for a value that begins with `-` says to write `-- -5`,
///   which only works for positional arguments; for an option the value
///   must be joined to it with `=`, so the tip says that instead;
/// - a plain word where none is taken, given to a command that takes a
///   `--stream` it was not given (`sparkq claim auth`, as `sparkq watch auth`
///   is written), gets a tip naming the option: `--stream auth`.
fn usage_tip(err: &clap::Error, args: &[OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let text = err.render().to_string();
    if let Some(start) = text.find("tip: to pass '") {
        let value = text[start + "tip: to pass '".len()..]
            .split('\'')
            .next()
            .unwrap_or_default();
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        return Some(format!(
            "{}tip: to pass '{value}' as an option's value, join them with '=': --option={value}\n  (after '--' it is taken as a positional argument){}",
            &text[..start],
            &text[end..]
        ));
    }
    let Some(ContextValue::String(word)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    if word.starts_with('-') {
        return None;
    }
    let args: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let name = args
        .iter()
        .enumerate()
        .find(|&(i, a)| !a.starts_with('-') && (i == 0 || args[i - 1] != "--config"))
        .map(|(_, a)| *a)?;
    let root = command();
    let stream = root
        .find_subcommand(name)?
        .get_arguments()
        .find(|arg| arg.get_long() == Some("stream"))?;
    let short = stream.get_short().map(|c| format!("-{c}"));
    let given = args.iter().any(|a| {
        *a == "--stream"
            || a.starts_with("--stream=")
            || short.as_deref().is_some_and(|short| a.starts_with(short))
    });
    if given {
        return None;
    }
    let usage = text.find("\n\nUsage:").unwrap_or(text.len());
    Some(format!(
        "{}\n\n  tip: name the stream with --stream: sparkq {name} ... --stream {word}{}",
        &text[..usage],
        &text[usage..]
    ))
}

/// The command line's grammar: the derived [`Cli`], with one rule for every
/// option that takes a value: a value that looks like a negative number
/// (`--limit -5`, `--timeout -1`) is the option's value, so its own parser
/// says what range it takes, instead of clap calling `-5` an unknown flag.
/// No flag of SparkQ is a dash and a digit, so nothing else changes.
pub(crate) fn command() -> clap::Command {
    negative_numbers_are_values(<Cli as clap::CommandFactory>::command())
}

/// `command` and its subcommands with the rule of [`command`].
fn negative_numbers_are_values(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            if arg.get_long().is_some() && arg.get_action().takes_values() {
                arg.allow_negative_numbers(true)
            } else {
                arg
            }
        })
        .mut_subcommands(negative_numbers_are_values)
}

/// A fast path for one-shot worker calls: `args` parsed by a command tree
/// holding only the global options and the one subcommand named, instead of
/// all 25 (building clap's `Command` for every subcommand and argument was
/// about a sixth of a `sparkq peek`). `None` for anything else (another
/// command, no command, `--help`, `--version`, or any usage error): the
/// caller then parses with the full tree, so help and error messages are
/// always the full tree's. Both trees come from the same derives, so a
/// command line they both accept parses to the same [`Cli`] (tested).
fn parse_worker_call(args: &[OsString]) -> Option<Cli> {
    // Only the plain shapes `sparkq [--config PATH|--config=PATH] NAME ...`.
    let mut rest = args.get(1..)?;
    match rest.first()?.to_str()? {
        "--config" => rest = rest.get(2..)?,
        first if first.starts_with("--config=") => rest = &rest[1..],
        _ => {}
    }
    let (name, augment): (&'static str, fn(clap::Command) -> clap::Command) = match rest.first()?.to_str()? {
        "peek" => ("peek", worker::PeekArgs::augment_args),
        "claim" => ("claim", worker::ClaimArgs::augment_args),
        "complete" => ("complete", worker::CompleteArgs::augment_args),
        "fail" => ("fail", worker::FailArgs::augment_args),
        "heartbeat" => ("heartbeat", worker::HeartbeatArgs::augment_args),
        "enqueue" => ("enqueue", worker::EnqueueArgs::augment_args),
        _ => return None,
    };
    let sub = augment(clap::Command::new(name));
    let tree =
        negative_numbers_are_values(Global::augment_args(clap::Command::new("sparkq")).subcommand(sub));
    let mut matches = tree.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches_mut(&mut matches).ok()
}

/// Runs a parsed command line; `Err` is printed as `Error: ...` with exit 1.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.global.config.as_deref();
    match cli.command {
        Command::Setup(args) => setup::setup(config, args),
        Command::Teardown(args) => setup::teardown(config, args),
        Command::Session(cmd) => sessions::session(&project::open(config)?, cmd),
        Command::Stream(cmd) => sessions::stream(&project::open(config)?, cmd),
        Command::Enqueue(args) => worker::enqueue(&project::open(config)?, args),
        Command::Peek(args) => worker::peek(&project::open(config)?, args),
        Command::Claim(args) => worker::claim(&project::open(config)?, args),
        Command::Complete(args) => worker::complete(&project::open(config)?, args),
        Command::Fail(args) => worker::fail(&project::open(config)?, args),
        Command::Heartbeat(args) => worker::heartbeat(&project::open(config)?, args),
        Command::Mcp(args) => mcp::mcp(config, args),
        Command::InstallClaude(args) => mcp::install_claude(config, args),
        Command::Requeue(args) => tasks::requeue(&project::open(config)?, args),
        Command::Tasks(args) => tasks::tasks(&project::open(config)?, args),
        Command::Task(args) => tasks::task(&project::open(config)?, args),
        Command::Purge(args) => tasks::purge(&project::open(config)?, args),
        Command::Status(args) => views::status(&project::open(config)?, args),
        Command::Completions(args) => views::completions(args),
        Command::Watch(args) => watch::watch(&project::open(config)?, args),
        Command::Run(args) => run::run(project::open(config)?, args),
        Command::Stop(args) => watch::stop(&project::open(config)?, args),
        Command::Reload(args) => server::reload(&project::open(config)?, args),
        Command::Scripts(cmd) => server::scripts(&project::open(config)?, cmd),
        Command::Doctor(args) => doctor::doctor(&project::open(config)?, args),
        Command::Sync(args) => sync::sync(&project::open(config)?, args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn argv(line: &[&str]) -> Vec<OsString> {
        std::iter::once("sparkq")
            .chain(line.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// The tip of [`usage_tip`] for `line`, which must be refused.
    fn tip(line: &[&str]) -> Option<String> {
        let args = argv(line);
        let err = command()
            .try_get_matches_from(&args)
            .expect_err("the line is refused");
        usage_tip(&err, &args)
    }

    #[test]
    fn a_stream_given_as_a_plain_word_gets_a_tip_naming_the_option() {
        let root = command();
        let mut commands = 0;
        for sub in root.get_subcommands() {
            if !sub.get_arguments().any(|a| a.get_long() == Some("stream")) {
                continue;
            }
            // Fill the positionals the command takes, then one word more.
            let name = sub.get_name();
            let mut line = vec![name];
            line.extend(sub.get_positionals().map(|arg| match arg.get_id().as_str() {
                "tool" => "run-bash",
                "payload" => "{}",
                _ => "x",
            }));
            line.push("auth-v2");
            if command().try_get_matches_from(argv(&line)).is_ok() {
                continue; // its last positional takes any number of words
            }
            commands += 1;
            let text = tip(&line).unwrap_or_else(|| panic!("{line:?} gets no tip"));
            assert!(
                text.contains(&format!(
                    "tip: name the stream with --stream: sparkq {name} ... --stream auth-v2"
                )),
                "{line:?}: {text}"
            );
            assert!(text.contains("unexpected argument 'auth-v2'"), "{line:?}: {text}");
            assert!(text.contains("Usage:"), "{line:?}: {text}");
            // With the stream named, the extra word is just extra.
            line.insert(1, "--stream=auth");
            assert_eq!(tip(&line), None, "{line:?}");
        }
        assert!(
            commands >= 3,
            "peek, claim and enqueue at least; found {commands}"
        );
        // Not for a command without --stream, nor for a flag-like word.
        assert_eq!(tip(&["complete", "tsk_1", "extra"]), None);
        assert_eq!(tip(&["peek", "--stream", "a", "--bogus"]), None);
        assert_eq!(tip(&["peek", "-s", "a", "b"]), None);
        assert_eq!(tip(&["--config", "x.yml", "peek", "-sa", "b"]), None);
    }

    #[test]
    fn a_worker_call_parses_as_the_full_tree_parses_it() {
        let lines: &[&[&str]] = &[
            &["peek", "--stream", "auth"],
            // A value like a negative number is a value in both trees.
            &["peek", "--stream", "-5"],
            &["peek", "-s", "auth", "--config", "x/sparkq.yml"],
            &[
                "--config",
                "x/sparkq.yml",
                "claim",
                "--stream",
                "auth",
                "--worker",
                "w1",
            ],
            &["--config=x/sparkq.yml", "claim", "-s", "auth"],
            &["claim", "--stream", "auth", "--wait", "30"],
            &["claim", "--stream", "auth", "--wait"],
            &[
                "complete",
                "tsk_1",
                "--result",
                "{\"summary\": \"ok\"}",
                "--token",
                "t",
            ],
            &["complete", "tsk_1", "--result", "-5", "--token", "t"],
            &["fail", "tsk_1", "--error", "boom", "--token", "t"],
            &["heartbeat", "tsk_1", "--token", "t"],
            &["enqueue", "run-bash", "{}", "--stream", "auth"],
            &["enqueue", "run-bash", "-", "--stream", "auth", "--timeout", "60"],
            &["enqueue", "--batch", "tasks.jsonl", "--stream", "auth"],
        ];
        for line in lines {
            let args = argv(line);
            let full = command()
                .try_get_matches_from(&args)
                .and_then(|mut m| Cli::from_arg_matches_mut(&mut m))
                .unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let fast = parse_worker_call(&args).unwrap_or_else(|| panic!("{line:?}: no fast parse"));
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{line:?}");
        }
    }

    #[test]
    fn anything_but_a_plain_worker_call_is_left_to_the_full_tree() {
        let lines: &[&[&str]] = &[
            &[],
            &["--version"],
            &["--help"],
            &["peek", "--help"],
            &["claim", "-h"],
            &["peek"],
            &["peek", "--stream"],
            &["peek", "--stream", "auth", "--bogus"],
            &["claim", "--stream", "auth", "--wait", "30s"],
            &[
                "complete",
                "tsk_1",
                "--result",
                "{}",
                "--stdout",
                "a",
                "--stdout-file",
                "b",
            ],
            &["--config"],
            &["--config", "x", "--config", "y", "peek", "-s", "a"],
            &["status"],
            &["tasks", "--stream", "auth"],
            &["stream", "list"],
        ];
        for line in lines {
            assert!(parse_worker_call(&argv(line)).is_none(), "{line:?}");
        }
    }

    /// Every subcommand path (`["tasks"]`, `["stream", "create"]`, ...) with
    /// its command.
    fn paths(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in command.get_subcommands() {
            let mut next = path.clone();
            next.push(sub.get_name().to_owned());
            paths(sub, next.clone(), out);
            out.push((next, sub.clone()));
        }
    }

    /// The words clap uses when a number reaches its default integer parser
    /// or a negative number is taken for a flag: none of them says what to
    /// give instead.
    const UNHELPFUL: [&str; 3] = [
        "invalid digit found in string",
        "number too large to fit in target type",
        "cannot parse integer",
    ];

    #[test]
    fn every_option_hands_odd_numbers_to_its_own_parser() {
        let seed = fastrand::u64(..);
        let mut rng = fastrand::Rng::with_seed(seed);
        let root = super::command();
        let mut all = Vec::new();
        paths(&root, Vec::new(), &mut all);
        let mut options = 0;
        for (path, sub) in &all {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if !arg.get_action().takes_values() {
                    continue;
                }
                options += 1;
                for _ in 0..8 {
                    let value = match rng.u8(..5) {
                        0 => format!("-{}", rng.u64(..)),
                        1 => format!("-{}", rng.u8(..10)),
                        2 => format!("{}{}", rng.u64(..), rng.u64(..)),
                        3 => format!("-{}.{}", rng.u16(..), rng.u8(..)),
                        _ => format!("{}.5", rng.u32(..)),
                    };
                    let mut argv = vec!["sparkq".to_owned()];
                    argv.extend(path.iter().cloned());
                    argv.extend([format!("--{long}"), value.clone()]);
                    let Err(err) = root.clone().try_get_matches_from(&argv) else {
                        continue;
                    };
                    let text = err.to_string();
                    assert_ne!(
                        err.kind(),
                        ErrorKind::UnknownArgument,
                        "seed {seed}: {argv:?}: {text}"
                    );
                    for words in UNHELPFUL {
                        assert!(
                            !text.contains(words),
                            "seed {seed}: {argv:?} says only {words:?}: {text}"
                        );
                    }
                }
            }
        }
        assert!(options > 20, "found only {options} options with values");
    }

    #[test]
    fn a_negative_age_reaches_the_age_parser_and_gets_its_words() {
        for (path, long, words) in [
            (&["tasks"][..], "since", "is neither a time nor an age"),
            (&["tasks"], "until", "is neither a time nor an age"),
            (&["purge"], "older-than", "is not an age"),
            (&["sync"], "every", "is not an interval"),
        ] {
            for age in ["-5h", "-90m", "-2d"] {
                let mut argv = vec!["sparkq"];
                argv.extend(path);
                let flag = format!("--{long}");
                argv.extend([flag.as_str(), age]);
                let err = super::command()
                    .try_get_matches_from(&argv)
                    .expect_err("a negative age is refused");
                let text = err.to_string();
                assert_eq!(err.kind(), ErrorKind::ValueValidation, "{argv:?}: {text}");
                assert!(text.contains(words), "{argv:?}: {text}");
            }
        }
    }
}
