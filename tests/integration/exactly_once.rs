//! Exactly once: many claimer processes racing on one stream.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::support::{Project, tier};

const CLAIMERS: usize = 8;

/// Queues `tasks` tasks into stream `race` in one batch, each line's fields
/// followed by `extra`; their ids, in order.
fn fill(p: &Project, tasks: usize, extra: &str) -> Vec<String> {
    let batch: String = (0..tasks)
        .map(|i| format!("{{\"tool_name\": \"run-bash-fast\", \"payload\": {{\"n\": {i}}}{extra}}}\n"))
        .collect();
    let enqueued: Vec<String> = p
        .sparkq_stdin(["enqueue", "--stream", "race", "--batch", "-"], &batch)
        .success()
        .stdout()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(enqueued.len(), tasks);
    enqueued
}

#[test]
fn eight_processes_drain_every_task_exactly_once_in_fifo_order() {
    let tasks = tier(500, 2000);
    let p = Arc::new(Project::with_stream("race"));
    let enqueued = fill(&p, tasks, "");

    let seen = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..CLAIMERS)
        .map(|w| {
            let (p, seen) = (Arc::clone(&p), Arc::clone(&seen));
            std::thread::spawn(move || {
                let worker = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let run = p
                        .sparkq(["claim", "--stream", "race", "--worker", &worker])
                        .success();
                    if run.stdout().is_empty() {
                        break;
                    }
                    let task = run.json();
                    let id = task["id"].as_str().unwrap().to_owned();
                    assert_eq!(task["claimed_by"], worker.as_str());
                    let token = task["claim_token"].as_str().unwrap().to_owned();
                    let result = format!(r#"{{"summary": "ok {id} {worker}"}}"#);
                    p.sparkq(["complete", &id, "--token", &token, "--result", &result])
                        .success();
                    mine.push(id);
                }
                let mut sorted = mine.clone();
                sorted.sort();
                assert_eq!(mine, sorted, "worker {w} did not see its tasks in FIFO order");
                seen.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread");
    }

    let seen = seen.lock().unwrap();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), tasks, "some task was handed out twice or not at all");
    assert_eq!(unique.len(), tasks);
    assert!(enqueued.iter().all(|id| unique.contains(id)));
    let done: Vec<String> = enqueued.iter().map(|id| format!("{id}.json")).collect();
    let mut done_sorted = done.clone();
    done_sorted.sort();
    assert_eq!(p.files("race", "done"), done_sorted);
    assert!(p.files("race", "pending").is_empty());
    assert!(p.files("race", "claimed").is_empty());
    assert!(p.files("race", "failed").is_empty());

    // Each finished file holds its own task as its claimer finished it:
    // no write under one name ever carries another task's bytes.
    let done_dir = p.state_dir("race", "done");
    for id in &enqueued {
        let bytes = std::fs::read(done_dir.join(format!("{id}.json"))).unwrap();
        let task: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(task["id"], id.as_str());
        assert_eq!(task["status"], "succeeded");
        let worker = task["claimed_by"].as_str().unwrap();
        assert_eq!(task["result"]["summary"], format!("ok {id} {worker}"));
    }
}

/// Workers that go quiet among many running claims: every one-shot claim
/// sweeps the dead claims first, reading only the claims that changed since
/// the last sweep (see `queue::sweep_hint`). Claims abandoned at random
/// (a timeout of 1 s: dead after 2) come back to the queue and are claimed
/// again, by processes racing each other and the sweeps, until every task
/// is done exactly once, by the worker whose claim finished it.
#[test]
fn quiet_workers_claims_come_back_and_every_task_is_done_once() {
    let tasks = tier(80, 300);
    let p = Arc::new(Project::with_stream("race"));
    p.set_max_attempts(100);
    let enqueued = fill(&p, tasks, r#", "timeout": 1"#);
    // Thirty workers take a task each and are never heard from again.
    for _ in 0..30 {
        p.claim("race");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let p = Arc::clone(&p);
            std::thread::spawn(move || {
                let worker = format!("w{w}");
                let mut claims = 0_usize;
                let mut abandoned = 0_usize;
                loop {
                    assert!(std::time::Instant::now() < deadline, "the queue never drained");
                    let run = p
                        .sparkq(["claim", "--stream", "race", "--worker", &worker])
                        .success();
                    if run.stdout().is_empty() {
                        if p.files("race", "pending").is_empty() && p.files("race", "claimed").is_empty() {
                            return abandoned;
                        }
                        // Claims still running: wait for them to die.
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        continue;
                    }
                    claims += 1;
                    let task = run.json();
                    // Every seventh claim is dropped on the floor.
                    if claims.is_multiple_of(7) {
                        abandoned += 1;
                        continue;
                    }
                    let id = task["id"].as_str().unwrap();
                    let token = task["claim_token"].as_str().unwrap();
                    let result = format!(r#"{{"summary": "ok {id} {worker}"}}"#);
                    // A claim older than 2 s by now (a slow machine) was
                    // taken back: its report is refused, and the task comes
                    // back like an abandoned one.
                    let out = p
                        .command(["complete", id, "--token", token, "--result", &result])
                        .output()
                        .expect("run sparkq complete");
                    assert!(
                        matches!(out.status.code(), Some(0 | 1)),
                        "complete: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    let abandoned: usize = workers
        .into_iter()
        .map(|w| w.join().expect("worker thread"))
        .sum();
    assert!(abandoned > 0);

    let mut done: Vec<String> = enqueued.iter().map(|id| format!("{id}.json")).collect();
    done.sort();
    assert_eq!(p.files("race", "done"), done, "every task done, once");
    assert!(p.files("race", "failed").is_empty());
    let done_dir = p.state_dir("race", "done");
    let mut taken_back = 0;
    for id in &enqueued {
        let task: serde_json::Value =
            serde_json::from_slice(&std::fs::read(done_dir.join(format!("{id}.json"))).unwrap()).unwrap();
        let worker = task["claimed_by"].as_str().unwrap();
        assert_eq!(task["result"]["summary"], format!("ok {id} {worker}"));
        let history = task["history"].as_array().cloned().unwrap_or_default();
        taken_back += history.iter().filter(|h| h["outcome"] == "requeued").count();
    }
    assert!(
        taken_back >= 30,
        "the quiet workers' claims came back ({taken_back})"
    );
    let hints = walkdir::WalkDir::new(p.runtime_base())
        .into_iter()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() == "race.claims"))
        .count();
    assert_eq!(hints, 1, "the sweeps kept a hint");
}
