//! Tests of the index's start: the warm-up that reads every stream (and
//! its summaries) in the background, and requests that come in meanwhile:
//! they wait for a listing in progress, never for ever, and the warm-up
//! gives way to them.

use super::*;

#[test]
fn a_warm_index_reads_every_summary_at_start_and_keeps_them_across_a_recheck() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = queue_in(dir.path());
    // Work done before the start: finished, running and queued tasks.
    queue
        .enqueue_batch("a", (0..30).map(|_| new()).collect())
        .unwrap();
    for i in 0..20 {
        let c = queue.claim("a", "w").unwrap().unwrap();
        if i % 2 == 0 {
            complete_ok(&queue, &c);
        }
    }
    queue.start_index_with_summaries().unwrap();
    let stream = Name::parse("a").unwrap();
    let entry = queue.index.as_ref().unwrap().stream(&stream);
    let kept = || -> usize { lock(&entry).summaries.iter().map(HashMap::len).sum() };
    // No request comes: the background thread reads them all.
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept() < 30 {
        assert!(Instant::now() < deadline, "never warmed: {} of 30", kept());
        std::thread::sleep(Duration::from_millis(20));
    }
    // A recheck (its rebuild, then its look at every summarized file)
    // keeps the summaries of files that did not change: not read again.
    let slot = TaskStatus::Succeeded as usize;
    let held: Vec<Arc<Summary>> = lock(&entry).summaries[slot].values().cloned().collect();
    assert_eq!(held.len(), 10);
    let index = queue.index.clone().unwrap();
    let full = queue.stream("a").unwrap();
    assert!(queue.rebuild_unlocked(&index, &entry, &full));
    queue.verify_summaries(&entry, &stream);
    for summary in held {
        let now = lock(&entry).summaries[slot].get(&summary.id).cloned();
        assert!(
            now.is_some_and(|now| Arc::ptr_eq(&now, &summary)),
            "the summary of unchanged {} was dropped",
            summary.id
        );
    }
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    assert_eq!(
        queue.stats(24, None).unwrap().tools,
        folders.stats(24, None).unwrap().tools
    );
}

#[test]
fn a_reload_to_another_spool_keeps_the_index_as_warm_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let text = render_config(&SetupAnswers::defaults("t"));
    let config = |text: &str| Config::from_yaml(text, &dir.path().join("sparkq.yml")).unwrap();
    for warm in [true, false] {
        let mut queue = Queue::new(config(&text));
        if warm {
            queue.start_index_with_summaries().unwrap();
        } else {
            queue.start_index().unwrap();
        }
        let moved = text.replace("{ path: spool,", "{ path: spool2,");
        assert_ne!(moved, text, "the rendered config names its spool path");
        queue.set_config(config(&moved));
        let index = queue.index.as_ref().expect("an index after the reload");
        assert_eq!(index.spool_root(), Some(dir.path().join("spool2").as_path()));
        assert_eq!(index.is_warm(), warm);
    }
}

/// Waits (up to 20 s) until `entry` has `n` requests waiting for a listing.
fn until_waiting(entry: &StreamEntry, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock(entry).waiting != n {
        assert!(
            Instant::now() < deadline,
            "{n} requests never waited for the listing: {:?}",
            lock(entry)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_claim_during_a_listing_waits_for_it_and_claims_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let other = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    let tasks = queue
        .enqueue_batch("a", (0..40).map(|_| new()).collect())
        .unwrap();
    let stream = Name::parse("a").unwrap();
    let index = queue.index.clone().unwrap();
    // This test makes the background's listing itself: the recheck
    // thread is stopped.
    *lock(&index.refresher) = None;
    let entry = index.stream(&stream);
    assert!(!lock(&entry).is_current(), "never looked at: stale");
    // The background lists the folders (as the warm-up at start does) ...
    let full = queue.stream("a").unwrap();
    let listed = queue.list_unlocked(&entry, &full).expect("no other listing");
    // ... and meanwhile another process takes the head.
    assert_eq!(other.claim("a", "x").unwrap().unwrap().task.id, tasks[0].id);
    std::thread::scope(|s| {
        let claim = s.spawn(|| queue.claim("a", "w").unwrap().expect("a task"));
        let count = s.spawn(|| queue.counts(&stream).unwrap());
        // Both wait for the listing; neither makes its own look (a peek
        // would wait for the claim's stream lock instead).
        until_waiting(&entry, 2);
        assert!(!lock(&entry).is_current(), "nothing swapped in yet");
        assert!(queue.swap_in(&index, &entry, listed), "swapped in");
        // The listing still held the head another process took (its event
        // came during the listing and was applied to it): never handed out.
        assert_eq!(
            claim.join().unwrap().task.id,
            tasks[1].id,
            "FIFO: the oldest left"
        );
        let counts = count.join().unwrap();
        assert_eq!(counts.queued + counts.running, 40, "counted from the listing");
        assert!(counts.queued == 38 || counts.queued == 39, "{counts:?}");
    });
    let ix = lock(&entry);
    assert!(ix.is_current());
    assert_eq!(ix.waiting, 0);
    assert_eq!(ix.pending.len(), 38, "40 less the two claimed");
}

#[test]
fn a_listing_that_fails_wakes_its_waiters_and_they_read_the_folders() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let tasks = queue.enqueue_batch("a", (0..5).map(|_| new()).collect()).unwrap();
    let stream = Name::parse("a").unwrap();
    let index = queue.index.clone().unwrap();
    // This test makes the background's listing itself: the recheck
    // thread is stopped.
    *lock(&index.refresher) = None;
    let entry = index.stream(&stream);
    let full = queue.stream("a").unwrap();
    let listed = queue.list_unlocked(&entry, &full).expect("no other listing");
    std::thread::scope(|s| {
        let claim = s.spawn(|| queue.claim("a", "w").unwrap().expect("a task"));
        let count = s.spawn(|| queue.counts(&stream).unwrap());
        until_waiting(&entry, 2);
        // A dropped file waits for adoption: the listing is not swapped in.
        let failed = listed.map(|(listing, _)| (listing, true));
        assert!(!queue.swap_in(&index, &entry, failed), "not swapped in");
        assert_eq!(claim.join().unwrap().task.id, tasks[0].id);
        let counts = count.join().unwrap();
        assert_eq!(counts.queued + counts.running, 5, "counted from the folders");
    });
    // The claim's own full look rebuilt the index.
    assert!(lock(&entry).is_current());
    assert_eq!(lock(&entry).waiting, 0);
}

#[test]
fn a_warm_up_reservation_no_listing_takes_over_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let index = queue.index.clone().unwrap();
    // A stream the warm-up was to read, whose file is gone by the time
    // the background looks: it cannot be listed.
    let ghost = Name::parse("ghost").unwrap();
    index.reserve_warm_up(&ghost);
    let entry = index.stream(&ghost);
    assert!(lock(&entry).building(), "requests wait for the warm-up");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock(&entry).journal.is_some() {
        assert!(Instant::now() < deadline, "the reservation was never released");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!lock(&entry).building());
}

#[test]
fn the_warm_up_reads_every_summary_while_requests_are_served_and_answers_a_waiting_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut queue = queue_in(dir.path());
    // More files than a few of the warm-up's steps.
    let n = 3 * WARM_UP_STEP + 7;
    queue.enqueue_batch("a", (0..n).map(|_| new()).collect()).unwrap();
    complete_next(&queue, WARM_UP_STEP);
    queue.start_index_with_summaries().unwrap();
    let entry = queue.index.as_ref().unwrap().stream(&Name::parse("a").unwrap());
    // A request being served the whole time: the warm-up gives way to it
    // step by step, but never for ever.
    let serving = queue.serving().expect("an index");
    let kept = || -> usize { lock(&entry).summaries.iter().map(HashMap::len).sum() };
    let deadline = Instant::now() + Duration::from_secs(30);
    while kept() < n {
        assert!(Instant::now() < deadline, "never warmed: {} of {n}", kept());
        std::thread::sleep(Duration::from_millis(20));
    }
    // A dashboard asked meanwhile (here, after) gets the folders' answer.
    let folders = Queue::new(queue.config().clone()).with_runtime_dir(queue.runtime_dir());
    assert_eq!(
        queue.stats(24, None).unwrap().tools,
        folders.stats(24, None).unwrap().tools
    );
    drop(serving);
}

#[test]
fn a_purge_takes_the_old_ids_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let queue = indexed_queue(dir.path());
    let tasks = queue.enqueue_batch("a", (0..4).map(|_| new()).collect()).unwrap();
    let finished = complete_next(&queue, 3);
    let stream = Name::parse("a").unwrap();
    // The index has heard of every finish.
    let entry = queue.index.as_ref().unwrap().stream(&stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    while lock(&entry).done.len() < 3 {
        assert!(Instant::now() < deadline, "the finishes were never heard");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(lock(&entry).is_current());
    let report = queue.purge(Duration::ZERO).unwrap();
    assert_eq!(report.removed, finished);
    let folder = queue.spool.list_ids(&stream, TaskStatus::Succeeded).unwrap();
    assert!(folder.is_empty(), "done/ is empty: {folder:?}");
    assert_eq!(queue.peek("a").unwrap().unwrap().task.id, tasks[3].id);
}
