//! The worker protocol end to end through the real binary.

use crate::support::Project;

#[test]
fn enqueue_claim_complete_round_trip() {
    let p = Project::with_stream("auth");
    let id = p.enqueue("auth", r#"{"script_path": "scripts/x.sh"}"#);
    let claimed = p.claim("auth");
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["stream"]["name"], "auth");
    assert_eq!(claimed["stream"]["instructions"], "Do the thing.");
    let token = claimed["claim_token"].as_str().unwrap().to_owned();
    p.sparkq([
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "did it"}"#,
    ])
    .success();
    assert_eq!(p.files("auth", "done"), [format!("{id}.json")]);
    assert!(p.files("auth", "claimed").is_empty());
}

#[test]
fn setup_asks_with_defaults_and_a_rerun_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let answers = "my-app\n\n\nscripts\n15\n\n\n\n9000\n";
    let mut child = crate::support::sparkq_command()
        .arg("setup")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(answers.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let prompts = String::from_utf8_lossy(&out.stderr);
    assert!(prompts.contains("Project name ["), "{prompts}");
    assert!(prompts.contains("Server port [8420]"), "{prompts}");
    let yml = std::fs::read_to_string(dir.path().join("sparkq.yml")).unwrap();
    assert!(yml.contains("name: \"my-app\""), "{yml}");
    assert!(yml.contains("port: 9000"), "{yml}");
    assert!(yml.contains("FAST_SCRIPT: { timeout: 15 }"), "{yml}");
    assert!(yml.contains("script_dirs: [\"scripts\"]"), "{yml}");
    assert!(dir.path().join("WORKER_PLAYBOOK.md").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("spool/.gitignore")).unwrap(),
        sparkq::queue::GITIGNORE
    );

    // A rerun on a project with data keeps it and says what it did.
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    std::fs::write(p.path().join("WORKER_PLAYBOOK.md"), "old").unwrap();
    let rerun = p.sparkq(["setup", "--yes"]).success().stdout();
    assert!(rerun.contains("kept") && rerun.contains("sparkq.yml"), "{rerun}");
    assert!(
        rerun.contains("updated") && rerun.contains("WORKER_PLAYBOOK.md"),
        "{rerun}"
    );
    assert_eq!(p.files("s", "pending"), [format!("{id}.json")]);
}

#[test]
fn teardown_removes_exactly_what_it_lists() {
    let p = Project::with_stream("s");
    p.enqueue("s", "{}");
    p.write("src/keep.rs", "fn main() {}");
    p.sparkq(["teardown"]).fails_with("needs confirmation");
    let out = p.sparkq(["teardown", "--yes"]).success().stdout();
    assert!(
        out.contains("removed") && out.contains("spool/") && out.contains("sparkq.yml"),
        "{out}"
    );
    let mut left: Vec<String> = std::fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["src"],
        "--yes also removes what setup wrote beside the config"
    );
}

#[test]
fn outputs_come_from_files_or_stdin_beyond_shell_argument_limits() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    let token = p.claim("s")["claim_token"].as_str().unwrap().to_owned();
    let big = "line of output\n".repeat(20_000);
    let err = p.write("err.log", "warning: x\n");
    let result = p.write("result.json", r#"{"summary": "from a file", "files": ["a.rs"]}"#);
    p.sparkq_stdin(
        [
            "complete",
            &id,
            "--token",
            &token,
            "--result-file",
            result.to_str().unwrap(),
            "--stdout-file",
            "-",
            "--stderr-file",
            err.to_str().unwrap(),
        ],
        &big,
    )
    .success();
    let task = p.sparkq(["task", &id, "--json"]).success().json();
    assert_eq!(task["stdout"].as_str().unwrap().len(), big.len());
    assert_eq!(task["stderr"], "warning: x\n");
    assert_eq!(task["result"]["files"][0], "a.rs");
    let shown = p.sparkq(["task", &id]).success().stdout();
    assert!(shown.contains("Summary:\n  from a file"), "{shown}");
}

#[test]
fn both_flag_spellings_and_every_help_has_an_example() {
    let p = Project::with_stream("auth");
    p.sparkq(["enqueue", "run-bash", "{}", "--stream=auth", "--timeout=5"])
        .success();
    assert_eq!(p.sparkq(["peek", "--stream=auth"]).success().json()["timeout"], 5);
    let commands = [
        "setup",
        "teardown",
        "enqueue",
        "peek",
        "claim",
        "complete",
        "fail",
        "heartbeat",
        "requeue",
        "tasks",
        "task",
        "purge",
        "status",
        "completions",
    ];
    for command in commands {
        let help = p.sparkq([command, "--help"]).success().stdout();
        assert!(
            help.contains("Example"),
            "sparkq {command} --help has no example:\n{help}"
        );
    }
    for group in [
        ["session", "create"],
        ["session", "list"],
        ["stream", "create"],
        ["stream", "end"],
    ] {
        let help = p.sparkq([group[0], group[1], "--help"]).success().stdout();
        assert!(help.contains("Example"), "sparkq {group:?} --help has no example");
    }
    let bash = p.sparkq(["completions", "bash"]).success().stdout();
    assert!(bash.contains("_sparkq()"), "{bash}");
}
