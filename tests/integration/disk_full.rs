//! A write that fails after a claim's rename puts the task back (issue 9,
//! item 11): on a full disk, `claim` said "nothing was changed" while the
//! task sat in `claimed/` with no token, stuck until twice its timeout.
//!
//! The failure is real, not simulated: the claimer runs with a file-size
//! limit (`ulimit -f`, SIGXFSZ ignored), so the kernel refuses the rewrite
//! of the claimed file (EFBIG) exactly where a full disk refuses it
//! (ENOSPC), after the rename. No privileges are needed for it.

use crate::support::{Project, sparkq_bin};

/// Runs `sparkq ARGS` in `p` with files limited to 4 KiB.
fn run_with_small_file_limit(p: &Project, args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8 && exec \"$0\" \"$@\"")
        .arg(sparkq_bin())
        .args(args)
        .current_dir(p.path())
        .env_remove("SPARKQ_CONFIG")
        .output()
        .expect("run sparkq under sh")
}

#[test]
fn a_claim_whose_rewrite_fails_puts_the_task_back() {
    let p = Project::with_stream("a");
    let payload = format!("{{\"blob\": \"{}\"}}", "x".repeat(64 * 1024));
    let id = p.enqueue("a", &payload);

    let out = run_with_small_file_limit(&p, &["claim", "--stream", "a", "--worker", "w1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("Error: could not write"), "{stderr}");
    assert!(out.stdout.is_empty(), "no task was handed out");
    assert_eq!(
        p.files("a", "claimed"),
        Vec::<String>::new(),
        "nothing left claimed"
    );
    assert_eq!(p.files("a", "pending"), [format!("{id}.json")]);

    let claimed = p.claim("a");
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["attempts"], 1, "the failed claim did not count");
    assert!(claimed["claim_token"].is_string());
}

#[test]
fn a_complete_whose_write_fails_leaves_the_task_running_for_a_retry() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let token = p.claim("a")["claim_token"].as_str().unwrap().to_owned();
    let stdout = "o".repeat(64 * 1024);
    let args = [
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "ok"}"#,
        "--stdout",
        &stdout,
    ];
    let out = run_with_small_file_limit(&p, &args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p.files("a", "claimed"), [format!("{id}.json")]);
    assert_eq!(p.files("a", "done"), Vec::<String>::new());
    p.sparkq(args).success();
    assert_eq!(p.files("a", "done"), [format!("{id}.json")]);
}
