//! Exactly once: many claimer processes racing on one stream.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::support::{Project, tier};

const CLAIMERS: usize = 8;

#[test]
fn eight_processes_drain_every_task_exactly_once_in_fifo_order() {
    let tasks = tier(500, 2000);
    let p = Arc::new(Project::with_stream("race"));
    let batch: String = (0..tasks)
        .map(|i| format!("{{\"tool_name\": \"run-bash-fast\", \"payload\": {{\"n\": {i}}}}}\n"))
        .collect();
    let enqueued: Vec<String> = p
        .sparkq_stdin(["enqueue", "--stream", "race", "--batch", "-"], &batch)
        .success()
        .stdout()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(enqueued.len(), tasks);

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
