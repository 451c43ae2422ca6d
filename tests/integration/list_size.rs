//! Lists stay small whatever the tasks carry (issue 9, item 17): rows have
//! the summary and output sizes, and only the task view has the outputs.

use axum::http::StatusCode;
use serde_json::json;

use crate::http_support::Api;

const OUTPUT_BYTES: usize = 1_000_000;

#[tokio::test]
async fn the_api_list_carries_sizes_and_the_task_view_the_output() {
    let api = Api::new();
    let stdout = "o".repeat(OUTPUT_BYTES);
    let long_summary = "s".repeat(2_000);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = api.enqueue(r#"{"blob": "payload"}"#).await;
        let token = api.claim().await["claim_token"].clone();
        let body =
            json!({"result": {"summary": long_summary}, "stdout": stdout, "stderr": "e", "token": token});
        let reply = api
            .post(&format!("/api/tasks/{id}/complete"), &body.to_string())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        ids.push(id);
    }

    let list = api.get("/api/tasks?limit=50").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.text.len() < 16 * 1024,
        "a list of 3 tasks is {} bytes",
        list.text.len()
    );
    for row in list.json["tasks"].as_array().unwrap() {
        assert_eq!(row["stdout_bytes"], OUTPUT_BYTES, "{row}");
        assert_eq!(row["stderr_bytes"], 1);
        assert!(
            row.get("stdout").is_none() && row.get("payload").is_none(),
            "{row}"
        );
        let summary = row["summary"].as_str().unwrap();
        assert_eq!(
            summary.chars().count(),
            sparkq::model::PREVIEW_CHARS + 1,
            "cut with an ellipsis"
        );
    }

    let full = api.get(&format!("/api/tasks/{}", ids[0])).await;
    assert_eq!(full.json["stdout"].as_str().map(str::len), Some(OUTPUT_BYTES));
    assert_eq!(full.json["result"]["summary"], long_summary.as_str());

    let cli = api.project.sparkq(["tasks", "--json"]).success();
    assert!(
        cli.stdout().len() < 16 * 1024,
        "tasks --json is {} bytes",
        cli.stdout().len()
    );
    assert_eq!(cli.json()["tasks"][0]["stdout_bytes"], OUTPUT_BYTES);
    let shown = api.project.sparkq(["task", &ids[0], "--json"]).success().json();
    assert_eq!(shown["stdout"].as_str().map(str::len), Some(OUTPUT_BYTES));
}
