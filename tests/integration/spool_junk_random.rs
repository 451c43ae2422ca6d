//! Random junk dropped into random spool folders while workers run: no
//! command hangs or panics, every accepted task ends exactly once, and
//! nothing outside the project is read or written.
//!
//! The seed is printed; rerun one with `SPARKQ_JUNK_SEED=<seed>`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::spool_junk::{age, bounded, mkfifo, regular_files, spool_holds};
use crate::support::Project;

const WORKERS: usize = 3;
/// Rounds of enqueue-or-claim each worker does.
const ROUNDS: usize = 50;
/// The secret a link outside the project holds; it must never be copied in.
const SECRET: &str = "outside-secret-4f9c2e";
/// Limits small enough that a file over the read cap is cheap to write.
const LIMITS: &str = "limits: { payload_bytes: 1024, output_bytes: 4096 }\n";
/// The read cap those limits give (see `spool::file_cap_for`).
const CAP: usize = 12 * (2 * 1024 + 2 * 4096) + 1024 * 1024;

fn seed() -> u64 {
    let seed = std::env::var("SPARKQ_JUNK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("spool junk seed: {seed} (rerun with SPARKQ_JUNK_SEED={seed})");
    seed
}

/// Drops one random piece of junk into a random spool folder.
fn drop_junk(p: &Project, rng: &mut fastrand::Rng, outside: &Path, n: usize) {
    let spool = p.spool();
    let stream = spool.join("streams/a");
    let dirs = [
        stream.join("pending"),
        stream.join("pending"),
        stream.join("claimed"),
        stream.join("done"),
        stream.join("failed"),
        stream.clone(),
        spool.join("sessions"),
    ];
    let dir = &dirs[rng.usize(..dirs.len())];
    let name: Vec<u8> = match rng.u8(..4) {
        0 => format!("tsk_junk{n}x{}.json", rng.u32(..)).into_bytes(),
        1 => format!("junk-{n}.json").into_bytes(),
        2 => [&b"odd-\xff"[..], format!("{n}.json").as_bytes()].concat(),
        _ => format!("junk-{n}").into_bytes(),
    };
    let path = dir.join(std::ffi::OsStr::from_bytes(&name));
    match rng.u8(..9) {
        0 => {
            let len = rng.usize(..300);
            let bytes: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
            std::fs::write(&path, bytes).unwrap();
        }
        1 => {
            let json = match rng.u8(..4) {
                0 => format!(r#"{{"tool_name": "run-bash", "payload": {{"junk": {n}}}}}"#),
                1 => format!(r#"{{"tool_name": "no-such-tool", "payload": {n}}}"#),
                2 => format!("[{n}, {{\"a\": null}}]"),
                _ => "{\"deep\": ".repeat(200) + &"}".repeat(200),
            };
            std::fs::write(&path, json).unwrap();
        }
        2 => forge(p, rng, &path),
        3 => std::os::unix::fs::symlink(outside, &path).unwrap(),
        4 => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
        5 => mkfifo(&path),
        6 => {
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("inside.json"), "{}").unwrap();
        }
        7 => std::fs::write(&path, vec![b' '; CAP + 1 + rng.usize(..1000)]).unwrap(),
        _ => std::os::unix::fs::symlink(dir.join("nothing-here"), &path).unwrap(),
    }
    if rng.bool() {
        age(&path);
    }
}

/// A copy of a real task file with a changed payload, or naming another
/// stream, saved at `path`.
fn forge(p: &Project, rng: &mut fastrand::Rng, path: &Path) {
    let source = ["pending", "claimed", "done"]
        .iter()
        .flat_map(|s| {
            p.files("a", s)
                .into_iter()
                .map(move |f| p.state_dir("a", s).join(f))
        })
        // A real task file: junk here may be a FIFO or a link to /dev/zero.
        .find(|f| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.ends_with(".json")
                && !name.starts_with("tsk_junk")
                && std::fs::symlink_metadata(f).is_ok_and(|m| m.is_file())
        });
    let Some(text) = source.and_then(|f| std::fs::read_to_string(f).ok()) else {
        return std::fs::write(path, "{}").unwrap();
    };
    // Earlier junk may be JSON that is not an object (`[1, {...}]`): copy
    // it as it is, there are no fields to forge.
    let Some(mut task) = serde_json::from_str::<Value>(&text).ok().filter(Value::is_object) else {
        return std::fs::write(path, text).unwrap();
    };
    if rng.bool() {
        task["payload"] = serde_json::json!({"forged": true});
    } else {
        task["stream"] = "zzz".into();
    }
    std::fs::write(path, serde_json::to_vec_pretty(&task).unwrap()).unwrap();
}

/// Claims one task and completes (or fails) it; returns its id.
fn work_one(p: &Project, worker: usize, rng: &mut fastrand::Rng) -> Option<String> {
    let out = bounded(p, &["claim", "--stream", "a", "--worker", &format!("w{worker}")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claimed: Value = serde_json::from_slice(&out.stdout).ok()?;
    let id = claimed["id"].as_str()?.to_owned();
    let token = claimed["claim_token"].as_str()?.to_owned();
    let out = if rng.u8(..4) == 0 {
        bounded(p, &["fail", &id, "--error", "junk test", "--token", &token])
    } else {
        let result = r#"{"summary": "done by the junk test"}"#;
        bounded(p, &["complete", &id, "--result", result, "--token", &token])
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(id)
}

#[test]
fn random_junk_in_the_spool_while_workers_run_loses_nothing_and_hangs_nothing() {
    let started = Instant::now();
    let seed = seed();
    let p = Project::with_stream("a");
    let config = p.path().join("sparkq.yml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(LIMITS);
    std::fs::write(&config, text).unwrap();
    let outside_dir = tempfile::tempdir().unwrap();
    let outside = outside_dir.path().join("secret.json");
    std::fs::write(
        &outside,
        format!(r#"{{"tool_name": "run-bash", "payload": {{"k": "{SECRET}"}}}}"#),
    )
    .unwrap();
    let outside_mtime = std::fs::metadata(&outside).unwrap().modified().unwrap();

    let accepted = Mutex::new(BTreeSet::new());
    let handed_out = Mutex::new(Vec::new());
    let working = AtomicBool::new(true);
    let rounds_done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (p, accepted, handed_out, rounds_done) = (&p, &accepted, &handed_out, &rounds_done);
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_add(worker as u64 + 1));
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    if rng.bool() {
                        let payload = format!(r#"{{"worker": {worker}, "round": {round}}}"#);
                        let out = bounded(p, &["enqueue", "run-bash", &payload, "--stream", "a"]);
                        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        accepted.lock().unwrap().insert(id);
                    } else if let Some(id) = work_one(p, worker, &mut rng) {
                        handed_out.lock().unwrap().push(id);
                    }
                    rounds_done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let (p, working, outside) = (&p, &working, &outside);
        let junk = scope.spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut n = 0;
            while working.load(Ordering::Relaxed) {
                drop_junk(p, &mut rng, outside, n);
                n += 1;
                for args in [
                    &["tasks"][..],
                    &["status"],
                    &["peek", "--stream", "a"],
                    &["doctor"],
                ] {
                    if rng.u8(..4) == 0 {
                        bounded(p, args);
                    }
                }
                std::thread::sleep(Duration::from_millis(rng.u64(20..80)));
            }
        });
        // Stop the junk once the workers are through (or it failed).
        while !junk.is_finished() && rounds_done.load(Ordering::Relaxed) < WORKERS * ROUNDS {
            std::thread::sleep(Duration::from_millis(50));
        }
        working.store(false, Ordering::Relaxed);
    });

    // Settle everything that is left, then drain the stream.
    for entry in std::fs::read_dir(p.state_dir("a", "pending")).unwrap().flatten() {
        age(&entry.path());
    }
    let out = bounded(&p, &["doctor", "--fix"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rng = fastrand::Rng::with_seed(seed);
    while let Some(id) = work_one(&p, 9, &mut rng) {
        handed_out.lock().unwrap().push(id);
    }

    let handed_out = handed_out.into_inner().unwrap();
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &handed_out {
        *times.entry(id.as_str()).or_default() += 1;
    }
    let finished: Vec<String> = ["done", "failed"].iter().flat_map(|s| p.files("a", s)).collect();
    for id in accepted.into_inner().unwrap() {
        assert_eq!(
            times.get(id.as_str()),
            Some(&1),
            "task {id} handed out once (seed {seed})"
        );
        let copies = finished.iter().filter(|f| **f == format!("{id}.json")).count();
        assert_eq!(copies, 1, "task {id} ends exactly once (seed {seed})");
    }
    assert!(
        times.values().all(|n| *n == 1),
        "no task handed out twice (seed {seed})"
    );
    let left: Vec<String> = p
        .files("a", "pending")
        .into_iter()
        .filter(|f| !f.starts_with('.'))
        .collect();
    assert!(
        left.is_empty(),
        "every drop adopted or set aside: {left:?} (seed {seed})"
    );
    assert!(!p.spool().join("streams/zzz").exists(), "seed {seed}");
    assert!(
        !spool_holds(&p, SECRET.as_bytes()),
        "a link's target was read (seed {seed})"
    );
    assert_eq!(
        std::fs::metadata(&outside).unwrap().modified().unwrap(),
        outside_mtime
    );
    assert!(
        regular_files(outside_dir.path()).len() == 1,
        "nothing written outside (seed {seed})"
    );
    // What is left is reported: junk outside pending/ that needs a person.
    let out = bounded(&p, &["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for finding in report["findings"].as_array().unwrap() {
        *kinds
            .entry(finding["kind"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(!kinds.contains_key("foreign"), "{report:#} (seed {seed})");
    if std::env::var_os("SPARKQ_JUNK_REPORT").is_some() {
        eprintln!("{report:#}");
    }
    let quarantined = std::fs::read_dir(p.spool().join("streams/a/quarantine")).map_or(0, |d| d.count());
    eprintln!(
        "spool junk: {} tasks handed out, {quarantined} entries quarantined, doctor reports {kinds:?}, in {:?}",
        handed_out.len(),
        started.elapsed()
    );
}
