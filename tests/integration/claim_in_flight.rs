//! Claims in flight. With fsync on (the default), a claim flushes its
//! rewrite of the claimed file without the stream lock and swaps it in
//! under the lock afterwards (see `queue::claim`). Meanwhile everything
//! that may touch a claimed file races it here, as real processes: other
//! claimers, peeks and listings that sweep claims, tokenless heartbeats
//! that rewrite a claimed file, and claimers killed with SIGKILL at random
//! moments.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, tier};

const STREAM: &str = "fly";
const CLAIMERS: usize = 3;

/// How long one claim takes here and now: the slowest of three.
fn claim_time(p: &Project) -> Duration {
    (0..3)
        .map(|_| {
            let id = p.enqueue(STREAM, r#"{"warm": 1}"#);
            let start = Instant::now();
            let task = p.claim(STREAM);
            let took = start.elapsed();
            assert_eq!(task["id"], id.as_str());
            p.sparkq(["complete", &id, "--result", r#"{"summary": "warm"}"#])
                .success();
            took
        })
        .max()
        .unwrap_or(Duration::from_millis(5))
}

#[test]
fn claims_in_flight_race_sweeps_tokenless_heartbeats_and_kills() {
    let tasks = tier(120, 600);
    let p = Arc::new(Project::with_stream(STREAM));
    let config = std::fs::read_to_string(p.path().join("sparkq.yml")).unwrap();
    assert!(
        config.contains("fsync: true"),
        "the default config flushes writes"
    );
    let span = claim_time(&p) * 2;
    let batch: String = (0..tasks)
        .map(|i| format!("{{\"tool_name\": \"run-bash-fast\", \"payload\": {{\"n\": {i}}}}}\n"))
        .collect();
    let enqueued: BTreeSet<String> = p
        .sparkq_stdin(["enqueue", "--stream", STREAM, "--batch", "-"], &batch)
        .success()
        .stdout()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(enqueued.len(), tasks);

    let stop = Arc::new(AtomicBool::new(false));
    // Looks that sweep claims: each must leave claims in flight alone.
    let sweeper = {
        let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                p.sparkq(["peek", "--stream", STREAM]).success();
                p.sparkq(["tasks", "--stream", STREAM, "--json", "--limit", "5"])
                    .success();
            }
        })
    };
    // Tokenless heartbeats on whatever is claimed: they rewrite claimed
    // files, in flight or not, and must never take a claim from its holder.
    let beater = {
        let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut beats = 0;
            while !stop.load(Ordering::Relaxed) {
                for name in p.files(STREAM, "claimed") {
                    if let Some(id) = name.strip_suffix(".json").filter(|_| !name.starts_with('.')) {
                        let out = p.bounded(["heartbeat", id], Duration::from_secs(60));
                        beats += usize::from(out.status.success());
                    }
                }
            }
            beats
        })
    };

    // (worker, id, token) of every claim that printed its task.
    let handed: Arc<Mutex<Vec<(usize, String, String)>>> = Arc::default();
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|w| {
            let (p, handed) = (Arc::clone(&p), Arc::clone(&handed));
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(w as u64 + 11);
                let worker = format!("w{w}");
                let mut killed = 0;
                loop {
                    let mut child = p
                        .command(["claim", "--stream", STREAM, "--worker", &worker])
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    // One claim in six is killed at a random moment of its run.
                    if rng.usize(..6) == 0 {
                        std::thread::sleep(span.mul_f64(rng.f64()));
                        let _ = child.kill();
                    }
                    let output = child.wait_with_output().unwrap();
                    if !output.status.success() {
                        assert!(output.status.code().is_none(), "a claim failed: {output:?}");
                        killed += 1;
                        continue;
                    }
                    if output.stdout.is_empty() {
                        return killed;
                    }
                    let task: Value = serde_json::from_slice(&output.stdout).unwrap();
                    let id = task["id"].as_str().unwrap().to_owned();
                    let token = task["claim_token"].as_str().unwrap().to_owned();
                    assert_eq!(task["claimed_by"], worker.as_str());
                    // The holder's token is the task's: its report is taken.
                    p.sparkq([
                        "complete",
                        &id,
                        "--token",
                        &token,
                        "--result",
                        r#"{"summary": "ok"}"#,
                    ])
                    .success();
                    handed.lock().unwrap().push((w, id, token));
                }
            })
        })
        .collect();
    let killed: usize = claimers.into_iter().map(|c| c.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    sweeper.join().unwrap();
    let beats = beater.join().unwrap();
    eprintln!("{killed} claims killed, {beats} tokenless heartbeats taken");

    let handed = handed.lock().unwrap();
    let mut by_worker: BTreeMap<usize, Vec<&String>> = BTreeMap::new();
    for (w, id, _) in handed.iter() {
        by_worker.entry(*w).or_default().push(id);
    }
    for (w, ids) in &by_worker {
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "worker {w} not in FIFO order"
        );
    }
    let unique: BTreeSet<&String> = handed.iter().map(|(_, id, _)| id).collect();
    assert_eq!(unique.len(), handed.len(), "a task was handed out twice");

    // A claimer killed between the halves of its claim left its task's
    // file saying queued, and a marker the kernel unlocked: the next look
    // that lists `claimed/` repairs the file at once instead of waiting
    // for the marker to age. (A look within a second of the last listing
    // trusts that listing, which may predate the kill; see
    // `queue::sweep_hint`.)
    std::thread::sleep(Duration::from_millis(1100));
    p.sparkq(["peek", "--stream", STREAM]).success();
    for name in p.files(STREAM, "claimed") {
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = p.state_dir(STREAM, "claimed").join(&name);
        let task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(task["status"], "running", "{name} still lags after a look");
    }

    // What killed claimers left running is finished by hand; then every
    // task is done, once.
    for name in p.files(STREAM, "claimed") {
        if let Some(id) = name.strip_suffix(".json").filter(|_| !name.starts_with('.')) {
            assert!(
                !unique.contains(&id.to_owned()),
                "{id} was handed out and completed"
            );
            p.sparkq(["complete", id, "--result", r#"{"summary": "after a kill"}"#])
                .success();
        }
    }
    assert!(
        p.sparkq(["claim", "--stream", STREAM])
            .success()
            .stdout()
            .is_empty()
    );
    let done: BTreeSet<String> = p
        .files(STREAM, "done")
        .into_iter()
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .filter(|id| enqueued.contains(id))
        .collect();
    assert_eq!(done, enqueued, "every task ends in done/");
    let stray: Vec<String> = ["pending", "claimed", "failed"]
        .iter()
        .flat_map(|s| p.files(STREAM, s))
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
