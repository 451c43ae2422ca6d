//! Crash safety: enqueuers, claimers and completers killed with SIGKILL at
//! random moments never leave a half-written, duplicated or lost task.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, tier};

const STATES: [&str; 4] = ["pending", "claimed", "done", "failed"];

/// Every task file in the stream, by id → the folders holding it. Panics on
/// any file that is not a complete task (temp files are `.`-prefixed and
/// allowed: they are never read as tasks).
fn spool_state(p: &Project) -> BTreeMap<String, Vec<&'static str>> {
    let mut found: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for state in STATES {
        for name in p.files("crash", state) {
            if name.starts_with('.') {
                continue;
            }
            let path = p.state_dir("crash", state).join(&name);
            let bytes = std::fs::read(&path).unwrap();
            let task: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("half-written task file {}: {e}", path.display()));
            let id = name
                .strip_suffix(".json")
                .expect("only task files in state folders");
            assert_eq!(task["id"], id, "{}", path.display());
            found.entry(id.to_owned()).or_default().push(state);
        }
    }
    found
}

/// The slowest of a few runs of an enqueue followed by a claim and a
/// complete: how long the commands the test kills take here and now.
fn command_time(p: &Project) -> Duration {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            p.enqueue("crash", r#"{"warm": 1}"#);
            let task = p.claim("crash");
            let id = task["id"].as_str().unwrap().to_owned();
            p.sparkq(["complete", &id, "--result", r#"{"summary": "warm"}"#])
                .success();
            start.elapsed() / 3
        })
        .max()
        .unwrap_or(Duration::from_millis(5))
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let p = Project::with_stream("crash");
    fastrand::seed(7);
    // Kill delays span a command's own run time on this machine at this
    // moment, so that under load too some commands die and some finish.
    let span = command_time(&p) * 2;
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut claims: Vec<(String, String)> = Vec::new();
    let (mut killed, mut finished) = (0, 0);
    let rounds = tier(80, 300);
    for round in 0..rounds {
        let op = fastrand::u8(..3);
        let args: Vec<String> = match op {
            0 => ["enqueue", "run-bash-fast", r#"{"n": 1}"#, "--stream", "crash"]
                .map(String::from)
                .to_vec(),
            1 => ["claim", "--stream", "crash", "--worker", "crashy"]
                .map(String::from)
                .to_vec(),
            _ => match claims.pop() {
                Some((id, token)) => vec![
                    "complete".into(),
                    id,
                    "--token".into(),
                    token,
                    "--result".into(),
                    r#"{"summary": "done"}"#.into(),
                ],
                None => continue,
            },
        };
        let mut child = p
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(span.mul_f64(fastrand::f64()));
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            finished += 1;
        } else {
            killed += 1;
        }
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            match op {
                0 => {
                    acknowledged.insert(stdout.trim().to_owned());
                }
                1 if !stdout.is_empty() => {
                    let task: Value = serde_json::from_str(&stdout).unwrap();
                    let id = task["id"].as_str().unwrap().to_owned();
                    claims.push((id, task["claim_token"].as_str().unwrap().to_owned()));
                }
                _ => {}
            }
        }

        // The next command repairs what a kill left: afterwards every id is
        // in exactly one folder and every acknowledged task exists.
        p.sparkq(["tasks", "--stream", "crash", "--json"]).success();
        let state = spool_state(&p);
        for (id, folders) in &state {
            assert!(folders.len() == 1, "round {round}: {id} in {folders:?}");
        }
        for id in &acknowledged {
            assert!(
                state.contains_key(id),
                "round {round}: acknowledged task {id} was lost"
            );
        }
    }

    // The kill delays straddle a command's run time, so both outcomes occur;
    // how often each does depends on the machine's load, so ask only for a
    // fair share of each.
    eprintln!("{killed} commands killed, {finished} finished");
    assert!(
        killed >= rounds / 20 && finished >= rounds / 20,
        "{killed} killed, {finished} finished of {rounds}"
    );

    // Drain: every task, claimed by a killed process or not, can be finished.
    for (id, folders) in spool_state(&p) {
        if folders == ["claimed"] {
            p.sparkq([
                "complete",
                &id,
                "--result",
                r#"{"summary": "finished after crash"}"#,
            ])
            .success();
        }
    }
    while !p
        .sparkq(["claim", "--stream", "crash"])
        .success()
        .stdout()
        .is_empty()
    {}
    for (id, folders) in spool_state(&p) {
        if folders == ["claimed"] {
            p.sparkq(["complete", &id, "--result", r#"{"summary": "drained"}"#])
                .success();
        }
    }
    p.sparkq(["tasks", "--json"]).success();
    let state = spool_state(&p);
    assert!(acknowledged.iter().all(|id| state.contains_key(id)));
    assert!(
        state
            .values()
            .all(|f| f.len() == 1 && (f[0] == "done" || f[0] == "failed")),
        "{state:?}"
    );
}
