//! Requeue (issue 10): into another stream, with a new payload, several ids
//! at once, a whole ended stream's queue; the trail on both tasks; a second
//! requeue warned about; the same through the HTTP API.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http_support::Api;
use crate::support::Project;

fn task(p: &Project, id: &str) -> Value {
    p.sparkq(["task", id, "--json"]).success().json()
}

/// A failed task of stream `s`.
fn failed(p: &Project, payload: &str) -> String {
    let id = p.enqueue("s", payload);
    let claimed = p.claim("s");
    assert_eq!(claimed["id"], id.as_str());
    p.sparkq(["fail", &id, "--error", "boom"]).success();
    id
}

#[test]
fn requeue_leaves_a_trail_and_warns_the_second_time() {
    let p = Project::with_stream("s");
    let id = failed(&p, r#"{"script_path": "a.sh"}"#);
    let run = p.sparkq(["requeue", &id]).success();
    assert_eq!(run.stderr(), "", "the first requeue warns about nothing");
    let first = run.stdout().trim().to_owned();
    assert_eq!(task(&p, &first)["requeued_from"], id.as_str());
    assert_eq!(task(&p, &id)["requeued_as"], first.as_str());
    let shown = p.sparkq(["task", &id]).success().stdout();
    assert!(shown.contains(&format!("requeued as:   {first}")), "{shown}");
    let shown = p.sparkq(["task", &first]).success().stdout();
    assert!(shown.contains(&format!("requeued from: {id}")), "{shown}");

    let run = p.sparkq(["requeue", &id]).success();
    let second = run.stdout().trim().to_owned();
    assert_ne!(second, first);
    let warning = run.stderr();
    assert!(
        warning.starts_with(&format!(
            "Warning: task {id} had already been requeued as {first}; it is now queued a second time, as {second}."
        )),
        "{warning}"
    );
    assert_eq!(task(&p, &id)["requeued_as"], second.as_str());
}

#[test]
fn requeue_into_another_stream_with_a_new_payload_several_at_once() {
    let p = Project::with_stream("s");
    p.sparkq(["stream", "create", "t", "--session", "s1"]).success();
    let a = failed(&p, r#"{"script_path": "a.sh"}"#);
    let b = failed(&p, r#"{"script_path": "b.sh"}"#);
    let out = p
        .sparkq([
            "requeue",
            &a,
            &b,
            "--stream",
            "t",
            "--payload",
            r#"{"script_path": "fixed.sh"}"#,
        ])
        .success()
        .stdout();
    let new: Vec<&str> = out.lines().collect();
    assert_eq!(new.len(), 2, "{out}");
    for (copy, original) in new.iter().zip([&a, &b]) {
        let copy = task(&p, copy);
        assert_eq!(copy["stream"], "t");
        assert_eq!(copy["status"], "queued");
        assert_eq!(copy["payload"], json!({"script_path": "fixed.sh"}));
        assert_eq!(copy["requeued_from"], original.as_str());
    }
    // A running task, or a queued one of an active stream, is refused.
    let queued = p.enqueue("s", "{}");
    p.sparkq(["requeue", &queued])
        .fails_with("only a failed or succeeded task, or a queued task of an ended stream, can be requeued");
    p.sparkq(["requeue", &a, "--stream", "nope"])
        .fails_with("no stream named 'nope'");
    p.sparkq(["requeue", &a, "--payload", "{not json"])
        .fails_with("payload");
}

#[test]
fn an_ended_streams_queue_moves_to_a_new_stream_in_order() {
    let p = Project::with_stream("s");
    let queued: Vec<String> = (0..3)
        .map(|i| p.enqueue("s", &format!("{{\"n\": {i}}}")))
        .collect();
    p.sparkq(["requeue", "--all-queued", "--from", "s", "--stream", "s"])
        .fails_with("stream 's' is active");
    p.sparkq(["stream", "end", "s"]).success();
    p.sparkq(["stream", "create", "s2", "--session", "s1"]).success();
    // One of them moved by hand first: the whole-stream form leaves it.
    let single = p
        .sparkq(["requeue", &queued[1], "--stream", "s2"])
        .success()
        .stdout();
    let moved = p
        .sparkq(["requeue", "--all-queued", "--from", "s", "--stream", "s2"])
        .success()
        .stdout();
    let moved: Vec<&str> = moved.lines().collect();
    assert_eq!(moved.len(), 2);
    assert_eq!(task(&p, moved[0])["requeued_from"], queued[0].as_str());
    assert_eq!(task(&p, moved[1])["requeued_from"], queued[2].as_str());
    // The new stream hands them out in the old order.
    let order: Vec<String> = (0..3)
        .map(|_| p.claim("s2")["requeued_from"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, [queued[1].clone(), queued[0].clone(), queued[2].clone()]);
    assert!(!single.is_empty());
    // The originals stay queued in the ended stream, marked.
    for id in &queued {
        assert_eq!(task(&p, id)["status"], "queued");
        assert!(task(&p, id)["requeued_as"].is_string());
    }
    let again = p
        .sparkq(["requeue", "--all-queued", "--from", "s", "--stream", "s2"])
        .success();
    assert_eq!(again.stdout(), "");
    assert!(again.stderr().contains("No queued task in stream s to requeue"));
}

#[tokio::test]
async fn the_api_requeues_with_options_and_flags_a_second_requeue() {
    let api = Api::new();
    let id = api.enqueue(r#"{"script_path": "a.sh"}"#).await;
    api.claim().await;
    let failed = api
        .post(&format!("/api/tasks/{id}/fail"), r#"{"error": "boom"}"#)
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.text);
    let body = r#"{"payload": {"script_path": "b.sh"}}"#;
    let first = api.post(&format!("/api/tasks/{id}/requeue"), body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json["requeued_from"], id.as_str());
    assert_eq!(first.json["payload"]["script_path"], "b.sh");
    assert!(first.json.get("already_requeued_as").is_none(), "{}", first.text);
    let second = api.post(&format!("/api/tasks/{id}/requeue"), "{}").await;
    assert_eq!(second.json["already_requeued_as"], first.json["id"]);
    assert_eq!(second.json["payload"]["script_path"], "a.sh");
    let shown = api.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(shown.json["requeued_as"], second.json["id"]);
    // The list carries the trail too, so its requeue button can ask first.
    let listed = api.get("/api/tasks?status=failed").await;
    assert_eq!(
        listed.json["tasks"][0]["requeued_as"], second.json["id"],
        "{}",
        listed.text
    );
    let bad = api
        .post(&format!("/api/tasks/{id}/requeue"), r#"{"stream": "nope"}"#)
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND, "{}", bad.text);

    let queued = api.enqueue("{}").await;
    let end = api.post("/api/streams/auth/end", "{}").await;
    assert_eq!(end.status, StatusCode::OK, "{}", end.text);
    let made = api
        .post("/api/streams", r#"{"name": "auth2", "session": "s1"}"#)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let moved = api
        .post("/api/streams/auth/requeue", r#"{"stream": "auth2"}"#)
        .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.text);
    let tasks = moved.json["tasks"].as_array().unwrap();
    // The two requeued copies were queued in the (then active) stream auth too.
    assert!(
        tasks.iter().any(|t| t["requeued_from"] == queued.as_str()),
        "{}",
        moved.text
    );
    assert!(tasks.iter().all(|t| t["stream"] == "auth2"), "{}", moved.text);
}
