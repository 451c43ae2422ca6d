//! Issue 14's evidence: two machines sharing one spool while work goes on.
//! Each has two workers, an enqueuer and a dropper of files, and syncs
//! every second (`sparkq sync --every 1s`, git through a bare remote or
//! rsync both ways); one side purges and ends a stream half-way, and task
//! timeouts are short so that dead claims are swept on both. After a final
//! quiet sync, every accepted enqueue and drop is there exactly once on
//! both sides, every completion that returned success is there as the
//! result or a kept conflict, no purged task is back, the two spools are
//! identical, and doctor finds nothing.
//!
//! `SPARKQ_SYNC_MODE=hand` runs the same scenario with the README's old
//! hand procedure instead of `sparkq sync` (git: commit, `pull
//! --no-rebase`, `doctor --fix`, commit, push; rsync: both ways, then
//! `doctor --fix`), to measure what `sparkq sync` changed. Each run prints
//! one `sync-evidence` line with the counts of the table.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sparkq::queue::{NewTask, Report};

use crate::sync_live_check::{Ledger, tally};
use crate::sync_support::{Machine, finishes, git, git_ok};

/// How long the machines work before the final quiet sync.
const BUSY: Duration = Duration::from_secs(20);
/// Task timeout: short, so that claims left without heartbeats are swept.
const TASK_TIMEOUT_SECS: u64 = 2;
/// What the purge removes: finished this long ago.
const PURGE_AGE: Duration = Duration::from_secs(5);

fn hand_mode() -> bool {
    std::env::var("SPARKQ_SYNC_MODE").is_ok_and(|m| m == "hand")
}

/// Kills the sync loops it holds when dropped.
struct Loops(Vec<Child>);

impl Drop for Loops {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A project with streams `q` and `e`, whose tasks time out quickly.
fn machine(name: &'static str, dir: &Path) -> Machine {
    let m = Machine::create(name, dir);
    m.queue
        .create_stream("e", "s1", "Ends half-way.")
        .expect("stream e");
    m
}

fn enqueue(m: &Machine, stream: &str, note: &str) -> Option<String> {
    let new = NewTask {
        tool_name: "run-bash".into(),
        payload: json!({"script_path": note}),
        timeout: Some(TASK_TIMEOUT_SECS),
        task_class: None,
    };
    m.queue.enqueue(stream, new).ok().map(|t| t.id.to_string())
}

/// Drops a file into `q`'s pending folder the recommended way.
fn drop_file(m: &Machine, marker: &str) {
    let dir = m.spool().join("streams/q/pending");
    let body =
        json!({"tool_name": "run-bash", "payload": {"script_path": marker}, "timeout": TASK_TIMEOUT_SECS});
    let tmp = dir.join(format!(".{marker}.tmp"));
    std::fs::write(&tmp, body.to_string()).expect("drop");
    std::fs::rename(&tmp, dir.join(format!("{marker}.json"))).expect("drop");
}

/// One worker: claims, works a little, sometimes dies quietly for longer
/// than the timeout, and completes or fails with its token.
fn worker(m: &Machine, who: &str, seed: u64, stop: &AtomicBool, ledger: &Mutex<Ledger>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let stream = if rng.u8(..4) == 0 { "e" } else { "q" };
        let Ok(Some(claimed)) = m.queue.claim(stream, who) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let (id, token) = (
            claimed.task.id.to_string(),
            claimed.task.claim_token.unwrap_or_default(),
        );
        let pause = if rng.u8(..10) == 0 { 2600 } else { rng.u64(0..400) };
        std::thread::sleep(Duration::from_millis(pause));
        if rng.bool() {
            let _ = m.queue.heartbeat(&id, Some(&token));
        }
        n += 1;
        let report = Report {
            token: Some(token),
            ..Report::default()
        };
        if rng.u8(..5) == 0 {
            let _ = m.queue.fail(&id, &format!("{who} failed #{n}"), report);
            continue;
        }
        let summary = format!("{who} did {id} #{n}");
        if m.queue.complete(&id, json!({"summary": summary}), report).is_ok() {
            ledger.lock().expect("ledger").completed.push((id, summary));
        }
    }
}

/// The enqueuer and dropper of one machine; `a` also purges and ends `e`.
fn feeder(m: &Machine, purges: bool, stop: &AtomicBool, ledger: &Mutex<Ledger>) {
    let started = Instant::now();
    let mut ended = false;
    let mut next_purge = Duration::from_secs(8);
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let stream = if n % 3 == 0 { "e" } else { "q" };
        if let Some(id) = enqueue(m, stream, &format!("{}-{n}", m.name)) {
            ledger.lock().expect("ledger").enqueued.insert(id);
        }
        if n % 2 == 0 {
            let marker = format!("drop-{}-{n}", m.name);
            drop_file(m, &marker);
            ledger.lock().expect("ledger").dropped.insert(marker);
        }
        if purges && started.elapsed() > next_purge {
            next_purge += Duration::from_secs(4);
            // The ledger's picture of each purged task is the copy the
            // purge removed, as it read it under the stream lock: a listing
            // taken before can miss a finish (or the whole task) that the
            // sync loop merged and settled in between. A purge that stops
            // part-way has still removed what it showed.
            let mut seen = Vec::new();
            let _ = m.queue.purge_seeing(PURGE_AGE, |t| seen.push(t.clone()));
            let mut ledger = ledger.lock().expect("ledger");
            for task in seen {
                let marker = task.payload.get("script_path").and_then(|v| v.as_str());
                ledger.purged_markers.extend(marker.map(str::to_owned));
                let notes = finishes(&task).into_iter().map(|f| f.3);
                // A task purged twice (it came back with a later attempt)
                // held both purges' finishes.
                ledger
                    .purged
                    .entry(task.id.to_string())
                    .or_default()
                    .extend(notes);
            }
        }
        if purges && !ended && started.elapsed() > BUSY / 2 {
            m.queue.end_stream("e").expect("end e");
            ended = true;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// How each machine syncs with the other.
#[derive(Clone)]
enum Link {
    /// Through a bare remote both clones push to.
    Git,
    /// rsync with the other machine's spool.
    Rsync(PathBuf),
}

fn sparkq(dir: &Path, args: &[&str]) -> std::process::Output {
    crate::support::sparkq_command()
        .args(args)
        .current_dir(dir)
        .env_remove("SPARKQ_CONFIG")
        .output()
        .expect("sparkq")
}

/// One round of the README's old hand procedure; returns whether git
/// refused the pull.
fn hand_round(m: &Machine, link: &Link) -> bool {
    match link {
        Link::Git => {
            git(&m.dir, &["add", "-A", "spool"]);
            git(&m.dir, &["commit", "-qm", "sparkq: work"]);
            let pulled = git(&m.dir, &["pull", "-q", "--no-rebase", "--no-edit"]);
            let refused = !pulled && !m.dir.join(".git/MERGE_HEAD").exists();
            if !refused {
                sparkq(&m.dir, &["doctor", "--fix"]);
                git(&m.dir, &["add", "-A", "spool"]);
                git(&m.dir, &["commit", "-qm", "sparkq: settle"]);
                git(&m.dir, &["push", "-q"]);
            }
            refused
        }
        Link::Rsync(other) => {
            crate::sync_support::rsync(&["-auc", "--backup", "--filter=:- .gitignore"], other, &m.spool());
            crate::sync_support::rsync(&["-auc", "--backup", "--filter=:- .gitignore"], &m.spool(), other);
            sparkq(&m.dir, &["doctor", "--fix"]);
            false
        }
    }
}

/// One quiet `sparkq sync` (or hand round); must succeed.
fn quiet_sync(m: &Machine, link: &Link) {
    if hand_mode() {
        hand_round(m, link);
        return;
    }
    let out = match link {
        Link::Git => sparkq(&m.dir, &["sync"]),
        Link::Rsync(other) => sparkq(&m.dir, &["sync", "--rsync", &other.display().to_string()]),
    };
    assert!(out.status.success(), "final sync on {}: {out:?}", m.name);
}

/// Where `sparkq sync --every` of `m` writes its JSON lines.
fn sync_log(m: &Machine) -> PathBuf {
    m.dir.with_extension("sync.jsonl")
}

/// Rounds and retried rounds (a pull git refused, a push another machine
/// beat) that the sync loop of `m` reported.
fn sync_rounds(m: &Machine) -> (usize, usize) {
    let text = std::fs::read_to_string(sync_log(m)).unwrap_or_default();
    let reports: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let retries = reports.iter().filter_map(|r| r["retries"].as_u64()).sum::<u64>();
    (reports.len(), usize::try_from(retries).unwrap_or(usize::MAX))
}

/// Starts the every-second sync of `m`: `sparkq sync --every 1s`, or a
/// thread running the hand procedure.
fn start_sync(
    m: &Machine,
    link: &Link,
    loops: &mut Loops,
    stop: &Arc<AtomicBool>,
    refusals: &Arc<AtomicUsize>,
) {
    if !hand_mode() {
        let mut cmd = crate::support::sparkq_command();
        cmd.args(["sync", "--every", "1s", "--json"]);
        if let Link::Rsync(other) = link {
            cmd.arg("--rsync").arg(other);
        }
        let log = std::fs::File::create(sync_log(m)).expect("sync log");
        let child = cmd
            .current_dir(&m.dir)
            .env_remove("SPARKQ_CONFIG")
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .expect("sparkq sync --every");
        loops.0.push(child);
        return;
    }
    let (m, link, stop, refusals) = (
        Machine::open(m.name, &m.dir),
        link.clone(),
        stop.clone(),
        refusals.clone(),
    );
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if hand_round(&m, &link) {
                refusals.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

/// Runs the scenario on `a` and `b` linked by `links` (a's, b's); checks
/// and prints the outcome.
fn run_scenario(label: &str, a: &Machine, b: &Machine, links: [Link; 2]) {
    let stop = Arc::new(AtomicBool::new(false));
    let sync_stop = Arc::new(AtomicBool::new(false));
    let refusals = Arc::new(AtomicUsize::new(0));
    let ledger = Mutex::new(Ledger::default());
    let mut loops = Loops(Vec::new());
    for (m, link) in [a, b].into_iter().zip(&links) {
        start_sync(m, link, &mut loops, &sync_stop, &refusals);
    }
    std::thread::scope(|s| {
        for (i, m) in [a, b].into_iter().enumerate() {
            for w in 0..2 {
                let (stop, ledger) = (&stop, &ledger);
                let who = format!("{}-w{w}", m.name);
                s.spawn(move || {
                    worker(
                        m,
                        &who,
                        crate::sync_support::seed() + (i * 2 + w) as u64,
                        stop,
                        ledger,
                    )
                });
            }
            let (stop, ledger) = (&stop, &ledger);
            s.spawn(move || feeder(m, i == 0, stop, ledger));
        }
        std::thread::sleep(BUSY);
        stop.store(true, Ordering::Relaxed);
    });
    sync_stop.store(true, Ordering::Relaxed);
    drop(loops);
    // Let the hand loops finish their round; the drops settle (2 s).
    std::thread::sleep(Duration::from_millis(2500));
    for _ in 0..3 {
        quiet_sync(a, &links[0]);
        quiet_sync(b, &links[1]);
    }
    quiet_sync(a, &links[0]);
    let mut ledger = ledger.into_inner().expect("ledger");
    ledger.pull_refusals = refusals.load(Ordering::Relaxed);
    let rounds: Vec<(usize, usize)> = [a, b].iter().map(|m| sync_rounds(m)).collect();
    let counts = tally(&ledger, [a, b]);
    eprintln!(
        "sync-evidence {label} mode={}: enqueued={} dropped={} completed={} purged={} | lost_results={} purged_back={} double_adoptions={} blended_drops={} missing={} pull_refusals={} identical={} doctor_clean={} (purged tasks back with a new finish: {}; sync rounds, retried: {rounds:?})",
        if hand_mode() { "hand" } else { "sparkq-sync" },
        ledger.enqueued.len(),
        ledger.dropped.len(),
        ledger.completed.len(),
        ledger.purged.len(),
        counts.lost_results,
        counts.purged_back,
        counts.double_adoptions,
        counts.blended_drops,
        counts.missing,
        ledger.pull_refusals,
        counts.identical,
        counts.doctor_clean,
        counts.returned_with_news,
    );
    assert!(
        ledger.completed.len() > 20 && ledger.dropped.len() > 20,
        "too little happened"
    );
    assert!(
        !ledger.purged.is_empty(),
        "the purge removed nothing; the run proves little"
    );
    assert_eq!(
        (
            counts.lost_results,
            counts.purged_back,
            counts.double_adoptions,
            counts.blended_drops,
            counts.missing
        ),
        (0, 0, 0, 0, 0),
        "{label}: see the sync-evidence line"
    );
    assert!(counts.identical, "{label}: the two spools differ");
    assert!(counts.doctor_clean, "{label}: doctor found work");
}

/// The scenario's folder; with `SPARKQ_SYNC_DEBUG` set it is kept (and
/// named), so that a failed run's spools and git history can be read.
fn scratch() -> tempfile::TempDir {
    let mut root = tempfile::tempdir().expect("tmp");
    if std::env::var("SPARKQ_SYNC_DEBUG").is_ok() {
        root.disable_cleanup(true);
        eprintln!("sync_live: keeping {}", root.path().display());
    }
    root
}

#[test]
fn two_clones_syncing_through_git_while_work_goes_on_lose_nothing() {
    let root = scratch();
    let remote = root.path().join("remote.git");
    git_ok(
        root.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &remote.display().to_string(),
        ],
    );
    let a = machine("A", &root.path().join("a"));
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["config", "user.name", "t"],
        &["config", "user.email", "t@example.com"],
        &["add", "-A"],
        &["commit", "-qm", "start"],
        &["remote", "add", "origin", &remote.display().to_string()],
        &["push", "-q", "-u", "origin", "main"],
    ] {
        git_ok(&a.dir, args);
    }
    git_ok(root.path(), &["clone", "-q", &remote.display().to_string(), "b"]);
    let b = Machine::open("B", &root.path().join("b"));
    git_ok(&b.dir, &["config", "user.name", "t"]);
    git_ok(&b.dir, &["config", "user.email", "t@example.com"]);
    run_scenario("git", &a, &b, [Link::Git, Link::Git]);
    for m in [&a, &b] {
        let status = git_ok(&m.dir, &["status", "--porcelain", "--", "spool"]);
        assert_eq!(status, "", "{}: the spool is not all committed", m.name);
        assert!(
            !m.dir.join(".git/MERGE_HEAD").exists(),
            "{}: a merge was left half-done",
            m.name
        );
    }
}

#[test]
fn two_machines_syncing_by_rsync_while_work_goes_on_lose_nothing() {
    let root = scratch();
    let a = machine("A", &root.path().join("a"));
    let b_dir = root.path().join("b");
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    std::fs::copy(a.dir.join("sparkq.yml"), b_dir.join("sparkq.yml")).expect("config");
    crate::sync_support::rsync(&["-a"], &a.spool(), &b_dir.join("spool"));
    let b = Machine::open("B", &b_dir);
    run_scenario("rsync", &a, &b, [Link::Rsync(b.spool()), Link::Rsync(a.spool())]);
}
