//! `sparkq run` as a user starts it: one server per project, live events
//! from CLI changes, dead-claim sweeps, reload, stop, and resilience to
//! garbage in the spool.

use crate::server_support::{Server, free_port, read_event_containing};
use crate::support::{Project, wait_until};

#[test]
fn run_status_second_server_refused_reload_stop() {
    let p = Project::with_stream("auth");
    let mut server = Server::start(&p);
    let pid = server.child.id().to_string();

    let status = p.sparkq(["status"]).success().stdout();
    assert!(status.contains("running") && status.contains(&pid), "{status}");
    let lock = std::fs::read_to_string(p.spool().join(".sparkq.lock")).expect("lock file");
    assert!(lock.contains(&pid), "{lock}");

    p.sparkq(["run", "--port", &free_port().to_string()])
        .fails_with("already running")
        .fails_with(&pid);

    std::fs::create_dir_all(p.path().join("scripts")).expect("mkdir");
    std::fs::write(p.path().join("scripts/new.sh"), "# description: Added later\n").expect("write");
    assert_eq!(
        server.get("/api/scripts?q=later").1["scripts"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let reload = p.sparkq(["reload"]).success().stdout();
    // new.sh and the sparkq-watcher.sh setup installed.
    assert!(reload.contains("2 scripts") && reload.contains(&pid), "{reload}");
    // The reload is a signal: the server picks it up on its own time.
    wait_until("the server to index the new script", 10, || {
        server.get("/api/scripts?q=later").1["scripts"]
            .as_array()
            .map(Vec::len)
            == Some(1)
    });

    // A broken sparkq.yml is refused before the server is signalled, and
    // the server keeps serving what it had.
    let config = std::fs::read_to_string(p.path().join("sparkq.yml")).expect("read config");
    std::fs::write(p.path().join("sparkq.yml"), "tools: [oops\n").expect("break config");
    p.sparkq(["reload"]).fails_with("sparkq.yml");
    std::fs::write(p.path().join("sparkq.yml"), &config).expect("restore config");
    assert_eq!(server.get("/api/health").0, 200);
    assert_eq!(
        server.get("/api/scripts?q=later").1["scripts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let stop = p.sparkq(["stop"]).success().stdout();
    assert!(stop.contains(&pid), "{stop}");
    wait_until("the server to exit", 10, || server.has_exited());
    assert!(
        !p.spool().join(".sparkq.lock").exists(),
        "the lock file is removed"
    );
    assert!(p.sparkq(["status"]).success().stdout().contains("not running"));
}

#[test]
fn cli_changes_and_dropped_files_arrive_as_events() {
    let p = Project::with_stream("auth");
    let server = Server::start(&p);
    let mut events = server.events();
    read_event_containing(&mut events, "event: hello");

    let id = p.enqueue("auth", r#"{"script_path": "scripts/a.sh"}"#);
    read_event_containing(&mut events, &format!(r#""state":"pending","id":"{id}""#));
    p.claim("auth");
    read_event_containing(&mut events, &format!(r#""state":"claimed","id":"{id}""#));
    p.sparkq(["complete", &id, "--result", r#"{"summary": "ok"}"#])
        .success();
    read_event_containing(&mut events, &format!(r#""state":"done","id":"{id}""#));

    let drop_path = p.state_dir("auth", "pending").join("dropped.json");
    std::fs::write(&drop_path, r#"{"tool_name": "run-bash", "payload": {}}"#).expect("drop");
    read_event_containing(&mut events, "dropped");
}

/// The server's index and its live pages share one inotify watch of the
/// whole spool: a second watcher would wake on every change a claim makes.
/// Session and stream changes, outside the task folders the index is
/// about, still reach the pages through it.
#[test]
fn one_watch_of_the_spool_feeds_the_index_and_the_live_pages() {
    let p = Project::with_stream("auth");
    let server = Server::start(&p);
    let fds = std::path::PathBuf::from(format!("/proc/{}/fd", server.child.id()));
    let inotify_instances = std::fs::read_dir(&fds)
        .expect("the server's descriptors")
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy().contains("inotify"))
        })
        .count();
    assert_eq!(inotify_instances, 1, "inotify instances of the server");

    let mut events = server.events();
    read_event_containing(&mut events, "event: hello");
    p.sparkq(["session", "create", "s2"]).success();
    read_event_containing(&mut events, "event: session");
    p.sparkq(["stream", "create", "ui", "--session", "s2"]).success();
    read_event_containing(&mut events, r#""kind":"stream","stream":"ui""#);
    let id = p.enqueue("ui", r#"{"script_path": "scripts/a.sh"}"#);
    let line = read_event_containing(&mut events, &format!(r#""state":"pending","id":"{id}""#));
    assert!(line.contains(r#""listing":{"#), "the row comes along: {line}");
    // The index heard the same change: the claim takes that task.
    let (status, claimed) = server.post("/api/streams/ui/claim", r#"{"worker": "w"}"#);
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["task"]["id"], id.as_str());
    read_event_containing(&mut events, &format!(r#""state":"claimed","id":"{id}""#));
}

#[test]
fn dead_claims_are_requeued_then_auto_failed_by_the_server() {
    let p = Project::with_stream("auth");
    p.set_max_attempts(2);
    let server = Server::start(&p);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "1"])
        .success()
        .stdout()
        .trim()
        .to_owned();
    p.claim("auth");
    wait_until("the dead claim to be requeued", 20, || {
        server.get(&format!("/api/tasks/{id}")).1["status"] == "queued"
    });
    p.claim("auth");
    wait_until("the second dead claim to be auto-failed", 20, || {
        server.get(&format!("/api/tasks/{id}")).1["status"] == "failed"
    });
    let task = server.get(&format!("/api/tasks/{id}")).1;
    assert!(
        task["error"].as_str().unwrap_or("").starts_with("Auto-failed:"),
        "{task}"
    );
}

#[test]
fn the_server_still_sweeps_an_ended_streams_dead_claims() {
    let p = Project::with_stream("auth");
    let server = Server::start(&p);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "1"])
        .success()
        .stdout()
        .trim()
        .to_owned();
    p.claim("auth");
    p.sparkq(["session", "end", "s1"]).success();
    // Showing a task sweeps nothing: only the server's sweep can fail it.
    wait_until("the dead claim to be auto-failed", 20, || {
        server.get(&format!("/api/tasks/{id}")).1["status"] == "failed"
    });
    let task = server.get(&format!("/api/tasks/{id}")).1;
    assert!(
        task["error"].as_str().unwrap_or("").starts_with("Auto-failed:"),
        "{task}"
    );
}

#[test]
fn keeps_serving_with_garbage_and_a_stream_deleted_underneath() {
    let p = Project::with_stream("auth");
    p.sparkq(["stream", "create", "doomed", "--session", "s1"])
        .success();
    let server = Server::start(&p);
    std::fs::write(p.state_dir("auth", "pending").join("garbage.json"), "{not json").expect("write");
    std::fs::write(p.state_dir("auth", "done").join("noise.txt"), "hello").expect("write");
    std::fs::write(p.spool().join("streams").join("stray-file"), "x").expect("write");
    // The server may be settling the stream while it goes: retry until gone.
    let doomed = p.spool().join("streams").join("doomed");
    wait_until("the stream folder to be removed", 10, || {
        std::fs::remove_dir_all(&doomed).is_ok() || !doomed.exists()
    });

    for path in [
        "/api/tasks",
        "/api/streams",
        "/api/status",
        "/api/tasks?stream=auth&status=failed",
    ] {
        assert_eq!(server.get(path).0, 200, "{path}");
    }
    assert_eq!(server.get("/api/tasks?stream=doomed").0, 404);
    // A dropped file is adopted once it has been still for two seconds.
    wait_until("the garbage file to be failed with a reason", 15, || {
        let failed = server.get("/api/tasks?stream=auth&status=failed").1;
        let tasks = failed["tasks"].as_array().cloned().unwrap_or_default();
        tasks
            .iter()
            .any(|t| t["error"].as_str().is_some_and(|e| !e.is_empty()))
    });
    assert_eq!(server.get("/api/health").0, 200);
}
