//! Files dropped into `pending/` are adopted or rejected as SPEC 3 says.

use std::time::{Duration, SystemTime};

use crate::support::Project;

/// Drops `content` into the stream's pending folder as `name`, with a
/// modification time `age` ago (so it counts as settled, or not).
fn drop_file(p: &Project, name: &str, content: &str, age: Duration) {
    let path = p.state_dir("s", "pending").join(name);
    std::fs::write(&path, content).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn a_drop_stamped_in_the_future_is_adopted_not_left_waiting() {
    let p = Project::with_stream("s");
    let path = p.state_dir("s", "pending").join("tomorrow.json");
    std::fs::write(&path, r#"{"tool_name": "run-bash-fast", "payload": {"n": 9}}"#).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(86_400))
        .unwrap();
    let task = p.claim("s");
    assert_eq!(task["payload"]["n"], 9, "{task}");
    assert!(!path.exists());
}

#[test]
fn a_valid_drop_becomes_a_queued_task_in_arrival_order() {
    let p = Project::with_stream("s");
    drop_file(
        &p,
        "older.json",
        r#"{"tool_name": "run-bash-fast", "payload": {"n": 1}}"#,
        Duration::from_secs(60),
    );
    let enqueued = p.enqueue("s", r#"{"n": 2}"#);
    drop_file(
        &p,
        "b.json",
        r#"{"tool_name": "llm-haiku", "payload": {"n": 3}, "timeout": 42}"#,
        Duration::from_secs(5),
    );

    let peeked = p.sparkq(["peek", "--stream", "s"]).success().json();
    assert_eq!(peeked["payload"]["n"], 1, "the older drop arrived first");
    assert_eq!(peeked["task_class"], "FAST_SCRIPT");
    assert_eq!(peeked["timeout"], 30);
    let pending = p.files("s", "pending");
    assert_eq!(pending.len(), 3, "{pending:?}");
    assert!(pending.iter().all(|f| f.starts_with("tsk_")), "{pending:?}");

    // Arrival is the file's modification time: b.json (5 s ago) arrived
    // before the task enqueued just now.
    let order: Vec<i64> = (0..3)
        .map(|_| p.claim("s")["payload"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [1, 3, 2]);
    let b = p.sparkq(["tasks", "--json", "--limit", "3"]).success().json();
    assert!(
        b["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["timeout"] == 42 && t["task_class"] == "LLM_LITE")
    );
    assert!(p.files("s", "pending").is_empty());
    let _ = enqueued;
}

#[test]
fn bad_drops_fail_with_the_reason_and_keep_their_bytes() {
    let p = Project::with_stream("s");
    let old = Duration::from_secs(10);
    drop_file(&p, "garbage.json", "{not json", old);
    drop_file(&p, "list.json", "[1, 2]", old);
    drop_file(&p, "unknown.json", r#"{"tool_name": "nope", "payload": {}}"#, old);
    drop_file(&p, "nopayload.json", r#"{"tool_name": "run-bash"}"#, old);
    p.sparkq(["tasks"]).success();

    assert!(p.files("s", "pending").is_empty());
    let failed = p
        .sparkq(["tasks", "--status", "failed", "--json"])
        .success()
        .json();
    let tasks = failed["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    let by_name = |name: &str| {
        tasks
            .iter()
            .find(|t| t["error"].as_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("no failed task for {name}: {failed:#}"))
    };
    let garbage = by_name("'garbage.json'");
    assert!(
        garbage["error"]
            .as_str()
            .unwrap()
            .contains("it is not valid JSON")
    );
    // Lists carry no bytes; the task itself keeps them.
    let id = garbage["id"].as_str().unwrap();
    let full = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(full["original"], "{not json");
    assert!(
        by_name("'list.json'")["error"]
            .as_str()
            .unwrap()
            .contains("not an object (found an array)")
    );
    let unknown = by_name("'unknown.json'");
    assert!(unknown["error"].as_str().unwrap().contains("unknown tool 'nope'"));
    assert_eq!(unknown["tool_name"], "nope");
    assert!(
        by_name("'nopayload.json'")["error"]
            .as_str()
            .unwrap()
            .contains("missing field `payload`")
    );
}

#[test]
fn files_still_being_written_and_temp_files_are_left_alone() {
    let p = Project::with_stream("s");
    drop_file(
        &p,
        "fresh.json",
        r#"{"tool_name": "run-bash", "payload": {}}"#,
        Duration::ZERO,
    );
    drop_file(&p, ".writing.tmp", "{", Duration::from_secs(60));
    assert!(p.sparkq(["peek", "--stream", "s"]).success().stdout().is_empty());
    assert_eq!(p.files("s", "pending"), [".writing.tmp", "fresh.json"]);
    assert!(p.files("s", "failed").is_empty());
}

#[test]
fn a_corrupt_task_file_is_failed_with_its_bytes_not_lost() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    std::fs::write(
        p.state_dir("s", "pending").join(format!("{id}.json")),
        "{\"id\": trunc",
    )
    .unwrap();
    assert!(p.sparkq(["claim", "--stream", "s"]).success().stdout().is_empty());
    let task = p.sparkq(["task", &id, "--json"]).success().json();
    assert_eq!(task["status"], "failed");
    assert_eq!(task["original"], "{\"id\": trunc");
}

#[test]
fn content_lagging_its_folder_is_repaired_by_the_next_command() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    let file = format!("{id}.json");
    // A crash between the claim's rename and its rewrite leaves a queued
    // task's content in claimed/.
    std::fs::rename(
        p.state_dir("s", "pending").join(&file),
        p.state_dir("s", "claimed").join(&file),
    )
    .unwrap();
    assert_eq!(
        p.sparkq(["task", &id, "--json"]).success().json()["status"],
        "running"
    );
    p.sparkq(["tasks"]).success();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.state_dir("s", "claimed").join(&file)).unwrap()).unwrap();
    assert_eq!(on_disk["status"], "running");
    assert!(on_disk["started_at"].is_string());
    p.sparkq(["complete", &id, "--result", r#"{"summary": "recovered"}"#])
        .success();
}
