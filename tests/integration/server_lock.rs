//! One server per project, however it is started: `sparkq run` takes the
//! project's server lock atomically before it binds, so of several started
//! at the same moment exactly one stays up, and `stop` and `status` agree
//! on which; the same for watchers of one stream. And a watcher that cannot
//! start never takes the server down.

use std::process::Command;

use crate::background::{Bg, Runtime};
use crate::server_support::served_port;
use crate::support::{Project, wait_until};

#[test]
fn of_servers_started_at_once_exactly_one_stays_up() {
    const ROUNDS: usize = 4;
    const CONTENDERS: usize = 3;
    let p = Project::with_stream("a");
    for round in 0..ROUNDS {
        // Each on a port of its own, so only the lock can keep them apart.
        let commands: Vec<Command> = (0..CONTENDERS)
            .map(|_| p.command(["run", "--port", "0"]))
            .collect();
        let mut runs: Vec<Bg> = commands.into_iter().map(Bg::spawn).collect();
        wait_until("all but one to give up", 30, || {
            runs.iter_mut().map(Bg::has_exited).filter(|e| *e).count() == CONTENDERS - 1
        });
        // Exited ones are the losers (their output is read in full below).
        let (mut down, mut up) = split_exited(runs);
        assert_eq!(up.len(), 1, "round {round}: one server, not {}", up.len());
        for loser in &mut down {
            let status = loser.wait_exit(5);
            assert_eq!(status.code(), Some(1), "{}", loser.stderr());
            assert!(
                loser
                    .stderr()
                    .starts_with("Error: a SparkQ server is already running"),
                "{}",
                loser.stderr()
            );
        }
        let winner = up.pop().expect("the winner");
        wait_until("status to name the winner", 20, || {
            p.sparkq(["status", "--json"]).success().json()["server"]["pid"] == winner.pid()
        });
        let stopped = p.sparkq(["stop"]).success().stdout();
        assert!(
            stopped.contains(&format!("stopped server (pid {})", winner.pid())),
            "{stopped}"
        );
        let mut winner = winner;
        assert!(winner.wait_exit(20).success(), "{}", winner.stderr());
        assert!(p.sparkq(["status", "--json"]).success().json()["server"].is_null());
    }
}

#[test]
fn the_server_goes_on_when_its_only_watcher_cannot_start() {
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    let mut solo = Bg::spawn(p.command(["watch", "a"]));
    wait_until("the first watcher", 20, || rt.lock_pid("a") == Some(solo.pid()));
    let mut run = Bg::spawn(p.command(["run", "--stream", "a", "--port", "0"]));
    run.wait_for_log("the server goes on", 1, 30);
    let port = served_port(&p, run.pid()).expect("the server wrote its url");
    let log = run.stderr();
    assert!(
        log.contains("sparkq watch a: stopped: a watcher for stream 'a' already runs")
            && log.contains(&format!("(pid {}", solo.pid())),
        "says which watcher failed and why:\n{log}"
    );
    assert!(!run.has_exited());
    let health = ureq::get(&format!("http://127.0.0.1:{port}/api/health"))
        .call()
        .expect("the server still answers");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        p.sparkq(["status", "--json"]).success().json()["server"]["pid"],
        run.pid()
    );
    assert_eq!(
        rt.lock_pid("a"),
        Some(solo.pid()),
        "the other watcher is left alone"
    );

    let stopped = p.sparkq(["stop"]).success().stdout();
    assert!(
        stopped.contains(&format!("stopped server (pid {})", run.pid())),
        "{stopped}"
    );
    assert!(
        stopped.contains(&format!("stopped watcher of a (pid {})", solo.pid())),
        "{stopped}"
    );
    assert_eq!(
        run.wait_exit(20).code(),
        Some(1),
        "a watcher that could not start is an error"
    );
    assert!(solo.wait_exit(20).success());
}

#[test]
fn of_watchers_started_at_once_over_a_dead_ones_lock_exactly_one_stays_up() {
    const ROUNDS: usize = 4;
    const CONTENDERS: usize = 3;
    let p = Project::with_stream("a");
    let rt = Runtime::of(&p);
    for round in 0..ROUNDS {
        // A lock a killed watcher left: every starter sees it and takes over.
        let mut folder = std::fs::DirBuilder::new();
        std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
        folder.recursive(true).create(rt.path()).unwrap();
        std::fs::write(rt.lock("a"), "999999999\n").unwrap();
        let commands: Vec<Command> = (0..CONTENDERS).map(|_| p.command(["watch", "a"])).collect();
        let mut runs: Vec<Bg> = commands.into_iter().map(Bg::spawn).collect();
        wait_until("all but one to give up", 30, || {
            runs.iter_mut().map(Bg::has_exited).filter(|e| *e).count() == CONTENDERS - 1
        });
        let (mut down, mut up) = split_exited(runs);
        assert_eq!(up.len(), 1, "round {round}: one watcher, not {}", up.len());
        for loser in &mut down {
            assert_eq!(loser.wait_exit(5).code(), Some(1), "{}", loser.stderr());
            assert!(loser.stderr().contains("already runs"), "{}", loser.stderr());
        }
        let mut winner = up.pop().expect("the winner");
        wait_until("the winner's lock", 20, || rt.lock_pid("a") == Some(winner.pid()));
        let stopped = p.sparkq(["stop", "--stream", "a"]).success().stdout();
        assert!(stopped.contains(&format!("(pid {})", winner.pid())), "{stopped}");
        assert!(winner.wait_exit(20).success(), "{}", winner.stderr());
    }
}

/// The processes that have exited, and the others.
fn split_exited(mut runs: Vec<Bg>) -> (Vec<Bg>, Vec<Bg>) {
    let exited: Vec<bool> = runs.iter_mut().map(Bg::has_exited).collect();
    let (down, up): (Vec<_>, Vec<_>) = runs.into_iter().zip(exited).partition(|(_, e)| *e);
    (
        down.into_iter().map(|(r, _)| r).collect(),
        up.into_iter().map(|(r, _)| r).collect(),
    )
}
