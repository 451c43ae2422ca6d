use std::io::Write;

use serde_json::json;

use super::*;
use crate::config::{Config, SetupAnswers, render_config};
use crate::queue::NewTask;
use crate::queue::Queue;
use crate::queue::test_support::{complete_ok, new_task, queue_in, report_of};

fn indexed_queue(dir: &Path) -> Queue {
    let mut queue = queue_in(dir);
    queue.start_index().unwrap();
    queue
}

/// The tests of the index's start and warm-up.
#[path = "index_start_tests.rs"]
mod start;

/// Claims and completes the next `n` tasks of stream `a`; their ids.
fn complete_next(queue: &Queue, n: usize) -> Vec<TaskId> {
    (0..n)
        .map(|_| {
            let c = queue.claim("a", "w").unwrap().expect("a queued task");
            complete_ok(queue, &c);
            c.task.id
        })
        .collect()
}

fn new() -> NewTask {
    new_task(None)
}

#[test]
fn an_index_hands_out_tasks_in_fifo_order_and_sees_tasks_it_has_no_event_for_yet() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let first = queue
        .enqueue_batch("a", (0..20).map(|_| new()).collect())
        .unwrap();
    let mut claimed = Vec::new();
    // Enqueue between claims: the index may not have seen the new file
    // when the next claim comes, and the folder must still be heard.
    for i in 0..30 {
        if i == 10 {
            queue
                .enqueue_batch("a", (0..10).map(|_| new()).collect())
                .unwrap();
        }
        claimed.push(queue.claim("a", "w").unwrap().expect("a task").task.id);
    }
    assert!(claimed.windows(2).all(|w| w[0] < w[1]), "FIFO");
    assert_eq!(
        claimed[..20],
        first.iter().map(|t| t.id.clone()).collect::<Vec<_>>()[..]
    );
    assert_eq!(queue.claim("a", "w").unwrap(), None);
}

#[test]
fn an_id_the_index_still_lists_but_another_process_took_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let tasks = queue.enqueue_batch("a", (0..3).map(|_| new()).collect()).unwrap();
    assert_eq!(queue.peek("a").unwrap().unwrap().task.id, tasks[0].id);
    // Another process (a queue without the index) claims the head.
    let other = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    assert_eq!(other.claim("a", "x").unwrap().unwrap().task.id, tasks[0].id);
    let mine = queue.claim("a", "w").unwrap().unwrap();
    assert_eq!(mine.task.id, tasks[1].id);
    assert_eq!(mine.task.claimed_by.as_deref(), Some("w"));
}

#[test]
fn lost_events_and_replaced_folders_make_a_stream_stale() {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared {
        streams_dir: dir.path().join("streams"),
        streams: Mutex::new(HashMap::new()),
        whole_spool: false,
        listeners: Mutex::default(),
    };
    let entry: Arc<StreamEntry> = Arc::default();
    lock(&shared.streams).insert("a".to_owned(), entry.clone());
    let fresh = || lock(&entry).checked_at = Some(Instant::now());
    let changed = |path: &str| shared.observe(spool::TreeEvent::Changed(&dir.path().join(path)));

    fresh();
    // An overflowed kernel queue: events were lost.
    shared.observe(spool::TreeEvent::Lost);
    assert!(!lock(&entry).is_current());
    fresh();
    // `pending/` replaced (a checkout): files came or went unseen.
    changed("streams/a/pending");
    assert!(!lock(&entry).is_current());
    fresh();
    // The lock file changes nothing.
    changed("streams/a/.lock");
    assert!(lock(&entry).is_current());
    // A batch folder makes the next look list the stream folder for it.
    lock(&entry).batches_listed = Some(Instant::now());
    changed("streams/a/.lock");
    assert!(lock(&entry).batches_listed.is_some());
    changed("streams/a/.batch-x1y2.tmp");
    assert!(lock(&entry).batches_listed.is_none());
    assert!(lock(&entry).is_current());
    // A task file that is not there (its event came late) is forgotten;
    // an extra copy from a sync sends listings to the folder.
    lock(&entry).pending.insert(TaskId::generate());
    let id = lock(&entry).pending.first().cloned().unwrap();
    changed(&format!("streams/a/pending/{id}.json"));
    assert!(lock(&entry).pending.is_empty());
    changed(&format!("streams/a/done/{id}.json~theirs"));
    assert!(lock(&entry).extras);
}

#[test]
fn pages_and_counts_from_the_index_agree_with_the_folders() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    queue
        .enqueue_batch("a", (0..30).map(|_| new()).collect())
        .unwrap();
    for i in 0..12 {
        let c = queue.claim("a", "w").unwrap().unwrap();
        let report = report_of(&c);
        if i % 3 == 0 {
            queue.fail(c.task.id.as_str(), "broke", report).unwrap();
        } else if i % 3 == 1 {
            queue
                .complete(c.task.id.as_str(), json!({"summary": "ok"}), report)
                .unwrap();
        }
    }
    let stream = Name::parse("a").unwrap();
    // The index hears of each change a moment after it happens: wait
    // (bounded) for it to catch up, then it must agree exactly.
    let deadline = Instant::now() + Duration::from_secs(20);
    while queue.counts(&stream).unwrap() != folders.counts(&stream).unwrap() {
        assert!(Instant::now() < deadline, "the index never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(queue.indexed_counts(&stream).is_some(), "counted from the index");
    let ids = |page: crate::queue::TaskPage| {
        page.tasks
            .into_iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>()
    };
    for limit in [1, 5, 50] {
        let filter = crate::queue::TaskFilter {
            limit: Some(limit),
            ..Default::default()
        };
        assert_eq!(
            ids(queue.list_tasks(&filter).unwrap()),
            ids(folders.list_tasks(&filter).unwrap())
        );
    }
}

#[test]
fn a_dead_claim_is_swept_when_its_time_comes() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let task = queue.enqueue("a", new()).unwrap();
    let claimed = queue.claim("a", "w").unwrap().unwrap();
    assert_eq!(claimed.task.id, task.id);
    assert_eq!(queue.peek("a").unwrap(), None);
    // The claim's worker went silent long ago: rewrite the file as
    // another process would see it (an event tells the index).
    let stream = Name::parse("a").unwrap();
    let mut old = claimed.task.clone();
    let long_ago = Timestamp::parse("2001-01-01T00:00:00Z").unwrap();
    old.started_at = Some(long_ago);
    old.updated_at = long_ago;
    old.max_attempts = 2;
    queue.spool.write_task(&old).unwrap();
    // The folder overrules: whether or not the event has come, the
    // index reads the changed claim before deciding.
    let entry = queue.index.as_ref().unwrap().stream(&stream);
    lock(&entry).running.set(task.id.clone(), None);
    let again = queue.claim("a", "w2").unwrap().expect("the dead claim, requeued");
    assert_eq!(again.task.id, task.id);
    assert_eq!(again.task.attempts, 2);
}

/// Stats and `since` without their clock: what two reports taken a moment
/// apart on an unchanged spool must share.
fn dashboard(queue: &Queue, since: Timestamp) -> String {
    let mut stats = queue.stats(48, None).unwrap();
    stats.generated_at = since;
    for depth in &mut stats.depth {
        if let Some(last) = depth.points.last_mut() {
            last.at = since;
        }
    }
    let filter = crate::queue::TaskFilter {
        since: Some(since),
        ..Default::default()
    };
    let mut report = queue.since(&filter).unwrap();
    report.until = since;
    let by_worker = crate::queue::TaskFilter {
        since: Some(since),
        worker: Some("w1".to_owned()),
        status: Some(TaskStatus::Failed),
        ..Default::default()
    };
    let mut narrow = queue.since(&by_worker).unwrap();
    narrow.until = since;
    // Filtered lists, every page: by tool, by worker, by update window.
    let filters = [
        crate::queue::TaskFilter {
            tool: Some("run-other".to_owned()),
            limit: Some(3),
            ..Default::default()
        },
        crate::queue::TaskFilter {
            worker: Some("w1".to_owned()),
            status: Some(TaskStatus::Succeeded),
            limit: Some(4),
            ..Default::default()
        },
        crate::queue::TaskFilter {
            since: Some(since),
            until: Some(since.saturating_add(Duration::from_secs(20 * 3600))),
            stream: Some("a".to_owned()),
            limit: Some(5),
            ..Default::default()
        },
    ];
    let mut pages = Vec::new();
    for filter in filters {
        let mut filter = filter;
        loop {
            let page = queue.list_tasks(&filter).unwrap();
            let ids: Vec<_> = page.tasks.iter().map(|t| (t.id.clone(), t.status)).collect();
            pages.push(format!("{ids:?} {:?}", page.next_cursor));
            match page.next_cursor {
                Some(cursor) => filter.before = Some(cursor.to_string()),
                None => break,
            }
        }
    }
    format!("{stats:?}\n{report:?}\n{narrow:?}\n{pages:?}")
}

#[test]
fn stats_and_since_from_the_index_equal_a_folder_read_through_random_changes() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    queue.create_stream("b", "s", "Do that.").unwrap();
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let now = Timestamp::now();
    let ago = |secs: u64| Timestamp::from_system(now.to_system() - Duration::from_secs(secs));
    let since = ago(30 * 3600);
    for round in 0..6 {
        for stream in ["a", "b"] {
            let n = rng.usize(1..40);
            queue
                .enqueue_batch(stream, (0..n).map(|_| new()).collect())
                .unwrap();
            for _ in 0..rng.usize(0..n) {
                let worker = format!("w{}", rng.u8(0..3));
                let Some(c) = queue.claim(stream, &worker).unwrap() else {
                    break;
                };
                let report = report_of(&c);
                match rng.u8(0..3) {
                    0 => drop(queue.fail(c.task.id.as_str(), "broke", report).unwrap()),
                    1 => drop(
                        queue
                            .complete(c.task.id.as_str(), json!({"summary": "ok"}), report)
                            .unwrap(),
                    ),
                    _ => {} // still running
                }
            }
        }
        // Other processes change finished files: new times (as a sync
        // would bring), or remove them.
        let name = Name::parse(if rng.bool() { "a" } else { "b" }).unwrap();
        let status = if rng.bool() {
            TaskStatus::Succeeded
        } else {
            TaskStatus::Failed
        };
        for id in queue.spool.list_ids(&name, status).unwrap() {
            match rng.u8(0..4) {
                0 => {
                    let mut task = queue.spool.read_task(&name, status, &id).unwrap().unwrap();
                    let start = rng.u64(0..40 * 3600);
                    task.created_at = ago(start + 600);
                    task.started_at = Some(ago(start));
                    task.finished_at = Some(ago(start.saturating_sub(rng.u64(0..7200))));
                    if rng.bool() {
                        task.updated_at = task.finished_at.unwrap();
                    }
                    task.tool_name = "run-other".to_owned();
                    queue.spool.write_task(&task).unwrap();
                }
                1 => {
                    let path = queue.spool.state_path(&name, status).join(id.file_name());
                    std::fs::remove_file(path).unwrap();
                }
                _ => {}
            }
        }
        // The index hears of each change a moment later: it must come to
        // answer exactly as the folders do, from its summaries.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (mine, theirs) = (dashboard(&queue, since), dashboard(&folders, since));
            if mine == theirs {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round} (seed {seed}): the index never agreed\n{mine}\n---\n{theirs}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let streams = queue.all_streams().unwrap();
        assert!(
            queue.indexed_summaries(&streams, &TaskStatus::ALL).is_some(),
            "round {round} (seed {seed}): answered from the index"
        );
        let by_tool = crate::queue::filter::TaskMatch::of(
            &crate::queue::TaskFilter {
                tool: Some("run-other".to_owned()),
                ..Default::default()
            },
            Timestamp::now(),
        );
        assert!(
            queue
                .indexed_filtered_page(&streams, &TaskStatus::ALL, &by_tool, None, 3)
                .is_some(),
            "round {round} (seed {seed}): lists answered from the index"
        );
    }
}

#[test]
fn the_recheck_reads_the_folders_in_the_background_before_the_index_ages_out() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let tasks = queue
        .enqueue_batch("a", (0..20).map(|_| new()).collect())
        .unwrap();
    assert_eq!(queue.peek("a").unwrap().unwrap().task.id, tasks[0].id);
    let stream = Name::parse("a").unwrap();
    let entry = queue.index.as_ref().unwrap().stream(&stream);
    // An event lost without the kernel saying so: the index misses a task,
    // and its last check is about to age out.
    let checked = Instant::now().checked_sub(INDEX_RECHECK - Duration::from_secs(1));
    {
        let mut ix = lock(&entry);
        assert!(ix.pending.remove(&tasks[5].id));
        ix.checked_at = checked;
    }
    // No look comes; the background recheck reads the folders.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lock(&entry).pending.contains(&tasks[5].id) {
        assert!(Instant::now() < deadline, "the background recheck never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(lock(&entry).is_current());
    assert_eq!(lock(&entry).pending.len(), 20);
}

#[test]
fn the_recheck_drops_a_summary_whose_file_changed_without_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    queue.enqueue("a", new()).unwrap();
    let c = queue.claim("a", "w").unwrap().unwrap();
    let done = complete_ok(&queue, &c);
    let stream = Name::parse("a").unwrap();
    let entry = queue.index.as_ref().unwrap().stream(&stream);
    let slot = TaskStatus::Succeeded as usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    let kept = loop {
        queue.stats(24, None).unwrap();
        if let Some(summary) = lock(&entry).summaries[slot].get(&done.id).cloned() {
            break summary;
        }
        assert!(Instant::now() < deadline, "the summary was never kept");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The file changes (another tool ran) and its event is lost: the
    // index still holds the summary read before.
    let mut changed = done.clone();
    changed.tool_name = "run-other".to_owned();
    queue.spool.write_task(&changed).unwrap();
    while lock(&entry).summaries[slot].contains_key(&done.id) {
        assert!(Instant::now() < deadline, "the event never came");
        std::thread::sleep(Duration::from_millis(20));
    }
    {
        let mut ix = lock(&entry);
        ix.summaries[slot].insert(done.id.clone(), kept);
        ix.checked_at = Instant::now().checked_sub(INDEX_RECHECK - Duration::from_secs(1));
    }
    // The background recheck looks the file up and drops the summary.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock(&entry).summaries[slot].contains_key(&done.id) {
        assert!(Instant::now() < deadline, "the stale summary was never dropped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let tools = |q: &Queue| q.stats(24, None).unwrap().tools;
    assert_eq!(tools(&queue), tools(&folders));
    assert_eq!(tools(&queue)[0].tool_name, "run-other");
}

#[test]
fn a_rebuild_without_the_lock_racing_arrivals_claims_and_deletes_hands_out_every_task_once() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    // Another process: enqueues, claims and deletes through the folders.
    let other = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let seed = fastrand::u64(..);
    let stream = Name::parse("a").unwrap();
    let mut created: Vec<TaskId> = queue
        .enqueue_batch("a", (0..200).map(|_| new()).collect())
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert!(queue.peek("a").unwrap().is_some(), "the index is built");
    let index = queue.index.clone().unwrap();
    let entry = index.stream(&stream);
    let stop = AtomicBool::new(false);
    let (mine, theirs, deleted, rebuilds, arrived) = std::thread::scope(|s| {
        // The background recheck, as often as it can go: every listing
        // races everything below.
        let rebuilder = s.spawn(|| {
            let full = queue.stream("a").unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += usize::from(queue.rebuild_unlocked(&index, &entry, &full));
            }
            n
        });
        let claimer = |q: &'static str| {
            let queue = if q == "x" { &other } else { &queue };
            let stop = &stop;
            move || {
                let mut got = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(c) = queue.claim("a", q).unwrap() {
                        got.push(c.task.id);
                    }
                }
                got
            }
        };
        let mine = [s.spawn(claimer("w1")), s.spawn(claimer("w2"))];
        let theirs = s.spawn(claimer("x"));
        let producer = s.spawn(|| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut arrived = Vec::new();
            let mut deleted = Vec::new();
            for _ in 0..150 {
                let n = rng.usize(1..8);
                let batch = other.enqueue_batch("a", (0..n).map(|_| new()).collect()).unwrap();
                arrived.extend(batch.into_iter().map(|t| t.id));
                // Delete a pending task now and then, as a person would; a
                // delete that lost the race to a claim removes nothing.
                if rng.u8(0..4) == 0 {
                    let id = &arrived[rng.usize(0..arrived.len())];
                    let path = other
                        .spool
                        .state_path(&stream, TaskStatus::Queued)
                        .join(id.file_name());
                    if std::fs::remove_file(path).is_ok() {
                        deleted.push(id.clone());
                    }
                }
                std::thread::sleep(Duration::from_micros(rng.u64(0..2000)));
            }
            (arrived, deleted)
        });
        let (arrived, deleted) = producer.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        let mine: Vec<Vec<TaskId>> = mine.into_iter().map(|h| h.join().unwrap()).collect();
        (
            mine,
            theirs.join().unwrap(),
            deleted,
            rebuilds(rebuilder),
            arrived,
        )
    });
    fn rebuilds(h: std::thread::ScopedJoinHandle<'_, usize>) -> usize {
        h.join().unwrap()
    }
    assert!(rebuilds > 0, "seed {seed}: no rebuild ran");
    created.extend(arrived);
    // Quiet now: the index must come to hold exactly what `pending/` holds
    // (no task missed by a rebuild), without another rebuild.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let folder: BTreeSet<TaskId> = other
            .spool
            .list_ids(&stream, TaskStatus::Queued)
            .unwrap()
            .into_iter()
            .collect();
        if lock(&entry).pending == folder {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "seed {seed}: the index never agreed with pending/: {} vs {}",
            lock(&entry).pending.len(),
            folder.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut claimed: Vec<TaskId> = mine.into_iter().flatten().chain(theirs).collect();
    while let Some(c) = queue.claim("a", "w").unwrap() {
        claimed.push(c.task.id);
    }
    let unique: HashSet<&TaskId> = claimed.iter().collect();
    assert_eq!(
        unique.len(),
        claimed.len(),
        "seed {seed}: a task was handed out twice"
    );
    let deleted: HashSet<&TaskId> = deleted.iter().collect();
    assert!(
        unique.is_disjoint(&deleted),
        "seed {seed}: a deleted task was handed out"
    );
    let all: HashSet<&TaskId> = created.iter().collect();
    let accounted: HashSet<&TaskId> = unique.union(&deleted).copied().collect();
    assert_eq!(accounted, all, "seed {seed}: every task claimed once or deleted");
}

#[test]
fn changes_made_while_a_rebuild_lists_are_applied_to_its_listing() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let other = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let tasks = queue.enqueue_batch("a", (0..5).map(|_| new()).collect()).unwrap();
    assert!(queue.peek("a").unwrap().is_some(), "the index is built");
    let stream = Name::parse("a").unwrap();
    let index = queue.index.clone().unwrap();
    let entry = index.stream(&stream);
    let full = queue.stream("a").unwrap();
    // The listing is made; then, before it is swapped in, another process
    // enqueues, claims and deletes, and the index hears of it all.
    let listed = queue.list_unlocked(&entry, &full).expect("no other rebuild");
    assert!(
        queue.list_unlocked(&entry, &full).is_none(),
        "one journal at a time"
    );
    let events = lock(&entry).events;
    let arrived = other.enqueue("a", new()).unwrap();
    assert_eq!(other.claim("a", "x").unwrap().unwrap().task.id, tasks[0].id);
    let pending = other.spool.state_path(&stream, TaskStatus::Queued);
    std::fs::remove_file(pending.join(tasks[1].id.file_name())).unwrap();
    // Events: arrival (create, moves), the claim (out of pending/, into
    // claimed/) and the delete; wait until at least those were heard.
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock(&entry).pending.contains(&tasks[1].id)
        || !lock(&entry).pending.contains(&arrived.id)
        || lock(&entry).events < events + 3
    {
        assert!(Instant::now() < deadline, "the events never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = format!(
        "journal {:?}, listing {:?}",
        lock(&entry).journal,
        listed.as_ref().map(|(_, drops)| drops)
    );
    assert!(queue.swap_in(&index, &entry, listed), "swapped in: {before}");
    let ix = lock(&entry);
    let folder: BTreeSet<TaskId> = other
        .spool
        .list_ids(&stream, TaskStatus::Queued)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        ix.pending, folder,
        "the listing, with the changes since, is the folder"
    );
    assert!(ix.pending.contains(&arrived.id));
    assert!(ix.running.contains_key(&tasks[0].id));
    assert!(ix.is_current());
}

#[test]
fn a_batch_abandoned_after_a_look_is_recovered_once_its_folder_is_heard_of() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let stream = Name::parse("a").unwrap();
    // The first look builds the index; the next lists the stream folder
    // once and finds no batch there, so the looks after it do not list it
    // again...
    assert_eq!(queue.peek("a").unwrap(), None);
    assert_eq!(queue.peek("a").unwrap(), None);
    assert!(
        lock(&queue.index.as_ref().unwrap().stream(&stream))
            .batches_listed
            .is_some()
    );
    // ...until a batch folder appears: here one whose writer died after
    // its commit point (no lock file, the PUBLISH marker), staged from a
    // task another process queued.
    let other = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let task = other.enqueue("a", new()).unwrap();
    let stream_dir = queue.spool.stream_dir(&stream);
    let staged = stream_dir.join(".batch-dead.tmp");
    std::fs::create_dir(&staged).unwrap();
    std::fs::rename(
        queue
            .spool
            .state_path(&stream, TaskStatus::Queued)
            .join(task.id.file_name()),
        staged.join(task.id.file_name()),
    )
    .unwrap();
    std::fs::write(staged.join("PUBLISH"), b"").unwrap();

    // Its event reaches the index a moment later (bounded wait); without
    // it the looks would not list the folder before the recheck interval.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = queue.peek("a").unwrap() {
            assert_eq!(found.task.id, task.id);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned batch was never published"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!staged.exists(), "the batch folder is gone once published");
    assert_eq!(queue.claim("a", "w").unwrap().unwrap().task.id, task.id);
}

#[test]
fn a_kept_stream_file_is_read_again_once_another_process_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let stream = Name::parse("a").unwrap();
    let file = queue.spool.stream_file(&stream);
    queue.enqueue_batch("a", (0..3).map(|_| new()).collect()).unwrap();
    // A file changed within a clock tick of its reading is never kept:
    // let it age past that, so that the claims below keep it.
    std::thread::sleep(Duration::from_millis(100));
    assert!(queue.claim("a", "w").unwrap().is_some());
    assert!(queue.claim("a", "w").unwrap().is_some());

    // Ended by hand, in place, at the same size and with the old
    // modification time put back: only the change time tells.
    let before = std::fs::metadata(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let ended = text.replacen("\"active\"", "\"ended\" ", 1);
    assert_eq!(ended.len(), text.len());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .write_all(ended.as_bytes())
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    // Old enough again to be kept: the key alone must tell.
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(
        queue.claim("a", "w"),
        Err(crate::queue::Error::StreamEnded { .. })
    ));

    // Active again, written the way SparkQ writes (a new file renamed over
    // it), by another process: heard at once too.
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(dir.path().join("x.json"), &text).unwrap();
    std::fs::rename(dir.path().join("x.json"), &file).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(queue.claim("a", "w").unwrap().is_some());
    Queue::new(queue.config().clone())
        .with_runtime_dir(queue.runtime_dir())
        .end_stream("a")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(
        queue.claim("a", "w"),
        Err(crate::queue::Error::StreamEnded { .. })
    ));
}

#[test]
fn a_process_lists_and_counts_what_it_just_wrote_through_random_changes() {
    // The watching thread takes events in batches, a few milliseconds
    // apart: without the queue telling its index of its own writes, a
    // count or list right after a report missed it (read your writes).
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let stream = Name::parse("a").unwrap();
    let _ = queue.peek("a").unwrap();
    let mut running: Vec<(TaskId, Option<String>)> = Vec::new();
    let mut finished: Vec<TaskId> = Vec::new();
    let mut from_index = 0;
    let rows = |q: &Queue| {
        let filter = crate::queue::TaskFilter {
            limit: Some(50),
            ..Default::default()
        };
        q.list_tasks(&filter)
            .unwrap()
            .tasks
            .into_iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>()
    };
    for step in 0..120 {
        let what = match rng.u8(..9) {
            0 => {
                queue.enqueue("a", new()).unwrap();
                "enqueue"
            }
            1 => {
                queue
                    .enqueue_batch("a", (0..rng.usize(1..4)).map(|_| new()).collect())
                    .unwrap();
                "batch"
            }
            2 | 3 => match queue.claim("a", "w").unwrap() {
                Some(c) => {
                    running.push((c.task.id, c.task.claim_token));
                    "claim"
                }
                None => "claim of nothing",
            },
            4 if !running.is_empty() => {
                let (id, token) = running.swap_remove(rng.usize(..running.len()));
                let report = crate::queue::Report {
                    token,
                    ..Default::default()
                };
                if rng.bool() {
                    queue
                        .complete(id.as_str(), json!({"summary": "ok"}), report)
                        .unwrap();
                } else {
                    queue.fail(id.as_str(), "broke", report).unwrap();
                }
                finished.push(id);
                "report"
            }
            5 if !running.is_empty() => {
                let (id, token) = &running[rng.usize(..running.len())];
                queue.heartbeat(id.as_str(), token.as_deref()).unwrap();
                "heartbeat"
            }
            6 if !finished.is_empty() => {
                let id = &finished[rng.usize(..finished.len())];
                queue
                    .requeue(id.as_str(), &crate::queue::RequeueOptions::default())
                    .unwrap();
                "requeue"
            }
            // A person edits a finished file in place, keeping its size:
            // a list row kept from before must not be served.
            7 if !finished.is_empty() => {
                let id = &finished[rng.usize(..finished.len())];
                let path = queue
                    .spool
                    .state_path(&stream, TaskStatus::Succeeded)
                    .join(id.file_name());
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let edited = if text.contains("\"ok\"") {
                    text.replace("\"ok\"", "\"OK\"")
                } else {
                    text.replace("\"OK\"", "\"ok\"")
                };
                std::fs::write(&path, edited).unwrap();
                "edit in place"
            }
            // Time passes: files become old enough for their rows to be
            // kept (see `index::listing`).
            8 => {
                std::thread::sleep(Duration::from_millis(60));
                "pause"
            }
            _ => continue,
        };
        let truth = folders.counts(&stream).unwrap();
        // A batch's folder event makes the index read the folders again
        // (then counts come from them); otherwise it answers itself.
        if let Some(counts) = queue.indexed_counts(&stream) {
            from_index += 1;
            assert_eq!(
                counts, truth,
                "seed {seed}, step {step}: counts right after {what}"
            );
        }
        assert_eq!(
            queue.counts(&stream).unwrap(),
            truth,
            "seed {seed}, step {step}: {what}"
        );
        assert_eq!(
            rows(&queue),
            rows(&folders),
            "seed {seed}, step {step}: list after {what}"
        );
        // The list rows, whole (summaries, times, staleness), as the
        // server serves them: from kept rows where files did not change.
        let filter = crate::queue::TaskFilter {
            limit: Some(50),
            ..Default::default()
        };
        let now = Timestamp::now();
        assert_eq!(
            queue.list_listings(&filter, now).unwrap(),
            folders.list_tasks(&filter).unwrap().into_listings(now),
            "seed {seed}, step {step}: list rows after {what}"
        );
    }
    assert!(
        queue.index.as_ref().unwrap().listings.len() > 0,
        "seed {seed}: no list row was ever kept"
    );
    assert!(
        from_index >= 20,
        "seed {seed}: only {from_index} answers came from the index"
    );
}

/// The server's (warm) index watches the whole spool and passes every
/// change on to its listeners (the live pages), each after the index
/// applied it; a lean index watches `streams/` only and takes none.
#[test]
fn a_warm_index_tells_its_listeners_of_every_change_after_applying_it() {
    let dir = tempfile::tempdir().unwrap();
    let lean = indexed_queue(dir.path());
    assert!(
        lean.listen_to_spool(|_| {}).is_err(),
        "a lean index has no listeners"
    );
    drop(lean);
    let text = render_config(&SetupAnswers::defaults("t"));
    let mut queue = Queue::new(Config::from_yaml(&text, &dir.path().join("sparkq.yml")).unwrap());
    queue.start_index_with_summaries().unwrap();
    queue.peek("a").unwrap();
    let index = queue.index().unwrap();
    let (root, probe) = (queue.spool_root().to_path_buf(), index.clone());
    let (tx, rx) = std::sync::mpsc::channel::<(String, bool)>();
    let listening = queue
        .listen_to_spool(move |event| {
            let spool::TreeEvent::Changed(path) = event else {
                return;
            };
            let relative = path.strip_prefix(&root).unwrap().display().to_string();
            // Whether the index lists the file's id as pending right now.
            let id = path.file_name().and_then(|n| TaskId::from_file_name(n.to_str()?));
            let listed = id.is_some_and(|id| {
                lock(&probe.stream(&Name::parse("a").unwrap()))
                    .pending
                    .contains(&id)
            });
            let _ = tx.send((relative, listed));
        })
        .unwrap_or_else(|_| panic!("a warm index listens"));
    let heard = |wanted: &dyn Fn(&str, bool) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (path, listed) = rx.recv_timeout(left).expect("the change in time");
            if wanted(&path, listed) {
                return listed;
            }
        }
    };
    // From another process's queue: this one's own writes reach its index
    // at once, without the watch.
    let other = Queue::new(Config::from_yaml(&text, &dir.path().join("sparkq.yml")).unwrap());
    let task = other.enqueue("a", new()).unwrap();
    let pending = format!("streams/a/pending/{}", task.id.file_name());
    assert!(
        heard(&|path, _| path == pending),
        "the index listed the task before its listener heard of it"
    );
    queue.create_session("s2", None).unwrap();
    heard(&|path, _| path.starts_with("sessions/"));
    drop(listening);
    assert!(
        lock(&index.shared.listeners).all.is_empty(),
        "dropped, it is gone"
    );
}
