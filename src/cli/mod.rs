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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use output::{error_message, is_broken_pipe};

/// SparkQ: queue work for AI coding agents, walk away, review results later.
#[derive(Debug, Parser)]
#[command(name = "sparkq", version, about, long_about = None)]
#[command(
    after_help = "Example:\n  sparkq setup --yes\n  sparkq session create api-v2\n  sparkq stream create auth --session api-v2 --instructions \"Add OAuth login\"\n  sparkq enqueue run-bash '{\"script_path\": \"scripts/migrate.sh\"}' --stream auth\n  sparkq claim --stream auth"
)]
pub struct Cli {
    /// The sparkq.yml to use (default: $SPARKQ_CONFIG, else the nearest
    /// sparkq.yml in this folder or above).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
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
/// on a bad command line.
///
/// clap's tip for a value that begins with `-` says to write `-- -5`, which
/// only works for positional arguments; for an option the value must be
/// joined to it with `=`, so the tip says that instead.
pub fn parse_args() -> Cli {
    let parsed = command()
        .try_get_matches()
        .and_then(|mut matches| <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches));
    parsed.unwrap_or_else(|err| {
        if err.kind() != clap::error::ErrorKind::UnknownArgument {
            err.exit();
        }
        let text = err.render().to_string();
        let Some(start) = text.find("tip: to pass '") else {
            err.exit();
        };
        let value = text[start + "tip: to pass '".len()..]
            .split('\'')
            .next()
            .unwrap_or_default()
            .to_owned();
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        let tip = format!(
            "tip: to pass '{value}' as an option's value, join them with '=': --option={value}\n  (after '--' it is taken as a positional argument)"
        );
        eprint!("{}{tip}{}", &text[..start], &text[end..]);
        std::process::exit(2);
    })
}

/// The command line's grammar: the derived [`Cli`], with one rule for every
/// option that takes a value: a value that looks like a negative number
/// (`--limit -5`, `--timeout -1`) is the option's value, so its own parser
/// says what range it takes, instead of clap calling `-5` an unknown flag.
/// No flag of SparkQ is a dash and a digit, so nothing else changes.
pub(crate) fn command() -> clap::Command {
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
    negative_numbers_are_values(<Cli as clap::CommandFactory>::command())
}

/// Runs a parsed command line; `Err` is printed as `Error: ...` with exit 1.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
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
    use clap::error::ErrorKind;

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
