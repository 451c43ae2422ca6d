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
    let run = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", "-5"])
        .code(2);
    let stderr = run.stderr();
    assert!(stderr.contains("join them with '=': --option=-5"), "{stderr}");
    assert!(!stderr.contains("use '-- -5'"), "{stderr}");
}
