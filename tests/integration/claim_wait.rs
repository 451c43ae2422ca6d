//! `sparkq claim --wait`: woken by file-system events, exactly once under
//! racing waiters, nothing claimed when interrupted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::background::{Bg, Runtime};
use crate::support::{Project, wait_until};

/// A `claim --wait` running in the background.
fn waiter(p: &Project, rt: &Runtime, stream: &str, secs: &str) -> Bg {
    Bg::spawn(rt.command(p, &["claim", "--stream", stream, "--worker", "w", "--wait", secs]))
}

#[test]
fn wakes_on_cli_enqueue() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    // `--wait` without a value waits the default 600 s.
    let mut w = Bg::spawn(rt.command(&p, &["claim", "--stream=a", "--wait"]));
    let id = p.enqueue("a", r#"{"script_path": "x.sh"}"#);
    assert!(w.wait_exit(20).success());
    let task: Value = serde_json::from_str(&w.stdout()).expect("claimed task JSON");
    assert_eq!(task["id"], id.as_str());
    assert_eq!(task["stream"]["instructions"], "Do the thing.");
    assert_eq!(p.files("a", "claimed"), [format!("{id}.json")]);
}

#[test]
fn wakes_on_a_file_dropped_into_pending() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut w = waiter(&p, &rt, "a", "60");
    let pending = p.state_dir("a", "pending");
    std::fs::create_dir_all(&pending).unwrap();
    std::fs::write(
        pending.join(".drop.tmp"),
        r#"{"tool_name": "run-bash", "payload": {"script_path": "d.sh"}}"#,
    )
    .unwrap();
    std::fs::rename(pending.join(".drop.tmp"), pending.join("drop.json")).unwrap();
    // A dropped file is adopted once it has settled (2 s unchanged).
    assert!(w.wait_exit(20).success());
    let task: Value = serde_json::from_str(&w.stdout()).expect("claimed task JSON");
    assert_eq!(task["payload"]["script_path"], "d.sh");
    assert_eq!(task["status"], "running");
}

#[test]
fn a_wait_that_ends_prints_nothing_and_exits_0() {
    let p = Project::with_stream("a");
    let out = p.sparkq(["claim", "--stream", "a", "--wait", "1"]).success();
    assert_eq!(out.stdout(), "");
}

#[test]
fn ctrl_c_leaves_nothing_claimed() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut w = waiter(&p, &rt, "a", "600");
    // The waiter is ready once it watches pending/; give it a moment by
    // waiting on a condition it cannot reach before then: its watch on the
    // folder shows up as an open inotify descriptor.
    wait_until("the waiter to watch its folder", 20, || has_inotify(w.pid()));
    w.signal("INT");
    let status = w.wait_exit(20);
    assert_eq!(status.code(), Some(130));
    assert_eq!(w.stdout(), "");
    p.enqueue("a", "{}");
    assert!(p.files("a", "claimed").is_empty());
    assert_eq!(p.files("a", "pending").len(), 1);
}

/// Whether process `pid` has an inotify instance open (Linux).
pub fn has_inotify(pid: u32) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.to_string_lossy().contains("inotify"))
}

#[test]
fn an_ended_stream_is_an_error() {
    let p = Project::with_stream("a");
    p.sparkq(["stream", "end", "a"]).success();
    p.sparkq(["claim", "--stream", "a", "--wait", "5"])
        .fails_with("has ended");
}

/// Four workers looping on `claim --wait` while 500 tasks arrive in bursts:
/// every task is claimed exactly once, and none waits while a worker idles.
#[test]
fn four_waiters_and_500_tasks_in_bursts_claim_each_once() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let claims: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        for n in 0..4 {
            let (p, rt, claims, done) = (&p, &rt, Arc::clone(&claims), Arc::clone(&done));
            scope.spawn(move || {
                let worker = format!("w{n}");
                while !done.load(Ordering::SeqCst) {
                    let out = rt
                        .command(p, &["claim", "--stream", "a", "--worker", &worker, "--wait", "2"])
                        .output()
                        .expect("claim");
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    if !out.stdout.is_empty() {
                        let task: Value = serde_json::from_slice(&out.stdout).expect("task JSON");
                        claims
                            .lock()
                            .unwrap()
                            .push((task["id"].as_str().unwrap().to_owned(), worker.clone()));
                    }
                }
            });
        }
        let mut queued = 0;
        for burst in 0..10 {
            let lines: String = (0..50)
                .map(|i| {
                    format!(
                        "{{\"tool_name\": \"run-bash\", \"payload\": {{\"n\": {}}}}}\n",
                        burst * 50 + i
                    )
                })
                .collect();
            p.sparkq_stdin(["enqueue", "--stream", "a", "--batch", "-"], &lines)
                .success();
            queued += 50;
            if burst % 3 == 0 {
                // Let the waiters drain some bursts before the next lands.
                wait_until("the burst to be claimed", 120, || {
                    claims.lock().unwrap().len() == queued
                });
            }
        }
        wait_until("all 500 tasks to be claimed", 180, || {
            claims.lock().unwrap().len() >= 500
        });
        done.store(true, Ordering::SeqCst);
    });
    let claims = claims.lock().unwrap();
    let mut per_task: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in claims.iter() {
        *per_task.entry(id).or_default() += 1;
    }
    assert_eq!(per_task.len(), 500, "distinct tasks claimed");
    assert!(per_task.values().all(|n| *n == 1), "a task was claimed twice");
    assert_eq!(p.files("a", "claimed").len(), 500);
    assert!(p.files("a", "pending").is_empty());
    let workers: std::collections::BTreeSet<&str> = claims.iter().map(|(_, w)| w.as_str()).collect();
    assert!(workers.len() > 1, "only {workers:?} ever claimed");
}

/// Idle waiters all wake when work lands: four waiters, four tasks, each
/// waiter gets one well before its wait ends.
#[test]
fn every_idle_waiter_gets_a_task_of_a_burst() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut waiters: Vec<Bg> = (0..4).map(|_| waiter(&p, &rt, "a", "120")).collect();
    for w in &waiters {
        wait_until("the waiters to watch their folder", 20, || has_inotify(w.pid()));
    }
    let lines = "{\"tool_name\": \"run-bash\", \"payload\": {}}\n".repeat(4);
    p.sparkq_stdin(["enqueue", "--stream", "a", "--batch", "-"], &lines)
        .success();
    let mut ids = Vec::new();
    for w in &mut waiters {
        assert!(w.wait_exit(30).success());
        let task: Value = serde_json::from_str(&w.stdout()).expect("each waiter claimed a task");
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}
