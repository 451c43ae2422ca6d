//! `sparkq doctor` through the real binary: what it reports, what `--fix`
//! repairs, and the safe part every listing applies on the fly.

use std::process::Command;

use serde_json::Value;

use crate::support::Project;

/// Finds the finding of `kind` in a `doctor --json` report.
fn finding<'a>(report: &'a Value, kind: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == kind))
        .unwrap_or_else(|| panic!("no {kind} finding in {report:#}"))
}

/// Sets a file's modification time a minute back, as if it had settled.
fn age(path: &std::path::Path) {
    let ok = Command::new("touch")
        .arg("-d")
        .arg("1 minute ago")
        .arg(path)
        .status()
        .expect("touch");
    assert!(ok.success());
}

#[test]
fn a_clean_spool_has_nothing_to_report() {
    let p = Project::with_stream("a");
    p.enqueue("a", "{}");
    let report = p.sparkq(["doctor", "--json"]).success().json();
    assert_eq!(report["clean"], true);
    assert_eq!(report["findings"], serde_json::json!([]));
    assert!(p.sparkq(["doctor"]).success().stdout().contains("consistent"));
}

#[test]
fn content_that_disagrees_with_its_folder_is_repaired_by_fix() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let from = p.state_dir("a", "pending").join(format!("{id}.json"));
    let to = p.state_dir("a", "failed").join(format!("{id}.json"));
    std::fs::rename(&from, &to).expect("move");
    let report = p.sparkq(["doctor", "--json"]).success().json();
    assert_eq!(finding(&report, "folder_mismatch")["fixed"], false);
    let fixed = p.sparkq(["doctor", "--fix", "--json"]).success().json();
    assert_eq!(finding(&fixed, "folder_mismatch")["fixed"], true);
    let task = p.sparkq(["task", &id, "--json"]).success().json();
    assert_eq!(task["status"], "failed");
    assert_eq!(
        p.sparkq(["doctor", "--json"]).success().json()["findings"],
        serde_json::json!([])
    );
}

#[test]
fn unknown_files_are_reported_and_left_alone() {
    let p = Project::with_stream("a");
    let stray = p.state_dir("a", "done").join("notes.txt");
    std::fs::write(&stray, "mine").expect("write");
    let report = p.sparkq(["doctor", "--fix", "--json"]).success().json();
    let f = finding(&report, "unknown_file");
    assert_eq!(f["path"], "streams/a/done/notes.txt");
    assert_eq!(report["clean"], false);
    assert_eq!(std::fs::read_to_string(&stray).expect("kept"), "mine");
}

#[test]
fn an_unreadable_task_file_becomes_a_failed_task_that_keeps_its_bytes() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let claimed = p.claim("a");
    assert_eq!(claimed["id"], id.as_str());
    let path = p.state_dir("a", "done").join("tsk_0000000000000000000zz.json");
    std::fs::write(&path, "{ half a file").expect("write");
    age(&path);
    let report = p.sparkq(["doctor", "--fix", "--json"]).success().json();
    assert_eq!(finding(&report, "unreadable")["fixed"], true);
    assert!(!path.exists());
    let failed = p
        .sparkq(["tasks", "--status", "failed", "--json"])
        .success()
        .json();
    let kept_id = failed["tasks"][0]["id"].as_str().unwrap();
    let full = p.sparkq(["task", kept_id, "--json"]).success().json();
    let kept = full["original"].as_str().unwrap_or_default();
    assert_eq!(kept, "{ half a file");
}

#[test]
fn a_stream_file_with_conflict_markers_is_merged_and_ending_wins() {
    let p = Project::with_stream("a");
    let path = p.spool().join("streams/a/stream.json");
    let text = std::fs::read_to_string(&path).expect("stream.json");
    let ended = text
        .replace("\"active\"", "\"ended\"")
        .replace("\"ended_at\": null", "\"ended_at\": \"2026-01-01T00:00:00Z\"");
    std::fs::write(
        &path,
        format!("<<<<<<< HEAD\n{text}=======\n{ended}>>>>>>> theirs\n"),
    )
    .expect("write");
    let report = p.sparkq(["doctor", "--json"]).success().json();
    assert_eq!(finding(&report, "meta_conflict")["fixed"], false);
    p.sparkq(["doctor", "--fix"]).success();
    let streams = p.sparkq(["stream", "list", "--json"]).success().json();
    assert!(streams.to_string().contains("\"ended\""), "{streams:#}");
    assert!(
        !std::fs::read_to_string(&path)
            .expect("stream.json")
            .contains("<<<<<<<")
    );
}

#[test]
fn listing_removes_copies_that_lost_and_carried_nothing() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let pending = p.state_dir("a", "pending").join(format!("{id}.json"));
    let stale = std::fs::read(&pending).expect("pending copy");
    p.claim("a");
    // A merge brings the pending copy back beside the claim, plus a backup.
    std::fs::write(&pending, &stale).expect("write");
    let backup = p.state_dir("a", "claimed").join(format!("{id}.json~"));
    std::fs::write(&backup, &stale).expect("write");
    let listed = p.sparkq(["tasks", "--json"]).success().json();
    assert_eq!(listed["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["tasks"][0]["status"], "running");
    assert!(
        !pending.exists() && !backup.exists(),
        "the safe part was not applied"
    );
    assert_eq!(
        p.sparkq(["doctor", "--json"]).success().json()["findings"],
        serde_json::json!([])
    );
}

#[test]
fn an_extra_copy_in_pending_is_never_adopted_as_a_new_task() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let pending = p.state_dir("a", "pending");
    let copy = pending.join(format!("{id}.json~HEAD"));
    std::fs::copy(pending.join(format!("{id}.json")), &copy).expect("copy");
    age(&copy);
    let listed = p.sparkq(["tasks", "--json"]).success().json();
    assert_eq!(listed["tasks"].as_array().map(Vec::len), Some(1));
    assert!(!copy.exists(), "an identical extra copy is settled away");
}

#[test]
fn a_second_version_of_a_session_file_is_merged_into_it() {
    let p = Project::with_stream("a");
    let path = p.spool().join("sessions/s1.json");
    let text = std::fs::read_to_string(&path).expect("session");
    let ended = text.replace("\"active\"", "\"ended\"");
    std::fs::write(p.spool().join("sessions/s1.json~HEAD"), ended).expect("write");
    let report = p.sparkq(["doctor", "--fix", "--json"]).success().json();
    assert_eq!(finding(&report, "meta_conflict")["fixed"], true);
    assert!(!p.spool().join("sessions/s1.json~HEAD").exists());
    assert!(
        std::fs::read_to_string(&path)
            .expect("session")
            .contains("\"ended\"")
    );
}

#[test]
fn a_pending_file_with_conflict_markers_is_settled_by_claim_not_failed() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let path = p.state_dir("a", "pending").join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).expect("task");
    let mut lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"updated_at\""))
        .expect("updated_at");
    let theirs = "  \"updated_at\": \"2030-01-01T00:00:00Z\",";
    let ours = lines[at].to_owned();
    lines.splice(
        at..=at,
        ["<<<<<<< HEAD", &ours, "=======", theirs, ">>>>>>> theirs"],
    );
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let claimed = p.claim("a");
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["status"], "running");
}
