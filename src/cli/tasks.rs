//! `sparkq tasks`, `task`, `requeue`, `purge`: reading and tidying tasks.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::output::{
    ago, paint, print, print_json, short_duration, status_colour, table, truncate, use_colour,
};
use crate::model::{Task, TaskStatus, Timestamp};
use crate::queue::{self, Queue, RequeueOptions, Requeued, SinceReport, TaskFilter};

/// List tasks, newest first.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq tasks --stream auth --status failed\n  sparkq tasks --stale\n  sparkq tasks --json --limit 200\n  sparkq tasks -q 'permission denied' --tool run-bash\n  sparkq tasks --since 8h          # what finished in the last 8 hours, by stream, failures first"
)]
pub(super) struct TasksArgs {
    /// queued, running, succeeded or failed (or the folder names pending,
    /// claimed, done).
    #[arg(long, value_parser = parse_status)]
    status: Option<TaskStatus>,
    #[arg(long, short)]
    stream: Option<String>,
    /// Only running tasks past their timeout.
    #[arg(long)]
    stale: bool,
    /// At most this many (1-1000).
    #[arg(long, default_value_t = 50, value_parser = super::numbers::page_limit)]
    limit: usize,
    /// Only tasks older than this id (paging).
    #[arg(long, value_name = "ID")]
    before: Option<String>,
    /// Only tasks with this text (any case) in their summary, error or
    /// payload.
    #[arg(long = "grep", short = 'q', value_name = "TEXT")]
    text: Option<String>,
    /// Only tasks of this tool.
    #[arg(long)]
    tool: Option<String>,
    /// Only tasks claimed by this worker.
    #[arg(long)]
    worker: Option<String>,
    /// What finished since this moment (an age such as 8h, 90m or 2d, or an
    /// RFC 3339 time), grouped by stream with failures first, instead of a
    /// page; the other filters narrow it.
    #[arg(long, value_name = "WHEN", value_parser = parse_when, conflicts_with_all = ["stale", "before", "limit"], allow_hyphen_values = true)]
    since: Option<Timestamp>,
    /// Only tasks last updated before this moment (with --since: finished
    /// before it): an age (8h, 90m, 2d) or an RFC 3339 time.
    #[arg(long, value_name = "WHEN", value_parser = parse_when, allow_hyphen_values = true)]
    until: Option<Timestamp>,
    #[arg(long)]
    json: bool,
}

/// A moment as `--since`/`--until` take it: an age (`8h`, `90m`, `2d`)
/// meaning that long ago, or an RFC 3339 time.
fn parse_when(s: &str) -> Result<Timestamp, String> {
    queue::parse_moment("the time", s, Timestamp::now()).map_err(|e| e.to_string().replace("\n  ", ". "))
}

fn parse_status(s: &str) -> Result<TaskStatus, String> {
    TaskStatus::parse_filter(s).ok_or_else(|| {
        format!(
            "'{s}' is not a status; use queued, running, succeeded or failed (or the folder names pending, claimed, done)"
        )
    })
}

pub(super) fn tasks(queue: &Queue, args: TasksArgs) -> anyhow::Result<ExitCode> {
    let filter = TaskFilter {
        status: args.status,
        stream: args.stream,
        stale: args.stale,
        limit: Some(args.limit),
        before: args.before,
        text: args.text,
        tool: args.tool,
        worker: args.worker,
        until: args.until,
        ..TaskFilter::default()
    };
    if let Some(since) = args.since {
        let report = queue.since(&TaskFilter {
            since: Some(since),
            limit: None,
            ..filter
        })?;
        if args.json {
            print_json(&report)?;
        } else {
            print(&since_text(&report, use_colour()))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let page = queue.list_tasks(&filter)?;
    if args.json {
        print_json(&page.into_listings(Timestamp::now()))?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.tasks.is_empty() {
        print("No tasks match.\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let colour = use_colour();
    let now = Timestamp::now();
    let rows: Vec<Vec<String>> = page.tasks.iter().map(|t| task_row(t, now, colour)).collect();
    let mut out = table(
        &[
            "ID",
            "STATUS",
            "STREAM",
            "TOOL",
            "CREATED",
            "DURATION",
            "SUMMARY / ERROR",
        ],
        &rows,
    );
    if let Some(cursor) = &page.next_cursor {
        out.push_str(&format!("More: sparkq tasks --before {cursor}\n"));
    }
    print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn task_row(t: &Task, now: Timestamp, colour: bool) -> Vec<String> {
    let mut status = paint(t.status.as_str(), status_colour(t.status), colour);
    if t.is_stale_at(now) {
        status.push_str(&paint(" (stale)", "33;1", colour));
    }
    if !t.conflicts.is_empty() {
        status.push_str(&paint(" (conflict)", "31;1", colour));
    }
    let note = t
        .summary()
        .map(str::to_owned)
        .or_else(|| t.error.clone())
        .unwrap_or_default();
    vec![
        t.id.to_string(),
        status,
        t.stream.to_string(),
        t.tool_name.clone(),
        ago(t.created_at),
        t.duration().map(short_duration).unwrap_or_else(|| "-".to_owned()),
        truncate(&note, 60),
    ]
}

/// How many succeeded tasks of a stream the since view prints (every
/// failure is printed, up to the report's cap).
const SINCE_SUCCEEDED_SHOWN: usize = 10;

/// The since view as text: the window and its counts, then each stream
/// (failures first) with its failed tasks and its newest successes.
fn since_text(report: &SinceReport, colour: bool) -> String {
    let when = |t: Timestamp| format!("{} ({})", readable_time(t), ago(t));
    let mut out = format!(
        "Finished since {} until {}: {} succeeded, {} failed\n",
        when(report.since),
        readable_time(report.until),
        report.counts.succeeded,
        paint(
            &report.counts.failed.to_string(),
            if report.counts.failed > 0 { "31;1" } else { "0" },
            colour
        ),
    );
    match (report.first_finished_at, report.last_finished_at) {
        (Some(first), Some(last)) => out.push_str(&format!(
            "First finished {}, last {} (a span of {})\n",
            readable_time(first),
            readable_time(last),
            short_duration(last.since(first))
        )),
        _ => out.push_str("Nothing finished in that time.\n"),
    }
    for stream in &report.streams {
        out.push_str(&format!(
            "\n{}: {} succeeded, {} failed\n",
            stream.stream, stream.succeeded, stream.failed
        ));
        let failed = stream.tasks.iter().filter(|t| t.status == TaskStatus::Failed);
        let succeeded = stream.tasks.iter().filter(|t| t.status != TaskStatus::Failed);
        let rows: Vec<Vec<String>> = failed
            .chain(succeeded.take(SINCE_SUCCEEDED_SHOWN))
            .map(|t| {
                vec![
                    paint(t.status.as_str(), status_colour(t.status), colour),
                    t.id.to_string(),
                    t.tool_name.clone(),
                    t.finished_at.map(readable_time).unwrap_or_default(),
                    t.duration_ms
                        .map(|ms| short_duration(Duration::from_millis(ms)))
                        .unwrap_or_else(|| "-".to_owned()),
                    truncate(t.payload_key.as_deref().unwrap_or(""), 40),
                    truncate(t.error.as_deref().or(t.summary.as_deref()).unwrap_or(""), 60),
                ]
            })
            .collect();
        let table = table(
            &[
                "STATUS",
                "ID",
                "TOOL",
                "FINISHED",
                "DURATION",
                "TASK",
                "SUMMARY / ERROR",
            ],
            &rows,
        );
        for line in table.lines() {
            out.push_str(&format!("  {line}\n"));
        }
        let unshown = stream.succeeded.saturating_sub(SINCE_SUCCEEDED_SHOWN);
        if unshown > 0 {
            out.push_str(&format!(
                "  ... and {unshown} more succeeded: sparkq tasks --stream {} --status succeeded\n",
                stream.stream
            ));
        }
        if stream.truncated {
            out.push_str(&format!(
                "  (only the first {} tasks listed; see them all with --json or narrow the window)\n",
                crate::queue::MAX_SINCE_TASKS
            ));
        }
    }
    out
}

/// `2026-12-02 04:46:35 UTC`: a full date and time, to the second.
fn readable_time(t: Timestamp) -> String {
    let text = t.to_string();
    let seconds = text.split('.').next().unwrap_or(&text);
    format!("{} UTC", seconds.trim_end_matches('Z').replace('T', " "))
}

/// Show one task with everything it holds, stdout and stderr included.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  sparkq task tsk_01jd...")]
pub(super) struct TaskArgs {
    id: String,
    #[arg(long)]
    json: bool,
}

pub(super) fn task(queue: &Queue, args: TaskArgs) -> anyhow::Result<ExitCode> {
    let task = queue.get_task(&args.id)?;
    if args.json {
        print_json(&task)?;
    } else {
        print(&task_detail(&task, use_colour()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn task_detail(t: &Task, colour: bool) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("{:<14} {v}\n", format!("{k}:")));
    line(&mut out, "id", t.id.to_string());
    let mut status = paint(t.status.as_str(), status_colour(t.status), colour);
    if t.is_stale_at(Timestamp::now()) {
        status.push_str(" (stale: past its timeout)");
    }
    line(&mut out, "status", status);
    line(
        &mut out,
        "stream",
        format!("{} (session {})", t.stream, t.session),
    );
    line(
        &mut out,
        "tool",
        format!("{} ({}, timeout {}s)", t.tool_name, t.task_class, t.timeout),
    );
    line(
        &mut out,
        "attempts",
        format!("{} of {}", t.attempts, t.max_attempts),
    );
    if let Some(w) = &t.claimed_by {
        line(&mut out, "claimed by", w.clone());
    }
    if let Some(from) = &t.requeued_from {
        line(&mut out, "requeued from", from.to_string());
    }
    if let Some(to) = &t.requeued_as {
        line(&mut out, "requeued as", to.to_string());
    }
    line(
        &mut out,
        "created",
        format!("{} ({})", t.created_at, ago(t.created_at)),
    );
    for (k, v) in [
        ("started", t.started_at),
        ("heartbeat", t.heartbeat_at),
        ("finished", t.finished_at),
    ] {
        if let Some(v) = v {
            line(&mut out, k, format!("{v} ({})", ago(v)));
        }
    }
    if let Some(d) = t.duration() {
        line(&mut out, "duration", short_duration(d));
    }
    if let Some(summary) = t.summary() {
        out.push_str(&format!("\nSummary:\n  {}\n", summary.replace('\n', "\n  ")));
    }
    if let Some(error) = &t.error {
        out.push_str(&format!("\nError:\n  {}\n", error.replace('\n', "\n  ")));
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    out.push_str(&format!("\nPayload:\n{}\n", pretty(&t.payload)));
    if let Some(result) = &t.result {
        out.push_str(&format!("\nResult:\n{}\n", pretty(result)));
    }
    let original = match t.original_encoding.as_deref() {
        Some(encoding) => format!("Original file ({encoding}: its bytes are not UTF-8)"),
        None => "Original file".to_owned(),
    };
    for (name, text) in [
        ("Stdout", &t.stdout),
        ("Stderr", &t.stderr),
        (original.as_str(), &t.original),
    ] {
        if let Some(text) = text.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!("\n{name}:\n{text}"));
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    if !t.history.is_empty() {
        out.push_str("\nHistory:\n");
        for a in &t.history {
            let worker = a.worker.as_deref().unwrap_or("?");
            let outcome = serde_json::to_value(a.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            out.push_str(&format!(
                "  attempt {} by {worker}: {outcome} at {}\n",
                a.attempt, a.ended_at
            ));
        }
    }
    if !t.conflicts.is_empty() {
        out.push_str("\nConflicts (other machines reported differently; see 'sparkq doctor'):\n");
        for c in &t.conflicts {
            out.push_str(&format!("  {}\n", c.describe(t).replace('\n', "\n    ")));
        }
    }
    out
}

/// Queue tasks again as new tasks: failed or succeeded ones, or the queued
/// tasks of an ended stream (to resume its work in a new stream).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq requeue tsk_01jd...\n  sparkq requeue tsk_01jd... tsk_01je... --stream auth-2\n  sparkq requeue tsk_01jd... --payload '{\"script_path\": \"scripts/fixed.sh\"}'\n  sparkq requeue --all-queued --from auth --stream auth-2   # resume an ended stream\n\nThe new task records requeued_from, the original requeued_as. Requeueing a\ntask a second time works, with a warning naming its earlier copy."
)]
pub(super) struct RequeueArgs {
    /// The tasks to requeue.
    #[arg(required_unless_present = "all_queued", conflicts_with = "all_queued")]
    ids: Vec<String>,
    /// Queue the copies into this (active) stream instead of the original's.
    #[arg(long, short, required_if_eq("all_queued", "true"))]
    stream: Option<String>,
    /// Give the copies this payload (JSON) instead of the original's.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "all_queued")]
    payload: Option<String>,
    /// Requeue every queued task of the ended stream --from into --stream.
    #[arg(long, requires = "from")]
    all_queued: bool,
    /// The ended stream whose queued tasks --all-queued moves.
    #[arg(long, value_name = "STREAM", requires = "all_queued")]
    from: Option<String>,
    /// Print the new task(s) as JSON (a list unless one id was given).
    #[arg(long)]
    json: bool,
}

pub(super) fn requeue(queue: &Queue, args: RequeueArgs) -> anyhow::Result<ExitCode> {
    let done = if let (true, Some(from), Some(to)) = (args.all_queued, &args.from, &args.stream) {
        let done = queue.requeue_all_queued(from, to)?;
        if done.is_empty() {
            eprintln!("No queued task in stream {from} to requeue.");
        }
        done
    } else {
        let options = RequeueOptions {
            stream: args.stream.clone(),
            payload: args.payload.as_deref().map(queue::parse_payload).transpose()?,
        };
        let mut done = Vec::new();
        for id in &args.ids {
            let requeued = match queue.requeue(id, &options) {
                Ok(requeued) => requeued,
                Err(err) if done.is_empty() => return Err(err.into()),
                // Say which of the ids given already went through.
                Err(err) => {
                    let earlier: Vec<String> =
                        done.iter().map(|r: &Requeued| r.task.id.to_string()).collect();
                    return Err(anyhow::Error::from(err).context(format!(
                        "task {id} was not requeued; the ones before it were: {}",
                        earlier.join(", ")
                    )));
                }
            };
            done.push(requeued);
        }
        done
    };
    for r in &done {
        if let (Some(before), Some(from)) = (&r.already_requeued_as, &r.task.requeued_from) {
            eprintln!(
                "Warning: task {from} had already been requeued as {before}; it is now queued a second time, as {}.\n  If that was a slip, delete {}.json from the pending/ folder of stream {} before a worker claims it.",
                r.task.id, r.task.id, r.task.stream
            );
        }
    }
    if args.json {
        let tasks: Vec<&Task> = done.iter().map(|r| &r.task).collect();
        match tasks.as_slice() {
            [one] if args.ids.len() == 1 => print_json(one)?,
            _ => print_json(&tasks)?,
        }
    } else {
        let ids: String = done.iter().map(|r| format!("{}\n", r.task.id)).collect();
        print(&ids)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Delete finished tasks older than a limit (never queued or running ones).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sparkq purge                 # older than purge.older_than_days in sparkq.yml\n  sparkq purge --older-than 12h"
)]
pub(super) struct PurgeArgs {
    /// Age limit: 3d, 12h, 30m ...
    #[arg(long, value_parser = parse_age, allow_hyphen_values = true)]
    older_than: Option<Duration>,
    #[arg(long)]
    json: bool,
}

fn parse_age(s: &str) -> Result<Duration, String> {
    // The same ceiling, in the same words, as `purge.older_than_days`.
    let days = crate::model::MAX_PURGE_DAYS;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ceiling = Duration::from_secs(days as u64 * 86_400);
    crate::model::parse_span(s, ceiling).map_err(|e| match e {
        crate::model::SpanError::TooLarge => {
            format!("'{s}' is too large: give an age of at most {days} days (100 years)")
        }
        crate::model::SpanError::Malformed(why) => {
            format!("'{s}' is not an age ({why}); use e.g. 3d, 12h or 30m")
        }
    })
}

pub(super) fn purge(queue: &Queue, args: PurgeArgs) -> anyhow::Result<ExitCode> {
    let older_than = args.older_than.unwrap_or(queue.config().purge_older_than);
    let report = queue.purge(older_than).context("purge stopped")?;
    if args.json {
        print_json(&report)?;
    } else {
        print(&format!(
            "Removed {} finished task(s) older than {}\n",
            report.removed.len(),
            humantime::format_duration(older_than)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
