//! Cases through the real `sparkq` binary: worker processes draining a
//! stream, and the whole-process wall time of one command next to
//! `/bin/true`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::project::{Project, STREAM};
use super::stats::Round;

/// `workers` threads, each a shell-like worker loop of `sparkq claim` then
/// `sparkq complete --token`, draining `tasks` queued tasks; one sample per
/// task (both processes).
pub(crate) fn drain(bin: &Path, project: &Project, workers: usize, tasks: usize, fsync: bool) -> Round {
    project.set_fsync(fsync);
    project.fill(tasks);
    let start = Instant::now();
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    let worker = format!("bench-{w}");
                    let mut samples = Vec::new();
                    loop {
                        let began = Instant::now();
                        let Some((id, token)) = claim(bin, project, &worker) else {
                            return samples;
                        };
                        let result = r#"{"summary": "ok"}"#;
                        project.sparkq(bin, &["complete", &id, "--result", result, "--token", &token]);
                        samples.push(began.elapsed());
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

/// `sparkq claim --stream bench --worker W`: the claimed task's id and
/// token, or `None` when nothing is pending.
pub(crate) fn claim(bin: &Path, project: &Project, worker: &str) -> Option<(String, String)> {
    let output = project.sparkq(bin, &["claim", "--stream", STREAM, "--worker", worker]);
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let task: Value = serde_json::from_slice(&output.stdout).expect("claim prints JSON");
    let field = |name: &str| {
        task[name]
            .as_str()
            .expect("claim output has id and claim_token")
            .to_owned()
    };
    Some((field("id"), field("claim_token")))
}

/// The wall time of `runs` runs of `program args` (stdout and stderr
/// captured, as a caller reading the result would).
pub(crate) fn wall_time(program: &Path, args: &[&str], dir: &Path, runs: usize) -> Round {
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let began = Instant::now();
            let output = Command::new(program)
                .args(args)
                .current_dir(dir)
                .env_remove("SPARKQ_CONFIG")
                .env("SPARKQ_RUNTIME_DIR", super::project::runtime_for(dir, program))
                .stdin(Stdio::null())
                .output()
                .expect("run a process");
            let took = began.elapsed();
            assert!(output.status.success(), "{} {args:?} failed", program.display());
            took
        })
        .collect();
    Round::serial(samples)
}

/// `runs` one-shot `sparkq claim` processes on a stream that already holds
/// its pending tasks; each claimed task is completed in-process, untimed.
pub(crate) fn one_shot_claims(bin: &Path, project: &Project, runs: usize, fsync: bool) -> Round {
    project.set_fsync(fsync);
    let queue = project.queue(fsync);
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let began = Instant::now();
            let (id, token) = claim(bin, project, "bench").expect("a pending task");
            let took = began.elapsed();
            super::inproc::complete(&queue, &id, Some(token));
            took
        })
        .collect();
    Round::serial(samples)
}

/// The CPU time (user + system) used so far by this process's waited-for
/// children, from `/proc/self/stat` (`cutime`, `cstime`; 100 ticks a
/// second on Linux). Far less sensitive to other load than wall time, but
/// only meaningful summed over many runs. `None` where there is no `/proc`.
pub(crate) fn children_cpu() -> Option<Duration> {
    const TICKS_PER_SEC: u64 = 100;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: state is
    // field 3, cutime 16 and cstime 17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

/// `runs` one-shot `sparkq complete --token` processes, each on a task
/// claimed in-process beforehand (untimed).
pub(crate) fn one_shot_completes(bin: &Path, project: &Project, runs: usize, fsync: bool) -> Round {
    project.set_fsync(fsync);
    let queue = project.queue(fsync);
    let result = r#"{"summary": "ok"}"#;
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let claimed = queue
                .claim(STREAM, "bench")
                .expect("claim")
                .expect("a pending task");
            let id = claimed.task.id.to_string();
            let token = claimed.task.claim_token.expect("a claim token");
            let began = Instant::now();
            project.sparkq(bin, &["complete", &id, "--result", result, "--token", &token]);
            began.elapsed()
        })
        .collect();
    Round::serial(samples)
}

/// The wall time of `runs` runs of `nq true` (nq, the closest peer to a
/// one-shot enqueue: it writes a job file into `$NQDIR` and starts the job
/// in the background), with `NQDIR` a fresh folder under `dir`. `None`
/// when `nq` is not installed.
///
/// What is compared (strace of nq 0.5): nq's job process creates the job
/// file, renames it into place and flushes the folder (`fsync` of
/// `$NQDIR`), and only then hands its stdout to the job, so the captured
/// stdout closes after that flush and the measure includes it; the job
/// file's own data is never flushed. So `nq` always pays one folder flush:
/// SparkQ's fsync-on column (task data flushed, then its folder) does a
/// little more than nq, its fsync-off column (no flush at all) less; the
/// two columns bracket the like-for-like figure.
pub(crate) fn nq_enqueue(dir: &Path, runs: usize) -> Option<Round> {
    let nq = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|p| p.join("nq"))
        .find(|p| p.is_file())?;
    let jobs = tempfile::tempdir_in(dir).expect("an NQDIR");
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let began = Instant::now();
            let output = Command::new(&nq)
                .arg("true")
                .env("NQDIR", jobs.path())
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .expect("run nq");
            let took = began.elapsed();
            assert!(output.status.success(), "nq true failed");
            took
        })
        .collect();
    Some(Round::serial(samples))
}
