//! Ceilings at the MCP door: out-of-range numbers and too-deep JSON are
//! tool errors that name the ceiling, and change nothing.

use serde_json::{Value, json};

use super::Harness;

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |inner, _| json!({ "a": inner }))
}

#[tokio::test]
async fn numbers_past_their_ceiling_are_refused() {
    let h = Harness::new().await;
    let text = h
        .err("claim_task", json!({"stream": "auth", "wait_seconds": u64::MAX}))
        .await;
    assert!(
        text.contains("over the ceiling of 43200 seconds (12 hours)"),
        "{text}"
    );
    let text = h
        .err(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "run-bash", "payload": {}, "timeout": u64::MAX}),
        )
        .await;
    assert!(
        text.contains("over the ceiling of 2592000 seconds (30 days)"),
        "{text}"
    );
    assert!(h.queue.peek("auth").unwrap().is_none(), "nothing was queued");
}

#[tokio::test]
async fn json_past_the_depth_budget_is_refused_and_the_task_stays_running() {
    let h = Harness::new().await;
    let text = h
        .err(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "run-bash", "payload": nested(100)}),
        )
        .await;
    assert!(
        text.contains("payload is not valid: it nests arrays and objects more than 64 levels deep"),
        "{text}"
    );
    h.enqueue();
    let claimed = h.ok("claim_task", json!({"stream": "auth"})).await;
    let mut result = nested(100);
    result["summary"] = json!("done");
    let text = h
        .err("complete_task", json!({"id": claimed["id"], "result": result}))
        .await;
    assert!(text.contains("result is not valid: it nests"), "{text}");
    let task = h.queue.get_task(claimed["id"].as_str().unwrap()).unwrap();
    assert_eq!(task.status.as_str(), "running");
}
