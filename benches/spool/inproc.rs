//! In-process cases: threads calling the library (`sparkq::queue::Queue`)
//! directly, as the HTTP and MCP servers do.

use std::time::{Duration, Instant};

use serde_json::json;
use sparkq::queue::{NewTask, Queue, Report};

use super::project::{Project, STREAM};
use super::stats::Round;

/// `ops` single enqueues, one after another.
pub(crate) fn enqueue(project: &Project, ops: usize, fsync: bool) -> Round {
    let queue = project.queue(fsync);
    let start = Instant::now();
    let samples = (0..ops)
        .map(|i| {
            let new = NewTask {
                tool_name: "run-bash".to_owned(),
                payload: json!({"script_path": "scripts/migrate.sh", "args": [i.to_string()]}),
                timeout: None,
                task_class: None,
            };
            let began = Instant::now();
            queue.enqueue(STREAM, new).expect("enqueue");
            began.elapsed()
        })
        .collect();
    Round {
        samples,
        wall: start.elapsed(),
    }
}

/// `workers` threads draining `tasks` queued tasks, each doing claim then
/// complete; one sample per task. With `indexed`, the queue keeps the
/// in-memory index of the spool, as the server and `sparkq mcp` do (built
/// before the clock starts); without, it reads the folders on every claim,
/// as a one-shot CLI call does. Checks that every task ended in `done/` and
/// that each worker got its tasks in FIFO order.
pub(crate) fn drain(project: &Project, workers: usize, tasks: usize, fsync: bool, indexed: bool) -> Round {
    project.fill(tasks);
    let mut queue = project.queue(fsync);
    if indexed {
        queue.start_index().expect("an inotify watch for the index");
        // The index's one-time build happens on the first look; the server
        // pays it at start, not per claim.
        queue.peek(STREAM).expect("peek");
    }
    let start = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let queue = &queue;
                scope.spawn(move || {
                    let worker = format!("bench-{w}");
                    let mut samples = Vec::new();
                    let mut last = String::new();
                    loop {
                        let began = Instant::now();
                        let Some(id) = claim_and_complete(queue, &worker) else {
                            return samples;
                        };
                        samples.push(began.elapsed());
                        assert!(last < id, "each worker must get tasks in FIFO (id) order");
                        last = id;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    });
    let wall = start.elapsed();
    assert_eq!(
        project.count("done"),
        tasks,
        "every task must end in done/ exactly once"
    );
    Round { samples, wall }
}

/// `samples` one-shot claims on a stream that already holds its pending
/// tasks; each claimed task is completed untimed, so `claimed/` stays empty.
pub(crate) fn claim_latency(project: &Project, samples: usize, fsync: bool) -> Round {
    let queue = project.queue(fsync);
    let samples: Vec<Duration> = (0..samples)
        .map(|_| {
            let began = Instant::now();
            let claimed = queue
                .claim(STREAM, "bench")
                .expect("claim")
                .expect("a pending task");
            let took = began.elapsed();
            complete(&queue, claimed.task.id.as_str(), claimed.task.claim_token);
            took
        })
        .collect();
    // The rate of the claims alone, not of the untimed completes.
    Round::serial(samples)
}

/// Claims the next task and completes it; its id, or `None` when nothing
/// is pending.
fn claim_and_complete(queue: &Queue, worker: &str) -> Option<String> {
    let claimed = queue.claim(STREAM, worker).expect("claim")?;
    let id = claimed.task.id.to_string();
    complete(queue, &id, claimed.task.claim_token);
    Some(id)
}

/// Completes a claimed task with a minimal result.
pub(crate) fn complete(queue: &Queue, id: &str, token: Option<String>) {
    let report = Report {
        token,
        ..Report::default()
    };
    queue
        .complete(id, json!({"summary": "ok"}), report)
        .expect("complete");
}
