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
    Cli::try_parse().unwrap_or_else(|err| {
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
