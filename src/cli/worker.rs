//! The worker protocol: enqueue, peek, claim, complete, fail, heartbeat.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use super::input::{read_file_or_stdin, text_or_file};
use super::output::{print, print_json, print_json_line, table};
use super::project::default_worker;
use crate::config::Limits;
use crate::queue::{self, NewTask, Queue, Report};

/// Queue a task (prints its id).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq enqueue run-bash '{\"script_path\": \"scripts/migrate.sh\", \"args\": [\"--dry-run\"]}' --stream auth\n  sparkq enqueue llm-haiku --payload-file prompt.json --stream auth --timeout 600\n  sparkq enqueue --stream auth --batch plan.jsonl"
)]
pub(super) struct EnqueueArgs {
    /// A registered tool (see sparkq.yml).
    #[arg(required_unless_present = "batch")]
    tool: Option<String>,
    /// The payload, a JSON value (usually an object).
    #[arg(conflicts_with_all = ["payload_file", "batch"], allow_hyphen_values = true)]
    payload: Option<String>,
    /// Read the payload from a file ('-' for stdin).
    #[arg(long, value_name = "PATH", conflicts_with = "batch")]
    payload_file: Option<PathBuf>,
    /// The stream to queue into.
    #[arg(long, short)]
    stream: String,
    /// Seconds before a claim is stale (1 to 2592000, i.e. 30 days);
    /// overrides the tool's timeout.
    #[arg(long, value_parser = super::numbers::timeout_secs)]
    timeout: Option<u64>,
    /// Queue one task per line of a JSONL file ('-' for stdin), all or nothing.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["tool", "timeout"])]
    batch: Option<PathBuf>,
    /// Print the created task(s) as JSON instead of the id(s).
    #[arg(long)]
    json: bool,
}

pub(super) fn enqueue(queue: &Queue, args: EnqueueArgs) -> anyhow::Result<ExitCode> {
    let tasks = if let Some(batch) = &args.batch {
        let text = read_file_or_stdin(batch, "batch", queue::MAX_BATCH_BYTES)?;
        queue.enqueue_batch(&args.stream, queue::parse_batch(&text)?)?
    } else {
        let tool_name = args.tool.context("a tool name is required")?;
        if args.payload.is_none() && args.payload_file.is_none() && looks_like_json(&tool_name) {
            bail!(
                "the tool name is missing: '{}' is JSON, so it was taken as the tool name\n  Put a registered tool before the payload, e.g. sparkq enqueue run-bash '{{\"script_path\": \"a.sh\"}}' --stream {} (the tools are under 'tools:' in sparkq.yml).",
                super::output::truncate(&tool_name, 60),
                args.stream
            );
        }
        let Some(payload) = text_or_file(
            args.payload,
            args.payload_file.as_deref(),
            "payload",
            queue.config().limits.payload_bytes,
        )?
        else {
            bail!(
                "a payload is required\n  Give it as JSON after the tool name, or with --payload-file PATH ('-' for stdin)."
            );
        };
        let new = NewTask {
            tool_name,
            payload: queue::parse_payload(&payload)?,
            timeout: args.timeout,
            task_class: None,
        };
        vec![queue.enqueue(&args.stream, new)?]
    };
    if args.json {
        print_json(&tasks)?;
    } else {
        let ids: String = tasks.iter().map(|t| format!("{}\n", t.id)).collect();
        print(&ids)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `text` is a JSON object or array: a payload given where the tool
/// name belongs.
fn looks_like_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object() || v.is_array())
}

/// Show the next queued task as one line of JSON (nothing if none); changes nothing.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq peek --stream auth")]
pub(super) struct PeekArgs {
    #[arg(long, short)]
    stream: String,
}

pub(super) fn peek(queue: &Queue, args: PeekArgs) -> anyhow::Result<ExitCode> {
    if let Some(task) = queue.peek(&args.stream)? {
        print_json_line(&task)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Take the oldest queued task: prints it as JSON with the stream's instructions.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq claim --stream auth\n  sparkq claim --stream auth --worker claude-1\n  sparkq claim --stream auth --wait 600   # blocks until a task arrives\n\nWhen nothing is queued: stdout stays empty, stderr says \"No queued task in\nstream S.\", exit 0. Keep the printed \"claim_token\"\nand pass it to complete/fail/heartbeat with --token."
)]
pub(super) struct ClaimArgs {
    /// The stream to claim from.
    #[arg(long, short)]
    stream: Option<String>,
    /// Who is claiming (default: <hostname>:<pid of your shell>).
    #[arg(long, short)]
    worker: Option<String>,
    /// Wait up to SECONDS (600 if none given, at most 43200) for a task to arrive.
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        default_missing_value = "600",
        value_parser = super::numbers::wait_secs
    )]
    wait: Option<u64>,
}

pub(super) fn claim(queue: &Queue, args: ClaimArgs) -> anyhow::Result<ExitCode> {
    let Some(stream) = args.stream else {
        return claim_usage(queue);
    };
    let worker = args.worker.unwrap_or_else(default_worker);
    if let Some(secs) = args.wait {
        return super::watch::claim_wait(queue, &stream, &worker, secs);
    }
    match queue.claim(&stream, &worker)? {
        Some(claimed) => print_json(&claimed)?,
        // stdout stays empty, so `TASK=$(sparkq claim ...)` is empty too.
        None => eprintln!("No queued task in stream {stream}."),
    }
    Ok(ExitCode::SUCCESS)
}

/// `claim` without a stream: say so, show where work is waiting, exit 1.
fn claim_usage(queue: &Queue) -> anyhow::Result<ExitCode> {
    eprintln!("Error: --stream is required");
    let rows: Vec<Vec<String>> = queue
        .list_streams(None)?
        .into_iter()
        .filter(|s| s.counts.queued > 0)
        .map(|s| {
            vec![
                s.stream.name.to_string(),
                s.stream.session.to_string(),
                s.counts.queued.to_string(),
            ]
        })
        .collect();
    if rows.is_empty() {
        eprintln!("No stream has queued tasks.");
    } else {
        eprintln!("Streams with queued tasks:");
        eprint!("{}", table(&["STREAM", "SESSION", "QUEUED"], &rows));
    }
    eprintln!("Usage: sparkq claim --stream <STREAM> [--worker <WORKER>] [--wait [SECONDS]]");
    Ok(ExitCode::FAILURE)
}

/// The flags `complete` and `fail` share.
#[derive(Debug, Args)]
struct ReportArgs {
    /// The claim token from `claim`; refused if the claim was taken back.
    #[arg(long)]
    token: Option<String>,
    /// The task's standard output.
    #[arg(long, conflicts_with = "stdout_file", allow_hyphen_values = true)]
    stdout: Option<String>,
    /// Read stdout from a file ('-' for stdin).
    #[arg(long, value_name = "PATH")]
    stdout_file: Option<PathBuf>,
    /// The task's standard error.
    #[arg(long, conflicts_with = "stderr_file", allow_hyphen_values = true)]
    stderr: Option<String>,
    /// Read stderr from a file ('-' for stdin).
    #[arg(long, value_name = "PATH")]
    stderr_file: Option<PathBuf>,
}

impl ReportArgs {
    fn into_report(self, limits: Limits) -> anyhow::Result<Report> {
        if self.stdout_file.as_deref() == Some("-".as_ref())
            && self.stderr_file.as_deref() == Some("-".as_ref())
        {
            bail!("--stdout-file and --stderr-file cannot both read stdin ('-')");
        }
        Ok(Report {
            token: self.token,
            stdout: text_or_file(
                self.stdout,
                self.stdout_file.as_deref(),
                "stdout",
                limits.output_bytes,
            )?,
            stderr: text_or_file(
                self.stderr,
                self.stderr_file.as_deref(),
                "stderr",
                limits.output_bytes,
            )?,
        })
    }
}

/// Finish a running task with a result; the result needs a "summary".
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq complete tsk_01jd... --token 3f2a... --result '{\"summary\": \"Added /login; 12 tests pass\"}'\n  pytest 2>&1 | sparkq complete tsk_01jd... --result-file result.json --stdout-file -"
)]
pub(super) struct CompleteArgs {
    id: String,
    /// The result: a JSON object with a non-empty "summary" string.
    #[arg(
        long,
        required_unless_present = "result_file",
        conflicts_with = "result_file",
        allow_hyphen_values = true
    )]
    result: Option<String>,
    /// Read the result from a file ('-' for stdin).
    #[arg(long, value_name = "PATH")]
    result_file: Option<PathBuf>,
    #[command(flatten)]
    report: ReportArgs,
    /// Print the finished task as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn complete(queue: &Queue, args: CompleteArgs) -> anyhow::Result<ExitCode> {
    let limits = queue.config().limits;
    let text = text_or_file(
        args.result,
        args.result_file.as_deref(),
        "result",
        limits.payload_bytes,
    )?
    .unwrap_or_default();
    let result = serde_json::from_str(&text).map_err(|e| {
        queue::Error::invalid(
            "result",
            format!("it is not valid JSON: {e}"),
            "Pass a JSON object such as '{\"summary\": \"...\"}' (or use --result-file). The task is still running.",
        )
    })?;
    let task = queue.complete(&args.id, result, args.report.into_report(limits)?)?;
    finished(&task, args.json)
}

/// Finish a running task as failed, with an error message.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  sparkq fail tsk_01jd... --token 3f2a... --error \"migration failed: column exists\" --stderr-file err.log"
)]
pub(super) struct FailArgs {
    id: String,
    /// What went wrong.
    #[arg(long, allow_hyphen_values = true)]
    error: String,
    #[command(flatten)]
    report: ReportArgs,
    /// Print the failed task as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn fail(queue: &Queue, args: FailArgs) -> anyhow::Result<ExitCode> {
    let report = args.report.into_report(queue.config().limits)?;
    let task = queue.fail(&args.id, &args.error, report)?;
    finished(&task, args.json)
}

fn finished(task: &crate::model::Task, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(task)?;
    } else {
        print(&format!("{} {}\n", task.id, task.status.as_str()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Mark a running task alive, so a long task is not taken back.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq heartbeat tsk_01jd... --token 3f2a...")]
pub(super) struct HeartbeatArgs {
    id: String,
    /// The claim token from `claim`.
    #[arg(long)]
    token: Option<String>,
}

pub(super) fn heartbeat(queue: &Queue, args: HeartbeatArgs) -> anyhow::Result<ExitCode> {
    let task = queue.heartbeat(&args.id, args.token.as_deref())?;
    let at = task.heartbeat_at.map(|t| t.to_string()).unwrap_or_default();
    print(&format!("{} alive at {at}\n", task.id))?;
    Ok(ExitCode::SUCCESS)
}
