//! `sparkq session …` and `sparkq stream …`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::input::text_or_file;
use super::output::{ago, print, print_json, table, truncate};
use crate::model::{Session, SessionStatus, StreamStatus};
use crate::queue::{Queue, StreamInfo};

/// Create, list and end sessions.
#[derive(Debug, Subcommand)]
pub(super) enum SessionCommand {
    /// Start a session (a bounded period of work that groups streams).
    #[command(after_help = "Example:\n  sparkq session create api-v2 --description \"API v2 rewrite\"")]
    Create {
        name: String,
        #[arg(long, short, allow_hyphen_values = true)]
        description: Option<String>,
        /// Print the session as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List sessions.
    #[command(after_help = "Example:\n  sparkq session list --json")]
    List {
        #[arg(long)]
        json: bool,
    },
    /// End a session and all of its active streams.
    #[command(after_help = "Example:\n  sparkq session end api-v2")]
    End { name: String },
}

/// Create, list and end streams.
#[derive(Debug, Subcommand)]
pub(super) enum StreamCommand {
    /// Create a stream (a FIFO lane of tasks) in a session.
    #[command(
        after_help = "Example:\n  sparkq stream create auth --session api-v2 --instructions \"Goal: OAuth login. Done when: tests pass.\""
    )]
    Create(StreamCreateArgs),
    /// List streams with their task counts.
    #[command(after_help = "Example:\n  sparkq stream list --session api-v2")]
    List {
        /// Only streams of this session.
        #[arg(long)]
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a stream's whole brief (its instructions), status and counts.
    #[command(after_help = "Example:\n  sparkq stream show auth\n  sparkq stream show auth --json")]
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// End a stream: it takes no new tasks and hands out none; files stay.
    #[command(after_help = "Example:\n  sparkq stream end auth")]
    End { name: String },
}

#[derive(Debug, Args)]
pub(super) struct StreamCreateArgs {
    name: String,
    /// The session the stream belongs to.
    #[arg(long)]
    session: String,
    /// The brief every claim returns: goal, context, done-when.
    #[arg(long, short, conflicts_with = "instructions_file", allow_hyphen_values = true)]
    instructions: Option<String>,
    /// Read the instructions from a file ('-' for stdin).
    #[arg(long, value_name = "PATH")]
    instructions_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub(super) fn session(queue: &Queue, cmd: SessionCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionCommand::Create {
            name,
            description,
            json,
        } => {
            let session = queue.create_session(&name, description)?;
            if json {
                print_json(&session)?;
            } else {
                print(&format!("Created session {}\n", session.name))?;
            }
        }
        SessionCommand::List { json } => {
            let sessions = queue.list_sessions()?;
            if json {
                print_json(&sessions)?;
            } else if sessions.is_empty() {
                print("No sessions yet. Create one with 'sparkq session create NAME'.\n")?;
            } else {
                print(&sessions_table(&sessions))?;
            }
        }
        SessionCommand::End { name } => {
            let session = queue.end_session(&name)?;
            print(&format!("Ended session {} and its streams\n", session.name))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn sessions_table(sessions: &[Session]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            let status = if s.status == SessionStatus::Active {
                "active"
            } else {
                "ended"
            };
            vec![
                s.name.to_string(),
                status.to_owned(),
                ago(s.created_at),
                truncate(s.description.as_deref().unwrap_or(""), 60),
            ]
        })
        .collect();
    table(&["SESSION", "STATUS", "CREATED", "DESCRIPTION"], &rows)
}

pub(super) fn stream(queue: &Queue, cmd: StreamCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StreamCommand::Create(args) => {
            let instructions = text_or_file(
                args.instructions,
                args.instructions_file.as_deref(),
                "instructions",
                queue.config().limits.payload_bytes,
            )?
            .unwrap_or_default();
            let stream = queue.create_stream(&args.name, &args.session, &instructions)?;
            if args.json {
                print_json(&stream)?;
            } else {
                print(&format!(
                    "Created stream {} in session {}\n",
                    stream.name, stream.session
                ))?;
            }
        }
        StreamCommand::List { session, json } => {
            let streams = queue.list_streams(session.as_deref())?;
            if json {
                print_json(&streams)?;
            } else if streams.is_empty() {
                print("No streams yet. Create one with 'sparkq stream create NAME --session S'.\n")?;
            } else {
                let rows: Vec<Vec<String>> = streams
                    .iter()
                    .map(|s| {
                        let c = s.counts;
                        let status = if s.stream.status == StreamStatus::Active {
                            "active"
                        } else {
                            "ended"
                        };
                        vec![
                            s.stream.name.to_string(),
                            s.stream.session.to_string(),
                            status.to_owned(),
                            c.queued.to_string(),
                            c.running.to_string(),
                            c.stale.to_string(),
                            c.succeeded.to_string(),
                            c.failed.to_string(),
                            truncate(&s.stream.instructions, 40),
                        ]
                    })
                    .collect();
                let header = [
                    "STREAM",
                    "SESSION",
                    "STATUS",
                    "QUEUED",
                    "RUNNING",
                    "STALE",
                    "DONE",
                    "FAILED",
                    "INSTRUCTIONS",
                ];
                print(&table(&header, &rows))?;
            }
        }
        StreamCommand::Show { name, json } => {
            let info = queue.stream_info(&name)?;
            if json {
                print_json(&info)?;
            } else {
                print(&stream_detail(&info))?;
            }
        }
        StreamCommand::End { name } => {
            let stream = queue.end_stream(&name)?;
            print(&format!("Ended stream {}\n", stream.name))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `stream show` for people: the header, then the instructions unabridged.
fn stream_detail(info: &StreamInfo) -> String {
    let s = &info.stream;
    let c = info.counts;
    let status = if s.status == StreamStatus::Active {
        "active".to_owned()
    } else {
        format!("ended {}", s.ended_at.map(ago).unwrap_or_default())
    };
    let instructions = if s.instructions.trim().is_empty() {
        "(none)"
    } else {
        s.instructions.trim_end()
    };
    format!(
        "stream:   {}\nsession:  {}\nstatus:   {status}\ncreated:  {} ({})\ntasks:    {} queued, {} running ({} stale), {} succeeded, {} failed\n\nInstructions:\n{instructions}\n",
        s.name,
        s.session,
        s.created_at,
        ago(s.created_at),
        c.queued,
        c.running,
        c.stale,
        c.succeeded,
        c.failed,
    )
}
