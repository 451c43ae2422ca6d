//! `sparkq run` hosting the watchers of a session, and `sparkq stop`
//! ending one or all of them, with tasks left as they were.

use crate::background::{Bg, Runtime};
use crate::support::{Project, wait_until};

/// A project with session s1 (streams a, b active; c ended) and s2 (d).
fn project() -> Project {
    let p = Project::with_stream("a");
    for (stream, session) in [("b", "s1"), ("c", "s1")] {
        p.sparkq([
            "stream",
            "create",
            stream,
            "--session",
            session,
            "--instructions",
            &format!("Brief of {stream}."),
        ])
        .success();
    }
    p.sparkq(["stream", "end", "c"]).success();
    p.sparkq(["session", "create", "s2"]).success();
    p.sparkq(["stream", "create", "d", "--session", "s2"]).success();
    p
}

#[test]
fn run_watches_every_active_stream_of_the_session_until_stopped() {
    let p = project();
    let rt = Runtime::of(&p);
    let queued = p.enqueue("b", "{}");
    let running = p.enqueue("a", "{}");
    p.claim("a");
    let mut run = Bg::spawn(rt.command(&p, &["run", "--session", "s1", "--no-server"]));
    wait_until("both watchers to start", 20, || {
        rt.lock_pid("a").is_some() && rt.lock_pid("b").is_some()
    });
    assert_eq!(rt.lock_pid("a"), Some(run.pid()));
    assert_eq!(rt.lock_pid("b"), Some(run.pid()));
    assert!(!rt.lock("c").exists() && !rt.lock("d").exists());
    wait_until("the banners", 20, || {
        run.stdout().matches("Watching stream").count() == 2
    });
    let out = run.stdout();
    assert!(
        out.contains("Watching stream 'b' (session s1") && out.contains("1 queued"),
        "{out}"
    );
    assert!(
        out.contains("Do the thing.") && out.contains("Brief of b."),
        "{out}"
    );

    // One stream's watcher stops; the other goes on in the same process.
    let stopped = p.sparkq_env_stop(&rt, &["stop", "--stream", "a"]);
    assert!(
        stopped.contains(&format!("stopped the watcher of stream 'a' (pid {})", run.pid())),
        "{stopped}"
    );
    assert!(!rt.lock("a").exists() && !rt.fifo("a").exists());
    assert!(!run.has_exited());
    assert_eq!(rt.lock_pid("b"), Some(run.pid()));
    let again = p.sparkq_env_stop(&rt, &["stop", "--stream", "a"]);
    assert!(again.contains("no watcher runs for stream 'a'"), "{again}");

    // `stop` ends the rest; tasks stay as they were.
    let all = p.sparkq_env_stop(&rt, &["stop"]);
    assert!(
        all.contains(&format!("stopped watcher of b (pid {})", run.pid())),
        "{all}"
    );
    assert!(run.wait_exit(20).success(), "{}", run.stderr());
    assert!(!rt.lock("b").exists() && !rt.fifo("b").exists());
    assert_eq!(p.files("b", "pending"), [format!("{queued}.json")]);
    assert_eq!(p.files("a", "claimed"), [format!("{running}.json")]);
    let nothing = p.sparkq_env_stop(&rt, &["stop"]);
    assert!(nothing.contains("nothing runs"), "{nothing}");
}

#[test]
fn run_without_a_session_off_a_terminal_lists_the_streams_and_fails() {
    let p = project();
    p.enqueue("b", "{}");
    let out = p
        .sparkq(["run", "--no-server"])
        .fails_with("say which streams to watch");
    let err = out.stderr();
    assert!(
        err.contains("SESSION") && err.contains(" b ") && err.contains(" d "),
        "{err}"
    );
    assert!(!err.contains(" c "), "ended streams are not offered:\n{err}");
}

#[test]
fn run_refuses_a_session_without_active_streams_and_an_unknown_stream() {
    let p = project();
    p.sparkq(["session", "create", "empty"]).success();
    p.sparkq(["run", "--session", "empty"])
        .fails_with("has no active streams");
    p.sparkq(["run", "--stream", "nope"])
        .fails_with("no stream named 'nope'");
    p.sparkq(["stop", "--stream", "nope"])
        .fails_with("no stream named 'nope'");
}

#[test]
fn run_goes_on_when_one_stream_already_has_a_watcher() {
    let p = project();
    let rt = Runtime::of(&p);
    let mut solo = Bg::spawn(rt.command(&p, &["watch", "a"]));
    solo.wait_for_log("started", 1, 20);
    let mut run = Bg::spawn(rt.command(&p, &["run", "--stream", "a", "--stream", "b", "--no-server"]));
    run.wait_for_log("already runs", 1, 20);
    wait_until("the watcher of b", 20, || rt.lock_pid("b") == Some(run.pid()));
    assert_eq!(rt.lock_pid("a"), Some(solo.pid()));
    run.signal("TERM");
    assert_eq!(
        run.wait_exit(20).code(),
        Some(1),
        "a watcher that could not start is an error"
    );
    assert!(!rt.lock("b").exists());
    assert_eq!(
        rt.lock_pid("a"),
        Some(solo.pid()),
        "the other process's lock is left alone"
    );
    solo.signal("TERM");
    assert!(solo.wait_exit(20).success());
}

impl Project {
    /// Runs a `stop` command with the test's runtime folder; returns stdout.
    fn sparkq_env_stop(&self, rt: &Runtime, args: &[&str]) -> String {
        let out = rt.command(self, args).output().expect("run stop");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[test]
fn run_on_a_terminal_offers_a_numbered_menu_and_asks_again_on_a_typo() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_script,
        "this test needs util-linux's 'script' for a terminal: apt-get install util-linux (scripts/test.sh does)"
    );
    let p = project();
    let rt = Runtime::of(&p);
    p.enqueue("b", "{}");
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qfec",
        &format!("{} run --no-server", crate::support::sparkq_bin()),
        "/dev/null",
    ])
    .current_dir(p.path())
    .env("SPARKQ_RUNTIME_DIR", rt.base())
    .env("NO_COLOR", "1")
    .env_remove("SPARKQ_CONFIG");
    // A session number out of range, then a name; a stream typo, then a number.
    let mut run = Bg::spawn_with_input(cmd, Some("3\ns1\nbx\n1\n"));
    wait_until("the watcher of the chosen stream", 20, || {
        rt.lock_pid("b").is_some()
    });
    // The terminal relays the dialogue on its own time: the lock can be
    // taken before the menus reach us. The banner comes after all of them.
    wait_until("the chosen stream's banner on the screen", 20, || {
        run.stdout().contains("Watching stream 'b'")
    });
    let screen = run.stdout();
    for line in [
        "1) s1  (2 stream(s), 1 queued)",
        "2) s2  (1 stream(s), 0 queued)",
        "there is no session 3; pick 1 to 2; try again",
        "Streams of session s1:",
        "0) all 2 active stream(s)",
        "1) b  (1 queued, 0 running)",
        "2) a  (0 queued, 0 running)",
        "no stream named 'bx' in this session; pick one of all, b, a; try again",
    ] {
        assert!(screen.contains(line), "{line:?} not shown:\n{screen}");
    }
    assert!(
        !screen.contains(" c "),
        "ended streams are not offered:\n{screen}"
    );
    assert!(!rt.lock("a").exists(), "only the chosen stream is watched");
    let stop = rt.command(&p, &["stop"]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));
    assert!(run.wait_exit(20).success(), "{}", run.stdout());
}

#[test]
fn run_hosts_the_server_and_the_watchers_and_stop_ends_both() {
    let p = project();
    let rt = Runtime::of(&p);
    let port = crate::server_support::free_port().to_string();
    let mut run = Bg::spawn(rt.command(&p, &["run", "--session", "s1", "--port", &port]));
    wait_until("the watchers and the server", 20, || {
        rt.lock_pid("a") == Some(run.pid())
            && p.sparkq(["status", "--json"]).success().json()["server"].is_object()
    });
    let status = p.sparkq(["status", "--json"]).success().json();
    assert_eq!(status["server"]["pid"], run.pid());
    assert!(
        status["server"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{port}/")),
        "{status}"
    );
    let health = std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()));
    assert!(health.is_ok(), "the server listens on its port");

    let stopped = p.sparkq_env_stop(&rt, &["stop"]);
    assert!(stopped.contains(&format!("(pid {})", run.pid())), "{stopped}");
    assert!(run.wait_exit(20).success());
    assert!(rt.lock_pid("a").is_none() && rt.lock_pid("b").is_none());
    assert!(p.sparkq(["status", "--json"]).success().json()["server"].is_null());
}

#[test]
fn teardown_stops_the_watcher_and_removes_its_runtime_files_and_nothing_else() {
    // No task is queued, so the watcher leaves the idle worker's flag alone.
    let p = Project::with_stream("s");
    p.write("src/keep.rs", "fn main() {}");
    let rt = Runtime::of(&p);
    let mut w = Bg::spawn(rt.command(&p, &["watch", "s"]));
    wait_until("the watcher's lock", 20, || rt.lock_pid("s") == Some(w.pid()));
    wait_until("the FIFO", 20, || rt.fifo("s").exists());
    std::fs::write(rt.flag("s"), "").unwrap();
    // Another project's runtime folder, with the same stream name, is not ours.
    let other = rt.base().join("other-0123456789abcdef");
    std::fs::create_dir(&other).unwrap();
    for name in ["s.lock", "s.done", "unrelated"] {
        std::fs::write(other.join(name), "1\n").unwrap();
    }

    let out = rt
        .command(&p, &["teardown", "--yes"])
        .output()
        .expect("run teardown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(w.wait_exit(20).success(), "{}", w.stderr());
    assert!(
        stdout.contains(&format!("stopped watcher of s (pid {})", w.pid())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("removed   {}", rt.flag("s").display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("spool/") && stdout.contains("sparkq.yml"),
        "{stdout}"
    );
    for gone in [rt.lock("s"), rt.fifo("s"), rt.flag("s")] {
        assert!(!gone.exists(), "{} left behind", gone.display());
    }
    assert!(!rt.path().exists(), "the project's runtime folder is removed");
    let mut runtime_left: Vec<String> = std::fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    runtime_left.sort();
    assert_eq!(runtime_left, ["s.done", "s.lock", "unrelated"]);
    let mut project_left: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    project_left.sort();
    assert_eq!(project_left, ["src"]);
    assert_eq!(
        std::fs::read_to_string(p.path().join("src/keep.rs")).unwrap(),
        "fn main() {}"
    );
}

#[test]
fn teardown_clears_the_files_a_killed_watcher_left() {
    let p = Project::with_stream("s");
    let rt = Runtime::of(&p);
    let mut w = Bg::spawn(rt.command(&p, &["watch", "s"]));
    wait_until("the FIFO", 20, || {
        rt.fifo("s").exists() && rt.lock_pid("s") == Some(w.pid())
    });
    w.signal("KILL");
    w.wait_exit(20);
    assert!(rt.lock("s").exists() && rt.fifo("s").exists());

    let out = rt
        .command(&p, &["teardown", "--yes"])
        .output()
        .expect("run teardown");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("stopped"), "{stdout}");
    for gone in [rt.lock("s"), rt.fifo("s")] {
        assert!(
            stdout.contains(&format!("removed   {}", gone.display())),
            "{stdout}"
        );
        assert!(!gone.exists(), "{} left behind", gone.display());
    }
}
