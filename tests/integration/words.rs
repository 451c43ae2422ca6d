//! The words an agent acts on (issue 10): free text that begins with `-`,
//! an empty claim that says so, payload and status mistakes named exactly.

use crate::support::Project;

#[test]
fn every_free_text_option_takes_a_value_beginning_with_a_dash() {
    let p = Project::new();
    p.sparkq(["session", "create", "s", "--description", "- the v2 rewrite"])
        .success();
    p.sparkq([
        "stream",
        "create",
        "a",
        "--session",
        "s",
        "--instructions",
        "-- goal: login",
    ])
    .success();
    let shown = p.sparkq(["stream", "list", "--json"]).success().json();
    assert_eq!(shown[0]["instructions"], "-- goal: login", "{shown}");
    let id = p
        .sparkq(["enqueue", "run-bash", "-1", "--stream", "a"])
        .success()
        .stdout();
    let id = id.trim();
    let claimed = p.claim("a");
    let token = claimed["claim_token"].as_str().unwrap();
    p.sparkq([
        "fail",
        id,
        "--token",
        token,
        "--error",
        "-1 exit code",
        "--stdout",
        "- Users want a login page",
        "--stderr",
        "-x: unknown flag",
    ])
    .success();
    let task = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(task["payload"], -1);
    assert_eq!(task["error"], "-1 exit code");
    assert_eq!(task["stdout"], "- Users want a login page");
    assert_eq!(task["stderr"], "-x: unknown flag");

    let id = p.enqueue("a", "{}");
    let token = p.claim("a")["claim_token"].as_str().unwrap().to_owned();
    p.sparkq(["complete", &id, "--token", &token, "--result", "-1"])
        .fails_with("result is not valid: it must be a JSON object");
}

#[test]
fn a_dash_value_left_unjoined_gets_a_tip_that_works() {
    let p = Project::with_stream("a");
    let run = p.sparkq(["enqueue", "run-bash", "{}", "--stream", "-a"]).code(2);
    let stderr = run.stderr();
    assert!(stderr.contains("join them with '=': --option=-a"), "{stderr}");
    assert!(!stderr.contains("use '-- -a'"), "{stderr}");
    // A negative number is the option's value: its own parser says what to give.
    let run = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", "-5"])
        .code(2);
    let stderr = run.stderr();
    assert!(
        stderr.contains("'-5' is not a whole number of seconds (1 to 2592000, 30 days)"),
        "{stderr}"
    );
}

#[test]
fn a_payload_in_the_tool_names_place_says_the_tool_is_missing() {
    let p = Project::with_stream("x");
    let before = p.snapshot();
    p.sparkq(["enqueue", r#"{"script_path":"a.sh"}"#, "--stream", "x"])
        .fails_with("the tool name is missing: '{\"script_path\":\"a.sh\"}' is JSON");
    assert_eq!(p.snapshot(), before);
    // A tool and no payload is still a missing payload.
    p.sparkq(["enqueue", "run-bash", "--stream", "x"])
        .fails_with("a payload is required");
}

#[test]
fn a_summary_key_in_the_wrong_case_is_pointed_out() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    let token = p.claim("a")["claim_token"].as_str().unwrap().to_owned();
    p.sparkq([
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"Summary": "x"}"#,
    ])
    .fails_with("it has \"Summary\": keys are case-sensitive, write \"summary\"");
    p.sparkq(["complete", &id, "--token", &token, "--result", r#"{"files": []}"#])
        .fails_with("it has no non-empty string \"summary\"\n");
    p.sparkq([
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "x"}"#,
    ])
    .success();
}

#[test]
fn task_filters_accept_the_folder_names() {
    let p = Project::with_stream("a");
    let still_running = p.enqueue("a", "{}");
    let failed = p.enqueue("a", "{}");
    let done = p.enqueue("a", "{}");
    for _ in 0..3 {
        p.claim("a");
    }
    p.sparkq(["complete", &done, "--result", r#"{"summary": "ok"}"#])
        .success();
    p.sparkq(["fail", &failed, "--error", "x"]).success();
    let ids = |status: &str| -> Vec<String> {
        let page = p.sparkq(["tasks", "--status", status, "--json"]).success().json();
        page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("done"), ids("succeeded"));
    assert_eq!(ids("done"), [done]);
    assert_eq!(ids("failed"), [failed]);
    assert_eq!(ids("claimed"), [still_running]);
    assert_eq!(ids("claimed"), ids("running"));
    assert_eq!(ids("pending"), ids("queued"));
    p.sparkq(["tasks", "--status", "finished"])
        .code(2)
        .stderr()
        .contains("folder names pending, claimed, done")
        .then_some(())
        .expect("the error lists the folder names");
}

#[test]
fn stream_show_prints_the_whole_brief() {
    let p = Project::new();
    p.sparkq(["session", "create", "s"]).success();
    let brief = format!(
        "Goal: OAuth login.\n{}\nDone when: tests pass.",
        "Context. ".repeat(20)
    );
    p.sparkq([
        "stream",
        "create",
        "auth",
        "--session",
        "s",
        "--instructions",
        &brief,
    ])
    .success();
    p.enqueue("auth", "{}");
    let shown = p.sparkq(["stream", "show", "auth"]).success().stdout();
    assert!(shown.contains(&brief), "{shown}");
    assert!(shown.contains("1 queued"), "{shown}");
    let listed = p.sparkq(["stream", "list"]).success().stdout();
    assert!(!listed.contains("Done when"), "the list is cut short: {listed}");
    let json = p.sparkq(["stream", "show", "auth", "--json"]).success().json();
    assert_eq!(json["instructions"], brief.as_str());
    assert_eq!(json["counts"]["queued"], 1);
    p.sparkq(["stream", "show", "nope"])
        .fails_with("no stream named 'nope'");
}

#[test]
fn shipped_text_never_points_at_a_spec_users_do_not_have() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "README.md",
        "WORKER_PLAYBOOK.md",
        "src/mcp/sparkq-worker.md",
        "scripts/sparkq-watcher.sh",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        assert!(!text.contains("SPEC "), "{file} mentions the SPEC");
    }
    let p = Project::new();
    let top = p.sparkq(["--help"]).success().stdout();
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() > 20, "{top}");
    for command in &commands {
        let help = p.sparkq([command.as_str(), "--help"]).success().stdout();
        assert!(
            !help.contains("SPEC"),
            "sparkq {command} --help mentions the SPEC:\n{help}"
        );
    }
}
