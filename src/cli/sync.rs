//! `sparkq sync [--rsync DEST] [--every 5s]`: share the spool with another
//! machine in one safe round, or keep doing it; also the loop `sparkq run`
//! runs in the background when `sparkq.yml` has a `sync:` section.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::output::{print, print_json_line};
use crate::model::{MAX_SYNC_EVERY_SECS, SpanError};
use crate::queue::{Queue, SyncReport, SyncWith};
use crate::watch::Shutdown;

/// Share the spool with another machine: commit it, pull, settle, commit and
/// push (git), or mirror it both ways and settle (rsync). Safe while
/// workers, watchers and the server run.
#[derive(Debug, Args)]
#[command(
    after_help = "With git, only the spool's files are ever added or committed; your other changes stay as they are. The branch's upstream is merged (like git pull --no-rebase); a merge that conflicts outside the spool is aborted and reported.\n\nExamples:\n  sparkq sync                          # git: one round with the branch's upstream\n  sparkq sync --every 5s               # keep syncing until Ctrl-C\n  sparkq sync --rsync buildbox:project/spool\n  sparkq sync --dry-run --json"
)]
pub(super) struct SyncArgs {
    /// Mirror with this spool folder (PATH or HOST:PATH) by rsync instead
    /// of git.
    #[arg(long, value_name = "DEST")]
    rsync: Option<String>,
    /// Keep syncing, this often (e.g. 5s, 1m), until Ctrl-C.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_every, allow_hyphen_values = true)]
    every: Option<Duration>,
    /// Say what would move; change nothing (git still fetches).
    #[arg(long)]
    dry_run: bool,
    /// One JSON object per round.
    #[arg(long)]
    json: bool,
}

fn parse_every(s: &str) -> Result<Duration, String> {
    let every =
        crate::model::parse_span(s, Duration::from_secs(MAX_SYNC_EVERY_SECS)).map_err(|e| match e {
            SpanError::TooLarge => format!("'{s}' is too long; sync at least once a day (at most 24h)"),
            SpanError::Malformed(why) => format!("'{s}' is not an interval ({why}); use e.g. 5s or 1m"),
        })?;
    if every < Duration::from_millis(100) {
        return Err(format!("'{s}' is too short; sync at most every 100ms"));
    }
    Ok(every)
}

pub(super) fn sync(queue: &Queue, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let with = args.rsync.map_or(SyncWith::Git, SyncWith::Rsync);
    let Some(every) = args.every else {
        let report = queue.sync(&with, args.dry_run)?;
        show(&report, args.json)?;
        return Ok(ExitCode::SUCCESS);
    };
    if args.dry_run {
        bail!("--dry-run makes one round; leave out --every");
    }
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    keep_syncing(queue, &with, every, &shutdown, |outcome| match outcome {
        Ok(report) => show(report, args.json),
        Err(e) => {
            eprintln!("Error: {e:#}");
            Ok(())
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Syncs every `every` until `shutdown` fires, handing each round's
/// outcome to `seen`; a failed round is reported and the next one tries
/// again.
pub(super) fn keep_syncing(
    queue: &Queue,
    with: &SyncWith,
    every: Duration,
    shutdown: &Shutdown,
    mut seen: impl FnMut(Result<&SyncReport, &crate::queue::Error>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    while !shutdown.is_fired() {
        match queue.sync(with, false) {
            Ok(report) => seen(Ok(&report))?,
            Err(e) => seen(Err(&e))?,
        }
        if shutdown.wait_for(every) {
            break;
        }
    }
    Ok(())
}

fn show(report: &SyncReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json_line(report);
    }
    print(&format!("{}\n", describe(report)))
}

/// One line saying what a sync did, for people.
pub(super) fn describe(r: &SyncReport) -> String {
    let mut parts = Vec::new();
    if r.dry_run {
        if r.method == "git" {
            parts.push(format!("{} uncommitted spool change(s)", r.local_changes));
            parts.push(format!("{} commit(s) to merge", r.received));
            parts.push(format!("{} to push", r.sent));
        } else {
            parts.push(format!("{} file(s) would come in, {} go out", r.received, r.sent));
        }
        return format!(
            "Dry run with {} ({}): {}; nothing changed.",
            r.with,
            r.method,
            parts.join(", ")
        );
    }
    if r.method == "git" {
        parts.push(format!("{} commit(s)", r.commits));
        parts.push(if r.merged {
            "merged".into()
        } else {
            "nothing to merge".into()
        });
        parts.push(format!("pushed {} commit(s)", r.sent));
    } else {
        parts.push(format!("{} file(s) in, {} out", r.received, r.sent));
    }
    parts.push(format!("{} settled", r.settled));
    if r.retries > 0 {
        parts.push(format!("{} retried round(s)", r.retries));
    }
    let mut line = format!(
        "Synced with {} ({}): {}; {} ms.",
        r.with,
        r.method,
        parts.join(", "),
        r.took_ms
    );
    for problem in &r.needs_attention {
        line.push_str(&format!("\n  needs a person: {problem}"));
    }
    line
}

/// Starts the background sync `sparkq.yml`'s `sync:` asks for (see
/// [`keep_syncing`]), if any; it stops when `shutdown` fires. Each round's
/// outcome is in `sparkq status`; failures are also printed.
pub(super) fn start_background(queue: &Queue, shutdown: &Shutdown) -> Option<std::thread::JoinHandle<()>> {
    let config = queue.config().sync.clone()?;
    let with = config.rsync.map_or(SyncWith::Git, SyncWith::Rsync);
    let (queue, shutdown) = (queue.clone(), shutdown.clone());
    eprintln!(
        "Syncing the spool every {} in the background.",
        humantime::format_duration(config.every)
    );
    Some(std::thread::spawn(move || {
        let _ = keep_syncing(&queue, &with, config.every, &shutdown, |outcome| {
            if let Err(e) = outcome {
                eprintln!("sync: {e}");
            }
            Ok(())
        });
    }))
}
