//! Bad input of every kind: a clear `Error:` line naming the problem and the
//! fix, exit 1, and not one byte changed in the spool.

use crate::support::Project;

/// Runs `args`, expects the error `needle`, and checks the spool is as it was.
fn refused(p: &Project, args: &[&str], needle: &str) {
    let before = p.snapshot();
    p.sparkq(args).fails_with(needle);
    assert_eq!(before, p.snapshot(), "sparkq {args:?} changed the spool");
}

/// A project with stream `s` holding one running task; returns its id.
fn with_running_task() -> (Project, String) {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    p.claim("s");
    (p, id)
}

#[test]
fn enqueue_refuses_bad_payloads_tools_and_streams() {
    let p = Project::with_stream("s");
    refused(
        &p,
        &["enqueue", "run-bash", "{not json", "--stream", "s"],
        "payload is not valid: it is not valid JSON",
    );
    refused(
        &p,
        &["enqueue", "run-bash", "", "--stream", "s"],
        "payload is not valid",
    );
    refused(
        &p,
        &["enqueue", "no-such-tool", "{}", "--stream", "s"],
        "unknown tool 'no-such-tool'\n  Known tools: delegate-codex, llm-haiku",
    );
    refused(
        &p,
        &["enqueue", "run-bash", "{}", "--stream", "nope"],
        "no stream named 'nope'\n  Known streams: s.",
    );
    refused(
        &p,
        &["enqueue", "run-bash", "{}", "--stream", "../x"],
        "invalid name '../x'",
    );
    refused(
        &p,
        &["enqueue", "run-bash", "{}", "--stream", "s", "--timeout", "0"],
        "timeout is not valid",
    );
    // A file over the limit is refused by its size, before it is read.
    let big = format!("{{\"blob\": \"{}\"}}", "x".repeat(1024 * 1024));
    let path = p.write("big.json", &big);
    refused(
        &p,
        &[
            "enqueue",
            "run-bash",
            "--payload-file",
            path.to_str().unwrap(),
            "--stream",
            "s",
        ],
        "payload is 1048588 bytes, over the limit of 1048576 bytes",
    );
    let batch = p.write(
        "batch.jsonl",
        "{\"tool_name\": \"run-bash\", \"payload\": {}}\n{\"tool_name\": \"nope\", \"payload\": {}}\n",
    );
    refused(
        &p,
        &["enqueue", "--stream", "s", "--batch", batch.to_str().unwrap()],
        "batch is not valid: line 2: unknown tool 'nope'",
    );
}

#[test]
fn ended_streams_take_and_give_nothing() {
    let p = Project::with_stream("s");
    p.enqueue("s", "{}");
    p.sparkq(["stream", "end", "s"]).success();
    refused(
        &p,
        &["enqueue", "run-bash", "{}", "--stream", "s"],
        "stream 's' has ended",
    );
    refused(&p, &["claim", "--stream", "s"], "stream 's' has ended");
}

#[test]
fn complete_refuses_bad_results_and_keeps_the_task_running() {
    let (p, id) = with_running_task();
    refused(
        &p,
        &["complete", &id, "--result", "{oops"],
        "result is not valid: it is not valid JSON",
    );
    refused(
        &p,
        &["complete", &id, "--result", "[1, 2]"],
        "result is not valid: it must be a JSON object",
    );
    refused(
        &p,
        &["complete", &id, "--result", r#""summary""#],
        "it must be a JSON object",
    );
    refused(
        &p,
        &["complete", &id, "--result", "{}"],
        "it has no non-empty string \"summary\"",
    );
    refused(
        &p,
        &["complete", &id, "--result", r#"{"summary": "  "}"#],
        "no non-empty string \"summary\"",
    );
    refused(
        &p,
        &["complete", &id, "--result", r#"{"summary": 5}"#],
        "no non-empty string \"summary\"",
    );
    refused(
        &p,
        &[
            "complete",
            &id,
            "--token",
            "nope",
            "--result",
            r#"{"summary": "x"}"#,
        ],
        "wrong claim token",
    );
    refused(
        &p,
        &["fail", &id, "--error", " "],
        "error is not valid: it is empty",
    );
    refused(&p, &["heartbeat", &id, "--token", "nope"], "wrong claim token");
    assert_eq!(p.files("s", "claimed"), [format!("{id}.json")]);
}

#[test]
fn unknown_and_malformed_ids_are_named() {
    let (p, id) = with_running_task();
    let missing = "tsk_0000000000000000000";
    refused(
        &p,
        &["complete", missing, "--result", r#"{"summary": "x"}"#],
        &format!("no task with id '{missing}'"),
    );
    refused(&p, &["task", missing], "no task with id");
    refused(&p, &["requeue", missing], "no task with id");
    refused(&p, &["task", "../etc/passwd"], "invalid task id '../etc/passwd'");
    refused(
        &p,
        &["complete", "tsk_a/b", "--result", r#"{"summary": "x"}"#],
        "invalid task id",
    );
    refused(
        &p,
        &["requeue", &id],
        "is running; only a failed or succeeded task, or a queued task of an ended stream, can be requeued",
    );
    p.sparkq(["complete", &id, "--result", r#"{"summary": "x"}"#])
        .success();
    refused(
        &p,
        &["complete", &id, "--result", r#"{"summary": "again"}"#],
        "has already finished: it succeeded at",
    );
    refused(&p, &["fail", &id, "--error", "late"], "has already finished");
}

#[test]
fn invalid_names_are_refused_with_the_rule() {
    let p = Project::with_stream("s");
    let long = "a".repeat(65);
    let cases = [
        ("../x", "must start with a lowercase letter or a digit"),
        ("a/b", "contains a character other than"),
        ("", "it is empty"),
        (long.as_str(), "longer than 64 characters"),
        ("a b", "contains a character other than"),
        ("Upper", "must start with a lowercase letter"),
        ("aUpper", "contains uppercase letters"),
    ];
    for (name, reason) in cases {
        refused(&p, &["session", "create", name], reason);
        refused(&p, &["stream", "create", name, "--session", "s1"], reason);
    }
    refused(
        &p,
        &["stream", "create", "t", "--session", "nope"],
        "no session named 'nope'\n  Known sessions: s1.",
    );
    refused(&p, &["session", "create", "s1"], "session 's1' already exists");
    refused(
        &p,
        &["stream", "create", "s", "--session", "s1"],
        "stream 's' already exists",
    );
    p.sparkq(["session", "end", "s1"]).success();
    refused(
        &p,
        &["stream", "create", "t", "--session", "s1"],
        "session 's1' has ended",
    );
}

#[test]
fn claim_without_a_stream_lists_where_work_waits() {
    let p = Project::with_stream("s");
    p.enqueue("s", "{}");
    p.enqueue("s", "{}");
    let run = p.sparkq(["claim"]).code(1);
    let stderr = run.stderr();
    assert!(stderr.starts_with("Error: --stream is required\n"), "{stderr}");
    assert!(stderr.contains("s       s1       2"), "{stderr}");
    assert!(stderr.contains("Usage: sparkq claim --stream"), "{stderr}");
    assert!(run.stdout().is_empty());
    assert_eq!(p.files("s", "pending").len(), 2);
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::new();
    p.sparkq(["enqueue"]).code(2);
    p.sparkq(["tasks", "--status", "sleeping"]).code(2);
    p.sparkq(["frobnicate"]).code(2);
}

#[test]
fn a_missing_or_broken_config_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = crate::support::sparkq_command()
        .args(["tasks"])
        .current_dir(dir.path())
        .env_remove("SPARKQ_CONFIG")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("Error: no sparkq.yml in") && stderr.contains("Run 'sparkq setup'"),
        "{stderr}"
    );

    let p = Project::new();
    p.write("sparkq.yml", "server: { port: 8420, colour: red }\n");
    p.sparkq(["tasks"]).fails_with("colour");
}

#[test]
fn an_unreadable_spool_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    let pending = p.state_dir("s", "pending");
    std::fs::set_permissions(p.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything, so run the check as an unprivileged user there.
    let as_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .unwrap()
        .stdout
        == b"0\n";
    let mut cmd = if as_root {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            crate::support::sparkq_bin(),
        ]);
        c
    } else {
        crate::support::sparkq_command()
    };
    let run = cmd
        .args(["peek", "--stream", "s"])
        .current_dir(p.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("Error: could not "), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(stderr.contains("permissions"), "{stderr}");
    assert_eq!(p.files("s", "pending"), [format!("{id}.json")]);
}
