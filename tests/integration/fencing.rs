//! A report that cannot be recorded says exactly why (issue 10): a wrong
//! token on a live claim, a claim taken back at a time (queued again,
//! claimed again, or auto-failed), a report already recorded, a task
//! finished by someone else. The CLI and the HTTP API give the same words.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http_support::Api;
use crate::support::{Project, Run};

fn complete(p: &Project, id: &str, token: &str) -> Run {
    p.sparkq([
        "complete",
        id,
        "--token",
        token,
        "--result",
        r#"{"summary": "late"}"#,
    ])
}

#[test]
fn a_mistyped_token_on_a_live_claim_says_the_task_is_still_running() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    let claimed = p.claim("s");
    let before = p.snapshot();
    for command in [
        vec![
            "complete",
            &id,
            "--token",
            "0000",
            "--result",
            r#"{"summary": "x"}"#,
        ],
        vec!["fail", &id, "--token", "0000", "--error", "x"],
        vec!["heartbeat", &id, "--token", "0000"],
    ] {
        let run = p.sparkq(command).fails_with("wrong claim token");
        let stderr = run.stderr();
        assert!(
            stderr.contains("still running, claimed by test since"),
            "{stderr}"
        );
        assert!(!stderr.contains("taken back"), "{stderr}");
    }
    assert_eq!(p.snapshot(), before, "nothing changed");
    let token = claimed["claim_token"].as_str().unwrap();
    complete(&p, &id, token).success();
    // Reporting the same claim twice: the first report stands.
    complete(&p, &id, token).fails_with("your report was already recorded: it succeeded at");
}

#[test]
fn a_taken_back_claim_says_when_and_what_became_of_the_task() {
    let p = Project::with_stream("s");
    p.set_max_attempts(2);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "s", "--timeout", "10"])
        .success()
        .stdout();
    let id = id.trim();
    let first = p.claim("s");
    let token = first["claim_token"].as_str().unwrap();
    p.age_claim("s", id, 25);
    let queued = p.sparkq(["peek", "--stream", "s"]).success().json();
    let taken_at = queued["history"][0]["ended_at"].as_str().unwrap().to_owned();

    let run = complete(&p, id, token).fails_with(&format!("your claim was taken back at {taken_at}"));
    assert!(
        run.stderr().contains("the task is queued again"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("claim a new task"), "{}", run.stderr());

    p.sparkq(["claim", "--stream", "s", "--worker", "w2"]).success();
    complete(&p, id, token).fails_with("the task was claimed again by w2 at");
    p.sparkq(["heartbeat", id, "--token", token])
        .fails_with("the task was claimed again by w2");

    p.age_claim("s", id, 25);
    p.sparkq(["tasks"]).success();
    complete(&p, id, token).fails_with(&format!("your claim was taken back at {taken_at}"));
    let second = p.sparkq(["task", id, "--json"]).success().json();
    let second_token = second["history"][1]["claim_token"].as_str().unwrap();
    complete(&p, id, second_token).fails_with("the task was auto-failed");
}

#[test]
fn reports_on_finished_or_unclaimed_tasks_say_so() {
    let p = Project::with_stream("s");
    let queued = p.enqueue("s", "{}");
    p.sparkq(["fail", &queued, "--error", "x"])
        .fails_with("is queued, not running: nobody holds a claim");
    let done = p.claim("s");
    let id = done["id"].as_str().unwrap();
    p.sparkq(["complete", id, "--result", r#"{"summary": "ok"}"#])
        .success();
    p.sparkq(["fail", id, "--error", "x"])
        .fails_with("has already finished: it succeeded at");
    complete(&p, id, "0000").fails_with("has already finished: it succeeded at");
}

#[tokio::test]
async fn the_api_gives_the_same_words_and_a_code_per_case() {
    let api = Api::new();
    let id = api.enqueue("{}").await;
    let claimed = api.claim().await;
    let token = claimed["claim_token"].as_str().unwrap();
    let api = &api;
    let post = |path: String, body: Value| async move { api.post(&path, &body.to_string()).await };

    let wrong = post(
        format!("/api/tasks/{id}/complete"),
        json!({"result": {"summary": "s"}, "token": "0000"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);
    assert_eq!(wrong.json["error"]["code"], "wrong_token");
    let message = wrong.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("still running, claimed by w1"), "{message}");

    let ok = post(
        format!("/api/tasks/{id}/complete"),
        json!({"result": {"summary": "s"}, "token": token}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let again = post(
        format!("/api/tasks/{id}/fail"),
        json!({"error": "e", "token": token}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["error"]["code"], "already_reported", "{}", again.text);
}
