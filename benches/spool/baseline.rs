//! The bare baseline: the physical limit of SparkQ's design on this file
//! system. A plain loop of create-temp, rename, read, write result, unlink,
//! with the same fsync rule as the spool's atomic write (flush the temp file
//! before the rename, the folder after it), and nothing else: no lock, no
//! listing, no JSON.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::stats::Round;

/// About the size of a queued task file.
const TASK_BYTES: &[u8] = &[b'x'; 700];
/// What the "result" write adds to it.
const RESULT_BYTES: &[u8] = &[b'y'; 200];

/// Runs `ops` cycles split over `threads` threads in fresh folders under
/// `root`; each cycle is timed.
pub(crate) fn run(root: &Path, threads: usize, ops: usize, fsync: bool) -> Round {
    let pending = root.join("pending");
    let done = root.join("done");
    for dir in [&pending, &done] {
        fs::create_dir_all(dir).expect("create baseline folders");
    }
    let start = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (pending, done) = (&pending, &done);
                scope.spawn(move || {
                    (0..ops / threads)
                        .map(|i| {
                            let began = Instant::now();
                            cycle(pending, done, &format!("t{t}-{i}"), fsync).expect("baseline cycle");
                            began.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("baseline thread"))
            .collect()
    });
    Round {
        samples,
        wall: start.elapsed(),
    }
}

/// One task's life in the cheapest possible form.
fn cycle(pending: &Path, done: &Path, name: &str, fsync: bool) -> std::io::Result<()> {
    let task = pending.join(format!("{name}.json"));
    write_atomic(pending, &task, TASK_BYTES, fsync)?;
    let mut bytes = fs::read(&task)?;
    bytes.extend_from_slice(RESULT_BYTES);
    write_atomic(done, &done.join(format!("{name}.json")), &bytes, fsync)?;
    fs::remove_file(&task)
}

fn write_atomic(dir: &Path, target: &Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    let file_name = target.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let temp = dir.join(format!(".{file_name}.tmp"));
    let mut file = File::create_new(&temp)?;
    file.write_all(bytes)?;
    if fsync {
        file.sync_data()?;
    }
    drop(file);
    fs::rename(&temp, target)?;
    if fsync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The environment variable that makes the bench binary run one step of
/// the two-process baseline instead of the benchmark (see [`step`]).
pub(crate) const STEP_ENV: &str = "SPARKQ_BENCH_BARE_STEP";

/// The bare baseline as a shell worker would run it: `threads` workers
/// drain `tasks` files queued beforehand (untimed), each task by two
/// processes, as `sparkq claim` then `sparkq complete` are. The processes
/// are this bench binary again (a Rust binary of about `sparkq`'s size)
/// doing only the file work: the claim step renames `pending/<n>.json` to
/// `claimed/` and writes the claim record over it atomically, the complete
/// step writes `done/<n>.json` atomically and removes the claimed copy.
/// Workers take numbers from a shared counter: no lock, no listing, no
/// JSON. This is the reference for the CLI drain.
pub(crate) fn two_processes(root: &Path, threads: usize, tasks: usize, fsync: bool) -> Round {
    let dirs = ["pending", "claimed", "done"].map(|d| root.join(d));
    for dir in &dirs {
        fs::create_dir_all(dir).expect("create baseline folders");
    }
    for n in 0..tasks {
        fs::write(dirs[0].join(format!("{n}.json")), TASK_BYTES).expect("queue a baseline task");
    }
    let me = std::env::current_exe().expect("the bench binary's path");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let run = |step: &str, n: usize| {
        let status = std::process::Command::new(&me)
            .env(STEP_ENV, step)
            .args([
                root.as_os_str(),
                n.to_string().as_ref(),
                if fsync { "1" } else { "0" }.as_ref(),
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run a baseline step")
            .status;
        assert!(status.success(), "baseline step {step} {n} failed");
    };
    let start = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (next, run) = (&next, &run);
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= tasks {
                            return samples;
                        }
                        let began = Instant::now();
                        run("claim", n);
                        run("complete", n);
                        samples.push(began.elapsed());
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("baseline worker"))
            .collect()
    });
    let wall = start.elapsed();
    let done = fs::read_dir(&dirs[2]).expect("list done/").count();
    assert_eq!(done, tasks, "every baseline task must end in done/");
    Round { samples, wall }
}

/// One step of [`two_processes`], run in a child process: `args` are the
/// folder, the task number and `1`/`0` for fsync.
pub(crate) fn step(step: &str, args: &[String]) -> std::io::Result<()> {
    let [root, n, fsync] = args else {
        return Err(std::io::Error::other(format!(
            "expected FOLDER N FSYNC, got {args:?}"
        )));
    };
    let (root, fsync) = (Path::new(root), fsync == "1");
    let name = format!("{n}.json");
    let (pending, claimed, done) = (root.join("pending"), root.join("claimed"), root.join("done"));
    match step {
        "claim" => {
            fs::rename(pending.join(&name), claimed.join(&name))?;
            let mut bytes = fs::read(claimed.join(&name))?;
            bytes.extend_from_slice(b"claimed");
            write_atomic(&claimed, &claimed.join(&name), &bytes, fsync)?;
            std::io::stdout().write_all(&bytes)
        }
        "complete" => {
            let mut bytes = fs::read(claimed.join(&name))?;
            bytes.extend_from_slice(RESULT_BYTES);
            write_atomic(&done, &done.join(&name), &bytes, fsync)?;
            fs::remove_file(claimed.join(&name))
        }
        other => Err(std::io::Error::other(format!("unknown step {other}"))),
    }
}
