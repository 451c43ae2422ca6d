//! The watcher protocol of SPEC 5 through real processes: the worker's
//! `touch flag && cat pipe && sparkq claim` loop, one wake per burst, the
//! safety net, dead claims, the lock, and cleanup on signals.

use serde_json::Value;

use crate::background::{Bg, Runtime, has_sleeping_child};
use crate::support::{Project, wait_until};

/// `sparkq watch STREAM` in the background, ready once it has logged its start.
fn watcher(p: &Project, rt: &Runtime, stream: &str, extra: &[&str]) -> Bg {
    let mut args = vec!["watch", stream];
    args.extend_from_slice(extra);
    let w = Bg::spawn(rt.command(p, &args));
    w.wait_for_log("started", 1, 20);
    w
}

/// The worker's wait command of SPEC 5, exactly, in a shell.
fn worker_wait(p: &Project, rt: &Runtime, stream: &str) -> Bg {
    let script = format!(
        "touch \"$RT/{stream}.done\" && cat \"$RT/{stream}.pipe\" >/dev/null && sparkq claim --stream={stream} --worker worker"
    );
    Bg::spawn(rt.shell(p, &script))
}

fn claimed(bg: &Bg) -> Value {
    serde_json::from_str(&bg.stdout()).unwrap_or_else(|e| panic!("not a task ({e}):\n{}", bg.stdout()))
}

#[test]
fn the_worker_loop_wakes_when_work_arrives_after_the_flag() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let queued = p.enqueue("a", "{}");
    p.claim("a");
    let w = watcher(&p, &rt, "a", &[]);
    wait_until("the banner", 20, || w.stdout().contains("Worker wait command"));
    assert!(
        w.stdout().contains("Do the thing."),
        "instructions printed:\n{}",
        w.stdout()
    );
    assert!(
        w.stdout().contains("0 queued"),
        "queue size printed:\n{}",
        w.stdout()
    );
    let mut worker = worker_wait(&p, &rt, "a");
    w.wait_for_log("worker is idle", 1, 20);
    assert!(
        !worker.has_exited(),
        "the worker must wait while nothing is pending"
    );
    let id = p.enqueue("a", r#"{"script_path": "b.sh"}"#);
    assert!(worker.wait_exit(20).success(), "{}", worker.stderr());
    assert_eq!(claimed(&worker)["id"], id.as_str());
    assert_ne!(id, queued);
    assert!(
        !rt.flag("a").exists(),
        "the watcher removes the flag when it wakes"
    );
    w.wait_for_log("woke the worker", 1, 5);
}

#[test]
fn one_burst_wakes_once_and_the_flag_coming_second_wakes_at_once() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let w = watcher(&p, &rt, "a", &[]);
    let mut first = worker_wait(&p, &rt, "a");
    w.wait_for_log("worker is idle", 1, 20);
    let lines = "{\"tool_name\": \"run-bash\", \"payload\": {}}\n".repeat(5);
    p.sparkq_stdin(["enqueue", "--stream", "a", "--batch", "-"], &lines)
        .success();
    assert!(first.wait_exit(20).success());
    // Four tasks are left, but nobody set the flag again: no second wake.
    // A probe enqueue forces the watcher to look once more; it must still
    // not wake anyone.
    p.enqueue("a", "{}");
    wait_until("the watcher to see the probe", 20, || {
        p.files("a", "pending").len() == 5
    });
    w.wait_for_log("woke the worker", 1, 5);
    // Work is pending when the flag comes: the wake is immediate.
    let mut second = worker_wait(&p, &rt, "a");
    assert!(second.wait_exit(20).success());
    assert_eq!(claimed(&second)["status"], "running");
    w.wait_for_log("woke the worker", 2, 5);
    assert_eq!(w.stderr().matches("woke the worker").count(), 2, "{}", w.stderr());
}

#[test]
fn missed_events_are_caught_by_the_safety_net() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut cmd = rt.command(&p, &["watch", "a", "--recheck", "2"]);
    cmd.env("SPARKQ_TEST_IGNORE_PENDING_EVENTS", "1");
    let w = Bg::spawn(cmd);
    w.wait_for_log("started", 1, 20);
    let mut worker = worker_wait(&p, &rt, "a");
    w.wait_for_log("worker is idle", 1, 20);
    // A task file from another machine's spool, moved in as rsync would,
    // while every pending/ event is dropped.
    let other = Project::with_stream("a");
    let id = other.enqueue("a", "{}");
    let file = format!("{id}.json");
    let from = other.state_dir("a", "pending").join(&file);
    std::fs::rename(from, p.state_dir("a", "pending").join(&file)).unwrap();
    assert!(worker.wait_exit(30).success(), "{}", w.stderr());
    assert_eq!(claimed(&worker)["id"], id.as_str());
    assert!(
        w.stderr().contains("found by the safety-net re-check"),
        "{}",
        w.stderr()
    );
}

#[test]
fn a_killed_worker_has_its_claim_taken_back_and_its_late_complete_refused() {
    let p = Project::with_stream("a");
    p.set_max_attempts(2);
    let rt = Runtime::of(&p);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", "1"])
        .success()
        .stdout();
    let id = id.trim();
    let w = watcher(&p, &rt, "a", &[]);
    // A worker shell claims the task, then is killed mid-task.
    let mut shell = Bg::spawn(rt.shell(&p, "sparkq claim --stream=a --worker doomed && exec sleep 600"));
    wait_until("the claim", 20, || shell.stdout().contains("claim_token"));
    let token = claimed(&shell)["claim_token"].as_str().unwrap().to_owned();
    shell.signal("KILL");
    shell.wait_exit(20);

    // At twice the timeout (2 s) the watcher puts it back, history kept.
    w.wait_for_log("back to pending", 1, 20);
    assert_eq!(p.files("a", "pending"), [format!("{id}.json")]);
    let task = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(task["status"], "queued");
    assert_eq!(task["history"][0]["worker"], "doomed");
    let late = [
        "complete",
        id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "late"}"#,
    ];
    p.sparkq(late).fails_with("your claim was taken back at");

    // The second attempt dies too: max_attempts (2) is reached, so it fails.
    let second = p.claim("a");
    let token2 = second["claim_token"].as_str().unwrap().to_owned();
    assert_ne!(token, token2);
    w.wait_for_log("auto-failed", 1, 20);
    assert_eq!(p.files("a", "failed"), [format!("{id}.json")]);
    let task = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(
        task["error"],
        "Auto-failed: task exceeded 2x timeout (1s) with no complete/fail reported. Likely worker crash or disconnect."
    );
    p.sparkq([
        "complete",
        id,
        "--token",
        &token2,
        "--result",
        r#"{"summary": "late"}"#,
    ])
    .fails_with("the task was auto-failed");
}

#[test]
fn a_late_complete_after_the_task_was_claimed_again_is_refused_by_token() {
    let p = Project::with_stream("a");
    p.set_max_attempts(2);
    let rt = Runtime::of(&p);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", "1"])
        .success()
        .stdout();
    let id = id.trim().to_owned();
    let w = watcher(&p, &rt, "a", &[]);
    let first = p.claim("a");
    let stale_token = first["claim_token"].as_str().unwrap().to_owned();
    w.wait_for_log("back to pending", 1, 20);
    let again = p.claim("a");
    assert_eq!(again["id"], id.as_str());
    let args = [
        "complete",
        &id,
        "--token",
        &stale_token,
        "--result",
        r#"{"summary": "late"}"#,
    ];
    p.sparkq(args).fails_with("the task was claimed again by");
    assert_eq!(p.files("a", "claimed"), [format!("{id}.json")]);
}

#[test]
fn a_second_watcher_is_refused_and_a_dead_ones_lock_taken_over() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let first = watcher(&p, &rt, "a", &[]);
    assert_eq!(rt.lock_pid("a"), Some(first.pid()));
    let mut second = Bg::spawn(rt.command(&p, &["watch", "a"]));
    assert_eq!(second.wait_exit(20).code(), Some(1));
    assert!(
        second
            .stderr()
            .contains(&format!("already runs (pid {},", first.pid())),
        "{}",
        second.stderr()
    );
    assert_eq!(rt.lock_pid("a"), Some(first.pid()));
    drop(first);

    // A lock left by a process that is gone is taken over.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(rt.lock("a"), format!("{dead}\n")).unwrap();
    let third = watcher(&p, &rt, "a", &[]);
    assert!(
        third
            .stderr()
            .contains(&format!("took over the lock from dead pid {dead}")),
        "{}",
        third.stderr()
    );
    assert_eq!(rt.lock_pid("a"), Some(third.pid()));
}

#[test]
fn sigterm_and_sigint_remove_the_lock_and_fifo() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    for signal in ["TERM", "INT"] {
        let mut w = watcher(&p, &rt, "a", &[]);
        assert!(rt.lock("a").exists() && rt.fifo("a").exists());
        w.signal(signal);
        assert!(w.wait_exit(20).success(), "{}", w.stderr());
        assert!(!rt.lock("a").exists(), "lock left after SIG{signal}");
        assert!(!rt.fifo("a").exists(), "FIFO left after SIG{signal}");
    }
}

#[test]
fn a_worker_blocked_on_the_fifo_is_released_when_the_watcher_dies() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut w = watcher(&p, &rt, "a", &[]);
    let mut worker = worker_wait(&p, &rt, "a");
    wait_until("the worker's cat to block on the FIFO", 20, || {
        has_sleeping_child(worker.pid(), "cat")
    });
    w.signal("KILL");
    w.wait_exit(20);
    // cat sees end of file and the claim finds nothing: no hang.
    assert!(worker.wait_exit(20).success());
    assert_eq!(worker.stdout(), "");
}

#[test]
fn the_wrapper_script_runs_the_watcher() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sparkq-watcher.sh");
    let mut w = Bg::spawn(rt.shell(&p, &format!("exec {script} a")));
    w.wait_for_log("started", 1, 20);
    assert_eq!(rt.lock_pid("a"), Some(w.pid()), "the wrapper execs the watcher");
    let mut worker = worker_wait(&p, &rt, "a");
    let id = p.enqueue("a", "{}");
    assert!(worker.wait_exit(20).success());
    assert_eq!(claimed(&worker)["id"], id.as_str());
    w.signal("TERM");
    assert!(w.wait_exit(20).success());
    let usage = rt.shell(&p, script).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// The kernel drops events once its queue overflows; the watcher is told
/// so and looks again at once, without waiting for its re-check.
#[test]
fn an_overflowed_event_queue_makes_the_watcher_look_again() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let w = watcher(&p, &rt, "a", &["--recheck", "3600"]);
    let mut worker = worker_wait(&p, &rt, "a");
    w.wait_for_log("worker is idle", 1, 20);
    // Freeze the watcher, flood its queue past the kernel's limit, and move
    // a task in: that event is lost in the overflow.
    w.signal("STOP");
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16384, |s| s.trim().parse().unwrap());
    let pending = p.state_dir("a", "pending");
    for i in 0..limit / 2 {
        let noise = pending.join(format!(".noise-{i}.tmp"));
        std::fs::write(&noise, "x").unwrap();
        std::fs::remove_file(&noise).unwrap();
    }
    let other = Project::with_stream("a");
    let id = other.enqueue("a", "{}");
    let file = format!("{id}.json");
    std::fs::rename(other.state_dir("a", "pending").join(&file), pending.join(&file)).unwrap();
    w.signal("CONT");
    assert!(worker.wait_exit(30).success(), "{}", w.stderr());
    assert_eq!(claimed(&worker)["id"], id.as_str());
}

#[test]
fn a_watcher_leaves_when_its_stream_ends_and_refuses_an_ended_one() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut w = watcher(&p, &rt, "a", &[]);
    p.sparkq(["stream", "end", "a"]).success();
    assert!(w.wait_exit(20).success(), "{}", w.stderr());
    assert!(w.stderr().contains("the stream has ended"), "{}", w.stderr());
    assert!(!rt.lock("a").exists() && !rt.fifo("a").exists());
    rt.command(&p, &["watch", "a"])
        .output()
        .map(|o| assert_eq!(o.status.code(), Some(1)))
        .unwrap();
}

/// `rm -r` of the stream folder races the watcher, which recreates
/// `pending/` when it vanishes (a user may delete just that): it must never
/// make the stream's folder again once it is gone (its `create_dir` fails
/// there, where `create_dir_all` recreated `streams/a/pending`). Each round
/// deletes the folder at a different moment; the full tier runs many.
#[test]
fn a_watcher_whose_stream_folder_is_deleted_leaves_it_gone_and_stops() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let dir = p.spool().join("streams").join("a");
    for round in 0..crate::support::tier(3, 25) {
        if round > 0 {
            p.sparkq(["stream", "create", "a", "--session", "s1"]).success();
        }
        let mut w = watcher(&p, &rt, "a", &[]);
        // A watcher may be settling the folder at that moment: retry until gone.
        wait_until("the stream folder to be removed", 20, || {
            std::fs::remove_dir_all(&dir).is_ok() || !dir.exists()
        });
        assert!(w.wait_exit(20).success(), "round {round}: {}", w.stderr());
        assert!(
            w.stderr().contains("folder is gone"),
            "round {round}: {}",
            w.stderr()
        );
        assert!(
            !dir.exists(),
            "round {round}: the watcher recreated {}",
            dir.display()
        );
    }
    p.sparkq(["stream", "create", "a", "--session", "s1"]).success();
}

/// A watcher killed in the middle of a wake leaves the worker blocked on
/// the FIFO with its flag gone; the next watcher wakes it.
#[test]
fn a_new_watcher_wakes_a_worker_left_waiting_by_a_dead_one() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut first = watcher(&p, &rt, "a", &[]);
    first.signal("KILL");
    first.wait_exit(20);
    // The FIFO is left behind, with nobody holding it: `cat` blocks opening it.
    let mut cat = Bg::spawn(rt.shell(&p, "exec cat \"$RT/a.pipe\""));
    wait_until("cat to block on the FIFO", 20, || {
        std::fs::read_to_string(format!("/proc/{}/stat", cat.pid())).is_ok_and(|s| s.contains("(cat) S"))
    });
    let second = watcher(&p, &rt, "a", &[]);
    assert!(cat.wait_exit(20).success(), "{}", second.stderr());
    assert!(
        second.stderr().contains("woke a worker left waiting"),
        "{}",
        second.stderr()
    );
}
