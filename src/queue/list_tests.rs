//! A process without an index answers a list or a count from the one read
//! of `pending/` that its look made (see `Queue::touch_quietly`). The
//! answers must be what the folders hold once that look is done, whatever
//! the look did: adopt or reject dropped files, set aside what is not a
//! file, take back dead claims, in an active stream or an ended one.

use std::time::Duration;

use serde_json::json;

use super::super::test_support::{complete_ok, new_task, queue_in, report_of};
use crate::model::{Name, TaskId, TaskStatus, Timestamp};
use crate::queue::{Counts, Queue, TaskBrief, TaskFilter};

/// Every task file of stream `a`, read from the folders alone: id and
/// state, newest first.
fn on_disk(queue: &Queue) -> Vec<(TaskId, TaskStatus)> {
    let stream = Name::parse("a").unwrap();
    let mut all = Vec::new();
    for status in TaskStatus::ALL {
        for entry in std::fs::read_dir(queue.spool.state_path(&stream, status)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if entry.file_type().unwrap().is_file()
                && let Some(id) = name.to_str().and_then(TaskId::from_file_name)
            {
                all.push((id, status));
            }
        }
    }
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all
}

/// Every page of the list of `status` (all states if `None`), `limit` at a
/// time, following the cursors: id and state of each row.
fn walk_pages(queue: &Queue, status: Option<TaskStatus>, limit: usize) -> Vec<(TaskId, TaskStatus)> {
    let mut rows = Vec::new();
    let mut before = None;
    loop {
        let filter = TaskFilter {
            stream: Some("a".to_owned()),
            status,
            limit: Some(limit),
            before: before.clone(),
            ..TaskFilter::default()
        };
        let page = queue.list_tasks(&filter).unwrap();
        rows.extend(page.tasks.into_iter().map(|t| (t.id, t.status)));
        match page.next_cursor {
            Some(cursor) => {
                // Each page goes further back, or the walk would not end.
                let last = before.as_deref().unwrap_or("~");
                assert!(
                    cursor.as_str() < last,
                    "the cursor {cursor} did not move past {last}"
                );
                before = Some(cursor.to_string());
            }
            None => return rows,
        }
    }
}

/// Rewrites the file of `claim` as an outside tool would (a new file
/// renamed over it): its claim started a day ago, so the next look takes
/// it back, to the queue if `attempts` allow another try.
fn kill_claim(queue: &Queue, claim: &TaskBrief, attempts: u32) {
    let path = queue
        .spool
        .state_path(&Name::parse("a").unwrap(), TaskStatus::Running)
        .join(claim.task.id.file_name());
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let day_ago = Timestamp::now().to_system() - Duration::from_secs(86_400);
    value["started_at"] = json!(Timestamp::from_system(day_ago));
    value["heartbeat_at"] = serde_json::Value::Null;
    value["max_attempts"] = json!(attempts);
    let temp = path.with_extension("edit");
    std::fs::write(&temp, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    std::fs::rename(&temp, &path).unwrap();
}

/// Makes the entry at `path` look untouched for an hour if `settled`, so
/// the next look adopts it (or sets it aside) instead of waiting for it to
/// settle (see `spool::adopt`); else just changed, so it waits.
fn settle_now(path: &std::path::Path, settled: bool) {
    let modified = match settled {
        true => std::time::SystemTime::now() - Duration::from_secs(3600),
        false => std::time::SystemTime::now(),
    };
    std::fs::File::open(path).unwrap().set_modified(modified).unwrap();
}

#[test]
fn lists_and_counts_from_the_looks_read_match_the_folders_through_random_changes() {
    let seed = fastrand::u64(..);
    println!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let pending = queue
        .spool
        .state_path(&Name::parse("a").unwrap(), TaskStatus::Queued);
    let steps = if std::env::var_os("SPARKQ_FULL_TESTS").is_some() {
        240
    } else {
        80
    };
    let mut held: Vec<TaskBrief> = Vec::new();
    let mut ended = false;
    let (mut requeued_while_ended, mut drops) = (0, 0);
    // Drops left to wait: kept fresh until the end, so none settles between
    // a step's first look and its truth being read (a slow run would see
    // one adopted in between).
    let mut waiting: Vec<std::path::PathBuf> = Vec::new();
    for step in 0..steps {
        for path in &waiting {
            settle_now(path, false);
        }
        // Half way, the stream ends with claims still running: what its
        // looks then do is sweep, and fail what is dropped in.
        if step == steps / 2 {
            while held.len() < 6 && !ended {
                let Some(claim) = queue.claim("a", "w").unwrap() else {
                    queue.enqueue("a", new_task(None)).unwrap();
                    continue;
                };
                held.push(claim);
            }
            queue.end_stream("a").unwrap();
            ended = true;
            // What waits to settle settles, so the ended stream's looks
            // can answer from their first read (drops come settled now).
            for entry in std::fs::read_dir(&pending).unwrap() {
                let path = entry.unwrap().path();
                if !path.file_name().unwrap().to_str().unwrap().starts_with('.') {
                    settle_now(&path, true);
                }
            }
            waiting.clear();
        }
        let what = match rng.u8(..8) {
            // A claim that dies after the end goes back to the ended
            // stream's queue: the look's read of `pending/`, made before
            // its sweep, is then out of date. Nothing else happens here,
            // so that read is all the look makes.
            _ if step == steps / 2 + 1 => {
                kill_claim(&queue, &held.pop().unwrap(), 2);
                requeued_while_ended += 1;
                "a claim of the ended stream dies"
            }
            0 | 1 if !ended => {
                for _ in 0..rng.usize(1..6) {
                    queue.enqueue("a", new_task(None)).unwrap();
                }
                "enqueue"
            }
            2 | 3 if !ended => {
                held.extend(queue.claim("a", "w").unwrap());
                "claim"
            }
            4 if !held.is_empty() => {
                let claim = held.swap_remove(rng.usize(..held.len()));
                if rng.bool() {
                    complete_ok(&queue, &claim);
                } else {
                    queue
                        .fail(claim.task.id.as_str(), "broke", report_of(&claim))
                        .unwrap();
                }
                "report"
            }
            5 if !held.is_empty() => {
                let claim = held.swap_remove(rng.usize(..held.len()));
                let attempts = rng.u32(1..=2);
                kill_claim(&queue, &claim, attempts);
                requeued_while_ended += usize::from(ended && attempts == 2);
                "a claim dies"
            }
            6 => {
                // A task dropped in by hand, or a file that is not one.
                let body = match rng.u8(..3) {
                    0 => "not json".to_owned(),
                    _ => json!({"tool_name": "run-bash", "payload": {"n": step}}).to_string(),
                };
                let path = pending.join(format!("dropped-{step}.json"));
                std::fs::write(&path, body).unwrap();
                if ended || rng.u8(..4) > 0 {
                    settle_now(&path, true);
                } else {
                    waiting.push(path);
                }
                drops += 1;
                "drop"
            }
            7 => {
                let path = pending.join(format!("folder-{step}"));
                std::fs::create_dir(&path).unwrap();
                if ended || rng.u8(..4) > 0 {
                    settle_now(&path, true);
                } else {
                    waiting.push(path);
                }
                "a folder in pending/"
            }
            _ => "nothing",
        };
        let limit = rng.usize(1..8);
        let status = match rng.usize(..=TaskStatus::ALL.len()) {
            0 => None,
            i => Some(TaskStatus::ALL[i - 1]),
        };
        // The first call's look changes the folders (adopts, sweeps); what
        // they hold after it is the truth for both answers.
        let counts_first = rng.bool() || step == steps / 2 + 1;
        let (counts, rows, truth) = if counts_first {
            let counts = queue.stream_info("a").unwrap().counts;
            let truth = on_disk(&queue);
            (counts, walk_pages(&queue, status, limit), truth)
        } else {
            let rows = walk_pages(&queue, status, limit);
            let truth = on_disk(&queue);
            (queue.stream_info("a").unwrap().counts, rows, truth)
        };
        let count = |s: TaskStatus| truth.iter().filter(|(_, t)| *t == s).count();
        let wanted = Counts {
            queued: count(TaskStatus::Queued),
            running: count(TaskStatus::Running),
            stale: counts.stale,
            succeeded: count(TaskStatus::Succeeded),
            failed: count(TaskStatus::Failed),
        };
        assert_eq!(counts, wanted, "seed {seed}, step {step}: counts after {what}");
        let truth: Vec<_> = truth
            .into_iter()
            .filter(|(_, s)| status.is_none_or(|wanted| *s == wanted))
            .collect();
        assert_eq!(
            rows, truth,
            "seed {seed}, step {step}: pages of {limit} ({status:?}) after {what}"
        );
        // Nothing was left for a look to change, so the next one answers
        // from its own read of the folder, ended stream or not.
        let stream = queue.stream("a").unwrap();
        assert!(
            queue.touch_quietly(&stream, None).is_some(),
            "seed {seed}, step {step}: the look read pending/"
        );
    }
    assert!(drops > 0, "seed {seed}: nothing was dropped in");
    println!("seed {seed}: {requeued_while_ended} claims of the ended stream went back to its queue");
}
