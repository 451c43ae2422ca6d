//! Sizes and depths at input (issue 9, items 2 and 3): files and stdin are
//! read no further than their limit, and JSON too deep to read back is
//! refused at the door instead of being lost later.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Project;

/// `{"a": {"a": ... "x"}}`, `depth` objects deep.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |inner, _| json!({ "a": inner }))
}

#[test]
fn a_payload_or_result_too_deep_to_read_back_is_refused_at_input() {
    let p = Project::with_stream("s");
    let deep = p.write("deep.json", &nested(127).to_string());
    let before = p.snapshot();
    p.sparkq([
        "enqueue",
        "run-bash",
        "--payload-file",
        deep.to_str().unwrap(),
        "--stream",
        "s",
    ])
    .fails_with("payload is not valid: it nests arrays and objects more than 64 levels deep");
    assert_eq!(before, p.snapshot(), "a refused payload changed the spool");

    // The deepest accepted payload is handed out intact.
    let ok = p.write("ok.json", &nested(63).to_string());
    p.sparkq([
        "enqueue",
        "run-bash",
        "--payload-file",
        ok.to_str().unwrap(),
        "--stream",
        "s",
    ])
    .success();
    let claimed = p.claim("s");
    assert_eq!(claimed["payload"], nested(63));
    let id = claimed["id"].as_str().unwrap().to_owned();

    let mut result = nested(127);
    result["summary"] = json!("done");
    let result_file = p.write("result.json", &result.to_string());
    p.sparkq(["complete", &id, "--result-file", result_file.to_str().unwrap()])
        .fails_with("result is not valid: it nests");
    let mut result = nested(63);
    result["summary"] = json!("done");
    let result_file = p.write("result.json", &result.to_string());
    p.sparkq(["complete", &id, "--result-file", result_file.to_str().unwrap()])
        .success();
    let task = p.sparkq(["task", &id, "--json"]).success().json();
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["result"]["a"], nested(62));
}

#[test]
fn a_dropped_file_too_deep_fails_with_the_reason() {
    let p = Project::with_stream("s");
    let drop = json!({"tool_name": "run-bash", "payload": nested(120)});
    let path = p.state_dir("s", "pending").join("deep.json");
    std::fs::write(&path, drop.to_string()).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    p.sparkq(["peek", "--stream", "s"]).success();
    let failed = p
        .sparkq(["tasks", "--status", "failed", "--json"])
        .success()
        .json();
    let error = failed["tasks"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("more than 64 levels deep"), "{failed}");
}

/// Runs `sparkq ARGS` with `stdin`, asserting that it ends within seconds
/// with the too-large error.
fn ends_too_large(p: &Project, args: &[&str], stdin: Stdio, what: &str) {
    let start = Instant::now();
    let output = p.command(args).stdin(stdin).output().expect("run sparkq");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "sparkq {args:?}: {stderr}");
    assert!(
        stderr.starts_with(&format!("Error: {what} from ")) && stderr.contains("is over the limit of"),
        "sparkq {args:?}: {stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "sparkq {args:?} read on for {:?}",
        start.elapsed()
    );
}

#[test]
fn endless_files_and_pipes_stop_at_the_limit() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    p.claim("s");
    let before = p.snapshot();
    let zero = "/dev/zero";
    for (args, what) in [
        (
            vec!["enqueue", "run-bash", "--payload-file", zero, "--stream", "s"],
            "payload",
        ),
        (vec!["enqueue", "--stream", "s", "--batch", zero], "batch"),
        (vec!["complete", &id, "--result-file", zero], "result"),
        (
            vec![
                "complete",
                &id,
                "--result",
                r#"{"summary": "x"}"#,
                "--stdout-file",
                zero,
            ],
            "stdout",
        ),
        (vec!["fail", &id, "--error", "x", "--stderr-file", zero], "stderr"),
        (
            vec![
                "stream",
                "create",
                "t",
                "--session",
                "s1",
                "--instructions-file",
                zero,
            ],
            "instructions",
        ),
    ] {
        ends_too_large(&p, &args, Stdio::null(), what);
    }

    let start = Instant::now();
    p.sparkq(["--config", zero, "status"])
        .fails_with("too large for a sparkq.yml");
    assert!(start.elapsed() < Duration::from_secs(20));

    // `yes | sparkq complete ... --stdout-file -`
    let mut yes = Command::new("yes")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run yes");
    let pipe = yes.stdout.take().expect("yes stdout");
    ends_too_large(
        &p,
        &[
            "complete",
            &id,
            "--result",
            r#"{"summary": "x"}"#,
            "--stdout-file",
            "-",
        ],
        Stdio::from(pipe),
        "stdout",
    );
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(before, p.snapshot(), "a refused input changed the spool");
    assert_eq!(
        p.sparkq(["task", &id, "--json"]).success().json()["status"],
        "running"
    );
}

#[test]
fn a_worker_name_past_its_limit_claims_nothing() {
    let p = Project::with_stream("s");
    p.enqueue("s", "{}");
    let before = p.snapshot();
    let name = "w".repeat(300);
    p.sparkq(["claim", "--stream", "s", "--worker", &name])
        .fails_with("worker is not valid: the name is 300 bytes, over the limit of 256");
    assert_eq!(before, p.snapshot(), "a refused claim changed the spool");
}
