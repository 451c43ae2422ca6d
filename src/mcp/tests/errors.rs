//! Every refusal of the CLI, through MCP: a tool error (`isError`) whose
//! text is exactly the message the same queue call gives the CLI, and
//! nothing changed on disk.

use serde_json::{Value, json};

use super::Harness;
use crate::mcp::server::message;
use crate::model::TaskId;
use crate::queue::{NewTask, Queue, Report};

/// One refusal: the tool call, and the same request made to the queue.
struct Case {
    tool: &'static str,
    args: Value,
    direct: Box<dyn Fn(&Queue) -> crate::queue::Error>,
    needle: &'static str,
}

fn case(
    tool: &'static str,
    args: Value,
    needle: &'static str,
    direct: impl Fn(&Queue) -> crate::queue::Error + 'static,
) -> Case {
    Case {
        tool,
        args,
        direct: Box::new(direct),
        needle,
    }
}

fn task(tool: &str) -> NewTask {
    NewTask {
        tool_name: tool.to_owned(),
        payload: json!({}),
        timeout: None,
        task_class: None,
    }
}

fn report(token: Option<&str>) -> Report {
    Report {
        token: token.map(str::to_owned),
        ..Report::default()
    }
}

#[tokio::test]
async fn every_cli_refusal_is_a_tool_error_with_the_cli_message() {
    let h = Harness::new().await;
    let queued = h.enqueue();
    let running = h.enqueue();
    let claimed = h.queue.claim("auth", "w").unwrap().unwrap();
    assert_eq!(claimed.task.id.as_str(), queued);
    let (running, queued) = (queued, running);
    let unknown = TaskId::generate().to_string();
    h.queue.create_stream("old", "s1", "").unwrap();
    h.queue.end_stream("old").unwrap();

    let (r, q, u) = (running.clone(), queued.clone(), unknown.clone());
    let cases = vec![
        case(
            "complete_task",
            json!({"id": r, "result": {"notes": "x"}}),
            "\"summary\"",
            {
                let r = r.clone();
                move |q| q.complete(&r, json!({"notes": "x"}), report(None)).unwrap_err()
            },
        ),
        case(
            "complete_task",
            json!({"id": r, "result": {"summary": "  "}}),
            "\"summary\"",
            {
                let r = r.clone();
                move |q| {
                    q.complete(&r, json!({"summary": "  "}), report(None))
                        .unwrap_err()
                }
            },
        ),
        case(
            "complete_task",
            json!({"id": r, "result": "done"}),
            "JSON object",
            {
                let r = r.clone();
                move |q| q.complete(&r, json!("done"), report(None)).unwrap_err()
            },
        ),
        case(
            "complete_task",
            json!({"id": q, "result": {"summary": "s"}}),
            "not running",
            {
                let q = q.clone();
                move |qu| {
                    qu.complete(&q, json!({"summary": "s"}), report(None))
                        .unwrap_err()
                }
            },
        ),
        case("fail_task", json!({"id": q, "error": "e"}), "not running", {
            let q = q.clone();
            move |qu| qu.fail(&q, "e", report(None)).unwrap_err()
        }),
        case("heartbeat_task", json!({"id": q}), "not running", {
            let q = q.clone();
            move |qu| qu.heartbeat(&q, None).unwrap_err()
        }),
        case("fail_task", json!({"id": r, "error": " "}), "empty", {
            let r = r.clone();
            move |q| q.fail(&r, " ", report(None)).unwrap_err()
        }),
        case(
            "complete_task",
            json!({"id": r, "result": {"summary": "s"}, "token": "0"}),
            "wrong claim token",
            {
                let r = r.clone();
                move |q| {
                    q.complete(&r, json!({"summary": "s"}), report(Some("0")))
                        .unwrap_err()
                }
            },
        ),
        case(
            "fail_task",
            json!({"id": r, "error": "e", "token": "0"}),
            "wrong claim token",
            {
                let r = r.clone();
                move |q| q.fail(&r, "e", report(Some("0"))).unwrap_err()
            },
        ),
        case(
            "heartbeat_task",
            json!({"id": r, "token": "0"}),
            "wrong claim token",
            {
                let r = r.clone();
                move |q| q.heartbeat(&r, Some("0")).unwrap_err()
            },
        ),
        case("get_task", json!({"id": u}), "no task with id", {
            let u = u.clone();
            move |q| q.get_task(&u).unwrap_err()
        }),
        case(
            "complete_task",
            json!({"id": u, "result": {"summary": "s"}}),
            "no task with id",
            {
                let u = u.clone();
                move |q| q.complete(&u, json!({"summary": "s"}), report(None)).unwrap_err()
            },
        ),
        case("requeue_task", json!({"id": u}), "no task with id", move |q| {
            q.requeue(&u, &Default::default()).unwrap_err()
        }),
        case("get_task", json!({"id": "bogus"}), "invalid task id", |q| {
            q.get_task("bogus").unwrap_err()
        }),
        case("heartbeat_task", json!({"id": "bogus"}), "invalid task id", |q| {
            q.heartbeat("bogus", None).unwrap_err()
        }),
        case("requeue_task", json!({"id": q}), "can be requeued", move |qu| {
            qu.requeue(&q, &Default::default()).unwrap_err()
        }),
        case(
            "enqueue_task",
            json!({"stream": "nope", "tool_name": "run-bash", "payload": {}}),
            "no stream named",
            |q| q.enqueue("nope", task("run-bash")).unwrap_err(),
        ),
        case("claim_task", json!({"stream": "nope"}), "no stream named", |q| {
            q.claim("nope", "w").unwrap_err()
        }),
        case("peek_task", json!({"stream": "nope"}), "no stream named", |q| {
            q.peek("nope").unwrap_err()
        }),
        case("list_tasks", json!({"stream": "nope"}), "no stream named", |q| {
            q.list_tasks(&crate::queue::TaskFilter {
                stream: Some("nope".to_owned()),
                ..Default::default()
            })
            .unwrap_err()
        }),
        case("claim_task", json!({"stream": "Bad Name"}), "Bad Name", |q| {
            q.claim("Bad Name", "w").unwrap_err()
        }),
        case(
            "list_streams",
            json!({"session": "nope"}),
            "no session named",
            |q| q.list_streams(Some("nope")).unwrap_err(),
        ),
        case(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "nope", "payload": {}}),
            "unknown tool",
            |q| q.enqueue("auth", task("nope")).unwrap_err(),
        ),
        case(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "run-bash", "payload": {}, "timeout": 0}),
            "timeout",
            |q| {
                q.enqueue(
                    "auth",
                    NewTask {
                        timeout: Some(0),
                        ..task("run-bash")
                    },
                )
                .unwrap_err()
            },
        ),
        case(
            "enqueue_task",
            json!({"stream": "old", "tool_name": "run-bash", "payload": {}}),
            "has ended",
            |q| q.enqueue("old", task("run-bash")).unwrap_err(),
        ),
        case(
            "claim_task",
            json!({"stream": "old", "wait_seconds": 5}),
            "has ended",
            |q| q.claim("old", "w").unwrap_err(),
        ),
        case(
            "list_tasks",
            json!({"since": "soon"}),
            "neither a time nor an age",
            |_| crate::queue::parse_moment("since", "soon", crate::model::Timestamp::now()).unwrap_err(),
        ),
        case("list_tasks", json!({"limit": 0}), "out of range", |q| {
            q.list_tasks(&crate::queue::TaskFilter {
                limit: Some(0),
                ..Default::default()
            })
            .unwrap_err()
        }),
    ];

    let before = snapshot(&h);
    for c in cases {
        let expected = message(&(c.direct)(&h.queue));
        let text = h.err(c.tool, c.args.clone()).await;
        assert_eq!(text, expected, "{} {}", c.tool, c.args);
        assert!(text.contains(c.needle), "{} {}: {text}", c.tool, c.args);
    }
    assert_eq!(snapshot(&h), before, "a refused call changed the spool");
}

#[tokio::test]
async fn a_bad_status_filter_says_which_statuses_exist() {
    let h = Harness::new().await;
    let text = h.err("list_tasks", json!({"status": "finished"})).await;
    assert!(text.contains("'finished' is not a status"), "{text}");
    assert!(text.contains("queued, running, succeeded or failed"), "{text}");
}

#[tokio::test]
async fn a_missing_required_parameter_is_refused_before_the_queue() {
    let h = Harness::new().await;
    let text = h.err("complete_task", json!({"id": "tsk_x"})).await;
    assert!(text.contains("missing field `result`"), "{text}");
}

/// Every file of the spool but locks, with its bytes.
fn snapshot(h: &Harness) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(h.queue.spool_root()).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && entry.file_name() != ".lock" {
            files.push((entry.path().to_owned(), std::fs::read(entry.path()).unwrap()));
        }
    }
    files
}
