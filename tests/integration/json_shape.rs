//! The `--json` output of every listing parses, and its shape is pinned:
//! these structs refuse unknown fields, so any change to the output is a
//! deliberate change to this file.

use serde::Deserialize;
use serde_json::Value;

use crate::support::Project;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Task {
    id: String,
    stream: String,
    session: String,
    tool_name: String,
    task_class: String,
    payload: Value,
    status: String,
    timeout: u64,
    attempts: u32,
    max_attempts: u32,
    claimed_by: Option<String>,
    claim_token: Option<String>,
    result: Option<Value>,
    error: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    created_at: String,
    updated_at: String,
    started_at: Option<String>,
    heartbeat_at: Option<String>,
    finished_at: Option<String>,
    history: Vec<Attempt>,
    requeued_from: Option<String>,
    requeued_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Attempt {
    attempt: u32,
    worker: Option<String>,
    started_at: Option<String>,
    ended_at: String,
    outcome: String,
    claim_token: Option<String>,
}

/// What `peek` and `claim` print: the task, its stream's brief, where to
/// work, and when a running task turns stale and is taken back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TaskBrief {
    #[serde(flatten)]
    task: Task,
    project_root: String,
    repo_path: String,
    stale_at: Option<String>,
    dead_at: Option<String>,
}

/// A task as lists show it: no payload, result or output, only the
/// summary, the error and the output sizes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TaskListing {
    id: String,
    stream: String,
    session: String,
    tool_name: String,
    task_class: String,
    payload_key: Option<String>,
    status: String,
    stale: bool,
    timeout: u64,
    attempts: u32,
    max_attempts: u32,
    claimed_by: Option<String>,
    summary: Option<String>,
    error: Option<String>,
    stdout_bytes: usize,
    stderr_bytes: usize,
    conflicts: usize,
    created_at: String,
    updated_at: String,
    started_at: Option<String>,
    heartbeat_at: Option<String>,
    finished_at: Option<String>,
    duration_ms: Option<u64>,
    requeued_from: Option<String>,
    requeued_as: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TaskPage {
    tasks: Vec<TaskListing>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Session {
    name: String,
    description: Option<String>,
    status: String,
    created_at: String,
    updated_at: String,
    ended_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamInfo {
    name: String,
    session: String,
    instructions: String,
    status: String,
    created_at: String,
    updated_at: String,
    ended_at: Option<String>,
    counts: Counts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Counts {
    queued: usize,
    running: usize,
    stale: usize,
    succeeded: usize,
    failed: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Status {
    project: String,
    server: Option<Value>,
    active_sessions: Vec<String>,
    streams: Vec<StreamInfo>,
    watchers: Vec<Watcher>,
    /// The last `sparkq sync`'s record (see sync_command.rs); none here.
    last_sync: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Watcher {
    stream: String,
    pid: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamRef {
    id: String,
    name: String,
    instructions: String,
}

fn parse<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}\n{value:#}"))
}

#[test]
fn every_listing_has_its_pinned_shape() {
    let p = Project::with_stream("s");
    let ids: Vec<String> = (0..3)
        .map(|i| p.enqueue("s", &format!("{{\"n\": {i}}}")))
        .collect();

    let mut peeked = p.sparkq(["peek", "--stream", "s"]).success().json();
    let stream: StreamRef = parse(peeked["stream"].take());
    assert_eq!(
        (stream.name.as_str(), stream.instructions.as_str()),
        ("s", "Do the thing.")
    );
    peeked["stream"] = Value::String("s".into());
    let peeked: TaskBrief = parse(peeked);
    assert_eq!(peeked.task.id, ids[0]);
    let root = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(std::fs::canonicalize(&peeked.project_root).unwrap(), root);
    assert_eq!(std::fs::canonicalize(&peeked.repo_path).unwrap(), root);
    assert_eq!((peeked.stale_at, peeked.dead_at), (None, None));
    assert_eq!(
        p.sparkq(["peek", "--stream", "s"])
            .success()
            .stdout()
            .lines()
            .count(),
        1
    );

    let mut claimed = p.claim("s");
    let stream: StreamRef = parse(claimed["stream"].take());
    assert_eq!((stream.id.as_str(), stream.name.as_str()), ("s", "s"));
    claimed["stream"] = Value::String("s".into());
    let claimed: TaskBrief = parse(claimed);
    assert_eq!(claimed.project_root, peeked.project_root);
    let started = sparkq::model::Timestamp::parse(claimed.task.started_at.as_deref().unwrap()).unwrap();
    let at = |t: Option<String>| sparkq::model::Timestamp::parse(&t.unwrap()).unwrap();
    let timeout = std::time::Duration::from_secs(claimed.task.timeout);
    assert_eq!(at(claimed.stale_at), started.saturating_add(timeout));
    assert_eq!(at(claimed.dead_at), started.saturating_add(2 * timeout));
    let claimed = claimed.task;
    assert_eq!(claimed.status, "running");
    let token = claimed.claim_token.unwrap();
    let done: Task = parse(
        p.sparkq([
            "complete",
            &ids[0],
            "--token",
            &token,
            "--result",
            r#"{"summary": "s"}"#,
            "--json",
        ])
        .success()
        .json(),
    );
    assert_eq!(done.history.len(), 1);
    assert_eq!(done.history[0].outcome, "succeeded");

    let page: TaskPage = parse(p.sparkq(["tasks", "--json", "--limit", "2"]).success().json());
    assert_eq!(
        page.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [&ids[2], &ids[1]]
    );
    assert_eq!(page.next_cursor.as_deref(), Some(ids[1].as_str()));
    let rest: TaskPage = parse(
        p.sparkq(["tasks", "--json", "--before", &ids[1]])
            .success()
            .json(),
    );
    assert_eq!(rest.tasks.len(), 1);
    assert_eq!(rest.next_cursor, None);

    let task: Task = parse(p.sparkq(["task", &ids[0], "--json"]).success().json());
    assert_eq!(task.result.unwrap()["summary"], "s");

    let sessions: Vec<Session> = parse(p.sparkq(["session", "list", "--json"]).success().json());
    assert_eq!(sessions.len(), 1);
    let streams: Vec<StreamInfo> = parse(p.sparkq(["stream", "list", "--json"]).success().json());
    assert_eq!((streams[0].counts.queued, streams[0].counts.succeeded), (2, 1));
    let status: Status = parse(p.sparkq(["status", "--json"]).success().json());
    assert_eq!(status.active_sessions, ["s1"]);
    assert!(status.server.is_none());

    let enqueued: Vec<Task> = parse(
        p.sparkq(["enqueue", "run-bash", "{}", "--stream", "s", "--json"])
            .success()
            .json(),
    );
    assert_eq!(enqueued[0].status, "queued");
    let purged: Value = p
        .sparkq(["purge", "--older-than", "1d", "--json"])
        .success()
        .json();
    assert_eq!(purged, serde_json::json!({"removed": [], "tombstones_pruned": 0}));
}

#[test]
fn status_lists_the_running_watchers_in_the_table_and_in_json() {
    use crate::background::{Bg, Runtime};
    use crate::support::wait_until;
    let p = Project::with_stream("s");
    p.sparkq(["stream", "create", "idle", "--session", "s1"])
        .success();
    let rt = Runtime::of(&p);
    let status_json = || -> Status {
        let out = rt
            .command(&p, &["status", "--json"])
            .output()
            .expect("run status");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        parse(serde_json::from_slice(&out.stdout).expect("status is JSON"))
    };
    assert!(status_json().watchers.is_empty());

    let mut w = Bg::spawn(rt.command(&p, &["watch", "s"]));
    wait_until("the watcher's lock", 20, || rt.lock_pid("s") == Some(w.pid()));
    // A lock naming a dead process is not a running watcher.
    std::fs::write(rt.lock("idle"), "999999999\n").unwrap();
    let status = status_json();
    assert_eq!(status.watchers.len(), 1, "{status:?}");
    assert_eq!(
        (status.watchers[0].stream.as_str(), status.watchers[0].pid),
        ("s", w.pid())
    );

    let out = rt.command(&p, &["status"]).output().expect("run status");
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .skip_while(|l| !l.starts_with("Watchers:"))
        .find(|l| l.starts_with("s "))
        .unwrap_or_else(|| panic!("no watcher row:\n{table}"));
    assert!(row.ends_with(&w.pid().to_string()), "{table}");

    w.signal("TERM");
    assert!(w.wait_exit(20).success());
    assert!(status_json().watchers.is_empty());
    let out = rt.command(&p, &["status"]).output().expect("run status");
    assert!(String::from_utf8_lossy(&out.stdout).contains("No watchers running"));
}
