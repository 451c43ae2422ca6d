//! In-process tests of the rules; the real binary is tested in
//! `tests/integration`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::model::{TaskStatus, Timestamp};

fn queue_in(dir: &std::path::Path) -> Queue {
    let config = Config::from_yaml("spool: { fsync: false }", &dir.join("sparkq.yml")).unwrap();
    let queue = Queue::new(config).with_runtime_dir(test_support::runtime_in(dir));
    queue.create_session("s1", None).unwrap();
    queue.create_stream("a", "s1", "brief").unwrap();
    queue
}

fn new_task(n: u64) -> NewTask {
    NewTask {
        tool_name: "run-bash".into(),
        payload: json!({ "n": n }),
        timeout: None,
        task_class: None,
    }
}

#[test]
fn threads_racing_claim_each_task_once_in_fifo_order() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Arc::new(queue_in(dir.path()));
    let ids: Vec<_> = queue
        .enqueue_batch("a", (0..400).map(new_task).collect())
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(claimed) = queue.claim("a", &format!("w{w}")).unwrap() {
                    let token = claimed.task.claim_token.clone();
                    let report = Report {
                        token,
                        ..Report::default()
                    };
                    queue
                        .complete(claimed.task.id.as_str(), json!({"summary": "ok"}), report)
                        .unwrap();
                    mine.push(claimed.task.id);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        let mine = handle.join().unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "not FIFO");
        all.extend(mine);
    }
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (400, 400));
    assert_eq!(unique, ids.iter().collect());
}

#[test]
fn claim_hands_out_the_stream_brief_and_a_fresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let id = queue.enqueue("a", new_task(1)).unwrap().id;
    let claimed = queue.claim("a", "me").unwrap().unwrap();
    assert_eq!(claimed.task.id, id);
    assert_eq!(claimed.stream.instructions, "brief");
    let json = serde_json::to_value(&claimed).unwrap();
    assert_eq!(
        json["stream"],
        json!({"id": "a", "name": "a", "instructions": "brief"})
    );
    assert_eq!(
        json.as_object()
            .unwrap()
            .keys()
            .filter(|k| *k == "stream")
            .count(),
        1
    );
    assert_eq!(claimed.task.claim_token.as_deref().map(str::len), Some(16));
    assert!(queue.claim("a", "me").unwrap().is_none());
}

#[test]
fn a_failed_batch_line_queues_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let mut batch: Vec<NewTask> = (0..3).map(new_task).collect();
    batch[2].tool_name = "nope".into();
    let err = queue.enqueue_batch("a", batch).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("line 3: unknown tool 'nope'"), "{err}");
    assert!(queue.peek("a").unwrap().is_none());
}

#[test]
fn errors_map_to_one_kind_each() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    assert_eq!(queue.stream("zz").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(queue.stream("Z").unwrap_err().kind(), ErrorKind::Invalid);
    assert_eq!(
        queue.create_stream("a", "s1", "").unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert_eq!(queue.get_task("tsk_0").unwrap_err().code(), "unknown_task");
}

#[test]
fn one_look_says_all_a_watcher_decides_on() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let empty = queue.look("a").unwrap();
    assert_eq!(
        (empty.has_work, empty.queued, empty.next_dead()),
        (false, 0, None)
    );

    queue.enqueue_batch("a", (0..3).map(new_task).collect()).unwrap();
    let claimed = queue.claim("a", "w").unwrap().unwrap();
    let claimed = queue.get_task(claimed.task.id.as_str()).unwrap();
    let look = queue.look("a").unwrap();
    assert_eq!(look.stream.name.as_str(), "a");
    assert_eq!((look.has_work, look.queued), (true, 2));
    assert!(look.swept.is_empty());
    assert_eq!(look.next_dead(), claimed.dead_at(), "the claim's deadline");
    assert_eq!(look.next_settle, None, "nothing dropped in");

    queue.end_stream("a").unwrap();
    let ended = queue.look("a").unwrap();
    assert_eq!(ended.stream.status, crate::model::StreamStatus::Ended);
    assert!(!ended.has_work);
}

#[test]
fn a_sweep_takes_back_a_dead_claim_and_says_when_the_next_turns_dead() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    queue.enqueue_batch("a", (0..2).map(new_task).collect()).unwrap();
    let dead = queue.claim("a", "w1").unwrap().unwrap().task;
    let live = queue.claim("a", "w2").unwrap().unwrap().task;
    // The first claim started long ago; its file is rewritten as it would
    // be after that time, with its content lagging its folder (queued).
    let stream = Name::parse("a").unwrap();
    let mut old = dead.clone();
    old.started_at = Some(Timestamp::parse("2020-01-01T00:00:00Z").unwrap());
    old.status = TaskStatus::Queued;
    let path = queue
        .spool
        .state_path(&stream, TaskStatus::Running)
        .join(old.id.file_name());
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();

    let report = queue.sweep_dead("a").unwrap();
    // One attempt by default: the dead claim fails.
    assert_eq!((report.requeued, report.failed), (vec![], vec![dead.id.clone()]));
    let live = queue.get_task(live.id.as_str()).unwrap();
    assert_eq!(report.next_dead, live.dead_at());
    let back = queue.get_task(dead.id.as_str()).unwrap();
    assert_eq!(back.status, TaskStatus::Failed);
    assert_eq!(back.history.len(), 1);
}

#[test]
fn status_names_a_server_only_while_it_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let me = crate::runtime::PidFile::this_process();
    // The pid file of a server that died: it even names a live process
    // (this one), but nobody holds its lock.
    std::fs::write(queue.spool.server_pid_path(), me.to_json()).unwrap();
    assert_eq!(queue.status().unwrap().server, None);

    let crate::runtime::Acquired::Ours(lock) = queue.take_server_lock().unwrap() else {
        panic!("the lock is free");
    };
    lock.write(&me.to_json()).unwrap();
    assert_eq!(queue.status().unwrap().server.map(|s| s.pid), Some(me.pid));
    drop(lock);
    assert_eq!(queue.status().unwrap().server, None, "the server is gone");
}

#[test]
fn status_shows_the_active_streams_of_active_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    queue.create_stream("ended", "s1", "brief").unwrap();
    queue.end_stream("ended").unwrap();
    queue.create_session("s2", None).unwrap();
    queue.create_stream("b", "s2", "brief").unwrap();
    queue.enqueue("a", new_task(1)).unwrap();

    let status = queue.status().unwrap();
    let sessions: Vec<&str> = status.sessions.iter().map(|s| s.name.as_str()).collect();
    let streams: Vec<(&str, usize)> = status
        .streams
        .iter()
        .map(|s| (s.stream.name.as_str(), s.counts.queued))
        .collect();
    assert_eq!(sessions, ["s1", "s2"]);
    assert_eq!(streams, [("a", 1), ("b", 0)]);

    queue.end_session("s2").unwrap();
    let status = queue.status().unwrap();
    assert_eq!(status.sessions.len(), 1);
    assert_eq!(status.streams.len(), 1, "{:?}", status.streams);
}

#[test]
fn reading_every_task_on_threads_reads_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let n = list::PARALLEL_FROM as u64 + 500;
    let ids: BTreeSet<TaskId> = queue
        .enqueue_batch("a", (0..n).map(new_task).collect())
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    let streams = queue.all_streams().unwrap();
    let entries = queue.every_id(&streams, &TaskStatus::ALL, None).unwrap();
    let parts = queue.fold_tasks(&streams, &entries, Vec::new, |seen, _, _, task| {
        seen.push(task.id)
    });
    let read: Vec<TaskId> = parts.into_iter().flatten().collect();
    assert_eq!(read.len(), ids.len(), "each task read once");
    assert_eq!(read.into_iter().collect::<BTreeSet<_>>(), ids);
    // The numbers built from the threads' parts add up.
    let stats = queue.stats(2, None).unwrap();
    let now = stats.depth[0].points.last().unwrap();
    assert_eq!((now.queued, now.running), (ids.len(), 0));
}

#[test]
fn a_rare_filter_pages_through_a_big_stream_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_in(dir.path());
    let n = list::PARALLEL_FROM as u64 * 3;
    let tasks = (0..n)
        .map(|i| NewTask {
            payload: json!({ "n": i, "mark": if i % 700 == 0 { "rare" } else { "common" } }),
            ..new_task(i)
        })
        .collect();
    let mut expected: Vec<TaskId> = queue
        .enqueue_batch("a", tasks)
        .unwrap()
        .into_iter()
        .filter(|t| t.payload["mark"] == "rare")
        .map(|t| t.id)
        .collect();
    expected.reverse();
    assert_eq!(expected.len(), 9);
    let mut filter = TaskFilter {
        text: Some("RARE".into()),
        limit: Some(2),
        ..TaskFilter::default()
    };
    let mut got = Vec::new();
    loop {
        let page = queue.list_tasks(&filter).unwrap();
        assert!(page.tasks.len() <= 2);
        got.extend(page.tasks.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(cursor) => filter.before = Some(cursor.to_string()),
            None => break,
        }
    }
    assert_eq!(got, expected, "newest first, each once, none missed");
}
