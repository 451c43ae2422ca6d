//! A stream deleted by hand (`rm -r spool/streams/NAME`) while workers are
//! at it stays deleted: no command racing the deletion may make its folder
//! again around a `.lock`, a `done/` or a task file, which would bring the
//! stream back without its `stream.json` (the watcher's case is in
//! `watcher`). Each round deletes the folder at a random moment while four
//! workers enqueue, claim and complete, heartbeat and peek; the commands
//! that lose the race fail with an error, none crashes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{Project, tier, wait_until};

/// One random worker step on stream `a`; returns the exit code.
fn step(p: &Project) -> Option<i32> {
    let run = |args: &[&str]| p.command(args).output().expect("run sparkq");
    let out = match fastrand::u8(..4) {
        0 => run(&["enqueue", "run-bash", r#"{"script": "x"}"#, "--stream", "a"]),
        1 => {
            let claim = run(&["claim", "--stream", "a", "--worker", "w"]);
            let task: Option<serde_json::Value> = serde_json::from_slice(&claim.stdout).ok();
            let Some(task) = task.filter(|_| claim.status.success()) else {
                return claim.status.code();
            };
            let id = task["id"].as_str().unwrap_or_default().to_owned();
            let token = task["claim_token"].as_str().unwrap_or_default().to_owned();
            if fastrand::bool() {
                let beat = run(&["heartbeat", &id, "--token", &token]);
                if !beat.status.success() {
                    return beat.status.code();
                }
            }
            run(&[
                "complete",
                &id,
                "--token",
                &token,
                "--result",
                r#"{"summary": "ok"}"#,
            ])
        }
        2 => run(&["peek", "--stream", "a"]),
        _ => run(&["tasks", "--stream", "a", "--limit", "5"]),
    };
    out.status.code()
}

fn remove_when_possible(dir: &Path) {
    // A worker may be writing into it at that moment: retry until gone.
    wait_until("the stream folder to be removed", 20, || {
        std::fs::remove_dir_all(dir).is_ok() || !dir.exists()
    });
}

#[test]
fn a_stream_folder_deleted_under_busy_workers_stays_deleted() {
    let p = Arc::new(Project::with_stream("a"));
    let dir = p.spool().join("streams").join("a");
    for round in 0..tier(4, 30) {
        if round > 0 {
            p.sparkq(["stream", "create", "a", "--session", "s1"]).success();
        }
        for _ in 0..3 {
            p.enqueue("a", r#"{"script": "x"}"#);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (p, stop) = (p.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut codes = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        codes.push(step(&p));
                    }
                    // A few more steps on the deleted stream.
                    codes.extend((0..3).map(|_| step(&p)));
                    codes
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..80)));
        remove_when_possible(&dir);
        stop.store(true, Ordering::Relaxed);
        for worker in workers {
            let codes = worker.join().expect("worker thread");
            // 0, or 1 with an error (the stream is gone); never a panic
            // (101) or a signal (None).
            assert!(
                codes.iter().all(|c| matches!(c, Some(0 | 1))),
                "round {round}: exit codes {codes:?}"
            );
        }
        assert!(
            !dir.exists(),
            "round {round}: a command made {} again: {:?}",
            dir.display(),
            walkdir::WalkDir::new(&dir)
                .into_iter()
                .filter_map(Result::ok)
                .map(|e| e.path().display().to_string())
                .collect::<Vec<_>>()
        );
    }
    p.sparkq(["stream", "create", "a", "--session", "s1"]).success();
    p.enqueue("a", r#"{"script": "x"}"#);
    p.claim("a");
}
